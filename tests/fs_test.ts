import assert from "node:assert/strict";
import { UserError } from "../src/errors.ts";
import { checkWritable, formatBytes, readCapped, writeFileAtomic } from "../src/fs.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mnist_fs_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts that `promise` rejects with a one-line UserError equal to `message`. */
async function rejectsWith(promise: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof UserError, `a UserError: ${e}`);
    assert.equal(e.message, message);
    return true;
  });
}

Deno.test("writeFileAtomic() names the path and reason in one line and leaves no temp file", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "x");
    // A path under a file, and a path that is a directory.
    await rejectsWith(
      writeFileAtomic(`${dir}/file/out.png`, "data", { what: "image" }),
      `Cannot write image "${dir}/file/out.png": "${dir}/file" is not a directory`,
    );
    await Deno.mkdir(`${dir}/sub`);
    await assert.rejects(writeFileAtomic(`${dir}/sub`, "data"), /^UserError: Cannot write file/);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["file", "sub"], "no .tmp left behind");
    assert.deepEqual([...Deno.readDirSync(`${dir}/sub`)], []);
    // The good case still writes, creating the directory.
    await writeFileAtomic(`${dir}/new/a.txt`, "hello");
    assert.equal(await Deno.readTextFile(`${dir}/new/a.txt`), "hello");
  });
});

Deno.test("checkWritable() refuses a directory, a path under a file and a file as a directory", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "x");
    await rejectsWith(
      checkWritable(dir, { what: "checkpoint" }),
      `Cannot write checkpoint "${dir}": it is a directory`,
    );
    await rejectsWith(
      checkWritable(`${dir}/file/deeper/m.st`, { what: "checkpoint" }),
      `Cannot write checkpoint "${dir}/file/deeper/m.st": "${dir}/file" is not a directory`,
    );
    await rejectsWith(
      checkWritable(`${dir}/file`, { directory: true }),
      `Cannot write to directory "${dir}/file": it is not a directory`,
    );
    // Writable paths pass and leave nothing behind but the directories they needed.
    await checkWritable(`${dir}/a/b/m.st`);
    await checkWritable(`${dir}/out`, { directory: true });
    assert.deepEqual([...Deno.readDirSync(`${dir}/a/b`)], []);
    assert.deepEqual([...Deno.readDirSync(`${dir}/out`)], []);
  });
});

Deno.test("readCapped() reads up to the cap and refuses a longer file or a non-file", async () => {
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/ten`, new Uint8Array(10).fill(7));
    const opts = { maxBytes: 10, what: "image" };
    assert.deepEqual(await readCapped(`${dir}/ten`, opts), new Uint8Array(10).fill(7));
    await rejectsWith(
      readCapped(`${dir}/ten`, { ...opts, maxBytes: 9 }),
      `Cannot read image "${dir}/ten": it is 10 B, more than the 9 B limit for image files`,
    );
    await rejectsWith(readCapped(dir, opts), `Cannot read image "${dir}": it is a directory`);
    await rejectsWith(
      readCapped(`${dir}/none`, opts),
      `Cannot read image "${dir}/none": no such file or directory`,
    );
    await rejectsWith(
      readCapped("/dev/zero", opts),
      `Cannot read image "/dev/zero": it is not a regular file (a device, FIFO or socket)`,
    );
  });
});

Deno.test("formatBytes() prints B, KiB, MiB and GiB", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(2048), "2 KiB");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(64 * 2 ** 20), "64 MiB");
  assert.equal(formatBytes(3 * 2 ** 30), "3 GiB");
});
