/**
 * Makes MNIST digits look like what a user would hand to `mnist predict`: a phone photo of a
 * digit written on paper (JPEG), a drawing exported from a canvas (transparent PNG), a digit
 * scanned black on white (PNG), a big photo with a small digit in it, and the plain 28×28 digit.
 * Every image is made from a known MNIST digit, so tests can check that preprocessing recovers
 * it and that a trained model still reads the label.
 */
import jpeg from "jpeg-js";
import { encodePng } from "../src/image/png.ts";
import { Rng } from "../src/random.ts";

/** The kinds of image `renderDigit` makes. */
export type DigitStyle = "photo" | "drawing" | "ink" | "large" | "mnist";

/** All styles, in the order `digitSet` cycles through them. */
export const DIGIT_STYLES: readonly DigitStyle[] = ["photo", "drawing", "ink", "large", "mnist"];

/** Pixels before encoding. */
export interface RenderedDigit {
  width: number;
  height: number;
  /** 1: grey, 3: RGB, 4: RGBA. */
  channels: 1 | 3 | 4;
  /** (height, width, channels) u8 samples. */
  pixels: Uint8Array;
  /** How the file is encoded: photos as JPEG, the rest as PNG. */
  format: "jpeg" | "png";
}

/** An encoded image file. */
export interface DigitImage {
  bytes: Uint8Array;
  extension: "jpg" | "png";
  width: number;
  height: number;
}

/**
 * Renders an MNIST digit ((28, 28) u8, light ink on black) in `style`, randomised by `seed`:
 *
 * - `photo`: scaled up 8–12× with bilinear smoothing, dark bluish ink on grey paper lit by an
 *   uneven gradient, sensor noise, placed off-centre in an RGB frame 1.3–2× the digit's size.
 * - `drawing`: scaled up 4–10×, black strokes whose coverage is the alpha channel on a
 *   transparent RGBA canvas, off-centre, like a canvas exported with `toDataURL()`.
 * - `ink`: scaled up 3–6×, black on white, grey PNG, off-centre.
 * - `large`: a 1500×2000 RGB photo with the digit 15–25× (about 420–700 px) somewhere in it.
 * - `mnist`: the 28×28 digit itself, grey PNG.
 */
export function renderDigit(digit: Uint8Array, style: DigitStyle, seed: number): RenderedDigit {
  if (digit.length !== 28 * 28) throw new RangeError(`digit must be 28×28, got ${digit.length}`);
  const rng = new Rng(seed);
  switch (style) {
    case "mnist":
      return { width: 28, height: 28, channels: 1, pixels: digit.slice(), format: "png" };
    case "ink": {
      const scale = rng.uniform(3, 6);
      const frame = offCentre(scale, rng, 1.2, 1.6);
      const ink = upscale(digit, scale);
      const pixels = new Uint8Array(frame.width * frame.height).fill(255);
      paste(ink, frame, (p, a) => {
        pixels[p] = Math.round(255 * (1 - a));
      });
      return { width: frame.width, height: frame.height, channels: 1, pixels, format: "png" };
    }
    case "drawing": {
      const scale = rng.uniform(4, 10);
      const frame = offCentre(scale, rng, 1.2, 1.8);
      const ink = upscale(digit, scale);
      const pixels = new Uint8Array(frame.width * frame.height * 4); // transparent black
      paste(ink, frame, (p, a) => {
        pixels[p * 4 + 3] = Math.round(255 * a);
      });
      return { width: frame.width, height: frame.height, channels: 4, pixels, format: "png" };
    }
    case "photo": {
      const scale = rng.uniform(8, 12);
      const frame = offCentre(scale, rng, 1.3, 2);
      return { ...paperPhoto(digit, scale, frame, rng), format: "jpeg" };
    }
    case "large": {
      const scale = rng.uniform(15, 25);
      const size = 28 * scale;
      const frame = {
        width: 1500,
        height: 2000,
        x: Math.round(rng.uniform(0, 1500 - size)),
        y: Math.round(rng.uniform(0, 2000 - size)),
      };
      return { ...paperPhoto(digit, scale, frame, rng), format: "jpeg" };
    }
  }
}

