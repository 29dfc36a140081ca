/**
 * The first layer with the gather fused in (kernels/dense_tiled.wgsl's `_gather` entry points,
 * `Network`'s `gather` option) against the unfused reference: a gather dispatch into `x`, then
 * the tiled dense kernels. A training step of each, over the same parameters and batches, must
 * give the same probabilities, labels, metrics and gradients, bit for bit: the fused kernels
 * read the same floats (`unpack4x8unorm` of the same u8 words) and sum them in the same order.
 */
import assert from "node:assert/strict";
import { loadSplit, type Split, subset } from "../src/data/dataset.ts";
import type { Gpu } from "../src/gpu/device.ts";
import { countDispatches, type KernelCache } from "../src/gpu/kernel.ts";
import { lenet, mlp, type ModelSpec } from "../src/nn/model.ts";
import { Network } from "../src/nn/network.ts";
import { ParamStore } from "../src/nn/params.ts";
import { chooseVariants } from "../src/nn/variants.ts";
import { Rng } from "../src/random.ts";
import { Feeder, PAD_FLAG } from "../src/train/feeder.ts";
import { gpuTest, readF32, readU32, runPass } from "./gpu_helpers.ts";
import { MNIST } from "./test_data.ts";

/** (count, rows, cols) random pixels, 0 and 255 among them; labels in [0, classes). */
function randomSplit(count: number, rows: number, cols: number, classes: number, rng: Rng): Split {
  const images = Uint8Array.from({ length: count * rows * cols }, () => rng.int(256));
  images[0] = 0;
  images[images.length - 1] = 255;
  const labels = Uint8Array.from({ length: count }, () => rng.int(classes));
  return { images, labels, count, rows, cols };
}

/** A shuffled order of `count` samples in batches of B, the last batch's repeats flagged. */
function shuffledOrder(count: number, B: number, rng: Rng): Uint32Array {
  const order = new Uint32Array(Math.ceil(count / B) * B);
  const perm = rng.shuffle(Uint32Array.from({ length: count }, (_, i) => i));
  for (let i = 0; i < order.length; i++) {
    order[i] = i < count ? perm[i]! : perm[i % count]! | PAD_FLAG;
  }
  return order;
}

/** What a training step leaves behind, read back. */
interface StepResult {
  prob: Float32Array;
  labels: Uint32Array;
  stats: Float32Array;
  grads: Float32Array;
}

/**
 * Runs a forward and backward pass over each batch of `order` (last batch first, so a wrong
 * dynamic offset cannot pass on leftovers) with the CPU-tuned kernels, the gather fused into
 * the first layer or not, and returns what each batch left, plus the dispatches of one step.
 */
async function steps(
  g: Gpu,
  kernels: KernelCache,
  { split, model, B, order, gather }: {
    split: Split;
    model: ModelSpec;
    B: number;
    order: Uint32Array;
    gather: boolean;
  },
): Promise<{ results: StepResult[]; gathers: boolean; dispatches: number }> {
  const batches = order.length / B;
  const store = new ParamStore(g.device, model);
  store.initialize({ kind: "xavier" }, new Rng(7));
  const variants = chooseVariants(model, {
    adapter: "cpu",
    limits: g.device.limits,
    kernels: "tuned",
  });
  const network = new Network(g.device, kernels, {
    model,
    store,
    B,
    train: true,
    variants,
    gather,
  });
  const feeder = new Feeder(g.device, kernels, { split, network, batches });
  try {
    feeder.setOrder(order);
    const step = (pass: GPUComputePassEncoder, i: number) => {
      feeder.encodeGather(pass, i);
      network.encodeForward(pass);
      network.encodeBackward(pass);
    };
    const results: StepResult[] = [];
    for (let i = batches - 1; i >= 0; i--) {
      runPass(g, (pass) => step(pass, i));
      results.push({
        prob: await readF32(g, network.prob, B * model.classes),
        labels: await readU32(g, network.labels, B),
        stats: await readF32(g, network.stats),
        grads: await readF32(g, store.grads),
      });
    }
    const dispatches = countDispatches((pass) => step(pass, 0));
    return { results, gathers: network.gathers, dispatches };
  } finally {
    feeder.destroy();
    network.destroy();
    store.destroy();
  }
}

/** The bits of `a` and `b` are the same, element for element. */
function sameBits(a: Float32Array, b: Float32Array, label: string): void {
  assert.equal(a.length, b.length, `${label}: lengths`);
  const [x, y] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer)];
  const at = x.findIndex((v, i) => v !== y[i]);
  assert.equal(at, -1, `${label}: element ${at} is ${a[at]} fused, ${b[at]} unfused`);
}

