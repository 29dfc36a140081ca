/**
 * A model built for one batch size: activation and gradient buffers allocated once, every
 * dispatch prepared, so a training step only encodes.
 */
import { UserError } from "../errors.ts";
import { formatBytes } from "../fs.ts";
import { createStorage } from "../gpu/buffer.ts";
import { type Dispatch, encode, type KernelCache } from "../gpu/kernel.ts";
import { buildConv2d } from "./conv2d.ts";
import { buildDense } from "./dense.ts";
import type { Layer, LayerContext } from "./layer.ts";
import { buildLoss } from "./loss.ts";
import { checkClassifier, inferShapes, type ModelSpec, sizeOf } from "./model.ts";
import type { ParamStore } from "./params.ts";
import { buildMaxPool } from "./pool.ts";
import {
  checkFusions,
  checkVariant,
  FUSED_POOL,
  gathersBatch,
  SIMPLE_VARIANT,
} from "./variants.ts";

/**
 * The largest per-sample buffer of `model` at any batch size: the input or a layer's output
 * (its gradient has the same size), in bytes per sample, and what it holds.
 */
function largestSampleBuffer(model: ModelSpec): { bytes: number; what: string } {
  let largest = { bytes: sizeOf(model.input) * 4, what: "the input batch" };
  for (const info of inferShapes(model)) {
    const bytes = sizeOf(info.output) * 4;
    if (bytes > largest.bytes) largest = { bytes, what: `${info.spec.name}'s output` };
  }
  return largest;
}

/**
 * The largest batch whose buffers the device can hold: every per-sample buffer (B × its size)
 * must fit both `maxStorageBufferBindingSize` and `maxBufferSize`. On Mesa's llvmpipe (128 MiB
 * bindings) that is 42,799 for the MLP (784 input floats a sample) and 2,912 for LeNet (conv1's
 * 20×24×24 output).
 */
export function largestBatch(
  model: ModelSpec,
  limits: Pick<GPUSupportedLimits, "maxStorageBufferBindingSize" | "maxBufferSize">,
): number {
  const cap = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  return Math.floor(cap / largestSampleBuffer(model).bytes);
}

/**
 * `bytes` and the `limit` it exceeds as `formatBytes` writes them, with as many decimals as it
 * takes to tell them apart: "128.01 MiB" over "128 MiB", not "128.0 MiB" over "128 MiB"; in
 * bytes when 6 decimals are not enough.
 */
export function formatOver(bytes: number, limit: number): [string, string] {
  const [a, b] = [formatBytes(bytes), formatBytes(limit)];
  const [valueA, unit] = a.split(" ") as [string, string];
  const [valueB, unitB] = b.split(" ") as [string, string];
  if (bytes === limit || unit !== unitB || Number(valueA) !== Number(valueB)) return [a, b];
  const size = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[unit] ?? 1;
  for (let decimals = 2; decimals <= 6; decimals++) {
    const [x, y] = [bytes / size, limit / size];
    if (x.toFixed(decimals) === y.toFixed(decimals)) continue;
    const show = (v: number) => `${Number.isInteger(v) ? v : v.toFixed(decimals)} ${unit}`;
    return [show(x), show(y)];
  }
  return [`${bytes.toLocaleString("en-US")} B`, `${limit.toLocaleString("en-US")} B`];
}

/**
 * Throws a `UserError` when batch size `B` does not fit the device (see `largestBatch`), naming
 * the largest batch that does. `adapter` names the adapter in the message.
 */
export function checkBatchFits(
  model: ModelSpec,
  B: number,
  { limits, adapter }: { limits: GPUSupportedLimits; adapter: string },
): void {
  const largest = largestBatch(model, limits);
  if (B <= largest) return;
  const { bytes, what } = largestSampleBuffer(model);
  const cap = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const [needed, limit] = formatOver(B * bytes, cap);
  throw new UserError(
    `Batch size ${B} is too large for ${model.name} on "${adapter}": ${what} would take ` +
      `${needed}, over the adapter's ${limit} buffer limit; ` +
      `the largest batch it holds is ${largest}`,
    { hint: `Pass --batch-size ${largest} or less.` },
  );
}

/**
 * Throws a `UserError` when `model`'s parameters do not fit the device's buffers, whatever the
 * batch size: each layer's block of the parameter buffer (and of its gradients) is bound as one
 * storage range, which must fit `maxStorageBufferBindingSize`; the whole buffer must fit
 * `maxBufferSize`; and with `train`, the optimizer binds all the parameters at once, so their
 * total must fit the binding limit too. On Mesa's llvmpipe (128 MiB bindings) a dense layer of
 * 784 inputs holds at most 42,744 units. `adapter` names the adapter in the message.
 */
