/**
 * `mnist plot`: training curves from MXNet logs (`mnist train`'s, or MXNet's own) as one SVG or
 * PNG chart. The log reading is src/train/log_parse.ts's, the chart src/plot/'s; the chart
 * packages (vega, vega-lite, resvg) are loaded only when a chart is drawn.
 */
import { basename, extname } from "node:path";
import { parseCommandArgs } from "./args.ts";
import { type Command, commonHelp, shellWord } from "./command.ts";
import { UserError } from "../errors.ts";
import { checkNotInput, checkWritable, readCapped, writeFileAtomic } from "../fs.ts";
import { type ParsedLog, parseMxnetLog } from "../train/log_parse.ts";
import { type CurveLog, curvesSpec, MAX_PANELS, summarizeCurves } from "../plot/curves.ts";

/** The largest log read: 64 MiB holds millions of Speedometer lines. */
export const MAX_LOG_BYTES = 64 * 1024 * 1024;

/** The chart formats, by `--out`'s extension. */
export const PLOT_FORMATS = ["svg", "png"] as const;

/** A chart format. */
export type PlotFormat = (typeof PLOT_FORMATS)[number];

const HELP = `Usage: mnist plot LOG... --out FILE.svg|FILE.png [--title TEXT]

Draws training curves from MXNet training logs: accuracy (and cross-entropy or any other metric
the logs carry, each in a panel of its own) against the epoch, the train values of every
Speedometer line and of every epoch against the validation values, one colour per log.

Reads both of MXNet's formats: FeedForward's, which "mnist train" prints
  INFO:root:Epoch[0] Batch [200]<TAB>Speed: 18200.16 samples/sec<TAB>Train-accuracy=0.476500
  INFO:root:Epoch[0] Validation-accuracy=0.931800
and Module's (MXNet 0.10 and later)
  INFO:root:Epoch[0] Batch [0-200]<TAB>Speed: 18437.78 samples/sec<TAB>accuracy=0.777228
  INFO:root:Epoch[0] Train-accuracy=0.956566
with tabs, spaces or non-breaking spaces (a log copied from a web page) between the fields;
other lines are skipped. A Speedometer line is drawn at epoch + batch / batches per epoch,
the batches per epoch being the largest batch number the log shows; an epoch's values at its
end. A log that starts again at an earlier epoch (a run resumed from an older checkpoint) is
drawn as the run that went on: the later lines replace the earlier ones from that epoch.
At most ${MAX_PANELS} metrics are drawn (accuracy first, then as the logs name them); the line
that says what was written counts those left out.

Options:
  --out FILE             the chart: .svg (vector, text as text) or .png (rendered with an
                         embedded DejaVu Sans, 2 pixels per SVG unit)
  --title TEXT           the chart's title (default "Training curves")
  LOG                    a log file, or - for standard input

${commonHelp([])}

Examples:
  mnist train > mlp.log && mnist plot mlp.log --out mlp.svg
  mnist plot mlp.log lenet.log --out curves.png --title "MLP against LeNet"
  mnist train --model lenet | tee lenet.log | mnist plot - --out lenet.png`;

/**
 * `mnist plot`: parses MXNet logs (`parseMxnetLog`, FeedForward's or Module's format) and writes
 * their curves to `--out` as SVG or PNG, chosen by its extension; a missing `--out`, an unreadable
 * log or one with nothing to plot is a `UserError`.
 */
export const plotCommand: Command = {
  name: "plot",
  summary: "draw training curves from MXNet logs as SVG or PNG",
  help: HELP,
  async run(args) {
    const { values: v, positionals } = parseCommandArgs("plot", args, {
      common: [],
      options: {
        out: { type: "string" },
        title: { type: "string" },
      },
      positionals: true,
    });
    if (positionals.length === 0) {
      throw new UserError("mnist plot needs a log file", {
        hint: 'Run "mnist train > train.log", then "mnist plot train.log --out curves.svg".',
      });
    }
    if (v.out === undefined) {
      throw new UserError("mnist plot needs --out FILE.svg or --out FILE.png");
    }
    const format = plotFormat(v.out);
    if (positionals.filter((p) => p === "-").length > 1) {
      throw new UserError("Standard input (-) can be read only once");
    }
    await checkWritable(v.out, { what: "chart", option: "--out" });
    await checkNotInput(v.out, positionals.map((path) => ({ path, what: "log" })), {
      what: "chart",
      option: "--out",
    });
    const logs: CurveLog[] = [];
    for (const path of positionals) {
      const log = await readLog(path);
      for (const { line, epoch } of log.restarts) {
        console.error(
          `${displayName(path)}: the run starts again at epoch ${epoch} on line ${line}; ` +
            `drawing the later lines from there`,
        );
      }
      logs.push({ label: displayName(path), points: log.points });
    }
    const bytes = await drawCurves(logs, { format, title: v.title });
    await writeFileAtomic(v.out, bytes, { what: "chart" });
    console.log(`Wrote ${v.out} (${describeChart(logs)})`);
  },
};

/**
 * The chart format `option FILE` (`--out`, or train's `--plot`) asks for, by its extension; a
 * `UserError` for any other.
 */
