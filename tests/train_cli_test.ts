/**
 * End-to-end: the real `mnist train` and `mnist eval` on real MNIST, from a temporary data
 * directory that links to the read-only copy; models go to the temporary model directory
 * `runCli` gives that data directory (`modelDirFor`). Subsets keep each run to a few seconds on
 * a CPU adapter. Asserts on what a user sees: log lines, files written, error lines and exit
 * codes.
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { type CliResult, lines, modelDirFor, runCli } from "./cli_helpers.ts";
import { gpu, gpuTest } from "./gpu_helpers.ts";
import { encodeCheckpoint, loadCheckpoint } from "../src/nn/checkpoint.ts";
import { readCheckpointInfo } from "../src/nn/model_store.ts";
import { subset } from "../src/data/dataset.ts";
import { parseIdxPair } from "../src/data/idx.ts";
import { inferShapes, lenet, mlp, sizeOf } from "../src/nn/model.ts";
import { largestBatch } from "../src/nn/network.ts";
import { startLine } from "../src/train/speedometer.ts";
import { MIN_JUDGED_SAMPLES, nextDefault, runWarning } from "../src/cli/train_outcome.ts";
import { referenceMlp } from "./reference_mlp.ts";
import { MNIST, withDataDir } from "./test_data.ts";

const BATCH_LINE =
  /^INFO:root:Epoch\[(\d+)\] Batch \[(\d+)\]\tSpeed: \d+\.\d\d samples\/sec\tTrain-accuracy=\d\.\d{6}$/;
const VALIDATION_LINE = /^INFO:root:Epoch\[(\d+)\] Validation-accuracy=(\d\.\d{6})$/;

/** Asserts a run succeeded, printing its stderr on failure. */
function assertOk(run: CliResult, what: string): void {
  assert.equal(run.code, 0, `${what} exited ${run.code}:\n${run.stderr}`);
}

/**
 * Asserts a run failed the way a user error should: non-zero exit, exactly one `error:` line
 * matching `pattern`, at most one `hint:` line after it, and no stack trace.
 */
function assertUserError(run: CliResult, pattern: RegExp, what: string): string[] {
  assert.notEqual(run.code, 0, `${what} should fail`);
  assert.notEqual(run.code, 70, `${what}: exit code 70 means an internal error:\n${run.stderr}`);
  const err = lines(run.stderr);
  assert.ok(err.length === 1 || err.length === 2, `${what}: stderr is\n${run.stderr}`);
  assert.match(err[0]!, /^error: /, what);
  assert.match(err[0]!, pattern, what);
  if (err.length === 2) assert.match(err[1]!, /^hint: /, `${what}: second line`);
  assert.doesNotMatch(run.stderr, /^\s+at /m, `${what}: no stack trace`);
  return err;
}

/** The validation accuracies a training log reports, by epoch. */
function validationAccuracies(stdout: string): Map<number, string> {
  const found = new Map<number, string>();
  for (const line of lines(stdout)) {
    const m = VALIDATION_LINE.exec(line);
    if (m) found.set(Number(m[1]), m[2]!);
  }
  return found;
}

/** A log without the figures that depend on timing or on the save path. */
function deterministic(stdout: string): string[] {
  return lines(stdout)
    .filter((line) => !line.includes("Time cost=") && !line.includes("Saved checkpoint"))
    .map((line) => line.replace(/\tSpeed: [^\t]+\t/, "\t"));
}

gpuTest("mnist train logs MXNet's lines in order, saves a checkpoint; eval agrees", async () => {
  await withDataDir(async (dir) => {
    const run = await runCli([
      "train",
      "--data-dir",
      dir,
      "--limit",
      "2000",
      "--epochs",
      "1",
      "--frequent",
      "5",
    ]);
    assertOk(run, "train");
    const saved = `${modelDirFor(dir)}/mlp.safetensors`;
    // Nothing about the data (it is already there); the first model becomes the default.
    assert.equal(run.stderr, `Default model is now "${saved}".\n`);
    const log = lines(run.stdout);
    // 2000 samples in batches of 100: 20 batches, a line every 5.
    assert.equal(log[0], startLine(gpu!.isCpu));
    assert.match(log[0]!, /^INFO:root:Start training with \[(cpu|gpu)\(0\)\]$/);
    const batchLines = log.slice(1, 5);
    for (const line of batchLines) assert.match(line, BATCH_LINE);
    assert.deepEqual(batchLines.map((line) => BATCH_LINE.exec(line)![2]), ["5", "10", "15", "20"]);
    assert.ok(batchLines.every((line) => BATCH_LINE.exec(line)![1] === "0"), "all in Epoch[0]");
    assert.equal(log[5], "INFO:root:Epoch[0] Resetting Data Iterator");
    assert.match(log[6]!, /^INFO:root:Epoch\[0\] Time cost=\d+\.\d{3}$/);
    // MXNet's order: the checkpoint callback runs before validation.
    assert.equal(log[7], `INFO:root:Saved checkpoint to "${saved}"`);
    assert.match(log[8]!, /^INFO:root:Epoch\[0\] Validation-accuracy=0\.\d{6}$/);
    assert.equal(log.length, 9);
    const logged = validationAccuracies(run.stdout).get(0)!;

    // The checkpoint, and the pointer eval and predict default to.
    const checkpoint = await loadCheckpoint(saved);
    assert.equal(checkpoint.meta.model.name, "mlp");
    assert.equal(checkpoint.meta.epoch, 0);
    assert.equal(checkpoint.meta.accuracy!.toFixed(6), logged);
    assert.equal(await Deno.readTextFile(`${modelDirFor(dir)}/default`), `${resolve(saved)}\n`);
    // Models live apart from the data directory, which is only read.
    await assert.rejects(Deno.lstat(`${dir}/models`), Deno.errors.NotFound);

    // eval finds the model through the pointer and scores the same 2000 test digits.
    const evalRun = await runCli(["eval", "--data-dir", dir, "--limit", "2000"]);
    assertOk(evalRun, "eval");
    const out = lines(evalRun.stdout);
    const percent = (Number(logged) * 100).toFixed(2);
    const correct = Math.round(Number(logged) * 2000);
    assert.equal(out[0], `Validation accuracy: ${percent}% (${correct}/2000)`);
    const at = out.indexOf("Confusion matrix (rows: true class, columns: predicted):");
    assert.ok(at > 0, evalRun.stdout);
    assert.match(out[at + 1]!, /^\s+0\s+1\s+2\s+3\s+4\s+5\s+6\s+7\s+8\s+9$/);
    const rows = out.slice(at + 2, at + 12).map((line) => {
      assert.match(line, /^\s+\d(\s+\d+){10}$/);
      return line.trim().split(/\s+/).slice(1).map(Number);
    });
    assert.equal(rows.length, 10);
    assert.equal(rows.flat().reduce((a, b) => a + b, 0), 2000);
    assert.equal(rows.reduce((sum, row, k) => sum + row[k]!, 0), correct);

    // --model mlp names the checkpoint "mnist train --model mlp" saved.
    const jsonRun = await runCli(
      ["eval", "--data-dir", dir, "--limit", "2000", "--json", "--model", "mlp"],
    );
    assertOk(jsonRun, "eval --json --model mlp");
    const result = JSON.parse(jsonRun.stdout);
    assert.equal(result.accuracy.toFixed(6), logged);
    assert.equal(result.total, 2000);
    assert.equal(result.correct, correct);
    assert.equal(result.model, resolve(saved));
    assert.deepEqual(result.confusion, rows);

    // --errors: the surest mistakes, listed, drawn, and as JSON and PNG.
    const errorsRun = await runCli(["eval", "--data-dir", dir, "--limit", "2000", "--errors", "3"]);
    assertOk(errorsRun, "eval --errors");
    const listed = [...errorsRun.stdout.matchAll(
      /^ +\d\. test image (\d+): labelled (\d), classified as (\d) with probability (\d\.\d{6})$/gm,
    )];
    assert.equal(listed.length, 3, errorsRun.stdout);
    const sureness = listed.map((m) => Number(m[4]));
    assert.deepEqual(sureness, [...sureness].sort((a, b) => b - a));
    for (const m of listed) assert.notEqual(m[2], m[3]);
    assert.match(errorsRun.stdout, /[░▒▓█]/);
    const errorsJson = JSON.parse(
      (await runCli(["eval", "--data-dir", dir, "--limit", "2000", "--errors", "3", "--json"]))
        .stdout,
    );
    assert.deepEqual(
      errorsJson.mistakes.map((m: { index: number }) => String(m.index)),
      listed.map((m) => m[1]),
    );
    const png = `${dir}/mistakes.png`;
    assertOk(
      await runCli(["eval", "--data-dir", dir, "--limit", "2000", "--errors", "3", "--png", png]),
      "eval --errors --png",
    );
    assert.deepEqual([...(await Deno.readFile(png)).subarray(1, 4)], [0x50, 0x4e, 0x47]);
  });
});

