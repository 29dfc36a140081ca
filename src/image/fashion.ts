/**
 * Any picture of a garment → a 28×28 Fashion-MNIST-style input, the way Zalando made the dataset
 * from its product photos (Xiao, Rasul, Vollgraf, "Fashion-MNIST", 2017, section 2): trim the
 * edges that are close to the background's colour (within 5% of the largest intensity), resize
 * so the longest edge is 28, extend the shortest edge to 28 with the picture centred, negate
 * (the product photos' white background becomes black) and make it grey.
 *
 * None of the digit steps (`toMnist`): no 20 px box, no centre of mass, no strongest pixel made
 * full ink. A garment fills the 28 px field along its longer side, and its shade is kept: a white
 * shirt stays faint, as in the dataset. Where this differs from Zalando's conversion: the resize
 * averages areas (`resizeArea`) where they skipped rows and columns and then sharpened, and a
 * background other than pure white (a sheet of paper in a photo) is levelled to black, not left
 * grey by the plain negation.
 *
 * A picture whose background is dark already (a Fashion-MNIST image written as a PNG) is not
 * negated, and a 28×28 one is taken as it is: its pixels / 255, as `--test-index` feeds a
 * dataset image to the network.
 */
import { UserError } from "../errors.ts";
import type { DecodedImage } from "./decode.ts";
import { borderMedian, type Box, crop, type GreyMap, greyMap } from "./grey_map.ts";
import { components } from "./morphology.ts";
import { fitSize, MNIST_SIDE, resizeArea, shrink, WORKING_SIDE } from "./preprocess.ts";

/**
 * How far from the background a pixel must be to be part of the garment, on the 0..1 ink scale:
 * Zalando's trim treated colours within 5% of the largest intensity as the background's.
 */
export const FASHION_FUZZ = 0.05;

/**
 * The smallest mark kept, as a share of the largest: smaller ones (specks, JPEG noise, dust on
 * the paper) are taken as background, so that they neither stretch the trimmed box nor show.
 */
export const SPECK_SHARE = 0.02;

/**
 * The smallest mark kept whatever the largest, as a share of the shorter side: a square of a
 * 50th of it (11×11 px on a 768×576 working map). Noise on blank paper leaves only marks below.
 */
export const SPECK_SIDE = 1 / 50;

/** The result of `toFashion`. */
export interface FashionImage {
  /** (28, 28) intensity in [0, 1], light garment on black, as `gatherBatch` feeds a model. */
  pixels: Float32Array;
  /** (28, 28) the same as bytes 0..255, for display and `--save-input`. */
  ink: Uint8Array;
  /** What each step found. */
  steps: FashionSteps;
}

/** What `toFashion`'s steps found. */
export interface FashionSteps {
  /**
   * How the picture was read: `as-is` (28×28 on a dark background: its pixels, untouched),
   * `negated` (28×28 on a light background: 1 − its pixels), `converted` (trimmed, resized,
   * centred; negated when its background was light).
   */
  taken: "as-is" | "negated" | "converted";
  /** Where the garment's intensity came from: luminance, or a transparent picture's alpha. */
  source: "alpha" | "luminance";
  /** The background's level (the border's median luminance, 0..1; alpha: 0). */
  background: number;
  /** Whether the garment was darker than its background (and so negated). */
  negated: boolean;
  /** The trimmed box, in the picture's pixels (the whole picture when taken as it is). */
  box: Box;
  /** The box's size after scaling its longer side to 28 px. */
  scaled: { width: number; height: number };
  /** Where the scaled box's top-left corner sits in the 28×28 field. */
  offset: { x: number; y: number };
}

/**
 * Makes `image` a Fashion-MNIST input (see the module's comment). Throws a `UserError` naming
 * `name` when nothing in it stands out from its background (a blank picture).
 */
export function toFashion(image: DecodedImage, name: string): FashionImage {
  const grey = greyMap(image);
  const { width, height } = image;
  if (width === MNIST_SIDE && height === MNIST_SIDE && grey.source === "luminance") {
    return taken(grey.map);
  }
  const { map: work, scale } = shrink(grey.map, WORKING_SIDE);
  const read = grey.source === "alpha"
    ? { ...alphaIntensity(image, { alpha: work, scale }), background: 0, negated: false }
    : levelled(work);
  const box = trim(read.map);
  if (box === undefined) throw nothing(name);
  const size = fitSize(box, MNIST_SIDE);
  const scaled = resizeArea(crop(read.map, box), size);
  const offset = {
    x: Math.floor((MNIST_SIDE - size.width) / 2),
    y: Math.floor((MNIST_SIDE - size.height) / 2),
  };
  const pixels = new Float32Array(MNIST_SIDE * MNIST_SIDE);
  for (let y = 0; y < size.height; y++) {
    pixels.set(
      scaled.data.subarray(y * size.width, (y + 1) * size.width),
      (y + offset.y) * MNIST_SIDE + offset.x,
    );
  }
  const inImage = (v: number) => Math.round(v / scale);
  return {
    pixels,
    ink: toBytes(pixels),
    steps: {
      taken: "converted",
      source: grey.source,
      background: read.background,
      negated: read.negated,
      box: {
        x: inImage(box.x),
        y: inImage(box.y),
        width: Math.max(1, inImage(box.x + box.width) - inImage(box.x)),
        height: Math.max(1, inImage(box.y + box.height) - inImage(box.y)),
      },
      scaled: size,
      offset,
    },
  };
}

