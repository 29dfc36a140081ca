/**
 * Which kernels each layer runs, decided in one place: a variant name per layer (a row of its
 * op's table: `DENSE_TABLE`, `CONV2D_TABLE`, `POOL_TABLE`), from the kind of adapter, the
 * layer's shape (each row's `fits`), `--kernels` and, on GPUs, the timing of src/train/autotune.ts.
 * That name is all the network sees, and what a checkpoint records (training.kernels).
 */
import type { Gpu } from "../gpu/device.ts";
import type { RowLimits } from "../gpu/kernel.ts";
import { CONV2D_TABLE, conv2dShape, poolsInEpilogue } from "./conv2d.ts";
import { DENSE_TABLE, denseShape } from "./dense.ts";
import { inferShapes, type LayerInfo, type ModelSpec } from "./model.ts";
import { POOL_TABLE, poolShape, usesPool2x2 } from "./pool.ts";

/** `--kernels`: choose by timing on GPUs, the tuned kernels untimed, or the simple ones. */
export const KERNEL_MODES = ["auto", "tuned", "simple"] as const;
/** One of {@link KERNEL_MODES}. */
export type KernelMode = (typeof KERNEL_MODES)[number];

/** The kind of adapter kernels are tuned for: a CPU (software, e.g. llvmpipe) or a GPU. */
export type AdapterKind = "cpu" | "gpu";

/** The kind of `gpu`'s adapter: the one place that asks whether it is a CPU. */
export function adapterKind(gpu: Pick<Gpu, "isCpu">): AdapterKind {
  return gpu.isCpu ? "cpu" : "gpu";
}

/** The name every op's reference row has, and the variant of layers that run no kernels. */
export const SIMPLE_VARIANT = "simple";

/**
 * Each op's tuned variant per kind of adapter: register tiles and vec4 loads were measured
 * fastest on llvmpipe; workgroup-memory tiles and coalesced loads suit GPUs; the 2×2 pool is
 * faster on both.
 */
const TUNED = {
  dense: { cpu: "tiled", gpu: "shared" },
  conv2d: { cpu: "tiled", gpu: "vec4" },
  maxpool: { cpu: "2x2", gpu: "2x2" },
} as const;

/** The convolution variant that max-pools in its forward's epilogue (CONV2D_TABLE's row). */
export const POOLING_CONV = "tiled_pool";
/** The pool variant whose forward its convolution ran (POOL_TABLE's row). */
export const FUSED_POOL = "fused";

/**
 * Where a CPU-tuned convolution is followed by a 2×2 max-pool that its tiled forward can run in
 * its epilogue ({@link poolsInEpilogue}), the pair's variants become {@link POOLING_CONV} and
 * {@link FUSED_POOL}: one dispatch fewer per step, and the convolution's full-size output is
 * neither written nor read again. Returns the names, changed where a pair fuses.
 */
function fuseConvPool(infos: readonly LayerInfo[], names: string[]): string[] {
  const out = [...names];
  for (let k = 0; k + 1 < infos.length; k++) {
    const [conv, pool] = [infos[k]!, infos[k + 1]!];
    if (conv.spec.kind !== "conv2d" || pool.spec.kind !== "maxpool") continue;
    if (out[k] !== "tiled" || out[k + 1] !== "2x2") continue;
    if (!poolsInEpilogue(conv2dShape(conv)) || !usesPool2x2(poolShape(pool))) continue;
    out[k] = POOLING_CONV;
    out[k + 1] = FUSED_POOL;
  }
  return out;
}

/**
 * Throws an Error (a bug in the caller) unless every {@link POOLING_CONV} convolution is
 * followed by a {@link FUSED_POOL} pool and every such pool follows one; see
 * {@link pairsFused}.
 */
export function checkFusions(infos: readonly LayerInfo[], names: readonly string[]): void {
  if (!pairsFused(infos, names)) {
    throw new Error(
      `variants ${names.join(", ")}: a "${POOLING_CONV}" convolution and a "${FUSED_POOL}" ` +
        "pool must come in pairs",
    );
  }
}

