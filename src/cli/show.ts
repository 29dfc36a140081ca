/**
 * `mnist show`: the tutorial's first look at the data. Draws the first images of a split in the
 * terminal (or into a PNG grid) and prints their labels as `label: [5 0 4 1 9 ...]`.
 */
import { UserError } from "../errors.ts";
import { choiceOption, intOption, parseCommandArgs } from "./args.ts";
import { type Command, commonHelp, modelLine } from "./command.ts";
import { ensureDataset } from "../data/download.ts";
import { loadSplit, type Split, SPLIT_NAMES, subset } from "../data/dataset.ts";
import { DATASET_NAMES, DATASETS } from "../data/mirrors.ts";
import { resolveDataDir } from "../data/paths.ts";
import { checkNotInput, checkWritable, writeFileAtomic } from "../fs.ts";
import { colorEnabled } from "../terminal.ts";
import { MAX_PIXELS } from "../image/decode.ts";
import { encodePng } from "../image/png.ts";
import type { Checkpoint } from "../nn/checkpoint.ts";
import { loadCheckpoint } from "../nn/checkpoint.ts";
import { ARCH_HELP, archOption } from "../nn/import.ts";
import { modelPath } from "../nn/model_store.ts";
import { inferShapes } from "../nn/model.ts";

const MAX_COUNT = 1000;

/** The largest `--scale` of a PNG grid: each pixel drawn as 16×16. */
export const MAX_SCALE = 16;

const HELP =
  `Usage: mnist show [--count N] [--first I] [--split train|test] [--dataset mnist|fashion]
                  [--png FILE [--scale N]]
       mnist show --filters MODEL [--png FILE [--scale N]]

Downloads the dataset if needed, draws N images of a split (the first ones, or from --first I)
side by side in the terminal, and prints their labels as the MXNet tutorial does:
label: [5 0 4 1 9 ...].
Intensity is drawn with the shades " ░▒▓█" (one character per 1 x 2 pixels); on a terminal that
allows colour (NO_COLOR unset) the images are drawn in grey levels at full resolution instead.

With --filters, draws what a trained model's first layer looks for, as ConvNetJS shows it: the
first convolution's filters (LeNet's 20, 5x5) or the first dense layer's weights as 28x28 images
(the MLP's 128), one per unit, laid out in a grid. Each filter is scaled to its own range, its
smallest weight black and its largest white (so shades compare within a filter, not between
filters); the bias is not drawn. An MLP's weights on pixels blank in every image it trained on
(MNIST's margins) keep their random start (but for --wd's decay): the noise around the strokes
in the middle of each 28x28 tile.

Options:
  --count N              how many images, 1..${MAX_COUNT} (default 10); fewer, with a note on
                         stderr, when the split ends before
  --first I              start at image I of the split, counting from 0 (default 0)
  --split train|test     which split (default train)
  --dataset mnist|fashion
                         the digits (default) or Fashion-MNIST
  --png FILE             write the images as one grid PNG instead of drawing them; one
                         image is written as it is, 28x28, for "mnist predict FILE"
  --scale N              with --png, draw each pixel as N×N (nearest neighbour), 1..${MAX_SCALE}
                         (default 1; with --filters 8 for 5x5 filters, 2 for 28x28 ones); the
                         image may have at most ${MAX_PIXELS / 1e6} megapixels
  --mirror URL           where to download missing data from (repeatable)
  --filters MODEL        draw MODEL's first-layer filters instead of images: a checkpoint file,
                         or a name "mnist models" lists (mlp, lenet, mlp.prev)
${ARCH_HELP}

${commonHelp(["data-dir"])}

Examples:
  mnist show
  mnist show --split test --count 20
  mnist show --dataset fashion --png fashion.png
  mnist show --count 20 --png big.png --scale 4
  mnist show --split test --first 42 --count 1 --png digit.png
  mnist show --filters lenet --png lenet-filters.png`;

/**
 * `mnist show`: draws `--count` images of a split from `--first` in the terminal or as a PNG grid
 * (`--png`), and prints their labels; `--filters MODEL` draws a model's first-layer weights
 * instead. Missing data, a range past the split or a flag that does not apply is a `UserError`.
 */
