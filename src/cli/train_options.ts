/**
 * `mnist train`'s options: what it accepts, and how each becomes a setting of the run, from the
 * command line or, for a resumed run, from its checkpoint's training record (`runSettings`).
 */
import {
  choiceOption,
  type CommandArgs,
  floatOption,
  intOption,
  isDecimalInteger,
  isDecimalNumber,
  type Options,
} from "./args.ts";
import { UserError } from "../errors.ts";
import { DATASET_NAMES, type DatasetName } from "../data/mirrors.ts";
import { MAX_IDX_VALUES } from "../data/idx.ts";
import { checkClasses, type Checkpoint } from "../nn/checkpoint.ts";
import type { Init } from "../nn/params.ts";
import { ADAM_DEFAULTS, type OptimizerName, OPTIMIZERS } from "../nn/optimizer.ts";
import type { Schedule } from "../train/schedule.ts";
import { type MetricName, parseMetrics } from "../train/metrics.ts";
import type { TrainingRecord } from "../train/trainer.ts";

/** `mnist train`'s own options (`COMMON_OPTIONS` come with them); every value is a string. */
export const TRAIN_OPTIONS = {
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
  "save-best": { type: "boolean" },
  "early-stop": { type: "string" },
  dataset: { type: "string" },
  mirror: { type: "string", multiple: true },
  save: { type: "string" },
  plot: { type: "string" },
  resume: { type: "string" },
  arch: { type: "string" },
  profile: { type: "boolean" },
  kernels: { type: "string" },
} as const satisfies Options;

/** The parsed command line of `mnist train`: each option's text, as given. */
export type TrainValues = CommandArgs<typeof TRAIN_OPTIONS>["values"];

/**
 * A run's settings, each from its option, else (resuming) from the checkpoint's training record,
 * else its default. The optimizer's settings follow MXNet's names (lr, momentum, wd).
 */
export interface RunSettings {
  /** `--dataset`: mnist or fashion. */
  dataset: DatasetName;
  /** `--batch-size`: samples per step. */
  batchSize: number;
  /** `--optimizer`: sgd, nag, adam or adamw. */
  optimizer: OptimizerName;
  /** Whether `optimizer` is adam or adamw: `beta1`, `beta2` and `epsilon` apply. */
  adam: boolean;
  /** `--lr`: the learning rate (before any schedule). */
  lr: number;
  /** `--momentum` (SGD and NAG; 0 for Adam). */
  momentum: number;
  /** `--beta1`: Adam's first-moment decay. */
  beta1: number;
  /** `--beta2`: Adam's second-moment decay. */
  beta2: number;
  /** `--epsilon`: Adam's denominator floor. */
  epsilon: number;
  /** `--wd`: the weight decay. */
  wd: number;
  /** The gradient clip (`--clip`), 0 for none. */
  clipGradient: number;
  /** The learning rate's schedule (`--lr-step-epochs`, `--lr-schedule`). */
  schedule: Schedule;
  /** `--init`: how the weights start. */
  init: Init;
  /** `--seed`: of the initialisation and the shuffle. */
  seed: number;
  /** `--limit`: the first N samples of each split, or undefined for all. */
  limit: number | undefined;
  /** Batches between Speedometer lines (`--frequent`). */
  frequent: number;
  /** `--metric`: what the Speedometer and validation lines report. */
  metrics: MetricName[];
  /** `--validation holdout:N`'s N, or undefined to validate on the test split. */
  held: number | undefined;
  /** "test" or "holdout:N". */
  validation: string;
  /** `--augment`: each training image distorted by a random affine map. */
  augment: boolean;
  /** `--save-best`: the checkpoint is written only after an epoch that improves on the best. */
  saveBest: boolean;
  /** `--early-stop N`'s N (epochs without improvement), or undefined for none (0 on the line). */
  earlyStop: number | undefined;
}

/** A checkpoint's training record, each field as read from its JSON (unchecked). */
type Recorded = Partial<Record<keyof TrainingRecord, unknown>>;

/**
 * A setting's value from its option's text `given`, else from `recorded` (a resumed run's
 * record, in its option's text form: see `text`), checked by `check` either way; `what` names
 * the setting in words.
 */
type Setting = <T>(
  option: string,
  what: string,
  [given, recorded]: [string | undefined, string | undefined],
  check: (text: string | undefined) => T,
) => T;

/**
 * A recorded value in its option's text form: JSON gives a number the form it has on the command
 * line, and anything else ("100", null, [1]) a form the option's check refuses.
 */
function text(value: unknown): string | undefined {
  return value === undefined ? undefined : JSON.stringify(value);
}

