/** The dense layer's kernels (kernels/dense.wgsl through src/nn/dense.ts) against the oracle. */
import assert from "node:assert/strict";
import { buildDense, DENSE_TABLE, denseSplit, type DenseVariant } from "../src/nn/dense.ts";
import { encode } from "../src/gpu/kernel.ts";
import { type Activation, inferShapes, type ModelSpec } from "../src/nn/model.ts";
import { ParamStore } from "../src/nn/params.ts";
import { Rng } from "../src/random.ts";
import { assertClose, randomArray } from "./check.ts";
import { gpuTest, readF32, runPass, upload } from "./gpu_helpers.ts";
import * as ref from "./reference.ts";

const ACTS: Activation[] = ["none", "relu", "tanh", "sigmoid"];

/** Runs one dense layer on the GPU: forward, and backward with `prevAct` on the input. */
async function runDense(
  { B, I, O, act, prevAct, seed, variant, first = false }: {
    B: number;
    I: number;
    O: number;
    act: Activation;
    prevAct: Activation;
    seed: number;
    /** A row of DENSE_TABLE: run where it fits the shape, else the simple row. */
    variant: DenseVariant;
    /** A first layer: no input gradient wanted. */
    first?: boolean;
  },
  g: Parameters<Parameters<typeof gpuTest>[1]>[0],
  kernels: Parameters<Parameters<typeof gpuTest>[1]>[1],
) {
  const rng = new Rng(seed);
  const model: ModelSpec = {
    name: "t",
    input: [1, 1, I],
    classes: O,
    layers: [{ kind: "dense", name: "fc", units: O, act }],
  };
  const store = new ParamStore(g.device, model);
  const w = randomArray(O * I, rng); // (O, I)
  const b = randomArray(O, rng); // (O)
  store.load(new Map([["fc_weight", w], ["fc_bias", b]]));
  // x is the output of a layer with `prevAct`, so it lies in that activation's range.
  const x = ref.activationForward(prevAct, randomArray(B * I, rng, { lo: -2, hi: 2 })); // (B, I)
  const dy = randomArray(B * O, rng); // (B, O)
  const xBuf = upload(g, x);
  const yBuf = upload(g, new Float32Array(B * O));
  const dyBuf = upload(g, dy);
  const dxBuf = upload(g, new Float32Array(B * I));
  const owned = [xBuf, yBuf, dyBuf, dxBuf];
  const layer = buildDense({
    device: g.device,
    kernels,
    B,
    info: inferShapes(model)[0]!,
    index: 0,
    store,
    x: xBuf,
    y: yBuf,
    dy: dyBuf,
    dx: first ? null : dxBuf,
    prevAct,
    variant: DENSE_TABLE[variant].fits({ I, O }, g.device.limits) ? variant : "simple",
    alloc: (label, bytes) => {
      const buffer = upload(g, new Float32Array(bytes / 4), label);
      owned.push(buffer);
      return buffer;
    },
  });
  runPass(g, (pass) => {
    for (const d of [...layer.forward, ...layer.backward]) encode(pass, d);
  });
  const y = await readF32(g, yBuf, B * O);
  const dx = await readF32(g, dxBuf, B * I);
  const grads = await store.download(store.grads);
  for (const buf of owned) buf.destroy();
  store.destroy();
  const forward = layer.forward.map((d) => d.kernel.label);
  const backward = layer.backward.map((d) => d.kernel.label);
  const [dw, db] = [grads.get("fc_weight")!, grads.get("fc_bias")!];
  return { x, w, b, dy, y, dx, dw, db, forward, backward };
}

// Shapes chosen to break the 4×4 and 8×8 register tiles and a 64-wide workgroup. The tiled
// (vec4) kernels need I % 4 == 0, and their backward reads dz as scalars (_ragged) where
// O % 4 != 0; other shapes fall back to the simple kernels, so both variants run on every shape. The shared kernels split the forward's
// reduction where the output has few tiles: the MLP's first layer into 6 slices of 128 inputs
// and one of 16, (3, 300) → 5 into 128 + 128 + 44, LeNet's fc1 and fc2 into 2 and 4.
const SHAPES = [
  { B: 1, I: 1, O: 1 },
  { B: 1, I: 4, O: 4 },
  { B: 1, I: 5, O: 3 },
  { B: 3, I: 7, O: 5 },
  { B: 3, I: 8, O: 4 },
  { B: 5, I: 13, O: 10 },
  { B: 9, I: 12, O: 20 },
  { B: 17, I: 36, O: 44 },
  { B: 17, I: 33, O: 65 },
  { B: 21, I: 16, O: 8 }, // tiled: 16-row tiles, the last with 5 rows
  { B: 57, I: 24, O: 12 }, // tiled: 20-row tiles, the last with 17 rows
  { B: 23, I: 20, O: 19 }, // tiled, ragged: a weight tile of 16 rows and one of 3
  { B: 6, I: 8, O: 1 }, // tiled, ragged: one output
  { B: 100, I: 784, O: 128 }, // the MLP's layers
  { B: 100, I: 128, O: 64 },
  { B: 100, I: 64, O: 10 },
  { B: 3, I: 300, O: 5 },
  { B: 100, I: 800, O: 500 }, // LeNet's fully connected layers
  { B: 100, I: 500, O: 10 },
];

