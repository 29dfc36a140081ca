/**
 * End-to-end: what `mnist train` does with the models it replaces (`<name>.prev.safetensors`)
 * and with the default model, on real MNIST subsets small enough for a CPU adapter (--limit 300,
 * 1-2 epochs: about 2 s a run). Asserts on what a user sees: stderr lines, files, exit codes.
 */
import assert from "node:assert/strict";
import { type CliResult, lines, modelDirFor, runCli, trainUntil } from "./cli_helpers.ts";
import { gpu, gpuTest } from "./gpu_helpers.ts";
import { encodeCheckpoint, loadCheckpoint } from "../src/nn/checkpoint.ts";
import { inferShapes, lenet, mlp, sizeOf } from "../src/nn/model.ts";
import { type Measured, nextDefault, notComparable } from "../src/cli/train_outcome.ts";
import type { TrainingRecord } from "../src/train/trainer.ts";
import { DATASET_FILES, FASHION, HAVE_FASHION, withDataDir } from "./test_data.ts";
import { onnxModelType } from "../src/onnx/export.ts";

function assertOk(run: CliResult, what: string): void {
  assert.equal(run.code, 0, `${what} exited ${run.code}:\n${run.stderr}`);
}

/** "29.33%" for the accuracy of a run's last `Validation-accuracy=0.293333` line. */
function lastAccuracy(stdout: string): string {
  const found = [...stdout.matchAll(/Validation-accuracy=(\d\.\d{6})$/gm)].at(-1);
  assert.ok(found, `no validation line in\n${stdout}`);
  return `${(Number(found[1]) * 100).toFixed(2)}%`;
}

/** An MLP (or `model`) checkpoint (zero weights) recording `accuracy` measured as `training` says. */
function recordedModel(
  accuracy: number,
  training: Partial<TrainingRecord>,
  { dataset = "mnist", model = mlp() }: { dataset?: string; model?: ReturnType<typeof mlp> } = {},
): Uint8Array {
  const params = new Map(
    inferShapes(model).flatMap((l) =>
      l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
    ),
  );
  return encodeCheckpoint({
    meta: { model, epoch: 9, dataset, accuracy, training },
    params,
    momentum: new Map(),
  });
}

const QUICK = ["--limit", "300", "--epochs", "1", "--frequent", "3"];

gpuTest(
  "train --resume mlp keeps the file it resumes from as mlp.prev, and a run at chance gives " +
    "the default back to it",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      const saved = `${models}/mlp.safetensors`;
      const prev = `${models}/mlp.prev.safetensors`;
      const first = await runCli(["train", "--data-dir", dir, ...QUICK]);
      assertOk(first, "the first run");
      const learned = lastAccuracy(first.stdout);
      const before = await Deno.readFile(saved);
      // --lr 50 ends at chance (8% on llvmpipe), saving over the file it resumed from.
      const chance = await runCli(
        ["train", "--data-dir", dir, "--resume", "mlp", "--epochs", "2", "--lr", "50"],
      );
      assertOk(chance, "train --resume mlp --lr 50");
      const err = lines(chance.stderr);
      assert.equal(
        err[0],
        `Keeping the mlp.safetensors this run resumes from (validation accuracy ${learned} on ` +
          `300 test digits) as ${prev} until the run ends.`,
      );
      assert.match(err[1]!, /^warning: validation accuracy \d+\.\d\d%.*; it has not learned$/);
      assert.match(err[2]!, /^hint: /);
      assert.match(
        err[3]!,
        new RegExp(
          `^mlp\\.safetensors now holds this run \\(validation accuracy \\d+\\.\\d\\d% on 300 ` +
            `test digits\\); the model this run replaced \\(${learned} on 300 test digits\\) ` +
            `is kept as .*mlp\\.prev\\.safetensors\\.$`,
        ),
      );
      assert.equal(err[4], `Default model is now "${prev}", the model this run replaced.`);
      assert.equal(err.length, 5, chance.stderr);
      assert.deepEqual(await Deno.readFile(prev), before);
      assert.equal(await Deno.readTextFile(`${models}/default`), `${prev}\n`);
    });
  },
);

gpuTest(
  "a run at chance over the default's file, with no scored model to keep, leaves no default",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      const saved = `${models}/mlp.safetensors`;
      assertOk(await runCli(["train", "--data-dir", dir, ...QUICK]), "the first run");
      // Its checkpoint without an accuracy, as a run stopped during validation leaves it.
      const checkpoint = await loadCheckpoint(saved);
      delete checkpoint.meta.accuracy;
      await Deno.writeFile(saved, encodeCheckpoint(checkpoint));
      const chance = await runCli(
        ["train", "--data-dir", dir, "--resume", "mlp", "--epochs", "2", "--lr", "50"],
      );
      assertOk(chance, "train --resume mlp --lr 50");
      const err = lines(chance.stderr);
      // It said 'Default model unchanged' of the file it had just overwritten at chance.
      assert.match(err[0]!, /^warning: .*; it has not learned$/);
      assert.equal(
        err.at(-1),
        `No default model now: "${saved}" holds this run, which has not learned; choose one ` +
          `with "mnist models --default NAME".`,
      );
      await assert.rejects(Deno.lstat(`${models}/default`), Deno.errors.NotFound);
    });
  },
);

