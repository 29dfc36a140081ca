/**
 * Feeds a network from a dataset split resident on the GPU: pixels stay u8 (packed 4 per u32),
 * the epoch's sample order is uploaded once, and each batch is one gather dispatch that picks
 * its slice of the order with a dynamic offset; or, for a network whose first layer reads the
 * batch itself (`Network.gathers`), no dispatch at all: the batch's bind group, with the same
 * offset. No per-batch upload.
 */
import code from "../../kernels/gather.wgsl" with { type: "text" };
import { createDims, createStorage, createStorageWith, writeBuffer } from "../gpu/buffer.ts";
import {
  BATCH_GROUP,
  batchBindGroup,
  type Dispatch,
  dispatchOf,
  encode,
  type KernelCache,
  type Program,
} from "../gpu/kernel.ts";
import { UserError } from "../errors.ts";
import type { Network } from "../nn/network.ts";

/** The gather kernel's WGSL module. */
export const GATHER: Program = { name: "gather", code };

/**
 * The gather kernel's rows: a batch's pixels and labels as stored (`simple`), or each image
 * distorted by a random affine map (`affine`, `train --augment`).
 */
export const GATHER_TABLE = {
  simple: { variant: "simple", program: GATHER, entries: { gather: "gather_batch" } },
  affine: { variant: "affine", program: GATHER, entries: { gather: "gather_batch_affine" } },
} as const;

/**
 * The `struct Dims` of kernels/gather.wgsl: batch B, P pixels per image, W pixels per row, and
 * the augmentation's seed and 0-based epoch (which key its hash; unused by `gather_batch`).
 */
export const GATHER_DIMS = { B: "u32", P: "u32", W: "u32", seed: "u32", epoch: "u32" } as const;

/** Byte offset of `epoch` in the gather's Dims uniform (4 bytes per field, in order). */
const EPOCH_OFFSET = Object.keys(GATHER_DIMS).indexOf("epoch") * 4;

/** Marks an order entry as padding that must not count in metrics. */
export const PAD_FLAG = 0x80000000;

/** Images and labels as the data module loads them. */
export interface HostSplit {
  /** (count, rows, cols) u8 pixels. */
  images: Uint8Array;
  /** (count) u8 labels. */
  labels: Uint8Array;
  /** Samples in the split. */
  count: number;
  /** Image height in pixels (28 for MNIST, from the IDX header). */
  rows: number;
  /** Image width in pixels (28 for MNIST); rows × cols must be a multiple of 4. */
  cols: number;
}

/** Preferred workgroup size (see `KernelCache.workgroup`). */
const PREFERRED_WG = 64;

/** A split on the GPU, gathered batch by batch into one network's input. */
export class Feeder {
  /** Samples in the split (the padding of the last batch not included). */
  readonly count: number;
  /** Batches per epoch; {@link Feeder.setOrder} takes `batches × B` sample indices. */
  readonly batches: number;
  readonly #device: GPUDevice;
  /**
   * The gather dispatch, or (for a network that `gathers`) the bind group its first layer reads
   * the batch from; either's order slice is chosen per batch by a dynamic offset.
   */
  readonly #gather: Dispatch | { group: GPUBindGroup };
  readonly #images: GPUBuffer;
  readonly #labels: GPUBuffer;
  readonly #order: GPUBuffer;
  readonly #slotBytes: number;
  readonly #slotWords: number;
  readonly #B: number;
  readonly #dims: GPUBuffer;
  readonly #dimsValues: { B: number; P: number; W: number; seed: number; epoch: number };

