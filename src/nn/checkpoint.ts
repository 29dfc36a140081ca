/**
 * Checkpoints as one safetensors file (https://github.com/huggingface/safetensors): an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype, shape and byte range,
 * then the raw little-endian data. The network description, epoch, optimizer settings and RNG
 * state travel in the header's `__metadata__` (string values only, as the format requires), so
 * `eval` and `predict` can rebuild the network and `--resume` can continue. A plain file without
 * that metadata (PyTorch's `save_file(model.state_dict())`) loads too when its tensors are a
 * built-in model's (src/nn/import.ts). docs/checkpoint.md describes the format.
 */
import { UserError } from "../errors.ts";
import { fsReason, writeFileAtomic } from "../fs.ts";
import { checkIterState, type DataIterState } from "../data/dataset.ts";
import { DATASET_NAMES, type DatasetName, DATASETS } from "../data/mirrors.ts";
import {
  checkModelSpec,
  inferShapes,
  type LayerInfo,
  MODEL_LIMITS,
  type ModelSpec,
  quote,
  sizeOf,
} from "./model.ts";
import { ARCHITECTURES, type ModelOrigin, recognise } from "./import.ts";

/** What a checkpoint holds besides the weights. */
export interface CheckpointMeta {
  /** The network: input shape (C, H, W), layers and classes, as `MODELS` describes one. */
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
  /**
   * From the safetensors header's `__metadata__` (string values: JSON for `model`, `training`,
   * `iterator`); a plain file without mnist's metadata gets its recognised model, epoch -1 and
   * dataset "mnist".
   */
  meta: CheckpointMeta;
  /** The model's parameters by name (`fc1_weight`...). */
  params: Map<string, Float32Array>;
  /**
   * Optimizer state (momentum) by parameter name: every parameter's, or none. A file stores a
   * tensor's momentum only when it is not all zeros; one absent beside others loads as zeros.
   */
  momentum: Map<string, Float32Array>;
  /**
   * Adam's second moment v by parameter name (its first moment m is `momentum`), stored as
   * `optimizer.variance.*` under the same rule as momentum: all-zero tensors are left out.
   */
  variance?: Map<string, Float32Array>;
  /** Which architecture the file holds and what said so; set by `decodeCheckpoint`. */
  origin?: ModelOrigin;
}

/** Options of `decodeCheckpoint` and `loadCheckpoint`. */
export interface LoadOptions {
  /**
   * `--arch`: the built-in model (mlp, lenet) a plain file must hold; its tensors are still
   * matched by name or shape and checked. An mnist checkpoint of another model is refused.
   */
  arch?: string;
  /** The option that named the file, for hints: "--model" (default), "--resume", "--filters". */
  option?: string;
}

const MOMENTUM_PREFIX = "optimizer.momentum.";
const VARIANCE_PREFIX = "optimizer.variance.";
/**
 * The largest safetensors header mnist reads (16 MiB; the format's own limit, 100 MB, is far
 * above what a checkpoint of the built-in models needs).
 */
export const MAX_HEADER: number = 16 * 1024 * 1024;
/**
 * The largest file a model within the limits makes: its parameters, their optimizer state
 * (momentum, or Adam's m and v), a header.
 */
const MAX_FILE = 8 + MAX_HEADER + 3 * 4 * MODEL_LIMITS.params;

/**
 * Serialises a checkpoint to safetensors bytes: the parameters as F32, then each momentum tensor
 * that is not all zeros (with momentum 0 none is: an SGD run's file is half the size).
 */
