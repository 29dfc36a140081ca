/**
 * The IDX format of the MNIST files (http://yann.lecun.com/exdb/mnist/): a big-endian header,
 * then the values as unsigned bytes.
 *
 *   labels: u32 magic 2049 (0x00000801: u8 values, 1 dimension), u32 count, count × u8
 *   images: u32 magic 2051 (0x00000803: u8 values, 3 dimensions), u32 count, u32 rows, u32 cols,
 *           count × rows × cols × u8, row-major
 *
 * The parsers validate everything and return views into the given bytes, never copies.
 */
import { UserError } from "../errors.ts";

/** Magic number of a label file: unsigned bytes, one dimension. */
export const LABELS_MAGIC = 2049;
/** Magic number of an image file: unsigned bytes, three dimensions. */
export const IMAGES_MAGIC = 2051;
/** Labels must be class indices below this. */
export const NUM_CLASSES = 10;

/** A parsed image file. */
export interface IdxImages {
  kind: "images";
  count: number;
  rows: number;
  cols: number;
  /** (count, rows, cols) u8 pixels, row-major: a view into the parsed bytes. */
  pixels: Uint8Array;
}

/** A parsed label file. */
export interface IdxLabels {
  kind: "labels";
  count: number;
  /** (count) class indices, each < 10: a view into the parsed bytes. */
  labels: Uint8Array;
}

/** An image file and its label file, checked to describe the same samples. */
export interface IdxPair {
  count: number;
  rows: number;
  cols: number;
  /** (count, rows, cols) u8 pixels. */
  images: Uint8Array;
  /** (count) class indices. */
  labels: Uint8Array;
}

/** Bytes and the file name that error messages should use for them. */
export interface NamedBytes {
  name: string;
  bytes: Uint8Array;
}

function fail(name: string, problem: string): never {
  throw new UserError(`Cannot read IDX file "${name}": ${problem}`);
}

/**
 * Parses an IDX label or image file. `name` is only used in error messages. Throws a
 * `UserError` for an unknown magic number, zero-sized image dimensions, a truncated file,
 * trailing bytes, or a label that is not a digit class.
 */
export function parseIdx(bytes: Uint8Array, name: string): IdxImages | IdxLabels {
  if (bytes.length < 8) {
    fail(name, `${bytes.length} bytes is too short for an IDX header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0); // big-endian, as IDX is
  const count = view.getUint32(4);
  if (magic === LABELS_MAGIC) {
    checkLength(name, bytes.length, 8, count, `${count} labels`);
    const labels = bytes.subarray(8);
    for (let i = 0; i < count; i++) {
      if (labels[i]! >= NUM_CLASSES) {
        fail(name, `label ${i} is ${labels[i]}, not a class below ${NUM_CLASSES}`);
      }
    }
    return { kind: "labels", count, labels };
  }
  if (magic === IMAGES_MAGIC) {
    if (bytes.length < 16) {
      fail(name, `${bytes.length} bytes is too short for an image file header (16 bytes)`);
    }
    const rows = view.getUint32(8);
    const cols = view.getUint32(12);
    if (rows === 0 || cols === 0) fail(name, `image size ${rows} x ${cols} is empty`);
    checkLength(name, bytes.length, 16, count * rows * cols, `${count} x ${rows} x ${cols} images`);
    return { kind: "images", count, rows, cols, pixels: bytes.subarray(16) };
  }
  fail(name, `magic number ${magic} is neither ${LABELS_MAGIC} nor ${IMAGES_MAGIC}`);
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
