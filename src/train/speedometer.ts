/**
 * MXNet's FeedForward log lines, byte for byte (python/mxnet/callback.py and model.py of
 * apache/mxnet v0.7-v0.9, printed through Python's logging as `INFO:root:...`).
 */

/** Formats like Python's `%f` (6 decimals) / `%.Nf`, with `nan`/`inf` spelled as Python does. */
export function pyFixed(x: number, digits = 6): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  return x.toFixed(digits);
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

/** `INFO:root:Epoch[0] Resetting Data Iterator`. */
export function resetLine(epoch: number): string {
  return `INFO:root:Epoch[${epoch}] Resetting Data Iterator`;
}

/** `INFO:root:Epoch[0] Time cost=2.320` (training time of the epoch, in seconds). */
export function timeCostLine(epoch: number, seconds: number): string {
  return `INFO:root:Epoch[${epoch}] Time cost=${pyFixed(seconds, 3)}`;
}

/** `INFO:root:Epoch[0] Validation-accuracy=0.276800`. */
export function validationLine(epoch: number, metric: string, value: number): string {
  return `INFO:root:Epoch[${epoch}] Validation-${metric}=${pyFixed(value)}`;
}

/** `INFO:root:Saved checkpoint to "mlp.safetensors"`. */
export function savedLine(path: string): string {
  return `INFO:root:Saved checkpoint to "${path}"`;
}
