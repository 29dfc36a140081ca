/**
 * The optimizers, with MXNet's semantics, each one dispatch over every parameter (they live in
 * one buffer, see params.ts): SGD and NAG (kernels/sgd.wgsl), Adam and AdamW (kernels/adam.wgsl).
 * The rate of each update reaches the GPU through a uniform buffer of per-step `Dims` slots,
 * written with `queue.writeBuffer` before each submit: schedules and Adam's bias correction
 * change the rate every step without a pipeline rebuild or a readback. Weight decay skips the
 * biases, as MXNet's does ({@link takesWeightDecay}).
 */
import adamCode from "../../kernels/adam.wgsl" with { type: "text" };
import optimizerCode from "../../kernels/optimizer.wgsl" with { type: "text" };
import code from "../../kernels/sgd.wgsl" with { type: "text" };
import { createStorage, type DimsLayout, type DimsValues } from "../gpu/buffer.ts";
import {
  type Bindings,
  type Dispatch,
  dispatchOf,
  type KernelCache,
  type Program,
  workgroupGrid,
} from "../gpu/kernel.ts";
import type { ParamStore } from "./params.ts";

/**
 * The `Program` of the optimizer kernel file `name` with `code` and kernels/optimizer.wgsl joined
 * after it (as activation.wgsl is to the layers'): `WG`, `CLIP`, `WEIGHT_DECAY`,
 * `param_index()` and `clip_gradient()`.
 */
function withOptimizerCommon(name: string, code: string): Program {
  return { name, code: `${code}\n${optimizerCode}` };
}

/** The SGD and NAG kernels' WGSL module, kernels/optimizer.wgsl joined. */
export const SGD: Program = withOptimizerCommon("sgd", code);
/** The Adam and AdamW kernels' WGSL module, kernels/optimizer.wgsl joined. */
export const ADAM: Program = withOptimizerCommon("adam", adamCode);

/**
 * SGD's kernels (kernels/sgd.wgsl), one row per update rule: SGD, plain or with momentum, and
 * NAG (Nesterov's momentum). NAG without momentum runs the `sgd` row, as MXNet's NAG falls back
 * to sgd_update.
 */
export const SGD_TABLE = {
  sgd: { variant: "sgd", program: SGD, entries: { update: "sgd_update" } },
  nag: { variant: "nag", program: SGD, entries: { update: "nag_update" } },
} as const;

/**
 * Adam's kernels (kernels/adam.wgsl), one row per update rule: Adam (weight decay added to the
 * gradient) and AdamW (weight decay decoupled from it). Both keep the moments m and v.
 */
export const ADAM_TABLE = {
  adam: { variant: "adam", program: ADAM, entries: { update: "adam_update" } },
  adamw: { variant: "adamw", program: ADAM, entries: { update: "adamw_update" } },
} as const;

/** A row of {@link SGD_TABLE} or {@link ADAM_TABLE}. */
type UpdateRow =
  | typeof SGD_TABLE[keyof typeof SGD_TABLE]
  | typeof ADAM_TABLE[keyof typeof ADAM_TABLE];

/** The row that runs `name`'s update (NAG without momentum is SGD, as in MXNet). */
function updateRow(name: OptimizerName, momentum: number): UpdateRow {
  switch (name) {
    case "sgd":
      return SGD_TABLE.sgd;
    case "nag":
      return momentum > 0 ? SGD_TABLE.nag : SGD_TABLE.sgd;
    case "adam":
      return ADAM_TABLE.adam;
    case "adamw":
      return ADAM_TABLE.adamw;
  }
}

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

/**
 * The `struct Dims` of kernels/adam.wgsl: n parameters, the step's rate (bias correction folded
 * in), the moments' decays, epsilon, weight decay, gradient scale and clip, and AdamW's `eta`.
 */
export const ADAM_DIMS = {
  n: "u32",
  lr: "f32",
  beta1: "f32",
  beta2: "f32",
  epsilon: "f32",
  wd: "f32",
  rescale_grad: "f32",
  clip: "f32",
  eta: "f32",
} as const;

