/**
 * Checkpoints as one safetensors file (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype, shape and byte range,
 * then the raw little-endian data. The network description, epoch, optimizer settings and RNG
 * state travel in the header's `__metadata__` (string values only, as the format requires), so
 * `eval` and `predict` can rebuild the network and `--resume` can continue.
 */
import { UserError } from "../errors.ts";
import { fsReason, writeFileAtomic } from "../fs.ts";
import { checkIterState, type DataIterState } from "../data/dataset.ts";
import { DATASET_NAMES } from "../data/mirrors.ts";
import {
  checkModelSpec,
  inferShapes,
  MODEL_LIMITS,
  type ModelSpec,
  quote,
  sizeOf,
} from "./model.ts";

/** What a checkpoint holds besides the weights. */
export interface CheckpointMeta {
  model: ModelSpec;
  /** The last epoch completed (0-based), or -1 before any. */
  epoch: number;
  /** The dataset the model was trained on. */
  dataset: string;
  /** Training settings, for `--resume` and for the record. */
  training?: Record<string, unknown>;
  /** The data iterator's state after `epoch` (its shuffle RNG), for `--resume`. */
  iterator?: DataIterState;
  /** Validation accuracy after `epoch`, when measured. */
  accuracy?: number;
}

/** A loaded checkpoint. */
export interface Checkpoint {
  meta: CheckpointMeta;
  /** The model's parameters by name (`fc1_weight`...). */
  params: Map<string, Float32Array>;
  /** Optimizer state (momentum) by parameter name, when saved. */
  momentum: Map<string, Float32Array>;
}

const MOMENTUM_PREFIX = "optimizer.momentum.";
const MAX_HEADER = 16 * 1024 * 1024;
/** The largest file a model within the limits makes: its parameters, their momenta, a header. */
const MAX_FILE = 8 + MAX_HEADER + 2 * 4 * MODEL_LIMITS.params;

/** Serialises a checkpoint to safetensors bytes. */
export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  const { meta, params, momentum } = checkpoint;
  const entries: [string, Float32Array][] = [
    ...params,
    ...[...momentum].map(([k, v]) => [MOMENTUM_PREFIX + k, v] as [string, Float32Array]),
  ];
  const header: Record<string, unknown> = {
    __metadata__: {
      format: "mnist",
      model: JSON.stringify(meta.model),
      epoch: String(meta.epoch),
      dataset: meta.dataset,
      ...(meta.training ? { training: JSON.stringify(meta.training) } : {}),
      ...(meta.iterator ? { iterator: JSON.stringify(meta.iterator) } : {}),
      ...(meta.accuracy !== undefined ? { accuracy: String(meta.accuracy) } : {}),
    },
  };
  const shapes = new Map(
    inferShapes(meta.model).flatMap((l) => l.params.map((p) => [p.name, p.shape])),
  );
  let offset = 0;
  for (const [name, data] of entries) {
    const shape = shapes.get(name.replace(MOMENTUM_PREFIX, "")) ?? [data.length];
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference implementation does.
  json += " ".repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const [, data] of entries) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += data.byteLength;
  }
  return out;
}

function bad(path: string, why: string, { hint }: { hint?: string } = {}): UserError {
  return new UserError(`Cannot load model "${path}": ${why}`, {
    hint: hint ?? 'Pass a file written by "mnist train", or train one with "mnist train".',
  });
}

/** Bytes per element of the safetensors dtypes, to check every tensor's byte range. */
const DTYPE_SIZES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** A header entry once checked: a known dtype, a shape and a byte range that fits it. */
interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Checks every tensor entry of a safetensors header as the reference implementation does: each
 * a known dtype, a shape of non-negative integers and `data_offsets` [begin, end] whose length
 * is the shape's; sorted by offset, each begins where the previous ended, from 0 to the end of
 * the data, so the ranges are disjoint and leave no bytes unaccounted for.
 */