/** Whether `names` pair each {@link POOLING_CONV} convolution with a {@link FUSED_POOL} pool. */
function pairsFused(infos: readonly LayerInfo[], names: readonly string[]): boolean {
  return infos.every((info, k) => {
    if (info.spec.kind === "conv2d" && names[k] === POOLING_CONV) {
      return infos[k + 1]?.spec.kind === "maxpool" && names[k + 1] === FUSED_POOL;
    }
    if (info.spec.kind === "maxpool" && names[k] === FUSED_POOL) {
      return infos[k - 1]?.spec.kind === "conv2d" && names[k - 1] === POOLING_CONV;
    }
    return true;
  });
}

/**
 * Whether a network's first layer, of variant `variant`, can read its batches straight from the
 * dataset split (kernels/dense_tiled.wgsl's `_gather` entry points) rather than from a batch
 * that a gather dispatch wrote first: a CPU-tuned dense layer whose outputs are a multiple of 4
 * (its weight gradient reads dz as vec4s). The fused kernels compute the same floats in the same
 * order, and save a dispatch and a (B, I) f32 write and read per step, but they are pipelines
 * of their own: fc1's forward and weight gradient no longer share fc2's (llvmpipe: +14 MB and
 * about 0.25 s of pipeline creation for the MLP), which a training run earns back within its
 * first epoch (MLP step about 12% faster) and an `eval` does not. A first convolution would
 * cost LeNet a second copy of the pooled forward that conv1 and conv2 share (+20 MB when the
 * network is built, +28-40 MB at the peak, past the 400 MB budget of issue 19) for about 1% of
 * a step, so convolutions do not.
 */
export function gathersBatch(info: LayerInfo, variant: string): boolean {
  return info.spec.kind === "dense" && variant === TUNED.dense.cpu &&
    denseShape(info).O % 4 === 0;
}

/** A row's `fits`, whatever the op. */
type Fits = (shape: never, limits: RowLimits) => boolean;

/** The rows a layer of this kind may run, each with its `fits` bound to the layer's shape. */
function rowsOf(info: LayerInfo): Map<string, (limits: RowLimits) => boolean> {
  const bind = (table: Record<string, { fits: Fits }>, shape: unknown) =>
    new Map(
      Object.entries(table).map(([name, row]) => [
        name,
        (limits: RowLimits) => (row.fits as (s: unknown, l: RowLimits) => boolean)(shape, limits),
      ]),
    );
  switch (info.spec.kind) {
    case "dense":
      return bind(DENSE_TABLE, denseShape(info));
    case "conv2d":
      return bind(CONV2D_TABLE, conv2dShape(info));
    case "maxpool":
      return bind(POOL_TABLE, poolShape(info));
    default:
      return new Map([[SIMPLE_VARIANT, () => true]]);
  }
}

/**
 * The variant a layer runs for `--kernels tuned` on this kind of adapter: the op's tuned row
 * where it fits the layer's shape and the device's limits, else the simple one.
 */
export function tunedVariant(
  info: LayerInfo,
  { adapter, limits }: { adapter: AdapterKind; limits: RowLimits },
): string {
  const kind = info.spec.kind;
  if (!(kind in TUNED)) return SIMPLE_VARIANT;
  const name = TUNED[kind as keyof typeof TUNED][adapter];
  return rowsOf(info).get(name)?.(limits) ? name : SIMPLE_VARIANT;
}

/**
 * `variant` if it names a row of the layer's op that fits the layer's shape on a device with
 * `limits` (the device's); throws an Error (a bug in the caller, not a user mistake) otherwise.
 */
export function checkVariant(
  info: LayerInfo,
  { variant, limits }: { variant: string | undefined; limits: RowLimits },
): string {
  const fits = variant === undefined ? undefined : rowsOf(info).get(variant);
  if (!fits?.(limits)) {
    throw new Error(`${info.spec.name}: variant "${variant}" is not one that fits the layer`);
  }
  return variant!;
}

