/**
 * What `mnist train` does around its save path: one run at a time per checkpoint (a lock the
 * second run is refused on, released however the first ends), the temporary files a killed save
 * left behind, names too long for a suffix, a model directory whose path holds a line break, a
 * disk that fills at the save after validation, and a signal during the last epoch's validation.
 * Real runs on MNIST subsets small enough for a CPU adapter.
 */
import assert from "node:assert/strict";
import { type CliResult, lines, modelDirFor, runCli, trainUntil } from "./cli_helpers.ts";
import { gpu } from "./gpu_helpers.ts";
import { withDataDir } from "./test_data.ts";
import { lockFile, removeStaleTemps, tempPath, writeFileAtomic } from "../src/fs.ts";
import { findDefaultModel, setDefaultModel } from "../src/nn/model_store.ts";
import { UserError } from "../src/errors.ts";

const QUICK = ["--limit", "300", "--epochs", "1", "--frequent", "3"];

/** A test that trains: skipped where there is no WebGPU adapter. */
function trainTest(name: string, fn: () => Promise<void>, ignore = false): void {
  Deno.test({ name, ignore: gpu === null || ignore, sanitizeResources: false, fn });
}

/** A process id over Linux's largest (2^22): no running process has it. */
function deadPid(): number {
  return 4_194_305;
}

trainTest(
  "a second train saving to the same file is refused at once, naming the first run's pid; " +
    "the lock goes when the first is interrupted, and a dead run's lock file is taken over",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      const saved = `${models}/mlp.safetensors`;
      const lock = `${models}/.mlp.safetensors.lock`;
      let second: CliResult | undefined;
      // An epoch of 60,000 batches of one digit: the first run is still training when the
      // second starts, however fast the adapter.
      const first = await trainUntil(
        ["--data-dir", dir, "--batch-size", "1", "--epochs", "2", "--frequent", "5000"],
        {
          env: { MNIST_MODEL_DIR: models },
          when: /Start training/,
          signal: "SIGINT",
          during: async (pid) => {
            second = await runCli(["train", "--data-dir", dir, ...QUICK]);
            assert.equal(await Deno.readTextFile(lock), `${pid}\n`);
          },
        },
      );
      assert.ok(second);
      assert.equal(second.code, 1, second.stderr);
      assert.match(
        lines(second.stderr)[0]!,
        new RegExp(
          `^error: Cannot save to "${saved}": another "mnist train" \\(pid \\d+\\) is saving ` +
            `to it now \\(it holds the lock "${lock}"\\)$`,
        ),
      );
      assert.match(second.stderr, /^hint: Wait for that run to end, or pass --save FILE/m);
      assert.equal(second.stdout, "", "the second run trained");
      assert.equal(first.code, 130, first.stderr);
      await assert.rejects(Deno.lstat(lock), Deno.errors.NotFound);
      // A run killed outright (SIGKILL) leaves its lock file, but not its lock.
      await Deno.writeTextFile(lock, `${deadPid()}\n`);
      const third = await runCli(["train", "--data-dir", dir, ...QUICK]);
      assert.equal(third.code, 0, third.stderr);
      await assert.rejects(Deno.lstat(lock), Deno.errors.NotFound);
    });
  },
);

trainTest(
  "train removes the temporary files a killed save of its checkpoint left, and no others",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      await Deno.mkdir(models, { recursive: true });
      const dead = deadPid();
      // The run holds the lock on mlp.safetensors: no other process is writing these.
      const gone = [
        `mlp.safetensors.${dead}.0123abcd.tmp`,
        `mlp.prev.safetensors.${dead}.tmp`,
        `mlp.safetensors.${Deno.pid}.89abcdef.tmp`,
      ];
      const kept = [
        `lenet.safetensors.${dead}.0123abcd.tmp`, // another file's
        `mlp.safetensors.${dead}.tmp.keep`,
        `mlp.safetensors.${dead}.0123abcd.tmpx`,
      ];
      for (const name of [...gone, ...kept]) await Deno.writeTextFile(`${models}/${name}`, "x");
      const run = await runCli(["train", "--data-dir", dir, ...QUICK]);
      assert.equal(run.code, 0, run.stderr);
      const left = [];
      for await (const entry of Deno.readDir(models)) left.push(entry.name);
      assert.deepEqual(
        left.sort(),
        [...kept, "default", "mlp.safetensors"].sort(),
      );
    });
  },
);

