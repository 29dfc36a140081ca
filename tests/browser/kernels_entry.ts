/**
 * The browser side of tests/browser_kernels_test.ts: bundled with `deno bundle --platform
 * browser` and loaded by a page in headless Chromium, it holds the same kernel code that Deno
 * runs (the src/ modules and their kernels/*.wgsl, imported as text) to a second WebGPU
 * implementation, Chromium's Dawn with its Tint compiler:
 * - every kernels/*.wgsl module (with kernels/activation.wgsl, optimizer.wgsl or pool_common.wgsl
 *   joined where the op uses it) is compiled and its `getCompilationInfo()` messages collected,
 *   and every entry point is made into a pipeline with its default constants;
 * - the forward and backward of every row of DENSE_TABLE, CONV2D_TABLE and POOL_TABLE run on
 *   small awkward shapes through the same builders (buildDense, buildConv2d, buildMaxPool) and
 *   are compared with tests/reference.ts, `|gpu - ref| <= atol + rtol · |ref|`.
 * `globalThis.runKernelChecks()` returns a {@link KernelReport} as plain JSON.
 * @module
 */
import activationCode from "../../kernels/activation.wgsl" with { type: "text" };
import poolCommonCode from "../../kernels/pool_common.wgsl" with { type: "text" };
import { readBuffer } from "../../src/gpu/buffer.ts";
import { encode, KernelCache, type Program } from "../../src/gpu/kernel.ts";
import {
  buildConv2d,
  CONV2D,
  CONV2D_TABLE,
  CONV2D_TILED,
  CONV2D_VEC4,
  conv2dShape,
} from "../../src/nn/conv2d.ts";
import { buildDense, DENSE, DENSE_SHARED, DENSE_TABLE, DENSE_TILED } from "../../src/nn/dense.ts";
import type { Layer } from "../../src/nn/layer.ts";
import { SOFTMAX } from "../../src/nn/loss.ts";
import { type Activation, inferShapes, type ModelSpec } from "../../src/nn/model.ts";
import { ADAM, SGD } from "../../src/nn/optimizer.ts";
import { ParamStore } from "../../src/nn/params.ts";
import { buildMaxPool, POOL, POOL_2X2, POOL_TABLE, poolShape } from "../../src/nn/pool.ts";
import { Rng } from "../../src/random.ts";
import { GATHER } from "../../src/train/feeder.ts";
import * as ref from "../reference.ts";

/** One message of `GPUShaderModule.getCompilationInfo()`. */
export interface CompileMessage {
  /** "error", "warning" or "info". */
  type: string;
  /** Tint's text. */
  message: string;
  /** 1-based line in the module's code (activation.wgsl joined first where used); 0 if none. */
  line: number;
}

/** What Tint said about one module, and the entry points that failed to become pipelines. */
export interface ModuleReport {
  /** The module's name (the .wgsl file's base name). */
  name: string;
  /** Its compilation messages. */
  messages: CompileMessage[];
  /** Entry points found in the code. */
  entries: string[];
  /** `entry: error` for each entry point whose pipeline (default constants) failed. */
  pipelineErrors: string[];
}

/** One layer run through one row of its op's table, against the reference. */
export interface CheckReport {
  /** "dense", "conv2d" or "maxpool". */
  op: string;
  /** The row's name. */
  variant: string;
  /** The layer's shape, as text. */
  shape: string;
  /** The pipelines the layer dispatched (`module.entry`), forward then backward. */
  kernels: string[];
  /** Each output's first mismatch, or the failure; empty when everything agrees. */
  problems: string[];
  /** Each output's largest |gpu - ref|. */
  maxError: Record<string, number>;
}

/** Everything the page found. */
export interface KernelReport {
  /** The adapter's description or vendor and architecture. */
  adapter: string;
  /** One per module. */
  modules: ModuleReport[];
  /** One per (op, row, shape) that fits. */
  checks: CheckReport[];
  /** Rows that did not fit a shape: `op/variant shape`. */
  skipped: string[];
  /** Validation errors that escaped the error scopes. */
  uncaptured: string[];
}

/**
 * Every kernels/*.wgsl module as the engine compiles it. kernels/optimizer.wgsl is compiled only
 * joined, in SGD and ADAM: it reads the `no_decay` table that each of them binds.
 */
