/** Workgroup sizing (src/gpu/kernel.ts): whole subgroups, within the device's limits. */
import assert from "node:assert/strict";
import { fitWorkgroup } from "../src/gpu/kernel.ts";

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
