/** Fully connected layer: y = act(x · wᵀ + b), on kernels/dense.wgsl. */
import code from "../../kernels/dense.wgsl" with { type: "text" };
import tiledCode from "../../kernels/dense_tiled.wgsl" with { type: "text" };
import sharedCode from "../../kernels/dense_shared.wgsl" with { type: "text" };
import { DENSE_TILES } from "../../kernels/tiles.ts";
import { createDims } from "../gpu/buffer.ts";
import {
  type BufferRange,
  type Dispatch,
  type Grid,
  type KernelRow,
  type Program,
  rowDispatch,
} from "../gpu/kernel.ts";
import { withActivations } from "./activation.ts";
import type { Layer, LayerContext } from "./layer.ts";
import { ACTIVATION_CODE, type DenseSpec, type LayerInfo, sizeOf } from "./model.ts";

/** The simple dense kernels (4×4 tiles, scalar loads): the reference and the fallback. */
export const DENSE: Program = withActivations("dense", code);

/**
 * The register-tiled dense kernels (up to 20×16 tiles, vec4 loads), generated: for CPU
 * adapters.
 */
export const DENSE_TILED: Program = withActivations("dense_tiled", tiledCode);

/** The workgroup-tiled dense kernels (16×16 tiles staged in workgroup memory): for GPUs. */
export const DENSE_SHARED: Program = withActivations("dense_shared", sharedCode);

/**
 * The `struct Dims` of kernels/dense.wgsl, dense_tiled.wgsl and dense_shared.wgsl: batch B,
 * inputs I, outputs O, and KS, the inputs each slice of a split forward covers (I unsplit).
 */
export const DENSE_DIMS = { B: "u32", I: "u32", O: "u32", KS: "u32" } as const;

/** The most batch rows a register tile holds (ROWS_MAX in kernels/tiles.ts). */
export const TILE_ROWS_MAX: number = DENSE_TILES.ROWS_MAX;

/**
 * Batch rows per register tile of the tiled forward and input gradient (their `ROWS` override)
 * at batch `B`: the whole batch when one tile holds it, else 16 or 20, whichever leaves fewer
 * rows of the last tile idle (16 on a tie). At batch 100, 5 tiles of 20 rather than 7 of 16 made
 * the MLP's fc1 forward about 30% faster on llvmpipe.
 */
export function tileRows(B: number): number {
  if (B <= TILE_ROWS_MAX) return B;
  const padded = (rows: number) => Math.ceil(B / rows) * rows;
  return padded(20) < padded(16) ? 20 : 16;
}

/** Workgroups a split forward aims for: a few per streaming multiprocessor of a large GPU. */
const SPLIT_TARGET = 512;
/** The shortest reduction a slice of a split forward covers (three 32-wide chunks). */
const SPLIT_MIN = 96;
/** The reduction chunk of the workgroup-tiled kernels (TK in kernels/dense_shared.wgsl). */
const CHUNK = 32;

/**
 * How the workgroup-tiled forward of a (B, I) → (B, O) layer splits its reduction over I: S
 * slices of KS inputs (a multiple of the 32-wide chunk), summed by a second dispatch. S is 1
 * (no split) when the output's 16×16 tiles alone make enough workgroups or I is short.
 */
export function denseSplit({ B, I, O }: { B: number; I: number; O: number }): {
  S: number;
  KS: number;
} {
  const tiles = Math.ceil(B / SHARED_TILE) * Math.ceil(O / SHARED_TILE);
  const want = Math.min(Math.floor(SPLIT_TARGET / tiles), Math.floor(I / SPLIT_MIN));
  if (want < 2) return { S: 1, KS: I };
  const KS = Math.ceil(I / want / CHUNK) * CHUNK;
  return { S: Math.ceil(I / KS), KS };
}

/** A dense layer's shape: I inputs, O outputs (the batch B is added where dispatches are sized). */
export interface DenseShape {
  /** Inputs per sample. */
  I: number;
  /** Outputs per sample (units). */
  O: number;
}