export function encodeCheckpoint(checkpoint: Checkpoint): Uint8Array {
  const { meta, params, momentum, variance = new Map() } = checkpoint;
  const state = (prefix: string, tensors: Map<string, Float32Array>) =>
    [...tensors]
      .filter(([, v]) => v.some((x) => x !== 0))
      .map(([k, v]) => [prefix + k, v] as [string, Float32Array]);
  const entries: [string, Float32Array][] = [
    ...params,
    ...state(MOMENTUM_PREFIX, momentum),
    ...state(VARIANCE_PREFIX, variance),
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
    const shape = shapes.get(name.replace(MOMENTUM_PREFIX, "").replace(VARIANCE_PREFIX, "")) ??
      [data.length];
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

/** The hint for a plain file that is not a built-in model. */
const PLAIN_HINT = `A file without mnist's metadata must hold exactly the weights and biases of ` +
  `${ARCHITECTURES.join(" or ")} in PyTorch's layout (see docs/checkpoint.md); ` +
  `--arch ${ARCHITECTURES.join("|")} says which.`;

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

/** The float dtypes a checkpoint's tensors may have; each is converted to f32 on load. */
export const FLOAT_DTYPES: readonly string[] = ["F32", "F64", "F16", "BF16"];

/**
 * A tensor's little-endian bytes as float32: F32 copied, F16 and BF16 widened exactly, F64
 * rounded to nearest (a finite value beyond float32's range is reported, not made infinite).
 * Returns the data, or the first value that is not a finite float32, in words.
 */
function toFloat32(raw: Uint8Array, dtype: string): { data: Float32Array; nonFinite?: string } {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const size = DTYPE_SIZES[dtype]!;
  const data = new Float32Array(raw.byteLength / size);
  switch (dtype) {
    case "F32":
      for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(4 * i, true);
      break;
    case "F16":
      for (let i = 0; i < data.length; i++) data[i] = view.getFloat16(2 * i, true);
      break;
    case "BF16": {
      // bfloat16 is the top half of a float32.
      const bits = new Uint32Array(data.buffer);
      for (let i = 0; i < data.length; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      break;
    }
    case "F64":
      for (let i = 0; i < data.length; i++) {
        const x = view.getFloat64(8 * i, true);
        data[i] = x;
        if (Number.isFinite(x) && !Number.isFinite(data[i])) {
          return { data, nonFinite: `${x} at index ${i}, beyond float32's range` };
        }
      }
      break;
  }
  return { data, nonFinite: firstNonFinite(data) };
}

/** Metadata values: strings only, as the format requires. */
type Metadata = Partial<Record<string, string>>;

/**
 * The header length a safetensors file's first 8 bytes give (a little-endian u64), or a short
 * reason why they give none: fewer than 8 bytes, or a length over {@link MAX_HEADER} or past the
 * end of a file of `fileBytes` bytes.
 */
export function safetensorsHeaderLength(
  prefix: Uint8Array,
  { fileBytes }: { fileBytes: number },
): number | string {
  if (prefix.length < 8) return "the file is empty or truncated";
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(Math.min(MAX_HEADER, fileBytes - 8))) {
    return pytorchFile(prefix) ?? "not a safetensors file (bad header length)";
  }
  return Number(length);
}

/**
 * How a pickle of protocol 0 or 1, which has no PROTO opcode, begins: torch.save's magic number
 * (LONG 119547037146038801333356, the first pickle of its files before PyTorch 1.6); a dict or
 * list begun (protocol 0's MARK, DICT or LIST, PUT 0; protocol 1's EMPTY_DICT or EMPTY_LIST,
 * BINPUT 0); or GLOBAL, a module and a name on two lines (a class to build, or a function to
 * call). Matched on the bytes as Latin-1 text; nothing is parsed or run.
 */
const OLD_PICKLE_START = /^(?:L1195470|\((?:dp|lp)0\n|[}\]]q\0|c[A-Za-z_][\w.]*\n[A-Za-z_]\w*\n)/;

/**
 * What a file's first bytes say it is when PyTorch wrote it with `torch.save`: a zip archive
 * (PyTorch 1.6 on) or a bare pickle (earlier), in words; undefined for anything else. `bytes` is
 * the file or its first bytes (8 recognise all but a protocol 0 or 1 pickle that starts with
 * GLOBAL, which is told from text by its last byte, STOP ".").
 */
function pytorchFile(bytes: Uint8Array): string | undefined {
  const [a, b, c, d] = bytes;
  if (a === 0x50 && b === 0x4b && c === 0x03 && d === 0x04) {
    return "not a safetensors file (a zip archive: PyTorch's torch.save?)";
  }
  const pickle = "not a safetensors file (a Python pickle: PyTorch's torch.save?)";
  // Pickle protocols 2 to 5 begin with PROTO (0x80) and the protocol's number.
  if (a === 0x80 && b !== undefined && b >= 2 && b <= 5) return pickle;
  const start = String.fromCharCode(...bytes.subarray(0, 64));
  const match = OLD_PICKLE_START.exec(start);
  if (match && (match[0][0] !== "c" || bytes.at(-1) === 0x2e)) return pickle;
  return undefined;
}

/** The hint for a `torch.save` file: what to write instead. */
const PYTORCH_HINT = "Write the state_dict as safetensors instead (safetensors.torch.save_file, " +
  'or the lines in docs/checkpoint.md, "From PyTorch to mnist").';

/** A safetensors header (UTF-8 JSON) as an object, or a short reason why it is not one. */
export function parseSafetensorsHeader(bytes: Uint8Array): Record<string, unknown> | string {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return "not a safetensors file (the header is not JSON)";
  }
  if (!isRecord(header)) return "not a safetensors file (the header is not a JSON object)";
  return header;
}

