/**
 * Image files to pixels: PNG through fast-png, JPEG through jpeg-js, both pure JavaScript.
 *
 * The format is sniffed from the first bytes, never the file name. The header is read here,
 * before any decoder runs, so an image claiming absurd dimensions is refused before a pixel
 * buffer is allocated. Every sample comes out as 8 bits: palettes are expanded to RGB(A), PNG
 * transparency keys (tRNS) become an alpha channel, 1-, 2- and 4-bit grey is scaled to 0..255,
 * 16-bit samples are rounded to 8 bits, and a JPEG's EXIF orientation is applied so a phone
 * photo comes out upright.
 */
import { decode as decodePng, type DecodedPng } from "fast-png";
import jpeg from "jpeg-js";
import { crc32, deflateSync, inflateSync } from "node:zlib";
import { messageOf, UserError } from "../errors.ts";
import { readCapped } from "../fs.ts";

/** Decoded pixels, 8 bits per sample. */
export interface DecodedImage {
  /** Pixels per row, within the limits it was read with (`SizeLimits`). */
  width: number;
  /** Rows, within the same limits. */
  height: number;
  /** 1: grey, 2: grey + alpha, 3: RGB, 4: RGBA. */
  channels: 1 | 2 | 3 | 4;
  /** (height, width, channels) u8 samples, row-major. */
  data: Uint8Array;
}

/**
 * The most pixels `decodeImage` accepts by default, and `mnist serve` for each request: those of
 * a 4000×4000 image (16 MP), so a 12 MP phone photo (4032×3024) is read; checked from the header
 * before any pixel is decoded. `mnist predict` reads files up to `MAX_PHOTO_PIXELS`.
 */
export const MAX_PIXELS = 4000 * 4000;

/** The longest side `decodeImage` accepts by default, and `mnist serve`, in pixels. */
export const MAX_SIDE = 8000;

/**
 * The most pixels `mnist predict` reads (`readImageFile`): 50 MP, a 50 MP phone's photo
 * (8160×6120) and every smaller one (24 MP 5712×4284, 20 MP 5472×3648). Decoding a JPEG takes
 * jpeg-js about 25 bytes a pixel at its peak (its 8×8 blocks are one typed array each), so a
 * 50 MP 4:2:0 JPEG (a phone's) peaks at about 1.5 GB and a 4:4:4 one at about 2.3 GB; a PNG of
 * 50 MP at about 0.6 GB. Memory is bounded by the header's size: a small file claiming many
 * pixels is refused before decoding (`decodeJpegPixels`, `boundedPng`).
 */
export const MAX_PHOTO_PIXELS = 50_000_000;

/** The longest side `mnist predict` reads, in pixels: 8192 (an 8160×6120 photo). */
export const MAX_PHOTO_SIDE = 8192;

/**
 * The largest image file read, in bytes: 64 MiB. A 50 MP phone JPEG is 5–25 MB, a 16 MP RGBA PNG
 * stored without compression 61 MiB; anything larger is refused before it is read.
 */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** The formats `decodeImage` reads. */
export type ImageFormat = "png" | "jpeg";

