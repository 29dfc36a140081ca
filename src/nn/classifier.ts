/**
 * Inference for `predict` and `serve`: a trained model loaded once on the GPU, classifying
 * preprocessed 28×28 images in batches. Calls are serialised, so concurrent requests are safe.
 */
import type { Gpu } from "../gpu/device.ts";
import { readBuffer, writeBuffer } from "../gpu/buffer.ts";
import { KernelCache } from "../gpu/kernel.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { sizeOf } from "./model.ts";
import { checkParamsFit, Network } from "./network.ts";
import { ParamStore } from "./params.ts";
import { inferenceVariants } from "./variants.ts";

const PAD = 0xffffffff;

/** A model on the GPU that turns images into class probabilities. */
export class Classifier {
  readonly #gpu: Gpu;
  readonly #network: Network;
  readonly #store: ParamStore;
  readonly #pixels: number;
  #queue: Promise<unknown> = Promise.resolve();

  /** Uploads `checkpoint`'s weights and builds a forward-only network for `batch` images. */
  constructor(gpu: Gpu, checkpoint: Checkpoint, { batch = 64 }: { batch?: number } = {}) {
    const model = checkpoint.meta.model;
    this.#gpu = gpu;
    checkParamsFit(model, { limits: gpu.device.limits, adapter: gpu.name, train: false });
    this.#store = new ParamStore(gpu.device, model);
    this.#store.load(checkpoint.params);
    this.#network = new Network(gpu.device, new KernelCache(gpu.device), {
      model,
      store: this.#store,
      B: batch,
      train: false,
      variants: inferenceVariants(model, gpu, { batch }),
    });
    this.#pixels = sizeOf(model.input);
    writeBuffer(gpu.device, this.#network.labels, { data: new Uint32Array(batch).fill(PAD) });
  }

  /** Pixels each image must have (C·H·W, e.g. 784). */
  get pixels(): number {
    return this.#pixels;
  }

  /**
   * Class probabilities for each image (each `pixels` floats in [0, 1], MNIST-style: light ink
   * on black). Safe to call concurrently: calls run one after another on the GPU.
   */
  classify(images: Float32Array[]): Promise<Float32Array[]> {
    const run = this.#queue.then(() => this.#classify(images));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #classify(images: Float32Array[]): Promise<Float32Array[]> {
    const { device } = this.#gpu;
    const B = this.#network.B;
    const N = this.#network.model.classes;
    const results: Float32Array[] = [];
    for (let start = 0; start < images.length; start += B) {
      const chunk = images.slice(start, start + B);
      const x = new Float32Array(B * this.#pixels);
      chunk.forEach((image, i) => {
        if (image.length !== this.#pixels) {
          throw new Error(`An image has ${image.length} pixels, expected ${this.#pixels}`);
        }
        x.set(image, i * this.#pixels);
      });
      writeBuffer(device, this.#network.x, { data: x });
      const encoder = device.createCommandEncoder({ label: "classify" });
      const pass = encoder.beginComputePass({ label: "classify" });
      this.#network.encodeForward(pass);
      pass.end();
      device.queue.submit([encoder.finish()]);
      const prob = new Float32Array(
        await readBuffer(device, this.#network.prob, { bytes: chunk.length * N * 4 }),
      );
      this.#gpu.checkErrors();
      for (let i = 0; i < chunk.length; i++) results.push(prob.slice(i * N, (i + 1) * N));
    }
    return results;
  }

  /** Frees the GPU buffers. */
  destroy(): void {
    this.#network.destroy();
    this.#store.destroy();
  }
}
