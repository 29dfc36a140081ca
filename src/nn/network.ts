/**
 * A model built for one batch size: activation and gradient buffers allocated once, every
 * dispatch prepared, so a training step only encodes.
 */
import { createStorage } from "../gpu/buffer.ts";
import { type Dispatch, encode, type KernelCache } from "../gpu/kernel.ts";
import { buildConv2d } from "./conv2d.ts";
import { buildDense } from "./dense.ts";
import type { Layer, LayerContext } from "./layer.ts";
import { buildLoss } from "./loss.ts";
import { checkClassifier, type ModelSpec, sizeOf } from "./model.ts";
import type { ParamStore } from "./params.ts";
import { buildMaxPool } from "./pool.ts";

/** A network's buffers and dispatches for batch size `B`. */
export class Network {
  readonly B: number;
  readonly model: ModelSpec;
  /** (B, C, H, W) input batch. */
  readonly x: GPUBuffer;
  /** (B) u32 labels; 0xffffffff marks padding. */
  readonly labels: GPUBuffer;
  /** (B, N) softmax output. */
  readonly prob: GPUBuffer;
  /** (B) u32 predictions. */
  readonly pred: GPUBuffer;
  /** (4) f32 [loss sum, correct, count, non-finite], accumulated until cleared. */
  readonly stats: GPUBuffer;
  readonly layers: Layer[];
  readonly loss: Dispatch;
  readonly #buffers: GPUBuffer[] = [];

  constructor(
    device: GPUDevice,
    kernels: KernelCache,
    options: {
      model: ModelSpec;
      store: ParamStore;
      B: number;
      train: boolean;
      /**
       * The tuned kernels where shapes allow (default true), else the simple ones: for every
       * layer, or per layer (by index).
       */
      tiled?: boolean | readonly boolean[];
      /** What to tune for: "cpu" (default) or "gpu". */
      target?: "cpu" | "gpu";
    },
  ) {
    const { model, store, B, train, tiled = true, target = "cpu" } = options;
    this.B = B;
    this.model = model;
    const make = (label: string, floats: number) => {
      const buffer = createStorage(device, label, floats * 4);
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
        tiled: typeof tiled === "boolean" ? tiled : tiled[k] ?? true,
        target,
        alloc: (label, bytes) => make(`${info.spec.name}.${label}`, bytes / 4),
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
