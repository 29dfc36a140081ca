/** Checkpoints (src/nn/checkpoint.ts): safetensors layout, round trips, errors, atomic saves. */
import assert from "node:assert/strict";
import {
  checkClasses,
  checkDigitInput,
  type Checkpoint,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from "../src/nn/checkpoint.ts";
import { trainCommand } from "../src/cli/train.ts";
import { DataIter } from "../src/data/dataset.ts";
import { UserError } from "../src/errors.ts";
import { forwardCost, inferShapes, lenet, mlp, type ModelSpec, sizeOf } from "../src/nn/model.ts";
import { Rng } from "../src/random.ts";
import { randomArray } from "./check.ts";
import { runCli } from "./cli_helpers.ts";

/** 12 inputs → 5 tanh → 3: small enough to write out, two layers to keep order honest. */
const TINY: ModelSpec = {
  name: "tiny",
  input: [1, 3, 4],
  classes: 3,
  layers: [
    { kind: "dense", name: "fc1", units: 5, act: "tanh" },
    { kind: "dense", name: "fc2", units: 3, act: "none" },
  ],
};

/** Random tensors for every parameter of `model`, in layer order. */
function randomParams(model: ModelSpec, rng: Rng): Map<string, Float32Array> {
  return new Map(
    inferShapes(model).flatMap((l) =>
      l.params.map((p) => [p.name, randomArray(sizeOf(p.shape), rng)] as const)
    ),
  );
}

/** A checkpoint of `model` after one epoch, with momentum and an iterator state. */
function sampleCheckpoint(model: ModelSpec = TINY, seed = 1): Checkpoint {
  const rng = new Rng(seed);
  const iter = new DataIter({ count: 10, batchSize: 4, shuffle: true, seed: 7 });
  iter.epoch();
  return {
    meta: {
      model,
      epoch: 0,
      dataset: "mnist",
      accuracy: 0.9123,
      iterator: iter.state(),
      training: { epochs: 10, batchSize: 4, lr: 0.1, momentum: 0.9, seed: 7 },
    },
    params: randomParams(model, rng),
    momentum: randomParams(model, rng),
  };
}

/** Builds a safetensors file by hand: 8-byte LE header length, JSON header, data. */
function safetensors(header: unknown, data: Uint8Array = new Uint8Array()): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Splits safetensors bytes into the parsed header, the data start and the data. */
function parse(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const text = new TextDecoder("utf-8", { fatal: true }).decode(
    bytes.subarray(8, 8 + headerLength),
  );
  return {
    header: JSON.parse(text) as Record<string, unknown>,
    dataStart: 8 + headerLength,
    data: bytes.subarray(8 + headerLength),
  };
}

/** A tensor as a safetensors file holds it. */
interface RawTensor {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** Splits safetensors bytes into the header and each tensor's bytes, in file order. */
function split(bytes: Uint8Array) {
  const { header, data } = parse(bytes);
  const tensors = new Map<string, RawTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const { dtype, shape, data_offsets: [begin, end] } = entry as {
      dtype: string;
      shape: number[];
      data_offsets: [number, number];
    };
    tensors.set(name, { dtype, shape, data: data.slice(begin, end) });
  }
  return { header, tensors };
}

/** Lays `tensors` out one after another, as a valid safetensors file does, under `metadata`. */
function layout(metadata: unknown, tensors: Map<string, RawTensor>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, { dtype, shape, data }] of tensors) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + data.length] };
    chunks.push(data);
    offset += data.length;
  }
  const all = new Uint8Array(offset);
  chunks.reduce((at, chunk) => (all.set(chunk, at), at + chunk.length), 0);
  return safetensors(header, all);
}

/** Asserts `fn` throws a one-line UserError whose message matches `pattern`. */
async function assertUserError(fn: () => unknown, pattern: RegExp): Promise<UserError> {
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof UserError, `expected a UserError, got ${caught}`);
  assert.match(caught.message, pattern);
  assert.ok(!caught.message.includes("\n"), `one line: ${JSON.stringify(caught.message)}`);
  assert.ok(!(caught.hint ?? "").includes("\n"), "the hint is one line");
  return caught;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mnist_checkpoint_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function assertSameTensors(actual: Map<string, Float32Array>, expected: Map<string, Float32Array>) {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [name, data] of expected) {
    // Bit for bit: a checkpoint is raw float32 bytes.
    assert.deepEqual(
      new Uint32Array(actual.get(name)!.slice().buffer),
      new Uint32Array(data.slice().buffer),
      name,
    );
  }
}

Deno.test("decodeCheckpoint(encodeCheckpoint(c)) gives back params, momentum and meta", () => {
  const checkpoint = sampleCheckpoint();
  const decoded = decodeCheckpoint(encodeCheckpoint(checkpoint), "tiny.safetensors");
  assertSameTensors(decoded.params, checkpoint.params);
  assertSameTensors(decoded.momentum, checkpoint.momentum);
  assert.deepEqual(decoded.meta, checkpoint.meta);
});

Deno.test("a decoded iterator state resumes the same shuffle", () => {
  const iter = new DataIter({ count: 10, batchSize: 4, shuffle: true, seed: 7 });
  iter.epoch();
  const checkpoint = sampleCheckpoint();
  checkpoint.meta.iterator = iter.state();
  const decoded = decodeCheckpoint(encodeCheckpoint(checkpoint), "x");
  const resumed = new DataIter({
    count: 10,
    batchSize: 4,
    shuffle: true,
    seed: 999, // ignored: the state wins
    state: decoded.meta.iterator as ReturnType<DataIter["state"]>,
  });
  assert.deepEqual(resumed.epoch().indices, iter.epoch().indices);
});

Deno.test("a checkpoint without momentum, accuracy or iterator round-trips", () => {
  const { params } = sampleCheckpoint();
  const checkpoint: Checkpoint = {
    meta: { model: TINY, epoch: -1, dataset: "fashion" },
    params,
    momentum: new Map(),
  };
  const decoded = decodeCheckpoint(encodeCheckpoint(checkpoint), "x");
  assertSameTensors(decoded.params, params);
  assert.equal(decoded.momentum.size, 0);
  assert.deepEqual(decoded.meta, {
    model: TINY,
    epoch: -1,
    dataset: "fashion",
    training: undefined,
    iterator: undefined,
    accuracy: undefined,
  });
});

Deno.test("the MLP's checkpoint round-trips (109,386 parameters)", () => {
  const checkpoint = sampleCheckpoint(mlp(), 3);
  const bytes = encodeCheckpoint(checkpoint);
  const decoded = decodeCheckpoint(bytes, "mlp.safetensors");
  assertSameTensors(decoded.params, checkpoint.params);
  assertSameTensors(decoded.momentum, checkpoint.momentum);
  const floats = [...decoded.params.values()].reduce((n, t) => n + t.length, 0);
  assert.equal(floats, 109386);
});

Deno.test("encodeCheckpoint() writes a valid safetensors file", () => {
  const checkpoint = sampleCheckpoint();
  const bytes = encodeCheckpoint(checkpoint);
  const { header, dataStart, data } = parse(bytes);
  assert.equal(dataStart % 8, 0, "the data starts 8-byte aligned");
  // __metadata__ holds strings only, as the format requires.
  const metadata = header.__metadata__ as Record<string, unknown>;
  assert.ok(metadata && typeof metadata === "object");
  for (const [key, value] of Object.entries(metadata)) {
    assert.equal(typeof value, "string", `__metadata__.${key} is a string`);
  }
  assert.equal(metadata.format, "mnist");
  // Every tensor: F32, the model's shape, and byte ranges that tile the data exactly.
  const shapes = new Map(inferShapes(TINY).flatMap((l) => l.params.map((p) => [p.name, p.shape])));
  const entries = Object.entries(header)
    .filter(([name]) => name !== "__metadata__")
    .map(([name, entry]) => {
      const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
      return { name, ...e };
    })
    .sort((a, b) => a.data_offsets[0] - b.data_offsets[0]);
  assert.equal(entries.length, 2 * shapes.size, "params and their momenta");
  let offset = 0;
  for (const e of entries) {
    assert.equal(e.dtype, "F32", e.name);
    const paramName = e.name.replace(/^optimizer\.momentum\./, "");
    assert.deepEqual(e.shape, shapes.get(paramName), `${e.name} shape`);
    assert.equal(e.data_offsets[0], offset, `${e.name} starts where the previous one ended`);
    assert.equal(e.data_offsets[1] - e.data_offsets[0], sizeOf(e.shape) * 4, `${e.name} size`);
    offset = e.data_offsets[1];
    const source = e.name === paramName
      ? checkpoint.params.get(paramName)!
      : checkpoint.momentum.get(paramName)!;
    const stored = new Float32Array(data.slice(e.data_offsets[0], e.data_offsets[1]).buffer);
    assert.deepEqual(stored, source, `${e.name} data is raw little-endian float32`);
  }
  assert.equal(offset, data.length, "no bytes after the last tensor");
});

