/**
 * The training loop: its log lines when they are read back as they come and when several are
 * read together (as on fast GPUs); and training with the GPU kernels against the CPU ones.
 */
import assert from "node:assert/strict";
import { loadSplit, subset } from "../src/data/dataset.ts";
import { lenet, mlp } from "../src/nn/model.ts";
import { type AdapterKind, chooseVariants } from "../src/nn/variants.ts";
import { train } from "../src/train/trainer.ts";
import { gpuTest } from "./gpu_helpers.ts";
import { MNIST } from "./test_data.ts";

/** The first `trainCount` training and `testCount` test samples of MNIST. */
function splits(trainCount: number, testCount: number) {
  return Promise.all([
    loadSplit(MNIST, { dataset: "mnist", split: "train" }).then((s) => subset(s, trainCount)),
    loadSplit(MNIST, { dataset: "mnist", split: "test" }).then((s) => subset(s, testCount)),
  ]);
}

gpuTest("training logs the same lines whether they are read one by one or together", async (g) => {
  const [trainSplit, testSplit] = await splits(1050, 200);
  const dir = await Deno.makeTempDir();
  try {
    const run = async (readEveryMs: number) => {
      const lines: string[] = [];
      const times: number[] = [];
      await train(g, {
        model: mlp(),
        train: trainSplit,
        validationSplit: testSplit,
        epochs: 2,
        batchSize: 50,
        optimizer: { lr: 0.1, momentum: 0.9, wd: 0, clipGradient: 0 },
        seed: 3,
        init: { kind: "xavier" },
        frequent: 4,
        save: `${dir}/m${readEveryMs}.json`,
        dataset: "mnist",
        log: (line) => {
          lines.push(line);
          times.push(performance.now());
        },
        readEveryMs,
      });
      // Milliseconds between successive Speedometer lines of epoch 0.
      const first = lines.flatMap((l, i) => l.includes("Epoch[0] Batch") ? [times[i]!] : []);
      return { lines, gaps: first.slice(1).map((t, i) => t - first[i]!) };
    };
    // 0: each line read as it comes. A day: every interval read at the end of its epoch.
    const { lines: oneByOne, gaps: apart } = await run(0);
    const { lines: together, gaps: burst } = await run(86_400_000);
    // A readback takes Deno ~10 ms; lines read together are printed in one go. The first line
    // of a run is always read alone: it measures how fast the lines come.
    assert.ok(Math.min(...apart) > 2, `one read per line: ${apart}`);
    // Lines are read together only where the adapter can time them (llvmpipe can).
    if (g.timestamps) {
      assert.ok(Math.max(...burst.slice(1)) < 2, `one read for the rest of the epoch: ${burst}`);
    }
    const speeds = (lines: string[]) =>
      lines.flatMap((l) => l.match(/Speed: ([\d.]+) samples/)?.[1] ?? []).map(Number);
    const withoutSpeed = (lines: string[]) =>
      lines.map((l) =>
        l.replace(/Speed: [\d.]+/, "Speed: S").replace(
          /=[\d.]+$/,
          (m) => l.includes("Time cost") ? "=T" : m,
        )
      ).filter((l) => !l.includes("Saved checkpoint"));
    // 1050 samples at batch 50: 21 batches, a line every 4 (5 per epoch), the last batch a tail.
    assert.equal(speeds(oneByOne).length, 10);
    assert.deepEqual(withoutSpeed(together), withoutSpeed(oneByOne));
    for (const speed of [...speeds(oneByOne), ...speeds(together)]) {
      assert.ok(Number.isFinite(speed) && speed > 0, `speed ${speed}`);
    }
    assert.match(
      together.join("\n"),
      /Epoch\[1\] Batch \[20\]\tSpeed: [\d.]+ samples\/sec\tTrain-accuracy=0\.\d+/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest("training with the GPU kernels learns what it learns with the CPU kernels", async (g) => {
  // The GPU kernels (split forwards, both gradients in one dispatch, vec4 convolutions) over
  // many steps with momentum, and the evaluation after each epoch, on whatever adapter this is.
  const [trainSplit, testSplit] = await splits(600, 200);
  const dir = await Deno.makeTempDir();
  try {
    for (const model of [mlp(), lenet()]) {
      const run = async (target: AdapterKind) => {
        const lines: string[] = [];
        const results = await train(g, {
          model,
          train: trainSplit,
          validationSplit: testSplit,
          epochs: 2,
          batchSize: 50,
          optimizer: { lr: 0.1, momentum: 0.9, wd: 0, clipGradient: 0 },
          seed: 7,
          init: { kind: "xavier" },
          frequent: 5,
          save: `${dir}/${model.name}-${target}.json`,
          dataset: "mnist",
          variants: chooseVariants(model, {
            adapter: target,
            limits: g.device.limits,
            kernels: "tuned",
          }),
          log: (line) => lines.push(line),
        });
        const accuracies = lines.flatMap((l) => l.match(/Train-accuracy=([\d.]+)/)?.[1] ?? [])
          .map(Number);
        return { accuracies, validation: results.map((r) => r.validationAccuracy) };
      };
      const cpu = await run("cpu");
      const gpu = await run("gpu");
      // The sums run in other orders, so a few predictions may flip, no more.
      assert.equal(gpu.accuracies.length, cpu.accuracies.length);
      gpu.accuracies.forEach((a, i) => {
        assert.ok(
          Math.abs(a - cpu.accuracies[i]!) <= 0.02,
          `${model.name} line ${i}: ${a} vs ${cpu.accuracies[i]}`,
        );
      });
      gpu.validation.forEach((v, i) => {
        assert.ok(
          Math.abs(v - cpu.validation[i]!) <= 0.02,
          `${model.name} epoch ${i}: ${v} vs ${cpu.validation[i]}`,
        );
      });
      assert.ok(gpu.validation.at(-1)! > 0.6, `${model.name} learns: ${gpu.validation}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest(
  "epochs after the first create no buffer: checkpoint and validation reuse theirs",
  async (g) => {
    const [trainSplit, testSplit] = await splits(300, 100);
    const dir = await Deno.makeTempDir();
    const device = g.device;
    const create = device.createBuffer;
    let created: string[] = [];
    device.createBuffer = (descriptor: GPUBufferDescriptor) => {
      created.push(descriptor.label ?? "");
      return create.call(device, descriptor);
    };
    try {
      const buffersFor = async (epochs: number, optimizer: "sgd" | "adam") => {
        created = [];
        await train(g, {
          model: mlp(),
          train: trainSplit,
          validationSplit: testSplit,
          epochs,
          batchSize: 50,
          optimizer: { lr: 0.1, momentum: 0.9, wd: 0, clipGradient: 0, optimizer },
          seed: 3,
          init: { kind: "xavier" },
          frequent: 2,
          save: `${dir}/m.json`,
          dataset: "mnist",
          log: () => {},
        });
        return created.sort();
      };
      for (const optimizer of ["sgd", "adam"] as const) {
        const one = await buffersFor(1, optimizer);
        assert.ok(one.some((l) => l.includes("staging")), `no staging buffer among ${one}`);
        assert.deepEqual(await buffersFor(3, optimizer), one, optimizer);
      }
    } finally {
      device.createBuffer = create;
      await Deno.remove(dir, { recursive: true });
    }
  },
);