/** What the header says, read without decoding any pixel. */
export interface ImageHeader {
  /** From the first bytes (`sniffFormat`: PNG's signature, JPEG's SOI), never the name. */
  format: ImageFormat;
  /** Pixels per row, as the header says (IHDR or the JPEG frame header). */
  width: number;
  /** Rows, as the header says. */
  height: number;
  /** PNG: bit depth of a sample (1, 2, 4, 8 or 16); JPEG: sample precision (8 or 12). */
  bitDepth: number;
  /** PNG: colour type 0, 2, 3, 4 or 6; JPEG: the number of components (1, 3 or 4). */
  colorType: number;
  /** PNG: Adam7 interlacing. JPEG: false. */
  interlaced: boolean;
  /** JPEG: the EXIF orientation 1..8 (1 when absent). PNG: 1. */
  orientation: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Formats we recognise only to name them in the error: [name, offset, magic bytes]. */
const OTHER_FORMATS: [string, number, string][] = [
  ["GIF", 0, "GIF8"],
  ["WebP", 8, "WEBP"],
  ["BMP", 0, "BM"],
  ["TIFF", 0, "II*\0"],
  ["TIFF", 0, "MM\0*"],
  ["HEIC", 4, "ftypheic"],
  ["HEIC", 4, "ftypheix"],
  ["HEIC", 4, "ftypmif1"],
  ["HEIC", 4, "ftyphevc"],
  ["HEIC", 4, "ftypmsf1"],
  ["AVIF", 4, "ftypavif"],
];

/** The format of `bytes` by its magic number, or undefined when it is neither PNG nor JPEG. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return "png";
  // SOI followed by the 0xFF of the first marker.
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  return undefined;
}

/**
 * Reads the dimensions and sample format from the header of a PNG (its IHDR chunk) or a JPEG
 * (its SOFn frame header, and the EXIF orientation in APP1 before it), without decoding.
 * Throws a `UserError` naming `name` when the bytes are not a PNG or JPEG or the header is
 * truncated or malformed.
 */
export function readHeader(bytes: Uint8Array, name: string): ImageHeader {
  const format = sniffFormat(bytes);
  if (format === undefined) throw notAnImage(bytes, name);
  return format === "png" ? readPngHeader(bytes, name) : readJpegHeader(bytes, name);
}

/** The largest image read: `maxSide` pixels a side and `maxPixels` in all. */
export interface SizeLimits {
  /** The longest side, in pixels (default `MAX_SIDE`, 8000). */
  maxSide?: number;
  /** The most pixels (default `MAX_PIXELS`, 16 megapixels). */
  maxPixels?: number;
}

/** `mnist predict`'s limits: `MAX_PHOTO_SIDE` and `MAX_PHOTO_PIXELS`. */
export const PHOTO_LIMITS: Required<SizeLimits> = {
  maxSide: MAX_PHOTO_SIDE,
  maxPixels: MAX_PHOTO_PIXELS,
};

/**
 * The longer side suggested to scale a photo down to: images are read at 768 pixels
 * (preprocess.ts's `WORKING_SIDE`), so 2000 keeps a digit of a third of the photo sharp.
 */
const SUGGESTED_SIDE = 2000;

/**
 * Refuses an image larger than `options`' limits (by default `decodeImage`'s and `mnist
 * serve`'s: 8000 pixels a side and 16 megapixels) with a `UserError` naming `options.name` and
 * the limit it breaks, in that limit's units: `Cannot read image "x.jpg": 4284×5712 pixels is
 * 24.5 megapixels, over the limit of 16 megapixels`, `... 8001×10 pixels is over the limit of
 * 8000 pixels a side`; both when it breaks both. The hint says how to scale it down, with a
 * command.
 */
export function checkImageSize(
  size: { width: number; height: number },
  options: SizeLimits & { name: string },
): void {
  const { width, height } = size;
  const { name, maxSide = MAX_SIDE, maxPixels = MAX_PIXELS } = options;
  const sideOver = width > maxSide || height > maxSide;
  const pixelsOver = width * height > maxPixels;
  if (!sideOver && !pixelsOver) return;
  const sideLimit = `the limit of ${maxSide} pixels a side`;
  const area = `${pixelCount(width * height, maxPixels)}, over the limit of ${
    pixelCount(maxPixels)
  }`;
  const broken = sideOver && pixelsOver
    ? `over ${sideLimit} and, at ${area}`
    : sideOver
    ? `over ${sideLimit}`
    : area;
  const side = Math.min(SUGGESTED_SIDE, maxSide, Math.floor(Math.sqrt(maxPixels)));
  throw new UserError(`Cannot read image "${name}": ${width}×${height} pixels is ${broken}`, {
    hint: `Scale it down: images are read at 768 pixels anyway, so a longer side of ${side} ` +
      `pixels is plenty, e.g. \`magick photo.jpg -resize ${side}x${side} small.jpg\` (ImageMagick) ` +
      `or \`sips -Z ${side} photo.jpg --out small.jpg\` (macOS).`,
  });
}

/**
 * A pixel count in the units of `limit` (default: of itself): megapixels when the limit is whole
 * tenths of a million, with the decimals that tell a count over it from it ("24.5 megapixels",
 * "16.01 megapixels" over 16), else pixels ("900 pixels").
 */
function pixelCount(pixels: number, limit = pixels): string {
  if (limit % 100_000 !== 0) return `${pixels} pixels`;
  if (pixels % 100_000 === 0) return `${pixels / 1e6} megapixels`;
  let digits = 1;
  while (digits < 6 && Number((pixels / 1e6).toFixed(digits)) <= limit / 1e6) digits++;
  return `${(pixels / 1e6).toFixed(digits)} megapixels`;
}

/**
 * Decodes a PNG or JPEG file's bytes into 8-bit samples. `name` is used only in messages.
 *
 * Errors are `UserError`s, one line each: not a PNG or JPEG image (naming GIF, WebP, HEIC... when
 * recognised), a width or height of 0, over `limits` (by default `MAX_PIXELS` and `MAX_SIDE`;
 * checked from the header before any pixel is decoded), and a truncated or corrupt file: "the PNG file is
 * truncated or corrupt (its image data ends early)", with a hint. The reason is said in plain
 * words; the decoders' own messages ("Invalid typed array length: 1690", "unexpected marker:
 * ffd9") are never shown, only kept as the error's `cause`.
 *
 * PNG: grey, grey + alpha, RGB, RGBA and palette, 1 to 16 bits, interlaced or not (interlaced
 * images of 1-, 2- or 4-bit samples, which fast-png 8.0.0 cannot de-interlace, are
 * de-interlaced here first). JPEG: 8-bit baseline and progressive (lossless, arithmetic-coded
 * and 12-bit JPEGs are refused with a clear message), grey, YCbCr, CMYK; grey JPEGs come out
 * with one channel, the rest as RGB.
 */
export function decodeImage(
  bytes: Uint8Array,
  name: string,
  limits: SizeLimits = {},
): DecodedImage {
  const header = readHeader(bytes, name);
  const { width, height } = header;
  if (width === 0 || height === 0) {
    throw new UserError(`Cannot read image "${name}": its header says ${width}×${height} pixels`);
  }
  const { maxSide = MAX_SIDE, maxPixels = MAX_PIXELS } = limits;
  checkImageSize(header, { name, maxSide, maxPixels });
  if (header.format === "png") return decodePngPixels(bytes, name, header);
  return decodeJpegPixels(bytes, name, header, maxPixels);
}

/**
 * Reads and decodes the image file at `path`, or standard input when `path` is `-`, within
 * `limits` (by default `mnist predict`'s, `PHOTO_LIMITS`: 50 megapixels, 8192 pixels a side).
 * At most `MAX_FILE_BYTES` are read: a larger file, and a path that is not a regular file (a
 * directory, a device such as /dev/zero, a FIFO), are refused before any byte is read. A missing
 * or unreadable file and every `decodeImage` failure are `UserError`s naming `path`.
 */
export async function readImageFile(
  path: string,
  limits: SizeLimits = PHOTO_LIMITS,
): Promise<DecodedImage> {
  const name = path === "-" ? "standard input" : path;
  const bytes = await readCapped(path, {
    maxBytes: MAX_FILE_BYTES,
    what: "image",
    hint: "Name the image files themselves (PNG or JPEG), e.g. digits/*.png",
  });
  return decodeImage(bytes, name, limits);
}

/** What to do about a HEIC photo, an iPhone's default format. */
const HEIC_HINT = "Convert it to JPEG: an image viewer can export it as JPEG (macOS Preview: " +
  "File › Export…), and an iPhone takes JPEGs from now on with Settings › Camera › Formats › " +
  "Most Compatible.";

function notAnImage(bytes: Uint8Array, name: string): UserError {
  const hint = "Save it as PNG or JPEG.";
  if (bytes.length === 0) {
    return new UserError(`Cannot read image "${name}": the file is empty`);
  }
  const ascii = (offset: number, length: number) =>
    String.fromCharCode(...bytes.subarray(offset, offset + length));
  const other = OTHER_FORMATS.find(([, offset, magic]) => ascii(offset, magic.length) === magic);
  if (other) {
    return new UserError(
      `Cannot read image "${name}": it is a ${other[0]} image, not a PNG or JPEG image`,
      { hint: other[0] === "HEIC" ? HEIC_HINT : hint },
    );
  }
  return new UserError(`Cannot read image "${name}": it is not a PNG or JPEG image`, { hint });
}

/** What to do about a damaged file: the hint of every "truncated or corrupt" message. */
const CORRUPT_HINT =
  "Copy or download the file again; if an image viewer still opens it, save it again from there.";

/**
 * The error for a damaged file. `reason` is plain words about the file ("its image data ends
 * early"), never a decoder's message; that is kept as the error's `cause`.
 */
function corrupt(
  name: string,
  format: "PNG" | "JPEG",
  reason: string,
  cause?: unknown,
): UserError {
  return new UserError(
    `Cannot read image "${name}": the ${format} file is truncated or corrupt (${reason})`,
    { hint: CORRUPT_HINT, cause },
  );
}

// ---------------------------------------------------------------------------------------------
// PNG

/** Colour type → samples per pixel before expansion. */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Colour type → the bit depths the PNG specification allows for it. */
const PNG_DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

/** The IHDR chunk, which the PNG specification requires to come first, right after the signature. */
function readPngHeader(bytes: Uint8Array, name: string): ImageHeader {
  // signature (8) + length (4) + "IHDR" (4) + 13 data bytes
  if (bytes.length < 8 + 8 + 13) throw corrupt(name, "PNG", "the file ends inside its header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = String.fromCharCode(...bytes.subarray(12, 16));
  if (type !== "IHDR" || view.getUint32(8) !== 13) {
    throw corrupt(name, "PNG", "it does not start with a header (a 13-byte IHDR chunk)");
  }
  const bitDepth = bytes[24]!;
  const colorType = bytes[25]!;
  if (!(PNG_DEPTHS[colorType] ?? []).includes(bitDepth)) {
    throw corrupt(
      name,
      "PNG",
      `its header gives colour type ${colorType} with ${bitDepth}-bit samples, which PNG does ` +
        `not have`,
    );
  }
  return {
    format: "png",
    width: view.getUint32(16),
    height: view.getUint32(20),
    bitDepth,
    colorType,
    interlaced: bytes[28] === 1,
    orientation: 1,
  };
}

function decodePngPixels(bytes: Uint8Array, name: string, header: ImageHeader): DecodedImage {
  const bounded = boundedPng(bytes, name, header);
  if (header.colorType !== 3 && header.bitDepth >= 8) return decodePngRows(bounded, header, name);
  const checked = header.interlaced && header.bitDepth < 8
    ? deinterlaced(bounded, header, name)
    : bounded.file;
  let png: DecodedPng;
  try {
    png = decodePng(checked, { checkCrc: true });
  } catch (error) {
    throw corrupt(name, "PNG", pngReason(error), error);
  }
  const { width, height, depth } = png;
  const channels = PNG_CHANNELS[header.colorType]!;
  // fast-png unpacks 16-bit samples into a Uint16Array, but leaves sub-byte samples packed,
  // each row starting on a byte boundary.
  const expected = depth < 8 ? Math.ceil((width * depth) / 8) * height : width * height * channels;
  if (png.data.length !== expected) {
    throw corrupt(name, "PNG", "its image data does not match the size in its header");
  }
  const samples = depth < 8 ? unpackSamples(png.data, width, height, depth) : png.data;

  if (header.colorType === 3) return expandPalette(samples, png, name);

  // A tRNS chunk on grey or RGB names one colour (in the file's own bit depth) as transparent.
  const key = png.transparency;
  const hasKey = key !== undefined && key.length >= channels;
  const outChannels = (channels + (hasKey ? 1 : 0)) as DecodedImage["channels"];
  const out = new Uint8Array(width * height * outChannels);
  const to8 = depth === 16
    ? (v: number) => Math.round(v / 257)
    : depth === 8
    ? (v: number) => v
    : (v: number) => Math.round((v * 255) / ((1 << depth) - 1));
  for (let p = 0, o = 0; p < width * height; p++) {
    let transparent = hasKey;
    for (let c = 0; c < channels; c++) {
      const v = samples[p * channels + c]!;
      if (hasKey && v !== key[c]) transparent = false;
      out[o++] = to8(v);
    }
    if (hasKey) out[o++] = transparent ? 0 : 255;
  }
  return { width, height, channels: outChannels, data: out };
}

/**
 * Grey, grey + alpha, RGB and RGBA PNGs of 8 or 16 bits, interlaced or not, decoded here from
 * `boundedPng`'s inflated image data rather than by fast-png: each row is unfiltered in place
 * and its samples written straight out as 8 bits, so the only full-size buffers are the inflated
 * data and the 8-bit pixels. fast-png held the inflated data twice (its inflater's chunks and
 * their join), the unfiltered rows and their 16-bit samples besides: a 124 KB 4000×4000 16-bit
 * RGBA PNG took 875 MB and 3.1 s to decode.
 */
function decodePngRows(png: BoundedPng, header: ImageHeader, name: string): DecodedImage {
  const { width, height, bitDepth: depth, colorType } = header;
  checkPngMethods(png.kept[1]!, name);
  const channels = PNG_CHANNELS[colorType]!;
  const sampleBytes = depth / 8;
  const pixelBytes = channels * sampleBytes;
  const key = transparencyKey(png.kept, header, name);
  const outChannels = (channels + (key ? 1 : 0)) as DecodedImage["channels"];
  const out = new Uint8Array(width * height * outChannels);
  const { inflated } = png;
  let at = 0;
  const passes = header.interlaced ? ADAM7 : [[0, 0, 1, 1]];
  for (const [x0, y0, dx, dy] of passes as [number, number, number, number][]) {
    const w = width > x0 ? Math.ceil((width - x0) / dx) : 0;
    const h = height > y0 ? Math.ceil((height - y0) / dy) : 0;
    if (w === 0 || h === 0) continue;
    const rowBytes = w * pixelBytes;
    let previous: Uint8Array = new Uint8Array(rowBytes);
    for (let j = 0; j < h; j++) {
      if (at + 1 + rowBytes > inflated.length) {
        throw corrupt(name, "PNG", "its image data ends early");
      }
      const row = inflated.subarray(at + 1, at + 1 + rowBytes);
      unfilter(row, previous, inflated[at]!, name, pixelBytes);
      at += 1 + rowBytes;
      previous = row;
      const y = y0 + j * dy;
      if (depth === 8 && !key && dx === 1) {
        out.set(row, y * width * channels);
        continue;
      }
      for (let k = 0; k < w; k++) {
        let o = (y * width + x0 + k * dx) * outChannels;
        let transparent = key !== undefined;
        for (let c = 0, i = k * pixelBytes; c < channels; c++, i += sampleBytes) {
          const v = depth === 16 ? (row[i]! << 8) | row[i + 1]! : row[i]!;
          if (key && v !== key[c]) transparent = false;
          out[o++] = depth === 16 ? Math.round(v / 257) : v;
        }
        if (key) out[o++] = transparent ? 0 : 255;
      }
    }
  }
  return { width, height, channels: outChannels, data: out };
}

/**
 * The IHDR's compression, filter and interlace methods, which `readPngHeader` does not check
 * (PNG has one of each, and two interlace methods), in the words used for fast-png's refusals.
 */
function checkPngMethods(ihdr: Uint8Array, name: string): void {
  // length (4) + "IHDR" (4) + width, height, depth, colour type (10): then the three methods.
  const [compression, filter, interlace] = [ihdr[18]!, ihdr[19]!, ihdr[20]!];
  if (compression !== 0) {
    throw corrupt(
      name,
      "PNG",
      `its header gives compression method ${compression}; PNG has only method 0`,
    );
  }
  if (filter !== 0) {
    throw corrupt(name, "PNG", `its header gives filter method ${filter}; PNG has only method 0`);
  }
  if (interlace > 1) {
    throw corrupt(
      name,
      "PNG",
      `its header gives interlace method ${interlace}; PNG has only 0 (none) and 1 (Adam7)`,
    );
  }
}

/**
 * The colour a grey or RGB PNG's tRNS chunk names as transparent, one 16-bit value a channel in
 * the file's bit depth; undefined when there is none (or, as fast-png read it, when it holds
 * fewer values than channels). A tRNS chunk on grey + alpha or RGBA, which PNG forbids, is
 * ignored, as libpng ignores it (the alpha channel says it all); one of an odd length is refused.
 */
function transparencyKey(
  chunks: Uint8Array[],
  header: ImageHeader,
  name: string,
): number[] | undefined {
  const trns = chunks.find((c) => String.fromCharCode(...c.subarray(4, 8)) === "tRNS");
  if (trns === undefined) return undefined;
  const data = trns.subarray(8, trns.length - 4);
  const channels = PNG_CHANNELS[header.colorType]!;
  if (header.colorType === 4 || header.colorType === 6) return undefined;
  if (data.length % 2 !== 0) {
    throw corrupt(name, "PNG", "its transparency (tRNS chunk) does not fit the image");
  }
  if (data.length / 2 < channels) return undefined;
  return Array.from({ length: channels }, (_, c) => (data[2 * c]! << 8) | data[2 * c + 1]!);
}

/** The seven Adam7 passes as (x0, y0, dx, dy) (PNG specification, 8.2). */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/**
 * The most chunks a PNG may have. Each costs a few microseconds to walk and check; a 48 MB file
 * of 4 million empty IDAT chunks took 13 s and 1.1 GB. Encoders write image data in chunks of
 * 8 KiB (libpng) or more: 16 megapixels of uncompressed RGBA (61 MiB) is 7,800 of them.
 */
export const MAX_PNG_CHUNKS = 20_000;

/** Chunks kept for the decoder; every other chunk (text, ICC profiles, APNG frames) is dropped. */
const PNG_KEPT_CHUNKS = new Set(["IHDR", "PLTE", "tRNS", "IDAT", "IEND"]);

/**
 * The bytes of the zlib stream that the header allows: for each Adam7 pass (or the whole image)
 * that has pixels, one filter byte per row plus the row's packed samples (PNG specification,
 * 7.2 and 8.2).
 */
export function pngInflatedBytes(header: ImageHeader): number {
  const { width, height, bitDepth, colorType } = header;
  const bitsPerPixel = PNG_CHANNELS[colorType]! * bitDepth;
  const passes = header.interlaced ? ADAM7 : [[0, 0, 1, 1]];
  let total = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const w = width > x0! ? Math.ceil((width - x0!) / dx!) : 0;
    const h = height > y0! ? Math.ceil((height - y0!) / dy!) : 0;
    if (w > 0 && h > 0) total += h * (1 + Math.ceil((w * bitsPerPixel) / 8));
  }
  return total;
}

/**
 * Walks a PNG's chunks and inflates its image data with the output capped at what the header
 * allows (`pngInflatedBytes`), so a decompression bomb (a 28×28 header over an IDAT that
 * inflates to 1 GiB) is refused after inflating a few kilobytes, before fast-png sees it. Returns
 * the file with only the chunks the decoder needs, which also drops compressed ancillary chunks
 * (an iCCP profile is another place for a bomb).
 */
function boundedPng(bytes: Uint8Array, name: string, header: ImageHeader): BoundedPng {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kept: Uint8Array[] = [bytes.subarray(0, 8)];
  const data: Uint8Array[] = [];
  let at = 8;
  let ended = false;
  let dropped = false;
  for (let chunks = 1; !ended; chunks++) {
    if (chunks > MAX_PNG_CHUNKS) {
      const most = MAX_PNG_CHUNKS.toLocaleString("en-US");
      throw new UserError(
        `Cannot read image "${name}": it is a PNG of more than ${most} chunks, which is not ` +
          `supported (encoders write image data in chunks of 8 KiB or more)`,
        { hint: "Save it again from an image editor." },
      );
    }
    if (at + 12 > bytes.length) {
      throw corrupt(
        name,
        "PNG",
        data.length === 0 ? "the file ends before its image data" : "the file ends early",
      );
    }
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (length > bytes.length - at - 12) {
      throw corrupt(
        name,
        "PNG",
        type === "IDAT" ? "its image data ends early" : `the file ends inside ${chunkWords(type)}`,
      );
    }
    const chunk = bytes.subarray(at, at + 12 + length);
    // The CRC covers the type and data; checked here so a flipped bit is named as such.
    if (crc32(chunk.subarray(4, 8 + length)) !== view.getUint32(at + 8 + length)) {
      throw corrupt(name, "PNG", `${chunkWords(type)} does not match its checksum (CRC)`);
    }
    if (PNG_KEPT_CHUNKS.has(type)) kept.push(chunk);
    else dropped = true;
    if (type === "IDAT") data.push(chunk.subarray(8, 8 + length));
    ended = type === "IEND";
    at += 12 + length;
  }
  if (data.length === 0) throw corrupt(name, "PNG", "it has no image data (IDAT chunk)");
  const allowed = pngInflatedBytes(header);
  let inflated: Uint8Array;
  try {
    // One output chunk of the most allowed: zlib's default 16 KiB chunks, joined at the end,
    // held the image data twice.
    inflated = inflateSync(concat(data), { maxOutputLength: allowed, chunkSize: allowed + 64 });
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
      throw new UserError(
        `Cannot read image "${name}": its image data inflates to more than the ${allowed} ` +
          `bytes its ${header.width}×${header.height} header allows (a decompression bomb?)`,
      );
    }
    // zlib says "unexpected end of file" for a stream cut short, else what it tripped on.
    const short = /unexpected end/i.test(messageOf(error)) ||
      (error as { code?: string }).code === "Z_BUF_ERROR";
    throw corrupt(
      name,
      "PNG",
      short ? "its image data ends early" : "its compressed image data is damaged",
      error,
    );
  }
  return { file: dropped || at !== bytes.length ? concat(kept) : bytes, kept, inflated };
}

