import assert from "node:assert/strict";
import { UserError } from "../src/errors.ts";
import {
  checkWritable,
  fileInTheWay,
  formatBytes,
  type OutputFormat,
  readCapped,
  writeFileAtomic,
} from "../src/fs.ts";

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

Deno.test("fileInTheWay() names the file that a path runs through, or none", async () => {
  // One function for writeFileAtomic, checkWritable and the downloader's messages.
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "x");
    assert.equal(await fileInTheWay(`${dir}/file/a/b`), `${dir}/file`);
    assert.equal(await fileInTheWay(`${dir}/file`), `${dir}/file`);
    assert.equal(await fileInTheWay(`${dir}/missing/a`), undefined);
    assert.equal(await fileInTheWay(dir), undefined);
  });
});

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

/** Runs `program args`, returning false when it cannot (no mknod privilege, no such program). */
async function tryRun(program: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(program, { args, stderr: "null" }).output();
    return success;
  } catch {
    return false;
  }
}

/** Runs `program args` and fails the test when it does not succeed. */
async function mustRun(program: string, args: string[]): Promise<void> {
  assert.ok(await tryRun(program, args), `${program} ${args.join(" ")}`);
}

/** Whether this test runs as root, which `mknod` needs to make devices of our own. */
const ROOT = Deno.uid() === 0;

