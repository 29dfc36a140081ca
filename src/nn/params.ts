/**
 * All parameters of a model live in ONE buffer (and their gradients and momenta in two more of
 * the same layout), so the optimizer is a single dispatch. Each layer's parameters form one
 * block, aligned to 256 bytes so it can be bound as a range; inside a block tensors are packed
 * (a dense layer's bias follows its weight).
 */
import { createStorage, STORAGE, writeBuffer } from "../gpu/buffer.ts";
import type { BufferRange } from "../gpu/kernel.ts";
import { Readback } from "../gpu/readback.ts";
import { inferShapes, type LayerInfo, type ModelSpec, type ParamShape, sizeOf } from "./model.ts";
import type { Rng } from "../random.ts";

/** Block alignment in floats (256 bytes, WebGPU's minimum storage offset alignment). */
const ALIGN = 64;

/**
 * Bytes of params buffer that must follow the start of a convolution's block, so that a kernel
 * may bind fixed-size uniform windows onto it: kernels/conv2d_tiled.wgsl reads a convolution's
 * parameters through two windows of 64 KiB (WebGPU's default maxUniformBufferBindingSize),
 * whatever the block's size. The buffer gets a tail past its last block only as far as a
 * convolution near the end needs (none for the MLP or LeNet), and the optimizer binds only the
 * parameters, so the tail never counts against maxStorageBufferBindingSize.
 */
export const UNIFORM_TAIL_BYTES = 2 * 65536;

/** Where a tensor lives in the parameter buffer (in floats). */
export interface ParamSlot extends ParamShape {
  /** Index of the tensor's first float in the store's buffers (× 4 for bytes). */
  offset: number;
  /** Floats: the product of `shape`. */
  size: number;
}

/** A layer's block: its tensors, offset and size in floats. */
export interface ParamBlock {
  /**
   * Index of the block's first float: a multiple of 64 floats (256 bytes, the default
   * `minStorageBufferOffsetAlignment` of the WebGPU spec).
   */
  offset: number;
  /** Floats its tensors take, without the padding up to the next block; 0 for none. */
  size: number;
  /** The layer's tensors, packed in order (weight, then bias). */
  tensors: ParamSlot[];
}

/** `--init`: Xavier (Glorot) uniform, or uniform in ±scale (MXNet FeedForward's default 0.01). */
export type Init = { kind: "xavier" } | { kind: "uniform"; scale: number };

/** The parameter, gradient and momentum buffers of a model. */
export class ParamStore {
  /** The device the buffers live on. */
  readonly device: GPUDevice;
  /** The model's layers with their shapes resolved ({@link inferShapes}), in model order. */
  readonly layers: LayerInfo[];
  /** One block per layer (empty blocks for layers without parameters). */
  readonly blocks: ParamBlock[];
  /** Every tensor, in layer order. */
  readonly tensors: ParamSlot[];
  /** Total floats, including alignment padding. */
  readonly length: number;
  /**
   * Every parameter as f32: `length` floats (`length` × 4 bytes), laid out as `blocks` say, then,
   * when a convolution's block starts less than {@link UNIFORM_TAIL_BYTES} before the end, as
   * many zero bytes as its uniform windows need ({@link uniformWindows}).
   */
  readonly params: GPUBuffer;
  /**
   * The loss's gradient w.r.t. `params`, same layout; each training step's backward pass
   * overwrites it.
   */
  readonly grads: GPUBuffer;
  /**
   * Optimizer state, same layout: SGD's and NAG's momentum, or Adam's first moment m (see
   * src/nn/optimizer.ts).
   */
  readonly momentum: GPUBuffer;
  /** The staging buffer of `download`: made on the first, reused (every buffer is `length`). */
  readonly #readback: Readback;

