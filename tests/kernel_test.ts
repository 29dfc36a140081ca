/**
 * Workgroup sizing (src/gpu/kernel.ts): whole subgroups, within the device's limits; and every
 * kernel's `struct Dims` matches the named layout its op module writes it from.
 */
import assert from "node:assert/strict";
import type { DimsLayout } from "../src/gpu/buffer.ts";
import { entryModuleCode, fitWorkgroup } from "../src/gpu/kernel.ts";
import { CONV2D_DIMS } from "../src/nn/conv2d.ts";
import { DENSE_DIMS } from "../src/nn/dense.ts";
import { SOFTMAX_DIMS } from "../src/nn/loss.ts";
import { ADAM_DIMS, SGD_DIMS } from "../src/nn/optimizer.ts";
import { POOL_DIMS } from "../src/nn/pool.ts";
import { GATHER_DIMS } from "../src/train/feeder.ts";

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
