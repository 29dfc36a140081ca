/**
 * The IDX format of the MNIST files (http://yann.lecun.com/exdb/mnist/): a big-endian header,
 * then the values as unsigned bytes.
 *
 *   labels: u32 magic 2049 (0x00000801: u8 values, 1 dimension), u32 count, count × u8
 *   images: u32 magic 2051 (0x00000803: u8 values, 3 dimensions), u32 count, u32 rows, u32 cols,
 *           count × rows × cols × u8, row-major
 *
 * The parsers validate everything and return views into the given bytes, never copies. A loader
 * that reads a file piecewise can check the header alone first (`parseIdxHeader`), so a header
 * claiming billions of items is refused before anything is allocated for them.
 */
import { UserError } from "../errors.ts";

/** Magic number of a label file: unsigned bytes, one dimension. */
export const LABELS_MAGIC = 2049;
/** Magic number of an image file: unsigned bytes, three dimensions. */
export const IMAGES_MAGIC = 2051;
/** Labels must be class indices below this. */
export const NUM_CLASSES = 10;
/**
 * The most value bytes a file may claim: 2^31 - 1, the limit of a JavaScript typed array on many
 * engines and 45 times the largest MNIST-format file (47,040,000 pixel bytes).
 */
export const MAX_IDX_VALUES = 2 ** 31 - 1;

/** What an IDX header says, checked: the file's kind, its dimensions and its expected length. */
export interface IdxHeader {
  /** From the magic number: 2051 images, 2049 labels. */
  kind: "images" | "labels";
  /** Samples: the header's first dimension. */
  count: number;
  /** Image rows; 1 for labels. */
  rows: number;
  /** Image columns; 1 for labels. */
  cols: number;
  /** Header bytes: 8 for labels, 16 for images. */
  headerBytes: number;
  /** Value bytes after the header: count (x rows x cols), at most `MAX_IDX_VALUES`. */
  valueBytes: number;
}

/** A parsed image file. */
export interface IdxImages {
  /** Magic number 2051. */
  kind: "images";
  /** Images in the file. */
  count: number;
  /** Image height in pixels (28 for MNIST). */
  rows: number;
  /** Image width in pixels (28 for MNIST). */
  cols: number;
  /** (count, rows, cols) u8 pixels, row-major: a view into the parsed bytes. */
  pixels: Uint8Array;
}

/** A parsed label file. */
export interface IdxLabels {
  /** Magic number 2049. */
  kind: "labels";
  /** Labels in the file. */
  count: number;
  /** (count) class indices, each < 10: a view into the parsed bytes. */
  labels: Uint8Array;
}

/** An image file and its label file, checked to describe the same samples. */
export interface IdxPair {
  /** Samples: the same in both files. */
  count: number;
  /** Image height in pixels. */
  rows: number;
  /** Image width in pixels. */
  cols: number;
  /** (count, rows, cols) u8 pixels. */
  images: Uint8Array;
  /** (count) class indices. */
  labels: Uint8Array;
}

/** Bytes and the file name that error messages should use for them. */
export interface NamedBytes {
  /** The file's name or path, quoted in errors: `Cannot read IDX file "<name>": ...`. */
  name: string;
  /** The decompressed IDX bytes. */
  bytes: Uint8Array;
}

function fail(name: string, problem: string): never {
  throw new UserError(`Cannot read IDX file "${name}": ${problem}`);
}

/**
 * Checks the header at the start of `bytes` (the first 16 bytes of a file are enough; the rest
 * is not looked at) and says what the file must hold. Throws a `UserError` for a short header, an
 * unknown magic number, zero-sized image dimensions, or dimensions claiming more than
 * `MAX_IDX_VALUES` bytes.
 */
