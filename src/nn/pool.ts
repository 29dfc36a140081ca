/** Max pooling: y = max over each window, keeping the argmax for backward, on kernels/pool.wgsl. */
import code from "../../kernels/pool.wgsl" with { type: "text" };
import { createDims } from "../gpu/buffer.ts";
import { type Dispatch, dispatchOf, type Program } from "../gpu/kernel.ts";
import { workgroupGrid } from "./conv2d.ts";
import { withActivations } from "./activation.ts";
import type { Layer, LayerContext } from "./layer.ts";
import { ACTIVATION_CODE, type MaxPoolSpec } from "./model.ts";

/** The max-pool kernels: forward with argmax, backward as a gather (no atomics). */
export const POOL: Program = withActivations("pool", code);

/**
 * The `struct Dims` of kernels/pool.wgsl: batch B, C channels of H×W in, K×K windows every
 * `stride` pixels, OH×OW out.
 */
export const POOL_DIMS = {
  B: "u32",
  C: "u32",
  H: "u32",
  W: "u32",
  K: "u32",
  stride: "u32",
  OH: "u32",
  OW: "u32",
} as const;

/** Preferred workgroup size (see `KernelCache.workgroup`). */
const PREFERRED_WG = 64;

/**
 * Whether a pool of this shape runs the vec4 2×2 kernels: 2×2 windows at stride 2 covering the
 * input exactly (H = 2·OH, W = 2·OW), OW % 4 == 0. Else the general kernels run.
 */
export function usesPool2x2(
  { size, stride, H, W, OH, OW }: {
    size: number;
    stride: number;
    H: number;
    W: number;
    OH: number;
    OW: number;
  },
): boolean {
  return size === 2 && stride === 2 && H === 2 * OH && W === 2 * OW && OW % 4 === 0;
}

/**
 * Builds a max-pool layer's dispatches for the context's batch size. The forward pass writes
 * the argmax (u32 flat indices into x) to a buffer from `ctx.alloc`; the backward pass gathers
 * dy through it and applies `ctx.prevAct`'s derivative, so overlapping windows work too. With
 * `ctx.tiled`, 2×2 windows at stride 2 that tile the input run vec4 kernels, four windows per
 * invocation.
 */
export function buildMaxPool(ctx: LayerContext): Layer {
  const spec = ctx.info.spec as MaxPoolSpec;
  const { device, kernels, B } = ctx;
  const WG = kernels.workgroup(PREFERRED_WG);
  const [C, H, W] = ctx.info.input as [number, number, number];
  const [, OH, OW] = ctx.info.output as [number, number, number];
  const dims = createDims(device, spec.name, {
    layout: POOL_DIMS,
    values: { B, C, H, W, K: spec.size, stride: spec.stride, OH, OW },
  });
  const argmax = ctx.alloc("argmax", B * C * OH * OW * 4);
  // The 2×2 kernels take four windows per invocation, the general ones one element. On GPUs
  // the training loop times both (src/train/autotune.ts).
  const fast = ctx.tiled && usesPool2x2({ size: spec.size, stride: spec.stride, H, W, OH, OW });

  const outputs = fast ? B * C * OH * OW / 4 : B * C * OH * OW;
  const forward = [
    dispatchOf(device, kernels, {
      program: POOL,
      entry: fast ? "maxpool_forward_2x2" : "maxpool_forward",
      constants: { WG },
      outputs: [ctx.y, argmax],
      inputs: [ctx.x],
      dims,
      grid: workgroupGrid(device, outputs, WG),
    }),
  ];
  const backward: Dispatch[] = [];
  if (ctx.dy && ctx.dx) {
    backward.push(dispatchOf(device, kernels, {
      program: POOL,
      entry: fast ? "maxpool_backward_2x2" : "maxpool_backward",
      constants: { WG, PREV_ACT: ACTIVATION_CODE[ctx.prevAct] },
      outputs: [ctx.dx],
      inputs: [ctx.dy, argmax, ctx.x],
      dims,
      grid: workgroupGrid(device, fast ? outputs : B * C * H * W, WG),
    }));
  }
  return { name: spec.name, forward, backward };
}
