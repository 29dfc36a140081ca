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
import { type AdapterKind, adapterKind, chooseVariants } from "../src/nn/variants.ts";
import { Rng } from "../src/random.ts";
import { Feeder } from "../src/train/feeder.ts";

/** The benchmark device (`MNIST_BENCH_DEVICE=cpu|gpu|auto`, default auto). */
export const gpu: Gpu = await acquireGpu(
  (Deno.env.get("MNIST_BENCH_DEVICE") ?? "auto") as "auto" | "gpu" | "cpu",
  { timestamps: true },
);
export const kernels = new KernelCache(gpu.device);
console.log(`adapter: ${gpu.name}${gpu.isCpu ? " (CPU)" : ""}`);

/** A timestamp pair around the bench pass, where the adapter has timestamp queries. */
const timer = gpu.timestamps
  ? {
    querySet: gpu.device.createQuerySet({ label: "bench", type: "timestamp", count: 2 }),
    resolve: gpu.device.createBuffer({
      label: "bench.resolve",
      size: 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    }),
    read: gpu.device.createBuffer({
      label: "bench.read",
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    }),
  }
  : null;

/**
 * Encodes `fn` `repeats` times in one pass, submits, and waits for the GPU. Returns the pass's
 * GPU time in ms from timestamp queries, or null where the adapter has none.
 */
export async function runOnGpu(
  repeats: number,
  fn: (pass: GPUComputePassEncoder) => void,
): Promise<number | null> {
  const encoder = gpu.device.createCommandEncoder({ label: "bench" });
  const pass = encoder.beginComputePass({
    label: "bench",
    timestampWrites: timer
      ? { querySet: timer.querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 }
      : undefined,
  });
  for (let i = 0; i < repeats; i++) fn(pass);
  pass.end();
  if (!timer) {
    gpu.device.queue.submit([encoder.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
    return null;
  }
  encoder.resolveQuerySet(timer.querySet, 0, 2, timer.resolve, 0);
  encoder.copyBufferToBuffer(timer.resolve, 0, timer.read, 0, 16);
  gpu.device.queue.submit([encoder.finish()]);
  // The mapping resolves once the pass and the copy after it have run.
  await timer.read.mapAsync(GPUMapMode.READ);
  const [begin, end] = new BigUint64Array(timer.read.getMappedRange().slice(0));
  timer.read.unmap();
  return Number(end! - begin!) / 1e6;
}

/** What one repetition of a bench does, for its rate: FLOP, bytes moved or samples trained. */
export type Work = { flop: number } | { bytes: number } | { samples: number };

/** One registered GPU bench and the times of its iterations. */
interface Measured {
  group: string;
  kind: string;
  repeats: number;
  work?: Work;
  /** Per iteration: GPU ms of the pass (timestamp queries), else wall-clock ms. */
  ms: number[];
  gpuTimed: boolean;
}

const measured: Measured[] = [];

/**
 * Registers a Deno.bench of `repeats` repetitions of `run` in one pass, and records each
 * iteration's GPU time. Deno.bench's own time/iter includes Deno's ~10 ms completion polling,
 * which swamps fast kernels on a GPU; the table printed after the benches (GPU time per
 * repetition and the rate: GFLOP/s, GB/s or samples/sec) does not.
 */
export async function benchGpu(
  { group, kind, own, baseline, repeats, run, work, n }: {
    group: string;
    /** The kernels, e.g. "simple" or "GPU-tuned". */
    kind: string;
    /** The kernels this adapter trains with. */
    own?: boolean;
    baseline?: boolean;
    repeats: number;
    run: (pass: GPUComputePassEncoder) => void;
    work?: Work;
    /** Iterations (Deno.bench's `n`). */
    n: number;
  },
): Promise<void> {
  await runOnGpu(1, run); // compile the pipelines outside the timings
  const row: Measured = { group, kind, repeats, work, ms: [], gpuTimed: timer !== null };
  measured.push(row);
  const mflop = work && "flop" in work ? ` (${(work.flop / 1e6).toFixed(1)} MFLOP each)` : "";
  Deno.bench({
    name: `${group} ×${repeats}, ${kind}${own ? " (this adapter's)" : ""}${mflop}`,
    group,
    baseline,
    n,
    warmup: 1,
    async fn() {
      const start = performance.now();
      const ms = await runOnGpu(repeats, run);
      row.ms.push(ms ?? performance.now() - start);
    },
  });
}

/** The rate of `work` done `count` times in `ms`. */
function rate(work: Work, count: number, ms: number): string {
  const perSecond = (amount: number) => (amount * count) / (ms / 1000);
  if ("flop" in work) return `${(perSecond(work.flop) / 1e9).toFixed(2)} GFLOP/s`;
  if ("bytes" in work) return `${(perSecond(work.bytes) / 1e9).toFixed(2)} GB/s`;
  return `${Math.round(perSecond(work.samples)).toLocaleString("en-US")} samples/sec`;
}

/** The table of every bench's median time per repetition and its rate. */
function formatMeasured(rows: readonly Measured[] = measured): string {
  // Grouped as Deno.bench groups them: each group's variants together.
  const groups = [...new Set(rows.map((r) => r.group))];
  const done = groups.flatMap((g) => rows.filter((r) => r.group === g && r.ms.length > 0));
  if (done.length === 0) return "";
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const cells = done.map((r) => {
    const ms = median(r.ms);
    return [
      r.group,
      r.kind,
      ((ms * 1000) / r.repeats).toFixed(1),
      r.work ? rate(r.work, r.repeats, ms) : "",
    ];
  });
  const head = ["group", "kernels", "µs/rep", "rate"];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c.map((x, i) => (i >= 2 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join("  ").trimEnd();
  const how = done.every((r) => r.gpuTimed)
    ? "GPU time from timestamp queries (median of the iterations)"
    : "wall-clock time, Deno's ~10 ms completion polling included (no timestamp queries)";
  return [`Per repetition, on ${gpu.name}: ${how}`, line(head), ...cells.map(line)].join("\n");
}

globalThis.addEventListener("unload", () => {
  const table = formatMeasured();
  if (table) console.log(`\n${table}`);
});

/** What the tuned kernels are tuned for, on this adapter by default. */
export const TARGET: AdapterKind = adapterKind(gpu);

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

/**
 * A training setup: network, SGD and a feeder over random u8 images. SGD is `mnist train`'s
 * default, without momentum, unless `momentum` is given.
 */
export function trainingSetup(
  model: ModelSpec,
  { B, tiled = true, target = TARGET, momentum = 0, variants, gather = true }: {
    B: number;
    tiled?: boolean;
    target?: "cpu" | "gpu";
    momentum?: number;
    /** Each layer's variant, overriding `tiled` and `target`'s choice. */
    variants?: string[];
    /** Let the first layer read the batch itself where it can, as `mnist train` does. */
    gather?: boolean;
  },
) {
  const store = new ParamStore(gpu.device, model);
  store.initialize({ kind: "xavier" }, new Rng(1));
  const network = new Network(gpu.device, kernels, {
    model,
    store,
    B,
    train: true,
    variants: variants ?? chooseVariants(model, {
      adapter: target,
      limits: gpu.device.limits,
      kernels: tiled ? "tuned" : "simple",
    }),
    gather,
  });
  const sgd = buildSgd(gpu.device, kernels, {
    store,
    lr: 0.01,
    momentum,
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