Deno.test("a file whose name is 251 to 255 bytes is written atomically and locked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mnist_long_name_test_" });
  try {
    for (const length of [245, 250, 251, 255]) {
      const path = `${dir}/${"c".repeat(length - 5)}.onnx`;
      await writeFileAtomic(path, "data");
      assert.equal(await Deno.readTextFile(path), "data");
      const lock = await lockFile(path);
      assert.ok(lock && Symbol.dispose in lock, `no lock for ${length}`);
      const again = await lockFile(path);
      assert.ok(again && "heldBy" in again && again.heldBy === Deno.pid);
      lock[Symbol.dispose]();
      // A killed save's temporary file, named for this one: recognised, and removed.
      const temp = tempPath(path).replace(`.${Deno.pid}.`, `.${deadPid()}.`);
      assert.ok(new TextEncoder().encode(temp.slice(dir.length + 1)).length <= 255);
      await Deno.writeTextFile(temp, "x");
      assert.deepEqual(await removeStaleTemps(path), [temp]);
      await Deno.remove(path);
    }
    const left = [];
    for await (const entry of Deno.readDir(dir)) left.push(entry.name);
    assert.deepEqual(left, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "the default model's pointer names a model in a directory whose path holds a line break by " +
    "its file name, and refuses such a path elsewhere",
  async () => {
    const root = await Deno.makeTempDir({ prefix: "mnist_pointer_test_" });
    try {
      const modelDir = `${root}/new\nline`;
      await Deno.mkdir(modelDir);
      const model = `${modelDir}/mlp.safetensors`;
      await Deno.writeTextFile(model, "");
      await setDefaultModel(modelDir, model);
      assert.equal(await Deno.readTextFile(`${modelDir}/default`), "mlp.safetensors\n");
      assert.equal((await findDefaultModel(root, { modelDir }))?.path, model);
      // An absolute path, as every pointer held before, reads as it did.
      await setDefaultModel(root, model.replace("new\nline", "plain"));
      assert.equal(await Deno.readTextFile(`${root}/default`), `${root}/plain/mlp.safetensors\n`);
      await assert.rejects(
        setDefaultModel(root, model),
        (error: unknown) =>
          error instanceof UserError &&
          error.message.includes('/new\\nline/mlp.safetensors" the default model') &&
          error.message.endsWith("holds control characters"),
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
);

trainTest(
  "a model directory whose path holds a line break gets a default that models reads",
  async () => {
    await withDataDir(async (dir) => {
      const models = `${modelDirFor(dir)}/new\nline`;
      const env = { MNIST_MODEL_DIR: models };
      const run = await runCli(["train", "--data-dir", dir, ...QUICK], { env });
      assert.equal(run.code, 0, run.stderr);
      const listed = await runCli(["models", "--data-dir", dir], { env });
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /^\* mlp\.safetensors /m);
      assert.doesNotMatch(listed.stderr, /pointer/);
    });
  },
);

/** Whether this process may mount a tmpfs (root, outside a restricted container). */
const CAN_MOUNT = await (async () => {
  if (Deno.build.os !== "linux") return false;
  const dir = await Deno.makeTempDir({ prefix: "mnist_mount_probe_" });
  try {
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir],
      stdout: "null",
      stderr: "null",
    }).output().catch(() => undefined);
    if (!mount?.success) return false;
    await new Deno.Command("umount", { args: [dir] }).output();
    return true;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
})();

trainTest(
  "a disk that fills at the save after validation: the weights are saved, the accuracy is " +
    "not, and the hint says how much to free and what to run (needs root for a tmpfs)",
  async () => {
    await withDataDir(async (dir) => {
      const models = await Deno.makeTempDir({ prefix: "mnist_full_disk_test_" });
      // Room for one MLP checkpoint (438,712 bytes), not for the copy that replaces it.
      const mount = await new Deno.Command("mount", {
        args: ["-t", "tmpfs", "-o", "size=600k", "tmpfs", models],
      }).output();
      assert.ok(mount.success);
      try {
        const run = await runCli(["train", "--data-dir", dir, ...QUICK], {
          env: { MNIST_MODEL_DIR: models },
        });
        assert.equal(run.code, 1, run.stderr);
        const saved = `${models}/mlp.safetensors`;
        const logged = Number(/Validation-accuracy=(\d\.\d+)/.exec(run.stdout)![1]);
        assert.deepEqual(lines(run.stderr), [
          `error: ${saved} holds the weights of Epoch[0], saved before validation, but not ` +
          `their validation accuracy (${(logged * 100).toFixed(2)}%): rewriting it with the ` +
          "accuracy failed: no space left on " +
          "device (the rewrite needs 428.4 KiB free beside it)",
          `hint: Free 428.4 KiB in ${models}, then "mnist eval --model mlp" measures its ` +
          `accuracy or "mnist models --default mlp" makes it the default model.`,
        ]);
        assert.ok((await Deno.stat(saved)).isFile);
      } finally {
        await new Deno.Command("umount", { args: [models] }).output();
        await Deno.remove(models, { recursive: true });
      }
    });
  },
  !CAN_MOUNT,
);

trainTest(
  "SIGINT during the last epoch's validation says to evaluate the model or make it the default",
  async () => {
    await withDataDir(async (dir) => {
      const models = modelDirFor(dir);
      const saved = `${models}/mlp.safetensors`;
      // 300 digits to train on, 19,700 to validate on: the signal comes while it validates.
      const run = await trainUntil(
        [
          "--data-dir",
          dir,
          "--limit",
          "20000",
          "--validation",
          "holdout:19700",
          "--epochs",
          "1",
          "--frequent",
          "3",
        ],
        {
          env: { MNIST_MODEL_DIR: models },
          when: /Epoch\[0\] Resetting Data Iterator/,
          signal: "SIGINT",
        },
      );
      assert.equal(run.code, 130, run.stderr);
      assert.deepEqual(lines(run.stderr), [
        `error: Interrupted by SIGINT; ${saved} holds 1 of 1 epoch, the log's Epoch[0] ` +
        "(not yet validated)",
        `hint: "mnist eval --model mlp" measures its accuracy; "mnist models --default mlp" ` +
        "makes it the default model.",
      ]);
    });
  },
);