/**
 * Parses safetensors bytes into a checkpoint, validating everything against the model spec: an
 * mnist checkpoint by its metadata, a plain file by recognising its tensors as a built-in model
 * (`options.arch` to insist on one). Every problem is a one-line `UserError` naming `path`.
 */
export function decodeCheckpoint(
  bytes: Uint8Array,
  path: string,
  options: LoadOptions = {},
): Checkpoint {
  const headerLength = safetensorsHeaderLength(bytes.subarray(0, 8), { fileBytes: bytes.length });
  if (typeof headerLength === "string") {
    // The whole file: a pickle of protocol 0 or 1 may be told only by its last byte.
    const torch = pytorchFile(bytes);
    throw bad(path, torch ?? headerLength, torch ? { hint: PYTORCH_HINT } : {});
  }
  const dataStart = 8 + headerLength;
  const header = parseSafetensorsHeader(bytes.subarray(8, dataStart));
  if (typeof header === "string") throw bad(path, header);
  const rawMetadata = header.__metadata__ ?? {};
  if (!isRecord(rawMetadata) || !Object.values(rawMetadata).every((v) => typeof v === "string")) {
    throw bad(path, "not a safetensors file (__metadata__ must map names to strings)");
  }
  const metadata = rawMetadata as Metadata;
  const tensors = checkTensors(header, bytes.length - dataStart, path);
  const read = (name: string, shape: number[], { hint }: { hint?: string } = {}) => {
    const tensor = tensors.get(name);
    if (!tensor) throw bad(path, `tensor ${quote(name)} is missing`);
    if (!FLOAT_DTYPES.includes(tensor.dtype)) {
      throw bad(path, `tensor "${name}" is ${tensor.dtype}, not ${FLOAT_DTYPES.join(", ")}`);
    }
    if (tensor.shape.join() !== shape.join() || tensor.shape.length !== shape.length) {
      throw bad(path, `tensor "${name}" has shape [${tensor.shape}], expected [${shape}]`);
    }
    const raw = bytes.subarray(dataStart + tensor.begin, dataStart + tensor.end);
    const { data, nonFinite } = toFloat32(raw, tensor.dtype);
    if (nonFinite) {
      throw bad(path, `tensor "${name}" holds ${nonFinite}`, {
        hint: hint ??
          "The run that wrote it diverged or the file is corrupt: train again, with a lower --lr.",
      });
    }
    return data;
  };
  if (metadata.format !== "mnist") return decodePlain(path, { tensors, read, options });

  if (typeof metadata.model !== "string") {
    throw bad(path, "it has no network description (not written by mnist train?)");
  }
  let model: ModelSpec;
  let infos: LayerInfo[];
  try {
    ({ model, infos } = checkModelSpec(JSON.parse(metadata.model)));
  } catch (error) {
    throw bad(path, `its network description is invalid (${(error as Error).message})`);
  }
  if (options.arch !== undefined && options.arch !== model.name) {
    throw bad(
      path,
      `--arch ${options.arch} was given, but it is a checkpoint of ${quote(model.name)}`,
      {
        hint: "Leave out --arch: the checkpoint's metadata names its network.",
      },
    );
  }
  const params = new Map<string, Float32Array>();
  const all = infos.flatMap((l) => l.params);
  for (const p of all) params.set(p.name, read(p.name, p.shape));
  // Stored only where not all zeros: one present means the rest are zeros.
  const state = (prefix: string) => {
    const found = new Map<string, Float32Array>();
    if (all.some((p) => tensors.has(prefix + p.name))) {
      for (const p of all) {
        found.set(
          p.name,
          tensors.has(prefix + p.name)
            ? read(prefix + p.name, p.shape)
            : new Float32Array(sizeOf(p.shape)),
        );
      }
    }
    return found;
  };
  const momentum = state(MOMENTUM_PREFIX);
  const variance = state(VARIANCE_PREFIX);
  // Anything else is refused, as in a plain file: a tensor the network does not use means the
  // description and the weights disagree.
  const known = new Set(
    all.flatMap((p) => [p.name, MOMENTUM_PREFIX + p.name, VARIANCE_PREFIX + p.name]),
  );
  const extra = [...tensors.values()].find((t) => !known.has(t.name));
  if (extra) {
    throw bad(
      path,
      `tensor ${quote(extra.name)} [${extra.shape}] is not one of ${quote(model.name)}'s ` +
        "parameters or their optimizer state",
    );
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
    ...(variance.size > 0 ? { variance } : {}),
    origin: { architecture: model.name, from: "metadata" },
  };
}