/** `boundedPng`'s result. */
interface BoundedPng {
  /** The file with only the chunks the decoder needs. */
  file: Uint8Array;
  /** Those chunks, whole, in the file's order, after the 8-byte signature (`kept[0]`). */
  kept: Uint8Array[];
  /** The image data, inflated: filtered scanlines. */
  inflated: Uint8Array;
}

/**
 * An Adam7-interlaced PNG of 1-, 2- or 4-bit samples (grey or palette), which fast-png 8.0.0
 * cannot de-interlace, as the same image without interlacing: each pass's rows unfiltered
 * (PNG specification, 9.2: one byte a pixel for the filters, each pass starting on a row of
 * zeros), their samples put in place, and the image written back as one non-interlaced PNG of
 * the same chunks (palette, transparency) with unfiltered rows stored uncompressed, which
 * fast-png reads as it reads any.
 */
function deinterlaced(png: BoundedPng, header: ImageHeader, name: string): Uint8Array {
  const { width, height, bitDepth: depth } = header;
  const { inflated } = png;
  const mask = (1 << depth) - 1;
  // (height, width) samples, one per byte: sub-byte PNGs have one channel.
  const samples = new Uint8Array(width * height);
  let at = 0;
  for (const [x0, y0, dx, dy] of ADAM7 as [number, number, number, number][]) {
    const w = width > x0 ? Math.ceil((width - x0) / dx) : 0;
    const h = height > y0 ? Math.ceil((height - y0) / dy) : 0;
    if (w === 0 || h === 0) continue;
    const rowBytes = Math.ceil((w * depth) / 8);
    let previous = new Uint8Array(rowBytes);
    for (let j = 0; j < h; j++) {
      if (at + 1 + rowBytes > inflated.length) {
        throw corrupt(name, "PNG", "its image data ends early");
      }
      const row = inflated.slice(at + 1, at + 1 + rowBytes);
      unfilter(row, previous, inflated[at]!, name);
      at += 1 + rowBytes;
      for (let k = 0; k < w; k++) {
        const bit = k * depth;
        samples[(y0 + j * dy) * width + x0 + k * dx] = (row[bit >> 3]! >> (8 - depth - (bit & 7))) &
          mask;
      }
      previous = row;
    }
  }
  const rowBytes = Math.ceil((width * depth) / 8);
  const raw = new Uint8Array(height * (1 + rowBytes)); // filter type 0 before each row
  for (let y = 0; y < height; y++) {
    const start = y * (1 + rowBytes) + 1;
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      raw[start + (bit >> 3)]! |= samples[y * width + x]! << (8 - depth - (bit & 7));
    }
  }
  const typeOf = (chunk: Uint8Array) => String.fromCharCode(...chunk.subarray(4, 8));
  const [signature, ihdr, ...rest] = png.kept;
  const plain = pngChunk("IHDR", ihdr!.slice(8, 21));
  plain[8 + 12] = 0; // interlace method: none
  setChunkCrc(plain);
  const before = rest.filter((c) => typeOf(c) !== "IDAT" && typeOf(c) !== "IEND");
  const idat = pngChunk("IDAT", deflateSync(raw, { level: 0 }));
  return concat([signature!, plain, ...before, idat, pngChunk("IEND", new Uint8Array())]);
}