/** Renders and encodes: JPEG at quality 80 for photos, PNG otherwise. */
export async function makeDigitImage(
  digit: Uint8Array,
  style: DigitStyle,
  seed: number,
): Promise<DigitImage> {
  const image = renderDigit(digit, style, seed);
  const { width, height } = image;
  if (image.format === "png") {
    return { bytes: await encodePng(image), extension: "png", width, height };
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    rgba.set(image.pixels.subarray(p * 3, p * 3 + 3), p * 4);
    rgba[p * 4 + 3] = 255;
  }
  const encoded = jpeg.encode({ width, height, data: rgba }, 80);
  return { bytes: new Uint8Array(encoded.data), extension: "jpg", width, height };
}

/** One image of `digitSet`. */
export interface LabelledImage extends DigitImage {
  /** A file name with the label first: `7_photo_03.jpg`. */
  name: string;
  label: number;
  style: DigitStyle;
  /** The MNIST digit it was made from, (28, 28) u8. */
  digit: Uint8Array;
}

/**
 * `count` images made from a split's digits: the first digits of each class in turn (0, 1, ...,
 * 9, 0, ...) so the labels are balanced, styled in turn through `styles`, shifted by one style
 * each round of ten so that no class keeps one style. Deterministic for a given `seed`.
 */
export async function digitSet(
  split: { images: Uint8Array; labels: Uint8Array; count: number },
  options: { count: number; styles?: readonly DigitStyle[]; seed?: number },
): Promise<LabelledImage[]> {
  const styles = options.styles ?? DIGIT_STYLES;
  const seed = options.seed ?? 1;
  const byClass: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < split.count; i++) byClass[split.labels[i]!]!.push(i);
  const out: LabelledImage[] = [];
  for (let k = 0; k < options.count; k++) {
    const label = k % 10;
    const index = byClass[label]![Math.floor(k / 10)];
    if (index === undefined) throw new RangeError(`not enough digits of class ${label}`);
    const digit = split.images.slice(index * 784, (index + 1) * 784);
    // Shifted by one each round of ten, so every class meets every style.
    const style = styles[(k + Math.floor(k / 10)) % styles.length]!;
    const image = await makeDigitImage(digit, style, seed * 1000 + k);
    const name = `${label}_${style}_${String(k).padStart(2, "0")}.${image.extension}`;
    out.push({ ...image, name, label, style, digit });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

/** Where the upscaled 28×28 digit goes: a frame and the digit's top-left corner in it. */
interface Frame {
  width: number;
  height: number;
  x: number;
  y: number;
}

/** A frame `lo`–`hi` times the digit's size on each side, the digit at a random place in it. */
function offCentre(scale: number, rng: Rng, lo: number, hi: number): Frame {
  const size = Math.round(28 * scale);
  const width = Math.round(size * rng.uniform(lo, hi));
  const height = Math.round(size * rng.uniform(lo, hi));
  return {
    width,
    height,
    x: Math.round(rng.uniform(0, width - size)),
    y: Math.round(rng.uniform(0, height - size)),
  };
}

/** The digit scaled by `scale` with bilinear interpolation: (size, size) coverage in [0, 1]. */
function upscale(digit: Uint8Array, scale: number): { size: number; data: Float32Array } {
  const size = Math.round(28 * scale);
  const data = new Float32Array(size * size);
  const at = (x: number, y: number) =>
    digit[Math.min(27, Math.max(0, y)) * 28 + Math.min(27, Math.max(0, x))]! / 255;
  for (let y = 0; y < size; y++) {
    const sy = ((y + 0.5) * 28) / size - 0.5;
    const y0 = Math.floor(sy);
    const fy = sy - y0;
    for (let x = 0; x < size; x++) {
      const sx = ((x + 0.5) * 28) / size - 0.5;
      const x0 = Math.floor(sx);
      const fx = sx - x0;
      data[y * size + x] = (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) +
        (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy;
    }
  }
  return { size, data };
}

/** Calls `put(pixelIndex, coverage)` for every pixel of `ink` placed in `frame`. */
function paste(
  ink: { size: number; data: Float32Array },
  frame: Frame,
  put: (p: number, a: number) => void,
): void {
  for (let y = 0; y < ink.size; y++) {
    for (let x = 0; x < ink.size; x++) {
      const fx = frame.x + x;
      const fy = frame.y + y;
      if (fx < frame.width && fy < frame.height) {
        put(fy * frame.width + fx, ink.data[y * ink.size + x]!);
      }
    }
  }
}

/**
 * Dark ink on paper, photographed: the paper's grey level varies by ±25 across the frame in a
 * random direction and darkens towards the corners (vignetting), the ink is a dark blue-black at
 * 85–100% opacity, and every sample gets Gaussian noise (σ 3–6 levels).
 */
function paperPhoto(
  digit: Uint8Array,
  scale: number,
  frame: Frame,
  rng: Rng,
): { width: number; height: number; channels: 3; pixels: Uint8Array } {
  const { width, height } = frame;
  const paper = rng.uniform(175, 215);
  const tint = [rng.uniform(-8, 8), rng.uniform(-8, 8), rng.uniform(-8, 8)];
  const angle = rng.uniform(0, 2 * Math.PI);
  const slope = rng.uniform(10, 25);
  const ink = [rng.uniform(20, 50), rng.uniform(20, 50), rng.uniform(40, 80)];
  const opacity = rng.uniform(0.85, 1);
  const sigma = rng.uniform(3, 6);
  const coverage = new Float32Array(width * height);
  paste(upscale(digit, scale), frame, (p, a) => {
    coverage[p] = a * opacity;
  });
  const pixels = new Uint8Array(width * height * 3);
  const diagonal = Math.hypot(width, height) / 2;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = (x - width / 2) / diagonal;
      const v = (y - height / 2) / diagonal;
      const light = paper + slope * (u * cos + v * sin) -
        20 * (u * u + v * v);
      const p = y * width + x;
      const a = coverage[p]!;
      for (let c = 0; c < 3; c++) {
        const value = (light + tint[c]!) * (1 - a) + ink[c]! * a + sigma * gaussian(rng);
        pixels[p * 3 + c] = Math.min(255, Math.max(0, Math.round(value)));
      }
    }
  }
  return { width, height, channels: 3, pixels };
}

