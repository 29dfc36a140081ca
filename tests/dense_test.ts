/** The dense layer's kernels (kernels/dense.wgsl through src/nn/dense.ts) against the oracle. */
import { buildDense } from "../src/nn/dense.ts";
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
  { B, I, O, act, prevAct, seed, tiled, target }: {
    B: number;
    I: number;
    O: number;
    act: Activation;
    prevAct: Activation;
    seed: number;
    tiled: boolean;
    target: "cpu" | "gpu";
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
    dx: dxBuf,
    prevAct,
    tiled,
    target,
    alloc: () => {
      throw new Error("dense allocates nothing");
    },
  });
  runPass(g, (pass) => {
    for (const d of [...layer.forward, ...layer.backward]) encode(pass, d);
  });
  const y = await readF32(g, yBuf, B * O);
  const dx = await readF32(g, dxBuf, B * I);
  const grads = await store.download(store.grads);
  for (const buf of [xBuf, yBuf, dyBuf, dxBuf]) buf.destroy();
  store.destroy();
  return { x, w, b, dy, y, dx, dw: grads.get("fc_weight")!, db: grads.get("fc_bias")! };
}

// Shapes chosen to break the 4×4 and 8×8 register tiles and a 64-wide workgroup. The tiled
// (vec4) kernels need I % 4 == 0, and O % 4 == 0 for the backward; other shapes fall back to the
// simple kernels, so both variants run on every shape.
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
  { B: 100, I: 784, O: 128 }, // the MLP's layers
  { B: 100, I: 128, O: 64 },
  { B: 100, I: 64, O: 10 },
];

// simple: the reference kernels; tiled: register tiles for CPU adapters; shared: workgroup
// tiles for GPUs. All run here (on any adapter) and must agree with the oracle.
for (
  const [kind, tiled, target] of [
    ["simple", false, "cpu"],
    ["tiled", true, "cpu"],
    ["shared", true, "gpu"],
  ] as const
) {
  for (const act of ACTS) {
    gpuTest(
      `denseForward() ${kind} matches reference with ${act} on awkward shapes`,
      async (g, k) => {
        for (const [i, dims] of SHAPES.entries()) {
          const r = await runDense(
            { ...dims, act, prevAct: "none", seed: 10 + i, tiled, target },
            g,
            k,
          );
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

  gpuTest(`denseBackward() ${kind} weight and bias gradients match reference`, async (g, k) => {
    for (const [i, dims] of SHAPES.entries()) {
      const r = await runDense(
        { ...dims, act: "none", prevAct: "none", seed: 20 + i, tiled, target },
        g,
        k,
      );
      const expected = ref.denseBackward({ dy: r.dy, x: r.x, w: r.w }, dims);
      const label = JSON.stringify(dims);
      assertClose(r.dw, expected.dw, { atol: 1e-4, rtol: 1e-4, label: `dw ${label}` });
      assertClose(r.db, expected.db, { atol: 1e-4, rtol: 1e-4, label: `db ${label}` });
    }
  });

  for (const prevAct of ACTS) {
    gpuTest(`denseBackward() ${kind} input gradient applies the ${prevAct} below`, async (g, k) => {
      for (const [i, dims] of SHAPES.entries()) {
        const r = await runDense(
          { ...dims, act: "none", prevAct, seed: 30 + i, tiled, target },
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