/** One layer's measurement (src/train/autotune.ts): GPU µs per step with each kind of kernel. */
export interface LayerTiming {
  /** Mean µs per step of the layer's forward and backward dispatches with its simple row. */
  simple: number;
  /** The same with its {@link tunedVariant} for GPUs. */
  tuned: number;
}

/**
 * The variant of each layer of `model`, by index: `kernels` "simple" gives the simple rows,
 * "tuned" each layer's {@link tunedVariant} for `adapter`, and "auto" the tuned one too, but
 * where `timing` has a layer's measurement (GPUs only) the tuned variant only if it was no
 * slower. On CPUs a tuned convolution and the 2×2 pool after it fuse where they can
 * ({@link POOLING_CONV}, {@link FUSED_POOL}).
 */
export function chooseVariants(
  model: ModelSpec,
  { adapter, limits, kernels, timing = [] }: {
    adapter: AdapterKind;
    limits: RowLimits;
    kernels: KernelMode;
    /** By layer index; absent or null where a layer was not measured. */
    timing?: readonly (LayerTiming | null | undefined)[];
  },
): string[] {
  const infos = inferShapes(model);
  const names = infos.map((info, k) => {
    if (kernels === "simple") return SIMPLE_VARIANT;
    const t = kernels === "auto" && adapter === "gpu" ? timing[k] : null;
    if (t && t.tuned > t.simple) return SIMPLE_VARIANT;
    return tunedVariant(info, { adapter, limits });
  });
  return adapter === "cpu" ? fuseConvPool(infos, names) : names;
}

/**
 * The variants a checkpoint recorded for `model` (its training.kernels.layers), read on an
 * adapter of kind `adapter`: each a variant name of its layer's op, or "tuned" as checkpoints
 * written before variants had names say, which is that layer's {@link tunedVariant}. Null when
 * the record does not fit the model (not a list, another length, a name the op lacks).
 */
export function recallVariants(
  model: ModelSpec,
  recorded: unknown,
  { adapter, limits }: { adapter: AdapterKind; limits: RowLimits },
): string[] | null {
  const infos = inferShapes(model);
  if (!Array.isArray(recorded) || recorded.length !== infos.length) return null;
  const names = infos.map((info, k) => {
    const name = recorded[k];
    if (name === "tuned") return tunedVariant(info, { adapter, limits });
    return typeof name === "string" && rowsOf(info).get(name)?.(limits) ? name : null;
  });
  if (!names.every((n) => n !== null)) return null;
  return pairsFused(infos, names as string[]) ? names as string[] : null;
}

/**
 * The largest batch a forward-only network on a CPU adapter runs with the simple kernels. There
 * a tuned kernel's pipeline takes llvmpipe 0.3-2.4 s and up to 32 MB to compile (LeNet's five:
 * about 3 s, 35 MB), a simple one some 10 ms, while at a batch of one image the simple forward
 * pass is about as fast (LeNet 23 ms against 15; the tuned ones win from about 8 images):
 * `mnist predict` on an image or a few answers seconds sooner (docs/memory.md, cold start).
 */
export const SIMPLE_INFERENCE_BATCH = 4;

/**
 * The variants a forward-only network (eval, predict, serve) of `batch` samples runs on `gpu`:
 * each layer's tuned variant for the adapter, untimed; on a CPU adapter, for a batch of at most
 * {@link SIMPLE_INFERENCE_BATCH}, the simple ones. Without `batch`, the tuned ones.
 */
export function inferenceVariants(
  model: ModelSpec,
  gpu: Pick<Gpu, "isCpu" | "device">,
  { batch }: { batch?: number } = {},
): string[] {
  const small = batch !== undefined && batch <= SIMPLE_INFERENCE_BATCH;
  return chooseVariants(model, {
    adapter: adapterKind(gpu),
    limits: gpu.device.limits,
    kernels: small && adapterKind(gpu) === "cpu" ? "simple" : "tuned",
  });
}
