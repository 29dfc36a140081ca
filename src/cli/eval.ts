/** `mnist eval`: score a trained model on its dataset's 10,000 test images. */
import { choiceOption, intOption, parseCommandArgs } from "./args.ts";
import { type Command, COMMON_HELP, modelLine } from "./command.ts";
import { acquireGpu, DEVICE_CHOICES, type Gpu } from "../gpu/device.ts";
import { KernelCache } from "../gpu/kernel.ts";
import { ensureDataset } from "../data/download.ts";
import { loadSplit, releaseImages, type Split, subset } from "../data/dataset.ts";
import { DATASET_NAMES, type DatasetName, DATASETS } from "../data/mirrors.ts";
import { resolveDataDir } from "../data/paths.ts";
import {
  checkClasses,
  checkDigitInput,
  type Checkpoint,
  loadCheckpoint,
} from "../nn/checkpoint.ts";
import { ARCH_HELP, archOption, originJson } from "../nn/import.ts";
import { modelPath } from "../nn/model_store.ts";
import { checkBatchFits, checkParamsFit, largestBatch, Network } from "../nn/network.ts";
import { ParamStore } from "../nn/params.ts";
import { inferenceVariants } from "../nn/variants.ts";
import { Evaluator } from "../train/evaluate.ts";
import { crossEntropy } from "../train/metrics.ts";
import { UserError } from "../errors.ts";
import { checkNotInput, checkWritable, writeFileAtomic } from "../fs.ts";
import { encodePng } from "../image/png.ts";
import {
  checkGridSize,
  GRID_COLUMNS,
  gridImage,
  MAX_SCALE,
  renderImages,
  scaleOption,
} from "./show.ts";
import { WorkProgress } from "../progress.ts";
import { mark } from "../trace.ts";

const HELP = `Usage: mnist eval [--model FILE|NAME] [--json] [--errors N [--png FILE [--scale N]]]
                  [options]

Scores a trained model on the test set of the dataset it was trained on (MNIST's 10,000 digits,
Fashion-MNIST's 10,000 images): the accuracy, the cross-entropy (MXNet's, the mean of
-ln(p + 1e-12), as "train --metric ce" logs it), a confusion matrix and each class's accuracy.
The accuracy is the last training epoch's Validation-accuracy when both scored the same samples:
the run validated on the test split, and --limit is the same here (train --limit N validates on
the first N test samples); a --validation holdout:N run logged it on held-out training samples.

Options:
  --model FILE|NAME      checkpoint, or mlp or lenet for the one "mnist train --model NAME"
                         saved, or a name "mnist models" lists (default: its default model)
  --json                 print the results as JSON
  --batch-size N         samples per forward pass (default 100)
  --limit N              score only the first N test samples
  --errors N             show the N most confident mistakes (listed, and drawn in the terminal)
  --png FILE             with --errors, write those images as one PNG instead of drawing them,
                         10 to a row in the order listed, each captioned label→predicted
  --scale N              with --png, draw each pixel as N×N, 1..${MAX_SCALE} (default 1)
  --dataset NAME         mnist or fashion (default: the one the model was trained on)
  --mirror URL           where to download missing data from (repeatable)
${ARCH_HELP}

${COMMON_HELP}

Examples:
  mnist eval
  mnist eval --model ~/.local/share/mnist/models/mlp.safetensors --json
  mnist eval --errors 10
  mnist eval --errors 50 --png mistakes.png
  mnist eval --errors 20 --png mistakes.png --scale 3`;

/** One class's row of a `Score`: its test samples and how many of them were predicted right. */
export interface ClassScore {
  /** Test samples whose label is this class. */
  total: number;
  /** Of those, the ones predicted as this class. */
  correct: number;
  /** `correct / total`, in [0, 1]; 0 for a class with no samples. */
  accuracy: number;
}