Deno.test("writeFileAtomic() writes through a symlink, which stays a link", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/store`);
    await Deno.writeTextFile(`${dir}/store/mlp.safetensors`, "old");
    await Deno.chmod(`${dir}/store/mlp.safetensors`, 0o600);
    // A relative link, through a second link, from another directory.
    await Deno.mkdir(`${dir}/models`);
    await Deno.symlink("../store/mlp.safetensors", `${dir}/models/inner`);
    await Deno.symlink("inner", `${dir}/models/mlp.safetensors`);
    await writeFileAtomic(`${dir}/models/mlp.safetensors`, "new");
    assert.ok((await Deno.lstat(`${dir}/models/mlp.safetensors`)).isSymlink, "still a link");
    assert.ok((await Deno.lstat(`${dir}/models/inner`)).isSymlink, "still a link");
    assert.equal(await Deno.readTextFile(`${dir}/store/mlp.safetensors`), "new");
    assert.equal((await Deno.stat(`${dir}/store/mlp.safetensors`)).mode! & 0o777, 0o600);
    assert.deepEqual([...Deno.readDirSync(`${dir}/store`)].map((e) => e.name), [
      "mlp.safetensors",
    ]);
    // A dangling link: its target is created, in a directory made for it.
    await Deno.symlink("later/x.png", `${dir}/dangling.png`);
    await writeFileAtomic(`${dir}/dangling.png`, "png");
    assert.ok((await Deno.lstat(`${dir}/dangling.png`)).isSymlink);
    assert.equal(await Deno.readTextFile(`${dir}/later/x.png`), "png");
    // A loop is one line, not a hang.
    await Deno.symlink("loop-b", `${dir}/loop-a`);
    await Deno.symlink("loop-a", `${dir}/loop-b`);
    await rejectsWith(
      writeFileAtomic(`${dir}/loop-a`, "x"),
      `Cannot write file "${dir}/loop-a": too many levels of symbolic links`,
    );
  });
});

Deno.test("writeFileAtomic() writes a FIFO and a character device in place, never over them", async () => {
  await withDir(async (dir) => {
    await mustRun("mkfifo", [`${dir}/fifo`]);
    await Deno.symlink("fifo", `${dir}/fifo-link`);
    // A second name for the FIFO, to release the reader should a write replace the first.
    await Deno.link(`${dir}/fifo`, `${dir}/fifo-kept`);
    for (const path of [`${dir}/fifo`, `${dir}/fifo-link`]) {
      const reading = Deno.readTextFile(path);
      await writeFileAtomic(path, "hello");
      if (!(await Deno.stat(`${dir}/fifo`)).isFifo) {
        await Deno.writeTextFile(`${dir}/fifo-kept`, "");
        await reading;
        assert.fail(`writing ${path} replaced the FIFO`);
      }
      assert.equal(await reading, "hello", `a reader of ${path} gets the data`);
    }
    assert.ok((await Deno.lstat(`${dir}/fifo-link`)).isSymlink, "still a link");
    if (!ROOT) return; // mknod needs root; the FIFO covered the in-place write
    // Our own null device (1, 3), as /dev/null is, so that no system file is at stake.
    await mustRun("mknod", ["-m", "666", `${dir}/null`, "c", "1", "3"]);
    await writeFileAtomic(`${dir}/null`, new Uint8Array(438_744));
    await checkWritable(`${dir}/null`, { what: "checkpoint" });
    const info = await Deno.stat(`${dir}/null`);
    assert.ok(info.isCharDevice, "still a character device");
    assert.equal(info.size, 0);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "fifo",
      "fifo-kept",
      "fifo-link",
      "null",
    ]);
  });
});

Deno.test("checkWritable() and writeFileAtomic() refuse an empty path, a block device, a socket", async () => {
  await rejectsWith(
    checkWritable("", { what: "checkpoint" }),
    `Cannot write checkpoint "": the path is empty`,
  );
  await rejectsWith(
    checkWritable("", { directory: true }),
    `Cannot write to directory "": the path is empty`,
  );
  await rejectsWith(
    writeFileAtomic("", "x", { what: "image" }),
    `Cannot write image "": the path is empty`,
  );
  await assert.rejects(checkWritable("", { option: "--save" }), (e: UserError) => {
    assert.equal(e.hint, "Give --save a file name.");
    return true;
  });
  await withDir(async (dir) => {
    const listener = Deno.listen({ transport: "unix", path: `${dir}/socket` });
    try {
      await rejectsWith(
        checkWritable(`${dir}/socket`),
        `Cannot write file "${dir}/socket": it is a socket`,
      );
      await rejectsWith(
        writeFileAtomic(`${dir}/socket`, "x"),
        `Cannot write file "${dir}/socket": it is a socket`,
      );
    } finally {
      listener.close();
    }
    if (!ROOT) return;
    // A loop device's node of our own; refused from its stat, never opened.
    await mustRun("mknod", [`${dir}/disk`, "b", "7", "0"]);
    const disk = `Cannot write file "${dir}/disk": it is a block device (a disk)`;
    await rejectsWith(checkWritable(`${dir}/disk`), disk);
    await rejectsWith(writeFileAtomic(`${dir}/disk`, "x"), disk);
    assert.ok((await Deno.stat(`${dir}/disk`)).isBlockDevice);
  });
});

Deno.test("checkWritable() refuses an extension that names another format", async () => {
  await withDir(async (dir) => {
    const cases: [string, OutputFormat, string, string, string][] = [
      ["x.jpg", "PNG", "--png", ".jpg is the extension of JPEG files; --png writes PNG", "x.png"],
      [
        "a.svgz",
        "SVG",
        "--svg",
        ".svgz is the extension of gzip-compressed SVG files; --svg writes SVG",
        "a.svg",
      ],
      [
        "lenet.png",
        "SVG",
        "--svg",
        ".png is the extension of PNG files; --svg writes SVG",
        "lenet.svg",
      ],
      [
        "a.dot",
        "SVG",
        "--svg",
        ".dot is the extension of Graphviz DOT files; --svg writes SVG",
        "a.svg",
      ],
      [
        "a.safetensors",
        "ONNX",
        "--onnx",
        ".safetensors is the extension of safetensors files; --onnx writes ONNX",
        "a.onnx",
      ],
      [
        "m.ONNX",
        "safetensors",
        "--save",
        ".onnx is the extension of ONNX files; --save writes safetensors",
        "m.safetensors",
      ],
    ];
    for (const [name, format, option, reason, fixed] of cases) {
      await assert.rejects(
        checkWritable(`${dir}/${name}`, { what: "output", format, option }),
        (e: unknown) => {
          assert.ok(e instanceof UserError);
          assert.equal(e.message, `Cannot write output "${dir}/${name}": ${reason}`);
          assert.equal(e.hint, `Name it "${dir}/${fixed}".`);
          return true;
        },
      );
    }
    // The right extension in any case, none, or one that names no format: accepted.
    for (const name of ["x.png", "X.PNG", "x", "mlp.v2"]) {
      await checkWritable(`${dir}/${name}`, { format: "PNG" });
    }
    await checkWritable(`${dir}/run.1.safetensors`, { format: "safetensors" });
    assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing left behind");
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

Deno.test("writeFileAtomic() refuses this program's own standard output and error", async () => {
  for (const [path, stream] of [["/dev/stdout", "output"], ["/dev/fd/2", "error"]]) {
    await assert.rejects(
      writeFileAtomic(path!, "x", { what: "image" }),
      new RegExp(
        `^UserError: Cannot write image "${path}": it is this program's standard ${stream}`,
      ),
    );
  }
});