Deno.test("notComparable() compares accuracies measured on the same samples only", () => {
  const test10k: Measured = { accuracy: 0.93, testSamples: 10000, validation: "test" };
  const cases: [Measured, Measured, string | undefined, string][] = [
    [test10k, { accuracy: 0.5, testSamples: 10000 }, undefined, "test, absent means test"],
    [
      { ...test10k, limit: 20000 },
      { ...test10k, limit: 30000 },
      undefined,
      "the whole test split whatever --limit",
    ],
    [
      test10k,
      { accuracy: 1, testSamples: 4, validation: "holdout:4", limit: 3000 },
      "they were validated on different samples",
      "holdout against test",
    ],
    [
      test10k,
      { accuracy: 0.9, testSamples: 3000, validation: "test", limit: 3000 },
      "they were validated on different samples",
      "another --limit",
    ],
    [
      test10k,
      { ...test10k, dataset: "fashion" },
      "they were trained on different datasets (mnist, fashion)",
      "another dataset",
    ],
    [
      { accuracy: 1, testSamples: 4, validation: "holdout:4", limit: 3000 },
      { accuracy: 1, testSamples: 4, validation: "holdout:4", limit: 1000 },
      "they held out the last 4 of different --limit runs (3000, 1000)",
      "a holdout of other samples",
    ],
    [
      { accuracy: 1, testSamples: 4, validation: "holdout:4", limit: 3000 },
      { accuracy: 0.5, testSamples: 4, validation: "holdout:4", limit: 3000 },
      undefined,
      "the same holdout",
    ],
    [test10k, { accuracy: 0.5 }, "what one of them was validated on is not recorded", "unknown"],
  ];
  for (const [a, b, expected, what] of cases) assert.equal(notComparable(a, b), expected, what);
});

gpuTest(
  "a run that takes the default from another model names that model and how to restore it",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      const saved = `${models}/mlp.safetensors`;
      const prev = `${models}/mlp.prev.safetensors`;
      await Deno.mkdir(models, { recursive: true });
      await Deno.writeFile(saved, recordedModel(0.9765, { testSamples: 10000 }));
      const lenetFile = `${models}/lenet.safetensors`;
      await Deno.writeFile(
        lenetFile,
        recordedModel(0.9877, { testSamples: 10000 }, { model: lenet() }),
      );
      await Deno.writeTextFile(`${models}/default`, `${lenetFile}\n`);
      // It named mlp.prev as the one to go back to, never lenet, the default it replaced.
      const run = await runCli(["train", "--data-dir", dir, ...QUICK]);
      assertOk(run, "a quick MLP run over a LeNet default");
      assert.equal(
        lines(run.stderr).at(-1),
        `Default model is now "${saved}" (this run, validation accuracy ` +
          `${lastAccuracy(run.stdout)} on 300 test digits); the default was lenet (validation ` +
          `accuracy 98.77% on 10000 test digits): "mnist models --default lenet" makes it the ` +
          `default again; the model this run replaced (97.65% on 10000 test digits) is kept as ` +
          `${prev}, not compared: they were validated on different samples ("mnist models ` +
          `--default mlp.prev" makes it the default).`,
        run.stderr,
      );
      // Without a kept model: the same words about lenet.
      await Deno.writeTextFile(`${models}/default`, `${lenetFile}\n`);
      const again = await runCli(["train", "--data-dir", dir, ...QUICK, "--save", saved]);
      assertOk(again, "a second quick run");
      assert.match(
        lines(again.stderr).at(-1)!,
        new RegExp(
          `^Default model is now "${saved}" \\(this run, validation accuracy [\\d.]+% on 300 ` +
            `test digits\\); the default was lenet \\(validation accuracy 98\\.77% on 10000 ` +
            `test digits\\): "mnist models --default lenet" makes it the default again\\.$`,
        ),
      );
    });
  },
);