/** The forward kernels a dense layer of `kind` should run for `dims`. */
function expectedForward(
  kind: "simple" | "tiled" | "shared",
  dims: { B: number; I: number; O: number },
): string[] {
  if (kind === "shared" && denseSplit(dims).S > 1) {
    return ["dense_shared.dense_forward_split", "dense_shared.dense_forward_reduce"];
  }
  if (kind === "simple" || (kind === "tiled" && dims.I % 4 !== 0)) return ["dense.dense_forward"];
  // The tiled forward stores y as vec4s, or as scalars (_ragged) where O % 4 != 0.
  const ragged = kind === "tiled" && dims.O % 4 !== 0 ? "_ragged" : "";
  return [`dense_${kind}.dense_forward_${kind}${ragged}`];
}

/** The backward kernels a dense layer of `kind` should run for `dims`. */
function expectedBackward(
  kind: "simple" | "tiled" | "shared",
  dims: { I: number; O: number },
  first: boolean,
): string[] {
  if (kind === "shared") {
    return [
      first ? "dense_shared.dense_backward_weight_shared" : "dense_shared.dense_backward_shared",
    ];
  }
  const family = kind === "tiled" && dims.I % 4 === 0 ? "tiled" : "simple";
  const ragged = dims.O % 4 !== 0 ? "_ragged" : "";
  const name = family === "tiled"
    ? `dense_tiled.dense_backward_$_tiled${ragged}`
    : "dense.dense_backward_$";
  const kernels = first ? ["weight"] : ["weight", "input"];
  return kernels.map((k) => name.replace("$", k));
}

// Every row of DENSE_TABLE: simple, the reference kernels; tiled, register tiles for CPU
// adapters; shared, workgroup tiles for GPUs. All run here (on any adapter) and must agree with
// the oracle.
for (const kind of Object.keys(DENSE_TABLE) as DenseVariant[]) {
  for (const act of ACTS) {
    gpuTest(
      `denseForward() ${kind} matches reference with ${act} on awkward shapes`,
      async (g, k) => {
        for (const [i, dims] of SHAPES.entries()) {
          const r = await runDense(
            { ...dims, act, prevAct: "none", seed: 10 + i, variant: kind },
            g,
            k,
          );
          assert.deepEqual(r.forward, expectedForward(kind, dims), JSON.stringify(dims));
          const expected = ref.activationForward(
            act,
            ref.denseForward({ x: r.x, w: r.w, b: r.b }, dims),
          );
          assertClose(r.y, expected, {
            atol: 1e-4,
            rtol: 1e-4,
            label: `y ${JSON.stringify(dims)}`,
          });
        }
      },
    );
  }

  // A first layer wants no input gradient: the weight kernel runs alone.
  for (const first of [false, true]) {
    const which = first ? "of a first layer " : "";
    gpuTest(
      `denseBackward() ${kind} weight and bias gradients ${which}match reference`,
      async (g, k) => {
        for (const [i, dims] of SHAPES.entries()) {
          const r = await runDense(
            { ...dims, act: "none", prevAct: "none", seed: 20 + i, variant: kind, first },
            g,
            k,
          );
          assert.deepEqual(r.backward, expectedBackward(kind, dims, first), JSON.stringify(dims));
          const expected = ref.denseBackward({ dy: r.dy, x: r.x, w: r.w }, dims);
          const label = JSON.stringify(dims);
          assertClose(r.dw, expected.dw, { atol: 1e-4, rtol: 1e-4, label: `dw ${label}` });
          assertClose(r.db, expected.db, { atol: 1e-4, rtol: 1e-4, label: `db ${label}` });
          if (first) assert.ok(r.dx.every((v) => v === 0), `dx written ${label}`);
        }
      },
    );
  }

  for (const prevAct of ACTS) {
    gpuTest(`denseBackward() ${kind} input gradient applies the ${prevAct} below`, async (g, k) => {
      for (const [i, dims] of SHAPES.entries()) {
        const r = await runDense(
          { ...dims, act: "none", prevAct, seed: 30 + i, variant: kind },
          g,
          k,
        );
        const { dx } = ref.denseBackward({ dy: r.dy, x: r.x, w: r.w }, dims);
        const expected = ref.activationBackward(prevAct, { y: r.x, dy: dx });
        assertClose(r.dx, expected, {
          atol: 1e-4,
          rtol: 1e-4,
          label: `dx ${JSON.stringify(dims)}`,
        });
      }
    });
  }
}

Deno.test("denseSplit() splits the reduction only where the output has few tiles", () => {
  // The MLP at batch 100: 56 tiles over 784 inputs; the other layers have short reductions.
  assert.deepEqual(denseSplit({ B: 100, I: 784, O: 128 }), { S: 7, KS: 128 });
  assert.deepEqual(denseSplit({ B: 100, I: 128, O: 64 }), { S: 1, KS: 128 });
  assert.deepEqual(denseSplit({ B: 100, I: 64, O: 10 }), { S: 1, KS: 64 });
  // LeNet at batch 100: fc1 has 224 tiles, fc2 7.
  assert.deepEqual(denseSplit({ B: 100, I: 800, O: 500 }), { S: 2, KS: 416 });
  assert.deepEqual(denseSplit({ B: 100, I: 500, O: 10 }), { S: 4, KS: 128 });
  // Evaluation batches fill the GPU without splitting.
  assert.deepEqual(denseSplit({ B: 1000, I: 784, O: 128 }), { S: 1, KS: 784 });
  assert.deepEqual(denseSplit({ B: 3, I: 300, O: 5 }), { S: 3, KS: 128 });
});
