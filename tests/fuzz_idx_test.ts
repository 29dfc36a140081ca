/**
 * Seeded fuzzing of the IDX parser (src/data/idx.ts): valid files, mutated at random (flipped
 * bytes, cuts, appended bytes, header dimensions and magic numbers set to awkward values), must
 * either parse into views that agree with their header or be refused with a one-line `UserError`,
 * never another error, and never by allocating what a header claims. Bounded and CPU-only; set
 * IDX_FUZZ_SEED to explore other cases (a failure names its seed, case and mutations).
 */
import assert from "node:assert/strict";
import {
  IMAGES_MAGIC,
  LABELS_MAGIC,
  MAX_IDX_VALUES,
  parseIdx,
  parseIdxHeader,
  parseIdxPair,
} from "../src/data/idx.ts";
import { UserError } from "../src/errors.ts";
import { Rng } from "../src/random.ts";
import { MNIST, readHead } from "./test_data.ts";

const CASES = 300;
const SEED = seedFromEnv() ?? 13;

function seedFromEnv(): number | undefined {
  try {
    const value = Deno.env.get("IDX_FUZZ_SEED");
    return value === undefined ? undefined : Number(value);
  } catch {
    return undefined; // no --allow-env
  }
}

/** An IDX file: the big-endian u32 header words, then the u8 values. */
function idx(header: number[], values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(4 * header.length + values.length);
  const view = new DataView(bytes.buffer);
  header.forEach((word, i) => view.setUint32(4 * i, word));
  bytes.set(values, 4 * header.length);
  return bytes;
}

/** The valid files the cases start from: tiny ones built here and the heads of real ones. */
async function seeds(): Promise<{ name: string; bytes: Uint8Array }[]> {
  const rng = new Rng(1);
  const pixels = Array.from({ length: 3 * 5 * 4 }, () => rng.int(256));
  // The first 20 test images, their header's count cut to match; all 10,000 test labels.
  const images = await readHead(`${MNIST}/t10k-images-idx3-ubyte.gz`, 16 + 20 * 784);
  new DataView(images.buffer).setUint32(4, 20);
  const labels = await readHead(`${MNIST}/t10k-labels-idx1-ubyte.gz`, 8 + 10_000);
  return [
    { name: "tiny-images", bytes: idx([IMAGES_MAGIC, 3, 5, 4], pixels) },
    { name: "tiny-labels", bytes: idx([LABELS_MAGIC, 7], [0, 1, 9, 3, 3, 7, 5]) },
    { name: "one-image", bytes: idx([IMAGES_MAGIC, 1, 1, 1], [255]) },
    { name: "no-labels", bytes: idx([LABELS_MAGIC, 0], []) },
    { name: "t10k-images-head", bytes: images },
    { name: "t10k-labels", bytes: labels },
  ];
}

/** Header words worth trying: zero, one, MNIST's sizes, powers of two and their neighbours. */
const DIMS = [
  0,
  1,
  2,
  27,
  28,
  29,
  255,
  256,
  10_000,
  60_000,
  2 ** 16,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 31 + 1,
  2 ** 32 - 1,
];
/** Magic numbers worth trying: the two valid ones, their neighbours, byte-swapped, other types. */
const MAGICS = [
  LABELS_MAGIC,
  IMAGES_MAGIC,
  2050,
  2052,
  2048,
  0x01080000,
  0x03080000,
  0x00000c01, // signed bytes, 1 dimension
  0x00000d03, // floats, 3 dimensions
  0x00000804, // u8, 4 dimensions
  0,
  0xffffffff,
];

type Mutation = (bytes: Uint8Array, rng: Rng) => { bytes: Uint8Array; what: string };

