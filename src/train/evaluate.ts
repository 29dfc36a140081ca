/** Forward passes over a whole split: validation accuracy, and predictions for `mnist eval`. */
import { createStorage, readBuffer } from "../gpu/buffer.ts";
import type { KernelCache } from "../gpu/kernel.ts";
import type { Network } from "../nn/network.ts";
import { Feeder, type HostSplit, PAD_FLAG } from "./feeder.ts";
import { type Metrics, MetricsReader } from "./metrics.ts";

/** Scores a split with a network; buffers are made once and reused on every run. */
export class Evaluator {
  readonly #device: GPUDevice;
  readonly #network: Network;
  readonly #feeder: Feeder;
  readonly #metrics: MetricsReader;
  readonly #predictions: GPUBuffer;
  readonly count: number;

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
    this.#predictions = createStorage(device, "eval.predictions", batches * B * 4);
  }

  /**
   * Runs the network over the split. Returns the metrics (accuracy over real samples only) and,
   * when asked, every sample's predicted class.
   */
  async run(
    { predictions = false }: { predictions?: boolean } = {},
  ): Promise<{ metrics: Metrics; predictions?: Uint32Array }> {
    const device = this.#device;
    const B = this.#network.B;
    this.#metrics.clear();
    const encoder = device.createCommandEncoder({ label: "evaluate" });
    for (let i = 0; i < this.#feeder.batches; i++) {
      const pass = encoder.beginComputePass({ label: "evaluate.batch" });
      this.#feeder.encodeGather(pass, i);
      this.#network.encodeForward(pass);
      pass.end();
      if (predictions) {
        encoder.copyBufferToBuffer(this.#network.pred, 0, this.#predictions, i * B * 4, B * 4);
      }
    }
    const metrics = await this.#metrics.readAndClear(encoder);
    if (!predictions) return { metrics };
    const all = new Uint32Array(await readBuffer(device, this.#predictions));
    return { metrics, predictions: all.slice(0, this.count) };
  }

  /** Frees the dataset and prediction buffers. */
  destroy(): void {
    this.#feeder.destroy();
    this.#metrics.destroy();
    this.#predictions.destroy();
  }
}
