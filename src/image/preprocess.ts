/**
 * Any image of a digit → a 28×28 MNIST-style input, the way MNIST itself was made: "The original
 * black and white images from NIST were size normalized to fit in a 20x20 pixel box while
 * preserving their aspect ratio [...] anti-aliasing [...] the images were centered in a 28x28
 * image by computing the center of mass of the pixels, and translating the image so as to
 * position this point at the center of the 28x28 field" (LeCun, Cortes, Burges).
 *
 * Before that, a photo or a drawing has to become an ink map like NIST's scans: light ink on
 * black, a clean background. The steps, each exported and tested on its own:
 *
 *   inkMap → levelBackground → removeSpecks → boundingBox → crop → resizeArea → placeByCenterOfMass
 *
 * All maps are `GreyMap`s: one float per pixel, 0 = background, 1 = full ink.
 */
import { UserError } from "../errors.ts";
import type { DecodedImage } from "./decode.ts";

/** One float per pixel, row-major. */
export interface GreyMap {
  width: number;
  height: number;
  /** (height, width) values, 0 = background, 1 = full ink. */
  data: Float32Array;
}

/** A rectangle of pixels. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where `inkMap` found the ink. */
export type InkSource = "alpha" | "luminance" | "inverted luminance";

/** MNIST's geometry: the digit's longest side is 20 px, placed in a 28×28 field. */
export const MNIST_SIDE = 28;
/** The side of the box the digit is scaled to fit. */
export const DIGIT_SIDE = 20;

/**
 * Levelled ink at or above this counts as ink for the bounding box and for speck removal. MNIST's
 * box was that of NIST's bilevel strokes; after our smoothing-free levelling, a stroke's edge (half
 * covered) is at 0.5, and the faint fringe of a blurred or JPEG-softened stroke lies below it.
 * 0.3 keeps the whole stroke and drops most of the fringe (measured: see tests/preprocess_test.ts).
 */
export const INK_THRESHOLD = 0.3;

/**
 * The least difference between ink and background, as a fraction of full scale, that counts as
 * ink. Below it (about 25 grey levels) an image is taken as blank: what is left is paper texture
 * and JPEG noise.
 */
export const MIN_CONTRAST = 0.1;

/** A connected mark with fewer ink pixels than this fraction of the largest mark's is a speck. */
export const SPECK_FRACTION = 0.05;

/** The result of `toMnist`. */
export interface MnistDigit {
  /** (28, 28) ink in [0, 1], light ink on black, as `gatherBatch` feeds MNIST to a model. */
  pixels: Float32Array;
  /** (28, 28) the same as bytes 0..255, for display (`mnist show`-style rendering). */
  ink: Uint8Array;
  /** What each step found, for messages and debugging. */
  steps: MnistSteps;
}

/** What `toMnist`'s steps found. */
export interface MnistSteps {
  /** Where the ink came from: the alpha channel, or luminance (inverted for dark ink). */
  source: InkSource;
  /** Lowest and highest estimated background level, in ink units 0..1 (uneven lighting). */
  background: { min: number; max: number };
  /** Ink below this level above the background was taken as noise. */
  noise: number;
  /** The level above the background that was scaled to full ink. */
  strong: number;
  /** The ink's bounding box in the image, specks ignored. */
  box: Box;
  /** The box's size after scaling its longest side to 20 px. */
  scaled: { width: number; height: number };
  /** Where the scaled box's top-left corner sits in the 28×28 field. */
  offset: { x: number; y: number };
  /** The centre of mass of the final 28×28 ink, in pixel units (14, 14 is the centre). */
  centerOfMass: { x: number; y: number };
}

/**
 * Runs every step: the image's ink, levelled, cropped to its bounding box, scaled so its longest
 * side is 20 px and placed in 28×28 by its centre of mass. Throws a `UserError` naming `name`
 * when the image has no ink.
 */
