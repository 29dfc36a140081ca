/**
 * `mnist train --save-best` and `--early-stop N` end to end (Keras's save_best_only and
 * EarlyStopping): the checkpoint holds the best epoch and says so, a resumed run none of whose
 * epochs beat its checkpoint leaves it as it was, early stopping ends the run in a note; and the
 * notes and refusals of optimizer settings that are seldom meant. Assertions follow the logged
 * accuracies, whatever they are, so they hold on any adapter.
 */
import assert from "node:assert/strict";
import { loadCheckpoint } from "../src/nn/checkpoint.ts";
import { runWarning } from "../src/cli/train_outcome.ts";
import { modelDirFor, runCli, trainUntil } from "./cli_helpers.ts";
import { gpuTest } from "./gpu_helpers.ts";
import { withDataDir } from "./test_data.ts";

/** Each `Epoch[E] Validation-accuracy=A` of `stdout`, in order. */
function validations(stdout: string): { epoch: number; accuracy: number }[] {
  return [...stdout.matchAll(/Epoch\[(\d+)\] Validation-accuracy=([\d.]+)/g)]
    .map((m) => ({ epoch: Number(m[1]), accuracy: Number(m[2]) }));
}

/** The epochs after whose Validation line a "Saved checkpoint" line comes. */
function savedAfter(stdout: string): number[] {
  const out: number[] = [];
  let epoch = -1;
  for (const line of stdout.split("\n")) {
    const v = /Epoch\[(\d+)\] Validation-accuracy/.exec(line);
    if (v) epoch = Number(v[1]);
    if (line.includes("Saved checkpoint")) out.push(epoch);
  }
  return out;
}

/** The epochs that beat every earlier one of `runs` (the first always), given `start` to beat. */
function improving(runs: { epoch: number; accuracy: number }[], start = -Infinity): number[] {
  let best = start;
  return runs.filter((r) => r.accuracy > best && (best = r.accuracy, true)).map((r) => r.epoch);
}

gpuTest(
  "train --save-best keeps the best epoch, and a resume that beats none leaves it",
  async () => {
    await withDataDir(async (dir) => {
      const path = `${modelDirFor(dir)}/mlp.safetensors`;
      const base = ["train", "--data-dir", dir, "--limit", "1000", "--frequent", "5"];
      // A rate too high to learn well: the accuracy wanders (on llvmpipe the best epoch is not
      // the last, so the line that says which epoch the file holds comes).
      const run = await runCli([...base, "--epochs", "4", "--lr", "3", "--save-best"]);
      assert.equal(run.code, 0, run.stderr);
      const epochs = validations(run.stdout);
      assert.equal(epochs.length, 4);
      const saves = improving(epochs);
      assert.deepEqual(savedAfter(run.stdout), saves);
      const best = saves.at(-1)!;
      const checkpoint = await loadCheckpoint(path);
      assert.equal(checkpoint.meta.epoch, best);
      assert.equal(checkpoint.meta.accuracy!.toFixed(6), epochs[best]!.accuracy.toFixed(6));
      assert.equal(checkpoint.meta.training?.saveBest, true);
      if (best !== 3) {
        assert.match(
          run.stderr,
          new RegExp(`mlp\\.safetensors holds Epoch\\[${best}\\], the best`),
        );
      }

      // Resumed at a rate that diverges: an epoch that beats the checkpoint replaces it, and
      // when none does, the file is as it was and the run says so. --save-best carries over.
      const before = await Deno.readFile(path);
      const again = await runCli([
        ...base,
        "--resume",
        "mlp",
        "--epochs",
        String(best + 3),
        "--lr",
        "20",
      ]);
      assert.equal(again.code, 0, again.stderr);
      const later = validations(again.stdout);
      const beat = improving(later, checkpoint.meta.accuracy!);
      assert.deepEqual(savedAfter(again.stdout), beat);
      if (beat.length === 0) {
        assert.deepEqual(await Deno.readFile(path), before);
        assert.match(
          again.stderr,
          /No epoch of this run beat the validation accuracy of .*: it is unchanged\./,
        );
        await assert.rejects(
          Deno.stat(`${modelDirFor(dir)}/mlp.prev.safetensors`),
          Deno.errors.NotFound,
        );
      } else {
        assert.equal((await loadCheckpoint(path)).meta.epoch, beat.at(-1));
      }
    });
  },
);

