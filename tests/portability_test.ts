/**
 * Portability: the networks on a device opened with WebGPU's default limits only (no
 * `requiredLimits`: 256 invocations and 16 KiB of workgroup memory per workgroup, 128 MiB per
 * storage binding), with workgroups sized for 4- and 128-lane subgroups. Each configuration's
 * chosen variants are pinned, and one training step's loss and parameter gradients are checked
 * against tests/reference.ts chained on the CPU. The kernel tests run the same way with
 * MNIST_DEFAULT_LIMITS=1 and MNIST_TEST_SUBGROUP=4 or 128 (see tests/gpu_helpers.ts).
 */
import assert from "node:assert/strict";
import { acquireGpu, DEFAULT_LIMITS_ENV, type Gpu } from "../src/gpu/device.ts";
import { KernelCache } from "../src/gpu/kernel.ts";
import {
  type Conv2dSpec,
  type DenseSpec,
  inferShapes,
  lenet,
  type MaxPoolSpec,
  type ModelSpec,
  sizeOf,
} from "../src/nn/model.ts";
import { Network } from "../src/nn/network.ts";
import { ParamStore } from "../src/nn/params.ts";
import { chooseVariants, tunedVariant } from "../src/nn/variants.ts";
import { UserError } from "../src/errors.ts";
import { Rng } from "../src/random.ts";
import { assertClose, randomArray } from "./check.ts";
import * as ref from "./reference.ts";

/** WebGPU's default limits (the spec's "Limits" table) that the kernels' fits consult or need. */
const SPEC_DEFAULTS = {
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupStorageSize: 16384,
  maxStorageBufferBindingSize: 134217728,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupsPerDimension: 65535,
};

async function open(): Promise<Gpu | null> {
  try {
    return await acquireGpu("auto", { defaultLimits: true });
  } catch (error) {
    if (!(error instanceof UserError) || Deno.env.get("MNIST_REQUIRE_GPU") === "1") throw error;
    console.warn(`Portability tests skipped: ${error.message}`);
    return null;
  }
}

const gpu = await open();
// Destroyed at the end of the test process, as tests/gpu_helpers.ts does with its device.
globalThis.addEventListener("unload", () => gpu?.device.destroy());

function gpuTest(name: string, fn: (g: Gpu) => Promise<void>): void {
  Deno.test({
    name,
    ignore: gpu === null,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => fn(gpu!),
  });
}

/**
 * 20×20 → conv1 5×5 (4, tanh) → 2×2 pool → conv2 5×5 (3, sigmoid) → 2×2 pool (2×2 outputs: the
 * 2×2 kernels' OW % 4 does not hold) → fc1 (12 → 8, relu) → fc2 (8 → 4): every op, each with the
 * tuned rows where the shapes allow and the simple ones where not.
 */
const SMALL_NET: ModelSpec = {
  name: "small",
  input: [1, 20, 20],
  classes: 4,
  layers: [
    { kind: "conv2d", name: "conv1", filters: 4, kernel: 5, stride: 1, pad: 0, act: "tanh" },
    { kind: "maxpool", name: "pool1", size: 2, stride: 2, act: "none" },
    { kind: "conv2d", name: "conv2", filters: 3, kernel: 5, stride: 1, pad: 0, act: "sigmoid" },
    { kind: "maxpool", name: "pool2", size: 2, stride: 2, act: "none" },
    { kind: "flatten", name: "flatten", act: "none" },
    { kind: "dense", name: "fc1", units: 8, act: "relu" },
    { kind: "dense", name: "fc2", units: 4, act: "none" },
  ],
};

/** 12 inputs → 7 tanh → 3: I % 4 != 0 in fc2, so the CPU-tuned run mixes tiled and simple. */
const SMALL_MLP: ModelSpec = {
  name: "mlp-small",
  input: [1, 3, 4],
  classes: 3,
  layers: [
    { kind: "dense", name: "fc1", units: 7, act: "tanh" },
    { kind: "dense", name: "fc2", units: 3, act: "none" },
  ],
};

/** Each model's tuned variants per adapter kind on a device with the spec's default limits. */
const EXPECTED: Record<string, Record<"cpu" | "gpu", string[]>> = {
  small: {
    cpu: ["tiled_pool", "fused", "tiled", "simple", "simple", "tiled", "tiled"],
    gpu: ["vec4", "2x2", "vec4", "simple", "simple", "shared", "shared"],
  },
  "mlp-small": { cpu: ["tiled", "simple"], gpu: ["shared", "shared"] },
};

/**
 * The summed loss and the parameter gradients of one batch on the CPU: the reference ops
 * chained forward, then backward through each layer's pre-activation gradient.
 */
