/**
 * Output paths end to end, through the real CLI: an empty path or a file named for another
 * format is refused before any work, a symlinked model is written through (the link stays), and
 * a FIFO or a device of our own is written in place, never replaced by a regular file.
 */
import assert from "node:assert/strict";
import { modelDirFor, runCli } from "./cli_helpers.ts";
import { MNIST } from "./test_data.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mnist_output_paths_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const TRAIN = [
  "train",
  "--data-dir",
  MNIST,
  "--limit",
  "300",
  "--epochs",
  "1",
  "--frequent",
  "3",
];

Deno.test("an empty output path or one named for another format is refused at once", async () => {
  await withDir(async (dir) => {
    const cases: [string[], string, string][] = [
      [[...TRAIN, "--save", ""], `Cannot write checkpoint "": the path is empty`, "--save"],
      [
        ["show", "--data-dir", MNIST, "--png", ""],
        `Cannot write image "": the path is empty`,
        "--png",
      ],
      [
        ["predict", "--data-dir", MNIST, "--save-input", "", "x.png"],
        `Cannot write to directory "": the path is empty`,
        "--save-input",
      ],
      [
        [...TRAIN, "--save", `${dir}/mlp.onnx`],
        `Cannot write checkpoint "${dir}/mlp.onnx": .onnx is the extension of ONNX files; ` +
        `--save writes safetensors`,
        `Name it "${dir}/mlp.safetensors".`,
      ],
      [
        ["show", "--data-dir", MNIST, "--png", `${dir}/x.jpg`],
        `Cannot write image "${dir}/x.jpg": .jpg is the extension of JPEG files; --png writes PNG`,
        `Name it "${dir}/x.png".`,
      ],
      [
        ["eval", "--data-dir", MNIST, "--errors", "3", "--png", `${dir}/e.svg`],
        `Cannot write image "${dir}/e.svg": .svg is the extension of SVG files; --png writes PNG`,
        `Name it "${dir}/e.png".`,
      ],
      [
        ["summary", "--model", "lenet", "--svg", `${dir}/lenet.png`],
        `Cannot write drawing "${dir}/lenet.png": .png is the extension of PNG files; ` +
        `--svg writes SVG`,
        `Name it "${dir}/lenet.svg".`,
      ],
      [
        ["export", "--onnx", `${dir}/a.safetensors`],
        `Cannot write ONNX model "${dir}/a.safetensors": .safetensors is the extension of ` +
        `safetensors files; --onnx writes ONNX`,
        `Name it "${dir}/a.onnx".`,
      ],
    ];
    for (const [args, message, hint] of cases) {
      const run = await runCli(args);
      const lines = run.stderr.trimEnd().split("\n");
      assert.equal(run.code, 1, `${args.join(" ")}: ${run.stderr}`);
      assert.equal(lines[0], `error: ${message}`);
      assert.match(lines[1]!, new RegExp(`^hint: .*${hint.replace(/[.*"]/g, "\\$&")}`));
      assert.equal(lines.length, 2, run.stderr);
      assert.doesNotMatch(run.stdout, /Epoch/, "refused before training");
    }
    assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing written");
  });
});

