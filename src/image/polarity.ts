/**
 * Which way the ink lies (step 5 of `toMnist`, src/image/preprocess.ts): dark ink on a lighter
 * ground or light ink on a darker one, judged from the marks of both readings and their
 * neighbourhood; and a transparent drawing's ink, its alpha channel.
 */
import {
  backgroundWindow,
  type Contrast,
  levelInk,
  type Levelled,
  localContrast,
  MIN_WINDOW,
  type Polarity,
} from "./contrast.ts";
import { keepDigit, type KeptDigit, MIN_EXTENT } from "./digit.ts";
import { borderMedian, type Box, type GreyMap } from "./grey_map.ts";
import { Histogram } from "./histogram.ts";
import { distanceTransform } from "./morphology.ts";

/**
 * Where the ink came from: the alpha channel of a transparent drawing, light ink on a dark
 * background ("luminance", as MNIST is), or dark ink on a light one ("inverted luminance").
 */
export type InkSource = "alpha" | "luminance" | "inverted luminance";

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

/**
 * The ink of one polarity: `localContrast` (or `computed`, that contrast already at hand),
 * `levelInk`, `keepDigit` with the frame rule.
 */
export function inkCandidate(
  grey: GreyMap,
  options: { polarity: Polarity; window: number; computed?: Contrast },
): InkCandidate {
  const { polarity, window, computed } = options;
  const { contrast, background, divisor } = computed ?? localContrast(grey, { polarity, window });
  const levelled = levelInk(contrast, { background, divisor });
  // Light marks along a sheet's edge are its bright rim (a JPEG's or a phone's sharpening
  // halo), not ink; a dark line along an edge is kept: a stroke in a deep shadow has as dark a
  // ground on one side, by the raw grey levels this test compares.
  const ground = { grey, polarity: options.polarity };
  const digit = keepDigit(levelled.map, {
    dropFrame: true,
    ground,
    ...(options.polarity === "light" ? { edges: ground } : {}),
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
 * 2. Enclosure: one reading's digit lies inside the other's box (90% of its box), or, when
 *    only one reading dropped a frame drawn round its digit, inside that reading's outline
 *    (`KeptDigit.outline`, the frame's box): it is the ground inside the strokes, and the
 *    outer reading is the ink, unless the outer one touches the frame (MNIST's margins around
 *    a 1, or a digit cropped to its edges): the border decides.
 * 3. Frame: only one reading's digit keeps off the frame: that one.
 * 4. Slimness: one reading's strokes are `SLIMMER` than the other's, and at least half as long
 *    (`strokeShape`): that one.
 * 5. Ground: otherwise the ink is the reading whose marks differ more, away from it, from the
 *    ground among them (the median grey level of the pixels where their boxes overlap, in
 *    neither's marks): the paper a digit is written on, or MNIST's black.
 *
 * `darkContrast`, when given, is the dark reading's `localContrast` of `grey` at
 * `backgroundWindow`'s scale (`unrule` has it), used rather than computed again.
 *
 * "The border decides" (step 2): the border is ground, so the ink is the reading whose marks'
 * median grey level differs more from the border's, away from it (when neither reading finds a
 * digit: dark when the border's median is above one half, as on a scan).
 */
export function judgePolarity(grey: GreyMap, darkContrast?: Contrast): FoundInk {
  const wide = backgroundWindow(grey.width, grey.height);
  let dark = inkCandidate(grey, { polarity: "dark", window: wide, computed: darkContrast });
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
    { judged, shapes }: { judged: PolarityReason; shapes?: FoundInk["shapes"] },
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
      return found(ground > 0.5 ? dark : light, { judged: "border", shapes });
    }
    const darkInk = ground - medianOver(grey, d.mask);
    const lightInk = medianOver(grey, l.mask) - ground;
    return found(darkInk >= lightInk ? dark : light, { judged: "border", shapes });
  };
  if (d.box === undefined || l.box === undefined) {
    if (d.box === l.box) return border();
    return found(d.box !== undefined ? dark : light, { judged: "only" });
  }
  const shapes = { dark: strokeShape(d), light: strokeShape(l) };
  // A frame drawn round the digit was dropped from one reading, yet it bounds the other's
  // marks (the paper between it and the digit, as wide as the frame's inside): it is ink.
  const dFramed = d.dropped.enclosures > 0, lFramed = l.dropped.enclosures > 0;
  if (dFramed !== lFramed) {
    const [framer, other] = dFramed ? [d, l] : [l, d];
    if (inside(other.box!, framer.outline!)) {
      const outer = dFramed ? dark : light;
      return outer.digit.touchesFrame
        ? border(shapes)
        : found(outer, { judged: "enclosure", shapes });
    }
  }
  const lightInside = inside(l.box, d.box), darkInside = inside(d.box, l.box);
  if (lightInside !== darkInside) {
    const outer = lightInside ? dark : light;
    return outer.digit.touchesFrame
      ? border(shapes)
      : found(outer, { judged: "enclosure", shapes });
  }
  if (d.touchesFrame !== l.touchesFrame) {
    return found(d.touchesFrame ? light : dark, { judged: "frame", shapes });
  }
  // Thinner, and not a mere sliver: at least half as long.
  const slimmer = (a: StrokeShape, b: StrokeShape) =>
    a.thickness * SLIMMER <= b.thickness && a.length >= b.length / 2;
  if (slimmer(shapes.dark, shapes.light)) return found(dark, { judged: "slimness", shapes });
  if (slimmer(shapes.light, shapes.dark)) return found(light, { judged: "slimness", shapes });
  const ground = groundBetween(grey, [d, l]);
  if (ground === undefined) return found(dark, { judged: "ground", shapes });
  const darkInk = ground - medianOver(grey, d.mask);
  const lightInk = medianOver(grey, l.mask) - ground;
  return found(darkInk >= lightInk ? dark : light, { judged: "ground", shapes });
}

/**
 * The median grey level of the ground among two readings' marks: the pixels where their boxes
 * overlap, in neither's marks; undefined when there is none.
 */
function groundBetween(grey: GreyMap, [a, b]: [KeptDigit, KeptDigit]): number | undefined {
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
  const distance = distanceTransform({ width, height, data: digit.mask });
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
