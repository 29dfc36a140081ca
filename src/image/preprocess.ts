/**
 * Any image of a digit → a 28×28 MNIST-style input, the way MNIST itself was made: "The original
 * black and white images from NIST were size normalized to fit in a 20x20 pixel box while
 * preserving their aspect ratio [...] anti-aliasing [...] the images were centered in a 28x28
 * image by computing the center of mass of the pixels, and translating the image so as to
 * position this point at the center of the 28x28 field" (LeCun, Cortes, Burges).
 *
 * Before that, a photo or a drawing has to become an ink map like NIST's scans: light ink on
 * black, a clean background, nothing but the digit. A photo of a sheet of paper has a desk
 * around it, uneven light and shadows across it, so ink is found as what differs from its
 * *local* background, never from a global level or the image's border. The steps, each
 * exported and tested on its own:
 *
 *   greyMap → shrink → localContrast → levelInk → keepDigit ─┐ (for dark ink, and for light ink)
 *     → judgePolarity → checkDigitSize → crop → resizeArea → placeByCenterOfMass
 *
 * All maps are `GreyMap`s: one float per pixel; ink maps are 0 = background, 1 = full ink.
 */
import { UserError } from "../errors.ts";
import type { DecodedImage } from "./decode.ts";

/** One float per pixel, row-major. */
export interface GreyMap {
  /** Pixels per row. */
  width: number;
  /** Rows. */
  height: number;
  /** (height, width) values; for ink maps 0 = background, 1 = full ink. */
  data: Float32Array;
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
 * Where the ink came from: the alpha channel of a transparent drawing, light ink on a dark
 * background ("luminance", as MNIST is), or dark ink on a light one ("inverted luminance").
 */
export type InkSource = "alpha" | "luminance" | "inverted luminance";

/** Which way the ink differs from its background. */
export type Polarity = "dark" | "light";

/** MNIST's geometry: the digit's longest side is 20 px, placed in a 28×28 field. */
export const MNIST_SIDE = 28;
/** The side of the box the digit is scaled to fit. */
export const DIGIT_SIDE = 20;

/**
 * The longest side images are worked on at, in pixels: a larger image is first shrunk to it by
 * area averaging. The digit ends up 20 px tall, and `checkDigitSize` refuses one under a tenth
 * of the image, so it still spans at least 57 px here (a 4:3 photo); a 12 MP photo is worked on
 * at 768×576, a 27th of the pixels.
 */
export const WORKING_SIDE = 768;

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

/** A connected mark with fewer ink pixels than this fraction of the digit's largest is a speck. */
export const SPECK_FRACTION = 0.05;

/**
 * How far apart the pieces of one digit may lie (a 5's detached bar, a broken stroke), as a
 * fraction of the longest side of the largest piece: marks farther from the digit are not
 * part of it, whatever their size.
 */
export const PIECE_REACH = 0.25;

/**
 * The background window's side as a fraction of the image's longer side (at least
 * `MIN_WINDOW` px). It must be wider than any stroke, or a stroke would count as background:
 * pen strokes in photos are 1–5% of the image, MNIST's own 10–15%, a bold digit cropped to its
 * edges up to 25%. Larger dark (or light) things narrower than it, such as a strip of desk at
 * the photo's edge, come out as ink too; `keepDigit` drops those because they touch the frame.
 */
export const WINDOW_FRACTION = 1 / 3;
/**
 * The darkest background measured relatively (`localContrast`), in luminance: paper in a deep
 * shadow is about 0.3; a dark desk is 0.05–0.2, where noise of 2% would be 10–40% of it.
 */
export const DARKEST_PAPER = 0.2;

/** The smallest background window, in pixels: wider than MNIST's boldest strokes at 28×28. */
export const MIN_WINDOW = 15;

/**
 * The least extent (longest side of the ink's box) of a digit, as a fraction of the image's
 * shorter side: a speck or a dot below it is refused, as a blank image is. A thin 1 drawn over
 * half the height is five times as long.
 */
export const MIN_EXTENT = 0.1;

/**
 * A mark less than this many times as long as it is thick (its widest stroke) is a dot or a
 * blob, not a digit: a tap on the drawing page makes a dot one brush (a tenth of the pad) wide.
 * MNIST's boldest digits are about three times as long as their strokes are wide.
 */
export const MIN_ELONGATION = 2;

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
  /** How the polarity was judged (see `judgePolarity`); "alpha" for transparent drawings. */
  judged: PolarityReason;
  /** Working-map pixels per image pixel (1, or less when the image was shrunk). */
  scale: number;
  /** The background window's side, in working-map pixels. */
  window: number;
  /** Lowest and highest local background level (luminance 0..1; alpha: 0). */
  background: { min: number; max: number };
  /** Contrast below this level above the background was taken as noise. */
  noise: number;
  /** The contrast that was scaled to full ink. */
  strong: number;
  /** Marks dropped as not the digit: touching the frame, specks, far from it, edges. */
  dropped: { frame: number; specks: number; far: number; edges: number };
  /** The digit's bounding box, in the image's pixels. */
  box: Box;
  /** The box's size after scaling its longest side to 20 px. */
  scaled: { width: number; height: number };
  /** Where the scaled box's top-left corner sits in the 28×28 field. */
  offset: { x: number; y: number };
  /** The centre of mass of the final 28×28 ink, in `centerOfMass` units: MNIST's is (14.5, 14.5). */
  centerOfMass: { x: number; y: number };
}

/**
 * Runs every step: the image's ink, found against its local background, the digit kept and the
 * rest dropped, cropped to its bounding box, scaled so its longest side is 20 px and placed in
 * 28×28 by its centre of mass. Throws a `UserError` naming `name` when the image has no ink, or
 * too little to be a digit (`checkDigitSize`).
 */
