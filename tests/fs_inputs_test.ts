/**
 * src/fs.ts on paths a command reads: `exists()` on paths that cannot name a file, and
 * `checkNotInput()`, which refuses an output that is one of the run's inputs.
 */
import assert from "node:assert/strict";
import { UserError } from "../src/errors.ts";
import { checkNotInput, exists } from "../src/fs.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mnist_fs_inputs_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("exists() is false for a path through a file or with a name too long", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/m.safetensors`, "x");
    assert.equal(await exists(`${dir}/m.safetensors`), true);
    assert.equal(await exists(`${dir}/none`), false);
    assert.equal(await exists(`${dir}/m.safetensors/x`), false);
    assert.equal(await exists(`${dir}/${"a".repeat(300)}`), false);
  });
});

Deno.test("checkNotInput() refuses an output that is an input, by any path", async () => {
  await withDir(async (dir) => {
    const model = `${dir}/m.safetensors`;
    await Deno.writeTextFile(model, "weights");
    await Deno.symlink(model, `${dir}/link.safetensors`);
    await Deno.link(model, `${dir}/hard.safetensors`);
    const inputs = [{ path: "-", what: "image" }, { path: model, what: "model" }];
    const options = { what: "ONNX model", option: "--onnx" };
    for (const output of [model, `${dir}/link.safetensors`, `${dir}/hard.safetensors`]) {
      await assert.rejects(
        () => checkNotInput(output, inputs, options),
        (error: unknown) => {
          assert.ok(error instanceof UserError);
          const as = output === model ? "" : ` "${model}"`;
          assert.equal(
            error.message,
            `Cannot write ONNX model "${output}": it is the model${as} this command reads`,
          );
          assert.equal(
            error.hint,
            "Give --onnx another file, so that the model is not overwritten.",
          );
          return true;
        },
      );
    }
    await Deno.mkdir(`${dir}/sub`);
    await assert.rejects(
      () => checkNotInput(`${dir}/sub/../m.safetensors`, inputs, { ...options, directory: true }),
      (error: unknown) => error instanceof UserError && /another directory/.test(error.hint!),
    );
    // A file that does not exist yet, or another file, is no input; nor is a missing input.
    await checkNotInput(`${dir}/out.onnx`, inputs, options);
    await Deno.writeTextFile(`${dir}/other.onnx`, "old");
    await checkNotInput(`${dir}/other.onnx`, inputs, options);
    await checkNotInput(model, [{ path: `${dir}/gone`, what: "model" }], options);
    assert.equal(await Deno.readTextFile(model), "weights");
  });
});
