/**
 * Reads the metrics the loss kernel accumulates on the GPU ([loss sum, correct, count,
 * non-finite]) and clears them, in one submission: the only readback of a training run.
 */
import { UserError } from "../errors.ts";

/** Accumulated metrics since the last read. */
export interface Metrics {
  /**
   * Sum over the counted rows of MXNet's cross-entropy -ln(p(label) + 1e-12)
   * (kernels/softmax.wgsl, {@link CROSS_ENTROPY_EPS}); divide by `count` for the mean.
   * Accumulated in f32 on the GPU.
   */
  lossSum: number;
  /** Rows whose arg-max class was the label (an f32 count, exact up to 2^24). */
  correct: number;
  /** Rows counted: the real samples, padding excluded (an f32 count, exact up to 2^24). */
  count: number;
  /** Rows whose loss was NaN or infinite. */
  nonFinite: number;
}

/** Accuracy of `m`, 0 when nothing was counted. */
export function accuracy(m: Metrics): number {
  return m.count > 0 ? m.correct / m.count : 0;
}

/**
 * MXNet's CrossEntropy epsilon (python/mxnet/metric.py, v1.x: `eps=1e-12`): each row scores
 * -ln(p(label) + eps), at most -ln(1e-12) ≈ 27.631. kernels/softmax.wgsl adds it in a stable
 * form. MXNet v0.7-v0.9 had no eps (an underflowed p scored inf); v0.10-v0.12 used 1e-8.
 */
export const CROSS_ENTROPY_EPS = 1e-12;

/** Mean cross-entropy of `m` (MXNet's `cross-entropy`), 0 when nothing was counted. */
export function crossEntropy(m: Metrics): number {
  return m.count > 0 ? m.lossSum / m.count : 0;
}

/** A metric's name as MXNet logs it (`Train-accuracy=`, `Validation-cross-entropy=`). */
export type MetricName = "accuracy" | "cross-entropy";

/**
 * `--metric` names and MXNet's aliases for them (`metric.create`: `acc`, `ce`), each to the
 * name MXNet logs. Both come from the one loss kernel's stats: no extra GPU work or readback.
 */
export const METRICS: Readonly<Record<string, MetricName>> = {
  acc: "accuracy",
  accuracy: "accuracy",
  ce: "cross-entropy",
  "cross-entropy": "cross-entropy",
};

/** Each metric's value from the accumulated stats. */
const VALUE_OF: Record<MetricName, (m: Metrics) => number> = {
  accuracy,
  "cross-entropy": crossEntropy,
};

/**
 * Parses `--metric`'s comma-separated list (`acc,ce`) into MetricNames, in the order given, as
 * MXNet's CompositeEvalMetric keeps them. Throws a UserError for an empty, unknown or repeated
 * name.
 */
export function parseMetrics(text: string): MetricName[] {
  const names: MetricName[] = [];
  for (const part of text.split(",")) {
    const name = METRICS[part.trim().toLowerCase()];
    if (name === undefined) {
      throw new UserError(`Unknown metric "${part.trim()}" in --metric ${text}`, {
        hint: "Choose from acc (accuracy) and ce (cross-entropy), e.g. --metric acc,ce.",
      });
    }
    if (names.includes(name)) {
      throw new UserError(`--metric names ${name} twice, in ${text}`);
    }
    names.push(name);
  }
  return names;
}

/** `names`' values from `m`, in order, as `{ metric, value }` for the log lines. */
export function metricValues(
  m: Metrics,
  names: readonly MetricName[],
): { metric: MetricName; value: number }[] {
  return names.map((metric) => ({ metric, value: VALUE_OF[metric](m) }));
}

/** A reusable staging buffer for one network's stats. */
export class MetricsReader {
  readonly #device: GPUDevice;
  readonly #stats: GPUBuffer;
  readonly #staging: GPUBuffer;

  /**
   * `stats`: the network's metrics buffer, 16 bytes = 4 f32 in {@link Metrics}' order, which the
   * loss kernel accumulates into. Makes a 16-byte staging buffer.
   */
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

/** What {@link IntervalLog.read} returns for slots `from..to`. */
export interface IntervalReading {
  /** The metrics of each interval, `from` first. */
  metrics: Metrics[];
  /** GPU milliseconds of each interval from the timestamps, or null without them. */
  gpuMs: number[] | null;
}

/**
 * One epoch's log intervals recorded on the GPU, so that reading them back can wait: at each
 * boundary k (1, 2, ...; 0 is the epoch's start) the stats are copied into slot k and cleared,
 * and where the device has timestamp-query the pass that ends there writes timestamp k.
 * Reading back is the only stall of a training loop, and in Deno a long one: a mapping
 * resolves only once every command submitted so far has run, about 10 ms after it is asked for
 * at best. When log lines come fast, the trainer reads several intervals in one go.
 */
export class IntervalLog {
  /** The most boundaries an epoch can have (slots 1..slots - 1). */
  readonly slots: number;
  readonly #device: GPUDevice;
  readonly #stats: GPUBuffer;
  readonly #buffer: GPUBuffer;
  readonly #staging: GPUBuffer;
  readonly #querySet: GPUQuerySet | null;
  readonly #resolve: GPUBuffer | null;

