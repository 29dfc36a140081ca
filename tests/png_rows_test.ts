/**
 * decodeImage()'s own row decoder (grey, grey + alpha, RGB, RGBA of 8 and 16 bits) against
 * fast-png's, the oracle, on files written here with every filter type, interlaced or not, with
 * and without a tRNS colour key; and the chunk-count limit.
 */
import assert from "node:assert/strict";
import { decode } from "fast-png";
import { crc32, deflateSync } from "node:zlib";
import { decodeImage, MAX_PNG_CHUNKS } from "../src/image/decode.ts";
import { UserError } from "../src/errors.ts";

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

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

/** Filters a row (raw bytes) with `type`, `bpp` bytes a pixel; `prev` is the raw row above. */
function filterRow(raw: Uint8Array, prev: Uint8Array, type: number, bpp: number): Uint8Array {
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const a = i >= bpp ? raw[i - bpp]! : 0, b = prev[i]!, c = i >= bpp ? prev[i - bpp]! : 0;
    let pred = 0;
    if (type === 1) pred = a;
    else if (type === 2) pred = b;
    else if (type === 3) pred = (a + b) >> 1;
    else if (type === 4) {
      const p = a + b - c;
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
    out[i] = (raw[i]! - pred) & 0xff;
  }
  return out;
}