Deno.test("decodeCheckpoint() reads from an unaligned view", () => {
  const checkpoint = sampleCheckpoint();
  const bytes = encodeCheckpoint(checkpoint);
  const backing = new Uint8Array(bytes.length + 3);
  backing.set(bytes, 3);
  const decoded = decodeCheckpoint(backing.subarray(3), "x");
  assertSameTensors(decoded.params, checkpoint.params);
});

Deno.test("decodeCheckpoint() rejects an empty file in one line", async () => {
  const error = await assertUserError(
    () => decodeCheckpoint(new Uint8Array(), "empty.safetensors"),
    /^Cannot load model "empty\.safetensors": the file is empty or truncated$/,
  );
  assert.match(error.hint!, /mnist train/);
});

Deno.test("decodeCheckpoint() rejects a truncated file in one line", async () => {
  const bytes = encodeCheckpoint(sampleCheckpoint());
  const { dataStart } = parse(bytes);
  // Cut in the data, in the header, and in the length prefix.
  await assertUserError(
    () => decodeCheckpoint(bytes.subarray(0, bytes.length - 1), "t.st"),
    /^Cannot load model "t\.st": tensor ".+" has a bad byte range \(file truncated\?\)$/,
  );
  await assertUserError(
    () => decodeCheckpoint(bytes.subarray(0, dataStart), "t.st"),
    /^Cannot load model "t\.st": tensor ".+" has a bad byte range/,
  );
  await assertUserError(
    () => decodeCheckpoint(bytes.subarray(0, dataStart - 10), "t.st"),
    /^Cannot load model "t\.st": not a safetensors file \(bad header length\)$/,
  );
  await assertUserError(
    () => decodeCheckpoint(bytes.subarray(0, 5), "t.st"),
    /^Cannot load model "t\.st": the file is empty or truncated$/,
  );
});

Deno.test("decodeCheckpoint() rejects random bytes in one line", async () => {
  const rng = new Rng(5);
  const random = Uint8Array.from({ length: 4096 }, () => rng.int(256));
  await assertUserError(
    () => decodeCheckpoint(random, "noise.bin"),
    /^Cannot load model "noise\.bin": not a safetensors file/,
  );
  // A plausible length prefix followed by noise: the header is not JSON.
  random.set([100, 0, 0, 0, 0, 0, 0, 0], 0);
  await assertUserError(
    () => decodeCheckpoint(random, "noise.bin"),
    /^Cannot load model "noise\.bin": not a safetensors file \(the header is not JSON\)$/,
  );
  // Text: a PNG or a JSON file passed by mistake.
  await assertUserError(
    () => decodeCheckpoint(new TextEncoder().encode('{"hello": "world"}'), "x.json"),
    /^Cannot load model "x\.json": not a safetensors file/,
  );
});