/**
 * A file without mnist's metadata, as a built-in model: epoch -1 (none trained here), no
 * training record, iterator state or momentum, so `--resume` starts afresh with its own
 * settings. Its metadata, if any (PyTorch writes `{"format": "pt"}`), is not read.
 */
function decodePlain(
  path: string,
  { tensors, read, options }: {
    tensors: Map<string, TensorInfo>;
    read: (name: string, shape: number[], options?: { hint?: string }) => Float32Array;
    options: LoadOptions;
  },
): Checkpoint {
  let found;
  try {
    found = recognise([...tensors.values()], { arch: options.arch });
  } catch (error) {
    throw bad(path, (error as Error).message, { hint: PLAIN_HINT });
  }
  const params = new Map<string, Float32Array>();
  for (const p of inferShapes(found.model).flatMap((l) => l.params)) {
    params.set(
      p.name,
      read(found.tensors.get(p.name)!, p.shape, {
        hint: "The model that wrote it diverged, or the file is corrupt.",
      }),
    );
  }
  return {
    meta: { model: found.model, epoch: -1, dataset: "mnist" },
    params,
    momentum: new Map(),
    origin: found.origin,
  };
}

/**
 * Throws a one-line `UserError` unless `checkpoint`'s network takes one 28×28 grey image
 * (input 1×28×28, MNIST's and Fashion-MNIST's), as every command that reads the datasets or a
 * picture needs. The format allows other inputs (a plain file of another network). `action`
 * begins the message: `Cannot ${action} "path": it takes 3×32×32 inputs, not 1×28×28 images`
 * ("use model" by default).
 */
export function checkDigitInput(
  checkpoint: Pick<Checkpoint, "meta">,
  path: string,
  { action = "use model" }: { action?: string } = {},
): void {
  const input = checkpoint.meta.model.input.join("×");
  if (input === "1×28×28") return;
  throw new UserError(`Cannot ${action} "${path}": it takes ${input} inputs, not 1×28×28 images`);
}

/**
 * Throws a one-line `UserError` unless `checkpoint`'s network has one output per class of
 * `dataset` (10 for MNIST and Fashion-MNIST). The format allows 1 to 65,536 classes, but eval,
 * predict, serve and `train --resume` read an output as a dataset's class, so another count
 * would name classes that do not exist, or leave some out. `action` begins the message:
 * `Cannot ${action} "path": it has 5 classes, not mnist's 10` ("use model" by default).
 */
export function checkClasses(
  checkpoint: Pick<Checkpoint, "meta">,
  path: string,
  { dataset, action = "use model" }: { dataset: DatasetName; action?: string },
): void {
  const { classes } = checkpoint.meta.model;
  const wanted = DATASETS[dataset].classes.length;
  if (classes === wanted) return;
  throw new UserError(
    `Cannot ${action} "${path}": it has ${classes} class${classes === 1 ? "" : "es"}, ` +
      `not ${dataset}'s ${wanted}`,
    { hint: `Pass a model trained on ${dataset} by "mnist train", with ${wanted} outputs.` },
  );
}

/**
 * Writes a checkpoint atomically (a reader never sees a half-written file); a failure (a full disk,
 * a read-only directory) is one `UserError` line naming the path.
 */
export async function saveCheckpoint(path: string, checkpoint: Checkpoint): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(checkpoint), { what: "checkpoint" });
}

/**
 * Reads and validates a checkpoint (an mnist one, or a plain file holding a built-in model's
 * tensors: see `decodeCheckpoint`); every problem is a one-line `UserError`.
 */
export async function loadCheckpoint(path: string, options: LoadOptions = {}): Promise<Checkpoint> {
  // "model.safetensors/" names a directory, as the shell reads it: a file is not one. (Deno's
  // stat says NotADirectory, or with --allow-read drops the "/" and finds the file.)
  if (/[^/]\/+$/.test(path)) {
    const file = path.replace(/\/+$/, "");
    if ((await Deno.stat(file).catch(() => undefined))?.isFile) {
      throw new UserError(`Cannot load model "${path}": "${file}" is a file, not a directory`, {
        hint: `Leave out the trailing "/": --model ${file}`,
      });
    }
  }
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
        hint: `Train one first with "mnist train", or pass ${options.option ?? "--model"} FILE.`,
      });
    }
    throw bad(path, fsReason(error));
  }
  return decodeCheckpoint(bytes, path, options);
}