/** A PNG of `samples` ((H, W, C) big-endian bytes), rows filtered with types cycling 0..4. */
function writePng(
  o: { width: number; height: number; colorType: number; depth: number; interlaced: boolean },
  bytes: Uint8Array,
  trns?: Uint8Array,
): Uint8Array {
  const { width, height, colorType, depth, interlaced } = o;
  const bpp = CHANNELS[colorType]! * (depth / 8);
  const rows: Uint8Array[] = [];
  let type = 0;
  for (const [x0, y0, dx, dy] of interlaced ? ADAM7 : [[0, 0, 1, 1] as const]) {
    const w = width > x0 ? Math.ceil((width - x0) / dx) : 0;
    const h = height > y0 ? Math.ceil((height - y0) / dy) : 0;
    if (w === 0 || h === 0) continue;
    let prev = new Uint8Array(w * bpp);
    for (let j = 0; j < h; j++) {
      const raw = new Uint8Array(w * bpp);
      for (let k = 0; k < w; k++) {
        const from = ((y0 + j * dy) * width + x0 + k * dx) * bpp;
        raw.set(bytes.subarray(from, from + bpp), k * bpp);
      }
      rows.push(Uint8Array.of(type), filterRow(raw, prev, type, bpp));
      type = (type + 1) % 5;
      prev = raw;
    }
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([depth, colorType, 0, 0, interlaced ? 1 : 0], 8);
  return concat([
    Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    ...(trns ? [chunk("tRNS", trns)] : []),
    chunk("IDAT", deflateSync(concat(rows))),
    chunk("IEND", new Uint8Array()),
  ]);
}

/** fast-png's decoding turned into 8-bit samples, a tRNS key into alpha: what decodeImage did. */
function oracle(file: Uint8Array): { channels: number; data: number[] } {
  const png = decode(file);
  const channels = png.channels;
  const key = png.transparency;
  const hasKey = key !== undefined && key.length >= channels;
  const data: number[] = [];
  for (let p = 0; p < png.width * png.height; p++) {
    let transparent = hasKey;
    for (let c = 0; c < channels; c++) {
      const v = png.data[p * channels + c]!;
      if (hasKey && v !== key[c]) transparent = false;
      data.push(png.depth === 16 ? Math.round(v / 257) : v);
    }
    if (hasKey) data.push(transparent ? 0 : 255);
  }
  return { channels: channels + (hasKey ? 1 : 0), data };
}

Deno.test("decodeImage() matches fast-png on every colour type, depth, filter and interlacing", () => {
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  // Sizes that leave Adam7 passes empty (1×1, 3×2) and that fill every pass unevenly.
  for (const [width, height] of [[1, 1], [3, 2], [13, 9], [17, 33]] as const) {
    for (const colorType of [0, 2, 4, 6]) {
      for (const depth of [8, 16]) {
        for (const interlaced of [false, true]) {
          const o = { width, height, colorType, depth, interlaced };
          const bytes = new Uint8Array(width * height * CHANNELS[colorType]! * (depth / 8));
          // Few distinct values, so that some pixels equal the tRNS key.
          for (let i = 0; i < bytes.length; i++) bytes[i] = random() & 0xc3;
          const keys = colorType === 0 || colorType === 2
            ? [undefined, bytes.slice(0, 2 * CHANNELS[colorType]!)]
            : [undefined];
          for (const key of keys) {
            // A key is one 16-bit value a channel: the first pixel's samples, widened if 8-bit.
            const trns = key && depth === 8
              ? Uint8Array.from([...key.subarray(0, key.length / 2)].flatMap((v) => [0, v]))
              : key;
            // fast-png refuses a key of more values than pixels (RGB's 3 in a 1×1 image).
            if (trns && trns.length / 2 > width * height) continue;
            const file = writePng(o, bytes, trns);
            const want = oracle(file);
            const got = decodeImage(file, "x.png");
            const what = JSON.stringify({ ...o, key: trns !== undefined });
            assert.deepEqual([got.width, got.height, got.channels], [width, height, want.channels]);
            assert.deepEqual(Array.from(got.data), want.data, what);
          }
        }
      }
    }
  }
});

Deno.test("decodeImage() refuses a PNG of more than MAX_PNG_CHUNKS chunks before decoding", () => {
  const grey = writePng(
    { width: 28, height: 28, colorType: 0, depth: 8, interlaced: false },
    new Uint8Array(28 * 28).fill(9),
  );
  // Empty IDAT chunks after the header: 4 million of them took 13 s and 1.1 GB.
  const padded = (count: number) => {
    const empty = chunk("IDAT", new Uint8Array());
    const parts = [grey.subarray(0, 33), ...new Array(count).fill(empty), grey.subarray(33)];
    return concat(parts);
  };
  // The signature's chunks: IHDR, IDAT, IEND and the empty ones.
  const atLimit = decodeImage(padded(MAX_PNG_CHUNKS - 3), "ok.png");
  assert.ok(atLimit.data.every((v) => v === 9));
  try {
    decodeImage(padded(MAX_PNG_CHUNKS - 2), "many.png");
    assert.fail("expected a UserError");
  } catch (error) {
    assert.ok(error instanceof UserError, String(error));
    assert.equal(
      error.message,
      'Cannot read image "many.png": it is a PNG of more than 20,000 chunks, which is not ' +
        "supported (encoders write image data in chunks of 8 KiB or more)",
    );
    assert.equal(error.hint, "Save it again from an image editor.");
  }
});

Deno.test("decodeImage() ignores tRNS on RGBA, refuses an odd one and odd IHDR methods", () => {
  const o = { width: 5, height: 4, colorType: 6, depth: 8, interlaced: false };
  const rgba = new Uint8Array(5 * 4 * 4).map((_, i) => (i * 37) & 0xff);
  const plain = decodeImage(writePng(o, rgba), "a.png");
  // PNG forbids tRNS with an alpha channel; libpng ignores it, and so does decodeImage.
  assert.deepEqual(decodeImage(writePng(o, rgba, new Uint8Array(8)), "b.png"), plain);
  const grey = { ...o, colorType: 0 };
  const refused = (file: Uint8Array, reason: string) =>
    assert.throws(() => decodeImage(file, "x.png"), (error) => {
      assert.ok(error instanceof UserError, String(error));
      assert.equal(
        error.message,
        `Cannot read image "x.png": the PNG file is truncated or corrupt (${reason})`,
      );
      return true;
    });
  refused(
    writePng(grey, new Uint8Array(20), new Uint8Array(3)),
    "its transparency (tRNS chunk) does not fit the image",
  );
  // IHDR's data starts at byte 16: compression, filter and interlace methods at 26, 27, 28.
  for (
    const [at, value, reason] of [
      [26, 1, "its header gives compression method 1; PNG has only method 0"],
      [27, 2, "its header gives filter method 2; PNG has only method 0"],
      [28, 2, "its header gives interlace method 2; PNG has only 0 (none) and 1 (Adam7)"],
    ] as const
  ) {
    const file = writePng(o, rgba);
    file[at] = value;
    new DataView(file.buffer).setUint32(29, crc32(file.subarray(12, 29)));
    refused(file, reason);
  }
});
