/**
 * End-to-end: `mnist train --metric acc,ce` on real MNIST (a temporary data directory linking to
 * the read-only copy): MXNet v0.9's lines for each metric, the validation cross-entropy against
 * MXNet's definition computed here from the saved weights, `--resume` keeping the metrics, the
 * run's plot drawing both panels, and an unknown metric refused with one line.
 */
import assert from "node:assert/strict";
import { type CliResult, lines, runCli } from "./cli_helpers.ts";
import { gpuTest } from "./gpu_helpers.ts";
import { loadCheckpoint } from "../src/nn/checkpoint.ts";
import { loadSplit, subset } from "../src/data/dataset.ts";
import { referenceMlp } from "./reference_mlp.ts";
import { withDataDir } from "./test_data.ts";

function assertOk(run: CliResult, what: string): void {
  assert.equal(run.code, 0, `${what} exited ${run.code}:\n${run.stderr}`);
}

/** The log's lines that carry a metric, without the speed (it varies from run to run). */
function metricLines(stdout: string): string[] {
  return lines(stdout)
    .filter((line) => /(Train|Validation)-/.test(line))
    .map((line) => line.replace(/\tSpeed: [^\t]+\t/, "\t"));
}

gpuTest(
  "mnist train --metric acc,ce logs both metrics; --resume keeps them; the plot has both",
  async () => {
    await withDataDir(async (dir) => {
      const save = `${dir}/ce.safetensors`;
      const common = ["train", "--data-dir", dir, "--limit", "1000", "--frequent", "5"];
      const first = await runCli([
        ...common,
        "--epochs",
        "1",
        "--metric",
        "acc,ce",
        "--save",
        save,
        "--plot",
        `${dir}/ce.svg`,
      ]);
      assertOk(first, "train --metric acc,ce");
      // 1000 samples in batches of 100: lines at batches 5 and 10, one per metric, MXNet's order.
      const shape = (line: string) => line.replace(/=\d+\.\d{6}$/, "=X");
      assert.deepEqual(metricLines(first.stdout).map(shape), [
        "INFO:root:Epoch[0] Batch [5]\tTrain-accuracy=X",
        "INFO:root:Epoch[0] Batch [5]\tTrain-cross-entropy=X",
        "INFO:root:Epoch[0] Batch [10]\tTrain-accuracy=X",
        "INFO:root:Epoch[0] Batch [10]\tTrain-cross-entropy=X",
        "INFO:root:Epoch[0] Validation-accuracy=X",
        "INFO:root:Epoch[0] Validation-cross-entropy=X",
      ]);
      // Both lines of a Speedometer interval share its speed.
      const speeds = lines(first.stdout).flatMap((l) => /Speed: (\S+)/.exec(l)?.[1] ?? []);
      assert.equal(speeds.length, 4);
      assert.equal(speeds[0], speeds[1]);
      assert.equal(speeds[2], speeds[3]);
      // Cross-entropy falls while it trains, from about ln 10 at the start.
      const values = metricLines(first.stdout).map((l) => Number(/=(\S+)$/.exec(l)![1]));
      const [, ce5, , ce10, , validationCe] = values;
      assert.ok(ce5! > ce10! && ce10! > 0 && ce5! < 2.4, `train cross-entropy ${ce5}, ${ce10}`);

      // The validation cross-entropy is MXNet's, from the saved weights on the 1000 test digits.
      const checkpoint = await loadCheckpoint(save);
      assert.deepEqual(checkpoint.meta.training?.metrics, ["accuracy", "cross-entropy"]);
      const test = subset(await loadSplit(dir, { dataset: "mnist", split: "test" }), 1000);
      const want = referenceMlp(checkpoint.params, test).crossEntropy;
      assert.ok(
        Math.abs(validationCe! - want) <= 2e-6 + 1e-5 * want,
        `logged Validation-cross-entropy=${validationCe}, reference ${want}`,
      );

      // The run's plot has an accuracy and a cross-entropy panel, train and validation each.
      const svg = await Deno.readTextFile(`${dir}/ce.svg`);
      for (const text of ["accuracy", "cross-entropy"]) {
        assert.ok(svg.includes(`>${text}</text>`), `the plot has the text "${text}"`);
      }
      const curves = [...svg.matchAll(/aria-roledescription="line mark"/g)].length;
      assert.equal(curves, 4, "train and validation curves of both metrics");

      // --resume keeps --metric; --metric acc there goes back to accuracy alone.
      const resumed = await runCli(["train", "--data-dir", dir, "--epochs", "2", "--resume", save]);
      assertOk(resumed, "the resumed run");
      assert.deepEqual(metricLines(resumed.stdout).map(shape).slice(-2), [
        "INFO:root:Epoch[1] Validation-accuracy=X",
        "INFO:root:Epoch[1] Validation-cross-entropy=X",
      ]);
      assert.equal(metricLines(resumed.stdout).length, 6);
      const accOnly = await runCli([
        ...common,
        "--epochs",
        "3",
        "--resume",
        save,
        "--metric",
        "acc",
      ]);
      assertOk(accOnly, "the resumed run with --metric acc");
      assert.deepEqual(metricLines(accOnly.stdout).map(shape), [
        "INFO:root:Epoch[2] Batch [5]\tTrain-accuracy=X",
        "INFO:root:Epoch[2] Batch [10]\tTrain-accuracy=X",
        "INFO:root:Epoch[2] Validation-accuracy=X",
      ]);
      assert.equal((await loadCheckpoint(save)).meta.training?.metrics, undefined);
    });
  },
);

Deno.test("mnist train --metric with an unknown name fails with one line, before any work", async () => {
  const run = await runCli(["train", "--metric", "acc,f1", "--data-dir", "/nonexistent"]);
  assert.equal(run.code, 1, run.stderr);
  assert.equal(run.stdout, "");
  assert.deepEqual(lines(run.stderr), [
    'error: Unknown metric "f1" in --metric acc,f1',
    "hint: Choose from acc (accuracy) and ce (cross-entropy), e.g. --metric acc,ce.",
  ]);
});