export function checkParamsFit(
  model: ModelSpec,
  { limits, adapter, train }: {
    limits: Pick<GPUSupportedLimits, "maxStorageBufferBindingSize" | "maxBufferSize">;
    adapter?: string;
    train: boolean;
  },
): void {
  const on = adapter === undefined ? "this adapter" : `"${adapter}"`;
  const fail = (text: string) =>
    new UserError(`Model "${model.name}" is too large ${text}`, {
      hint: 'Use a smaller network, or a GPU with larger buffers (see "mnist devices").',
    });
  const binding = limits.maxStorageBufferBindingSize;
  let total = 0;
  for (const info of inferShapes(model)) {
    const bytes = info.params.reduce((n, p) => n + sizeOf(p.shape), 0) * 4;
    if (bytes > binding) {
      const [size, limit] = formatOver(bytes, binding);
      throw fail(
        `for ${on}: ${info.spec.name}'s parameters take ${size}, over the ` +
          `adapter's ${limit} buffer binding limit`,
      );
    }
    // Each block starts 256-byte aligned, as ParamStore lays them out.
    total += Math.ceil(bytes / 256) * 256;
  }
  if (total > limits.maxBufferSize) {
    const [size, limit] = formatOver(total, limits.maxBufferSize);
    throw fail(
      `for ${on}: its parameters take ${size}, over the adapter's ${limit} buffer size limit`,
    );
  }
  if (train && total > binding) {
    const [size, limit] = formatOver(total, binding);
    throw fail(
      `to train on ${on}: its parameters take ${size}, over the adapter's ${limit} buffer ` +
        "binding limit (the optimizer binds them all at once)",
    );
  }
}

/** A network's buffers and dispatches for batch size `B`. */
export class Network {
  /** Batch size: samples per step that every buffer holds (padding rows included). */
  readonly B: number;
  /** The spec the network was built from. */
  readonly model: ModelSpec;
  /**
   * (B, C, H, W) input batch; unread when {@link Network.gathers} (the first layer reads the
   * batch itself).
   */
  readonly x: GPUBuffer;
  /**
   * Whether the first layer reads each batch straight from the dataset split of the Feeder
   * (src/train/feeder.ts) that feeds the network, its gather fused in (the `gather` option, where
   * the layer's variant can: `gathersBatch` in src/nn/variants.ts). Such a network runs only with
   * a Feeder's `encodeGather` before its forward, which binds the batch rather than
   * dispatching a gather into `x`.
   */
  readonly gathers: boolean;
  /** (B) u32 labels; 0xffffffff marks padding. */
  readonly labels: GPUBuffer;
  /** (B, N) softmax output. */
  readonly prob: GPUBuffer;
  /** (B) u32 predictions. */
  readonly pred: GPUBuffer;
  /** (4) f32 [loss sum, correct, count, non-finite], accumulated until cleared. */
  readonly stats: GPUBuffer;
  /** One per layer of the model, in order; a flatten layer's has no dispatches. */
  readonly layers: Layer[];
  /**
   * Softmax cross-entropy over the last layer's (B, N) logits (MXNet's SoftmaxOutput): writes
   * `prob`, `pred` and the logits' gradient, and adds to `stats`.
   */
  readonly loss: Dispatch;
  readonly #buffers: GPUBuffer[] = [];

