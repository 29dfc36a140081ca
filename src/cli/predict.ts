/** `mnist predict`: classify image files (photos, drawings, scans) with a trained model. */
import { basename, extname, join } from "node:path";
import { choiceOption, intOption, parseCommandArgs } from "./args.ts";
import { type Command, COMMON_HELP, modelLine } from "./command.ts";
import { renderImages } from "./show.ts";
import { printable, UserError } from "../errors.ts";
import { checkNotInput, checkWritable, writeFileAtomic } from "../fs.ts";
import { acquireGpu, DEVICE_CHOICES } from "../gpu/device.ts";
import { ensureDataset } from "../data/download.ts";
import { loadSplit, type Split, SPLIT_NAMES, type SplitName } from "../data/dataset.ts";
import { type DatasetName, DATASETS } from "../data/mirrors.ts";
import { resolveDataDir } from "../data/paths.ts";
import { readImageFile } from "../image/decode.ts";
import { encodePng } from "../image/png.ts";
import { type ModelInput, toModelInput } from "../image/input.ts";
import {
  checkClasses,
  checkDigitInput,
  type Checkpoint,
  loadCheckpoint,
} from "../nn/checkpoint.ts";
import { ARCH_HELP, archOption, originJson } from "../nn/import.ts";
import { Classifier } from "../nn/classifier.ts";
import { modelPath } from "../nn/model_store.ts";
import { mark } from "../trace.ts";

const HELP = `Usage: mnist predict [--model FILE|NAME] [options] IMAGE...|-
       mnist predict [--model FILE|NAME] [options] --test-index N [--split train|test]

Classifies each image (PNG or JPEG: a photo of a digit on paper, a drawing, a scan) as the
MXNet tutorial does: "Classified as 7 with probability 0.999781". Each image is first made to
look like the model's dataset. For an MNIST model, like an MNIST digit: ink taken from the
alpha channel of a transparent drawing or, in a photo, as what differs from its local
background (paper, shadow, desk), dark ink inverted; what is not the digit (the desk, the
sheet's edges, specks) dropped; cropped to the ink, scaled to 20 px and centred by its centre
of mass in 28×28. A dot or a speck (under a tenth of the image) is refused, as a blank image
is. "-" reads one image from standard input. Files over 64 MiB, and paths that are not
regular files, are refused.

For a Fashion-MNIST model, as Zalando made that dataset from product photos: a garment on a
plain background, trimmed to what stands out from it, scaled so its longer side is 28 px and
centred in 28×28, a light background negated to black (dark on white paper comes out light on
black), its shades kept. A 28×28 image on a dark background (a Fashion-MNIST image written by
"mnist show --dataset fashion --png") is taken as it is; one on a light background is negated.

--test-index N classifies image N of the test split (or --split train) of the model's dataset,
MNIST's digits or Fashion-MNIST's images, as the tutorial does, on its raw pixels / 255 with no
preprocessing: model.predict(val_img[0:1]).

Options:
  --model FILE|NAME      checkpoint, or mlp or lenet for the one "mnist train --model NAME"
                         saved, or a name "mnist models" lists (default: its default model)
  --top K                also list the K most likely classes with their probabilities
  --json                 print the results as JSON
  --show                 draw the 28×28 input the network saw, in the terminal
  --save-input DIR       write that input as DIR/<image name>.mnist.png (two images of the
                         same name become <name>.mnist.png and <name>-2.mnist.png)
  --test-index N         classify image N (from 0) of the model's dataset instead of files,
                         downloading it if needed; --json adds its label
  --split train|test     with --test-index, which split (default test)
  --mirror URL           with --test-index, where to download missing data from (repeatable)
${ARCH_HELP}

${COMMON_HELP}

Examples:
  mnist predict seven.jpg
  mnist predict --top 3 digits/*.png
  mnist predict --show --save-input /tmp/seen photo.jpg
  mnist predict --test-index 0
  convert scan.tif png:- | mnist predict -`;

/** One image's outcome. */
interface Outcome {
  image: string;
  /** The 28×28 input: `toModelInput`'s, or a dataset image's raw pixels. */
  digit?: ModelInput;
  /** For `--test-index`: the split, the index and the image's label. */
  from?: { split: SplitName; index: number; label: number };
  probabilities?: Float32Array;
  error?: string;
}

/**
 * Image `index` of a split as the tutorial feeds it to the network, `val_img[index:index+1]`:
 * the raw pixels / 255, with no preprocessing. A `UserError` when the split has no such image.
 */