/**
 * Standard normal samples, 4096 quantiles of N(0, 1) picked at random: one generator call per
 * sample, against Box–Muller's two calls, a logarithm, a square root and a cosine. Rendering
 * a 1500×2000 RGB photo draws 9 million of them.
 */
const NORMAL_QUANTILES = (() => {
  const table = new Float32Array(4096);
  for (let i = 0; i < table.length; i++) table[i] = inverseNormal((i + 0.5) / table.length);
  return table;
})();

function gaussian(rng: Rng): number {
  return NORMAL_QUANTILES[rng.nextU32() >>> 20]!;
}

/** The standard normal quantile function (Acklam's rational approximation, error < 1.2e-9). */
function inverseNormal(p: number): number {
  const a = [
    -39.69683028665376,
    220.9460984245205,
    -275.9285104469687,
    138.357751867269,
    -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406,
    161.5858368580409,
    -155.6989798598866,
    66.80131188771972,
    -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293,
    -0.3223964580411365,
    -2.400758277161838,
    -2.549732539343734,
    4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) =>
    (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
    ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

// ---------------------------------------------------------------------------------------------
// Photos of a sheet of paper on a desk

/** Where the desk's tone lies: dark wood, a grey table, a light desk close to the paper's tone. */
export type DeskTone = "dark" | "mid" | "light";

/** How a shadow falls on the sheet. */
export type ShadowKind = "none" | "edge" | "across" | "most";

/**
 * Everything that varies between two `deskPhoto`s, explicit so that a test set can cover the
 * kinds of photo it means to (see `deskScenes`). Lengths are in pixels of the photo, angles in
 * degrees, reflectances in 0..1 (white paper about 0.85, black ink about 0.1).
 */
export interface DeskScene {
  width: number;
  height: number;
  desk: DeskTone;
  /** The desk's reflectance, and its wood grain's period and direction. */
  deskReflectance: number;
  grainPeriod: number;
  grainAngle: number;
  /** The sheet: its size as fractions of the photo's width and height, centre, rotation. */
  paperWidth: number;
  paperHeight: number;
  paperX: number;
  paperY: number;
  rotation: number;
  paperReflectance: number;
  /** The printed digit's box side as a fraction of the sheet's shorter side; its offset. */
  digitSize: number;
  digitX: number;
  digitY: number;
  /** The digit is printed turned by this much more than the sheet. */
  digitRotation: number;
  inkReflectance: number;
  /** The light: brightness (8-bit level of a white surface), gradient and vignetting. */
  light: number;
  gradient: number;
  gradientAngle: number;
  vignette: number;
  /** A shadow: a half-plane through (shadowX, shadowY), facing shadowAngle, soft over penumbra. */
  shadow: ShadowKind;
  shadowDepth: number;
  shadowAngle: number;
  shadowX: number;
  shadowY: number;
  penumbra: number;
  /** Sensor noise σ (8-bit levels) and the JPEG quality. */
  noise: number;
  quality: number;
}

const DESK_TONES: readonly DeskTone[] = ["dark", "mid", "light"];
const SHADOW_KINDS: readonly ShadowKind[] = ["none", "edge", "across", "most"];

/**
 * A scene of kind `desk` × `shadow`, its other parameters drawn from `rng`: a sheet 60–90% of
 * the photo across, turned by up to 6°, sometimes running off one edge; a digit 35–60% of the
 * sheet's shorter side; light uneven by up to 25% across the photo with vignetting; a shadow
 * 30–65% deep (`edge`: over a side of the sheet; `across`: through the digit; `most`: over most
 * of the sheet, digit included); noise σ 2–7; JPEG quality 70–90.
 */
export function deskScene(desk: DeskTone, shadow: ShadowKind, rng: Rng): DeskScene {
  const width = Math.round(rng.uniform(360, 560));
  const height = Math.round(width * rng.uniform(0.75, 1.35));
  const paperWidth = rng.uniform(0.6, 0.9);
  const paperHeight = rng.uniform(0.6, 0.9);
  // Now and then the sheet runs off one edge of the photo.
  const off = rng.next() < 0.25;
  const paperX = 0.5 + (off ? 0.5 - paperWidth / 2 + 0.05 : 0) * (rng.next() < 0.5 ? -1 : 1) +
    rng.uniform(-0.04, 0.04);
  const paperY = 0.5 + rng.uniform(-0.05, 0.05);
  const deskReflectance = desk === "dark"
    ? rng.uniform(0.1, 0.2)
    : desk === "mid"
    ? rng.uniform(0.3, 0.45)
    : rng.uniform(0.55, 0.7);
  const digitSize = rng.uniform(0.35, 0.6);
  const digitX = rng.uniform(-0.12, 0.12);
  const digitY = rng.uniform(-0.12, 0.12);
  const shadowAngle = rng.uniform(0, 360);
  // Where the shadow's edge passes, relative to the digit's centre, along its normal: + is
  // towards the lit side. `across`: through the digit; `most`: beyond the digit, so that the
  // shadow covers it and most of the sheet; `edge`: over the sheet's far side only.
  const reach = shadow === "across"
    ? rng.uniform(-0.05, 0.05)
    : shadow === "most"
    ? rng.uniform(0.3, 0.45)
    : rng.uniform(-0.45, -0.3);
  const a = (shadowAngle * Math.PI) / 180;
  const cx = paperX + digitX * paperWidth;
  const cy = paperY + digitY * paperHeight;
  return {
    width,
    height,
    desk,
    deskReflectance,
    grainPeriod: rng.uniform(6, 30),
    grainAngle: rng.uniform(-20, 20) + (rng.next() < 0.5 ? 0 : 90),
    paperWidth,
    paperHeight,
    paperX,
    paperY,
    rotation: rng.uniform(-6, 6),
    paperReflectance: rng.uniform(0.78, 0.92),
    digitSize,
    digitX,
    digitY,
    digitRotation: rng.uniform(-3, 3),
    inkReflectance: rng.uniform(0.05, 0.18),
    light: rng.uniform(215, 265),
    gradient: rng.uniform(0, 0.25),
    gradientAngle: rng.uniform(0, 360),
    vignette: rng.uniform(0, 0.3),
    shadow,
    shadowDepth: shadow === "none" ? 0 : rng.uniform(0.3, 0.65),
    shadowAngle,
    shadowX: cx + reach * Math.cos(a),
    shadowY: cy + reach * Math.sin(a),
    penumbra: rng.uniform(0.01, 0.08),
    noise: rng.uniform(2, 7),
    quality: Math.round(rng.uniform(70, 90)),
  };
}

/**
 * `count` scenes covering every desk tone with every kind of shadow, in turn (dark/none,
 * mid/edge, light/across, dark/most, ...), the rest drawn from `seed`.
 */
export function deskScenes(count: number, seed = 1): DeskScene[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, (_, k) =>
    deskScene(
      DESK_TONES[k % DESK_TONES.length]!,
      SHADOW_KINDS[(k + Math.floor(k / 12)) % SHADOW_KINDS.length]!,
      rng,
    ));
}

/**
 * A photo of `digit` ((28, 28) u8, light on black, as MNIST stores it) printed dark on a sheet
 * of paper lying on a desk, as `scene` describes: (height, width, 3) u8 RGB before JPEG.
 * Reflectances are multiplied by the light (gradient, vignetting, shadow), then tinted (warm
 * light, brownish wood, blue-black ink) and noised.
 */
export function deskPhoto(digit: Uint8Array, scene: DeskScene, seed = 1): RenderedDigit {
  if (digit.length !== 28 * 28) throw new RangeError(`digit must be 28×28, got ${digit.length}`);
  const rng = new Rng(seed);
  const { width, height } = scene;
  const rad = (deg: number) => (deg * Math.PI) / 180;
  // The sheet, in photo pixels.
  const pw = scene.paperWidth * width;
  const ph = scene.paperHeight * height;
  const pcx = scene.paperX * width;
  const pcy = scene.paperY * height;
  const cosP = Math.cos(rad(scene.rotation));
  const sinP = Math.sin(rad(scene.rotation));
  // The digit's box on the sheet, in sheet coordinates (origin at the sheet's centre).
  const side = scene.digitSize * Math.min(pw, ph);
  const dcx = scene.digitX * pw;
  const dcy = scene.digitY * ph;
  const cosD = Math.cos(rad(scene.digitRotation));
  const sinD = Math.sin(rad(scene.digitRotation));
  const ink = (u: number, v: number) => {
    // Sheet coordinates → the digit's 28×28 grid, bilinear.
    const du = u - dcx, dv = v - dcy;
    const sx = ((du * cosD + dv * sinD) / side + 0.5) * 28 - 0.5;
    const sy = ((-du * sinD + dv * cosD) / side + 0.5) * 28 - 0.5;
    if (sx < -1 || sy < -1 || sx > 28 || sy > 28) return 0;
    const x0 = Math.floor(sx), y0 = Math.floor(sy);
    const fx = sx - x0, fy = sy - y0;
    const at = (x: number, y: number) =>
      x < 0 || y < 0 || x > 27 || y > 27 ? 0 : digit[y * 28 + x]! / 255;
    return (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) +
      (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy;
  };
  const grainA = rad(scene.grainAngle);
  const gradA = rad(scene.gradientAngle);
  const shadowA = rad(scene.shadowAngle);
  const diagonal = Math.hypot(width, height) / 2;
  const penumbra = Math.max(1, scene.penumbra * diagonal);
  const warm = [rng.uniform(1, 1.08), 1, rng.uniform(0.85, 1)];
  const deskTint = scene.desk === "dark" ? [1.25, 0.95, 0.7] : [1.1, 1, 0.88];
  const inkTint = [0.8, 0.85, 1.3];
  const grainPhase = rng.uniform(0, 2 * Math.PI);
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // Sheet coordinates of the pixel's centre.
      const rx = x + 0.5 - pcx, ry = y + 0.5 - pcy;
      const u = rx * cosP + ry * sinP;
      const v = -rx * sinP + ry * cosP;
      // Coverage of the sheet, antialiased over a pixel at its edges.
      const inside = Math.min(
        Math.max(0, Math.min(1, pw / 2 - Math.abs(u) + 0.5)),
        Math.max(0, Math.min(1, ph / 2 - Math.abs(v) + 0.5)),
      );
      const a = inside > 0 ? ink(u, v) : 0;
      const paper = scene.paperReflectance * (1 - a) + scene.inkReflectance * a;
      const grain = 1 + 0.12 * Math.sin(
            ((x * Math.cos(grainA) + y * Math.sin(grainA)) / scene.grainPeriod) * 2 * Math.PI +
              grainPhase + 0.8 * Math.sin(y / 37 + x / 53),
          );
      const desk = scene.deskReflectance * grain;
      const nu = (x - width / 2) / diagonal, nv = (y - height / 2) / diagonal;
      let light = scene.light *
        (1 + scene.gradient * (nu * Math.cos(gradA) + nv * Math.sin(gradA))) *
        (1 - scene.vignette * (nu * nu + nv * nv));
      if (scene.shadow !== "none") {
        // Signed distance from the shadow's edge, positive on the lit side.
        const d = (x / width - scene.shadowX) * width * Math.cos(shadowA) +
          (y / height - scene.shadowY) * height * Math.sin(shadowA);
        const t = Math.min(1, Math.max(0, 0.5 - d / penumbra));
        light *= 1 - scene.shadowDepth * t * t * (3 - 2 * t);
      }
      const p = y * width + x;
      for (let c = 0; c < 3; c++) {
        const sheet = paper * (a > 0 ? 1 + (inkTint[c]! - 1) * a : 1);
        const r = sheet * inside + desk * deskTint[c]! * (1 - inside);
        const value = r * light * warm[c]! + scene.noise * gaussian(rng);
        pixels[p * 3 + c] = Math.min(255, Math.max(0, Math.round(value)));
      }
    }
  }
  return { width, height, channels: 3, pixels, format: "jpeg" };
}