export const showCommand: Command = {
  name: "show",
  summary: "draw the first images of a split and print their labels",
  help: HELP,
  async run(args) {
    const { values } = parseCommandArgs("show", args, {
      common: ["data-dir"],
      options: {
        count: { type: "string" },
        first: { type: "string" },
        split: { type: "string" },
        dataset: { type: "string" },
        png: { type: "string" },
        scale: { type: "string" },
        mirror: { type: "string", multiple: true },
        filters: { type: "string" },
        arch: { type: "string" },
      },
    });
    if (values.filters !== undefined) return await showFilters(values.filters, values);
    if (values.arch !== undefined) {
      throw new UserError("--arch needs --filters MODEL: it names the network of a model file");
    }
    const count = intOption("count", values.count, { fallback: 10, min: 1, max: MAX_COUNT });
    const scale = scaleOption(values.scale, values.png);
    const first = intOption("first", values.first, { fallback: 0, min: 0 });
    const split = choiceOption("split", values.split, { choices: SPLIT_NAMES, fallback: "train" });
    const dataset = choiceOption("dataset", values.dataset, {
      choices: DATASET_NAMES,
      fallback: "mnist",
    });
    const dataDir = resolveDataDir(values["data-dir"]);

    if (values.png !== undefined) {
      await checkWritable(values.png, { what: "image", format: "PNG", option: "--png" });
    }
    // Download progress goes to stderr, so stdout holds only the picture and the labels.
    await ensureDataset(dataDir, dataset, { mirrors: values.mirror, split });
    const all = await loadSplit(dataDir, { dataset, split });
    if (first >= all.count) {
      throw new UserError(
        `--first ${first} is past the end: the ${split} split has ${all.count} images`,
        {
          hint: `Pass --first 0..${all.count - 1}.`,
        },
      );
    }
    const data = subset(all, count, { first });
    if (data.count < count) {
      // Past the end, --count takes what is left, as --limit does in train and eval: say so.
      console.error(
        `note: the ${split} split has ${all.count.toLocaleString("en-US")} images, so ` +
          `--first ${first} --count ${count} draws only ${data.count}`,
      );
    }
    const what = (dataset === "mnist" ? "digit" : "image") + (data.count === 1 ? "" : "s");

    if (values.png !== undefined) {
      checkGridSize(data, { scale });
      const grid = gridImage(data, { scale });
      await writeFileAtomic(values.png, await encodePng(grid), { what: "image" });
      console.log(`Wrote ${values.png} (${data.count} ${what}, ${grid.width}x${grid.height} px)`);
    } else {
      const tty = Deno.stdout.isTerminal();
      const width = tty ? Deno.consoleSize().columns : NON_TTY_WIDTH;
      console.log(renderImages(data, { width, color: tty && colorEnabled() }));
    }
    console.log(`label: [${Array.from(data.labels).join(" ")}]`);
    if (dataset !== "mnist") {
      const classes = DATASETS[dataset].classes;
      console.log(`names: [${Array.from(data.labels, (y) => classes[y]).join(", ")}]`);
    }
  },
};

/** The width drawn to when stdout is not a terminal: fixed, so that piped output is stable. */
export const NON_TTY_WIDTH = 80;

/** Shades from background to full ink; the character alone carries the intensity. */
const SHADES = [" ", "░", "▒", "▓", "█"];
/** Columns between two images on a line. */
const GAP = 2;

/** Options of `renderImages`. */
export interface RenderOptions {
  /** Terminal columns to fit; images wrap onto further lines of images. */
  width: number;
  /** Draw with ANSI 256-colour greys and half blocks (2 pixels per character) instead. */
  color?: boolean;
}

/**
 * Draws every image of `split` as text: `cols` characters × `rows / 2` lines each (one
 * character per vertical pixel pair), side by side with a gap, as many per line as `width`
 * allows, image lines separated by a blank line. Without colour, trailing spaces are trimmed.
 */
