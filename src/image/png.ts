/**
 * PNG encoding (https://www.w3.org/TR/png/) of 8-bit grey, RGB or RGBA pixels, by fast-png's
 * `encode` (zlib-compressed, no interlace), behind one function that checks the sizes first.
 */
import { encode } from "fast-png";

/** Pixels to encode. */
export interface PngImage {
  /** Pixels per row: an integer in 1..2^31-1 (PNG's IHDR limit). */
  width: number;
  /** Rows: an integer in 1..2^31-1. */
  height: number;
  /** 1: grey, 3: RGB, 4: RGBA. */
  channels: 1 | 3 | 4;
  /** (height, width, channels) u8 samples, row-major. */
  pixels: Uint8Array;
}

/**
 * Encodes `image` as a PNG file. Throws a `RangeError` for a width or height that is not an
 * integer in 1..2^31-1, channels other than 1, 3 or 4, or pixels of the wrong length.
 */
export function encodePng(image: PngImage): Promise<Uint8Array> {
  const { width, height, channels, pixels } = image;
  for (const [name, value] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(value) || value < 1 || value > 0x7fffffff) {
      return Promise.reject(
        new RangeError(`PNG ${name} must be an integer in 1..2^31-1, got ${value}`),
      );
    }
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    return Promise.reject(new RangeError(`PNG channels must be 1, 3 or 4, got ${channels}`));
  }
  const stride = width * channels;
  if (pixels.length !== stride * height) {
    return Promise.reject(
      new RangeError(
        `PNG pixels: expected ${stride * height} bytes for ${width} x ${height} x ${channels}, ` +
          `got ${pixels.length}`,
      ),
    );
  }
  return Promise.resolve(encode({ width, height, channels, depth: 8, data: pixels }));
}
