/**
 * What the model store refuses (src/nn/model_store.ts, `mnist models`): a default model's pointer
 * that is not one line naming a path, and checkpoints that eval, predict and serve would refuse,
 * by their header or by their weights' values; and that plot's help states its limit on metrics.
 * Checkpoints are built in memory (zero weights, but where a test writes others) or come from
 * tests/fixtures/cases: nothing needs a GPU.
 */
import assert from "node:assert/strict";
import { runCli } from "./cli_helpers.ts";
import { encodeCheckpoint, loadCheckpoint } from "../src/nn/checkpoint.ts";
import {
  findDefaultModel,
  listModels,
  modelPath,
  readCheckpointInfo,
} from "../src/nn/model_store.ts";
import { inferShapes, mlp, sizeOf } from "../src/nn/model.ts";
import { printable, UserError } from "../src/errors.ts";
import { MAX_PANELS } from "../src/plot/curves.ts";

/** An MLP checkpoint with zero weights, as `mnist train` writes one. */
function checkpointBytes(): Uint8Array {
  const params = new Map(
    inferShapes(mlp()).flatMap((l) =>
      l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
    ),
  );
  return encodeCheckpoint({
    meta: { model: mlp(), epoch: 0, dataset: "mnist", accuracy: 0.5 },
    params,
    momentum: new Map(),
  });
}

/**
 * `bytes` with its header changed by `edit` (the parsed JSON, changed in place) and `extra`
 * bytes appended to its data.
 */
function withHeader(
  bytes: Uint8Array,
  edit: (header: Record<string, Record<string, unknown>>) => void,
  extra = new Uint8Array(),
): Uint8Array {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  edit(header);
  const text = new TextEncoder().encode(JSON.stringify(header));
  const data = bytes.subarray(8 + length);
  const out = new Uint8Array(8 + text.length + data.length + extra.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  out.set(extra, 8 + text.length + data.length);
  return out;
}

/** A model directory and a data directory, both temporary. */
async function withStore(
  fn: (dirs: { modelDir: string; dataDir: string }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "mnist_store_checks_test_" });
  try {
    const modelDir = `${root}/models`;
    const dataDir = `${root}/data`;
    await Deno.mkdir(modelDir);
    await Deno.mkdir(dataDir);
    await fn({ modelDir, dataDir });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** Makes a FIFO at `path` (there is no Deno API for one). */
async function mkfifo(path: string): Promise<void> {
  const { code } = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.equal(code, 0, `mkfifo ${path}`);
}

const FIX = /mnist models --default NAME/;

Deno.test("a default model's pointer that is no one-line path is refused in one line naming it", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    const pointer = `${modelDir}/default`;
    const cases: [string, (path: string) => Promise<void>, RegExp][] = [
      // Read at HEAD without a stat: a FIFO blocked the read until a writer came.
      ["a FIFO", mkfifo, /: it is not a regular file \(a pipe or a device\?\)$/],
      ["a directory", (p) => Deno.mkdir(p), /: it is a directory, not a file$/],
      [
        "two lines",
        (p) => Deno.writeTextFile(p, "/a.safetensors\n/b.safetensors\n"),
        /: it holds more than one line \("\/a\.safetensors\\n\/b\.safetensors"\), not one path$/,
      ],
      [
        "binary",
        (p) => Deno.writeFile(p, new Uint8Array([0xff, 0xfe, 0x1b, 0x5b, 0x32, 0x4a])),
        /: it is not text \(bytes that are not UTF-8\)$/,
      ],
      [
        "control characters",
        (p) => Deno.writeTextFile(p, "/m\x1b]0;pwned\x07.safetensors\n"),
        /: its path "\/m\\x1b\]0;pwned\\x07\.safetensors" holds control characters$/,
      ],
      [
        "5,000 bytes",
        (p) => Deno.writeTextFile(p, "/" + "x".repeat(4999)),
        /: it is 5000 bytes, more than one path \(4096 at most\)$/,
      ],
    ];
    for (const [what, make, reason] of cases) {
      await make(pointer);
      for (
        const read of [
          () => findDefaultModel(dataDir, { modelDir }),
          () => modelPath(undefined, dataDir, { modelDir }),
        ]
      ) {
        await assert.rejects(read, (error: UserError) => {
          assert.ok(error instanceof UserError, what);
          assert.ok(
            error.message.startsWith(`Cannot read the default model's pointer "${pointer}": `),
            `${what}: ${error.message}`,
          );
          assert.match(error.message, reason, what);
          assert.equal(printable(error.message), error.message, `${what}: no control characters`);
          assert.match(error.hint ?? "", FIX, what);
          return true;
        });
      }
      // Listing still works, and says what is wrong with the pointer.
      const listed = await listModels(dataDir, { modelDir });
      assert.equal(listed.defaultModel, undefined, what);
      assert.match(listed.pointerProblem?.message ?? "(none)", reason, what);
      await Deno.remove(pointer, { recursive: true });
    }
  });
});

