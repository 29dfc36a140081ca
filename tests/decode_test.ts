import assert from "node:assert/strict";
import jpeg from "jpeg-js";
import {
  checkImageSize,
  type DecodedImage,
  decodeImage,
  MAX_FILE_BYTES,
  MAX_PHOTO_PIXELS,
  MAX_PHOTO_SIDE,
  MAX_SIDE,
  orient,
  PHOTO_LIMITS,
  pngInflatedBytes,
  readHeader,
  readImageFile,
  sniffFormat,
} from "../src/image/decode.ts";
import { encodePng } from "../src/image/png.ts";
import { crc32 } from "./png_chunks.ts";
import { UserError } from "../src/errors.ts";

// ---------------------------------------------------------------------------------------------
// A PNG writer for every colour type and bit depth, built by hand from the specification so that
// the decoder is checked against files it did not write itself: filter type 0 on every row (or
// all five in turn for sub-byte samples, on request), samples packed most significant bit first,
// rows padded to a byte, Adam7 passes on request.

interface RawPng {
  width: number;
  height: number;
  depth: 1 | 2 | 4 | 8 | 16;
  /** 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. */
  colorType: 0 | 2 | 3 | 4 | 6;
  /** (height, width, channels) samples at `depth` bits (palette: indices). */
  samples: ArrayLike<number>;
  palette?: number[][];
  /** The tRNS chunk's bytes. */
  trns?: number[];
  interlace?: boolean;
  /** Filter the rows of sub-byte samples with types 0, 1, 2, 3, 4 in turn (else all 0). */
  filtered?: boolean;
  /** Changes the scanlines (filter bytes and rows) before they are compressed. */
  edit?: (scanlines: number[]) => void;
}

const SAMPLES_PER_PIXEL = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as const;
/** Adam7 passes: [x0, y0, dx, dy]. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

async function rawPng(png: RawPng): Promise<Uint8Array> {
  const channels = SAMPLES_PER_PIXEL[png.colorType];
  const scanlines: number[] = [];
  let rows = 0;
  for (const [x0, y0, dx, dy] of png.interlace ? ADAM7 : [[0, 0, 1, 1]]) {
    const passWidth = Math.ceil((png.width - x0!) / dx!);
    const passHeight = Math.ceil((png.height - y0!) / dy!);
    if (passWidth <= 0 || passHeight <= 0) continue;
    let previous = new Uint8Array(Math.ceil((passWidth * channels * png.depth) / 8));
    for (let j = 0; j < passHeight; j++) {
      const row = new Uint8Array(Math.ceil((passWidth * channels * png.depth) / 8));
      let i = 0;
      for (let k = 0; k < passWidth; k++) {
        const pixel = (y0! + j * dy!) * png.width + x0! + k * dx!;
        for (let c = 0; c < channels; c++, i++) {
          const v = png.samples[pixel * channels + c]!;
          if (png.depth === 16) row.set([v >> 8, v & 0xff], 2 * i);
          else if (png.depth === 8) row[i] = v;
          else row[(i * png.depth) >> 3]! |= v << (8 - png.depth - ((i * png.depth) & 7));
        }
      }
      const type = png.filtered && png.depth < 8 ? rows++ % 5 : 0;
      scanlines.push(type, ...filterRow(row, previous, type));
      previous = row;
    }
  }
  png.edit?.(scanlines);
  const idat = await deflate(Uint8Array.from(scanlines));
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, png.width);
  new DataView(ihdr.buffer).setUint32(4, png.height);
  ihdr.set([png.depth, png.colorType, 0, 0, png.interlace ? 1 : 0], 8);
  const chunks = [chunk("IHDR", ihdr)];
  if (png.palette) chunks.push(chunk("PLTE", Uint8Array.from(png.palette.flat())));
  if (png.trns) chunks.push(chunk("tRNS", Uint8Array.from(png.trns)));
  chunks.push(chunk("IDAT", idat), chunk("IEND", new Uint8Array()));
  return concat(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), ...chunks);
}

/**
 * A row of one-byte pixels (sub-byte samples) filtered by `type` (PNG specification, 9.2) against
 * the row above as it was before filtering.
 */
function filterRow(row: Uint8Array, previous: Uint8Array, type: number): Uint8Array {
  return row.map((x, i) => {
    const a = i > 0 ? row[i - 1]! : 0, b = previous[i]!, c = i > 0 ? previous[i - 1]! : 0;
    const p = a + b - c;
    const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
      ? a
      : Math.abs(p - b) <= Math.abs(p - c)
      ? b
      : c;
    const predicted = [0, a, b, (a + b) >> 1, paeth][type]!;
    return (x - predicted) & 0xff;
  });
}

async function deflate(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return await new Response(
    new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate")),
  )
    .bytes();
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Deterministic test samples: `count` values in 0..max. */
function ramp(count: number, max: number, step = 37): number[] {
  return Array.from({ length: count }, (_, i) => (i * step + (i >> 3)) % (max + 1));
}

/** Asserts that `fn` throws a UserError whose message matches `pattern`, and returns it. */
function assertUserError(fn: () => unknown, pattern: RegExp): UserError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof UserError, `expected a UserError, got ${error}`);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "the message is one line");
    return error;
  }
  assert.fail(`expected a UserError matching ${pattern}`);
}

// ---------------------------------------------------------------------------------------------
// Formats

