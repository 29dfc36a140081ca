/**
 * What a kernel pays for each way of reading and writing memory on this adapter: a vec4 read
 * per invocation from a storage buffer, a uniform buffer and a sampled texture (rgba32float), a
 * vec4 written to a storage buffer and to a storage texture, and a buffer copied into a texture.
 * On llvmpipe (Mesa 22.3) these decide the tiled kernels' shapes: it reads a storage buffer lane
 * by lane (`emit_load_mem` in `lp_bld_nir_soa.c`), a uniform with one gather per register, a
 * texel through the sampler's vectorised fetch; docs/llvmpipe-kernels.md has the figures and the
 * kernel experiments they explain.
 *
 *     deno run --allow-read --allow-env bench/load_paths.ts
 *
 * Each kernel runs 64 workgroups of 8 invocations, every invocation touching 4,096 vec4s at
 * addresses that differ from lane to lane; the figure is GPU time (timestamp queries where the
 * adapter has them) per vec4 access: a dispatch's time over its 512 × 4,096 accesses, both cores
 * working; the median of 7 repetitions of 10 dispatches.
 */
import { gpu, runOnGpu } from "./common.ts";

const { device } = gpu;
const WORKGROUPS = 64;
const WG = 8;
const N = 4096;
/** Texels per row of the textures: 4 KiB rows, as copyBufferToTexture wants multiples of 256. */
const TW = 256;

/** A read of vec4 `j` (any u32) from each kind of binding, and its declaration. */
const READS = {
  storage: {
    decl: "@group(0) @binding(0) var<storage, read> src: array<vec4f>;",
    load: "src[j & 65535u]",
  },
  uniform: {
    decl: "@group(0) @binding(0) var<uniform> src: array<vec4f, 4096>;",
    load: "src[j & 4095u]",
  },
  texture: {
    decl: "@group(0) @binding(0) var src: texture_2d<f32>;",
    load: `textureLoad(src, vec2u(j & ${TW - 1}u, (j >> 8u) & 255u), 0)`,
  },
} as const;

/** A write of vec4 `v` to element `j` of each kind of binding, and its declaration. */
const WRITES = {
  storage: {
    decl: "@group(0) @binding(0) var<storage, read_write> dst: array<vec4f>;",
    store: "dst[j & 65535u] = v;",
  },
  texture: {
    decl: "@group(0) @binding(0) var dst: texture_storage_2d<rgba32float, write>;",
    store: `textureStore(dst, vec2u(j & ${TW - 1}u, (j >> 8u) & 255u), v);`,
  },
} as const;

const storage = device.createBuffer({
  size: 65536 * 16,
  usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
});
const uniform = device.createBuffer({ size: 65536, usage: GPUBufferUsage.UNIFORM });
const texture = device.createTexture({
  size: [TW, 256],
  format: "rgba32float",
  usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING |
    GPUTextureUsage.COPY_DST,
});
const sink = device.createBuffer({ size: WORKGROUPS * WG * 16, usage: GPUBufferUsage.STORAGE });

function pipeline(code: string): GPUComputePipeline {
  return device.createComputePipeline({
    layout: "auto",
    compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
  });
}

/** Median ms of 7 runs of `fn` 10 times in a pass (GPU time where the adapter has timestamps). */
async function time(fn: (pass: GPUComputePassEncoder) => void): Promise<number> {
  await runOnGpu(1, fn);
  const runs: number[] = [];
  for (let k = 0; k < 7; k++) {
    const t0 = performance.now();
    const ms = await runOnGpu(10, fn);
    runs.push((ms ?? performance.now() - t0) / 10);
  }
  return runs.sort((a, b) => a - b)[3]!;
}

const perVec4 = (ms: number) => `${(ms * 1e6 / (WORKGROUPS * WG * N)).toFixed(2)} ns`;

console.log(
  `per vec4 access (a dispatch's time over its ${WORKGROUPS}×${WG} invocations × ${N} vec4s each):`,
);
for (const [kind, { decl, load }] of Object.entries(READS)) {
  const p = pipeline(`${decl}
@group(0) @binding(1) var<storage, read_write> sink: array<vec4f>;
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3u) {
  var acc = vec4f(0.0);
  for (var i = 0u; i < ${N}u; i++) {
    let j = g.x * 7u + i * 3u;
    acc += ${load};
  }
  sink[g.x] = acc;
}`);
  const resource = kind === "texture"
    ? texture.createView()
    : { buffer: kind === "uniform" ? uniform : storage };
  const group = device.createBindGroup({
    layout: p.getBindGroupLayout(0),
    entries: [{ binding: 0, resource }, { binding: 1, resource: { buffer: sink } }],
  });
  const ms = await time((pass) => {
    pass.setPipeline(p);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(WORKGROUPS);
  });
  console.log(`  read from a ${kind.padEnd(7)} ${perVec4(ms)}`);
}
for (const [kind, { decl, store }] of Object.entries(WRITES)) {
  const p = pipeline(`${decl}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) g: vec3u) {
  for (var i = 0u; i < ${N}u; i++) {
    let j = g.x * 7u + i * 3u;
    let v = vec4f(f32(i));
    ${store}
  }
}`);
  const resource = kind === "texture" ? texture.createView() : { buffer: storage };
  const group = device.createBindGroup({
    layout: p.getBindGroupLayout(0),
    entries: [{ binding: 0, resource }],
  });
  const ms = await time((pass) => {
    pass.setPipeline(p);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(WORKGROUPS);
  });
  console.log(`  write to a ${kind.padEnd(8)} ${perVec4(ms)}`);
}

// copyBufferToTexture of the whole texture (1 MiB), timed on the CPU around the queue.
const copies: number[] = [];
for (let k = 0; k < 8; k++) {
  const encoder = device.createCommandEncoder();
  for (let r = 0; r < 10; r++) {
    encoder.copyBufferToTexture({ buffer: storage, bytesPerRow: TW * 16 }, { texture }, [TW, 256]);
  }
  const t0 = performance.now();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  if (k > 0) copies.push((performance.now() - t0) / 10);
}
const copyMs = copies.sort((a, b) => a - b)[3]!;
console.log(
  `copyBufferToTexture, 1 MiB (65,536 vec4s): ${(copyMs * 1000).toFixed(0)} µs ` +
    `(${(copyMs * 1e6 / 65536).toFixed(2)} ns a vec4; CPU time around the queue)`,
);
