/** `mnist models`: list the trained checkpoints and choose the default one. */
import { resolve } from "node:path";
import { parseCommandArgs } from "./args.ts";
import { type Command, commonHelp } from "./command.ts";
import { printable, UserError } from "../errors.ts";
import { checkModelDir, legacyModelDir, resolveDataDir, resolveModelDir } from "../data/paths.ts";
import { checkDigitInput, loadCheckpoint } from "../nn/checkpoint.ts";
import { listModels, modelPath, setDefaultModel, type StoredModel } from "../nn/model_store.ts";

const HELP = `Usage: mnist models [--json] [--default FILE|NAME] [options]

Lists the checkpoints in the model directory ($MNIST_MODEL_DIR, else
$XDG_DATA_HOME/mnist/models, else ~/.local/share/mnist/models) and those an older version saved
in <data dir>/models, which are only read: each file, its model, the dataset it was trained on
(mnist: the digits; fashion: Fashion-MNIST), its validation accuracy and on how many test
samples, the epochs trained and when its training saved it (a model kept as .prev keeps that
date); a model trained on both in turn (train --resume --dataset) shows each dataset and its
epochs, in order ("mnist+fashion", "1+2"). "*" marks the default model, the one eval, predict
and serve use without --model. Each file is checked as loading checks it, weights and all: a
file they would refuse (a broken header, a NaN or infinite weight) is listed as unusable, with
the reason.

Options:
  --json                 print the list as JSON
  --default FILE|NAME    make a checkpoint the default, after loading it to check it: a file,
                         a name the list shows (mlp.prev, fashion-mlp), or mlp or lenet for
                         the one "mnist train --model NAME" saved

${commonHelp(["data-dir"])}

Examples:
  mnist models
  mnist models --default mlp.prev
  mnist models --default /tmp/try.safetensors`;

/** `date` as local "YYYY-MM-DD HH:MM". */
function formatDate(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}`;
}

/**
 * A listed checkpoint; `datasets` says what each part of its training was on when it changed
 * dataset (`TrainingRecord.datasets`: two parts or more), read with the rest of its header.
 */
type Listed = StoredModel;

/**
 * One checkpoint as a JSON record: every field present, null where unknown (validation and
 * datasets: absent).
 */
function toJson(m: Listed) {
  return {
    file: m.file,
    path: m.path,
    place: m.legacy ? "legacy" : m.elsewhere ? "elsewhere" : "model dir",
    default: m.isDefault,
    model: m.kind ?? null,
    dataset: m.dataset ?? null,
    accuracy: m.accuracy ?? null,
    testSamples: m.testSamples ?? null,
    // "test" or "holdout:N"; only where recorded, so older listings keep their shape.
    ...(m.validation === undefined ? {} : { validation: m.validation }),
    epochs: m.epochs ?? null,
    // Only for a model trained on more than one dataset, in order: [{dataset, epochs}, ...].
    ...(m.datasets === undefined ? {} : { datasets: m.datasets }),
    modified: m.modified?.toISOString() ?? null,
    bytes: m.size,
    plain: m.plain ?? null,
    ...(m.problem === undefined ? {} : { problem: m.problem }),
  };
}

/** Marks a TEST SAMPLES cell whose samples were held-out training samples, not test samples. */
const HELD_MARK = " (h)";

/** Whether `m` was validated on held-out training digits (`train --validation holdout:N`). */
function heldOut(m: { validation?: string }): boolean {
  return m.validation?.startsWith("holdout:") ?? false;
}

/** The DATASET cell: the dataset, or each in turn ("mnist+fashion"). */
function datasetCell(m: Listed): string {
  return m.datasets?.map((p) => p.dataset).join("+") ?? m.dataset ?? "-";
}

/** The FILE cell: the name, or the path of a default elsewhere, escaped for the terminal. */
function shownName(m: Listed): string {
  return printable(m.elsewhere ? m.path : m.file);
}

/** The table's rows of `models`, under a header line; names padded to `width`. */
function rows(models: Listed[], width: number, datasetWidth: number): string[] {
  return models.map((m) => {
    const mark = m.isDefault ? "*" : " ";
    const name = shownName(m).padEnd(width);
    if (m.problem !== undefined) return `${mark} ${name}  unusable: ${printable(m.problem)}`;
    const accuracy = m.accuracy === undefined ? "-" : `${(m.accuracy * 100).toFixed(2)}%`;
    const cells = [
      (m.kind ?? "?").padEnd(5),
      datasetCell(m).padEnd(datasetWidth),
      accuracy.padStart(8),
      (m.testSamples === undefined ? "-" : `${m.testSamples}${heldOut(m) ? HELD_MARK : ""}`)
        .padStart(12),
      (m.datasets?.map((p) => p.epochs).join("+") ?? String(m.epochs ?? "-")).padStart(6),
      m.modified ? formatDate(m.modified) : "-",
      ...(m.plain ? [`(a plain safetensors file, recognised by its tensors' ${m.plain})`] : []),
    ];
    return `${mark} ${name}  ${cells.join("  ")}`;
  });
}