export function parseIdxHeader(bytes: Uint8Array, name: string): IdxHeader {
  if (bytes.length < 8) {
    fail(name, `${bytes.length} bytes is too short for an IDX header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0); // big-endian, as IDX is
  const count = view.getUint32(4);
  if (magic === LABELS_MAGIC) {
    checkClaim(name, [count], `${count} labels`);
    return { kind: "labels", count, rows: 1, cols: 1, headerBytes: 8, valueBytes: count };
  }
  if (magic !== IMAGES_MAGIC) {
    fail(name, `magic number ${magic} is neither ${LABELS_MAGIC} nor ${IMAGES_MAGIC}`);
  }
  if (bytes.length < 16) {
    fail(name, `${bytes.length} bytes is too short for an image file header (16 bytes)`);
  }
  const rows = view.getUint32(8);
  const cols = view.getUint32(12);
  if (rows === 0 || cols === 0) fail(name, `image size ${rows} x ${cols} is empty`);
  checkClaim(name, [count, rows, cols], `${count} x ${rows} x ${cols} images`);
  return { kind: "images", count, rows, cols, headerBytes: 16, valueBytes: count * rows * cols };
}

/** Refuses dimensions whose product is more than `MAX_IDX_VALUES` (computed exactly, in bigints). */
function checkClaim(name: string, dims: number[], what: string): void {
  const valueBytes = dims.reduce((product, dim) => product * BigInt(dim), 1n);
  if (valueBytes <= BigInt(MAX_IDX_VALUES)) return;
  fail(
    name,
    `the header claims ${what} (${valueBytes.toLocaleString("en-US")} bytes), more than the ` +
      `${MAX_IDX_VALUES.toLocaleString("en-US")} an IDX file may hold`,
  );
}

/**
 * Parses an IDX label or image file. `name` is only used in error messages. Throws a
 * `UserError` for what `parseIdxHeader` refuses, a truncated file, trailing bytes, or a label
 * that is not a digit class.
 */
export function parseIdx(bytes: Uint8Array, name: string): IdxImages | IdxLabels {
  const header = parseIdxHeader(bytes, name);
  const { kind, count, rows, cols, headerBytes, valueBytes } = header;
  const what = kind === "labels" ? `${count} labels` : `${count} x ${rows} x ${cols} images`;
  checkLength(name, bytes.length, headerBytes, valueBytes, what);
  const values = bytes.subarray(headerBytes);
  if (kind === "images") return { kind, count, rows, cols, pixels: values };
  for (let i = 0; i < count; i++) {
    if (values[i]! >= NUM_CLASSES) {
      fail(name, `label ${i} is ${values[i]}, not a class below ${NUM_CLASSES}`);
    }
  }
  return { kind, count, labels: values };
}

function checkLength(name: string, actual: number, header: number, body: number, what: string) {
  const expected = header + body;
  if (actual === expected) return;
  const extra = actual - expected;
  const detail = extra < 0
    ? "truncated"
    : `${extra.toLocaleString("en-US")} trailing byte${extra === 1 ? "" : "s"}`;
  fail(
    name,
    `expected ${expected.toLocaleString("en-US")} bytes for ${what}, ` +
      `got ${actual.toLocaleString("en-US")} (${detail})`,
  );
}

/** Parses an IDX image file, failing when it is a label file. */
export function parseIdxImages(bytes: Uint8Array, name: string): IdxImages {
  const idx = parseIdx(bytes, name);
  if (idx.kind !== "images") {
    fail(name, `expected an image file (magic ${IMAGES_MAGIC}), got labels`);
  }
  return idx;
}

/** Parses an IDX label file, failing when it is an image file. */
export function parseIdxLabels(bytes: Uint8Array, name: string): IdxLabels {
  const idx = parseIdx(bytes, name);
  if (idx.kind !== "labels") {
    fail(name, `expected a label file (magic ${LABELS_MAGIC}), got images`);
  }
  return idx;
}

/**
 * Parses an image file and its label file and checks that they hold the same number of
 * samples.
 */
export function parseIdxPair(images: NamedBytes, labels: NamedBytes): IdxPair {
  const x = parseIdxImages(images.bytes, images.name);
  const y = parseIdxLabels(labels.bytes, labels.name);
  if (x.count !== y.count) {
    throw new UserError(
      `IDX files "${images.name}" and "${labels.name}" disagree: ` +
        `${x.count.toLocaleString("en-US")} images but ${y.count.toLocaleString("en-US")} labels`,
    );
  }
  return { count: x.count, rows: x.rows, cols: x.cols, images: x.pixels, labels: y.labels };
}
