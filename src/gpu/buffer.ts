/** GPU buffer helpers: create, upload, uniform `Dims`, and read back. */

/** Usage for buffers kernels read and write, and that can be copied and cleared. */
export const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Creates a storage buffer of `bytes` (rounded up to 4), zero-filled. */
export function createStorage(device: GPUDevice, label: string, bytes: number): GPUBuffer {
  return device.createBuffer({
    label,
    size: Math.max(4, Math.ceil(bytes / 4) * 4),
    usage: STORAGE,
  });
}

/** Creates a storage buffer holding `data` (padded to 4 bytes). */
export function createStorageWith(
  device: GPUDevice,
  label: string,
  data: ArrayBufferView,
): GPUBuffer {
  const buffer = createStorage(device, label, data.byteLength);
  writeBuffer(device, buffer, data);
  return buffer;
}

/** Writes `data` at `offset` bytes, padding a tail that is not a multiple of 4 bytes. */
export function writeBuffer(
  device: GPUDevice,
  buffer: GPUBuffer,
  data: ArrayBufferView,
  offset = 0,
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
 * A uniform buffer of u32 dimensions (a WGSL `struct Dims` of u32/f32 fields, in order).
 * Floats are passed as `{ f32: x }`.
 */
export function createDims(
  device: GPUDevice,
  label: string,
  fields: readonly (number | { f32: number })[],
): GPUBuffer {
  const words = Math.max(4, Math.ceil(fields.length / 4) * 4);
  const data = new ArrayBuffer(words * 4);
  const u32 = new Uint32Array(data);
  const f32 = new Float32Array(data);
  fields.forEach((field, i) => {
    if (typeof field === "number") u32[i] = field;
    else f32[i] = field.f32;
  });
  const buffer = device.createBuffer({
    label: `${label}.dims`,
    size: data.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

/** Copies `bytes` of `buffer` from `offset` to the CPU, waiting for the queue. */
export async function readBuffer(
  device: GPUDevice,
  buffer: GPUBuffer,
  { offset = 0, bytes = buffer.size - offset }: { offset?: number; bytes?: number } = {},
): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = device.createBuffer({
    label: `${buffer.label}.readback`,
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = device.createCommandEncoder({ label: `${buffer.label}.readback` });
  encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const copy = staging.getMappedRange().slice(0, bytes);
  staging.unmap();
  staging.destroy();
  return copy;
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