/** One photo of `photoSet`. */
export interface LabelledPhoto extends DigitImage {
  /** `<label>_<desk>-desk_<shadow>-shadow_<k>.jpg`, e.g. `4_dark-desk_most-shadow_07.jpg`. */
  name: string;
  label: number;
  scene: DeskScene;
  /** The index of the MNIST digit it was made from in its split. */
  index: number;
  /** That digit, (28, 28) u8. */
  digit: Uint8Array;
}

/**
 * `count` photos (`deskPhoto`, JPEG at each scene's quality) of a split's digits: the
 * `first`-th digits of each class onwards, classes in turn (0, 1, ..., 9, 0, ...), scenes from
 * `deskScenes(count, seed)`. Deterministic.
 */
export function photoSet(
  split: { images: Uint8Array; labels: Uint8Array; count: number },
  options: { count: number; seed?: number; first?: number },
): LabelledPhoto[] {
  const { count, seed = 1, first = 0 } = options;
  const byClass: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < split.count; i++) byClass[split.labels[i]!]!.push(i);
  const scenes = deskScenes(count, seed);
  return scenes.map((scene, k) => {
    const label = k % 10;
    const index = byClass[label]![first + Math.floor(k / 10)];
    if (index === undefined) throw new RangeError(`not enough digits of class ${label}`);
    const digit = split.images.slice(index * 784, (index + 1) * 784);
    const image = deskPhoto(digit, scene, seed * 1000 + k);
    const bytes = encodeJpeg(image, scene.quality);
    const name = `${label}_${scene.desk}-desk_${scene.shadow}-shadow_${
      String(k).padStart(2, "0")
    }.jpg`;
    return {
      bytes,
      extension: "jpg",
      width: image.width,
      height: image.height,
      name,
      label,
      scene,
      index,
      digit,
    };
  });
}

