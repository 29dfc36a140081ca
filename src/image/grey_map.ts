/**
 * Grey maps, the one image type of the preprocessing steps (src/image/preprocess.ts): one float
 * per pixel, made from a decoded image (its alpha, or its luminance), cropped to a box, and the
 * level of its border.
 */
import type { DecodedImage } from "./decode.ts";
import { Histogram } from "./histogram.ts";

/** One float per pixel, row-major. */
export interface GreyMap {
  /** Pixels per row. */
  width: number;
  /** Rows. */
  height: number;
  /** (height, width) values; for ink maps 0 = background, 1 = full ink. */
  data: Float32Array;
}

/** One byte per pixel, row-major: a set of pixels (1 set, 0 not), as `GreyMap` is a grey level. */
export interface Mask {
  /** Pixels per row. */
  width: number;
  /** Rows. */
  height: number;
  /** (height, width) 1 or 0. */
  data: Uint8Array;
}

/** A map's size in pixels. */
export interface Size {
  /** Pixels per row. */
  width: number;
  /** Rows. */
  height: number;
}

/** A rectangle of pixels. */
export interface Box {
  /** Its left column, from 0. */
  x: number;
  /** Its top row, from 0. */
  y: number;
  /** Columns, at least 1. */
  width: number;
  /** Rows, at least 1. */
  height: number;
}

/**
 * The image as one grey level per pixel, 0..1, and what it is:
 *
 * - `alpha`: a transparent background (the median alpha of the border is below one half), as a
 *   canvas drawing exported as PNG has: the alpha channel is the ink, whatever the stroke's
 *   colour.
 * - `luminance`: otherwise, luminance (Rec. 601, as JPEG defines it), after compositing any
 *   transparency over white. Which way the ink lies, darker or lighter than its background, is
 *   for `judgePolarity` to find.
 *
 * With `sheet`, always luminance, over the median luminance of the opaque pixels (alpha at
 * least one half) instead of white, and with what is less than half opaque taken as wholly
 * transparent: an opaque sheet on a transparent margin (a window's screenshot with its shadow, a
 * sticker) reads as if the margin and the shadow were more of the sheet, whose paper is most of
 * its pixels. White when nothing is opaque.
 */
export function greyMap(
  image: DecodedImage,
  options: { sheet?: boolean } = {},
): { map: GreyMap; source: "alpha" | "luminance" } {
  const { width, height, channels, data } = image;
  const n = width * height;
  const hasAlpha = channels === 2 || channels === 4;
  const alphaAt = (p: number) => data[p * channels + channels - 1]! / 255;

  if (hasAlpha && !options.sheet && borderMedianOf(image, alphaAt) < 0.5) {
    const out = new Float32Array(n);
    for (let p = 0; p < n; p++) out[p] = alphaAt(p);
    return { map: { width, height, data: out }, source: "alpha" };
  }

  const luminance = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    const i = p * channels;
    luminance[p] = channels <= 2
      ? data[i]! / 255
      : (0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!) / 255;
  }
  if (hasAlpha) {
    let ground = 1;
    if (options.sheet) {
      const opaque = new Histogram();
      for (let p = 0; p < n; p++) if (alphaAt(p) >= 0.5) opaque.add(luminance[p]!);
      if (opaque.total > 0) ground = opaque.quantile(0.5);
    }
    // A sheet's opacity: 0 up to half opaque (a shadow), rising to 1 where fully opaque.
    const cover = options.sheet ? (a: number) => Math.max(0, 2 * a - 1) : (a: number) => a;
    for (let p = 0; p < n; p++) {
      const a = cover(alphaAt(p));
      luminance[p] = luminance[p]! * a + ground * (1 - a);
    }
  }
  return { map: { width, height, data: luminance }, source: "luminance" };
}

/** The median over a border ring 2% of the shorter side wide (at least 1 px). */
export function borderMedian(map: GreyMap): number {
  return borderMedianOf(map, (p) => map.data[p]!);
}

/** `borderMedian` of a `size` map whose pixel p is `value(p)`. */
function borderMedianOf({ width, height }: Size, value: (p: number) => number): number {
  const ring = Math.max(1, Math.round(Math.min(width, height) * 0.02));
  const histogram = new Histogram();
  for (let y = 0; y < height; y++) {
    const edgeRow = y < ring || y >= height - ring;
    for (let x = 0; x < width; x++) {
      if (edgeRow || x < ring || x >= width - ring) histogram.add(value(y * width + x));
    }
  }
  return histogram.quantile(0.5);
}

/** The part of `map` inside `box`. */
export function crop(map: GreyMap, box: Box): GreyMap {
  const out = new Float32Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    const from = (box.y + y) * map.width + box.x;
    out.set(map.data.subarray(from, from + box.width), y * box.width);
  }
  return { width: box.width, height: box.height, data: out };
}
