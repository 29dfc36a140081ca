/**
 * Workgroup sizing (src/gpu/kernel.ts): whole subgroups, within the device's limits; every
 * kernel's `struct Dims` matches the named layout its op module writes it from; and dispatches
 * bind by the names the modules declare.
 */
import assert from "node:assert/strict";
import type { DimsLayout } from "../src/gpu/buffer.ts";
import type { Gpu } from "../src/gpu/device.ts";
import {
  BATCH_BINDINGS,
  BATCH_GROUP,
  type Bindings,
  dispatchOf,
  entryModuleCode,
  fitWorkgroup,
  type KernelCache,
  type Program,
  programBindings,
  type WgslBinding,
  wgslBindings,
} from "../src/gpu/kernel.ts";
import { CONV2D, CONV2D_DIMS, CONV2D_TILED, CONV2D_VEC4 } from "../src/nn/conv2d.ts";
import { DENSE, DENSE_DIMS, DENSE_SHARED, DENSE_TILED } from "../src/nn/dense.ts";
import { SOFTMAX, SOFTMAX_DIMS } from "../src/nn/loss.ts";
import { ADAM, ADAM_DIMS, SGD, SGD_DIMS } from "../src/nn/optimizer.ts";
import { POOL, POOL_2X2, POOL_DIMS } from "../src/nn/pool.ts";
import { GATHER, GATHER_DIMS } from "../src/train/feeder.ts";
import { gpuTest, upload } from "./gpu_helpers.ts";

const DEFAULTS = { maxInvocations: 256, maxSizeX: 256 };

Deno.test("fitWorkgroup() keeps the preferred size where it is whole subgroups and allowed", () => {
  for (const subgroup of [0, 1, 4, 8, 32, 64]) {
    assert.equal(fitWorkgroup(64, { ...DEFAULTS, subgroup }), 64, `subgroup ${subgroup}`);
  }
  assert.equal(fitWorkgroup(256, { ...DEFAULTS, subgroup: 32 }), 256);
});

Deno.test("fitWorkgroup() grows a small workgroup to a whole subgroup", () => {
  // The CPU kernels prefer 8: one AVX2 register on llvmpipe; a wider SIMD unit gets its width.
  assert.equal(fitWorkgroup(8, { ...DEFAULTS, subgroup: 8 }), 8);
  assert.equal(fitWorkgroup(8, { ...DEFAULTS, subgroup: 16 }), 16);
  assert.equal(fitWorkgroup(8, { ...DEFAULTS, subgroup: 32 }), 32);
  assert.equal(fitWorkgroup(64, { ...DEFAULTS, subgroup: 128 }), 128);
  // Unknown (0) keeps the preferred size; a width that is not a power of two is rounded up.
  assert.equal(fitWorkgroup(8, { ...DEFAULTS, subgroup: 0 }), 8);
  assert.equal(fitWorkgroup(8, { ...DEFAULTS, subgroup: 12 }), 16);
});

Deno.test("fitWorkgroup() stays within the device's limits, as a power of two", () => {
  assert.equal(fitWorkgroup(256, { maxInvocations: 128, maxSizeX: 1024, subgroup: 32 }), 128);
  assert.equal(fitWorkgroup(256, { maxInvocations: 1024, maxSizeX: 64, subgroup: 32 }), 64);
  assert.equal(fitWorkgroup(256, { maxInvocations: 192, maxSizeX: 192, subgroup: 0 }), 128);
  assert.equal(fitWorkgroup(8, { maxInvocations: 32, maxSizeX: 32, subgroup: 64 }), 32);
});

/** The files of functions joined to other modules, which have no `struct Dims` of their own. */
const SHARED_WGSL = ["activation.wgsl", "optimizer.wgsl"];

/** Kernel files whose `struct Dims` is in the file joined to them (src/nn/pool.ts), by name. */
const JOINED_DIMS: Record<string, string> = {
  "pool.wgsl": "pool_common.wgsl",
  "pool_2x2.wgsl": "pool_common.wgsl",
};

