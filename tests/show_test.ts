import assert from "node:assert/strict";
import { runCli } from "./cli_helpers.ts";
import {
  filterGrid,
  filterGridSize,
  firstLayerFilters,
  gridImage,
  gridSize,
  MAX_SCALE,
  normaliseFilters,
  renderImages,
} from "../src/cli/show.ts";
import { decode } from "fast-png";
import { type Checkpoint, saveCheckpoint } from "../src/nn/checkpoint.ts";
import { inferShapes, lenet, mlp, type ModelSpec, sizeOf } from "../src/nn/model.ts";
import { gpuTest } from "./gpu_helpers.ts";
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
    const test = await loadSplit(MNIST, { dataset: "mnist", split: "test" });
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

Deno.test("mnist show --first near the end draws what is left and says so on stderr", async () => {
  // --first 59999 --count 5 drew one image and said nothing, while --first 60000 is refused.
  const run = await runCli(["show", "--data-dir", MNIST, "--first", "59999", "--count", "5"]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(
    run.stderr,
    "note: the train split has 60,000 images, so --first 59999 --count 5 draws only 1\n",
  );
  assert.match(run.stdout, /\nlabel: \[\d\]\n$/);
  const whole = await runCli(["show", "--data-dir", MNIST, "--first", "59995", "--count", "5"]);
  assert.equal(whole.stderr, "");
  assert.match(whole.stdout, /\nlabel: \[\d \d \d \d \d\]\n$/);
});

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
    const test = await loadSplit(MNIST, { dataset: "mnist", split: "test" });
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
    const test = await loadSplit(MNIST, { dataset: "mnist", split: "test" });
    for (let y = 0; y < 28 * 3; y++) {
      for (let x = 0; x < 28 * 3; x++) {
        const want = test.images[11 * 784 + Math.floor(y / 3) * 28 + Math.floor(x / 3)];
        assert.equal(png.pixel(96 + x, 96 + y), want, `(${x}, ${y})`);
      }
    }
  });
});

/**
 * A checkpoint of `model` whose first layer's filter f holds f + (its weight's index) / 100,
 * negated for odd f, and whose other weights are zero: each filter's smallest and largest weight
 * and the order between are known.
 */
function rampCheckpoint(model: ModelSpec): Checkpoint {
  const params = new Map<string, Float32Array>();
  inferShapes(model).forEach((info, layer) => {
    for (const p of info.params) {
      const data = new Float32Array(sizeOf(p.shape));
      if (layer === 0 && p.name.endsWith("_weight")) {
        const size = data.length / p.shape[0]!;
        data.forEach((_, i) => {
          const f = Math.floor(i / size);
          data[i] = (f % 2 === 0 ? 1 : -1) * (f + (i % size) / 100);
        });
      }
      params.set(p.name, data);
    }
  });
  return { meta: { model, epoch: 0, dataset: "mnist" }, params, momentum: new Map() };
}

Deno.test("firstLayerFilters() and normaliseFilters() scale each filter to its own range", () => {
  const filters = firstLayerFilters(rampCheckpoint(lenet()));
  assert.deepEqual(
    [filters.layer, filters.kind, filters.count, filters.rows, filters.cols],
    ["conv1", "conv2d", 20, 5, 5],
  );
  const pixels = normaliseFilters(filters);
  // Filter 0 rises from 0 to 0.24: black to white; filter 1 falls: white to black.
  assert.equal(pixels[0], 0);
  assert.equal(pixels[24], 255);
  assert.equal(pixels[12], Math.round(255 * 12 / 24));
  assert.equal(pixels[25], 255);
  assert.equal(pixels[49], 0);
  // Filter 19 (weights -19.00..-19.24) is drawn as filter 1 is: its own range, not all (up to
  // float32 rounding of the weights).
  const [f1, f19] = [pixels.subarray(25, 50), pixels.subarray(19 * 25, 20 * 25)];
  f19.forEach((v, i) => assert.ok(Math.abs(v - f1[i]!) <= 1, `pixel ${i}: ${v} vs ${f1[i]}`));
  const mlpFilters = firstLayerFilters(rampCheckpoint(mlp()));
  assert.deepEqual([mlpFilters.layer, mlpFilters.count, mlpFilters.rows, mlpFilters.cols], [
    "fc1",
    128,
    28,
    28,
  ]);
  // A filter whose weights are all equal is mid-grey.
  const flat = { ...filters, count: 1, weights: new Float32Array(25).fill(0.3) };
  assert.deepEqual([...new Set(normaliseFilters(flat))], [128]);
});

