/** `mnist train`: train a model on the GPU and log like MXNet's FeedForward. */
import { basename, dirname, join, resolve } from "node:path";
import {
  choiceOption,
  floatOption,
  intOption,
  isDecimalInteger,
  isDecimalNumber,
  parseCommandArgs,
} from "./args.ts";
import { type Command, COMMON_HELP } from "./command.ts";
import { UserError } from "../errors.ts";
import { checkNotInput, checkWritable, exists, fsReason } from "../fs.ts";
import { acquireGpu, DEVICE_CHOICES } from "../gpu/device.ts";
import { ensureDataset } from "../data/download.ts";
import { holdout, loadSplit, subset } from "../data/dataset.ts";
import { DATASET_NAMES, type DatasetName } from "../data/mirrors.ts";
import {
  defaultModelPointer,
  legacyModelDir,
  previousModelPath,
  resolveDataDir,
  resolveModelDir,
} from "../data/paths.ts";
import { checkClasses, loadCheckpoint } from "../nn/checkpoint.ts";
import { ARCH_HELP, archOption } from "../nn/import.ts";
import {
  type CheckpointInfo,
  findDefaultModel,
  modelPath,
  readCheckpointInfo,
  setDefaultModel,
  trainedModelPath,
} from "../nn/last_model.ts";
import { MODELS } from "../nn/model.ts";
import { checkBatchFits, checkParamsFit } from "../nn/network.ts";
import type { Init } from "../nn/params.ts";
import { ADAM_DEFAULTS, type OptimizerName, OPTIMIZERS } from "../nn/optimizer.ts";
import type { Schedule } from "../train/schedule.ts";
import { KERNEL_MODES } from "../train/autotune.ts";
import { parseMetrics } from "../train/metrics.ts";
import {
  type EpochResult,
  train,
  type TrainingRecord,
  type TrainProgress,
} from "../train/trainer.ts";
import { WorkProgress } from "../progress.ts";
import { plotFormat, writeRunPlot } from "./plot.ts";
import { mark } from "../trace.ts";

const HELP = `Usage: mnist train [options]

Trains a network on MNIST on the GPU (SGD by default; NAG, Adam or AdamW), printing MXNet's
FeedForward log lines, scoring the validation split after every epoch (the 10,000 test digits
unless --limit or --validation say otherwise) and saving a checkpoint (safetensors) every epoch.

Models are saved in the model directory: $MNIST_MODEL_DIR, else $XDG_DATA_HOME/mnist/models,
else ~/.local/share/mnist/models ("mnist models" lists them). A run saved there becomes the
default model of eval, predict and serve (a Fashion-MNIST run not over a digit model); one saved
elsewhere (--save) only when there is no default yet. A run that ends at chance (validation
accuracy under 20%, or one class taking over 90% of the predictions) is warned about and never
made the default. A run that replaces a checkpoint whose validation accuracy was higher, measured
on the same samples, keeps that one as <name>.prev.safetensors; an earlier .prev that cannot be
compared with it moves aside to <name>.prev-1.safetensors. Ctrl-C stops a run with its models
settled and says how to resume it.
Standard output holds MXNet's log lines only; what became of the models goes to standard error.

Options:
  --model NAME           ${Object.keys(MODELS).join(" | ")} (default mlp)
  --epochs N             epochs in all (default 10)
  --batch-size N         samples per batch (default 100)
  --optimizer NAME       ${OPTIMIZERS.join(" | ")} (default sgd): MXNet's SGD, NAG (Nesterov) and
                         Adam, and AdamW (Adam with decoupled weight decay)
  --lr X                 learning rate (default 0.1, the tutorial's; 0.001 for adam and adamw)
  --momentum X           SGD and NAG momentum (default 0)
  --beta1 X, --beta2 X   Adam's moment decays (default 0.9, 0.999, MXNet's)
  --epsilon X            Adam's epsilon (default 1e-8)
  --lr-step-epochs E,... multiply the rate by --lr-factor (default 0.1) at the start of each of
                         these epochs, logging MXNet's "Update[N]: Change learning rate to ..."
  --lr-factor F          the factor of --lr-step-epochs (0 < F)
  --lr-schedule cosine   cosine decay from --lr to --final-lr (default 0) over the run's
                         --epochs (a run resumed with more epochs stretches the rest of the curve)
  --wd X                 weight decay (default 0)
  --clip X               clip rescaled gradients to ±X (default 0: off)
  --init SCHEME          xavier (default) or uniform:SCALE (MXNet FeedForward's default is
                         uniform:0.01, with its slow first epoch)
  --seed N               seed for initialisation and shuffling (default 42)
  --frequent N           log a Speedometer line every N batches (default 200, MXNet's); an
                         epoch has samples / batch size batches, so a small run needs a smaller
                         N: --limit 6000 makes 60 batches of 100 and no line at 200, use 10
  --metric NAMES         what the log reports, comma-separated (MXNet's eval_metric): acc
                         (accuracy, the default), ce (cross-entropy, the mean of
                         -ln(p + 1e-12)); acc,ce logs a Speedometer and a Validation line for each
  --limit N              use only the first N training and test samples (quick runs)
  --validation WHAT      test (default): validate on the test split, as the tutorial does;
                         holdout:N: on the last N training samples (after --limit), which are
                         then never trained on, to tune settings without touching the test set
  --augment              distort each training image by a random affine map (rotation ±10°,
                         scale 0.9-1.1, shear ±0.1, shift ±2 px), new each epoch, on the GPU;
                         a resumed run keeps it (it cannot be turned off there) and draws the
                         same distortions
  --dataset NAME         mnist (default) or fashion (Fashion-MNIST: its models are saved as
                         fashion-<model>, and --resume mlp --dataset fashion resumes that one)
  --mirror URL           where to download missing data from (repeatable)
  --save FILE            checkpoint path (default <model dir>/<model>.safetensors, or
                         fashion-<model>.safetensors for --dataset fashion)
  --plot FILE            at the end, draw this run's training curves to FILE (.svg or .png),
                         as "mnist plot" draws a saved log
  --kernels MODE         auto (default): on a GPU, time the simple and the tuned kernels of
                         each layer before training and keep the faster; tuned: the adapter's
                         tuned kernels untimed; simple: the reference kernels everywhere
  --profile              after training, print the GPU time of each kernel of a step and
                         the per-layer timings of --kernels auto (timestamp queries)
  --resume FILE|NAME     continue a run from its checkpoint (weights, momentum, epoch, shuffle),
                         or from the one "mnist train --model NAME" saved (mlp, lenet), saving
                         back to it; its --batch-size, --optimizer, --lr, --momentum, --beta1,
                         --beta2, --epsilon, --wd, --clip, schedule, --init, --seed, --limit,
                         --frequent, --metric, --validation and --dataset carry over unless
                         given here (a schedule option replaces the whole schedule); --epochs
                         is the new total. A holdout run keeps its --limit and holdout, and a
                         test-validated one takes no holdout: it may have trained on those
${ARCH_HELP}

${COMMON_HELP}

Examples:
  mnist train
  mnist train --model mlp --epochs 10 --batch-size 100 --lr 0.1
  mnist train --optimizer adam --lr 0.001 --epochs 3
  mnist train --momentum 0.9 --lr-step-epochs 3,6 --lr-factor 0.5
  mnist train --epochs 1 --limit 6000 --frequent 10 --device cpu
  mnist train --resume mlp --epochs 20
  mnist train --save /tmp/try.safetensors && mnist models --default /tmp/try.safetensors`;

