/**
 * The gather kernel (kernels/gather.wgsl through src/train/feeder.ts) against `gatherBatch`,
 * and the Evaluator's accuracy over a split that does not divide into batches, against the
 * reference ops on the CPU.
 */
import assert from "node:assert/strict";
import { gatherBatch, loadSplit, type Split, subset } from "../src/data/dataset.ts";
import type { Gpu } from "../src/gpu/device.ts";
import type { KernelCache } from "../src/gpu/kernel.ts";
import type { ModelSpec } from "../src/nn/model.ts";
import { Network } from "../src/nn/network.ts";
import { ParamStore } from "../src/nn/params.ts";
import { Rng } from "../src/random.ts";
import { Evaluator } from "../src/train/evaluate.ts";
import { Feeder, PAD_FLAG } from "../src/train/feeder.ts";
import { assertClose } from "./check.ts";
import { gpuTest, readF32, readU32, runPass } from "./gpu_helpers.ts";
import * as ref from "./reference.ts";
import { MNIST } from "./test_data.ts";

const PAD_LABEL = 0xffffffff;

/** (count, 2, 2) random pixels with 0 and 255 among them, labels in [0, 3). */
function tinySplit(count: number, rng: Rng): Split {
  const images = Uint8Array.from({ length: count * 4 }, () => rng.int(256));
  images[0] = 0;
  images[1] = 255;
  images[images.length - 1] = 255;
  const labels = Uint8Array.from({ length: count }, () => rng.int(3));
  return { images, labels, count, rows: 2, cols: 2 };
}

/** Input [1, rows, cols] → dense `hidden` relu → dense `classes`. */
function smallModel(rows: number, cols: number, classes: number, hidden = 0): ModelSpec {
  const layers: ModelSpec["layers"] = hidden > 0
    ? [{ kind: "dense", name: "fc1", units: hidden, act: "relu" }]
    : [];
  layers.push({ kind: "dense", name: "out", units: classes, act: "none" });
  return { name: "small", input: [1, rows, cols], classes, layers };
}

/**
 * Gathers every batch of `order` (batches × B entries, some flagged with PAD_FLAG) on the GPU
 * and checks the network's input and labels against `gatherBatch` after each one.
 */
async function checkGather(
  g: Gpu,
  kernels: KernelCache,
  { split, model, B, order }: { split: Split; model: ModelSpec; B: number; order: Uint32Array },
): Promise<void> {
  const batches = order.length / B;
  const store = new ParamStore(g.device, model);
  const network = new Network(g.device, kernels, { model, store, B, train: false });
  const feeder = new Feeder(g.device, kernels, { split, network, batches });
  try {
    feeder.setOrder(order);
    const P = split.rows * split.cols;
    // Walk the batches backwards, so a wrong dynamic offset cannot pass by leftover data.
    for (let i = batches - 1; i >= 0; i--) {
      runPass(g, (pass) => feeder.encodeGather(pass, i));
      const entries = order.subarray(i * B, (i + 1) * B);
      const samples = Array.from(entries, (e) => e & ~PAD_FLAG);
      const expected = gatherBatch(split, samples);
      const x = await readF32(g, network.x, B * P);
      assertClose(x, expected.data, { atol: 1e-7, rtol: 0, label: `x of batch ${i}` });
      const labels = await readU32(g, network.labels, B);
      const expectedLabels = Array.from(
        entries,
        (e, k) => (e & PAD_FLAG) !== 0 ? PAD_LABEL : expected.label[k]!,
      );
      assert.deepEqual(Array.from(labels), expectedLabels, `labels of batch ${i}`);
    }
  } finally {
    feeder.destroy();
    network.destroy();
    store.destroy();
  }
}

/** A shuffled order of `count` samples in `batches` batches of B, padding flagged. */
function shuffledOrder(count: number, B: number, rng: Rng): Uint32Array {
  const batches = Math.ceil(count / B);
  const order = new Uint32Array(batches * B);
  const perm = rng.shuffle(Uint32Array.from({ length: count }, (_, i) => i));
  for (let i = 0; i < order.length; i++) {
    order[i] = i < count ? perm[i]! : perm[i % count]! | PAD_FLAG;
  }
  return order;
}

gpuTest("encodeGather() fills x and labels of a 2×2 model from a shuffled order", async (g, k) => {
  const rng = new Rng(1);
  const split = tinySplit(11, rng);
  const model = smallModel(2, 2, 3);
  // B = 3 over 11 samples: 4 batches, the last with one real sample and two flagged.
  await checkGather(g, k, { split, model, B: 3, order: shuffledOrder(11, 3, rng) });
});

gpuTest("encodeGather() works with B = 1 and with B larger than the split", async (g, k) => {
  const rng = new Rng(2);
  const split = tinySplit(5, rng);
  const model = smallModel(2, 2, 3);
  await checkGather(g, k, { split, model, B: 1, order: shuffledOrder(5, 1, rng) });
  // 5 samples in one batch of 8: three flagged repeats.
  await checkGather(g, k, { split, model, B: 8, order: shuffledOrder(5, 8, rng) });
});

