/**
 * A convolution with the 2×2 max-pool after it fused into its tiled forward's epilogue
 * (conv2d `tiled_pool`, maxpool `fused`) against the oracle, and bit for bit against the unfused
 * pair (conv2d `tiled`, maxpool `2x2`), which stays the reference kernels.
 */
import assert from "node:assert/strict";
import type { Gpu } from "../src/gpu/device.ts";
import { countDispatches, encode, type KernelCache } from "../src/gpu/kernel.ts";
import { buildConv2d } from "../src/nn/conv2d.ts";
import type { LayerContext } from "../src/nn/layer.ts";
import { inferShapes, lenet, type ModelSpec } from "../src/nn/model.ts";
import { Network } from "../src/nn/network.ts";
import { chooseVariants } from "../src/nn/variants.ts";
import { ParamStore } from "../src/nn/params.ts";
import { buildMaxPool } from "../src/nn/pool.ts";
import { Rng } from "../src/random.ts";
import { assertClose, randomArray } from "./check.ts";
import { gpuTest, readF32, readU32, runPass, upload } from "./gpu_helpers.ts";
import * as ref from "./reference.ts";

/** B images of C channels of H×W, O 5×5 filters, then tanh and a 2×2 pool. */
interface Case {
  B: number;
  C: number;
  H: number;
  W: number;
  O: number;
}

/** Runs conv → tanh → pool forward and backward with `fused` or the unfused rows. */
async function runPair(g: Gpu, kernels: KernelCache, c: Case, fused: boolean) {
  const { B, C, H, W, O } = c;
  const model: ModelSpec = {
    name: "t",
    input: [C, H, W],
    classes: 10,
    layers: [
      { kind: "conv2d", name: "conv", filters: O, kernel: 5, stride: 1, pad: 0, act: "tanh" },
      { kind: "maxpool", name: "pool", size: 2, stride: 2, act: "none" },
    ],
  };
  const [convInfo, poolInfo] = inferShapes(model);
  const rng = new Rng(7);
  const store = new ParamStore(g.device, model);
  const w = randomArray(O * C * 25, rng, { lo: -0.1, hi: 0.1 }); // (O, C, K, K)
  const b = randomArray(O, rng); // (O)
  store.load(new Map([["conv_weight", w], ["conv_bias", b]]));
  const OH = H - 4, OW = W - 4;
  const PH = OH / 2, PW = OW / 2;
  const x = randomArray(B * C * H * W, rng); // (B, C, H, W)
  const dpool = randomArray(B * O * PH * PW, rng); // (B, O, PH, PW)
  const buffers: GPUBuffer[] = [];
  const buf = (data: Float32Array | Uint32Array) => {
    const made = upload(g, data);
    buffers.push(made);
    return made;
  };
  const xBuf = buf(x);
  const convY = buf(new Float32Array(B * O * OH * OW)); // (B, O, OH, OW)
  const dconv = buf(new Float32Array(B * O * OH * OW)); // (B, O, OH, OW)
  const poolY = buf(new Float32Array(B * O * PH * PW)); // (B, O, PH, PW)
  // (B, O, PH, PW): the fused pair's, or the unfused pool's own (allocated by it).
  let argmax = buf(new Uint32Array(B * O * PH * PW));
  const dpoolBuf = buf(dpool);
  const pooled = fused ? { pooled: { y: poolY, argmax } } : {};
  const alloc = (label: string, bytes: number) => {
    const made = buf(new Float32Array(bytes / 4));
    if (label === "argmax") argmax = made;
    return made;
  };
  const common = { device: g.device, kernels, B, store, alloc, ...pooled };
  const conv = buildConv2d({
    ...common,
    info: convInfo!,
    index: 0,
    x: xBuf,
    y: convY,
    dy: dconv,
    dx: null,
    prevAct: "none",
    variant: fused ? "tiled_pool" : "tiled",
  } as LayerContext);
  const pool = buildMaxPool({
    ...common,
    info: poolInfo!,
    index: 1,
    x: convY,
    y: poolY,
    dy: dpoolBuf,
    dx: dconv,
    prevAct: "tanh",
    variant: fused ? "fused" : "2x2",
  } as LayerContext);
  assert.equal(conv.forward.length + pool.forward.length, fused ? 1 : 2);
  runPass(g, (pass) => {
    for (const d of [...conv.forward, ...pool.forward, ...pool.backward, ...conv.backward]) {
      encode(pass, d);
    }
  });
  const out = {
    y: await readF32(g, poolY),
    argmax: await readU32(g, argmax),
    dconv: await readF32(g, dconv),
    grads: await readF32(g, store.grads),
  };
  for (const made of buffers) made.destroy();
  store.destroy();
  // The oracle: conv, tanh, pool; the pool's gradient scattered through the kernels' argmax
  // (where two candidates lie within rounding of each other the oracle may pick the other),
  // times tanh'.
  const z = ref.conv2dForward({ x, w, b }, { B, C, H, W, O, K: 5 });
  const y = ref.tanhForward(z); // (B, O, OH, OW)
  const pooledRef = ref.maxPoolForward({ x: y }, { B, C: O, H: OH, W: OW });
  const picked = Int32Array.from(out.argmax);
  const dz = ref.tanhBackward({
    y,
    dy: ref.maxPoolBackward({ dy: dpool, argmax: picked }, { B, C: O, H: OH, W: OW }),
  });
  const atPicked = Float32Array.from(picked, (i) => y[i]!);
  return { out, expected: { y: pooledRef.y, atPicked, dconv: dz } };
}