/** `--optimizer`: MXNet's SGD, NAG and Adam, and AdamW with decoupled weight decay. */
export const OPTIMIZERS = ["sgd", "nag", "adam", "adamw"] as const;

/** One of {@link OPTIMIZERS}. */
export type OptimizerName = typeof OPTIMIZERS[number];

/**
 * Whether weight decay applies to the parameter tensor `name`: MXNet's rule, which gives every
 * parameter whose name ends in neither `_weight` nor `_gamma` a `wd_mult` of 0
 * (`Optimizer.set_wd_mult`, python/mxnet/optimizer/optimizer.py; FeedForward and Module pass
 * the names), so biases are not decayed. PyTorch's `weight_decay` decays every parameter.
 */
export function takesWeightDecay(name: string): boolean {
  return name.endsWith("_weight") || name.endsWith("_gamma");
}

/**
 * Ranges kernels/optimizer.wgsl's `struct NoDecay` holds: a bias per layer at most, and a model
 * has at most 64 layers (`MODEL_LIMITS.layers`, src/nn/model.ts).
 */
const NO_DECAY_RANGES = 64;
/** Bytes of `struct NoDecay`: a vec4u per range. */
const NO_DECAY_BYTES = 16 * NO_DECAY_RANGES;

/**
 * kernels/optimizer.wgsl's `NoDecay` for `store`: `[start, end)` in floats of each tensor that
 * {@link takesWeightDecay} says no to (the biases), one vec4u each (`.zw` zero), and how many
 * (the pipeline's `NO_DECAY_COUNT`). Throws when there are more than the struct holds.
 */
export function noDecayTable(
  store: ParamStore,
): { table: Uint32Array<ArrayBuffer>; count: number } {
  const skipped = store.tensors.filter((t) => !takesWeightDecay(t.name));
  if (skipped.length > NO_DECAY_RANGES) {
    throw new Error(
      `${skipped.length} tensors without weight decay, but the optimizer holds ${NO_DECAY_RANGES}`,
    );
  }
  const table = new Uint32Array(NO_DECAY_BYTES / 4);
  skipped.forEach((t, k) => table.set([t.offset, t.offset + t.size], 4 * k));
  return { table, count: skipped.length };
}

/** MXNet's Adam defaults (python/mxnet/optimizer/optimizer.py, `Adam.__init__`). */
export const ADAM_DEFAULTS = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8 } as const;

/** SGD hyper-parameters, as MXNet names them. */
export interface SgdOptions {
  /** The base learning rate (`--lr`, MXNet's `learning_rate`). */
  lr: number;
  /** Momentum coefficient (`--momentum`); 0 for none, which makes NAG plain SGD, as in MXNet. */
  momentum: number;
  /**
   * Weight decay (`--wd`): `wd · w` added to the rescaled gradient (Adam: before clipping);
   * AdamW decays decoupled, `w -= eta · wd · w` (kernels/sgd.wgsl, kernels/adam.wgsl). Only
   * the tensors {@link takesWeightDecay} names (weights, not biases), as in MXNet.
   */
  wd: number;
  /** Multiplies the gradient first: 1 / batch size, since the loss gradient is a sum. */
  rescaleGrad: number;
  /** Clip the rescaled gradient to ±clip; 0 for none. */
  clipGradient: number;
}

/**
 * Any optimizer's hyper-parameters: SGD's (`momentum` is SGD's and NAG's only), the rule
 * (default sgd) and Adam's `beta1`, `beta2`, `epsilon` (default {@link ADAM_DEFAULTS}). `lr` is
 * the base rate; a schedule's rate per update is given to {@link Optimizer.writeSteps}.
 */
export interface OptimizerOptions extends SgdOptions {
  /** The update rule (`--optimizer`, default "sgd"). */
  optimizer?: OptimizerName;
  /** Adam's decay of the first moment m (default 0.9, MXNet's). */
  beta1?: number;
  /** Adam's decay of the second moment v (default 0.999, MXNet's). */
  beta2?: number;
  /** Adam's `m / (sqrt(v) + epsilon)` term (default 1e-8, MXNet's). */
  epsilon?: number;
}

