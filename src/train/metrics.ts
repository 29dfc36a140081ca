/**
 * Reads the metrics the loss kernel accumulates on the GPU ([loss sum, correct, count,
 * non-finite]) and clears them, in one submission: the only readback of a training run.
 */

/** Accumulated metrics since the last read. */
export interface Metrics {
  lossSum: number;
  correct: number;
  count: number;
  /** Rows whose loss was NaN or infinite. */
  nonFinite: number;
}

/** Accuracy of `m`, 0 when nothing was counted. */
export function accuracy(m: Metrics): number {
  return m.count > 0 ? m.correct / m.count : 0;
}

/** A reusable staging buffer for one network's stats. */
export class MetricsReader {
  readonly #device: GPUDevice;
  readonly #stats: GPUBuffer;
  readonly #staging: GPUBuffer;

  constructor(device: GPUDevice, stats: GPUBuffer) {
    this.#device = device;
    this.#stats = stats;
    this.#staging = device.createBuffer({
      label: "stats.readback",
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /**
   * Appends "copy stats out, then zero them" to `encoder`, submits it, and waits for the values.
   */
  async readAndClear(encoder: GPUCommandEncoder): Promise<Metrics> {
    encoder.copyBufferToBuffer(this.#stats, 0, this.#staging, 0, 16);
    encoder.clearBuffer(this.#stats);
    this.#device.queue.submit([encoder.finish()]);
    await this.#staging.mapAsync(GPUMapMode.READ);
    const [lossSum, correct, count, nonFinite] = new Float32Array(
      this.#staging.getMappedRange().slice(0),
    );
    this.#staging.unmap();
    return { lossSum: lossSum!, correct: correct!, count: count!, nonFinite: nonFinite! };
  }

  /** Zeroes the stats (queued after submitted work). */
  clear(): void {
    const encoder = this.#device.createCommandEncoder({ label: "stats.clear" });
    encoder.clearBuffer(this.#stats);
    this.#device.queue.submit([encoder.finish()]);
  }

  /** Frees the staging buffer. */
  destroy(): void {
    this.#staging.destroy();
  }
}
