/**
 * The model store (src/nn/model_store.ts) and `mnist models`: checkpoints listed from their
 * headers, the default model, names resolved in the model directory and, read-only, in the
 * `<data dir>/models` of older versions. Checkpoints here are built in memory (zero weights):
 * nothing needs a GPU.
 */
import assert from "node:assert/strict";
import { runCli } from "./cli_helpers.ts";
import { encodeCheckpoint } from "../src/nn/checkpoint.ts";
import {
  findDefaultModel,
  listModels,
  modelPath,
  readCheckpointInfo,
} from "../src/nn/model_store.ts";
import { inferShapes, lenet, mlp, type ModelSpec, sizeOf } from "../src/nn/model.ts";
import { UserError } from "../src/errors.ts";
import { modelLine } from "../src/cli/command.ts";

/** A checkpoint of `model` with zero weights and the given record. */
function checkpointBytes(
  { model = mlp(), epoch = 0, accuracy, testSamples, dataset = "mnist" }: {
    model?: ModelSpec;
    epoch?: number;
    accuracy?: number;
    testSamples?: number;
    dataset?: string;
  } = {},
): Uint8Array {
  const params = new Map(
    inferShapes(model).flatMap((l) =>
      l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
    ),
  );
  return encodeCheckpoint({
    meta: {
      model,
      epoch,
      dataset,
      accuracy,
      training: testSamples === undefined ? undefined : { testSamples, trainSamples: 60000 },
    },
    params,
    momentum: new Map(),
  });
}