/**
 * Undoes a scanline's filter in place (PNG specification, 9.2); `pixelBytes` is the filters'
 * distance to the left (one for samples of under 8 bits), `previous` the row above, unfiltered
 * (zeros for a pass's first row).
 */
function unfilter(
  row: Uint8Array,
  previous: Uint8Array,
  type: number,
  name: string,
  pixelBytes = 1,
): void {
  const n = row.length;
  const b = Math.min(pixelBytes, n);
  // Uint8Array stores sums modulo 256.
  switch (type) {
    case 0:
      return;
    case 1:
      for (let i = b; i < n; i++) row[i] = row[i]! + row[i - b]!;
      return;
    case 2:
      for (let i = 0; i < n; i++) row[i] = row[i]! + previous[i]!;
      return;
    case 3:
      for (let i = 0; i < b; i++) row[i] = row[i]! + (previous[i]! >> 1);
      for (let i = b; i < n; i++) row[i] = row[i]! + ((row[i - b]! + previous[i]!) >> 1);
      return;
    case 4:
      // Paeth with nothing to the left predicts the byte above.
      for (let i = 0; i < b; i++) row[i] = row[i]! + previous[i]!;
      for (let i = b; i < n; i++) {
        const left = row[i - b]!, up = previous[i]!, upLeft = previous[i - b]!;
        const p = left + up - upLeft;
        const pa = Math.abs(p - left), pb = Math.abs(p - up), pc = Math.abs(p - upLeft);
        row[i] = row[i]! + (pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft);
      }
      return;
    default:
      throw corrupt(
        name,
        "PNG",
        `a row of its image data has filter type ${type}, which PNG does not have`,
      );
  }
}