export function plotFormat(out: string, option = "--out"): PlotFormat {
  const ext = extname(out).slice(1).toLowerCase();
  if ((PLOT_FORMATS as readonly string[]).includes(ext)) return ext as PlotFormat;
  throw new UserError(
    `${option} must end in .svg or .png, got "${out}"` + (ext === "" ? "" : ` (.${ext})`),
    { hint: "SVG for a browser or a document, PNG for an image viewer." },
  );
}

/** A log's name in messages and the legend: its file name, or "standard input" for `-`. */
function displayName(path: string): string {
  return path === "-" ? "standard input" : basename(path);
}

/**
 * Reads and parses the log at `path` (`-`: standard input). A file that cannot be read, is
 * empty, is not text or holds no MXNet metric line is a one-line `UserError` naming it.
 */
async function readLog(path: string): Promise<ParsedLog> {
  const bytes = await readCapped(path, { maxBytes: MAX_LOG_BYTES, what: "log" });
  const name = path === "-" ? "standard input" : `"${path}"`;
  const fail = (reason: string, hint?: string) =>
    new UserError(`Cannot plot ${name}: ${reason}`, { hint });
  // A NUL in the first 8 KiB: an image, an archive, a checkpoint, not a log.
  if (bytes.subarray(0, 8192).includes(0)) {
    throw fail("it is not a text file (it holds NUL bytes)", LOG_HINT);
  }
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === "") {
    throw fail("it is empty", "Save a training run's output first: mnist train > train.log");
  }
  const log = parseMxnetLog(text);
  const last = log.restarts.at(-1);
  if (log.points.length === 0 && last !== undefined && last.dropped > 0) {
    // A run appended after an earlier one, and stopped before its first value.
    const shown = path === "-" ? "LOG" : shellWord(path);
    throw fail(
      `the run that starts again at epoch ${last.epoch} on line ${last.line} logged no metric ` +
        "value before it ended, and it replaces the earlier run's values from that epoch on",
      `To draw the earlier run, give it its lines alone: head -n ${last.line - 1} ${shown} | ` +
        "mnist plot - --out curves.svg",
    );
  }
  if (log.points.length === 0) {
    throw fail(
      log.mxnetLines === 0
        ? "it is not an MXNet training log (no Epoch[N] line with a metric)"
        : log.mxnetLines === 1
        ? "its one MXNet line holds no metric value"
        : `its ${log.mxnetLines} MXNet lines hold no metric value`,
      LOG_HINT,
    );
  }
  return log;
}

/** What the lines `mnist plot` reads look like. */
const LOG_HINT = "mnist plot reads MXNet's log lines, such as " +
  '"Epoch[0] Batch [200]  Speed: 18200.16 samples/sec  Train-accuracy=0.476500".';

/**
 * The chart of `logs` as file bytes: SVG text (UTF-8) or PNG. Loads vega and vega-lite (and
 * resvg for PNG) on first use.
 */
async function drawCurves(
  logs: readonly CurveLog[],
  { format, title }: { format: PlotFormat; title?: string },
): Promise<Uint8Array> {
  const { renderPng, renderSvg } = await import("../plot/render.ts");
  const svg = await renderSvg(curvesSpec(logs, { title }));
  return format === "svg" ? new TextEncoder().encode(svg) : await renderPng(svg);
}

/**
 * "2 logs, 5 curves of accuracy, 10 epochs": what a chart of `logs` shows; then, for logs of
 * more than `MAX_PANELS` metrics, how many were left out: "...; 2992 more metrics not drawn (at
 * most 8 panels)".
 */
export function describeChart(logs: readonly CurveLog[]): string {
  const { lines, metrics, omitted, epochs } = summarizeCurves(logs);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const names = metrics.length <= 2
    ? metrics.join(" and ")
    : `${metrics.slice(0, -1).join(", ")} and ${metrics.at(-1)}`;
  const left = omitted.length === 0
    ? ""
    : `; ${plural(omitted.length, "more metric")} not drawn (at most ${MAX_PANELS} panels)`;
  return `${plural(logs.length, "log")}, ${plural(lines, "curve")} of ${names}, ` +
    plural(epochs, "epoch") + left;
}

/**
 * `mnist train --plot FILE`: draws the curves of a run's own log `lines` to `out` (.svg or
 * .png) and returns the line to print on stderr, `Wrote FILE (...)`. `batchesPerEpoch` places
 * the Speedometer points exactly. Throws a `UserError` when the run logged no metric.
 */
export async function writeRunPlot(
  out: string,
  lines: readonly string[],
  { label, batchesPerEpoch }: { label: string; batchesPerEpoch: number },
): Promise<string> {
  const log = parseMxnetLog(lines.join("\n"), { batchesPerEpoch });
  if (log.points.length === 0) {
    throw new UserError(`Cannot plot this run in "${out}": it logged no metric`);
  }
  const logs = [{ label, points: log.points }];
  await writeFileAtomic(out, await drawCurves(logs, { format: plotFormat(out, "--plot") }), {
    what: "chart",
  });
  return `Wrote ${out} (${describeChart(logs)})`;
}