export function renderImages(split: Split, { width, color = false }: RenderOptions): string {
  const { rows, cols, count } = split;
  const perLine = Math.max(1, Math.floor((width + GAP) / (cols + GAP)));
  const textRows = Math.ceil(rows / 2);
  const blocks: string[] = [];
  for (let first = 0; first < count; first += perLine) {
    const last = Math.min(first + perLine, count);
    const lines: string[] = [];
    for (let r = 0; r < textRows; r++) {
      const parts: string[] = [];
      for (let s = first; s < last; s++) {
        const image = split.images.subarray(s * rows * cols, (s + 1) * rows * cols);
        parts.push(renderRow(image, { rows, cols, r, color }));
      }
      const line = parts.join(" ".repeat(GAP));
      lines.push(color ? line : line.trimEnd());
    }
    blocks.push(lines.join("\n"));
  }
  return blocks.join("\n\n");
}

/** Text row `r` of one image: pixel rows 2r (top) and 2r + 1 (bottom, blank past the end). */
function renderRow(
  image: Uint8Array,
  { rows, cols, r, color }: { rows: number; cols: number; r: number; color: boolean },
): string {
  let out = "";
  let previous = "";
  for (let c = 0; c < cols; c++) {
    const top = image[2 * r * cols + c]!;
    const bottom = 2 * r + 1 < rows ? image[(2 * r + 1) * cols + c]! : 0;
    if (color) {
      // Upper half block: the foreground paints the top pixel, the background the bottom one.
      const sgr = `\x1b[38;5;${grey256(top)};48;5;${grey256(bottom)}m`;
      out += (sgr === previous ? "" : sgr) + "▀";
      previous = sgr;
    } else {
      const mean = (top + bottom) / 2;
      out += SHADES[Math.min(SHADES.length - 1, Math.floor((mean * SHADES.length) / 256))];
    }
  }
  return color ? out + "\x1b[0m" : out;
}

/** The xterm 256-colour index nearest to grey level `v`: black, the 24-step ramp, white. */
function grey256(v: number): number {
  if (v < 4) return 16;
  if (v > 246) return 231;
  return 232 + Math.min(23, Math.round((v - 8) / 10));
}

/** Pixels between and around the images of a PNG grid, and their grey level. */
const GRID_PAD = 2;
const GRID_PAD_VALUE = 96;

/** Images per row of a PNG grid. */
export const GRID_COLUMNS = 10;

/**
 * `--scale N` (1..`MAX_SCALE`, default 1), which only a PNG has: without `--png FILE` it is a
 * `UserError`.
 */
export function scaleOption(value: string | undefined, png: string | undefined): number {
  const scale = intOption("scale", value, { fallback: 1, min: 1, max: MAX_SCALE });
  if (value !== undefined && png === undefined) {
    throw new UserError("--scale needs --png FILE: it sets the size of the PNG's pixels");
  }
  return scale;
}

/** Options of `gridImage`. */
export interface GridOptions {
  /** Each pixel becomes `scale` × `scale` pixels (nearest neighbour); default 1. */
  scale?: number;
  /**
   * A caption under each image, such as "7→2", drawn in `GLYPHS` (characters it lacks are
   * left blank); one per image. With captions, even a single image is laid out in the grid.
   */
  captions?: readonly string[];
}

/**
 * A grid's size in pixels, as `gridImage` lays it out: `across` images in a row and `down`
 * rows, each cell `rows` pixels high plus the caption strip, all times `scale`.
 */
export function gridSize(
  { rows, cols, count }: Pick<Split, "rows" | "cols" | "count">,
  { scale = 1, captions = false }: { scale?: number; captions?: boolean } = {},
): { width: number; height: number } {
  if (count === 1 && !captions) return { width: cols * scale, height: rows * scale };
  const across = Math.min(count, GRID_COLUMNS);
  const down = Math.ceil(count / across);
  const cell = rows + (captions ? captionHeight(cols) : 0);
  return {
    width: (across * (cols + GRID_PAD) + GRID_PAD) * scale,
    height: (down * (cell + GRID_PAD) + GRID_PAD) * scale,
  };
}

/**
 * Refuses a grid over `MAX_PIXELS` (16 megapixels, the largest image `decodeImage` reads by
 * default and `mnist serve` takes) before it is drawn, with the largest `--scale` that fits in the hint: 1000 digits at
 * `--scale 16` would be 4832×48032 pixels.
 */