/** A PNG chunk of `type` around `data`, with its CRC. */
function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  new DataView(out.buffer).setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  setChunkCrc(out);
  return out;
}

/** Writes a chunk's CRC (of its type and data) into its last four bytes. */
function setChunkCrc(chunk: Uint8Array): void {
  const end = chunk.length - 4;
  new DataView(chunk.buffer, chunk.byteOffset).setUint32(end, crc32(chunk.subarray(4, end)));
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Sub-byte samples (1, 2 or 4 bits, most significant first, rows byte-aligned) → one per byte. */
function unpackSamples(
  packed: ArrayLike<number>,
  width: number,
  height: number,
  depth: number,
): Uint8Array {
  const out = new Uint8Array(width * height);
  const rowBytes = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      const byte = packed[y * rowBytes + (bit >> 3)]!;
      out[y * width + x] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/** Palette indices → RGB, or RGBA when a tRNS chunk gives the palette alpha values. */
function expandPalette(indices: ArrayLike<number>, png: DecodedPng, name: string): DecodedImage {
  const palette = png.palette ?? [];
  if (palette.length === 0) {
    throw corrupt(name, "PNG", "it is a palette image without a palette (PLTE chunk)");
  }
  // fast-png appends an alpha to every entry when tRNS is present.
  const channels = palette[0]!.length === 4 ? 4 : 3;
  const out = new Uint8Array(png.width * png.height * channels);
  for (let p = 0; p < png.width * png.height; p++) {
    const entry = palette[indices[p]!];
    if (entry === undefined) {
      throw corrupt(
        name,
        "PNG",
        `a pixel has colour ${indices[p]} of a palette of ${palette.length}`,
      );
    }
    for (let c = 0; c < channels; c++) out[p * channels + c] = entry[c]!;
  }
  return { width: png.width, height: png.height, channels, data: out };
}

/** What the PNG chunks that matter hold, for messages. */
const PNG_CHUNK_WORDS: Record<string, string> = {
  IHDR: "its header",
  PLTE: "its palette",
  tRNS: "its transparency",
  IDAT: "its image data",
  IEND: "its end marker",
};

/**
 * A chunk in words: "its image data (IDAT chunk)", `its "tEXt" chunk`; "a chunk" when the four
 * bytes are no chunk type (letters only), as where a damaged length sent the walk astray.
 */
function chunkWords(type: string): string {
  const words = Object.hasOwn(PNG_CHUNK_WORDS, type) ? PNG_CHUNK_WORDS[type] : undefined;
  if (words !== undefined) return `${words} (${type} chunk)`;
  return /^[A-Za-z]{4}$/.test(type) ? `its "${type}" chunk` : "a chunk";
}

/**
 * fast-png's failures in plain words, by their message (fast-png 8.0.0's `throw` sites); what
 * no rule names is "its image data could not be decoded". Reads past the end of a buffer that is
 * too short ("Invalid typed array length: 1690", "Offset is outside the bounds of the
 * DataView", "Unsupported filter: undefined") mean that the image data ends early.
 */
const PNG_REASONS: [RegExp, (m: RegExpMatchArray) => string][] = [
  [/typed array length|outside the bounds|filter: undefined/i, () => "its image data ends early"],
  [
    /Unsupported filter: (\d+)/,
    (m) => `a row of its image data has filter type ${m[1]}, which PNG does not have`,
  ],
  [
    /Filter method (\d+)/,
    (m) => `its header gives filter method ${m[1]}; PNG has only method 0`,
  ],
  [
    /Interlace method (\d+)/,
    (m) => `its header gives interlace method ${m[1]}; PNG has only 0 (none) and 1 (Adam7)`,
  ],
  [
    /compression method: (\d+)/,
    (m) => `its header gives compression method ${m[1]}; PNG has only method 0`,
  ],
  [/PLTE|palette/i, () => "its palette (PLTE chunk) is malformed"],
  [/tRNS/, () => "its transparency (tRNS chunk) does not fit the image"],
  [/decompress/i, () => "its compressed image data is damaged"],
  [/Length mismatch/i, () => "a chunk is shorter than its length says"],
  [/color type|bit depth/i, () => "its header is damaged"],
];

/** fast-png's error as a reason for `corrupt`: plain words, never its message. */
function pngReason(error: unknown): string {
  const message = messageOf(error);
  for (const [pattern, reason] of PNG_REASONS) {
    const m = message.match(pattern);
    if (m) return reason(m);
  }
  return "its image data could not be decoded";
}

// ---------------------------------------------------------------------------------------------
// JPEG

/**
 * Walks the marker segments from SOI to the first SOFn frame header, which holds the
 * dimensions, noting the EXIF orientation on the way (APP1 comes before the frame header).
 */
function readJpegHeader(bytes: Uint8Array, name: string): ImageHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let orientation = 1;
  let at = 2; // after SOI
  while (true) {
    // A marker is 0xFF (any number of them: fill bytes) followed by a non-0xFF code.
    if (at >= bytes.length) throw corrupt(name, "JPEG", "the file ends inside its header");
    if (bytes[at] !== 0xff) {
      throw corrupt(name, "JPEG", `its header is damaged at byte ${at}`);
    }
    while (bytes[at] === 0xff) at++;
    if (at >= bytes.length) throw corrupt(name, "JPEG", "the file ends inside its header");
    const marker = bytes[at++]!;
    // Markers without a length: TEM and RST0..7.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd9 || marker === 0xda) {
      throw corrupt(name, "JPEG", "its image data comes before the header giving its size");
    }
    if (at + 2 > bytes.length) throw corrupt(name, "JPEG", "the file ends inside its header");
    const length = view.getUint16(at);
    if (length < 2) throw corrupt(name, "JPEG", `its header is damaged at byte ${at}`);
    if (at + length > bytes.length) {
      throw corrupt(name, "JPEG", "the file ends inside its header");
    }
    const segment = bytes.subarray(at + 2, at + length);
    if (marker === 0xe1) orientation = exifOrientation(segment) ?? orientation;
    // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (segment.length < 6) throw corrupt(name, "JPEG", "its frame header is too short");
      if (marker > 0xc2) {
        const kind = marker === 0xc3 || marker === 0xc7 || marker === 0xcb || marker === 0xcf
          ? "a lossless"
          : "an arithmetic-coded or hierarchical";
        throw new UserError(
          `Cannot read image "${name}": it is ${kind} JPEG (SOF${marker - 0xc0}), which is ` +
            `not supported`,
          { hint: "Save it again as a baseline JPEG or as PNG." },
        );
      }
      const scans = countJpegScans(bytes, at + length);
      if (scans > MAX_JPEG_SCANS) {
        throw new UserError(
          `Cannot read image "${name}": it is a JPEG of more than ${MAX_JPEG_SCANS} scans, ` +
            `which is not supported (a progressive JPEG has about 10)`,
          { hint: "Save it again as a baseline JPEG or as PNG." },
        );
      }
      const segmentView = new DataView(segment.buffer, segment.byteOffset, segment.byteLength);
      return {
        format: "jpeg",
        bitDepth: segment[0]!,
        height: segmentView.getUint16(1),
        width: segmentView.getUint16(3),
        colorType: segment[5]!,
        interlaced: false,
        orientation,
      };
    }
    at += length;
  }
}