Deno.test("decodeCheckpoint() rejects a safetensors file without mnist metadata", async () => {
  const data = new Uint8Array(12);
  const foreign = { w: { dtype: "F32", shape: [3], data_offsets: [0, 12] } };
  await assertUserError(
    () => decodeCheckpoint(safetensors(foreign, data), "hf.safetensors"),
    /^Cannot load model "hf\.safetensors": it has no network description/,
  );
  const otherMetadata = { __metadata__: { format: "pt" }, ...foreign };
  await assertUserError(
    () => decodeCheckpoint(safetensors(otherMetadata, data), "pt.safetensors"),
    /^Cannot load model "pt\.safetensors": it has no network description/,
  );
  const badModel = { __metadata__: { format: "mnist", model: "{not json" }, ...foreign };
  await assertUserError(
    () => decodeCheckpoint(safetensors(badModel, data), "m.st"),
    /^Cannot load model "m\.st": its network description is invalid/,
  );
  // A model whose last layer cannot feed the softmax.
  const headless = { ...TINY, layers: [{ kind: "dense", name: "fc1", units: 5, act: "relu" }] };
  const badHead = { __metadata__: { format: "mnist", model: JSON.stringify(headless) } };
  await assertUserError(
    () => decodeCheckpoint(safetensors(badHead), "h.st"),
    /^Cannot load model "h\.st": its network description is invalid \(.*3 outputs/,
  );
});

Deno.test("decodeCheckpoint() rejects a tensor of the wrong shape", async () => {
  const bytes = encodeCheckpoint(sampleCheckpoint());
  const { header, data } = parse(bytes);
  // fc1_weight is (5, 12); claim (12, 5): same size, wrong layout.
  (header.fc1_weight as { shape: number[] }).shape = [12, 5];
  await assertUserError(
    () => decodeCheckpoint(safetensors(header, data), "s.st"),
    /^Cannot load model "s\.st": tensor "fc1_weight" has shape \[12,5\], expected \[5,12\]$/,
  );
});

Deno.test("decodeCheckpoint() rejects a tensor of an integer dtype", async () => {
  const { header, tensors } = split(encodeCheckpoint(sampleCheckpoint()));
  // A well-formed I32 tensor (4 bytes per value, as F32) where the model needs floats.
  tensors.set("fc2_bias", { dtype: "I32", shape: [3], data: new Uint8Array(12) });
  await assertUserError(
    () => decodeCheckpoint(layout(header.__metadata__, tensors), "d.st"),
    /^Cannot load model "d\.st": tensor "fc2_bias" is I32, not F32, F64, F16, BF16$/,
  );
});

Deno.test("decodeCheckpoint() rejects a missing tensor", async () => {
  const checkpoint = sampleCheckpoint();
  checkpoint.params.delete("fc2_bias");
  await assertUserError(
    () => decodeCheckpoint(encodeCheckpoint(checkpoint), "m.st"),
    /^Cannot load model "m\.st": tensor "fc2_bias" is missing$/,
  );
});

Deno.test("loadCheckpoint() of a directory or a missing file is a one-line UserError", async () => {
  await withTempDir(async (dir) => {
    await assertUserError(
      () => loadCheckpoint(dir),
      new RegExp(`^Cannot load model "${dir}": it is a directory$`),
    );
    const missing = `${dir}/nope.safetensors`;
    const error = await assertUserError(
      () => loadCheckpoint(missing),
      new RegExp(`^Cannot load model "${missing}": no such file$`),
    );
    assert.match(error.hint!, /mnist train/);
  });
});

Deno.test("loadCheckpoint() refuses a device or an oversized file before reading it", async () => {
  await assertUserError(
    () => loadCheckpoint("/dev/zero"),
    /^Cannot load model "\/dev\/zero": it is not a regular file \(a device or a pipe\?\)$/,
  );
  await withTempDir(async (dir) => {
    // Sparse: 4 GiB (more than the largest model with Adam's m and v) that take no space on disk.
    const path = `${dir}/huge.safetensors`;
    await Deno.writeFile(path, new Uint8Array());
    await Deno.truncate(path, 4 * 2 ** 30);
    await assertUserError(
      () => loadCheckpoint(path),
      /^Cannot load model ".*huge\.safetensors": it is 4294967296 bytes, more than a model may be/,
    );
  });
});

Deno.test("saveCheckpoint() then loadCheckpoint() round-trips through a file", async () => {
  await withTempDir(async (dir) => {
    const checkpoint = sampleCheckpoint();
    const path = `${dir}/models/nested/tiny.safetensors`; // directories are created
    await saveCheckpoint(path, checkpoint);
    assert.deepEqual(await Deno.readFile(path), encodeCheckpoint(checkpoint));
    const loaded = await loadCheckpoint(path);
    assertSameTensors(loaded.params, checkpoint.params);
    assert.deepEqual(loaded.meta, checkpoint.meta);
  });
});

Deno.test("saveCheckpoint() replaces an existing file whole and leaves no temp files", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/model.safetensors`;
    // A larger file first, so a non-truncating overwrite would leave its tail behind.
    await Deno.writeFile(path, new Uint8Array(1 << 16).fill(0xab));
    await Deno.writeTextFile(`${dir}/other.txt`, "untouched");
    const first = sampleCheckpoint(TINY, 1);
    await saveCheckpoint(path, first);
    assert.deepEqual(await Deno.readFile(path), encodeCheckpoint(first));
    const second = sampleCheckpoint(TINY, 2);
    second.meta.epoch = 1;
    await saveCheckpoint(path, second);
    assert.deepEqual(await Deno.readFile(path), encodeCheckpoint(second));
    assert.equal((await loadCheckpoint(path)).meta.epoch, 1);
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names.sort(), ["model.safetensors", "other.txt"]);
    assert.equal(await Deno.readTextFile(`${dir}/other.txt`), "untouched");
  });
});

Deno.test("saveCheckpoint() into an unwritable place fails without leaving temp files", async () => {
  await withTempDir(async (dir) => {
    // The target is a directory: the rename fails and the temp file must be cleaned up.
    const target = `${dir}/model.safetensors`;
    await Deno.mkdir(`${target}/inside`, { recursive: true });
    await assert.rejects(() => saveCheckpoint(target, sampleCheckpoint()));
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["model.safetensors"]);
  });
});

Deno.test({
  name: "decodeCheckpoint() rejects a JSON header that is not an object",
  async fn() {
    for (const json of ["null", "[]", "42", '"text"']) {
      await assertUserError(
        () => decodeCheckpoint(safetensors(JSON.parse(json)), "j.st"),
        /^Cannot load model "j\.st": /,
      );
    }
  },
});

Deno.test({
  name: "decodeCheckpoint() rejects corrupt training or iterator metadata",
  async fn() {
    for (const key of ["training", "iterator"]) {
      const { header, data } = parse(encodeCheckpoint(sampleCheckpoint()));
      (header.__metadata__ as Record<string, string>)[key] = "{not json";
      await assertUserError(
        () => decodeCheckpoint(safetensors(header, data), "c.st"),
        /^Cannot load model "c\.st": /,
      );
    }
  },
});

// Hostile files (issue 13): every fault is one line naming the file and what is wrong.

const CASES = new URL("./fixtures/cases/", import.meta.url).pathname;

/** Decodes `header` (tensors' entries included) over `data`, expecting `pattern`. */
function rejects(header: unknown, data: Uint8Array, pattern: RegExp) {
  return assertUserError(() => decodeCheckpoint(safetensors(header, data), "h.st"), pattern);
}

Deno.test("loadCheckpoint() refuses non-finite weights, naming the tensor and the index", async () => {
  const path = `${CASES}mlp-nan-bias.safetensors`;
  const error = await assertUserError(
    () => loadCheckpoint(path),
    /^Cannot load model ".*mlp-nan-bias\.safetensors": tensor "fc3_bias" holds NaN at index 0$/,
  );
  assert.match(error.hint!, /--lr/);
  for (
    const [name, index, value, shown] of [
      ["fc1_weight", 17, Infinity, "Infinity"],
      ["fc2_bias", 2, NaN, "NaN"],
    ] as const
  ) {
    const checkpoint = sampleCheckpoint();
    checkpoint.params.get(name)![index] = value;
    await assertUserError(
      () => decodeCheckpoint(encodeCheckpoint(checkpoint), "n.st"),
      new RegExp(`^Cannot load model "n\\.st": tensor "${name}" holds ${shown} at index ${index}$`),
    );
  }
});

Deno.test("loadCheckpoint() refuses non-finite optimizer state", async () => {
  const checkpoint = sampleCheckpoint();
  checkpoint.momentum.get("fc2_weight")![7] = -Infinity;
  await assertUserError(
    () => decodeCheckpoint(encodeCheckpoint(checkpoint), "m.st"),
    /^Cannot load model "m\.st": tensor "optimizer\.momentum\.fc2_weight" holds -Infinity at index 7$/,
  );
});

Deno.test("loadCheckpoint() refuses overlapping byte ranges", async () => {
  await assertUserError(
    () => loadCheckpoint(`${CASES}mlp-overlapping-ranges.safetensors`),
    /^Cannot load model ".*mlp-overlapping-ranges\.safetensors": tensors "fc2_bias" and "fc1_bias" overlap \(bytes 401408 to 401664 of the data\)$/,
  );
  // Two tensors of the same size sharing one range, the data shrunk to fit.
  const { header, data } = parse(encodeCheckpoint(sampleCheckpoint()));
  const entry = (name: string) => header[name] as { data_offsets: [number, number] };
  const [begin, end] = entry("fc2_bias").data_offsets;
  const [mBegin, mEnd] = entry("optimizer.momentum.fc2_bias").data_offsets;
  entry("optimizer.momentum.fc2_bias").data_offsets = [begin, end];
  for (const e of Object.values(header)) {
    const offsets = (e as { data_offsets?: [number, number] }).data_offsets;
    if (offsets && offsets[0] >= mEnd) offsets.forEach((x, i) => offsets[i] = x - (mEnd - mBegin));
  }
  const shrunk = new Uint8Array([...data.subarray(0, mBegin), ...data.subarray(mEnd)]);
  await rejects(header, shrunk, /^Cannot load model "h\.st": tensors ".+" and ".+" overlap/);
});

Deno.test("decodeCheckpoint() refuses byte ranges with holes or bytes left over", async () => {
  const bytes = encodeCheckpoint(sampleCheckpoint());
  const { header, data } = parse(bytes);
  // Data after the last tensor.
  await rejects(
    header,
    new Uint8Array([...data, 0, 0, 0, 0]),
    new RegExp(
      `^Cannot load model "h\\.st": bytes ${data.length} to ${
        data.length + 4
      } of the data belong to no tensor$`,
    ),
  );
  // Every range moved up by 4 bytes: a hole at the start.
  const shifted = structuredClone(header);
  for (const [name, e] of Object.entries(shifted)) {
    if (name !== "__metadata__") {
      const offsets = (e as { data_offsets: number[] }).data_offsets;
      offsets.forEach((x, i) => offsets[i] = x + 4);
    }
  }
  await rejects(
    shifted,
    new Uint8Array([0, 0, 0, 0, ...data]),
    /^Cannot load model "h\.st": bytes 0 to 4 of the data belong to no tensor$/,
  );
});

Deno.test("decodeCheckpoint() checks the type of every header field", async () => {
  const { header, data } = parse(encodeCheckpoint(sampleCheckpoint()));
  const cases: [string, unknown, RegExp][] = [
    [
      "data_offsets",
      ["0", "240"],
      /tensor "fc1_weight" has data_offsets \["0","240"\], not two byte offsets$/,
    ],
    ["data_offsets", [0.5, 240.5], /tensor "fc1_weight" has data_offsets \[0\.5,240\.5\], not two/],
    ["data_offsets", [-4, 236], /tensor "fc1_weight" has data_offsets \[-4,236\], not two/],
    ["data_offsets", [0], /tensor "fc1_weight" has data_offsets \[0\], not two/],
    ["data_offsets", null, /tensor "fc1_weight" has data_offsets null, not two/],
    ["data_offsets", [0, 1e12], /tensor "fc1_weight" has a bad byte range \(file truncated\?\)$/],
    [
      "data_offsets",
      [240, 0],
      /tensor "fc1_weight" has data_offsets \[240, 0\] \(-240 bytes\), but shape \[5,12\] of F32 takes 240$/,
    ],
    [
      "data_offsets",
      [0, 236],
      /tensor "fc1_weight" has data_offsets \[0, 236\] \(236 bytes\), but shape/,
    ],
    ["shape", "5x12", /tensor "fc1_weight" has shape "5x12", not a list of sizes$/],
    ["shape", [5, -12], /tensor "fc1_weight" has shape \[5,-12\], not a list of sizes$/],
    ["shape", [5, "12"], /tensor "fc1_weight" has shape \[5,"12"\], not a list of sizes$/],
    ["shape", [5, 12.5], /tensor "fc1_weight" has shape \[5,12\.5\], not a list of sizes$/],
    ["dtype", "F33", /tensor "fc1_weight" has an unknown dtype "F33"$/],
    ["dtype", 4, /tensor "fc1_weight" has an unknown dtype 4$/],
    ["dtype", "toString", /tensor "fc1_weight" has an unknown dtype "toString"$/],
  ];
  for (const [field, value, pattern] of cases) {
    const edited = structuredClone(header);
    (edited.fc1_weight as Record<string, unknown>)[field] = value;
    await rejects(edited, data, new RegExp(`^Cannot load model "h\\.st": ${pattern.source}`));
  }
  // A tensor described by something other than an object; a name with a newline stays quoted.
  await rejects(
    { ...header, "a\nb": [1] },
    data,
    /^Cannot load model "h\.st": tensor "a\\nb" is not described by a JSON object$/,
  );
  // __metadata__ holds strings only.
  const meta = header.__metadata__ as Record<string, unknown>;
  await rejects(
    { ...header, __metadata__: { ...meta, epoch: 3 } },
    data,
    /^Cannot load model "h\.st": not a safetensors file \(__metadata__ must map names to strings\)$/,
  );
  await rejects(
    { ...header, __metadata__: "mnist" },
    data,
    /__metadata__ must map names to strings/,
  );
});

/** The TINY checkpoint with its network description replaced by `model`. */
function withModel(model: unknown): [Record<string, unknown>, Uint8Array] {
  const { header, data } = parse(encodeCheckpoint(sampleCheckpoint()));
  const meta = header.__metadata__ as Record<string, string>;
  meta.model = typeof model === "string" ? model : JSON.stringify(model);
  return [header, data];
}

Deno.test("decodeCheckpoint() checks every field of the network description", async () => {
  const dense = (i: number, patch: Record<string, unknown>) => ({
    ...TINY,
    layers: TINY.layers.map((l, k) => k === i ? { ...l, ...patch } : l),
  });
  const conv = (patch: Record<string, unknown>) => ({
    ...TINY,
    layers: [
      {
        kind: "conv2d",
        name: "c",
        filters: 2,
        kernel: 3,
        stride: 1,
        pad: 0,
        act: "relu",
        ...patch,
      },
      ...TINY.layers,
    ],
  });
  const cases: [unknown, RegExp][] = [
    [
      dense(0, { act: "gelu" }),
      /layer 0 \("fc1"\): activation "gelu" is not one of none, relu, tanh, sigmoid/,
    ],
    [dense(0, { act: undefined }), /layer 0 \("fc1"\): activation undefined is not one of/],
    [
      dense(0, { kind: "lstm" }),
      /layer 0 \("fc1"\): kind "lstm" is not one of dense, conv2d, maxpool, flatten/,
    ],
    [
      dense(0, { units: 0 }),
      /layer 0 \("fc1"\): units must be an integer between 1 and 65536, got 0/,
    ],
    [dense(0, { units: 2.5 }), /units must be an integer between 1 and 65536, got 2\.5/],
    [dense(0, { units: "5" }), /units must be an integer between 1 and 65536, got "5"/],
    [dense(0, { units: 1e9 }), /units must be an integer between 1 and 65536, got 1000000000/],
    [dense(1, { name: "fc1" }), /two layers are named "fc1"/],
    [dense(0, { name: "optimizer.momentum.fc1" }), /layer 0's name must be 1 to 64 letters/],
    [dense(0, { name: 7 }), /layer 0's name must be 1 to 64 letters/],
    [{ ...TINY, input: [1, 28] }, /the input must be \[channels, height, width\], got \[1,28\]/],
    [{ ...TINY, input: [1, 0, 28] }, /input\[1\] must be an integer between 1 and 4096, got 0/],
    [
      { ...TINY, input: [4096, 4096, 4096] },
      /has 68719476736 values per sample, more than 4194304/,
    ],
    [{ ...TINY, classes: -3 }, /classes must be an integer between 1 and 65536, got -3/],
    [{ ...TINY, classes: 4 }, /must end in a layer of 4 outputs with no activation/],
    [{ ...TINY, layers: [] }, /the layers must be a list of 1 to 64, got \[\]/],
    [{ ...TINY, layers: "dense" }, /the layers must be a list of 1 to 64/],
    [{ ...TINY, layers: [null] }, /layer 0 must be a JSON object, got null/],
    [{ ...TINY, name: "" }, /the name must be 1 to 64/],
    [conv({ kernel: 0 }), /layer 0 \("c"\): kernel must be an integer between 1 and 64, got 0/],
    [conv({ stride: 0 }), /layer 0 \("c"\): stride must be an integer between 1 and 64, got 0/],
    [conv({ pad: 3 }), /layer 0 \("c"\): pad must be an integer between 0 and 2, got 3/],
    [conv({ kernel: 9 }), /Layer "c": a 9×9 kernel does not fit input 1,3,4/],
    [
      {
        ...TINY,
        layers: [{ kind: "maxpool", name: "p", size: 2, stride: 2, act: "relu" }, ...TINY.layers],
      },
      /layer 0 \("p"\): activation "relu" is not one of none/,
    ],
    [[TINY], /expected a JSON object, got \[\{/],
    ["42", /expected a JSON object, got 42/],
  ];
  for (const [model, pattern] of cases) {
    const [header, data] = withModel(model);
    await rejects(
      header,
      data,
      new RegExp(
        `^Cannot load model "h\\.st": its network description is invalid \\(.*${pattern.source}.*\\)$`,
      ),
    );
  }
});

Deno.test("decodeCheckpoint() refuses a network that asks too much compute or memory a sample", async () => {
  const flat = [
    { kind: "flatten", name: "flat", act: "none" },
    { kind: "dense", name: "fc", units: 10, act: "none" },
  ];
  // Within every per-layer limit: 64 planes of 256×256 (2^22 values), one 64×64 filter over them.
  const compute = {
    name: "slow",
    input: [64, 256, 256],
    classes: 10,
    layers: [
      { kind: "conv2d", name: "c", filters: 1, kernel: 64, stride: 1, pad: 0, act: "relu" },
      ...flat,
    ],
  };
  // Five layers of 2^22 values each (an input of 2048×2048 and 1×1 pools): 6·2^22 in all.
  const pools = [1, 2, 3, 4].map((k) => ({
    kind: "maxpool",
    name: `p${k}`,
    size: 1,
    stride: 1,
    act: "none",
  }));
  const memory = { name: "big", input: [1, 2048, 2048], classes: 10, layers: [...pools, ...flat] };
  const cases: [unknown, RegExp][] = [
    [
      compute,
      /one sample's forward pass takes 9\.76e\+9 multiply-adds, more than the limit of 2\^30 \(1\.07e\+9, some 465 times LeNet's\), which keeps a model file from asking for minutes/,
    ],
    [
      memory,
      /one sample's activations take 25165834 values, more than the limit of 2\^24 \(16777216, 64 MiB of float32, some 820 times LeNet's\), which keeps a model file from asking for gigabytes/,
    ],
  ];
  for (const [model, pattern] of cases) {
    const [header, data] = withModel(model);
    await rejects(
      header,
      data,
      new RegExp(
        `^Cannot load model "h\\.st": its network description is invalid \\(${pattern.source}`,
      ),
    );
  }
  // The built-in models are far inside both limits.
  assert.deepEqual(forwardCost(inferShapes(mlp())), { multiplyAdds: 109_184, activations: 986 });
  assert.deepEqual(forwardCost(inferShapes(lenet())), {
    multiplyAdds: 2_307_720,
    activations: 20_494,
  });
});

Deno.test("decodeCheckpoint() checks the epoch, dataset, accuracy, training and iterator", async () => {
  const cases: [string, string, RegExp][] = [
    ["epoch", "-2", /its epoch "-2" is not an integer >= -1$/],
    ["epoch", "1.5", /its epoch "1\.5" is not an integer >= -1$/],
    ["epoch", "", /its epoch "" is not an integer >= -1$/],
    ["epoch", "1e400", /its epoch "1e400" is not an integer >= -1$/],
    ["dataset", "cifar", /its dataset "cifar" is not one of mnist, fashion$/],
    ["accuracy", "NaN", /its accuracy "NaN" is not a number between 0 and 1$/],
    ["accuracy", "1.5", /its accuracy "1\.5" is not a number between 0 and 1$/],
    ["training", "[1,2]", /its training record \[1,2\] is not a JSON object$/],
    ["training", "null", /its training record null is not a JSON object$/],
    ["iterator", "7", /its iterator state is invalid: it is not a JSON object$/],
    [
      "iterator",
      '{"epoch":-1,"carry":[]}',
      /its iterator state is invalid: its epoch must be an integer >= 0, got -1$/,
    ],
    [
      "iterator",
      '{"epoch":1,"rng":[1,2,3],"carry":[]}',
      /its iterator state is invalid: its rng must be four unsigned 32-bit integers$/,
    ],
    [
      "iterator",
      '{"epoch":1,"rng":[1,2,3,-4],"carry":[]}',
      /its iterator state is invalid: its rng must be four unsigned 32-bit integers$/,
    ],
    [
      "iterator",
      '{"epoch":1,"rng":[1,2,3,4294967296],"carry":[]}',
      /its iterator state is invalid: its rng must be four/,
    ],
    [
      "iterator",
      '{"epoch":1,"carry":"none"}',
      /its iterator state is invalid: its carry must be a list of at most 65536 sample indices$/,
    ],
    [
      "iterator",
      '{"epoch":1,"carry":[1.5]}',
      /its iterator state is invalid: its carry must be a list of at most 65536 sample indices$/,
    ],
  ];
  for (const [key, value, pattern] of cases) {
    const { header, data } = parse(encodeCheckpoint(sampleCheckpoint()));
    (header.__metadata__ as Record<string, string>)[key] = value;
    await rejects(header, data, new RegExp(`^Cannot load model "h\\.st": ${pattern.source}`));
  }
  // -1 (no epoch completed) is a valid epoch.
  const { header, data } = parse(encodeCheckpoint(sampleCheckpoint()));
  (header.__metadata__ as Record<string, string>).epoch = "-1";
  assert.equal(decodeCheckpoint(safetensors(header, data), "x").meta.epoch, -1);
});

Deno.test("a DataIter refuses a saved state whose carry does not fit the dataset", async () => {
  await assertUserError(
    () =>
      new DataIter({
        count: 10,
        batchSize: 4,
        shuffle: false,
        lastBatch: "roll_over",
        state: { epoch: 1, carry: [3, 12] },
      }),
    /^The saved iterator state holds sample 12, but there are only 10 samples$/,
  );
});

/** The smallest classifier of 28×28 digits, for resuming: 784 → 10. */
const DIGITS: ModelSpec = {
  name: "digits",
  input: [1, 28, 28],
  classes: 10,
  layers: [{ kind: "dense", name: "fc1", units: 10, act: "none" }],
};

Deno.test("train --resume refuses a model that does not take 28×28 digits", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/tiny.safetensors`;
    await saveCheckpoint(path, sampleCheckpoint());
    await assertUserError(
      () => trainCommand.run(["--resume", path, "--data-dir", dir, "--epochs", "5"]),
      /^Cannot resume from ".*tiny\.safetensors": it takes 1×3×4 inputs, not 1×28×28 images$/,
    );
  });
});