export function checkGridSize(
  split: Pick<Split, "rows" | "cols" | "count">,
  { scale = 1, captions = false }: { scale?: number; captions?: boolean } = {},
): void {
  const { width, height } = gridSize(split, { scale, captions });
  if (width * height <= MAX_PIXELS) return;
  let fits = scale;
  while (fits > 1) {
    const size = gridSize(split, { scale: --fits, captions });
    if (size.width * size.height <= MAX_PIXELS) break;
  }
  const what = `${split.count} image${split.count === 1 ? "" : "s"}`;
  throw new UserError(
    `--scale ${scale} would make a ${width}×${height} PNG of ${what} ` +
      `(${(width * height / 1e6).toFixed(1)} megapixels), over the ` +
      `${MAX_PIXELS / 1e6}-megapixel limit`,
    { hint: `Use --scale ${fits} or less for ${what}, or fewer images.` },
  );
}

/**
 * Lays the images of `split` out in a grey grid, up to 10 per row, with a 2-pixel border
 * around and between them, and each image's caption (`options.captions`) in a black strip
 * under it; then draws every pixel as `options.scale` × `options.scale`. A single image without
 * a caption is alone, without the border, so that it reads back as the digit it is (`mnist
 * predict` would take a border for ink). Size: `gridSize`; the caller checks it against the
 * limit (`checkGridSize`).
 */
export function gridImage(
  split: Split,
  { scale = 1, captions }: GridOptions = {},
): { width: number; height: number; channels: 1; pixels: Uint8Array } {
  const { rows, cols, count } = split;
  if (count < 1) throw new RangeError("gridImage: no images to lay out");
  if (captions !== undefined && captions.length !== count) {
    throw new RangeError(`gridImage: ${captions.length} captions for ${count} images`);
  }
  if (count === 1 && captions === undefined) {
    const one = { width: cols, height: rows, pixels: split.images.slice(0, rows * cols) };
    return { ...upscale(one, scale), channels: 1 };
  }
  const { width, height } = gridSize(split, { captions: captions !== undefined });
  const across = Math.min(count, GRID_COLUMNS);
  const strip = captions === undefined ? 0 : captionHeight(cols);
  const pixels = new Uint8Array(width * height).fill(GRID_PAD_VALUE);
  for (let s = 0; s < count; s++) {
    const x0 = GRID_PAD + (s % across) * (cols + GRID_PAD);
    const y0 = GRID_PAD + Math.floor(s / across) * (rows + strip + GRID_PAD);
    for (let y = 0; y < rows; y++) {
      const src = (s * rows + y) * cols;
      pixels.set(split.images.subarray(src, src + cols), (y0 + y) * width + x0);
    }
    if (captions !== undefined) {
      for (let y = 0; y < strip; y++) {
        pixels.fill(0, (y0 + rows + y) * width + x0, (y0 + rows + y) * width + x0 + cols);
      }
      drawCaption(captions[s]!, { pixels, width, x0, y0: y0 + rows, cols });
    }
  }
  return { ...upscale({ width, height, pixels }, scale), channels: 1 };
}

/** Nearest-neighbour upscaling: each pixel becomes `scale` × `scale`. */
function upscale(
  image: { width: number; height: number; pixels: Uint8Array },
  scale: number,
): { width: number; height: number; pixels: Uint8Array } {
  if (scale === 1) return image;
  const width = image.width * scale;
  const height = image.height * scale;
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < image.height; y++) {
    const row = pixels.subarray(y * scale * width, (y * scale + 1) * width);
    for (let x = 0; x < image.width; x++) {
      row.fill(image.pixels[y * image.width + x]!, x * scale, (x + 1) * scale);
    }
    for (let k = 1; k < scale; k++) {
      pixels.copyWithin((y * scale + k) * width, y * scale * width, (y * scale + 1) * width);
    }
  }
  return { width, height, pixels };
}

/**
 * A tiny bitmap font for captions such as "7→2": each character's rows, top to bottom, "#" for
 * ink. Digits are 3×5 pixels, the arrow 5×5; one blank column goes between characters.
 */
