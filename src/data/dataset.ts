/**
 * The resident dataset: a split loaded from its verified .gz files, and the iterator that
 * orders it into batches each epoch, like MXNet's `mx.io.NDArrayIter`.
 */
import { createHash } from "node:crypto";
import { gunzipSync, inflateRawSync, type ZlibOptions } from "node:zlib";
import { messageOf, UserError } from "../errors.ts";
import { fsReason } from "../fs.ts";
import { parseIdxPair } from "./idx.ts";
import { datasetDir, type DatasetName, DATASETS, type FileSpec } from "./mirrors.ts";
import { Rng } from "../random.ts";

/** `--split`: the 60,000 training samples or the 10,000 test samples. */
export type SplitName = "train" | "test";

/** The split names, for option validation. */
export const SPLIT_NAMES: readonly SplitName[] = ["train", "test"];

/** A split held in memory, as stored: u8 pixels and u8 labels. */
export interface Split {
  /** (count, rows, cols) u8 pixels, row-major; 0 is background, 255 full ink. */
  images: Uint8Array;
  /** (count) class indices 0..9. */
  labels: Uint8Array;
  /** Samples: 60,000 (train) or 10,000 (test) for a whole split, fewer for a `subset`. */
  count: number;
  /** Image height in pixels: 28 for MNIST and Fashion-MNIST, from the IDX header. */
  rows: number;
  /** Image width in pixels: 28, from the IDX header. */
  cols: number;
}

const DOWNLOAD_HINT = `Run "mnist download" to fetch it again.`;

/**
 * Loads a split of `dataset` from the data directory: decompresses its two .gz files, checks
 * the SHA-256 of the decompressed bytes against the pinned value and parses them. A missing,
 * corrupt or modified file is a `UserError` naming the file, with a hint to download it again.
 */
export async function loadSplit(
  dataDir: string,
  { dataset, split }: { dataset: DatasetName; split: SplitName },
): Promise<Split> {
  const spec = DATASETS[dataset];
  const dir = datasetDir(dataDir, dataset);
  const find = (role: FileSpec["role"]) => spec.files.find((f) => f.role === role)!;
  const imagesSpec = find(split === "train" ? "trainImages" : "testImages");
  const labelsSpec = find(split === "train" ? "trainLabels" : "testLabels");
  const imagesPath = `${dir}/${imagesSpec.name}`;
  const labelsPath = `${dir}/${labelsSpec.name}`;
  const [images, labels] = await Promise.all([
    readVerified(imagesPath, imagesSpec),
    readVerified(labelsPath, labelsSpec),
  ]);
  return parseIdxPair({ name: imagesPath, bytes: images }, { name: labelsPath, bytes: labels });
}

/**
 * Why gunzip failed on `compressed` (`path`, which should decompress to `size` bytes), in plain
 * words rather than zlib's ("incorrect header check"), with what to do: a file that is not gzip
 * at all (no 1f 8b at its start), such as an IDX file saved uncompressed under the .gz name;
 * bytes after the gzip member, which zlib reads as the header of another one; a stream that ends
 * early; anything else zlib trips on.
 */
function gunzipFailure(
  path: string,
  compressed: Uint8Array,
  size: number,
  error: unknown,
): { reason: string; hint: string } {
  if (compressed[0] !== 0x1f || compressed[1] !== 0x8b) {
    // IDX magic: two zero bytes, 0x08 (unsigned bytes), 1 to 3 dimensions.
    const idx = compressed[0] === 0 && compressed[1] === 0 && compressed[2] === 0x08 &&
      compressed[3]! >= 1 && compressed[3]! <= 3;
    if (idx) {
      const raw = path.replace(/\.gz$/, "");
      return {
        reason: "it is an uncompressed IDX file, not gzip data",
        hint: `Compress it (mv "${path}" "${raw}" && gzip "${raw}"), or run "mnist download" ` +
          `to fetch it again.`,
      };
    }
    return { reason: "it is not gzip data (a gzip file starts with 1f 8b)", hint: DOWNLOAD_HINT };
  }
  const extra = bytesAfterGzipMember(compressed, size);
  if (extra) {
    const reason = `it has ${fmt(extra)} bytes of data after the compressed stream: the file ` +
      `is damaged`;
    return { reason, hint: DOWNLOAD_HINT };
  }
  const code = (error as { code?: unknown }).code;
  if (code === "Z_BUF_ERROR" || /unexpected end/i.test(messageOf(error))) {
    return { reason: "its compressed data ends early: the file is truncated", hint: DOWNLOAD_HINT };
  }
  return { reason: "its compressed data is damaged", hint: DOWNLOAD_HINT };
}

