/** The max-pool kernels (kernels/pool.wgsl through src/nn/pool.ts) against the oracle. */
import assert from "node:assert/strict";
import { createStorage } from "../src/gpu/buffer.ts";
import type { Gpu } from "../src/gpu/device.ts";
import { encode, type KernelCache } from "../src/gpu/kernel.ts";
import { type Activation, inferShapes, type ModelSpec } from "../src/nn/model.ts";
import { ParamStore } from "../src/nn/params.ts";
import { buildMaxPool, usesPool2x2 } from "../src/nn/pool.ts";
import { Rng } from "../src/random.ts";
import { assertClose, randomArray } from "./check.ts";
import { gpuTest, readF32, readU32, runPass, upload } from "./gpu_helpers.ts";
import * as ref from "./reference.ts";

interface PoolCase {
  B: number;
  C: number;
  H: number;
  W: number;
  /** Window size. */
  K: number;
  stride: number;
}

/** What the layer below produced: `prevAct` of uniform values, or a few repeated levels. */
function makeInput(n: number, prevAct: Activation, rng: Rng, ties: boolean): Float32Array {
  const z = randomArray(n, rng, { lo: -2, hi: 2 });
  // Three levels make ties in most 2×2 windows, including ties of the maximum.
  if (ties) { for (let i = 0; i < n; i++) z[i] = Math.round(z[i]!) / 2; }
  return ref.activationForward(prevAct, z);
}

/** Runs one max-pool layer on the GPU, forward then backward, and its reference. */
async function runPool(
  g: Gpu,
  kernels: KernelCache,
  { shape, prevAct, seed, ties = false, input, tiled = true }: {
    shape: PoolCase;
    prevAct: Activation;
    seed: number;
    ties?: boolean;
    /** Run POOL_TABLE's 2×2 row where it fits the shape (else the simple row). */
    tiled?: boolean;
    /** Explicit x and dy instead of random ones. */
    input?: { x: Float32Array; dy: Float32Array };
  },
) {
  const { B, C, H, W, K, stride } = shape;
  const rng = new Rng(seed);
  const model: ModelSpec = {
    name: "t",
    input: [C, H, W],
    classes: 1,
    layers: [{ kind: "maxpool", name: "pool", size: K, stride, act: "none" }],
  };
  const info = inferShapes(model)[0]!;
  const [, OH, OW] = info.output as [number, number, number];
  const store = new ParamStore(g.device, model);
  const x = input?.x ?? makeInput(B * C * H * W, prevAct, rng, ties); // (B, C, H, W)
  const dy = input?.dy ?? randomArray(B * C * OH * OW, rng); // (B, C, OH, OW)
  const owned: GPUBuffer[] = [];
  const xBuf = upload(g, x);
  const yBuf = upload(g, new Float32Array(B * C * OH * OW));
  const dyBuf = upload(g, dy);
  // Filled with garbage: the gather must write every element, zeros included.
  const dxBuf = upload(g, new Float32Array(B * C * H * W).fill(7));
  owned.push(xBuf, yBuf, dyBuf, dxBuf);
  let argmaxBuf: GPUBuffer | undefined;
  const fast = tiled && usesPool2x2({ size: K, stride, H, W, OH, OW });
  const layer = buildMaxPool({
    device: g.device,
    kernels,
    B,
    info,
    index: 0,
    store,
    x: xBuf,
    y: yBuf,
    dy: dyBuf,
    dx: dxBuf,
    prevAct,
    variant: fast ? "2x2" : "simple",
    alloc: (label, bytes) => {
      argmaxBuf = createStorage(g.device, { label, bytes });
      owned.push(argmaxBuf);
      return argmaxBuf;
    },
  });
  assert.ok(argmaxBuf, "buildMaxPool must allocate its argmax buffer");
  const dispatches = [...layer.forward, ...layer.backward];
  runPass(g, (pass) => {
    for (const d of dispatches) encode(pass, d);
  });
  // The kernels that ran must be the ones this shape calls for.
  const suffix = fast ? "_2x2" : "";
  const module = fast ? "pool_2x2" : "pool";
  assert.deepEqual(
    dispatches.map((d) => d.kernel.label),
    [`${module}.maxpool_forward${suffix}`, `${module}.maxpool_backward${suffix}`],
  );
  const y = await readF32(g, yBuf, B * C * OH * OW);
  const argmax = await readU32(g, argmaxBuf, B * C * OH * OW);
  const dx = await readF32(g, dxBuf, B * C * H * W);
  for (const buf of owned) buf.destroy();
  store.destroy();
  const dims = { B, C, H, W, K, stride };
  const expected = ref.maxPoolForward({ x }, dims);
  const dxRef = ref.activationBackward(prevAct, {
    y: x,
    dy: ref.maxPoolBackward({ dy, argmax: expected.argmax }, dims),
  });
  return { y, argmax, dx, expected: { ...expected, dx: dxRef } };
}

