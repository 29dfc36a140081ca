import assert from "node:assert/strict";
import { crc32, encodePng, type PngImage } from "../src/image/png.ts";

/** CRC-32 bit by bit, without a table: an independent oracle for the encoder's. */
function slowCrc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

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
    assert.equal(crc, slowCrc32(png.subarray(at + 4, end)), `${type} CRC`);
    chunks.push({ type, data: png.subarray(at + 8, end) });
    at = end + 4;
  }
  return chunks;
}

/** Decodes what `encodePng` writes: one IDAT, filter type 0 on every row. */
async function decode(png: Uint8Array): Promise<PngImage & { colorType: number }> {
  const chunks = parseChunks(png);
  assert.deepEqual(chunks.map((c) => c.type), ["IHDR", "IDAT", "IEND"]);
  const ihdr = chunks[0]!.data;
  assert.equal(ihdr.length, 13);
  const view = new DataView(ihdr.buffer, ihdr.byteOffset, ihdr.byteLength);
  const width = view.getUint32(0);
  const height = view.getUint32(4);
  const [depth, colorType, compression, filter, interlace] = ihdr.subarray(8);
  assert.deepEqual([depth, compression, filter, interlace], [8, 0, 0, 0]);
  const channels = ({ 0: 1, 2: 3, 6: 4 } as Record<number, 1 | 3 | 4>)[colorType!];
  assert.ok(channels, `unexpected colour type ${colorType}`);
  assert.equal(chunks[2]!.data.length, 0);

  const idat = chunks[1]!.data.slice();
  const raw = new Uint8Array(
    await new Response(new Blob([idat]).stream().pipeThrough(new DecompressionStream("deflate")))
      .arrayBuffer(),
  );
  const stride = width * channels;
  assert.equal(raw.length, (stride + 1) * height);
  const pixels = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (stride + 1)], 0, `row ${y} filter type`);
    pixels.set(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), y * stride);
  }
  return { width, height, channels, pixels, colorType: colorType! };
}

function randomBytes(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  crypto.getRandomValues(bytes);
  return bytes;
}

Deno.test("crc32() matches the standard check value and a bitwise CRC", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new TextEncoder().encode("IEND")), 0xae426082);
  const bytes = randomBytes(1000);
  assert.equal(crc32(bytes), slowCrc32(bytes));
});

for (const [channels, colorType] of [[1, 0], [3, 2], [4, 6]] as const) {
  Deno.test(`encodePng() round-trips ${channels}-channel pixels (colour type ${colorType})`, async () => {
    const image = { width: 7, height: 5, channels, pixels: randomBytes(7 * 5 * channels) };
    const decoded = await decode(await encodePng(image));
    assert.equal(decoded.colorType, colorType);
    assert.deepEqual([decoded.width, decoded.height, decoded.channels], [7, 5, channels]);
    assert.deepEqual(decoded.pixels, image.pixels);
  });
}

Deno.test("encodePng() writes a 1x1 image and a wide one", async () => {
  const one = await decode(
    await encodePng({ width: 1, height: 1, channels: 1, pixels: new Uint8Array([200]) }),
  );
  assert.deepEqual(Array.from(one.pixels), [200]);
  const wide = { width: 3000, height: 2, channels: 3 as const, pixels: randomBytes(18000) };
  assert.deepEqual((await decode(await encodePng(wide))).pixels, wide.pixels);
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