/** Preferred workgroup size (see `KernelCache.workgroup`). */
const PREFERRED_WG = 256;
/** Bytes per `Dims` slot: WebGPU's minimum uniform buffer offset alignment. */
const SLOT_BYTES = 256;

/**
 * Adam's rate for update `t` (1-based) with MXNet's bias correction folded in, computed in
 * float64 as MXNet's Python does: `lr · sqrt(1 - beta2^t) / (1 - beta1^t)`.
 */
export function adamRate(lr: number, t: number, { beta1, beta2 }: {
  beta1: number;
  beta2: number;
}): number {
  return lr * Math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t);
}

/** Writes `values` as the fields of `layout` (4 bytes each, in order) at `byteOffset`. */
function packDims<L extends DimsLayout>(
  view: DataView,
  byteOffset: number,
  { layout, values }: { layout: L; values: DimsValues<L> },
): void {
  Object.keys(layout).forEach((field, i) => {
    const at = byteOffset + 4 * i;
    if (layout[field] === "u32") view.setUint32(at, values[field]!, true);
    else view.setFloat32(at, values[field]!, true);
  });
}

/**
 * One optimizer over a {@link ParamStore}: its state (the store's `momentum` buffer holds SGD's
 * and NAG's momentum, or Adam's first moment m; `variance` Adam's second moment v) and one
 * dispatch per slot of a submit. Before encoding a submit's steps, {@link writeSteps} writes each
 * step's rate; step j of the submit then encodes `dispatch(j)`. Pipelines and bind groups are
 * made here, once.
 */
export class Optimizer {
  /** The update rule. */
  readonly name: OptimizerName;
  /** Adam's second moment v, in the parameter buffer's layout; null for SGD and NAG. */
  readonly variance: GPUBuffer | null;
  /** How many steps one submit may hold. */
  readonly slots: number;
  readonly #device: GPUDevice;
  readonly #options: OptimizerOptions;
  readonly #n: number;
  readonly #dims: GPUBuffer;
  readonly #noDecay: GPUBuffer;
  readonly #dispatches: Dispatch[];
  readonly #stateFrom: number;

