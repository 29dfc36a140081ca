/** GPU buffer helpers: create, upload, uniform `Dims`, and read back. */
import { Readback } from "./readback.ts";

/** Usage for buffers kernels read and write, and that can be copied and cleared. */
export const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Creates a storage buffer of `bytes` (rounded up to 4), zero-filled, labelled `label`. */
export function createStorage(
  device: GPUDevice,
  { label, bytes }: { label: string; bytes: number },
): GPUBuffer {
  return device.createBuffer({
    label,
    size: Math.max(4, Math.ceil(bytes / 4) * 4),
    usage: STORAGE,
  });
}

/**
 * Bytes per `queue.writeBuffer` when {@link createStorageWith} uploads a large array (a multiple
 * of 4). Each write is staged in a buffer of its own size until the submit after it has run.
 */
export const UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Creates a storage buffer holding `data` (padded to 4 bytes), labelled `label`. More than
 * {@link UPLOAD_CHUNK_BYTES} go up in chunks of that size, each followed by an empty submit
 * that flushes it: one write of the whole array would stage a copy of all of it, and on a CPU
 * adapter, whose buffers are the process's memory, the staging copy and the buffer would both
 * be resident during the copy (the training images: 47 MB more at the peak; docs/memory.md).
 */
export function createStorageWith(
  device: GPUDevice,
  { label, data }: { label: string; data: ArrayBufferView },
): GPUBuffer {
  const buffer = createStorage(device, { label, bytes: data.byteLength });
  const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength <= UPLOAD_CHUNK_BYTES) {
    writeBuffer(device, buffer, { data: bytes });
    return buffer;
  }
  for (let offset = 0; offset < bytes.byteLength; offset += UPLOAD_CHUNK_BYTES) {
    const chunk = bytes.subarray(offset, offset + UPLOAD_CHUNK_BYTES);
    writeBuffer(device, buffer, { data: chunk, offset });
    device.queue.submit([]);
  }
  return buffer;
}

/**
 * Writes `data` into `buffer` at `offset` bytes (default 0), padding a tail that is not a
 * multiple of 4 bytes.
 */
export function writeBuffer(
  device: GPUDevice,
  buffer: GPUBuffer,
  { data, offset = 0 }: { data: ArrayBufferView; offset?: number },
): void {
  let bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength % 4 !== 0) {
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    bytes = padded;
  }
  device.queue.writeBuffer(buffer, offset, bytes);
}

/**
 * The fields of a WGSL `struct Dims`, in the struct's declaration order, with their types:
 * `{ B: "u32", lr: "f32" }`. Each op module declares its struct's layout once, beside its
 * kernels; tests/kernel_test.ts checks every layout against the WGSL. Trailing padding fields
 * (`_pad0`...) are left out: the buffer is padded to 16 bytes with zeros.
 */
export type DimsLayout = Readonly<Record<string, "u32" | "f32">>;

/** A value for every field of layout `L`, by name. */
export type DimsValues<L extends DimsLayout> = { readonly [K in keyof L]: number };

/**
 * A uniform buffer holding a `struct Dims` written from a named record: every field of `layout`
 * at its offset (4 bytes each, in declaration order), as u32 or f32; 16-byte padded.
 */
export function createDims<L extends DimsLayout>(
  device: GPUDevice,
  label: string,
  { layout, values }: { layout: L; values: DimsValues<L> },
): GPUBuffer {
  const fields = Object.keys(layout) as (keyof L & string)[];
  const words = Math.max(4, Math.ceil(fields.length / 4) * 4);
  const data = new ArrayBuffer(words * 4);
  const u32 = new Uint32Array(data);
  const f32 = new Float32Array(data);
  fields.forEach((field, i) => {
    if (layout[field] === "u32") u32[i] = values[field];
    else f32[i] = values[field];
  });
  const buffer = device.createBuffer({
    label: `${label}.dims`,
    size: data.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

/**
 * Copies `bytes` of `buffer` from `offset` to the CPU, waiting for the queue, through a staging
 * buffer made for this one read: for reads made once. What is read again and again (every
 * epoch's checkpoint and validation) goes through a {@link Readback}, which keeps its staging
 * buffers.
 */
export async function readBuffer(
  device: GPUDevice,
  buffer: GPUBuffer,
  options: { offset?: number; bytes?: number } = {},
): Promise<ArrayBuffer> {
  const readback = new Readback(device, { label: `${buffer.label}.readback` });
  try {
    return await readback.read(buffer, options);
  } finally {
    readback.destroy();
  }
}

/** Reads a whole f32 buffer (or `count` floats from `offset` floats). */
export async function readF32(
  device: GPUDevice,
  buffer: GPUBuffer,
  { offset = 0, count }: { offset?: number; count?: number } = {},
): Promise<Float32Array> {
  const bytes = count === undefined ? buffer.size - offset * 4 : count * 4;
  return new Float32Array(await readBuffer(device, buffer, { offset: offset * 4, bytes }));
}
