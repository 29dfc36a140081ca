import assert from "node:assert/strict";
import { finish } from "../src/cli/train_outcome.ts";
import { encodeCheckpoint } from "../src/nn/checkpoint.ts";
import { inferShapes, mlp, sizeOf } from "../src/nn/model.ts";
import { savedLine } from "../src/train/speedometer.ts";

/** An MLP checkpoint with zero weights, scored `accuracy` on 100 test digits. */
function checkpointBytes(accuracy: number): Uint8Array {
  const model = mlp();
  const params = new Map(
    inferShapes(model).flatMap((l) =>
      l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
    ),
  );
  return encodeCheckpoint({
    meta: {
      model,
      epoch: 0,
      dataset: "mnist",
      accuracy,
      training: { testSamples: 100, trainSamples: 600 },
    },
    params,
    momentum: new Map(),
  });
}

/**
 * What `finish` prints on stderr after a one-epoch run saved to `save` (90% on 100 test digits,
 * every class predicted alike).
 */
async function finishLines(
  { save, modelDir, dataDir }: { save: string; modelDir: string; dataDir: string },
): Promise<string[]> {
  const lines: string[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    await finish(
      [{
        epoch: 0,
        timeCost: 1,
        samplesPerSec: 600,
        validationAccuracy: 0.9,
        predictedCounts: [10, 10, 10, 10, 10, 10, 10, 10, 10, 10],
      }],
      {
        save,
        modelDir,
        dataDir,
        lr: 0.1,
        validationSamples: 100,
        validation: "test",
        dataset: "mnist",
      },
    );
  } finally {
    console.error = error;
  }
  return lines;
}

Deno.test("savedLine() keeps a path with a line break or an escape on one line", () => {
  assert.equal(
    savedLine("/tmp/a\nb\x1b[2J.safetensors"),
    'INFO:root:Saved checkpoint to "/tmp/a\\nb\\x1b[2J.safetensors"',
  );
  assert.equal(savedLine("mlp.safetensors"), 'INFO:root:Saved checkpoint to "mlp.safetensors"');
});

Deno.test("finish() prints a --save path holding a line break on one line, escaped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mnist_printable_test_" });
  const lines: string[] = [];
  try {
    const modelDir = `${dir}/models`;
    await Deno.mkdir(modelDir);
    const current = `${modelDir}/mlp.safetensors`;
    await Deno.writeFile(current, checkpointBytes(0.95));
    await Deno.writeTextFile(`${modelDir}/default`, `${current}\n`);
    await Deno.mkdir(`${dir}/odd\nname`);
    const save = `${dir}/odd\nname/run.safetensors`;
    await Deno.writeFile(save, checkpointBytes(0.9));
    lines.push(...await finishLines({ save, modelDir, dataDir: dir }));
    // No "make this run the default with" a path the pointer cannot hold.
    assert.equal(lines.length, 2, lines.join("\n"));
    assert.match(lines[0]!, /^note: .*\/odd\\nname\/run\.safetensors cannot be the default model/);
    assert.equal(lines[1], `Default model unchanged: "${current}".`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("finish() leaves no default for a --save path the pointer cannot hold, with a note, and does not fail", async () => {
  // It ended a finished run with "error: Cannot make ... the default model" (exit 1).
  const dir = await Deno.makeTempDir({ prefix: "mnist_printable_test_" });
  const lines: string[] = [];
  try {
    const modelDir = `${dir}/models`;
    await Deno.mkdir(modelDir);
    await Deno.mkdir(`${dir}/odd\nname`);
    const save = `${dir}/odd\nname/run.safetensors`;
    await Deno.writeFile(save, checkpointBytes(0.9));
    lines.push(...await finishLines({ save, modelDir, dataDir: dir }));
    assert.match(
      lines[0]!,
      /^note: .*\/odd\\nname\/run\.safetensors cannot be the default model: its path holds control/,
    );
    assert.equal(lines.length, 2, lines.join("\n"));
    await assert.rejects(Deno.stat(`${modelDir}/default`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