gpuTest(
  "a run validated on other samples keeps the .prev it cannot compare with, moved aside, and says why",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      const saved = `${models}/mlp.safetensors`;
      const prev = `${models}/mlp.prev.safetensors`;
      const good = recordedModel(0.9318, { testSamples: 10000, validation: "test" });
      await Deno.mkdir(models, { recursive: true });
      await Deno.writeFile(saved, good);
      await Deno.writeTextFile(`${models}/default`, `${saved}\n`);
      // 100% on 4 held-out digits said nothing against 93.18% on 10000 test digits, yet it
      // removed that model.
      const held = await runCli(
        ["train", "--data-dir", dir, ...QUICK, "--validation", "holdout:4"],
      );
      assertOk(held, "train --validation holdout:4");
      const err = lines(held.stderr);
      assert.equal(
        err[0],
        `Keeping the mlp.safetensors this run replaces (validation accuracy 93.18% on 10000 ` +
          `test digits) as ${prev} until the run ends.`,
      );
      assert.equal(
        err.at(-1),
        `Default model is now "${saved}" (this run, validation accuracy ` +
          `${lastAccuracy(held.stdout)} on 4 held-out training digits); the model this run ` +
          `replaced (93.18% on 10000 test digits) is kept as ${prev}, not compared: they were ` +
          `validated on different samples; "mnist models --default mlp.prev" makes that one ` +
          `the default again.`,
        held.stderr,
      );
      // 4 samples say nothing of chance ("predicts 5 for 100% of the digits"): said, not judged.
      assert.ok(
        err.includes(
          "note: 4 held-out training digits are too few to tell whether this run learned (that " +
            "takes 100): it is treated as a run that did",
        ),
        held.stderr,
      );
      assert.deepEqual(await Deno.readFile(prev), good);
      // The next run replaces the holdout run, which the .prev cannot be compared with: neither
      // is lost (the .prev moves aside; the holdout run's model takes its place).
      const holdout = await Deno.readFile(saved);
      const next = await runCli(["train", "--data-dir", dir, ...QUICK]);
      assertOk(next, "the next run");
      const aside = `${models}/mlp.prev-1.safetensors`;
      assert.match(
        lines(next.stderr)[0]!,
        new RegExp(
          `^Moved the earlier mlp\\.prev\\.safetensors \\(validation accuracy 93\\.18% on 10000 ` +
            `test digits\\) to .*mlp\\.prev-1\\.safetensors: it cannot be compared with the ` +
            `mlp\\.safetensors this run replaces \\(they were validated on different samples\\)\\.$`,
        ),
      );
      assert.deepEqual(await Deno.readFile(aside), good);
      const models_ = await runCli(["models", "--data-dir", dir]);
      assert.match(models_.stdout, /mlp\.prev-1\.safetensors/);
      // The holdout run's model was kept as .prev, unless this run beat it (then removed).
      const kept = await Deno.readFile(prev).catch(() => undefined);
      assert.ok(
        kept === undefined ? /Removed .*mlp\.prev\.safetensors/.test(next.stderr) : true,
        next.stderr,
      );
      if (kept !== undefined) assert.deepEqual(kept, holdout);
    });
  },
);

gpuTest(
  "a quick run after a full one says in one line that it is the default, where the full one " +
    "is kept and how to make it the default again; models dates that one by its training",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      const saved = `${models}/mlp.safetensors`;
      const prev = `${models}/mlp.prev.safetensors`;
      // The README's full run (97.65% on the 10000 test digits), trained a while before the
      // quick --limit run that replaces it.
      const full = recordedModel(0.9765, { testSamples: 10000, validation: "test" });
      await Deno.mkdir(models, { recursive: true });
      await Deno.writeFile(saved, full);
      await Deno.writeTextFile(`${models}/default`, `${saved}\n`);
      const trained = new Date(2025, 4, 2, 10, 14); // local time, as mnist models prints it
      await Deno.utime(saved, trained, trained);
      const quick = await runCli(["train", "--data-dir", dir, ...QUICK]);
      assertOk(quick, "the quick run");
      // It said where the model was kept on one line and that this run was the default on the
      // next, and not how to go back.
      assert.deepEqual(lines(quick.stderr), [
        `Keeping the mlp.safetensors this run replaces (validation accuracy 97.65% on 10000 ` +
        `test digits) as ${prev} until the run ends.`,
        `Default model is now "${saved}" (this run, validation accuracy ` +
        `${lastAccuracy(quick.stdout)} on 300 test digits); the model this run replaced ` +
        `(97.65% on 10000 test digits) is kept as ${prev}, not compared: they were validated ` +
        `on different samples; "mnist models --default mlp.prev" makes that one the default ` +
        `again.`,
      ]);
      assert.deepEqual(await Deno.readFile(prev), full);
      // SAVED said when the run copied it to .prev, not when its training saved it.
      assert.equal((await Deno.stat(prev)).mtime?.getTime(), trained.getTime());
      const listed = await runCli(["models", "--data-dir", dir]);
      assertOk(listed, "mnist models");
      assert.match(
        listed.stdout,
        /^ {2}mlp\.prev\.safetensors +mlp +mnist +97\.65% +10000 +10 +2025-05-02 10:14$/m,
      );
      const json = await runCli(["models", "--data-dir", dir, "--json"]);
      assertOk(json, "mnist models --json");
      const entry = (JSON.parse(json.stdout).models as { file: string; modified: string }[])
        .find((m) => m.file === "mlp.prev.safetensors");
      assert.equal(entry?.modified, trained.toISOString());
      // The line's command does what it says.
      const back = await runCli(["models", "--data-dir", dir, "--default", "mlp.prev"]);
      assertOk(back, "mnist models --default mlp.prev");
      assert.equal(await Deno.readTextFile(`${models}/default`), `${prev}\n`);
    });
  },
);