/**
 * The largest a gzip file of `size` decompressed bytes can be: deflate's stored blocks add 5
 * bytes per 16 KiB at worst, and the gzip header and trailer a few more (a file's name in the
 * header is not limited, hence the generous KiB).
 */
function maxGzipBytes(size: number): number {
  return size + 5 * Math.ceil(size / 16384) + 1024;
}

/**
 * Reads a gzip file, decompresses it into one buffer of the pinned decompressed size and
 * verifies its SHA-256. The decompressed bytes land in one allocation (zlib's output chunk is
 * made larger than the file's content), not in a stream of chunks copied out and left to the
 * garbage collector: those were 40 MB for the training images and stayed in the process's
 * resident memory through training (docs/memory.md).
 */
async function readVerified(path: string, spec: FileSpec): Promise<Uint8Array> {
  let compressed: Uint8Array;
  try {
    const { size, isFile } = await Deno.stat(path);
    // A directory would throw IsADirectory, a device such as /dev/zero be read without end.
    if (!isFile) {
      throw new UserError(`Cannot read "${path}": it is not a file`, { hint: DOWNLOAD_HINT });
    }
    if (size > maxGzipBytes(spec.size)) {
      throw new UserError(
        `Cannot decompress "${path}": it is ${fmt(size)} bytes, more than a gzip of ` +
          `${fmt(spec.size)} bytes can be`,
        { hint: DOWNLOAD_HINT },
      );
    }
    compressed = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UserError(`Cannot find "${path}"`, { hint: `Run "mnist download" to fetch it.` });
    }
    if (error instanceof UserError) throw error;
    throw new UserError(`Cannot read "${path}": ${fsReason(error)}`, {
      hint: "Pass --data-dir DIR (a folder you can read) or set MNIST_DATA_DIR.",
      cause: error,
    });
  }
  let out: Uint8Array | undefined;
  try {
    // maxOutputLength stops a file that inflates past the pinned size (a bomb) at that size.
    out = gunzipSync(compressed, { chunkSize: spec.size + 64, maxOutputLength: spec.size });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code !== "ERR_BUFFER_TOO_LARGE") {
      const { reason, hint } = gunzipFailure(path, compressed, spec.size, error);
      throw new UserError(`Cannot decompress "${path}": ${reason}`, { hint, cause: error });
    }
  }
  if (out === undefined || out.length !== spec.size) {
    const size = out === undefined ? `more than ${fmt(spec.size)}` : fmt(out.length);
    throw new UserError(
      `Checksum mismatch for "${path}": it decompresses to ${size} bytes, expected ${
        fmt(spec.size)
      }`,
      { hint: DOWNLOAD_HINT },
    );
  }
  const sha256 = createHash("sha256").update(out).digest("hex");
  if (sha256 !== spec.sha256) {
    throw new UserError(
      `Checksum mismatch for "${path}": SHA-256 of the decompressed bytes is ${sha256}, ` +
        `expected ${spec.sha256}`,
      { hint: DOWNLOAD_HINT },
    );
  }
  return out;
}

/**
 * Bytes that follow the first gzip member of `gz`, or 0 when there are none or the member itself
 * cannot be read (a bad header, corrupt deflate data, more than `maxSize` bytes of output).
 * Parses the header (RFC 1952: FEXTRA, FNAME, FCOMMENT, FHCRC), inflates the deflate data to find
 * where it ends, and adds the 8-byte CRC32/ISIZE trailer.
 */
function bytesAfterGzipMember(gz: Uint8Array, maxSize: number): number {
  if (gz.length < 18 || gz[0] !== 0x1f || gz[1] !== 0x8b || gz[2] !== 8) return 0;
  const flags = gz[3]!;
  let pos = 10;
  if (flags & 4) pos += 2 + (gz[pos]! | (gz[pos + 1]! << 8));
  for (const flag of [8, 16]) {
    if (flags & flag) {
      while (pos < gz.length && gz[pos] !== 0) pos++;
      pos++;
    }
  }
  if (flags & 2) pos += 2;
  if (pos >= gz.length) return 0;
  try {
    // `info` returns the engine too, whose bytesWritten counts the compressed bytes consumed.
    const { engine } = inflateRawSync(gz.subarray(pos), {
      info: true,
      maxOutputLength: maxSize,
    } as ZlibOptions) as unknown as { engine: { bytesWritten: number } };
    return Math.max(0, gz.length - (pos + engine.bytesWritten + 8));
  } catch {
    return 0;
  }
}