gpuTest("mnist train reaches 75% on 6000 samples in one epoch", async () => {
  // Measured: 0.802667 on llvmpipe (seed 42); the margin allows another adapter's rounding.
  await withDataDir(async (dir) => {
    const run = await runCli(["train", "--data-dir", dir, "--limit", "6000", "--epochs", "1"]);
    assertOk(run, "train");
    const accuracy = Number(validationAccuracies(run.stdout).get(0));
    assert.ok(accuracy >= 0.75, `validation accuracy ${accuracy} < 0.75`);
  });
});

gpuTest("mnist train --limit past a split says so on stderr for each split it uses", async () => {
  await withDataDir(async (dir) => {
    const notes = (run: CliResult) => lines(run.stderr).filter((l) => l.startsWith("note:"));
    // 12,000 training samples, but only the 10,000 test samples there are to validate on.
    const test = await runCli(
      ["train", "--data-dir", dir, "--limit", "12000", "--epochs", "1", "--frequent", "40"],
    );
    assertOk(test, "train --limit 12000");
    assert.deepEqual(notes(test), [
      "note: --limit 12000 is more than the 10,000 test samples: validating on all of them",
    ]);
    const saved = `${modelDirFor(dir)}/mlp.safetensors`;
    // The samples the checkpoint records training and validating on.
    const record = async () => {
      const { trainSamples, testSamples, validation } = (await loadCheckpoint(saved)).meta
        .training!;
      return { trainSamples, testSamples, validation };
    };
    assert.deepEqual(await record(), {
      trainSamples: 12000,
      testSamples: 10000,
      validation: "test",
    });
    // Past the training split with a holdout: all 60,000 used, 100 trained on, no test split.
    const train = await runCli([
      "train",
      "--data-dir",
      dir,
      "--limit",
      "70000",
      "--validation",
      "holdout:59900",
      "--epochs",
      "1",
      "--frequent",
      "1",
    ]);
    assertOk(train, "train --limit 70000 --validation holdout:59900");
    assert.deepEqual(notes(train), [
      "note: --limit 70000 is more than the 60,000 training samples: using all of them",
    ]);
    assert.deepEqual(await record(), {
      trainSamples: 100,
      testSamples: 59900,
      validation: "holdout:59900",
    });
  });
});

/**
 * An MLP checkpoint with zero weights that records a validation accuracy on `testSamples` test
 * digits: a stand-in for a model trained before, for runs to replace.
 */
function recordedModel(accuracy: number, testSamples: number): Uint8Array {
  const model = mlp();
  const params = new Map(
    inferShapes(model).flatMap((l) =>
      l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
    ),
  );
  return encodeCheckpoint({
    meta: { model, epoch: 9, dataset: "mnist", accuracy, training: { testSamples } },
    params,
    momentum: new Map(),
  });
}

/** "37.20%" for a logged "0.372000". */
function percentOf(logged: string | undefined): string {
  return `${(Number(logged) * 100).toFixed(2)}%`;
}

gpuTest("a run that ends below the model it replaces keeps that one as mlp.prev", async () => {
  await withDataDir(async (dir) => {
    const models = modelDirFor(dir);
    const saved = `${models}/mlp.safetensors`;
    const prev = `${models}/mlp.prev.safetensors`;
    // Measured on the run's 500 test digits: the two accuracies are compared.
    const better = recordedModel(0.99, 500);
    await Deno.mkdir(models, { recursive: true });
    await Deno.writeFile(saved, better);
    await Deno.writeTextFile(`${models}/default`, `${saved}\n`);
    const quick = [
      "train",
      "--data-dir",
      dir,
      "--limit",
      "500",
      "--epochs",
      "1",
      "--frequent",
      "5",
    ];

    // A quick run learns a little (37% on llvmpipe): it becomes the default, the better model
    // stays beside it, and stderr says so with both accuracies.
    const worse = await runCli(quick);
    assertOk(worse, "the quick run");
    const logged = percentOf(validationAccuracies(worse.stdout).get(0));
    assert.deepEqual(lines(worse.stderr), [
      `Keeping the mlp.safetensors this run replaces (validation accuracy 99.00% on 500 test ` +
      `digits) as ${prev} until the run ends.`,
      `Default model is now "${saved}" (this run, validation accuracy ${logged} on 500 test ` +
      `digits); the model this run replaced (99.00% on 500 test digits) is kept as ${prev}; ` +
      `"mnist models --default mlp.prev" makes that one the default again.`,
    ]);
    // Standard output is MXNet's log and nothing else.
    for (const line of lines(worse.stdout)) assert.match(line, /^INFO:root:/);
    assert.deepEqual(await Deno.readFile(prev), better);
    assert.equal(
      (await loadCheckpoint(saved)).meta.accuracy!.toFixed(6),
      validationAccuracies(worse.stdout).get(0),
    );

    // A run that learns nothing replaces the quick one, but not the better model kept at .prev,
    // which becomes the default again; the run still exits 0.
    const chance = await runCli([...quick, "--lr", "5"]);
    assertOk(chance, "train --lr 5");
    const err = lines(chance.stderr);
    assert.equal(err.length, 4, chance.stderr);
    assert.match(
      err[0]!,
      /^warning: validation accuracy \d+\.\d\d%: the model predicts \d for \d+% of the digits; it has not learned$/,
    );
    assert.equal(
      err[1],
      "hint: Try the tutorial's learning rate (--lr 0.1) or more digits than --limit 500.",
    );
    assert.match(
      err[2]!,
      /^mlp\.safetensors now holds this run \(validation accuracy \d+\.\d\d% on 500 test digits\); the model an earlier run replaced \(99\.00% on 500 test digits\) is kept as .*mlp\.prev\.safetensors\.$/,
    );
    assert.equal(err[3], `Default model is now "${prev}", the model an earlier run replaced.`);
    assert.deepEqual(await Deno.readFile(prev), better);
    assert.equal(await Deno.readTextFile(`${models}/default`), `${prev}\n`);
  });
});

