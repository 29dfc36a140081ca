/**
 * Max pooling: y = max over each window, keeping the argmax for backward, on kernels/pool.wgsl
 * (any window) and kernels/pool_2x2.wgsl (2×2 windows at stride 2), each with
 * kernels/pool_common.wgsl joined.
 */
import code from "../../kernels/pool.wgsl" with { type: "text" };
import code2x2 from "../../kernels/pool_2x2.wgsl" with { type: "text" };
import commonCode from "../../kernels/pool_common.wgsl" with { type: "text" };
import { createDims } from "../gpu/buffer.ts";
import { type Dispatch, type KernelRow, type Program, rowDispatch } from "../gpu/kernel.ts";
import { withActivations } from "./activation.ts";
import type { Layer, LayerContext } from "./layer.ts";
import { ACTIVATION_CODE, type LayerInfo, type MaxPoolSpec } from "./model.ts";

/**
 * The `Program` of the max-pool kernel file `name` with `code`, kernels/pool_common.wgsl
 * (`struct Dims`, `WG`, `invocation()`) and kernels/activation.wgsl joined after it.
 */
function withPoolCommon(name: string, code: string): Program {
  return withActivations(name, `${code}\n${commonCode}`);
}

/** The max-pool kernels: forward with argmax, backward as a gather (no atomics). */
export const POOL: Program = withPoolCommon("pool", code);

/** The 2×2 max-pool kernels: four windows per invocation, vec4 loads; pool.wgsl's bindings. */
export const POOL_2X2: Program = withPoolCommon("pool_2x2", code2x2);

/**
 * The `struct Dims` of kernels/pool_common.wgsl (joined to pool.wgsl and pool_2x2.wgsl): batch
 * B, C channels of H×W in, K×K windows every `stride` pixels, OH×OW out.
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

/**
 * A max-pool layer's shape: C channels of H×W in, `size`×`size` windows every `stride` pixels,
 * OH×OW out (the batch B is added where dispatches are sized).
 */
export interface PoolShape {
  /** Channels. */
  C: number;
  /** Input height, pixels. */
  H: number;
  /** Input width, pixels. */
  W: number;
  /** Window side, pixels. */
  size: number;
  /** Pixels between windows. */
  stride: number;
  /** Output height: (H - size) / stride + 1. */
  OH: number;
  /** Output width: (W - size) / stride + 1. */
  OW: number;
}

/** The shape of a max-pool layer of the model (see {@link PoolShape}). */
export function poolShape(info: LayerInfo): PoolShape {
  const spec = info.spec as MaxPoolSpec;
  const [C, H, W] = info.input as [number, number, number];
  const [, OH, OW] = info.output as [number, number, number];
  return { C, H, W, size: spec.size, stride: spec.stride, OH, OW };
}

/**
 * Whether a pool of this shape runs the vec4 2×2 kernels: 2×2 windows at stride 2 covering the
 * input exactly (H = 2·OH, W = 2·OW), OW % 4 == 0. Else the general kernels run.
 */
export function usesPool2x2(
  { size, stride, H, W, OH, OW }: Omit<PoolShape, "C">,
): boolean {
  return size === 2 && stride === 2 && H === 2 * OH && W === 2 * OW && OW % 4 === 0;
}

/**
 * The general kernels: any window and stride, one output element per invocation forward, one
 * input element per invocation backward (a gather through the argmax, so overlapping windows
 * work too).
 */
const SIMPLE = {
  variant: "simple",
  program: POOL,
  entries: { forward: "maxpool_forward", backward: "maxpool_backward" },
  workgroup: () => 64,
  fits: (_shape, _limits) => true,
  grid: ({ B, C, H, W, OH, OW }) => ({
    forward: { invocations: B * C * OH * OW },
    backward: { invocations: B * C * H * W },
  }),
} as const satisfies KernelRow<PoolShape, "forward" | "backward">;

/** The 2×2 special case ({@link usesPool2x2}): four windows per invocation, vec4 loads. */
const TWO_BY_TWO = {
  variant: "2x2",
  program: POOL_2X2,
  entries: { forward: "maxpool_forward_2x2", backward: "maxpool_backward_2x2" },
  workgroup: () => 64,
  fits: (shape, _limits) => usesPool2x2(shape),
  grid: ({ B, C, OH, OW }) => ({
    forward: { invocations: B * C * OH * OW / 4 },
    backward: { invocations: B * C * OH * OW / 4 },
  }),
} as const satisfies KernelRow<PoolShape, "forward" | "backward">;

