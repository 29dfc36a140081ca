/**
 * The optimizer kernels (SGD, NAG, Adam, AdamW: one dispatch over every parameter) against the oracle
 * over several steps, two submits, a rate per step (a schedule's) and Adam's bias correction;
 * weight decay on the weights only (MXNet's wd_mult); the schedules' rates and MXNet's
 * `Update[N]` line.
 */
import assert from "node:assert/strict";
import { Optimizer, type OptimizerOptions } from "../src/nn/optimizer.ts";
import { encode } from "../src/gpu/kernel.ts";
import { mlp, type ModelSpec } from "../src/nn/model.ts";
import { ParamStore } from "../src/nn/params.ts";
import { Rng } from "../src/random.ts";
import { LrSchedule, type Schedule } from "../src/train/schedule.ts";
import { updateLine } from "../src/train/speedometer.ts";
import { assertClose, randomArray } from "./check.ts";
import { gpuTest, runPass } from "./gpu_helpers.ts";
import * as ref from "./reference.ts";

/** Rates of five updates, in two submits of 3 and 2 steps: a schedule's, changing each step. */
const RATES = [[1, 0.8, 0.5], [0.5, 0.25]];

/**
 * A small model whose tensors do not fill whole vec4s: c1's bias (12..14) ends inside one, d1's
 * (block 64: 64 + 90..94) and d2's (block 128: 128 + 50..59) start inside one, so the kernels'
 * lanes must tell weights from biases one by one.
 */
function ragged(): ModelSpec {
  return {
    name: "ragged",
    input: [1, 3, 4],
    classes: 10,
    layers: [
      { kind: "conv2d", name: "c1", filters: 3, kernel: 2, stride: 1, pad: 0, act: "relu" },
      { kind: "flatten", name: "flat", act: "none" },
      { kind: "dense", name: "d1", units: 5, act: "tanh" },
      { kind: "dense", name: "d2", units: 10, act: "none" },
    ],
  };
}

const CASES: OptimizerOptions[] = [
  { optimizer: "sgd", lr: 0.1, momentum: 0.9, wd: 0.5, rescaleGrad: 1 / 100, clipGradient: 0 },
  { optimizer: "nag", lr: 0.05, momentum: 0.9, wd: 1e-4, rescaleGrad: 1 / 32, clipGradient: 0 },
  { optimizer: "nag", lr: 0.1, momentum: 0.5, wd: 0, rescaleGrad: 1, clipGradient: 0.25 },
  // Decays large enough that a decayed bias would be far off.
  { optimizer: "nag", lr: 0.1, momentum: 0.9, wd: 0.5, rescaleGrad: 1 / 100, clipGradient: 0 },
  { optimizer: "adam", lr: 0.01, momentum: 0, wd: 0.5, rescaleGrad: 1 / 100, clipGradient: 0 },
  { optimizer: "adam", lr: 0.001, momentum: 0, wd: 0, rescaleGrad: 1 / 100, clipGradient: 0 },
  {
    optimizer: "adam",
    lr: 0.01,
    momentum: 0,
    wd: 1e-3,
    rescaleGrad: 1 / 10,
    clipGradient: 0.1,
    beta1: 0.8,
    beta2: 0.99,
    epsilon: 1e-6,
  },
  { optimizer: "adamw", lr: 0.001, momentum: 0, wd: 0.01, rescaleGrad: 1 / 100, clipGradient: 0 },
  { optimizer: "adamw", lr: 0.01, momentum: 0, wd: 0, rescaleGrad: 1, clipGradient: 0.5 },
];

// Every case on the MLP; those with weight decay on the ragged model too.
const RUNS = [
  ...CASES.map((options) => ({ options, model: mlp() })),
  ...CASES.filter((o) => o.wd > 0).map((options) => ({ options, model: ragged() })),
];