gpuTest("a run that ends at chance warns, exits 0 and is not made the default", async () => {
  await withDataDir(async (dir) => {
    // --lr 5 on 500 digits: 11.0% on llvmpipe, every digit called 4.
    const run = await runCli(
      [
        "train",
        "--data-dir",
        dir,
        "--limit",
        "500",
        "--epochs",
        "1",
        "--frequent",
        "5",
        "--lr",
        "5",
      ],
    );
    assertOk(run, "train --lr 5");
    const err = lines(run.stderr);
    assert.match(err[0]!, /^warning: validation accuracy \d+\.\d\d%: .*; it has not learned$/);
    assert.equal(
      err[1],
      "hint: Try the tutorial's learning rate (--lr 0.1) or more digits than --limit 500.",
    );
    assert.equal(err[2], "No default model: this run is not made the default.");
    assert.equal(err.length, 3, run.stderr);
    // Saved all the same, for a look, but eval does not pick it up.
    await Deno.lstat(`${modelDirFor(dir)}/mlp.safetensors`);
    await assert.rejects(Deno.lstat(`${modelDirFor(dir)}/default`), Deno.errors.NotFound);
    const evalRun = await runCli(["eval", "--data-dir", dir]);
    const evalErr = assertUserError(
      evalRun,
      /^error: No default model: 1 model saved \(mlp\.safetensors\) but none is the default$/,
      "eval",
    );
    assert.equal(
      evalErr[1],
      'hint: Choose one with "mnist models --default NAME" ("mnist models" lists them), or pass ' +
        "--model NAME.",
    );
  });
});

gpuTest("train --save elsewhere leaves the default and says how to move it", async () => {
  await withDataDir(async (dir) => {
    const models = modelDirFor(dir);
    const standard = `${models}/mlp.safetensors`;
    await Deno.mkdir(models, { recursive: true });
    await Deno.writeFile(standard, recordedModel(0.99, 10000));
    await Deno.writeTextFile(`${models}/default`, `${standard}\n`);
    // A worse model where the run saves: kept while the run trains, removed once it is beaten.
    const elsewhere = `${dir}/try.safetensors`;
    await Deno.writeFile(elsewhere, recordedModel(0.05, 500));
    const run = await runCli(
      [
        "train",
        "--data-dir",
        dir,
        "--limit",
        "500",
        "--epochs",
        "1",
        "--frequent",
        "5",
        "--save",
        elsewhere,
      ],
    );
    assertOk(run, "train --save");
    const logged = percentOf(validationAccuracies(run.stdout).get(0));
    assert.deepEqual(lines(run.stderr), [
      `Keeping the try.safetensors this run replaces (validation accuracy 5.00% on 500 test ` +
      `digits) as ${dir}/try.prev.safetensors until the run ends.`,
      `Removed ${dir}/try.prev.safetensors: the model this run replaced (5.00% on 500 test ` +
      `digits) is not better than this run (${logged} on 500 test digits).`,
      `Default model unchanged: "${standard}"; make this run the default with ` +
      `"mnist models --default ${elsewhere}".`,
    ]);
    await assert.rejects(Deno.lstat(`${dir}/try.prev.safetensors`), Deno.errors.NotFound);
    assert.equal(await Deno.readTextFile(`${models}/default`), `${standard}\n`);
    // The line's command does what it says.
    const set = await runCli(["models", "--data-dir", dir, "--default", elsewhere]);
    assertOk(set, "mnist models --default");
    assert.equal(await Deno.readTextFile(`${models}/default`), `${elsewhere}\n`);
  });
});

Deno.test("runWarning() warns below 20% or when one class takes over 90% of the predictions", () => {
  // Predictions of 1000 digits: `share` of them `top`, the rest spread over the other classes.
  const counts = (top: number, share: number) => {
    const c = new Array<number>(10).fill(0);
    c[top] = Math.round(share * 1000);
    for (let k = 0, rest = 1000 - c[top]!; rest > 0; k = (k + 1) % 10) {
      if (k !== top) [c[k], rest] = [c[k]! + 1, rest - 1];
    }
    return c;
  };
  // The issue's run: --lr 5, 10.2%, every digit but a few called 7.
  assert.deepEqual(
    runWarning({ validationAccuracy: 0.102, predictedCounts: counts(7, 0.98) }, { lr: 5 }),
    {
      message:
        "validation accuracy 10.20%: the model predicts 7 for 98% of the digits; it has not learned",
      hint: "Try the tutorial's learning rate (--lr 0.1).",
    },
  );
  // A high accuracy on a test set of one class still learned nothing.
  assert.match(
    runWarning({ validationAccuracy: 0.95, predictedCounts: counts(1, 0.95) }, { lr: 0.1 })!
      .message,
    /^validation accuracy 95\.00%: the model predicts 1 for 95% of the digits/,
  );
  // Spread predictions, under 20%: no class named; the tutorial's rate on a tiny subset.
  assert.deepEqual(
    runWarning({ validationAccuracy: 0.15, predictedCounts: counts(3, 0.2) }, {
      lr: 0.1,
      limit: 50,
    }),
    {
      message: "validation accuracy 15.00%; it has not learned",
      hint: "Try more digits than --limit 50 or more epochs.",
    },
  );
  assert.equal(
    runWarning({ validationAccuracy: 0.1, predictedCounts: counts(3, 0.2) }, { lr: 0.1 })!.hint,
    "Try more epochs.",
  );
  // At the thresholds, and a quick run that learned a little: no warning.
  assert.equal(
    runWarning({ validationAccuracy: 0.2, predictedCounts: counts(2, 0.9) }, { lr: 0.1 }),
    undefined,
  );
  assert.equal(
    runWarning({ validationAccuracy: 0.372, predictedCounts: counts(0, 0.3) }, { lr: 0.1 }),
    undefined,
  );
  // Too few samples to tell (--validation holdout:4): 4 digits all called 5 said "predicts 5 for
  // 100% of the digits"; 100 are judged.
  const few = [0, 0, 0, 0, 0, 4, 0, 0, 0, 0];
  assert.equal(runWarning({ validationAccuracy: 0, predictedCounts: few }, { lr: 0.1 }), undefined);
  const hundred = [0, 0, 0, 0, 0, MIN_JUDGED_SAMPLES, 0, 0, 0, 0];
  assert.match(
    runWarning({ validationAccuracy: 0.1, predictedCounts: hundred }, { lr: 0.1 })!.message,
    /predicts 5 for 100% of the digits/,
  );
});

Deno.test("nextDefault(): what becomes the default model after a run", () => {
  const save = "/m/mlp.safetensors";
  const backup = "/m/mlp.prev.safetensors";
  const cases: [Parameters<typeof nextDefault>[0], string | undefined, string][] = [
    [{ save, inModelDir: true, learned: true }, save, "the first model"],
    [{ save, inModelDir: true, learned: true, current: "/x.st" }, save, "saved in the model dir"],
    [{ save: "/t/a.st", inModelDir: false, learned: true }, "/t/a.st", "elsewhere, no default"],
    [
      { save: "/t/a.st", inModelDir: false, learned: true, current: save },
      undefined,
      "elsewhere, with a default",
    ],
    [
      { save: "/t/a.st", inModelDir: false, learned: true, current: "/t/a.st" },
      "/t/a.st",
      "elsewhere, over the default's file (a resumed default)",
    ],
    [{ save, inModelDir: true, learned: false }, undefined, "not learned, no default"],
    [
      { save, inModelDir: true, learned: false, current: "/x.st", backup },
      undefined,
      "not learned, another default",
    ],
    [
      { save, inModelDir: true, learned: false, current: save, backup },
      backup,
      "not learned, over the default's file: the default follows its model to .prev",
    ],
    [
      { save, inModelDir: true, learned: false, current: save },
      undefined,
      "not learned, over the default's file, nothing kept",
    ],
  ];
  for (const [run, expected, what] of cases) assert.equal(nextDefault(run), expected, what);
});