/** Each WGSL file's `struct Dims` and the layout its op module writes it from. */
const DIMS: [string, DimsLayout][] = [
  ["adam.wgsl", ADAM_DIMS],
  ["conv2d.wgsl", CONV2D_DIMS],
  ["conv2d_tiled.wgsl", CONV2D_DIMS],
  ["conv2d_vec4.wgsl", CONV2D_DIMS],
  ["dense.wgsl", DENSE_DIMS],
  ["dense_shared.wgsl", DENSE_DIMS],
  ["dense_tiled.wgsl", DENSE_DIMS],
  ["gather.wgsl", GATHER_DIMS],
  ["pool_common.wgsl", POOL_DIMS],
  ["sgd.wgsl", SGD_DIMS],
  ["softmax.wgsl", SOFTMAX_DIMS],
];

/** The fields of `code`'s `struct Dims` as `name: type`, comments left out. */
function wgslDims(code: string): string[] {
  const body = /struct Dims \{([^}]*)\}/.exec(code)?.[1];
  assert.ok(body !== undefined, "no struct Dims");
  return body.split("\n").map((l) => l.replace(/\/\/.*/, "").trim()).filter((l) => l !== "")
    .map((l) => l.replace(/,$/, ""));
}

Deno.test("every struct Dims is the layout its op module writes, trailing padding aside", async () => {
  const files = [...Deno.readDirSync(new URL("../kernels/", import.meta.url))]
    .map((e) => e.name).filter((n) => n.endsWith(".wgsl") && !SHARED_WGSL.includes(n))
    .filter((n) => !Object.hasOwn(JOINED_DIMS, n)).sort();
  assert.deepEqual(DIMS.map(([f]) => f), files, "a kernel file without a layout here");
  for (const [file, joined] of Object.entries(JOINED_DIMS)) {
    const code = await Deno.readTextFile(new URL(`../kernels/${file}`, import.meta.url));
    const bare = code.replace(/\/\/.*$/gm, "");
    assert.ok(!/struct Dims\b/.test(bare), `${file} declares the Dims that ${joined} holds`);
    assert.ok(files.includes(joined), `${file}: ${joined} is not a kernel file with a layout`);
  }
  for (const [file, layout] of DIMS) {
    const code = await Deno.readTextFile(new URL(`../kernels/${file}`, import.meta.url));
    const fields = wgslDims(code);
    const named = Object.entries(layout).map(([k, t]) => `${k}: ${t}`);
    assert.deepEqual(fields.slice(0, named.length), named, file);
    for (const pad of fields.slice(named.length)) assert.match(pad, /^_pad\d*: u32$/, file);
  }
});

/** The kernel files: name and source. */
function kernelFiles(): { name: string; code: string }[] {
  const dir = new URL("../kernels/", import.meta.url);
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".wgsl")).sort()
    .map((name) => ({ name, code: Deno.readTextFileSync(new URL(name, dir)) }));
}

/**
 * The `(group, binding)` numbers declared more than once in `code`, each with the variables
 * declared there (comments left out); empty when each binding number is one variable.
 */
function sharedBindings(code: string): string[] {
  const bare = code.replace(/\/\/.*$/gm, "");
  const decls = [
    ...bare.matchAll(/@group\((\d+)\)\s*@binding\((\d+)\)\s*var(?:<[^>]*>)?\s+(\w+)/g),
  ];
  assert.equal(decls.length, bare.split("@binding(").length - 1, "a @binding the scan misread");
  const vars = new Map<string, string[]>();
  for (const [, group, binding, name] of decls) {
    const key = `@group(${group}) @binding(${binding})`;
    vars.set(key, [...vars.get(key) ?? [], name!]);
  }
  return [...vars].filter(([, names]) => names.length > 1).map(([k, n]) => `${k}: ${n.join(", ")}`);
}

