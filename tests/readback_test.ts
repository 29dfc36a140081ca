/** Readbacks through staging buffers kept per size (src/gpu/readback.ts). */
import assert from "node:assert/strict";
import { createStorageWith } from "../src/gpu/buffer.ts";
import { Readback } from "../src/gpu/readback.ts";
import { gpuTest } from "./gpu_helpers.ts";

gpuTest(
  "Readback reads buffers of one size through one staging buffer, overlapping reads included",
  async (g) => {
    const a = createStorageWith(g.device, { label: "test.a", data: Float32Array.of(1, 2, 3, 4) });
    const b = createStorageWith(g.device, { label: "test.b", data: Float32Array.of(5, 6, 7, 8) });
    const readback = new Readback(g.device, { label: "test" });
    try {
      const floats = async (buffer: GPUBuffer, options = {}) =>
        Array.from(new Float32Array(await readback.read(buffer, options)));
      assert.deepEqual(await floats(a), [1, 2, 3, 4]);
      assert.deepEqual(await floats(b), [5, 6, 7, 8]);
      // Started together, they share the staging buffer one after the other.
      const [x, y, z] = await Promise.all([floats(b), floats(a), floats(b)]);
      assert.deepEqual([x, y, z], [[5, 6, 7, 8], [1, 2, 3, 4], [5, 6, 7, 8]]);
      assert.equal(readback.buffers, 1);
      // Another size (8 bytes from byte 4) has a staging buffer of its own.
      assert.deepEqual(await floats(a, { offset: 4, bytes: 8 }), [2, 3]);
      assert.equal(readback.buffers, 2);
      // 6 bytes, not a multiple of 4, are read through the 8-byte staging buffer.
      const bytes = new Uint8Array(await readback.read(b, { bytes: 6 }));
      assert.deepEqual(bytes, new Uint8Array(Float32Array.of(5, 6).buffer).subarray(0, 6));
      assert.equal(readback.buffers, 2);
      g.checkErrors();
    } finally {
      readback.destroy();
      a.destroy();
      b.destroy();
    }
    assert.equal(readback.buffers, 0);
  },
);
