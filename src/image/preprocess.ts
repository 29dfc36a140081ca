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
 * Finding the ink has modules of its own, each one subject: grey_map.ts (the maps: greyMap,
 * crop), contrast.ts (local background, contrast, levels), digit.ts (the marks that make the
 * digit; checkDigitSize), polarity.ts (dark ink or light: judgePolarity, alphaInk), on
 * morphology.ts (closing and opening, components, distance transform) and histogram.ts. This file
 * runs them (`toMnist`) and does what MNIST did: the box, the 20 px size, the centre of mass.
 *
 * All maps are `GreyMap`s: one float per pixel; ink maps are 0 = background, 1 = full ink.
 */
import { UserError } from "../errors.ts";
import type { DecodedImage } from "./decode.ts";
import { checkDigitSize, INK_THRESHOLD } from "./digit.ts";
import { type Box, crop, type GreyMap, greyMap, type Size } from "./grey_map.ts";
import {
  alphaInk,
  type FoundInk,
  type InkSource,
  judgePolarity,
  type PolarityReason,
} from "./polarity.ts";
import { unrule } from "./rules.ts";

export { type Box, crop, type GreyMap, type Mask, type Size } from "./grey_map.ts";

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
 * The least side of the working map, in pixels, halved to read a noisy photo again when no ink
 * was found (`readInk`): 256 px, halved to 128, where a digit of a tenth of the image is still
 * 13 px.
 */
export const MIN_DENOISE = 128;

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
  /**
   * Marks dropped as not the digit: touching the frame, specks, far from it, edges, and boxes or
   * circles drawn round it (`enclosures`).
   */
  dropped: { frame: number; specks: number; far: number; edges: number; enclosures: number };
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
 * 28×28 by its centre of mass. Throws a `UserError` naming `name` when the image has no ink,
 * too little to be a digit (`checkDigitSize`), or digits side by side (`sideBySide`: "14"),
 * saying where they are in the image's pixels.
 */