/**
 * Runs `mnist train ...args` with the model directory `runCli` gives `dataDir`, sends `signal`
 * once a line of its standard output matches `when` (after `before`, when given), and collects
 * what it printed.
 */
async function interruptTrain(
  dataDir: string,
  args: string[],
  { when, signal, before }: {
    when: RegExp;
    /** Sent once `when` has come; none: `before` alone. */
    signal?: Deno.Signal;
    /** Run when the line has come, before the signal is sent. */
    before?: () => Promise<void>;
  },
): Promise<CliResult> {
  return await trainUntil(["--data-dir", dataDir, ...args], {
    env: { MNIST_MODEL_DIR: modelDirFor(dataDir) },
    when,
    signal,
    during: before,
  });
}

gpuTest(
  "SIGTERM before the first checkpoint leaves the model as it was, with no .prev",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      const saved = `${models}/mlp.safetensors`;
      const good = recordedModel(0.93, { testSamples: 10000, validation: "test" });
      await Deno.mkdir(models, { recursive: true });
      await Deno.writeFile(saved, good);
      await Deno.writeTextFile(`${models}/default`, `${saved}\n`);
      // An epoch of 60,000 batches of one digit takes seconds on any adapter (a command buffer
      // per 50 batches): the signal comes long before its checkpoint, however fast the GPU.
      const run = await interruptTrain(
        dir,
        ["--batch-size", "1", "--epochs", "2", "--frequent", "5000"],
        { when: /Start training/, signal: "SIGTERM" },
      );
      assert.equal(run.code, 143, run.stderr);
      assert.deepEqual(lines(run.stderr), [
        `Keeping the mlp.safetensors this run replaces (validation accuracy 93.00% on 10000 ` +
        `test digits) as ${models}/mlp.prev.safetensors until the run ends.`,
        `error: Interrupted by SIGTERM before its first checkpoint: ${saved} is unchanged`,
      ]);
      assert.doesNotMatch(run.stdout, /Saved checkpoint/);
      assert.deepEqual(await Deno.readFile(saved), good);
      await assert.rejects(Deno.lstat(`${models}/mlp.prev.safetensors`), Deno.errors.NotFound);
      assert.equal(await Deno.readTextFile(`${models}/default`), `${saved}\n`);
    });
  },
);

gpuTest(
  "SIGINT after a checkpoint says which epoch it holds and how to resume, and gives the " +
    "default back to the better model it replaced",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      const saved = `${models}/mlp.safetensors`;
      const prev = `${models}/mlp.prev.safetensors`;
      const better = recordedModel(0.99, { testSamples: 300, validation: "test" });
      await Deno.mkdir(models, { recursive: true });
      await Deno.writeFile(saved, better);
      await Deno.writeTextFile(`${models}/default`, `${saved}\n`);
      // 100,000 epochs: the run is still going when the signal comes, however fast the GPU.
      const run = await interruptTrain(
        dir,
        ["--limit", "300", "--epochs", "100000", "--frequent", "3"],
        { when: /Saved checkpoint/, signal: "SIGINT" },
      );
      assert.equal(run.code, 130, run.stderr);
      const err = lines(run.stderr);
      assert.equal(err.length, 3, run.stderr);
      assert.match(
        err[1]!,
        new RegExp(
          `^error: Interrupted by SIGINT; .*/mlp\\.safetensors holds \\d+ of 100000 epochs, ` +
            `the log's Epoch\\[0\\]( (and|to) Epoch\\[\\d+\\])? ` +
            `\\((not yet validated|validation accuracy \\d+\\.\\d\\d% on 300 test digits)\\); ` +
            `the model this run replaced \\(99\\.00% on 300 test digits\\) is kept as ` +
            `.*/mlp\\.prev\\.safetensors, the default model again$`,
        ),
      );
      assert.equal(err[2], `hint: Continue with "mnist train --resume mlp --epochs 100000".`);
      // The checkpoint is the run's, whole; the better model is at .prev and is the default.
      const epochs = Number(/holds (\d+) of/.exec(err[1]!)![1]);
      assert.ok(epochs >= 1 && epochs < 100000, err[1]);
      // Counted from 1, and the log's last epoch line named as the log numbers it (from 0).
      assert.ok(err[1]!.includes(epochs === 1 ? "Epoch[0] (" : `Epoch[${epochs - 1}] (`), err[1]);
      assert.match(run.stdout, new RegExp(`Epoch\\[${epochs - 1}\\] `));
      assert.deepEqual(await Deno.readFile(prev), better);
      assert.notDeepEqual(await Deno.readFile(saved), better);
      assert.equal(await Deno.readTextFile(`${models}/default`), `${prev}\n`);
      // The hint's command continues the run from that epoch.
      const resumed = await runCli(
        ["train", "--data-dir", dir, "--resume", "mlp", "--epochs", String(epochs + 1)],
      );
      assertOk(resumed, "the hint's command, one epoch further");
      assert.match(resumed.stdout, new RegExp(`Epoch\\[${epochs}\\] Validation-accuracy`));
    });
  },
);

