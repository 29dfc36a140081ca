/**
 * Seeded fuzzing of checkpoint loading (src/nn/checkpoint.ts): valid checkpoints of two small
 * random networks, mutated (bytes flipped, cut short, header fields edited, the length prefix
 * changed, floats made NaN), must each load or be refused with a one-line `UserError` naming
 * the file, never another error. What loads must be usable: finite tensors, a model that
 * passes the checks. Plain files too (no mnist metadata: the MLP's tensors as PyTorch names
 * them, in F32, F16, BF16 and F64). No GPU; the same seed gives the same cases.
 */
import assert from "node:assert/strict";
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from "../src/nn/checkpoint.ts";
import { DataIter } from "../src/data/dataset.ts";
import { UserError } from "../src/errors.ts";
import { checkModelSpec, inferShapes, mlp, type ModelSpec, sizeOf } from "../src/nn/model.ts";
import { Rng } from "../src/random.ts";
import { randomArray } from "./check.ts";

const CASES_PER_MODEL = 150;
const PATH = "fuzz.safetensors";

const MLP: ModelSpec = {
  name: "mlp",
  input: [1, 4, 4],
  classes: 3,
  layers: [
    { kind: "dense", name: "fc1", units: 6, act: "relu" },
    { kind: "dense", name: "fc2", units: 3, act: "none" },
  ],
};

const CNN: ModelSpec = {
  name: "cnn",
  input: [1, 6, 6],
  classes: 2,
  layers: [
    { kind: "conv2d", name: "conv1", filters: 2, kernel: 3, stride: 1, pad: 1, act: "tanh" },
    { kind: "maxpool", name: "pool1", size: 2, stride: 2, act: "none" },
    { kind: "flatten", name: "flatten", act: "none" },
    { kind: "dense", name: "fc1", units: 2, act: "none" },
  ],
};

/** A checkpoint of `model` as `mnist train` writes one: params, momentum, record, iterator. */
function checkpointOf(model: ModelSpec, rng: Rng): Checkpoint {
  const tensors = () =>
    new Map(
      inferShapes(model).flatMap((l) =>
        l.params.map((p) => [p.name, randomArray(sizeOf(p.shape), rng)] as const)
      ),
    );
  const iter = new DataIter({ count: 20, batchSize: 8, shuffle: true, seed: 3 });
  iter.epoch();
  return {
    meta: {
      model,
      epoch: 0,
      dataset: "mnist",
      accuracy: 0.5,
      iterator: iter.state(),
      training: {
        epochs: 3,
        batchSize: 8,
        lr: 0.1,
        momentum: 0.9,
        wd: 0,
        clipGradient: 0,
        seed: 3,
        init: { kind: "xavier" },
        trainSamples: 20,
        testSamples: 20,
      },
    },
    params: tensors(),
    momentum: tensors(),
  };
}

/**
 * A plain file of the tutorial's MLP as PyTorch writes one (`fc1.weight`, sorted by name, no
 * metadata but `format: pt`), its tensors in turn F32, F16, BF16 and F64.
 */
function plainMlp(rng: Rng): Uint8Array {
  const dtypes = ["F32", "F16", "BF16", "F64"] as const;
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const params = inferShapes(mlp()).flatMap((l) => l.params);
  params.sort((a, b) => (a.name < b.name ? -1 : 1)).forEach((p, i) => {
    const dtype = dtypes[i % dtypes.length]!;
    const values = randomArray(sizeOf(p.shape), rng);
    const data = dtype === "F32"
      ? new Uint8Array(values.buffer)
      : dtype === "F64"
      ? new Uint8Array(Float64Array.from(values).buffer)
      : dtype === "F16"
      ? new Uint8Array(Float16Array.from(values).buffer)
      : new Uint8Array(Uint16Array.from(new Uint32Array(values.buffer), (b) => b >>> 16).buffer);
    const name = p.name.replace(/_(weight|bias)$/, ".$1");
    header[name] = { dtype, shape: p.shape, data_offsets: [offset, offset + data.length] };
    chunks.push(data);
    offset += data.length;
  });
  const all = new Uint8Array(offset);
  chunks.reduce((at, chunk) => (all.set(chunk, at), at + chunk.length), 0);
  return join(JSON.stringify(header), all);
}