export function toMnist(image: DecodedImage, name: string): MnistDigit {
  const grey = greyMap(image);
  const read = grey.source === "alpha"
    ? alphaOrSheet(image, { alpha: grey, name })
    : readInk(grey, name);
  const { found, scale, box } = read;
  const { digit, levelled } = found;
  const size = fitSize(box, DIGIT_SIDE);
  const scaled = resizeArea(crop(digit.map, box), size);
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

/**
 * A transparent image's ink: its alpha (a drawing), or, when the opaque part is a sheet with a
 * digit on it (a window's screenshot with its shadow, a sticker), the sheet's luminance
 * (`greyMap`'s `sheet`). The alpha is read first; the sheet is read too only when the alpha
 * holds no digit (a sheet's alpha is one broad blob: a dot, or too little ink) or when the
 * alpha's digit fills at least `SHEET_FILL` of its box, as a sheet does and a drawing's strokes
 * seldom do. The sheet's digit is then taken when the alpha holds none or when it lies inside
 * the alpha's, smaller: the sheet is what the alpha found. A drawing in one colour has no ink in
 * its luminance, so its alpha, or the alpha's error (a dot, a blank canvas), stands.
 *
 * Reading the alpha alone keeps a drawing in several colours from being read as a sheet (one
 * colour the ground, another the ink), and saves the sheet's reading, two polarities on the
 * image's luminance: on a 2000×2000 canvas of white strokes, 0.42 s of CPU to 0.17 s; at
 * 280×280, 46 ms to 25 ms (medians of three interleaved runs of seven).
 */
function alphaOrSheet(
  image: DecodedImage,
  { alpha, name }: { alpha: Grey; name: string },
): InkRead {
  const attempt = (grey: Grey): InkRead | UserError => {
    try {
      return readInk(grey, name);
    } catch (error) {
      if (error instanceof UserError) return error;
      throw error;
    }
  };
  const drawing = attempt(alpha);
  if (!(drawing instanceof UserError) && fill(drawing) < SHEET_FILL) return drawing;
  const sheet = attempt(greyMap(image, { sheet: true }));
  if (sheet instanceof UserError) {
    if (drawing instanceof UserError) throw drawing;
    return drawing;
  }
  if (drawing instanceof UserError || within(sheet.box, drawing.box)) return sheet;
  return drawing;
}

/**
 * The least share of its box that a transparent image's alpha ink fills when the image is read
 * as a sheet too (`alphaOrSheet`). A sheet, opaque all over, fills its box, an oval sticker 79%
 * of it; a digit's strokes fill less: MNIST's test digits (pixels at `INK_THRESHOLD`) a median
 * of 41%, and 511 of the 10,000 60% or more: a drawing as bold as those is read both ways.
 */
export const SHEET_FILL = 0.6;

/** The share of an ink reading's box that its kept marks fill, in [0, 1]. */
function fill({ found, box }: InkRead): number {
  const { mask, map } = found.digit;
  let inside = 0;
  for (let y = box.y; y < box.y + box.height; y++) {
    for (let x = box.x; x < box.x + box.width; x++) inside += mask[y * map.width + x]!;
  }
  return inside / (box.width * box.height);
}

/** Whether box `a` lies inside box `b` and is smaller. */
function within(a: Box, b: Box): boolean {
  return a.x >= b.x && a.y >= b.y && a.x + a.width <= b.x + b.width &&
    a.y + a.height <= b.y + b.height && a.width * a.height < b.width * b.height;
}

/** `greyMap`'s result. */
type Grey = ReturnType<typeof greyMap>;

/** `readInk`'s result. */
interface InkRead {
  /** What the ink's steps found. */
  found: FoundInk;
  /** Working-map pixels per image pixel. */
  scale: number;
  /** The digit's box in the working map. */
  box: Box;
}

/**
 * Steps 1–5 of `toMnist` on a grey map (`greyMap`): shrunk, its ink found (the alpha's, or by
 * `judgePolarity`) and checked (`checkDigitSize`, `sideBySide`). Throws a `UserError` naming
 * `name` when there is no ink, too little, or digits side by side.
 */
function readInk(grey: Grey, name: string): InkRead {
  let { map: work, scale } = shrink(grey.map, WORKING_SIDE);
  const read = (map: GreyMap) => {
    if (grey.source === "alpha") return alphaInk(map);
    const { grey: unruled, darkContrast } = unrule(map);
    return judgePolarity(unruled, darkContrast);
  };
  let found = read(work);
  // Noisy photos (a dim room, a high ISO): the noise floor can hide the ink. Averaged down to
  // half the side, the noise is halved and the strokes, several pixels wide, stay.
  if (
    found.digit.box === undefined && grey.source !== "alpha" &&
    Math.min(work.width, work.height) >= 2 * MIN_DENOISE
  ) {
    const half = resizeArea(work, {
      width: Math.round(work.width / 2),
      height: Math.round(work.height / 2),
    });
    scale *= half.width / work.width;
    work = half;
    found = read(work);
  }
  const box = found.digit.box;
  if (box === undefined) throw noInk(name);
  checkDigitSize(found.digit.map, { box, name, scale });
  const row = found.digit.sideBySide;
  if (row.length >= 2) throw severalDigits(row, { name, scale });
  return { found, scale, box };
}

/**
 * The refusal of an image that holds digits side by side (`sideBySide`): where they are, in the
 * image's pixels (`scale`: working pixels per image pixel), and what to do.
 */
function severalDigits(row: Box[], { name, scale }: { name: string; scale: number }): UserError {
  const at = (b: Box) => {
    const x = Math.round(b.x / scale), y = Math.round(b.y / scale);
    const width = Math.max(1, Math.round((b.x + b.width) / scale) - x);
    const height = Math.max(1, Math.round((b.y + b.height) / scale) - y);
    return `${width}×${height} pixels at (${x}, ${y})`;
  };
  return new UserError(
    `Image "${name}" holds ${row.length} digits side by side, not one (${
      row.map(at).join(", ")
    }): crop it to the one digit to classify`,
    { hint: "A model reads one digit per image: crop each digit into an image of its own." },
  );
}

function noInk(name: string): UserError {
  return new UserError(`Image "${name}" has no ink to classify (a blank image?)`, {
    hint: "The digit must stand out from its background: dark on light or light on dark.",
  });
}

// ---------------------------------------------------------------------------------------------
// Size

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
  return { map: resizeArea(map, { width, height }), scale: width / map.width };
}

/**
 * The smallest box holding every pixel at or above `threshold` (`INK_THRESHOLD` by default). No
 * such pixel is a `UserError` naming `name`: the image is blank, or its ink is too faint to tell
 * from the paper.
 */
export function boundingBox(
  map: GreyMap,
  { name, threshold = INK_THRESHOLD }: { name: string; threshold?: number },
): Box {
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

/**
 * The size that fits `size` (`width` × `height`) into `side` × `side` with its longest side
 * equal to `side`, keeping the aspect ratio (the shorter side rounded, at least 1).
 */
export function fitSize(size: Size, side: number): Size {
  const { width, height } = size;
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
export function resizeArea(map: GreyMap, size: Size): GreyMap {
  const { width, height } = size;
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
// Placement

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