/** How a model did on a test set, as `mnist eval` prints it and `--json` writes it. */
export interface Score {
  /** `correct / total`, in [0, 1]; 0 for an empty set. */
  accuracy: number;
  /** Samples predicted as their label. */
  correct: number;
  /** Samples scored. */
  total: number;
  /** (classes, classes): `confusion[label][predicted]` counts samples. */
  confusion: number[][];
  /** (classes): one row per class, by label. */
  perClass: ClassScore[];
  /**
   * MXNet's cross-entropy: the mean over the samples of -ln(p(label) + 1e-12), p the softmax
   * probability (nats; 0 to 27.631 a sample), as `train --metric ce` logs it. Absent where
   * only labels and predictions were given.
   */
  crossEntropy?: number;
}

/**
 * Accuracy, confusion matrix and per-class accuracy from `labels` and `predictions`, both
 * (count) class indices in `0..classes-1`.
 */
export function score(
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  { classes }: { classes: number },
): Score {
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i]!;
    const p = predictions[i]!;
    confusion[t]![p]!++;
    if (t === p) correct++;
  }
  const perClass = confusion.map((row, k) => {
    const total = row.reduce((a, b) => a + b, 0);
    return { total, correct: row[k]!, accuracy: total ? row[k]! / total : 0 };
  });
  return {
    accuracy: labels.length ? correct / labels.length : 0,
    correct,
    total: labels.length,
    confusion,
    perClass,
  };
}

/** A misclassified test sample. */
export interface Mistake {
  /** Its index in the test split (from 0). */
  index: number;
  /** Its true class. */
  label: number;
  /** The class the model gave the highest probability. */
  predicted: number;
  /** That class's softmax probability, in [0, 1]. */
  probability: number;
}

/**
 * The `n` mistakes the model was surest of: samples whose most likely class is not their label,
 * by that class's probability, highest first (ties by index). labels: (count);
 * probabilities: (count, classes), softmax outputs.
 */
function worstMistakes(
  labels: ArrayLike<number>,
  probabilities: Float32Array,
  { classes, n }: { classes: number; n: number },
): Mistake[] {
  const mistakes: Mistake[] = [];
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let k = 1; k < classes; k++) {
      if (probabilities[i * classes + k]! > probabilities[i * classes + best]!) best = k;
    }
    if (best !== labels[i]) {
      mistakes.push({
        index: i,
        label: labels[i]!,
        predicted: best,
        probability: probabilities[i * classes + best]!,
      });
    }
  }
  return mistakes.sort((a, b) => b.probability - a.probability || a.index - b.index).slice(0, n);
}

/**
 * Renders the confusion matrix and per-class accuracy as the text `mnist eval` prints; a class
 * with no samples shows "–" for its rate (its JSON `accuracy` stays 0).
 */
export function formatScore(result: Score, names: string[]): string {
  const lines = [
    `Validation accuracy: ${
      (result.accuracy * 100).toFixed(2)
    }% (${result.correct}/${result.total})`,
    ...(result.crossEntropy === undefined
      ? []
      : [`Validation cross-entropy: ${result.crossEntropy.toFixed(6)}`]),
    "",
    "Confusion matrix (rows: true class, columns: predicted):",
    "      " + names.map((_, k) => String(k).padStart(6)).join(""),
  ];
  result.confusion.forEach((row, k) => {
    lines.push(String(k).padStart(4) + "  " + row.map((n) => String(n).padStart(6)).join(""));
  });
  lines.push("", "Per-class accuracy:");
  result.perClass.forEach((c, k) => {
    const label = names[k] === String(k) ? String(k) : `${k} ${names[k]}`;
    // A class with no test samples has no rate: "–", not a misleading 0.00%.
    const rate = c.total ? `${(c.accuracy * 100).toFixed(2).padStart(6)}%` : "–".padStart(7);
    lines.push(
      `  ${label.padEnd(names[k] === String(k) ? 2 : 14)} ${rate}  (${c.correct}/${c.total})`,
    );
  });
  return lines.join("\n");
}

/** `mnist eval`'s options, parsed and checked before any model or data is read. */
interface EvalOptions {
  /** The parsed command line, for the options each step reads as given. */
  v: EvalValues;
  device: (typeof DEVICE_CHOICES)[number];
  batchSize: number;
  limit: number | undefined;
  /** `--errors N`: 0 without it. */
  errors: number;
  /** `--scale N`: 1 without it. */
  scale: number;
}

