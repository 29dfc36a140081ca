/** `mnist summary`: the tutorial's plot_network / print_summary, for a model or checkpoint. */
import { parseCommandArgs } from "./args.ts";
import { type Command, commonHelp } from "./command.ts";
import { UserError } from "../errors.ts";
import { checkNotInput, checkWritable, writeFileAtomic } from "../fs.ts";
import { resolveDataDir } from "../data/paths.ts";
import { loadCheckpoint } from "../nn/checkpoint.ts";
import { ARCH_HELP, archOption, describeOrigin } from "../nn/import.ts";
import { modelPath } from "../nn/model_store.ts";
import { lenet, mlp, type ModelSpec } from "../nn/model.ts";
import { summaryDot, summarySvg, summaryTable } from "../nn/summary.ts";
import { describeParts, trainedOn } from "../train/trained_on.ts";

const BUILT_IN: Record<string, () => ModelSpec> = { mlp, lenet };

const HELP = `Usage: mnist summary [--model mlp|lenet|FILE] [--dot] [--svg FILE]

Describes a network like MXNet's print_summary: each layer's type, output shape (without the
batch) and parameter count, with the total; for a checkpoint, first what it was trained on
("Trained on mnist, 1 epoch, then fashion, 2 epochs"). --dot prints Graphviz DOT with the
shapes on the edges; --svg writes a self-contained drawing of the network (no Graphviz needed).

Options:
  --model NAME|FILE      mlp (default) or lenet, untrained; or a checkpoint of "mnist train":
                         a file, or a name "mnist models" lists (mlp.prev)
  --dot                  print Graphviz DOT instead of the table (mnist summary --dot | dot -Tpng)
  --svg FILE             also write an SVG drawing to FILE
${ARCH_HELP}

${commonHelp(["data-dir"])}

Examples:
  mnist summary --model lenet
  mnist summary --model lenet --svg lenet.svg
  mnist summary --model ~/.local/share/mnist/models/mlp.safetensors`;

/**
 * `mnist summary`: prints a network's layers, output shapes (without the batch) and parameter
 * counts as MXNet's `print_summary` does, or Graphviz DOT (`--dot`), and with `--svg FILE` also
 * writes a drawing; for `mlp`, `lenet` or a checkpoint.
 */
export const summaryCommand: Command = {
  name: "summary",
  summary: "describe a network: layers, shapes, parameters (--dot, --svg)",
  help: HELP,
  async run(args) {
    const { values: v } = parseCommandArgs("summary", args, {
      common: ["data-dir"],
      options: {
        model: { type: "string" },
        arch: { type: "string" },
        dot: { type: "boolean" },
        svg: { type: "string" },
      },
    });
    if (v.svg !== undefined) {
      await checkWritable(v.svg, { what: "drawing", format: "SVG", option: "--svg" });
    }
    const name = v.model ?? "mlp";
    let model: ModelSpec;
    const arch = archOption(v.arch);
    // For a file: which network it holds and what said so (metadata, names, shapes, --arch).
    let origin: string | undefined;
    // For a checkpoint: each dataset it was trained on, in order, and for how many epochs.
    let trained: string | undefined;
    const builtIn = BUILT_IN[name];
    if (builtIn) {
      if (arch !== undefined && arch !== name) {
        throw new UserError(`--arch ${arch} does not match --model ${name}`, {
          hint: "--arch names the network of a checkpoint file.",
        });
      }
      model = builtIn();
    } else {
      // A file, or a name "mnist models" lists (mlp.prev), found as eval and export find it.
      const path = await modelPath(name, resolveDataDir(v["data-dir"]));
      if (v.svg !== undefined) {
        await checkNotInput(v.svg, [{ path: name, what: "model" }], {
          what: "drawing",
          option: "--svg",
        });
      }
      const checkpoint = await loadCheckpoint(path, { arch });
      model = checkpoint.meta.model;
      origin = `Model "${path}": ${describeOrigin(checkpoint.origin!)}`;
      const parts = checkpoint.origin?.from === "metadata" ? trainedOn(checkpoint.meta) : [];
      if (parts.length > 0) trained = `Trained on ${describeParts(parts)}`;
    }
    for (const line of [origin, trained]) {
      if (line !== undefined) console.log(v.dot ? `// ${line}` : line);
    }
    console.log(v.dot ? summaryDot(model) : summaryTable(model));
    if (v.svg !== undefined) {
      await writeFileAtomic(v.svg, summarySvg(model), { what: "drawing" });
      console.error(`Wrote ${v.svg}`);
    }
  },
};