/** The shape of a dense layer of the model (see {@link DenseShape}). */
export function denseShape(info: LayerInfo): DenseShape {
  return { I: sizeOf(info.input), O: (info.spec as DenseSpec).units };
}

/** The tile of the workgroup-tiled kernels: 16×16 outputs per workgroup, fixed in the WGSL. */
const SHARED_TILE = 16;

/** Bytes of workgroup memory of dense_shared.wgsl: `ta` and `tb`, 32×33 f32 each. */
const SHARED_STORAGE = 2 * 32 * 33 * 4;

/**
 * One-dimensional workgroups of `wg` invocations, one invocation per tile of `rowTile` ×
 * `colTile` outputs of a (rows, cols) output.
 */
/**
 * `range` with its size rounded up to whole vec4s (16 bytes), for a kernel that writes a layer's
 * gradient range as `array<vec4f>`: the rounding lies in the padding that ends the layer's block
 * (blocks start every 256 bytes: src/nn/params.ts).
 */
function vec4Range(range: BufferRange): BufferRange {
  return "buffer" in range ? { ...range, size: Math.ceil(range.size / 16) * 16 } : range;
}

function tiles(rows: number, cols: number, [rowTile, colTile, wg]: number[]): Grid {
  return [Math.ceil((Math.ceil(rows / rowTile!) * Math.ceil(cols / colTile!)) / wg!)];
}

/**
 * The simple kernels (kernels/dense.wgsl): 4×4 tiles, scalar loads, 64-wide workgroups; the
 * reference, and the fallback for every shape.
 */
const SIMPLE = {
  variant: "simple",
  program: DENSE,
  entries: {
    forward: "dense_forward",
    weight: "dense_backward_weight",
    input: "dense_backward_input",
  },
  workgroup: () => 64,
  fits: (_shape, _limits) => true,
  grid: ({ B, I, O, WG }) => ({
    forward: tiles(B, O, [4, 4, WG]),
    weight: tiles(O, I, [4, 4, WG]),
    input: tiles(B, I, [4, 4, WG]),
  }),
} as const satisfies KernelRow<DenseShape, "forward" | "weight" | "input">;

/**
 * The register-tiled kernels for CPU adapters (kernels/dense_tiled.wgsl, generated): tiles of
 * 16 columns by up to 20 rows (the forward and input gradient take {@link tileRows} batch rows,
 * the `ROWS` constant), vec4 loads along I, so I % 4 == 0. The `_ragged` gradients read dz's
 * rows as scalars (in0s), for O % 4 != 0, and the `_ragged` forward stores y as scalars in tiles
 * 12 columns wide (`TC_RAGGED` in kernels/tiles.ts). The `_gather` forward and weight gradient
 * are the first layer's with the batch's gather fused in (`gathersBatch` in src/nn/variants.ts).
 * A workgroup is one SIMD register of invocations (8 on llvmpipe with AVX2).
 */
const TILED = {
  variant: "tiled",
  program: DENSE_TILED,
  entries: {
    forward: "dense_forward_tiled",
    forwardRagged: "dense_forward_tiled_ragged",
    weight: "dense_backward_weight_tiled",
    input: "dense_backward_input_tiled",
    weightRagged: "dense_backward_weight_tiled_ragged",
    inputRagged: "dense_backward_input_tiled_ragged",
    forwardGather: "dense_forward_tiled_gather",
    weightGather: "dense_backward_weight_tiled_gather",
  },
  workgroup: () => 8,
  fits: ({ I }, _limits) => I % 4 === 0,
  grid: ({ B, I, O, WG }) => {
    const rows = tileRows(B);
    const weight = tiles(O, I, [DENSE_TILES.TR, DENSE_TILES.TC, WG]);
    const input = tiles(B, I, [rows, DENSE_TILES.TC, WG]);
    const forward = tiles(B, O, [rows, DENSE_TILES.TC, WG]);
    return {
      forward,
      weight,
      input,
      forwardRagged: tiles(B, O, [rows, DENSE_TILES.TC_RAGGED, WG]),
      weightRagged: weight,
      inputRagged: input,
      forwardGather: forward,
      weightGather: weight,
    };
  },
} as const satisfies KernelRow<
  DenseShape,
  | "forward"
  | "weight"
  | "input"
  | "forwardRagged"
  | "weightRagged"
  | "inputRagged"
  | "forwardGather"
  | "weightGather"