Deno.test("filterGrid() lays filters out scaled, with a slate gap no grey pixel can be", () => {
  const pixels = Uint8Array.from({ length: 3 * 4 }, (_, i) => i * 20);
  const grid = filterGrid({ count: 3, rows: 2, cols: 2, pixels }, 2);
  assert.deepEqual(filterGridSize({ count: 3, rows: 2, cols: 2 }, 2), {
    width: grid.width,
    height: grid.height,
  });
  // 3 across: 4 + 3 × (4 + 4) = 28 wide, 4 + (4 + 4) = 12 high.
  assert.deepEqual([grid.width, grid.height], [28, 12]);
  const at = (
    x: number,
    y: number,
  ) => [...grid.pixels.subarray((y * 28 + x) * 3, (y * 28 + x) * 3 + 3)];
  assert.deepEqual(at(0, 0), [64, 80, 112]);
  // Filter 1's top-right pixel (value 20 · 5 = 100) fills (14..15, 4..5).
  assert.deepEqual(at(14, 4), [100, 100, 100]);
  assert.deepEqual(at(15, 5), [100, 100, 100]);
  assert.deepEqual(at(16, 4), [64, 80, 112]);
});

Deno.test("mnist show --filters FILE --png draws LeNet's 20 conv1 filters, 5×5 at scale 8", async () => {
  await withTempDir(async (dir) => {
    const model = `${dir}/lenet.safetensors`;
    await saveCheckpoint(model, rampCheckpoint(lenet()));
    const path = `${dir}/filters.png`;
    const run = await runCli(["show", "--filters", model, "--png", path]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, `Model: ${model} (lenet, 1 epoch)\n`);
    assert.equal(
      run.stdout,
      `Wrote ${path} (20 conv1 filters of lenet, 5x5 each at scale 8, 444x92 px)\n`,
    );
    const png = decode(await Deno.readFile(path));
    assert.deepEqual([png.width, png.height, png.channels], [444, 92, 3]);
    const pixel = (x: number, y: number) => png.data[(y * png.width + x) * 3];
    // Filter 0 at (4, 4): its first weight black, its last (bottom right, 8×8 px) white.
    assert.equal(pixel(4, 4), 0);
    assert.equal(pixel(4 + 39, 4 + 39), 255);
    // Filter 1, next along: falling, so white then black.
    assert.equal(pixel(48, 4), 255);
    assert.equal(pixel(48 + 39, 4 + 39), 0);
    // Filter 10 starts the second row.
    assert.equal(pixel(4, 48), 0);
    assert.deepEqual(
      await Array.fromAsync(Deno.readDir(dir), (e) => e.name).then((n) => n.sort()),
      [
        "filters.png",
        "lenet.safetensors",
      ],
    );
  });
});