gpuTest("mnist train --profile prints each kernel's GPU time after training", async (g) => {
  await withDataDir(async (dir) => {
    const run = await runCli([
      "train",
      "--data-dir",
      dir,
      "--limit",
      "500",
      "--epochs",
      "1",
      "--profile",
    ]);
    assertOk(run, "train --profile");
    if (!g.adapter.features.has("timestamp-query")) {
      assert.match(run.stdout, /Profile unavailable: this adapter has no timestamp-query/);
      return;
    }
    const table = run.stdout.slice(run.stdout.indexOf("GPU time per training step"));
    for (
      const kernel of [
        "fc1 dense",
        "loss softmax.softmax_cross_entropy",
        "update sgd.sgd_update",
      ]
    ) {
      assert.match(table, new RegExp(`^${kernel}.*\\s\\d+\\.\\d\\s+\\d+\\.\\d%$`, "m"));
    }
    // The batch's gather is a kernel of its own, or (CPU-tuned kernels) fused into fc1's.
    const gather = /^gather\s/m.test(table);
    const fused = /^fc1 dense_tiled\.dense_forward_tiled_gather\s/m.test(table);
    assert.ok(gather !== fused, `a gather row or fc1's fused one, not both:\n${table}`);
    const total = /^total\s+(\d+\.\d)\s+100\.0%$/m.exec(table);
    assert.ok(total && Number(total[1]) > 0, `a positive total:\n${table}`);
  });
});

gpuTest("mnist train --resume continues a run exactly where it stopped", async () => {
  await withDataDir(async (dir) => {
    // Momentum, so that the optimizer state must travel in the checkpoint too.
    const common = [
      "train",
      "--data-dir",
      dir,
      "--limit",
      "2000",
      "--frequent",
      "5",
      "--momentum",
      "0.9",
      "--lr",
      "0.05",
      "--seed",
      "7",
    ];
    const full = await runCli([...common, "--epochs", "2", "--save", `${dir}/full.st`]);
    assertOk(full, "the uninterrupted run");
    const part = await runCli([...common, "--epochs", "1", "--save", `${dir}/part.st`]);
    assertOk(part, "the first epoch");
    // Only the data and the new total: --limit, --lr, --frequent... come from the checkpoint.
    const resumed = await runCli(
      ["train", "--data-dir", dir, "--epochs", "2", "--resume", `${dir}/part.st`],
    );
    assertOk(resumed, "the resumed run");

    const log = lines(resumed.stdout);
    assert.equal(log[0], startLine(gpu!.isCpu));
    assert.ok(!resumed.stdout.includes("Epoch[0]"), `no Epoch[0] lines:\n${resumed.stdout}`);
    assert.equal(log.filter((line) => BATCH_LINE.test(line)).length, 4);
    // Saved back to the file it resumed from.
    assert.equal(log.at(-2), `INFO:root:Saved checkpoint to "${dir}/part.st"`);
    // The same batches, in the same order, with the same weights: identical accuracies.
    const epoch1 = deterministic(full.stdout).filter((line) => !line.includes("Epoch[0]"));
    assert.deepEqual(deterministic(resumed.stdout), epoch1);
    assert.deepEqual(
      validationAccuracies(resumed.stdout),
      new Map([[1, validationAccuracies(full.stdout).get(1)!]]),
    );
    // And the same weights and momenta, bit for bit.
    const [a, b] = await Promise.all([
      loadCheckpoint(`${dir}/full.st`),
      loadCheckpoint(`${dir}/part.st`),
    ]);
    assert.equal(b.meta.epoch, 1);
    assert.deepEqual(b.meta.iterator, a.meta.iterator);
    for (const name of a.params.keys()) {
      assert.deepEqual(b.params.get(name), a.params.get(name), name);
      assert.deepEqual(b.momentum.get(name), a.momentum.get(name), `momentum of ${name}`);
    }

    // The run is complete: resuming it again asks for more epochs.
    const again = await runCli([...common, "--epochs", "2", "--resume", `${dir}/part.st`]);
    const err = assertUserError(
      again,
      /^error: The checkpoint has already completed 2 epochs$/,
      "resuming a finished run",
    );
    assert.match(err[1] ?? "", /--epochs N with N > 2/);
    assert.equal(again.stdout, "");
  });
});

gpuTest(
  "mnist train --validation holdout:N trains on the first count - N samples only",
  async () => {
    await withDataDir(async (dir) => {
      const common = ["train", "--data-dir", dir, "--frequent", "4", "--seed", "3"];
      const held = [...common, "--limit", "1000", "--validation", "holdout:200"];
      const part = await runCli([...held, "--epochs", "1", "--save", `${dir}/part.st`]);
      assertOk(part, "the held-out run");
      // The same run on --limit 800, validated on the test split: the same batches and weights, to
      // the bit, only if the held-out run trained on samples 0..799 alone, in the same order.
      const plain = await runCli([
        ...common,
        "--limit",
        "800",
        "--epochs",
        "1",
        "--save",
        `${dir}/p.st`,
      ]);
      assertOk(plain, "the run on the first 800 samples");
      const training = (out: string) => deterministic(out).filter((l) => !VALIDATION_LINE.test(l));
      assert.deepEqual(training(part.stdout), training(plain.stdout));
      assert.equal(training(part.stdout).filter((l) => l.includes("Batch [")).length, 2);
      const [h, p] = await Promise.all([
        loadCheckpoint(`${dir}/part.st`),
        loadCheckpoint(`${dir}/p.st`),
      ]);
      for (const name of h.params.keys()) assert.deepEqual(h.params.get(name), p.params.get(name));
      assert.equal(h.meta.training?.validation, "holdout:200");
      assert.equal(h.meta.training?.trainSamples, 800);
      assert.equal(h.meta.training?.testSamples, 200);
      assert.equal(p.meta.training?.validation, "test");
      // Validated on training samples 800..999: the reference MLP agrees (but for a near tie).
      const gunzip = async (name: string) => ({
        name,
        bytes: await new Response(
          (await Deno.open(`${MNIST}/${name}`)).readable.pipeThrough(
            new DecompressionStream("gzip"),
          ),
        ).bytes(),
      });
      const trainSplit = parseIdxPair(
        await gunzip("train-images-idx3-ubyte.gz"),
        await gunzip("train-labels-idx1-ubyte.gz"),
      );
      const heldOut = subset(trainSplit, 200, { first: 800 });
      const logged = Number(validationAccuracies(part.stdout).get(0));
      const { correct } = referenceMlp(h.params, heldOut);
      assert.ok(Math.abs(correct - logged * 200) <= 1, `${correct}/200 vs logged ${logged}`);
      const info = await readCheckpointInfo(`${dir}/part.st`);
      assert.equal(info.validation, "holdout:200");
      assert.equal(info.testSamples, 200);

      // --resume keeps the holdout (only the new total given) and continues exactly.
      const full = await runCli([...held, "--epochs", "2", "--save", `${dir}/full.st`]);
      assertOk(full, "the uninterrupted held-out run");
      const resumed = await runCli(
        ["train", "--data-dir", dir, "--epochs", "2", "--resume", `${dir}/part.st`],
      );
      assertOk(resumed, "the resumed run");
      const epoch1 = deterministic(full.stdout).filter((line) => !line.includes("Epoch[0]"));
      assert.deepEqual(deterministic(resumed.stdout), epoch1);
      const [a, b] = await Promise.all([
        loadCheckpoint(`${dir}/full.st`),
        loadCheckpoint(`${dir}/part.st`),
      ]);
      assert.equal(b.meta.training?.validation, "holdout:200");
      for (const name of a.params.keys()) assert.deepEqual(b.params.get(name), a.params.get(name));

      // Holding out every training sample leaves none to train on.
      const all = await runCli([
        ...common,
        "--limit",
        "100",
        "--validation",
        "holdout:100",
        "--epochs",
        "1",
        "--save",
        `${dir}/none.st`,
      ]);
      assertUserError(
        all,
        /^error: --validation holdout:100 leaves nothing to train on: there are only 100 training samples \(--limit\)$/,
        "holdout:100 of 100",
      );
      assert.equal(all.stdout, "");
      await assert.rejects(Deno.lstat(`${dir}/none.st`), Deno.errors.NotFound);
    });
  },
);

