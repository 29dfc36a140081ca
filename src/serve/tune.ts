/**
 * Teaching the page's network in the tab: a few plain SGD steps on the digits the user drew
 * and labelled, with the training code `mnist train` runs (`Network` forward and backward,
 * kernels/sgd.wgsl through `buildSgd`), on the page's WebGPU device. It runs in Deno too, which
 * is how tests/browser_serve_test.ts checks the browser's steps.
 * @module
 */
import { readBuffer, writeBuffer } from "../gpu/buffer.ts";
import type { Gpu } from "../gpu/device.ts";
import { encode, KernelCache } from "../gpu/kernel.ts";
import type { Checkpoint } from "../nn/checkpoint.ts";
import { sizeOf } from "../nn/model.ts";
import { Network } from "../nn/network.ts";
import { Optimizer } from "../nn/optimizer.ts";
import { ParamStore } from "../nn/params.ts";

/** Marks a batch row that holds no sample: no loss, no gradient (kernels/softmax.wgsl). */
const PAD = 0xffffffff;

/** One labelled digit: (C·H·W) pixels in [0, 1], light ink on black, and its class. */
export interface Sample {
  /** (C, H, W) floats, as `toMnist` makes them. */
  pixels: Float32Array;
  /** The class, 0 to N − 1. */
  label: number;
}

/** `Tuner`'s settings. */
export interface TunerOptions {
  /** Samples one step holds at most: the most recent `batch` samples are trained on. */
  batch?: number;
  /** SGD's learning rate. */
  lr?: number;
}

/** The most samples one step holds, by default. */
export const TUNE_BATCH = 16;
/**
 * The learning rate, by default: small, since a few digits of one or two classes, with nothing
 * else to rehearse, pull the whole network towards them. Measured on this project's machine
 * (llvmpipe): an MLP at 90% on 500 test digits, taught once that a test 7 is a 1 (5 steps),
 * gave that 7 p(1) = 0.36 and 82% on the 500; at 0.05 and 10 steps, p(1) = 0.999 and 41%.
 */
export const TUNE_LR = 0.005;

/**
 * A copy of a checkpoint's model on the GPU that plain SGD steps change: training and
 * classifying with the simple kernels, one batch of `batch` rows.
 */
export class Tuner {
  /** Samples per step at most. */
  readonly batch: number;
  /** SGD's learning rate. */
  readonly lr: number;
  readonly #gpu: Gpu;
  readonly #store: ParamStore;
  readonly #network: Network;
  readonly #sgd: Optimizer;
  readonly #pixels: number;
  #queue: Promise<unknown> = Promise.resolve();

  /** Uploads `checkpoint`'s weights and builds the training network and its update. */
  constructor(gpu: Gpu, checkpoint: Checkpoint, options: TunerOptions = {}) {
    const { batch = TUNE_BATCH, lr = TUNE_LR } = options;
    const model = checkpoint.meta.model;
    this.batch = batch;
    this.lr = lr;
    this.#gpu = gpu;
    const kernels = new KernelCache(gpu.device);
    this.#store = new ParamStore(gpu.device, model);
    this.#store.load(checkpoint.params);
    this.#network = new Network(gpu.device, kernels, {
      model,
      store: this.#store,
      B: batch,
      train: true,
    });
    // The loss gradient is a sum over the rows: rescaled by 1 / batch here, and the rate
    // scaled by batch / samples in each `train`, so that a step follows the samples' mean.
    this.#sgd = new Optimizer(gpu.device, kernels, {
      store: this.#store,
      options: { lr, momentum: 0, wd: 0, rescaleGrad: 1 / batch, clipGradient: 0 },
    });
    this.#pixels = sizeOf(model.input);
  }

  /**
   * Runs `steps` SGD steps on the last `batch` of `samples` (each step the whole batch, the
   * gradient averaged over the samples), then resolves to the mean cross-entropy of the last
   * step's forward pass (before its update).
   */
  train(samples: readonly Sample[], steps: number): Promise<number> {
    return this.#serial(() => this.#train(samples.slice(-this.batch), steps));
  }

  /** Class probabilities for one image ((C, H, W) pixels) with the weights as they are now. */
  classify(pixels: Float32Array): Promise<Float32Array> {
    return this.#serial(async () => {
      this.#write([], { extra: pixels });
      const { device } = this.#gpu;
      const encoder = device.createCommandEncoder({ label: "tune.classify" });
      const pass = encoder.beginComputePass({ label: "tune.classify" });
      this.#network.encodeForward(pass);
      pass.end();
      device.queue.submit([encoder.finish()]);
      const N = this.#network.model.classes;
      const prob = new Float32Array(await readBuffer(device, this.#network.prob, { bytes: N * 4 }));
      this.#gpu.checkErrors();
      return prob;
    });
  }

  /** The weights as they are now, by parameter name (for a download, or a test). */
  weights(): Promise<Map<string, Float32Array>> {
    return this.#serial(() => this.#store.download());
  }

  /** Frees the GPU buffers (not the device). */
  destroy(): void {
    this.#network.destroy();
    this.#sgd.destroy();
    this.#store.destroy();
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Writes `samples` into the batch's first rows (or `extra` alone, unlabelled), PAD after. */
  #write(samples: readonly Sample[], { extra }: { extra?: Float32Array } = {}): void {
    const B = this.batch;
    const x = new Float32Array(B * this.#pixels);
    const labels = new Uint32Array(B).fill(PAD);
    const images = extra ? [extra] : samples.map((s) => s.pixels);
    images.forEach((image, i) => {
      if (image.length !== this.#pixels) {
        throw new Error(`An image has ${image.length} pixels, expected ${this.#pixels}`);
      }
      x.set(image, i * this.#pixels);
    });
    samples.forEach((s, i) => labels[i] = s.label);
    writeBuffer(this.#gpu.device, this.#network.x, { data: x });
    writeBuffer(this.#gpu.device, this.#network.labels, { data: labels });
  }

  async #train(samples: readonly Sample[], steps: number): Promise<number> {
    const N = this.#network.model.classes;
    for (const s of samples) {
      if (!Number.isInteger(s.label) || s.label < 0 || s.label >= N) {
        throw new Error(`A label must be an integer from 0 to ${N - 1}, got ${s.label}`);
      }
    }
    if (samples.length === 0 || steps < 1) return NaN;
    const { device } = this.#gpu;
    this.#write(samples);
    this.#sgd.writeSteps(1, [this.lr * this.batch / samples.length]);
    const sgd = this.#sgd.dispatch(0);
    const encoder = device.createCommandEncoder({ label: "tune.train" });
    for (let step = 0; step < steps; step++) {
      if (step === steps - 1) encoder.clearBuffer(this.#network.stats);
      const pass = encoder.beginComputePass({ label: "tune.step" });
      this.#network.encodeForward(pass);
      this.#network.encodeBackward(pass);
      encode(pass, sgd);
      pass.end();
    }
    device.queue.submit([encoder.finish()]);
    const [loss] = new Float32Array(await readBuffer(device, this.#network.stats, { bytes: 4 }));
    this.#gpu.checkErrors();
    return loss! / samples.length;
  }
}