gpuTest(
  "SIGINT once the last epoch is validated settles the run, then exits 130 saying so",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      const saved = `${models}/mlp.safetensors`;
      const chart = `${dir}/run.png`;
      // After the last validation line the run saves, profiles a step (--profile), settles the
      // default and draws the chart (a PNG: CPU work, however fast the GPU): the signal comes
      // during one of those, and was ignored.
      const run = await interruptTrain(
        dir,
        [...QUICK, "--profile", "--plot", chart],
        { when: /Epoch\[0\] Validation-accuracy/, signal: "SIGINT" },
      );
      assert.equal(run.code, 130, run.stderr);
      const err = lines(run.stderr);
      // Settled first, as a run that was not interrupted is.
      assert.equal(err.at(-2), `Default model is now "${saved}".`, run.stderr);
      assert.match(
        err.at(-1)!,
        new RegExp(
          `^error: Interrupted by SIGINT after the last epoch: ${saved} holds 1 of 1 epoch, ` +
            `the log's Epoch\\[0\\] ` +
            `\\(validation accuracy ${lastAccuracy(run.stdout)} on 300 test digits\\)` +
            `(; the chart ${chart} was not drawn)?$`,
        ),
      );
      assert.equal(await Deno.readTextFile(`${models}/default`), `${saved}\n`);
      // The chart is whole (its last chunk is IEND) or absent, as the line says.
      const drawn = await Deno.readFile(chart).catch(() => undefined);
      assert.equal(drawn === undefined, err.at(-1)!.endsWith("was not drawn"), run.stderr);
      if (drawn !== undefined) {
        assert.equal(new TextDecoder().decode(drawn.subarray(-8, -4)), "IEND");
      }
    });
  },
);

gpuTest(
  "SIGINT when the copy of the replaced model cannot be removed names it in one line, exit 130",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      const saved = `${models}/mlp.safetensors`;
      const prev = `${models}/mlp.prev.safetensors`;
      const good = recordedModel(0.93, { testSamples: 10000, validation: "test" });
      await Deno.mkdir(models, { recursive: true });
      await Deno.writeFile(saved, good);
      // The copy made at the start becomes a directory that Deno.remove refuses (not empty):
      // the error came out raw, as an internal error.
      const run = await interruptTrain(
        dir,
        ["--batch-size", "1", "--epochs", "2", "--frequent", "5000"],
        {
          when: /Start training/,
          signal: "SIGINT",
          before: async () => {
            await Deno.remove(prev);
            await Deno.mkdir(`${prev}/inside`, { recursive: true });
          },
        },
      );
      assert.equal(run.code, 130, run.stderr);
      assert.deepEqual(lines(run.stderr).slice(1), [
        `error: Interrupted by SIGINT before its first checkpoint: ${saved} is unchanged; ` +
        `cannot remove "${prev}", a copy of a replaced model that is no longer needed: ` +
        `directory not empty`,
        `hint: Remove ${prev} yourself.`,
      ]);
      assert.deepEqual(await Deno.readFile(saved), good);
    });
  },
);