function parseInit(value: string | undefined): Init {
  if (value === undefined || value === "xavier") return { kind: "xavier" };
  const match = /^uniform:(.+)$/.exec(value);
  const scale = match && isDecimalNumber(match[1]!) ? Number(match[1]) : NaN;
  if (!match || !Number.isFinite(scale) || scale <= 0) {
    throw new UserError(`--init must be xavier or uniform:SCALE (SCALE > 0), got "${value}"`);
  }
  return { kind: "uniform", scale };
}

/**
 * The schedule from `--lr-step-epochs E,... [--lr-factor F]` (MXNet's MultiFactorScheduler as
 * fit.py sets it up, factor 0.1 by default as there) or `--lr-schedule cosine [--final-lr X]`;
 * none of them: the resumed run's `recorded` schedule, else a constant rate.
 */
function parseSchedule(
  v: Partial<Record<"lr-factor" | "lr-step-epochs" | "lr-schedule" | "final-lr", string>>,
  recorded: unknown,
  resumePath: string | undefined,
): Schedule {
  const given = ["lr-factor", "lr-step-epochs", "lr-schedule", "final-lr"] as const;
  if (given.every((k) => v[k] === undefined)) {
    if (recorded === undefined) return { kind: "constant" };
    const r = recorded as Partial<
      { kind: unknown; factor: unknown; stepEpochs: unknown; finalLr: unknown }
    >;
    const ok = r.kind === "constant" ||
      (r.kind === "multifactor" && typeof r.factor === "number" && r.factor > 0 &&
        Array.isArray(r.stepEpochs) && r.stepEpochs.every((e) => Number.isInteger(e) && e > 0)) ||
      (r.kind === "cosine" && typeof r.finalLr === "number" && r.finalLr >= 0);
    if (!ok) {
      throw new UserError(
        `Cannot resume from "${resumePath}": its training record has an invalid schedule`,
        { hint: "Pass --lr-step-epochs or --lr-schedule to override it." },
      );
    }
    return recorded as Schedule;
  }
  if (v["lr-schedule"] !== undefined) {
    choiceOption("lr-schedule", v["lr-schedule"], { choices: ["cosine"], fallback: "cosine" });
    if (v["lr-step-epochs"] !== undefined || v["lr-factor"] !== undefined) {
      throw new UserError("--lr-schedule cosine does not take --lr-step-epochs or --lr-factor", {
        hint:
          "Choose one schedule: --lr-step-epochs E,... [--lr-factor F] or --lr-schedule cosine.",
      });
    }
    return {
      kind: "cosine",
      finalLr: floatOption("final-lr", v["final-lr"], { fallback: 0, min: 0 }),
    };
  }
  if (v["final-lr"] !== undefined) {
    throw new UserError("--final-lr applies to --lr-schedule cosine only", {
      hint: "Add --lr-schedule cosine.",
    });
  }
  const text = v["lr-step-epochs"];
  if (text === undefined) {
    throw new UserError("--lr-factor needs --lr-step-epochs", {
      hint: "Say at which epochs to multiply the rate, e.g. --lr-step-epochs 3,6.",
    });
  }
  const stepEpochs = text.split(",").map((e) => isDecimalInteger(e) ? Number(e) : NaN);
  if (
    !stepEpochs.every((e, i) =>
      Number.isSafeInteger(e) && e > 0 && (i === 0 || e > stepEpochs[i - 1]!)
    )
  ) {
    throw new UserError(
      `--lr-step-epochs must be increasing epoch numbers > 0 separated by commas, got "${text}"`,
    );
  }
  const factor = floatOption("lr-factor", v["lr-factor"], {
    fallback: 0.1,
    min: 0,
    exclusiveMin: true,
  });
  return { kind: "multifactor", factor, stepEpochs };
}

/** The tutorial's learning rate, `--lr`'s default, which trains both models. */
const TUTORIAL_LR = 0.1;

/**
 * One spelling for each file, to compare paths by the file they name: the real path (symlinks
 * followed) when `path` exists, else its directory's real path joined with its name, else
 * `resolve(path)`. The default model's pointer, `--save`, `--resume` and the model directory may
 * each reach a file through another link.
 */
