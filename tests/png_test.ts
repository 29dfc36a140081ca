import assert from "node:assert/strict";
import { decode as decodeFastPng } from "fast-png";
import { encodePng, type PngImage } from "../src/image/png.ts";
import { crc32 } from "./png_chunks.ts";

interface Chunk {
  type: string;
  data: Uint8Array;
}

/** Splits a PNG into chunks, checking the signature, every length and every CRC. */
function parseChunks(png: Uint8Array): Chunk[] {
  assert.deepEqual(Array.from(png.subarray(0, 8)), [137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: Chunk[] = [];
  let at = 8;
  while (at < png.length) {
    assert.ok(at + 12 <= png.length, `chunk at ${at} runs past the end`);
    const length = view.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    const end = at + 8 + length;
    assert.ok(end + 4 <= png.length, `${type} runs past the end`);
    const crc = view.getUint32(end);
    assert.equal(crc, crc32(png.subarray(at + 4, end)), `${type} CRC`);
    chunks.push({ type, data: png.subarray(at + 8, end) });
    at = end + 4;
  }
  return chunks;
}

/**
 * Decodes a PNG: its chunks checked (signature, lengths, CRCs; IHDR first, IEND last), its colour
 * type read from IHDR, its pixels by fast-png's decoder.
 */
function decode(png: Uint8Array): PngImage & { colorType: number } {
  const chunks = parseChunks(png);
  assert.equal(chunks[0]!.type, "IHDR");
  assert.equal(chunks.at(-1)!.type, "IEND");
  const ihdr = chunks[0]!.data;
  assert.equal(ihdr.length, 13);
  const [depth, colorType, compression, filter, interlace] = ihdr.subarray(8);
  assert.deepEqual([depth, compression, filter, interlace], [8, 0, 0, 0]);
  const decoded = decodeFastPng(png);
  const channels = decoded.channels as 1 | 3 | 4;
  const pixels = new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.length);
  return { width: decoded.width, height: decoded.height, channels, pixels, colorType: colorType! };
}

function randomBytes(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  crypto.getRandomValues(bytes);
  return bytes;
}

Deno.test("the tests' crc32() gives the standard check values", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new TextEncoder().encode("IEND")), 0xae426082);
});

for (const [channels, colorType] of [[1, 0], [3, 2], [4, 6]] as const) {
  Deno.test(`encodePng() round-trips ${channels}-channel pixels (colour type ${colorType})`, async () => {
    const image = { width: 7, height: 5, channels, pixels: randomBytes(7 * 5 * channels) };
    const decoded = decode(await encodePng(image));
    assert.equal(decoded.colorType, colorType);
    assert.deepEqual([decoded.width, decoded.height, decoded.channels], [7, 5, channels]);
    assert.deepEqual(decoded.pixels, image.pixels);
  });
}

Deno.test("encodePng() writes a 1x1 image and a wide one", async () => {
  const one = decode(
    await encodePng({ width: 1, height: 1, channels: 1, pixels: new Uint8Array([200]) }),
  );
  assert.deepEqual(Array.from(one.pixels), [200]);
  const wide = { width: 3000, height: 2, channels: 3 as const, pixels: randomBytes(18000) };
  assert.deepEqual((decode(await encodePng(wide))).pixels, wide.pixels);
});

Deno.test("encodePng() rejects wrong sizes", async () => {
  const pixels = new Uint8Array(6);
  await assert.rejects(
    encodePng({ width: 2, height: 2, channels: 1, pixels }),
    /expected 4 bytes for 2 x 2 x 1, got 6/,
  );
  await assert.rejects(encodePng({ width: 0, height: 2, channels: 1, pixels }), RangeError);
  await assert.rejects(encodePng({ width: 1.5, height: 2, channels: 1, pixels }), RangeError);
  await assert.rejects(
    encodePng({ width: 3, height: 1, channels: 2 as 1, pixels }),
    /channels must be 1, 3 or 4/,
  );
});