/** `mnist eval`'s command line, parsed (`parseEvalArgs`). */
type EvalValues = ReturnType<typeof parseEvalArgs>["values"];

/** Parses `mnist eval`'s command line: its options, and the common ones. */
function parseEvalArgs(args: string[]) {
  return parseCommandArgs("eval", args, {
    options: {
      model: { type: "string" },
      arch: { type: "string" },
      json: { type: "boolean" },
      "batch-size": { type: "string" },
      limit: { type: "string" },
      dataset: { type: "string" },
      mirror: { type: "string", multiple: true },
      errors: { type: "string" },
      png: { type: "string" },
      scale: { type: "string" },
    },
  });
}

/**
 * Step 1: parses and checks the options; a `--png` grid too large, or a file that cannot be
 * written, is refused here, before any work.
 */
async function parseOptions(args: string[]): Promise<EvalOptions> {
  const { values: v } = parseEvalArgs(args);
  const device = choiceOption("device", v.device, { choices: DEVICE_CHOICES, fallback: "auto" });
  // 100, not 1000: as fast (the forward passes are encoded together), and LeNet's activations
  // at 1000 are 76 MB, which on a CPU adapter is the process's memory (docs/memory.md).
  const batchSize = intOption("batch-size", v["batch-size"], {
    fallback: 100,
    min: 1,
    max: 65536,
  });
  const limit = v.limit === undefined
    ? undefined
    : intOption("limit", v.limit, { fallback: 0, min: 1 });
  const errors = v.errors === undefined
    ? 0
    : intOption("errors", v.errors, { fallback: 0, min: 1, max: 1000 });
  if (v.png !== undefined && errors === 0) {
    throw new UserError("--png needs --errors N: it writes the mistakes as an image");
  }
  const scale = scaleOption(v.scale, v.png);
  if (v.png !== undefined) {
    // The most mistakes there can be, so a grid too large is refused before any work.
    checkGridSize({ rows: 28, cols: 28, count: errors }, { scale, captions: true });
    await checkWritable(v.png, { what: "image", format: "PNG", option: "--png" });
  }
  return { v, device, batchSize, limit, errors, scale };
}

/** The checkpoint `mnist eval` scores, and the dataset whose test split it is scored on. */
interface EvalModel {
  dataDir: string;
  /** The checkpoint's file. */
  path: string;
  checkpoint: Checkpoint;
  dataset: DatasetName;
}

/**
 * Step 2: finds and loads the checkpoint, picks the dataset (`--dataset`, else the model's),
 * checks that the model fits it, and names the model on stderr.
 */
async function loadModel(options: EvalOptions): Promise<EvalModel> {
  const { v } = options;
  const dataDir = resolveDataDir(v["data-dir"]);
  const path = await modelPath(v.model, dataDir);
  if (v.png !== undefined) {
    await checkNotInput(v.png, [{ path, what: "model" }], { what: "image", option: "--png" });
  }
  const checkpoint = await loadCheckpoint(path, { arch: archOption(v.arch) });
  checkDigitInput(checkpoint, path);
  const dataset = choiceOption("dataset", v.dataset, {
    choices: DATASET_NAMES,
    fallback: (DATASET_NAMES as readonly string[]).includes(checkpoint.meta.dataset)
      ? checkpoint.meta.dataset as DatasetName
      : "mnist",
  });
  checkClasses(checkpoint, path, { dataset });
  // Which checkpoint this is, on stderr: stdout stays the report (--json names it there).
  if (!v.json) console.error(modelLine(path, checkpoint));
  // Scoring a model on the other dataset's test set is allowed, but its accuracy then says
  // how its classes fall on the other images (7.58% for a digit MLP on Fashion-MNIST): said.
  // A plain file (PyTorch's) does not say its dataset, so --dataset is taken at its word.
  if (checkpoint.origin?.from === "metadata" && checkpoint.meta.dataset !== dataset) {
    const name = (d: string) => DATASETS[d as DatasetName]?.title ?? d;
    console.error(
      `note: the model was trained on ${name(checkpoint.meta.dataset)}, not ` +
        `${name(dataset)}: its outputs are scored as ${name(dataset)}'s classes`,
    );
  }
  return { dataDir, path, checkpoint, dataset };
}