for (const { options, model } of RUNS) {
  gpuTest(
    `${options.optimizer}Update() matches MXNet's over 5 steps on ${model.name} with ${
      JSON.stringify(options)
    }`,
    async (g, k) => {
      const rng = new Rng(11);
      const store = new ParamStore(g.device, model);
      const n = store.length;
      const w = randomArray(n, rng);
      const grad = randomArray(n, rng, { lo: -3, hi: 3 });
      // Adam's m and v start at zero (and v must stay >= 0); SGD's and NAG's momentum anywhere.
      const adam = options.optimizer === "adam" || options.optimizer === "adamw";
      const mom = adam ? new Float32Array(n) : randomArray(n, rng, { lo: -0.1, hi: 0.1 });
      const v = new Float32Array(n);
      store.upload(w.slice(), store.params);
      store.upload(grad.slice(), store.grads);
      store.upload(mom.slice(), store.momentum);
      const optimizer = new Optimizer(g.device, k, { store, options, slots: 3 });
      let t = 1;
      for (const multipliers of RATES) {
        const rates = multipliers.map((m) => m * options.lr);
        optimizer.writeSteps(t, rates);
        runPass(g, (pass) => rates.forEach((_, j) => encode(pass, optimizer.dispatch(j))));
        for (const rate of rates) {
          // MXNet updates each tensor with its own wd: 0 for the biases.
          for (const s of store.tensors) {
            const slice = (a: Float32Array) => a.subarray(s.offset, s.offset + s.size);
            const wd = options.wd * ref.wdMult(s.name);
            if (options.optimizer === "sgd") {
              ref.sgdUpdate({ w: slice(w), g: slice(grad), mom: slice(mom) }, {
                ...options,
                lr: rate,
                wd,
              });
            } else if (!adam) {
              ref.nagUpdate({ w: slice(w), g: slice(grad), mom: slice(mom) }, {
                ...options,
                lr: rate,
                wd,
              });
            } else {
              const decoupled = options.optimizer === "adamw";
              ref.adamUpdate({ w: slice(w), g: slice(grad), m: slice(mom), v: slice(v) }, {
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
                ...options,
                wd,
                // AdamW: the base rate, and the schedule through eta (adamw-inl.h).
                lr: decoupled ? options.lr : rate,
                eta: rate / options.lr,
                decoupled,
                t,
              });
            }
          }
          t++;
        }
      }
      const got = await store.download();
      const gotMom = await store.download(store.momentum);
      const gotV = optimizer.variance ? await store.download(optimizer.variance) : undefined;
      for (const s of store.tensors) {
        const slice = (a: Float32Array) => a.subarray(s.offset, s.offset + s.size);
        const tol = { atol: 1e-6, rtol: 1e-4 };
        assertClose(got.get(s.name)!, slice(w), { ...tol, label: s.name });
        assertClose(gotMom.get(s.name)!, slice(mom), { ...tol, label: `${s.name} m` });
        if (gotV) assertClose(gotV.get(s.name)!, slice(v), { ...tol, label: `${s.name} v` });
      }
      assert.equal(optimizer.variance === null, !adam);
      optimizer.destroy();
      store.destroy();
    },
  );
}

Deno.test("LrSchedule multifactor steps at the first update of each step epoch, as MXNet", () => {
  // fit.py: steps = epoch_size · epoch; MultiFactorScheduler changes once num_update > step.
  const s = new LrSchedule({ kind: "multifactor", factor: 0.5, stepEpochs: [2, 3] }, {
    lr: 0.1,
    batchesPerEpoch: 10,
    epochs: 5,
  });
  assert.deepEqual([1, 20, 21, 30, 31, 50].map((u) => s.rate(u)), [
    0.1,
    0.1,
    0.05,
    0.05,
    0.025,
    0.025,
  ]);
  assert.deepEqual(
    [20, 21, 22, 31].map((u) => s.change(u)),
    [undefined, 0.05, undefined, 0.025],
  );
});

