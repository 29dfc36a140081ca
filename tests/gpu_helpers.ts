/**
 * One WebGPU device shared by every GPU test, and small helpers to move test data in and out.
 * GPU tests are skipped, with the reason printed once, only when no adapter exists; CI sets
 * MNIST_REQUIRE_GPU=1 so that a missing adapter fails instead. MNIST_DEFAULT_LIMITS=1 opens the
 * device with WebGPU's default limits only (src/gpu/device.ts), and MNIST_TEST_SUBGROUP sizes
 * workgroups for another subgroup width (see `testSubgroup`).
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
// Destroyed when the test process ends, not left to the runtime's teardown: there, with the
// CPU adapter, freeing it once aborted the process ("double free or corruption") after every
// test had passed.
globalThis.addEventListener("unload", () => gpu?.device.destroy());

/**
 * The subgroup width the shared pipeline cache sizes workgroups for, from MNIST_TEST_SUBGROUP
 * (a power of two, 4 to 128: to run the kernel tests with workgroups sized for another SIMD
 * width); undefined, the adapter's own, when unset.
 */
export const testSubgroup: number | undefined = subgroupFromEnv();

function subgroupFromEnv(): number | undefined {
  const text = Deno.env.get("MNIST_TEST_SUBGROUP");
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || (n & (n - 1)) !== 0) {
    throw new Error(`MNIST_TEST_SUBGROUP must be a power of two, got "${text}"`);
  }
  return n;
}

/** The shared pipeline cache. */
export const kernels: KernelCache | null = gpu
  ? new KernelCache(gpu.device, { subgroup: testSubgroup })
  : null;

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
