/** Forward passes over a whole split: validation accuracy, and predictions for `mnist eval`. */
import { createStorage } from "../gpu/buffer.ts";
import type { KernelCache } from "../gpu/kernel.ts";
import { Readback } from "../gpu/readback.ts";
import type { Network } from "../nn/network.ts";
import { Feeder, type HostSplit, PAD_FLAG } from "./feeder.ts";
import { type Metrics, MetricsReader } from "./metrics.ts";

/**
 * With an `onProgress` listener, the fewest submits a run is split into, so that a bar moves
 * (`mnist eval` and validation: 100 batches of 100). Without one, a run is one submit.
 */
const PROGRESS_STEPS = 20;

/** Scores a split with a network; buffers are made once and reused on every run. */
export class Evaluator {
  readonly #device: GPUDevice;
  readonly #network: Network;
  readonly #feeder: Feeder;
  readonly #metrics: MetricsReader;
  readonly #predictions: GPUBuffer;
  #probabilities: GPUBuffer | undefined;
  /** Staging for the predictions and probabilities, made on the first run and reused. */
  readonly #readback: Readback;
  /** Samples in the split; the last batch's padding is not counted. */
  readonly count: number;

  /**
   * Uploads `split` and its identity order, in ceil(count / B) batches of `network`'s B (the
   * last wraps to the start, flagged as padding). Throws as {@link Feeder}'s constructor does.
   */
  constructor(
    device: GPUDevice,
    kernels: KernelCache,
    { network, split }: { network: Network; split: HostSplit },
  ) {
    const B = network.B;
    const batches = Math.ceil(split.count / B);
    this.#device = device;
    this.#network = network;
    this.count = split.count;
    this.#feeder = new Feeder(device, kernels, { split, network, batches });
    // Identity order; the last batch wraps to the start, flagged so it is not counted.
    const order = new Uint32Array(batches * B);
    for (let i = 0; i < order.length; i++) {
      order[i] = i < split.count ? i : (i % split.count) | PAD_FLAG;
    }
    this.#feeder.setOrder(order);
    this.#metrics = new MetricsReader(device, network.stats);
    this.#predictions = createStorage(device, {
      label: "eval.predictions",
      bytes: batches * B * 4,
    });
    this.#readback = new Readback(device, { label: "eval" });
  }

  /**
   * Runs the network over the split. Returns the metrics (accuracy over real samples only) and,
   * when asked, every sample's predicted class and class probabilities ((count, N) floats).
   *
   * `onProgress(done, total)` hears, in samples, what has been submitted to the GPU: the batches
   * are then split into several submits (the results are the same), each reported once it is
   * submitted, with no readback of its own; the last is reported only once the results are read
   * back, so `done === total` means finished.
   */
  async run(
    { predictions = false, probabilities = false, onProgress }: {
      predictions?: boolean;
      probabilities?: boolean;
      onProgress?: (done: number, total: number) => void;
    } = {},
  ): Promise<{ metrics: Metrics; predictions?: Uint32Array; probabilities?: Float32Array }> {
    const device = this.#device;
    const B = this.#network.B;
    const N = this.#network.model.classes;
    if (probabilities && !this.#probabilities) {
      this.#probabilities = createStorage(device, {
        label: "eval.probabilities",
        bytes: this.#feeder.batches * B * N * 4,
      });
    }
    this.#metrics.clear();
    const batches = this.#feeder.batches;
    const perSubmit = onProgress ? Math.ceil(batches / PROGRESS_STEPS) : batches;
    let encoder = device.createCommandEncoder({ label: "evaluate" });
    for (let i = 0; i < batches; i++) {
      if (i > 0 && i % perSubmit === 0) {
        device.queue.submit([encoder.finish()]);
        onProgress?.(Math.min(i * B, this.count), this.count);
        encoder = device.createCommandEncoder({ label: "evaluate" });
      }
      const pass = encoder.beginComputePass({ label: "evaluate.batch" });
      this.#feeder.encodeGather(pass, i);
      this.#network.encodeForward(pass);
      pass.end();
      if (predictions) {
        encoder.copyBufferToBuffer(this.#network.pred, 0, this.#predictions, i * B * 4, B * 4);
      }
      if (probabilities) {
        const bytes = B * N * 4;
        encoder.copyBufferToBuffer(this.#network.prob, 0, this.#probabilities!, i * bytes, bytes);
      }
    }
    const metrics = await this.#metrics.readAndClear(encoder);
    onProgress?.(this.count, this.count);
    const result: { metrics: Metrics; predictions?: Uint32Array; probabilities?: Float32Array } = {
      metrics,
    };
    if (predictions) {
      const all = new Uint32Array(await this.#readback.read(this.#predictions));
      result.predictions = all.slice(0, this.count);
    }
    if (probabilities) {
      const all = new Float32Array(await this.#readback.read(this.#probabilities!));
      result.probabilities = all.slice(0, this.count * N);
    }
    return result;
  }

  /** Frees the dataset and prediction buffers. */
  destroy(): void {
    this.#feeder.destroy();
    this.#metrics.destroy();
    this.#predictions.destroy();
    this.#probabilities?.destroy();
    this.#readback.destroy();
  }
}