  /**
   * `stats`: the network's 16-byte metrics buffer (see {@link MetricsReader}); `boundaries`:
   * log boundaries in an epoch, ceil(batches / frequent); `timestamps`: whether the device has
   * the timestamp-query feature. Epochs of over 4095 boundaries go untimed (the WebGPU spec caps
   * a query set at 4096 queries). Makes 16 bytes of slot per boundary, plus 8 per timestamp.
   */
  constructor(
    device: GPUDevice,
    stats: GPUBuffer,
    { boundaries, timestamps }: { boundaries: number; timestamps: boolean },
  ) {
    this.#device = device;
    this.#stats = stats;
    this.slots = boundaries + 1;
    const bytes = this.slots * 16;
    this.#buffer = device.createBuffer({
      label: "intervals.stats",
      size: bytes,
      usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    });
    // WebGPU caps a query set at 4096 queries; longer epochs go untimed.
    const timed = timestamps && this.slots <= 4096;
    this.#querySet = timed
      ? device.createQuerySet({ label: "intervals", type: "timestamp", count: this.slots })
      : null;
    this.#resolve = timed
      ? device.createBuffer({
        label: "intervals.resolve",
        size: this.slots * 8,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      })
      : null;
    this.#staging = device.createBuffer({
      label: "intervals.readback",
      size: bytes + (timed ? this.slots * 8 : 0),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** Whether the intervals are timed on the GPU. */
  get timed(): boolean {
    return this.#querySet !== null;
  }

  /**
   * The timestamp writes of a pass that starts the epoch (`start`) and/or ends at boundary
   * `end`; undefined when untimed or neither.
   */
  passWrites(
    { start, end }: { start: boolean; end: number | null },
  ): GPUComputePassTimestampWrites | undefined {
    if (!this.#querySet || (!start && end === null)) return undefined;
    return {
      querySet: this.#querySet,
      ...(start ? { beginningOfPassWriteIndex: 0 } : {}),
      ...(end !== null ? { endOfPassWriteIndex: end } : {}),
    };
  }

  /** Zeroes the stats (queued after submitted work). */
  clearStats(): void {
    const encoder = this.#device.createCommandEncoder({ label: "stats.clear" });
    encoder.clearBuffer(this.#stats);
    this.#device.queue.submit([encoder.finish()]);
  }

  /** Appends "copy the stats into slot k, then zero them" to `encoder`. */
  record(encoder: GPUCommandEncoder, k: number): void {
    encoder.copyBufferToBuffer(this.#stats, 0, this.#buffer, k * 16, 16);
    encoder.clearBuffer(this.#stats);
  }

  /** Appends the readback of slots `from..to` to `encoder`, submits it and waits for them. */
  async read(
    encoder: GPUCommandEncoder,
    { from, to }: { from: number; to: number },
  ): Promise<IntervalReading> {
    const bytes = this.slots * 16;
    encoder.copyBufferToBuffer(this.#buffer, 0, this.#staging, 0, bytes);
    if (this.#querySet && this.#resolve) {
      // Only the timestamps this epoch has written (0..to): Vulkan may wait forever for a query
      // that was never written.
      encoder.resolveQuerySet(this.#querySet, 0, to + 1, this.#resolve, 0);
      encoder.copyBufferToBuffer(this.#resolve, 0, this.#staging, bytes, (to + 1) * 8);
    }
    this.#device.queue.submit([encoder.finish()]);
    await this.#staging.mapAsync(GPUMapMode.READ);
    const mapped = this.#staging.getMappedRange();
    const stats = new Float32Array(mapped.slice(0, bytes));
    const stamps = this.#querySet ? new BigUint64Array(mapped.slice(bytes)) : null;
    this.#staging.unmap();
    const metrics: Metrics[] = [];
    const gpuMs: number[] = [];
    for (let k = from; k <= to; k++) {
      const [lossSum, correct, count, nonFinite] = stats.subarray(k * 4, k * 4 + 4);
      metrics.push({ lossSum: lossSum!, correct: correct!, count: count!, nonFinite: nonFinite! });
      if (stamps) gpuMs.push(Number(stamps[k]! - stamps[k - 1]!) / 1e6);
    }
    return { metrics, gpuMs: stamps ? gpuMs : null };
  }

  /** Frees the buffers and the query set. */
  destroy(): void {
    this.#buffer.destroy();
    this.#staging.destroy();
    this.#resolve?.destroy();
    this.#querySet?.destroy();
  }
}
