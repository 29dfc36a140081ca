import assert from "node:assert/strict";
import { runCli } from "./cli_helpers.ts";
import { gridImage, gridSize, MAX_SCALE, renderImages } from "../src/cli/show.ts";
import { loadSplit, type Split } from "../src/data/dataset.ts";
import { FASHION, HAVE_FASHION, MNIST } from "./test_data.ts";

const GOLDEN = new URL("./golden/show_train_10.txt", import.meta.url);

/** A temporary directory, removed after `fn`. */
async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "mnist_show_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Reads a grey PNG as written by `encodePng`: size from IHDR, pixels from the single IDAT. */
async function readGreyPng(bytes: Uint8Array) {
  assert.deepEqual(Array.from(bytes.subarray(0, 8)), [137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(new TextDecoder().decode(bytes.subarray(12, 16)), "IHDR");
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  assert.deepEqual([bytes[24], bytes[25]], [8, 0], "8-bit greyscale");
  const idatLength = view.getUint32(33);
  assert.equal(new TextDecoder().decode(bytes.subarray(37, 41)), "IDAT");
  const idat = bytes.slice(41, 41 + idatLength);
  const raw = new Uint8Array(
    await new Response(new Blob([idat]).stream().pipeThrough(new DecompressionStream("deflate")))
      .arrayBuffer(),
  );
  assert.equal(raw.length, (width + 1) * height);
  const pixel = (x: number, y: number) => raw[y * (width + 1) + 1 + x]!;
  return { width, height, pixel };
}

Deno.test("mnist show draws the first ten training digits (golden)", async () => {
  const { code, stdout, stderr } = await runCli(["show", "--data-dir", MNIST]);
  assert.equal(stderr, "");
  assert.equal(code, 0);
  const lines = stdout.trimEnd().split("\n");
  assert.equal(lines.at(-1), "label: [5 0 4 1 9 2 1 3 1 4]");
  // Not a TTY: a fixed 80 columns, two 28-column digits per line.
  assert.ok(lines.every((line) => line.length <= 80), "lines fit 80 columns");
  assert.equal(stdout, await Deno.readTextFile(GOLDEN));
});

Deno.test("mnist show --split test --count 3 prints the test labels", async () => {
  const { code, stdout } = await runCli([
    "show",
    "--data-dir",
    MNIST,
    "--split",
    "test",
    "--count",
    "3",
  ]);
  assert.equal(code, 0);
  assert.equal(stdout.trimEnd().split("\n").at(-1), "label: [7 2 1]");
  // Two digits on the first image line, one on the second: 14 + 1 + 14 text rows.
  assert.equal(stdout.trimEnd().split("\n").length, 14 + 1 + 14 + 1);
});

Deno.test("mnist show --png writes the digits as a grid PNG", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/sub/grid.png`;
    const { code, stdout, stderr } = await runCli([
      "show",
      "--data-dir",
      MNIST,
      "--split",
      "test",
      "--count",
      "12",
      "--png",
      path,
    ]);
    assert.equal(stderr, "");
    assert.equal(code, 0);
    // 10 digits across, 2 rows: 28-pixel tiles with a 2-pixel border around and between them.
    const [wrote, label] = stdout.trimEnd().split("\n");
    assert.equal(wrote, `Wrote ${path} (12 digits, 302x62 px)`);
    assert.equal(label, "label: [7 2 1 0 4 1 4 9 5 9 0 6]");
    const png = await readGreyPng(await Deno.readFile(path));
    assert.deepEqual([png.width, png.height], [302, 62]);
    // Tile 11 (row 1, column 1) holds test image 11, pixel for pixel.
    const test = await loadSplit(MNIST, "mnist", "test");
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        assert.equal(png.pixel(32 + x, 32 + y), test.images[11 * 784 + y * 28 + x], `(${x}, ${y})`);
      }
    }
    assert.deepEqual((await Array.fromAsync(Deno.readDir(`${dir}/sub`))).map((e) => e.name), [
      "grid.png",
    ]);
  });
});

Deno.test({
  name: "mnist show --dataset fashion prints the class names",
  ignore: !HAVE_FASHION, // Debian's dataset-fashion-mnist is not installed
  async fn() {
    await withTempDir(async (dir) => {
      await Deno.mkdir(`${dir}/fashion`);
      for await (const entry of Deno.readDir(FASHION)) {
        await Deno.symlink(`${FASHION}/${entry.name}`, `${dir}/fashion/${entry.name}`);
      }
      const { code, stdout } = await runCli([
        "show",
        "--data-dir",
        dir,
        "--dataset",
        "fashion",
        "--count",
        "4",
      ]);
      assert.equal(code, 0);
      assert.deepEqual(stdout.trimEnd().split("\n").slice(-2), [
        "label: [9 0 0 3]",
        "names: [Ankle boot, T-shirt/top, T-shirt/top, Dress]",
      ]);
    });
  },
});

for (
  const [args, message] of [
    [["--count", "0"], "error: --count must be between 1 and 1000, got 0"],
    [["--count", "1001"], "error: --count must be between 1 and 1000, got 1001"],
    [["--split", "bogus"], 'error: --split must be one of train, test, got "bogus"'],
    [["--first", "-1"], "error: --first must be >= 0, got -1"],
    [
      ["--scale", "0", "--png", "x.png"],
      `error: --scale must be between 1 and ${MAX_SCALE}, got 0`,
    ],
    [
      ["--scale", "17", "--png", "x.png"],
      `error: --scale must be between 1 and ${MAX_SCALE}, got 17`,
    ],
    [
      ["--scale", "2"],
      "error: --scale needs --png FILE: it sets the size of the PNG's pixels",
    ],
    [
      ["--count", "1000", "--scale", "16", "--png", "x.png"],
      "error: --scale 16 would make a 4832×48032 PNG of 1000 images (232.1 megapixels), over the " +
      "16-megapixel limit\nhint: Use --scale 4 or less for 1000 images, or fewer images.",
    ],
    [
      ["--split", "test", "--first", "10000"],
      "error: --first 10000 is past the end: the test split has 10000 images\n" +
      "hint: Pass --first 0..9999.",
    ],
  ] as [string[], string][]
) {
  Deno.test(`mnist show ${args.join(" ")} fails with one line`, async () => {
    const { code, stdout, stderr } = await runCli(["show", "--data-dir", MNIST, ...args]);
    assert.equal(code, 1);
    assert.equal(stdout, "");
    assert.equal(stderr, `${message}\n`);
  });
}

/** A split of 1×… images from the given pixel rows (each image `rows` × `cols`). */
function tinySplit(images: number[][], rows: number, cols: number): Split {
  return {
    images: Uint8Array.from(images.flat()),
    labels: new Uint8Array(images.length),
    count: images.length,
    rows,
    cols,
  };
}

Deno.test("renderImages() shades each pixel pair by its mean intensity", () => {
  // One 4x5 image: the mean of rows 0+1 and of rows 2+3 picks each character from " ░▒▓█",
  // one shade per fifth of 0..255; trailing blanks are trimmed.
  const split = tinySplit(
    [[
      ...[0, 255, 80, 255, 180],
      ...[0, 255, 80, 0, 180],
      ...[128, 230, 40, 0, 0],
      ...[128, 230, 40, 0, 0],
    ]],
    4,
    5,
  );
  assert.equal(renderImages(split, { width: 80 }), " █░▒▓\n▒█");
});

Deno.test("renderImages() wraps images to the width, with a blank line between rows", () => {
  const ink = Array(4).fill(255);
  const split = tinySplit([ink, ink, ink], 2, 2);
  // 2 + 2 + 2 = 6 columns fit two 2-column images with their gap; 5 only one.
  assert.equal(renderImages(split, { width: 6 }), "██  ██\n\n██");
  assert.equal(renderImages(split, { width: 5 }), "██\n\n██\n\n██");
  assert.equal(renderImages(split, { width: 1 }), "██\n\n██\n\n██");
});

Deno.test("renderImages() in colour draws half blocks in grey levels", () => {
  const split = tinySplit([[0, 255, 255, 0, 128, 128]], 3, 2); // odd rows: last bottom is blank
  const text = renderImages(split, { width: 80, color: true });
  assert.equal(
    text,
    "\x1b[38;5;16;48;5;231m▀\x1b[38;5;231;48;5;16m▀\x1b[0m\n" +
      "\x1b[38;5;244;48;5;16m▀▀\x1b[0m",
  );
});

Deno.test("gridImage() lays images out ten across with a grey border", () => {
  const split = tinySplit(Array.from({ length: 11 }, (_, i) => [i, i, i, i]), 2, 2);
  const grid = gridImage(split);
  assert.deepEqual([grid.width, grid.height], [10 * 4 + 2, 2 * 4 + 2]);
  const at = (x: number, y: number) => grid.pixels[y * grid.width + x];
  assert.equal(at(0, 0), 96);
  assert.equal(at(2, 2), 0);
  assert.equal(at(3 + 4 * 9, 3), 9);
  assert.equal(at(2, 6), 10);
  assert.equal(at(6, 6), 96, "an empty cell stays border grey");
});

Deno.test("mnist show --first 42 --count 1 --png writes that digit alone, as predict reads it", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/digit.png`;
    const args = ["show", "--data-dir", MNIST, "--split", "test", "--first", "42", "--count", "1"];
    const { code, stdout, stderr } = await runCli([...args, "--png", path]);
    assert.equal(stderr, "");
    assert.equal(code, 0);
    const test = await loadSplit(MNIST, "mnist", "test");
    const [wrote, label] = stdout.trimEnd().split("\n");
    assert.equal(wrote, `Wrote ${path} (1 digit, 28x28 px)`);
    assert.equal(label, `label: [${test.labels[42]}]`);
    // No border: the file is test image 42, pixel for pixel.
    const png = await readGreyPng(await Deno.readFile(path));
    assert.deepEqual([png.width, png.height], [28, 28]);
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        assert.equal(png.pixel(x, y), test.images[42 * 784 + y * 28 + x], `(${x}, ${y})`);
      }
    }
    // Drawn in the terminal, --first picks the same digits.
    const drawn = await runCli([...args.slice(0, -2), "--count", "3"]);
    assert.equal(drawn.code, 0);
    assert.equal(
      drawn.stdout.trimEnd().split("\n").at(-1),
      `label: [${Array.from(test.labels.subarray(42, 45)).join(" ")}]`,
    );
  });
});