function referenceStep(
  model: ModelSpec,
  params: Map<string, Float32Array>,
  { x, labels, B }: { x: Float32Array; labels: Uint32Array; B: number },
): { loss: number; grads: Map<string, Float32Array> } {
  const infos = inferShapes(model);
  const outs: Float32Array[] = [x]; // outs[k]: (B, ...input of layer k), after activations
  const argmaxes: (Int32Array | null)[] = [];
  infos.forEach((info, k) => {
    const spec = info.spec;
    const input = outs[k]!;
    const [C, H, W] = info.input as [number, number, number];
    let z: Float32Array;
    let argmax: Int32Array | null = null;
    if (spec.kind === "conv2d") {
      const s = spec as Conv2dSpec;
      z = ref.conv2dForward({
        x: input,
        w: params.get(`${s.name}_weight`)!,
        b: params.get(`${s.name}_bias`)!,
      }, { B, C, H, W, O: s.filters, K: s.kernel, stride: s.stride, pad: s.pad });
    } else if (spec.kind === "maxpool") {
      const s = spec as MaxPoolSpec;
      const r = ref.maxPoolForward({ x: input }, { B, C, H, W, K: s.size, stride: s.stride });
      [z, argmax] = [r.y, r.argmax];
    } else if (spec.kind === "dense") {
      const s = spec as DenseSpec;
      z = ref.denseForward({
        x: input,
        w: params.get(`${s.name}_weight`)!,
        b: params.get(`${s.name}_bias`)!,
      }, { B, I: sizeOf(info.input), O: s.units });
    } else {
      z = input;
    }
    argmaxes.push(argmax);
    outs.push(ref.activationForward(spec.act, z));
  });
  const { loss, dlogits } = ref.softmaxCrossEntropy({ logits: outs.at(-1)!, labels }, {
    B,
    N: model.classes,
  });
  const grads = new Map<string, Float32Array>();
  let dz = dlogits; // the loss's gradient w.r.t. layer k's pre-activation output
  for (let k = infos.length - 1; k >= 0; k--) {
    const info = infos[k]!;
    const spec = info.spec;
    const [C, H, W] = info.input as [number, number, number];
    let dIn: Float32Array;
    if (spec.kind === "conv2d") {
      const s = spec as Conv2dSpec;
      const r = ref.conv2dBackward(
        { dy: dz, x: outs[k]!, w: params.get(`${s.name}_weight`)! },
        { B, C, H, W, O: s.filters, K: s.kernel, stride: s.stride, pad: s.pad },
      );
      grads.set(`${s.name}_weight`, r.dw);
      grads.set(`${s.name}_bias`, r.db);
      dIn = r.dx;
    } else if (spec.kind === "maxpool") {
      const s = spec as MaxPoolSpec;
      dIn = ref.maxPoolBackward({ dy: dz, argmax: argmaxes[k]! }, {
        B,
        C,
        H,
        W,
        K: s.size,
        stride: s.stride,
      });
    } else if (spec.kind === "dense") {
      const s = spec as DenseSpec;
      const r = ref.denseBackward(
        { dy: dz, x: outs[k]!, w: params.get(`${s.name}_weight`)! },
        { B, I: sizeOf(info.input), O: s.units },
      );
      grads.set(`${s.name}_weight`, r.dw);
      grads.set(`${s.name}_bias`, r.db);
      dIn = r.dx;
    } else {
      dIn = dz;
    }
    if (k > 0) dz = ref.activationBackward(infos[k - 1]!.spec.act, { y: outs[k]!, dy: dIn });
  }
  return { loss, grads };
}

