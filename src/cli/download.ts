/** `mnist download`: fetch and verify a dataset's four files into the data directory. */
import { choiceOption, parseCommandArgs } from "./args.ts";
import { type Command, commonHelp } from "./command.ts";
import { downloadDataset, normalizeMirror } from "../data/download.ts";
import { DATASET_NAMES, datasetDir, DATASETS } from "../data/mirrors.ts";
import { resolveDataDir } from "../data/paths.ts";

const HELP = `Usage: mnist download [--dataset mnist|fashion] [--mirror URL]... [--data-dir DIR]

Downloads the dataset's four .gz files into the data directory and checks each one against its
pinned SHA-256 and size. Files already there are verified without the network; a corrupt one is
downloaded again, and replaced only once the new copy verifies. A mirror that fails is retried,
then the next one is tried.

Options:
  --dataset mnist|fashion  the handwritten digits (default) or Zalando's Fashion-MNIST
  --mirror URL             a folder holding the four .gz files (http, https or file URL);
                           repeat it to give several, tried in order. Default mirrors:
${mirrorList()}

Environment:
  MNIST_DOWNLOAD_TIMEOUT_MS  give up on a mirror after this long without data (default 30000)
  MNIST_DOWNLOAD_BACKOFF_MS  wait before retrying a mirror, doubled each time (default 1000)
  MNIST_DOWNLOAD_MIN_RATE    abandon a mirror slower than this many bytes/s over a whole
                             window (default 51200, i.e. 50 KiB/s; 0: never)
  MNIST_DOWNLOAD_RATE_WINDOW_MS
                             that window, in ms (default 30000)

${commonHelp(["data-dir"])}

Examples:
  mnist download
  mnist download --dataset fashion
  mnist download --mirror http://127.0.0.1:8001/ --data-dir ./data`;

function mirrorList(): string {
  return DATASET_NAMES.flatMap((name) =>
    DATASETS[name].mirrors.map((m) => `                             ${name}: ${m}`)
  ).join("\n");
}

/**
 * `mnist download`: fetches a dataset's four `.gz` files from `--mirror` URLs or the default
 * mirrors (`DATASETS` in src/data/mirrors.ts) into the data directory, each checked against its
 * pinned SHA-256 and size before it replaces anything; a file that fails on every mirror is a
 * `UserError` naming it.
 */
export const downloadCommand: Command = {
  name: "download",
  summary: "download and verify MNIST or Fashion-MNIST",
  help: HELP,
  async run(args) {
    const { values } = parseCommandArgs("download", args, {
      common: ["data-dir"],
      options: {
        dataset: { type: "string" },
        mirror: { type: "string", multiple: true },
      },
    });
    const dataset = choiceOption("dataset", values.dataset, {
      choices: DATASET_NAMES,
      fallback: "mnist",
    });
    // Checked before any file is touched, so a typo fails at once.
    const mirrors = values.mirror?.map(normalizeMirror);
    const dataDir = resolveDataDir(values["data-dir"]);
    await downloadDataset(dataDir, dataset, {
      mirrors,
      log: (line) => console.error(line),
      report: (line) => console.log(line),
    });
    console.log(`${dataset} is ready in ${datasetDir(dataDir, dataset)}`);
  },
};
