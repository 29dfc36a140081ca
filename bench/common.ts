/**
 * Shared setup for the benchmarks: one device, a model's network at a batch size with random
 * weights, and a timed loop that waits for the GPU inside each iteration (so GPU time counts).
 * Deno resolves GPU completion by polling (~10 ms), so each iteration runs many dispatches.
 */
import { acquireGpu, type Gpu } from "../src/gpu/device.ts";
import { encode, KernelCache } from "../src/gpu/kernel.ts";
import type { ModelSpec } from "../src/nn/model.ts";
import { Network } from "../src/nn/network.ts";
import { buildSgd } from "../src/nn/optimizer.ts";
import { ParamStore } from "../src/nn/params.ts";
import { Rng } from "../src/random.ts";
import { Feeder } from "../src/train/feeder.ts";

/** The benchmark device (`MNIST_BENCH_DEVICE=cpu|gpu|auto`, default auto). */
export const gpu: Gpu = await acquireGpu(
  (Deno.env.get("MNIST_BENCH_DEVICE") ?? "auto") as "auto" | "gpu" | "cpu",
);
export const kernels = new KernelCache(gpu.device);
console.log(`adapter: ${gpu.name}${gpu.isCpu ? " (CPU)" : ""}`);

/** Encodes `fn` `repeats` times in one pass, submits, and waits for the GPU. */
export async function runOnGpu(repeats: number, fn: (pass: GPUComputePassEncoder) => void) {
  const encoder = gpu.device.createCommandEncoder({ label: "bench" });
  const pass = encoder.beginComputePass({ label: "bench" });
  for (let i = 0; i < repeats; i++) fn(pass);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
}

/** What the tuned kernels are tuned for, on this adapter by default. */
export const TARGET: "cpu" | "gpu" = gpu.isCpu ? "cpu" : "gpu";

/**
 * The kernel families side by side: the simple reference kernels (the baseline), the ones
 * tuned for CPU adapters and the ones tuned for GPUs; `own` marks what this adapter trains with.
 */
export const VARIANTS = [
  { kind: "simple", tiled: false, target: TARGET },
  { kind: "CPU-tuned", tiled: true, target: "cpu" },
  { kind: "GPU-tuned", tiled: true, target: "gpu" },
].map((v) => ({ ...v, own: v.tiled && v.target === TARGET })) as {
  kind: string;
  tiled: boolean;
  target: "cpu" | "gpu";
  own: boolean;
}[];

/** A training setup: network, SGD and a feeder over random u8 images. */
export function trainingSetup(
  model: ModelSpec,
  { B, tiled = true, target = TARGET }: { B: number; tiled?: boolean; target?: "cpu" | "gpu" },
) {
  const store = new ParamStore(gpu.device, model);
  store.initialize({ kind: "xavier" }, new Rng(1));
  const network = new Network(gpu.device, kernels, {
    model,
    store,
    B,
    train: true,
    tiled,
    target,
  });
  const sgd = buildSgd(gpu.device, kernels, store, {
    lr: 0.01,
    momentum: 0.9,
    wd: 0,
    rescaleGrad: 1 / B,
    clipGradient: 0,
  });
  const count = 6000;
  const [C, H, W] = model.input;
  const rng = new Rng(2);
  const images = Uint8Array.from({ length: count * C * H * W }, () => rng.int(256));
  const labels = Uint8Array.from({ length: count }, () => rng.int(model.classes));
  const batches = Math.floor(count / B);
  const feeder = new Feeder(gpu.device, kernels, {
    split: { images, labels, count, rows: H, cols: W },
    network,
    batches,
  });
  feeder.setOrder(rng.shuffle(Uint32Array.from({ length: batches * B }, (_, i) => i)));
  let next = 0;
  /** Encodes one full training step (gather, forward, loss, backward, SGD). */
  const step = (pass: GPUComputePassEncoder) => {
    feeder.encodeGather(pass, next);
    next = (next + 1) % batches;
    network.encodeForward(pass);
    network.encodeBackward(pass);
    encode(pass, sgd);
  };
  return { store, network, sgd, feeder, step };
}
