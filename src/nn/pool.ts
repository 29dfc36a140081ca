/** Max pooling: y = max over each window, keeping the argmax for backward, on kernels/pool.wgsl. */
import code from "../../kernels/pool.wgsl" with { type: "text" };
import { createDims } from "../gpu/buffer.ts";
import { type Dispatch, makeDispatch, type Program } from "../gpu/kernel.ts";
import { workgroupGrid } from "./conv2d.ts";
import type { Layer, LayerContext } from "./layer.ts";
import { ACTIVATION_CODE, type MaxPoolSpec } from "./model.ts";

/** The max-pool kernels: forward with argmax, backward as a gather (no atomics). */
export const POOL: Program = { name: "pool", code };

const WG = 64;

/**
 * Builds a max-pool layer's dispatches for the context's batch size. The forward pass writes
 * the argmax (u32 flat indices into x) to a buffer from `ctx.alloc`; the backward pass gathers
 * dy through it and applies `ctx.prevAct`'s derivative, so overlapping windows work too.
 */
export function buildMaxPool(ctx: LayerContext): Layer {
  const spec = ctx.info.spec as MaxPoolSpec;
  const { device, kernels, B } = ctx;
  const [C, H, W] = ctx.info.input as [number, number, number];
  const [, OH, OW] = ctx.info.output as [number, number, number];
  const dims = createDims(device, spec.name, [B, C, H, W, spec.size, spec.stride, OH, OW]);
  const argmax = ctx.alloc("argmax", B * C * OH * OW * 4);

  const forwardKernel = kernels.get(POOL, "maxpool_forward", {
    constants: { WG },
    bindings: ["storage", "storage", "read", "uniform"],
  });
  const forward = [
    makeDispatch(
      device,
      forwardKernel,
      [ctx.y, argmax, ctx.x, dims],
      workgroupGrid(device, B * C * OH * OW, WG),
    ),
  ];
  const backward: Dispatch[] = [];
  if (ctx.dy && ctx.dx) {
    const backwardKernel = kernels.get(POOL, "maxpool_backward", {
      constants: { WG, PREV_ACT: ACTIVATION_CODE[ctx.prevAct] },
      bindings: ["storage", "read", "read", "read", "uniform"],
    });
    backward.push(
      makeDispatch(
        device,
        backwardKernel,
        [ctx.dx, ctx.dy, argmax, ctx.x, dims],
        workgroupGrid(device, B * C * H * W, WG),
      ),
    );
  }
  return { name: spec.name, forward, backward };
}