/** RGB or grey pixels as a JPEG at `quality` (1–100). */
export function encodeJpeg(image: RenderedDigit, quality: number): Uint8Array {
  const { width, height, channels, pixels } = image;
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) rgba[p * 4 + c] = pixels[p * channels + Math.min(c, channels - 1)]!;
    rgba[p * 4 + 3] = 255;
  }
  return new Uint8Array(jpeg.encode({ width, height, data: rgba }, quality).data);
}

// `deno run --allow-read --allow-write tests/digit_photos.ts DIR [COUNT]` writes the photo set
// (default 40, from MNIST's test split) to DIR, to run `mnist predict` on.
if (import.meta.main) {
  const [dir, count = "40"] = Deno.args;
  if (dir === undefined) {
    console.error("usage: deno run -A tests/digit_photos.ts DIR [COUNT]");
    Deno.exit(2);
  }
  const { loadSplit } = await import("../src/data/dataset.ts");
  const { MNIST } = await import("./test_data.ts");
  const split = await loadSplit(MNIST, { dataset: "mnist", split: "test" });
  await Deno.mkdir(dir, { recursive: true });
  for (const photo of photoSet(split, { count: Number(count) })) {
    await Deno.writeFile(`${dir}/${photo.name}`, photo.bytes);
  }
  console.log(`Wrote ${count} photos to ${dir}`);
}

