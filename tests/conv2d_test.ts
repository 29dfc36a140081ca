/**
 * The convolution layer's kernels (kernels/conv2d.wgsl, conv2d_tiled.wgsl and conv2d_vec4.wgsl,
 * through src/nn/conv2d.ts) against the oracle, on LeNet's real shapes and on shapes chosen to
 * break tiles: batch 1, one or three channels, O not a multiple of 4, 8 or 16, H ≠ W, K = 3 and 5,
 * stride 2, padding, outputs that do not divide the tiles.
 */
import assert from "node:assert/strict";
import type { Gpu } from "../src/gpu/device.ts";
import { encode, type KernelCache } from "../src/gpu/kernel.ts";
import { CONV2D_TILES } from "../kernels/tiles.ts";
import {
  buildConv2d,
  CONV2D_TABLE,
  type Conv2dShape,
  type Conv2dVariant,
  weightSlices,
} from "../src/nn/conv2d.ts";
import { type Activation, inferShapes, type ModelSpec } from "../src/nn/model.ts";
import { ParamStore } from "../src/nn/params.ts";
import { Rng } from "../src/random.ts";
import { assertClose, randomArray } from "./check.ts";
import { gpuTest, readF32, runPass, upload } from "./gpu_helpers.ts";
import * as ref from "./reference.ts";

const ACTS: Activation[] = ["none", "relu", "tanh", "sigmoid"];

type Shape = Required<ref.Conv2dDims>;

/** Runs one convolution layer on the GPU: forward, and backward with `prevAct` on the input. */
async function runConv(
  g: Gpu,
  kernels: KernelCache,
  { shape, act, prevAct, seed, variant, first = false }: {
    shape: Shape;
    act: Activation;
    prevAct: Activation;
    seed: number;
    /** A row of CONV2D_TABLE: run where it fits the shape, else the simple row. */
    variant: Conv2dVariant;
    /** A first layer: no input gradient wanted. */
    first?: boolean;
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
  const x = ref.activationForward(prevAct, randomArray(B * C * H * W, rng, { lo: -2, hi: 2 })); // (B, C, H, W)
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
    dx: first ? null : dxBuf,
    prevAct,
    variant: fitting(shape, variant),
    alloc: (label, bytes) => {
      const buffer = upload(g, new Float32Array(bytes / 4), label);
      owned.push(buffer);
      return buffer;
    },
  });
  const dispatches = [...layer.forward, ...layer.backward];
  runPass(g, (pass) => {
    for (const d of dispatches) encode(pass, d);
  });
  const y = await readF32(g, yBuf, B * O * OH * OW);
  const dx = await readF32(g, dxBuf, B * C * H * W);
  const grads = await store.download(store.grads);
  for (const buf of owned) buf.destroy();
  store.destroy();
  return {
    x,
    w,
    b,
    dy,
    y,
    dx,
    dw: grads.get("conv_weight")!,
    db: grads.get("conv_bias")!,
    labels: dispatches.map((d) => d.kernel.label),
  };
}

/** The limits `fits` sees in tests without a device (WebGPU's defaults). */
const LIMITS = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupStorageSize: 16384 };

/** The layer shape CONV2D_TABLE's rows see for test shape `s`. */
function layerShape(s: Shape): Conv2dShape {
  const { C, H, W, O, K, stride, pad } = s;
  const OH = Math.floor((H + 2 * pad - K) / stride) + 1;
  const OW = Math.floor((W + 2 * pad - K) / stride) + 1;
  return { C, H, W, O, K, stride, pad, OH, OW };
}

/** `variant` where its row fits `s`, else the simple row. */
function fitting(s: Shape, variant: Conv2dVariant): Conv2dVariant {
  return CONV2D_TABLE[variant].fits(layerShape(s), LIMITS) ? variant : "simple";
}

/** Which kernels runConv should have run for `s`, so a test knows it exercised the fast ones. */
function expectedLabels(s: Shape, variant: Conv2dVariant, first = false): string[] {
  const { B, C, O, K } = s;
  const { OH, OW } = layerShape(s);
  const kernels = fitting(s, variant);
  const { PLANE } = CONV2D_TILES.INPUT;
  const v = {
    kernels,
    input: kernels === "tiled" && (OH > PLANE || OW > PLANE) ? "simple" : kernels,
  };
  const sliced = weightSlices({ B, O, C, K }, v.kernels).S > 1;
  const label = (kind: Conv2dVariant, entry: string) =>
    kind === "simple" ? `conv2d.${entry}` : `conv2d_${kind}.${entry}_${kind}`;
  // The tiled weight gradients store their slices tile by tile and always sum them (even S = 1);
  // the simple one writes the gradient range itself where S = 1.
  const sum = v.kernels === "tiled"
    ? ["conv2d_tiled.conv2d_sum_slices_tiled"]
    : sliced
    ? ["conv2d.conv2d_sum_slices"]
    : [];
  const forward = label(v.kernels, "conv2d_forward");
  // Tiled outputs 8 wide keep their x rows in a sliding window (slidesRows).
  const weight = v.kernels === "tiled" && OW === 8
    ? "conv2d_tiled.conv2d_backward_weight_tiled_rows"
    : label(v.kernels, "conv2d_backward_weight");
  // The vec4 kernels compute both gradients in one dispatch.
  if (v.kernels === "vec4" && !first) return [forward, label("vec4", "conv2d_backward"), ...sum];
  return [
    forward,
    weight,
    ...sum,
    ...(first ? [] : [label(v.input, "conv2d_backward_input")]),
  ];
}