Deno.test("a relative path in the default model's pointer is taken from the model directory", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    await Deno.writeFile(`${modelDir}/mlp.safetensors`, checkpointBytes());
    // Written by hand, without the newline: not the working directory's mlp.safetensors.
    await Deno.writeTextFile(`${modelDir}/default`, "mlp.safetensors");
    const found = await findDefaultModel(dataDir, { modelDir });
    assert.equal(found?.path, `${modelDir}/mlp.safetensors`);
    assert.equal(await modelPath(undefined, dataDir, { modelDir }), `${modelDir}/mlp.safetensors`);
    // Blank is no default, as before.
    await Deno.writeTextFile(`${modelDir}/default`, " \n");
    assert.equal(await findDefaultModel(dataDir, { modelDir }), undefined);
  });
});

Deno.test("a default model that does not exist is named with its pointer, not 'train one first'", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    await Deno.writeTextFile(`${modelDir}/default`, "gone.safetensors\n");
    await assert.rejects(
      modelPath(undefined, dataDir, { modelDir, option: "--model" }),
      (error: UserError) => {
        assert.equal(
          error.message,
          `The default model "${modelDir}/gone.safetensors" does not exist ` +
            `(named by "${modelDir}/default")`,
        );
        assert.match(error.hint ?? "", FIX);
        assert.match(error.hint ?? "", /or pass --model FILE\.$/);
        return true;
      },
    );
  });
});

Deno.test("mnist export with a FIFO as the default's pointer fails in one line, not a hang", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    await mkfifo(`${modelDir}/default`);
    const out = `${dataDir}/m.onnx`;
    const run = await runCli(["export", "--data-dir", dataDir, "--onnx", out], {
      env: { MNIST_MODEL_DIR: modelDir },
    });
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stderr.trimEnd().split("\n");
    assert.equal(
      lines[0],
      `error: Cannot read the default model's pointer "${modelDir}/default": ` +
        "it is not a regular file (a pipe or a device?)",
    );
    assert.match(lines[1] ?? "", /^hint: Remove it, then set the default with "mnist models/);
    assert.equal(lines.length, 2, run.stderr);
    assert.equal(await Deno.stat(out).then(() => true, () => false), false, "nothing written");
  });
});

/** Checkpoints whose header shows that loading refuses them, and the reason listed. */
function refusedByHeader(): [string, Uint8Array, RegExp][] {
  const good = checkpointBytes();
  const meta = (key: string, value: string) =>
    withHeader(good, (h) => {
      h.__metadata__![key] = value;
    });
  return [
    [
      "dtype",
      withHeader(good, (h) => {
        h.fc1_weight!.dtype = "I32";
      }),
      /^tensor "fc1_weight" is I32, not F32, F64, F16, BF16$/,
    ],
    ["truncated", good.subarray(0, good.length - 100), /bad byte range \(file truncated\?\)$/],
    [
      "extra",
      withHeader(good, (h) => {
        const end = good.length - 8 -
          Number(new DataView(good.buffer).getBigUint64(0, true));
        h.extra = { dtype: "F32", shape: [4], data_offsets: [end, end + 16] };
      }, new Uint8Array(16)),
      /^tensor "extra" \[4\] is not one of "mlp"'s parameters/,
    ],
    ["dataset", meta("dataset", "../../etc"), /^its dataset "\.\.\/\.\.\/etc" is not one of/],
    ["model", meta("model", "{}"), /^its network description is invalid/],
    [
      "classes",
      meta("model", JSON.stringify({ ...mlp(), classes: 5 })),
      /^its network description is invalid|it has 5 classes, not mnist's 10$/,
    ],
    [
      "escapes",
      withHeader(good, (h) => {
        h.fc1_weight!.dtype = "\x1b[2J\u202e";
      }),
      /^tensor "fc1_weight" has an unknown dtype/,
    ],
  ];
}

