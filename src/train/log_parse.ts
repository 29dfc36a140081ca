/**
 * Reads MXNet training logs back into numbers, for `mnist plot`: the Speedometer's lines and the
 * per-epoch metric lines, in both of MXNet's formats.
 *
 * - FeedForward (python/mxnet/model.py, v0.7-v0.9, and `mnist train`):
 *   `INFO:root:Epoch[0] Batch [200]\tSpeed: 18200.16 samples/sec\tTrain-accuracy=0.476500`,
 *   `INFO:root:Epoch[0] Train-accuracy=0.912300` (MXNet; `mnist train` leaves it out) and
 *   `INFO:root:Epoch[0] Validation-accuracy=0.931800`.
 * - Module (python/mxnet/module/base_module.py with callback.Speedometer): the batch line's
 *   metrics have no `Train-` prefix, and from v1.0 the batch is a range, cumulative
 *   (`Batch [0-200]`) or since the previous line (`Batch [100-200]`):
 *   `Epoch[0] Batch [0-200]\tSpeed: 18437.78 samples/sec\taccuracy=0.777228`, then
 *   `Epoch[0] Train-accuracy=...` and `Epoch[0] Validation-accuracy=...`.
 *
 * Separators may be tabs, spaces or the non-breaking spaces (U+00A0) of logs copied from a web
 * page; whatever comes before `Epoch[` (`INFO:root:`, a timestamp, indentation, `# `) is ignored,
 * as is every other line. MXNet's oldest logs say `Iteration[N]` for `Epoch[N]`.
 */

/** Whether a value was measured on the training data or the validation data. */
export type Phase = "train" | "validation";

/**
 * What a point summarises: the batches since the previous Speedometer line ("batch"), or a
 * whole epoch ("epoch": the `Epoch[N] Train-...` and `Validation-...` lines).
 */
export type PointKind = "batch" | "epoch";

/** One value read from a log. */
export interface LogPoint {
  /** A Speedometer line's value ("batch") or an epoch's ("epoch"). */
  kind: PointKind;
  /** `Train-`/Speedometer values are "train", `Validation-` ones "validation". */
  phase: Phase;
  /** The metric's name as logged, without `Train-`/`Validation-`: "accuracy", "cross-entropy". */
  metric: string;
  /** The epoch, counting from 0 as MXNet does. */
  epoch: number;
  /** For a Speedometer line: the batch count it was logged at (a Module range's end). */
  batch?: number;
  /**
   * Where the point goes on an epoch axis: an epoch's value at `epoch + 1` (its end), a
   * Speedometer line's at `epoch + batch / batchesPerEpoch`.
   */
  x: number;
  /** The metric's value as logged (accuracy in [0, 1], as MXNet prints it). */
  value: number;
  /** The line of the log it came from, counting from 1. */
  line: number;
}

/** A run that starts again at an earlier epoch (a resume from an older checkpoint). */
export interface LogRestart {
  /** The line where it starts again, counting from 1. */
  line: number;
  /** The epoch it starts again at; points of this epoch and later ones before it are dropped. */
  epoch: number;
  /** How many values logged before it were dropped (those of `epoch` and later). */
  dropped: number;
}

/** What `parseMxnetLog` read. */
export interface ParsedLog {
  /** The values, in the log's order, each (kind, phase, metric, epoch, batch) at most once. */
  points: LogPoint[];
  /**
   * The batches per epoch the Speedometer points are placed with: the option, else the largest
   * batch count logged (an estimate: a log at every 200 batches of 550 says 400); undefined
   * without Speedometer lines.
   */
  batchesPerEpoch?: number;
  /** Where the log starts again at an earlier epoch; the later lines win from there. */
  restarts: LogRestart[];
  /** How many lines were MXNet log lines with an epoch (values, time costs, resets). */
  mxnetLines: number;
}

/** `parseMxnetLog`'s options. */
export interface ParseLogOptions {
  /** The true number of batches per epoch, when known (`train --plot` knows it). */
  batchesPerEpoch?: number;
}

// `\s` matches U+00A0 and the other Unicode spaces, so copied logs read like tabbed ones.
const EPOCH = /(?:Epoch|Iteration)\[(\d+)\]\s*/y;
const BATCH = /Batch\s*\[\s*(?:(\d+)\s*-\s*)?(\d+)\s*\]\s*(?:Speed:\s*\S+\s*samples\/sec\s*)?/y;
/** A metric: `name=value`, the name starting with a letter, as MXNet's `%s=%f` prints it. */
const METRIC = /(?:^|\s)([A-Za-z][\w.-]*)=(\S+)/g;
/** Epoch lines that carry no value but say this is an MXNet log. */
const OTHER_EPOCH_LINE = /^(?:Time cost=|Resetting Data Iterator|Saved checkpoint)/;
/** `INFO:root:Start training with [gpu(0)]`: a (possibly resumed) run begins. */
const START = /Start training with/;

