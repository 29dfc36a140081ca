/** SGD with MXNet's semantics, one dispatch over every parameter (see kernels/sgd.wgsl). */
import code from "../../kernels/sgd.wgsl" with { type: "text" };
import { createDims } from "../gpu/buffer.ts";
import { type Dispatch, dispatchOf, type KernelCache, type Program } from "../gpu/kernel.ts";
import type { ParamStore } from "./params.ts";

/** The SGD kernel's WGSL module. */
export const SGD: Program = { name: "sgd", code };

/** The SGD kernel's one row: the update of every parameter. */
export const SGD_TABLE = {
  simple: { variant: "simple", program: SGD, entries: { update: "sgd_update" } },
} as const;

/**
 * The `struct Dims` of kernels/sgd.wgsl: n parameters, then the hyper-parameters as f32 (see
 * {@link SgdOptions}; `clip` is `clipGradient`, `rescale_grad` `rescaleGrad`).
 */
export const SGD_DIMS = {
  n: "u32",
  lr: "f32",
  momentum: "f32",
  wd: "f32",
  rescale_grad: "f32",
  clip: "f32",
} as const;

/** SGD hyper-parameters, as MXNet names them. */
export interface SgdOptions {
  lr: number;
  momentum: number;
  wd: number;
  /** Multiplies the gradient first: 1 / batch size, since the loss gradient is a sum. */
  rescaleGrad: number;
  /** Clip the rescaled gradient to ±clip; 0 for none. */
  clipGradient: number;
}

/** Preferred workgroup size (see `KernelCache.workgroup`). */
const PREFERRED_WG = 256;

/** The update dispatch over `store`'s whole parameter buffer. */
export function buildSgd(
  device: GPUDevice,
  kernels: KernelCache,
  store: ParamStore,
  options: SgdOptions,
): Dispatch {
  const WG = kernels.workgroup(PREFERRED_WG);
  const n = store.length;
  const dims = createDims(device, "sgd", {
    layout: SGD_DIMS,
    values: {
      n,
      lr: options.lr,
      momentum: options.momentum,
      wd: options.wd,
      rescale_grad: options.rescaleGrad,
      clip: options.clipGradient,
    },
  });
  if (n % 4 !== 0) throw new Error(`SGD needs a parameter count divisible by 4, got ${n}`);
  const groups = Math.ceil(n / 4 / WG);
  const limit = device.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(groups, limit);
  return dispatchOf(device, kernels, {
    program: SGD,
    entry: SGD_TABLE.simple.entries.update,
    constants: {
      WG,
      // Booleans as pipeline constants: 1 on, 0 off.
      MOMENTUM: Number(options.momentum > 0),
      CLIP: Number(options.clipGradient > 0),
      WEIGHT_DECAY: Number(options.wd !== 0),
    },
    outputs: [store.params, store.momentum],
    inputs: [store.grads],
    dims,
    grid: [x, Math.ceil(groups / x)],
  });
}
