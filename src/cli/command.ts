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
