/**
 * `mnist show`: the tutorial's first look at the data. Draws the first digits of a split in the
 * terminal (or into a PNG grid) and prints their labels as `label: [5 0 4 1 9 ...]`.
 */
import { UserError } from "../errors.ts";
import { choiceOption, intOption, parseCommandArgs } from "./args.ts";
import { type Command, COMMON_HELP } from "./command.ts";
import { ensureDataset } from "../data/download.ts";
import { loadSplit, type Split, SPLIT_NAMES, subset } from "../data/dataset.ts";
import { DATASET_NAMES, DATASETS } from "../data/mirrors.ts";
import { resolveDataDir } from "../data/paths.ts";
import { checkWritable, writeFileAtomic } from "../fs.ts";
import { encodePng } from "../image/png.ts";

const MAX_COUNT = 1000;

const HELP =
  `Usage: mnist show [--count N] [--first I] [--split train|test] [--dataset mnist|fashion]
                  [--png FILE]

Downloads the dataset if needed, draws N images of a split (the first ones, or from --first I)
side by side in the terminal, and prints their labels as the MXNet tutorial does:
label: [5 0 4 1 9 ...].
Intensity is drawn with the shades " ░▒▓█" (one character per 1 x 2 pixels); on a terminal that
allows colour (NO_COLOR unset) the images are drawn in grey levels at full resolution instead.

Options:
  --count N              how many images, 1..${MAX_COUNT} (default 10)
  --first I              start at image I of the split, counting from 0 (default 0)
  --split train|test     which split (default train)
  --dataset mnist|fashion
                         the digits (default) or Fashion-MNIST
  --png FILE             write the images as one grid PNG instead of drawing them; one
                         image is written as it is, 28x28, for "mnist predict FILE"
  --mirror URL           where to download missing data from (repeatable)

${COMMON_HELP}

Examples:
  mnist show
  mnist show --split test --count 20
  mnist show --dataset fashion --png fashion.png
  mnist show --split test --first 42 --count 1 --png digit.png`;

export const show: Command = {
  name: "show",
  summary: "draw the first images of a split and print their labels",
  help: HELP,
  async run(args) {
    const { values } = parseCommandArgs("show", args, {
      count: { type: "string" },
      first: { type: "string" },
      split: { type: "string" },
      dataset: { type: "string" },
      png: { type: "string" },
      mirror: { type: "string", multiple: true },
    });
    const count = intOption("count", values.count, 10, { min: 1, max: MAX_COUNT });
    const first = intOption("first", values.first, 0, { min: 0 });
    const split = choiceOption("split", values.split, SPLIT_NAMES, "train");
    const dataset = choiceOption("dataset", values.dataset, DATASET_NAMES, "mnist");
    const dataDir = resolveDataDir(values["data-dir"]);

    if (values.png !== undefined) await checkWritable(values.png, { what: "image" });
    // Download progress goes to stderr, so stdout holds only the picture and the labels.
    await ensureDataset(dataDir, dataset, { mirrors: values.mirror });
    const all = await loadSplit(dataDir, dataset, split);
    if (first >= all.count) {
      throw new UserError(
        `--first ${first} is past the end: the ${split} split has ${all.count} images`,
        {
          hint: `Pass --first 0..${all.count - 1}.`,
        },
      );
    }
    const data = subset(all, count, first);
    const what = (dataset === "mnist" ? "digit" : "image") + (data.count === 1 ? "" : "s");

    if (values.png !== undefined) {
      const grid = gridImage(data);
      await writeFileAtomic(values.png, await encodePng(grid), { what: "image" });
      console.log(`Wrote ${values.png} (${data.count} ${what}, ${grid.width}x${grid.height} px)`);
    } else {
      const tty = Deno.stdout.isTerminal();
      const width = tty ? Deno.consoleSize().columns : NON_TTY_WIDTH;
      console.log(renderImages(data, { width, color: tty && !Deno.noColor }));
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
const GRID_COLUMNS = 10;

/**
 * Lays the images of `split` out in a grey grid, up to 10 per row, with a 2-pixel border
 * around and between them; a single image alone, without the border, so that it reads back as
 * the digit it is (`mnist predict` would take a border for ink).
 */
export function gridImage(
  split: Split,
): { width: number; height: number; channels: 1; pixels: Uint8Array } {
  const { rows, cols, count } = split;
  if (count < 1) throw new RangeError("gridImage: no images to lay out");
  if (count === 1) {
    return { width: cols, height: rows, channels: 1, pixels: split.images.slice(0, rows * cols) };
  }
  const across = Math.min(count, GRID_COLUMNS);
  const down = Math.ceil(count / across);
  const width = across * (cols + GRID_PAD) + GRID_PAD;
  const height = down * (rows + GRID_PAD) + GRID_PAD;
  const pixels = new Uint8Array(width * height).fill(GRID_PAD_VALUE);
  for (let s = 0; s < count; s++) {
    const x0 = GRID_PAD + (s % across) * (cols + GRID_PAD);
    const y0 = GRID_PAD + Math.floor(s / across) * (rows + GRID_PAD);
    for (let y = 0; y < rows; y++) {
      const src = (s * rows + y) * cols;
      pixels.set(split.images.subarray(src, src + cols), (y0 + y) * width + x0);
    }
  }
  return { width, height, channels: 1, pixels };
}