  /**
   * Allocates every activation buffer for batch `options.B` (and, when `options.train`, the
   * gradient buffers; flatten layers share their input's) and prepares the dispatches of each
   * layer, the parameters being `options.store`'s. Throws an `Error` (a bug in the caller) when
   * the model does not end in a classifier ({@link checkClassifier}), a variant does not fit
   * its layer ({@link checkVariant}) or a fused pair is broken ({@link checkFusions}); check the batch size first with {@link checkBatchFits}.
   */
  constructor(
    device: GPUDevice,
    kernels: KernelCache,
    options: {
      model: ModelSpec;
      store: ParamStore;
      B: number;
      train: boolean;
      /**
       * Each layer's variant, by index: a row of its op's table, as `chooseVariants`
       * (src/nn/variants.ts) returns them. Default: every layer's simple row.
       */
      variants?: readonly string[];
      /**
       * Let the first layer read its batches straight from a Feeder's dataset split where its
       * variant can (see {@link Network.gathers}): for networks that only Feeders without
       * `augment` feed (training and evaluation on a split), not those fed through `x`.
       * Default false.
       */
      gather?: boolean;
    },
  ) {
    const { model, store, B, train, variants } = options;
    // Callers check first, naming the adapter; this keeps a raw WebGPU error from any other.
    checkParamsFit(model, { limits: device.limits, train });
    this.B = B;
    this.model = model;
    const make = (label: string, floats: number) => {
      const buffer = createStorage(device, { label, bytes: floats * 4 });
      this.#buffers.push(buffer);
      return buffer;
    };
    checkClassifier(model);
    const infos = store.layers;
    // acts[k] feeds layer k; acts[k + 1] is its output. grads[k + 1] is the gradient w.r.t.
    // layer k's pre-activation output.
    const acts = [make("input", B * sizeOf(model.input))];
    const grads: (GPUBuffer | null)[] = [null];
    for (const [k, info] of infos.entries()) {
      if (info.spec.kind === "flatten") {
        // Row-major (B, C, H, W) is already (B, C·H·W): share the buffers.
        acts.push(acts[k]!);
        grads.push(grads[k]!);
        continue;
      }
      acts.push(make(`${info.spec.name}.out`, B * sizeOf(info.output)));
      grads.push(train ? make(`${info.spec.name}.grad`, B * sizeOf(info.output)) : null);
    }
    // The activation that produced layer k's input, looking through flatten layers.
    const producerAct = (k: number) => {
      for (let j = k - 1; j >= 0; j--) {
        if (infos[j]!.spec.kind !== "flatten") return infos[j]!.spec.act;
      }
      return "none" as const;
    };
    this.x = acts[0]!;
    this.labels = make("labels", B);
    this.prob = make("prob", B * model.classes);
    this.pred = make("pred", B);
    this.stats = make("stats", 4);
    const named = infos.map((info, k) =>
      checkVariant(info, { variant: variants?.[k] ?? SIMPLE_VARIANT, limits: device.limits })
    );
    checkFusions(infos, named);
    this.gathers = options.gather === true && infos.length > 0 &&
      gathersBatch(infos[0]!, named[0]!);
    // A convolution that pools in its epilogue writes the pool's output and argmax (layer k + 1).
    const pooled = new Map<number, { y: GPUBuffer; argmax: GPUBuffer }>();
    for (const [k, info] of infos.entries()) {
      if (named[k] !== FUSED_POOL) continue;
      const argmax = make(`${info.spec.name}.argmax`, B * sizeOf(info.output));
      const pair = { y: acts[k + 1]!, argmax };
      pooled.set(k - 1, pair).set(k, pair);
    }
    this.layers = infos.map((info, k) => {
      const ctx: LayerContext = {
        device,
        kernels,
        B,
        info,
        index: k,
        store,
        x: acts[k]!,
        y: acts[k + 1]!,
        dy: grads[k + 1]!,
        dx: grads[k]!,
        prevAct: producerAct(k),
        variant: named[k]!,
        ...(k === 0 && this.gathers ? { gather: true } : {}),
        alloc: (label, bytes) => make(`${info.spec.name}.${label}`, bytes / 4),
        ...(pooled.has(k) ? { pooled: pooled.get(k)! } : {}),
      };
      switch (info.spec.kind) {
        case "dense":
          return buildDense(ctx);
        case "conv2d":
          return buildConv2d(ctx);
        case "maxpool":
          return buildMaxPool(ctx);
        case "flatten":
          return { name: info.spec.name, forward: [], backward: [] };
        default:
          throw new Error(`Unknown layer kind "${(info.spec as { kind: string }).kind}"`);
      }
    });
    const dlogits = grads.at(-1) ?? make("dlogits", B * model.classes);
    this.loss = buildLoss(device, kernels, {
      B,
      N: model.classes,
      buffers: {
        prob: this.prob,
        dlogits,
        stats: this.stats,
        pred: this.pred,
        logits: acts.at(-1)!,
        labels: this.labels,
      },
    });
  }

  /** Encodes the forward pass and the loss (which also accumulates the metrics). */
  encodeForward(pass: GPUComputePassEncoder): void {
    for (const layer of this.layers) for (const d of layer.forward) encode(pass, d);
    encode(pass, this.loss);
  }

  /** Encodes the backward pass: every layer's gradients, last layer first. */
  encodeBackward(pass: GPUComputePassEncoder): void {
    for (let k = this.layers.length - 1; k >= 0; k--) {
      for (const d of this.layers[k]!.backward) encode(pass, d);
    }
  }

  /** Frees the activation buffers (parameters belong to the store). */
  destroy(): void {
    for (const b of this.#buffers) b.destroy();
  }
}
