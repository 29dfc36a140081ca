/**
 * What every subcommand shares: the `Command` interface that each `src/cli/<name>.ts` exports
 * one of, the "Common options:" help text (`commonHelp`, `COMMON_HELP`), and `modelLine`, the
 * "Model: ..." line eval, predict and serve print, and `shellWord` for the commands hints quote.
 * The table of the commands themselves, which
 * `main.ts` dispatches on, is `commands.ts`.
 */
import { ALL_COMMON, type CommonOption } from "./args.ts";
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

/** The help lines of each common option a command may take (see `COMMON_OPTIONS`). */
const COMMON_LINES: Record<CommonOption, string> = {
  device:
    `  --device auto|gpu|cpu  WebGPU adapter: any (default), hardware GPU only, or the CPU/fallback one`,
  "data-dir":
    `  --data-dir DIR         MNIST's files (default: $MNIST_DATA_DIR, else $XDG_CACHE_HOME/mnist
                         or ~/.cache/mnist); models live apart ("mnist models")`,
};

/**
 * The "Common options:" section of a help text: the common options `uses` (those the command
 * passes to `parseCommandArgs` as `common`), then `-h, --help`.
 */
export function commonHelp(uses: readonly CommonOption[]): string {
  const lines = (["device", "data-dir"] as const).filter((o) => uses.includes(o));
  return [
    "Common options:",
    ...lines.map((o) => COMMON_LINES[o]),
    "  -h, --help             show this help",
  ]
    .join("\n");
}

/** The "Common options:" of a command that takes both --device and --data-dir (`commonHelp`). */
export const COMMON_HELP: string = commonHelp(ALL_COMMON);

/** What `modelLine` says of a file the architecture of which was not in mnist's metadata. */
const RECOGNISED_BY = {
  names: "recognised by its tensors' names",
  shapes: "recognised by its tensors' shapes",
  "--arch": "as --arch says",
} as const;

/**
 * The line `eval`, `predict` and `serve` print on standard error about the checkpoint they
 * loaded from `path`: its model, the dataset when not MNIST, how a plain safetensors file was
 * recognised, the epochs trained and the validation accuracy its last epoch measured (a
 * percentage with 2 decimals, as eval, models and train print it, on how many test digits when
 * recorded, or held-out training digits for `--validation holdout:N`; images rather than digits
 * for Fashion-MNIST), e.g. `Model: /home/u/.local/share/mnist/models/mlp.safetensors (mlp, 2
 * epochs, validation accuracy 97.65% on 10000 test digits)`; a training resumed on another dataset names its parts
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
    // A percentage, as eval, models and train's own lines give it.
    parts.push(`validation accuracy ${(meta.accuracy * 100).toFixed(2)}%${samples}`);
  }
  return `Model: ${path} (${parts.join(", ")})`;
}

/**
 * `word` as one POSIX shell word, for a command a hint shows: as it is when the shell leaves it
 * alone, else single-quoted (`it's` becomes `'it'\''s'`).
 */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
