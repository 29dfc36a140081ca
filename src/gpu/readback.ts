/**
 * Reading GPU buffers back to the CPU through staging buffers that are made once per size and
 * kept, so that what a training run reads at every epoch's end (the weights and optimizer state
 * for the checkpoint, the validation predictions) allocates nothing after the first epoch.
 */

/** A staging buffer and the read that holds it (resolved when it is unmapped again). */
interface Staging {
  buffer: GPUBuffer;
  busy: Promise<void>;
}

/**
 * Reads buffers back through `MAP_READ` staging buffers, one per size read (bytes rounded up to
 * 4), created on the first read of that size and reused by every later one until
 * {@link Readback.destroy}. Reads of one size run one after another (each waits for the previous
 * one to unmap); reads of different sizes may overlap.
 */
export class Readback {
  readonly #device: GPUDevice;
  readonly #label: string;
  readonly #staging = new Map<number, Staging>();

  /** Reads from `device`; `label` (default "readback") names the staging buffers. */
  constructor(device: GPUDevice, { label = "readback" }: { label?: string } = {}) {
    this.#device = device;
    this.#label = label;
  }

  /**
   * Copies `bytes` (default: to the end) of `buffer` from `offset` (bytes, a multiple of 4) to
   * the CPU, waiting for the queue. Throws as `copyBufferToBuffer` and `mapAsync` do (a range
   * past the buffer's end, a destroyed buffer).
   */
  async read(
    buffer: GPUBuffer,
    { offset = 0, bytes = buffer.size - offset }: { offset?: number; bytes?: number } = {},
  ): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    let staging = this.#staging.get(size);
    if (!staging) {
      staging = {
        buffer: this.#device.createBuffer({
          label: `${this.#label}.staging.${size}`,
          size,
          usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
        }),
        busy: Promise.resolve(),
      };
      this.#staging.set(size, staging);
    }
    const previous = staging.busy;
    let release = () => {};
    staging.busy = new Promise<void>((resolve) => (release = resolve));
    try {
      await previous;
      const encoder = this.#device.createCommandEncoder({ label: `${buffer.label}.readback` });
      encoder.copyBufferToBuffer(buffer, offset, staging.buffer, 0, size);
      this.#device.queue.submit([encoder.finish()]);
      await staging.buffer.mapAsync(GPUMapMode.READ);
      const copy = staging.buffer.getMappedRange().slice(0, bytes);
      staging.buffer.unmap();
      return copy;
    } finally {
      release();
    }
  }

  /** How many staging buffers it holds: one per size read so far. */
  get buffers(): number {
    return this.#staging.size;
  }

  /** Frees the staging buffers; a later read makes new ones. */
  destroy(): void {
    for (const { buffer } of this.#staging.values()) buffer.destroy();
    this.#staging.clear();
  }
}