gpuTest(
  "a run that fails when the copy of the replaced model cannot be removed warns, then gives " +
    "its error, and keeps the model",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      const saved = `${models}/mlp.safetensors`;
      const prev = `${models}/mlp.prev.safetensors`;
      const good = recordedModel(0.93, { testSamples: 10000, validation: "test" });
      await Deno.mkdir(models, { recursive: true });
      await Deno.writeFile(saved, good);
      await Deno.writeTextFile(`${models}/default`, `${saved}\n`);
      // --lr 1e6 diverges; with batches of one digit its first check comes after 5000 batches,
      // seconds after "Start training" on any adapter. By then the copy made at the start is a
      // directory that Deno.remove refuses (not empty), and the error stops the run before its
      // first checkpoint: the copy is to go, and cannot.
      const run = await interruptTrain(
        dir,
        ["--batch-size", "1", "--epochs", "2", "--frequent", "5000", "--lr", "1e6"],
        {
          when: /Start training/,
          before: async () => {
            await Deno.remove(prev);
            await Deno.mkdir(`${prev}/inside`, { recursive: true });
          },
        },
      );
      assert.equal(run.code, 1, run.stderr);
      assert.doesNotMatch(run.stderr, /^\s+at |Uncaught|internal error/im, "no raw error");
      const err = lines(run.stderr);
      assert.match(err[0] ?? "", /^Keeping the mlp\.safetensors this run replaces .* as .*\.prev/);
      assert.deepEqual(err.slice(1, 3), [
        `warning: Cannot remove "${prev}", a copy of a replaced model that is no longer ` +
        "needed: directory not empty",
        "hint: Nothing needs it: remove it yourself.",
      ]);
      // The error that stopped the run comes last, as it would have alone.
      assert.match(
        err[3] ?? "",
        /^error: Training diverged: the loss became NaN or infinite in epoch 0, batch \d+$/,
      );
      assert.match(err[4] ?? "", /^hint: Lower the learning rate/);
      assert.equal(err.length, 5, run.stderr);
      assert.doesNotMatch(run.stdout, /Saved checkpoint/);
      // The model is where it was, whole, and still the default; the directory is left.
      assert.deepEqual(await Deno.readFile(saved), good);
      assert.equal(await Deno.readTextFile(`${models}/default`), `${saved}\n`);
      assert.ok((await Deno.stat(`${prev}/inside`)).isDirectory);
    });
  },
);

gpuTest(
  "a symlinked model directory: a run at chance saved over the default through another " +
    "spelling gives the default to the model it replaced",
  async () => {
    await withDataDir(async (dir) => {
      const real = `${dir}/real-models`;
      const link = `${dir}/models-link`;
      await Deno.mkdir(real);
      await Deno.symlink(real, link);
      const env = { MNIST_MODEL_DIR: link };
      const first = await runCli(["train", "--data-dir", dir, ...QUICK], { env });
      assertOk(first, "the first run");
      assert.equal(await Deno.readTextFile(`${real}/default`), `${link}/mlp.safetensors\n`);
      // The same file as the default, spelt through the real directory; --lr 50 ends at chance.
      const chance = await runCli(
        [
          "train",
          "--data-dir",
          dir,
          ...QUICK,
          "--lr",
          "50",
          "--save",
          `${real}/mlp.safetensors`,
        ],
        { env },
      );
      assertOk(chance, "train --lr 50 --save <real dir>/mlp.safetensors");
      // It said "Default model unchanged" of the file it had just overwritten at chance.
      assert.equal(
        lines(chance.stderr).at(-1),
        `Default model is now "${real}/mlp.prev.safetensors", the model this run replaced.`,
      );
      assert.equal(
        await Deno.readTextFile(`${real}/default`),
        `${real}/mlp.prev.safetensors\n`,
      );
    });
  },
);

gpuTest("train --resume refuses a holdout its checkpoint may have trained on", async () => {
  await withDataDir(async (dir) => {
    const saved = `${modelDirFor(dir)}/mlp.safetensors`;
    const held = await runCli(["train", "--data-dir", dir, ...QUICK, "--validation", "holdout:50"]);
    assertOk(held, "train --validation holdout:50");
    const before = await Deno.readFile(saved);
    const resume = ["train", "--data-dir", dir, "--resume", "mlp", "--epochs", "2"];
    // --limit 200 would hold out samples 150-199, among the 250 (of 300) the checkpoint trained
    // on; another holdout or --limit may, and a resumed run's record shows only its last run.
    for (
      const [extra, shown] of [
        [["--limit", "200"], "--validation holdout:50 and --limit 200"],
        [["--validation", "holdout:100"], "--validation holdout:100 and --limit 300"],
      ] as const
    ) {
      const run = await runCli([...resume, ...extra]);
      assert.equal(run.code, 1, run.stderr);
      assert.deepEqual(lines(run.stderr), [
        `error: Cannot resume "${saved}" with ${shown}: it held out others (holdout:50 with ` +
        `--limit 300), and a checkpoint may have been trained on any sample but those`,
        "hint: Leave out --limit and --validation to keep its holdout, or start a new run.",
      ]);
      assert.equal(run.stdout, "");
    }
    assert.deepEqual(await Deno.readFile(saved), before);
    // A run validated on the test split trained on every sample a holdout would take.
    const test = await runCli(["train", "--data-dir", dir, ...QUICK]);
    assertOk(test, "train");
    const run = await runCli([...resume, "--validation", "holdout:50"]);
    assert.equal(run.code, 1, run.stderr);
    assert.deepEqual(lines(run.stderr), [
      `error: Cannot resume "${saved}" with --validation holdout:50: that run validated on the ` +
      `test split and trained on the samples holdout:50 would hold out`,
      "hint: Leave out --validation to keep the test split, or start a new run.",
    ]);
  });
});