export function toMnist(image: DecodedImage, name: string): MnistDigit {
  const { map: ink, source } = inkMap(image);
  const levelled = levelBackground(ink);
  const clean = removeSpecks(levelled.map);
  const box = boundingBox(clean, name);
  const size = fitSize(box.width, box.height, DIGIT_SIDE);
  const digit = resizeArea(crop(clean, box), size.width, size.height);
  const placed = placeByCenterOfMass(digit, MNIST_SIDE);
  // Scale so the strongest pixel is full ink, as in nearly every MNIST digit: a thin pen
  // stroke averaged down to 20 px would otherwise be faint.
  const pixels = placed.map.data;
  let max = 0;
  for (const v of pixels) max = Math.max(max, v);
  if (max > 0 && max < 1) { for (let i = 0; i < pixels.length; i++) pixels[i]! /= max; }
  const bytes = Uint8Array.from(pixels, (v) => Math.round(v * 255));
  return {
    pixels,
    ink: bytes,
    steps: {
      source,
      background: levelled.background,
      noise: levelled.noise,
      strong: levelled.strong,
      box,
      scaled: size,
      offset: placed.offset,
      centerOfMass: centerOfMass(placed.map),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 1. Ink

/**
 * Where the ink is, 0..1 per pixel.
 *
 * - A transparent background (the median alpha of the border is below one half), as a canvas
 *   drawing exported as PNG has: ink is the alpha channel, whatever the stroke's colour.
 * - Otherwise ink is luminance (Rec. 601, as JPEG defines it), after compositing any
 *   transparency over white. Its polarity comes from the border, which is background in any
 *   sensible framing of a digit: a light border (median above one half) means dark ink on
 *   paper, which is inverted, because MNIST is light ink on black.
 */
export function inkMap(image: DecodedImage): { map: GreyMap; source: InkSource } {
  const { width, height, channels, data } = image;
  const n = width * height;
  const hasAlpha = channels === 2 || channels === 4;
  const alphaAt = (p: number) => data[p * channels + channels - 1]! / 255;

  if (hasAlpha && borderMedian(width, height, alphaAt) < 0.5) {
    const out = new Float32Array(n);
    for (let p = 0; p < n; p++) out[p] = alphaAt(p);
    return { map: { width, height, data: out }, source: "alpha" };
  }

  const luminance = new Float32Array(n);
  for (let p = 0; p < n; p++) {
    const i = p * channels;
    const y = channels <= 2
      ? data[i]! / 255
      : (0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!) / 255;
    const a = hasAlpha ? alphaAt(p) : 1;
    luminance[p] = y * a + (1 - a); // over white
  }
  const inverted = borderMedian(width, height, (p) => luminance[p]!) > 0.5;
  if (inverted) { for (let p = 0; p < n; p++) luminance[p] = 1 - luminance[p]!; }
  return {
    map: { width, height, data: luminance },
    source: inverted ? "inverted luminance" : "luminance",
  };
}

/** The median of `value(p)` over a border ring 2% of the shorter side wide (at least 1 px). */
function borderMedian(width: number, height: number, value: (p: number) => number): number {
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

// ---------------------------------------------------------------------------------------------
// 2. Background

/** `levelBackground`'s result. */
export interface Levelled {
  /** Ink above the background, noise removed, strong ink scaled to 1. */
  map: GreyMap;
  /** Lowest and highest estimated background level. */
  background: { min: number; max: number };
  /** The noise floor that was subtracted (after the background). */
  noise: number;
  /** The ink level (after the background) that became 1; 0 when there is no ink. */
  strong: number;
}

/**
 * Levels an ink map so that the background is 0 and strong ink is 1, like a clean scan.
 *
 * 1. The background is estimated as a smooth surface, because a photo of paper is lit unevenly:
 *    the image is cut into about 8×8 tiles, each tile's background is its 25th percentile (ink
 *    covers far less than three quarters of a tile), the tile grid is opened (3×3 minimum, then
 *    3×3 maximum) so that a tile filled by a thick stroke takes its neighbours' level, and the
 *    grid is interpolated bilinearly back to every pixel and subtracted.
 * 2. The noise floor is the median plus four robust standard deviations (1.4826 × MAD) of what
 *    remains: paper grain and JPEG ringing fall below it, ink does not. It is capped at a third
 *    of the strong level, so an image mostly covered by ink keeps its fainter strokes.
 * 3. The strong level is the 90th percentile of the pixels above the noise floor: the core of the
 *    strokes. Ink is mapped linearly from [noise, strong] to [0, 1] and clamped.
 *
 * An image whose strong level is below `MIN_CONTRAST` has no ink: every pixel becomes 0.
 * A clean MNIST digit, or a canvas drawing's alpha, comes out unchanged.
 */
export function levelBackground(ink: GreyMap): Levelled {
  const { width, height, data } = ink;
  const background = backgroundSurface(ink);
  const residual = new Float32Array(data.length);
  let bgMin = Infinity;
  let bgMax = -Infinity;
  for (let p = 0; p < data.length; p++) {
    residual[p] = Math.max(0, data[p]! - background[p]!);
    bgMin = Math.min(bgMin, background[p]!);
    bgMax = Math.max(bgMax, background[p]!);
  }

  const median = quantile(residual, 0.5);
  const deviations = residual.map((v) => Math.abs(v - median));
  let noise = median + 4 * 1.4826 * quantile(deviations, 0.5);
  const above = new Histogram();
  for (const v of residual) if (v > noise) above.add(v);
  const strong = above.quantile(0.9);
  noise = Math.min(noise, strong / 3);

  const out = new Float32Array(data.length);
  if (strong >= MIN_CONTRAST) {
    const scale = 1 / (strong - noise);
    for (let p = 0; p < out.length; p++) {
      out[p] = Math.min(1, Math.max(0, (residual[p]! - noise) * scale));
    }
  }
  return {
    map: { width, height, data: out },
    background: { min: bgMin, max: bgMax },
    noise,
    strong: strong >= MIN_CONTRAST ? strong : 0,
  };
}

/** The smooth background surface of `levelBackground`, one value per pixel. */
function backgroundSurface(ink: GreyMap): Float32Array {
  const { width, height, data } = ink;
  const tile = Math.max(4, Math.ceil(Math.max(width, height) / 8));
  const cols = Math.ceil(width / tile);
  const rows = Math.ceil(height / tile);
  const histograms = Array.from({ length: cols * rows }, () => new Histogram());
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / tile) * cols;
    for (let x = 0; x < width; x++) {
      histograms[row + Math.floor(x / tile)]!.add(data[y * width + x]!);
    }
  }
  let grid: Float32Array = Float32Array.from(histograms, (h) => h.quantile(0.25));
  grid = filter3x3(filter3x3(grid, cols, rows, Math.min), cols, rows, Math.max);

  // Bilinear interpolation between tile centres, clamped at the outer half tiles.
  const surface = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const gy = Math.min(rows - 1, Math.max(0, (y + 0.5) / tile - 0.5));
    const y0 = Math.floor(gy);
    const y1 = Math.min(rows - 1, y0 + 1);
    const fy = gy - y0;
    for (let x = 0; x < width; x++) {
      const gx = Math.min(cols - 1, Math.max(0, (x + 0.5) / tile - 0.5));
      const x0 = Math.floor(gx);
      const x1 = Math.min(cols - 1, x0 + 1);
      const fx = gx - x0;
      const top = grid[y0 * cols + x0]! * (1 - fx) + grid[y0 * cols + x1]! * fx;
      const bottom = grid[y1 * cols + x0]! * (1 - fx) + grid[y1 * cols + x1]! * fx;
      surface[y * width + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return surface;
}

/** Applies `reduce` (min or max) over each cell's 3×3 neighbourhood, clipped at the edges. */
function filter3x3(
  grid: Float32Array,
  cols: number,
  rows: number,
  reduce: (...values: number[]) => number,
): Float32Array {
  const out = new Float32Array(grid.length);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const values: number[] = [];
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const gx = x + dx;
          const gy = y + dy;
          if (gx >= 0 && gx < cols && gy >= 0 && gy < rows) values.push(grid[gy * cols + gx]!);
        }
      }
      out[y * cols + x] = reduce(...values);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 3. Specks and the bounding box

/**
 * Removes specks: marks (8-connected pixels at or above `threshold`) with fewer pixels than
 * `SPECK_FRACTION` of the largest mark's are set to 0, so that a fleck of dust or a JPEG
 * artefact far from the digit does not stretch its bounding box or pull its centre of mass.
 * Broken strokes of one digit (a 5's detached bar) are far above that fraction and stay.
 */
export function removeSpecks(map: GreyMap, threshold = INK_THRESHOLD): GreyMap {
  const { width, height, data } = map;
  const { labels, sizes } = components(map, threshold);
  let largest = 0;
  for (const size of sizes) largest = Math.max(largest, size);
  const out = data.slice();
  for (let p = 0; p < out.length; p++) {
    const label = labels[p]!;
    if (label > 0 && sizes[label - 1]! < SPECK_FRACTION * largest) out[p] = 0;
  }
  return { width, height, data: out };
}

/** 8-connected components of pixels >= `threshold`: labels 1..n per pixel (0: none), sizes. */
function components(map: GreyMap, threshold: number): { labels: Int32Array; sizes: number[] } {
  const { width, height, data } = map;
  const labels = new Int32Array(data.length);
  const sizes: number[] = [];
  const stack = new Int32Array(data.length);
  for (let start = 0; start < data.length; start++) {
    if (labels[start] !== 0 || data[start]! < threshold) continue;
    const label = sizes.length + 1;
    let size = 0;
    let top = 0;
    stack[top++] = start;
    labels[start] = label;
    while (top > 0) {
      const p = stack[--top]!;
      size++;
      const x = p % width;
      const y = (p - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (labels[q] === 0 && data[q]! >= threshold) {
            labels[q] = label;
            stack[top++] = q;
          }
        }
      }
    }
    sizes.push(size);
  }
  return { labels, sizes };
}

/**
 * The smallest box holding every pixel at or above `threshold`. No such pixel is a `UserError`
 * naming `name`: the image is blank, or its ink is too faint to tell from the paper.
 */
export function boundingBox(map: GreyMap, name: string, threshold = INK_THRESHOLD): Box {
  const { width, height, data } = map;
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[y * width + x]! >= threshold) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  }
  if (x1 < 0) {
    throw new UserError(`Image "${name}" has no ink to classify (a blank image?)`, {
      hint: "The digit must stand out from its background: dark on light or light on dark.",
    });
  }
  return { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
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

// ---------------------------------------------------------------------------------------------
// 4. Size

/**
 * The size that fits `width` × `height` into `side` × `side` with its longest side equal to
 * `side`, keeping the aspect ratio (the shorter side rounded, at least 1).
 */
export function fitSize(width: number, height: number, side: number): {
  width: number;
  height: number;
} {
  const scale = side / Math.max(width, height);
  return {
    width: Math.max(1, Math.min(side, Math.round(width * scale))),
    height: Math.max(1, Math.min(side, Math.round(height * scale))),
  };
}

/**
 * Resizes by area averaging (a box filter): each output pixel is the mean of the input area it
 * covers, partly covered input pixels weighted by their covered fraction. This is exact for any
 * factor, integer or not, up or down, keeps the total ink in proportion to the area, and is the
 * anti-aliasing MNIST's strokes show. Separable: rows first, then columns.
 */
export function resizeArea(map: GreyMap, width: number, height: number): GreyMap {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`resizeArea: size must be positive integers, got ${width}×${height}`);
  }
  const xWeights = areaWeights(map.width, width);
  const yWeights = areaWeights(map.height, height);
  // (map.height, width): each row resampled horizontally.
  const rows = new Float32Array(map.height * width);
  for (let y = 0; y < map.height; y++) {
    const row = y * map.width;
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (const [i, w] of xWeights[x]!) sum += map.data[row + i]! * w;
      rows[y * width + x] = sum;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (const [i, w] of yWeights[y]!) {
      for (let x = 0; x < width; x++) out[y * width + x]! += rows[i * width + x]! * w;
    }
  }
  return { width, height, data: out };
}

