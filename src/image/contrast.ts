/**
 * Ink as what differs from its local background (steps 2 and 3 of `toMnist`,
 * src/image/preprocess.ts): the background under the ink by a grey-level closing or opening,
 * each pixel's contrast against it, and that contrast levelled so that the background is 0 and
 * strong ink 1, like a clean scan.
 */
import type { GreyMap } from "./grey_map.ts";
import { Histogram, otsuThreshold } from "./histogram.ts";
import { closing, dilateMask, opening } from "./morphology.ts";

/** Which way the ink differs from its background. */
export type Polarity = "dark" | "light";

/**
 * The least difference between ink and background, as a fraction of full scale, that counts as
 * ink. Below it (about 25 grey levels), or below twice the noise floor, an image is taken as
 * blank: what is left is paper texture and JPEG noise.
 */
export const MIN_CONTRAST = 0.1;

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

/**
 * Contrast that is rounding, not ink, in grey levels (0..1): a grey level and a half. Decoded
 * samples are 8-bit, so flat paper differs from itself by a level at most (a JPEG's rounding),
 * or by a float step where a shrink averaged it; ink differs by `MIN_CONTRAST`, 25 levels.
 */
export const ROUNDING = 1.5 / 255;

/** The smallest background window, in pixels: wider than MNIST's boldest strokes at 28×28. */
export const MIN_WINDOW = 15;

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
export function localBackground(
  map: GreyMap,
  { polarity, window }: { polarity: Polarity; window: number },
): GreyMap {
  const radius = window >> 1;
  return polarity === "dark" ? closing(map, radius) : opening(map, radius);
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
  const background = localBackground(map, options);
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
 * 3. The strong level is the 99th percentile of the contrast above the noise floor, and at least
 *    `ROUNDING` above the paper's median (flat paper's own jitter is not ink): the core of
 *    the strokes (a clean MNIST digit's 255 plateau), robust to a few hot pixels. Not lower:
 *    a photo's digit may be 2% of the pixels above the noise floor and a desk's wood grain the
 *    rest, which would then be scaled to full ink. Ink is mapped linearly from [noise, strong]
 *    to [0, 1] and clamped. Where Otsu marked strokes, the strong level is at least their
 *    median above the noise floor: a small digit in a large photo is under 1% of that contrast.
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
  const masked = dilateMask({ width, height, data: strokes }, { radius }).data;

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
  // Flat paper has no spread (the floor is its median), yet its pixels differ by rounding: two
  // float steps after a shrink, a grey level in a JPEG. Only contrast a rounding clear of the
  // paper's median is weighed as ink, or that jitter, most of the paper, is the strong level.
  const counted = Math.max(floor, median + ROUNDING);
  const countedAt = divisor ? (p: number) => counted / divisor[p]! : () => counted;

  const strongInk = new Histogram();
  for (let p = 0; p < data.length; p++) if (data[p]! > countedAt(p)) strongInk.add(data[p]!);
  let strong = strongInk.quantile(0.99);
  // A digit that is a small share of a large photo (0.1% of a 12 MP photo's pixels) can be
  // under 1% of the contrast above the noise floor, the rest paper grain: the 99th percentile
  // is then grain, and a crisp digit would read as blank. The median of Otsu's strokes above
  // the floor is their core then; it is lower than the 99th percentile wherever that is ink.
  if (split.separation >= MIN_CONTRAST) {
    const core = new Histogram();
    for (let p = 0; p < data.length; p++) {
      if (strokes[p] && data[p]! > countedAt(p)) core.add(data[p]!);
    }
    if (core.total > 0) strong = Math.max(strong, core.quantile(0.5));
  }
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
    const levels = background.data;
    for (let p = 0; p < levels.length; p++) {
      bgMin = Math.min(bgMin, levels[p]!);
      bgMax = Math.max(bgMax, levels[p]!);
    }
  }
  return {
    map: { width, height, data: out },
    background: { min: bgMin, max: bgMax },
    noise,
    strong: hasInk ? strong : 0,
  };
}
