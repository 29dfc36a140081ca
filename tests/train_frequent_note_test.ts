/**
 * The note for a `--frequent` larger than an epoch's batches (`src/cli/train_options.ts`
 * `frequentNote`): `--limit 6000` at the default 200 printed no Speedometer line and no word why.
 */
import assert from "node:assert/strict";
import { frequentNote } from "../src/cli/train_options.ts";
import { lines, runCli } from "./cli_helpers.ts";
import { gpuTest } from "./gpu_helpers.ts";
import { withDataDir } from "./test_data.ts";

Deno.test("frequentNote() says how many batches an epoch has when --frequent is more", () => {
  assert.equal(
    frequentNote(200, { samples: 6000, batchSize: 100 }),
    "note: an epoch here has 60 batches (6,000 samples in batches of 100), fewer than " +
      "--frequent 200: no Speedometer line will be printed; --frequent 60 or less prints one " +
      "an epoch (--frequent 10: 6 lines an epoch)",
  );
  assert.equal(
    frequentNote(2, { samples: 1, batchSize: 100 }),
    "note: an epoch here has 1 batch (1 sample in batches of 100), fewer than --frequent 2: " +
      "no Speedometer line will be printed; --frequent 1 or less prints one an epoch " +
      "(--frequent 1: 1 line an epoch)",
  );
  // A line every epoch, at the last batch or before: nothing to say.
  assert.equal(frequentNote(60, { samples: 6000, batchSize: 100 }), undefined);
  assert.equal(frequentNote(200, { samples: 60000, batchSize: 100 }), undefined);
});

gpuTest("mnist train says why a small run logs no Speedometer line", async () => {
  await withDataDir(async (dir) => {
    const quiet = await runCli(["train", "--data-dir", dir, "--limit", "300", "--epochs", "1"]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stdout, /Batch \[/);
    assert.equal(
      lines(quiet.stderr)[0],
      "note: an epoch here has 3 batches (300 samples in batches of 100), fewer than " +
        "--frequent 200: no Speedometer line will be printed; --frequent 3 or less prints one " +
        "an epoch (--frequent 1: 3 lines an epoch)",
    );
    const logged = await runCli(
      ["train", "--data-dir", dir, "--limit", "300", "--epochs", "1", "--frequent", "3"],
    );
    assert.equal(logged.code, 0, logged.stderr);
    assert.match(logged.stdout, /Batch \[3\]/);
    assert.doesNotMatch(logged.stderr, /note:/);
  });
});