/**
 * The most scans (SOS segments) a JPEG may have, as libjpeg-turbo's scan limit: a progressive
 * JPEG has about 10 (libjpeg's default script: 6 for grey, 10 for colour), a baseline one 1 to
 * 4. jpeg-js walks every block of the image once per scan, so a few-byte scan repeated
 * thousands of times (a "scan bomb") costs minutes of CPU from a file of a few hundred KB.
 */
export const MAX_JPEG_SCANS = 100;

/**
 * Counts the SOS markers of a JPEG from byte `from` (after its frame header) on, stopping at
 * EOI, at the end of the bytes, or once there are more than `MAX_JPEG_SCANS`. Entropy-coded
 * data is skipped to the next marker (an 0xFF not followed by 0x00, a fill 0xFF or RSTn); the
 * walk never throws: a damaged file is the decoder's to name.
 */
function countJpegScans(bytes: Uint8Array, from: number): number {
  let scans = 0;
  let at = from;
  while (at + 1 < bytes.length) {
    if (bytes[at] !== 0xff) {
      at = bytes.indexOf(0xff, at + 1);
      if (at < 0) break;
      continue;
    }
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    // Stuffed 0xFF00, TEM and RST0..7 have no length.
    if (marker === 0x00 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    if (marker === 0xd9) break;
    if (marker === 0xda && ++scans > MAX_JPEG_SCANS) break;
    if (at + 4 > bytes.length) break;
    at += 2 + ((bytes[at + 2]! << 8) | bytes[at + 3]!);
  }
  return scans;
}

/** The orientation tag (0x0112) of IFD0 in an APP1 "Exif" segment, if present and valid. */
function exifOrientation(segment: Uint8Array): number | undefined {
  const exif = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0"
  if (segment.length < 14 || !exif.every((b, i) => segment[i] === b)) return undefined;
  const tiff = segment.subarray(6);
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const little = tiff[0] === 0x49; // "II" little endian, "MM" big endian
  if (!(little || tiff[0] === 0x4d) || view.getUint16(2, little) !== 42) return undefined;
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > tiff.length) return undefined;
  const count = view.getUint16(ifd, little);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return undefined;
    if (view.getUint16(entry, little) === 0x0112) {
      const value = view.getUint16(entry + 8, little); // SHORT, stored left-justified
      return value >= 1 && value <= 8 ? value : undefined;
    }
  }
  return undefined;
}