Deno.test("an output that lands on the default model's pointer or, through a link, on a checkpoint is refused", async () => {
  await withDir(async (dir) => {
    // The model directory's pointer, and a checkpoint that links named .png and .svg lead to.
    const models = `${dir}/models`;
    await Deno.mkdir(models);
    const pointer = `${models}/default`;
    await Deno.writeTextFile(pointer, `${dir}/ck.safetensors\n`);
    await Deno.writeTextFile(`${dir}/ck.safetensors`, "a checkpoint");
    await Deno.symlink(`${dir}/ck.safetensors`, `${dir}/link.png`);
    await Deno.symlink(`${dir}/ck.safetensors`, `${dir}/link.svg`);
    await Deno.symlink(pointer, `${dir}/pointer.png`);
    await Deno.mkdir(`${dir}/saved`);
    await Deno.symlink(`${dir}/ck.safetensors`, `${dir}/saved/seven.mnist.png`);
    await Deno.writeTextFile(`${dir}/log.txt`, "INFO:root:Epoch[0] Validation-accuracy=0.5\n");
    const isPointer = "the file naming the default model of eval, predict and serve";
    const isLink = (to: string) => `it is a symbolic link to "${dir}/${to}"`;
    const cases: [string[], string][] = [
      [[...TRAIN, "--save", pointer], `Cannot write checkpoint "${pointer}": it is ${isPointer}`],
      [["show", "--data-dir", MNIST, "--png", pointer], `Cannot write image "${pointer}": it is`],
      [
        ["show", "--data-dir", MNIST, "--png", `${dir}/pointer.png`],
        `Cannot write image "${dir}/pointer.png": ${isLink("models/default")}, ${isPointer}`,
      ],
      [
        ["show", "--data-dir", MNIST, "--png", `${dir}/link.png`],
        `Cannot write image "${dir}/link.png": ${isLink("ck.safetensors")}, a safetensors ` +
        "file, and --png writes PNG",
      ],
      [
        ["eval", "--data-dir", MNIST, "--errors", "3", "--png", pointer],
        `Cannot write image "${pointer}": it is ${isPointer}`,
      ],
      [["export", "--onnx", pointer], `Cannot write ONNX model "${pointer}": it is ${isPointer}`],
      [
        ["plot", `${dir}/log.txt`, "--out", `${dir}/link.svg`],
        `Cannot write chart "${dir}/link.svg": ${isLink("ck.safetensors")}, a safetensors ` +
        "file, and --out writes SVG",
      ],
      [
        [
          "predict",
          "--model",
          `${dir}/ck.safetensors`,
          "--save-input",
          `${dir}/saved`,
          "seven.png",
        ],
        `Cannot write input image "${dir}/saved/seven.mnist.png": ${isLink("ck.safetensors")}`,
      ],
    ];
    const runs = await Promise.all(
      cases.map(([args]) => runCli(args, { env: { MNIST_MODEL_DIR: models } })),
    );
    runs.forEach((run, i) => {
      const [args, message] = cases[i]!;
      const lines = run.stderr.trimEnd().split("\n");
      assert.equal(run.code, 1, `${args.join(" ")}: ${run.stderr}`);
      assert.ok(lines[0]!.startsWith(`error: ${message}`), `${args.join(" ")}: ${run.stderr}`);
      assert.match(lines[1]!, /^hint: Give --[a-z-]+ another file name/);
      assert.equal(lines.length, 2, run.stderr);
      assert.doesNotMatch(run.stdout, /Epoch/, "refused before training");
    });
    assert.equal(await Deno.readTextFile(pointer), `${dir}/ck.safetensors\n`);
    assert.equal(await Deno.readTextFile(`${dir}/ck.safetensors`), "a checkpoint");
    assert.deepEqual([...Deno.readDirSync(models)].map((e) => e.name), ["default"]);
  });
});

Deno.test("train --save writes a symlinked model through the link; show --png writes a FIFO", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/store`);
    await Deno.symlink(`${dir}/store/mlp.safetensors`, `${dir}/mlp.safetensors`);
    const train = await runCli([...TRAIN, "--save", `${dir}/mlp.safetensors`]);
    assert.equal(train.code, 0, train.stderr);
    assert.ok((await Deno.lstat(`${dir}/mlp.safetensors`)).isSymlink, "the link stays a link");
    const saved = await Deno.stat(`${dir}/store/mlp.safetensors`);
    assert.ok(saved.isFile && saved.size > 400_000, `the checkpoint is at the link's target`);

    const { success } = await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
    assert.ok(success, "mkfifo");
    // A second name for the FIFO, to release the reader should the run replace the first.
    await Deno.link(`${dir}/fifo`, `${dir}/fifo-kept`);
    const reading = Deno.readFile(`${dir}/fifo`);
    const show = await runCli([
      "show",
      "--data-dir",
      MNIST,
      "--count",
      "2",
      "--png",
      `${dir}/fifo`,
    ]);
    if (!(await Deno.stat(`${dir}/fifo`)).isFifo) {
      await Deno.writeFile(`${dir}/fifo-kept`, new Uint8Array());
      await reading;
      assert.fail("show --png replaced the FIFO with a regular file");
    }
    assert.equal(show.code, 0, show.stderr);
    const png = await reading;
    assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a reader gets the PNG");
  });
});

Deno.test({
  name: "train --save on a null device writes through it and does not make it the default",
  // mknod needs root; the FIFO above covers writing in place without it.
  ignore: Deno.uid() !== 0,
  fn: () =>
    withDir(async (dir) => {
      // Our own null device (1, 3), as /dev/null is, so that no system file is at stake.
      const mknod = ["-m", "666", `${dir}/null`, "c", "1", "3"];
      assert.ok((await new Deno.Command("mknod", { args: mknod }).output()).success, "mknod");
      const train = await runCli([...TRAIN, "--save", `${dir}/null`]);
      assert.equal(train.code, 0, train.stderr);
      assert.doesNotMatch(train.stderr, /Default model is now/);
      assert.doesNotMatch(train.stderr, /models --default/, "nor is it offered as one");
      const pointer = await Deno.readTextFile(`${modelDirFor(MNIST)}/default`).catch(() => "");
      assert.ok(!pointer.includes(`${dir}/null`), "a device is no default model");
      const info = await Deno.stat(`${dir}/null`);
      assert.ok(info.isCharDevice, "still a character device");
      assert.equal(info.size, 0);
    }),
});