/** A model directory and a data directory (with an older version's models/), both temporary. */
async function withStore(
  fn: (dirs: { modelDir: string; dataDir: string }) => Promise<void>,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "mnist_models_test_" });
  try {
    const modelDir = `${root}/models`;
    const dataDir = `${root}/data`;
    await Deno.mkdir(modelDir);
    await Deno.mkdir(`${dataDir}/models`, { recursive: true });
    await fn({ modelDir, dataDir });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** The names in `dir`, sorted. */
function namesIn(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("readCheckpointInfo() reads kind, accuracy, test digits and epochs from the header", async () => {
  await withStore(async ({ modelDir }) => {
    const path = `${modelDir}/lenet.safetensors`;
    const bytes = checkpointBytes({
      model: lenet(),
      epoch: 9,
      accuracy: 0.9902,
      testSamples: 10000,
    });
    await Deno.writeFile(path, bytes);
    const info = await readCheckpointInfo(path);
    assert.equal(info.problem, undefined);
    assert.equal(info.kind, "lenet");
    assert.equal(info.epochs, 10);
    assert.equal(info.accuracy, 0.9902);
    assert.equal(info.testSamples, 10000);
    assert.equal(info.dataset, "mnist");
    assert.ok(info.modified instanceof Date);
  });
});

Deno.test("readCheckpointInfo() leaves out what the checkpoint does not record", async () => {
  await withStore(async ({ modelDir }) => {
    const path = `${modelDir}/mlp.safetensors`;
    await Deno.writeFile(path, checkpointBytes({ epoch: -1 }));
    const info = await readCheckpointInfo(path);
    assert.equal(info.kind, "mlp");
    assert.equal(info.epochs, 0);
    assert.equal(info.accuracy, undefined);
    assert.equal(info.testSamples, undefined);
  });
});

Deno.test("readCheckpointInfo() gives a short reason for a file that is not a checkpoint", async () => {
  await withStore(async ({ modelDir }) => {
    const header = (json: string) => {
      const text = new TextEncoder().encode(json);
      const out = new Uint8Array(8 + text.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
      out.set(text, 8);
      return out;
    };
    const files: [string, Uint8Array | null, RegExp][] = [
      ["empty", new Uint8Array(), /^the file is empty or truncated$/],
      ["short", new Uint8Array(5), /^the file is empty or truncated$/],
      ["huge-header", new Uint8Array(64).fill(0xff), /^not a safetensors file \(bad header/],
      ["not-json", header("{nope"), /^not a safetensors file \(the header is not JSON\)$/],
      ["array", header("[1,2]"), /^not a safetensors file \(the header is not a JSON object\)$/],
      [
        "plain",
        header('{"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'),
        /^it has no network description, and its 1 tensors are neither mlp's nor lenet's/,
      ],
      [
        "other",
        header('{"__metadata__":{"format":"pt"}}'),
        /^it has no network description, and its 0 tensors are neither mlp's nor lenet's/,
      ],
      ["dir", null, /^it is a directory$/],
    ];
    for (const [name, bytes] of files) {
      const path = `${modelDir}/${name}.safetensors`;
      if (bytes === null) await Deno.mkdir(path);
      else await Deno.writeFile(path, bytes);
    }
    for (const [name, , reason] of files) {
      const info = await readCheckpointInfo(`${modelDir}/${name}.safetensors`);
      assert.match(info.problem ?? "(none)", reason, name);
      assert.equal(info.kind, undefined, name);
    }
    const missing = await readCheckpointInfo(`${modelDir}/missing.safetensors`);
    assert.equal(missing.problem, "no such file");
  });
});

Deno.test("readCheckpointInfo() names the model of a plain safetensors file by its tensors", async () => {
  await withStore(async ({ modelDir }) => {
    // What PyTorch's save_file(state_dict) writes for the MLP: dotted names, no metadata.
    const tensors = inferShapes(mlp()).flatMap((info) =>
      info.spec.kind === "dense"
        ? [
          [`${info.spec.name}.weight`, [info.spec.units, sizeOf(info.input)]],
          [`${info.spec.name}.bias`, [info.spec.units]],
        ] as const
        : []
    );
    let offset = 0;
    const header: Record<string, unknown> = {};
    for (const [name, shape] of tensors) {
      const bytes = shape.reduce((a, b) => a * b, 4);
      header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
    }
    const text = new TextEncoder().encode(JSON.stringify(header));
    const file = new Uint8Array(8 + text.length + offset);
    new DataView(file.buffer).setBigUint64(0, BigInt(text.length), true);
    file.set(text, 8);
    await Deno.writeFile(`${modelDir}/torch.safetensors`, file);
    const info = await readCheckpointInfo(`${modelDir}/torch.safetensors`);
    assert.equal(info.problem, undefined);
    assert.equal(info.kind, "mlp");
    assert.equal(info.plain, "names");
    assert.equal(info.accuracy, undefined);
  });
});

Deno.test("modelPath() finds mlp in the model directory, else where older versions saved it", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    const legacy = `${dataDir}/models/mlp.safetensors`;
    await Deno.writeFile(legacy, checkpointBytes());
    assert.equal(await modelPath("mlp", dataDir, { modelDir }), legacy);
    const current = `${modelDir}/mlp.safetensors`;
    await Deno.writeFile(current, checkpointBytes());
    assert.equal(await modelPath("mlp", dataDir, { modelDir }), current);
    await assert.rejects(modelPath("lenet", dataDir, { modelDir }), (error: UserError) => {
      assert.equal(error.message, `No trained lenet in "${modelDir}"`);
      assert.equal(error.hint, 'Run "mnist train --model lenet" first, or pass --model FILE.');
      return true;
    });
    // Looking never writes where older versions kept models.
    assert.deepEqual(namesIn(`${dataDir}/models`), ["mlp.safetensors"]);
  });
});

Deno.test("modelPath() takes the names mnist models lists: mlp.prev, mlp.prev.safetensors", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    const prev = `${modelDir}/mlp.prev.safetensors`;
    await Deno.writeFile(prev, checkpointBytes());
    assert.equal(await modelPath("mlp.prev", dataDir, { modelDir }), prev);
    assert.equal(await modelPath("mlp.prev.safetensors", dataDir, { modelDir }), prev);
    const old = `${dataDir}/models/old.safetensors`;
    await Deno.writeFile(old, checkpointBytes());
    assert.equal(await modelPath("old", dataDir, { modelDir }), old);
    // Neither a file nor a model: a bare word is an unknown model, a path is left to loading.
    await assert.rejects(modelPath("resnet", dataDir, { modelDir }), /Unknown model "resnet"/);
    assert.equal(await modelPath("no/x.safetensors", dataDir, { modelDir }), "no/x.safetensors");
  });
});

