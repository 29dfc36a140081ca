/**
 * A whole network on the GPU (src/nn/network.ts + ParamStore): its parameter gradients checked
 * against central finite differences of the GPU's own loss, and against the reference ops
 * chained on the CPU. The models stack every activation, so a missing or wrong derivative in
 * any layer's backward shows; each runs with the simple, the register-tiled (CPU) and the
 * workgroup-tiled (GPU) kernels.
 */
import assert from "node:assert/strict";
import { createStorage, readF32 as readRange, writeBuffer } from "../src/gpu/buffer.ts";
import type { Gpu } from "../src/gpu/device.ts";
import { KernelCache } from "../src/gpu/kernel.ts";
import {
  type Activation,
  type DenseSpec,
  lenet,
  mlp,
  type ModelSpec,
  sizeOf,
} from "../src/nn/model.ts";
import { checkParamsFit, Network } from "../src/nn/network.ts";
import { checkBatchFits, formatOver } from "../src/nn/network.ts";
import { ParamStore } from "../src/nn/params.ts";
import { type AdapterKind, chooseVariants } from "../src/nn/variants.ts";
import { UserError } from "../src/errors.ts";
import { Rng } from "../src/random.ts";
import { assertClose, randomArray } from "./check.ts";
import { gpuTest, readF32, runPass } from "./gpu_helpers.ts";
import * as ref from "./reference.ts";

Deno.test("formatOver() shows enough decimals that a size and the limit it exceeds differ", () => {
  const MiB = 1024 ** 2;
  // LeNet's conv1 output at batch 2,913 on llvmpipe was "128.0 MiB, over ... 128 MiB".
  assert.deepEqual(formatOver(2913 * 46080, 128 * MiB), ["128.01 MiB", "128 MiB"]);
  assert.deepEqual(formatOver(200 * MiB, 128 * MiB), ["200 MiB", "128 MiB"]);
  assert.deepEqual(formatOver(1025, 1024), ["1.001 KiB", "1 KiB"]);
  assert.deepEqual(formatOver(128 * MiB + 1, 128 * MiB), ["128.000001 MiB", "128 MiB"]);
  assert.deepEqual(formatOver(1024 ** 3 + 1, 1024 ** 3), [
    "1,073,741,825 B",
    "1,073,741,824 B",
  ]);
  const limits = { maxStorageBufferBindingSize: 128 * MiB, maxBufferSize: 256 * MiB };
  assert.throws(
    () => checkBatchFits(lenet(), 2913, { limits: limits as GPUSupportedLimits, adapter: "x" }),
    /conv1's output would take 128\.01 MiB, over the adapter's 128 MiB buffer limit; the largest batch it holds is 2912$/,
  );
});

/** A model of dense layers only, so the reference chain below can follow it. */
interface DenseModel extends ModelSpec {
  layers: DenseSpec[];
}

/**
 * 12 inputs → 7 tanh → 5 relu → 4 sigmoid → 3. Sizes not divisible by 4: mostly the simple
 * kernels, even when tiled ones are asked for.
 */
const ODD: DenseModel = {
  name: "odd",
  input: [1, 3, 4],
  classes: 3,
  layers: [
    { kind: "dense", name: "fc1", units: 7, act: "tanh" },
    { kind: "dense", name: "fc2", units: 5, act: "relu" },
    { kind: "dense", name: "fc3", units: 4, act: "sigmoid" },
    { kind: "dense", name: "fc4", units: 3, act: "none" },
  ],
};

/** 16 inputs → 8 tanh → 12 relu → 4 sigmoid → 4: every size divisible by 4, all tiled. */
const ALIGNED: DenseModel = {
  name: "aligned",
  input: [1, 4, 4],
  classes: 4,
  layers: [
    { kind: "dense", name: "fc1", units: 8, act: "tanh" },
    { kind: "dense", name: "fc2", units: 12, act: "relu" },
    { kind: "dense", name: "fc3", units: 4, act: "sigmoid" },
    { kind: "dense", name: "fc4", units: 4, act: "none" },
  ],
};

/** Finite-difference step: large enough that float32 rounding of the loss stays small. */
const EPS = 1e-2;
/**
 * ReLU inputs must stay this far from 0 so that ±EPS on one parameter cannot cross the kink:
 * such a step moves a ReLU input by about EPS·|x| ≤ EPS (inputs and tanh outputs are ≤ 1 in
 * magnitude), or less through the layer below. Seeds are searched until this holds.
 */
const KINK_MARGIN = 2 * EPS;

