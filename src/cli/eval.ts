/** `mnist eval`: score a trained model on the 10,000 test digits. */
import { choiceOption, intOption, parseCommandArgs } from "./args.ts";
import { type Command, COMMON_HELP } from "./command.ts";
import { acquireGpu, DEVICE_CHOICES } from "../gpu/device.ts";
import { KernelCache } from "../gpu/kernel.ts";
import { ensureDataset } from "../data/download.ts";
import { loadSplit, subset } from "../data/dataset.ts";
import { DATASET_NAMES, type DatasetName, DATASETS } from "../data/mirrors.ts";
import { resolveDataDir } from "../data/paths.ts";
import { loadCheckpoint } from "../nn/checkpoint.ts";
import { lastModel } from "../nn/last_model.ts";
import { Network } from "../nn/network.ts";
import { ParamStore } from "../nn/params.ts";
import { Evaluator } from "../train/evaluate.ts";

const HELP = `Usage: mnist eval [--model FILE] [--json] [options]

Scores a trained model on the test set: the accuracy (the figure the last training epoch
logged), a confusion matrix and each class's accuracy.

Options:
  --model FILE           checkpoint (default: the one "mnist train" saved last)
  --json                 print the results as JSON
  --batch-size N         samples per forward pass (default 1000)
  --limit N              score only the first N test samples
  --dataset NAME         mnist or fashion (default: the one the model was trained on)
  --mirror URL           where to download missing data from (repeatable)
${COMMON_HELP}

Examples:
  mnist eval
  mnist eval --model ~/.cache/mnist/models/mlp.safetensors --json`;

/** Accuracy, confusion matrix and per-class accuracy from labels and predictions. */
export function score(labels: ArrayLike<number>, predictions: ArrayLike<number>, classes: number) {
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

/** Renders the confusion matrix and per-class accuracy as the text `mnist eval` prints. */
export function formatScore(result: ReturnType<typeof score>, names: string[]): string {
  const lines = [
    `Validation accuracy: ${
      (result.accuracy * 100).toFixed(2)
    }% (${result.correct}/${result.total})`,
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
    lines.push(
      `  ${label.padEnd(names[k] === String(k) ? 2 : 14)} ${
        (c.accuracy * 100).toFixed(2).padStart(6)
      }%  (${c.correct}/${c.total})`,
    );
  });
  return lines.join("\n");
}

export const evalCommand: Command = {
  name: "eval",
  summary: "score a trained model on the test set (accuracy, confusion matrix)",
  help: HELP,
  async run(args) {
    const { values: v } = parseCommandArgs("eval", args, {
      model: { type: "string" },
      json: { type: "boolean" },
      "batch-size": { type: "string" },
      limit: { type: "string" },
      dataset: { type: "string" },
      mirror: { type: "string", multiple: true },
    });
    const device = choiceOption("device", v.device, DEVICE_CHOICES, "auto");
    const batchSize = intOption("batch-size", v["batch-size"], 1000, { min: 1, max: 65536 });
    const limit = v.limit === undefined ? undefined : intOption("limit", v.limit, 0, { min: 1 });
    const dataDir = resolveDataDir(v["data-dir"]);
    const path = v.model ?? await lastModel(dataDir);
    const checkpoint = await loadCheckpoint(path);
    const dataset = choiceOption(
      "dataset",
      v.dataset,
      DATASET_NAMES,
      (DATASET_NAMES as readonly string[]).includes(checkpoint.meta.dataset)
        ? checkpoint.meta.dataset as DatasetName
        : "mnist",
    );
    const gpu = await acquireGpu(device);
    try {
      await ensureDataset(dataDir, dataset, { mirrors: v.mirror });
      let test = await loadSplit(dataDir, dataset, "test");
      if (limit !== undefined) test = subset(test, limit);
      const model = checkpoint.meta.model;
      const kernels = new KernelCache(gpu.device);
      const store = new ParamStore(gpu.device, model);
      store.load(checkpoint.params);
      const B = Math.min(batchSize, test.count);
      const network = new Network(gpu.device, kernels, {
        model,
        store,
        B,
        train: false,
        tiled: gpu.isCpu,
      });
      const evaluator = new Evaluator(gpu.device, kernels, { network, split: test });
      const { predictions } = await evaluator.run({ predictions: true });
      gpu.checkErrors();
      const result = score(test.labels, predictions!, model.classes);
      if (v.json) {
        console.log(JSON.stringify({ model: path, dataset, ...result }, null, 2));
      } else {
        console.log(formatScore(result, DATASETS[dataset].classes));
      }
    } finally {
      gpu.device.destroy();
    }
  },
};