Deno.test("a name that names no file is refused with the names saved, not 'train one first'", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    // The README's flow: mlp.prev was removed by a later run, mlp.prev-1 and lenet remain.
    // "Train one first with mnist train, or pass --model FILE" was the hint, for models
    // --default too.
    for (const name of ["lenet", "mlp", "mlp.prev-1", "fashion-mlp"]) {
      await Deno.writeFile(`${modelDir}/${name}.safetensors`, checkpointBytes());
    }
    await Deno.writeFile(`${dataDir}/models/old.safetensors`, checkpointBytes());
    for (const name of ["mlp.prev", "mlp.prev.safetensors"]) {
      await assert.rejects(modelPath(name, dataDir, { modelDir }), (error: UserError) => {
        assert.equal(
          error.message,
          `Cannot load model "${name}": no such file here, nor in "${modelDir}"`,
        );
        assert.equal(
          error.hint,
          'Saved models: mlp, mlp.prev-1, fashion-mlp, lenet, old ("mnist models" lists ' +
            "them, with their accuracy).",
        );
        return true;
      });
    }
    const cli = await runCli(["models", "--data-dir", dataDir, "--default", "mlp.prev"], {
      env: { MNIST_MODEL_DIR: modelDir },
    });
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /^error: Cannot load model "mlp\.prev": no such file here, nor in /);
    assert.match(cli.stderr, /\nhint: Saved models: mlp, mlp\.prev-1, fashion-mlp, lenet, old /);
  });
  await withStore(async ({ modelDir, dataDir }) => {
    await assert.rejects(modelPath("mlp.prev", dataDir, { modelDir, option: "--default" }), {
      hint: `No model is saved in "${modelDir}" yet: train one with "mnist train", or pass ` +
        "--default FILE.",
    });
  });
});

Deno.test("with models but no default, modelPath() says to choose one, not to train", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    // A run that ended at chance is saved but not made the default: "Run mnist train first"
    // sent the user to train again.
    await Deno.writeFile(`${modelDir}/mlp.safetensors`, checkpointBytes());
    await Deno.writeFile(`${dataDir}/models/lenet.safetensors`, checkpointBytes());
    await assert.rejects(modelPath(undefined, dataDir, { modelDir }), (error: UserError) => {
      assert.equal(
        error.message,
        "No default model: 2 models saved (mlp.safetensors, ...) but none is the default",
      );
      assert.equal(
        error.hint,
        'Choose one with "mnist models --default NAME" ("mnist models" lists them), or pass ' +
          "--model NAME.",
      );
      return true;
    });
  });
});

Deno.test("the default model is <model dir>/default's, else an older version's models/last", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    assert.equal(await findDefaultModel(dataDir, { modelDir }), undefined);
    await assert.rejects(modelPath(undefined, dataDir, { modelDir }), (error: UserError) => {
      assert.equal(error.message, `No trained model found in "${modelDir}"`);
      assert.match(error.hint ?? "", /^Run "mnist train" first/);
      return true;
    });
    await Deno.writeTextFile(`${dataDir}/models/last`, "/old/mlp.safetensors\n");
    assert.deepEqual(await findDefaultModel(dataDir, { modelDir }), {
      path: "/old/mlp.safetensors",
      legacy: true,
      pointer: `${dataDir}/models/last`,
    });
    await Deno.writeFile(`${modelDir}/new.safetensors`, checkpointBytes());
    await Deno.writeTextFile(`${modelDir}/default`, `${modelDir}/new.safetensors\n`);
    assert.equal(await modelPath(undefined, dataDir, { modelDir }), `${modelDir}/new.safetensors`);
  });
});