export const GLYPHS: Readonly<Record<string, readonly string[]>> = {
  "0": ["###", "#.#", "#.#", "#.#", "###"],
  "1": [".#.", "##.", ".#.", ".#.", "###"],
  "2": ["###", "..#", "###", "#..", "###"],
  "3": ["###", "..#", "###", "..#", "###"],
  "4": ["#.#", "#.#", "###", "..#", "..#"],
  "5": ["###", "#..", "###", "..#", "###"],
  "6": ["###", "#..", "###", "#.#", "###"],
  "7": ["###", "..#", "..#", "..#", "..#"],
  "8": ["###", "#.#", "###", "#.#", "###"],
  "9": ["###", "#.#", "###", "..#", "###"],
  "→": ["..#..", "...#.", "#####", "...#.", "..#.."],
};

/** Rows of a glyph. */
const GLYPH_ROWS = 5;
/** The ink of a caption, on the strip's black. */
const CAPTION_INK = 255;

/** Width of `text` in font pixels, before the font's scale: glyphs and the columns between. */
function textWidth(text: string): number {
  const chars = [...text];
  return chars.reduce((n, c) => n + (GLYPHS[c]?.[0]?.length ?? 3), 0) + chars.length - 1;
}

/**
 * How large a caption's font pixels are under a `cols`-wide image: 2 when "7→2" (13 font pixels)
 * fits twice over, as under a 28-pixel digit, else 1.
 */
export function captionScale(cols: number): number {
  return cols >= 2 * textWidth("0→0") ? 2 : 1;
}

/** The caption strip's height: the glyphs and one font pixel of black above and below. */
function captionHeight(cols: number): number {
  return (GLYPH_ROWS + 2) * captionScale(cols);
}

/** Draws `text`, centred, in the caption strip whose top left is (x0, y0), `cols` wide. */
function drawCaption(
  text: string,
  { pixels, width, x0, y0, cols }: {
    pixels: Uint8Array;
    width: number;
    x0: number;
    y0: number;
    cols: number;
  },
): void {
  const k = captionScale(cols);
  let x = x0 + Math.max(0, Math.floor((cols - textWidth(text) * k) / 2));
  for (const c of text) {
    const glyph = GLYPHS[c] ?? ["...", "...", "...", "...", "..."];
    glyph.forEach((line, gy) => {
      for (let gx = 0; gx < line.length; gx++) {
        if (line[gx] !== "#") continue;
        for (let dy = 0; dy < k; dy++) {
          for (let dx = 0; dx < k; dx++) {
            const px = x + gx * k + dx;
            // Clipped to the strip, so a narrow image's caption cannot spill into its neighbour.
            if (px < x0 + cols) pixels[(y0 + (gy + 1) * k + dy) * width + px] = CAPTION_INK;
          }
        }
      }
    });
    x += (glyph[0]!.length + 1) * k;
  }
}

/** A model's first-layer filters, as `firstLayerFilters` reads them. */
export interface Filters {
  /** The layer's name, e.g. "conv1" or "fc1". */
  layer: string;
  /** "conv2d": a convolution's kernels; "dense": a dense layer's weight rows, as images. */
  kind: "conv2d" | "dense";
  /** Filters: the convolution's output channels (O), or the dense layer's units. */
  count: number;
  /** Each filter's height: the kernel size K, or the input image's H (28 for MNIST). */
  rows: number;
  /** Each filter's width: K, or the input image's W. */
  cols: number;
  /** (count, rows, cols) weights, row-major, as the checkpoint holds them. */
  weights: Float32Array;
}

/**
 * The filters of `checkpoint`'s first layer with weights: a convolution's (O, 1, K, K) kernels
 * as O images K×K, or a dense layer's (O, H·W) weight rows as O images H×W when its input is a
 * 1×H×W image. A layer of another shape (a convolution over several channels, a dense layer
 * after another layer) is a `UserError`: its filters are not images.
 */