/** The listing as text: one table per place, each headed by where it is. */
function formatList(
  models: Listed[],
  { modelDir, legacyDir, pointerProblem }: {
    modelDir: string;
    legacyDir: string;
    pointerProblem?: UserError;
  },
): string {
  const width = Math.max(4, ...models.map((m) => shownName(m).length));
  const datasetWidth = Math.max(7, ...models.map((m) => datasetCell(m).length));
  const header = `  ${"FILE".padEnd(width)}  MODEL  ${"DATASET".padEnd(datasetWidth)}  ` +
    "ACCURACY  TEST SAMPLES  EPOCHS  SAVED";
  const places: [string, StoredModel[]][] = [
    [`Models in ${modelDir}:`, models.filter((m) => !m.legacy && !m.elsewhere)],
    [
      `Saved by an older version in ${legacyDir} (only read):`,
      models.filter((m) => m.legacy),
    ],
    ["Elsewhere:", models.filter((m) => m.elsewhere)],
  ];
  const out: string[] = [];
  for (const [title, group] of places) {
    if (group.length === 0 && out.length > 0) continue;
    if (out.length > 0) out.push("");
    out.push(title);
    if (group.length === 0) {
      out.push('  none yet: train one with "mnist train"');
      continue;
    }
    out.push(header, ...rows(group, width, datasetWidth));
  }
  out.push("");
  if (models.some((m) => m.problem === undefined && m.testSamples !== undefined && heldOut(m))) {
    out.push(
      `${HELD_MARK.trim()} validated on held-out training samples ` +
        "(mnist train --validation holdout:N), not on test samples",
    );
  }
  if (pointerProblem) {
    out.push(`No default model: ${pointerProblem.message}`);
    if (pointerProblem.hint) out.push(pointerProblem.hint);
  } else {
    out.push(
      models.some((m) => m.isDefault)
        ? "* the default model, which eval, predict and serve use without --model"
        : 'No default model: "mnist models --default FILE|NAME" sets one.',
    );
  }
  return out.join("\n");
}

/** `mnist models`. */
export const modelsCommand: Command = {
  name: "models",
  summary: "list the trained models and choose the default one",
  help: HELP,
  async run(args) {
    const { values: v } = parseCommandArgs("models", args, {
      common: ["data-dir"],
      options: {
        json: { type: "boolean" },
        default: { type: "string" },
      },
    });
    const dataDir = resolveDataDir(v["data-dir"]);
    const modelDir = resolveModelDir();
    // A file where the directory should be: said, not listed as a directory without models.
    await checkModelDir(modelDir);
    if (v.default !== undefined) {
      const path = await modelPath(v.default, dataDir, { modelDir, option: "--default" });
      // Loaded whole: a default that eval, predict and serve cannot use is refused now.
      const checkpoint = await loadCheckpoint(path, { option: "--default" });
      const { meta } = checkpoint;
      checkDigitInput(checkpoint, path);
      await setDefaultModel(modelDir, path);
      const testSamples = meta.training?.testSamples;
      const validation = meta.training?.validation;
      const held = typeof validation === "string" && heldOut({ validation });
      if (v.json) {
        console.log(JSON.stringify({
          default: resolve(path),
          model: meta.model.name,
          accuracy: meta.accuracy ?? null,
          testSamples: typeof testSamples === "number" ? testSamples : null,
          ...(typeof validation === "string" ? { validation } : {}),
        }));
        return;
      }
      const digits = (held ? "held-out training digit" : "test digit") +
        (testSamples === 1 ? "" : "s");
      const accuracy = meta.accuracy === undefined
        ? "no recorded validation accuracy"
        : `validation accuracy ${(meta.accuracy * 100).toFixed(2)}%` +
          (typeof testSamples === "number" ? ` on ${testSamples} ${digits}` : "");
      console.log(
        `Default model is now "${printable(resolve(path))}" (${meta.model.name}, ${accuracy}).`,
      );
      return;
    }
    const listed = await listModels(dataDir, { modelDir });
    const { defaultModel } = listed;
    const models = listed.models;
    const legacyDir = legacyModelDir(dataDir);
    if (v.json) {
      console.log(JSON.stringify(
        {
          modelDir,
          legacyDir,
          default: defaultModel ? resolve(defaultModel.path) : null,
          ...(listed.pointerProblem ? { defaultProblem: listed.pointerProblem.message } : {}),
          models: models.map(toJson),
        },
        null,
        2,
      ));
      return;
    }
    console.log(formatList(models, { modelDir, legacyDir, pointerProblem: listed.pointerProblem }));
  },
};