Deno.test("listModels() lists the model directory, an older version's models and the default", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    await Deno.writeFile(`${modelDir}/mlp.safetensors`, checkpointBytes({ accuracy: 0.9 }));
    await Deno.writeFile(`${dataDir}/models/mlp.safetensors`, checkpointBytes());
    await Deno.writeFile(`${dataDir}/models/lenet.safetensors`, checkpointBytes());
    await Deno.writeTextFile(`${modelDir}/notes.txt`, "not a model");
    const elsewhere = `${dataDir}/try.safetensors`;
    await Deno.writeFile(elsewhere, checkpointBytes());
    await Deno.writeTextFile(`${modelDir}/default`, `${elsewhere}\n`);
    const { models, defaultModel } = await listModels(dataDir, { modelDir });
    assert.deepEqual(defaultModel, {
      path: elsewhere,
      legacy: false,
      pointer: `${modelDir}/default`,
    });
    assert.deepEqual(
      models.map((m) => [m.file, m.legacy, m.elsewhere, m.isDefault]),
      [
        ["mlp.safetensors", false, false, false],
        // The older mlp.safetensors is hidden by the model directory's.
        ["lenet.safetensors", true, false, false],
        ["try.safetensors", false, true, true],
      ],
    );
  });
});

Deno.test("mnist models lists each checkpoint's model, dataset, accuracy, epochs and date", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    await Deno.writeFile(
      `${modelDir}/mlp.safetensors`,
      checkpointBytes({ epoch: 9, accuracy: 0.9761, testSamples: 10000 }),
    );
    await Deno.writeFile(
      `${modelDir}/mlp.prev.safetensors`,
      checkpointBytes({ epoch: 0, accuracy: 0.372, testSamples: 500 }),
    );
    await Deno.writeFile(`${modelDir}/junk.safetensors`, new Uint8Array(3));
    // A Fashion-MNIST run's: the table said TEST DIGITS and showed no dataset.
    await Deno.writeFile(
      `${modelDir}/fashion-mlp.safetensors`,
      checkpointBytes({ epoch: 2, accuracy: 0.8512, testSamples: 10000, dataset: "fashion" }),
    );
    await Deno.writeFile(
      `${dataDir}/models/lenet.safetensors`,
      checkpointBytes({ model: lenet(), epoch: 1, accuracy: 0.98, testSamples: 10000 }),
    );
    await Deno.writeTextFile(`${modelDir}/default`, `${modelDir}/mlp.safetensors\n`);
    const env = { MNIST_MODEL_DIR: modelDir };
    const run = await runCli(["models", "--data-dir", dataDir], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    const date = "\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d";
    const lines = run.stdout.trimEnd().split("\n");
    const expected = [
      `^Models in ${modelDir}:$`,
      "^  FILE +MODEL  DATASET  ACCURACY  TEST SAMPLES  EPOCHS  SAVED$",
      `^  fashion-mlp\\.safetensors +mlp    fashion    85\\.12%         10000       3  ${date}$`,
      "^  junk\\.safetensors +unusable: the file is empty or truncated$",
      `^  mlp\\.prev\\.safetensors +mlp    mnist      37\\.20%           500       1  ${date}$`,
      `^\\* mlp\\.safetensors +mlp    mnist      97\\.61%         10000      10  ${date}$`,
      "^$",
      `^Saved by an older version in ${dataDir}/models \\(only read\\):$`,
      "^  FILE +MODEL  DATASET  ACCURACY  TEST SAMPLES  EPOCHS  SAVED$",
      `^  lenet\\.safetensors +lenet  mnist      98\\.00%         10000       2  ${date}$`,
      "^$",
      "^\\* the default model, which eval, predict and serve use without --model$",
    ];
    assert.equal(lines.length, expected.length, run.stdout);
    lines.forEach((line, i) => assert.match(line, new RegExp(expected[i]!), run.stdout));

    const json = await runCli(["models", "--data-dir", dataDir, "--json"], { env });
    assert.equal(json.code, 0, json.stderr);
    const listed = JSON.parse(json.stdout);
    assert.equal(listed.modelDir, modelDir);
    assert.equal(listed.default, `${modelDir}/mlp.safetensors`);
    const byFile = Object.fromEntries(
      listed.models.map((m: { file: string }) => [m.file, m]),
    );
    assert.deepEqual(
      { ...byFile["mlp.safetensors"], modified: "", bytes: 0 },
      {
        file: "mlp.safetensors",
        path: `${modelDir}/mlp.safetensors`,
        place: "model dir",
        default: true,
        model: "mlp",
        dataset: "mnist",
        accuracy: 0.9761,
        testSamples: 10000,
        plain: null,
        epochs: 10,
        modified: "",
        bytes: 0,
      },
    );
    assert.equal(byFile["lenet.safetensors"].place, "legacy");
    assert.equal(byFile["junk.safetensors"].problem, "the file is empty or truncated");
    assert.equal(byFile["junk.safetensors"].model, null);
  });
});