Deno.test("sniffFormat() goes by magic bytes, not the name", async () => {
  const png = await encodePng({ width: 1, height: 1, channels: 1, pixels: Uint8Array.of(0) });
  assert.equal(sniffFormat(png), "png");
  assert.equal(sniffFormat(Uint8Array.of(0xff, 0xd8, 0xff, 0xe0)), "jpeg");
  assert.equal(sniffFormat(new TextEncoder().encode("GIF89a")), undefined);
  assert.equal(sniffFormat(png.subarray(0, 7)), undefined);
  assert.equal(sniffFormat(new Uint8Array()), undefined);
  // A PNG named .jpg is still a PNG.
  assert.equal(decodeImage(png, "really-a-png.jpg").width, 1);
});

Deno.test("decodeImage() reads back 8-bit grey, RGB and RGBA from our encoder exactly", async () => {
  for (const channels of [1, 3, 4] as const) {
    const pixels = Uint8Array.from(ramp(7 * 5 * channels, 255));
    const png = await encodePng({ width: 7, height: 5, channels, pixels });
    assert.deepEqual(decodeImage(png, "x.png"), { width: 7, height: 5, channels, data: pixels });
  }
});

Deno.test("decodeImage() reads 8-bit grey + alpha as two channels", async () => {
  const samples = ramp(6 * 4 * 2, 255);
  const png = await rawPng({ width: 6, height: 4, depth: 8, colorType: 4, samples });
  assert.deepEqual(decodeImage(png, "ga.png"), {
    width: 6,
    height: 4,
    channels: 2,
    data: Uint8Array.from(samples),
  });
});

Deno.test("decodeImage() rounds 16-bit samples to 8 bits for every colour type", async () => {
  // 128 → 0, 129 → 1 (129/257 = 0.502), 32896 = 128·257 → 128, 65535 → 255.
  const edges = [0, 128, 129, 32896, 65535, 257, 65278, 12345];
  for (const colorType of [0, 2, 4, 6] as const) {
    const channels = SAMPLES_PER_PIXEL[colorType];
    const samples = [...edges, ...ramp(5 * 3 * channels, 65535, 4099)].slice(0, 5 * 3 * channels);
    const png = await rawPng({ width: 5, height: 3, depth: 16, colorType, samples });
    const image = decodeImage(png, "16.png");
    assert.equal(image.channels, channels);
    assert.deepEqual(Array.from(image.data), samples.map((v) => Math.round(v / 257)));
  }
});

Deno.test("decodeImage() scales 1-, 2- and 4-bit grey to 0..255", async () => {
  // 9 pixels wide: rows do not end on a byte boundary at any of these depths.
  for (const depth of [1, 2, 4] as const) {
    const max = (1 << depth) - 1;
    const samples = ramp(9 * 3, max, 1);
    const image = decodeImage(
      await rawPng({ width: 9, height: 3, depth, colorType: 0, samples }),
      "low.png",
    );
    assert.equal(image.channels, 1);
    assert.deepEqual(Array.from(image.data), samples.map((v) => Math.round((v * 255) / max)));
  }
});

Deno.test("decodeImage() expands palettes to RGB, and to RGBA with tRNS", async () => {
  const palette = [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [200, 100, 50]];
  for (const depth of [1, 2, 4, 8] as const) {
    const colours = Math.min(palette.length, 1 << depth);
    const indices = ramp(11 * 3, colours - 1, 1);
    const used = palette.slice(0, colours);
    const rgb = decodeImage(
      await rawPng({ width: 11, height: 3, depth, colorType: 3, samples: indices, palette: used }),
      "p.png",
    );
    assert.equal(rgb.channels, 3, `depth ${depth}`);
    assert.deepEqual(Array.from(rgb.data), indices.flatMap((i) => used[i]!));

    // tRNS may be shorter than the palette: the remaining entries are opaque.
    const trns = [0, 128].slice(0, colours);
    const rgba = decodeImage(
      await rawPng({
        width: 11,
        height: 3,
        depth,
        colorType: 3,
        samples: indices,
        palette: used,
        trns,
      }),
      "p.png",
    );
    assert.equal(rgba.channels, 4, `depth ${depth}`);
    assert.deepEqual(Array.from(rgba.data), indices.flatMap((i) => [...used[i]!, trns[i] ?? 255]));
  }
});

Deno.test("decodeImage() turns a tRNS colour key on grey and RGB into an alpha channel", async () => {
  // Grey 8-bit, key 7: those pixels become transparent, the rest opaque.
  const grey = [7, 0, 7, 255, 8, 7];
  const g = decodeImage(
    await rawPng({ width: 3, height: 2, depth: 8, colorType: 0, samples: grey, trns: [0, 7] }),
    "k.png",
  );
  assert.equal(g.channels, 2);
  assert.deepEqual(Array.from(g.data), grey.flatMap((v) => [v, v === 7 ? 0 : 255]));

  // 16-bit grey: the key is compared at 16 bits, so 0x0100 and 0x0101 differ though both
  // round to 1 at 8 bits.
  const g16 = decodeImage(
    await rawPng({
      width: 2,
      height: 1,
      depth: 16,
      colorType: 0,
      samples: [0x0100, 0x0101],
      trns: [0x01, 0x00],
    }),
    "k16.png",
  );
  assert.deepEqual(Array.from(g16.data), [1, 0, 1, 255]);

  // RGB: all three samples must match the key.
  const rgb = [1, 2, 3, 1, 2, 4, 1, 2, 3];
  const c = decodeImage(
    await rawPng({
      width: 3,
      height: 1,
      depth: 8,
      colorType: 2,
      samples: rgb,
      trns: [0, 1, 0, 2, 0, 3],
    }),
    "k.png",
  );
  assert.equal(c.channels, 4);
  assert.deepEqual(Array.from(c.data), [1, 2, 3, 0, 1, 2, 4, 255, 1, 2, 3, 0]);
});

