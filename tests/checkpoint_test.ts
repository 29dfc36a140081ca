/** Checkpoints (src/nn/checkpoint.ts): safetensors layout, round trips, errors, atomic saves. */
import assert from "node:assert/strict";
import {
  type Checkpoint,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from "../src/nn/checkpoint.ts";
import { DataIter } from "../src/data/dataset.ts";
import { UserError } from "../src/errors.ts";
import { inferShapes, mlp, type ModelSpec, sizeOf } from "../src/nn/model.ts";
import { Rng } from "../src/random.ts";
import { randomArray } from "./check.ts";

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

Deno.test("decodeCheckpoint() rejects a tensor of the wrong dtype", async () => {
  const { header, data } = parse(encodeCheckpoint(sampleCheckpoint()));
  (header.fc2_bias as { dtype: string }).dtype = "F16";
  await assertUserError(
    () => decodeCheckpoint(safetensors(header, data), "d.st"),
    /^Cannot load model "d\.st": tensor "fc2_bias" is F16, not F32$/,
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