/** A recorded `init` in `--init`'s text form ("xavier", "uniform:0.07"), else as `text`. */
function initText(value: unknown): string | undefined {
  const init = value as Partial<{ kind: unknown; scale: unknown }> | null | undefined;
  if (init?.kind === "xavier") return "xavier";
  if (init?.kind === "uniform" && typeof init.scale === "number") return `uniform:${init.scale}`;
  return text(value);
}

/**
 * The `Setting` of a run resumed from `resumePath` (or of a fresh run): each setting comes from
 * its option, else from the record, which must pass the option's own check; a recorded value
 * that fails it is refused, naming the checkpoint.
 */
function settingOf(resumePath: string | undefined): Setting {
  return (option, what, [given, recorded], check) => {
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
}

/**
 * The optimizer and its rates: `--optimizer`, `--lr`, and Adam's `--beta1`, `--beta2`,
 * `--epsilon`. A resumed run that changes optimizer starts from that optimizer's defaults. Adam's
 * options with SGD or NAG, and `--momentum` with Adam, are refused.
 */
function optimizerSettings(
  v: TrainValues,
  { was, setting }: { was: Recorded; setting: Setting },
): Pick<RunSettings, "optimizer" | "adam" | "lr" | "beta1" | "beta2" | "epsilon"> {
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
  return { optimizer, adam, lr, beta1, beta2, epsilon };
}

/**
 * The learning rate's schedule (`--lr-step-epochs`, `--lr-schedule`, else the record's). A step
 * E changes the rate after epoch E: one at or past `epochs` comes only if the run is resumed
 * with more epochs (its checkpoint records the schedule), so it is not refused, as options that
 * could never apply are (--beta1 with sgd, --momentum with adam); a note on stderr says it once.
 */
function scheduleSetting(
  v: TrainValues,
  { was, resumePath, epochs }: { was: Recorded; resumePath?: string; epochs: number },
): Schedule {
  const schedule = parseSchedule(v, was.schedule, resumePath);
  const late = schedule.kind === "multifactor" && v["lr-step-epochs"] !== undefined
    ? schedule.stepEpochs.filter((e) => e >= epochs)
    : [];
  if (late.length > 0) {
    console.error(
      `note: the rate will not change at --lr-step-epochs ${late.join(",")}, at or past ` +
        `--epochs ${epochs}, unless this run is resumed with more epochs`,
    );
  }
  return schedule;
}

/**
 * The note for a `--frequent` larger than an epoch's batches (`--limit 6000` at the default 200:
 * 60 batches), under which the log has no Speedometer line at all and nothing says why: how
 * many batches an epoch has, and a `--frequent` that logs a few lines an epoch. Undefined when a
 * line comes every epoch.
 */
export function frequentNote(
  frequent: number,
  { samples, batchSize }: { samples: number; batchSize: number },
): string | undefined {
  const batches = Math.ceil(samples / batchSize);
  if (frequent <= batches) return undefined;
  const suggested = Math.max(1, Math.floor(batches / 6));
  const lines = Math.floor(batches / suggested);
  const plural = (n: number, word: string, many = `${word}s`) =>
    `${n.toLocaleString("en-US")} ${n === 1 ? word : many}`;
  return `note: an epoch here has ${plural(batches, "batch", "batches")} ` +
    `(${plural(samples, "sample")} in batches of ${batchSize}), fewer than ` +
    `--frequent ${frequent}: no Speedometer line will be printed; --frequent ${batches} or ` +
    `less prints one an epoch (--frequent ${suggested}: ${plural(lines, "line")} an epoch)`;
}

/** `--momentum` (0 with Adam, whatever was recorded), `--wd` and `--clip`. */
function decaySettings(
  v: TrainValues,
  { was, setting, adam }: { was: Recorded; setting: Setting; adam: boolean },
): Pick<RunSettings, "momentum" | "wd" | "clipGradient"> {
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
  return { momentum, wd, clipGradient };
}

/**
 * What a run reads and reports: `--limit`, `--frequent`, `--metric` and `--validation` (the
 * last `held` training samples, after --limit, validate instead of the test split).
 */
function dataSettings(
  v: TrainValues,
  { was, setting }: { was: Recorded; setting: Setting },
): Pick<RunSettings, "limit" | "frequent" | "metrics" | "held" | "validation"> {
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
  const held = setting(
    "validation",
    "validation",
    [v.validation, typeof was.validation === "string" ? was.validation : text(was.validation)],
    parseValidation,
  );
  const validation = held === undefined ? "test" : `holdout:${held}`;
  return { limit, frequent, metrics, held, validation };
}

/**
 * The settings of a run of `epochs` epochs from the command line `v` and, when it resumes,
 * `resume` (the checkpoint read from `resumePath`). A bad option, or a recorded value that its
 * option's check refuses, is a `UserError`; so is a resumed run whose classes are not the
 * dataset's, or whose validation samples the checkpoint may have trained on. Options are
 * checked in the order of `RunSettings`' groups: the first bad one is the one said.
 */
export function runSettings(
  v: TrainValues,
  { resume, resumePath, epochs }: { resume?: Checkpoint; resumePath?: string; epochs: number },
): RunSettings {
  // A resumed run continues with the settings it was started with, unless overridden here.
  const was: Recorded = resume?.meta.training ?? {};
  const setting = settingOf(resumePath);
  const dataset = choiceOption("dataset", v.dataset, {
    choices: DATASET_NAMES,
    fallback: (DATASET_NAMES as readonly string[]).includes(resume?.meta.dataset ?? "")
      ? resume!.meta.dataset as DatasetName
      : "mnist",
  });
  if (resume) checkClasses(resume, resumePath!, { dataset, action: "resume from" });
  if (resume) checkProgress(resumePath!, { epoch: resume.meta.epoch, was });
  const batchSize = setting(
    "batch-size",
    "batch size",
    [v["batch-size"], text(was.batchSize)],
    (t) => intOption("batch-size", t, { fallback: 100, min: 1, max: 65536 }),
  );
  const rates = optimizerSettings(v, { was, setting });
  const schedule = scheduleSetting(v, { was, resumePath, epochs });
  const decay = decaySettings(v, { was, setting, adam: rates.adam });
  const init = setting("init", "init", [v.init, initText(was.init)], parseInit);
  const seed = setting(
    "seed",
    "seed",
    [v.seed, text(was.seed)],
    (t) => intOption("seed", t, { fallback: 42, min: 0, max: 2 ** 32 - 1 }),
  );
  if (resume) checkFixedOnResume(v, resumePath!, { resume, was });
  const data = dataSettings(v, { was, setting });
  const augment = v.augment === true || was.augment === true;
  if (resume?.meta.training !== undefined && resume.meta.dataset === dataset) {
    checkHoldoutKept(resumePath!, { was, limit: data.limit, validation: data.validation });
  }
  const best = bestSettings(v, { was, setting });
  // Said once: a resumed run that changes none of them does not say them again.
  const named = ["optimizer", "momentum", "wd", "lr", "lr-schedule", "final-lr"] as const;
  if (!resume || named.some((name) => v[name] !== undefined)) {
    optimizerNotes(rates, { ...decay, schedule });
  }
  return {
    dataset,
    batchSize,
    ...rates,
    ...decay,
    schedule,
    init,
    seed,
    ...data,
    augment,
    ...best,
  };
}

/**
 * `--save-best` and `--early-stop N` (Keras's ModelCheckpoint(save_best_only=True) and
 * EarlyStopping(patience=N)), else the record's: a resumed run keeps them; `--early-stop 0`
 * turns a recorded one off.
 */
function bestSettings(
  v: TrainValues,
  { was, setting }: { was: Recorded; setting: Setting },
): Pick<RunSettings, "saveBest" | "earlyStop"> {
  const patience = setting(
    "early-stop",
    "early-stop patience",
    [v["early-stop"], text(was.earlyStop)],
    (t) => intOption("early-stop", t, { fallback: 0, min: 0, max: 1_000_000 }),
  );
  return {
    saveBest: v["save-best"] === true || was.saveBest === true,
    earlyStop: patience > 0 ? patience : undefined,
  };
}

/**
 * Notes on stderr for settings that are allowed (MXNet allows them) but seldom what a user
 * means: NAG without momentum (plain SGD; PyTorch refuses it), AdamW without --wd (plain Adam)
 * or with a PyTorch-sized --wd (MXNet's AdamW decays by wd, not lr·wd), and a cosine schedule
 * whose final rate is above --lr (the rate rises).
 */
function optimizerNotes(
  { optimizer, lr }: Pick<RunSettings, "optimizer" | "lr">,
  { momentum, wd, schedule }: Pick<RunSettings, "momentum" | "wd" | "schedule">,
): void {
  if (optimizer === "nag" && momentum === 0) {
    console.error(
      "note: --optimizer nag with --momentum 0 trains as plain SGD: Nesterov's look-ahead " +
        "needs a momentum, e.g. --momentum 0.9",
    );
  }
  if (optimizer === "adamw" && wd === 0) {
    console.error(
      "note: --optimizer adamw with --wd 0 trains as --optimizer adam: give --wd (MXNet's " +
        `AdamW decays each weight by wd, not lr·wd: PyTorch's weight_decay=0.01 at --lr ${lr} ` +
        `is --wd ${+(lr * 0.01).toPrecision(6)})`,
    );
  } else if (optimizer === "adamw" && wd >= 1e-3) {
    console.error(
      `note: --optimizer adamw decays each weight by --wd ${wd} at every update, not by ` +
        `lr·wd as PyTorch's AdamW does: PyTorch's weight_decay=${wd} at --lr ${lr} is ` +
        `--wd ${+(lr * wd).toPrecision(6)}`,
    );
  }
  if (schedule.kind === "cosine" && schedule.finalLr > lr) {
    console.error(
      `note: --final-lr ${schedule.finalLr} is above --lr ${lr}: the cosine schedule raises ` +
        "the rate over the run",
    );
  }
}

/**
 * Refuses the options that a resumed run cannot apply, which it would record as if it had:
 * `--init` (the weights come from the file), and `--seed` of an mnist checkpoint (its shuffle
 * goes on from the state it saved, and --augment's distortions follow the recorded seed, so a
 * new one would make the run neither the one recorded nor a fresh one). A plain file (PyTorch's
 * weights) starts a fresh shuffle, which `--seed` seeds. The recorded seed, given again, passes.
 */
function checkFixedOnResume(
  v: TrainValues,
  resumePath: string,
  { resume, was }: { resume: Checkpoint; was: Recorded },
): void {
  const checkpoint = resume.origin?.from === "metadata";
  if (v.init !== undefined) {
    throw new UserError(
      `--init does not apply to --resume: the weights come from "${resumePath}"`,
      {
        hint: checkpoint
          ? "Leave out --init; start a new run (without --resume) to draw fresh weights."
          : "Leave out --init; train without --resume to draw fresh weights.",
      },
    );
  }
  if (!checkpoint || v.seed === undefined || was.seed === undefined) return;
  if (isDecimalInteger(v.seed) && Number(v.seed) === was.seed) return;
  throw new UserError(
    `--seed ${v.seed} does not apply to --resume: "${resumePath}" goes on with its run's ` +
      `seed ${JSON.stringify(was.seed)} (its shuffle from the state it saved, --augment's ` +
      `distortions from that seed)`,
    { hint: "Leave out --seed, or start a new run with it." },
  );
}

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
  // MXNet's MultiFactorScheduler refuses a factor above 1 ("Factor must be no more than 1 to
  // make lr reduce").
  if (factor > 1) {
    throw new UserError(`--lr-factor must be <= 1 (it lowers the rate), got ${v["lr-factor"]}`, {
      hint: "A rate that rises is not a step schedule: start from a higher --lr instead.",
    });
  }
  return { kind: "multifactor", factor, stepEpochs };
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
 * The most batches an epoch can have: the largest training split an IDX file may hold
 * (`MAX_IDX_VALUES` bytes of 28×28 images, 2,739,137 of them) at batch size 1.
 */
const MAX_BATCHES_PER_EPOCH = Math.floor(MAX_IDX_VALUES / (28 * 28));

/**
 * Refuses a training record whose counts of updates (`updates`, `stateFrom`) no run could have
 * written, which `train()` would otherwise compute the rate and Adam's step from: each
 * completed epoch (`epoch` + 1 of them) made at least 1 and at most `MAX_BATCHES_PER_EPOCH`
 * updates, and the optimizer's state began before the last of them. Throws a `UserError`
 * naming `resumePath` and the field.
 */
function checkProgress(
  resumePath: string,
  { epoch, was }: { epoch: number; was: Recorded },
): void {
  const epochs = epoch + 1;
  const refuse = (field: string, value: unknown, rule: string) => {
    const text = JSON.stringify(value) ?? String(value);
    const shown = text.length > 40 ? `${text.slice(0, 37)}...` : text;
    return new UserError(
      `Cannot resume from "${resumePath}": its training record has ${field} ${shown}; ${rule}`,
      { hint: "The record is damaged: resume from another checkpoint, or start a new run." },
    );
  };
  const integerIn = (value: unknown, min: number, max: number) =>
    typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max;
  const most = epochs * MAX_BATCHES_PER_EPOCH;
  if (was.updates !== undefined && !integerIn(was.updates, epochs, most)) {
    throw refuse(
      "updates",
      was.updates,
      `it must be an integer from ${epochs} to ${most} (1 to ${MAX_BATCHES_PER_EPOCH} ` +
        (epochs === 1 ? "for the epoch it completed)" : `for each of the ${epochs} it completed)`),
    );
  }
  const before = typeof was.updates === "number" ? was.updates - 1 : most - 1;
  if (was.stateFrom !== undefined && !integerIn(was.stateFrom, 0, before)) {
    throw refuse(
      "stateFrom",
      was.stateFrom,
      `it must be an integer from 0 to ${before}, an update before the checkpoint's last`,
    );
  }
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
    was: Recorded;
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