Deno.test("train --resume checks the training record as it checks the options", async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ batchSize: 0 }, /has batch size 0; --batch-size must be between 1 and 65536$/],
    [{ batchSize: 1e9 }, /has batch size 1000000000; --batch-size must be between 1 and 65536$/],
    [{ batchSize: "100" }, /has batch size "100"; --batch-size must be an integer$/],
    [{ batchSize: 2.5 }, /has batch size 2\.5; --batch-size must be an integer$/],
    [{ lr: -0.1 }, /has learning rate -0\.1; --lr must be > 0$/],
    [{ lr: null }, /has learning rate null; --lr must be a number$/],
    [{ momentum: 2 }, /has momentum 2; --momentum must be < 1$/],
    [{ momentum: -1 }, /has momentum -1; --momentum must be >= 0$/],
    [{ wd: [0] }, /has weight decay \[0\]; --wd must be a number$/],
    [{ clipGradient: -1 }, /has gradient clip -1; --clip must be >= 0$/],
    [{ seed: -1 }, /has seed -1; --seed must be between 0 and 4294967295$/],
    [{ limit: 0 }, /has limit 0; --limit must be >= 1$/],
    [{ init: { kind: "uniform", scale: -1 } }, /has init uniform:-1; --init must be xavier or/],
    [{ init: { kind: "he" } }, /has init \{"kind":"he"\}; --init must be xavier or/],
    [{ init: "x".repeat(100) }, /has init "x{36}\.\.\.; --init must be xavier or/],
  ];
  await withTempDir(async (dir) => {
    const path = `${dir}/run.safetensors`;
    for (const [record, pattern] of cases) {
      const checkpoint = sampleCheckpoint(DIGITS);
      checkpoint.meta.training = { ...checkpoint.meta.training, ...record };
      await saveCheckpoint(path, checkpoint);
      const error = await assertUserError(
        () => trainCommand.run(["--resume", path, "--data-dir", dir, "--epochs", "5"]),
        new RegExp(
          `^Cannot resume from "${path}": its training record ${pattern.source}`,
        ),
      );
      assert.match(error.hint!, /^Pass --[a-z-]+ to override it\.$/);
    }
    // An option given on the command line wins over a bad record (the next bad field fails).
    const checkpoint = sampleCheckpoint(DIGITS);
    checkpoint.meta.training = { ...checkpoint.meta.training, lr: -1, batchSize: 0 };
    await saveCheckpoint(path, checkpoint);
    await assertUserError(
      () => trainCommand.run(["--resume", path, "--data-dir", dir, "--lr", "0.1"]),
      /its training record has batch size 0/,
    );
  });
});

