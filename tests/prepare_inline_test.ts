/**
 * Which images `PreparePool` prepares on the calling thread (serve's event loop): only those small
 * in pixels and in bytes, so no request body can hold the server for long.
 */
import assert from "node:assert/strict";
import { encodePng } from "../src/image/png.ts";
import { INLINE_PIXELS, PreparePool } from "../src/serve/prepare.ts";
import { crc32 } from "./png_chunks.ts";

/** A PNG chunk of `type` around `data`, with its CRC. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** A 28×28 grey PNG of a bar of ink, with a tEXt chunk of `padding` bytes after its header. */
async function digitPng(padding: number): Promise<Uint8Array> {
  const pixels = new Uint8Array(28 * 28);
  for (let y = 6; y < 22; y++) for (let x = 12; x < 16; x++) pixels[y * 28 + x] = 255;
  const png = await encodePng({ width: 28, height: 28, channels: 1, pixels });
  if (padding === 0) return png;
  const text = chunk("tEXt", new Uint8Array(padding).fill(0x61));
  const out = new Uint8Array(png.length + text.length);
  out.set(png.subarray(0, 33)); // signature and IHDR
  out.set(text, 33);
  out.set(png.subarray(33), 33 + text.length);
  return out;
}

Deno.test("PreparePool prepares an image small in pixels but not in bytes in a worker", async () => {
  const failures: Error[] = [];
  const pool = new PreparePool({
    size: 1,
    onStartFailure: (error) => failures.push(error),
    // A worker that cannot start tells when one was asked for; the image is then prepared inline.
    workerUrl: new URL("data:text/javascript,throw new Error('Module not found')"),
  });
  try {
    assert.ok(28 * 28 <= INLINE_PIXELS);
    const small = await digitPng(0);
    const expected = await pool.prepare(small);
    assert.equal(failures.length, 0, "a 28×28 PNG of a few hundred bytes is prepared inline");
    const padded = await digitPng(300_000);
    assert.deepEqual(await pool.prepare(padded), expected);
    assert.equal(failures.length, 1, "a 28×28 PNG of 300 kB went to a worker");
  } finally {
    pool.close();
  }
});