export function datasetImage(
  split: Split,
  options: { index: number; name: SplitName },
): { pixels: Float32Array; ink: Uint8Array; label: number } {
  const { index, name } = options;
  if (index >= split.count) {
    throw new UserError(
      `--test-index ${index} is past the end: the ${name} split has ${split.count} images`,
      { hint: `Pass --test-index 0..${split.count - 1}.` },
    );
  }
  const size = split.rows * split.cols;
  const ink = split.images.slice(index * size, (index + 1) * size);
  return { pixels: Float32Array.from(ink, (v) => v / 255), ink, label: split.labels[index]! };
}

/**
 * Where `--save-input DIR` writes each image's 28×28 input: `DIR/<base name>.mnist.png`, with
 * `-2`, `-3`... added to a base name already taken, so `a/x.png` and `b/x.png` both survive;
 * standard input is `stdin`.
 */
export function saveInputPaths(dir: string, images: string[]): string[] {
  const taken = new Set<string>();
  return images.map((image) => {
    const base = image === "-" ? "stdin" : basename(image, extname(image));
    let name = base;
    for (let k = 2; taken.has(name); k++) name = `${base}-${k}`;
    taken.add(name);
    return join(dir, `${name}.mnist.png`);
  });
}

function ranked(probabilities: Float32Array): { class: number; probability: number }[] {
  return [...probabilities].map((p, k) => ({ class: k, probability: p }))
    .sort((a, b) => b.probability - a.probability || a.class - b.class);
}

/** `mnist predict`'s command line, parsed (`parsePredictArgs`). */
type PredictValues = ReturnType<typeof parsePredictArgs>["values"];

/** Parses `mnist predict`'s command line: its options, the common ones and the images. */
function parsePredictArgs(args: string[]) {
  return parseCommandArgs("predict", args, {
    options: {
      model: { type: "string" },
      arch: { type: "string" },
      top: { type: "string" },
      json: { type: "boolean" },
      show: { type: "boolean" },
      "save-input": { type: "string" },
      "test-index": { type: "string" },
      split: { type: "string" },
      mirror: { type: "string", multiple: true },
    },
    positionals: true,
  });
}

/** `mnist predict`'s options, parsed and checked before any model or image is read. */
interface PredictOptions {
  /** The parsed command line, for the options each step reads as given. */
  v: PredictValues;
  /** The image files (`-`: standard input), or with `--test-index` one name, `<split>-<N>`. */
  images: string[];
  testIndex: number | undefined;
  splitName: SplitName;
  device: (typeof DEVICE_CHOICES)[number];
  /** `--top K`: 0 without it. */
  top: number;
  dataDir: string;
}

/**
 * Step 1: parses and checks the options and the images named; an unwritable `--save-input`
 * directory is refused here, not after every image has been classified.
 */
async function parseOptions(args: string[]): Promise<PredictOptions> {
  const { values: v, positionals } = parsePredictArgs(args);
  const testIndex = v["test-index"] === undefined
    ? undefined
    : intOption("test-index", v["test-index"], { fallback: 0, min: 0 });
  if (testIndex !== undefined && positionals.length > 0) {
    throw new UserError("mnist predict: give image files or --test-index N, not both");
  }
  if (testIndex === undefined && (v.split !== undefined || v.mirror !== undefined)) {
    throw new UserError("mnist predict: --split and --mirror go with --test-index N");
  }
  const splitName = choiceOption("split", v.split, { choices: SPLIT_NAMES, fallback: "test" });
  const images: string[] = testIndex === undefined
    ? [...positionals]
    : [`${splitName}-${testIndex}`];
  if (images.length === 0) {
    throw new UserError("mnist predict: no image given", {
      hint: 'Name one or more PNG or JPEG files, e.g. "mnist predict seven.jpg".',
    });
  }
  if (images.filter((image) => image === "-").length > 1) {
    throw new UserError('mnist predict: "-" (standard input) can be given only once');
  }
  const device = choiceOption("device", v.device, { choices: DEVICE_CHOICES, fallback: "auto" });
  const top = v.top === undefined ? 0 : intOption("top", v.top, { fallback: 0, min: 1, max: 10 });
  const dataDir = resolveDataDir(v["data-dir"]);
  // Found unwritable now, not after every image has been classified.
  if (v["save-input"] !== undefined) {
    await checkWritable(v["save-input"], { directory: true, option: "--save-input" });
  }
  return { v, images, testIndex, splitName, device, top, dataDir };
}