/**
 * Step 3: loads the test split (downloading it if needed), builds the network on `gpu` and
 * uploads the split to it. The split's pixels are kept only for `--errors`.
 */
async function prepareTestSplit(
  gpu: Gpu,
  { options, model: loaded }: { options: EvalOptions; model: EvalModel },
): Promise<{ test: Split; evaluator: Evaluator }> {
  const { v, batchSize, limit, errors } = options;
  const { dataDir, dataset, checkpoint } = loaded;
  await ensureDataset(dataDir, dataset, { mirrors: v.mirror, split: "test" });
  let test = await loadSplit(dataDir, { dataset, split: "test" });
  mark("eval: data loaded");
  if (limit !== undefined && limit > test.count) {
    console.error(
      `note: --limit ${limit} is more than the ${test.count.toLocaleString("en-US")} ` +
        `test samples: scoring all of them`,
    );
  }
  if (limit !== undefined) test = subset(test, limit);
  const model = checkpoint.meta.model;
  const kernels = new KernelCache(gpu.device);
  checkParamsFit(model, { limits: gpu.device.limits, adapter: gpu.name, train: false });
  const store = new ParamStore(gpu.device, model);
  store.load(checkpoint.params);
  let B = Math.min(batchSize, test.count);
  // A batch size asked for must fit; the default shrinks to what the adapter holds.
  if (v["batch-size"] !== undefined && B > largestBatch(model, gpu.device.limits)) {
    // B, at most the test set, must fit; the message names the batch size that was asked for.
    checkBatchFits(model, batchSize, { limits: gpu.device.limits, adapter: gpu.name });
  } else B = Math.min(B, largestBatch(model, gpu.device.limits));
  const network = new Network(gpu.device, kernels, {
    model,
    store,
    B,
    train: false,
    variants: inferenceVariants(model, gpu),
    // No gather fused into the first layer: its kernels would be pipelines of their own,
    // whose creation costs more than one pass over the test set saves (gathersBatch).
  });
  mark("eval: network built");
  const evaluator = new Evaluator(gpu.device, kernels, { network, split: test });
  // The pixels are on the GPU; only --errors draws some of them again.
  if (errors === 0) releaseImages(test);
  mark("eval: test split uploaded");
  return { test, evaluator };
}

/** The test split as scored, its `Score`, and (with `--errors`) the most confident mistakes. */
interface EvalRun {
  /** The test split (its first `--limit` samples); its images are kept only for `--errors`. */
  test: Split;
  result: Score;
  /** `--errors N`'s mistakes, most confident first; empty without it. */
  mistakes: Mistake[];
}

/**
 * Step 4: runs the test split through the network (`progress` shows how far it is) and scores
 * the predictions; with `--errors N`, picks the N most confident mistakes.
 */
async function scoreTestSplit(
  gpu: Gpu,
  { options, model: loaded, test, evaluator, progress }: {
    options: EvalOptions;
    model: EvalModel;
    test: Split;
    evaluator: Evaluator;
    progress: WorkProgress;
  },
): Promise<EvalRun> {
  const { errors } = options;
  const model = loaded.checkpoint.meta.model;
  const { metrics, predictions, probabilities } = await evaluator.run({
    predictions: true,
    probabilities: errors > 0,
    onProgress: (done, total) => progress.update("Evaluating", { done, total }),
  });
  gpu.checkErrors();
  mark("eval: test split scored");
  // The cross-entropy is the loss kernel's sum, as train's Validation-cross-entropy line.
  const result: Score = {
    ...score(test.labels, predictions!, { classes: model.classes }),
    crossEntropy: crossEntropy(metrics),
  };
  const mistakes = errors > 0
    ? worstMistakes(test.labels, probabilities!, { classes: model.classes, n: errors })
    : [];
  return { test, result, mistakes };
}