const shape = (s: ref.Conv2dDims): Shape => ({ stride: 1, pad: 0, ...s });

/**
 * LeNet's two convolutions, then shapes that break the tiles and the index arithmetic. The
 * tiled and vec4 kernels take K = 5, stride 1, no padding and W % 4 == 0 (the tiled input
 * gradient also OH, OW <= 8); the others run the simple kernels, so every case runs under every
 * setting. The vec4 kernels' channel tiles of 5 meet O and C of 1, 3, 7, 13, 31 and 33.
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
  shape({ B: 2, C: 3, H: 8, W: 8, O: 7, K: 5 }), // a 4×4 plane, odd C
  shape({ B: 1, C: 1, H: 11, W: 12, O: 6, K: 5 }), // OH = 7, OW = 8
  shape({ B: 3, C: 3, H: 12, W: 12, O: 10, K: 5 }), // OW = 8, odd C: a channel pair half past C
  shape({ B: 5, C: 20, H: 9, W: 12, O: 31, K: 5 }), // batch slices of 2, 2 and 1 images
  shape({ B: 5, C: 100, H: 6, W: 8, O: 50, K: 5 }), // 5000 rows of weights, 10 (b, oh) pairs
  shape({ B: 100, C: 1, H: 28, W: 28, O: 20, K: 5 }), // conv1 at batch 100: 256-wide vec4 rows
  // 32,550 parameters: the tiled kernels' two uniform windows (32,768 floats) nearly full.
  shape({ B: 2, C: 26, H: 12, W: 12, O: 50, K: 5 }),
];

const close = { atol: 2e-4, rtol: 2e-4 };

// Every row of CONV2D_TABLE: simple, the reference kernels; tiled, register tiles for CPU
// adapters; vec4, register tiles for GPUs (run here on the CPU adapter all the same). tiled_pool,
// which writes its pool's output instead of its own, is checked with its pool in
// tests/conv_pool_fused_test.ts.
const ROWS = (Object.keys(CONV2D_TABLE) as Conv2dVariant[]).filter((v) => v !== "tiled_pool");
for (const kind of ROWS) {
  for (const act of ACTS) {
    gpuTest(`conv2dForward() ${kind} matches reference with ${act} on awkward shapes`, async (
      g,
      k,
    ) => {
      for (const [i, s] of SHAPES.entries()) {
        const r = await runConv(g, k, {
          shape: s,
          act,
          prevAct: "none",
          seed: 10 + i,
          variant: kind,
        });
        assert.deepEqual(
          r.labels,
          expectedLabels(s, kind),
          `kernels for ${JSON.stringify(s)}`,
        );
        const expected = ref.activationForward(
          act,
          ref.conv2dForward({ x: r.x, w: r.w, b: r.b }, s),
        );
        assertClose(r.y, expected, { ...close, label: `y ${JSON.stringify(s)}` });
      }
    });
  }

  // A first layer wants no input gradient: the weight kernel runs alone.
  for (const first of [false, true]) {
    const which = first ? "of a first layer " : "";
    gpuTest(`conv2dBackward() ${kind} weight and bias gradients ${which}match reference`, async (
      g,
      k,
    ) => {
      for (const [i, s] of SHAPES.entries()) {
        const r = await runConv(g, k, {
          shape: s,
          act: "none",
          prevAct: "none",
          seed: 20 + i,
          variant: kind,
          first,
        });
        const label = JSON.stringify(s);
        assert.deepEqual(r.labels, expectedLabels(s, kind, first), label);
        const expected = ref.conv2dBackward({ dy: r.dy, x: r.x, w: r.w }, s);
        assertClose(r.dw, expected.dw, { ...close, label: `dw ${label}` });
        assertClose(r.db, expected.db, { ...close, label: `db ${label}` });
        if (first) assert.ok(r.dx.every((v) => v === 0), `dx written ${label}`);
      }
    });
  }

  for (const prevAct of ACTS) {
    gpuTest(`conv2dBackward() ${kind} input gradient applies the ${prevAct} below`, async (
      g,
      k,
    ) => {
      for (const [i, s] of SHAPES.entries()) {
        const r = await runConv(g, k, {
          shape: s,
          act: "none",
          prevAct,
          seed: 30 + i,
          variant: kind,
        });
        const { dx } = ref.conv2dBackward({ dy: r.dy, x: r.x, w: r.w }, s);
        const expected = ref.activationBackward(prevAct, { y: r.x, dy: dx });
        assertClose(r.dx, expected, { ...close, label: `dx ${JSON.stringify(s)}` });
      }
    });
  }
}

Deno.test(
  "conv2d layers run the tuned kernels on LeNet's shapes and the simple ones elsewhere",
  () => {
    const lenet1 = shape({ B: 1, C: 1, H: 28, W: 28, O: 20, K: 5 });
    const lenet2 = shape({ B: 1, C: 20, H: 12, W: 12, O: 50, K: 5 });
    const PLANE = CONV2D_TILES.INPUT.PLANE;
    for (const variant of ["tiled", "vec4"] as const) {
      assert.equal(fitting(lenet1, variant), variant);
      assert.equal(fitting(lenet2, variant), variant);
      assert.equal(fitting({ ...lenet2, pad: 1 }, variant), "simple");
      assert.equal(fitting({ ...lenet2, W: 13 }, variant), "simple");
      assert.equal(fitting({ ...lenet2, K: 3 }, variant), "simple");
      assert.equal(fitting({ ...lenet2, stride: 2 }, variant), "simple");
    }
    // The tiled kernels read the parameters through two 64 KiB uniform windows: up to 32,768
    // floats (O·C·K·K + O).
    assert.equal(fitting({ ...lenet2, C: 26 }, "tiled"), "tiled"); // 32,550
    assert.equal(fitting({ ...lenet2, C: 27 }, "tiled"), "simple"); // 33,800
    assert.equal(fitting({ ...lenet2, C: 27 }, "vec4"), "vec4");
    // The tiled input gradient takes conv2's 8×8 planes, not conv1's 24×24.
    assert.ok(layerShape(lenet1).OH > PLANE && layerShape(lenet2).OH <= PLANE);
    assert.deepEqual(expectedLabels(lenet1, "tiled").at(-1), "conv2d.conv2d_backward_input");
    assert.deepEqual(
      expectedLabels(lenet2, "tiled").at(-1),
      "conv2d_tiled.conv2d_backward_input_tiled",
    );
    // LeNet's conv1 has two weight tiles, so its batch is sliced to the image; conv2 has 100. The
    // simple kernel has an invocation per weight: a GPU wants more than conv1's 500. The vec4
    // kernel shares the batch out within a workgroup per row of weights, and never slices.
    const lenetConv1 = { B: 100, O: 20, C: 1, K: 5 };
    const lenetConv2 = { B: 100, O: 50, C: 20, K: 5 };
    assert.deepEqual(weightSlices(lenetConv1, "tiled"), { S: 100, BS: 1 });
    assert.deepEqual(weightSlices(lenetConv2, "tiled"), { S: 2, BS: 50 });
    assert.deepEqual(weightSlices(lenetConv1, "simple"), { S: 100, BS: 1 });
    assert.deepEqual(weightSlices(lenetConv2, "simple"), { S: 5, BS: 20 });
    assert.deepEqual(weightSlices(lenetConv1, "vec4"), { S: 1, BS: 100 });
    assert.deepEqual(weightSlices(lenetConv2, "vec4"), { S: 1, BS: 100 });
    assert.deepEqual(weightSlices({ B: 5, O: 31, C: 20, K: 5 }, "tiled"), { S: 3, BS: 2 });
    assert.deepEqual(weightSlices({ B: 1, O: 20, C: 1, K: 5 }, "tiled"), { S: 1, BS: 1 });
    // How many cases each kernel family sees, so the tuned kernels cannot go untested.
    const cases = SHAPES.flatMap((s) =>
      [false, true].flatMap((first) => [
        ...expectedLabels(s, "tiled", first),
        ...expectedLabels(s, "vec4", first),
      ])
    );
    const count = (label: string) => cases.filter((l) => l === label).length;
    assert.ok(count("conv2d_tiled.conv2d_forward_tiled") >= 6);
    assert.ok(count("conv2d_tiled.conv2d_backward_weight_tiled") >= 4);
    assert.ok(count("conv2d_tiled.conv2d_backward_weight_tiled_rows") >= 6);
    assert.ok(count("conv2d_tiled.conv2d_sum_slices_tiled") >= 8);
    assert.ok(count("conv2d_tiled.conv2d_backward_input_tiled") >= 4);
    assert.ok(count("conv2d_vec4.conv2d_forward_vec4") >= 6);
    assert.ok(count("conv2d_vec4.conv2d_backward_vec4") >= 6);
    assert.ok(count("conv2d_vec4.conv2d_backward_weight_vec4") >= 6);
  },
);