export function firstLayerFilters(checkpoint: Pick<Checkpoint, "meta" | "params">): Filters {
  const { model } = checkpoint.meta;
  const info = inferShapes(model).find((i) => i.params.length > 0);
  const spec = info?.spec;
  if (info === undefined || (spec?.kind !== "conv2d" && spec?.kind !== "dense")) {
    throw new UserError(`The model "${model.name}" has no layer with weights to draw`);
  }
  const weightName = info.params[0]!.name;
  const weights = checkpoint.params.get(weightName);
  if (weights === undefined) throw new UserError(`The checkpoint has no "${weightName}" tensor`);
  const [C, H, W] = info.input as [number, number, number];
  if (info.input.length !== 3 || C !== 1) {
    throw new UserError(
      `Cannot draw the filters of ${spec.name}: its input is ${info.input.join("×")}, ` +
        `not one image channel`,
    );
  }
  const [rows, cols] = spec.kind === "conv2d" ? [spec.kernel, spec.kernel] : [H, W];
  const count = spec.kind === "conv2d" ? spec.filters : spec.units;
  return { layer: spec.name, kind: spec.kind, count, rows, cols, weights };
}

/**
 * Each filter of `filters` as grey pixels scaled to its own range: its smallest weight 0
 * (black), its largest 255 (white), linearly between; a filter whose weights are all equal is
 * mid-grey (128). Shape: (count, rows, cols), like a `Split`'s images.
 */
export function normaliseFilters(filters: Filters): Uint8Array {
  const size = filters.rows * filters.cols;
  const out = new Uint8Array(filters.count * size);
  for (let f = 0; f < filters.count; f++) {
    const w = filters.weights.subarray(f * size, (f + 1) * size);
    let lo = Infinity, hi = -Infinity;
    for (const x of w) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
    const range = hi - lo;
    for (let i = 0; i < size; i++) {
      out[f * size + i] = range > 0 && Number.isFinite(range)
        ? Math.round((255 * (w[i]! - lo)) / range)
        : 128;
    }
  }
  return out;
}

/** The default `--scale` of a filter grid: 5×5 filters 8 times, 28×28 ones twice (~40 px). */
export function defaultFilterScale(size: number): number {
  return Math.max(1, Math.ceil(40 / size));
}

/** Pixels between and around the filters of a grid, whatever the scale. */
const FILTER_GAP = 4;
/** The colour between filters: a slate blue, which no grey filter pixel can be mistaken for. */
const FILTER_GAP_RGB = [64, 80, 112] as const;

/** Filters per row of a grid: 10 (LeNet's 20 in two rows), 16 for many (the MLP's 128). */
export function filterColumns(count: number): number {
  return Math.min(count, count > 40 ? 16 : 10);
}

/** The size of `filterGrid`'s image of `count` filters of `rows` × `cols` at `scale`. */
export function filterGridSize(
  { count, rows, cols }: { count: number; rows: number; cols: number },
  scale: number,
): { width: number; height: number } {
  const across = filterColumns(count);
  const down = Math.ceil(count / across);
  return {
    width: across * (cols * scale + FILTER_GAP) + FILTER_GAP,
    height: down * (rows * scale + FILTER_GAP) + FILTER_GAP,
  };
}

/**
 * Lays `count` grey images of `rows` × `cols` (`pixels`: (count, rows, cols)) out as an RGB
 * grid, `filterColumns(count)` across, each pixel drawn `scale` × `scale`, with `FILTER_GAP`
 * pixels of slate blue around and between them (see `filterGridSize`).
 */
export function filterGrid(
  { count, rows, cols, pixels }: { count: number; rows: number; cols: number; pixels: Uint8Array },
  scale: number,
): { width: number; height: number; channels: 3; pixels: Uint8Array } {
  const { width, height } = filterGridSize({ count, rows, cols }, scale);
  const across = filterColumns(count);
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) out.set(FILTER_GAP_RGB, i * 3);
  for (let f = 0; f < count; f++) {
    const x0 = FILTER_GAP + (f % across) * (cols * scale + FILTER_GAP);
    const y0 = FILTER_GAP + Math.floor(f / across) * (rows * scale + FILTER_GAP);
    for (let y = 0; y < rows * scale; y++) {
      for (let x = 0; x < cols * scale; x++) {
        const v = pixels[(f * rows + Math.floor(y / scale)) * cols + Math.floor(x / scale)]!;
        out.fill(v, ((y0 + y) * width + x0 + x) * 3, ((y0 + y) * width + x0 + x + 1) * 3);
      }
    }
  }
  return { width, height, channels: 3, pixels: out };
}

