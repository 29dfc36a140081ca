import assert from "node:assert/strict";
import {
  DataIter,
  gatherBatch,
  holdout,
  loadSplit,
  releaseImages,
  type Split,
  subset,
} from "../src/data/dataset.ts";
import { UserError } from "../src/errors.ts";
import { Rng } from "../src/random.ts";
import { MNIST } from "./test_data.ts";

const HINT = 'Run "mnist download" to fetch it again.';

/** Runs `bytes` through a (de)compression stream. */
async function transform(
  bytes: Uint8Array<ArrayBuffer>,
  stream: CompressionStream | DecompressionStream,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(
    await new Response(new Blob([bytes]).stream().pipeThrough(stream)).arrayBuffer(),
  );
}

const gzip = (bytes: Uint8Array<ArrayBuffer>) => transform(bytes, new CompressionStream("gzip"));
const gunzip = (bytes: Uint8Array<ArrayBuffer>) =>
  transform(bytes, new DecompressionStream("gzip"));

/**
 * A temporary data dir holding the real test images and `labels` as the test labels file;
 * `fn` receives its path and the directory is removed afterwards.
 */
async function withTestSplit(labels: Uint8Array, fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "mnist_dataset_test_" });
  try {
    await Deno.copyFile(`${MNIST}/t10k-images-idx3-ubyte.gz`, `${dir}/t10k-images-idx3-ubyte.gz`);
    await Deno.writeFile(`${dir}/t10k-labels-idx1-ubyte.gz`, labels);
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function assertRejectsUserError(promise: Promise<unknown>, pattern: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof UserError, `expected a UserError, got ${error}`);
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test("loadSplit() loads the MNIST training split", async () => {
  const train = await loadSplit(MNIST, { dataset: "mnist", split: "train" });
  assert.deepEqual([train.count, train.rows, train.cols], [60000, 28, 28]);
  assert.equal(train.images.length, 60000 * 28 * 28);
  assert.equal(train.labels.length, 60000);
  assert.deepEqual(Array.from(train.labels.subarray(0, 10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  // The first digit, a 5, has ink in its middle and a blank border.
  const first = train.images.subarray(0, 784);
  assert.equal(Math.max(...first), 255);
  assert.equal(Math.max(...first.subarray(0, 28)), 0);
});

Deno.test("loadSplit() loads the MNIST test split", async () => {
  const test = await loadSplit(MNIST, { dataset: "mnist", split: "test" });
  assert.deepEqual([test.count, test.rows, test.cols], [10000, 28, 28]);
  assert.deepEqual(Array.from(test.labels.subarray(0, 10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
});

Deno.test("loadSplit() rejects a file whose content differs from the pinned checksum", async () => {
  const labels = await gunzip(await Deno.readFile(`${MNIST}/t10k-labels-idx1-ubyte.gz`));
  labels[8] = labels[8] === 7 ? 6 : 7; // still a valid IDX file, but not MNIST's
  await withTestSplit(await gzip(labels), async (dir) => {
    const promise = loadSplit(dir, { dataset: "mnist", split: "test" });
    await assertRejectsUserError(
      promise,
      /^Checksum mismatch for ".*\/t10k-labels-idx1-ubyte\.gz": SHA-256 of the decompressed bytes is [0-9a-f]{64}, expected ff7bcfd4/,
    );
    await promise.catch((error) => assert.equal(error.hint, HINT));
  });
});

Deno.test("loadSplit() rejects a file that decompresses to the wrong size", async () => {
  const labels = await gunzip(await Deno.readFile(`${MNIST}/t10k-labels-idx1-ubyte.gz`));
  await withTestSplit(await gzip(labels.subarray(0, 5000)), async (dir) => {
    await assertRejectsUserError(
      loadSplit(dir, { dataset: "mnist", split: "test" }),
      /^Checksum mismatch for ".*t10k-labels-idx1-ubyte\.gz": it decompresses to 5,000 bytes, expected 10,008$/,
    );
  });
  const longer = new Uint8Array(labels.length + 1);
  longer.set(labels);
  await withTestSplit(await gzip(longer), async (dir) => {
    await assertRejectsUserError(
      loadSplit(dir, { dataset: "mnist", split: "test" }),
      /it decompresses to more than 10,008 bytes, expected 10,008$/,
    );
  });
});

Deno.test("loadSplit() rejects a file that is not gzip, with the download hint", async () => {
  await withTestSplit(new TextEncoder().encode("<html>Not Found</html>"), async (dir) => {
    const promise = loadSplit(dir, { dataset: "mnist", split: "test" });
    await assertRejectsUserError(promise, /^Cannot decompress ".*t10k-labels-idx1-ubyte\.gz": /);
    await promise.catch((error) => assert.equal(error.hint, HINT));
  });
});

Deno.test("loadSplit() says an uncompressed IDX file under the .gz name is not gzip data", async () => {
  // `gunzip -k x.gz` then the raw file saved over the .gz name: zlib said "incorrect header check".
  const labels = await gunzip(await Deno.readFile(`${MNIST}/t10k-labels-idx1-ubyte.gz`));
  await withTestSplit(labels, async (dir) => {
    const promise = loadSplit(dir, { dataset: "mnist", split: "test" });
    await assertRejectsUserError(
      promise,
      /^Cannot decompress ".*t10k-labels-idx1-ubyte\.gz": it is an uncompressed IDX file, not gzip data$/,
    );
    await promise.catch((error) => {
      const raw = `${dir}/t10k-labels-idx1-ubyte`;
      assert.equal(
        error.hint,
        `Compress it (mv "${raw}.gz" "${raw}" && gzip "${raw}"), or run "mnist download" to ` +
          `fetch it again.`,
      );
    });
  });
  await withTestSplit(new TextEncoder().encode("<html>Not Found</html>"), async (dir) => {
    await assertRejectsUserError(
      loadSplit(dir, { dataset: "mnist", split: "test" }),
      /: it is not gzip data \(a gzip file starts with 1f 8b\)$/,
    );
  });
  // A gzip file cut short, and one with a damaged byte in its stream: plain words, not zlib's.
  const good = await Deno.readFile(`${MNIST}/t10k-labels-idx1-ubyte.gz`);
  await withTestSplit(good.subarray(0, good.length - 20), async (dir) => {
    await assertRejectsUserError(
      loadSplit(dir, { dataset: "mnist", split: "test" }),
      /: its compressed data ends early: the file is truncated$/,
    );
  });
  const flipped = good.slice();
  flipped[good.length - 30] = flipped[good.length - 30]! ^ 0xff;
  await withTestSplit(flipped, async (dir) => {
    await assertRejectsUserError(
      loadSplit(dir, { dataset: "mnist", split: "test" }),
      /: its compressed data is damaged$/,
    );
  });
});

Deno.test('loadSplit() names bytes after the gzip stream, not an "incorrect header check"', async () => {
  // `cat good.gz; printf garbage`: a valid gzip member, then 7 bytes zlib took for a header.
  const good = await Deno.readFile(`${MNIST}/t10k-labels-idx1-ubyte.gz`);
  const damaged = new Uint8Array([...good, ...new TextEncoder().encode("garbage")]);
  await withTestSplit(damaged, async (dir) => {
    const promise = loadSplit(dir, { dataset: "mnist", split: "test" });
    await assertRejectsUserError(
      promise,
      /^Cannot decompress ".*t10k-labels-idx1-ubyte\.gz": it has 7 bytes of data after the compressed stream: the file is damaged$/,
    );
    await promise.catch((error) => assert.equal(error.hint, HINT));
  });
  // The same with a header that carries a file name (FNAME), as gzip(1) writes one.
  const named = new Uint8Array([
    ...good.subarray(0, 3),
    good[3]! | 8,
    ...good.subarray(4, 10),
    ...new TextEncoder().encode("t10k-labels-idx1-ubyte\0"),
    ...good.subarray(10),
    ...new TextEncoder().encode("0123456789"),
  ]);
  await withTestSplit(named, async (dir) => {
    await assertRejectsUserError(
      loadSplit(dir, { dataset: "mnist", split: "test" }),
      /: it has 10 bytes of data after the compressed stream: the file is damaged$/,
    );
  });
});

Deno.test("loadSplit() refuses a file larger than any gzip of the pinned size", async () => {
  // Random bytes do not compress: a gzip of 20,000 of them is larger than one of 10,008 can be.
  const noise = crypto.getRandomValues(new Uint8Array(20000));
  await withTestSplit(await gzip(noise), async (dir) => {
    const promise = loadSplit(dir, { dataset: "mnist", split: "test" });
    await assertRejectsUserError(
      promise,
      /^Cannot decompress ".*t10k-labels-idx1-ubyte\.gz": it is 20,\d{3} bytes, more than a gzip of 10,008 bytes can be$/,
    );
    await promise.catch((error) => assert.equal(error.hint, HINT));
  });
});

Deno.test("loadSplit() refuses a data file that is a directory or a device, not a file", async () => {
  // A directory was a stack trace (IsADirectory); /dev/zero (here through a symlink) was read
  // without end, the process's memory growing until it was killed.
  for (
    const make of [
      (path: string) => Deno.mkdir(path),
      (path: string) => Deno.symlink("/dev/zero", path),
    ]
  ) {
    await withTestSplit(new Uint8Array(0), async (dir) => {
      const path = `${dir}/t10k-labels-idx1-ubyte.gz`;
      await Deno.remove(path);
      await make(path);
      const promise = loadSplit(dir, { dataset: "mnist", split: "test" });
      await assertRejectsUserError(
        promise,
        /^Cannot read ".*t10k-labels-idx1-ubyte\.gz": it is not a file$/,
      );
      await promise.catch((error) => assert.equal(error.hint, HINT));
    });
  }
});

Deno.test("loadSplit() names the path and the reason when a data file cannot be read", async () => {
  // A symlink to itself: lstat finds it, stat and open fail (ELOOP). This was a stack trace.
  await withTestSplit(new Uint8Array(0), async (dir) => {
    const path = `${dir}/t10k-labels-idx1-ubyte.gz`;
    await Deno.remove(path);
    await Deno.symlink(path, path);
    const promise = loadSplit(dir, { dataset: "mnist", split: "test" });
    await assertRejectsUserError(
      promise,
      /^Cannot read ".*t10k-labels-idx1-ubyte\.gz": too many levels of symbolic links$/,
    );
    await promise.catch((error) => assert.match(error.hint, /--data-dir DIR/));
  });
});

Deno.test("releaseImages() empties every view of a split's pixels and keeps its labels", async () => {
  const test = await loadSplit(MNIST, { dataset: "mnist", split: "test" });
  const few = subset(test, 100);
  const { train, validation } = holdout(test, 1000);
  assert.equal(few.images.length, 100 * 784);
  releaseImages(few);
  for (const split of [test, few, train, validation]) assert.equal(split.images.length, 0);
  assert.equal(test.labels.length, 10000);
  assert.deepEqual(Array.from(test.labels.subarray(0, 3)), [7, 2, 1]);
  releaseImages(test); // again: nothing left to free, no error
});

Deno.test("loadSplit() names a missing file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mnist_dataset_test_" });
  try {
    await assertRejectsUserError(
      loadSplit(dir, { dataset: "fashion", split: "test" }),
      /^Cannot find ".*\/fashion\/t10k-(images|labels)-idx[13]-ubyte\.gz"$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("subset() takes n samples from the first one asked for, as views", async () => {
  const test = await loadSplit(MNIST, { dataset: "mnist", split: "test" });
  const small = subset(test, 3);
  assert.deepEqual([small.count, small.rows, small.cols], [3, 28, 28]);
  assert.deepEqual(Array.from(small.labels), [7, 2, 1]);
  assert.equal(small.images.length, 3 * 784);
  assert.equal(small.images.buffer, test.images.buffer);
  assert.equal(subset(test, 1e6).count, 10000);
  assert.throws(() => subset(test, -1), RangeError);
  // From sample `first` on: the same pixels and labels, and only what remains past the end.
  const later = subset(test, 2, { first: 1 });
  assert.deepEqual(Array.from(later.labels), [2, 1]);
  assert.deepEqual(later.images, test.images.subarray(784, 3 * 784));
  assert.equal(subset(test, 5, { first: 9998 }).count, 2);
  assert.equal(subset(test, 5, { first: 10000 }).count, 0);
  assert.throws(() => subset(test, 1, { first: 10001 }), RangeError);
  assert.throws(() => subset(test, 1, { first: -1 }), RangeError);
});

function sorted(a: Uint32Array): number[] {
  return Array.from(a).sort((x, y) => x - y);
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

Deno.test("DataIter shuffles each epoch into a permutation, reproducibly by seed", () => {
  const options = { count: 1000, batchSize: 100, shuffle: true, seed: 42 } as const;
  const a = new DataIter(options);
  const b = new DataIter(options);
  const a1 = a.epoch();
  const a2 = a.epoch();
  assert.deepEqual(sorted(a1.order), range(1000));
  assert.deepEqual(sorted(a2.order), range(1000));
  assert.notDeepEqual(Array.from(a1.order), range(1000), "epoch 1 should be shuffled");
  assert.notDeepEqual(Array.from(a1.order), Array.from(a2.order), "epochs should differ");
  assert.deepEqual(b.epoch().order, a1.order);
  assert.deepEqual(b.epoch().order, a2.order);
  const other = new DataIter({ ...options, seed: 43 });
  assert.notDeepEqual(other.epoch().order, a1.order, "another seed gives another order");
});

Deno.test("DataIter without shuffle keeps the stored order", () => {
  const iter = new DataIter({ count: 7, batchSize: 7, shuffle: false });
  assert.deepEqual(Array.from(iter.epoch().order), range(7));
  assert.deepEqual(Array.from(iter.epoch().indices), range(7));
});

Deno.test("DataIter resumes from a saved state with identical epochs", () => {
  const options = { count: 50, batchSize: 8, shuffle: true } as const;
  const rng = new Rng(7);
  const first = new DataIter({ ...options, rng });
  first.epoch();
  const saved = JSON.parse(JSON.stringify(first.state()));
  const resumed = new DataIter({ ...options, state: saved });
  const fromRng = new DataIter({ ...options, rng: Rng.fromState(rng.state) });
  for (let e = 0; e < 3; e++) {
    const expected = first.epoch();
    const got = resumed.epoch();
    assert.equal(got.index, expected.index);
    assert.deepEqual(got.indices, expected.indices);
    assert.deepEqual(fromRng.epoch().indices, expected.indices);
  }
});

Deno.test("DataIter pads the last batch by wrapping to the start of the order (N=10, B=4)", () => {
  const iter = new DataIter({ count: 10, batchSize: 4, shuffle: true, seed: 1 });
  const epoch = iter.epoch();
  assert.equal(epoch.numBatches, 3);
  assert.equal(epoch.pad, 2);
  assert.equal(epoch.indices.length, 12);
  const batches = [...epoch];
  assert.deepEqual(batches.map((b) => b.pad), [0, 0, 2]);
  assert.deepEqual(batches.map((b) => b.index), [0, 1, 2]);
  const o = Array.from(epoch.order);
  assert.deepEqual(Array.from(batches[0]!.indices), o.slice(0, 4));
  assert.deepEqual(Array.from(batches[2]!.indices), [o[8], o[9], o[0], o[1]]);
  assert.throws(() => epoch.batch(3), RangeError);
});

Deno.test("DataIter pads a batch larger than the dataset by wrapping repeatedly", () => {
  const epoch = new DataIter({ count: 3, batchSize: 8, shuffle: false }).epoch();
  assert.equal(epoch.numBatches, 1);
  assert.equal(epoch.pad, 5);
  assert.deepEqual(Array.from(epoch.indices), [0, 1, 2, 0, 1, 2, 0, 1]);
});

Deno.test("DataIter discards the last incomplete batch", () => {
  const epoch = new DataIter({ count: 10, batchSize: 4, shuffle: false, lastBatch: "discard" })
    .epoch();
  assert.equal(epoch.numBatches, 2);
  assert.equal(epoch.pad, 0);
  assert.deepEqual(Array.from(epoch.indices), range(8));
  assert.throws(
    () => new DataIter({ count: 3, batchSize: 4, shuffle: false, lastBatch: "discard" }),
    UserError,
  );
});

Deno.test("DataIter rolls the last incomplete batch over into the next epoch", () => {
  const iter = new DataIter({ count: 10, batchSize: 4, shuffle: false, lastBatch: "roll_over" });
  const e1 = iter.epoch();
  assert.deepEqual(Array.from(e1.indices), range(8));
  assert.deepEqual(iter.state().carry, [8, 9]);
  const e2 = iter.epoch(); // 2 carried + 10 new = 12 samples, 3 full batches
  assert.equal(e2.numBatches, 3);
  assert.deepEqual(Array.from(e2.indices), [8, 9, ...range(10)]);
  assert.deepEqual(iter.state().carry, []);
});

Deno.test("DataIter resumes roll_over with the carried samples", () => {
  const options = {
    count: 10,
    batchSize: 4,
    shuffle: true,
    seed: 5,
    lastBatch: "roll_over",
  } as const;
  const iter = new DataIter(options);
  const e1 = iter.epoch();
  const resumed = new DataIter({ ...options, state: iter.state() });
  const expected = iter.epoch();
  const got = resumed.epoch();
  assert.deepEqual(Array.from(got.indices.subarray(0, 2)), Array.from(e1.order.subarray(8)));
  assert.deepEqual(got.indices, expected.indices);
  assert.deepEqual(resumed.state(), iter.state());
});

Deno.test("DataIter needs a seed to shuffle and a positive size", () => {
  assert.throws(() => new DataIter({ count: 10, batchSize: 4, shuffle: true }), TypeError);
  assert.throws(() => new DataIter({ count: 0, batchSize: 4, shuffle: false }), RangeError);
  assert.throws(() => new DataIter({ count: 10, batchSize: 0, shuffle: false }), RangeError);
});

Deno.test("gatherBatch() scales pixels to [0, 1] as float32 NCHW with float labels", () => {
  // Two 1x2 images: [0, 255] labelled 3 and [51, 102] labelled 9.
  const split: Split = {
    images: new Uint8Array([0, 255, 51, 102]),
    labels: new Uint8Array([3, 9]),
    count: 2,
    rows: 1,
    cols: 2,
  };
  const batch = gatherBatch(split, [1, 0, 1]);
  assert.deepEqual(Array.from(batch.data), [0.2, 0.4, 0, 1, 0.2, 0.4].map(Math.fround));
  assert.deepEqual(Array.from(batch.label), [9, 3, 9]);
  assert.equal(batch.data[3], 1, "255 must map to exactly 1");

  const out = { data: new Float32Array(2), label: new Float32Array(1) };
  assert.equal(gatherBatch(split, [0], { out }), out);
  assert.deepEqual(Array.from(out.data), [0, 1]);
  assert.throws(() => gatherBatch(split, [0, 1], { out }), RangeError);
  assert.throws(() => gatherBatch(split, [2]), RangeError);
});

Deno.test("gatherBatch() on a real padded batch matches the stored bytes", async () => {
  const test = subset(await loadSplit(MNIST, { dataset: "mnist", split: "test" }), 10);
  const epoch = new DataIter({ count: 10, batchSize: 4, shuffle: true, seed: 3 }).epoch();
  const last = epoch.batch(2);
  const batch = gatherBatch(test, last.indices);
  assert.equal(batch.data.length, 4 * 1 * 28 * 28);
  for (let i = 0; i < 4; i++) {
    const s = last.indices[i]!;
    assert.equal(batch.label[i], test.labels[s]);
    for (const p of [0, 200, 400, 783]) {
      assert.equal(batch.data[i * 784 + p], Math.fround(test.images[s * 784 + p]! / 255));
    }
  }
});