/**
 * For each of `to` output pixels, the input pixels it covers and their weights (summing to 1):
 * output pixel j covers the input interval [j·s, (j+1)·s) with s = from / to.
 */
function areaWeights(from: number, to: number): [number, number][][] {
  const s = from / to;
  const weights: [number, number][][] = [];
  for (let j = 0; j < to; j++) {
    const start = j * s;
    const end = (j + 1) * s;
    const taps: [number, number][] = [];
    for (let i = Math.floor(start); i < Math.min(from, Math.ceil(end)); i++) {
      const overlap = Math.min(end, i + 1) - Math.max(start, i);
      if (overlap > 1e-9) taps.push([i, overlap / s]);
    }
    weights.push(taps);
  }
  return weights;
}

// ---------------------------------------------------------------------------------------------
// 5. Placement

/** The centre of mass of `map`'s ink, in pixel units: pixel (x, y) has its centre at x + ½, y + ½. */
export function centerOfMass(map: GreyMap): { x: number; y: number } {
  let mass = 0, mx = 0, my = 0;
  for (let y = 0; y < map.height; y++) {
    for (let x = 0; x < map.width; x++) {
      const v = map.data[y * map.width + x]!;
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  return mass > 0 ? { x: mx / mass, y: my / mass } : { x: map.width / 2, y: map.height / 2 };
}

/**
 * Places `digit` in a `side` × `side` field so that its centre of mass lands on pixel
 * (side/2, side/2), whose centre is at (side/2 + ½, side/2 + ½) in `centerOfMass` units: that is
 * where MNIST puts it (the 10,000 test digits' centres of mass average (14.51, 14.49), with 99%
 * within half a pixel of 14.5). The shift is by whole pixels, so strokes stay as sharp as they
 * are, and clamped so the digit stays whole inside the field: a 20 px tall 7, whose mass sits
 * high, cannot move more than 4 px down in 28×28.
 */
export function placeByCenterOfMass(
  digit: GreyMap,
  side: number,
): { map: GreyMap; offset: { x: number; y: number } } {
  if (digit.width > side || digit.height > side) {
    throw new RangeError(`placeByCenterOfMass: ${digit.width}×${digit.height} exceeds ${side}`);
  }
  const com = centerOfMass(digit);
  const clamp = (v: number, max: number) => Math.min(max, Math.max(0, v));
  const offset = {
    x: clamp(Math.round(side / 2 + 0.5 - com.x), side - digit.width),
    y: clamp(Math.round(side / 2 + 0.5 - com.y), side - digit.height),
  };
  const out = new Float32Array(side * side);
  for (let y = 0; y < digit.height; y++) {
    out.set(
      digit.data.subarray(y * digit.width, (y + 1) * digit.width),
      (y + offset.y) * side + offset.x,
    );
  }
  return { map: { width: side, height: side, data: out }, offset };
}

// ---------------------------------------------------------------------------------------------

/**
 * A histogram of values in [0, 1] at 4096 levels, for quantiles in linear time: images reach
 * 16 million pixels, too many to sort. 0 and 1 are levels, so a clean image's quantiles are exact.
 */
class Histogram {
  static readonly LEVELS = 4095;
  readonly counts = new Uint32Array(Histogram.LEVELS + 1);
  total = 0;

  add(value: number): void {
    const level = Math.round(Math.min(1, Math.max(0, value)) * Histogram.LEVELS);
    this.counts[level]!++;
    this.total++;
  }

  /** The `q`-quantile (0..1) by nearest rank; 0 when empty. */
  quantile(q: number): number {
    const rank = Math.min(this.total - 1, Math.floor(q * this.total));
    let seen = 0;
    for (let level = 0; level < this.counts.length; level++) {
      seen += this.counts[level]!;
      if (seen > rank) return level / Histogram.LEVELS;
    }
    return 0;
  }
}

/** The `q`-quantile of `values` (each in [0, 1]). */
function quantile(values: ArrayLike<number>, q: number): number {
  const histogram = new Histogram();
  for (let i = 0; i < values.length; i++) histogram.add(values[i]!);
  return histogram.quantile(q);
}