gpuTest("encodeGather() gives PAD labels exactly where PAD_FLAG is set", async (g, k) => {
  const rng = new Rng(3);
  const split = tinySplit(6, rng);
  const model = smallModel(2, 2, 3);
  // Flags anywhere in the batch, including on sample 0 and on the first entry.
  const order = Uint32Array.from([0 | PAD_FLAG, 1, 5 | PAD_FLAG, 2, 0, 4, 3 | PAD_FLAG, 5]);
  await checkGather(g, k, { split, model, B: 4, order });
});

gpuTest("encodeGather() matches gatherBatch() on real 28×28 MNIST digits", async (g, k) => {
  const split = subset(await loadSplit(MNIST, { dataset: "mnist", split: "test" }), 150);
  const model = smallModel(28, 28, 10);
  // B = 70 does not divide 150; the slots of the order buffer are 256-byte aligned (64 words),
  // so batch i > 0 also checks the dynamic offset's padding.
  await checkGather(g, k, { split, model, B: 70, order: shuffledOrder(150, 70, new Rng(4)) });
});

/**
 * Gathers every batch of `order` with `augment` for each of `epochs` and checks x against
 * `ref.affineWarp` with `ref.affineParams(seed, { epoch, sample })`; returns each epoch's x.
 */
async function checkAugmented(
  g: Gpu,
  kernels: KernelCache,
  { split, B, order, seed, epochs }: {
    split: Split;
    B: number;
    order: Uint32Array;
    seed: number;
    epochs: number[];
  },
): Promise<Float32Array[]> {
  const batches = order.length / B;
  const [H, W] = [split.rows, split.cols];
  const P = H * W;
  const model = smallModel(H, W, 10);
  const store = new ParamStore(g.device, model);
  const network = new Network(g.device, kernels, { model, store, B, train: false });
  const feeder = new Feeder(g.device, kernels, { split, network, batches, augment: { seed } });
  const seen: Float32Array[] = [];
  try {
    for (const epoch of epochs) {
      feeder.setOrder(order, { epoch });
      const all = new Float32Array(order.length * P);
      for (let i = batches - 1; i >= 0; i--) {
        runPass(g, (pass) => feeder.encodeGather(pass, i));
        const x = await readF32(g, network.x, B * P);
        all.set(x, i * B * P);
        const entries = order.subarray(i * B, (i + 1) * B);
        entries.forEach((e, b) => {
          const sample = e & ~PAD_FLAG;
          const expected = ref.affineWarp(split.images.subarray(sample * P, (sample + 1) * P), {
            H,
            W,
            params: ref.affineParams(seed, { epoch, sample }),
          });
          // sin, cos and f32 rounding move a source point by ~1e-6 px; bilinear sampling turns
          // that into ~1e-6 of a grey level.
          assertClose(x.subarray(b * P, (b + 1) * P), expected, {
            atol: 1e-4,
            rtol: 0,
            label: `epoch ${epoch}, batch ${i}, row ${b} (sample ${sample})`,
          });
        });
        const labels = await readU32(g, network.labels, B);
        const expectedLabels = Array.from(
          entries,
          (e) => (e & PAD_FLAG) !== 0 ? PAD_LABEL : split.labels[e]!,
        );
        assert.deepEqual(Array.from(labels), expectedLabels, `labels of batch ${i}`);
      }
      seen.push(all);
    }
  } finally {
    feeder.destroy();
    network.destroy();
    store.destroy();
  }
  return seen;
}

gpuTest("encodeGather() with augment matches affineWarp() on real MNIST digits", async (g, k) => {
  const split = subset(await loadSplit(MNIST, { dataset: "mnist", split: "test" }), 90);
  // B = 40 over 90: the last batch wraps 30 flagged samples; epochs 0, 3 and 0 again.
  const order = shuffledOrder(90, 40, new Rng(8));
  const [a, b, again] = await checkAugmented(g, k, {
    split,
    B: 40,
    order,
    seed: 42,
    epochs: [0, 3, 0],
  });
  assert.deepEqual(again, a, "epoch 0 warped the same both times");
  assert.notDeepEqual(b, a, "epoch 3 warps differently");
  // A distortion, not a copy: it moves ink.
  const plain = gatherBatch(split, Array.from(order, (e) => e & ~PAD_FLAG)).data;
  const moved = a!.reduce((n, v, i) => n + (Math.abs(v - plain[i]!) > 0.1 ? 1 : 0), 0);
  assert.ok(moved > a!.length / 50, `${moved} of ${a!.length} pixels changed by > 0.1`);
});

gpuTest("encodeGather() with augment handles B = 1, 2×2 images and pixel 255", async (g, k) => {
  const split = tinySplit(5, new Rng(9));
  await checkAugmented(g, k, {
    split,
    B: 1,
    order: shuffledOrder(5, 1, new Rng(10)),
    seed: 0xffffffff,
    epochs: [7],
  });
});