/** The checkpoint `mnist predict` classifies with, and the files this run reads. */
interface PredictModel {
  /** The checkpoint's file. */
  path: string;
  checkpoint: Checkpoint;
  /** The dataset whose classes its outputs are. */
  dataset: DatasetName;
  /** The files this run reads (images and model), which no `--save-input` file may be. */
  inputs: { path: string; what: string }[];
}

/**
 * Refuses `--save-input` files that cannot be written, or that are one of the run's `inputs`
 * (DIR/x.mnist.png given as an image).
 */
async function checkSaved(
  files: string[],
  inputs: { path: string; what: string }[],
): Promise<void> {
  for (const file of files) {
    // One already there, maybe a link, is judged by the file it would replace.
    if (await Deno.lstat(file).then(() => true, () => false)) {
      await checkWritable(file, { what: "input image", format: "PNG", option: "--save-input" });
    }
    await checkNotInput(file, inputs, {
      what: "input image",
      option: "--save-input",
      directory: true,
    });
  }
}

/**
 * Step 2: finds the checkpoint, checks the `--save-input` files against it and the images,
 * loads it, checks that its outputs are its dataset's classes, and names it on stderr.
 */
async function loadModel(options: PredictOptions): Promise<PredictModel> {
  const { v, images, testIndex, dataDir } = options;
  const path = await modelPath(v.model, dataDir);
  // No --save-input file may be one this run reads (DIR/x.mnist.png given as an image).
  const inputs = [
    ...(testIndex === undefined ? images.map((image) => ({ path: image, what: "image" })) : []),
    { path, what: "model" },
  ];
  if (v["save-input"] !== undefined) {
    await checkSaved(saveInputPaths(v["save-input"], images), inputs);
  }
  const checkpoint = await loadCheckpoint(path, { arch: archOption(v.arch) });
  checkDigitInput(checkpoint, path);
  const dataset = checkpoint.meta.dataset in DATASETS
    ? checkpoint.meta.dataset as DatasetName
    : "mnist";
  // Each output is read as one of the dataset's classes, by name.
  checkClasses(checkpoint, path, { dataset });
  // On stderr, so that stdout stays the tutorial's "Classified as ..." lines scripts read.
  if (!v.json) console.error(modelLine(path, checkpoint));
  return { path, checkpoint, dataset, inputs };
}

/**
 * Step 3: the 28×28 inputs, made on the CPU: the `--test-index` image (its split downloaded if
 * needed), or each image file decoded and preprocessed (`toModelInput`). A bad image among
 * several is reported and kept as an outcome with its error; a single one throws.
 */
async function prepareImages(
  options: PredictOptions,
  { dataset }: PredictModel,
): Promise<Outcome[]> {
  const { v, images, testIndex, splitName, dataDir } = options;
  const outcomes: Outcome[] = [];
  if (testIndex !== undefined) {
    await ensureDataset(dataDir, dataset, { mirrors: v.mirror, split: splitName });
    const split = await loadSplit(dataDir, { dataset, split: splitName });
    const { label, ...digit } = datasetImage(split, { index: testIndex, name: splitName });
    outcomes.push({
      image: images[0]!,
      digit,
      from: { split: splitName, index: testIndex, label },
    });
  }
  for (const image of testIndex === undefined ? images : []) {
    try {
      const decoded = await readImageFile(image);
      outcomes.push({ image, digit: toModelInput(decoded, { name: image, dataset }) });
    } catch (error) {
      if (!(error instanceof UserError) || images.length === 1) throw error;
      outcomes.push({ image, error: error.message });
      if (!v.json) console.error(`error: ${printable(error.message)}`);
    }
  }
  return outcomes;
}

/**
 * Step 4: classifies the `good` outcomes (those with an input) on the GPU, setting each one's
 * `probabilities`; the GPU is not acquired when there are none.
 */
async function classify(
  good: Outcome[],
  { device, checkpoint }: { device: PredictOptions["device"]; checkpoint: Checkpoint },
): Promise<void> {
  if (good.length === 0) return;
  const gpu = await acquireGpu(device);
  mark("predict: device");
  const classifier = new Classifier(gpu, checkpoint, { batch: Math.min(64, good.length) });
  mark("predict: network built");
  try {
    const probabilities = await classifier.classify(good.map((o) => o.digit!.pixels));
    mark("predict: classified");
    good.forEach((o, i) => (o.probabilities = probabilities[i]));
  } finally {
    classifier.destroy();
    gpu.device.destroy();
  }
}