/**
 * A 28×28 picture, already Fashion-MNIST's size: taken as it is when its background is dark (a
 * dataset image), negated when it is light.
 */
function taken(map: GreyMap): FashionImage {
  const background = borderMedian(map);
  const negated = background >= 0.5;
  const pixels = negated ? map.data.map((v) => 1 - v) : map.data;
  return {
    pixels,
    ink: toBytes(pixels),
    steps: {
      taken: negated ? "negated" : "as-is",
      source: "luminance",
      background,
      negated,
      box: { x: 0, y: 0, width: MNIST_SIDE, height: MNIST_SIDE },
      scaled: { width: MNIST_SIDE, height: MNIST_SIDE },
      offset: { x: 0, y: 0 },
    },
  };
}

/**
 * The garment's intensity, 0 on the background, from a picture's luminance (`work`): negated
 * when the background is light (the border's median at least one half), as Zalando's white
 * product photos were, and levelled against the background under each pixel (`backgroundFit`:
 * a photo's paper is lit unevenly) so that the background is 0 and black (white, on a dark
 * background) is 1. What is within the background's noise (`noiseFloor`) is 0. On a clean white
 * background this is Zalando's negation, 1 − luminance.
 */
export function levelled(work: GreyMap): { map: GreyMap; background: number; negated: boolean } {
  const background = borderMedian(work);
  const negated = background >= 0.5;
  const fit = backgroundFit(work);
  const floor = noiseFloor(fit.noise, background);
  const data = new Float32Array(work.data.length);
  for (let p = 0; p < data.length; p++) {
    const ground = Math.min(1, Math.max(0, fit.surface[p]!));
    const v = work.data[p]!;
    const span = negated ? ground : 1 - ground;
    const ink = span > 0 ? (negated ? ground - v : v - ground) / span : 0;
    data[p] = ink < floor ? 0 : Math.min(1, ink);
  }
  return { map: { width: work.width, height: work.height, data }, background, negated };
}

/**
 * The least intensity taken as the garment: `FASHION_FUZZ`, or four times the background's
 * noise (`noise`, in luminance, relative to its level) where that is more.
 */
export function noiseFloor(noise: number, background: number): number {
  const level = background >= 0.5 ? background : 1 - background;
  return Math.max(FASHION_FUZZ, level > 0 ? (4 * noise) / level : 0);
}

/**
 * The background under every pixel of `map`: a quadratic surface in x and y fitted by least
 * squares to the border ring (5% of the shorter side wide), refitted twice without the ring's
 * pixels that lie more than three deviations from it (a garment that reaches the border); and
 * the noise: the robust deviation (1.4826 × the median absolute residual) of the ring from it.
 * A flat background is fitted exactly; a sheet of paper lit from one side, or darker in the
 * corners, is followed.
 */
export function backgroundFit(map: GreyMap): { surface: Float32Array; noise: number } {
  const { width, height, data } = map;
  const ring = Math.max(1, Math.round(Math.min(width, height) * 0.05));
  // At most about 4000 ring pixels: a stride along the ring.
  const perimeter = 2 * ring * (width + height);
  const stride = Math.max(1, Math.floor(perimeter / 4000));
  const xs: number[] = [], ys: number[] = [], vs: number[] = [];
  let k = 0;
  for (let y = 0; y < height; y++) {
    const edgeRow = y < ring || y >= height - ring;
    for (let x = 0; x < width; x++) {
      if (!(edgeRow || x < ring || x >= width - ring)) continue;
      if (k++ % stride !== 0) continue;
      xs.push(x), ys.push(y), vs.push(data[y * width + x]!);
    }
  }
  const u = (x: number) => (2 * x + 1) / width - 1;
  const w = (y: number) => (2 * y + 1) / height - 1;
  const terms = (x: number, y: number) => {
    const a = u(x), b = w(y);
    return [1, a, b, a * a, b * b, a * b];
  };
  let keep = vs.map(() => true);
  let coefficients = [median(vs), 0, 0, 0, 0, 0];
  let noise = 0;
  for (let round = 0; round < 3; round++) {
    const rows: number[][] = [], values: number[] = [];
    for (let i = 0; i < vs.length; i++) {
      if (keep[i]) rows.push(terms(xs[i]!, ys[i]!)), values.push(vs[i]!);
    }
    coefficients = leastSquares(rows, values) ?? coefficients;
    const at = (i: number) => dot(coefficients, terms(xs[i]!, ys[i]!));
    const residuals = vs.map((v, i) => Math.abs(v - at(i)));
    noise = 1.4826 * median(residuals.filter((_, i) => keep[i]));
    const limit = Math.max(3 * noise, 1 / 255);
    keep = residuals.map((r) => r <= limit);
  }
  const surface = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) surface[y * width + x] = dot(coefficients, terms(x, y));
  }
  return { surface, noise };
}