function fmt(n: number): string {
  return n.toLocaleString("en-US");
}

/**
 * Frees the pixels of a split whose images have been uploaded and are needed no more (train:
 * 47 MB of training images; docs/memory.md), by detaching the ArrayBuffer under
 * `split.images`. Every view of that buffer, every `subset` and `holdout` of the same split
 * included, is empty afterwards (length 0); the labels are kept. Releasing twice is harmless.
 */
export function releaseImages(split: { images: Uint8Array }): void {
  const buffer = split.images.buffer;
  if (buffer instanceof ArrayBuffer && !buffer.detached) buffer.transfer(0);
}

/**
 * `n` samples of `split` from sample `first` (default 0) on (all that remain when `n` is
 * larger), as views into the same buffers: `--limit N` for quick runs, `mnist show --first`.
 * A negative or fractional `n`, or a `first` outside `0..split.count`, is a `RangeError`.
 */
export function subset(split: Split, n: number, { first = 0 }: { first?: number } = {}): Split {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`subset size must be >= 0, got ${n}`);
  if (!Number.isInteger(first) || first < 0 || first > split.count) {
    throw new RangeError(`subset start must be in 0..${split.count}, got ${first}`);
  }
  const count = Math.min(n, split.count - first);
  const pixels = split.rows * split.cols;
  return {
    images: split.images.subarray(first * pixels, (first + count) * pixels),
    labels: split.labels.subarray(first, first + count),
    count,
    rows: split.rows,
    cols: split.cols,
  };
}

/**
 * Splits off the last `n` samples of `split` for validation (`--validation holdout:N`): `train`
 * is the first `count - n` samples, `validation` the last `n`, both views into the same buffers
 * and never overlapping, so a run that trains on `train` never sees a `validation` sample. An
 * `n` that is not an integer in `1..count - 1` (which would leave nothing to train or validate
 * on) is a `RangeError`.
 */
export function holdout(split: Split, n: number): { train: Split; validation: Split } {
  if (!Number.isInteger(n) || n < 1 || n >= split.count) {
    throw new RangeError(`holdout size must be in 1..${split.count - 1}, got ${n}`);
  }
  const rest = split.count - n;
  return { train: subset(split, rest), validation: subset(split, n, { first: rest }) };
}

/** A batch in float32, MXNet style: what the CPU side feeds a model or a reference. */
export interface FloatBatch {
  /** (B, 1, rows, cols) pixels scaled to [0, 1]. */
  data: Float32Array;
  /** (B) class indices as floats. */
  label: Float32Array;
}

/** u8 → f32 in [0, 1], so that 255 maps to exactly 1. */
const SCALE = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/**
 * Gathers the samples at `indices` into float32 NCHW images (B, 1, rows, cols) scaled by 1/255
 * and float32 labels (B), writing into `out` when given (it must have exactly that size, else a
 * `RangeError`); an index past the split is a `RangeError` too.
 */
export function gatherBatch(
  split: Split,
  indices: ArrayLike<number>,
  { out }: { out?: FloatBatch } = {},
): FloatBatch {
  const pixels = split.rows * split.cols;
  const b = indices.length;
  const batch = out ?? { data: new Float32Array(b * pixels), label: new Float32Array(b) };
  if (batch.data.length !== b * pixels || batch.label.length !== b) {
    throw new RangeError(
      `gatherBatch: out holds ${batch.data.length} pixels and ${batch.label.length} labels, ` +
        `need ${b * pixels} and ${b}`,
    );
  }
  for (let i = 0; i < b; i++) {
    const s = indices[i]!;
    if (!(s >= 0 && s < split.count)) {
      throw new RangeError(`gatherBatch: sample ${s} is outside 0..${split.count - 1}`);
    }
    const src = split.images.subarray(s * pixels, (s + 1) * pixels);
    const dst = i * pixels;
    for (let p = 0; p < pixels; p++) batch.data[dst + p] = SCALE[src[p]!]!;
    batch.label[i] = split.labels[s]!;
  }
  return batch;
}