Deno.test("affineParams() stays within the documented ranges", () => {
  for (let sample = 0; sample < 2000; sample++) {
    const p = ref.affineParams(1, { epoch: 2, sample });
    assert.ok(Math.abs(p.angle) <= (10 * Math.PI) / 180, `angle ${p.angle}`);
    assert.ok(p.scale >= 0.9 && p.scale < 1.1, `scale ${p.scale}`);
    assert.ok(Math.abs(p.shear) <= 0.1 && Math.abs(p.dx) <= 2 && Math.abs(p.dy) <= 2);
  }
});

gpuTest("Feeder.setOrder() rejects an order of the wrong length", (g, k) => {
  const split = tinySplit(4, new Rng(5));
  const model = smallModel(2, 2, 3);
  const store = new ParamStore(g.device, model);
  const network = new Network(g.device, k, { model, store, B: 2, train: false });
  const feeder = new Feeder(g.device, k, { split, network, batches: 2 });
  try {
    assert.throws(() => feeder.setOrder(new Uint32Array(3)), /Order has 3 entries, expected 4/);
  } finally {
    feeder.destroy();
    network.destroy();
    store.destroy();
  }
  return Promise.resolve();
});

/** The model's logits for `x` (B, I) on the CPU with the reference ops. */
function referenceLogits(
  params: Map<string, Float32Array>,
  x: Float32Array,
  { B, I, H, N }: { B: number; I: number; H: number; N: number },
): Float32Array {
  const h = ref.reluForward(
    ref.denseForward({ x, w: params.get("fc1_weight")!, b: params.get("fc1_bias")! }, {
      B,
      I,
      O: H,
    }),
  );
  return ref.denseForward({ x: h, w: params.get("out_weight")!, b: params.get("out_bias")! }, {
    B,
    I: H,
    O: N,
  });
}

gpuTest("Evaluator counts only real samples when B does not divide the split", async (g, k) => {
  const count = 237;
  const B = 50; // 5 batches; the last holds 37 real samples and 13 wrapped, flagged ones
  const split = subset(await loadSplit(MNIST, { dataset: "mnist", split: "test" }), count);
  const model = smallModel(28, 28, 10, 16);
  const store = new ParamStore(g.device, model);
  store.initialize({ kind: "xavier" }, new Rng(6));
  const network = new Network(g.device, k, { model, store, B, train: false });
  const evaluator = new Evaluator(g.device, k, { network, split });
  try {
    const { metrics, predictions } = await evaluator.run({ predictions: true });
    // The same figures on the CPU, from the parameters the GPU used.
    const params = await store.download();
    const batch = gatherBatch(split, Array.from({ length: count }, (_, i) => i));
    const dims = { B: count, I: 784, H: 16, N: 10 };
    const logits = referenceLogits(params, batch.data, dims);
    const labels = Array.from(split.labels);
    const correct = ref.accuracyCount({ prob: logits, labels }, { B: count, N: 10 });
    const { loss } = ref.softmaxCrossEntropy({ logits, labels }, { B: count, N: 10 });

    assert.equal(metrics.count, count, "padding is not counted");
    assert.equal(metrics.nonFinite, 0);
    assert.equal(metrics.correct, correct, "correct count equals the CPU's");
    assertClose([metrics.lossSum], [loss], { rtol: 1e-4, label: "summed loss" });
    assert.ok(predictions);
    assert.equal(predictions.length, count);
    for (let b = 0; b < count; b++) {
      const row = logits.subarray(b * 10, (b + 1) * 10);
      const best = row.indexOf(Math.max(...row));
      assert.equal(predictions[b], best, `prediction of sample ${b}`);
    }
    // A second run reuses the buffers and gives the same figures (stats were cleared).
    const again = await evaluator.run();
    assert.deepEqual(again.metrics, metrics);
    assert.equal(again.predictions, undefined);
  } finally {
    evaluator.destroy();
    network.destroy();
    store.destroy();
  }
});

gpuTest("Evaluator scores a split smaller than one batch", async (g, k) => {
  const count = 7;
  const split = subset(await loadSplit(MNIST, { dataset: "mnist", split: "test" }), count);
  const model = smallModel(28, 28, 10, 16);
  const store = new ParamStore(g.device, model);
  store.initialize({ kind: "xavier" }, new Rng(7));
  const network = new Network(g.device, k, { model, store, B: 32, train: false });
  const evaluator = new Evaluator(g.device, k, { network, split });
  try {
    const { metrics, predictions } = await evaluator.run({ predictions: true });
    const params = await store.download();
    const batch = gatherBatch(split, Array.from({ length: count }, (_, i) => i));
    const logits = referenceLogits(params, batch.data, { B: count, I: 784, H: 16, N: 10 });
    const correct = ref.accuracyCount({ prob: logits, labels: split.labels }, {
      B: count,
      N: 10,
    });
    assert.equal(metrics.count, count);
    assert.equal(metrics.correct, correct);
    assert.equal(predictions!.length, count);
  } finally {
    evaluator.destroy();
    network.destroy();
    store.destroy();
  }
});