Deno.test("decodeImage() de-interlaces Adam7 PNGs of 8 and 16 bits", async () => {
  // 13 × 11: every pass is partial.
  for (const [depth, colorType] of [[8, 2], [8, 3], [16, 6], [16, 0]] as const) {
    const channels = SAMPLES_PER_PIXEL[colorType];
    const max = colorType === 3 ? 3 : depth === 16 ? 65535 : 255;
    const samples = ramp(13 * 11 * channels, max, colorType === 3 ? 1 : 37);
    const palette = colorType === 3 ? [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]] : undefined;
    const base = { width: 13, height: 11, depth, colorType, samples, palette };
    const plain = decodeImage(await rawPng(base), "plain.png");
    const interlaced = decodeImage(await rawPng({ ...base, interlace: true }), "adam7.png");
    assert.deepEqual(interlaced, plain, `depth ${depth}, colour type ${colorType}`);
  }
});

Deno.test("decodeImage() de-interlaces Adam7 PNGs of 1, 2 and 4 bits, every filter type", async () => {
  // 13 × 11 and 3 × 2: every pass partial, and passes with no pixels at all.
  for (const [width, height] of [[13, 11], [3, 2], [1, 1]] as const) {
    for (const depth of [1, 2, 4] as const) {
      for (const colorType of [0, 3] as const) {
        const max = (1 << depth) - 1;
        const samples = ramp(width * height, max, 7);
        const palette = colorType === 3
          ? Array.from({ length: max + 1 }, (_, i) => [i, 2 * i, 3 * i])
          : undefined;
        // A colour key on grey; palette alpha for the first entries.
        const trns = colorType === 3 ? [0, 128] : [0, 1];
        const base = { width, height, depth, colorType, samples, palette, trns, filtered: true };
        const plain = decodeImage(await rawPng(base), "plain.png");
        const interlaced = decodeImage(await rawPng({ ...base, interlace: true }), "adam7.png");
        const what = `${width}×${height}, depth ${depth}, colour type ${colorType}`;
        assert.deepEqual(interlaced, plain, what);
      }
    }
  }
});

Deno.test("decodeImage() names a damaged interlaced sub-byte PNG as corrupt", async () => {
  const base = {
    width: 9,
    height: 9,
    depth: 1,
    colorType: 0,
    samples: ramp(81, 1, 1),
    interlace: true,
  } as const;
  const corrupt = (reason: string) =>
    new RegExp(
      `^Cannot read image "i\\.png": the PNG file is truncated or corrupt \\(${reason}\\)$`,
    );
  // The first row's filter type is the first byte the image data inflates to.
  const badFilter = await rawPng({ ...base, edit: (lines) => (lines[0] = 7) });
  assertUserError(
    () => decodeImage(badFilter, "i.png"),
    corrupt("a row of its image data has filter type 7, which PNG does not have"),
  );
  // Image data that inflates to fewer rows than the passes need.
  const short = await rawPng({ ...base, edit: (lines) => lines.splice(-4) });
  assertUserError(() => decodeImage(short, "i.png"), corrupt("its image data ends early"));
});

// ---------------------------------------------------------------------------------------------
// Sizes

/** A PNG of just a signature and an IHDR chunk: no pixel data at all. */
function pngHeaderOnly(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([8, 2], 8); // 8-bit RGB
  return concat(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), chunk("IHDR", ihdr));
}

/** A JPEG of just SOI and a baseline frame header (SOF0, 3 components): no image data. */
function jpegHeaderOnly(width: number, height: number): Uint8Array {
  const sof = [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 3];
  for (let c = 1; c <= 3; c++) sof.push(c, 0x11, 0);
  return Uint8Array.of(0xff, 0xd8, 0xff, 0xc0, 0, sof.length + 2, ...sof);
}

Deno.test("readHeader() reads PNG and JPEG dimensions without decoding", () => {
  assert.deepEqual(readHeader(pngHeaderOnly(5000, 3), "h.png"), {
    format: "png",
    width: 5000,
    height: 3,
    bitDepth: 8,
    colorType: 2,
    interlaced: false,
    orientation: 1,
  });
  const header = readHeader(jpegHeaderOnly(640, 480), "h.jpg");
  assert.deepEqual([header.format, header.width, header.height, header.colorType], [
    "jpeg",
    640,
    480,
    3,
  ]);
});

Deno.test("decodeImage() rejects images above 16 megapixels from the header alone", () => {
  assert.equal(MAX_SIDE, 8000);
  // These files end after the header: decoding them would fail with "truncated or corrupt",
  // so the size message proves the check came first.
  for (const [width, height, mp] of [[5000, 5000, "25"], [4001, 4000, "16.004"]] as const) {
    const pattern = new RegExp(
      `^Cannot read image "big\\.png": ${width}×${height} pixels is ${mp} megapixels, over ` +
        `the limit of 16 megapixels$`,
    );
    const error = assertUserError(
      () => decodeImage(pngHeaderOnly(width, height), "big.png"),
      pattern,
    );
    assert.equal(
      error.hint,
      "Scale it down: images are read at 768 pixels anyway, so a longer side of 2000 pixels " +
        "is plenty, e.g. `magick photo.jpg -resize 2000x2000 small.jpg` (ImageMagick) or " +
        "`sips -Z 2000 photo.jpg --out small.jpg` (macOS).",
    );
  }
  // A 12 MP phone photo passes the size check (and then fails only for being a bare header).
  assertUserError(
    () => decodeImage(pngHeaderOnly(4032, 3024), "phone.png"),
    /truncated or corrupt/,
  );
  assertUserError(
    () => decodeImage(jpegHeaderOnly(5000, 5000), "big.jpg"),
    /^Cannot read image "big\.jpg": 5000×5000 pixels is 25 megapixels, over the limit of 16 /,
  );
  // At the limit, the header passes and the missing data is what fails.
  assertUserError(() => decodeImage(pngHeaderOnly(4000, 4000), "edge.png"), /truncated or corrupt/);
});

