/**
 * What each part of a training was on, as `mnist models` lists it: read with the rest of a
 * checkpoint's header by `readCheckpointInfo` (one read of each file), for a training resumed on
 * another dataset only. Checkpoints here are built in memory (zero weights): no GPU.
 */
import assert from "node:assert/strict";
import { runCli } from "./cli_helpers.ts";
import { encodeCheckpoint } from "../src/nn/checkpoint.ts";
import { readCheckpointInfo } from "../src/nn/model_store.ts";
import { inferShapes, mlp, sizeOf } from "../src/nn/model.ts";

/** A zero-weight MLP checkpoint after `epoch + 1` epochs, the last on `dataset`. */
function checkpointBytes(
  { epoch, dataset, datasets }: { epoch: number; dataset: string; datasets?: unknown },
): Uint8Array {
  const model = mlp();
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
      training: datasets === undefined ? undefined : { datasets },
    },
    params,
    momentum: new Map(),
  });
}

const PARTS = [{ dataset: "mnist", epochs: 1 }, { dataset: "fashion", epochs: 2 }];

Deno.test("readCheckpointInfo() names the datasets of a training resumed on another, and only then", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mnist_model_parts_test_" });
  try {
    const write = async (name: string, options: Parameters<typeof checkpointBytes>[0]) => {
      await Deno.writeFile(`${dir}/${name}`, checkpointBytes(options));
      return await readCheckpointInfo(`${dir}/${name}`);
    };
    const resumed = await write("resumed.safetensors", {
      epoch: 2,
      dataset: "fashion",
      datasets: PARTS,
    });
    assert.equal(resumed.problem, undefined);
    assert.deepEqual(resumed.datasets, PARTS);
    // One dataset: its `dataset` and `epochs` say it all.
    const plain = await write("one.safetensors", { epoch: 2, dataset: "fashion" });
    assert.equal("datasets" in plain, false);
    // A record that does not add up to the epochs is not believed.
    const off = await write("off.safetensors", { epoch: 1, dataset: "fashion", datasets: PARTS });
    assert.equal("datasets" in off, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mnist models lists each dataset of a training resumed on another", async () => {
  const root = await Deno.makeTempDir({ prefix: "mnist_model_parts_test_" });
  try {
    const modelDir = `${root}/models`;
    const dataDir = `${root}/data`;
    await Deno.mkdir(modelDir);
    await Deno.mkdir(dataDir);
    await Deno.writeFile(
      `${modelDir}/resumed.safetensors`,
      checkpointBytes({ epoch: 2, dataset: "fashion", datasets: PARTS }),
    );
    await Deno.writeFile(
      `${modelDir}/one.safetensors`,
      checkpointBytes({ epoch: 2, dataset: "fashion" }),
    );
    const env = { MNIST_MODEL_DIR: modelDir };
    const json = await runCli(["models", "--data-dir", dataDir, "--json"], { env });
    assert.equal(json.code, 0, json.stderr);
    const byFile = Object.fromEntries(
      JSON.parse(json.stdout).models.map((m: { file: string }) => [m.file, m]),
    );
    assert.deepEqual(byFile["resumed.safetensors"].datasets, PARTS);
    assert.equal("datasets" in byFile["one.safetensors"], false);
    const text = await runCli(["models", "--data-dir", dataDir], { env });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /resumed\.safetensors .*mnist\+fashion/);
    assert.doesNotMatch(text.stdout, /one\.safetensors .*mnist\+fashion/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