Deno.test("readCheckpointInfo() finds in the header what loading refuses, in its words", async () => {
  await withStore(async ({ modelDir }) => {
    for (const [name, bytes, reason] of refusedByHeader()) {
      const path = `${modelDir}/${name}.safetensors`;
      await Deno.writeFile(path, bytes);
      const info = await readCheckpointInfo(path);
      assert.match(info.problem ?? "(listed as healthy)", reason, name);
      assert.equal(info.kind, undefined, name);
      assert.equal(info.dataset, undefined, name);
      // The listing agrees with loading: both refuse.
      await assert.rejects(loadCheckpoint(path), UserError, name);
    }
    await Deno.writeFile(`${modelDir}/good.safetensors`, checkpointBytes());
    const good = await readCheckpointInfo(`${modelDir}/good.safetensors`);
    assert.equal(good.problem, undefined);
    assert.equal(good.kind, "mlp");
  });
});

Deno.test("mnist models lists a refused checkpoint as unusable, its header's text escaped", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    for (const [name, bytes] of refusedByHeader()) {
      await Deno.writeFile(`${modelDir}/${name}.safetensors`, bytes);
    }
    await Deno.writeFile(`${modelDir}/good.safetensors`, checkpointBytes());
    const run = await runCli(["models", "--data-dir", dataDir], {
      env: { MNIST_MODEL_DIR: modelDir },
    });
    assert.equal(run.code, 0, run.stderr);
    const line = (name: string) =>
      run.stdout.split("\n").find((l) => l.startsWith(`  ${name}.safetensors `)) ?? "(none)";
    for (const [name] of refusedByHeader()) {
      assert.match(line(name), /^ {2}\S+ +unusable: /, name);
    }
    assert.doesNotMatch(run.stdout, /\.\.\/\.\.\/etc +\d/, "no bad dataset shown as a dataset");
    assert.match(line("escapes"), /unknown dtype "\\u001b\[2J\\u202e"$/);
    assert.equal(printable(run.stdout.replaceAll("\n", "")), run.stdout.replaceAll("\n", ""));
    assert.match(line("good"), /^ {2}good\.safetensors +mlp +mnist +50\.00%/);
  });
});

/** An MLP checkpoint with zero weights but `value` at `index` of `tensor`. */
function withWeight(tensor: string, index: number, value: number): Uint8Array {
  const params = new Map(
    inferShapes(mlp()).flatMap((l) =>
      l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
    ),
  );
  params.get(tensor)![index] = value;
  return encodeCheckpoint({
    meta: { model: mlp(), epoch: 0, dataset: "mnist", accuracy: 0.5 },
    params,
    momentum: new Map(),
  });
}

const CASES = new URL("./fixtures/cases/", import.meta.url).pathname;

Deno.test("mnist models lists a checkpoint with NaN or infinite weights as unusable, as loading refuses it", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    await Deno.copyFile(`${CASES}mlp-nan-bias.safetensors`, `${modelDir}/nan-bias.safetensors`);
    await Deno.writeFile(
      `${modelDir}/inf-weight.safetensors`,
      withWeight("fc1_weight", 784 * 128 - 1, -Infinity),
    );
    await Deno.writeFile(`${modelDir}/good.safetensors`, checkpointBytes());
    const reasons: [string, RegExp][] = [
      ["nan-bias", /^tensor "fc3_bias" holds NaN at index 0$/],
      ["inf-weight", /^tensor "fc1_weight" holds -Infinity at index 100351$/],
    ];
    for (const [name, reason] of reasons) {
      const path = `${modelDir}/${name}.safetensors`;
      assert.match((await readCheckpointInfo(path)).problem ?? "(listed as healthy)", reason);
      await assert.rejects(loadCheckpoint(path), UserError, name);
    }
    const run = await runCli(["models", "--data-dir", dataDir], {
      env: { MNIST_MODEL_DIR: modelDir },
    });
    assert.equal(run.code, 0, run.stderr);
    const line = (name: string) =>
      run.stdout.split("\n").find((l) => l.startsWith(`  ${name}.safetensors `)) ?? "(none)";
    assert.match(line("nan-bias"), /unusable: tensor "fc3_bias" holds NaN at index 0$/);
    assert.match(line("inf-weight"), /unusable: tensor "fc1_weight" holds -Infinity/);
    assert.match(line("good"), /^ {2}good\.safetensors +mlp +mnist +50\.00%/);
    // Not offered as a default either.
    const chosen = await runCli(["models", "--default", "nan-bias", "--data-dir", dataDir], {
      env: { MNIST_MODEL_DIR: modelDir },
    });
    assert.notEqual(chosen.code, 0);
  });
});

Deno.test("plot --help says how many metrics it draws", async () => {
  const run = await runCli(["plot", "--help"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, new RegExp(`At most ${MAX_PANELS} metrics are drawn`));
});