function activationBackward(act: Activation, z: Float32Array, y: Float32Array, dy: Float32Array) {
  switch (act) {
    case "none":
      return dy;
    case "relu":
      return ref.reluBackward({ x: z, dy });
    case "tanh":
      return ref.tanhBackward({ y, dy });
    case "sigmoid":
      return ref.sigmoidBackward({ y, dy });
  }
}

/**
 * The model's summed loss and parameter gradients on the CPU, chaining the reference ops; also
 * the smallest |z| fed to a ReLU, to check the finite differences stay off the kink.
 */
function referenceGradients(
  model: DenseModel,
  params: Map<string, Float32Array>,
  { x, labels, B }: { x: Float32Array; labels: number[]; B: number },
) {
  const zs: Float32Array[] = []; // zs[k]: (B, O_k) layer k's pre-activation output
  const acts: Float32Array[] = [x]; // acts[k]: (B, I_k) layer k's input
  let I = sizeOf(model.input);
  const dims = model.layers.map((layer) => {
    const d = { B, I, O: layer.units };
    I = layer.units;
    return d;
  });
  model.layers.forEach((layer, k) => {
    const z = ref.denseForward({
      x: acts[k]!,
      w: params.get(`${layer.name}_weight`)!,
      b: params.get(`${layer.name}_bias`)!,
    }, dims[k]!);
    zs.push(z);
    acts.push(ref.activationForward(layer.act, z));
  });
  const { loss, dlogits } = ref.softmaxCrossEntropy({ logits: acts.at(-1)!, labels }, {
    B,
    N: model.classes,
  });
  const grads = new Map<string, Float32Array>();
  let dz = dlogits;
  for (let k = model.layers.length - 1; k >= 0; k--) {
    const layer = model.layers[k]!;
    const { dx, dw, db } = ref.denseBackward(
      { dy: dz, x: acts[k]!, w: params.get(`${layer.name}_weight`)! },
      dims[k]!,
    );
    grads.set(`${layer.name}_weight`, dw);
    grads.set(`${layer.name}_bias`, db);
    if (k > 0) dz = activationBackward(model.layers[k - 1]!.act, zs[k - 1]!, acts[k]!, dx);
  }
  let reluMargin = Infinity;
  model.layers.forEach((layer, k) => {
    if (layer.act !== "relu") return;
    for (const v of zs[k]!) reluMargin = Math.min(reluMargin, Math.abs(v));
  });
  return { loss, grads, reluMargin };
}

/**
 * Each layer's variant as chooseVariants decides it: the simple rows, or (`tiled`) the ones
 * tuned for `target` (default "cpu") where the shapes allow.
 */
function pick(
  g: Gpu,
  model: ModelSpec,
  { tiled, target = "cpu" }: { tiled: boolean; target?: AdapterKind },
): string[] {
  return chooseVariants(model, {
    adapter: target,
    limits: g.device.limits,
    kernels: tiled ? "tuned" : "simple",
  });
}

interface Case {
  model: DenseModel;
  B: number;
  seed: number;
  tiled: boolean;
  target?: "cpu" | "gpu";
}

/** Random parameters (by name), inputs (B, C·H·W) and labels (B) for `model`. */
function sample(model: DenseModel, B: number, seed: number) {
  const rng = new Rng(seed);
  const params = new Map<string, Float32Array>();
  let I = sizeOf(model.input);
  for (const layer of model.layers) {
    params.set(`${layer.name}_weight`, randomArray(layer.units * I, rng, { lo: -0.8, hi: 0.8 }));
    params.set(`${layer.name}_bias`, randomArray(layer.units, rng, { lo: -0.8, hi: 0.8 }));
    I = layer.units;
  }
  const x = randomArray(B * sizeOf(model.input), rng);
  const labels = Array.from({ length: B }, () => rng.int(model.classes));
  return { params, x, labels };
}

/** The first seed from `seed` on whose ReLU inputs all stay KINK_MARGIN away from 0. */
function seedOffTheKink(model: DenseModel, B: number, seed: number): number {
  for (let s = seed; s < seed + 1000; s++) {
    const { params, x, labels } = sample(model, B, s);
    if (referenceGradients(model, params, { x, labels, B }).reluMargin > KINK_MARGIN) return s;
  }
  throw new Error(`No seed in ${seed}..${seed + 999} keeps the ReLU inputs off the kink`);
}