/** Values a hostile header might hold where another was expected. */
const ODD_VALUES: unknown[] = [
  0,
  -1,
  1.5,
  -0.5,
  1e9,
  2 ** 53 + 2,
  1e308,
  "",
  "1",
  "NaN",
  "-1",
  "relu",
  "gelu",
  "dense",
  "lstm",
  "F16",
  "\n",
  null,
  true,
  [],
  [0],
  [1, 2],
  [-1, 5],
  ["0", "4"],
  {},
  { kind: "dense" },
];

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)]!;
}

type Json = Record<string, unknown> | unknown[];

/** Every path to a value inside `value` (objects and arrays), the root excluded. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((k) => {
    const path = [...prefix, k];
    return [path, ...paths((value as Record<string | number, unknown>)[k], path)];
  });
}

/** Replaces, deletes or duplicates one value somewhere inside `root` (in place). */
function editJson(root: Json, rng: Rng): void {
  const all = paths(root);
  if (all.length === 0) return;
  const path = pick(rng, all);
  const parent = path.slice(0, -1).reduce<unknown>(
    (v, k) => (v as Record<string | number, unknown>)[k],
    root,
  ) as Record<string | number, unknown>;
  const key = path.at(-1)!;
  const action = rng.int(4);
  if (action === 0 && !Array.isArray(parent)) delete parent[key];
  else if (action === 1 && typeof parent[key] === "number") {
    parent[key] = (parent[key] as number) + pick(rng, [-1, 1, 4, -4, 0.5]);
  } else if (action === 2) {
    const other = pick(rng, all);
    parent[key] = structuredClone(
      other.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)?.[k], root),
    );
  } else parent[key] = structuredClone(pick(rng, ODD_VALUES));
}

/** Splits a valid file into its header and data. */
function split(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  return { header, data: bytes.subarray(8 + length) };
}