/**
 * What to do with the last, incomplete batch of an epoch (MXNet's `last_batch_handle`):
 * - `pad`: fill it up with samples from the start of the epoch's order and report how many;
 * - `discard`: drop it;
 * - `roll_over`: carry its samples into the first batch of the next epoch.
 */
export type LastBatch = "pad" | "discard" | "roll_over";

/** A batch of an epoch. */
export interface Batch {
  /** 0-based position in the epoch. */
  index: number;
  /** (batchSize) sample indices: a view into `Epoch.indices`. */
  indices: Uint32Array;
  /** How many of the trailing `indices` are filler (`pad` mode's last batch); 0 otherwise. */
  pad: number;
}

/** The batches of one epoch; iterate it for `Batch`es. */
export class Epoch {
  /** 0-based epoch number. */
  readonly index: number;
  /** (count) the epoch's sample order: a permutation when shuffling, else 0..count-1. */
  readonly order: Uint32Array;
  /**
   * (numBatches × batchSize) the sample index of every batch slot, filler included: upload it
   * once per epoch and batch `i` is the slice `[i * batchSize, (i + 1) * batchSize)`.
   */
  readonly indices: Uint32Array;
  /** Samples per batch, filler included. */
  readonly batchSize: number;
  /** Batches in this epoch: `indices.length / batchSize`. */
  readonly numBatches: number;
  /** Filler samples in the last batch. */
  readonly pad: number;

  /**
   * Epoch `index` (from 0) made of `parts`, as `DataIter.epoch()` draws them; `parts.indices`
   * must hold a whole number of batches of `parts.batchSize`.
   */
  constructor(
    index: number,
    parts: { order: Uint32Array; indices: Uint32Array; batchSize: number; pad: number },
  ) {
    this.index = index;
    this.order = parts.order;
    this.indices = parts.indices;
    this.batchSize = parts.batchSize;
    this.numBatches = parts.indices.length / parts.batchSize;
    this.pad = parts.pad;
  }

  /** Batch `i` of this epoch. */
  batch(i: number): Batch {
    if (!Number.isInteger(i) || i < 0 || i >= this.numBatches) {
      throw new RangeError(`batch ${i} is outside 0..${this.numBatches - 1}`);
    }
    const b = this.batchSize;
    return {
      index: i,
      indices: this.indices.subarray(i * b, (i + 1) * b),
      pad: i === this.numBatches - 1 ? this.pad : 0,
    };
  }

  /** The batches in order. */
  *[Symbol.iterator](): IterableIterator<Batch> {
    for (let i = 0; i < this.numBatches; i++) yield this.batch(i);
  }
}

/** What `DataIter.state()` returns and `DataIterOptions.state` restores: plain JSON. */
export interface DataIterState {
  /** Epochs drawn so far. */
  epoch: number;
  /** The shuffle generator's state; absent when not shuffling. */
  rng?: number[];
  /** `roll_over`'s samples waiting for the next epoch. */
  carry: number[];
}

/**
 * Checks that `value`, read from a checkpoint, has the shape of a {@link DataIterState}; throws
 * an `Error` saying in one line what is wrong. (Whether `carry` fits the dataset is checked by
 * `DataIter`, which knows its size.)
 */
export function checkIterState(value: unknown): DataIterState {
  const state = value as Partial<Record<keyof DataIterState, unknown>> | null;
  const u32 = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32;
  if (state === null || typeof state !== "object" || Array.isArray(state)) {
    throw new Error("it is not a JSON object");
  }
  if (!Number.isSafeInteger(state.epoch) || (state.epoch as number) < 0) {
    throw new Error(
      `its epoch must be an integer >= 0, got ${String(JSON.stringify(state.epoch)).slice(0, 40)}`,
    );
  }
  if (
    state.rng !== undefined && !(Array.isArray(state.rng) && state.rng.length === 4 &&
      state.rng.every(u32))
  ) {
    throw new Error("its rng must be four unsigned 32-bit integers");
  }
  if (!Array.isArray(state.carry) || state.carry.length > 65536 || !state.carry.every(u32)) {
    throw new Error("its carry must be a list of at most 65536 sample indices");
  }
  return state as DataIterState;
}

