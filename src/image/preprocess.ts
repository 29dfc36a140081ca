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
 * box was that of NIST's bilevel strokes, before anti-aliasing. A stroke's half-covered edge is
 * at about 0.5, and the faint fringe of a blurred or JPEG-softened stroke lies below 0.3: at 0.3
 * the box takes the whole stroke and little of the fringe. (On MNIST's 10,000 test digits, the
 * box at 0.3 is 20 px for 9,984 of them, as MNIST made them.)
 */
export const INK_THRESHOLD = 0.3;

/**
 * The least difference between ink and background, as a fraction of full scale, that counts as
 * ink. Below it (about 25 grey levels), or below twice the noise floor, an image is taken as
 * blank: what is left is paper texture and JPEG noise.
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
  /** The centre of mass of the final 28×28 ink, in `centerOfMass` units: MNIST's is (14.5, 14.5). */
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
  if (max > 0 && max < 1) {
    for (let i = 0; i < pixels.length; i++) pixels[i]! /= max;
  }
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
  if (inverted) {
    for (let p = 0; p < n; p++) luminance[p] = 1 - luminance[p]!;
  }
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
 * 1. The background is a smooth surface, because a photo of paper is lit unevenly: the image is
 *    cut into about 8×8 tiles and the surface is interpolated bilinearly between the tiles'
 *    levels. Ink must not count as background, so this takes two passes (as astronomers
 *    estimate the sky behind stars):
 *    - a rough surface from each tile's 25th percentile, the grid opened (3×3 minimum, then 3×3
 *      maximum) so that a tile covered by a thick stroke takes its neighbours' level;
 *    - the ink that stands out of it (above Otsu's threshold, widened by 1% of the image to take
 *      in the strokes' soft edges) is masked, and each tile's level is the median of its
 *      unmasked pixels. A tile that is mostly ink takes the mean of its neighbours.
 * 2. The noise floor is the median plus four robust standard deviations (1.4826 × MAD) of the
 *    unmasked pixels above that surface: paper grain, JPEG noise and what the surface misses
 *    of a shadow fall below it, ink does not.
 * 3. The strong level is the 95th percentile of the pixels above the noise floor: the core of the
 *    strokes (a clean MNIST digit's 255 plateau), robust to a few hot pixels. Ink is mapped
 *    linearly from [noise, strong] to [0, 1] and clamped.
 *
 * An image whose strong level is below `MIN_CONTRAST`, or below twice the noise floor, has no
 * ink: every pixel becomes 0.
 * A clean MNIST digit, or a canvas drawing's alpha, comes out unchanged (up to the scaling by
 * the strong level, at most a level or two).
 */
export function levelBackground(ink: GreyMap): Levelled {
  const { width, height, data } = ink;
  const tiles = new Tiles(width, height);

  const roughGrid = openGrid(tiles.levels(data, 0.25)!, tiles);
  const rough = tiles.surface(roughGrid);
  // (TypedArray.from with a mapping function is ten times slower than these loops.)
  const above = new Float32Array(data.length);
  for (let p = 0; p < data.length; p++) above[p] = Math.max(0, data[p]! - rough[p]!);
  // Pure noise splits too, into two classes a few σ apart: ink must stand out by MIN_CONTRAST.
  const split = otsuThreshold(above);
  const strokes = new Uint8Array(data.length);
  if (split.separation >= MIN_CONTRAST) {
    for (let p = 0; p < data.length; p++) strokes[p] = above[p]! > split.threshold ? 1 : 0;
  }
  const radius = Math.max(1, Math.round(0.01 * Math.max(width, height)));
  const masked = dilate(strokes, width, height, radius);
  // Where ink covers nearly everything, the rough surface is the best guess there is.
  const background = tiles.surface(tiles.levels(data, 0.5, masked) ?? roughGrid);

  const residual = new Float32Array(data.length);
  const paper = new Histogram(-1, 1);
  let bgMin = Infinity;
  let bgMax = -Infinity;
  for (let p = 0; p < data.length; p++) {
    const r = data[p]! - background[p]!;
    residual[p] = Math.max(0, r);
    if (!masked[p]) paper.add(r);
    bgMin = Math.min(bgMin, background[p]!);
    bgMax = Math.max(bgMax, background[p]!);
  }
  const median = paper.quantile(0.5);
  const spread = new Histogram();
  for (let p = 0; p < data.length; p++) {
    if (!masked[p]) spread.add(Math.abs(data[p]! - background[p]! - median));
  }
  const noise = Math.max(0, median + 4 * 1.4826 * spread.quantile(0.5));

  const strongInk = new Histogram();
  for (const v of residual) if (v > noise) strongInk.add(v);
  const strong = strongInk.quantile(0.95);
  // Ink's core is at least twice the noise floor: the tail of the noise itself reaches about
  // 1.25 times it.
  const hasInk = strong >= MIN_CONTRAST && strong >= 2 * noise;

  const out = new Float32Array(data.length);
  if (hasInk) {
    const scale = 1 / (strong - noise);
    for (let p = 0; p < out.length; p++) {
      out[p] = Math.min(1, Math.max(0, (residual[p]! - noise) * scale));
    }
  }
  return {
    map: { width, height, data: out },
    background: { min: bgMin, max: bgMax },
    noise,
    strong: hasInk ? strong : 0,
  };
}

/** The tile grid of `levelBackground`: about 8 tiles along the longer side, at least 4 px. */
class Tiles {
  readonly size: number;
  readonly cols: number;
  readonly rows: number;

  constructor(readonly width: number, readonly height: number) {
    this.size = Math.max(4, Math.ceil(Math.max(width, height) / 8));
    this.cols = Math.ceil(width / this.size);
    this.rows = Math.ceil(height / this.size);
  }

  /**
   * Each tile's `q`-quantile of `data`, skipping pixels where `mask` is set. A tile with under a
   * quarter of its pixels left is filled in from its neighbours, repeatedly, mean of those known;
   * undefined when no tile has enough.
   */
  levels(data: Float32Array, q: number, mask?: Uint8Array): Float32Array | undefined {
    const { width, height, size, cols } = this;
    const histograms = Array.from({ length: cols * this.rows }, () => new Histogram());
    const counts = new Uint32Array(histograms.length);
    for (let y = 0; y < height; y++) {
      const row = Math.floor(y / size) * cols;
      for (let x = 0; x < width; x++) {
        const t = row + Math.floor(x / size);
        counts[t]!++;
        if (!mask?.[y * width + x]) histograms[t]!.add(data[y * width + x]!);
      }
    }
    const grid = Float32Array.from(
      histograms,
      (h, t) => (h.total >= counts[t]! / 4 ? h.quantile(q) : NaN),
    );
    return this.fill(grid);
  }

  /** Replaces NaN cells by the mean of their known 3×3 neighbours until none is left. */
  private fill(grid: Float32Array): Float32Array | undefined {
    const { cols, rows } = this;
    if (grid.every(Number.isNaN)) return undefined;
    while (grid.some(Number.isNaN)) {
      const next = grid.slice();
      for (let y = 0; y < rows; y++) {
        for (let x = 0; x < cols; x++) {
          if (!Number.isNaN(grid[y * cols + x]!)) continue;
          const known = neighbours(grid, this, x, y).filter((v) => !Number.isNaN(v));
          if (known.length > 0) next[y * cols + x] = known.reduce((a, b) => a + b) / known.length;
        }
      }
      grid = next;
    }
    return grid;
  }

  /** Bilinear interpolation between tile centres, clamped at the outer half tiles. */
  surface(grid: Float32Array): Float32Array {
    const { width, height, size, cols, rows } = this;
    // Per column: the two tile columns it lies between and the weight of the second.
    const x0 = new Int32Array(width);
    const x1 = new Int32Array(width);
    const fx = new Float32Array(width);
    for (let x = 0; x < width; x++) {
      const gx = Math.min(cols - 1, Math.max(0, (x + 0.5) / size - 0.5));
      x0[x] = Math.floor(gx);
      x1[x] = Math.min(cols - 1, x0[x]! + 1);
      fx[x] = gx - x0[x]!;
    }
    const surface = new Float32Array(width * height);
    for (let y = 0; y < height; y++) {
      const gy = Math.min(rows - 1, Math.max(0, (y + 0.5) / size - 0.5));
      const top = Math.floor(gy) * cols;
      const bottom = Math.min(rows - 1, Math.floor(gy) + 1) * cols;
      const fy = gy - Math.floor(gy);
      for (let x = 0; x < width; x++) {
        const a = grid[top + x0[x]!]! + (grid[top + x1[x]!]! - grid[top + x0[x]!]!) * fx[x]!;
        const b = grid[bottom + x0[x]!]! +
          (grid[bottom + x1[x]!]! - grid[bottom + x0[x]!]!) * fx[x]!;
        surface[y * width + x] = a + (b - a) * fy;
      }
    }
    return surface;
  }
}

/** The grid's values in the 3×3 neighbourhood of (x, y), clipped at the edges. */
function neighbours(
  grid: Float32Array,
  { cols, rows }: { cols: number; rows: number },
  x: number,
  y: number,
): number[] {
  const values: number[] = [];
  for (let gy = Math.max(0, y - 1); gy <= Math.min(rows - 1, y + 1); gy++) {
    for (let gx = Math.max(0, x - 1); gx <= Math.min(cols - 1, x + 1); gx++) {
      values.push(grid[gy * cols + gx]!);
    }
  }
  return values;
}

/** Morphological opening of the grid: 3×3 minimum, then 3×3 maximum. */
function openGrid(grid: Float32Array, size: { cols: number; rows: number }): Float32Array {
  const { cols } = size;
  const pass = (g: Float32Array, reduce: (...v: number[]) => number) =>
    Float32Array.from(g, (_, i) => reduce(...neighbours(g, size, i % cols, Math.floor(i / cols))));
  return pass(pass(grid, Math.min), Math.max);
}

/**
 * Otsu's threshold: the level that best splits `values` (in [0, 1]) into two classes, by the
 * largest between-class variance (values above it form the upper class), and the difference of
 * the two classes' means. When all values are equal there is nothing to split: the threshold is
 * that value, and the separation 0.
 */
export function otsuThreshold(values: ArrayLike<number>): {
  threshold: number;
  separation: number;
} {
  const histogram = new Histogram();
  for (let i = 0; i < values.length; i++) histogram.add(values[i]!);
  const { counts, total } = histogram;
  let sumAll = 0;
  for (let level = 0; level < counts.length; level++) sumAll += level * counts[level]!;
  let below = 0, sumBelow = 0, best = 0, bestLevel = 0, separation = 0;
  for (let level = 0; level < counts.length; level++) {
    below += counts[level]!;
    if (below === 0) continue;
    const above = total - below;
    if (above === 0) break;
    sumBelow += level * counts[level]!;
    const meanBelow = sumBelow / below;
    const meanAbove = (sumAll - sumBelow) / above;
    const between = below * above * (meanBelow - meanAbove) ** 2;
    if (between > best) {
      best = between;
      bestLevel = level;
      separation = (meanAbove - meanBelow) / Histogram.LEVELS;
    }
  }
  if (best === 0) return { threshold: histogram.quantile(1), separation: 0 };
  // Values are binned by rounding: the lower class is everything below the next half level.
  return { threshold: histogram.value(bestLevel + 0.5), separation };
}

/** Sets every pixel within `radius` (a square) of a set pixel: two separable running counts. */
function dilate(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  const pass = (src: Uint8Array, n: number, stride: number, lines: number, step: number) => {
    const out = new Uint8Array(src.length);
    for (let line = 0; line < lines; line++) {
      const base = line * step;
      let count = 0;
      for (let i = 0; i < Math.min(radius, n); i++) count += src[base + i * stride]!;
      for (let i = 0; i < n; i++) {
        if (i + radius < n) count += src[base + (i + radius) * stride]!;
        if (i - radius - 1 >= 0) count -= src[base + (i - radius - 1) * stride]!;
        out[base + i * stride] = count > 0 ? 1 : 0;
      }
    }
    return out;
  };
  const rows = pass(mask, width, 1, height, width);
  return pass(rows, height, width, width, 1);
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
 * A histogram at 4096 levels over [lo, hi] (default [0, 1]), for quantiles in linear time:
 * images reach 16 million pixels, too many to sort. Both ends are levels, so a clean image's
 * quantiles are exact.
 */
class Histogram {
  static readonly LEVELS = 4096;
  readonly counts = new Uint32Array(Histogram.LEVELS + 1);
  total = 0;

  private readonly scale: number;

  constructor(readonly lo = 0, readonly hi = 1) {
    this.scale = Histogram.LEVELS / (hi - lo);
  }

  add(value: number): void {
    const t = (value - this.lo) * this.scale;
    this.counts[t <= 0 ? 0 : t >= Histogram.LEVELS ? Histogram.LEVELS : Math.round(t)]!++;
    this.total++;
  }

  /** The value of a level. */
  value(level: number): number {
    return this.lo + (level / Histogram.LEVELS) * (this.hi - this.lo);
  }

  /** The `q`-quantile (0..1) by nearest rank; `lo` when empty. */
  quantile(q: number): number {
    const rank = Math.min(this.total - 1, Math.floor(q * this.total));
    let seen = 0;
    for (let level = 0; level < this.counts.length; level++) {
      seen += this.counts[level]!;
      if (seen > rank) return this.value(level);
    }
    return this.lo;
  }
}