Deno.test("sharedBindings() finds a binding number declared for two variables", () => {
  const code = `@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// @group(0) @binding(1) var<storage, read> commented_out: array<f32>;
@group(0)  @binding(1) var<storage, read> x4: array<vec4f>;`;
  assert.deepEqual(sharedBindings(code), ["@group(0) @binding(1): x, x4"]);
});

Deno.test("no kernels/*.wgsl module declares one binding number for two variables", () => {
  const files = kernelFiles();
  assert.ok(files.length >= 10, `found ${files.length} kernel files`);
  for (const { name, code } of files) assert.deepEqual(sharedBindings(code), [], name);
});

Deno.test("hand-written kernels/*.wgsl lines are at most 100 characters", () => {
  for (const { name, code } of kernelFiles()) {
    // Generated files say so in their first line and name their generator, which must exist.
    const generator = /^\/\/ GENERATED by kernels\/(gen_\w+\.ts)/.exec(code)?.[1];
    if (generator) {
      assert.ok(Deno.statSync(new URL(`../kernels/${generator}`, import.meta.url)).isFile, name);
      continue;
    }
    const long = code.split("\n").map((line, i) => ({ line: i + 1, length: [...line].length }))
      .filter(({ length }) => length > 100);
    assert.deepEqual(long, [], `${name}: lines over 100 characters`);
  }
});

Deno.test("entryModuleCode() leaves out the other entry points' functions, and only them", () => {
  const code = [
    "struct Dims { n: u32 }",
    "@group(0) @binding(0) var<uniform> dims: Dims;",
    "override WG: u32 = 8u;",
    "fn helper(x: f32) -> f32 {",
    "  return x;",
    "}",
    "// a: doubles.",
    "@compute @workgroup_size(WG)",
    "fn a(@builtin(global_invocation_id) gid: vec3u) {",
    "  if (gid.x > 0u) {",
    "    _ = helper(1.0);",
    "  }",
    "}",
    "// b: nothing.",
    "@compute @workgroup_size(1)",
    "fn b() {",
    "}",
    "fn tail() {}",
  ].join("\n");
  const a = entryModuleCode(code, "a");
  assert.ok(a.includes("fn a(") && !a.includes("fn b("), a);
  for (const kept of ["struct Dims", "fn helper(", "override WG", "fn tail()", "// b: nothing."]) {
    assert.ok(a.includes(kept), `${kept} in\n${a}`);
  }
  const b = entryModuleCode(code, "b");
  assert.ok(b.includes("fn b() {\n}") && !b.includes("fn a(") && !b.includes("gid.x"), b);
  assert.throws(() => entryModuleCode(code, "c"), /no entry point c/);
  assert.throws(
    () => entryModuleCode("@compute @workgroup_size(1)\nfn d() {\n  }", "d"),
    /closing/,
  );
});

Deno.test("every kernels/*.wgsl entry point's module holds it whole and no other", () => {
  let entries = 0;
  for (const { name, code } of kernelFiles()) {
    const names = [...code.matchAll(/@compute[^\n]*\n\s*fn (\w+)/g)].map((m) => m[1]!);
    // Every entry point in the house layout, found by the pattern entryModuleCode() splits on.
    assert.equal(names.length, code.split("@compute").length - 1, name);
    for (const entry of names) {
      const module = entryModuleCode(code, entry);
      assert.equal(module.split("@compute").length - 1, 1, `${name} ${entry}`);
      const start = code.indexOf(`fn ${entry}(`);
      const body = code.slice(start, code.indexOf("\n}", start) + 2);
      assert.ok(module.includes(body), `${name} ${entry}: the function is not whole`);
      entries++;
    }
  }
  assert.ok(entries >= 30, `${entries} entry points`);
});