async function readStats(device: GPUDevice, stats: GPUBuffer): Promise<Float32Array> {
  const staging = device.createBuffer({
    label: "portability.stats",
    size: 16,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const encoder = device.createCommandEncoder({ label: "portability.stats" });
    encoder.copyBufferToBuffer(stats, 0, staging, 0, 16);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return new Float32Array(staging.getMappedRange().slice(0));
  } finally {
    staging.destroy();
  }
}

/** One training step of `model` with `variants` on `kernels`: the GPU's loss and gradients. */
async function gpuStep(
  g: Gpu,
  kernels: KernelCache,
  { model, variants, x, labels, store, B }: {
    model: ModelSpec;
    variants: string[];
    x: Float32Array;
    labels: Uint32Array;
    store: ParamStore;
    B: number;
  },
): Promise<{ loss: number; grads: Map<string, Float32Array> }> {
  const network = new Network(g.device, kernels, { model, store, B, train: true, variants });
  try {
    g.device.queue.writeBuffer(network.x, 0, x as Float32Array<ArrayBuffer>);
    g.device.queue.writeBuffer(network.labels, 0, labels as Uint32Array<ArrayBuffer>);
    const encoder = g.device.createCommandEncoder({ label: "portability.step" });
    encoder.clearBuffer(network.stats);
    const pass = encoder.beginComputePass({ label: "portability.step" });
    network.encodeForward(pass);
    network.encodeBackward(pass);
    pass.end();
    g.device.queue.submit([encoder.finish()]);
    const [loss] = await readStats(g.device, network.stats);
    g.checkErrors();
    return { loss: loss!, grads: await store.download(store.grads) };
  } finally {
    network.destroy();
  }
}

Deno.test({
  name: `${DEFAULT_LIMITS_ENV}=1 opens the device with WebGPU's default limits`,
  ignore: gpu === null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const before = Deno.env.get(DEFAULT_LIMITS_ENV);
    Deno.env.set(DEFAULT_LIMITS_ENV, "1");
    let g: Gpu;
    try {
      g = await acquireGpu("auto");
    } finally {
      if (before === undefined) Deno.env.delete(DEFAULT_LIMITS_ENV);
      else Deno.env.set(DEFAULT_LIMITS_ENV, before);
    }
    try {
      for (const [name, value] of Object.entries(SPEC_DEFAULTS)) {
        assert.equal(g.device.limits[name as keyof GPUSupportedLimits], value, name);
      }
    } finally {
      g.device.destroy();
    }
  },
});

Deno.test("a row that needs more than the device allows does not fit, and the simple row runs", () => {
  const [conv1, , , , , fc1] = inferShapes(lenet());
  const small = { maxComputeInvocationsPerWorkgroup: 128, maxComputeWorkgroupStorageSize: 16384 };
  // dense_shared.wgsl's 16×16 workgroups need 256 invocations.
  assert.equal(tunedVariant(fc1!, { adapter: "gpu", limits: SPEC_DEFAULTS }), "shared");
  assert.equal(tunedVariant(fc1!, { adapter: "gpu", limits: small }), "simple");
  // Their two 32×33 f32 tiles need 8448 bytes of workgroup memory.
  const noStorage = {
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupStorageSize: 8192,
  };
  assert.equal(tunedVariant(fc1!, { adapter: "gpu", limits: noStorage }), "simple");
  // conv2d_vec4.wgsl's partial sums: 6 f32 for each of up to 256 invocations, 6144 bytes.
  assert.equal(tunedVariant(conv1!, { adapter: "gpu", limits: SPEC_DEFAULTS }), "vec4");
  const tiny = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupStorageSize: 4096 };
  assert.equal(tunedVariant(conv1!, { adapter: "gpu", limits: tiny }), "simple");
});

for (const subgroup of [4, 128]) {
  gpuTest(
    `with default limits and ${subgroup}-lane subgroups, the tuned networks match the reference`,
    async (g) => {
      const kernels = new KernelCache(g.device, { subgroup });
      // 1-D workgroups are whole subgroups, within the default 256 invocations.
      assert.deepEqual(
        [8, 64, 256].map((n) => kernels.workgroup(n)),
        subgroup === 4 ? [8, 64, 256] : [128, 128, 256],
      );
      for (const model of [SMALL_NET, SMALL_MLP]) {
        const B = 3;
        const rng = new Rng(11);
        const x = randomArray(B * sizeOf(model.input), rng, { lo: 0, hi: 1 });
        const labels = Uint32Array.from({ length: B }, () => rng.int(model.classes));
        const store = new ParamStore(g.device, model);
        try {
          store.initialize({ kind: "xavier" }, new Rng(12));
          const params = await store.download(store.params);
          const want = referenceStep(model, params, { x, labels, B });
          for (const target of ["cpu", "gpu"] as const) {
            const variants = chooseVariants(model, {
              adapter: target,
              limits: g.device.limits,
              kernels: "tuned",
            });
            assert.deepEqual(
              variants,
              EXPECTED[model.name]![target],
              `${model.name} on a ${target}`,
            );
            const got = await gpuStep(g, kernels, { model, variants, x, labels, store, B });
            const label = `${model.name}, ${target}-tuned, subgroup ${subgroup}`;
            assertClose([got.loss], [want.loss], { rtol: 1e-5, label: `${label} loss` });
            for (const [name, grad] of want.grads) {
              assertClose(got.grads.get(name)!, grad, {
                atol: 1e-5,
                rtol: 1e-3,
                label: `${label} ${name}`,
              });
            }
          }
        } finally {
          store.destroy();
        }
      }
    },
  );
}