Deno.test("mnist models in an empty model directory says to train one", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    const run = await runCli(["models", "--data-dir", dataDir], {
      env: { MNIST_MODEL_DIR: modelDir },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.trimEnd().split("\n"), [
      `Models in ${modelDir}:`,
      '  none yet: train one with "mnist train"',
      "",
      'No default model: "mnist models --default FILE|NAME" sets one.',
    ]);
  });
});

Deno.test("mnist models --default sets the default after loading it; a bad one is refused", async () => {
  await withStore(async ({ modelDir, dataDir }) => {
    const env = { MNIST_MODEL_DIR: modelDir };
    const prev = `${modelDir}/mlp.prev.safetensors`;
    await Deno.writeFile(prev, checkpointBytes({ accuracy: 0.93, testSamples: 10000 }));
    const bytes = checkpointBytes();
    await Deno.writeFile(`${modelDir}/cut.safetensors`, bytes.subarray(0, bytes.length / 2));
    const legacy = `${dataDir}/models/lenet.safetensors`;
    await Deno.writeFile(legacy, checkpointBytes({ model: lenet() }));

    const set = await runCli(["models", "--data-dir", dataDir, "--default", "mlp.prev"], { env });
    assert.equal(set.code, 0, set.stderr);
    assert.equal(
      set.stdout,
      `Default model is now "${prev}" (mlp, validation accuracy 93.00% on 10000 test digits).\n`,
    );
    assert.equal(await Deno.readTextFile(`${modelDir}/default`), `${prev}\n`);
    const one = `${modelDir}/one.safetensors`;
    await Deno.writeFile(one, checkpointBytes({ accuracy: 1, testSamples: 1 }));
    const single = await runCli(["models", "--data-dir", dataDir, "--default", one], { env });
    assert.equal(
      single.stdout,
      `Default model is now "${one}" (mlp, validation accuracy 100.00% on 1 test digit).\n`,
    );
    await runCli(["models", "--data-dir", dataDir, "--default", "mlp.prev"], { env });

    const cases: [string, RegExp][] = [
      ["cut", /^error: Cannot load model ".*cut\.safetensors": tensor ".+" has a bad byte range/],
      ["resnet", /^error: Unknown model "resnet"$/],
      ["mlp", /^error: No trained mlp in ".*models"$/],
      [`${dataDir}/missing.safetensors`, /^error: Cannot load model ".*missing.*": no such file$/],
    ];
    for (const [name, pattern] of cases) {
      const run = await runCli(["models", "--data-dir", dataDir, "--default", name], { env });
      assert.equal(run.code, 1, `--default ${name}: ${run.stderr}`);
      assert.equal(run.stdout, "");
      const lines = run.stderr.trimEnd().split("\n");
      assert.match(lines[0]!, pattern);
      assert.ok(lines.length <= 2 && (lines[1] ?? "hint: ").startsWith("hint: "), run.stderr);
    }
    // Refusals left the default as it was.
    assert.equal(await Deno.readTextFile(`${modelDir}/default`), `${prev}\n`);

    // An older version's model can be the default; only the model directory is written.
    const old = await runCli(["models", "--data-dir", dataDir, "--default", "lenet", "--json"], {
      env,
    });
    assert.equal(old.code, 0, old.stderr);
    assert.deepEqual(JSON.parse(old.stdout), {
      default: legacy,
      model: "lenet",
      accuracy: null,
      testSamples: null,
    });
    assert.equal(await Deno.readTextFile(`${modelDir}/default`), `${legacy}\n`);
    assert.deepEqual(namesIn(`${dataDir}/models`), ["lenet.safetensors"]);
  });
});