/**
 * What jpeg-js counts against its memory guard per pixel, at most: for each of up to 4 colour
 * components at full resolution (4:4:4), a 256-byte block per 64 pixels (4 bytes a pixel) and a
 * byte a pixel of rows, then 4 bytes a pixel of samples and the 3 of RGB: 27 bytes. (Its real
 * peak is about twice what it counts: each block is a typed array of its own.)
 */
const JPEG_COUNTED_BYTES_PER_PIXEL = 27;

/**
 * jpeg-js's own memory guard for an image of at most `maxPixels`, in MB: what it counts for such
 * an image (`JPEG_COUNTED_BYTES_PER_PIXEL`), and 64 MB for tables and MCU padding.
 */
function jpegMemoryMb(maxPixels: number): number {
  return Math.ceil((maxPixels * JPEG_COUNTED_BYTES_PER_PIXEL) / 2 ** 20) + 64;
}

/**
 * The fewest bytes a JPEG of `width` × `height` can have: every 8×8 block of its first colour
 * component has its DC coefficient coded (in a progressive JPEG, in the first scan), in at
 * least one bit. jpeg-js allocates every block from the frame header, before reading any, so
 * a file of a few hundred bytes claiming 8160×6120 pixels would cost 1.5 GB and seconds; it is
 * refused from its length.
 */
function jpegLeastBytes(width: number, height: number): number {
  return Math.ceil((Math.ceil(width / 8) * Math.ceil(height / 8)) / 8);
}