Deno.test("wgslBindings() reads each variable's group, binding and kind, comments left out", () => {
  const code = `@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage,read> in0: array<f32>;
@group(0)  @binding(2)  var<storage> in1: array<f32>;
// @group(0) @binding(3) var<storage, read> commented_out: array<f32>;
/* @group(0) @binding(3) var<storage, read> blocked_out: array<f32>; */
@group(0) @binding(4) var<uniform> dims: Dims;
@group(1) @binding(0) var<storage, read> images: array<u32>;`;
  assert.deepEqual(Object.fromEntries(wgslBindings(code)), {
    out: { group: 0, binding: 0, kind: "storage" },
    in0: { group: 0, binding: 1, kind: "read" },
    in1: { group: 0, binding: 2, kind: "read" },
    dims: { group: 0, binding: 4, kind: "uniform" },
    images: { group: 1, binding: 0, kind: "read" },
  });
});

Deno.test("wgslBindings() throws on a name or a binding number declared twice, and a texture", () => {
  const y = "@group(0) @binding(0) var<storage, read_write> y: array<f32>;";
  assert.throws(
    () => wgslBindings(`${y}\n@group(0) @binding(1) var<storage, read> y: array<f32>;`),
    /Binding "y" is declared twice/,
  );
  assert.throws(
    () => wgslBindings(`${y}\n@group(0) @binding(0) var<storage, read> x: array<f32>;`),
    /@group\(0\) @binding\(0\) is declared for both y and x/,
  );
  assert.throws(
    () => wgslBindings(`${y}\n@group(0) @binding(1) var tex: texture_2d<f32>;`),
    /Cannot bind "@group\(0\) @binding\(1\) var tex"/,
  );
  assert.throws(() => wgslBindings(`${y}\n@group(0)\n@binding(1)\nvar`), /Cannot read every/);
});