/** Step 5, with `--save-input DIR`: writes each classified image's 28×28 input as a PNG. */
async function saveInputs(
  dir: string,
  { good, inputs }: { good: Outcome[]; inputs: PredictModel["inputs"] },
): Promise<void> {
  const files = saveInputPaths(dir, good.map((o) => o.image));
  // Once more, now that only the images read get a file: their names may have moved up.
  await checkSaved(files, inputs);
  for (const [i, o] of good.entries()) {
    const png = await encodePng({ width: 28, height: 28, channels: 1, pixels: o.digit!.ink });
    await writeFileAtomic(files[i]!, png, { what: "input image" });
  }
}

/**
 * Step 6: prints the outcomes: as `--json` (every image, errors included), or as the tutorial's
 * "Classified as 7 with probability 0.999781" lines, with `--top` and `--show`.
 */
function report(
  options: PredictOptions,
  { model: { path, checkpoint, dataset }, outcomes, good }: {
    model: PredictModel;
    outcomes: Outcome[];
    good: Outcome[];
  },
): void {
  const { v, images, top } = options;
  const names = DATASETS[dataset].classes;
  const label = (k: number) => (names[k] === String(k) ? String(k) : `${k} (${names[k]})`);
  if (v.json) {
    console.log(JSON.stringify(
      outcomes.map((o) => {
        if (!o.probabilities) return { image: o.image, error: o.error };
        const order = ranked(o.probabilities);
        return {
          image: o.image,
          model: path,
          architecture: originJson(checkpoint),
          // `digit`, as POST /api/predict answers; `class`, as earlier versions wrote it.
          digit: order[0]!.class,
          class: order[0]!.class,
          name: names[order[0]!.class],
          probability: order[0]!.probability,
          probabilities: [...o.probabilities],
          ...(top > 0 ? { top: order.slice(0, top) } : {}),
          ...(o.from ?? {}),
        };
      }),
      null,
      2,
    ));
  } else {
    const prefix = images.length > 1;
    for (const o of good) {
      const order = ranked(o.probabilities!);
      const best = order[0]!;
      console.log(
        `${prefix ? `${printable(o.image)}: ` : ""}` +
          `Classified as ${label(best.class)} with probability ` +
          best.probability.toFixed(6),
      );
      if (top > 0) {
        for (const r of order.slice(0, top)) {
          console.log(`  ${label(r.class).padEnd(3)} ${r.probability.toFixed(6)}`);
        }
      }
      if (v.show) {
        console.log(
          renderImages(
            {
              images: o.digit!.ink,
              labels: Uint8Array.of(best.class),
              count: 1,
              rows: 28,
              cols: 28,
            },
            { width: 28 },
          ),
        );
      }
    }
  }
}

/** Step 7: a `UserError` saying how many images could not be classified, if any. */
function checkAllClassified(outcomes: Outcome[], good: Outcome[]): void {
  const failed = outcomes.length - good.length;
  if (failed > 0) {
    throw new UserError(
      `${failed} of ${outcomes.length} image${
        outcomes.length === 1 ? "" : "s"
      } could not be classified`,
    );
  }
}

/**
 * `mnist predict`: classifies PNG or JPEG images (or stdin's, `-`) with a checkpoint after making
 * each look like its dataset's images (`toModelInput`: a digit or a garment), or image
 * `--test-index N` of a split on its raw pixels / 255; prints "Classified as 7 with probability
 * 0.999781" per image, or `--json`. A bad image among several is reported and skipped; bad
 * options, a missing model or a single bad image are `UserError`s.
 */
export const predictCommand: Command = {
  name: "predict",
  summary: "classify images (PNG, JPEG) with a trained model",
  help: HELP,
  async run(args) {
    const options = await parseOptions(args);
    const model = await loadModel(options);
    // Decode and preprocess on the CPU first; a bad image is reported and skipped.
    const outcomes = await prepareImages(options, model);
    const good = outcomes.filter((o) => o.digit);
    mark("predict: model read, images prepared");
    await classify(good, { device: options.device, checkpoint: model.checkpoint });
    const dir = options.v["save-input"];
    if (dir !== undefined) await saveInputs(dir, { good, inputs: model.inputs });
    report(options, { model, outcomes, good });
    checkAllClassified(outcomes, good);
  },
};
