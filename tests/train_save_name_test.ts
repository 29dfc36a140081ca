import assert from "node:assert/strict";
import { basename } from "node:path";
import { trainCommand } from "../src/cli/train.ts";
import { backupNameBytes, NAME_MAX, previousModelPath } from "../src/data/paths.ts";
import { UserError } from "../src/errors.ts";

/** A checkpoint path in `dir` whose file name is `bytes` bytes long. */
function checkpointNamed(dir: string, bytes: number): string {
  return `${dir}/${"c".repeat(bytes - ".safetensors".length)}.safetensors`;
}

/** `name`'s length in bytes (UTF-8). */
function byteLength(name: string): number {
  return new TextEncoder().encode(name).length;
}

Deno.test("backupNameBytes() counts the longest backup name, .prev-99, in bytes", () => {
  // 251 bytes: .prev makes 256, over NAME_MAX; 247 is the longest whose .prev-99 fits.
  assert.equal(byteLength(basename(previousModelPath(checkpointNamed("/m", 251)))), 256);
  assert.equal(backupNameBytes(checkpointNamed("/m", 251)), 259);
  assert.equal(backupNameBytes(checkpointNamed("/m", 247)), NAME_MAX);
  assert.equal(backupNameBytes("/m/mlp.safetensors"), byteLength("mlp.prev-99.safetensors"));
  // Bytes, not characters: "é" is two.
  assert.equal(backupNameBytes("/m/é.safetensors"), 2 + byteLength(".prev-99.safetensors"));
  // A name without the extension: <name>.prev, moved aside as <name>.prev-99.safetensors.
  assert.equal(backupNameBytes("/m/x.st"), byteLength("x.st.prev-99.safetensors"));
});

Deno.test("train refuses a --save name too long for its backup in one line, writing nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mnist_save_name_test_" });
  try {
    const save = checkpointNamed(dir, 251);
    const error = await trainCommand.run(["--save", save, "--data-dir", dir]).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(error instanceof UserError, String(error));
    assert.equal(
      error.message,
      `Cannot save to "${save}": its name (251 bytes) leaves no room for its backup ` +
        `"${"c".repeat(239)}.prev.safetensors" (up to 259 bytes with a number, over the 255 a ` +
        "file name may take)",
    );
    assert.equal(error.hint, "Pass --save FILE with a name of at most 247 bytes.");
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
