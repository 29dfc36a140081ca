/**
 * One WebGPU device shared by every GPU test, and small helpers to move test data in and out.
 * GPU tests are skipped, with the reason printed once, only when no adapter exists; CI sets
 * MNIST_REQUIRE_GPU=1 so that a missing adapter fails instead.
 */
import { acquireGpu, type Gpu } from "../src/gpu/device.ts";
import { createStorageWith, readBuffer } from "../src/gpu/buffer.ts";
import { KernelCache } from "../src/gpu/kernel.ts";
import { UserError } from "../src/errors.ts";

async function open(): Promise<Gpu | null> {
  try {
    return await acquireGpu("auto", { timestamps: true });
  } catch (error) {
    if (!(error instanceof UserError) || Deno.env.get("MNIST_REQUIRE_GPU") === "1") throw error;
    console.warn(`GPU tests skipped: ${error.message}. ${error.hint ?? ""}`);
    return null;
  }
}

/** The shared test GPU, or null when this machine has no WebGPU adapter. */
export const gpu: Gpu | null = await open();

/** The shared pipeline cache. */
export const kernels: KernelCache | null = gpu ? new KernelCache(gpu.device) : null;

/** Registers a test that needs the GPU; skipped (ignored) when there is none. */
export function gpuTest(
  name: string,
  fn: (gpu: Gpu, kernels: KernelCache) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: gpu === null,
    // WebGPU keeps internal ops alive across tests; the device is shared on purpose.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => fn(gpu!, kernels!),
  });
}

/** A storage buffer holding `data`. */
export function upload(g: Gpu, data: Float32Array | Uint32Array, label = "test"): GPUBuffer {
  return createStorageWith(g.device, { label, data });
}

/** Reads a whole buffer as f32. */
export async function readF32(g: Gpu, buffer: GPUBuffer, count?: number): Promise<Float32Array> {
  const all = new Float32Array(await readBuffer(g.device, buffer));
  return count === undefined ? all : all.slice(0, count);
}

/** Reads a whole buffer as u32. */
export async function readU32(g: Gpu, buffer: GPUBuffer, count?: number): Promise<Uint32Array> {
  const all = new Uint32Array(await readBuffer(g.device, buffer));
  return count === undefined ? all : all.slice(0, count);
}

/** Encodes `fn` into one compute pass and submits it. */
export function runPass(g: Gpu, fn: (pass: GPUComputePassEncoder) => void): void {
  const encoder = g.device.createCommandEncoder({ label: "test" });
  const pass = encoder.beginComputePass({ label: "test" });
  fn(pass);
  pass.end();
  g.device.queue.submit([encoder.finish()]);
}
