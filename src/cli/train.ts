/** `mnist train`: train a model on the GPU and log like MXNet's FeedForward. */
import { choiceOption, floatOption, intOption, parseCommandArgs } from "./args.ts";
import { type Command, COMMON_HELP } from "./command.ts";
import { UserError } from "../errors.ts";
import { checkWritable } from "../fs.ts";
import { acquireGpu, DEVICE_CHOICES } from "../gpu/device.ts";
import { ensureDataset } from "../data/download.ts";
import { loadSplit, subset } from "../data/dataset.ts";
import { DATASET_NAMES, type DatasetName } from "../data/mirrors.ts";
import { defaultModelPath, resolveDataDir } from "../data/paths.ts";
import { loadCheckpoint } from "../nn/checkpoint.ts";
import { modelPath, rememberModel } from "../nn/last_model.ts";
import { MODELS } from "../nn/model.ts";
import { checkBatchFits } from "../nn/network.ts";
import type { Init } from "../nn/params.ts";
import { KERNEL_MODES } from "../train/autotune.ts";
import { train, type TrainingRecord } from "../train/trainer.ts";

const HELP = `Usage: mnist train [options]

Trains a network on MNIST with SGD on the GPU, printing MXNet's FeedForward log lines, scoring
the 10,000 test digits after every epoch and saving a checkpoint (safetensors) every epoch.

Options:
  --model NAME           ${Object.keys(MODELS).join(" | ")} (default mlp)
  --epochs N             epochs in all (default 10)
  --batch-size N         samples per batch (default 100)
  --lr X                 learning rate (default 0.1)
  --momentum X           SGD momentum (default 0)
  --wd X                 weight decay (default 0)
  --clip X               clip rescaled gradients to ±X (default 0: off)
  --init SCHEME          xavier (default) or uniform:SCALE (MXNet FeedForward's default is
                         uniform:0.01, with its slow first epoch)
  --seed N               seed for initialisation and shuffling (default 42)
  --frequent N           log every N batches (default 200)
  --limit N              use only the first N training and test samples (quick runs)
  --dataset NAME         mnist (default) or fashion
  --mirror URL           where to download missing data from (repeatable)
  --save FILE            checkpoint path (default <data dir>/models/<model>.safetensors)
  --kernels MODE         auto (default): on a GPU, time the simple and the tuned kernels of
                         each layer before training and keep the faster; tuned: the adapter's
                         tuned kernels untimed; simple: the reference kernels everywhere
  --profile              after training, print the GPU time of each kernel of a step and
                         the per-layer timings of --kernels auto (timestamp queries)
  --resume FILE|NAME     continue a run from its checkpoint (weights, momentum, epoch, shuffle),
                         or from the one "mnist train --model NAME" saved (mlp, lenet);
                         its settings (lr, momentum, batch size...) apply unless given here
${COMMON_HELP}

Examples:
  mnist train
  mnist train --model mlp --epochs 10 --batch-size 100 --lr 0.1
  mnist train --epochs 1 --limit 6000 --device cpu
  mnist train --resume mlp --epochs 20`;

function parseInit(value: string | undefined): Init {
  if (value === undefined || value === "xavier") return { kind: "xavier" };
  const match = /^uniform:(.+)$/.exec(value);
  const scale = match ? Number(match[1]) : NaN;
  if (!match || !Number.isFinite(scale) || scale <= 0) {
    throw new UserError(`--init must be xavier or uniform:SCALE (SCALE > 0), got "${value}"`);
  }
  return { kind: "uniform", scale };
}