Deno.test("gridImage() with a scale draws each pixel as scale × scale, border included", () => {
  const split = tinySplit(Array.from({ length: 11 }, (_, i) => [i, 20 + i, 40 + i, 60 + i]), 2, 2);
  const one = gridImage(split);
  const three = gridImage(split, { scale: 3 });
  assert.deepEqual([three.width, three.height], [one.width * 3, one.height * 3]);
  assert.deepEqual(gridSize(split, { scale: 3 }), { width: three.width, height: three.height });
  for (let y = 0; y < three.height; y++) {
    for (let x = 0; x < three.width; x++) {
      const want = one.pixels[Math.floor(y / 3) * one.width + Math.floor(x / 3)];
      assert.equal(three.pixels[y * three.width + x], want, `(${x}, ${y})`);
    }
  }
  // A single image, which has no border, too.
  const alone = gridImage(tinySplit([[1, 2, 3, 4]], 2, 2), { scale: 2 });
  assert.deepEqual([alone.width, alone.height], [4, 4]);
  assert.deepEqual([...alone.pixels], [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
});

Deno.test("mnist show --png --scale 3 writes the grid three times as large", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/big.png`;
    const args = ["show", "--data-dir", MNIST, "--split", "test", "--count", "12"];
    const { code, stdout, stderr } = await runCli([...args, "--png", path, "--scale", "3"]);
    assert.equal(stderr, "");
    assert.equal(code, 0);
    assert.equal(stdout.split("\n")[0], `Wrote ${path} (12 digits, 906x186 px)`);
    const png = await readGreyPng(await Deno.readFile(path));
    assert.deepEqual([png.width, png.height], [906, 186]);
    // Tile 11 (row 1, column 1) starts at (32, 32) unscaled; each pixel is 3×3.
    const test = await loadSplit(MNIST, "mnist", "test");
    for (let y = 0; y < 28 * 3; y++) {
      for (let x = 0; x < 28 * 3; x++) {
        const want = test.images[11 * 784 + Math.floor(y / 3) * 28 + Math.floor(x / 3)];
        assert.equal(png.pixel(96 + x, 96 + y), want, `(${x}, ${y})`);
      }
    }
  });
});