/** Step 5: prints the score, as text (`formatScore`) or `--json` (with the mistakes). */
function report(
  { options, model: loaded, run }: { options: EvalOptions; model: EvalModel; run: EvalRun },
): void {
  const { v, errors } = options;
  const { path, checkpoint, dataset } = loaded;
  const { result, mistakes } = run;
  if (v.json) {
    console.log(JSON.stringify(
      {
        model: path,
        architecture: originJson(checkpoint),
        dataset,
        ...result,
        ...(errors > 0 ? { mistakes } : {}),
      },
      null,
      2,
    ));
  } else {
    console.log(formatScore(result, DATASETS[dataset].classes));
  }
}

/**
 * Step 6, with `--errors N`: lists the most confident mistakes and draws them, in the terminal
 * or as one `--png` image (or says there were none).
 */
async function drawMistakes(
  { options, model: loaded, run }: { options: EvalOptions; model: EvalModel; run: EvalRun },
): Promise<void> {
  const { v, scale } = options;
  const { test, mistakes } = run;
  const names = DATASETS[loaded.dataset].classes;
  const images = new Uint8Array(mistakes.length * 784);
  mistakes.forEach((m, i) =>
    images.set(test.images.subarray(m.index * 784, (m.index + 1) * 784), i * 784)
  );
  const split = {
    images,
    labels: Uint8Array.from(mistakes, (m) => m.label),
    count: mistakes.length,
    rows: 28,
    cols: 28,
  };
  // The list says which test image each cell of the PNG, or each drawing, is.
  if (!v.json && mistakes.length > 0) {
    console.log(
      mistakes.length === 1
        ? "\nThe most confident mistake:"
        : `\nThe ${mistakes.length} most confident mistakes:`,
    );
    for (const [i, m] of mistakes.entries()) {
      console.log(
        `${String(i + 1).padStart(3)}. test image ${m.index}: labelled ${names[m.label]}, ` +
          `classified as ${names[m.predicted]} with probability ${m.probability.toFixed(6)}`,
      );
    }
  }
  if (mistakes.length === 0) {
    const note = `No mistakes among the ${test.count} test image` +
      (test.count === 1 ? "" : "s") +
      (v.png === undefined ? "" : `: ${v.png} not written`);
    if (v.json) console.error(note);
    else console.log(`\n${note}`);
  } else if (v.png !== undefined) {
    const captions = mistakes.map((m) => `${m.label}→${m.predicted}`);
    const grid = gridImage(split, { scale, captions });
    await writeFileAtomic(v.png, await encodePng(grid), { what: "image" });
    if (!v.json) {
      console.log(
        `\nWrote them to ${v.png} (${grid.width}x${grid.height} px), ${GRID_COLUMNS} to a ` +
          `row in this order, each captioned label→predicted`,
      );
    }
  } else if (!v.json) {
    const width = Deno.stdout.isTerminal() ? Deno.consoleSize().columns : 80;
    console.log("\n" + renderImages(split, { width }));
    console.log(`label:     [${mistakes.map((m) => m.label).join(" ")}]`);
    console.log(`predicted: [${mistakes.map((m) => m.predicted).join(" ")}]`);
  }
}

/**
 * `mnist eval`: scores a checkpoint on its dataset's test split (10,000 images): accuracy,
 * confusion matrix and per-class accuracy as text or `--json`, and with `--errors N` the most
 * confident mistakes (`--png` draws them). A missing model or data is a `UserError` with a hint.
 */
export const evalCommand: Command = {
  name: "eval",
  summary: "score a trained model on the test set (accuracy, confusion matrix)",
  help: HELP,
  async run(args) {
    const options = await parseOptions(args);
    const model = await loadModel(options);
    const gpu = await acquireGpu(options.device);
    mark("eval: device");
    try {
      const { test, evaluator } = await prepareTestSplit(gpu, { options, model });
      // A bar on stderr while the test set runs (on a terminal only), gone before the results.
      using progress = await WorkProgress.open({ clearOnSignal: true });
      const run = await scoreTestSplit(gpu, { options, model, test, evaluator, progress });
      report({ options, model, run });
      if (options.errors > 0) await drawMistakes({ options, model, run });
    } finally {
      gpu.device.destroy();
    }
  },
};