Deno.test("modelLine() says 1 epoch and 1 test digit in the singular", () => {
  // "1 epochs ... on 1 test digits" for a run of one epoch with --limit 1.
  const meta = (training: Record<string, unknown>) =>
    ({
      meta: { model: mlp(), epoch: 0, dataset: "mnist", accuracy: 1, training },
    }) as unknown as Parameters<typeof modelLine>[1];
  assert.equal(
    modelLine("m.safetensors", meta({ testSamples: 1, validation: "test" })),
    "Model: m.safetensors (mlp, 1 epoch, validation accuracy 100.00% on 1 test digit)",
  );
  assert.equal(
    modelLine("m.safetensors", meta({ testSamples: 1, validation: "holdout:1" })),
    "Model: m.safetensors (mlp, 1 epoch, validation accuracy 100.00% on 1 held-out training digit)",
  );
});

Deno.test("modelLine() names each dataset of a training resumed on another", () => {
  // "mlp on fashion, 3 epochs" said nothing of the epoch on MNIST its weights started from.
  const meta = (epoch: number, datasets?: unknown) =>
    ({
      meta: { model: mlp(), epoch, dataset: "fashion", training: { datasets } },
    }) as unknown as Parameters<typeof modelLine>[1];
  const parts = [{ dataset: "mnist", epochs: 1 }, { dataset: "fashion", epochs: 2 }];
  assert.equal(
    modelLine("f.safetensors", meta(2, parts)),
    "Model: f.safetensors (mlp on fashion, 3 epochs: 1 on mnist, then 2 on fashion)",
  );
  // No parts recorded (one dataset, or a record that does not add up): the epochs alone.
  assert.equal(
    modelLine("f.safetensors", meta(2)),
    "Model: f.safetensors (mlp on fashion, 3 epochs)",
  );
  assert.equal(
    modelLine("f.safetensors", meta(1, parts)),
    "Model: f.safetensors (mlp on fashion, 2 epochs)",
  );
});

Deno.test("modelLine() says on what digits the recorded accuracy was measured, in percent", () => {
  // It said "validation accuracy 0.9765" where eval, models and train say "97.65%".
  const meta = (training: Record<string, unknown>) =>
    ({
      meta: { model: mlp(), epoch: 1, dataset: "mnist", accuracy: 0.9765, training },
    }) as unknown as Parameters<typeof modelLine>[1];
  assert.equal(
    modelLine("m.safetensors", meta({ testSamples: 10000, validation: "test" })),
    "Model: m.safetensors (mlp, 2 epochs, validation accuracy 97.65% on 10000 test digits)",
  );
  assert.equal(
    modelLine("m.safetensors", meta({ testSamples: 10000, validation: "holdout:5000" })),
    "Model: m.safetensors (mlp, 2 epochs, validation accuracy 97.65% on 5000 held-out training digits)",
  );
});