  /**
   * Builds the update of `store`'s whole parameter buffer; every slot starts at the base rate
   * (Adam's at t = 1). Throws when the store's length is not a multiple of 4.
   */
  constructor(
    device: GPUDevice,
    kernels: KernelCache,
    { store, options, slots = 1, stateFrom = 0 }: {
      store: ParamStore;
      options: OptimizerOptions;
      slots?: number;
      /**
       * The update (MXNet's `num_update`) after which this optimizer's state began: 0 for a run
       * from scratch, the resumed run's update count when the state was not carried over (a
       * different optimizer). Adam's t is the update minus this.
       */
      stateFrom?: number;
    },
  ) {
    const n = store.length;
    if (n % 4 !== 0) {
      throw new Error(`The optimizer needs a parameter count divisible by 4, got ${n}`);
    }
    this.#device = device;
    this.#options = options;
    this.#n = n;
    this.#stateFrom = stateFrom;
    this.name = options.optimizer ?? "sgd";
    this.slots = slots;
    const adam = this.name === "adam" || this.name === "adamw";
    this.variance = adam ? createStorage(device, { label: "variance", bytes: n * 4 }) : null;
    this.#dims = device.createBuffer({
      label: `${this.name}.dims`,
      size: slots * SLOT_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    // Written once: which tensors the decay skips depends on the model only.
    const noDecay = noDecayTable(store);
    this.#noDecay = device.createBuffer({
      label: `${this.name}.no_decay`,
      size: NO_DECAY_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(this.#noDecay, 0, noDecay.table);
    const row = updateRow(this.name, options.momentum);
    const WG = kernels.workgroup(PREFERRED_WG);
    // Booleans as pipeline constants: 1 on, 0 off (MOMENTUM is sgd_update's).
    const constants = {
      WG,
      CLIP: Number(options.clipGradient > 0),
      WEIGHT_DECAY: Number(options.wd !== 0),
      NO_DECAY_COUNT: noDecay.count,
      ...(row.program === SGD ? { MOMENTUM: Number(options.momentum > 0) } : {}),
    };
    // sgd.wgsl's state is mom; adam.wgsl's mean and variance.
    const state: Bindings = this.variance
      ? { mean: store.momentum, variance: this.variance }
      : { mom: store.momentum };
    // The parameters alone: the params buffer may run on past them, where a convolution's
    // uniform windows need room (ParamStore.uniformWindows), and a binding of all of it could
    // exceed maxStorageBufferBindingSize where the parameters do not.
    const params = { buffer: store.params, offset: 0, size: store.length * 4 };
    // One dispatch per slot, bound to its own Dims.
    this.#dispatches = Array.from({ length: slots }, (_, s) =>
      dispatchOf(device, kernels, {
        program: row.program,
        entry: row.entries.update,
        constants,
        io: {
          w: params,
          ...state,
          grad: store.grads,
          no_decay: { buffer: this.#noDecay, offset: 0, size: NO_DECAY_BYTES },
        },
        dims: { buffer: this.#dims, offset: s * SLOT_BYTES, size: SLOT_BYTES },
        grid: workgroupGrid(device, { invocations: n / 4, wg: WG }),
      }));
    this.writeSteps(1, new Array<number>(slots).fill(options.lr));
  }

  /**
   * Writes the `Dims` of the next submit's steps: step j is update `first + j` (1-based, MXNet's
   * `num_update`, Adam's t) at rate `rates[j]` (the schedule's; the base `lr` without one).
   * Call it after the previous submit and before this one's (queue order keeps them apart).
   */
  writeSteps(first: number, rates: readonly number[]): void {
    if (rates.length > this.slots) {
      throw new Error(`${rates.length} steps in one submit, but only ${this.slots} slots`);
    }
    const o = this.#options;
    const data = new ArrayBuffer(rates.length * SLOT_BYTES);
    const view = new DataView(data);
    const common = { n: this.#n, wd: o.wd, rescale_grad: o.rescaleGrad, clip: o.clipGradient };
    rates.forEach((rate, j) => {
      const at = j * SLOT_BYTES;
      if (this.variance === null) {
        packDims(view, at, {
          layout: SGD_DIMS,
          values: { ...common, lr: rate, momentum: o.momentum },
        });
        return;
      }
      const { beta1, beta2, epsilon } = { ...ADAM_DEFAULTS, ...definedOnly(o) };
      const adamw = this.name === "adamw";
      // AdamW's rate is the base rate (bias-corrected) and eta the schedule's multiplier, so
      // that eta scales the decoupled decay too (adamw-inl.h); Adam's is the scheduled rate.
      const t = first + j - this.#stateFrom;
      const lr = adamRate(adamw ? o.lr : rate, t, { beta1, beta2 });
      packDims(view, at, {
        layout: ADAM_DIMS,
        values: { ...common, lr, beta1, beta2, epsilon, eta: adamw ? rate / o.lr : 1 },
      });
    });
    this.#device.queue.writeBuffer(this.#dims, 0, data);
  }

  /** The update of step `slot` of a submit (0 outside the training loop). */
  dispatch(slot = 0): Dispatch {
    const d = this.#dispatches[slot];
    if (!d) throw new Error(`No optimizer slot ${slot} (of ${this.slots})`);
    return d;
  }

  /** Frees the uniforms and Adam's variance (the store frees the rest). */
  destroy(): void {
    this.#dims.destroy();
    this.#noDecay.destroy();
    this.variance?.destroy();
  }
}

/** Adam's settings that are set, so that an absent one takes its default. */
function definedOnly(o: OptimizerOptions): Partial<typeof ADAM_DEFAULTS> {
  return Object.fromEntries(
    (["beta1", "beta2", "epsilon"] as const).filter((k) => o[k] !== undefined).map((
      k,
    ) => [k, o[k]]),
  );
}

/** The SGD update dispatch over `store`'s whole parameter buffer at a fixed rate. */
export function buildSgd(
  device: GPUDevice,
  kernels: KernelCache,
  { store, ...options }: SgdOptions & { store: ParamStore },
): Dispatch {
  return new Optimizer(device, kernels, { store, options }).dispatch(0);
}