Deno.test("decodeImage() says the side limit for a long thin image, over the side limit only", () => {
  for (const [width, height] of [[10000, 1], [8001, 1], [1, 8001]] as const) {
    const error = assertUserError(
      () => decodeImage(pngHeaderOnly(width, height), "thin.png"),
      new RegExp(
        `^Cannot read image "thin\\.png": ${width}×${height} pixels is over the limit of ` +
          `8000 pixels a side$`,
      ),
    );
    assert.match(error.hint ?? "", /magick photo\.jpg -resize 2000x2000 small\.jpg/);
  }
  // Over both: both, each in its units.
  assertUserError(
    () => decodeImage(pngHeaderOnly(0xffffffff, 2), "thin.png"),
    /^Cannot read image "thin\.png": 4294967295×2 pixels is over the limit of 8000 pixels a side and, at 8589\.9 megapixels, over the limit of 16 megapixels$/,
  );
});

Deno.test("checkImageSize() says the limits it is given, the same way for any image", () => {
  checkImageSize({ width: 8000, height: 2000 }, { name: "edge.png" });
  const cases = [
    [8001, 10, "over the limit of 8000 pixels a side"],
    [4001, 4000, "16.004 megapixels, over the limit of 16 megapixels"],
    [8000, 8000, "64 megapixels, over the limit of 16 megapixels"],
    // A 24 MP phone photo is under 8000 pixels a side: only the megapixels are named.
    [4284, 5712, "24.5 megapixels, over the limit of 16 megapixels"],
    [4001, 4001, "16.01 megapixels, over the limit of 16 megapixels"],
  ] as const;
  for (const [width, height, broken] of cases) {
    const error = assertUserError(
      () => checkImageSize({ width, height }, { name: "x.png" }),
      new RegExp(`^Cannot read image "x\\.png": ${width}×${height} pixels is ${broken}$`),
    );
    assert.match(error.hint ?? "", /^Scale it down: .* `magick photo\.jpg -resize 2000x2000/);
  }
  const error = assertUserError(
    () => checkImageSize({ width: 30, height: 30 }, { name: "b", maxSide: 40, maxPixels: 640 }),
    /^Cannot read image "b": 30×30 pixels is 900 pixels, over the limit of 640 pixels$/,
  );
  // The suggested size is within the limits given.
  assert.match(error.hint ?? "", /a longer side of 25 pixels .* -resize 25x25 /);
});

Deno.test("mnist predict's limits read a 50 MP phone photo: 8192 pixels a side, 50 MP", () => {
  assert.deepEqual(PHOTO_LIMITS, { maxSide: MAX_PHOTO_SIDE, maxPixels: MAX_PHOTO_PIXELS });
  assert.deepEqual([MAX_PHOTO_SIDE, MAX_PHOTO_PIXELS], [8192, 50_000_000]);
  // 50 MP (8160×6120), 24 MP (5712×4284) and 20 MP (5472×3648) phone photos pass.
  for (const [width, height] of [[6120, 8160], [8160, 6120], [4284, 5712], [3648, 5472]] as const) {
    checkImageSize({ width, height }, { name: "phone.jpg", ...PHOTO_LIMITS });
  }
  assertUserError(
    () => checkImageSize({ width: 6936, height: 9248 }, { name: "64mp.jpg", ...PHOTO_LIMITS }),
    /^Cannot read image "64mp\.jpg": 6936×9248 pixels is over the limit of 8192 pixels a side and, at 64\.1 megapixels, over the limit of 50 megapixels$/,
  );
  assertUserError(
    () => checkImageSize({ width: 8192, height: 8192 }, { name: "sq.jpg", ...PHOTO_LIMITS }),
    /^Cannot read image "sq\.jpg": 8192×8192 pixels is 67\.1 megapixels, over the limit of 50 megapixels$/,
  );
});

Deno.test("readImageFile() reads up to mnist predict's limits; decodeImage() keeps serve's", async () => {
  // A 24 MP JPEG header with too little after it: over decodeImage's default 16 MP, and within
  // readImageFile's 50 MP, where only its missing data is what fails.
  const header = jpegHeaderOnly(4284, 5712);
  assertUserError(
    () => decodeImage(header, "phone.jpg"),
    /^Cannot read image "phone\.jpg": 4284×5712 pixels is 24\.5 megapixels, over the limit of 16 megapixels$/,
  );
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/phone.jpg`;
    await Deno.writeFile(path, header);
    await assert.rejects(
      () => readImageFile(path),
      (error: Error) => {
        assert.ok(error instanceof UserError);
        assert.match(
          error.message,
          /phone\.jpg": the JPEG file is truncated or corrupt \(its 21 bytes are too few for the 4284×5712 pixels its header gives, which need at least 47838\)$/,
        );
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("decodeImage() refuses a small JPEG claiming many pixels before jpeg-js allocates them", () => {
  // A real 16×16 JPEG whose frame header is made to claim 8000×6000 (48 MP): jpeg-js would
  // allocate 750,000 blocks a component (1.5 GB) from the header before reading any.
  const small = jpeg.encode({ width: 16, height: 16, data: new Uint8Array(16 * 16 * 4) }, 50).data;
  const bomb = new Uint8Array(small);
  const sof = bomb.findIndex((b, i) => b === 0xff && bomb[i + 1] === 0xc0);
  new DataView(bomb.buffer).setUint16(sof + 5, 6000);
  new DataView(bomb.buffer).setUint16(sof + 7, 8000);
  const started = performance.now();
  assertUserError(
    () => decodeImage(bomb, "bomb.jpg", PHOTO_LIMITS),
    /^Cannot read image "bomb\.jpg": the JPEG file is truncated or corrupt \(its \d+ bytes are too few for the 8000×6000 pixels its header gives, which need at least 93750\)$/,
  );
  assert.ok(performance.now() - started < 1000, "refused before decoding");
  // The same bytes at their own size decode.
  assert.equal(decodeImage(small, "small.jpg").width, 16);
});

Deno.test("decodeImage() refuses a JPEG of 2 or more than 4 colour components before decoding", () => {
  for (const components of [2, 5, 255]) {
    const sof = [8, 0, 8, 0, 8, components];
    for (let c = 1; c <= components; c++) sof.push(c, 0x11, 0);
    const length = sof.length + 2;
    const file = Uint8Array.of(
      0xff,
      0xd8,
      0xff,
      0xc0,
      length >> 8,
      length & 0xff,
      ...sof,
      0xff,
      0xd9,
    );
    assertUserError(
      () => decodeImage(file, "c.jpg"),
      new RegExp(`^Cannot read image "c\\.jpg": it is a JPEG of ${components} colour components`),
    );
  }
});

Deno.test("decodeImage() rejects a header of zero pixels", () => {
  assertUserError(
    () => decodeImage(pngHeaderOnly(0, 5), "zero.png"),
    /^Cannot read image "zero\.png": its header says 0×5 pixels$/,
  );
  assertUserError(
    () => decodeImage(jpegHeaderOnly(7, 0), "zero.jpg"),
    /^Cannot read image "zero\.jpg": its header says 7×0 pixels$/,
  );
});

Deno.test("decodeImage() decodes a 4000×1 PNG, at the limit", async () => {
  const pixels = Uint8Array.from(ramp(4000, 255));
  const image = decodeImage(
    await encodePng({ width: 4000, height: 1, channels: 1, pixels }),
    "wide.png",
  );
  assert.deepEqual(image.data, pixels);
});

// ---------------------------------------------------------------------------------------------
// Bad files

Deno.test("decodeImage() names what is not a PNG or JPEG image", () => {
  const text = new TextEncoder().encode("hello, I am a text file\n");
  const error = assertUserError(
    () => decodeImage(text, "notes.png"),
    /^Cannot read image "notes\.png": it is not a PNG or JPEG image$/,
  );
  assert.equal(error.hint, "Save it as PNG or JPEG.");
  assertUserError(
    () => decodeImage(new Uint8Array(), "empty.png"),
    /^Cannot read image "empty\.png": the file is empty$/,
  );
  const gif = new TextEncoder().encode("GIF89a\x01\x00\x01\x00");
  assertUserError(
    () => decodeImage(gif, "a.gif"),
    /^Cannot read image "a\.gif": it is a GIF image, not a PNG or JPEG image$/,
  );
  const heic = Uint8Array.of(0, 0, 0, 24, ...new TextEncoder().encode("ftypheic"), 0, 0);
  const heicError = assertUserError(
    () => decodeImage(heic, "IMG_0001.HEIC"),
    /^Cannot read image "IMG_0001\.HEIC": it is a HEIC image, not a PNG or JPEG image$/,
  );
  assert.match(
    heicError.hint ?? "",
    /^Convert it to JPEG: .*Settings › Camera › Formats › Most Compatible/,
  );
});

Deno.test("decodeImage() reports truncated and corrupt PNGs in plain words, with a hint", async () => {
  const png = await encodePng({
    width: 40,
    height: 30,
    channels: 3,
    pixels: Uint8Array.from(ramp(40 * 30 * 3, 255)),
  });
  const corrupt = (reason: string) =>
    new RegExp(
      `^Cannot read image "t\\.png": the PNG file is truncated or corrupt \\(${reason}\\)$`,
    );
  const error = assertUserError(
    () => decodeImage(png.subarray(0, 20), "t.png"),
    corrupt("the file ends inside its header"),
  );
  assert.match(error.hint ?? "", /^Copy or download the file again/);
  // Cut inside IDAT; then just before IEND, and inside it.
  for (const length of [60, Math.floor(png.length / 2)]) {
    assertUserError(
      () => decodeImage(png.subarray(0, length), "t.png"),
      corrupt("its image data ends early"),
    );
  }
  for (const length of [png.length - 12, png.length - 1]) {
    assertUserError(
      () => decodeImage(png.subarray(0, length), "t.png"),
      corrupt("the file ends early"),
    );
  }
  // A flipped bit in the image data: the CRC catches it.
  const flipped = png.slice();
  flipped[60]! ^= 0x10;
  assertUserError(
    () => decodeImage(flipped, "t.png"),
    corrupt("its image data \\(IDAT chunk\\) does not match its checksum \\(CRC\\)"),
  );
  // A chunk that is not IHDR first.
  const swapped = png.slice();
  swapped.set(new TextEncoder().encode("IHDX"), 12);
  assertUserError(() => decodeImage(swapped, "t.png"), /it does not start with a header/);
  // A zlib stream that is valid but holds too few rows: fast-png reads past its end.
  const ihdr = png.subarray(16, 29);
  const short = concat(
    png.subarray(0, 8),
    chunk("IHDR", ihdr),
    chunk("IDAT", await deflate(new Uint8Array(10 * 121))),
    chunk("IEND", new Uint8Array()),
  );
  assertUserError(() => decodeImage(short, "t.png"), corrupt("its image data ends early"));
  // A zlib stream cut short, in a complete chunk.
  const deflated = await deflate(new Uint8Array(30 * 121));
  const cut = concat(
    png.subarray(0, 8),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflated.subarray(0, deflated.length - 6)),
    chunk("IEND", new Uint8Array()),
  );
  assertUserError(() => decodeImage(cut, "t.png"), corrupt("its image data ends early"));
  // A row whose filter type is not one of PNG's five.
  const rows = new Uint8Array(30 * 121);
  rows[121 * 3] = 7;
  const badFilter = concat(
    png.subarray(0, 8),
    chunk("IHDR", ihdr),
    chunk("IDAT", await deflate(rows)),
    chunk("IEND", new Uint8Array()),
  );
  assertUserError(
    () => decodeImage(badFilter, "t.png"),
    corrupt("a row of its image data has filter type 7, which PNG does not have"),
  );
});

Deno.test("decodeImage() reports truncated and corrupt JPEGs in plain words, with a hint", () => {
  const { data } = jpeg.encode({
    width: 64,
    height: 48,
    data: Uint8Array.from(ramp(64 * 48 * 4, 255)),
  }, 80);
  const bytes = new Uint8Array(data);
  const corrupt = (reason: string) =>
    new RegExp(
      `^Cannot read image "t\\.jpg": the JPEG file is truncated or corrupt \\(${reason}\\)$`,
    );
  for (const length of [4, 30]) {
    assertUserError(
      () => decodeImage(bytes.subarray(0, length), "t.jpg"),
      corrupt("the file ends inside its header"),
    );
  }
  for (const length of [Math.floor(bytes.length / 2), bytes.length - 2]) {
    const error = assertUserError(
      () => decodeImage(bytes.subarray(0, length), "t.jpg"),
      corrupt("its image data ends early"),
    );
    assert.match(error.hint ?? "", /^Copy or download the file again/);
  }
  // jpeg-js says "unexpected marker: ffff" or the like; the message says what that means.
  const garbled = bytes.slice();
  garbled.fill(0xff, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 50);
  assertUserError(
    () => decodeImage(garbled, "t.jpg"),
    corrupt("its compressed image data is damaged"),
  );
  // Scan data before any frame header.
  assertUserError(
    () => decodeImage(Uint8Array.of(0xff, 0xd8, 0xff, 0xda, 0, 2), "t.jpg"),
    corrupt("its image data comes before the header giving its size"),
  );
});

Deno.test("decodeImage() refuses lossless and 12-bit JPEGs with a clear message", () => {
  const sof3 = jpegHeaderOnly(8, 8);
  sof3[3] = 0xc3;
  assertUserError(
    () => decodeImage(sof3, "l.jpg"),
    /^Cannot read image "l\.jpg": it is a lossless JPEG \(SOF3\), which is not supported$/,
  );
  const sof9 = jpegHeaderOnly(8, 8);
  sof9[3] = 0xc9;
  assertUserError(
    () => decodeImage(sof9, "a.jpg"),
    /^Cannot read image "a\.jpg": it is an arithmetic-coded or hierarchical JPEG \(SOF9\), /,
  );
  const twelve = jpegHeaderOnly(8, 8);
  twelve[3] = 0xc1; // extended sequential
  twelve[6] = 12; // sample precision
  assertUserError(
    () => decodeImage(twelve, "12.jpg"),
    /^Cannot read image "12\.jpg": it is a 12-bit JPEG, which is not supported$/,
  );
});

// ---------------------------------------------------------------------------------------------
// JPEG

/** A 16×8 grey baseline JPEG (libjpeg-turbo's cjpeg -grayscale -quality 95) of columns 16·x. */
const GREY_JPEG =
  "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/wAALCAAIABABAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/APzf/wCCbf8Ay4f8Br+gD/gm3/y4f8Br/9k=";

/**
 * A 16×16 progressive JPEG (cjpeg -progressive -quality 95) of four 8×8 quadrants: red, green
 * (top), blue, light grey (bottom).
 */
const PROGRESSIVE_JPEG =
  "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/2wBDAQICAgICAgUDAwUKBwYHCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgr/wgARCAAQABADASIAAhEBAxEB/8QAFgABAQEAAAAAAAAAAAAAAAAABwgJ/8QAFAEBAAAAAAAAAAAAAAAAAAAAAP/aAAwDAQACEAMQAAABL1yZ9WD/xAAUEAEAAAAAAAAAAAAAAAAAAAAg/9oACAEBAAEFAh//xAAgEQABAgUFAAAAAAAAAAAAAAASERMABAYUFyExYWJy/9oACAEDAQE/Aa8nMg2+jLJ91MfKIPO8f//EACARAAEACwEAAAAAAAAAAAAAABIAAQYHERMVJDFCUWL/2gAIAQIBAT8BbB29Jk3REWkMD7X1P//EABQQAQAAAAAAAAAAAAAAAAAAACD/2gAIAQEABj8CH//EABQQAQAAAAAAAAAAAAAAAAAAACD/2gAIAQEAAT8hH//aAAwDAQACAAMAAAAQA//EABgRAAIDAAAAAAAAAAAAAAAAABGhIVGx/9oACAEDAQE/ENvkrlQT/8QAGREAAQUAAAAAAAAAAAAAAAAAABExcZHR/9oACAECAQE/EMUawWDH/8QAFBABAAAAAAAAAAAAAAAAAAAAIP/aAAgBAQABPxAf/9k=";

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

Deno.test("decodeImage() decodes an RGB JPEG close to what was encoded", () => {
  // Smooth content, so quality 95 keeps every sample within a few levels.
  const width = 24, height = 16;
  const rgba = new Uint8Array(width * height * 4);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const colour = [60 + 4 * x, 80 + 5 * y, 150];
      rgba.set([...colour, 255], p * 4);
      rgb.set(colour, p * 3);
    }
  }
  const image = decodeImage(
    new Uint8Array(jpeg.encode({ width, height, data: rgba }, 95).data),
    "c.jpg",
  );
  assert.deepEqual([image.width, image.height, image.channels], [width, height, 3]);
  assert.ok(
    maxDifference(image.data, rgb) <= 6,
    `max difference ${maxDifference(image.data, rgb)}`,
  );
});

Deno.test("decodeImage() keeps one channel for a grey JPEG", () => {
  const image = decodeImage(fromBase64(GREY_JPEG), "g.jpg");
  assert.deepEqual([image.width, image.height, image.channels], [16, 8, 1]);
  const expected = Array.from({ length: 16 * 8 }, (_, p) => 16 * (p % 16));
  assert.ok(maxDifference(image.data, expected) <= 3);
});

Deno.test("decodeImage() decodes a progressive JPEG", () => {
  const image = decodeImage(fromBase64(PROGRESSIVE_JPEG), "p.jpg");
  assert.deepEqual([image.width, image.height, image.channels], [16, 16, 3]);
  const quadrant = (x: number, y: number) =>
    y < 8 ? (x < 8 ? [200, 40, 40] : [40, 200, 40]) : (x < 8 ? [40, 40, 200] : [230, 230, 230]);
  // Chroma is subsampled 2×2, so compare the quadrants' centres.
  for (const [x, y] of [[3, 3], [12, 3], [3, 12], [12, 12]] as const) {
    const p = (y * 16 + x) * 3;
    const got = Array.from(image.data.subarray(p, p + 3));
    assert.ok(maxDifference(got, quadrant(x, y)) <= 12, `(${x}, ${y}): ${got}`);
  }
});

// ---------------------------------------------------------------------------------------------
// EXIF orientation

/** Rotates 90° clockwise: the oracle that `orient`'s table is checked against. */
function rotate90(image: DecodedImage): DecodedImage {
  const { width: w, height: h, channels: c, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // Stored (x, y) → displayed (h-1-y, x) in a h-wide image.
      out.set(data.subarray((y * w + x) * c, (y * w + x + 1) * c), (x * h + (h - 1 - y)) * c);
    }
  }
  return { width: h, height: w, channels: c, data: out };
}

function mirror(image: DecodedImage): DecodedImage {
  const { width: w, height: h, channels: c, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      out.set(data.subarray((y * w + x) * c, (y * w + x + 1) * c), (y * w + (w - 1 - x)) * c);
    }
  }
  return { ...image, data: out };
}

Deno.test("orient() matches compositions of a rotation and a mirror for all 8 orientations", () => {
  const image: DecodedImage = {
    width: 3,
    height: 2,
    channels: 2,
    data: Uint8Array.from({ length: 12 }, (_, i) => i),
  };
  const r = rotate90;
  const expected: Record<number, DecodedImage> = {
    1: image,
    2: mirror(image),
    3: r(r(image)),
    4: mirror(r(r(image))),
    5: mirror(r(image)),
    6: r(image),
    7: mirror(r(r(r(image)))),
    8: r(r(r(image))),
  };
  for (let o = 1; o <= 8; o++) assert.deepEqual(orient(image, o), expected[o], `orientation ${o}`);
});

/** An APP1 segment holding a little- or big-endian TIFF header whose IFD0 has one tag. */
function exifSegment(orientation: number, little: boolean): Uint8Array {
  const tiff = new Uint8Array(8 + 2 + 12 + 4);
  const view = new DataView(tiff.buffer);
  tiff.set(little ? [0x49, 0x49] : [0x4d, 0x4d]);
  view.setUint16(2, 42, little);
  view.setUint32(4, 8, little);
  view.setUint16(8, 1, little); // one entry
  view.setUint16(10, 0x0112, little); // Orientation
  view.setUint16(12, 3, little); // SHORT
  view.setUint32(14, 1, little); // count
  view.setUint16(18, orientation, little);
  const body = concat(new TextEncoder().encode("Exif\0\0"), tiff);
  return concat(Uint8Array.of(0xff, 0xe1, (body.length + 2) >> 8, (body.length + 2) & 0xff), body);
}

Deno.test("decodeImage() applies a JPEG's EXIF orientation, so phone photos come out upright", () => {
  // 32×16 stored: left half dark, right half light. Orientation 6 (the camera was turned
  // clockwise) displays it 16×32 with the stored left half on top.
  const width = 32, height = 16;
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    const v = p % width < 16 ? 20 : 230;
    rgba.set([v, v, v, 255], p * 4);
  }
  const plain = new Uint8Array(jpeg.encode({ width, height, data: rgba }, 90).data);
  for (const little of [true, false]) {
    const rotated = concat(plain.subarray(0, 2), exifSegment(6, little), plain.subarray(2));
    assert.equal(readHeader(rotated, "r.jpg").orientation, 6);
    const image = decodeImage(rotated, "r.jpg");
    assert.deepEqual([image.width, image.height], [16, 32]);
    const at = (x: number, y: number) => image.data[(y * 16 + x) * 3]!;
    assert.ok(at(8, 4) < 60 && at(8, 27) > 190, `top ${at(8, 4)}, bottom ${at(8, 27)}`);
  }
  assert.equal(readHeader(plain, "p.jpg").orientation, 1);
});

