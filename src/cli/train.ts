/** `mnist train`: train a model on the GPU and log like MXNet's FeedForward. */
import { basename, dirname } from "node:path";
import { choiceOption, intOption, parseCommandArgs } from "./args.ts";
import { type Command, COMMON_HELP, shellWord } from "./command.ts";
import { UserError } from "../errors.ts";
import {
  checkNotInput,
  checkWritable,
  exists,
  formatBytes,
  lockFile,
  removeStaleTemps,
} from "../fs.ts";
import { acquireGpu, DEVICE_CHOICES, type Gpu } from "../gpu/device.ts";
import { ensureDataset } from "../data/download.ts";
import { holdout, loadSplit, type Split, subset } from "../data/dataset.ts";
import {
  backupNameBytes,
  legacyModelDir,
  NAME_MAX,
  previousModelPath,
  resolveDataDir,
  resolveModelDir,
} from "../data/paths.ts";
import { type DatasetName, DATASETS } from "../data/mirrors.ts";
import { checkDigitInput, type Checkpoint, loadCheckpoint } from "../nn/checkpoint.ts";
import { ARCH_HELP, archOption } from "../nn/import.ts";
import { modelPath, trainedModelPath } from "../nn/model_store.ts";
import { MODELS, type ModelSpec } from "../nn/model.ts";
import { checkBatchFits, checkParamsFit } from "../nn/network.ts";
import { OPTIMIZERS } from "../nn/optimizer.ts";
import { KERNEL_MODES, type KernelMode } from "../train/autotune.ts";
import {
  AccuracyNotRecorded,
  stoppedEarlyNote,
  train,
  type TrainProgress,
  type TrainResult,
} from "../train/trainer.ts";
import { WorkProgress } from "../progress.ts";
import { plotFormat, writeRunPlot } from "./plot.ts";
import { mark } from "../trace.ts";
import {
  frequentNote,
  type RunSettings,
  runSettings,
  TRAIN_OPTIONS,
  type TrainValues,
} from "./train_options.ts";
import { trainedOn } from "../train/trained_on.ts";
import {
  afterTraining,
  type Backup,
  catchSignals,
  finish,
  interruption,
  keepBetter,
  replaced,
  sameFile,
  say,
  scored,
  settleBackup,
} from "./train_outcome.ts";

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
  --wd X                 weight decay of the weights, not the biases, as MXNet (default 0)
  --clip X               clip rescaled gradients to ±X (default 0: off)
  --init SCHEME          xavier (default) or uniform:SCALE (MXNet FeedForward's default is
                         uniform:0.01, with its slow first epoch)
  --seed N               seed for initialisation, shuffling and --augment (default 42)
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
  --save-best            save the checkpoint only after an epoch whose validation accuracy beats
                         the best so far (Keras's save_best_only): the file holds the best epoch;
                         a resumed run keeps it (it cannot be turned off there)
  --early-stop N         end the run after N epochs in a row without a better validation
                         accuracy (Keras's EarlyStopping), keeping the best epoch as --save-best
                         does; 0: off (to turn a resumed run's off)
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
                         --beta2, --epsilon, --wd, --clip, schedule, --limit, --frequent,
                         --metric, --validation, --save-best, --early-stop and --dataset carry
                         over unless given here (a schedule option replaces the whole
                         schedule); --epochs is the new total. Its --seed and --init stay (the
                         shuffle and --augment go on from them; the weights are the file's):
                         --init is refused, and so is another --seed, but for a plain file,
                         whose fresh shuffle --seed seeds. A holdout run keeps its --limit and
                         holdout, and a test-validated one takes no holdout: it may have
                         trained on those
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

/**
 * Takes the lock on `save` (see `lockFile`) for this run, or refuses in one line, naming the
 * other run's pid, when another run holds it. Undefined for a path written in place (a device).
 */
async function lockSave(save: string): Promise<Disposable | undefined> {
  const lock = await lockFile(save, { what: "checkpoint" });
  if (lock === undefined || Symbol.dispose in lock) return lock;
  const who = lock.heldBy === undefined ? "" : ` (pid ${lock.heldBy})`;
  throw new UserError(
    `Cannot save to "${save}": another "mnist train"${who} is saving to it now ` +
      `(it holds the lock "${lock.path}")`,
    {
      hint: "Wait for that run to end, or pass --save FILE to save this one elsewhere: two " +
        "runs saving to one file would each replace the other's model.",
    },
  );
}

/**
 * `error` (the save after validation failed) with a hint saying what to do with the weights the
 * checkpoint holds: free the space the rewrite needs, then measure them (`mnist eval`), make
 * them the default (`mnist models --default`), or go on training (`--resume`, when epochs are
 * left).
 */
async function withNextSteps(
  error: AccuracyNotRecorded,
  { modelDir, epochs }: { modelDir: string; epochs: number },
): Promise<UserError> {
  const { save } = error;
  const inModelDir = await sameFile(dirname(save), modelDir);
  const name = shellWord(inModelDir ? basename(save).replace(/\.safetensors$/, "") : save);
  const steps = [
    `"mnist eval --model ${name}" measures its accuracy`,
    `"mnist models --default ${name}" makes it the default model`,
  ];
  if (error.epoch + 1 < epochs) {
    steps.push(`"mnist train --resume ${name} --epochs ${epochs}" goes on training it`);
  }
  const free = error.noSpace
    ? `Free ${formatBytes(error.bytes)} in ${dirname(save)}, then `
    : "Once it can be written, ";
  return new UserError(error.message, {
    hint: `${free}${steps.slice(0, -1).join(", ")} or ${steps.at(-1)}.`,
    cause: error,
  });
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
 * `mnist train`: trains `--model mlp|lenet` on the GPU with `--optimizer` (SGD by default, NAG,
 * Adam or AdamW), printing MXNet FeedForward's log lines on stdout, validating on the validation
 * split (the test split, or `--validation holdout:N`'s held-out training samples) and saving a
 * safetensors checkpoint every epoch (the default model of `eval`, `predict` and `serve` unless
 * it ends at chance).
 * `--resume` continues a checkpoint's run. Bad options, missing data or an unwritable `--save`
 * are `UserError`s.
 */
export const trainCommand: Command = {
  name: "train",
  summary: "train a model (mlp, lenet) on the GPU, logging like MXNet",
  help: HELP,
  async run(args) {
    const { values: v } = parseCommandArgs("train", args, { options: TRAIN_OPTIONS });
    // Validate the options that need no file first, so typos fail fast.
    const device = choiceOption("device", v.device, { choices: DEVICE_CHOICES, fallback: "auto" });
    const epochs = intOption("epochs", v.epochs, { fallback: 10, min: 1 });
    const kernels = choiceOption("kernels", v.kernels, {
      choices: KERNEL_MODES,
      fallback: "auto",
    });
    checkArchOption(v.arch, v.resume);
    const dataDir = resolveDataDir(v["data-dir"]);
    const modelDir = resolveModelDir();
    const { resume, resumePath } = await readResume(v, { dataDir, modelDir });
    const settings = runSettings(v, { resume, resumePath, epochs });
    const { dataset } = settings;
    const model = chooseModel(v.model, resume);
    const save = await chooseSavePath(v.save, {
      resume,
      resumePath,
      model,
      dataset,
      dataDir,
      modelDir,
    });
    // Two runs saving to one file would each replace the other's model, and its backup, and
    // both say they are the default: the second is refused now, before it loads anything.
    using lock = await lockSave(save);
    // What a killed run's save left behind (`<file>.<pid>.<hex>.tmp`) goes, now that no other
    // run writes here.
    if (lock !== undefined) {
      for (const path of [save, previousModelPath(save)]) await removeStaleTemps(path);
    }
    noteOtherDataset(resume, { resumePath, dataset, save });
    await checkPlot(v.plot, resumePath);
    // Timestamps time the log intervals that are read back together, and --profile.
    const gpu = await acquireGpu(device, { timestamps: true });
    mark("train: device");
    try {
      checkBatchFits(model, settings.batchSize, { limits: gpu.device.limits, adapter: gpu.name });
      checkParamsFit(model, { limits: gpu.device.limits, adapter: gpu.name, train: true });
      const splits = await loadRunSplits(dataDir, {
        dataset,
        mirrors: v.mirror,
        limit: settings.limit,
        held: settings.held,
      });
      checkEpochsLeft(resume, epochs);
      const note = frequentNote(settings.frequent, {
        samples: splits.train.count,
        batchSize: settings.batchSize,
      });
      if (note !== undefined) console.error(note);
      await trainAndSettle(gpu, {
        settings,
        model,
        epochs,
        kernels,
        save,
        dataDir,
        modelDir,
        resume,
        resumePath,
        splits,
        plot: v.plot,
        profile: v.profile === true,
      });
    } finally {
      gpu.device.destroy();
    }
  },
};

/**
 * Refuses `--arch` without `--resume`: it says which network a plain file holds, and a fresh
 * run's network is `--model`'s. A bad name is refused as such first.
 */
function checkArchOption(arch: string | undefined, resume: string | undefined): void {
  if (arch === undefined || resume !== undefined) return;
  archOption(arch); // a bad name is refused as such
  throw new UserError("--arch applies to --resume of a plain safetensors file only", {
    hint: `To train ${arch === "lenet" ? "LeNet" : "the MLP"}, pass --model ${arch}; ` +
      "--arch names the network of a PyTorch file that --resume reads.",
  });
}

/**
 * The checkpoint `--resume` names (a path, or a model name in the model directory) and its
 * path, both undefined for a fresh run. A plain safetensors file (a PyTorch state_dict, its
 * network named by `--arch`) resumes as a fresh run from its weights. A model that does not take
 * 28×28 images is refused.
 */
async function readResume(
  v: TrainValues,
  { dataDir, modelDir }: { dataDir: string; modelDir: string },
): Promise<{ resume?: Checkpoint; resumePath?: string }> {
  if (v.resume === undefined) return {};
  const resumePath = await modelPath(v.resume, dataDir, {
    modelDir,
    option: "--resume",
    // `--resume mlp --dataset fashion`: the fashion-mlp that `--dataset fashion` saved.
    ...(v.dataset === undefined ? {} : { dataset: v.dataset }),
  });
  const resume = await loadCheckpoint(resumePath, { arch: archOption(v.arch), option: "--resume" });
  // Both datasets are 28×28 grey images; another input size would train on garbage.
  checkDigitInput(resume, resumePath, { action: "resume from" });
  return { resume, resumePath };
}

/**
 * The network to train: the resumed checkpoint's (a `--model` naming another is refused), else
 * `--model`'s (default mlp), freshly made.
 */
function chooseModel(name: string | undefined, resume: Checkpoint | undefined): ModelSpec {
  if (resume) {
    const model = resume.meta.model;
    if (name !== undefined && name !== model.name) {
      throw new UserError(
        `--model ${name} does not match the checkpoint's model "${model.name}"`,
        { hint: "Leave out --model when resuming." },
      );
    }
    return model;
  }
  const fresh = name ?? "mlp";
  const make = MODELS[fresh];
  if (!make) {
    throw new UserError(`Unknown model "${fresh}"`, {
      hint: `Choose one of: ${Object.keys(MODELS).join(", ")}.`,
    });
  }
  return make();
}

/**
 * Where the run saves its checkpoint: `--save`, else the resumed checkpoint itself, else the
 * model directory's `<model>.safetensors` (`fashion-<model>` for Fashion-MNIST). A resumed file
 * in the legacy model directory, a plain file (PyTorch's) and a checkpoint of the other dataset
 * are never overwritten: those runs save as a fresh one would. The path is checked writable now,
 * not after the first epoch.
 */
async function chooseSavePath(
  saveOption: string | undefined,
  { resume, resumePath, model, dataset, dataDir, modelDir }: {
    resume: Checkpoint | undefined;
    resumePath: string | undefined;
    model: ModelSpec;
    dataset: DatasetName;
    dataDir: string;
    modelDir: string;
  },
): Promise<string> {
  // A run resumed from where older versions kept models saves in the model directory: that
  // one is only read.
  const resumedLegacy = resumePath !== undefined &&
    await sameFile(dirname(resumePath), legacyModelDir(dataDir)) &&
    !await sameFile(legacyModelDir(dataDir), modelDir);
  // Nor is a plain file (PyTorch's) overwritten: the run saves as a fresh one would.
  // Nor is one of another dataset: a Fashion-MNIST run never replaces a digit model.
  const save = saveOption ??
    (resumePath !== undefined && !resumedLegacy && resume?.origin?.from === "metadata" &&
        resume.meta.dataset === dataset
      ? resumePath
      : trainedModelPath(modelDir, model.name, dataset));
  // A checkpoint that cannot be written is found now, not after the first epoch.
  await checkWritable(save, {
    what: "checkpoint",
    ...(saveOption === undefined ? {} : { format: "safetensors", option: "--save" }),
  });
  // Nor may a later run find that it cannot keep the model it replaces (`keepBetter`).
  const longest = backupNameBytes(save);
  if (longest > NAME_MAX) {
    const bytes = new TextEncoder().encode(basename(save)).length;
    throw new UserError(
      `Cannot save to "${save}": its name (${bytes} bytes) leaves no room for its backup ` +
        `"${basename(previousModelPath(save))}" (up to ${longest} bytes with a number, over ` +
        `the ${NAME_MAX} a file name may take)`,
      { hint: `Pass --save FILE with a name of at most ${bytes - (longest - NAME_MAX)} bytes.` },
    );
  }
  return save;
}

/**
 * Says on stderr when the resumed checkpoint was trained on another dataset than this run's. A
 * checkpoint of the other dataset goes on training (fine-tuning from it is a use), but its
 * epochs and optimizer state come along, and its record keeps each dataset's epochs in turn
 * (`TrainingRecord.datasets`).
 */
function noteOtherDataset(
  resume: Checkpoint | undefined,
  { resumePath, dataset, save }: {
    resumePath: string | undefined;
    dataset: DatasetName;
    save: string;
  },
): void {
  if (resume?.origin?.from !== "metadata" || resume.meta.dataset === dataset) return;
  const done = resume.meta.epoch + 1;
  const name = (d: string) => DATASETS[d as DatasetName]?.title ?? d;
  // Each dataset in turn; one that records no epoch (-1) says 0 of its own.
  const parts = trainedOn(resume.meta);
  const was = (parts.length > 0 ? parts : [{ dataset: resume.meta.dataset, epochs: 0 }])
    .map(({ dataset, epochs }) => `${name(dataset)} for ${epochs} epoch${epochs === 1 ? "" : "s"}`)
    .join(", then ");
  say(
    `note: "${resumePath}" was trained on ${was}: this run goes on from its weights and ` +
      `optimizer state on ${name(dataset)}, from Epoch[${done}], and saves to ${save}, whose ` +
      "epoch count will include those, and its training record each dataset's epochs",
  );
}

/**
 * `--plot FILE`, checked before training rather than after it: a known extension, a writable
 * path, and not the checkpoint the run resumes from.
 */
async function checkPlot(plot: string | undefined, resumePath: string | undefined): Promise<void> {
  if (plot === undefined) return;
  plotFormat(plot, "--plot"); // an unknown extension fails now, not after training
  await checkWritable(plot, { what: "chart", option: "--plot" });
  if (resumePath !== undefined) {
    await checkNotInput(plot, [{ path: resumePath, what: "checkpoint" }], {
      what: "chart",
      option: "--plot",
    });
  }
}

/**
 * The run's training and validation splits, downloaded when missing: the first `--limit`
 * samples of each (a note on stderr for each split the run uses that has fewer), then with
 * `--validation holdout:N` the last N training samples as the validation split instead of the
 * test split's. A holdout that leaves nothing to train on is refused.
 */
async function loadRunSplits(
  dataDir: string,
  { dataset, mirrors, limit, held }: {
    dataset: DatasetName;
    mirrors: string[] | undefined;
    limit: number | undefined;
    held: number | undefined;
  },
): Promise<{ train: Split; validation: Split }> {
  await ensureDataset(dataDir, dataset, {
    mirrors,
    log: (line) => console.error(line),
  });
  let [train, validation] = await Promise.all([
    loadSplit(dataDir, { dataset, split: "train" }),
    loadSplit(dataDir, { dataset, split: "test" }),
  ]);
  mark("train: data loaded");
  if (limit !== undefined) {
    // Past a split, --limit takes all of it: say so for each split the run uses (the test
    // split only validates without --validation holdout:N, which trains on fewer).
    if (limit > train.count) {
      console.error(
        `note: --limit ${limit} is more than the ${
          train.count.toLocaleString("en-US")
        } training samples: ${held === undefined ? "training on" : "using"} all of them`,
      );
    }
    if (held === undefined && limit > validation.count) {
      console.error(
        `note: --limit ${limit} is more than the ${
          validation.count.toLocaleString("en-US")
        } test samples: validating on all of them`,
      );
    }
    train = subset(train, limit);
    validation = subset(validation, limit);
  }
  if (held === undefined) return { train, validation };
  if (held >= train.count) {
    const tenth = Math.max(1, Math.floor(train.count / 10));
    throw new UserError(
      `--validation holdout:${held} leaves nothing to train on: there are only ` +
        `${train.count} training sample${train.count === 1 ? "" : "s"}` +
        (limit === undefined ? "" : " (--limit)"),
      {
        hint: train.count < 2
          ? "Train on more samples (a larger --limit), or validate on the test split " +
            "(--validation test)."
          : `Hold out fewer than ${train.count}, e.g. holdout:${tenth}.`,
      },
    );
  }
  return holdout(train, held);
}

/** Refuses to resume a checkpoint that has already trained `epochs` epochs or more. */
function checkEpochsLeft(resume: Checkpoint | undefined, epochs: number): void {
  if (resume && resume.meta.epoch + 1 >= epochs) {
    throw new UserError(
      `The checkpoint has already completed ${resume.meta.epoch + 1} ` +
        `epoch${resume.meta.epoch === 0 ? "" : "s"}`,
      { hint: `Pass --epochs N with N > ${resume.meta.epoch + 1} to train further.` },
    );
  }
}

/** Everything `trainAndSettle` needs, resolved and checked by the steps before it. */
interface RunPlan {
  settings: RunSettings;
  /** The network: the resumed checkpoint's, or `--model`'s. */
  model: ModelSpec;
  /** `--epochs`, in all. */
  epochs: number;
  /** `--kernels`. */
  kernels: KernelMode;
  /** Where the checkpoint is saved (its lock held). */
  save: string;
  dataDir: string;
  modelDir: string;
  /** The checkpoint `--resume` read, and its path. */
  resume: Checkpoint | undefined;
  resumePath: string | undefined;
  /** From `loadRunSplits`. */
  splits: { train: Split; validation: Split };
  /** `--plot FILE`, drawn at the end. */
  plot: string | undefined;
  /** `--profile`. */
  profile: boolean;
}

/**
 * The run itself: trains with MXNet's log lines on stdout and a progress bar on stderr, keeping
 * the model it replaces as a backup while it is the better one (`keepBetter`), then settles the
 * models (`finish`: the default model, the backup) and draws `--plot`. A signal stops the run at
 * its next progress report, with its models settled, and exits as it would have; a failed run
 * puts back or keeps the model it replaced before its error is thrown.
 */
async function trainAndSettle(gpu: Gpu, plan: RunPlan): Promise<void> {
  const { settings, model, epochs, save, modelDir, dataDir, resumePath, plot } = plan;
  const { train: trainSplit, validation: validationSplit } = plan.splits;
  const { lr, limit, validation, dataset, batchSize } = settings;
  /** The run's log lines, for --plot. */
  const runLog: string[] = [];
  // From here a signal stops the run at its next progress report, with its models settled.
  using signals = catchSignals();
  const existed = await exists(save);
  // A resumed run saving over its checkpoint: under --save-best, only an epoch that beats it.
  const savesOverResume = resumePath !== undefined && await sameFile(resumePath, save);
  const backup = await keepBetter(save, { resumed: resumePath, modelDir, dataDir });
  let saved = false;
  let results: TrainResult;
  try {
    signals.check();
    // A bar on stderr while epochs and validations run (on a terminal only); cleared before
    // anything below prints, a signal's line too.
    using progress = await WorkProgress.open();
    results = await train(gpu, {
      model,
      train: trainSplit,
      validationSplit,
      validation,
      augment: settings.augment,
      epochs,
      batchSize,
      optimizer: {
        lr,
        momentum: settings.momentum,
        wd: settings.wd,
        clipGradient: settings.clipGradient,
        optimizer: settings.optimizer,
        ...(settings.adam
          ? { beta1: settings.beta1, beta2: settings.beta2, epsilon: settings.epsilon }
          : {}),
      },
      schedule: settings.schedule,
      saveBest: settings.saveBest,
      ...(settings.earlyStop !== undefined ? { earlyStop: settings.earlyStop } : {}),
      savesOverResume,
      seed: settings.seed,
      init: settings.init,
      frequent: settings.frequent,
      metrics: settings.metrics,
      limit,
      profile: plan.profile,
      kernels: plan.kernels,
      save,
      onSave: () => {
        saved = true;
        return Promise.resolve();
      },
      dataset,
      resume: plan.resume,
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
        beatToSave: savesOverResume && (settings.saveBest || settings.earlyStop !== undefined),
      });
    }
    throw await afterFailure(error, { backup, save, saved, modelDir, epochs });
  }
  const stopped = stoppedEarlyNote(results);
  if (stopped !== undefined) {
    say(stopped);
    // The file holds the best epoch and training is deterministic: resumed as it is, the run
    // would replay the same epochs to the same stop.
    say(
      "note: --resume from it replays the same epochs to the same stop; change a setting " +
        "(--lr, --batch-size) or pass --early-stop 0 to train on",
    );
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
    wd: settings.wd,
    clip: settings.clipGradient,
    validationSamples: validationSplit.count,
    validation,
    dataset,
  });
  if (signals.caught) {
    throw await afterTraining(signals.caught, { save, epochs, plot });
  }
  if (plot !== undefined) {
    const batchesPerEpoch = Math.ceil(trainSplit.count / batchSize);
    const label = basename(save).replace(/\.safetensors$/, "");
    say(await writeRunPlot(plot, runLog, { label, batchesPerEpoch }));
  }
  if (signals.caught) throw await afterTraining(signals.caught, { save, epochs });
}

/**
 * After a run that failed (not by a signal): the model it replaced is not lost with it, but put
 * back or kept beside (`settleBackup`), which is said on stderr; returns the error to throw, with
 * the next steps when the accuracy could not be recorded (`withNextSteps`).
 */
async function afterFailure(
  error: unknown,
  { backup, save, saved, modelDir, epochs }: {
    backup: Backup | undefined;
    save: string;
    saved: boolean;
    modelDir: string;
    epochs: number;
  },
): Promise<unknown> {
  let kept = false;
  try {
    kept = backup !== undefined && await settleBackup(backup, { save, saved });
  } catch (settling) {
    // The error that stopped the run comes last; a copy left behind is said before it.
    if (!(settling instanceof UserError)) throw settling;
    say(`warning: ${settling.message}`);
    say(`hint: ${settling.hint}`);
  }
  if (backup && kept) {
    say(
      `${replaced(backup)} (validation accuracy ${scored(backup.accuracy, backup)}) ` +
        `is kept as ${backup.path}.`,
    );
  }
  if (error instanceof AccuracyNotRecorded) {
    return await withNextSteps(error, { modelDir, epochs });
  }
  return error;
}