Deno.test("train --resume refuses counts of updates that no run could have recorded", async () => {
  // The checkpoint has completed 1 epoch: 1 to 2739137 updates (batch size 1 on the largest
  // IDX split); its optimizer's state began at an update before the last.
  const updates = "it must be an integer from 1 to 2739137 \\(1 to 2739137 for the epoch it ";
  const cases: [Record<string, unknown>, string][] = [
    [{ updates: "x" }, `updates "x"; ${updates}`],
    [{ updates: 1e300 }, `updates 1e\\+300; ${updates}`],
    [{ updates: -5 }, `updates -5; ${updates}`],
    [{ updates: 0 }, `updates 0; ${updates}`],
    [{ updates: 2.5 }, `updates 2\\.5; ${updates}`],
    [{ updates: 5, stateFrom: "x" }, `stateFrom "x"; it must be an integer from 0 to 4,`],
    [
      { updates: 5, stateFrom: 1e12 },
      `stateFrom 1000000000000; it must be an integer from 0 to 4,`,
    ],
    [{ updates: 5, stateFrom: 5 }, `stateFrom 5; it must be an integer from 0 to 4,`],
    [{ updates: 5, stateFrom: -1 }, `stateFrom -1; it must be an integer from 0 to 4,`],
  ];
  await withTempDir(async (dir) => {
    const path = `${dir}/run.safetensors`;
    for (const [record, pattern] of cases) {
      const checkpoint = sampleCheckpoint(DIGITS);
      checkpoint.meta.training = { ...checkpoint.meta.training, ...record, optimizer: "adam" };
      await saveCheckpoint(path, checkpoint);
      const error = await assertUserError(
        () => trainCommand.run(["--resume", path, "--data-dir", dir, "--epochs", "5"]),
        new RegExp(`^Cannot resume from "${path}": its training record has ${pattern}`),
      );
      assert.match(error.hint!, /^The record is damaged: resume from another checkpoint/);
    }
  });
});

