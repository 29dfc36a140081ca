import assert from "node:assert/strict";
import {
  type IdxImages,
  type IdxLabels,
  parseIdx,
  parseIdxHeader,
  parseIdxImages,
  parseIdxLabels,
  parseIdxPair,
} from "../src/data/idx.ts";
import { UserError } from "../src/errors.ts";
import { MNIST, readHead } from "./test_data.ts";

/** An IDX file: the big-endian u32 header words, then the u8 body. */
function idx(header: number[], body: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(4 * header.length + body.length);
  const view = new DataView(bytes.buffer);
  header.forEach((word, i) => view.setUint32(4 * i, word));
  bytes.set(body, 4 * header.length);
  return bytes;
}

/** Asserts that `fn` throws a UserError whose message is exactly `message`. */
function assertUserError(fn: () => unknown, message: string) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UserError, `expected a UserError, got ${error}`);
    assert.equal(error.message, message);
    return true;
  });
}

Deno.test("parseIdx() reads a tiny label file", () => {
  const bytes = idx([2049, 3], [7, 0, 9]);
  const result = parseIdx(bytes, "tiny-labels") as IdxLabels;
  assert.equal(result.kind, "labels");
  assert.equal(result.count, 3);
  assert.deepEqual(Array.from(result.labels), [7, 0, 9]);
  assert.equal(result.labels.buffer, bytes.buffer, "labels should be a view, not a copy");
});

Deno.test("parseIdx() reads a tiny image file, row-major", () => {
  // 2 images of 2 rows x 3 cols.
  const body = [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 255];
  const bytes = idx([2051, 2, 2, 3], body);
  const result = parseIdx(bytes, "tiny-images") as IdxImages;
  assert.equal(result.kind, "images");
  assert.deepEqual([result.count, result.rows, result.cols], [2, 2, 3]);
  assert.deepEqual(Array.from(result.pixels), body);
  assert.equal(result.pixels.buffer, bytes.buffer, "pixels should be a view, not a copy");
});

Deno.test("parseIdx() accepts a view that starts inside a larger buffer", () => {
  const file = idx([2049, 2], [1, 2]);
  const padded = new Uint8Array(file.length + 5);
  padded.set(file, 5);
  const result = parseIdxLabels(padded.subarray(5), "offset");
  assert.deepEqual(Array.from(result.labels), [1, 2]);
});

Deno.test("parseIdx() rejects a wrong magic number, naming the file", () => {
  assertUserError(
    () => parseIdx(idx([2050, 1], [0]), "x.gz"),
    'Cannot read IDX file "x.gz": magic number 2050 is neither 2049 nor 2051',
  );
});

Deno.test("parseIdx() rejects a file shorter than its header", () => {
  assertUserError(
    () => parseIdx(new Uint8Array([0, 0, 8]), "short.gz"),
    'Cannot read IDX file "short.gz": 3 bytes is too short for an IDX header',
  );
  assertUserError(
    () => parseIdx(idx([2051, 1, 28], []), "short-images.gz"),
    'Cannot read IDX file "short-images.gz": 12 bytes is too short for an image file header ' +
      "(16 bytes)",
  );
});

Deno.test("parseIdx() rejects truncated files with expected and actual sizes", () => {
  assertUserError(
    () => parseIdx(idx([2051, 2, 28, 28], new Uint8Array(2 * 784 - 1)), "images.gz"),
    'Cannot read IDX file "images.gz": expected 1,584 bytes for 2 x 28 x 28 images, ' +
      "got 1,583 (truncated)",
  );
  assertUserError(
    () => parseIdx(idx([2049, 5], [1, 2, 3]), "labels.gz"),
    'Cannot read IDX file "labels.gz": expected 13 bytes for 5 labels, got 11 (truncated)',
  );
});

Deno.test("parseIdx() rejects trailing bytes", () => {
  assertUserError(
    () => parseIdx(idx([2049, 2], [1, 2, 3, 4]), "labels.gz"),
    'Cannot read IDX file "labels.gz": expected 10 bytes for 2 labels, got 12 (2 trailing bytes)',
  );
  assertUserError(
    () => parseIdx(idx([2051, 1, 1, 2], [1, 2, 3]), "images.gz"),
    'Cannot read IDX file "images.gz": expected 18 bytes for 1 x 1 x 2 images, ' +
      "got 19 (1 trailing byte)",
  );
});