Deno.test("mnist show --filters draws in the terminal without --png", async () => {
  await withTempDir(async (dir) => {
    const model = `${dir}/lenet.safetensors`;
    await saveCheckpoint(model, rampCheckpoint(lenet()));
    const run = await runCli(["show", "--filters", model]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split("\n");
    assert.equal(
      lines.at(-1),
      "20 conv1 filters of lenet, 5x5, each from its smallest weight (dark) to its largest",
    );
    // Each filter 5×5 drawn twice as large: 10 columns, 5 lines. Filter 0 rises row by row
    // from its smallest weight to its largest: blank on top, full at the bottom.
    assert.equal(lines[0]!.slice(0, 10), " ".repeat(10));
    assert.equal(lines[4]!.slice(0, 10), "█".repeat(10));
  });
});

for (
  const [args, message] of [
    [
      ["--filters", "nothing/here.safetensors"],
      /^error: Cannot load model ".*nothing\/here\.safetensors": no such file/,
    ],
    [["--filters", "resnet"], /^error: Unknown model "resnet"/],
    [
      ["--filters", "lenet", "--count", "3"],
      /^error: --count is for a dataset's images; --filters draws/,
    ],
    [["--filters", "lenet", "--scale", "2"], /^error: --scale needs --png FILE/],
    [["--arch", "lenet"], /^error: --arch needs --filters MODEL/],
  ] as [string[], RegExp][]
) {
  Deno.test(`mnist show ${args.join(" ")} fails with one line`, async () => {
    const { code, stdout, stderr } = await runCli(["show", "--data-dir", MNIST, ...args]);
    assert.equal(code, 1);
    assert.equal(stdout, "");
    assert.match(stderr, message);
    assert.ok(stderr.trimEnd().split("\n").length <= 2, stderr);
  });
}

Deno.test("mnist show --filters hints at --filters FILE, the option show has", async () => {
  // The hints said "pass --model FILE", but show has no --model.
  await withTempDir(async (dir) => {
    for (const model of ["mlp", `${dir}/none.safetensors`]) {
      const run = await runCli(["show", "--filters", model, "--data-dir", MNIST], {
        env: { MNIST_MODEL_DIR: dir },
      });
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /\nhint: .*, or pass --filters FILE\.\n$/);
    }
  });
});

Deno.test("mnist show --filters mlp --scale 16 is refused with the largest scale that fits", async () => {
  await withTempDir(async (dir) => {
    const model = `${dir}/mlp.safetensors`;
    await saveCheckpoint(model, rampCheckpoint(mlp()));
    const run = await runCli([
      "show",
      "--filters",
      model,
      "--png",
      `${dir}/x.png`,
      "--scale",
      "16",
    ]);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^error: --scale 16 would make a 7236×3620 PNG of 128 fc1 filters of mlp \(26\.2 megapixels\), over the 16-megapixel limit\n/,
    );
    assert.match(run.stderr, /hint: Use --scale 12 or less\./);
    assert.equal(run.stderr.trimEnd().split("\n").length, 2, run.stderr);
    assert.ok(!(await Array.fromAsync(Deno.readDir(dir))).some((e) => e.name.endsWith(".png")));
  });
});

gpuTest(
  "mnist show --filters mlp draws a trained MLP's 128 fc1 weight rows as 28×28 tiles",
  async () => {
    await withTempDir(async (dir) => {
      for (const f of await Array.fromAsync(Deno.readDir(MNIST))) {
        if (f.name.endsWith(".gz")) await Deno.symlink(`${MNIST}/${f.name}`, `${dir}/${f.name}`);
      }
      const train = await runCli(["train", "--data-dir", dir, "--limit", "1000", "--epochs", "1"]);
      assert.equal(train.code, 0, train.stderr);
      const path = `${dir}/mlp.png`;
      const run = await runCli(["show", "--data-dir", dir, "--filters", "mlp", "--png", path]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /^Model: .*mlp\.safetensors \(mlp, 1 epoch, validation accuracy/);
      // 16 across, 8 down, 56-pixel tiles (scale 2) with 4-pixel gaps.
      assert.match(run.stdout, /\(128 fc1 filters of mlp, 28x28 each at scale 2, 964x484 px\)/);
      const png = decode(await Deno.readFile(path));
      assert.deepEqual([png.width, png.height], [964, 484]);
      // Every tile spans black to white: each is normalised to its own range.
      for (let f = 0; f < 128; f++) {
        const x0 = 4 + (f % 16) * 60;
        const y0 = 4 + Math.floor(f / 16) * 60;
        let lo = 255, hi = 0;
        for (let y = 0; y < 56; y++) {
          for (let x = 0; x < 56; x++) {
            const v = png.data[((y0 + y) * png.width + x0 + x) * 3]!;
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
          }
        }
        assert.deepEqual([lo, hi], [0, 255], `tile ${f}`);
      }
    });
  },
);
