/**
 * `deno task` runs the program from the project root and says where the user typed the command in
 * INIT_CWD: the paths they give resolve there.
 */
import assert from "node:assert/strict";
import { PROJECT_ROOT, runCli } from "./cli_helpers.ts";
import { encodeCheckpoint } from "../src/nn/checkpoint.ts";
import { inferShapes, mlp, sizeOf } from "../src/nn/model.ts";
import { DATASETS } from "../src/data/mirrors.ts";
import { MNIST } from "./test_data.ts";

/** A temporary "user directory" with `sub/`, MNIST linked into `data/`, removed after `fn`. */
async function withUserDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "mnist_user_dir_test_" });
  try {
    await Deno.mkdir(`${dir}/sub`);
    await Deno.mkdir(`${dir}/data`);
    for (const { name } of DATASETS.mnist.files) {
      await Deno.symlink(`${MNIST}/${name}`, `${dir}/data/${name}`);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes an MLP checkpoint with all weights zero to `path`. */
async function writeZeroMlp(path: string) {
  const model = mlp();
  const params = new Map(
    inferShapes(model).flatMap((l) =>
      l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
    ),
  );
  const meta = { model, epoch: 0, dataset: "mnist" as const };
  await Deno.writeFile(path, encodeCheckpoint({ meta, params, momentum: new Map() }));
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("mnist show --png writes where INIT_CWD says, reading a relative --data-dir there", async () => {
  await withUserDir(async (dir) => {
    const run = await runCli(
      ["--data-dir", "../data", "show", "--count", "1", "--png", "one.png"],
      {
        env: { INIT_CWD: `${dir}/sub` },
      },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Wrote one\.png \(1 digit/m);
    assert.ok(await exists(`${dir}/sub/one.png`));
    assert.ok(!await exists(`${PROJECT_ROOT}/one.png`));
  });
});

Deno.test("mnist summary reads --model FILE and writes --svg where INIT_CWD says", async () => {
  await withUserDir(async (dir) => {
    await writeZeroMlp(`${dir}/m.safetensors`);
    const run = await runCli(["summary", "--model", "../m.safetensors", "--svg", "net.svg"], {
      env: { INIT_CWD: `${dir}/sub` },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^Wrote net\.svg$/m);
    assert.ok(await exists(`${dir}/sub/net.svg`));
  });
});

Deno.test("mnist predict reads images and --model FILE, writes --save-input, in INIT_CWD", async () => {
  await withUserDir(async (dir) => {
    const env = { INIT_CWD: `${dir}/sub` };
    await writeZeroMlp(`${dir}/m.safetensors`);
    const show = await runCli(["show", "--data-dir", "../data", "--count", "1", "--png", "a.png"], {
      env,
    });
    assert.equal(show.code, 0, show.stderr);
    const run = await runCli(
      ["predict", "--model", "../m.safetensors", "--save-input", "seen", "a.png"],
      { env },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Classified as \d/);
    assert.deepEqual([...Deno.readDirSync(`${dir}/sub/seen`)].map((e) => e.name), ["a.mnist.png"]);
  });
});