export function toMnist(image: DecodedImage, name: string): MnistDigit {
  const grey = greyMap(image);
  const { map: work, scale } = shrink(grey.map, WORKING_SIDE);
  const found = grey.source === "alpha" ? alphaInk(work) : judgePolarity(work);
  const { digit, levelled } = found;
  if (digit.box === undefined) throw noInk(name);
  const box = digit.box;
  checkDigitSize(digit.map, { box, name });
  const size = fitSize(box.width, box.height, DIGIT_SIDE);
  const scaled = resizeArea(crop(digit.map, box), size.width, size.height);
  const placed = placeByCenterOfMass(scaled, MNIST_SIDE);
  // Scale so the strongest pixel is full ink, as in nearly every MNIST digit: a thin pen
  // stroke averaged down to 20 px would otherwise be faint.
  const pixels = placed.map.data;
  let max = 0;
  for (const v of pixels) max = Math.max(max, v);
  if (max > 0 && max < 1) {
    for (let i = 0; i < pixels.length; i++) pixels[i]! /= max;
  }
  const bytes = Uint8Array.from(pixels, (v) => Math.round(v * 255));
  const inImage = (v: number) => Math.round(v / scale);
  return {
    pixels,
    ink: bytes,
    steps: {
      source: found.source,
      judged: found.judged,
      scale,
      window: found.window,
      background: levelled.background,
      noise: levelled.noise,
      strong: levelled.strong,
      dropped: digit.dropped,
      box: {
        x: inImage(box.x),
        y: inImage(box.y),
        width: Math.max(1, inImage(box.x + box.width) - inImage(box.x)),
        height: Math.max(1, inImage(box.y + box.height) - inImage(box.y)),
      },
      scaled: size,
      offset: placed.offset,
      centerOfMass: centerOfMass(placed.map),
    },
  };
}

function noInk(name: string): UserError {
  return new UserError(`Image "${name}" has no ink to classify (a blank image?)`, {
    hint: "The digit must stand out from its background: dark on light or light on dark.",
  });
}

// ---------------------------------------------------------------------------------------------
// 1. Grey levels

/**
 * The image as one grey level per pixel, 0..1, and what it is:
 *
 * - `alpha`: a transparent background (the median alpha of the border is below one half), as a
 *   canvas drawing exported as PNG has: the alpha channel is the ink, whatever the stroke's
 *   colour.
 * - `luminance`: otherwise, luminance (Rec. 601, as JPEG defines it), after compositing any
 *   transparency over white. Which way the ink lies, darker or lighter than its background, is
 *   for `judgePolarity` to find.
 */