/**
 * A 2×2 pool ({@link usesPool2x2}) whose forward the convolution below runs in its epilogue
 * (CONV2D_TABLE's `tiled_pool`, which writes this layer's output and argmax): no forward
 * dispatch; the backward scatters dy through the argmax with prev_act' taken of the pooled y,
 * the convolution's output there (the convolution's own output is not stored).
 */
const FUSED = {
  variant: "fused",
  program: POOL_2X2,
  entries: { backward: "maxpool_backward_2x2_fused" },
  workgroup: () => 64,
  fits: (shape, _limits) => usesPool2x2(shape),
  grid: ({ B, C, OH, OW }) => ({ backward: { invocations: B * C * OH * OW / 4 } }),
} as const satisfies KernelRow<PoolShape, "backward">;

/** The max-pool kernels, one row per variant; a layer runs the row its variant names. */
export const POOL_TABLE = { simple: SIMPLE, "2x2": TWO_BY_TWO, fused: FUSED } as const;

/** A max-pool variant's name: a key of {@link POOL_TABLE}. */
export type PoolVariant = keyof typeof POOL_TABLE;

/**
 * Builds a max-pool layer's dispatches for the context's batch size with the kernels of
 * `ctx.variant` (a row of {@link POOL_TABLE}; throws on another name). The forward pass writes
 * the argmax (u32 flat indices into x) to a buffer from `ctx.alloc`; the backward pass gathers
 * dy through it and applies `ctx.prevAct`'s derivative.
 */
export function buildMaxPool(ctx: LayerContext): Layer {
  const spec = ctx.info.spec as MaxPoolSpec;
  const { device, kernels, B } = ctx;
  if (!Object.hasOwn(POOL_TABLE, ctx.variant)) {
    throw new Error(`${spec.name}: no maxpool variant "${ctx.variant}"`);
  }
  const shape = { ...poolShape(ctx.info), B };
  const { C, H, W, OH, OW } = shape;
  const dims = createDims(device, spec.name, {
    layout: POOL_DIMS,
    values: { B, C, H, W, K: spec.size, stride: spec.stride, OH, OW },
  });
  const base = { device, kernels, shape, dims };
  const prev = { PREV_ACT: ACTIVATION_CODE[ctx.prevAct] };
  if (ctx.variant === "fused") {
    if (!ctx.pooled) throw new Error(`${spec.name}: the fused pool needs its convolution's argmax`);
    const backward = ctx.dy && ctx.dx
      ? [
        rowDispatch(FUSED, {
          pass: "backward",
          ...base,
          constants: prev,
          // x4 binds the pooled y (see maxpool_backward_2x2_fused).
          io: { dx4: ctx.dx, x4: ctx.y, dy4: ctx.dy, argmax4_in: ctx.pooled.argmax },
        }),
      ]
      : [];
    return { name: spec.name, forward: [], backward };
  }
  const argmax = ctx.alloc("argmax", B * C * OH * OW * 4);
  // pool.wgsl binds y, argmax, dx (outputs), x, dy, argmax_in (read); pool_2x2.wgsl the same
  // as vec4s: y4, argmax4, dx4, x4, dy4, argmax4_in.
  const simple = ctx.variant === "simple";
  const forward = [
    simple
      ? rowDispatch(SIMPLE, { pass: "forward", ...base, io: { y: ctx.y, argmax, x: ctx.x } })
      : rowDispatch(TWO_BY_TWO, {
        pass: "forward",
        ...base,
        io: { y4: ctx.y, argmax4: argmax, x4: ctx.x },
      }),
  ];
  const backward: Dispatch[] = [];
  if (ctx.dy && ctx.dx) {
    backward.push(
      simple
        ? rowDispatch(SIMPLE, {
          pass: "backward",
          ...base,
          constants: prev,
          io: { dx: ctx.dx, x: ctx.x, dy: ctx.dy, argmax_in: argmax },
        })
        : rowDispatch(TWO_BY_TWO, {
          pass: "backward",
          ...base,
          constants: prev,
          io: { dx4: ctx.dx, x4: ctx.x, dy4: ctx.dy, argmax4_in: argmax },
        }),
    );
  }
  return { name: spec.name, forward, backward };
}