function dot(a: number[], b: number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * The least-squares solution of rows · c = values (normal equations, Gaussian elimination with
 * partial pivoting); undefined when they are singular (too few distinct ring pixels).
 */
function leastSquares(rows: number[][], values: number[]): number[] | undefined {
  const n = rows[0]?.length ?? 0;
  if (rows.length < n) return undefined;
  const a = Array.from({ length: n }, () => new Array<number>(n + 1).fill(0));
  rows.forEach((row, r) => {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) a[i]![j]! += row[i]! * row[j]!;
      a[i]![n]! += row[i]! * values[r]!;
    }
  });
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) {
      if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    }
    if (Math.abs(a[pivot]![col]!) < 1e-9) return undefined;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r]![col]! / a[col]![col]!;
      for (let j = col; j <= n; j++) a[r]![j]! -= f * a[col]![j]!;
    }
  }
  return a.map((row, i) => row[n]! / row[i]!);
}

/**
 * A transparent picture's garment (a cut-out product photo, a drawing): composited over white
 * and negated, as Zalando's photos on white were; where that leaves nothing (light strokes, a
 * white garment), its alpha alone. `alpha` is the working map of the alpha channel, `scale`
 * its pixels per image pixel.
 */
function alphaIntensity(
  image: DecodedImage,
  { alpha, scale }: { alpha: GreyMap; scale: number },
): { map: GreyMap } {
  const { width, height, channels, data } = image;
  const over = new Float32Array(width * height);
  for (let p = 0; p < over.length; p++) {
    const i = p * channels;
    const luminance = channels <= 2
      ? data[i]! / 255
      : (0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!) / 255;
    over[p] = (data[i + channels - 1]! / 255) * (1 - luminance);
  }
  const map = scale === 1
    ? { width, height, data: over }
    : resizeArea({ width, height, data: over }, alpha);
  return trim(map) === undefined ? { map: alpha } : { map };
}

/**
 * The box of what stands out from the background (intensity above `FASHION_FUZZ`), leaving out
 * marks smaller than `SPECK_SHARE` of the largest or a square of `SPECK_SIDE` of the shorter
 * side, which are zeroed in `map`; undefined when nothing is left.
 */
export function trim(map: GreyMap): Box | undefined {
  const { labels, marks } = components(map, FASHION_FUZZ);
  const least = (Math.min(map.width, map.height) * SPECK_SIDE) ** 2;
  const largest = Math.max(least, ...marks.map((m) => m.size));
  const kept = new Uint8Array(marks.length + 1);
  let x0 = map.width, y0 = map.height, x1 = -1, y1 = -1;
  for (const mark of marks) {
    if (mark.size < largest * SPECK_SHARE || mark.size < least) continue;
    kept[mark.label] = 1;
    x0 = Math.min(x0, mark.box.x);
    y0 = Math.min(y0, mark.box.y);
    x1 = Math.max(x1, mark.box.x + mark.box.width - 1);
    y1 = Math.max(y1, mark.box.y + mark.box.height - 1);
  }
  for (let p = 0; p < labels.length; p++) {
    if (labels[p]! > 0 && kept[labels[p]!] === 0) map.data[p] = 0;
  }
  if (x1 < 0) return undefined;
  return { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

function toBytes(pixels: Float32Array): Uint8Array {
  return Uint8Array.from(pixels, (v) => Math.round(v * 255));
}

function nothing(name: string): UserError {
  return new UserError(
    `Image "${name}" has nothing to classify: no part of it stands out from its background`,
    {
      hint: "A Fashion-MNIST model reads one garment on a plain background: dark on light " +
        "(a product photo on white) or light on dark (a Fashion-MNIST image).",
    },
  );
}
