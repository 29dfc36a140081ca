/**
 * MXNet's FeedForward log lines, byte for byte (python/mxnet/callback.py and model.py of
 * apache/mxnet v0.7-v0.9, printed through Python's logging as `INFO:root:...`).
 */
import { printable } from "../errors.ts";

/**
 * Formats like Python's `%f` (6 decimals) / `%.Nf`: correctly rounded, exact binary ties to even
 * (JS `toFixed` rounds them up: 1/128 is "0.007812" in Python), `-0.000000` for negative zero,
 * no exponent for large values, and `nan`/`inf` spelled as Python does.
 */
export function pyFixed(x: number, digits = 6): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const negative = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  let text: string;
  if (a >= 1e21) {
    // Doubles this large are integers; BigInt prints them exactly.
    text = BigInt(a).toString() + (digits > 0 ? "." + "0".repeat(digits) : "");
  } else {
    text = a.toFixed(digits);
    // toFixed(100) is the exact decimal value for all but the tiniest doubles: a tie is a 5
    // followed only by zeros right after the kept digits.
    const exact = a.toFixed(Math.min(100, digits + 60));
    const point = exact.indexOf(".");
    const rest = exact.slice(point + 1 + digits);
    if (/^50*$/.test(rest)) {
      const kept = exact.slice(0, point + 1 + digits).replace(/\.$/, "");
      const lastDigit = Number(kept.at(-1));
      // An even last digit stays (toFixed rounded it up); an odd one is what toFixed gives.
      if (lastDigit % 2 === 0) text = kept;
    }
  }
  return (negative ? "-" : "") + text;
}

/** `INFO:root:Start training with [gpu(0)]`, or `[cpu(0)]` on a CPU/fallback adapter. */
export function startLine(isCpu: boolean): string {
  return `INFO:root:Start training with [${isCpu ? "cpu" : "gpu"}(0)]`;
}

/** The Speedometer line, every `frequent` batches. */
export function batchLine(
  { epoch, batch, speed, metric, value }: {
    epoch: number;
    batch: number;
    speed: number;
    metric: string;
    value: number;
  },
): string {
  return `INFO:root:Epoch[${epoch}] Batch [${batch}]\tSpeed: ${pyFixed(speed, 2)} samples/sec\t` +
    `Train-${metric}=${pyFixed(value)}`;
}

/** A metric's name as logged (`accuracy`, `cross-entropy`) and its value. */
export interface MetricValue {
  /** The name after `Train-`/`Validation-`. */
  metric: string;
  /** Its value, printed with `%f`. */
  value: number;
}

/**
 * The Speedometer's lines for several metrics (MXNet's CompositeEvalMetric, `--metric acc,ce`):
 * v0.9's callback.py logs `for name, value in name_value`, so one line per metric, in order,
 * each with the same speed. (From v0.10 Module's Speedometer joins them on one line, without
 * `Train-`.)
 */
export function batchLines(
  { epoch, batch, speed, values }: {
    epoch: number;
    batch: number;
    speed: number;
    values: readonly MetricValue[];
  },
): string[] {
  return values.map(({ metric, value }) => batchLine({ epoch, batch, speed, metric, value }));
}

/** `INFO:root:Epoch[0] Resetting Data Iterator`. */
export function resetLine(epoch: number): string {
  return `INFO:root:Epoch[${epoch}] Resetting Data Iterator`;
}

/** `INFO:root:Epoch[0] Time cost=2.320` (training time of the epoch, in seconds). */
export function timeCostLine(epoch: number, seconds: number): string {
  return `INFO:root:Epoch[${epoch}] Time cost=${pyFixed(seconds, 3)}`;
}

/** `INFO:root:Epoch[0] Validation-accuracy=0.276800`. */
export function validationLine(
  epoch: number,
  { metric, value }: { metric: string; value: number },
): string {
  return `INFO:root:Epoch[${epoch}] Validation-${metric}=${pyFixed(value)}`;
}

/**
 * The validation lines of several metrics: model.py's `for name, value in
 * eval_metric.get_name_value(): logger.info('Epoch[%d] Validation-%s=%f', ...)`, one each.
 */
export function validationLines(epoch: number, values: readonly MetricValue[]): string[] {
  return values.map((v) => validationLine(epoch, v));
}

/**
 * `INFO:root:Saved checkpoint to "mlp.safetensors"`, one line whatever the path holds (a line
 * break or an escape in it is written escaped: `printable`).
 */
export function savedLine(path: string): string {
  return `INFO:root:Saved checkpoint to "${printable(path)}"`;
}

/**
 * Formats like Python's `%0.5e` (and `%.Ne`): mantissa with `digits` decimals, an exponent of
 * at least two digits: `5.00000e-02`.
 */
export function pyExp(x: number, digits = 5): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const [mantissa, exponent] = x.toExponential(digits).split("e") as [string, string];
  const sign = exponent.startsWith("-") ? "-" : "+";
  return `${mantissa}e${sign}${exponent.replace(/^[-+]/, "").padStart(2, "0")}`;
}

/**
 * `INFO:root:Update[601]: Change learning rate to 5.00000e-02`: MXNet's lr_scheduler.py
 * (FactorScheduler, MultiFactorScheduler) when the rate changes at update N (1-based).
 */
export function updateLine(numUpdate: number, lr: number): string {
  return `INFO:root:Update[${numUpdate}]: Change learning rate to ${pyExp(lr)}`;
}