gpuTest("mnist train --augment resumes exactly and trains on distorted digits", async () => {
  await withDataDir(async (dir) => {
    const common = ["train", "--data-dir", dir, "--limit", "1000", "--frequent", "5"];
    const augmented = [...common, "--augment"];
    const full = await runCli([...augmented, "--epochs", "2", "--save", `${dir}/full.st`]);
    assertOk(full, "the uninterrupted run");
    const part = await runCli([...augmented, "--epochs", "1", "--save", `${dir}/part.st`]);
    assertOk(part, "the first epoch");
    const plain = await runCli([...common, "--epochs", "1", "--save", `${dir}/plain.st`]);
    assertOk(plain, "the run without --augment");
    // Only the new total: --augment comes from the checkpoint, its distortions from seed and epoch.
    const resumed = await runCli(
      ["train", "--data-dir", dir, "--epochs", "2", "--resume", `${dir}/part.st`],
    );
    assertOk(resumed, "the resumed run");
    const epoch1 = deterministic(full.stdout).filter((line) => !line.includes("Epoch[0]"));
    assert.deepEqual(deterministic(resumed.stdout), epoch1);
    const [a, b, p] = await Promise.all([
      loadCheckpoint(`${dir}/full.st`),
      loadCheckpoint(`${dir}/part.st`),
      loadCheckpoint(`${dir}/plain.st`),
    ]);
    assert.equal(b.meta.training?.augment, true);
    assert.equal(p.meta.training?.augment, undefined);
    for (const name of a.params.keys()) assert.deepEqual(b.params.get(name), a.params.get(name));
    // The same samples in the same order, distorted: other weights after one epoch.
    const first = deterministic(part.stdout).filter((line) => line.includes("Epoch[0]"));
    assert.deepEqual(first, deterministic(full.stdout).filter((l) => l.includes("Epoch[0]")));
    assert.notDeepEqual(
      deterministic(plain.stdout).filter((l) => l.includes("Batch [")),
      first.filter((l) => l.includes("Batch [")),
    );
  });
});

gpuTest(
  "a resumed run that changes optimizer starts its state afresh (Adam's m is not SGD momentum)",
  async () => {
    await withDataDir(async (dir) => {
      const base = ["train", "--data-dir", dir, "--limit", "500", "--frequent", "5"];
      const adam = await runCli(
        [...base, "--optimizer", "adam", "--epochs", "1", "--save", `${dir}/adam.st`],
      );
      assertOk(adam, "the Adam epoch");
      // The same weights with no optimizer state, recorded as an SGD run: what the switch to SGD
      // must start from.
      const checkpoint = await loadCheckpoint(`${dir}/adam.st`);
      checkpoint.meta.training = { ...checkpoint.meta.training, optimizer: "sgd" };
      checkpoint.momentum = new Map();
      checkpoint.variance = undefined;
      await Deno.writeFile(`${dir}/plain-state.st`, encodeCheckpoint(checkpoint));
      const sgd = ["--optimizer", "sgd", "--lr", "0.1", "--momentum", "0.9", "--epochs", "2"];
      const switched = await runCli(
        ["train", "--data-dir", dir, ...sgd, "--resume", `${dir}/adam.st`, "--save", `${dir}/a.st`],
      );
      assertOk(switched, "the switch from adam to sgd");
      const fresh = await runCli(
        [
          "train",
          "--data-dir",
          dir,
          ...sgd,
          "--resume",
          `${dir}/plain-state.st`,
          "--save",
          `${dir}/b.st`,
        ],
      );
      assertOk(fresh, "sgd from the same weights");
      assert.deepEqual(deterministic(switched.stdout), deterministic(fresh.stdout));
      const [a, b] = await Promise.all([
        loadCheckpoint(`${dir}/a.st`),
        loadCheckpoint(`${dir}/b.st`),
      ]);
      for (const name of a.params.keys()) {
        assert.deepEqual(a.params.get(name), b.params.get(name), name);
      }
    });
  },
);

gpuTest(
  "a run switched to adam by --resume resumes exactly again: Adam's t counts from the switch",
  async () => {
    await withDataDir(async (dir) => {
      const base = ["train", "--data-dir", dir, "--limit", "500", "--frequent", "5"];
      assertOk(await runCli([...base, "--epochs", "1", "--save", `${dir}/sgd.st`]), "sgd");
      await Deno.copyFile(`${dir}/sgd.st`, `${dir}/full.st`);
      await Deno.copyFile(`${dir}/sgd.st`, `${dir}/part.st`);
      const adam = ["--optimizer", "adam", "--lr", "0.002"];
      const full = await runCli([...base, ...adam, "--epochs", "3", "--resume", `${dir}/full.st`]);
      assertOk(full, "sgd, then adam for two epochs");
      const part = await runCli([...base, ...adam, "--epochs", "2", "--resume", `${dir}/part.st`]);
      assertOk(part, "sgd, then adam for one epoch");
      const rest = await runCli([...base, "--epochs", "3", "--resume", `${dir}/part.st`]);
      assertOk(rest, "its second adam epoch, resumed");
      const epoch2 = (out: string) => deterministic(out).filter((l) => l.includes("Epoch[2]"));
      assert.deepEqual(epoch2(rest.stdout), epoch2(full.stdout));
      const [a, b] = await Promise.all([
        loadCheckpoint(`${dir}/full.st`),
        loadCheckpoint(`${dir}/part.st`),
      ]);
      assert.equal(a.meta.training?.stateFrom, 5);
      assert.equal(b.meta.training?.stateFrom, 5);
      for (const name of a.params.keys()) {
        assert.deepEqual(b.params.get(name), a.params.get(name), name);
      }
    });
  },
);