export function greyMap(image: DecodedImage): { map: GreyMap; source: "alpha" | "luminance" } {
  const { width, height, channels, data } = image;
  const n = width * height;
  const hasAlpha = channels === 2 || channels === 4;
  const alphaAt = (p: number) => data[p * channels + channels - 1]! / 255;

  if (hasAlpha && borderMedianOf(width, height, alphaAt) < 0.5) {
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
  return { map: { width, height, data: luminance }, source: "luminance" };
}

/** The median over a border ring 2% of the shorter side wide (at least 1 px). */
export function borderMedian(map: GreyMap): number {
  return borderMedianOf(map.width, map.height, (p) => map.data[p]!);
}

function borderMedianOf(width: number, height: number, value: (p: number) => number): number {
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

/**
 * `map` shrunk by area averaging (`resizeArea`) so that its longer side is at most `maxSide`,
 * and the scale: working pixels per image pixel (1 when it was small enough already).
 */
export function shrink(map: GreyMap, maxSide: number): { map: GreyMap; scale: number } {
  const longer = Math.max(map.width, map.height);
  if (longer <= maxSide) return { map, scale: 1 };
  const scale = maxSide / longer;
  const width = Math.max(1, Math.round(map.width * scale));
  const height = Math.max(1, Math.round(map.height * scale));
  return { map: resizeArea(map, width, height), scale: width / map.width };
}

// ---------------------------------------------------------------------------------------------
// 2. Local contrast

/** The background window for a map: `WINDOW_FRACTION` of its longer side, odd, ≥ `MIN_WINDOW`. */
export function backgroundWindow(width: number, height: number): number {
  const side = Math.max(MIN_WINDOW, Math.round(Math.max(width, height) * WINDOW_FRACTION));
  return side | 1;
}

/**
 * The local background under ink of `polarity`, estimated at the scale of `window` (an odd side
 * in pixels). Not smoothed first: a blurred step would stand above the dark side of a sheet's
 * edge or a sharp shadow's and mark it as ink; the noise a window's extreme picks up lifts the
 * whole background alike, and `levelInk`'s noise floor takes it off.
 *
 * - dark ink: a grey-level closing (the maximum over a window, then the minimum), which fills
 *   every dark mark narrower than the window with the level of the paper around it, and keeps
 *   everything wider: a shadow, the desk, a gradient of light (a closing leaves any monotone
 *   ramp and any step as they are);
 * - light ink: an opening (minimum, then maximum), the same for light marks on a dark ground.
 *
 * Each is four passes of van Herk and Gil-Werman's running extreme, linear in the pixels
 * whatever the window. Pixels outside the image are ignored, not taken as black or white.
 */
export function localBackground(map: GreyMap, polarity: Polarity, window: number): GreyMap {
  const { width, height } = map;
  const radius = window >> 1;
  const first = polarity === "dark";
  const second = !first;
  const out = extremeFilter(
    extremeFilter(map.data, width, height, radius, first),
    width,
    height,
    radius,
    second,
  );
  return { width, height, data: out };
}

/** `localContrast`'s result. */
export interface Contrast {
  /** Per pixel, how far it differs from the background towards ink; negative the other way. */
  contrast: GreyMap;
  /** The local background (`localBackground`). */
  background: GreyMap;
  /** Dark ink: per pixel, what the difference was divided by (the background, at least
   * `DARKEST_PAPER`); undefined for light ink, whose contrast is the difference itself. */
  divisor?: Float32Array;
}

/**
 * How much each pixel differs from its local background (`localBackground`), signed, positive
 * for ink of `polarity`:
 *
 * - dark ink: relative to the background, (background − grey) / background, because light is
 *   multiplied, not added: a stroke in a shadow reflects the same fraction of the light as one
 *   beside it, so both come out alike. A background darker than `DARKEST_PAPER` is no paper
 *   (a dark desk, a deep shadow), and the ratio there would be the sensor's noise magnified:
 *   it is taken as that level;
 * - light ink: grey − background, as MNIST's own light strokes on black are.
 */
export function localContrast(
  map: GreyMap,
  options: { polarity: Polarity; window: number },
): Contrast {
  const background = localBackground(map, options.polarity, options.window);
  const out = new Float32Array(map.data.length);
  const bg = background.data;
  const grey = map.data;
  const size = { width: map.width, height: map.height };
  if (options.polarity === "light") {
    for (let p = 0; p < out.length; p++) out[p] = grey[p]! - bg[p]!;
    return { contrast: { ...size, data: out }, background };
  }
  const divisor = new Float32Array(out.length);
  for (let p = 0; p < out.length; p++) {
    divisor[p] = Math.max(DARKEST_PAPER, bg[p]!);
    out[p] = (bg[p]! - grey[p]!) / divisor[p]!;
  }
  return { contrast: { ...size, data: out }, background, divisor };
}

/**
 * The maximum (or, with `max` false, the minimum) over a (2r+1)² square around each pixel, the
 * square clipped at the edges: van Herk / Gil-Werman per row, then per column. Each line, padded
 * with r values that never win on either side, is cut into blocks of 2r+1; within a block, running
 * extremes from the left (`g`) and from the right (`h`); a window spans at most two blocks, so
 * its extreme is that of one `h` and one `g`: three comparisons per pixel, whatever r.
 */
function extremeFilter(
  data: Float32Array,
  width: number,
  height: number,
  r: number,
  max: boolean,
): Float32Array {
  const k = 2 * r + 1;
  const size = Math.ceil((Math.max(width, height) + 2 * r) / k) * k;
  const line = new Float32Array(size);
  const g = new Float32Array(size);
  const h = new Float32Array(size);
  const none = max ? -Infinity : Infinity;
  const pass = (src: Float32Array, n: number, stride: number, lines: number, step: number) => {
    const out = new Float32Array(src.length);
    const m = Math.ceil((n + 2 * r) / k) * k;
    line.fill(none, 0, r);
    for (let l = 0; l < lines; l++) {
      const base = l * step;
      for (let i = 0; i < n; i++) line[r + i] = src[base + i * stride]!;
      line.fill(none, r + n, m);
      for (let start = 0; start < m; start += k) {
        const end = start + k - 1;
        g[start] = line[start]!;
        h[end] = line[end]!;
        if (max) {
          for (let i = start + 1; i <= end; i++) {
            const v = line[i]!, prev = g[i - 1]!;
            g[i] = v > prev ? v : prev;
          }
          for (let i = end - 1; i >= start; i--) {
            const v = line[i]!, next = h[i + 1]!;
            h[i] = v > next ? v : next;
          }
        } else {
          for (let i = start + 1; i <= end; i++) {
            const v = line[i]!, prev = g[i - 1]!;
            g[i] = v < prev ? v : prev;
          }
          for (let i = end - 1; i >= start; i--) {
            const v = line[i]!, next = h[i + 1]!;
            h[i] = v < next ? v : next;
          }
        }
      }
      // Output x covers padded [x, x + 2r].
      for (let x = 0; x < n; x++) {
        const a = h[x]!, b = g[x + 2 * r]!;
        out[base + x * stride] = max ? (a > b ? a : b) : (a < b ? a : b);
      }
    }
    return out;
  };
  return pass(pass(data, width, 1, height, width), height, width, width, 1);
}

// ---------------------------------------------------------------------------------------------
// 3. Levels

/** `levelInk`'s result. */
export interface Levelled {
  /** Ink: contrast above the noise floor, strong ink scaled to 1, clamped to [0, 1]. */
  map: GreyMap;
  /** Lowest and highest local background level the contrast was measured against. */
  background: { min: number; max: number };
  /** The noise floor that was subtracted. */
  noise: number;
  /** The contrast that became 1; 0 when there is no ink. */
  strong: number;
}

/**
 * Levels a contrast map (`localContrast`: 0 on the background, more where the ink is) so that the
 * background is 0 and strong ink is 1, like a clean scan.
 *
 * 1. The ink is roughly marked first, to keep it out of the statistics of the background: the
 *    contrast above Otsu's threshold, if the two classes differ by at least `MIN_CONTRAST`,
 *    widened by 1% of the image to take in the strokes' soft edges.
 * 2. The noise floor is the median plus four robust standard deviations (1.4826 × MAD) of the
 *    contrast elsewhere: paper grain and JPEG noise fall below it, ink does not. For dark ink,
 *    whose contrast is relative (`localContrast`'s `divisor`), the floor is measured on the
 *    difference in grey levels and divided per pixel as the contrast was: the same noise is a
 *    larger fraction of a shadow's paper than of lit paper.
 * 3. The strong level is the 99th percentile of the contrast above the noise floor: the core of
 *    the strokes (a clean MNIST digit's 255 plateau), robust to a few hot pixels. Not lower:
 *    a photo's digit may be 2% of the pixels above the noise floor and a desk's wood grain the
 *    rest, which would then be scaled to full ink. Ink is mapped linearly from [noise, strong]
 *    to [0, 1] and clamped.
 *
 * A map whose strong level is below `MIN_CONTRAST`, or below twice the noise floor, has no ink:
 * every pixel becomes 0. A clean MNIST digit comes out unchanged (up to the scaling by the
 * strong level, at most a level or two).
 */
export function levelInk(
  contrast: GreyMap,
  options: { background?: GreyMap; divisor?: Float32Array } = {},
): Levelled {
  const { width, height, data } = contrast;
  const { background, divisor } = options;
  const split = otsuThreshold(data);
  const strokes = new Uint8Array(data.length);
  // Pure noise splits too, into two classes a few σ apart: ink must stand out by MIN_CONTRAST.
  if (split.separation >= MIN_CONTRAST) {
    for (let p = 0; p < data.length; p++) strokes[p] = data[p]! > split.threshold ? 1 : 0;
  }
  const radius = Math.max(1, Math.round(0.01 * Math.max(width, height)));
  const masked = dilateMask(strokes, width, height, radius);

  // The noise is the sensor's, in grey levels: measured on the difference itself, before any
  // division, so that in a shadow (a small divisor) the floor rises as the noise does.
  const raw = (p: number) => (divisor ? data[p]! * divisor[p]! : data[p]!);
  const paper = new Histogram(-1, 1);
  const divisors = new Histogram(0, 1);
  for (let p = 0; p < data.length; p++) {
    if (masked[p]) continue;
    paper.add(raw(p));
    if (divisor) divisors.add(divisor[p]!);
  }
  const median = paper.total > 0 ? paper.quantile(0.5) : 0;
  const spread = new Histogram();
  for (let p = 0; p < data.length; p++) if (!masked[p]) spread.add(Math.abs(raw(p) - median));
  const floor = Math.max(0, median + 4 * 1.4826 * spread.quantile(0.5));
  const floorAt = divisor ? (p: number) => floor / divisor[p]! : () => floor;
  // The floor where the paper is: what the noise floor is, in the contrast's own units.
  const noise = divisor ? floor / (divisors.total > 0 ? divisors.quantile(0.5) : 1) : floor;

  const strongInk = new Histogram();
  for (let p = 0; p < data.length; p++) if (data[p]! > floorAt(p)) strongInk.add(data[p]!);
  const strong = strongInk.quantile(0.99);
  // Ink's core is at least twice the noise floor: the tail of the noise itself reaches about
  // 1.25 times it.
  const hasInk = strong >= MIN_CONTRAST && strong >= 2 * noise;

  const out = new Float32Array(data.length);
  if (hasInk) {
    for (let p = 0; p < out.length; p++) {
      const f = Math.min(floorAt(p), strong / 2);
      out[p] = Math.min(1, Math.max(0, (data[p]! - f) / (strong - f)));
    }
  }
  let bgMin = 0, bgMax = 0;
  if (background) {
    bgMin = Infinity;
    bgMax = -Infinity;
    for (const v of background.data) {
      bgMin = Math.min(bgMin, v);
      bgMax = Math.max(bgMax, v);
    }
  }
  return {
    map: { width, height, data: out },
    background: { min: bgMin, max: bgMax },
    noise,
    strong: hasInk ? strong : 0,
  };
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
function dilateMask(mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
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
// 4. The digit, and nothing else

/** A connected mark: its pixels' label, size, bounding box, whether it touches the frame. */
interface Mark {
  label: number;
  size: number;
  box: Box;
  touchesFrame: boolean;
}

/** `keepDigit`'s result. */
export interface KeptDigit {
  /** The ink map with the dropped marks' pixels set to 0. */
  map: GreyMap;
  /** Per pixel, 1 where a kept mark is. */
  mask: Uint8Array;
  /** The kept marks' bounding box; undefined when nothing is left. */
  box?: Box;
  /** How many marks were dropped, and why. */
  dropped: { frame: number; specks: number; far: number; edges: number };
  /** Whether a kept mark touches the frame (a digit cropped to its edges, or no digit). */
  touchesFrame: boolean;
}

/**
 * Keeps the digit and drops what is not part of it. Marks are 8-connected pixels at or above
 * `INK_THRESHOLD`.
 *
 * - With `dropFrame` (photos), marks touching the image's frame are dropped when there is a
 *   digit-sized mark (at least `MIN_EXTENT` of the shorter side) that does not: a strip of desk,
 *   a table's edge, the far side of a sheet that runs off the photo. When every mark touches the
 *   frame, the photo was cropped to the digit, and they stay.
 * - The largest remaining mark is the digit's main stroke; marks within `PIECE_REACH` of its
 *   longest side from the digit (the gap from the digit's box to their nearest pixel) join it,
 *   in turn, unless they are specks (under `SPECK_FRACTION` of its pixels): a 5's detached bar,
 *   a broken stroke.
 * - Everything else is dropped: dust and JPEG specks, a second scribble far away.
 */
export function keepDigit(
  map: GreyMap,
  options: { dropFrame: boolean; edges?: { grey: GreyMap; polarity: Polarity } },
): KeptDigit {
  const { width, height, data } = map;
  const found = components(map, INK_THRESHOLD);
  const { labels } = found;
  const dropped = { frame: 0, specks: 0, far: 0, edges: 0 };
  const oneSided = options.edges
    ? oneSidedMarks(labels, found.marks.length, options.edges)
    : new Uint8Array(found.marks.length + 1);
  const marks = found.marks.filter((m) => !oneSided[m.label]);
  dropped.edges = found.marks.length - marks.length;
  const mask = new Uint8Array(data.length);
  if (marks.length === 0) return { map, mask, dropped, touchesFrame: false };

  const minExtent = MIN_EXTENT * Math.min(width, height);
  const extent = (b: Box) => Math.max(b.width, b.height);
  const inner = marks.filter((m) => !m.touchesFrame);
  const framed = options.dropFrame && inner.some((m) => extent(m.box) >= minExtent);
  const pool = framed ? inner : marks;
  // The main stroke: the longest mark (pixels over mean width), favouring the middle of the
  // image, where a photo's subject is, over its edges, where the desk and shadows are.
  const inMarks = Uint8Array.from(labels, (l) => (l > 0 ? 1 : 0));
  const distance0 = distanceTransform(inMarks, width, height);
  const depth = new Float64Array(found.marks.length + 1);
  for (let p = 0; p < labels.length; p++) depth[labels[p]!]! += distance0[p]!;
  const halfDiagonal = Math.hypot(width, height) / 2;
  const score = (m: Mark) => {
    const length = (m.size * m.size) / (2 * depth[m.label]!);
    const off = Math.hypot(
      m.box.x + m.box.width / 2 - width / 2,
      m.box.y + m.box.height / 2 - height / 2,
    ) / halfDiagonal;
    return length * (1 - Math.min(1, off)) ** 2;
  };
  const main = pool.reduce((a, b) => (score(b) > score(a) ? b : a));
  const kept = new Set<Mark>([main]);
  let box = main.box;
  const reach = PIECE_REACH * extent(main.box);
  // Grows the digit by the marks within reach of its box, until none is left to join.
  for (let grew = true; grew;) {
    grew = false;
    const distance = distancesToBox(labels, found.marks.length, width, box);
    for (const mark of pool) {
      if (kept.has(mark) || mark.size < SPECK_FRACTION * main.size) continue;
      if (distance[mark.label]! <= reach) {
        kept.add(mark);
        box = unionBox(box, mark.box);
        grew = true;
      }
    }
  }
  for (const mark of marks) {
    if (kept.has(mark)) continue;
    if (framed && mark.touchesFrame) dropped.frame++;
    else if (mark.size < SPECK_FRACTION * main.size) dropped.specks++;
    else dropped.far++;
  }
  const keptLabels = new Uint8Array(found.marks.length + 1);
  for (const mark of kept) keptLabels[mark.label] = 1;
  const out = data.slice();
  for (let p = 0; p < out.length; p++) {
    const label = labels[p]!;
    if (label === 0) continue;
    if (keptLabels[label]) mask[p] = 1;
    else out[p] = 0;
  }
  const touchesFrame = [...kept].some((m) => m.touchesFrame);
  return { map: { width, height, data: out }, mask, box, dropped, touchesFrame };
}

/** How far around a mark `oneSidedMarks` looks, in pixels: past the stroke's soft edge. */
const RING = 3;

/**
 * Per label 1..n, 1 for a mark that is ink on one side only: the edge of something broad, not
 * a stroke. A stroke differs from the ground all around it; the bright rim of a sheet against a
 * dark desk (a JPEG's or a phone's sharpening halo), or a dark line along a shadow's edge, has
 * on one side ground as light (or as dark) as itself. So the ring 2 to `RING` pixels around each
 * mark (each pixel given to the nearest mark) is compared with the mark's mean grey level: a
 * mark is one-sided when 30% of its ring lies on its side of the midpoint between the mark's
 * level and the ring's mean.
 */
function oneSidedMarks(
  labels: Int32Array,
  n: number,
  { grey, polarity }: { grey: GreyMap; polarity: Polarity },
): Uint8Array {
  const { width, height, data } = grey;
  // Multi-source breadth-first search from every mark pixel, out to RING (8-neighbours).
  const owner = Int32Array.from(labels);
  const distance = new Uint8Array(labels.length).fill(255);
  const queue = new Int32Array(labels.length);
  let head = 0, tail = 0;
  for (let p = 0; p < labels.length; p++) {
    if (labels[p]! > 0) {
      distance[p] = 0;
      queue[tail++] = p;
    }
  }
  while (head < tail) {
    const p = queue[head++]!;
    const d = distance[p]!;
    if (d >= RING) continue;
    const x = p % width, y = (p - x) / width;
    for (let dy = -1; dy <= 1; dy++) {
      const ny = y + dy;
      if (ny < 0 || ny >= height) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const nx = x + dx;
        if (nx < 0 || nx >= width) continue;
        const q = ny * width + nx;
        if (distance[q]! > d + 1) {
          distance[q] = d + 1;
          owner[q] = owner[p]!;
          queue[tail++] = q;
        }
      }
    }
  }
  const markSum = new Float64Array(n + 1), markCount = new Float64Array(n + 1);
  const ringSum = new Float64Array(n + 1), ringCount = new Float64Array(n + 1);
  for (let i = 0; i < tail; i++) {
    const p = queue[i]!;
    const d = distance[p]!;
    if (d === 0) {
      markSum[owner[p]!]! += data[p]!;
      markCount[owner[p]!]!++;
    } else if (d >= 2) {
      ringSum[owner[p]!]! += data[p]!;
      ringCount[owner[p]!]!++;
    }
  }
  const alike = new Float64Array(n + 1);
  const sign = polarity === "dark" ? -1 : 1;
  for (let i = 0; i < tail; i++) {
    const p = queue[i]!;
    if (distance[p]! < 2) continue;
    const label = owner[p]!;
    const mark = markSum[label]! / markCount[label]!;
    const mid = (mark + ringSum[label]! / ringCount[label]!) / 2;
    if (sign * (data[p]! - mid) >= 0) alike[label]!++;
  }
  const out = new Uint8Array(n + 1);
  for (let label = 1; label <= n; label++) {
    out[label] = ringCount[label]! > 0 && alike[label]! >= 0.3 * ringCount[label]! ? 1 : 0;
  }
  return out;
}

/**
 * Drops specks: marks (8-connected pixels at or above `threshold`) with fewer pixels than
 * `SPECK_FRACTION` of the largest mark's are set to 0, so that a fleck of dust or a JPEG
 * artefact does not stretch the digit's bounding box or pull its centre of mass. Broken strokes
 * of one digit (a 5's detached bar) are far above that fraction and stay.
 */
export function removeSpecks(map: GreyMap, threshold = INK_THRESHOLD): GreyMap {
  const { width, height, data } = map;
  const { labels, marks } = components(map, threshold);
  let largest = 0;
  for (const mark of marks) largest = Math.max(largest, mark.size);
  const out = data.slice();
  for (let p = 0; p < out.length; p++) {
    const label = labels[p]!;
    if (label > 0 && marks[label - 1]!.size < SPECK_FRACTION * largest) out[p] = 0;
  }
  return { width, height, data: out };
}

/**
 * For each label 1..n, how near its nearest pixel comes to `box` (0 inside it): the larger of
 * the gaps along x and along y. A strip of desk framing the digit has a box that holds the
 * digit's, but its pixels are a sheet's margin away.
 */
function distancesToBox(labels: Int32Array, n: number, width: number, box: Box): Float64Array {
  const distance = new Float64Array(n + 1).fill(Infinity);
  const right = box.x + box.width - 1, bottom = box.y + box.height - 1;
  for (let p = 0; p < labels.length; p++) {
    const label = labels[p]!;
    if (label === 0) continue;
    const x = p % width, y = (p - x) / width;
    const d = Math.max(box.x - x, x - right, box.y - y, y - bottom, 0);
    if (d < distance[label]!) distance[label] = d;
  }
  return distance;
}

function unionBox(a: Box, b: Box): Box {
  const x = Math.min(a.x, b.x), y = Math.min(a.y, b.y);
  return {
    x,
    y,
    width: Math.max(a.x + a.width, b.x + b.width) - x,
    height: Math.max(a.y + a.height, b.y + b.height) - y,
  };
}

/** 8-connected components of pixels >= `threshold`: labels 1..n per pixel (0: none), marks. */
function components(map: GreyMap, threshold: number): { labels: Int32Array; marks: Mark[] } {
  const { width, height, data } = map;
  const labels = new Int32Array(data.length);
  const marks: Mark[] = [];
  const stack = new Int32Array(data.length);
  for (let start = 0; start < data.length; start++) {
    if (labels[start] !== 0 || data[start]! < threshold) continue;
    const label = marks.length + 1;
    let size = 0, top = 0;
    let x0 = width, y0 = height, x1 = -1, y1 = -1;
    stack[top++] = start;
    labels[start] = label;
    while (top > 0) {
      const p = stack[--top]!;
      size++;
      const x = p % width;
      const y = (p - x) / width;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
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
    marks.push({
      label,
      size,
      box: { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 },
      touchesFrame: x0 === 0 || y0 === 0 || x1 === width - 1 || y1 === height - 1,
    });
  }
  return { labels, marks };
}

// ---------------------------------------------------------------------------------------------
// 5. Polarity

/**
 * How `judgePolarity` decided (see there): one reading's marks enclosed the other's, only one
 * reading's kept off the frame, one's were the slimmer, the ground among them, only one reading
 * had ink, or the border's level.
 */
export type PolarityReason =
  | "alpha"
  | "enclosure"
  | "frame"
  | "slimness"
  | "ground"
  | "only"
  | "border";

/** One polarity's ink, as `judgePolarity` weighs it. */
export interface InkCandidate {
  /** Which way the ink was read. */
  polarity: Polarity;
  /** `levelInk`'s ink map of this reading. */
  levelled: Levelled;
  /** `keepDigit`'s digit in it. */
  digit: KeptDigit;
}

/** What `judgePolarity` (or, for a transparent drawing, `alphaInk`) found. */
export interface FoundInk {
  /** Where the ink came from (`MnistSteps.source`). */
  source: InkSource;
  /** Which rule of `judgePolarity` decided. */
  judged: PolarityReason;
  /** The background window's side, in pixels (0 for a transparent drawing). */
  window: number;
  /** The chosen reading's ink map. */
  levelled: Levelled;
  /** The chosen reading's digit. */
  digit: KeptDigit;
  /** Each reading's `strokeShape`, when both found marks. */
  shapes?: { dark: StrokeShape; light: StrokeShape };
}

/** The ink of one polarity: `localContrast`, `levelInk`, `keepDigit` with the frame rule. */
export function inkCandidate(
  grey: GreyMap,
  options: { polarity: Polarity; window: number },
): InkCandidate {
  const { contrast, background, divisor } = localContrast(grey, options);
  const levelled = levelInk(contrast, { background, divisor });
  // Light marks along a sheet's edge are its bright rim (a JPEG's or a phone's sharpening
  // halo), not ink; a dark line along an edge is kept: a stroke in a deep shadow has as dark a
  // ground on one side, by the raw grey levels this test compares.
  const digit = keepDigit(levelled.map, {
    dropFrame: true,
    ...(options.polarity === "light" ? { edges: { grey, polarity: options.polarity } } : {}),
  });
  return { polarity: options.polarity, levelled, digit };
}

/**
 * How much thinner one reading's strokes must be than the other's to decide the polarity (and
 * at least half as long: a sliver of paper between a stroke and a shadow's edge is thin too).
 */
export const SLIMMER = 1.5;

/**
 * Which way the ink lies, judged from the marks themselves and their neighbourhood rather than
 * from the image's border (a dark desk around a white sheet is not the paper). Both readings are
 * made (`inkCandidate`): dark marks on a lighter ground, and light marks on a darker one. Read
 * the wrong way round, the marks are the ground the strokes cut up: the inside of a 0 or of a
 * 4's triangle, slivers between strokes and a shadow's edge, the strip of paper between the
 * digit and the desk, and MNIST's black margins around a 1.
 *
 * First the scale: the window is `backgroundWindow`'s, or, when narrower, six times the dark
 * reading's stroke width (`strokeShape`): wider than any stroke of either reading, and narrow
 * enough that open paper stays ground. Then, in order:
 *
 * 1. Only one reading finds a digit (at least `MIN_EXTENT` of the image, and half the other
 *    reading's, unless that one touches the frame; its strong level half the other's at
 *    least, relative contrast for dark ink against grey levels for light ink): that one.
 * 2. Enclosure: one reading's digit lies inside the other's box (90% of its box): it is the
 *    ground inside the strokes, and the outer reading is the ink, unless the outer one touches
 *    the frame (MNIST's margins around a 1, or a digit cropped to its edges): the border
 *    decides.
 * 3. Frame: only one reading's digit keeps off the frame: that one.
 * 4. Slimness: one reading's strokes are `SLIMMER` than the other's, and at least half as long
 *    (`strokeShape`): that one.
 * 5. Ground: otherwise the ink is the reading whose marks differ more, away from it, from the
 *    ground among them (the median grey level of the pixels where their boxes overlap, in
 *    neither's marks): the paper a digit is written on, or MNIST's black.
 *
 * "The border decides" (step 2): the border is ground, so the ink is the reading whose marks'
 * median grey level differs more from the border's, away from it (when neither reading finds a
 * digit: dark when the border's median is above one half, as on a scan).
 */
export function judgePolarity(grey: GreyMap): FoundInk {
  const wide = backgroundWindow(grey.width, grey.height);
  let dark = inkCandidate(grey, { polarity: "dark", window: wide });
  let window = wide;
  if (dark.digit.box !== undefined) {
    const scaled = Math.max(MIN_WINDOW, Math.round(6 * strokeShape(dark.digit).thickness)) | 1;
    if (scaled < wide) {
      window = scaled;
      dark = inkCandidate(grey, { polarity: "dark", window });
    }
  }
  const light = inkCandidate(grey, { polarity: "light", window });
  const found = (
    c: InkCandidate,
    judged: PolarityReason,
    shapes?: FoundInk["shapes"],
  ): FoundInk => ({
    source: c.polarity === "dark" ? "inverted luminance" : "luminance",
    judged,
    window,
    levelled: c.levelled,
    digit: c.digit,
    ...(shapes ? { shapes } : {}),
  });
  // A reading whose strong level is under half the other's has found no digit: that is
  // texture, not ink. Nor has one whose digit is a speck (`MIN_EXTENT`), or under half the
  // other's (a sliver of ground beside a stroke, a small loop's inside), measured against a
  // reading with ink that keeps off the frame if there is one (a strip of desk is no digit).
  const strongest = Math.max(dark.levelled.strong, light.levelled.strong);
  const strong = [dark, light].filter((c) => c.levelled.strong >= strongest / 2);
  const extent = (c: InkCandidate) =>
    c.digit.box ? Math.max(c.digit.box.width, c.digit.box.height) : 0;
  const inner = strong.filter((c) => !c.digit.touchesFrame);
  const least = Math.max(
    MIN_EXTENT * Math.min(grey.width, grey.height),
    Math.max(0, ...(inner.length > 0 ? inner : strong).map(extent)) / 2,
  );
  const found1 = (c: InkCandidate) => strong.includes(c) && extent(c) >= least;
  const d = found1(dark) ? dark.digit : { ...dark.digit, box: undefined };
  const l = found1(light) ? light.digit : { ...light.digit, box: undefined };
  const border = (shapes?: FoundInk["shapes"]) => {
    const ground = borderMedian(grey);
    if (d.box === undefined || l.box === undefined) {
      return found(ground > 0.5 ? dark : light, "border", shapes);
    }
    const darkInk = ground - medianOver(grey, d.mask);
    const lightInk = medianOver(grey, l.mask) - ground;
    return found(darkInk >= lightInk ? dark : light, "border", shapes);
  };
  if (d.box === undefined || l.box === undefined) {
    if (d.box === l.box) return border();
    return found(d.box !== undefined ? dark : light, "only");
  }
  const shapes = { dark: strokeShape(d), light: strokeShape(l) };
  const lightInside = inside(l.box, d.box), darkInside = inside(d.box, l.box);
  if (lightInside !== darkInside) {
    const outer = lightInside ? dark : light;
    return outer.digit.touchesFrame ? border(shapes) : found(outer, "enclosure", shapes);
  }
  if (d.touchesFrame !== l.touchesFrame) {
    return found(d.touchesFrame ? light : dark, "frame", shapes);
  }
  // Thinner, and not a mere sliver: at least half as long.
  const slimmer = (a: StrokeShape, b: StrokeShape) =>
    a.thickness * SLIMMER <= b.thickness && a.length >= b.length / 2;
  if (slimmer(shapes.dark, shapes.light)) return found(dark, "slimness", shapes);
  if (slimmer(shapes.light, shapes.dark)) return found(light, "slimness", shapes);
  const ground = groundBetween(grey, d, l);
  if (ground === undefined) return found(dark, "ground", shapes);
  const darkInk = ground - medianOver(grey, d.mask);
  const lightInk = medianOver(grey, l.mask) - ground;
  return found(darkInk >= lightInk ? dark : light, "ground", shapes);
}

/**
 * The median grey level of the ground among two readings' marks: the pixels where their boxes
 * overlap, in neither's marks; undefined when there is none.
 */
function groundBetween(grey: GreyMap, a: KeptDigit, b: KeptDigit): number | undefined {
  const [p, q] = [a.box!, b.box!];
  const x0 = Math.max(p.x, q.x), x1 = Math.min(p.x + p.width, q.x + q.width);
  const y0 = Math.max(p.y, q.y), y1 = Math.min(p.y + p.height, q.y + q.height);
  const histogram = new Histogram();
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * grey.width + x;
      if (!a.mask[i] && !b.mask[i]) histogram.add(grey.data[i]!);
    }
  }
  return histogram.total === 0 ? undefined : histogram.quantile(0.5);
}

/** The median of `map` over the pixels where `mask` is set. */
function medianOver(map: GreyMap, mask: Uint8Array): number {
  const histogram = new Histogram();
  for (let p = 0; p < mask.length; p++) if (mask[p]) histogram.add(map.data[p]!);
  return histogram.quantile(0.5);
}

/** Whether at least 90% of box `a`'s area lies inside box `b`. */
function inside(a: Box, b: Box): boolean {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 && w * h >= 0.9 * a.width * a.height;
}

/** A kept digit's mean stroke width and its length (kept pixels over that width), in pixels. */
export interface StrokeShape {
  /** Twice the mean distance from a kept pixel to the ground, in pixels. */
  thickness: number;
  /** Kept pixels over `thickness`, in pixels. */
  length: number;
}

/**
 * How thick a digit's marks are and how long: twice the mean distance from a kept pixel to the
 * nearest pixel that is not kept (`distanceTransform`: half a stroke's width, for a stroke), and
 * the kept pixels over that.
 */
export function strokeShape(digit: KeptDigit): StrokeShape {
  const { width, height } = digit.map;
  const distance = distanceTransform(digit.mask, width, height);
  let sum = 0, count = 0;
  for (let p = 0; p < distance.length; p++) {
    if (digit.mask[p]) {
      sum += distance[p]!;
      count++;
    }
  }
  if (count === 0) return { thickness: 0, length: 0 };
  const thickness = (2 * sum) / count;
  return { thickness, length: count / thickness };
}

/**
 * Per pixel, the distance in pixels from a set pixel of `mask` to the nearest unset one (0 on
 * unset pixels), by a two-pass 3-4 chamfer (within 8% of the Euclidean distance); beyond the
 * map's edge counts as set, so a mark cut by the edge is not thinned by it.
 */
export function distanceTransform(mask: Uint8Array, width: number, height: number): Float32Array {
  const far = 1e9;
  const d = new Float32Array(mask.length);
  for (let p = 0; p < d.length; p++) d[p] = mask[p] ? far : 0;
  const at = (x: number, y: number) =>
    x < 0 || y < 0 || x >= width || y >= height ? far : d[y * width + x]!;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if (d[p] === 0) continue;
      d[p] = Math.min(
        d[p]!,
        at(x - 1, y) + 3,
        at(x, y - 1) + 3,
        at(x - 1, y - 1) + 4,
        at(x + 1, y - 1) + 4,
      );
    }
  }
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const p = y * width + x;
      if (d[p] === 0) continue;
      d[p] = Math.min(
        d[p]!,
        at(x + 1, y) + 3,
        at(x, y + 1) + 3,
        at(x + 1, y + 1) + 4,
        at(x - 1, y + 1) + 4,
      );
    }
  }
  // Chamfer units are thirds of a pixel; a mask with no unset pixel is as thick as the map.
  const cap = Math.min(width, height);
  for (let p = 0; p < d.length; p++) d[p] = d[p]! >= far ? cap : d[p]! / 3;
  return d;
}