Deno.test({
  name: "a Fashion-MNIST run saves as fashion-mlp, leaves the digit model and its default alone",
  ignore: gpu === null || !HAVE_FASHION, // no adapter, or Debian's dataset-fashion-mnist
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withDataDir(async (dir) => {
      await Deno.mkdir(`${dir}/fashion`);
      for (const f of DATASET_FILES) await Deno.symlink(`${FASHION}/${f}`, `${dir}/fashion/${f}`);
      const models = modelDirFor(dir);
      const digits = `${models}/mlp.safetensors`;
      const fashion = `${models}/fashion-mlp.safetensors`;
      const good = recordedModel(0.93, { testSamples: 300, validation: "test" });
      await Deno.mkdir(models, { recursive: true });
      await Deno.writeFile(digits, good);
      await Deno.writeTextFile(`${models}/default`, `${digits}\n`);
      // It saved over mlp.safetensors, and became the default of predict and serve.
      const run = await runCli(["train", "--data-dir", dir, "--dataset", "fashion", ...QUICK]);
      assertOk(run, "train --dataset fashion");
      assert.match(run.stdout, new RegExp(`Saved checkpoint to "${fashion}"`));
      assert.deepEqual(lines(run.stderr), [
        `Default model unchanged: "${digits}" (a digit model); make this run the default with ` +
        `"mnist models --default ${fashion}".`,
      ]);
      assert.deepEqual(await Deno.readFile(digits), good);
      await assert.rejects(Deno.lstat(`${models}/mlp.prev.safetensors`), Deno.errors.NotFound);
      assert.equal(await Deno.readTextFile(`${models}/default`), `${digits}\n`);
      // --resume mlp --dataset fashion continues that run, in its own file.
      const resumed = await runCli(
        ["train", "--data-dir", dir, "--dataset", "fashion", "--resume", "mlp", "--epochs", "2"],
      );
      assertOk(resumed, "train --resume mlp --dataset fashion");
      assert.match(resumed.stdout, /Epoch\[1\] Validation-accuracy/);
      assert.match(resumed.stdout, new RegExp(`Saved checkpoint to "${fashion}"`));
      assert.deepEqual(await Deno.readFile(digits), good);
      // mnist models says which dataset each was trained on.
      const list = await runCli(["models", "--data-dir", dir]);
      assertOk(list, "mnist models");
      assert.match(list.stdout, /^ {2}FILE +MODEL {2}DATASET {2}ACCURACY {2}TEST SAMPLES/m);
      assert.match(list.stdout, /^ {2}fashion-mlp\.safetensors {2}mlp {4}fashion {2}/m);
      assert.match(list.stdout, /^\* mlp\.safetensors +mlp {4}mnist {4}/m);
      // The digit model resumed on Fashion-MNIST goes on (fine-tuning is a use), and says from
      // what, from which epoch, and where it saves: that file's epochs count the digit ones, and
      // its training record keeps each dataset's (it kept "fashion" and 11 epochs alone: defects
      // found by trying the product).
      const tuned = `${dir}/tuned.safetensors`;
      const crossed = await runCli([
        "train",
        "--data-dir",
        dir,
        "--dataset",
        "fashion",
        "--resume",
        digits,
        "--epochs",
        "11",
        "--limit",
        "300",
        "--save",
        tuned,
      ]);
      assertOk(crossed, "train --resume <digit model> --dataset fashion");
      assert.equal(
        lines(crossed.stderr)[0],
        `note: "${digits}" was trained on MNIST for 10 epochs: this run goes on from its ` +
          `weights and optimizer state on Fashion-MNIST, from Epoch[10], and saves to ${tuned}, ` +
          "whose epoch count will include those, and its training record each dataset's epochs",
      );
      assert.match(crossed.stdout, /Epoch\[10\] Validation-accuracy/);
      const tunedMeta = (await loadCheckpoint(tuned)).meta;
      assert.equal(tunedMeta.dataset, "fashion");
      assert.equal(tunedMeta.epoch, 10);
      assert.deepEqual(tunedMeta.training?.datasets, [
        { dataset: "mnist", epochs: 10 },
        { dataset: "fashion", epochs: 1 },
      ]);
      assert.deepEqual(await Deno.readFile(digits), good);
      // And back on the digits: three parts, in order; the note names both before.
      const back = `${models}/back.safetensors`;
      const again = await runCli([
        ...["train", "--data-dir", dir, "--dataset", "mnist", "--resume", tuned],
        ...["--epochs", "12", "--limit", "300", "--save", back],
      ]);
      assertOk(again, "train --resume <tuned> --dataset mnist");
      assert.match(
        lines(again.stderr).find((line) => line.startsWith("note: ")) ?? again.stderr,
        /^note: ".*tuned\.safetensors" was trained on MNIST for 10 epochs, then Fashion-MNIST for 1 epoch: this run goes on .* on MNIST, from Epoch\[11\],/,
      );
      const parts = [
        { dataset: "mnist", epochs: 10 },
        { dataset: "fashion", epochs: 1 },
        { dataset: "mnist", epochs: 1 },
      ];
      assert.deepEqual((await loadCheckpoint(back)).meta.training?.datasets, parts);
      // Shown where the record is: mnist summary, mnist models, the ONNX model's metadata.
      const summary = await runCli(["summary", "--model", back]);
      assertOk(summary, "mnist summary");
      assert.equal(
        lines(summary.stdout)[1],
        "Trained on mnist, 10 epochs, then fashion, 1 epoch, then mnist, 1 epoch",
      );
      const listed = await runCli(["models", "--data-dir", dir, "--json"]);
      assertOk(listed, "mnist models --json");
      const entries = JSON.parse(listed.stdout).models;
      const entry = (file: string) => entries.find((m: { path: string }) => m.path === file);
      assert.deepEqual(entry(back)?.datasets, parts);
      assert.equal(entry(back)?.dataset, "mnist");
      assert.equal(entry(back)?.epochs, 12);
      assert.equal(entry(digits)?.datasets, undefined, "one dataset: no parts");
      assert.equal(entry(digits)?.epochs, 10);
      const table = await runCli(["models", "--data-dir", dir]);
      assertOk(table, "mnist models");
      assert.match(table.stdout, /^ {2}FILE +MODEL {2}DATASET {14}ACCURACY {2}TEST SAMPLES/m);
      assert.match(
        table.stdout,
        /^[ *] back\.safetensors +mlp {4}mnist\+fashion\+mnist +\d+\.\d\d% +300 +10\+1\+1 {2}/m,
      );
      assert.match(table.stdout, /^[ *] mlp\.safetensors +mlp {4}mnist +93\.00% +300 +10 {2}/m);
      const onnx = `${dir}/back.onnx`;
      const exported = await runCli(["export", "--model", back, "--onnx", onnx]);
      assertOk(exported, "mnist export");
      const Model = onnxModelType();
      const props = Model.toObject(Model.decode(await Deno.readFile(onnx))).metadata_props as {
        key: string;
        value: string;
      }[];
      const prop = (key: string) => props.find((p) => p.key === key)?.value;
      assert.equal(prop("dataset"), "mnist");
      assert.equal(prop("epochs"), "12");
      assert.deepEqual(JSON.parse(prop("datasets") ?? "null"), parts);
      // Resumed on its own dataset, no such note.
      assert.ok(!resumed.stderr.includes("note:"), resumed.stderr);
    });
  },
});