/** A network for `c` with random inputs, labels and parameters uploaded. */
function setup(g: Gpu, kernels: KernelCache, { model, B, seed, tiled, target }: Case) {
  const { params, x, labels } = sample(model, B, seed);
  const store = new ParamStore(g.device, model);
  store.load(params);
  const network = new Network(g.device, kernels, {
    model,
    store,
    B,
    train: true,
    variants: pick(g, model, { tiled, target }),
  });
  writeBuffer(g.device, network.x, { data: x });
  writeBuffer(g.device, network.labels, { data: Uint32Array.from(labels) });
  return { store, network, params, x, labels };
}

/** Runs forward and backward once with fresh stats; returns the GPU's stats. */
async function step(g: Gpu, network: Network) {
  const encoder = g.device.createCommandEncoder({ label: "network_test.step" });
  encoder.clearBuffer(network.stats);
  const pass = encoder.beginComputePass({ label: "network_test.step" });
  network.encodeForward(pass);
  network.encodeBackward(pass);
  pass.end();
  g.device.queue.submit([encoder.finish()]);
  const [lossSum, correct, count, nonFinite] = await readF32(g, network.stats, 4);
  return { lossSum: lossSum!, correct: correct!, count: count!, nonFinite: nonFinite! };
}

/**
 * The GPU's summed loss for each parameter set (each a whole host copy of the store's buffer),
 * in ONE submission: per set, copy it into the parameters, clear the stats, run the forward
 * pass, copy the stats out.
 */
async function lossesFor(
  g: Gpu,
  { store, network }: { store: ParamStore; network: Network },
  sets: Float32Array[],
): Promise<Float32Array> {
  const floats = store.length;
  const source = createStorage(g.device, {
    label: "network_test.sets",
    bytes: sets.length * floats * 4,
  });
  const results = createStorage(g.device, {
    label: "network_test.losses",
    bytes: sets.length * 16,
  });
  try {
    const packed = new Float32Array(sets.length * floats);
    sets.forEach((set, k) => packed.set(set, k * floats));
    writeBuffer(g.device, source, { data: packed });
    const encoder = g.device.createCommandEncoder({ label: "network_test.losses" });
    sets.forEach((_, k) => {
      encoder.copyBufferToBuffer(source, k * floats * 4, store.params, 0, floats * 4);
      encoder.clearBuffer(network.stats);
      const pass = encoder.beginComputePass({ label: "network_test.forward" });
      network.encodeForward(pass);
      pass.end();
      encoder.copyBufferToBuffer(network.stats, 0, results, k * 16, 16);
    });
    g.device.queue.submit([encoder.finish()]);
    const stats = await readRange(g.device, results);
    return Float32Array.from(sets, (_, k) => {
      assert.equal(stats[k * 4 + 3], 0, `set ${k}: the loss is finite`);
      return stats[k * 4]!;
    });
  } finally {
    source.destroy();
    results.destroy();
  }
}

async function checkGradients(g: Gpu, kernels: KernelCache, c: Case): Promise<void> {
  const { model, B } = c;
  const seed = seedOffTheKink(model, B, c.seed);
  const built = setup(g, kernels, { ...c, seed });
  const { store, network, params, x, labels } = built;
  const what = `${model.name}, B = ${B}, tiled ${c.tiled}, seed ${seed}`;
  try {
    const expected = referenceGradients(model, params, { x, labels, B });
    const stats = await step(g, network);
    assert.equal(stats.count, B);
    assert.equal(stats.nonFinite, 0);
    assertClose([stats.lossSum], [expected.loss], { rtol: 1e-5, label: `loss (${what})` });
    const grads = await store.download(store.grads);

    // 1. The GPU's gradients against the reference chain, tightly.
    for (const t of store.tensors) {
      assertClose(grads.get(t.name)!, expected.grads.get(t.name)!, {
        atol: 1e-5,
        rtol: 1e-4,
        label: `${t.name} vs reference (${what})`,
      });
    }

    // 2. Against central differences of the GPU's own loss, on every parameter. Float32
    // rounding of a loss of ~B is ~1e-6, so ~1e-4 of noise over 2·EPS; truncation is O(EPS²).
    // Measured on llvmpipe: the worst error is 1/4 of the tolerance (B = 17); dropping any
    // activation derivative from the kernels makes it 50× to 360× the tolerance.
    const host = new Float32Array(store.length);
    for (const t of store.tensors) host.set(params.get(t.name)!, t.offset);
    const sets: Float32Array[] = [];
    const steps: number[] = [];
    for (const t of store.tensors) {
      for (let i = 0; i < t.size; i++) {
        const plus = host.slice();
        const minus = host.slice();
        plus[t.offset + i] = host[t.offset + i]! + EPS;
        minus[t.offset + i] = host[t.offset + i]! - EPS;
        sets.push(plus, minus);
        steps.push(plus[t.offset + i]! - minus[t.offset + i]!); // the float32 step taken
      }
    }
    const losses = await lossesFor(g, built, sets);
    let k = 0;
    for (const t of store.tensors) {
      const numeric = new Float32Array(t.size);
      for (let i = 0; i < t.size; i++, k++) {
        numeric[i] = (losses[2 * k]! - losses[2 * k + 1]!) / steps[k]!;
      }
      assertClose(grads.get(t.name)!, numeric, {
        atol: 1e-3,
        rtol: 1e-2,
        label: `${t.name} vs finite differences (${what})`,
      });
    }
  } finally {
    network.destroy();
    store.destroy();
  }
}

