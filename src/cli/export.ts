/** `mnist export`: a trained model as ONNX, for onnxruntime and other deployment runtimes. */
import { parseCommandArgs } from "./args.ts";
import { type Command, commonHelp } from "./command.ts";
import { UserError } from "../errors.ts";
import { checkNotInput, checkWritable, writeFileAtomic } from "../fs.ts";
import { type DatasetName, DATASETS } from "../data/mirrors.ts";
import { resolveDataDir } from "../data/paths.ts";
import { checkDigitInput, type Checkpoint, loadCheckpoint } from "../nn/checkpoint.ts";
import { ARCH_HELP, archOption, describeOrigin } from "../nn/import.ts";
import { modelPath } from "../nn/model_store.ts";
import { parameterCount } from "../nn/model.ts";
import { OPSET } from "../onnx/opset.ts";
import { trainedOn } from "../train/trained_on.ts";
import { VERSION } from "../version.ts";

const HELP = `Usage: mnist export [--model FILE|NAME] --onnx OUT.onnx [options]

Writes a trained model as ONNX (opset ${OPSET}), for onnxruntime and the other ONNX runtimes:
input "data", float32 [N, 1, 28, 28] (grey pixels / 255, light on black; N any batch size),
output "softmax", float32 [N, 10] class probabilities. The input follows the model's dataset:
for a digit model, MNIST's (the digit scaled to 20 px, centred by its centre of mass); for a
Fashion-MNIST model, Zalando's (the garment's longer side 28 px, centred, its shades kept).
Nodes carry MXNet's layer names (conv1, tanh1, fc1...), weights MXNet's parameter names
(fc1_weight). The model's metadata_props hold that input contract, the dataset (and, for a model
trained on both in turn, datasets: each with its epochs, in order), the class names, the epochs,
and the validation accuracy with what it was measured on (accuracy_on: "300 test digits", or
held-out training samples, as "mnist models" marks them). The model may be a checkpoint of
"mnist train" or a plain safetensors file of the MLP's or LeNet's tensors (PyTorch's state_dict:
see docs/checkpoint.md).

Options:
  --model FILE|NAME      checkpoint, or mlp or lenet for the one "mnist train --model NAME"
                         saved (default: the default model)
  --onnx FILE            where to write the ONNX model (required)
${ARCH_HELP}

${commonHelp(["data-dir"])}

Examples:
  mnist export --model lenet --onnx lenet.onnx
  mnist export --model pytorch_mlp.safetensors --onnx mlp.onnx
  python3 -c "import onnxruntime as ort; print(ort.InferenceSession('lenet.onnx').get_inputs())"`;

/**
 * What a checkpoint's validation accuracy was measured on, as `mnist models` says it: "3000 test
 * images", "500 held-out training digits (mnist train --validation holdout:500), not test
 * samples", or "samples not recorded" (an older checkpoint).
 */
export function accuracyOn(meta: Checkpoint["meta"]): string {
  const noun = (n: number) =>
    (meta.dataset === "fashion" ? "image" : "digit") + (n === 1 ? "" : "s");
  const holdout = /^holdout:(\d+)$/.exec(String(meta.training?.validation ?? ""));
  if (holdout) {
    const n = Number(holdout[1]);
    return `${n} held-out training ${noun(n)} (mnist train --validation holdout:${n}), not test ` +
      "samples";
  }
  const on = meta.training?.testSamples;
  return Number.isSafeInteger(on) && (on as number) > 0
    ? `${on} test ${noun(on as number)}`
    : "samples not recorded";
}

/**
 * `mnist export`: writes a checkpoint (or a plain safetensors file of the MLP's or LeNet's
 * tensors) as an ONNX model to `--onnx FILE`, atomically; src/onnx/export.ts builds it. A missing
 * `--onnx`, model or writable directory is a `UserError`.
 */
export const exportCommand: Command = {
  name: "export",
  summary: "write a trained model as ONNX (--onnx FILE)",
  help: HELP,
  async run(args) {
    const { values: v } = parseCommandArgs("export", args, {
      common: ["data-dir"],
      options: {
        model: { type: "string" },
        onnx: { type: "string" },
        arch: { type: "string" },
      },
    });
    if (v.onnx === undefined) {
      throw new UserError("mnist export: --onnx FILE is required", {
        hint: 'Name the file to write, e.g. "mnist export --model lenet --onnx lenet.onnx".',
      });
    }
    const arch = archOption(v.arch);
    await checkWritable(v.onnx, { what: "ONNX model", format: "ONNX", option: "--onnx" });
    const dataDir = resolveDataDir(v["data-dir"]);
    const path = await modelPath(v.model, dataDir);
    await checkNotInput(v.onnx, [{ path, what: "model" }], {
      what: "ONNX model",
      option: "--onnx",
    });
    const checkpoint = await loadCheckpoint(path, { arch });
    const { meta, origin } = checkpoint;
    checkDigitInput(checkpoint, path, { action: "export model" });
    const dataset = (meta.dataset in DATASETS ? meta.dataset : "mnist") as DatasetName;
    // The dataset's class names only when they are the outputs': another count names none.
    const names = DATASETS[dataset].classes;
    const classes = meta.model.classes === names.length ? names : undefined;
    // What each part of the training was on, where it changed dataset (`--resume --dataset`).
    const parts = trainedOn(meta);
    // Loaded here, not with the CLI: protobufjs takes ~60 ms that no other command needs.
    const { exportOnnx } = await import("../onnx/export.ts");
    const bytes = exportOnnx({ model: meta.model, params: checkpoint.params }, {
      ...(classes ? { classes } : {}),
      dataset,
      producerVersion: VERSION,
      metadata: {
        network: JSON.stringify(meta.model),
        dataset,
        ...(origin ? { architecture: describeOrigin(origin) } : {}),
        ...(meta.epoch >= 0 ? { epochs: String(meta.epoch + 1) } : {}),
        ...(parts.length > 1 ? { datasets: JSON.stringify(parts) } : {}),
        ...(meta.accuracy !== undefined
          ? { accuracy: String(meta.accuracy), accuracy_on: accuracyOn(meta) }
          : {}),
      },
    });
    await writeFileAtomic(v.onnx, bytes, { what: "ONNX model" });
    if (!classes) {
      console.error(
        `note: its ${meta.model.classes} outputs are not ${dataset}'s ${names.length} classes: ` +
          "the ONNX model names none",
      );
    }
    console.log(
      `Wrote ${v.onnx} (ONNX opset ${OPSET}, ${meta.model.name}, ` +
        `${parameterCount(meta.model).toLocaleString("en-US")} parameters, ${bytes.length} bytes)`,
    );
  },
};