Deno.test("parseIdx() rejects empty image dimensions", () => {
  assertUserError(
    () => parseIdx(idx([2051, 4, 0, 28], []), "images.gz"),
    'Cannot read IDX file "images.gz": image size 0 x 28 is empty',
  );
});

Deno.test("parseIdx() rejects a label that is not a digit class", () => {
  assertUserError(
    () => parseIdx(idx([2049, 4], [0, 9, 10, 3]), "labels.gz"),
    'Cannot read IDX file "labels.gz": label 2 is 10, not a class below 10',
  );
});

Deno.test("parseIdxImages() and parseIdxLabels() reject the other kind of file", () => {
  assertUserError(
    () => parseIdxImages(idx([2049, 1], [3]), "labels.gz"),
    'Cannot read IDX file "labels.gz": expected an image file (magic 2051), got labels',
  );
  assertUserError(
    () => parseIdxLabels(idx([2051, 1, 1, 1], [3]), "images.gz"),
    'Cannot read IDX file "images.gz": expected a label file (magic 2049), got images',
  );
});

Deno.test("parseIdxPair() pairs images with labels", () => {
  const pair = parseIdxPair(
    { name: "i.gz", bytes: idx([2051, 2, 1, 2], [1, 2, 3, 4]) },
    { name: "l.gz", bytes: idx([2049, 2], [8, 9]) },
  );
  assert.deepEqual([pair.count, pair.rows, pair.cols], [2, 1, 2]);
  assert.deepEqual(Array.from(pair.images), [1, 2, 3, 4]);
  assert.deepEqual(Array.from(pair.labels), [8, 9]);
});

Deno.test("parseIdxPair() rejects a count mismatch between images and labels", () => {
  assertUserError(
    () =>
      parseIdxPair(
        { name: "i.gz", bytes: idx([2051, 2, 1, 1], [1, 2]) },
        { name: "l.gz", bytes: idx([2049, 3], [1, 2, 3]) },
      ),
    'IDX files "i.gz" and "l.gz" disagree: 2 images but 3 labels',
  );
});

Deno.test("real MNIST headers: 60000 x 28 x 28 training images, 10000 test labels", async () => {
  const dir = MNIST;
  const head = await readHead(`${dir}/train-images-idx3-ubyte.gz`, 16);
  const view = new DataView(head.buffer);
  assert.deepEqual([0, 4, 8, 12].map((o) => view.getUint32(o)), [2051, 60000, 28, 28]);
  // A header alone is a truncated file, and the message must give the real expected size.
  assertUserError(
    () => parseIdx(head, "train-images-idx3-ubyte.gz"),
    'Cannot read IDX file "train-images-idx3-ubyte.gz": expected 47,040,016 bytes for ' +
      "60000 x 28 x 28 images, got 16 (truncated)",
  );
  const labels = await readHead(`${dir}/t10k-labels-idx1-ubyte.gz`, 20_000);
  const parsed = parseIdxLabels(labels, "t10k-labels-idx1-ubyte.gz");
  assert.equal(parsed.count, 10000);
  assert.deepEqual(Array.from(parsed.labels.subarray(0, 10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
});

Deno.test("parseIdxHeader() tells a loader the real files' sizes from their first 16 bytes", async () => {
  const images = await readHead(`${MNIST}/train-images-idx3-ubyte.gz`, 16);
  assert.deepEqual(parseIdxHeader(images, "train-images-idx3-ubyte.gz"), {
    kind: "images",
    count: 60000,
    rows: 28,
    cols: 28,
    headerBytes: 16,
    valueBytes: 47_040_000,
  });
  const labels = await readHead(`${MNIST}/t10k-labels-idx1-ubyte.gz`, 16);
  assert.deepEqual(parseIdxHeader(labels, "t10k-labels-idx1-ubyte.gz"), {
    kind: "labels",
    count: 10000,
    rows: 1,
    cols: 1,
    headerBytes: 8,
    valueBytes: 10000,
  });
});
