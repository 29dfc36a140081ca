/**
 * The convolution layer's kernels (kernels/conv2d.wgsl and kernels/conv2d_tiled.wgsl through
 * src/nn/conv2d.ts) against the oracle, on LeNet's real shapes and on shapes chosen to break
 * tiles: batch 1, one or three channels, O not a multiple of 4, 8 or 16, H ≠ W, K = 3 and 5,
 * stride 2, padding, outputs that do not divide the tiles.
 */
import type { Gpu } from "../src/gpu/device.ts";
import { encode, type KernelCache } from "../src/gpu/kernel.ts";
import { buildConv2d } from "../src/nn/conv2d.ts";
import { type Activation, inferShapes, type ModelSpec } from "../src/nn/model.ts";
import { ParamStore } from "../src/nn/params.ts";
import { Rng } from "../src/random.ts";
import { assertClose, randomArray } from "./check.ts";
import { gpuTest, readF32, runPass, upload } from "./gpu_helpers.ts";
import * as ref from "./reference.ts";

const ACTS: Activation[] = ["none", "relu", "tanh", "sigmoid"];

function activate(act: Activation, z: Float32Array): Float32Array {
  switch (act) {
    case "none":
      return z;
    case "relu":
      return ref.reluForward(z);
    case "tanh":
      return ref.tanhForward(z);
    case "sigmoid":
      return ref.sigmoidForward(z);
  }
}

/** d act / dz applied to `dy`, from the activation's output `y`. */
function activationBackward(act: Activation, y: Float32Array, dy: Float32Array): Float32Array {
  switch (act) {
    case "none":
      return dy;
    case "relu":
      return ref.reluBackward({ x: y, dy });
    case "tanh":
      return ref.tanhBackward({ y, dy });
    case "sigmoid":
      return ref.sigmoidBackward({ y, dy });
  }
}

type Shape = Required<ref.Conv2dDims>;

/** Runs one convolution layer on the GPU: forward, and backward with `prevAct` on the input. */
async function runConv(
  g: Gpu,
  kernels: KernelCache,
  { shape, act, prevAct, seed, tiled }: {
    shape: Shape;
    act: Activation;
    prevAct: Activation;
    seed: number;
    tiled: boolean;
  },
) {
  const { B, C, H, W, O, K, stride, pad } = shape;
  const rng = new Rng(seed);
  const model: ModelSpec = {
    name: "t",
    input: [C, H, W],
    classes: 1,
    layers: [{ kind: "conv2d", name: "conv", filters: O, kernel: K, stride, pad, act }],
  };
  const info = inferShapes(model)[0]!;
  const [, OH, OW] = info.output as [number, number, number];
  const store = new ParamStore(g.device, model);
  const w = randomArray(O * C * K * K, rng); // (O, C, K, K)
  const b = randomArray(O, rng); // (O)
  store.load(new Map([["conv_weight", w], ["conv_bias", b]]));
  // x is the output of a layer with `prevAct`, so it lies in that activation's range.
  const x = activate(prevAct, randomArray(B * C * H * W, rng, { lo: -2, hi: 2 })); // (B, C, H, W)
  const dy = randomArray(B * O * OH * OW, rng); // (B, O, OH, OW)
  const owned = [
    upload(g, x),
    upload(g, new Float32Array(B * O * OH * OW)),
    upload(g, dy),
    upload(g, new Float32Array(B * C * H * W)),
  ];
  const [xBuf, yBuf, dyBuf, dxBuf] = owned as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
  const layer = buildConv2d({
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
    tiled,
    alloc: (label, bytes) => {
      const buffer = upload(g, new Float32Array(bytes / 4), label);
      owned.push(buffer);
      return buffer;
    },
  });
  runPass(g, (pass) => {
    for (const d of [...layer.forward, ...layer.backward]) encode(pass, d);
  });
  const y = await readF32(g, yBuf, B * O * OH * OW);
  const dx = await readF32(g, dxBuf, B * C * H * W);
  const grads = await store.download(store.grads);
  for (const buf of owned) buf.destroy();
  store.destroy();
  return { x, w, b, dy, y, dx, dw: grads.get("conv_weight")!, db: grads.get("conv_bias")! };
}

