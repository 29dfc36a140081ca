/** Fully connected layer: y = act(x · wᵀ + b), on kernels/dense.wgsl. */
import code from "../../kernels/dense.wgsl" with { type: "text" };
import tiledCode from "../../kernels/dense_tiled.wgsl" with { type: "text" };
import sharedCode from "../../kernels/dense_shared.wgsl" with { type: "text" };
import { DENSE_TILES } from "../../kernels/tiles.ts";
import { createDims } from "../gpu/buffer.ts";
import { type BufferRange, type Dispatch, dispatchOf, type Program } from "../gpu/kernel.ts";
import { withActivations } from "./activation.ts";
import type { Layer, LayerContext } from "./layer.ts";
import { ACTIVATION_CODE, type DenseSpec, sizeOf } from "./model.ts";

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

/**
 * Preferred workgroup size (see `KernelCache.workgroup`) and outputs per invocation (square
 * tiles; TILED's forward and input gradient take {@link tileRows} batch rows instead) of each
 * variant. The tiled kernels each hold a register tile of 16 columns by up to 20 rows, so a
 * workgroup is one SIMD register of invocations (8 on llvmpipe with AVX2); SHARED's 16×16 is
 * fixed in WGSL.
 */
const SIMPLE = { program: DENSE, suffix: "", WG: 64, tile: 4 };
const TILED = { program: DENSE_TILED, suffix: "_tiled", WG: 8, tile: 16 };
const SHARED = { program: DENSE_SHARED, suffix: "_shared", WG: 256, tile: 16 };
type Variant = typeof SIMPLE;

/**
 * Workgroups of `wg` invocations over a (rows, cols) output in tiles of `rowTile` × `v.tile`;
 * SHARED runs one 16×16 workgroup per tile, in 2-D.
 */
function groups(
  v: Variant,
  rows: number,
  cols: number,
  wg = v.WG,
  rowTile = v.tile,
): [number, number?] {
  if (v === SHARED) return [Math.ceil(cols / v.tile), Math.ceil(rows / v.tile)];
  return [Math.ceil((Math.ceil(rows / rowTile) * Math.ceil(cols / v.tile)) / wg)];
}

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
  const tiles = Math.ceil(B / SHARED.tile) * Math.ceil(O / SHARED.tile);
  const want = Math.min(Math.floor(SPLIT_TARGET / tiles), Math.floor(I / SPLIT_MIN));
  if (want < 2) return { S: 1, KS: I };
  const KS = Math.ceil(I / want / CHUNK) * CHUNK;
  return { S: Math.ceil(I / KS), KS };
}

/**
 * Builds a dense layer's dispatches for the context's batch size: with `ctx.tiled`, the
 * register-tiled kernels on a CPU adapter (where the shapes allow) or the workgroup-tiled ones on
 * a GPU (the forward split in two dispatches where {@link denseSplit} says so, the two
 * gradients in one); else the simple ones.
 */
