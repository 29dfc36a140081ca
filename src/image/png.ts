/**
 * A minimal PNG encoder (https://www.w3.org/TR/png/): 8-bit grey, RGB or RGBA, no interlace,
 * filter type 0 (None) on every row, one IDAT chunk compressed by the platform's zlib.
 */

/** Pixels to encode. */
export interface PngImage {
  width: number;
  height: number;
  /** 1: grey, 3: RGB, 4: RGBA. */
  channels: 1 | 3 | 4;
  /** (height, width, channels) u8 samples, row-major. */
  pixels: Uint8Array;
}

const SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** PNG colour types by channel count. */
const COLOR_TYPE: Record<PngImage["channels"], number> = { 1: 0, 3: 2, 4: 6 };

/** CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320) lookup table. */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC-32 of `bytes`, as PNG chunks and zip files use it. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Encodes `image` as a PNG file. */
export async function encodePng(image: PngImage): Promise<Uint8Array> {
  const { width, height, channels, pixels } = image;
  for (const [name, value] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 0x7fffffff) {
      throw new RangeError(`PNG ${name} must be an integer in 1..2^31-1, got ${value}`);
    }
  }
  if (!(channels in COLOR_TYPE)) {
    throw new RangeError(`PNG channels must be 1, 3 or 4, got ${channels}`);
  }
  const stride = width * channels;
  if (pixels.length !== stride * height) {
    throw new RangeError(
      `PNG pixels: expected ${stride * height} bytes for ${width} x ${height} x ${channels}, ` +
        `got ${pixels.length}`,
    );
  }

  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOR_TYPE[channels];
  // compression 0 (deflate), filter method 0, interlace 0: already zero.

  // Each scanline is a filter-type byte (0: None) followed by the row's samples.
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  // "deflate" is the zlib format (RFC 1950), which is exactly what IDAT holds.
  const idat = await new Response(
    new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate")),
  ).bytes();

  const chunks = [chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))];
  const out = new Uint8Array(SIGNATURE.length + chunks.reduce((n, c) => n + c.length, 0));
  out.set(SIGNATURE);
  let offset = SIGNATURE.length;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** A chunk: u32 length, 4-byte type, data, u32 CRC of type and data. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}