/** Printed lines on `ruledPhoto`'s paper. */
export type Ruling = "lined" | "margin" | "grid" | "dark grid";

/** Every `Ruling`. */
export const RULINGS: readonly Ruling[] = ["lined", "margin", "grid", "dark grid"];

/**
 * An MNIST digit written on ruled or squared paper, photographed: 800×600, the digit 45–60% of
 * the height, crisp dark ink ((30, 30, 50), coverage sharpened as a pen's) near the middle, on
 * paper (240, 240, 236) printed with
 *
 * - `lined`: blue rules (140, 170, 220) 2 px wide, 40 px apart;
 * - `margin`: the same, and a red margin line (210, 60, 60) 3 px wide at x = 160;
 * - `grid`: a light grid (150, 180, 210) 1 px wide, 25 px apart;
 * - `dark grid`: a grid (110, 120, 150) 2 px wide, 30 px apart;
 *
 * lit unevenly (±15% across the frame) with Gaussian noise (σ 4 levels), as tester u4 drew
 * them. Encode with `encodeJpeg`.
 */
export function ruledPhoto(digit: Uint8Array, ruling: Ruling, seed = 1): RenderedDigit {
  const rng = new Rng(seed);
  const width = 800, height = 600;
  const spec = {
    lined: { step: 40, line: 2, colour: [140, 170, 220], grid: false },
    margin: { step: 40, line: 2, colour: [140, 170, 220], grid: false },
    grid: { step: 25, line: 1, colour: [150, 180, 210], grid: true },
    "dark grid": { step: 30, line: 2, colour: [110, 120, 150], grid: true },
  }[ruling];
  const onRule = (v: number) => v >= spec.step && v % spec.step < spec.line;
  const scale = (height * rng.uniform(0.45, 0.6)) / 28;
  const size = Math.round(28 * scale);
  const frame = {
    width,
    height,
    x: Math.round((width - size) / 2 + rng.uniform(-40, 40)),
    y: Math.round((height - size) / 2 + rng.uniform(-30, 30)),
  };
  const coverage = new Float32Array(width * height);
  paste(upscale(digit, scale), frame, (p, a) => {
    coverage[p] = Math.min(1, Math.max(0, (a - 0.25) / 0.5));
  });
  const angle = rng.uniform(0, 2 * Math.PI);
  const ink = [30, 30, 50];
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const ruled = onRule(y) || (spec.grid && onRule(x));
      const margin = ruling === "margin" && x >= 159 && x < 162;
      const paper = margin ? [210, 60, 60] : ruled ? spec.colour : [240, 240, 236];
      const light = 1 +
        0.15 * (Math.cos(angle) * (x / width - 0.5) + Math.sin(angle) * (y / height - 0.5));
      const a = coverage[p]!;
      for (let c = 0; c < 3; c++) {
        const value = (paper[c]! * (1 - a) + ink[c]! * a) * light + 4 * gaussian(rng);
        pixels[p * 3 + c] = Math.min(255, Math.max(0, Math.round(value)));
      }
    }
  }
  return { width, height, channels: 3, pixels, format: "jpeg" };
}