Deno.test("mnist eval and train --resume refuse a hostile checkpoint in one error line", async () => {
  await withTempDir(async (dir) => {
    const record = sampleCheckpoint(DIGITS);
    record.meta.training = { ...record.meta.training, batchSize: 0 };
    await saveCheckpoint(`${dir}/record.safetensors`, record);
    const cases: [string[], RegExp][] = [
      [
        ["eval", "--model", `${CASES}mlp-nan-bias.safetensors`],
        /^error: Cannot load model ".*mlp-nan-bias\.safetensors": tensor "fc3_bias" holds NaN at index 0$/,
      ],
      [
        ["train", "--resume", `${CASES}mlp-overlapping-ranges.safetensors`],
        /^error: Cannot load model ".*mlp-overlapping-ranges\.safetensors": tensors "fc2_bias" and "fc1_bias" overlap/,
      ],
      [
        ["train", "--resume", `${dir}/record.safetensors`, "--epochs", "5"],
        /^error: Cannot resume from ".*record\.safetensors": its training record has batch size 0; --batch-size must be between 1 and 65536$/,
      ],
    ];
    // Each fails before any GPU or data work; the data directory stays empty.
    const runs = await Promise.all(cases.map(([args]) => runCli([...args, "--data-dir", dir])));
    runs.forEach((run, i) => {
      const [args, pattern] = cases[i]!;
      const what = `mnist ${args.join(" ")}`;
      assert.equal(run.code, 1, `${what} exits 1:\n${run.stderr}`);
      assert.equal(run.stdout, "", what);
      const lines = run.stderr.trimEnd().split("\n");
      assert.match(lines[0]!, pattern, what);
      assert.ok(lines.length <= 2 && (lines[1] ?? "hint: ").startsWith("hint: "), run.stderr);
      assert.ok(!/^\s+at /m.test(run.stderr), `${what}: no stack trace`);
    });
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["record.safetensors"]);
  });
});

// Plain files (issue 18): safetensors without mnist's metadata, as PyTorch and MXNet write them.

/** A float dtype a plain file may use. */
type FloatDtype = "F32" | "F64" | "F16" | "BF16";

/**
 * `values` as `dtype`'s little-endian bytes, and the float32 values a correct loader reads back:
 * F16 rounded by Float16Array, BF16 rounded to nearest even from float32, F64 exact.
 */
function encodeAs(
  dtype: FloatDtype,
  values: Float32Array,
): { data: Uint8Array; read: Float32Array } {
  switch (dtype) {
    case "F32":
      return { data: new Uint8Array(values.slice().buffer), read: values.slice() };
    case "F64": {
      const wide = Float64Array.from(values, (x) => x + x * 2 ** -30); // not a float32
      return { data: new Uint8Array(wide.buffer), read: Float32Array.from(wide) };
    }
    case "F16": {
      const half = Float16Array.from(values);
      return { data: new Uint8Array(half.buffer), read: Float32Array.from(half) };
    }
    case "BF16": {
      const bits = new Uint32Array(values.slice().buffer);
      const top = Uint16Array.from(bits, (b) => (b + 0x7fff + ((b >>> 16) & 1)) >>> 16);
      const read = new Float32Array(Uint32Array.from(top, (t) => t << 16).buffer);
      return { data: new Uint8Array(top.buffer), read };
    }
  }
}

/** PyTorch's name for an MXNet-style parameter name: fc1_weight → fc1.weight. */
const torchName = (name: string) => name.replace(/_(weight|bias)$/, ".$1");

/**
 * A plain file of `model`'s parameters (random), named by `rename`, each of `dtype`, laid out
 * in the order safetensors writes (sorted by name), with `metadata` if given. Returns the file
 * and, by MXNet name, the float32 values a loader must read.
 */
function plainFile(
  model: ModelSpec,
  { rename = torchName, dtype = "F32", metadata, seed = 1 }: {
    rename?: (name: string) => string;
    dtype?: FloatDtype;
    metadata?: Record<string, string>;
    seed?: number;
  } = {},
): { bytes: Uint8Array; expected: Map<string, Float32Array> } {
  const params = randomParams(model, new Rng(seed));
  const tensors = new Map<string, RawTensor>();
  const expected = new Map<string, Float32Array>();
  const shapes = new Map(inferShapes(model).flatMap((l) => l.params.map((p) => [p.name, p.shape])));
  for (const name of [...params.keys()].sort((a, b) => rename(a) < rename(b) ? -1 : 1)) {
    const { data, read } = encodeAs(dtype, params.get(name)!);
    tensors.set(rename(name), { dtype, shape: shapes.get(name)!, data });
    expected.set(name, read);
  }
  return { bytes: layout(metadata, tensors), expected };
}

Deno.test("a plain file with PyTorch's names loads as the MLP, recognised by its names", () => {
  const { bytes, expected } = plainFile(mlp(), { metadata: { format: "pt" } });
  const loaded = decodeCheckpoint(bytes, "torch.safetensors");
  assert.deepEqual(loaded.meta.model, mlp());
  assert.deepEqual(loaded.origin, { architecture: "mlp", from: "names", naming: "pytorch" });
  assertSameTensors(loaded.params, expected);
  // Nothing trained here: --resume starts at epoch 0, with its own settings, no momentum.
  assert.equal(loaded.meta.epoch, -1);
  assert.equal(loaded.meta.training, undefined);
  assert.equal(loaded.meta.iterator, undefined);
  assert.equal(loaded.momentum.size, 0);
});

Deno.test("a plain file with MXNet's names, and no metadata at all, loads as LeNet", () => {
  const { bytes, expected } = plainFile(lenet(), { rename: (name) => name });
  const loaded = decodeCheckpoint(bytes, "mxnet.safetensors");
  assert.deepEqual(loaded.meta.model, lenet());
  assert.deepEqual(loaded.origin, { architecture: "lenet", from: "names", naming: "mxnet" });
  assertSameTensors(loaded.params, expected);
});

Deno.test("a plain file named by position (nn.Sequential) is matched to LeNet's layers by shape", () => {
  // nn.Sequential(conv, tanh, pool, conv, tanh, pool, flatten, linear, tanh, linear) names its
  // tensors 0.weight, 3.weight, 7.weight, 9.weight: sorted as text, 9 comes after 3 and 7.
  const index: Record<string, string> = { conv1: "0", conv2: "3", fc1: "7", fc2: "9" };
  const rename = (name: string) => name.replace(/^([a-z0-9]+)_/, (_, l) => `${index[l]}.`);
  const { bytes, expected } = plainFile(lenet(), { rename });
  const loaded = decodeCheckpoint(bytes, "seq.safetensors");
  assert.deepEqual(loaded.origin, { architecture: "lenet", from: "shapes", naming: "other" });
  assertSameTensors(loaded.params, expected);
  // --arch agrees, and says so.
  const named = decodeCheckpoint(bytes, "seq.safetensors", { arch: "lenet" });
  assert.deepEqual(named.origin, { architecture: "lenet", from: "--arch", naming: "other" });
  assertSameTensors(named.params, expected);
});

for (const dtype of ["F64", "F16", "BF16"] as const) {
  Deno.test(`${dtype} tensors are converted to float32 on load`, () => {
    for (const model of [mlp(), lenet()]) {
      const { bytes, expected } = plainFile(model, { dtype, seed: 4 });
      const loaded = decodeCheckpoint(bytes, `${dtype}.safetensors`);
      assertSameTensors(loaded.params, expected);
      // Rounded, not cut: the values moved, but by less than the dtype's half step.
      const original = randomParams(model, new Rng(4));
      const step = { F64: 2 ** -24, F16: 2 ** -11, BF16: 2 ** -8 }[dtype];
      for (const [name, data] of loaded.params) {
        const source = original.get(name)!;
        data.forEach((x, i) =>
          assert.ok(
            Math.abs(x - source[i]!) <= step * Math.max(Math.abs(source[i]!), 2 ** -14),
            `${name}[${i}]: ${x} for ${source[i]}`,
          )
        );
      }
    }
  });
}

