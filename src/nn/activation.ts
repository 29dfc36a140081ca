/**
 * The activations and their derivatives shared by the layer kernels (kernels/activation.wgsl),
 * joined to each module when its `Program` is created, as the WebGPU samples join shared WGSL:
 * one definition, not a copy per kernel file.
 */
import activationCode from "../../kernels/activation.wgsl" with { type: "text" };
import type { Program } from "../gpu/kernel.ts";

/**
 * The `Program` of the kernel file `name` (its base name, which labels its pipelines) with
 * `code` and kernels/activation.wgsl joined after it: `ACT`, `PREV_ACT`, `activate()`,
 * `prev_act_grad()` and their vec4 twins.
 */
export function withActivations(name: string, code: string): Program {
  return { name, code: `${code}\n${activationCode}` };
}