function checkTensors(
  header: Record<string, unknown>,
  dataLength: number,
  path: string,
): Map<string, TensorInfo> {
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const tensor = `tensor ${quote(name)}`;
    if (!isRecord(entry)) throw bad(path, `${tensor} is not described by a JSON object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== "string" || !Object.hasOwn(DTYPE_SIZES, dtype)) {
      throw bad(path, `${tensor} has an unknown dtype ${quote(dtype)}`);
    }
    if (
      !Array.isArray(shape) || shape.length > 8 ||
      !shape.every((n) => Number.isSafeInteger(n) && n >= 0)
    ) {
      throw bad(path, `${tensor} has shape ${quote(shape)}, not a list of sizes`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((n) => Number.isSafeInteger(n) && n >= 0)
    ) {
      throw bad(path, `${tensor} has data_offsets ${quote(offsets)}, not two byte offsets`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLength) throw bad(path, `${tensor} has a bad byte range (file truncated?)`);
    const bytes = sizeOf(shape) * DTYPE_SIZES[dtype]!;
    if (end - begin !== bytes) {
      throw bad(
        path,
        `${tensor} has data_offsets [${begin}, ${end}] (${end - begin} bytes), ` +
          `but shape [${shape}] of ${dtype} takes ${bytes}`,
      );
    }
    tensors.set(name, { name, dtype, shape, begin, end });
  }
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let previous: TensorInfo | undefined;
  for (const t of sorted) {
    if (t.begin < at) {
      throw bad(
        path,
        `tensors ${quote(previous!.name)} and ${quote(t.name)} overlap ` +
          `(bytes ${t.begin} to ${at} of the data)`,
      );
    }
    if (t.begin > at) {
      throw bad(path, `bytes ${at} to ${t.begin} of the data belong to no tensor`);
    }
    at = t.end;
    previous = t;
  }
  if (at !== dataLength) {
    throw bad(path, `bytes ${at} to ${dataLength} of the data belong to no tensor`);
  }
  return tensors;
}

/** The index and kind of the first NaN or infinity in `data`, if any. */
function firstNonFinite(data: Float32Array): string | undefined {
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (!Number.isFinite(x)) return `${x} at index ${i}`;
  }
  return undefined;
}

/** Parses safetensors bytes into a checkpoint, validating everything against the model spec. */
export function decodeCheckpoint(bytes: Uint8Array, path: string): Checkpoint {
  if (bytes.length < 8) throw bad(path, "the file is empty or truncated");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER, bytes.length - 8))) {
    throw bad(path, "not a safetensors file (bad header length)");
  }
  const dataStart = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, dataStart)),
    );
  } catch {
    throw bad(path, "not a safetensors file (the header is not JSON)");
  }
  if (!isRecord(header)) {
    throw bad(path, "not a safetensors file (the header is not a JSON object)");
  }
  const rawMetadata = header.__metadata__ ?? {};
  if (!isRecord(rawMetadata) || !Object.values(rawMetadata).every((v) => typeof v === "string")) {
    throw bad(path, "not a safetensors file (__metadata__ must map names to strings)");
  }
  const metadata = rawMetadata as Partial<Record<string, string>>;
  const tensors = checkTensors(header, bytes.length - dataStart, path);
  if (metadata.format !== "mnist" || typeof metadata.model !== "string") {
    throw bad(path, "it has no network description (not written by mnist train?)");
  }
  let model: ModelSpec;
  let infos;
  try {
    ({ model, infos } = checkModelSpec(JSON.parse(metadata.model)));
  } catch (error) {
    throw bad(path, `its network description is invalid (${(error as Error).message})`);
  }
  const read = (name: string, shape: number[]): Float32Array => {
    const tensor = tensors.get(name);
    if (!tensor) throw bad(path, `tensor ${quote(name)} is missing`);
    if (tensor.dtype !== "F32") throw bad(path, `tensor "${name}" is ${tensor.dtype}, not F32`);
    if (tensor.shape.join() !== shape.join() || tensor.shape.length !== shape.length) {
      throw bad(path, `tensor "${name}" has shape [${tensor.shape}], expected [${shape}]`);
    }
    // Copy: the data may not be 4-byte aligned in `bytes`.
    const data = new Float32Array(
      bytes.slice(dataStart + tensor.begin, dataStart + tensor.end).buffer,
    );
    const nonFinite = firstNonFinite(data);
    if (nonFinite) {
      throw bad(path, `tensor "${name}" holds ${nonFinite}`, {
        hint:
          "The run that wrote it diverged or the file is corrupt: train again, with a lower --lr.",
      });
    }
    return data;
  };
  const params = new Map<string, Float32Array>();
  const momentum = new Map<string, Float32Array>();
  for (const p of infos.flatMap((l) => l.params)) {
    params.set(p.name, read(p.name, p.shape));
    if (tensors.has(MOMENTUM_PREFIX + p.name)) {
      momentum.set(p.name, read(MOMENTUM_PREFIX + p.name, p.shape));
    }
  }
  const epoch = metadata.epoch === undefined ? -1 : Number(metadata.epoch);
  if (!/^-?\d+$/.test(metadata.epoch ?? "-1") || !Number.isSafeInteger(epoch) || epoch < -1) {
    throw bad(path, `its epoch ${quote(metadata.epoch)} is not an integer >= -1`);
  }
  const dataset = metadata.dataset ?? "mnist";
  if (!(DATASET_NAMES as readonly string[]).includes(dataset)) {
    throw bad(path, `its dataset ${quote(dataset)} is not one of ${DATASET_NAMES.join(", ")}`);
  }
  const accuracyText = metadata.accuracy;
  const accuracy = accuracyText === undefined ? undefined : Number(accuracyText);
  if (accuracy !== undefined && !(accuracyText!.trim() !== "" && accuracy >= 0 && accuracy <= 1)) {
    throw bad(path, `its accuracy ${quote(accuracyText)} is not a number between 0 and 1`);
  }
  const json = (key: string) => {
    const text = metadata[key];
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw bad(path, `its "${key}" metadata is not valid JSON`);
    }
  };
  const training = json("training");
  if (training !== undefined && !isRecord(training)) {
    throw bad(path, `its training record ${quote(training)} is not a JSON object`);
  }
  const iteratorJson = json("iterator");
  let iterator: DataIterState | undefined;
  try {
    iterator = iteratorJson === undefined ? undefined : checkIterState(iteratorJson);
  } catch (error) {
    throw bad(path, `its iterator state is invalid: ${(error as Error).message}`);
  }
  return {
    meta: { model, epoch, dataset, training, iterator, accuracy },
    params,
    momentum,
  };
}

/**
 * Writes a checkpoint atomically (a reader never sees a half-written file); a failure (a full disk,
 * a read-only directory) is one `UserError` line naming the path.
 */
export async function saveCheckpoint(path: string, checkpoint: Checkpoint): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(checkpoint), { what: "checkpoint" });
}

/** Reads and validates a checkpoint; every problem is a one-line `UserError`. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    // From the stat, before opening: a device (/dev/zero) or a FIFO would read without end.
    const info = await Deno.stat(path);
    if (info.isDirectory) throw bad(path, "it is a directory");
    if (!info.isFile) throw bad(path, "it is not a regular file (a device or a pipe?)");
    if (info.size > MAX_FILE) {
      throw bad(path, `it is ${info.size} bytes, more than a model may be (${MAX_FILE})`);
    }
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof UserError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      throw new UserError(`Cannot load model "${path}": no such file`, {
        hint: 'Train one first with "mnist train", or pass --model FILE.',
      });
    }
    throw bad(path, fsReason(error));
  }
  return decodeCheckpoint(bytes, path);
}