export function buildDense(ctx: LayerContext): Layer {
  const spec = ctx.info.spec as DenseSpec;
  const { device, kernels, B, store, index } = ctx;
  const I = sizeOf(ctx.info.input);
  const O = spec.units;
  const params = store.range(store.params, index);
  const gpu = ctx.target === "gpu";
  const fwd = !ctx.tiled ? SIMPLE : gpu ? SHARED : I % 4 === 0 ? TILED : SIMPLE;
  const bwd = !ctx.tiled ? SIMPLE : gpu ? SHARED : I % 4 === 0 ? TILED : SIMPLE;
  // The tiled backward reads dz's rows as vec4s, or as scalars where O % 4 != 0 (_ragged).
  const bwdSuffix = bwd === TILED && O % 4 !== 0 ? `${bwd.suffix}_ragged` : bwd.suffix;
  // The workgroup size of SHARED is fixed in the WGSL (16×16), not an override.
  const wg = (v: Variant): Record<string, number> =>
    v === SHARED ? {} : { WG: kernels.workgroup(v.WG) };
  const grid = (v: Variant, rows: number, cols: number, rowTile?: number) =>
    groups(v, rows, cols, v === SHARED ? v.WG : kernels.workgroup(v.WG), rowTile);
  // Batch rows per tile of the tiled kernels whose rows are the batch's.
  const rows = tileRows(B);

  const split = fwd === SHARED ? denseSplit({ B, I, O }) : { S: 1, KS: I };
  const dims = createDims(device, spec.name, {
    layout: DENSE_DIMS,
    values: { B, I, O, KS: split.KS },
  });
  const act = { ACT: ACTIVATION_CODE[spec.act] };
  // Bindings in the house order: the outputs (two in the shared kernels: out, out1), in0..in2,
  // dims. `io` lists the outputs then the inputs; null where the entry point uses none.
  const dispatch = (
    v: Variant,
    entry: string,
    { constants = {}, io, grid }: {
      constants?: Record<string, number>;
      io: readonly (BufferRange | null)[];
      grid: [number, number?, number?];
    },
  ): Dispatch => {
    const outputs = v === SHARED ? 2 : 1;
    return dispatchOf(device, kernels, {
      program: v.program,
      entry,
      constants: { ...wg(v), ...constants },
      outputs: io.slice(0, outputs),
      inputs: io.slice(outputs),
      dims,
      grid,
    });
  };

  const forward: Dispatch[] = [];
  if (split.S > 1) {
    const partial = ctx.alloc("forward_slices", split.S * B * O * 4);
    const [x, y] = groups(SHARED, B, O);
    forward.push(
      dispatch(SHARED, "dense_forward_split", {
        io: [partial, null, ctx.x, params, null],
        grid: [x, y, split.S],
      }),
      // The reduction: one invocation per (o, b), 64-wide along o.
      dispatch(SHARED, "dense_forward_reduce", {
        constants: act,
        io: [ctx.y, null, partial, params, null],
        grid: [Math.ceil(O / 64), B],
      }),
    );
  } else {
    forward.push(dispatch(fwd, `dense_forward${fwd.suffix}`, {
      constants: fwd === TILED ? { ...act, ROWS: rows } : act,
      io: fwd === SHARED ? [ctx.y, null, ctx.x, params, null] : [ctx.y, ctx.x, params, null],
      grid: fwd === TILED ? grid(fwd, B, O, rows) : grid(fwd, B, O),
    }));
  }
  const backward: Dispatch[] = [];
  if (!ctx.dy) return { name: spec.name, forward, backward };
  const grads = store.range(store.grads, index);
  const prev = { PREV_ACT: ACTIVATION_CODE[ctx.prevAct] };
  if (bwd === SHARED) {
    // Both gradients in one dispatch when both are wanted (kernels/dense_shared.wgsl).
    const [x, y] = groups(SHARED, O, I);
    backward.push(
      ctx.dx
        ? dispatch(SHARED, "dense_backward_shared", {
          constants: prev,
          io: [grads, ctx.dx, ctx.dy, params, ctx.x],
          grid: [x, Math.max(y!, groups(SHARED, B, I)[1]!), 2],
        })
        : dispatch(SHARED, "dense_backward_weight_shared", {
          io: [grads, null, ctx.dy, null, ctx.x],
          grid: [x, y],
        }),
    );
    return { name: spec.name, forward, backward };
  }
  backward.push(dispatch(bwd, `dense_backward_weight${bwdSuffix}`, {
    io: [grads, ctx.dy, ctx.x, null],
    grid: grid(bwd, O, I),
  }));
  if (ctx.dx) {
    backward.push(dispatch(bwd, `dense_backward_input${bwdSuffix}`, {
      constants: bwd === TILED ? { ...prev, ROWS: rows } : prev,
      io: [ctx.dx, ctx.dy, params, ctx.x],
      grid: bwd === TILED ? grid(bwd, B, I, rows) : grid(bwd, B, I),
    }));
  }
  return { name: spec.name, forward, backward };
}
