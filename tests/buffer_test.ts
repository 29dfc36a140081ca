import assert from "node:assert/strict";
import { createStorageWith, readBuffer, UPLOAD_CHUNK_BYTES } from "../src/gpu/buffer.ts";
import { gpuTest } from "./gpu_helpers.ts";

/** `n` bytes that differ from their neighbours and from the bytes one chunk away. */
function pattern(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 7 + (i >>> 12)) & 255;
  return bytes;
}

gpuTest(
  "createStorageWith() uploads data of several chunks intact, a tail not a multiple of 4 included",
  async (gpu) => {
    // Two whole chunks, then a tail of 4k + 3 bytes: every chunk boundary and the padding.
    const data = pattern(2 * UPLOAD_CHUNK_BYTES + 4099);
    const buffer = createStorageWith(gpu.device, { label: "test.chunked", data });
    try {
      assert.equal(buffer.size, Math.ceil(data.length / 4) * 4);
      const back = new Uint8Array(await readBuffer(gpu.device, buffer));
      const firstDiff = data.findIndex((b, i) => back[i] !== b);
      assert.equal(firstDiff, -1, `first difference at byte ${firstDiff}`);
      assert.deepEqual(Array.from(back.subarray(data.length)), [0]); // the padding is zero
      gpu.checkErrors();
    } finally {
      buffer.destroy();
    }
  },
);

gpuTest("createStorageWith() uploads a view at an offset into a larger buffer", async (gpu) => {
  // An Int32Array view whose byteOffset is not 0 and which spans more than a chunk.
  const whole = new Int32Array(UPLOAD_CHUNK_BYTES / 4 + 300);
  whole.forEach((_, i) => (whole[i] = i * 2654435761));
  const view = whole.subarray(17);
  const buffer = createStorageWith(gpu.device, { label: "test.view", data: view });
  try {
    const back = new Int32Array(await readBuffer(gpu.device, buffer));
    assert.deepEqual(back, view);
  } finally {
    buffer.destroy();
  }
});
