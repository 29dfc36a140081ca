/**
 * What each part of a training was on. A run resumed on another dataset (`mnist train --resume
 * mlp --dataset fashion`) goes on from weights trained on the first: its checkpoint's `dataset`
 * names the last one alone, so the training record keeps the parts, in order
 * (`TrainingRecord.datasets`): `[{"dataset": "mnist", "epochs": 1}, {"dataset": "fashion",
 * "epochs": 2}]`. A training all on one dataset records none; its `dataset` and `epoch` say it.
 * @module
 */

/** Consecutive epochs of a training on one dataset. */
export interface DatasetPart {
  /** The dataset: "mnist" or "fashion". */
  dataset: string;
  /** Epochs trained on it, at least 1. */
  epochs: number;
}

/** The parts of a checkpoint's metadata `trainedOn` reads. */
export interface TrainedMeta {
  /** The dataset of its last epochs. */
  dataset: string;
  /** The last epoch completed, from 0; -1 for none. */
  epoch: number;
  /** The training record; its `datasets` when the training changed dataset. */
  training?: Record<string, unknown>;
}

/**
 * What a checkpoint was trained on, in order: its record's `datasets` when they add up to its
 * epochs and end with its `dataset`, else all its epochs on its `dataset` (every checkpoint
 * before the record kept parts, and every training on one dataset). Empty when it has none.
 */
export function trainedOn(meta: TrainedMeta): DatasetPart[] {
  const epochs = meta.epoch + 1;
  if (!(Number.isSafeInteger(epochs) && epochs > 0)) return [];
  const recorded = meta.training?.datasets;
  if (Array.isArray(recorded) && recorded.length > 0 && recorded.every(isPart)) {
    const sum = recorded.reduce((total, part) => total + part.epochs, 0);
    if (sum === epochs && recorded.at(-1)!.dataset === meta.dataset) {
      return recorded.map(({ dataset, epochs }) => ({ dataset, epochs }));
    }
  }
  return [{ dataset: meta.dataset, epochs }];
}

/**
 * The `datasets` a checkpoint records after `epochs` epochs on `dataset` that follow `resumed`
 * (the checkpoint the run resumed, if any): `resumed`'s parts, then these epochs, joined to
 * the last part when it is the same dataset. Undefined while there is one part only.
 */
export function recordParts(
  resumed: TrainedMeta | undefined,
  { dataset, epochs }: DatasetPart,
): DatasetPart[] | undefined {
  const parts = resumed ? trainedOn(resumed) : [];
  const last = parts.at(-1);
  if (last?.dataset === dataset) last.epochs += epochs;
  else if (epochs > 0) parts.push({ dataset, epochs });
  return parts.length > 1 ? parts : undefined;
}

/**
 * The parts in words: "fashion, 2 epochs", or "mnist, 1 epoch, then fashion, 2 epochs".
 */
export function describeParts(parts: readonly DatasetPart[]): string {
  return parts.map(({ dataset, epochs }) => `${dataset}, ${epochs} epoch${epochs === 1 ? "" : "s"}`)
    .join(", then ");
}

function isPart(value: unknown): value is DatasetPart {
  if (value === null || typeof value !== "object") return false;
  const { dataset, epochs } = value as Record<string, unknown>;
  return typeof dataset === "string" && dataset !== "" && Number.isSafeInteger(epochs) &&
    (epochs as number) > 0;
}