/** Runs both ways and checks the fused one dispatched one kernel fewer and matched bit for bit. */
async function checkFused(
  g: Gpu,
  kernels: KernelCache,
  options: { split: Split; model: ModelSpec; B: number; order: Uint32Array },
): Promise<void> {
  const fused = await steps(g, kernels, { ...options, gather: true });
  const unfused = await steps(g, kernels, { ...options, gather: false });
  assert.equal(fused.gathers, true, "the fused network's first layer gathers");
  assert.equal(unfused.gathers, false);
  assert.equal(fused.dispatches, unfused.dispatches - 1, "one dispatch fewer a step");
  fused.results.forEach((f, k) => {
    const u = unfused.results[k]!;
    const label = `step ${k}`;
    assert.deepEqual(Array.from(f.labels), Array.from(u.labels), `${label}: labels`);
    sameBits(f.prob, u.prob, `${label}: probabilities`);
    sameBits(f.stats, u.stats, `${label}: metrics`);
    sameBits(f.grads, u.grads, `${label}: gradients`);
  });
}

gpuTest(
  "the first layer with the gather fused in matches gather + tiled dense, bit for bit",
  async (g, k) => {
    const rng = new Rng(11);
    // 4×6 images (I = 24, six words a row), fc1 of 20 outputs (two column tiles, the second a
    // partial one) and a ragged classifier of 3; B = 23 makes tiles of 16 rows, the last one
    // partial, and 29 samples leave the second batch mostly padding.
    const model: ModelSpec = {
      name: "small",
      input: [1, 4, 6],
      classes: 3,
      layers: [
        { kind: "dense", name: "fc1", units: 20, act: "relu" },
        { kind: "dense", name: "out", units: 3, act: "none" },
      ],
    };
    const split = randomSplit(29, 4, 6, 3, rng);
    await checkFused(g, k, { split, model, B: 23, order: shuffledOrder(29, 23, rng) });
    // One sample a batch, and a batch larger than the split.
    await checkFused(g, k, { split, model, B: 1, order: shuffledOrder(3, 1, rng) });
    await checkFused(g, k, { split, model, B: 40, order: shuffledOrder(29, 40, rng) });
  },
);

gpuTest(
  "the MLP's fused first layer matches the unfused one on real MNIST digits",
  async (g, k) => {
    const split = subset(await loadSplit(MNIST, { dataset: "mnist", split: "test" }), 150);
    // Batch 100, the tutorial's: tiles of 20 rows; the second batch is half padding.
    await checkFused(g, k, {
      split,
      model: mlp(),
      B: 100,
      order: shuffledOrder(150, 100, new Rng(5)),
    });
  },
);

gpuTest(
  "a network gathers only where its first layer can, and never for --augment",
  (g, k) => {
    const model = mlp();
    const store = new ParamStore(g.device, model);
    const B = 4;
    // The simple kernels have no fused form: the option is a permission, not a demand.
    const simple = new Network(g.device, k, { model, store, B, train: true, gather: true });
    assert.equal(simple.gathers, false);
    simple.destroy();
    // Nor does a first convolution (it would cost LeNet a second pooled-forward pipeline).
    const lenetStore = new ParamStore(g.device, lenet());
    const conv = new Network(g.device, k, {
      model: lenet(),
      store: lenetStore,
      B,
      train: true,
      variants: chooseVariants(lenet(), {
        adapter: "cpu",
        limits: g.device.limits,
        kernels: "tuned",
      }),
      gather: true,
    });
    assert.equal(conv.gathers, false);
    conv.destroy();
    lenetStore.destroy();
    const variants = chooseVariants(model, {
      adapter: "cpu",
      limits: g.device.limits,
      kernels: "tuned",
    });
    const tiled = new Network(g.device, k, {
      model,
      store,
      B,
      train: true,
      variants,
      gather: true,
    });
    try {
      assert.equal(tiled.gathers, true);
      const split = randomSplit(8, 28, 28, 10, new Rng(1));
      assert.throws(
        () => new Feeder(g.device, k, { split, network: tiled, batches: 2, augment: { seed: 1 } }),
        /Cannot augment the batches of a network whose first layer reads them itself/,
      );
    } finally {
      tiled.destroy();
      store.destroy();
    }
    return Promise.resolve();
  },
);