function setWord(bytes: Uint8Array, offset: number, word: number): Uint8Array {
  if (bytes.length < offset + 4) return bytes;
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(offset, word >>> 0);
  return out;
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

const MUTATIONS: Mutation[] = [
  (bytes, rng) => {
    if (bytes.length === 0) return { bytes, what: "flip (empty)" };
    const out = bytes.slice();
    // Half the flips land in the header, where they matter most.
    const i = rng.next() < 0.5 ? rng.int(Math.min(16, out.length)) : rng.int(out.length);
    const mask = 1 + rng.int(255);
    out[i]! ^= mask;
    return { bytes: out, what: `flip byte ${i} ^ ${mask}` };
  },
  (bytes, rng) => {
    const n = rng.int(bytes.length + 1);
    return { bytes: bytes.slice(0, n), what: `truncate to ${n}` };
  },
  (bytes, rng) => {
    const extra = Uint8Array.from({ length: 1 + rng.int(64) }, () => rng.int(256));
    const out = new Uint8Array(bytes.length + extra.length);
    out.set(bytes);
    out.set(extra, bytes.length);
    return { bytes: out, what: `append ${extra.length}` };
  },
  (bytes, rng) => {
    const offset = pick(rng, [4, 8, 12]);
    const word = rng.next() < 0.8 ? pick(rng, DIMS) : rng.nextU32();
    return { bytes: setWord(bytes, offset, word), what: `word ${offset} = ${word}` };
  },
  (bytes, rng) => {
    const word = rng.next() < 0.8 ? pick(rng, MAGICS) : rng.nextU32();
    return { bytes: setWord(bytes, 0, word), what: `magic = ${word}` };
  },
  (bytes, rng) => {
    const start = rng.int(bytes.length + 1);
    const end = start + rng.int(bytes.length - start + 1);
    const out = new Uint8Array(bytes.length - (end - start));
    out.set(bytes.subarray(0, start));
    out.set(bytes.subarray(end), start);
    return { bytes: out, what: `cut ${start}..${end}` };
  },
  (bytes, rng) => {
    if (bytes.length <= 8) return { bytes, what: "poke (no values)" };
    const out = bytes.slice();
    const i = 8 + rng.int(out.length - 8);
    out[i] = rng.int(256);
    return { bytes: out, what: `poke ${i} = ${out[i]}` };
  },
];

/** Parses `bytes`; returns the refusal's message, or undefined when it parsed (checked here). */
function check(bytes: Uint8Array, name: string, context: string): string | undefined {
  let parsed: ReturnType<typeof parseIdx>;
  try {
    parsed = parseIdx(bytes, name);
  } catch (error) {
    assertOneLineUserError(error, context);
    assert.ok(
      (error as UserError).message.startsWith(`Cannot read IDX file "${name}": `),
      `${context}: ${(error as UserError).message}`,
    );
    return (error as UserError).message;
  }
  // What parsed must agree with its header and be a view of the input, not a copy.
  const header = parseIdxHeader(bytes.subarray(0, 16), name);
  assert.equal(header.kind, parsed.kind, context);
  assert.equal(bytes.length, header.headerBytes + header.valueBytes, context);
  const values = parsed.kind === "images" ? parsed.pixels : parsed.labels;
  assert.equal(values.buffer, bytes.buffer, `${context}: a copy`);
  assert.equal(values.length, header.valueBytes, context);
  if (parsed.kind === "images") {
    assert.equal(parsed.count * parsed.rows * parsed.cols, values.length, context);
  } else {
    assert.ok(parsed.labels.every((label) => label < 10), context);
  }
  return undefined;
}

function assertOneLineUserError(error: unknown, context: string): void {
  assert.ok(error instanceof UserError, `${context}: threw ${error}, not a UserError`);
  assert.ok(!error.message.includes("\n"), `${context}: message of several lines`);
  assert.ok(error.message.length < 300, `${context}: message of ${error.message.length} chars`);
}

Deno.test(`parseIdx() parses or refuses ${CASES} mutated files in one line (seed ${SEED})`, async () => {
  const bases = await seeds();
  for (const base of bases) assert.equal(check(base.bytes, base.name, base.name), undefined);
  const rng = new Rng(SEED);
  const before = Deno.memoryUsage();
  const started = performance.now();
  const refusals = new Map<string, number>();
  let parsed = 0;
  for (let i = 0; i < CASES; i++) {
    const base = pick(rng, bases);
    let bytes = base.bytes;
    const steps: string[] = [];
    for (let n = 1 + rng.int(3); n > 0; n--) {
      const mutated = pick(rng, MUTATIONS)(bytes, rng);
      bytes = mutated.bytes;
      steps.push(mutated.what);
    }
    const context = `seed ${SEED}, case ${i}: ${base.name}, ${steps.join(", ")}`;
    const caseStarted = performance.now();
    const refusal = check(bytes, base.name, context);
    // A parser that trusted a claimed size would loop or allocate for seconds here.
    assert.ok(performance.now() - caseStarted < 100, `${context}: slow`);
    if (refusal === undefined) {
      parsed++;
    } else {
      // Group the refusals by kind: the message with its numbers taken out.
      const kind = refusal.replace(/^[^:]*: /, "").replace(/[\d,]+/g, "N");
      refusals.set(kind, (refusals.get(kind) ?? 0) + 1);
    }
  }
  const after = Deno.memoryUsage();
  const grown = (after.external - before.external) + (after.heapUsed - before.heapUsed);
  assert.ok(grown < 64 * 2 ** 20, `memory grew by ${grown} bytes`);
  assert.ok(performance.now() - started < 5000, "the cases took more than 5 s");
  // The mutations must reach both outcomes and many kinds of refusal, or the fuzz tests little.
  assert.ok(parsed > 0, "no mutated file parsed");
  assert.ok(refusals.size >= 8, `only these refusals: ${[...refusals.keys()].join(" | ")}`);
});

Deno.test(`parseIdxPair() refuses mutated pairs with one-line UserErrors (seed ${SEED})`, async () => {
  const bases = await seeds();
  const images = bases.filter((b) => b.name.includes("images"));
  const labels = bases.filter((b) => b.name.includes("labels"));
  const rng = new Rng(SEED + 1);
  for (let i = 0; i < 100; i++) {
    const x = pick(rng, images);
    const y = pick(rng, labels);
    const mutated = rng.next() < 0.5 ? pick(rng, MUTATIONS)(y.bytes, rng) : undefined;
    const context = `seed ${SEED}, pair ${i}: ${x.name}, ${y.name} ${mutated?.what ?? ""}`;
    try {
      const pair = parseIdxPair(
        { name: x.name, bytes: x.bytes },
        { name: y.name, bytes: mutated?.bytes ?? y.bytes },
      );
      assert.equal(pair.images.length, pair.count * pair.rows * pair.cols, context);
      assert.equal(pair.labels.length, pair.count, context);
    } catch (error) {
      assertOneLineUserError(error, context);
    }
  }
});

Deno.test("parseIdxHeader() refuses claims of 2^31 values from 16 bytes, before any allocation", () => {
  const cases: [number[], string][] = [
    [
      [LABELS_MAGIC, 2 ** 31],
      "the header claims 2147483648 labels (2,147,483,648 bytes), more than the 2,147,483,647 " +
      "an IDX file may hold",
    ],
    [
      [IMAGES_MAGIC, 2 ** 16, 2 ** 8, 2 ** 7],
      "the header claims 65536 x 256 x 128 images (2,147,483,648 bytes), more than the " +
      "2,147,483,647 an IDX file may hold",
    ],
    [
      [IMAGES_MAGIC, 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1],
      "the header claims 4294967295 x 4294967295 x 4294967295 images " +
      "(79,228,162,458,924,105,385,300,197,375 bytes), more than the 2,147,483,647 an IDX file " +
      "may hold",
    ],
  ];
  for (const [words, problem] of cases) {
    const header = idx(words, []);
    for (const parse of [parseIdxHeader, parseIdx]) {
      assert.throws(() => parse(header, "x"), (error: unknown) => {
        assertOneLineUserError(error, problem);
        assert.equal((error as Error).message, `Cannot read IDX file "x": ${problem}`);
        return true;
      });
    }
  }
  // Exactly the limit is a header a loader may trust, and the file is then merely truncated.
  const largest = parseIdxHeader(idx([LABELS_MAGIC, MAX_IDX_VALUES], []), "x");
  assert.deepEqual(largest, {
    kind: "labels",
    count: MAX_IDX_VALUES,
    rows: 1,
    cols: 1,
    headerBytes: 8,
    valueBytes: MAX_IDX_VALUES,
  });
});