/**
 * A transparent drawing's ink: the alpha channel levelled as any ink is, every mark kept but
 * specks and marks far from the digit (a drawing touching the canvas's edge is still a drawing).
 */
export function alphaInk(alpha: GreyMap): FoundInk {
  const levelled = levelInk(alpha);
  return {
    source: "alpha",
    judged: "alpha",
    window: 0,
    levelled,
    digit: keepDigit(levelled.map, { dropFrame: false }),
  };
}

// ---------------------------------------------------------------------------------------------
// 6. Too little ink

/**
 * Refuses, with a `UserError` naming `name`, ink too little to be a digit, as a blank image is
 * refused:
 *
 * - a speck: its box's longest side is under `MIN_EXTENT` (a tenth) of the image's shorter side;
 * - a dot: less than `MIN_ELONGATION` times as long as its thickest stroke is wide (the widest
 *   disc inside the ink at `INK_THRESHOLD`, by a chamfer distance transform): a tap on a
 *   drawing page, a blob. A thin 1 drawn over half the height is many times as long as wide.
 */
export function checkDigitSize(map: GreyMap, options: { box: Box; name: string }): void {
  const { box, name } = options;
  const { width, height } = map;
  const extent = Math.max(box.width, box.height);
  const shorter = Math.min(width, height);
  const hint = "Write the digit larger, in strokes: a dot or a speck is not a digit.";
  if (extent < MIN_EXTENT * shorter) {
    throw new UserError(
      `Image "${name}" has too little ink to be a digit: it spans ${box.width}×${box.height} ` +
        `pixels, under a tenth of the image's ${shorter}-pixel side`,
      { hint },
    );
  }
  const thickness = strokeWidth(crop(map, box));
  if (extent < MIN_ELONGATION * thickness) {
    throw new UserError(
      `Image "${name}" has too little ink to be a digit: one dot ${box.width}×${box.height} ` +
        `pixels, no longer than ${MIN_ELONGATION} of its strokes are wide`,
      { hint },
    );
  }
}

/**
 * The width of the thickest stroke: twice the largest distance from an ink pixel (at or above
 * `INK_THRESHOLD`) to the nearest pixel that is not ink, or to the map's edge
 * (`distanceTransform`).
 */
export function strokeWidth(map: GreyMap): number {
  // Padded with a pixel of background, so that ink reaching the map's edge ends there.
  const width = map.width + 2, height = map.height + 2;
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < map.height; y++) {
    for (let x = 0; x < map.width; x++) {
      mask[(y + 1) * width + x + 1] = map.data[y * map.width + x]! >= INK_THRESHOLD ? 1 : 0;
    }
  }
  let best = 0;
  for (const d of distanceTransform(mask, width, height)) best = Math.max(best, d);
  // The distance runs from the pixel's centre: a 1-pixel line is 1 wide.
  return Math.max(0, 2 * best - 1);
}

// ---------------------------------------------------------------------------------------------
// 7. Box and size

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
  if (x1 < 0) throw noInk(name);
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
// 8. Placement

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