const PROGRAMS: Program[] = [
  { name: "activation", code: activationCode },
  { name: "pool_common", code: poolCommonCode },
  DENSE,
  DENSE_TILED,
  DENSE_SHARED,
  CONV2D,
  CONV2D_TILED,
  CONV2D_VEC4,
  POOL,
  POOL_2X2,
  SOFTMAX,
  SGD,
  ADAM,
  GATHER,
];

const ATOL = 1e-5;
const RTOL = 1e-4;

function randomArray(n: number, rng: Rng, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(lo, hi);
  return a;
}

/** The first element where |actual - expected| > ATOL + RTOL·|expected|, and the largest error. */
function compare(
  name: string,
  actual: Float32Array,
  expected: Float32Array,
): { problem?: string; max: number } {
  if (actual.length !== expected.length) {
    return { problem: `${name}: ${actual.length} values, expected ${expected.length}`, max: NaN };
  }
  let max = 0;
  let problem: string | undefined;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i]! - expected[i]!);
    if (!(err <= max)) max = err;
    if (problem === undefined && !(err <= ATOL + RTOL * Math.abs(expected[i]!))) {
      problem = `${name}[${i}]: gpu ${actual[i]}, reference ${expected[i]}`;
    }
  }
  return { problem, max };
}

async function compileModules(device: GPUDevice): Promise<ModuleReport[]> {
  const reports: ModuleReport[] = [];
  for (const program of PROGRAMS) {
    const module = device.createShaderModule({ label: program.name, code: program.code });
    const info = await module.getCompilationInfo();
    const entries = [...program.code.matchAll(/@compute[^;{]*?fn\s+(\w+)/g)].map((m) => m[1]!);
    const pipelineErrors: string[] = [];
    for (const entry of entries) {
      device.pushErrorScope("validation");
      try {
        await device.createComputePipelineAsync({
          label: `${program.name}.${entry}`,
          layout: "auto",
          compute: { module, entryPoint: entry },
        });
      } catch (error) {
        pipelineErrors.push(`${entry}: ${(error as Error).message}`);
      }
      const scoped = await device.popErrorScope();
      if (scoped) pipelineErrors.push(`${entry}: ${scoped.message}`);
    }
    reports.push({
      name: program.name,
      messages: info.messages.map((m) => ({ type: m.type, message: m.message, line: m.lineNum })),
      entries,
      pipelineErrors,
    });
  }
  return reports;
}

/** Buffers of one check, destroyed together. */
class Buffers {
  readonly #device: GPUDevice;
  readonly #owned: GPUBuffer[] = [];
  constructor(device: GPUDevice) {
    this.#device = device;
  }
  /** A storage buffer holding `data` (copyable both ways). */
  upload(data: Float32Array, label = "test"): GPUBuffer {
    const buffer = this.#device.createBuffer({
      label,
      size: Math.max(16, Math.ceil(data.byteLength / 16) * 16),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.#device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
    this.#owned.push(buffer);
    return buffer;
  }
  /** A zeroed buffer of `bytes`. */
  zeros(bytes: number, label = "test"): GPUBuffer {
    return this.upload(new Float32Array(bytes / 4), label);
  }
  destroy(): void {
    for (const b of this.#owned) b.destroy();
  }
}

async function read(device: GPUDevice, buffer: GPUBuffer, count: number): Promise<Float32Array> {
  return new Float32Array(await readBuffer(device, buffer)).slice(0, count);
}

function run(device: GPUDevice, layer: Layer): void {
  const encoder = device.createCommandEncoder({ label: "test" });
  const pass = encoder.beginComputePass({ label: "test" });
  for (const d of [...layer.forward, ...layer.backward]) encode(pass, d);
  pass.end();
  device.queue.submit([encoder.finish()]);
}

/** Runs `body` in a validation scope; an error there or thrown becomes a problem. */
async function scoped(
  device: GPUDevice,
  base: Omit<CheckReport, "problems" | "maxError" | "kernels">,
  body: () => Promise<Omit<CheckReport, keyof typeof base | "problems"> & { problems: string[] }>,
): Promise<CheckReport> {
  device.pushErrorScope("validation");
  let result: CheckReport;
  try {
    result = { ...base, ...(await body()) };
  } catch (error) {
    result = { ...base, kernels: [], maxError: {}, problems: [`threw: ${error}`] };
  }
  const error = await device.popErrorScope();
  if (error) result.problems.push(`validation: ${error.message}`);
  return result;
}

function judge(
  outputs: [string, Float32Array, Float32Array][],
): { problems: string[]; maxError: Record<string, number> } {
  const problems: string[] = [];
  const maxError: Record<string, number> = {};
  for (const [name, actual, expected] of outputs) {
    const { problem, max } = compare(name, actual, expected);
    maxError[name] = max;
    if (problem) problems.push(problem);
  }
  return { problems, maxError };
}

const DENSE_SHAPES = [
  { B: 1, I: 4, O: 1 },
  { B: 3, I: 7, O: 5 }, // I % 4 != 0: only the simple and shared rows fit
  { B: 6, I: 8, O: 3 }, // tiled, ragged gradients (O % 4 != 0)
  { B: 17, I: 36, O: 44 }, // partial 16×16 tiles
  { B: 3, I: 300, O: 5 }, // shared: the forward split into slices
];

async function checkDense(
  device: GPUDevice,
  kernels: KernelCache,
  { B, I, O }: { B: number; I: number; O: number },
  variant: string,
): Promise<CheckReport> {
  const act: Activation = "tanh";
  const prevAct: Activation = "sigmoid";
  const shape = `B=${B} I=${I} O=${O}`;
  return await scoped(device, { op: "dense", variant, shape }, async () => {
    const rng = new Rng(B * 1000 + I * 10 + O);
    const model: ModelSpec = {
      name: "t",
      input: [1, 1, I],
      classes: O,
      layers: [{ kind: "dense", name: "fc", units: O, act }],
    };
    const store = new ParamStore(device, model);
    const bufs = new Buffers(device);
    try {
      const w = randomArray(O * I, rng); // (O, I)
      const b = randomArray(O, rng); // (O)
      store.load(new Map([["fc_weight", w], ["fc_bias", b]]));
      const x = ref.activationForward(prevAct, randomArray(B * I, rng, -2, 2)); // (B, I)
      const dy = randomArray(B * O, rng); // (B, O)
      const [xBuf, yBuf, dyBuf, dxBuf] = [
        bufs.upload(x),
        bufs.zeros(B * O * 4),
        bufs.upload(dy),
        bufs.zeros(B * I * 4),
      ];
      const layer = buildDense({
        device,
        kernels,
        B,
        info: inferShapes(model)[0]!,
        index: 0,
        store,
        x: xBuf!,
        y: yBuf!,
        dy: dyBuf!,
        dx: dxBuf!,
        prevAct,
        variant,
        alloc: (label, bytes) => bufs.zeros(bytes, label),
      });
      run(device, layer);
      const grads = await store.download(store.grads);
      const want = ref.denseBackward({ dy, x, w }, { B, I, O });
      return {
        kernels: [...layer.forward, ...layer.backward].map((d) => d.kernel.label),
        ...judge([
          [
            "y",
            await read(device, yBuf!, B * O),
            ref.activationForward(act, ref.denseForward({ x, w, b }, { B, I, O })),
          ],
          [
            "dx",
            await read(device, dxBuf!, B * I),
            ref.activationBackward(prevAct, { y: x, dy: want.dx }),
          ],
          ["dw", grads.get("fc_weight")!, want.dw],
          ["db", grads.get("fc_bias")!, want.db],
        ]),
      };
    } finally {
      bufs.destroy();
      store.destroy();
    }
  });
}

const CONV_SHAPES = [
  { B: 2, C: 3, H: 9, W: 8, O: 5, K: 5, stride: 1, pad: 0 }, // unrolled: 5×4 outputs
  { B: 1, C: 1, H: 12, W: 12, O: 7, K: 5, stride: 1, pad: 0 }, // unrolled: O not a multiple of 4
  { B: 2, C: 2, H: 7, W: 6, O: 3, K: 3, stride: 2, pad: 1 }, // simple only: stride and padding
];

async function checkConv2d(
  device: GPUDevice,
  kernels: KernelCache,
  dims: (typeof CONV_SHAPES)[number],
  variant: string,
): Promise<CheckReport> {
  const { B, C, H, W, O, K, stride, pad } = dims;
  const act: Activation = "relu";
  const prevAct: Activation = "tanh";
  const shape = `B=${B} C=${C} H=${H} W=${W} O=${O} K=${K} stride=${stride} pad=${pad}`;
  return await scoped(device, { op: "conv2d", variant, shape }, async () => {
    const rng = new Rng(B * 100 + C * 10 + H + W + O);
    const model: ModelSpec = {
      name: "t",
      input: [C, H, W],
      classes: O,
      layers: [{ kind: "conv2d", name: "conv", filters: O, kernel: K, stride, pad, act }],
    };
    const info = inferShapes(model)[0]!;
    const { OH, OW } = conv2dShape(info);
    const store = new ParamStore(device, model);
    const bufs = new Buffers(device);
    try {
      const w = randomArray(O * C * K * K, rng); // (O, C, K, K)
      const b = randomArray(O, rng); // (O)
      store.load(new Map([["conv_weight", w], ["conv_bias", b]]));
      const x = ref.activationForward(prevAct, randomArray(B * C * H * W, rng, -2, 2)); // (B, C, H, W)
      const dy = randomArray(B * O * OH * OW, rng); // (B, O, OH, OW)
      const [xBuf, yBuf, dyBuf, dxBuf] = [
        bufs.upload(x),
        bufs.zeros(B * O * OH * OW * 4),
        bufs.upload(dy),
        bufs.zeros(B * C * H * W * 4),
      ];
      const layer = buildConv2d({
        device,
        kernels,
        B,
        info,
        index: 0,
        store,
        x: xBuf!,
        y: yBuf!,
        dy: dyBuf!,
        dx: dxBuf!,
        prevAct,
        variant,
        alloc: (label, bytes) => bufs.zeros(bytes, label),
      });
      run(device, layer);
      const grads = await store.download(store.grads);
      const refDims = { B, C, H, W, O, K, stride, pad };
      const want = ref.conv2dBackward({ dy, x, w }, refDims);
      return {
        kernels: [...layer.forward, ...layer.backward].map((d) => d.kernel.label),
        ...judge([
          [
            "y",
            await read(device, yBuf!, B * O * OH * OW),
            ref.activationForward(act, ref.conv2dForward({ x, w, b }, refDims)),
          ],
          [
            "dx",
            await read(device, dxBuf!, B * C * H * W),
            ref.activationBackward(prevAct, { y: x, dy: want.dx }),
          ],
          ["dw", grads.get("conv_weight")!, want.dw],
          ["db", grads.get("conv_bias")!, want.db],
        ]),
      };
    } finally {
      bufs.destroy();
      store.destroy();
    }
  });
}

const POOL_SHAPES = [
  { B: 2, C: 3, H: 6, W: 16, K: 2, stride: 2 }, // 2×2 path, H ≠ W
  { B: 1, C: 3, H: 5, W: 7, K: 2, stride: 2 }, // drops the last row and column
  { B: 2, C: 2, H: 5, W: 7, K: 3, stride: 2 }, // overlapping windows
];

async function checkPool(
  device: GPUDevice,
  kernels: KernelCache,
  dims: (typeof POOL_SHAPES)[number],
  variant: string,
): Promise<CheckReport> {
  const { B, C, H, W, K, stride } = dims;
  const prevAct: Activation = "relu";
  const shape = `B=${B} C=${C} H=${H} W=${W} K=${K} stride=${stride}`;
  return await scoped(device, { op: "maxpool", variant, shape }, async () => {
    const rng = new Rng(B * 100 + C * 10 + H + W);
    const model: ModelSpec = {
      name: "t",
      input: [C, H, W],
      classes: 1,
      layers: [{ kind: "maxpool", name: "pool", size: K, stride, act: "none" }],
    };
    const info = inferShapes(model)[0]!;
    const { OH, OW } = poolShape(info);
    const store = new ParamStore(device, model);
    const bufs = new Buffers(device);
    try {
      const x = ref.activationForward(prevAct, randomArray(B * C * H * W, rng)); // (B, C, H, W)
      const dy = randomArray(B * C * OH * OW, rng); // (B, C, OH, OW)
      const [xBuf, yBuf, dyBuf, dxBuf] = [
        bufs.upload(x),
        bufs.zeros(B * C * OH * OW * 4),
        bufs.upload(dy),
        bufs.upload(new Float32Array(B * C * H * W).fill(7)),
      ];
      const layer = buildMaxPool({
        device,
        kernels,
        B,
        info,
        index: 0,
        store,
        x: xBuf!,
        y: yBuf!,
        dy: dyBuf!,
        dx: dxBuf!,
        prevAct,
        variant,
        alloc: (label, bytes) => bufs.zeros(bytes, label),
      });
      run(device, layer);
      const refDims = { B, C, H, W, K, stride };
      const want = ref.maxPoolForward({ x }, refDims);
      return {
        kernels: [...layer.forward, ...layer.backward].map((d) => d.kernel.label),
        ...judge([
          ["y", await read(device, yBuf!, B * C * OH * OW), want.y],
          [
            "dx",
            await read(device, dxBuf!, B * C * H * W),
            ref.activationBackward(prevAct, {
              y: x,
              dy: ref.maxPoolBackward({ dy, argmax: want.argmax }, refDims),
            }),
          ],
        ]),
      };
    } finally {
      bufs.destroy();
      store.destroy();
    }
  });
}

/** Rows that run only as a pair (a convolution that pools in its epilogue, and its pool). */
const PAIRED = new Set(["conv2d/tiled_pool", "maxpool/fused"]);

/**
 * conv2d `tiled_pool` → maxpool `fused` (tanh between) on one shape, against the reference:
 * the pool's output, the convolution's pre-activation gradient and its weight gradients;
 * reported once for each of the two rows.
 */
async function checkConvPool(device: GPUDevice, kernels: KernelCache): Promise<CheckReport[]> {
  // 12×8 convolution outputs: the second 8-row tile lies half past the edge; O = 3.
  const [B, C, H, W, O, K] = [2, 2, 16, 12, 3, 5];
  const shape = `B=${B} C=${C} H=${H} W=${W} O=${O} K=${K}, then a 2×2 pool`;
  const report = await scoped(device, { op: "conv2d", variant: "tiled_pool", shape }, async () => {
    const rng = new Rng(1612);
    const model: ModelSpec = {
      name: "t",
      input: [C, H, W],
      classes: 10,
      layers: [
        { kind: "conv2d", name: "conv", filters: O, kernel: K, stride: 1, pad: 0, act: "tanh" },
        { kind: "maxpool", name: "pool", size: 2, stride: 2, act: "none" },
      ],
    };
    const [convInfo, poolInfo] = inferShapes(model);
    const [OH, OW] = [H - K + 1, W - K + 1];
    const [PH, PW] = [OH / 2, OW / 2];
    const store = new ParamStore(device, model);
    const bufs = new Buffers(device);
    try {
      const w = randomArray(O * C * K * K, rng, -0.2, 0.2); // (O, C, K, K)
      const b = randomArray(O, rng); // (O)
      store.load(new Map([["conv_weight", w], ["conv_bias", b]]));
      const x = randomArray(B * C * H * W, rng); // (B, C, H, W)
      const dpool = randomArray(B * O * PH * PW, rng); // (B, O, PH, PW)
      const [xBuf, convY, dconv, poolY, argmax, dpoolBuf] = [
        bufs.upload(x),
        bufs.zeros(B * O * OH * OW * 4),
        bufs.zeros(B * O * OH * OW * 4),
        bufs.zeros(B * O * PH * PW * 4),
        bufs.zeros(B * O * PH * PW * 4),
        bufs.upload(dpool),
      ];
      const common = {
        device,
        kernels,
        B,
        store,
        alloc: (label: string, bytes: number) => bufs.zeros(bytes, label),
        pooled: { y: poolY!, argmax: argmax! },
      };
      const conv = buildConv2d({
        ...common,
        info: convInfo!,
        index: 0,
        x: xBuf!,
        y: convY!,
        dy: dconv!,
        dx: null,
        prevAct: "none",
        variant: "tiled_pool",
      });
      const pool = buildMaxPool({
        ...common,
        info: poolInfo!,
        index: 1,
        x: convY!,
        y: poolY!,
        dy: dpoolBuf!,
        dx: dconv!,
        prevAct: "tanh",
        variant: "fused",
      });
      const layer: Layer = {
        name: "conv+pool",
        forward: conv.forward,
        backward: [...pool.backward, ...conv.backward],
      };
      run(device, layer);
      const refDims = { B, C, H, W, O, K };
      const y = ref.activationForward("tanh", ref.conv2dForward({ x, w, b }, refDims));
      const poolDims = { B, C: O, H: OH, W: OW };
      const want = ref.maxPoolForward({ x: y }, poolDims);
      const dz = ref.activationBackward("tanh", {
        y,
        dy: ref.maxPoolBackward({ dy: dpool, argmax: want.argmax }, poolDims),
      });
      const grads = await store.download(store.grads);
      const dw = ref.conv2dBackward({ dy: dz, x, w }, refDims);
      return {
        kernels: [...layer.forward, ...layer.backward].map((d) => d.kernel.label),
        ...judge([
          ["y", await read(device, poolY!, B * O * PH * PW), want.y],
          ["dconv", await read(device, dconv!, B * O * OH * OW), dz],
          ["dw", grads.get("conv_weight")!, dw.dw],
          ["db", grads.get("conv_bias")!, dw.db],
        ]),
      };
    } finally {
      bufs.destroy();
      store.destroy();
    }
  });
  return [report, { ...report, op: "maxpool", variant: "fused" }];
}

/** Compiles every module and runs every table row on every shape it fits. */
export async function runKernelChecks(): Promise<KernelReport> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("navigator.gpu.requestAdapter() gave no adapter");
  // WebGPU's default limits: what every kernel must run on.
  const device = await adapter.requestDevice({ label: "browser-kernels" });
  const uncaptured: string[] = [];
  device.addEventListener("uncapturederror", (event) => {
    uncaptured.push((event as GPUUncapturedErrorEvent).error.message);
  });
  const info = adapter.info;
  const name = info.description || [info.vendor, info.architecture].filter(Boolean).join(" ");
  const modules = await compileModules(device);
  const kernels = new KernelCache(device);
  const checks: CheckReport[] = [];
  const skipped: string[] = [];
  const limits = device.limits;
  for (const dims of DENSE_SHAPES) {
    for (const [variant, row] of Object.entries(DENSE_TABLE)) {
      if (!row.fits(dims, limits)) skipped.push(`dense/${variant} ${JSON.stringify(dims)}`);
      else checks.push(await checkDense(device, kernels, dims, variant));
    }
  }
  for (const dims of CONV_SHAPES) {
    const { B: _, ...rest } = dims;
    const OH = Math.floor((dims.H + 2 * dims.pad - dims.K) / dims.stride) + 1;
    const OW = Math.floor((dims.W + 2 * dims.pad - dims.K) / dims.stride) + 1;
    const layerShape = { ...rest, OH, OW };
    for (const [variant, row] of Object.entries(CONV2D_TABLE)) {
      if (PAIRED.has(`conv2d/${variant}`)) continue;
      if (!row.fits(layerShape, limits)) skipped.push(`conv2d/${variant} ${JSON.stringify(dims)}`);
      else checks.push(await checkConv2d(device, kernels, dims, variant));
    }
  }
  for (const dims of POOL_SHAPES) {
    const OH = Math.floor((dims.H - dims.K) / dims.stride) + 1;
    const OW = Math.floor((dims.W - dims.K) / dims.stride) + 1;
    const { C, H, W, K: size, stride } = dims;
    const layerShape = { C, H, W, size, stride, OH, OW };
    for (const [variant, row] of Object.entries(POOL_TABLE)) {
      if (PAIRED.has(`maxpool/${variant}`)) continue;
      if (!row.fits(layerShape, limits)) skipped.push(`maxpool/${variant} ${JSON.stringify(dims)}`);
      else checks.push(await checkPool(device, kernels, dims, variant));
    }
  }
  checks.push(...await checkConvPool(device, kernels));
  await device.queue.onSubmittedWorkDone();
  device.destroy();
  return { adapter: name, modules, checks, skipped, uncaptured };
}

(globalThis as { runKernelChecks?: typeof runKernelChecks }).runKernelChecks = runKernelChecks;
