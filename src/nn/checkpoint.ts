/**
 * Checkpoints as one safetensors file (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype, shape and byte range,
 * then the raw little-endian data. The network description, epoch, optimizer settings and RNG
 * state travel in the header's `__metadata__` (string values only, as the format requires), so
 * `eval` and `predict` can rebuild the network and `--resume` can continue.
 */
import { UserError } from "../errors.ts";
import { writeFileAtomic } from "../fs.ts";
import { checkClassifier, inferShapes, type ModelSpec, sizeOf } from "./model.ts";

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
  iterator?: unknown;
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

function bad(path: string, why: string): UserError {
  return new UserError(`Cannot load model "${path}": ${why}`, {
    hint: 'Pass a file written by "mnist train", or train one with "mnist train".',
  });
}

/** Parses safetensors bytes into a checkpoint, validating everything against the model spec. */
export function decodeCheckpoint(bytes: Uint8Array, path: string): Checkpoint {
  if (bytes.length < 8) throw bad(path, "the file is empty or truncated");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER || 8 + headerLength > bytes.length) {
    throw bad(path, "not a safetensors file (bad header length)");
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(8, 8 + headerLength),
    ));
  } catch {
    throw bad(path, "not a safetensors file (the header is not JSON)");
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw bad(path, "not a safetensors file (the header is not a JSON object)");
  }
  const metadata = header.__metadata__ as Record<string, string> | undefined;
  if (!metadata || metadata.format !== "mnist" || typeof metadata.model !== "string") {
    throw bad(path, "it has no network description (not written by mnist train?)");
  }
  let model: ModelSpec;
  let infos;
  try {
    model = JSON.parse(metadata.model);
    infos = checkClassifier(model);
  } catch (error) {
    throw bad(path, `its network description is invalid (${(error as Error).message})`);
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const read = (name: string, shape: number[]): Float32Array => {
    const entry = header[name] as
      | { dtype?: string; shape?: number[]; data_offsets?: [number, number] }
      | undefined;
    if (!entry) throw bad(path, `tensor "${name}" is missing`);
    if (entry.dtype !== "F32") throw bad(path, `tensor "${name}" is ${entry.dtype}, not F32`);
    if (JSON.stringify(entry.shape) !== JSON.stringify(shape)) {
      throw bad(path, `tensor "${name}" has shape [${entry.shape}], expected [${shape}]`);
    }
    const [begin, end] = entry.data_offsets ?? [NaN, NaN];
    if (!(begin >= 0 && end <= dataLength && end - begin === sizeOf(shape) * 4)) {
      throw bad(path, `tensor "${name}" has a bad byte range (file truncated?)`);
    }
    // Copy: the data may not be 4-byte aligned in `bytes`.
    return new Float32Array(bytes.slice(dataStart + begin, dataStart + end).buffer);
  };
  const params = new Map<string, Float32Array>();
  const momentum = new Map<string, Float32Array>();
  for (const p of infos.flatMap((l) => l.params)) {
    params.set(p.name, read(p.name, p.shape));
    if (header[MOMENTUM_PREFIX + p.name]) {
      momentum.set(p.name, read(MOMENTUM_PREFIX + p.name, p.shape));
    }
  }
  const epoch = Number(metadata.epoch ?? -1);
  const json = (key: string) => {
    const text = metadata[key];
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw bad(path, `its "${key}" metadata is not valid JSON`);
    }
  };
  return {
    meta: {
      model,
      epoch: Number.isInteger(epoch) ? epoch : -1,
      dataset: metadata.dataset ?? "mnist",
      training: json("training"),
      iterator: json("iterator"),
      accuracy: metadata.accuracy ? Number(metadata.accuracy) : undefined,
    },
    params,
    momentum,
  };
}

/** Writes a checkpoint atomically (a reader never sees a half-written file). */
export async function saveCheckpoint(path: string, checkpoint: Checkpoint): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(checkpoint));
}

/** Reads and validates a checkpoint; every problem is a one-line `UserError`. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UserError(`Cannot load model "${path}": no such file`, {
        hint: 'Train one first with "mnist train", or pass --model FILE.',
      });
    }
    if (error instanceof Deno.errors.IsADirectory) throw bad(path, "it is a directory");
    throw bad(path, (error as Error).message);
  }
  return decodeCheckpoint(bytes, path);
}