/** Every Program the engine compiles, by the kernels/*.wgsl file it is made from. */
const PROGRAMS: Program[] = [
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

/** `code`'s declaration lines, read one by one: name → group, binding, kind. */
function declarationLines(code: string): Record<string, WgslBinding> {
  const kinds: Record<string, WgslBinding["kind"]> = {
    "storage, read_write": "storage",
    "storage, read": "read",
    "uniform": "uniform",
  };
  const out: Record<string, WgslBinding> = {};
  for (const line of code.split("\n")) {
    const m = /^@group\((\d)\) @binding\((\d)\) var<([^>]+)> (\w+):/.exec(line);
    if (!m) continue;
    assert.ok(kinds[m[3]!], `unexpected "${m[3]}" in ${line}`);
    out[m[4]!] = { group: Number(m[1]), binding: Number(m[2]), kind: kinds[m[3]!]! };
  }
  return out;
}

Deno.test("every kernel module's parsed bindings are the declarations of its kernels/*.wgsl", () => {
  const files = kernelFiles().filter(({ code }) => code.includes("@binding("));
  assert.deepEqual(
    files.map(({ name }) => name),
    PROGRAMS.map((p) => `${p.name}.wgsl`).sort(),
    "a kernel file with bindings that no Program here is made from",
  );
  for (const program of PROGRAMS) {
    const file = files.find(({ name }) => name === `${program.name}.wgsl`)!;
    const lines = declarationLines(file.code);
    assert.ok(Object.keys(lines).length >= 4, program.name);
    assert.deepEqual(Object.fromEntries(programBindings(program)), lines, program.name);
    // Once per Program.
    assert.equal(programBindings(program), programBindings(program));
    // The house order: outputs, then inputs, then uniforms, the Dims uniform last of group 0.
    const group0 = [...programBindings(program)].filter(([, d]) => d.group === 0)
      .sort(([, a], [, b]) => a.binding - b.binding);
    const order = { storage: 0, read: 1, uniform: 2 };
    const kinds = group0.map(([, d]) => order[d.kind]);
    assert.deepEqual(kinds, [...kinds].sort(), `${program.name}: kinds out of the house order`);
    assert.equal(group0.at(-1)?.[0], "dims", program.name);
    assert.deepEqual(group0.map(([, d]) => d.binding), group0.map((_, i) => i), program.name);
  }
});

Deno.test("BATCH_BINDINGS are the group-1 variables of dense_tiled.wgsl's gather kernels", () => {
  const group1 = [...programBindings(DENSE_TILED)].filter(([, d]) => d.group === BATCH_GROUP);
  assert.deepEqual(
    Object.fromEntries(group1.map(([n, { binding, kind }]) => [n, { binding, kind }])),
    Object.fromEntries(
      Object.entries(BATCH_BINDINGS).map(([n, { binding, kind }]) => [
        n,
        { binding, kind: kind === "read-dynamic" ? "read" : kind },
      ]),
    ),
  );
});

/** A dense.wgsl forward over small buffers, with `io` and `dims` replaced as given. */
function denseForward(
  gpu: Gpu,
  kernels: KernelCache,
  { io, dynamic }: { io?: Bindings; dynamic?: string } = {},
) {
  const buffer = (label: string) => upload(gpu, new Float32Array(64), label);
  const dims = gpu.device.createBuffer({ label: "dims", size: 16, usage: GPUBufferUsage.UNIFORM });
  return dispatchOf(gpu.device, kernels, {
    program: DENSE,
    entry: "dense_forward",
    constants: { ACT: 0, WG: 64 },
    io: io ?? { out: buffer("y"), in0: buffer("x"), in1: buffer("params") },
    dims,
    dynamic,
    grid: [1],
  });
}

gpuTest("dispatchOf() binds by name exactly the variables given, as the module declares them", (
  gpu,
  kernels,
) => {
  const dispatch = denseForward(gpu, kernels);
  assert.deepEqual(Object.fromEntries(dispatch.kernel.bindings), {
    out: { binding: 0, kind: "storage" },
    in0: { binding: 1, kind: "read" },
    in1: { binding: 2, kind: "read" },
    dims: { binding: 4, kind: "uniform" },
  });
  assert.equal(denseForward(gpu, kernels).kernel, dispatch.kernel, "cached");
  return Promise.resolve();
});

gpuTest("dispatchOf() throws on a name the module lacks, one of another group, or dims twice", (
  gpu,
  kernels,
) => {
  const b = (label: string) => upload(gpu, new Float32Array(64), label);
  // conv2d_vec4.wgsl's name for x: a name from another module.
  assert.throws(
    () => denseForward(gpu, kernels, { io: { out: b("y"), in0v: b("x"), in1: b("w") } }),
    /dense\.dense_forward: the module declares no binding "in0v"; group 0: out, in0, in1, in2, dims/,
  );
  assert.throws(
    () =>
      denseForward(gpu, kernels, { io: { out: b("y"), in0: b("x"), in1: b("w"), dims: b("d") } }),
    /"dims" given twice/,
  );
  assert.throws(
    () =>
      denseForward(gpu, kernels, {
        io: { out: b("y"), in0: b("x"), in1: null as unknown as GPUBuffer },
      }),
    /"in1" is given no buffer/,
  );
  assert.throws(
    () => denseForward(gpu, kernels, { dynamic: "out" }),
    /"out" is not read-only storage/,
  );
  assert.throws(
    () => denseForward(gpu, kernels, { dynamic: "in2" }),
    /the dynamic binding "in2" is not bound/,
  );
  // Group 1 is the Feeder's.
  const y = b("y");
  assert.throws(
    () =>
      dispatchOf(gpu.device, kernels, {
        program: DENSE_TILED,
        entry: "dense_forward_tiled_gather",
        io: { out4: y, in1: b("w"), in2s: b("w"), order: b("order") },
        dims: gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM }),
        grid: [1],
      }),
    /"order" is in @group\(1\), which the dispatch does not bind/,
  );
  return Promise.resolve();
});