Deno.test("LrSchedule cosine goes from --lr to --final-lr over the run, as MXNet's", () => {
  const s = new LrSchedule({ kind: "cosine", finalLr: 0.01 }, {
    lr: 0.1,
    batchesPerEpoch: 10,
    epochs: 2,
  });
  // CosineScheduler: final + (base - final) · (1 + cos(π · N / max_update)) / 2.
  assert.equal(s.rate(10), 0.01 + (0.1 - 0.01) * (1 + Math.cos(Math.PI / 2)) / 2);
  assert.equal(s.rate(20), 0.01);
  assert.equal(s.rate(25), 0.01);
  assert.ok(s.rate(1) < 0.1 && s.rate(1) > 0.099);
  assert.equal(s.change(11), undefined, "MXNet's CosineScheduler logs nothing");
});

Deno.test("LrSchedule of a run resumed with other batches per epoch steps at its epochs' starts", () => {
  // One epoch of 20 batches (2000 samples at batch 100), resumed at batch 50: 40 an epoch, so
  // epoch 1 is updates 21..60 and epoch 2 61..100 (not 41..80 and 81..120).
  const resumed = { batchesPerEpoch: 40, epochs: 3, firstEpoch: 1, updatesBefore: 20 };
  const steps: Schedule = { kind: "multifactor", factor: 0.5, stepEpochs: [1, 2] };
  const s = new LrSchedule(steps, { lr: 0.1, ...resumed });
  assert.deepEqual([21, 60, 61, 100].map((u) => s.rate(u)), [0.05, 0.05, 0.025, 0.025]);
  assert.deepEqual(
    [21, 41, 61, 81].map((u) => s.change(u)),
    [0.05, undefined, 0.025, undefined],
  );
  assert.equal(s.passed(), undefined, "no step before epoch 1 but epoch 1's own, which it logs");
  // With the checkpoint's own batches a resumed run's rates are the uninterrupted run's.
  const fresh = new LrSchedule(steps, { lr: 0.1, batchesPerEpoch: 20, epochs: 3 });
  const same = new LrSchedule(steps, {
    lr: 0.1,
    batchesPerEpoch: 20,
    epochs: 3,
    firstEpoch: 1,
    updatesBefore: 20,
  });
  for (let u = 21; u <= 60; u++) {
    assert.equal(same.rate(u), fresh.rate(u), `rate ${u}`);
    assert.equal(same.change(u), fresh.change(u), `change ${u}`);
  }
  // Cosine reaches --final-lr at the run's last update, 20 + 2 · 40.
  const cosine = new LrSchedule({ kind: "cosine", finalLr: 0.01 }, { lr: 0.1, ...resumed });
  assert.equal(cosine.rate(100), 0.01);
  assert.ok(cosine.rate(99) > 0.01);
  assert.equal(cosine.rate(60), 0.01 + (0.1 - 0.01) * (1 + Math.cos(Math.PI * 60 / 100)) / 2);
  // Steps before the first epoch (a schedule given on resuming) apply from its first update.
  const late = new LrSchedule({ kind: "multifactor", factor: 0.1, stepEpochs: [1, 2, 4] }, {
    lr: 0.1,
    batchesPerEpoch: 40,
    epochs: 5,
    firstEpoch: 3,
    updatesBefore: 100,
  });
  assert.deepEqual(late.passed(), { stepEpochs: [1, 2], rate: 0.1 * 0.1 * 0.1 });
  assert.equal(late.rate(101), 0.1 * 0.1 * 0.1);
  assert.equal(late.change(101), undefined);
  assert.equal(late.change(141), 0.1 * 0.1 * 0.1 * 0.1, "step 4 at epoch 4's first update");
});

Deno.test("updateLine() is MXNet's lr_scheduler line (golden)", () => {
  assert.equal(
    updateLine(601, 0.05),
    "INFO:root:Update[601]: Change learning rate to 5.00000e-02",
  );
  assert.equal(
    updateLine(1201, 0.1 * 0.1 * 0.1),
    "INFO:root:Update[1201]: Change learning rate to 1.00000e-03",
  );
  assert.equal(updateLine(7, 2.5e-10), "INFO:root:Update[7]: Change learning rate to 2.50000e-10");
  assert.equal(updateLine(7, 12), "INFO:root:Update[7]: Change learning rate to 1.20000e+01");
});