  /**
   * Uploads the split's pixels (u8, 4 per u32) and labels, and makes the gather dispatch into
   * `network`'s input (B, rows × cols) and labels (B), with room for `batches` batches of order;
   * where `network.gathers`, the bind group ({@link BATCH_GROUP}) its first layer reads the
   * batch from instead. With `augment`, each image is distorted by a random affine map drawn
   * from (`augment.seed`, the epoch given to {@link Feeder.setOrder}, the sample index): see
   * kernels/gather.wgsl. Throws a {@link UserError} when the images exceed the adapter's
   * `maxStorageBufferBindingSize` (bytes), and an Error when rows × cols is not a multiple of 4
   * or `augment` is asked of a network that `gathers` (its first layer cannot distort).
   */
  constructor(
    device: GPUDevice,
    kernels: KernelCache,
    { split, network, batches, augment }: {
      split: HostSplit;
      network: Network;
      batches: number;
      /** `train --augment`: distort each image, keyed by this seed (a u32). */
      augment?: { seed: number };
    },
  ) {
    const P = split.rows * split.cols;
    if (P % 4 !== 0) throw new Error(`Feeder needs pixels per image divisible by 4, got ${P}`);
    if (augment && network.gathers) {
      throw new Error(
        "Cannot augment the batches of a network whose first layer reads them itself",
      );
    }
    if (split.images.byteLength > device.limits.maxStorageBufferBindingSize) {
      throw new UserError(
        `The dataset (${split.images.byteLength} bytes) exceeds this adapter's storage buffer ` +
          `limit (${device.limits.maxStorageBufferBindingSize} bytes)`,
        { hint: "Use --limit N to train on fewer samples." },
      );
    }
    this.#device = device;
    this.count = split.count;
    this.batches = batches;
    this.#B = network.B;
    // Each batch's indices sit in their own 256-byte-aligned slot for the dynamic offset.
    this.#slotWords = Math.ceil(network.B / 64) * 64;
    this.#slotBytes = this.#slotWords * 4;
    const WG = kernels.workgroup(PREFERRED_WG);
    this.#images = createStorageWith(device, { label: "dataset.images", data: split.images });
    this.#labels = createStorageWith(device, {
      label: "dataset.labels",
      data: Uint32Array.from(split.labels),
    });
    this.#order = createStorage(device, {
      label: "dataset.order",
      bytes: batches * this.#slotBytes,
    });
    this.#dimsValues = {
      B: network.B,
      P,
      W: split.cols,
      seed: (augment?.seed ?? 0) >>> 0,
      epoch: 0,
    };
    const dims = createDims(device, "gather", { layout: GATHER_DIMS, values: this.#dimsValues });
    this.#dims = dims;
    const order = { buffer: this.#order, offset: 0, size: network.B * 4 };
    this.#gather = network.gathers
      ? {
        group: batchBindGroup(device, {
          images: this.#images,
          labels: this.#labels,
          order,
          label_out: network.labels,
        }),
      }
      : dispatchOf(device, kernels, {
        program: GATHER,
        entry: GATHER_TABLE[augment ? "affine" : "simple"].entries.gather,
        constants: { WG },
        io: {
          x: network.x,
          label_out: network.labels,
          images: this.#images,
          labels: this.#labels,
          order,
        },
        dynamic: "order",
        dims,
        // A workgroup per row of the batch.
        grid: [Math.min(network.B, device.limits.maxComputeWorkgroupsPerDimension)],
      });
  }

  /**
   * Uploads an epoch's order: `batches * B` sample indices, batch after batch (entries may carry
   * PAD_FLAG), and with it the 0-based `epoch` that keys the augmentation (default 0). Queued
   * after work already submitted, so the previous epoch is not disturbed.
   */
  setOrder(order: Uint32Array, { epoch = 0 }: { epoch?: number } = {}): void {
    const B = this.#B;
    if (order.length !== this.batches * B) {
      throw new Error(`Order has ${order.length} entries, expected ${this.batches * B}`);
    }
    const slots = new Uint32Array(this.batches * this.#slotWords);
    for (let b = 0; b < this.batches; b++) {
      slots.set(order.subarray(b * B, (b + 1) * B), b * this.#slotWords);
    }
    writeBuffer(this.#device, this.#order, { data: slots });
    if (epoch !== this.#dimsValues.epoch) {
      this.#dimsValues.epoch = epoch >>> 0;
      // The one field that changes, at its place in GATHER_DIMS: a write per epoch, none per batch.
      writeBuffer(this.#device, this.#dims, {
        data: new Uint32Array([this.#dimsValues.epoch]),
        offset: EPOCH_OFFSET,
      });
    }
  }

  /**
   * Encodes the gather of batch `index` into the network's input and labels; or, where the
   * network `gathers`, binds batch `index` for its first layer, which then reads it (the group
   * stays set for the rest of the pass, until the next batch's).
   */
  encodeGather(pass: GPUComputePassEncoder, index: number): void {
    const dynamicOffsets = [index * this.#slotBytes];
    if ("group" in this.#gather) pass.setBindGroup(BATCH_GROUP, this.#gather.group, dynamicOffsets);
    else encode(pass, this.#gather, { dynamicOffsets });
  }

  /** Whether {@link Feeder.encodeGather} dispatches a gather (else the network gathers). */
  get dispatches(): boolean {
    return !("group" in this.#gather);
  }

  /** Frees the dataset buffers. */
  destroy(): void {
    this.#images.destroy();
    this.#labels.destroy();
    this.#order.destroy();
    this.#dims.destroy();
  }
}