const shape = (s: ref.Conv2dDims): Shape => ({ stride: 1, pad: 0, ...s });

/**
 * LeNet's two convolutions, then shapes that break the tiles and the index arithmetic. The
 * tiled kernels take stride 1, no padding and W % 4 == 0; the others run the simple kernels,
 * so every case runs under both settings.
 */
const SHAPES: Shape[] = [
  shape({ B: 3, C: 1, H: 28, W: 28, O: 20, K: 5 }), // LeNet conv1
  shape({ B: 2, C: 20, H: 12, W: 12, O: 50, K: 5 }), // LeNet conv2
  shape({ B: 1, C: 1, H: 5, W: 5, O: 1, K: 5 }), // one output
  shape({ B: 1, C: 3, H: 7, W: 6, O: 5, K: 3 }), // H ≠ W
  shape({ B: 2, C: 3, H: 9, W: 11, O: 7, K: 3, stride: 2, pad: 1 }),
  shape({ B: 3, C: 2, H: 10, W: 8, O: 13, K: 5, pad: 1 }),
  shape({ B: 2, C: 1, H: 13, W: 17, O: 17, K: 5, stride: 2 }),
  shape({ B: 1, C: 4, H: 6, W: 4, O: 9, K: 3, pad: 2 }), // pad > K / 2
  shape({ B: 2, C: 3, H: 11, W: 20, O: 6, K: 5 }), // OW = 16, OH = 7
  shape({ B: 5, C: 2, H: 9, W: 12, O: 18, K: 3 }), // OW = 10: not a multiple of 4 or 8
  shape({ B: 1, C: 5, H: 14, W: 4, O: 3, K: 3 }), // OW = 2, narrower than a vec4
  shape({ B: 3, C: 1, H: 8, W: 36, O: 33, K: 5 }), // O = 33, OW = 32
];

const close = { atol: 2e-4, rtol: 2e-4 };

for (const tiled of [false, true]) {
  const kind = tiled ? "tiled" : "simple";
  for (const act of ACTS) {
    gpuTest(`conv2dForward() ${kind} matches reference with ${act} on awkward shapes`, async (
      g,
      k,
    ) => {
      for (const [i, s] of SHAPES.entries()) {
        const r = await runConv(g, k, { shape: s, act, prevAct: "none", seed: 10 + i, tiled });
        const expected = activate(act, ref.conv2dForward({ x: r.x, w: r.w, b: r.b }, s));
        assertClose(r.y, expected, { ...close, label: `y ${JSON.stringify(s)}` });
      }
    });
  }

  gpuTest(`conv2dBackward() ${kind} weight and bias gradients match reference`, async (g, k) => {
    for (const [i, s] of SHAPES.entries()) {
      const r = await runConv(g, k, {
        shape: s,
        act: "none",
        prevAct: "none",
        seed: 20 + i,
        tiled,
      });
      const expected = ref.conv2dBackward({ dy: r.dy, x: r.x, w: r.w }, s);
      const label = JSON.stringify(s);
      assertClose(r.dw, expected.dw, { ...close, label: `dw ${label}` });
      assertClose(r.db, expected.db, { ...close, label: `db ${label}` });
    }
  });

  for (const prevAct of ACTS) {
    gpuTest(`conv2dBackward() ${kind} input gradient applies the ${prevAct} below`, async (
      g,
      k,
    ) => {
      for (const [i, s] of SHAPES.entries()) {
        const r = await runConv(g, k, { shape: s, act: "none", prevAct, seed: 30 + i, tiled });
        const { dx } = ref.conv2dBackward({ dy: r.dy, x: r.x, w: r.w }, s);
        const expected = activationBackward(prevAct, r.x, dx);
        assertClose(r.dx, expected, { ...close, label: `dx ${JSON.stringify(s)}` });
      }
    });
  }
}