gpuTest("train --early-stop N ends the run after N epochs without a better one", async () => {
  await withDataDir(async (dir) => {
    const run = await runCli([
      "train",
      "--data-dir",
      dir,
      "--limit",
      "500",
      "--frequent",
      "5",
      "--epochs",
      "8",
      "--lr",
      "20",
      "--early-stop",
      "1",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const epochs = validations(run.stdout);
    // Where patience 1 ends the run: at the first epoch that does not beat the best before it.
    let best = -Infinity;
    let stop: number | undefined;
    for (const { epoch, accuracy } of epochs) {
      if (accuracy > best) best = accuracy;
      else {
        stop = epoch;
        break;
      }
    }
    if (stop === undefined || stop === 7) {
      assert.equal(epochs.length, 8);
      assert.doesNotMatch(run.stderr, /stopped early/);
    } else {
      assert.equal(epochs.length, stop + 1);
      assert.match(
        run.stderr,
        new RegExp(
          `note: stopped early after Epoch\\[${stop}\\]: Validation-accuracy has not ` +
            "improved for 1 epoch \\(best [\\d.]+ at Epoch\\[\\d+\\], which the checkpoint holds\\)",
        ),
      );
    }
    const checkpoint = await loadCheckpoint(`${modelDirFor(dir)}/mlp.safetensors`);
    assert.equal(checkpoint.meta.epoch, improving(epochs).at(-1));
    assert.equal(checkpoint.meta.training?.earlyStop, 1);
  });
});

Deno.test("train refuses --lr-factor above 1 and notes settings that are seldom meant", async () => {
  const refused = await runCli(["train", "--lr-step-epochs", "2", "--lr-factor", "2"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^error: --lr-factor must be <= 1 \(it lowers the rate\), got 2\n/);
  const early = await runCli(["train", "--early-stop", "-1"]);
  assert.equal(early.code, 1);
  assert.match(early.stderr, /^error: --early-stop must be/);
});

gpuTest("train notes NAG without momentum, AdamW without --wd and a rising cosine", async () => {
  await withDataDir(async (dir) => {
    const quick = [
      "train",
      "--data-dir",
      dir,
      "--limit",
      "200",
      "--epochs",
      "1",
      "--frequent",
      "1",
    ];
    const nag = await runCli([...quick, "--optimizer", "nag"]);
    assert.equal(nag.code, 0, nag.stderr);
    assert.match(nag.stderr, /^note: --optimizer nag with --momentum 0 trains as plain SGD: /m);
    const adamw = await runCli([
      ...quick,
      "--optimizer",
      "adamw",
      "--lr-schedule",
      "cosine",
      "--final-lr",
      "0.01",
    ]);
    assert.equal(adamw.code, 0, adamw.stderr);
    assert.match(
      adamw.stderr,
      /^note: --optimizer adamw with --wd 0 trains as --optimizer adam: .* weight_decay=0\.01 at --lr 0\.001 is --wd 0\.00001\)$/m,
    );
    assert.match(
      adamw.stderr,
      /^note: --final-lr 0\.01 is above --lr 0\.001: the cosine schedule raises the rate over the run$/m,
    );
    const sgd = await runCli([...quick, "--momentum", "0.9"]);
    assert.equal(sgd.code, 0, sgd.stderr);
    assert.doesNotMatch(sgd.stderr, /^note: --(optimizer|final-lr)/m);
  });
});

Deno.test("runWarning() names a large --wd or a tiny --clip before the rate", () => {
  const spread = [100, 100, 100, 100, 100, 100, 100, 100, 100, 100];
  const warn = (run: { lr: number; limit?: number; wd?: number; clip?: number }) =>
    runWarning({ validationAccuracy: 0.1183, predictedCounts: spread }, run)?.hint;
  // u13's runs: --clip 1e-6 and --wd 0.5 at the tutorial's rate on 3000 digits.
  assert.equal(
    warn({ lr: 0.1, limit: 3000, clip: 1e-6 }),
    "Try a larger --clip than 0.000001 (or none), more digits than --limit 3000 or more epochs.",
  );
  assert.equal(
    warn({ lr: 0.1, limit: 3000, wd: 0.5 }),
    "Try a smaller --wd than 0.5 (or none), more digits than --limit 3000 or more epochs.",
  );
  // MXNet's usual decay and no clip: not named.
  assert.equal(warn({ lr: 0.1, wd: 1e-4, clip: 0 }), "Try more epochs.");
});

gpuTest("train --validation holdout:1 of one sample points to the test split", async () => {
  await withDataDir(async (dir) => {
    const run = await runCli([
      "train",
      "--data-dir",
      dir,
      "--limit",
      "1",
      "--validation",
      "holdout:1",
      "--epochs",
      "1",
    ]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: --validation holdout:1 leaves nothing to train on: /);
    assert.match(
      run.stderr,
      /\nhint: Train on more samples \(a larger --limit\), or validate on the test split \(--validation test\)\.\n$/,
    );
  });
});

gpuTest(
  "a worse .prev that is the default moves aside with the default, and a stopped --save-best resume says why the file is unchanged",
  async () => {
    await withDataDir(async (dir) => {
      const modelDir = modelDirFor(dir);
      const base = [
        "train",
        "--data-dir",
        dir,
        "--limit",
        "1000",
        "--frequent",
        "5",
        "--epochs",
        "1",
      ];
      assert.equal((await runCli([...base, "--lr", "0.5", "--save-best"])).code, 0);
      // A worse model at mlp.prev, made the default by hand.
      const prev = `${modelDir}/mlp.prev.safetensors`;
      assert.equal((await runCli([...base, "--lr", "0.001", "--save", prev])).code, 0);
      const best = (await loadCheckpoint(`${modelDir}/mlp.safetensors`)).meta.accuracy!;
      assert.ok((await loadCheckpoint(prev)).meta.accuracy! < best);
      const chosen = await runCli(["models", "--data-dir", dir, "--default", "mlp.prev"]);
      assert.equal(chosen.code, 0, chosen.stderr);

      // A resume at a rate that diverges, stopped after its second epoch's validation.
      const run = await trainUntil(
        [
          "--data-dir",
          dir,
          "--limit",
          "1000",
          "--frequent",
          "5",
          "--resume",
          "mlp",
          "--epochs",
          "9",
          "--lr",
          "20",
        ],
        {
          env: { MNIST_MODEL_DIR: modelDir },
          when: /Epoch\[2\] Validation-accuracy/,
          signal: "SIGINT",
        },
      );
      assert.equal(run.code, 130, run.stderr);
      assert.match(
        run.stderr,
        /Moved the earlier mlp\.prev\.safetensors \(validation accuracy [\d.]+% on 1000 test digits\) to .*mlp\.prev-1\.safetensors: it is the default model, which stays the default there\./,
      );
      const { models } = JSON.parse((await runCli(["models", "--data-dir", dir, "--json"])).stdout);
      type Listed = { file: string; default: boolean; problem?: string };
      const byFile = new Map((models as Listed[]).map((m) => [m.file, m]));
      assert.equal(byFile.get("mlp.prev-1.safetensors")?.default, true);
      assert.equal(byFile.get("mlp.prev-1.safetensors")?.problem, undefined);
      if (!run.stdout.includes("Saved checkpoint")) {
        assert.match(
          run.stderr,
          /error: Interrupted by SIGINT before an epoch beat the validation accuracy of .*mlp\.safetensors: it is unchanged\nhint: Continue with "mnist train --resume mlp --epochs 9"\.\n$/,
        );
        assert.equal((await loadCheckpoint(`${modelDir}/mlp.safetensors`)).meta.accuracy, best);
      }
    });
  },
);