/**
 * Pearson's correlation of two images of the same size (any layout, compared value by value);
 * 0 when either is flat, where the coefficient is undefined.
 */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) ma += a[i]!, mb += b[i]!;
  ma /= n, mb /= n;
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** What `framedPhoto` draws round the digit. */
export type DrawnFrame = "box" | "circle" | "loop";

/** Every `DrawnFrame`. */
export const DRAWN_FRAMES: readonly DrawnFrame[] = ["box", "circle", "loop"];

/**
 * An MNIST digit written on plain paper with a frame drawn round it, not touching it,
 * photographed as tester u4 did: 800×600, the digit's 28 px field 45–60% of the height, near
 * the middle, crisp dark ink (`inkPhoto`), and
 *
 * - `box`: a rectangle 4 px wide, 5% of the field outside it;
 * - `circle`: a circle 4 px wide, 10% of the field outside it;
 * - `loop`: drawn by hand: an ellipse 6 px wide, wider than tall, its radius wobbling by 3%,
 *   and open over 1% of its turn (a gap of 10–14 px), as a circle drawn in one go is.
 */
export function framedPhoto(digit: Uint8Array, frame: DrawnFrame, seed = 1): RenderedDigit {
  const rng = new Rng(seed);
  const width = 800, height = 600;
  const scale = (height * rng.uniform(0.45, 0.6)) / 28;
  const size = Math.round(28 * scale);
  const at = {
    width,
    height,
    x: Math.round((width - size) / 2 + rng.uniform(-60, 60)),
    y: Math.round((height - size) / 2 + rng.uniform(-40, 40)),
  };
  const coverage = penCoverage(digit, scale, at);
  // The distance from each pixel to the frame's line, in pixels, and the line's width.
  const cx = at.x + size / 2, cy = at.y + size / 2;
  const phase = rng.uniform(0, 2 * Math.PI), gapAt = rng.uniform(0, 2 * Math.PI);
  const line = frame === "loop" ? 6 : 4;
  const distance = (x: number, y: number): number => {
    const dx = x + 0.5 - cx, dy = y + 0.5 - cy;
    if (frame === "box") {
      const half = size / 2 + 0.05 * size;
      return Math.abs(Math.max(Math.abs(dx), Math.abs(dy)) - half);
    }
    const angle = Math.atan2(dy, dx);
    if (frame === "circle") return Math.abs(Math.hypot(dx, dy) - (size / 2 + 0.1 * size));
    const turn = Math.abs(((angle - gapAt + 3 * Math.PI) % (2 * Math.PI)) - Math.PI);
    if (turn < 0.01 * Math.PI) return Infinity;
    const wobble = 1 + 0.03 * Math.sin(3 * angle + phase);
    const rx = 0.68 * size * wobble, ry = 0.6 * size * wobble;
    // Near the ellipse, its implicit function's distance in units of the radius.
    return Math.abs(Math.hypot(dx / rx, dy / ry) - 1) *
      Math.hypot(rx * Math.cos(angle), ry * Math.sin(angle));
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const a = Math.min(1, Math.max(0, line / 2 + 0.5 - distance(x, y)));
      const p = y * width + x;
      coverage[p] = Math.max(coverage[p]!, a);
    }
  }
  return inkPhoto(coverage, { width, height }, rng);
}