export const trainCommand: Command = {
  name: "train",
  summary: "train a model (mlp, lenet) with SGD, logging like MXNet",
  help: HELP,
  async run(args) {
    const { values: v } = parseCommandArgs("train", args, {
      model: { type: "string" },
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      lr: { type: "string" },
      momentum: { type: "string" },
      wd: { type: "string" },
      clip: { type: "string" },
      init: { type: "string" },
      seed: { type: "string" },
      frequent: { type: "string" },
      limit: { type: "string" },
      dataset: { type: "string" },
      mirror: { type: "string", multiple: true },
      save: { type: "string" },
      resume: { type: "string" },
      profile: { type: "boolean" },
      kernels: { type: "string" },
    });
    const modelNames = Object.keys(MODELS);
    // Validate the options that need no file first, so typos fail fast.
    const device = choiceOption("device", v.device, DEVICE_CHOICES, "auto");
    const epochs = intOption("epochs", v.epochs, 10, { min: 1 });
    const frequent = intOption("frequent", v.frequent, 200, { min: 1 });
    const kernelMode = choiceOption("kernels", v.kernels, KERNEL_MODES, "auto");
    const dataDir = resolveDataDir(v["data-dir"]);
    const resumePath = v.resume === undefined ? undefined : await modelPath(v.resume, dataDir);
    const resume = resumePath === undefined ? undefined : await loadCheckpoint(resumePath);
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
    const dataset = choiceOption(
      "dataset",
      v.dataset,
      DATASET_NAMES,
      (DATASET_NAMES as readonly string[]).includes(resume?.meta.dataset ?? "")
        ? resume!.meta.dataset as DatasetName
        : "mnist",
    );
    const batchSize = setting(
      "batch-size",
      "batch size",
      [v["batch-size"], text(was.batchSize)],
      (t) => intOption("batch-size", t, 100, { min: 1, max: 65536 }),
    );
    const lr = setting(
      "lr",
      "learning rate",
      [v.lr, text(was.lr)],
      (t) => floatOption("lr", t, 0.1, { min: 0, exclusiveMin: true }),
    );
    const momentum = setting("momentum", "momentum", [v.momentum, text(was.momentum)], (t) => {
      const m = floatOption("momentum", t, 0, { min: 0 });
      if (m >= 1) throw new UserError(`--momentum must be < 1, got ${t}`);
      return m;
    });
    const wd = setting(
      "wd",
      "weight decay",
      [v.wd, text(was.wd)],
      (t) => floatOption("wd", t, 0, { min: 0 }),
    );
    const clipGradient = setting(
      "clip",
      "gradient clip",
      [v.clip, text(was.clipGradient)],
      (t) => floatOption("clip", t, 0, { min: 0 }),
    );
    const init = setting("init", "init", [v.init, initText(was.init)], parseInit);
    const seed = setting(
      "seed",
      "seed",
      [v.seed, text(was.seed)],
      (t) => intOption("seed", t, 42, { min: 0, max: 2 ** 32 - 1 }),
    );
    const limit = setting(
      "limit",
      "limit",
      [v.limit, text(was.limit)],
      (t) => t === undefined ? undefined : intOption("limit", t, 0, { min: 1 }),
    );

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
    const save = v.save ?? resumePath ?? defaultModelPath(dataDir, model.name);
    // A checkpoint that cannot be written is found now, not after the first epoch.
    await checkWritable(save, { what: "checkpoint" });
    // Timestamps time the log intervals that are read back together, and --profile.
    const gpu = await acquireGpu(device, { timestamps: true });
    try {
      checkBatchFits(model, batchSize, { limits: gpu.device.limits, adapter: gpu.name });
      await ensureDataset(dataDir, dataset, {
        mirrors: v.mirror,
        log: (line) => console.error(line),
      });
      let [trainSplit, testSplit] = await Promise.all([
        loadSplit(dataDir, dataset, "train"),
        loadSplit(dataDir, dataset, "test"),
      ]);
      if (limit !== undefined) {
        trainSplit = subset(trainSplit, limit);
        testSplit = subset(testSplit, limit);
      }
      if (resume && resume.meta.epoch + 1 >= epochs) {
        throw new UserError(
          `The checkpoint has already completed ${resume.meta.epoch + 1} epochs`,
          { hint: `Pass --epochs N with N > ${resume.meta.epoch + 1} to train further.` },
        );
      }
      await train(gpu, {
        model,
        train: trainSplit,
        test: testSplit,
        epochs,
        batchSize,
        sgd: { lr, momentum, wd, clipGradient },
        seed,
        init,
        frequent,
        limit,
        profile: v.profile === true,
        kernels: kernelMode,
        save,
        onSave: (path) => rememberModel(dataDir, path),
        dataset,
        resume,
        log: (line) => console.log(line),
      });
    } finally {
      gpu.device.destroy();
    }
  },
};