const SHAPES: PoolCase[] = [
  { B: 4, C: 20, H: 24, W: 24, K: 2, stride: 2 }, // LeNet's pool1
  { B: 3, C: 50, H: 8, W: 8, K: 2, stride: 2 }, // LeNet's pool2
  { B: 1, C: 1, H: 2, W: 2, K: 2, stride: 2 }, // one window
  { B: 1, C: 3, H: 5, W: 7, K: 2, stride: 2 }, // drops the last row and column
  { B: 2, C: 3, H: 9, W: 6, K: 3, stride: 3 },
  { B: 2, C: 2, H: 5, W: 7, K: 3, stride: 2 }, // overlapping windows
  { B: 1, C: 2, H: 6, W: 5, K: 2, stride: 1 }, // overlapping, stride 1
  { B: 1, C: 1, H: 4, W: 9, K: 1, stride: 2 }, // windows that skip pixels
  { B: 2, C: 3, H: 6, W: 16, K: 2, stride: 2 }, // 2×2 path, H ≠ W, OH = 3
];

const ACTS: Activation[] = ["none", "relu", "tanh", "sigmoid"];

/** The output size of a pool case. */
function out({ H, W, K, stride }: PoolCase): { OH: number; OW: number } {
  return ref.maxPoolOutputShape({ H, W, K, stride });
}

/** The first mismatch between two index arrays, or "" when equal. */
function firstMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>): string {
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) return `[${i}] actual ${actual[i]}, expected ${expected[i]}`;
  }
  return "";
}

for (const tiled of [false, true]) {
  const kind = tiled ? "2×2 fast path" : "general";
  gpuTest(`maxPoolForward() ${kind} matches reference values and argmax`, async (g, k) => {
    for (const [i, shape] of SHAPES.entries()) {
      const r = await runPool(g, k, { shape, prevAct: "tanh", seed: 100 + i, tiled });
      const label = JSON.stringify(shape);
      assertClose(r.y, r.expected.y, { atol: 0, rtol: 0, label: `y ${label}` });
      assert.equal(r.argmax.length, r.expected.argmax.length);
      assert.equal(firstMismatch(r.argmax, r.expected.argmax), "", `argmax ${label}`);
    }
  });

  gpuTest(`maxPoolForward() ${kind} picks the first maximum of a window on ties`, async (g, k) => {
    for (const [i, shape] of SHAPES.entries()) {
      const r = await runPool(g, k, { shape, prevAct: "none", seed: 200 + i, ties: true, tiled });
      const label = JSON.stringify(shape);
      assert.equal(firstMismatch(r.argmax, r.expected.argmax), "", `argmax with ties ${label}`);
      assertClose(r.dx, r.expected.dx, { atol: 1e-6, rtol: 1e-6, label: `dx with ties ${label}` });
    }
  });

  for (const prevAct of ACTS) {
    gpuTest(
      `maxPoolBackward() ${kind} routes dy to the argmax and applies the ${prevAct} below`,
      async (g, k) => {
        for (const [i, shape] of SHAPES.entries()) {
          const r = await runPool(g, k, { shape, prevAct, seed: 300 + i, tiled });
          // Overlapping windows may add several dy into one element, in another order.
          assertClose(r.dx, r.expected.dx, {
            atol: 1e-6,
            rtol: 1e-5,
            label: `dx ${JSON.stringify(shape)}`,
          });
        }
      },
    );
  }
}

Deno.test("maxPool layers take the 2×2 fast path exactly where windows tile the input", () => {
  const lenet1 = { size: 2, stride: 2, H: 24, W: 24, OH: 12, OW: 12 };
  assert.equal(usesPool2x2(lenet1), true);
  assert.equal(usesPool2x2({ size: 2, stride: 2, H: 8, W: 8, OH: 4, OW: 4 }), true);
  assert.equal(usesPool2x2({ ...lenet1, H: 25 }), false); // a dropped row
  assert.equal(usesPool2x2({ size: 2, stride: 2, H: 12, W: 12, OH: 6, OW: 6 }), false);
  assert.equal(usesPool2x2({ ...lenet1, size: 3 }), false);
  assert.equal(SHAPES.filter((s) => usesPool2x2({ size: s.K, ...s, ...out(s) })).length, 3);
});

gpuTest("maxPoolBackward() sums every window that picked an element when windows overlap", async (
  g,
  k,
) => {
  // 2×2 windows at stride 1 over a 3×3 image peaked in the middle: all four pick the centre.
  const shape = { B: 1, C: 1, H: 3, W: 3, K: 2, stride: 1 };
  const x = new Float32Array([0, 0, 0, 0, 1, 0, 0, 0, 0]);
  const dy = new Float32Array([1, 2, 3, 4]);
  const r = await runPool(g, k, { shape, prevAct: "none", seed: 400, input: { x, dy } });
  assert.deepEqual(Array.from(r.argmax), [4, 4, 4, 4]);
  assert.deepEqual(Array.from(r.dx), [0, 0, 0, 0, 10, 0, 0, 0, 0]);
});