gpuTest(
  "mnist train --optimizer adam with a step schedule resumes exactly (m, v, t, rate)",
  async () => {
    await withDataDir(async (dir) => {
      // 10 batches an epoch; the rate halves at epoch 1's first update, number 11.
      const common = [
        "train",
        "--data-dir",
        dir,
        "--limit",
        "1000",
        "--frequent",
        "5",
        "--optimizer",
        "adam",
        "--lr",
        "0.002",
        "--lr-step-epochs",
        "1",
        "--lr-factor",
        "0.5",
      ];
      const full = await runCli([...common, "--epochs", "2", "--save", `${dir}/full.st`]);
      assertOk(full, "the uninterrupted run");
      const updateLine = "INFO:root:Update[11]: Change learning rate to 1.00000e-03";
      const log = lines(full.stdout);
      assert.equal(log.filter((l) => l.startsWith("INFO:root:Update[")).length, 1, full.stdout);
      // Logged as MXNet does, when update 11 runs: after epoch 0's lines, before epoch 1's.
      assert.ok(
        log.indexOf(updateLine) > log.indexOf(
              "INFO:root:Epoch[0] Validation-accuracy=" +
                validationAccuracies(full.stdout).get(0),
            ) &&
          log.indexOf(updateLine) < log.findIndex((l) => l.startsWith("INFO:root:Epoch[1] Batch")),
        full.stdout,
      );
      const part = await runCli([...common, "--epochs", "1", "--save", `${dir}/part.st`]);
      assertOk(part, "the first epoch");
      // Its step comes after its last epoch: said (it was silently ignored), not refused, since
      // the resumed run below applies it.
      assert.equal(
        lines(part.stderr)[0],
        "note: the rate will not change at --lr-step-epochs 1, at or past --epochs 1, unless " +
          "this run is resumed with more epochs",
      );
      // Only the data and the new total: the optimizer and schedule come from the checkpoint.
      const resumed = await runCli(
        ["train", "--data-dir", dir, "--epochs", "2", "--resume", `${dir}/part.st`],
      );
      assertOk(resumed, "the resumed run");
      const epoch1 = deterministic(full.stdout).filter((line) => !line.includes("Epoch[0]"));
      assert.deepEqual(deterministic(resumed.stdout), epoch1);
      const [a, b] = await Promise.all([
        loadCheckpoint(`${dir}/full.st`),
        loadCheckpoint(`${dir}/part.st`),
      ]);
      const training = b.meta.training!;
      assert.equal(training.optimizer, "adam");
      assert.equal(training.updates, 20);
      assert.deepEqual(training.schedule, { kind: "multifactor", factor: 0.5, stepEpochs: [1] });
      assert.ok(a.variance && a.variance.size > 0, "Adam's v is stored");
      for (const name of a.params.keys()) {
        assert.deepEqual(b.params.get(name), a.params.get(name), name);
        assert.deepEqual(b.momentum.get(name), a.momentum.get(name), `m of ${name}`);
        assert.deepEqual(b.variance!.get(name), a.variance.get(name), `v of ${name}`);
      }
    });
  },
);

gpuTest("mnist train refuses optimizer and schedule options that do not go together", async () => {
  await withDataDir(async (dir) => {
    const train = ["train", "--data-dir", dir, "--limit", "100", "--epochs", "1"];
    for (
      const [args, pattern] of [
        [["--optimizer", "adam", "--momentum", "0.9"], /--momentum applies to/],
        [["--beta1", "0.8"], /--beta1 applies to --optimizer adam and adamw only/],
        [["--optimizer", "adam", "--beta2", "1"], /--beta2 must be < 1, got 1/],
        [["--optimizer", "rmsprop"], /--optimizer must be one of sgd, nag, adam, adamw/],
        [["--lr-factor", "0.5"], /--lr-factor needs --lr-step-epochs/],
        [["--lr-step-epochs", "3,2"], /--lr-step-epochs must be increasing/],
        [["--lr-step-epochs", "0x1"], /--lr-step-epochs must be increasing/],
        [["--lr-schedule", "cosine", "--lr-step-epochs", "2"], /does not take --lr-step-epochs/],
        [["--final-lr", "0.01"], /--final-lr applies to --lr-schedule cosine only/],
        [["--lr-schedule", "linear"], /--lr-schedule must be one of cosine/],
      ] as [string[], RegExp][]
    ) {
      const run = await runCli([...train, ...args]);
      assertUserError(run, pattern, args.join(" "));
      assert.equal(run.stdout, "");
    }
  });
});

gpuTest("mnist train --kernels simple is recorded, and a resumed run keeps it", async () => {
  await withDataDir(async (dir) => {
    const common = ["train", "--data-dir", dir, "--limit", "1000", "--frequent", "5"];
    const simple = [...common, "--kernels", "simple"];
    const tuned = [...common, "--kernels", "tuned"];
    const runs = {
      simple: await runCli([...simple, "--epochs", "2", "--save", `${dir}/simple.st`]),
      tuned: await runCli([...tuned, "--epochs", "2", "--save", `${dir}/tuned.st`]),
      // Saved where --resume mlp finds it.
      part: await runCli([...simple, "--epochs", "1"]),
    };
    for (const [what, run] of Object.entries(runs)) assertOk(run, what);
    const resumed = await runCli([...common, "--epochs", "2", "--resume", "mlp"]);
    assertOk(resumed, "the resumed run");
    const [a, t, b] = await Promise.all([
      loadCheckpoint(`${dir}/simple.st`),
      loadCheckpoint(`${dir}/tuned.st`),
      loadCheckpoint(`${modelDirFor(dir)}/mlp.safetensors`),
    ]);
    const layers = ["simple", "simple", "simple"];
    assert.deepEqual(b.meta.training?.kernels, { adapter: gpu!.name, layers });
    // The tuned kernels sum in another order, so their weights differ in the last bits: the
    // resumed run matches the simple run bit for bit only if it kept the simple kernels.
    const name = [...a.params.keys()][0]!;
    assert.notDeepEqual(t.params.get(name), a.params.get(name));
    for (const key of a.params.keys()) assert.deepEqual(b.params.get(key), a.params.get(key), key);
  });
});