for (
  const [kernelsName, tiled, target] of [
    ["simple", false, "cpu"],
    ["tiled", true, "cpu"],
    ["shared", true, "gpu"],
  ] as const
) {
  gpuTest(
    `Network gradients match finite differences through tanh, relu, sigmoid (${kernelsName}, B = 3)`,
    (g, k) => checkGradients(g, k, { model: ODD, B: 3, seed: 11, tiled, target }),
  );
  gpuTest(
    `Network gradients match finite differences with B = 1 (${kernelsName})`,
    (g, k) => checkGradients(g, k, { model: ODD, B: 1, seed: 12, tiled, target }),
  );
  gpuTest(
    `Network gradients match finite differences when every size divides 4 (${kernelsName})`,
    (g, k) => checkGradients(g, k, { model: ALIGNED, B: 4, seed: 21, tiled, target }),
  );
  gpuTest(
    `Network gradients match finite differences with B = 17, past a 16-row tile (${kernelsName})`,
    (g, k) => checkGradients(g, k, { model: ALIGNED, B: 17, seed: 22, tiled, target }),
  );
}

gpuTest("the loss ignores padded rows: PAD labels add nothing to loss or gradients", async (
  g,
  k,
) => {
  const B = 4;
  const { store, network, params, x, labels } = setup(g, k, {
    model: ODD,
    B,
    seed: 14,
    tiled: true,
  });
  try {
    // Rows 2 and 3 are padding: the result must equal a batch of the first two rows.
    writeBuffer(g.device, network.labels, {
      data: Uint32Array.from([labels[0]!, labels[1]!, 0xffffffff, 0xffffffff]),
    });
    const stats = await step(g, network);
    const grads = await store.download(store.grads);
    const expected = referenceGradients(ODD, params, {
      x: x.subarray(0, 2 * 12),
      labels: labels.slice(0, 2),
      B: 2,
    });
    assert.equal(stats.count, 2);
    assertClose([stats.lossSum], [expected.loss], { rtol: 1e-5, label: "loss" });
    for (const t of store.tensors) {
      assertClose(grads.get(t.name)!, expected.grads.get(t.name)!, {
        atol: 1e-5,
        rtol: 1e-4,
        label: t.name,
      });
    }
  } finally {
    network.destroy();
    store.destroy();
  }
});

gpuTest("a second Network of the same model and batch size creates no pipelines", (g, k) => {
  for (const tiled of [false, true]) {
    const store = new ParamStore(g.device, ALIGNED);
    const first = new Network(g.device, k, {
      model: ALIGNED,
      store,
      B: 5,
      train: true,
      variants: pick(g, ALIGNED, { tiled }),
    });
    const size = k.size;
    const second = new Network(g.device, k, {
      model: ALIGNED,
      store,
      B: 5,
      train: true,
      variants: pick(g, ALIGNED, { tiled }),
    });
    assert.equal(k.size, size, `pipelines come from the cache (tiled ${tiled})`);
    // Encoding reuses them too.
    runPass(g, (pass) => {
      second.encodeForward(pass);
      second.encodeBackward(pass);
    });
    assert.equal(k.size, size);
    first.destroy();
    second.destroy();
    store.destroy();
  }
  return Promise.resolve();
});

gpuTest("an inference Network encodes no backward dispatches", (g, k) => {
  const store = new ParamStore(g.device, ODD);
  const network = new Network(g.device, k, {
    model: ODD,
    store,
    B: 2,
    train: false,
    variants: pick(g, ODD, { tiled: true }),
  });
  assert.deepEqual(network.layers.map((l) => l.backward.length), [0, 0, 0, 0]);
  network.destroy();
  store.destroy();
  return Promise.resolve();
});