// ---------------------------------------------------------------------------------------------
// Files

Deno.test("readImageFile() reads a file and names a missing file or a directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pixels = Uint8Array.of(0, 255, 128, 7);
    await Deno.writeFile(
      `${dir}/d.png`,
      await encodePng({ width: 2, height: 2, channels: 1, pixels }),
    );
    assert.deepEqual(await readImageFile(`${dir}/d.png`), {
      width: 2,
      height: 2,
      channels: 1,
      data: pixels,
    });
    await assert.rejects(
      readImageFile(`${dir}/missing.png`),
      (e: unknown) =>
        e instanceof UserError &&
        e.message === `Cannot read image "${dir}/missing.png": no such file or directory`,
    );
    await assert.rejects(
      readImageFile(dir),
      (e: unknown) =>
        e instanceof UserError && e.message === `Cannot read image "${dir}": it is a directory`,
    );
    await Deno.writeTextFile(`${dir}/notes.txt`, "not an image");
    await assert.rejects(
      readImageFile(`${dir}/notes.txt`),
      (e: unknown) => e instanceof UserError && /not a PNG or JPEG image$/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readImageFile() refuses a device, a FIFO and a file over the cap before reading", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      readImageFile("/dev/zero"),
      (e: unknown) =>
        e instanceof UserError &&
        e.message === `Cannot read image "/dev/zero": it is not a regular file (a device, FIFO ` +
            `or socket)`,
    );
    // Opening a FIFO with no writer would block: the stat must refuse it first.
    const fifo = `${dir}/pipe.png`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success);
    await assert.rejects(readImageFile(fifo), /not a regular file/);
    // A sparse file one byte over the cap: refused from its size, nothing read.
    const big = `${dir}/big.png`;
    await Deno.writeFile(big, new Uint8Array());
    await Deno.truncate(big, MAX_FILE_BYTES + 1);
    await assert.rejects(
      readImageFile(big),
      (e: unknown) =>
        e instanceof UserError &&
        e.message === `Cannot read image "${big}": it is 64.0 MiB, more than the 64 MiB limit ` +
            `for image files`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Decompression bombs

Deno.test("pngInflatedBytes() is the size of the zlib stream our own encoder writes", async () => {
  for (const interlace of [false, true]) {
    for (const [width, height] of [[1, 1], [3, 2], [9, 9], [28, 28], [17, 5]] as const) {
      const png = await rawPng({
        width,
        height,
        depth: 8,
        colorType: 2,
        samples: ramp(width * height * 3, 255),
        interlace,
      });
      const header = readHeader(png, "x.png");
      // The rows rawPng deflated: decoding inflates exactly these, so the bound is tight.
      assert.ok(decodeImage(png, "x.png"));
      let rows = 0;
      for (const [x0, y0, dx, dy] of interlace ? ADAM7 : [[0, 0, 1, 1]]) {
        const w = Math.ceil((width - x0!) / dx!);
        const h = Math.ceil((height - y0!) / dy!);
        if (w > 0 && h > 0) rows += h * (1 + w * 3);
      }
      assert.equal(pngInflatedBytes(header), rows, `${width}×${height} interlace ${interlace}`);
    }
  }
});

Deno.test("decodeImage() stops inflating a PNG bomb at what its header allows", async () => {
  // The shared case: a 28×28 header over an IDAT that inflates to 256 MiB.
  const bomb = await Deno.readFile(
    new URL("./fixtures/cases/png-bomb-28x28-256mib.png", import.meta.url),
  );
  const before = Deno.memoryUsage().rss;
  const started = performance.now();
  assertUserError(
    () => decodeImage(bomb, "bomb.png"),
    /^Cannot read image "bomb\.png": its image data inflates to more than the 812 bytes its 28×28 header allows \(a decompression bomb\?\)$/,
  );
  // Inflating 256 MiB takes seconds and the memory with it; stopping at 812 bytes does not.
  assert.ok(performance.now() - started < 2000, "stopped early");
  assert.ok(Deno.memoryUsage().rss - before < 64 * 2 ** 20, "no 256 MiB buffer");
  // The same kind, built here: interlaced, and spread over several IDAT chunks.
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, 28);
  new DataView(ihdr.buffer).setUint32(4, 28);
  ihdr.set([8, 0, 0, 0, 1], 8);
  const zeros = await deflate(new Uint8Array(8 * 2 ** 20));
  const half = zeros.length >> 1;
  const split = concat(
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    chunk("IHDR", ihdr),
    chunk("IDAT", zeros.subarray(0, half)),
    chunk("IDAT", zeros.subarray(half)),
    chunk("IEND", new Uint8Array()),
  );
  assertUserError(() => decodeImage(split, "adam7.png"), /inflates to more than the \d+ bytes/);
});

Deno.test("decodeImage() ignores a compressed ICC profile, a second place for a bomb", async () => {
  const png = await rawPng({
    width: 4,
    height: 3,
    depth: 8,
    colorType: 0,
    samples: ramp(12, 255),
  });
  // iCCP: a name, a NUL, compression method 0, then a zlib stream (here, 64 MiB of zeros).
  const profile = concat(
    new TextEncoder().encode("bomb"),
    Uint8Array.of(0, 0),
    await deflate(new Uint8Array(64 * 2 ** 20)),
  );
  const withProfile = concat(png.subarray(0, 33), chunk("iCCP", profile), png.subarray(33));
  const before = Deno.memoryUsage().rss;
  assert.deepEqual(decodeImage(withProfile, "icc.png"), decodeImage(png, "plain.png"));
  assert.ok(Deno.memoryUsage().rss - before < 32 * 2 ** 20, "the profile was not inflated");
});