Deno.test("mnist train and eval reject bad options with one error line each", async () => {
  await withDataDir(async (dir) => {
    // A random file, and a real checkpoint cut short.
    const noise = crypto.getRandomValues(new Uint8Array(4096));
    await Deno.writeFile(`${dir}/noise.safetensors`, noise);
    const model = mlp();
    const params = new Map(
      inferShapes(model).flatMap((l) =>
        l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
      ),
    );
    const bytes = encodeCheckpoint({
      meta: { model, epoch: 0, dataset: "mnist" },
      params,
      momentum: new Map(),
    });
    await Deno.writeFile(`${dir}/cut.safetensors`, bytes.subarray(0, bytes.length / 2));
    const wide = { ...model, input: [1, 14, 56] as [number, number, number] };
    await Deno.writeFile(
      `${dir}/wide.safetensors`,
      encodeCheckpoint({
        meta: { model: wide, epoch: 0, dataset: "mnist" },
        params,
        momentum: new Map(),
      }),
    );

    const train = ["train", "--data-dir", dir, "--limit", "100", "--epochs", "1"];
    const cases: [string[], RegExp][] = [
      [[...train, "--batch-size", "0"], /--batch-size must be between 1 and 65536, got 0$/],
      // "--epochs -1" is read as a value, not as an option named "-1".
      [[...train, "--epochs", "-1"], /^error: --epochs must be >= 1, got -1$/],
      [[...train, "--epochs", "0"], /^error: --epochs must be >= 1, got 0$/],
      [[...train, "--epochs=-1"], /--epochs must be >= 1, got -1$/],
      [[...train, "--epochs", "1.5"], /--epochs must be an integer, got "1.5"$/],
      // Integers in decimal digits only: Number() took these ("0x3" was 3 epochs).
      [[...train, "--epochs", "0x3"], /^error: --epochs must be an integer, got "0x3"$/],
      [[...train, "--limit", "1e3"], /^error: --limit must be an integer, got "1e3"$/],
      [[...train, "--seed", "5.0"], /^error: --seed must be an integer, got "5\.0"$/],
      [[...train, "--batch-size", " 5"], /^error: --batch-size must be an integer, got " 5"$/],
      [[...train, "--frequent", "+5"], /^error: --frequent must be an integer, got "\+5"$/],
      [[...train, "--lr", "0x10"], /^error: --lr must be a number, got "0x10"$/],
      [[...train, "--init", "uniform:0x1"], /--init must be xavier or uniform:SCALE/],
      [[...train, "--lr", "abc"], /--lr must be a number, got "abc"$/],
      [[...train, "--lr", "0"], /--lr must be > 0, got 0$/],
      [[...train, "--model", "nope"], /Unknown model "nope"$/],
      [[...train, "--momentum", "1.5"], /--momentum must be < 1, got 1\.5$/],
      [[...train, "--init", "bogus"], /--init must be xavier or uniform:SCALE .*"bogus"$/],
      [[...train, "--init", "uniform:0"], /--init must be xavier or uniform:SCALE .*"uniform:0"$/],
      [[...train, "--frequent", "0"], /--frequent must be >= 1, got 0$/],
      [[...train, "--limit", "0"], /--limit must be >= 1, got 0$/],
      [[...train, "--kernels", "fast"], /--kernels must be one of auto, tuned, simple/],
      [[...train, "--validation", "train"], /--validation must be test or holdout:N, got "train"$/],
      [[...train, "--validation", "holdout:"], /--validation must be test or holdout:N/],
      [
        [...train, "--validation", "holdout:0"],
        /--validation holdout:N needs N >= 1, got "holdout:0"$/,
      ],
      [[...train, "--bogus"], /Unknown option '--bogus'/],
      [
        [...train, "--resume", `${dir}/missing.safetensors`],
        /^error: Cannot load model ".*missing\.safetensors": no such file$/,
      ],
      [[...train, "--resume", dir], /Cannot load model ".*": it is a directory$/],
      [
        [...train, "--resume", `${dir}/noise.safetensors`],
        /Cannot load model ".*noise\.safetensors": not a safetensors file/,
      ],
      [
        [...train, "--resume", `${dir}/cut.safetensors`],
        /Cannot load model ".*cut\.safetensors": tensor ".+" has a bad byte range/,
      ],
      // A checkpoint that cannot be written is refused before any training.
      [[...train, "--save", dir], /^error: Cannot write checkpoint ".*": it is a directory$/],
      [
        [...train, "--save", `${dir}/noise.safetensors/mlp.st`],
        /^error: Cannot write checkpoint ".*": ".*noise\.safetensors" is not a directory$/,
      ],
      [
        ["eval", "--data-dir", dir, "--model", `${dir}/missing.safetensors`],
        /Cannot load model ".*missing\.safetensors": no such file$/,
      ],
      [
        ["eval", "--data-dir", dir, "--model", `${dir}/noise.safetensors`],
        /not a safetensors file/,
      ],
      [
        ["eval", "--data-dir", dir, "--model", `${dir}/wide.safetensors`],
        /^error: Cannot use model ".*wide\.safetensors": it takes 1×14×56 inputs, not 1×28×28 images$/,
      ],
      [
        ["eval", "--data-dir", dir, "--model", "lenet"],
        /^error: No trained lenet in ".*\/models"$/,
      ],
    ];
    // Two at a time: each is a short process, and this machine may have two cores.
    for (let i = 0; i < cases.length; i += 2) {
      const batch = cases.slice(i, i + 2);
      const runs = await Promise.all(batch.map(([args]) => runCli(args)));
      runs.forEach((run, k) => {
        const [args, pattern] = batch[k]!;
        const what = `mnist ${args.filter((a) => a !== dir).join(" ")}`;
        assertUserError(run, pattern, what);
        assert.equal(run.stdout, "", `${what}: nothing on stdout`);
      });
    }
    // Nothing was trained, so nothing was written.
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.ok(!names.includes("models"), `no models/ directory: ${names}`);
  });
});

Deno.test("mnist eval without a trained model says to run mnist train first", async () => {
  await withDataDir(async (dir) => {
    const run = await runCli(["eval", "--data-dir", dir]);
    const err = assertUserError(run, /^error: No trained model found in ".*"$/, "eval");
    assert.match(err[1] ?? "", /^hint: Run "mnist train" first/);
    // It did not try to download anything into the empty directory.
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, []);
  }, { empty: true });
});