export async function canonical(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    try {
      return join(await Deno.realPath(dirname(path)), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/** Whether `a` and `b` name the same file, or would (see `canonical`). */
async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([canonical(a), canonical(b)]);
  return x === y;
}

/** `x` (0..1) as a percentage with two decimals: "93.10%". */
function percent(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

/**
 * An accuracy and, when known, on how many samples it was measured: test digits, or held-out
 * training digits for a run with `--validation holdout:N` (its record's `validation`); images
 * rather than digits for Fashion-MNIST.
 */
function scored(
  accuracy: number,
  on: { testSamples?: number; validation?: string; dataset?: string },
): string {
  if (on.testSamples === undefined) return percent(accuracy);
  return `${percent(accuracy)} on ${validationSamples(on.testSamples, on)}`;
}

/** "300 test digits", "4 held-out training digits", "1 test image" (Fashion-MNIST). */
function validationSamples(
  count: number,
  on: { validation?: string; dataset?: string },
): string {
  const held = on.validation?.startsWith("holdout:") ?? false;
  const what = (on.dataset === "fashion" ? "image" : "digit") + (count === 1 ? "" : "s");
  return `${count} ${held ? "held-out training" : "test"} ${what}`;
}

/**
 * `--validation test|holdout:N`: the N of a holdout, or undefined for the test split. Bad
 * syntax or an N under 1 is a `UserError`; whether N leaves samples to train on is checked once
 * the split is loaded.
 */
function parseValidation(value: string | undefined): number | undefined {
  if (value === undefined || value === "test") return undefined;
  const match = /^holdout:(\d+)$/.exec(value);
  if (!match) {
    throw new UserError(`--validation must be test or holdout:N, got "${value}"`, {
      hint: "holdout:N validates on the last N training samples, e.g. holdout:5000.",
    });
  }
  const n = Number(match[1]);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UserError(`--validation holdout:N needs N >= 1, got "${value}"`);
  }
  return n;
}

/**
 * Refuses a resumed run whose validation samples the checkpoint may have been trained on, which
 * would score it on digits it has learned: a holdout run resumed with another `--limit` or
 * another `holdout:N` (its held-out samples are the last N after `--limit`), or a run validated
 * on the test split (which trained on all its samples) resumed with `--validation holdout:N`.
 * Going from a holdout to the test split is allowed: the test digits were never trained on.
 * `was` is the checkpoint's training record; throws a `UserError` naming `resumePath`.
 */
function checkHoldoutKept(
  resumePath: string,
  { was, limit, validation }: {
    was: Partial<Record<keyof TrainingRecord, unknown>>;
    limit?: number;
    validation: string;
  },
): void {
  if (validation === "test") return;
  const before = typeof was.validation === "string" ? was.validation : "test";
  const wasLimit = typeof was.limit === "number" ? was.limit : undefined;
  if (before === "test") {
    throw new UserError(
      `Cannot resume "${resumePath}" with --validation ${validation}: that run validated on ` +
        `the test split and trained on the samples ${validation} would hold out`,
      { hint: "Leave out --validation to keep the test split, or start a new run." },
    );
  }
  if (before !== validation || wasLimit !== limit) {
    const limits = (l?: number) => l === undefined ? "no --limit" : `--limit ${l}`;
    throw new UserError(
      `Cannot resume "${resumePath}" with --validation ${validation} and ${limits(limit)}: ` +
        `it held out others (${before} with ${limits(wasLimit)}), and a checkpoint may have ` +
        `been trained on any sample but those`,
      { hint: "Leave out --limit and --validation to keep its holdout, or start a new run." },
    );
  }
}

/** A warning about a run that ended without learning, and what to try instead. */
export interface RunWarning {
  /** After "warning: ": what happened, e.g. "validation accuracy 10.20%: ...". */
  message: string;
  /** After "hint: ": the settings to try. */
  hint: string;
}

/**
 * The fewest validation samples on which `runWarning` judges a run: at 100, chance (10%) is 3.3
 * standard deviations under its 20% threshold; on 4 samples, one predicted class is "100%".
 */
export const MIN_JUDGED_SAMPLES = 100;

/**
 * Whether a run's last epoch shows a model that has learned nothing: a validation accuracy under
 * 20% (chance is 10%), or one class taking more than 90% of the predictions, whatever the
 * accuracy. Returns the warning to print, with the settings to try (the tutorial's `--lr 0.1`,
 * more digits than a small `--limit`, more epochs), or undefined for a run that learned, or one
 * validated on fewer than `MIN_JUDGED_SAMPLES` samples (too few to tell).
 */
export function runWarning(
  result: Pick<EpochResult, "validationAccuracy" | "predictedCounts">,
  run: { lr: number; limit?: number },
): RunWarning | undefined {
  const counts = result.predictedCounts;
  const total = counts.reduce((a, b) => a + b, 0);
  const top = counts.reduce((best, c, k) => c > counts[best]! ? k : best, 0);
  const share = total > 0 ? counts[top]! / total : 0;
  const accuracy = result.validationAccuracy;
  if (total < MIN_JUDGED_SAMPLES) return undefined;
  if (accuracy >= 0.2 && share <= 0.9) return undefined;
  const piled = share > 0.5
    ? `: the model predicts ${top} for ${Math.round(share * 100)}% of the digits`
    : "";
  const tries: string[] = [];
  if (run.lr !== TUTORIAL_LR) tries.push(`the tutorial's learning rate (--lr ${TUTORIAL_LR})`);
  if (run.limit !== undefined && run.limit < 10000) {
    tries.push(`more digits than --limit ${run.limit}`);
  }
  if (run.lr === TUTORIAL_LR) tries.push("more epochs");
  const list = tries.length === 1
    ? tries[0]!
    : `${tries.slice(0, -1).join(", ")} or ${tries.at(-1)}`;
  return {
    message: `validation accuracy ${percent(accuracy)}${piled}; it has not learned`,
    hint: `Try ${list}.`,
  };
}

/**
 * The checkpoint that should be the default model after a run, or undefined to leave the
 * default as it is. All paths absolute. A run that learned becomes the default when it was saved
 * in the model directory (unless `otherDataset`), when there is no default yet, or when it was
 * saved over the default's file. One that did not learn never does; when it was saved over the
 * default's file, the default follows the model that file held to `backup`, where the run kept
 * it. Paths are compared as strings: pass each as `canonical` gives it, so that two spellings of
 * one file (a symlinked model directory) are one path.
 */
export function nextDefault(run: {
  /** Where the run saved its checkpoint. */
  save: string;
  /** Whether `save` is in the model directory. */
  inModelDir: boolean;
  /** False when `runWarning` warned. */
  learned: boolean;
  /** The default before the run. */
  current?: string;
  /** Where the model the run replaced at `save` is kept (`<name>.prev.safetensors`). */
  backup?: string;
  /**
   * The run is not on the digits and the default was trained on another dataset (a digit model,
   * for a Fashion-MNIST run): a run saved in the model directory does not take its place, any
   * more than one saved elsewhere. (A digit run does take a Fashion-MNIST model's place: predict
   * and serve read digits.)
   */
  otherDataset?: boolean;
}): string | undefined {
  if (run.learned) {
    const moves = (run.inModelDir && !run.otherDataset) || run.current === undefined ||
      run.current === run.save;
    return moves ? run.save : undefined;
  }
  return run.current === run.save ? run.backup : undefined;
}

/** An accuracy and the samples it was measured on, as a checkpoint records them. */
export interface Measured {
  /** Validation accuracy, 0..1. */
  accuracy: number;
  /** How many samples it was measured on (`training.testSamples`); unrecorded in old files. */
  testSamples?: number;
  /** "test" (also when absent) or "holdout:N" (see `TrainingRecord.validation`). */
  validation?: string;
  /** The dataset (mnist when absent). */
  dataset?: string;
  /** `--limit`: for a holdout, it decides which training samples were held out. */
  limit?: number;
}

/**
 * Why the accuracies `a` and `b` cannot be compared, or undefined when they were measured on the
 * same samples: the same dataset, the same validation (the test split, or `holdout:N`), the same
 * number of samples and, for a holdout (the last N training samples after `--limit`), the same
 * `--limit`. An accuracy whose samples are not recorded compares with none.
 */
export function notComparable(a: Measured, b: Measured): string | undefined {
  const [da, db] = [a.dataset ?? "mnist", b.dataset ?? "mnist"];
  if (da !== db) return `they were trained on different datasets (${da}, ${db})`;
  if (a.testSamples === undefined || b.testSamples === undefined) {
    return "what one of them was validated on is not recorded";
  }
  const [va, vb] = [a.validation ?? "test", b.validation ?? "test"];
  if (va !== vb || a.testSamples !== b.testSamples) {
    return "they were validated on different samples";
  }
  if (va !== "test" && a.limit !== b.limit) {
    const limit = (l?: number) => l === undefined ? "none" : String(l);
    return `they held out the last ${a.testSamples} of different --limit runs ` +
      `(${limit(a.limit)}, ${limit(b.limit)})`;
  }
  return undefined;
}

/** What a readable checkpoint with a recorded accuracy says it was measured on. */
function measured(info: CheckpointInfo & { accuracy: number }): Measured {
  const { accuracy, testSamples, validation, dataset, limit } = info;
  return { accuracy, testSamples, validation, dataset, limit };
}

/** The model a run replaces, kept at `<name>.prev.safetensors` while it is the better one. */
interface Backup extends Measured {
  /** Where it is kept. */
  path: string;
  /** True when this run put it there; false when an earlier run kept a better one there. */
  copied: boolean;
}

/**
 * Renames `path` (`<name>.prev.safetensors`) to the first free `<name>.prev-N.safetensors`,
 * N = 1, 2, ..., which `mnist models` lists like any checkpoint; returns the new path.
 */
async function moveAside(path: string): Promise<string> {
  const stem = path.replace(/\.safetensors$/, "");
  for (let n = 1;; n++) {
    const aside = `${stem}-${n}.safetensors`;
    if (await exists(aside)) continue;
    try {
      await Deno.rename(path, aside);
    } catch (error) {
      throw new UserError(`Cannot move "${path}" aside to "${aside}": ${fsReason(error)}`, {
        hint: "Pass --save FILE to save this run elsewhere.",
      });
    }
    return aside;
  }
}

/**
 * Before a run saves over `save`: when that file records a validation accuracy (the checkpoint
 * being resumed too, which the run overwrites like any other), copies it to
 * `<name>.prev.safetensors`, unless an earlier run kept a model there that is at least as good.
 * An earlier model there that cannot be compared with it (measured on other samples: see
 * `notComparable`) is moved aside to `<name>.prev-N.safetensors` first, so that no scored model
 * is lost, as a line says. The copy is made before the first save, so an interrupted run leaves
 * the old model at .prev, as the line printed here says.
 */
async function keepBetter(
  save: string,
  { resumed }: { resumed?: string },
): Promise<Backup | undefined> {
  const old = await readCheckpointInfo(save);
  if (old.problem !== undefined || old.accuracy === undefined) return undefined;
  const from = resumed !== undefined && await sameFile(resumed, save) ? "resumes from" : "replaces";
  const replacing = measured({ ...old, accuracy: old.accuracy });
  const path = previousModelPath(save);
  const prev = await readCheckpointInfo(path);
  if (prev.problem === undefined && prev.accuracy !== undefined) {
    const kept: Backup = { path, ...measured({ ...prev, accuracy: prev.accuracy }), copied: false };
    const why = notComparable(kept, replacing);
    if (why !== undefined) {
      // Neither may be lost: the earlier model moves aside, and the one replaced takes .prev.
      const aside = await moveAside(path);
      console.error(
        `Moved the earlier ${basename(path)} (validation accuracy ` +
          `${scored(kept.accuracy, kept)}) to ${aside}: it cannot be compared with the ` +
          `${basename(save)} this run ${from} (${why}).`,
      );
    } else if (prev.accuracy >= old.accuracy) {
      return kept;
    }
  }
  const tmp = `${path}.${Deno.pid}.tmp`;
  try {
    await Deno.copyFile(save, tmp);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw new UserError(
      `Cannot keep the model "${save}" replaces as "${path}": ${fsReason(error)}`,
      {
        hint: "Pass --save FILE to save this run elsewhere.",
      },
    );
  }
  console.error(
    `Keeping the ${basename(save)} this run ${from} (validation accuracy ` +
      `${scored(old.accuracy, old)}) as ${path} until the run ends.`,
  );
  return { path, ...replacing, copied: true };
}

/**
 * Removes `path`, a copy of the model a run replaced that is no longer needed; one already gone
 * is fine. Any other failure is a `UserError` naming the path and saying to remove it.
 */
async function removeBackup(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw new UserError(
      `Cannot remove "${path}", a copy of a replaced model that is no longer needed: ` +
        fsReason(error),
      { hint: "Nothing needs it: remove it yourself." },
    );
  }
}

/**
 * After a run stopped early (an error, a signal), as the end of a run would settle it: a copy
 * of a model the run never overwrote is removed; so is one that the checkpoint now at `save`
 * beats on the same samples; otherwise it stays. Returns whether it stays. A copy that cannot be
 * removed is a `UserError` (`removeBackup`).
 */
async function settleBackup(
  backup: Backup,
  { save, saved }: { save: string; saved: boolean },
): Promise<boolean> {
  if (!saved) {
    if (backup.copied) await removeBackup(backup.path);
    return false;
  }
  const now = await readCheckpointInfo(save);
  if (
    now.problem === undefined && now.accuracy !== undefined &&
    notComparable(measured({ ...now, accuracy: now.accuracy }), backup) === undefined &&
    now.accuracy >= backup.accuracy
  ) {
    if (backup.copied) await removeBackup(backup.path);
    return false;
  }
  return true;
}

/** What a backup holds, capitalised: the model this run replaced, or an earlier run did. */
function replaced(backup: Backup): string {
  return backup.copied ? "The model this run replaced" : "The model an earlier run replaced";
}

/** SIGINT or SIGTERM, caught while a run trains, and the exit status it ends the program with. */
interface Caught {
  name: "SIGINT" | "SIGTERM";
  /** 128 + the signal's number, as shells report it: 130, 143. */
  exitCode: number;
}

/** Thrown inside `train` (from its progress callback) to stop a run a signal interrupted. */
class Interrupted extends Error {}

/**
 * Listens for SIGINT and SIGTERM while a run trains, so that the run stops at its next progress
 * report (`check`) and its models are settled rather than left mid-run. The main thread hears
 * a signal once the GPU lets it go: at once on a GPU, on a CPU adapter within a pass of batches
 * (longer while kernels compile). The listeners go at the first signal, so a second one ends
 * the program at once (Deno restores the default action). Dispose of it to remove them.
 */
function catchSignals(): { caught?: Caught; check(): void } & Disposable {
  const listeners: [Deno.Signal, () => void][] = [];
  const remove = () => {
    for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
    listeners.length = 0;
  };
  const state: { caught?: Caught; check(): void } & Disposable = {
    check() {
      if (state.caught) throw new Interrupted(state.caught.name);
    },
    [Symbol.dispose]: remove,
  };
  for (const [name, exitCode] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    const listener = () => {
      remove();
      state.caught = { name, exitCode };
    };
    try {
      Deno.addSignalListener(name, listener);
      listeners.push([name, listener]);
    } catch {
      // Windows listens for SIGINT and SIGBREAK only.
    }
  }
  return state;
}

/**
 * After a signal stopped a run: settles the backup as the end of a run would (`settleBackup`),
 * puts the default back on the model the run replaced when that one stays and the default was
 * the file the run saved to (an unfinished run does not stay the default over a model it has
 * not beaten), and returns the `UserError` that says, in one line and a hint, what each file
 * now holds and how to continue.
 */
async function interruption(caught: Caught, options: {
  save: string;
  /** Whether the run wrote a checkpoint to `save`. */
  saved: boolean;
  /** Whether `save` existed before the run. */
  existed: boolean;
  backup?: Backup;
  modelDir: string;
  dataDir: string;
  /** The run's --epochs. */
  epochs: number;
}): Promise<UserError> {
  const { save, saved, backup, modelDir } = options;
  // A copy that cannot be removed is said in the line; the signal's exit status stays.
  let unremoved: UserError | undefined;
  const kept = backup
    ? await settleBackup(backup, { save, saved }).catch((error) => {
      if (!(error instanceof UserError)) throw error;
      unremoved = error;
      return false;
    })
    : false;
  const parts: string[] = [];
  let hint: string | undefined;
  if (!saved) {
    parts.push(
      `Interrupted by ${caught.name} before its first checkpoint: ` +
        (options.existed ? `${save} is unchanged` : "nothing was saved"),
    );
  } else {
    parts.push(`Interrupted by ${caught.name}`);
    const now = await readCheckpointInfo(save);
    const epochs = now.epochs ?? 0;
    parts.push(
      `${save} holds epoch ${epochs} of ${options.epochs}` +
        (now.accuracy === undefined
          ? " (not yet validated)"
          : ` (validation accuracy ${scored(now.accuracy, now)})`),
    );
    if (backup && kept) {
      const current = await findDefaultModel(options.dataDir, { modelDir });
      const follows = current !== undefined && await sameFile(current.path, save);
      if (follows) await setDefaultModel(modelDir, backup.path);
      parts.push(
        `${replaced(backup).toLowerCase()} (${scored(backup.accuracy, backup)}) is kept as ` +
          `${backup.path}${follows ? ", the default model again" : ""}`,
      );
    } else if (backup && unremoved === undefined) {
      parts.push(`it beats the model kept at ${backup.path}, which is removed`);
    }
    if (epochs < options.epochs) {
      const inModelDir = await sameFile(dirname(save), modelDir);
      const name = inModelDir ? basename(save).replace(/\.safetensors$/, "") : save;
      hint = `Continue with "mnist train --resume ${name} --epochs ${options.epochs}".`;
    }
  }
  if (unremoved !== undefined) {
    parts.push(unremoved.message.replace(/^Cannot/, "cannot"));
    hint = [`Remove ${backup!.path} yourself.`, hint].filter(Boolean).join(" ");
  }
  return new UserError(parts.join("; "), { exitCode: caught.exitCode, hint });
}

/**
 * After a signal came once the last epoch was trained, and the run was settled as any complete
 * run is (`finish` has said what became of each model): the `UserError` that says so in one line,
 * with the signal's exit status, and that `plot`, when given, was not drawn.
 */
async function afterTraining(
  caught: Caught,
  { save, epochs, plot }: { save: string; epochs: number; plot?: string },
): Promise<UserError> {
  const now = await readCheckpointInfo(save);
  const held = now.epochs === undefined ? "" : `: ${save} holds epoch ${now.epochs} of ${epochs}` +
    (now.accuracy === undefined ? "" : ` (validation accuracy ${scored(now.accuracy, now)})`);
  return new UserError(
    `Interrupted by ${caught.name} after the last epoch${held}` +
      (plot === undefined ? "" : `; the chart ${plot} was not drawn`),
    { exitCode: caught.exitCode },
  );
}

/**
 * After a run that completed: warns when it did not learn, decides the default model (see
 * `nextDefault`), keeps or removes the backup of the model it replaced (compared only when both
 * were measured on the same samples: `notComparable`), and says on stderr which checkpoint is
 * the default. Standard output is left to MXNet's lines.
 */
async function finish(
  results: EpochResult[],
  options: {
    save: string;
    modelDir: string;
    dataDir: string;
    backup?: Backup;
    lr: number;
    limit?: number;
    /** How many samples each epoch was validated on. */
    testSamples: number;
    /** "test", or "holdout:N" when those were held-out training samples. */
    validation: string;
    /** The dataset trained on. */
    dataset: string;
  },
): Promise<void> {
  const { save, modelDir, backup } = options;
  const last = results.at(-1);
  if (last === undefined) return;
  const warning = runWarning(last, options);
  if (warning) {
    console.error(`warning: ${warning.message}`);
    console.error(`hint: ${warning.hint}`);
  }
  const validated = last.predictedCounts.reduce((a, b) => a + b, 0);
  if (validated < MIN_JUDGED_SAMPLES) {
    console.error(
      `note: ${validationSamples(validated, options)} are too few to tell whether this run ` +
        `learned (that takes ${MIN_JUDGED_SAMPLES}): it is treated as a run that did`,
    );
  }
  const current = await findDefaultModel(options.dataDir, { modelDir });
  // Paths as shown and written to the default's pointer; compared as files (`canonical`).
  const currentPath = current && resolve(current.path);
  const currentInfo = currentPath === undefined ? undefined : await readCheckpointInfo(currentPath);
  const savePath = resolve(save);
  const backupPath = backup && resolve(backup.path);
  const [currentFile, saveFile, backupFile] = await Promise.all(
    [currentPath, savePath, backupPath].map((p) => p === undefined ? undefined : canonical(p)),
  );
  // A device or a FIFO (--save /dev/null) is written, but holds no model to load later.
  const regular = await Deno.stat(save).then((info) => info.isFile, () => false);
  const nextFile = !regular ? undefined : nextDefault({
    save: saveFile!,
    inModelDir: await sameFile(dirname(save), modelDir),
    learned: warning === undefined,
    current: currentFile,
    backup: backupFile,
    // predict and serve read digits: a digit run takes the default from a Fashion-MNIST model,
    // but not the other way round.
    otherDataset: options.dataset !== "mnist" && currentInfo?.dataset !== undefined &&
      currentInfo.dataset !== options.dataset,
  });
  const next = nextFile === undefined ? undefined : nextFile === saveFile ? savePath : backupPath;
  if (next !== undefined) await setDefaultModel(modelDir, next);
  const after = nextFile ?? currentFile;
  const run: Measured = { accuracy: last.validationAccuracy, ...options };
  const accuracy = scored(last.validationAccuracy, options);
  if (backup) {
    const old = scored(backup.accuracy, backup);
    const why = notComparable(run, backup);
    if (why === undefined && last.validationAccuracy >= backup.accuracy && after !== backupFile) {
      try {
        await removeBackup(backup.path);
        console.error(
          `Removed ${backup.path}: ${replaced(backup).toLowerCase()} (${old}) is not better ` +
            `than this run (${accuracy}).`,
        );
      } catch (error) {
        // The run's models are settled: what is left is a file to remove by hand.
        if (!(error instanceof UserError)) throw error;
        console.error(`warning: ${error.message}`);
        console.error(`hint: ${error.hint}`);
      }
    } else {
      console.error(
        `${basename(save)} now holds this run (validation accuracy ${accuracy}); ` +
          `${replaced(backup).toLowerCase()} (${old}) is kept as ${backup.path}` +
          (why === undefined ? "." : `, not compared: ${why}.`),
      );
    }
  }
  if (next === savePath) {
    console.error(`Default model is now "${savePath}".`);
  } else if (next !== undefined) {
    console.error(`Default model is now "${next}", ${replaced(backup!).toLowerCase()}.`);
  } else if (currentPath === undefined) {
    console.error(`No default model: this run is not made the default.`);
  } else if (currentFile === saveFile) {
    // The default's file now holds a run that did not learn, and no better model was kept.
    await Deno.remove(defaultModelPointer(modelDir)).catch(() => {});
    console.error(
      `No default model now: "${savePath}" holds this run, which has not learned; choose one ` +
        `with "mnist models --default NAME".`,
    );
  } else if (warning === undefined && regular) {
    console.error(
      `Default model unchanged: "${currentPath}"` +
        (nextDefaultOther(currentInfo, options.dataset)) +
        `; make this run the default with "mnist models --default ${save}".`,
    );
  } else {
    console.error(`Default model unchanged: "${currentPath}".`);
  }
}

/** " (a digit model)" when the default was trained on another dataset than the run. */
function nextDefaultOther(current: CheckpointInfo | undefined, dataset: string): string {
  if (current?.dataset === undefined || current.dataset === dataset) return "";
  return current.dataset === "mnist" ? " (a digit model)" : ` (a ${current.dataset} model)`;
}

/**
 * A training bar's label: `Epoch 2/10`, or `Validation 2/10` while that epoch validates, or
 * `Compiling kernels` during the warm-up pass.
 */
export function trainingLabel(progress: TrainProgress): string {
  const count = `${progress.epoch + 1}/${progress.epochs}`;
  switch (progress.phase) {
    case "warm-up":
      return "Compiling kernels";
    case "train":
      return `Epoch ${count}`;
    case "validate":
      return `Validation ${count}`;
  }
}

/**
 * What the warm-up's line says after its label, within 80 columns: drivers compile each kernel
 * at its first dispatch, and llvmpipe keeps the code in its shader cache for later runs.
 */
const WARM_UP_DETAIL = "(a CPU adapter takes seconds, the first time)";

/**
 * `mnist train`: trains `--model mlp|lenet` with SGD on the GPU, printing MXNet FeedForward's
 * log lines on stdout, validating on the test split and saving a safetensors checkpoint every
 * epoch (the default model of `eval`, `predict` and `serve` unless it ends at chance).
 * `--resume` continues a checkpoint's run. Bad options, missing data or an unwritable `--save`
 * are `UserError`s.
 */
export const trainCommand: Command = {
  name: "train",
  summary: "train a model (mlp, lenet) on the GPU, logging like MXNet",
  help: HELP,
  async run(args) {
    const { values: v } = parseCommandArgs("train", args, {
      options: {
        model: { type: "string" },
        epochs: { type: "string" },
        "batch-size": { type: "string" },
        optimizer: { type: "string" },
        lr: { type: "string" },
        momentum: { type: "string" },
        beta1: { type: "string" },
        beta2: { type: "string" },
        epsilon: { type: "string" },
        "lr-factor": { type: "string" },
        "lr-step-epochs": { type: "string" },
        "lr-schedule": { type: "string" },
        "final-lr": { type: "string" },
        wd: { type: "string" },
        clip: { type: "string" },
        init: { type: "string" },
        seed: { type: "string" },
        frequent: { type: "string" },
        metric: { type: "string" },
        limit: { type: "string" },
        validation: { type: "string" },
        augment: { type: "boolean" },
        dataset: { type: "string" },
        mirror: { type: "string", multiple: true },
        save: { type: "string" },
        plot: { type: "string" },
        resume: { type: "string" },
        arch: { type: "string" },
        profile: { type: "boolean" },
        kernels: { type: "string" },
      },
    });
    const modelNames = Object.keys(MODELS);
    // Validate the options that need no file first, so typos fail fast.
    const device = choiceOption("device", v.device, { choices: DEVICE_CHOICES, fallback: "auto" });
    const epochs = intOption("epochs", v.epochs, { fallback: 10, min: 1 });
    const kernelMode = choiceOption("kernels", v.kernels, {
      choices: KERNEL_MODES,
      fallback: "auto",
    });
    const dataDir = resolveDataDir(v["data-dir"]);
    const modelDir = resolveModelDir();
    const resumePath = v.resume === undefined ? undefined : await modelPath(v.resume, dataDir, {
      modelDir,
      option: "--resume",
      // `--resume mlp --dataset fashion`: the fashion-mlp that `--dataset fashion` saved.
      ...(v.dataset === undefined ? {} : { dataset: v.dataset }),
    });
    // A plain safetensors file (a PyTorch state_dict) resumes as a fresh run from its weights.
    const resume = resumePath === undefined
      ? undefined
      : await loadCheckpoint(resumePath, { arch: archOption(v.arch), option: "--resume" });
    // A resumed run continues with the settings it was started with, unless overridden here.
    const was: Partial<Record<keyof TrainingRecord, unknown>> = resume?.meta.training ?? {};
    // Both datasets are 28×28 grey images; another input size would train on garbage.
    if (resume && resume.meta.model.input.join("×") !== "1×28×28") {
      throw new UserError(
        `Cannot resume from "${resumePath}": its model takes ` +
          `${resume.meta.model.input.join("×")} inputs, not 1×28×28 images`,
      );
    }
    // A recorded value in its option's text form: JSON gives a number the form it has on the
    // command line, and anything else ("100", null, [1]) a form the option's check refuses.
    const text = (value: unknown) => value === undefined ? undefined : JSON.stringify(value);
    const initText = (value: unknown) => {
      const init = value as Partial<{ kind: unknown; scale: unknown }> | null | undefined;
      if (init?.kind === "xavier") return "xavier";
      if (init?.kind === "uniform" && typeof init.scale === "number") {
        return `uniform:${init.scale}`;
      }
      return text(value);
    };
    // Each setting comes from its option, else from the record, which must pass the option's
    // own check; a recorded value that fails it is refused, naming the checkpoint.
    const setting = <T>(
      option: string,
      what: string,
      [given, recorded]: [string | undefined, string | undefined],
      check: (text: string | undefined) => T,
    ): T => {
      if (given !== undefined || recorded === undefined) return check(given);
      try {
        return check(recorded);
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        const shown = recorded.length > 40 ? `${recorded.slice(0, 37)}...` : recorded;
        const rule = error.message.replace(/, got .*$/, "");
        throw new UserError(
          `Cannot resume from "${resumePath}": its training record has ${what} ${shown}; ${rule}`,
          { hint: `Pass --${option} to override it.` },
        );
      }
    };
    const dataset = choiceOption("dataset", v.dataset, {
      choices: DATASET_NAMES,
      fallback: (DATASET_NAMES as readonly string[]).includes(resume?.meta.dataset ?? "")
        ? resume!.meta.dataset as DatasetName
        : "mnist",
    });
    if (resume) checkClasses(resume, resumePath!, { dataset, action: "resume from" });
    const batchSize = setting(
      "batch-size",
      "batch size",
      [v["batch-size"], text(was.batchSize)],
      (t) => intOption("batch-size", t, { fallback: 100, min: 1, max: 65536 }),
    );
    const optimizer = setting<OptimizerName>(
      "optimizer",
      "optimizer",
      [v.optimizer, was.optimizer === undefined ? undefined : String(was.optimizer)],
      (t) => choiceOption("optimizer", t, { choices: OPTIMIZERS, fallback: "sgd" }),
    );
    const adam = optimizer === "adam" || optimizer === "adamw";
    // A resumed run that changes optimizer starts from that optimizer's defaults, and with
    // fresh optimizer state (train() loads the recorded state only for the same optimizer).
    const same = optimizer === (was.optimizer ?? "sgd");
    const lr = setting(
      "lr",
      "learning rate",
      [v.lr, same ? text(was.lr) : undefined],
      // MXNet's Adam defaults to 0.001; the tutorial's 0.1 diverges there.
      (t) => floatOption("lr", t, { fallback: adam ? 0.001 : 0.1, min: 0, exclusiveMin: true }),
    );
    const beta = (name: "beta1" | "beta2") =>
      setting(name, name, [v[name], same ? text(was[name]) : undefined], (t) => {
        const b = floatOption(name, t, { fallback: ADAM_DEFAULTS[name], min: 0 });
        if (b >= 1) throw new UserError(`--${name} must be < 1, got ${t}`);
        return b;
      });
    const beta1 = beta("beta1");
    const beta2 = beta("beta2");
    const epsilon = setting(
      "epsilon",
      "epsilon",
      [v.epsilon, same ? text(was.epsilon) : undefined],
      (t) =>
        floatOption("epsilon", t, { fallback: ADAM_DEFAULTS.epsilon, min: 0, exclusiveMin: true }),
    );
    if (!adam) {
      for (const name of ["beta1", "beta2", "epsilon"] as const) {
        if (v[name] !== undefined) {
          throw new UserError(`--${name} applies to --optimizer adam and adamw only`, {
            hint: "Pass --optimizer adam, or leave it out.",
          });
        }
      }
    } else if (v.momentum !== undefined) {
      throw new UserError(`--momentum applies to --optimizer sgd and nag only`, {
        hint: "Adam's first moment decays by --beta1.",
      });
    }
    const schedule = parseSchedule(v, was.schedule, resumePath);
    // A step E changes the rate after epoch E: one at or past --epochs comes only if the run is
    // resumed with more epochs (its checkpoint records the schedule), so it is not refused, as
    // options that could never apply are (--beta1 with sgd, --momentum with adam); said once.
    const late = schedule.kind === "multifactor" && v["lr-step-epochs"] !== undefined
      ? schedule.stepEpochs.filter((e) => e >= epochs)
      : [];
    if (late.length > 0) {
      console.error(
        `note: the rate will not change at --lr-step-epochs ${late.join(",")}, at or past ` +
          `--epochs ${epochs}, unless this run is resumed with more epochs`,
      );
    }
    const momentum = setting(
      "momentum",
      "momentum",
      [v.momentum, adam ? "0" : text(was.momentum)],
      (t) => {
        const m = floatOption("momentum", t, { fallback: 0, min: 0 });
        if (m >= 1) throw new UserError(`--momentum must be < 1, got ${t}`);
        return m;
      },
    );
    const wd = setting(
      "wd",
      "weight decay",
      [v.wd, text(was.wd)],
      (t) => floatOption("wd", t, { fallback: 0, min: 0 }),
    );
    const clipGradient = setting(
      "clip",
      "gradient clip",
      [v.clip, text(was.clipGradient)],
      (t) => floatOption("clip", t, { fallback: 0, min: 0 }),
    );
    const init = setting("init", "init", [v.init, initText(was.init)], parseInit);
    const seed = setting(
      "seed",
      "seed",
      [v.seed, text(was.seed)],
      (t) => intOption("seed", t, { fallback: 42, min: 0, max: 2 ** 32 - 1 }),
    );
    const limit = setting(
      "limit",
      "limit",
      [v.limit, text(was.limit)],
      (t) => t === undefined ? undefined : intOption("limit", t, { fallback: 0, min: 1 }),
    );
    const frequent = setting(
      "frequent",
      "log frequency",
      [v.frequent, text(was.frequent)],
      (t) => intOption("frequent", t, { fallback: 200, min: 1 }),
    );
    const metrics = setting(
      "metric",
      "metrics",
      [v.metric, Array.isArray(was.metrics) ? was.metrics.join(",") : text(was.metrics)],
      (t) => parseMetrics(t ?? "acc"),
    );
    // The last `held` training samples (after --limit) validate instead of the test split.
    const held = setting(
      "validation",
      "validation",
      [v.validation, typeof was.validation === "string" ? was.validation : text(was.validation)],
      parseValidation,
    );
    const validation = held === undefined ? "test" : `holdout:${held}`;
    const augment = v.augment === true || was.augment === true;
    if (resume?.meta.training !== undefined && resume.meta.dataset === dataset) {
      checkHoldoutKept(resumePath!, { was, limit, validation });
    }

    let model;
    if (resume) {
      model = resume.meta.model;
      if (v.model !== undefined && v.model !== model.name) {
        throw new UserError(
          `--model ${v.model} does not match the checkpoint's model "${model.name}"`,
          { hint: "Leave out --model when resuming." },
        );
      }
    } else {
      const name = v.model ?? "mlp";
      const make = MODELS[name];
      if (!make) {
        throw new UserError(`Unknown model "${name}"`, {
          hint: `Choose one of: ${modelNames.join(", ")}.`,
        });
      }
      model = make();
    }
    // A run resumed from where older versions kept models saves in the model directory: that
    // one is only read.
    const resumedLegacy = resumePath !== undefined &&
      await sameFile(dirname(resumePath), legacyModelDir(dataDir)) &&
      !await sameFile(legacyModelDir(dataDir), modelDir);
    // Nor is a plain file (PyTorch's) overwritten: the run saves as a fresh one would.
    // Nor is one of another dataset: a Fashion-MNIST run never replaces a digit model.
    const save = v.save ??
      (resumePath !== undefined && !resumedLegacy && resume?.origin?.from === "metadata" &&
          resume.meta.dataset === dataset
        ? resumePath
        : trainedModelPath(modelDir, model.name, dataset));
    // A checkpoint that cannot be written is found now, not after the first epoch.
    await checkWritable(save, {
      what: "checkpoint",
      ...(v.save === undefined ? {} : { format: "safetensors", option: "--save" }),
    });
    if (v.plot !== undefined) {
      plotFormat(v.plot, "--plot"); // an unknown extension fails now, not after training
      await checkWritable(v.plot, { what: "chart" });
      if (resumePath !== undefined) {
        await checkNotInput(v.plot, [{ path: resumePath, what: "checkpoint" }], {
          what: "chart",
          option: "--plot",
        });
      }
    }
    /** The run's log lines, for --plot. */
    const runLog: string[] = [];
    // Timestamps time the log intervals that are read back together, and --profile.
    const gpu = await acquireGpu(device, { timestamps: true });
    mark("train: device");
    try {
      checkBatchFits(model, batchSize, { limits: gpu.device.limits, adapter: gpu.name });
      checkParamsFit(model, { limits: gpu.device.limits, adapter: gpu.name, train: true });
      await ensureDataset(dataDir, dataset, {
        mirrors: v.mirror,
        log: (line) => console.error(line),
      });
      let [trainSplit, testSplit] = await Promise.all([
        loadSplit(dataDir, { dataset, split: "train" }),
        loadSplit(dataDir, { dataset, split: "test" }),
      ]);
      mark("train: data loaded");
      if (limit !== undefined) {
        // Past a split, --limit takes all of it: say so for each split the run uses (the test
        // split only validates without --validation holdout:N, which trains on fewer).
        if (limit > trainSplit.count) {
          console.error(
            `note: --limit ${limit} is more than the ${
              trainSplit.count.toLocaleString("en-US")
            } training samples: ${held === undefined ? "training on" : "using"} all of them`,
          );
        }
        if (held === undefined && limit > testSplit.count) {
          console.error(
            `note: --limit ${limit} is more than the ${
              testSplit.count.toLocaleString("en-US")
            } test samples: validating on all of them`,
          );
        }
        trainSplit = subset(trainSplit, limit);
        testSplit = subset(testSplit, limit);
      }
      if (held !== undefined) {
        if (held >= trainSplit.count) {
          const tenth = Math.max(1, Math.floor(trainSplit.count / 10));
          throw new UserError(
            `--validation holdout:${held} leaves nothing to train on: there are only ` +
              `${trainSplit.count} training sample${trainSplit.count === 1 ? "" : "s"}` +
              (limit === undefined ? "" : " (--limit)"),
            { hint: `Hold out fewer than ${trainSplit.count}, e.g. holdout:${tenth}.` },
          );
        }
        ({ train: trainSplit, validation: testSplit } = holdout(trainSplit, held));
      }
      if (resume && resume.meta.epoch + 1 >= epochs) {
        throw new UserError(
          `The checkpoint has already completed ${resume.meta.epoch + 1} ` +
            `epoch${resume.meta.epoch === 0 ? "" : "s"}`,
          { hint: `Pass --epochs N with N > ${resume.meta.epoch + 1} to train further.` },
        );
      }
      // From here a signal stops the run at its next progress report, with its models settled.
      using signals = catchSignals();
      const existed = await exists(save);
      const backup = await keepBetter(save, { resumed: resumePath });
      let saved = false;
      let results: EpochResult[];
      try {
        signals.check();
        // A bar on stderr while epochs and validations run (on a terminal only); cleared before
        // anything below prints, a signal's line too.
        using progress = await WorkProgress.open();
        results = await train(gpu, {
          model,
          train: trainSplit,
          test: testSplit,
          validation,
          augment,
          epochs,
          batchSize,
          sgd: {
            lr,
            momentum,
            wd,
            clipGradient,
            optimizer,
            ...(adam ? { beta1, beta2, epsilon } : {}),
          },
          schedule,
          seed,
          init,
          frequent,
          metrics,
          limit,
          profile: v.profile === true,
          kernels: kernelMode,
          save,
          onSave: () => {
            saved = true;
            return Promise.resolve();
          },
          dataset,
          resume,
          releaseData: true,
          log: progress.log((line) => {
            console.log(line);
            runLog.push(line);
          }),
          onProgress: (p) => {
            signals.check();
            if (p.phase === "warm-up") progress.status(trainingLabel(p), WARM_UP_DETAIL);
            else progress.update(trainingLabel(p), p);
          },
        });
      } catch (error) {
        if (signals.caught) {
          throw await interruption(signals.caught, {
            save,
            saved,
            existed,
            backup,
            modelDir,
            dataDir,
            epochs,
          });
        }
        // The model the run replaces is not lost with it: put back, or kept beside.
        let kept = false;
        try {
          kept = backup !== undefined && await settleBackup(backup, { save, saved });
        } catch (settling) {
          // The error that stopped the run comes last; a copy left behind is said before it.
          if (!(settling instanceof UserError)) throw settling;
          console.error(`warning: ${settling.message}`);
          console.error(`hint: ${settling.hint}`);
        }
        if (backup && kept) {
          console.error(
            `${replaced(backup)} (validation accuracy ${scored(backup.accuracy, backup)}) ` +
              `is kept as ${backup.path}.`,
          );
        }
        throw error;
      }
      // A signal from here on is heard once the models are settled (finish, whose writes are
      // atomic), and again once the chart is drawn: the program then exits as it would have
      // during training, without the chart if it came before it.
      await finish(results, {
        save,
        modelDir,
        dataDir,
        backup,
        lr,
        limit,
        testSamples: testSplit.count,
        validation,
        dataset,
      });
      if (signals.caught) {
        throw await afterTraining(signals.caught, { save, epochs, plot: v.plot });
      }
      if (v.plot !== undefined) {
        const batchesPerEpoch = Math.ceil(trainSplit.count / batchSize);
        const label = basename(save).replace(/\.safetensors$/, "");
        console.error(await writeRunPlot(v.plot, runLog, { label, batchesPerEpoch }));
      }
      if (signals.caught) throw await afterTraining(signals.caught, { save, epochs });
    } finally {
      gpu.device.destroy();
    }
  },
};