>;

/**
 * The workgroup-tiled kernels for GPUs (kernels/dense_shared.wgsl): one 16×16 workgroup per
 * 16×16 tile of outputs, staged in workgroup memory, two outputs bound (out, out1). The
 * forward splits its reduction over I into `S` slices and a reduction where
 * {@link denseSplit} says so; `both` writes the weight and the input gradients in one dispatch.
 */
const SHARED = {
  variant: "shared",
  program: DENSE_SHARED,
  entries: {
    forward: "dense_forward_shared",
    split: "dense_forward_split",
    reduce: "dense_forward_reduce",
    weight: "dense_backward_weight_shared",
    both: "dense_backward_shared",
  },
  workgroup: () => null,
  fits: (_, limits) =>
    limits.maxComputeInvocationsPerWorkgroup >= SHARED_TILE * SHARED_TILE &&
    limits.maxComputeWorkgroupStorageSize >= SHARED_STORAGE,
  grid: ({ B, I, O }) => {
    const t = (n: number) => Math.ceil(n / SHARED_TILE);
    return {
      forward: [t(O), t(B)],
      split: [t(O), t(B), denseSplit({ B, I, O }).S],
      // One invocation per (o, b), 64-wide along o.
      reduce: [Math.ceil(O / 64), B],
      weight: [t(I), t(O)],
      both: [t(I), Math.max(t(O), t(B)), 2],
    };
  },
} as const satisfies KernelRow<
  DenseShape,
  "forward" | "split" | "reduce" | "weight" | "both"
>;

/** The dense kernels, one row per variant; a layer runs the row its variant names. */
export const DENSE_TABLE = { simple: SIMPLE, tiled: TILED, shared: SHARED } as const;

/** A dense variant's name: a key of {@link DENSE_TABLE}. */
export type DenseVariant = keyof typeof DENSE_TABLE;

/**
 * Builds a dense layer's dispatches for the context's batch size, with the kernels of
 * `ctx.variant` (a row of {@link DENSE_TABLE}; throws on another name): the forward, then the
 * weight-and-bias gradient and, unless this is the first layer, the input gradient.
 */