function decodeJpegPixels(
  bytes: Uint8Array,
  name: string,
  header: ImageHeader,
  maxPixels: number,
): DecodedImage {
  if (header.bitDepth !== 8 && header.bitDepth !== 12 && header.bitDepth !== 16) {
    throw corrupt(name, "JPEG", `its header gives ${header.bitDepth}-bit samples`);
  }
  if (header.colorType === 0) {
    throw corrupt(name, "JPEG", "its header gives no colour components");
  }
  if (header.bitDepth !== 8) {
    throw new UserError(
      `Cannot read image "${name}": it is a ${header.bitDepth}-bit JPEG, which is not supported`,
      { hint: "Save it again as an 8-bit JPEG or as PNG." },
    );
  }
  // jpeg-js allocates blocks for every component the header lists, then refuses any count
  // but 1, 3 and 4 (2 it reads as two channels, which no photo has).
  if (![1, 3, 4].includes(header.colorType)) {
    throw new UserError(
      `Cannot read image "${name}": it is a JPEG of ${header.colorType} colour components, ` +
        `which is not supported`,
      { hint: "Save it again as an RGB or greyscale JPEG, or as PNG." },
    );
  }
  const least = jpegLeastBytes(header.width, header.height);
  if (bytes.length < least) {
    throw corrupt(
      name,
      "JPEG",
      `its ${bytes.length} bytes are too few for the ${header.width}×${header.height} pixels ` +
        `its header gives, which need at least ${least}`,
    );
  }
  const memoryMb = jpegMemoryMb(maxPixels);
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      // The header check above already bounds the size; these are jpeg-js's own guards, kept
      // as a second line, for the same limit.
      maxResolutionInMP: maxPixels / 1e6,
      maxMemoryUsageInMB: memoryMb,
    });
  } catch (error) {
    throw jpegError(bytes, name, error, memoryMb);
  }
  let image: DecodedImage = {
    width: decoded.width,
    height: decoded.height,
    channels: 3,
    data: decoded.data,
  };
  // jpeg-js writes grey JPEGs as RGB triplets; keep one channel.
  if (header.colorType === 1) {
    const grey = new Uint8Array(image.width * image.height);
    for (let p = 0; p < grey.length; p++) grey[p] = image.data[p * 3]!;
    image = { ...image, channels: 1, data: grey };
  }
  return orient(image, header.orientation);
}

/**
 * jpeg-js's failure as a `UserError` in plain words, never its message ("unexpected marker:
 * ffd9", "Cannot read properties of undefined (reading '0')"). A file cut short has no EOI
 * marker at its end, and jpeg-js then only says what it missed; otherwise, whatever it tripped on
 * (a Huffman code, a marker, a table), the compressed data is damaged.
 */
function jpegError(
  bytes: Uint8Array,
  name: string,
  error: unknown,
  memoryMb: number,
): UserError {
  const message = messageOf(error);
  if (/Unsupported color mode \(4 components\)/.test(message)) {
    return new UserError(
      `Cannot read image "${name}": it is a 4-colour (CMYK) JPEG without Adobe's colour ` +
        `marker, which is not supported`,
      { hint: "Save it again as an RGB JPEG or as PNG.", cause: error },
    );
  }
  if (/Unsupported color mode/.test(message)) {
    return new UserError(
      `Cannot read image "${name}": its number of colour components is not supported`,
      { hint: "Save it again as an RGB or greyscale JPEG, or as PNG.", cause: error },
    );
  }
  if (/memory|maxResolution/i.test(message)) {
    return new UserError(
      `Cannot read image "${name}": decoding it would need more than ${memoryMb} MB`,
      { hint: "Save it again as a smaller image.", cause: error },
    );
  }
  const ended = bytes[bytes.length - 2] === 0xff && bytes[bytes.length - 1] === 0xd9;
  if (!ended) return corrupt(name, "JPEG", "its image data ends early", error);
  if (/single frame/i.test(message)) {
    return corrupt(name, "JPEG", "it holds more than one frame", error);
  }
  if (/DQT/.test(message)) {
    return corrupt(name, "JPEG", "its quantisation table is damaged", error);
  }
  if (/sampling factor/i.test(message)) {
    return corrupt(name, "JPEG", "its frame header gives a sampling factor of 0", error);
  }
  return corrupt(name, "JPEG", "its compressed image data is damaged", error);
}

/**
 * Applies an EXIF orientation (1..8), so pixels come out as a viewer displays them. For each
 * displayed pixel (x', y') the stored pixel it shows is, with W × H the stored size:
 * 1 (x', y'), 2 mirrored (W-1-x', y'), 3 rotated 180° (W-1-x', H-1-y'), 4 flipped (x', H-1-y'),
 * 5 transposed (y', x'), 6 rotated 90° clockwise (y', H-1-x'), 7 transversed (W-1-y', H-1-x'),
 * 8 rotated 90° counter-clockwise (W-1-y', x').
 */
export function orient(image: DecodedImage, orientation: number): DecodedImage {
  if (!(orientation >= 2 && orientation <= 8)) return image;
  const { width: w, height: h, channels, data } = image;
  // sx = x0 + sxx·x' + sxy·y', sy = y0 + syx·x' + syy·y', from the table above.
  const [x0, sxx, sxy, y0, syx, syy] = ({
    2: [w - 1, -1, 0, 0, 0, 1],
    3: [w - 1, -1, 0, h - 1, 0, -1],
    4: [0, 1, 0, h - 1, 0, -1],
    5: [0, 0, 1, 0, 1, 0],
    6: [0, 0, 1, h - 1, -1, 0],
    7: [w - 1, 0, -1, h - 1, -1, 0],
    8: [w - 1, 0, -1, 0, 1, 0],
  } as Record<number, number[]>)[orientation]!;
  const swap = orientation >= 5;
  const outW = swap ? h : w;
  const outH = swap ? w : h;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const sx = x0! + sxx! * x + sxy! * y;
      const sy = y0! + syx! * x + syy! * y;
      const from = (sy * w + sx) * channels;
      const to = (y * outW + x) * channels;
      for (let c = 0; c < channels; c++) out[to + c] = data[from + c]!;
    }
  }
  return { width: outW, height: outH, channels, data: out };
}