const CASES: [string, Case][] = [
  ["LeNet's conv1 and pool1", { B: 2, C: 1, H: 28, W: 28, O: 20 }],
  ["LeNet's conv2 and pool2", { B: 3, C: 20, H: 12, W: 12, O: 50 }],
  // 12 output rows: the second 8-row tile is half past the edge; 3 channels: not a whole tile
  // of 4.
  ["one image, a tile past the edge and O not a multiple of 4", {
    B: 1,
    C: 2,
    H: 16,
    W: 12,
    O: 3,
  }],
];

for (const [name, c] of CASES) {
  gpuTest(
    `conv2d tiled_pool + maxpool fused match the reference and the unfused pair: ${name}`,
    async (g, kernels) => {
      const fused = await runPair(g, kernels, c, true);
      const unfused = await runPair(g, kernels, c, false);
      assertClose(fused.out.y, fused.expected.y, { atol: 1e-5, rtol: 1e-4 });
      // Each argmax points at a maximum of its window.
      assertClose(fused.expected.atPicked, fused.expected.y, { atol: 1e-5, rtol: 1e-4 });
      assertClose(fused.out.dconv, fused.expected.dconv, { atol: 1e-5, rtol: 1e-4 });
      // The same sums in the same order: the same bits as the unfused kernels.
      for (const key of ["y", "argmax", "dconv", "grads"] as const) {
        assert.deepEqual(
          new Uint32Array(fused.out[key].buffer),
          new Uint32Array(unfused.out[key].buffer),
          `${key} differs from the unfused pair's`,
        );
      }
    },
  );
}

gpuTest(
  "LeNet's tuned CPU kernels fuse both pools: 2 dispatches fewer per step",
  async (g, kernels) => {
    const model = lenet();
    const store = new ParamStore(g.device, model);
    const tuned = chooseVariants(model, {
      adapter: "cpu",
      limits: g.device.limits,
      kernels: "tuned",
    });
    assert.deepEqual(tuned.slice(0, 4), ["tiled_pool", "fused", "tiled_pool", "fused"]);
    const unfused = ["tiled", "2x2", "tiled", "2x2", ...tuned.slice(4)];
    const count = (variants: string[]) => {
      const network = new Network(g.device, kernels, { model, store, B: 4, train: true, variants });
      const n = countDispatches((pass) => {
        network.encodeForward(pass);
        network.encodeBackward(pass);
      });
      network.destroy();
      return n;
    };
    // Forward, loss and backward (the gather and the update are one dispatch each besides).
    assert.equal(count(unfused), 18);
    assert.equal(count(tuned), 16);
    store.destroy();
    await g.device.queue.onSubmittedWorkDone();
  },
);