  /**
   * Lays out `model`'s parameters (see the module comment) and creates the three buffers on
   * `device`, zero-filled as WebGPU creates every buffer: call `initialize` or `load` next.
   * Throws an `Error` when the model's shapes are inconsistent ({@link inferShapes}).
   */
  constructor(device: GPUDevice, model: ModelSpec) {
    this.device = device;
    this.layers = inferShapes(model);
    this.blocks = [];
    this.tensors = [];
    let offset = 0;
    for (const layer of this.layers) {
      const block: ParamBlock = { offset, size: 0, tensors: [] };
      for (const p of layer.params) {
        const slot = { ...p, offset: offset + block.size, size: sizeOf(p.shape) };
        block.tensors.push(slot);
        this.tensors.push(slot);
        block.size += slot.size;
      }
      this.blocks.push(block);
      offset += Math.ceil(block.size / ALIGN) * ALIGN;
    }
    this.length = Math.max(offset, ALIGN);
    // Up to where the last convolution's uniform windows end, if that is past the parameters.
    const windowsEnd = this.layers.reduce(
      (end, info, i) =>
        info.spec.kind === "conv2d"
          ? Math.max(end, this.blocks[i]!.offset * 4 + UNIFORM_TAIL_BYTES)
          : end,
      this.length * 4,
    );
    this.params = device.createBuffer({
      label: "params",
      size: windowsEnd,
      usage: STORAGE | GPUBufferUsage.UNIFORM,
    });
    this.grads = createStorage(device, { label: "grads", bytes: this.length * 4 });
    this.momentum = createStorage(device, { label: "momentum", bytes: this.length * 4 });
    this.#readback = new Readback(device, { label: "params" });
  }

  /** The buffer range of layer `index`'s block in `buffer` (params, grads or momentum). */
  range(buffer: GPUBuffer, index: number): BufferRange {
    const block = this.blocks[index]!;
    return { buffer, offset: block.offset * 4, size: Math.max(block.size, 1) * 4 };
  }

  /**
   * `count` consecutive uniform windows of `bytes` each onto layer `index`'s block of the
   * params buffer, the first at the block's start (a multiple of 256 bytes). Windows may run
   * past the block into the next ones and the buffer's tail. Throws a `RangeError` when they
   * would run past the buffer's end, which lies at least {@link UNIFORM_TAIL_BYTES} past the
   * start of every convolution's block (other layers' blocks get no such room).
   */
  uniformWindows(
    index: number,
    { bytes, count }: { bytes: number; count: number },
  ): { buffer: GPUBuffer; offset: number; size: number }[] {
    const offset = this.blocks[index]!.offset * 4;
    if (offset + bytes * count > this.params.size) {
      throw new RangeError(`${count} windows of ${bytes} bytes run past the params buffer`);
    }
    return Array.from({ length: count }, (_, i) => ({
      buffer: this.params,
      offset: offset + i * bytes,
      size: bytes,
    }));
  }

  /** Initialises weights (`init`) and zeroes biases and momenta, on the CPU, then uploads. */
  initialize(init: Init, rng: Rng): void {
    const host = new Float32Array(this.length);
    for (const t of this.tensors) {
      if (!t.fans) continue;
      const limit = init.kind === "xavier" ? Math.sqrt(6 / (t.fans[0] + t.fans[1])) : init.scale;
      for (let i = 0; i < t.size; i++) host[t.offset + i] = rng.uniform(-limit, limit);
    }
    this.upload(host);
    writeBuffer(this.device, this.momentum, { data: new Float32Array(this.length) });
  }

  /** Uploads a whole host copy of the parameters (same layout). */
  upload(host: Float32Array<ArrayBuffer>, buffer: GPUBuffer = this.params): void {
    writeBuffer(this.device, buffer, { data: host });
  }

  /**
   * Reads the parameters (or `buffer`, `length` floats too: momentum, Adam's variance) back, one
   * array per tensor name, through a staging buffer kept for the next download.
   */
  async download(buffer: GPUBuffer = this.params): Promise<Map<string, Float32Array>> {
    const host = new Float32Array(await this.#readback.read(buffer, { bytes: this.length * 4 }));
    return new Map(this.tensors.map((t) => [t.name, host.slice(t.offset, t.offset + t.size)]));
  }

  /** Writes named tensors into a host copy and uploads it to `buffer`. */
  load(tensors: Map<string, Float32Array>, buffer: GPUBuffer = this.params): void {
    const host = new Float32Array(this.length);
    for (const t of this.tensors) {
      const data = tensors.get(t.name);
      if (!data || data.length !== t.size) {
        throw new Error(
          `Tensor "${t.name}" is missing or has ${data?.length} values, not ${t.size}`,
        );
      }
      host.set(data, t.offset);
    }
    this.upload(host, buffer);
  }

  /** Frees the buffers. */
  destroy(): void {
    this.params.destroy();
    this.grads.destroy();
    this.momentum.destroy();
    this.#readback.destroy();
  }
}