gpuTest(
  "LeNet's loss and gradients agree across the simple, CPU-tuned and GPU-tuned kernels and workgroup sizes",
  async (
    g,
    k,
  ) => {
    // Every kernel is checked against the oracle on its own; this checks how LeNet wires them
    // (flatten, pooling between convolutions, split forwards, batch slices) for each family.
    const model = lenet();
    const B = 3;
    const rng = new Rng(5);
    const x = randomArray(B * sizeOf(model.input), rng, { lo: 0, hi: 1 });
    const labels = Uint32Array.from({ length: B }, () => rng.int(model.classes));
    // Kernels sized for 128-lane subgroups: every 1-D workgroup of 128 invocations.
    const wide = new KernelCache(g.device, { subgroup: 128 });
    assert.deepEqual([8, 64, 256].map((n) => wide.workgroup(n)), [128, 128, 256]);
    const run = async (tiled: boolean, target: "cpu" | "gpu", kernels = k) => {
      const store = new ParamStore(g.device, model);
      store.initialize({ kind: "xavier" }, new Rng(6));
      const network = new Network(g.device, kernels, {
        model,
        store,
        B,
        train: true,
        variants: pick(g, model, { tiled, target }),
      });
      try {
        writeBuffer(g.device, network.x, { data: x });
        writeBuffer(g.device, network.labels, { data: labels });
        const stats = await step(g, network);
        return { stats, grads: await store.download(store.grads), store };
      } finally {
        network.destroy();
        store.destroy();
      }
    };
    const simple = await run(false, "cpu");
    assert.equal(simple.stats.count, B);
    const runs = [
      ["CPU-tuned", await run(true, "cpu")],
      ["GPU-tuned", await run(true, "gpu")],
      ["simple, 128 wide", await run(false, "cpu", wide)],
      ["CPU-tuned, 128 wide", await run(true, "cpu", wide)],
      ["GPU-tuned, 128 wide", await run(true, "gpu", wide)],
    ] as const;
    for (const [label, tuned] of runs) {
      assertClose([tuned.stats.lossSum], [simple.stats.lossSum], { rtol: 1e-5, label });
      for (const t of simple.store.tensors) {
        const want = simple.grads.get(t.name)!;
        assert.ok(want.some((v) => v !== 0), `${t.name} has a gradient`);
        assertClose(tuned.grads.get(t.name)!, want, {
          atol: 1e-5,
          rtol: 1e-3,
          label: `${label} ${t.name}`,
        });
      }
    }
  },
);

/** The MLP with its first layer `units` wide (the format allows up to 65,536). */
function wideMlp(units: number): ModelSpec {
  const model = mlp();
  (model.layers[0] as DenseSpec).units = units;
  return model;
}

Deno.test("checkParamsFit() refuses parameters over the adapter's buffer limits", () => {
  // llvmpipe's limits: 128 MiB bindings, 2 GiB buffers.
  const limits = { maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 31 - 1 };
  const adapter = "llvmpipe";
  // fc1 of 65,536 units: 65,536 × 785 floats = 196.3 MiB in one binding.
  assert.throws(
    () => checkParamsFit(wideMlp(65536), { limits, adapter, train: false }),
    (error: unknown) =>
      error instanceof UserError &&
      error.message ===
        'Model "mlp" is too large for "llvmpipe": fc1\'s parameters take 196.3 MiB, over ' +
          "the adapter's 128 MiB buffer binding limit",
  );
  // 42,744 units is the widest fc1 whose block fits; training binds all parameters at once.
  checkParamsFit(wideMlp(42744), { limits, adapter, train: false });
  assert.throws(
    () => checkParamsFit(wideMlp(42744), { limits, adapter, train: true }),
    /^UserError: Model "mlp" is too large to train on "llvmpipe": its parameters take 138\.\d MiB/,
  );
  // One unit more is 1,572 bytes over: formatOver's decimals, not "128.0 MiB, over 128 MiB".
  assert.throws(
    () => checkParamsFit(wideMlp(42745), { limits, train: false }),
    /too large for this adapter: fc1's parameters take 128\.001 MiB, over the adapter's 128 MiB /,
  );
  checkParamsFit(wideMlp(30000), { limits, adapter, train: true });
  assert.throws(
    () => checkParamsFit(mlp(), { limits: { ...limits, maxBufferSize: 1 << 18 }, train: false }),
    /its parameters take 427\.5 KiB, over the adapter's 256 KiB buffer size limit/,
  );
});