Deno.test("half-precision bit patterns load as the values they stand for", () => {
  // F16: 1, -2, the smallest subnormal, the largest finite, -0. BF16: 1, -3.140625, 2^-126.
  const cases: [FloatDtype, number[], number[]][] = [
    ["F16", [0x3c00, 0xc000, 0x0001, 0x7bff, 0x8000], [1, -2, 2 ** -24, 65504, -0]],
    ["BF16", [0x3f80, 0xc049, 0x0080, 0x0000, 0x4f80], [1, -3.140625, 2 ** -126, 0, 2 ** 32]],
  ];
  for (const [dtype, bits, values] of cases) {
    const tensors = new Map<string, RawTensor>();
    for (const p of inferShapes(mlp()).flatMap((l) => l.params)) {
      const data = new Uint16Array(sizeOf(p.shape));
      if (p.name === "fc3_bias") data.set(bits);
      tensors.set(torchName(p.name), { dtype, shape: p.shape, data: new Uint8Array(data.buffer) });
    }
    const loaded = decodeCheckpoint(layout(undefined, tensors), "half.st");
    const bias = loaded.params.get("fc3_bias")!;
    assert.deepEqual([...bias.subarray(0, values.length)], values, dtype);
    assert.ok(Object.is(bias[4], values[4]), `${dtype}: the sign of zero survives`);
  }
});

Deno.test("a plain file's NaN, infinity, or F64 beyond float32's range is refused", async () => {
  const cases: [FloatDtype, (view: DataView) => void, RegExp][] = [
    ["F16", (v) => v.setUint16(2 * 3, 0x7c00, true), /"fc2\.bias" holds Infinity at index 3$/],
    ["BF16", (v) => v.setUint16(0, 0x7fc0, true), /"fc2\.bias" holds NaN at index 0$/],
    [
      "F64",
      (v) => v.setFloat64(8 * 5, -1e300, true),
      /"fc2\.bias" holds -1e\+300 at index 5, beyond float32's range$/,
    ],
    ["F64", (v) => v.setFloat64(8, NaN, true), /"fc2\.bias" holds NaN at index 1$/],
    [
      "F32",
      (v) => v.setFloat32(4 * 63, -Infinity, true),
      /"fc2\.bias" holds -Infinity at index 63$/,
    ],
  ];
  for (const [dtype, spoil, pattern] of cases) {
    const { header, tensors } = split(plainFile(mlp(), { dtype }).bytes);
    const bias = tensors.get("fc2.bias")!;
    spoil(new DataView(bias.data.buffer, bias.data.byteOffset, bias.data.byteLength));
    const error = await assertUserError(
      () => decodeCheckpoint(layout(header.__metadata__, tensors), "p.st"),
      new RegExp(`^Cannot load model "p\\.st": tensor ${pattern.source}`),
    );
    assert.match(error.hint!, /diverged|corrupt/);
  }
});

Deno.test("--arch, and a plain file that is not quite the network, give one line saying why", async () => {
  const { header, tensors } = split(plainFile(mlp()).bytes);
  const edit = (fn: (t: Map<string, RawTensor>) => void) => {
    const copy = new Map(tensors);
    fn(copy);
    return layout(header.__metadata__, copy);
  };
  const transposed = edit((t) =>
    t.set("fc1.weight", { ...t.get("fc1.weight")!, shape: [784, 128] })
  );
  const missing = edit((t) => t.delete("fc3.bias"));
  const extra = edit((t) =>
    t.set("fc4.weight", { dtype: "F32", shape: [2, 2], data: new Uint8Array(16) })
  );
  const cases: [Uint8Array, string | undefined, RegExp][] = [
    [plainFile(mlp()).bytes, "lenet", /--arch lenet was given, but its tensors are mlp's$/],
    [plainFile(lenet()).bytes, "mlp", /--arch mlp was given, but its tensors are lenet's$/],
    [
      transposed,
      undefined,
      /tensor "fc1\.weight" has shape \[784,128\], expected \[128,784\] for mlp's fc1_weight/,
    ],
    [missing, "mlp", /its tensors are not mlp's: it has no tensor "fc3\.bias" \(pytorch naming\)$/],
    [extra, "mlp", /its tensors are not mlp's: tensor "fc4\.weight" \[2,2\] is not one of its/],
    [
      missing,
      undefined,
      /it has no network description, and its 5 tensors are neither mlp's nor lenet's by name or shape \("fc1\.bias" \[128\], /,
    ],
    [
      edit((t) => t.set("fc3.weight", { ...t.get("fc3.weight")!, dtype: "I32" })),
      undefined,
      /tensor "fc3\.weight" is I32, not F32, F64, F16, BF16$/,
    ],
  ];
  for (const [bytes, arch, pattern] of cases) {
    const error = await assertUserError(
      () => decodeCheckpoint(bytes, "p.st", { arch }),
      new RegExp(`^Cannot load model "p\\.st": ${pattern.source}`),
    );
    if (!/I32/.test(pattern.source)) assert.match(error.hint!, /--arch mlp\|lenet/);
  }
  // An --arch that is no network at all.
  await assertUserError(
    () => decodeCheckpoint(plainFile(mlp()).bytes, "p.st", { arch: "resnet" }),
    /^Cannot load model "p\.st": --arch must be one of mlp, lenet, got "resnet"$/,
  );
});

Deno.test("--arch refuses an mnist checkpoint of another network", async () => {
  const bytes = encodeCheckpoint(sampleCheckpoint(mlp()));
  assert.deepEqual(decodeCheckpoint(bytes, "m.st", { arch: "mlp" }).origin, {
    architecture: "mlp",
    from: "metadata",
  });
  const error = await assertUserError(
    () => decodeCheckpoint(bytes, "m.st", { arch: "lenet" }),
    /^Cannot load model "m\.st": --arch lenet was given, but it is a checkpoint of "mlp"$/,
  );
  assert.match(error.hint!, /Leave out --arch/);
});

Deno.test("a plain file's byte ranges are checked as strictly as an mnist checkpoint's", async () => {
  const { header, data } = parse(plainFile(mlp()).bytes);
  // fc3.weight moved back over fc3.bias, which it follows.
  const overlapping = structuredClone(header);
  const [begin] = (header["fc3.bias"] as { data_offsets: [number, number] }).data_offsets;
  (overlapping["fc3.weight"] as { data_offsets: number[] }).data_offsets = [begin, begin + 2560];
  await rejects(
    overlapping,
    data,
    /^Cannot load model "h\.st": tensors "fc3\.bias" and "fc3\.weight" overlap/,
  );
  await rejects(
    header,
    new Uint8Array([...data, 1, 2, 3, 4]),
    new RegExp(
      `^Cannot load model "h\\.st": bytes ${data.length} to ${
        data.length + 4
      } of the data belong to no tensor$`,
    ),
  );
});

Deno.test("all-zero momentum is not stored; one left out beside others loads as zeros", () => {
  const checkpoint = sampleCheckpoint(mlp(), 2);
  // Momentum 0: every momentum tensor is zeros. The file holds the parameters only.
  const sgd = {
    ...checkpoint,
    momentum: new Map([...checkpoint.momentum].map(([k, v]) => [k, new Float32Array(v.length)])),
  };
  const { header } = parse(encodeCheckpoint(sgd));
  assert.deepEqual(Object.keys(header).filter((k) => k.startsWith("optimizer.")), []);
  assert.equal(decodeCheckpoint(encodeCheckpoint(sgd), "x").momentum.size, 0);
  // One zero tensor among others: left out, and read back as zeros.
  checkpoint.momentum.set("fc2_bias", new Float32Array(64));
  const bytes = encodeCheckpoint(checkpoint);
  assert.ok(!("optimizer.momentum.fc2_bias" in parse(bytes).header));
  const decoded = decodeCheckpoint(bytes, "x");
  assertSameTensors(decoded.momentum, checkpoint.momentum);
});

Deno.test("an SGD checkpoint without momentum is half the size: MLP and LeNet", () => {
  for (const model of [mlp(), lenet()]) {
    const checkpoint = sampleCheckpoint(model);
    const withMomentum = encodeCheckpoint(checkpoint).length;
    for (const v of checkpoint.momentum.values()) v.fill(0);
    const without = encodeCheckpoint(checkpoint).length;
    const floats = [...checkpoint.params.values()].reduce((n, t) => n + t.length, 0);
    assert.ok(withMomentum - without >= 4 * floats, `${model.name}: ${withMomentum} → ${without}`);
    assert.ok(without < 4 * floats + 4096, `${model.name}: ${without} bytes, ${floats} floats`);
  }
});

Deno.test("mnist summary names a plain file's network and what recognised it", async () => {
  await withTempDir(async (dir) => {
    const index: Record<string, string> = { fc1: "0", fc2: "2", fc3: "4" };
    const byPosition = (name: string) => name.replace(/^([a-z0-9]+)_/, (_, l) => `${index[l]}.`);
    const files = {
      torch: plainFile(mlp(), { dtype: "BF16" }).bytes,
      mxnet: plainFile(lenet(), { rename: (name) => name }).bytes,
      seq: plainFile(mlp(), { rename: byPosition }).bytes,
      mnist: encodeCheckpoint(sampleCheckpoint(lenet())),
    };
    for (const [name, bytes] of Object.entries(files)) {
      await Deno.writeFile(`${dir}/${name}.safetensors`, bytes);
    }
    const cases: [string[], string][] = [
      [["--model", `${dir}/torch.safetensors`], "mlp (tensor names, PyTorch's)"],
      [["--model", `${dir}/mxnet.safetensors`], "lenet (tensor names, MXNet's)"],
      [["--model", `${dir}/seq.safetensors`], "mlp (tensor shapes)"],
      [["--model", `${dir}/seq.safetensors`, "--arch", "mlp"], "mlp (--arch)"],
      [["--model", `${dir}/mnist.safetensors`], "lenet (recorded in the checkpoint)"],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(["summary", ...args])));
    runs.forEach((run, i) => {
      const [args, said] = cases[i]!;
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.split("\n")[0], `Model "${args[1]}": ${said}`);
      assert.match(run.stdout, said.startsWith("mlp") ? /109,386/ : /431,080/);
    });
    const wrong = await runCli(["summary", "--model", `${dir}/seq.safetensors`, "--arch", "lenet"]);
    assert.equal(wrong.code, 1);
    const [line, hint] = wrong.stderr.trimEnd().split("\n");
    assert.match(
      line!,
      /^error: Cannot load model ".*seq\.safetensors": --arch lenet was given, but its tensors are mlp's$/,
    );
    assert.match(hint!, /^hint: .*--arch mlp\|lenet says which\.$/);
  });
});

Deno.test("decodeCheckpoint() says a torch.save file is PyTorch's, not safetensors", async () => {
  // torch.save writes a zip archive (PyTorch 1.6 on) or a bare pickle (protocol 2, before).
  const zip = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0]);
  const pickle = Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]);
  for (
    const [bytes, what] of [[zip, "a zip archive"], [pickle, "a Python pickle"]] as const
  ) {
    const error = await assertUserError(
      () => decodeCheckpoint(bytes, "model.pt"),
      new RegExp(
        `^Cannot load model "model\\.pt": not a safetensors file ` +
          `\\(${what}: PyTorch's torch\\.save\\?\\)$`,
      ),
    );
    assert.match(error.hint!, /safetensors\.torch\.save_file.*docs\/checkpoint\.md/);
  }
  // Other bytes keep the safetensors reason and mnist's hint.
  const error = await assertUserError(
    () => decodeCheckpoint(new Uint8Array(16).fill(0xff), "x.bin"),
    /^Cannot load model "x\.bin": not a safetensors file \(bad header length\)$/,
  );
  assert.match(error.hint!, /mnist train/);
});