/** `mnist show --filters MODEL`: the first layer's filters as a PNG grid or in the terminal. */
async function showFilters(
  model: string,
  values: Record<string, string | boolean | string[] | undefined>,
): Promise<void> {
  for (const option of ["count", "first", "split", "dataset", "mirror"]) {
    if (values[option] !== undefined) {
      throw new UserError(
        `--${option} is for a dataset's images; --filters draws a model's filters`,
      );
    }
  }
  const png = values.png as string | undefined;
  scaleOption(values.scale as string | undefined, png); // --scale needs --png; 1..MAX_SCALE
  if (png !== undefined) {
    await checkWritable(png, { what: "image", format: "PNG", option: "--png" });
  }
  const dataDir = resolveDataDir(values["data-dir"] as string | undefined);
  const path = await modelPath(model, dataDir, { option: "--filters" });
  if (png !== undefined) {
    await checkNotInput(png, [{ path, what: "model" }], { what: "image", option: "--png" });
  }
  const checkpoint = await loadCheckpoint(path, {
    arch: archOption(values.arch as string),
    option: "--filters",
  });
  const filters = firstLayerFilters(checkpoint);
  const { count, rows, cols, layer } = filters;
  const pixels = normaliseFilters(filters);
  const what = `${count} ${layer} filter${count === 1 ? "" : "s"} of ${checkpoint.meta.model.name}`;
  if (png === undefined) {
    console.error(modelLine(path, checkpoint));
    // In the terminal, small filters drawn twice as large so that 5×5 reads as a shape.
    const k = Math.max(1, Math.ceil(10 / Math.max(rows, cols)));
    const big: Split = {
      images: upscaleEach(pixels, { count, rows, cols, k }),
      labels: new Uint8Array(count),
      count,
      rows: rows * k,
      cols: cols * k,
    };
    const tty = Deno.stdout.isTerminal();
    const width = tty ? Deno.consoleSize().columns : NON_TTY_WIDTH;
    console.log(renderImages(big, { width, color: tty && colorEnabled() }));
    console.log(`${what}, ${rows}x${cols}, each from its smallest weight (dark) to its largest`);
    return;
  }
  const scale = values.scale === undefined
    ? defaultFilterScale(Math.max(rows, cols))
    : Number(values.scale);
  const area = (k: number) => filterGridSize(filters, k).width * filterGridSize(filters, k).height;
  const size = filterGridSize(filters, scale);
  if (area(scale) > MAX_PIXELS) {
    let fits = scale;
    while (fits > 1 && area(fits) > MAX_PIXELS) fits--;
    throw new UserError(
      `--scale ${scale} would make a ${size.width}×${size.height} PNG of ${what} ` +
        `(${(area(scale) / 1e6).toFixed(1)} megapixels), over the ` +
        `${MAX_PIXELS / 1e6}-megapixel limit`,
      { hint: `Use --scale ${fits} or less.` },
    );
  }
  console.error(modelLine(path, checkpoint));
  const grid = filterGrid({ count, rows, cols, pixels }, scale);
  await writeFileAtomic(png, await encodePng(grid), { what: "image" });
  console.log(
    `Wrote ${png} (${what}, ${rows}x${cols} each at scale ${scale}, ` +
      `${grid.width}x${grid.height} px)`,
  );
}

/** Each of `count` images `rows` × `cols` made `k` times larger (nearest neighbour). */
function upscaleEach(
  pixels: Uint8Array,
  { count, rows, cols, k }: { count: number; rows: number; cols: number; k: number },
): Uint8Array {
  const out = new Uint8Array(count * rows * k * cols * k);
  for (let f = 0; f < count; f++) {
    for (let y = 0; y < rows * k; y++) {
      for (let x = 0; x < cols * k; x++) {
        out[(f * rows * k + y) * cols * k + x] =
          pixels[(f * rows + Math.floor(y / k)) * cols + Math.floor(x / k)]!;
      }
    }
  }
  return out;
}