Deno.test("nextDefault(): a Fashion-MNIST run does not take the default from a digit model", () => {
  const save = "/m/fashion-mlp.safetensors";
  const current = "/m/mlp.safetensors";
  const run = { save, inModelDir: true, learned: true, current };
  assert.equal(nextDefault({ ...run, otherDataset: true }), undefined, "over a digit model");
  assert.equal(nextDefault({ ...run, otherDataset: false }), save, "over a fashion model");
  assert.equal(
    nextDefault({ ...run, current: undefined, otherDataset: true }),
    save,
    "no default yet",
  );
  assert.equal(nextDefault({ ...run, current: save, otherDataset: true }), save, "its own file");
});

gpuTest(
  "train over an unreadable default-model pointer saves, warns and writes a new pointer",
  async () => {
    // A FIFO at <model dir>/default failed the run after its checkpoint was saved (exit 1).
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      await Deno.mkdir(models, { recursive: true });
      const { code } = await new Deno.Command("mkfifo", { args: [`${models}/default`] }).output();
      assert.equal(code, 0, "mkfifo");
      const run = await runCli(["train", "--data-dir", dir, ...QUICK]);
      assertOk(run, "the run");
      assert.match(
        run.stderr,
        /^warning: Cannot read the default model's pointer ".*\/default": it is not a regular file .*; it is taken as no default model$/m,
      );
      assert.ok((await Deno.stat(`${models}/default`)).isFile, "a pointer file again");
      assert.equal(
        (await Deno.readTextFile(`${models}/default`)).trim(),
        `${models}/mlp.safetensors`,
      );
    });
  },
);