Deno.test("decodeCheckpoint() says a pickle of protocol 0 or 1 is PyTorch's, not text", async () => {
  // As Python 3 writes them (pickle.dumps, torch.save(..., pickle_protocol=0 or 1,
  // _use_new_zipfile_serialization=False)); none starts with PROTO (0x80).
  const latin1 = (text: string) => Uint8Array.from(text, (ch) => ch.charCodeAt(0));
  const pickles: [string, string][] = [
    ["protocol 0 dict", "(dp0\nVfc1.weight\np1\n(lp2\nF1.0\nas."],
    ["protocol 1 dict", "}q\x00X\n\x00\x00\x00fc1.weightq\x01]q\x02G?\xf0\0\0\0\0\0\0as."],
    ["protocol 0 OrderedDict", "ccollections\nOrderedDict\np0\n(tRp1\nVa\np2\nI1\nsb."],
    ["a call of eval", "c__builtin__\neval\np0\n(Vprint(1)\np1\ntp2\nRp3\n."],
    ["torch.save, protocol 0", "L119547037146038801333356L\n.I1001\n.(dp0\n"],
    ["torch.save, protocol 1", "L119547037146038801333356L\n.M\xe9\x03.}q\x00(X\x10\0\0"],
  ];
  for (const [what, text] of pickles) {
    const error = await assertUserError(
      () => decodeCheckpoint(latin1(text), "model.pkl"),
      /^Cannot load model "model\.pkl": not a safetensors file \(a Python pickle: PyTorch's/,
    );
    assert.match(error.hint!, /safetensors\.torch\.save_file/, what);
  }
  // Text of the same shape as GLOBAL (two names on two lines) does not end in STOP.
  await assertUserError(
    () => decodeCheckpoint(latin1("cat\ndog\nand more lines of text\n"), "notes.txt"),
    /^Cannot load model "notes\.txt": not a safetensors file \(bad header length\)$/,
  );
});

Deno.test("decodeCheckpoint() refuses an extra tensor in an mnist checkpoint", async () => {
  const { header, tensors } = split(encodeCheckpoint(sampleCheckpoint()));
  tensors.set("fc9_weight", { dtype: "F32", shape: [2], data: new Uint8Array(8) });
  await assertUserError(
    () => decodeCheckpoint(layout(header.__metadata__, tensors), "extra.st"),
    /^Cannot load model "extra\.st": tensor "fc9_weight" \[2\] is not one of "tiny"'s parameters/,
  );
});

Deno.test("checkClasses() refuses a model whose classes are not the dataset's 10", async () => {
  const of = (classes: number) => ({
    meta: { ...sampleCheckpoint().meta, model: { ...TINY, classes } },
  });
  checkClasses(of(10), "m.st", { dataset: "mnist" });
  checkClasses(of(10), "m.st", { dataset: "fashion" });
  await assertUserError(
    () => checkClasses(of(5), "m.st", { dataset: "mnist" }),
    /^Cannot use model "m\.st": it has 5 classes, not mnist's 10$/,
  );
  await assertUserError(
    () => checkClasses(of(1), "m.st", { dataset: "fashion" }),
    /^Cannot use model "m\.st": it has 1 class, not fashion's 10$/,
  );
  await assertUserError(
    () => checkClasses(of(12), "m.st", { dataset: "mnist", action: "resume from" }),
    /^Cannot resume from "m\.st": it has 12 classes, not mnist's 10$/,
  );
});

Deno.test("checkDigitInput() refuses a model that does not take 1×28×28 images", async () => {
  const of = (input: [number, number, number]) => ({
    meta: { ...sampleCheckpoint().meta, model: { ...TINY, input } },
  });
  checkDigitInput(of([1, 28, 28]), "m.st");
  await assertUserError(
    () => checkDigitInput(of([3, 32, 32]), "m.st"),
    /^Cannot use model "m\.st": it takes 3×32×32 inputs, not 1×28×28 images$/,
  );
  await assertUserError(
    () => checkDigitInput(of([1, 14, 56]), "m.st", { action: "export model" }),
    /^Cannot export model "m\.st": it takes 1×14×56 inputs, not 1×28×28 images$/,
  );
});

Deno.test("loadCheckpoint() refuses a file named with a trailing slash, in one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await saveCheckpoint(`${dir}/m.safetensors`, sampleCheckpoint());
    const error = await assertUserError(
      () => loadCheckpoint(`${dir}/m.safetensors/`),
      /: "[^"]+\/m\.safetensors" is a file, not a directory$/,
    );
    assert.equal(error.hint, `Leave out the trailing "/": --model ${dir}/m.safetensors`);
    await assertUserError(
      () => loadCheckpoint(`${dir}/m.safetensors/x`),
      /: a part of the path is not a directory$/,
    );
    await assertUserError(
      () => loadCheckpoint(`${dir}/${"a".repeat(300)}`),
      /: file name too long$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
