import type { Checkpoint } from "../nn/checkpoint.ts";
import { trainedOn } from "../train/trained_on.ts";

/** The shape of a subcommand: `main.ts` dispatches to one of these. */
export interface Command {
  /** The word after `mnist`. */
  name: string;
  /** One line for `mnist --help`. */
  summary: string;
  /** The full `--help` text: usage, options and examples. */
  help: string;
  /** Runs the command on the arguments after its name. Throws `UserError` for user mistakes. */
  run(args: string[]): Promise<void>;
}

/** Options every command accepts, for help texts. */
export const COMMON_HELP = `Common options:
  --device auto|gpu|cpu  WebGPU adapter: any (default), hardware GPU only, or the CPU/fallback one
  --data-dir DIR         MNIST's files (default: $MNIST_DATA_DIR, else $XDG_CACHE_HOME/mnist
                         or ~/.cache/mnist); models live apart ("mnist models")
  -h, --help             show this help`;

/** What `modelLine` says of a file the architecture of which was not in mnist's metadata. */
const RECOGNISED_BY = {
  names: "recognised by its tensors' names",
  shapes: "recognised by its tensors' shapes",
  "--arch": "as --arch says",
} as const;

/**
 * The line `eval`, `predict` and `serve` print on standard error about the checkpoint they
 * loaded from `path`: its model, the dataset when not MNIST, how a plain safetensors file was
 * recognised, the epochs trained and the validation accuracy its last epoch measured (4
 * decimals, as a fraction like MXNet's log, on how many test digits when recorded, or held-out
 * training digits for `--validation holdout:N`; images rather than digits for Fashion-MNIST), e.g.
 * `Model: /home/u/.local/share/mnist/models/mlp.safetensors (mlp, 2 epochs, validation accuracy
 * 0.9765 on 10000 test digits)`; a training resumed on another dataset names its parts
 * (`mlp on fashion, 3 epochs: 1 on mnist, then 2 on fashion, ...`). What the file does not
 * record is left out.
 */
export function modelLine(path: string, checkpoint: Pick<Checkpoint, "meta" | "origin">): string {
  const { meta, origin } = checkpoint;
  const parts = [meta.model.name + (meta.dataset === "mnist" ? "" : ` on ${meta.dataset}`)];
  if (origin !== undefined && origin.from !== "metadata") parts.push(RECOGNISED_BY[origin.from]);
  if (meta.epoch >= 0) {
    const epochs = `${meta.epoch + 1} epoch${meta.epoch === 0 ? "" : "s"}`;
    const on = trainedOn(meta);
    parts.push(
      on.length > 1
        ? `${epochs}: ${on.map((p) => `${p.epochs} on ${p.dataset}`).join(", then ")}`
        : epochs,
    );
  }
  if (meta.accuracy !== undefined && Number.isFinite(meta.accuracy)) {
    const on = meta.training?.testSamples;
    // `mnist train --validation holdout:N` measured it on held-out training digits instead.
    const holdout = /^holdout:(\d+)$/.exec(String(meta.training?.validation ?? ""));
    const noun = (n: number) =>
      (meta.dataset === "mnist" ? "digit" : "image") + (n === 1 ? "" : "s");
    const samples = holdout
      ? ` on ${holdout[1]} held-out training ${noun(Number(holdout[1]))}`
      : Number.isSafeInteger(on) && (on as number) > 0
      ? ` on ${on} test ${noun(on as number)}`
      : "";
    parts.push(`validation accuracy ${meta.accuracy.toFixed(4)}${samples}`);
  }
  return `Model: ${path} (${parts.join(", ")})`;
}