/**
 * Two MNIST digits written side by side ("14"), photographed as tester u4 did: 1000×600, each
 * digit's 28 px field 300 px, the left one at (180 ± 20, 150 ± 20), the right one 255 px
 * further right (0.85 of the field), crisp dark ink (`inkPhoto`).
 */
export function pairPhoto(left: Uint8Array, right: Uint8Array, seed = 1): RenderedDigit {
  const rng = new Rng(seed);
  const width = 1000, height = 600, size = 300, scale = size / 28;
  const x = Math.round(180 + rng.uniform(-20, 20)), y = Math.round(150 + rng.uniform(-20, 20));
  const coverage = penCoverage(left, scale, { width, height, x, y });
  const second = penCoverage(right, scale, { width, height, x: x + 255, y });
  for (let p = 0; p < coverage.length; p++) coverage[p] = Math.max(coverage[p]!, second[p]!);
  return inkPhoto(coverage, { width, height }, rng);
}

/** The digit's coverage scaled and sharpened as a pen's stroke, placed in `frame`. */
function penCoverage(digit: Uint8Array, scale: number, frame: Frame): Float32Array {
  const coverage = new Float32Array(frame.width * frame.height);
  paste(upscale(digit, scale), frame, (p, a) => {
    coverage[p] = Math.min(1, Math.max(0, (a - 0.25) / 0.5));
  });
  return coverage;
}

/**
 * Ink (35, 35, 45) of `coverage` on paper (228, 226, 218), lit unevenly (±15% across the frame)
 * with Gaussian noise (σ 4 levels): tester u4's photos. Encode with `encodeJpeg`.
 */
function inkPhoto(
  coverage: Float32Array,
  { width, height }: { width: number; height: number },
  rng: Rng,
): RenderedDigit {
  const angle = rng.uniform(0, 2 * Math.PI);
  const ink = [35, 35, 45], paper = [228, 226, 218];
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const light = 1 +
        0.15 * (Math.cos(angle) * (x / width - 0.5) + Math.sin(angle) * (y / height - 0.5));
      const a = coverage[p]!;
      for (let c = 0; c < 3; c++) {
        const value = (paper[c]! * (1 - a) + ink[c]! * a) * light + 4 * gaussian(rng);
        pixels[p * 3 + c] = Math.min(255, Math.max(0, Math.round(value)));
      }
    }
  }
  return { width, height, channels: 3, pixels, format: "jpeg" };
}
