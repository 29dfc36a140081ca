/**
 * What a run of `mnist train` leaves behind, and what a signal does to it: the checkpoint it
 * saved, the model it replaced (kept as `<name>.prev.safetensors` while it is the better one,
 * compared only on the same samples), the default model of eval, predict and serve, and the
 * warning for a run that learned nothing. Paths are compared as the files they name.
 */
import { basename, dirname, join, resolve } from "node:path";
import { printable, UserError } from "../errors.ts";
import { shellWord } from "./command.ts";
import { exists, fsReason, tempPath } from "../fs.ts";
import { defaultModelPointer, previousModelPath } from "../data/paths.ts";
import {
  canBeDefault,
  type CheckpointInfo,
  findDefaultModel,
  readCheckpointInfo,
  setDefaultModel,
} from "../nn/model_store.ts";
import type { EpochResult, TrainResult } from "../train/trainer.ts";

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
export async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([canonical(a), canonical(b)]);
  return x === y;
}

/**
 * Writes `line` to stderr as one line: a path in it holding a line break or an escape is shown
 * escaped (`printable`), as the error lines show it.
 */
export function say(line: string): void {
  console.error(printable(line));
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
export function scored(
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
 * "2 of 4 epochs, the log's Epoch[0] and Epoch[1]": the count from 1, and the log's numbering
 * from 0 (MXNet's), so that neither reads as the other.
 */
function epochsHeld(held: number, total: number): string {
  const last = held === 1
    ? "the log's Epoch[0]"
    : held === 2
    ? "the log's Epoch[0] and Epoch[1]"
    : `the log's Epoch[0] to Epoch[${held - 1}]`;
  return `${held} of ${total} epoch${total === 1 ? "" : "s"}${held < 1 ? "" : `, ${last}`}`;
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

/** Under this validation accuracy a run has learned nothing (chance is 10%, one class in ten). */
const CHANCE_ACCURACY = 0.2;
/** Over this share of the predictions for one class, a run has learned nothing, at any accuracy. */
const PILED_SHARE = 0.9;
/**
 * Over this share of the predictions (a majority), the warning names the class they pile on;
 * under it the predictions are spread and no class stands for the failure.
 */
const NAMED_SHARE = 0.5;
/**
 * A `--limit` under this many digits is suggested to grow: at the tutorial's rate, one epoch of
 * the MLP reached 64% on 2,000 digits, 80% on 6,000 and 85% on 10,000, so a small subset can leave
 * a short run near chance, where from 10,000 digits on (the test split's size, a sixth of the
 * training split's) more data is not what a run at chance lacks.
 */
const SMALL_LIMIT = 10_000;
/**
 * A `--wd` that this large is named in the hint of a run that did not learn: it shrinks every
 * weight by that share at each update (MXNet's examples use 1e-4 to 5e-4).
 */
const LARGE_WD = 0.01;
/**
 * A `--clip` under this is named in the hint of a run that did not learn: gradients are
 * rescaled by 1/batch before the clip, so a tiny clip stops almost every update.
 */
const SMALL_CLIP = 1e-3;

/**
 * Whether a run's last epoch shows a model that has learned nothing: a validation accuracy under
 * `CHANCE_ACCURACY` (20%), or one class taking more than `PILED_SHARE` (90%) of the predictions,
 * whatever the accuracy. Returns the warning to print, with the settings to try (a smaller
 * `--wd` from `LARGE_WD` up, a larger `--clip` under `SMALL_CLIP`, the tutorial's `--lr 0.1`,
 * more digits than a `--limit` under `SMALL_LIMIT`, more epochs), or undefined for a
 * run that learned, or one validated on fewer than `MIN_JUDGED_SAMPLES` samples (too few to tell).
 */
export function runWarning(
  result: Pick<EpochResult, "validationAccuracy" | "predictedCounts">,
  run: { lr: number; limit?: number; wd?: number; clip?: number },
): RunWarning | undefined {
  const counts = result.predictedCounts;
  const total = counts.reduce((a, b) => a + b, 0);
  const top = counts.reduce((best, c, k) => c > counts[best]! ? k : best, 0);
  const share = total > 0 ? counts[top]! / total : 0;
  const accuracy = result.validationAccuracy;
  if (total < MIN_JUDGED_SAMPLES) return undefined;
  if (accuracy >= CHANCE_ACCURACY && share <= PILED_SHARE) return undefined;
  const piled = share > NAMED_SHARE
    ? `: the model predicts ${top} for ${Math.round(share * 100)}% of the digits`
    : "";
  const tries: string[] = [];
  // Settings that hold a model back whatever the rate: first, as the likelier cause.
  if ((run.wd ?? 0) >= LARGE_WD) tries.push(`a smaller --wd than ${run.wd} (or none)`);
  if ((run.clip ?? 0) > 0 && run.clip! < SMALL_CLIP) {
    tries.push(`a larger --clip than ${run.clip} (or none)`);
  }
  if (run.lr !== TUTORIAL_LR) tries.push(`the tutorial's learning rate (--lr ${TUTORIAL_LR})`);
  if (run.limit !== undefined && run.limit < SMALL_LIMIT) {
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

/**
 * The default model, for a run that has saved and is about to set it: a pointer that cannot be
 * read (a FIFO, several lines, binary: `findDefaultModel`'s refusals) must not fail a run whose
 * checkpoint is written, so it counts as none, with a warning, and the run writes a new one.
 */
async function defaultOrNone(
  dataDir: string,
  modelDir: string,
): Promise<Awaited<ReturnType<typeof findDefaultModel>>> {
  try {
    return await findDefaultModel(dataDir, { modelDir });
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    console.error(`warning: ${printable(error.message)}; it is taken as no default model`);
    return undefined;
  }
}

/** What a readable checkpoint with a recorded accuracy says it was measured on. */
function measured(info: CheckpointInfo & { accuracy: number }): Measured {
  const { accuracy, testSamples, validation, dataset, limit } = info;
  return { accuracy, testSamples, validation, dataset, limit };
}

/** The model a run replaces, kept at `<name>.prev.safetensors` while it is the better one. */
export interface Backup extends Measured {
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
 * is lost, as a line says; so is a worse one there that is the default model (chosen with
 * `mnist models --default`), and the default follows it. The copy is made before the first save,
 * so an interrupted run leaves the old model at .prev, as the line printed here says.
 */
export async function keepBetter(
  save: string,
  { resumed, modelDir, dataDir }: { resumed?: string; modelDir: string; dataDir: string },
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
    const current = await defaultOrNone(dataDir, modelDir);
    const isDefault = current !== undefined && await sameFile(current.path, path);
    if (why === undefined && prev.accuracy >= old.accuracy) return kept;
    if (why !== undefined || isDefault) {
      // Neither may be lost: the earlier model moves aside (the default pointer with it), and
      // the one replaced takes .prev.
      const aside = await moveAside(path);
      if (isDefault) await setDefaultModel(modelDir, aside);
      say(
        `Moved the earlier ${basename(path)} (validation accuracy ` +
          `${scored(kept.accuracy, kept)}) to ${aside}` +
          (why !== undefined
            ? `: it cannot be compared with the ${basename(save)} this run ${from} (${why})`
            : ": it is the default model, which stays the default there") +
          (why !== undefined && isDefault ? "; it stays the default model there" : "") + ".",
      );
    }
  }
  // tempPath's name fits beside a long one, and a killed copy's is removed at the next start.
  const tmp = tempPath(path);
  try {
    await Deno.copyFile(save, tmp);
    await keepTimes(save, tmp);
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
  say(
    `Keeping the ${basename(save)} this run ${from} (validation accuracy ` +
      `${scored(old.accuracy, old)}) as ${path} until the run ends.`,
  );
  return { path, ...replacing, copied: true };
}

/**
 * Gives `copy` the access and modification times of `original`, so that the copy of a replaced
 * model still says when its training saved it (`mnist models`' SAVED column reads the
 * modification time), not when this run copied it. Best effort: a file system that keeps no
 * times, or refuses to set them, leaves the copy's own, which only that column shows.
 */
async function keepTimes(original: string, copy: string): Promise<void> {
  try {
    const { atime, mtime } = await Deno.stat(original);
    if (mtime !== null) await Deno.utime(copy, atime ?? mtime, mtime);
  } catch {
    // The copy itself is whole; only its date is off.
  }
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
export async function settleBackup(
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
export function replaced(backup: Backup): string {
  return backup.copied ? "The model this run replaced" : "The model an earlier run replaced";
}

/** SIGINT or SIGTERM, caught while a run trains, and the exit status it ends the program with. */
export interface Caught {
  /** Which signal. */
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
export function catchSignals(): { caught?: Caught; check(): void } & Disposable {
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
export async function interruption(caught: Caught, options: {
  /** Where the run saves its checkpoint. */
  save: string;
  /** Whether the run wrote a checkpoint to `save`. */
  saved: boolean;
  /** Whether `save` existed before the run. */
  existed: boolean;
  /** The copy `keepBetter` made of the model the run replaces, if any. */
  backup?: Backup;
  /** The model directory, where the default model's pointer lives. */
  modelDir: string;
  /** The data directory (where older versions kept models). */
  dataDir: string;
  /** The run's --epochs. */
  epochs: number;
  /**
   * `--save-best` (or `--early-stop`) on a run resumed from `save`: only an epoch that beats its
   * recorded accuracy writes it.
   */
  beatToSave?: boolean;
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
  if (!saved && options.beatToSave) {
    // Epochs may have run and been validated: none beat the file, which is as it was.
    parts.push(
      `Interrupted by ${caught.name} before an epoch beat the validation accuracy of ${save}: ` +
        "it is unchanged",
    );
    const name = await modelArg(save, modelDir);
    hint = `Continue with "mnist train --resume ${name} --epochs ${options.epochs}".`;
  } else if (!saved) {
    parts.push(
      `Interrupted by ${caught.name} before its first checkpoint: ` +
        (options.existed ? `${save} is unchanged` : "nothing was saved"),
    );
  } else {
    parts.push(`Interrupted by ${caught.name}`);
    const now = await readCheckpointInfo(save);
    const epochs = now.epochs ?? 0;
    parts.push(
      `${save} holds ${epochsHeld(epochs, options.epochs)}` +
        (now.accuracy === undefined
          ? " (not yet validated)"
          : ` (validation accuracy ${scored(now.accuracy, now)})`),
    );
    if (backup && kept) {
      const current = await defaultOrNone(options.dataDir, modelDir);
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
    } else if (now.problem === undefined) {
      // Every epoch is trained (the signal came during the last one's save or validation):
      // nothing is left to resume, and the run did not decide the default.
      const name = await modelArg(save, modelDir);
      hint =
        (now.accuracy === undefined ? `"mnist eval --model ${name}" measures its accuracy; ` : "") +
        `"mnist models --default ${name}" makes it the default model.`;
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
export async function afterTraining(
  caught: Caught,
  { save, epochs, plot }: {
    /** Where the run saved its checkpoint. */
    save: string;
    /** The run's --epochs. */
    epochs: number;
    /** The chart the run was to draw (--plot). */
    plot?: string;
  },
): Promise<UserError> {
  const now = await readCheckpointInfo(save);
  const held = now.epochs === undefined ? "" : `: ${save} holds ${epochsHeld(now.epochs, epochs)}` +
    (now.accuracy === undefined ? "" : ` (validation accuracy ${scored(now.accuracy, now)})`);
  return new UserError(
    `Interrupted by ${caught.name} after the last epoch${held}` +
      (plot === undefined ? "" : `; the chart ${plot} was not drawn`),
    { exitCode: caught.exitCode },
  );
}

/** A `UserError` said as a warning and its hint on stderr; any other error is thrown. */
function sayProblem(error: unknown): void {
  if (!(error instanceof UserError)) throw error;
  say(`warning: ${error.message}`);
  if (error.hint) say(`hint: ${error.hint}`);
}

/**
 * After a run that completed, judged by the epoch its checkpoint holds (the last, or under
 * --save-best the best; a resumed run none of whose epochs beat its checkpoint is said and
 * left as it was): warns when it did not learn, decides the default model (see
 * `nextDefault`), keeps or removes the backup of the model it replaced (compared only when both
 * were measured on the same samples: `notComparable`), and says on stderr which checkpoint is
 * the default. Standard output is left to MXNet's lines.
 */
export async function finish(
  results: TrainResult,
  options: {
    save: string;
    modelDir: string;
    dataDir: string;
    backup?: Backup;
    lr: number;
    limit?: number;
    /** `--wd` and `--clip`, for the hint of a run that did not learn (default 0: none). */
    wd?: number;
    clip?: number;
    /** How many samples each epoch was validated on. */
    validationSamples: number;
    /** "test", or "holdout:N" when those were held-out training samples. */
    validation: string;
    /** The dataset trained on. */
    dataset: string;
  },
): Promise<void> {
  const { save, modelDir, backup } = options;
  // What the accuracy was measured on, under the checkpoint's name for it.
  const on = { ...options, testSamples: options.validationSamples };
  // The epoch the checkpoint holds: the last, or under --save-best the best one.
  const { best } = results;
  const last = best === undefined ? results.at(-1) : results.find((r) => r.epoch === best.epoch);
  if (best !== undefined && last === undefined) {
    // No epoch beat the checkpoint this run resumed from and saves over: it is as it was, and
    // the copy of it made for this run is not needed.
    if (backup?.copied) await removeBackup(backup.path).catch(sayProblem);
    say(
      `No epoch of this run beat the validation accuracy of ${save} ` +
        `(${scored(best.accuracy, on)}, Epoch[${best.epoch}]): it is unchanged.`,
    );
    return;
  }
  if (last === undefined) return;
  if (best !== undefined && results.stoppedEarly === undefined && last !== results.at(-1)) {
    say(
      `${basename(save)} holds Epoch[${best.epoch}], the best of this run (validation accuracy ` +
        `${scored(best.accuracy, on)}): the epochs after it did not beat it.`,
    );
  }
  const warning = runWarning(last, options);
  if (warning) {
    say(`warning: ${warning.message}`);
    say(`hint: ${warning.hint}`);
  }
  const validated = last.predictedCounts.reduce((a, b) => a + b, 0);
  if (validated < MIN_JUDGED_SAMPLES) {
    say(
      `note: ${validationSamples(validated, options)} ${validated === 1 ? "is" : "are"} too ` +
        `few to tell whether this run ` +
        `learned (that takes ${MIN_JUDGED_SAMPLES}): it is treated as a run that did`,
    );
  }
  const current = await defaultOrNone(options.dataDir, modelDir);
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
  // Nor does a path the pointer's one line cannot hold (a line break in a --save elsewhere):
  // the run is saved and said so, but the default stays where it is.
  const pointable = regular && await canBeDefault(modelDir, save);
  if (regular && !pointable) {
    say(
      `note: ${save} cannot be the default model: its path holds control characters or ` +
        "spaces at its end, which the default's one-line pointer cannot; move it to a path " +
        'without them to use it as the default ("mnist models --default PATH")',
    );
  }
  const nextFile = !pointable ? undefined : nextDefault({
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
  const run: Measured = { accuracy: last.validationAccuracy, ...on };
  const accuracy = scored(last.validationAccuracy, on);
  // What became of the model the run replaced, when it is kept: said with the default.
  let kept: string | undefined;
  if (backup) {
    const old = scored(backup.accuracy, backup);
    const why = notComparable(run, backup);
    if (why === undefined && last.validationAccuracy >= backup.accuracy && after !== backupFile) {
      try {
        await removeBackup(backup.path);
        say(
          `Removed ${backup.path}: ${replaced(backup).toLowerCase()} (${old}) is not better ` +
            `than this run (${accuracy}).`,
        );
      } catch (error) {
        // The run's models are settled: what is left is a file to remove by hand.
        sayProblem(error);
      }
    } else {
      kept = `${replaced(backup).toLowerCase()} (${old}) is kept as ${backup.path}` +
        (why === undefined ? "" : `, not compared: ${why}`);
      // Made the default, the run says so in the same line, with how to go back.
      if (next !== savePath) {
        say(
          `${basename(save)} now holds this run (validation accuracy ${accuracy}); ${kept}.`,
        );
      }
    }
  }
  // The default this run took over from another file (lenet, for an MLP run): named, with the
  // command that restores it, since neither the backup nor this run's file is that one.
  const was = next === savePath && currentFile !== saveFile && currentFile !== backupFile &&
      currentInfo?.problem === undefined && currentPath !== undefined
    ? `the default was ${await modelArg(currentPath, modelDir)} (` +
      (currentInfo?.accuracy === undefined
        ? "no recorded validation accuracy"
        : `validation accuracy ${scored(currentInfo.accuracy, currentInfo)}`) +
      `): "mnist models --default ${await modelArg(currentPath, modelDir)}" makes it the ` +
      "default again"
    : undefined;
  if (next === savePath && kept !== undefined) {
    const back = `"mnist models --default ${await modelArg(backup!.path, modelDir)}"`;
    say(
      `Default model is now "${savePath}" (this run, validation accuracy ${accuracy}); ` +
        (was === undefined
          ? `${kept}; ${back} makes that one the default again.`
          : `${was}; ${kept} (${back} makes it the default).`),
    );
  } else if (next === savePath && was !== undefined) {
    say(`Default model is now "${savePath}" (this run, validation accuracy ${accuracy}); ${was}.`);
  } else if (next === savePath) {
    say(`Default model is now "${savePath}".`);
  } else if (next !== undefined) {
    say(`Default model is now "${next}", ${replaced(backup!).toLowerCase()}.`);
  } else if (currentPath === undefined) {
    say(`No default model: this run is not made the default.`);
  } else if (currentFile === saveFile) {
    // The default's file now holds a run that did not learn, and no better model was kept.
    await Deno.remove(defaultModelPointer(modelDir)).catch(() => {});
    say(
      `No default model now: "${savePath}" holds this run, which has not learned; choose one ` +
        `with "mnist models --default NAME".`,
    );
  } else if (warning === undefined && pointable) {
    say(
      `Default model unchanged: "${currentPath}"` +
        (nextDefaultOther(currentInfo, options.dataset)) +
        `; make this run the default with "mnist models --default ${save}".`,
    );
  } else {
    say(`Default model unchanged: "${currentPath}".`);
  }
}

/**
 * How `mnist models --default` names the checkpoint at `path`, as a shell word: the name
 * `mnist models` lists (`mlp.prev`) when it is in the model directory, else its path, quoted
 * when the shell would split or expand it.
 */
async function modelArg(path: string, modelDir: string): Promise<string> {
  const word = await sameFile(dirname(path), modelDir)
    ? basename(path).replace(/\.safetensors$/, "")
    : path;
  return shellWord(word);
}

/** " (a digit model)" when the default was trained on another dataset than the run. */
function nextDefaultOther(current: CheckpointInfo | undefined, dataset: string): string {
  if (current?.dataset === undefined || current.dataset === dataset) return "";
  return current.dataset === "mnist" ? " (a digit model)" : ` (a ${current.dataset} model)`;
}