gpuTest(
  "a diverging run stops with the NaN message and suggests a lower learning rate",
  async () => {
    await withDataDir(async (dir) => {
      const run = await runCli([
        "train",
        "--data-dir",
        dir,
        "--limit",
        "2000",
        "--epochs",
        "1",
        "--frequent",
        "5",
        "--lr",
        "1e6",
      ]);
      const err = assertUserError(
        run,
        /^error: Training diverged: the loss became NaN or infinite in epoch 0, batch \d+$/,
        "train --lr 1e6",
      );
      assert.match(
        err[1] ?? "",
        /^hint: Lower the learning rate, e\.g\. --lr 0\.1 \(the tutorial's\)\.$/,
      );
      assert.equal(run.code, 1);
      assert.doesNotMatch(run.stdout, /Validation-accuracy|Saved checkpoint/);
      assert.ok(!run.stdout.includes("=nan"), "no nan accuracy was logged before stopping");
      await assert.rejects(() => Deno.lstat(`${modelDirFor(dir)}/mlp.safetensors`));
    });
  },
);

Deno.test("a misspelt command suggests the right one", async () => {
  const run = await runCli(["tran"]);
  const err = assertUserError(run, /^error: Unknown command "tran"$/, "mnist tran");
  assert.equal(err[1], 'hint: Did you mean "mnist train"?');
});

Deno.test({
  name: "mnist trian suggests mnist train",
  async fn() {
    const run = await runCli(["trian"]);
    const err = assertUserError(run, /^error: Unknown command "trian"$/, "mnist trian");
    assert.equal(err[1], 'hint: Did you mean "mnist train"?');
  },
});

Deno.test("mnist help trian is an unknown command, not the general usage with status 0", async () => {
  const run = await runCli(["help", "trian"]);
  const err = assertUserError(run, /^error: Unknown command "trian"$/, "mnist help trian");
  assert.equal(err[1], 'hint: Did you mean "mnist train"?');
  const train = await runCli(["help", "train"]);
  assert.equal(train.code, 0);
  assert.match(train.stdout, /^Usage: mnist train /);
});

Deno.test('global options with no command after them say so, not "Unknown command"', async () => {
  for (
    const args of [["--data-dir", "/tmp/x"], ["--device", "cpu"], ["--device"], ["--data-dir=/x"]]
  ) {
    const run = await runCli(args);
    const err = assertUserError(
      run,
      new RegExp(`^error: No command after ${args[0]}$`),
      args.join(" "),
    );
    assert.equal(err[1], 'hint: Run "mnist --help" for the commands.');
  }
});

Deno.test({
  name: "mnist train refuses a batch larger than the adapter's buffers, naming the largest",
  ignore: gpu === null,
  async fn() {
    await withDataDir(async (dir) => {
      const largest = largestBatch(lenet(), gpu!.device.limits);
      // Every adapter we know holds fewer than 65,536 LeNet samples (2,912 on llvmpipe).
      if (largest >= 65536) return;
      const run = await runCli([
        "train",
        "--data-dir",
        dir,
        "--model",
        "lenet",
        "--batch-size",
        String(largest + 1),
      ]);
      const lines = assertUserError(
        run,
        new RegExp(
          `^error: Batch size ${largest + 1} is too large for lenet on ".+": conv1's output ` +
            `would take .+, over the adapter's .+ buffer limit; the largest batch it holds is ` +
            `${largest}$`,
        ),
        "train --batch-size",
      );
      assert.equal(lines[1], `hint: Pass --batch-size ${largest} or less.`);
    });
  },
});

Deno.test("largestBatch() is what 128 MiB bindings hold: 42,799 MLP and 2,912 LeNet samples", () => {
  const limits = { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 256 * 2 ** 20 };
  // The MLP's largest per-sample buffer is its 784-float input; LeNet's, conv1's 20×24×24 output.
  assert.equal(largestBatch(mlp(), limits), Math.floor(2 ** 27 / (784 * 4)));
  assert.equal(largestBatch(mlp(), limits), 42799);
  assert.equal(largestBatch(lenet(), limits), 2912);
  // The smaller of the two limits decides.
  assert.equal(largestBatch(mlp(), { ...limits, maxBufferSize: 784 * 4 * 10 }), 10);
});

Deno.test("train --resume of a one-epoch checkpoint says 1 epoch, not 1 epochs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mnist_train_test_" });
  try {
    const model = mlp();
    const params = new Map(
      inferShapes(model).flatMap((l) =>
        l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
      ),
    );
    const meta = { model, epoch: 0, dataset: "mnist" as const };
    await Deno.writeFile(
      `${dir}/one.safetensors`,
      encodeCheckpoint({ meta, params, momentum: new Map() }),
    );
    const run = await runCli([
      "train",
      "--resume",
      `${dir}/one.safetensors`,
      "--epochs",
      "1",
      "--limit",
      "300",
      "--data-dir",
      MNIST,
    ], { env: { MNIST_MODEL_DIR: `${dir}/models` } });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^error: The checkpoint has already completed 1 epoch\n/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --resume of a missing file hints at --resume, not --model", async () => {
  // The hint said "or pass --model FILE", an option that does not name what to resume.
  const dir = await Deno.makeTempDir({ prefix: "mnist_train_test_" });
  try {
    for (const resume of [`${dir}/none.safetensors`, "mlp"]) {
      const run = await runCli(["train", "--resume", resume, "--data-dir", MNIST], {
        env: { MNIST_MODEL_DIR: `${dir}/models` },
      });
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /\nhint: .*, or pass --resume FILE\.\n$/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --arch without --resume is refused, not a silent MLP run", async () => {
  // It trained the MLP: --arch names the network of a plain file that --resume reads.
  const run = await runCli(["train", "--arch", "lenet", "--epochs", "1", "--limit", "100"]);
  const err = assertUserError(
    run,
    /^error: --arch applies to --resume of a plain safetensors file only$/,
    "train --arch lenet",
  );
  assert.equal(
    err[1],
    "hint: To train LeNet, pass --model lenet; --arch names the network of a PyTorch file " +
      "that --resume reads.",
  );
  assert.equal(run.stdout, "");
  const bad = await runCli(["train", "--arch", "vgg"]);
  assertUserError(bad, /^error: --arch must be one of mlp, lenet, got "vgg"$/, "--arch vgg");
});

Deno.test("train --resume refuses --init, and a --seed other than the run's", async () => {
  // Both were recorded in the checkpoint and changed nothing: the weights are the file's, the
  // shuffle goes on from its saved state (and --augment's distortions from the recorded seed).
  const dir = await Deno.makeTempDir({ prefix: "mnist_train_test_" });
  try {
    const model = mlp();
    const params = new Map(
      inferShapes(model).flatMap((l) =>
        l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
      ),
    );
    const path = `${dir}/run.safetensors`;
    const training = { seed: 42, init: { kind: "xavier" as const } };
    const meta = { model, epoch: 0, dataset: "mnist" as const, training };
    await Deno.writeFile(path, encodeCheckpoint({ meta, params, momentum: new Map() }));
    const resume = (...more: string[]) =>
      runCli(["train", "--resume", path, "--epochs", "1", "--data-dir", MNIST, ...more], {
        env: { MNIST_MODEL_DIR: `${dir}/models` },
      });
    const before = await Deno.readFile(path);
    const init = await resume("--init", "uniform:0.5");
    let err = assertUserError(
      init,
      new RegExp(`^error: --init does not apply to --resume: the weights come from "${path}"$`),
      "--resume --init",
    );
    assert.equal(
      err[1],
      "hint: Leave out --init; start a new run (without --resume) to draw fresh weights.",
    );
    const seed = await resume("--seed", "7");
    err = assertUserError(
      seed,
      new RegExp(
        `^error: --seed 7 does not apply to --resume: "${path}" goes on with its run's seed 42 ` +
          `\\(its shuffle from the state it saved, --augment's distortions from that seed\\)$`,
      ),
      "--resume --seed 7",
    );
    assert.equal(err[1], "hint: Leave out --seed, or start a new run with it.");
    assert.deepEqual(await Deno.readFile(path), before, "the checkpoint is untouched");
    // The run's own seed, given again, changes nothing and passes (to the epoch check here).
    const same = await resume("--seed", "42");
    assert.match(same.stderr, /^error: The checkpoint has already completed 1 epoch\n/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

gpuTest("train --limit 1 says 1 test digit is too few to tell, not 1 ... are", async () => {
  await withDataDir(async (dir) => {
    const run = await runCli(["train", "--data-dir", dir, "--limit", "1", "--epochs", "1"]);
    assertOk(run, "train --limit 1");
    assert.ok(
      lines(run.stderr).includes(
        "note: 1 test digit is too few to tell whether this run learned (that takes 100): it " +
          "is treated as a run that did",
      ),
      run.stderr,
    );
  });
});

gpuTest(
  "train --resume with another --batch-size or --limit steps the rate at its epoch's first update",
  async () => {
    await withDataDir(async (dir) => {
      // 1000 samples at batch 100: epoch 0 is updates 1..10, so the step (x 1e-9) falls on
      // update 11, the first of epoch 1, whatever batches epoch 1 has.
      const first = await runCli([
        "train",
        "--data-dir",
        dir,
        "--limit",
        "1000",
        "--epochs",
        "1",
        "--frequent",
        "5",
        "--lr-step-epochs",
        "1",
        "--lr-factor",
        "1e-9",
        "--save",
        `${dir}/part.st`,
      ]);
      assertOk(first, "the first epoch");
      const part = await loadCheckpoint(`${dir}/part.st`);
      const resume = (path: string, ...args: string[]) =>
        runCli(["train", "--data-dir", dir, "--resume", path, ...args]);
      for (const [option, value, batches] of [["--batch-size", "50", 20], ["--limit", "500", 5]]) {
        const path = `${dir}/${String(option).slice(2)}.st`;
        await Deno.copyFile(`${dir}/part.st`, path);
        const resumed = await resume(path, "--epochs", "2", String(option), String(value));
        assertOk(resumed, `resumed with ${option} ${value}`);
        // The change is logged before the epoch's first batch, and once.
        const log = lines(resumed.stdout);
        const what = `${option} ${value}:\n${resumed.stdout}`;
        assert.equal(log[1], "INFO:root:Update[11]: Change learning rate to 1.00000e-10", what);
        assert.match(log[2]!, /^INFO:root:Epoch\[1\] Batch \[5\]\t/, what);
        assert.equal(log.filter((line) => line.includes("Update[")).length, 1, what);
        assert.doesNotMatch(resumed.stderr, /note: --lr-step-epochs/);
        // At 1e-10 the epoch leaves the weights where they were (at 0.1 it moves them ~0.05).
        const after = await loadCheckpoint(path);
        for (const [name, w] of part.params) {
          const moved = after.params.get(name)!.reduce(
            (m, x, i) => Math.max(m, Math.abs(x - w[i]!)),
            0,
          );
          assert.ok(moved < 1e-6, `${option}: ${name} moved ${moved}`);
        }
        assert.equal(after.meta.training?.updates, 10 + Number(batches));
      }
      // A step given on resuming, before the run's first epoch, starts it at the lower rate: said.
      const late = await resume(
        `${dir}/limit.st`,
        "--epochs",
        "3",
        "--lr-step-epochs",
        "1",
        "--lr-factor",
        "0.5",
      );
      assertOk(late, "resumed with a past step");
      assert.ok(
        lines(late.stderr).includes(
          "note: --lr-step-epochs 1 is before Epoch[2], where this resumed run starts: its " +
            "change (x 0.5) applies from its first batch, which trains at learning rate " +
            "5.00000e-02, not --lr 0.1",
        ),
        late.stderr,
      );
      assert.doesNotMatch(late.stdout, /Update\[/);
    });
  },
);