/** Joins a header (serialised as `json`) and data, with a correct length prefix. */
function join(json: string, data: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

/**
 * One random mutation of a valid checkpoint file; returns the bytes and what was done. A plain
 * file has no metadata documents to edit: its mutations are to bytes, the header and the data.
 */
function mutate(valid: Uint8Array, rng: Rng, { plain = false } = {}): [Uint8Array, string] {
  const { header, data } = split(valid);
  const headerEnd = valid.length - data.length;
  switch (plain ? pick(rng, [0, 1, 2, 3, 3, 7]) : rng.int(8)) {
    case 0: {
      // Flip bits in a few bytes, mostly in the header, where structure lives.
      const bytes = valid.slice();
      const n = 1 + rng.int(4);
      for (let i = 0; i < n; i++) {
        const at = rng.next() < 0.8 ? rng.int(headerEnd) : rng.int(bytes.length);
        bytes[at]! ^= 1 << rng.int(8);
      }
      return [bytes, `${n} bit flips`];
    }
    case 1: {
      const cut = rng.int(valid.length);
      return [valid.slice(0, cut), `cut to ${cut} bytes`];
    }
    case 2: {
      // The length prefix off by a little, or anything at all.
      const bytes = valid.slice();
      const view = new DataView(bytes.buffer);
      const length = view.getBigUint64(0, true);
      const value = rng.next() < 0.5
        ? length + BigInt(pick(rng, [-9, -8, -1, 1, 2, 8, 4096]))
        : BigInt(rng.nextU32()) << BigInt(rng.int(33));
      view.setBigUint64(0, BigInt.asUintN(64, value), true);
      return [bytes, `length prefix ${value}`];
    }
    case 3: {
      // A field of a tensor's entry, or of __metadata__.
      editJson(header, rng);
      return [join(JSON.stringify(header), data), "header field edited"];
    }
    case 4:
    case 5: {
      // A field inside one of the JSON documents in __metadata__.
      const meta = header.__metadata__ as Record<string, string>;
      const key = pick(rng, ["model", "model", "training", "iterator"]);
      const doc = JSON.parse(meta[key]!) as Json;
      const edits = 1 + rng.int(2);
      for (let i = 0; i < edits; i++) editJson(doc, rng);
      meta[key] = JSON.stringify(doc);
      return [join(JSON.stringify(header), data), `${key} edited`];
    }
    case 6: {
      // A plain metadata string replaced.
      const meta = header.__metadata__ as Record<string, string>;
      const key = pick(rng, ["epoch", "dataset", "accuracy", "format", "model"]);
      meta[key] = pick(rng, ["-1", "-2", "1.5", "", "1e999", "fashion", "cifar", "0.5", "x"]);
      return [join(JSON.stringify(header), data), `${key} = ${JSON.stringify(meta[key])}`];
    }
    default: {
      // A float in the data made NaN or infinite (in a plain file's F16, BF16 or F64 tensors,
      // whatever those bytes then mean).
      const bytes = valid.slice();
      const at = headerEnd + 4 * rng.int(data.length / 4);
      const value = pick(rng, [NaN, Infinity, -Infinity]);
      new DataView(bytes.buffer).setFloat32(at, value, true);
      return [bytes, `${value} at data byte ${at - headerEnd}`];
    }
  }
}

/** Loads `bytes`: succeeds with a usable checkpoint, or fails with a one-line UserError. */
function check(bytes: Uint8Array, what: string): "loaded" | "refused" {
  let checkpoint: Checkpoint;
  try {
    checkpoint = decodeCheckpoint(bytes, PATH);
  } catch (error) {
    assert.ok(
      error instanceof UserError,
      `${what}: expected a UserError, got ${(error as Error)?.stack ?? error}`,
    );
    assert.ok(
      error.message.startsWith(`Cannot load model "${PATH}": `),
      `${what}: ${error.message}`,
    );
    assert.ok(!error.message.includes("\n"), `${what}: one line: ${JSON.stringify(error.message)}`);
    assert.ok(!(error.hint ?? "").includes("\n"), `${what}: a one-line hint`);
    assert.ok(error.message.length < 300, `${what}: a short message: ${error.message}`);
    return "refused";
  }
  // What loads can be used: the model passes the checks and every tensor is finite.
  const { infos } = checkModelSpec(checkpoint.meta.model);
  for (const p of infos.flatMap((l) => l.params)) {
    for (const tensors of [checkpoint.params, checkpoint.momentum]) {
      const data = tensors.get(p.name);
      if (tensors === checkpoint.momentum && data === undefined) continue;
      assert.equal(data?.length, sizeOf(p.shape), `${what}: ${p.name} has its shape's size`);
      assert.ok(data.every(Number.isFinite), `${what}: ${p.name} is finite`);
    }
  }
  assert.ok(Number.isInteger(checkpoint.meta.epoch) && checkpoint.meta.epoch >= -1, what);
  return "loaded";
}

for (const [model, seed] of [[MLP, 1], [CNN, 2]] as const) {
  Deno.test(`decodeCheckpoint() of ${CASES_PER_MODEL} mutated ${model.name} checkpoints loads or refuses in one line`, () => {
    const rng = new Rng(seed);
    const valid = encodeCheckpoint(checkpointOf(model, rng));
    assert.equal(check(valid, "the valid file"), "loaded");
    const outcomes = { loaded: 0, refused: 0 };
    for (let i = 0; i < CASES_PER_MODEL; i++) {
      const [bytes, what] = mutate(valid, rng);
      outcomes[check(bytes, `case ${i} (${what})`)]++;
    }
    // Most mutations break something; a fuzzer that only made valid files would test nothing.
    assert.ok(outcomes.refused > CASES_PER_MODEL / 2, JSON.stringify(outcomes));
  });
}

Deno.test(`decodeCheckpoint() of ${CASES_PER_MODEL} mutated plain MLP files loads or refuses in one line`, () => {
  const rng = new Rng(3);
  const valid = plainMlp(rng);
  assert.equal(check(valid, "the valid file"), "loaded");
  assert.equal(decodeCheckpoint(valid, PATH).origin?.from, "names");
  const outcomes = { loaded: 0, refused: 0 };
  for (let i = 0; i < CASES_PER_MODEL; i++) {
    const [bytes, what] = mutate(valid, rng, { plain: true });
    outcomes[check(bytes, `case ${i} (${what})`)]++;
  }
  assert.ok(outcomes.refused > CASES_PER_MODEL / 2, JSON.stringify(outcomes));
});