/** Parses a number as Python's `%f` prints it; `nan` and `inf` are not plotted. */
function pyNumber(text: string): number | undefined {
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * Reads the values of an MXNet training log (see the module comment for the formats). A log
 * whose epochs start again (a run resumed from an older checkpoint and appended, or a second
 * run appended) keeps the later lines from the epoch it starts again at, as the run that went
 * on did; `restarts` says where. Never throws: a text without MXNet lines gives no points.
 */
export function parseMxnetLog(text: string, options: ParseLogOptions = {}): ParsedLog {
  type Raw = Omit<LogPoint, "x">;
  const byKey = new Map<string, Raw>();
  const restarts: LogRestart[] = [];
  let mxnetLines = 0;
  let maxEpoch = -1;
  /** Epochs whose end (an epoch line) has been logged since the run last (re)started. */
  const ended = new Set<number>();
  let started = false;

  const restart = (epoch: number, line: number) => {
    let dropped = 0;
    for (const [key, raw] of byKey) {
      if (raw.epoch < epoch) continue;
      byKey.delete(key);
      dropped++;
    }
    restarts.push({ line, epoch, dropped });
    for (const e of [...ended]) if (e >= epoch) ended.delete(e);
    maxEpoch = epoch;
  };

  const lines = text.split(/\r\n|\r|\n/);
  lines.forEach((text, i) => {
    const line = i + 1;
    if (START.test(text)) {
      started = true;
      return;
    }
    const at = text.search(/(?:Epoch|Iteration)\[\d+\]/);
    if (at < 0) return;
    EPOCH.lastIndex = at;
    const epochMatch = EPOCH.exec(text);
    if (!epochMatch) return;
    const epoch = Number(epochMatch[1]);
    if (!Number.isSafeInteger(epoch)) return;
    let rest = text.slice(EPOCH.lastIndex);

    BATCH.lastIndex = 0;
    const batchMatch = BATCH.exec(rest);
    const kind: PointKind = batchMatch ? "batch" : "epoch";
    if (batchMatch) rest = rest.slice(BATCH.lastIndex);
    const metrics: { phase: Phase; metric: string; value: number }[] = [];
    let named = false;
    // MXNet prints an epoch's metrics right after `Epoch[N] `; other text there is not its.
    const valued = batchMatch !== null || /^(?:Train|Validation)-/.test(rest);
    for (const [, name, valueText] of valued ? rest.matchAll(METRIC) : []) {
      const value = pyNumber(valueText!);
      if (value === undefined && !/^[-+]?(?:nan|inf)/i.test(valueText!)) continue;
      let phase: Phase = "train";
      let metric = name!;
      if (metric.startsWith("Train-")) metric = metric.slice("Train-".length);
      else if (metric.startsWith("Validation-")) {
        phase = "validation";
        metric = metric.slice("Validation-".length);
      } else if (kind === "epoch") continue; // `Time cost=2.3`: not a metric
      if (metric === "") continue;
      named = true;
      // A diverged run logs nan: the line counts, the curve has a gap.
      if (value !== undefined) metrics.push({ phase, metric, value });
    }
    const other = kind === "epoch" && OTHER_EPOCH_LINE.test(rest.trimStart());
    if (!named && !other && !batchMatch) return;
    mxnetLines++;

    // A run that starts again: after "Start training", at an epoch already logged; without
    // one, at an earlier epoch, or at an epoch whose end was logged with batches to come.
    const again = started
      ? epoch <= maxEpoch
      : epoch < maxEpoch || (kind === "batch" && ended.has(epoch));
    started = false;
    if (again) restart(epoch, line);
    maxEpoch = Math.max(maxEpoch, epoch);
    if (kind === "epoch") ended.add(epoch);

    const batch = batchMatch ? Number(batchMatch[2]) : undefined;
    for (const { phase, metric, value } of metrics) {
      const key = `${kind}/${phase}/${metric}/${epoch}/${batch ?? ""}`;
      byKey.delete(key); // a repeated value moves to where it was logged last
      byKey.set(key, { kind, phase, metric, epoch, batch, value, line });
    }
  });

  const raws = [...byKey.values()];
  const logged = raws.reduce((most, p) => Math.max(most, p.batch ?? 0), 0);
  const batchesPerEpoch = options.batchesPerEpoch ?? (logged > 0 ? logged : undefined);
  const points = raws
    .sort((a, b) => a.line - b.line)
    .map((p): LogPoint => ({
      ...p,
      x: p.batch === undefined || batchesPerEpoch === undefined
        ? p.epoch + 1
        : p.epoch + Math.min(p.batch, batchesPerEpoch) / batchesPerEpoch,
    }));
  return {
    points,
    batchesPerEpoch: raws.some((p) => p.batch !== undefined) ? batchesPerEpoch : undefined,
    restarts,
    mxnetLines,
  };
}

/** The metrics of `points`, accuracy first, then in the order they first appear. */
export function metricsOf(points: readonly LogPoint[]): string[] {
  const seen = [...new Set(points.map((p) => p.metric))];
  return seen.sort((a, b) => (a === "accuracy" ? -1 : b === "accuracy" ? 1 : 0));
}