export function buildDense(ctx: LayerContext): Layer {
  const spec = ctx.info.spec as DenseSpec;
  const { device, kernels, B, store, index } = ctx;
  const shape = { ...denseShape(ctx.info), B };
  const { I, O } = shape;
  const params = store.range(store.params, index);
  const split = ctx.variant === "shared" ? denseSplit(shape) : { S: 1, KS: I };
  const dims = createDims(device, spec.name, {
    layout: DENSE_DIMS,
    values: { B, I, O, KS: split.KS },
  });
  const base = { device, kernels, shape, dims };
  const act = { ACT: ACTIVATION_CODE[spec.act] };
  const prev = { PREV_ACT: ACTIVATION_CODE[ctx.prevAct] };
  const forward: Dispatch[] = [];
  const backward: Dispatch[] = [];
  switch (ctx.variant) {
    case "simple":
    case "tiled": {
      const row: KernelRow<DenseShape, string> = ctx.variant === "tiled" ? TILED : SIMPLE;
      // The tiled kernels' batch rows per tile.
      const rows: Record<string, number> = row === TILED ? { ROWS: tileRows(B) } : {};
      // The first layer of a network fed by a Feeder reads x from its batch group instead.
      const gather = ctx.gather === true;
      if (gather && (row !== TILED || O % 4 !== 0)) {
        throw new Error(`Cannot read the batch in ${spec.name}'s "${ctx.variant}" kernels`);
      }
      // The tiled kernels store y and read dz as scalars where O % 4 != 0 (the _ragged ones).
      const ragged = row === TILED && O % 4 !== 0;
      // dense.wgsl binds out, in0, in1, in2; dense_tiled.wgsl out (y of the _ragged forward),
      // out4 (the other outputs, as vec4s), in0, in1, in2s, in0s (dz as scalars, for the
      // _ragged gradients) and in2v (x as vec4s, for the input gradients).
      forward.push(
        rowDispatch(row, {
          pass: gather ? "forwardGather" : ragged ? "forwardRagged" : "forward",
          ...base,
          constants: { ...act, ...rows },
          // The tiled forward reads the biases as scalars (in2s): see bias4 in dense_tiled.wgsl.
          io: row !== TILED
            ? { out: ctx.y, in0: ctx.x, in1: params }
            : ragged
            ? { out: ctx.y, in0: ctx.x, in1: params, in2s: params }
            : { out4: ctx.y, ...(gather ? {} : { in0: ctx.x }), in1: params, in2s: params },
          batch: gather,
        }),
      );
      if (!ctx.dy) break;
      const grads = store.range(store.grads, index);
      backward.push(
        rowDispatch(row, {
          pass: gather ? "weightGather" : ragged ? "weightRagged" : "weight",
          ...base,
          io: row !== TILED
            ? { out: grads, in0: ctx.dy, in1: ctx.x }
            : ragged
            ? { out4: vec4Range(grads), in1: ctx.x, in0s: ctx.dy }
            : { out4: vec4Range(grads), in0: ctx.dy, ...(gather ? {} : { in1: ctx.x }) },
          batch: gather,
        }),
      );
      if (ctx.dx) {
        backward.push(
          rowDispatch(row, {
            pass: ragged ? "inputRagged" : "input",
            ...base,
            constants: { ...prev, ...rows },
            io: row !== TILED
              ? { out: ctx.dx, in0: ctx.dy, in1: params, in2: ctx.x }
              : ragged
              ? { out4: ctx.dx, in1: params, in0s: ctx.dy, in2v: ctx.x }
              : { out4: ctx.dx, in0: ctx.dy, in1: params, in2v: ctx.x },
          }),
        );
      }
      break;
    }
    case "shared": {
      // dense_shared.wgsl binds out, out1, in0, in1, in2.
      if (split.S > 1) {
        const partial = ctx.alloc("forward_slices", split.S * B * O * 4);
        forward.push(
          rowDispatch(SHARED, {
            pass: "split",
            ...base,
            io: { out: partial, in0: ctx.x, in1: params },
          }),
          rowDispatch(SHARED, {
            pass: "reduce",
            ...base,
            constants: act,
            io: { out: ctx.y, in0: partial, in1: params },
          }),
        );
      } else {
        forward.push(
          rowDispatch(SHARED, {
            pass: "forward",
            ...base,
            constants: act,
            io: { out: ctx.y, in0: ctx.x, in1: params },
          }),
        );
      }
      if (!ctx.dy) break;
      const grads = store.range(store.grads, index);
      // Both gradients in one dispatch when both are wanted.
      backward.push(
        ctx.dx
          ? rowDispatch(SHARED, {
            pass: "both",
            ...base,
            constants: prev,
            io: { out: grads, out1: ctx.dx, in0: ctx.dy, in1: params, in2: ctx.x },
          })
          : rowDispatch(SHARED, {
            pass: "weight",
            ...base,
            io: { out: grads, in0: ctx.dy, in2: ctx.x },
          }),
      );
      break;
    }
    default:
      throw new Error(`${spec.name}: no dense variant "${ctx.variant}"`);
  }
  return { name: spec.name, forward, backward };
}