/** Options of `DataIter`. */
export interface DataIterOptions {
  /** Samples in the dataset (or subset). */
  count: number;
  /** Samples per batch (an integer >= 1); with `lastBatch: "discard"`, at most `count`. */
  batchSize: number;
  /** Draw a fresh permutation each epoch. */
  shuffle: boolean;
  /** Seed of the shuffle (when no `rng` or `state` is given). */
  seed?: number;
  /** The shuffle's generator; the iterator advances it. */
  rng?: Rng;
  /** Default `pad`, as in MXNet. */
  lastBatch?: LastBatch;
  /** Resume from a saved `DataIter.state()`: overrides `seed` and `rng`. */
  state?: DataIterState;
}

/**
 * Orders `count` samples into batches, epoch after epoch, like MXNet's `NDArrayIter`: a seeded
 * Fisher-Yates permutation per epoch when shuffling (the same seed gives the same epochs), and
 * the last batch padded, discarded or rolled over.
 */
export class DataIter {
  /** Samples it orders, as given. */
  readonly count: number;
  /** Samples per batch, as given. */
  readonly batchSize: number;
  /** Whether each epoch is a fresh permutation. */
  readonly shuffle: boolean;
  /** What happens to the last, incomplete batch (default "pad"). */
  readonly lastBatch: LastBatch;
  /** The shuffle generator; `undefined` when not shuffling. */
  readonly rng: Rng | undefined;
  #epoch: number;
  #carry: Uint32Array;

  /**
   * Checks `options`: a `count` or `batchSize` that is not a positive integer is a `RangeError`,
   * a `batchSize` over `count` with `lastBatch: "discard"` a `UserError`, a `state` whose
   * carry does not fit `count` a `UserError`; shuffling without a seed, an rng or a state is a
   * `TypeError`.
   */
  constructor(options: DataIterOptions) {
    const { count, batchSize, shuffle, lastBatch = "pad", state } = options;
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`DataIter: count must be a positive integer, got ${count}`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`DataIter: batch size must be a positive integer, got ${batchSize}`);
    }
    if (lastBatch === "discard" && batchSize > count) {
      throw new UserError(
        `Batch size ${batchSize} is larger than the ${count} samples: discarding the last ` +
          `batch would leave none`,
      );
    }
    this.count = count;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.lastBatch = lastBatch;
    this.#epoch = state?.epoch ?? 0;
    this.#carry = Uint32Array.from(state?.carry ?? []);
    const stray = this.#carry.find((i) => i >= count);
    if (stray !== undefined) {
      throw new UserError(
        `The saved iterator state holds sample ${stray}, but there are only ${count} samples`,
        { hint: "Resume with the --limit the run was started with." },
      );
    }
    if (shuffle) {
      if (state?.rng) this.rng = Rng.fromState(state.rng);
      else if (options.rng) this.rng = options.rng;
      else if (options.seed !== undefined) this.rng = new Rng(options.seed);
      else throw new TypeError("DataIter: shuffling needs a seed, an rng or a saved state");
    }
  }

  /** Draws the next epoch: its order, its padded index array and its batches. */
  epoch(): Epoch {
    const n = this.count;
    const b = this.batchSize;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    this.rng?.shuffle(order);
    const index = this.#epoch++;

    if (this.lastBatch === "pad") {
      const batches = Math.ceil(n / b);
      const indices = new Uint32Array(batches * b);
      indices.set(order);
      // MXNet fills the last batch from the start of the order, wrapping again if B > N.
      for (let i = n; i < indices.length; i++) indices[i] = order[i % n]!;
      return new Epoch(index, { order, indices, batchSize: b, pad: indices.length - n });
    }
    if (this.lastBatch === "discard") {
      const indices = order.subarray(0, Math.floor(n / b) * b);
      return new Epoch(index, { order, indices, batchSize: b, pad: 0 });
    }
    // roll_over: last epoch's leftovers go first, this epoch's leftovers wait for the next.
    const all = new Uint32Array(this.#carry.length + n);
    all.set(this.#carry);
    all.set(order, this.#carry.length);
    const used = Math.floor(all.length / b) * b;
    this.#carry = all.slice(used);
    return new Epoch(index, { order, indices: all.subarray(0, used), batchSize: b, pad: 0 });
  }

  /** A snapshot to resume from: pass it as `state` to a new `DataIter` with the same options. */
  state(): DataIterState {
    return {
      epoch: this.#epoch,
      rng: this.rng ? Array.from(this.rng.state) : undefined,
      carry: Array.from(this.#carry),
    };
  }
}
