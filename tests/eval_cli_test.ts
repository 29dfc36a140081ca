/**
 * `mnist eval` end to end, on a small model trained by the real CLI: which checkpoint it says it
 * loaded, `--errors N --png FILE`, whose cells carry "label→predicted" captions, and the
 * cross-entropy against the training log's and the CPU reference's.
 */
import assert from "node:assert/strict";
import { modelLine } from "../src/cli/command.ts";
import { formatScore, score } from "../src/cli/eval.ts";
import { GLYPHS, gridImage } from "../src/cli/show.ts";
import { loadSplit, subset } from "../src/data/dataset.ts";
import { encodeCheckpoint, loadCheckpoint } from "../src/nn/checkpoint.ts";
import { inferShapes, lenet, mlp, sizeOf } from "../src/nn/model.ts";
import { largestBatch } from "../src/nn/network.ts";
import { type DecodedImage, decodeImage } from "../src/image/decode.ts";
import { modelDirFor, runCli } from "./cli_helpers.ts";
import { gpu } from "./gpu_helpers.ts";
import { referenceMlp } from "./reference_mlp.ts";
import { FASHION, HAVE_FASHION, MNIST } from "./test_data.ts";

const FILES = [
  "train-images-idx3-ubyte.gz",
  "train-labels-idx1-ubyte.gz",
  "t10k-images-idx3-ubyte.gz",
  "t10k-labels-idx1-ubyte.gz",
];

/** A grid's geometry at scale 1 (src/cli/show.ts): border, cell, caption strip under 28 px. */
const PAD = 2;
const CELL = 28;
const STRIP = 14;

/**
 * Reads the caption drawn in the box (x0, y0, width, height) of `image`, one font pixel being
 * `k` image pixels: from the top left of its ink, each glyph of `GLYPHS` is tried in turn, and
 * the ones that match pixel for pixel (sampled in the middle of each font pixel) spell it.
 */
function readCaption(
  image: DecodedImage,
  { x0, y0, width, height, k }: {
    x0: number;
    y0: number;
    width: number;
    height: number;
    k: number;
  },
): string {
  const ink = (x: number, y: number) => image.data[y * image.width + x] === 255;
  let left = Infinity;
  let top = Infinity;
  for (let y = y0; y < y0 + height; y++) {
    for (let x = x0; x < x0 + width; x++) {
      if (ink(x, y)) [left, top] = [Math.min(left, x), Math.min(top, y)];
    }
  }
  let text = "";
  for (let x = left; x < x0 + width;) {
    const found = Object.entries(GLYPHS).find(([, rows]) =>
      rows.every((row, gy) =>
        [...row].every((c, gx) =>
          ink(x + gx * k + (k >> 1), top + gy * k + (k >> 1)) === (c === "#")
        )
      )
    );
    if (!found) break;
    text += found[0];
    x += (found[1][0]!.length + 1) * k;
  }
  return text;
}

Deno.test('formatScore() prints "–" for a class with no samples, not 0.00%', () => {
  // Labels 0, 1 and 2 only: classes 1 (one right of two) and 2 (none right) score, 3 has none.
  const result = score([0, 1, 1, 2], [0, 1, 0, 0], { classes: 4 });
  assert.equal(result.perClass[3]!.accuracy, 0); // --json keeps 0 for it, as documented
  const rows = formatScore(result, ["0", "1", "2", "3"]).split("\n");
  const perClass = rows.slice(rows.indexOf("Per-class accuracy:") + 1);
  assert.deepEqual(perClass, [
    "  0  100.00%  (1/1)",
    "  1   50.00%  (1/2)",
    "  2    0.00%  (0/1)",
    "  3        –  (0/0)",
  ]);
});

Deno.test("modelLine() says images, not digits, for a Fashion-MNIST model", () => {
  // eval, predict, serve and show --filters print it: "on 1000 test digits" for Fashion-MNIST.
  const meta = (training: Record<string, unknown>) =>
    ({
      meta: { model: mlp(), epoch: 0, dataset: "fashion", accuracy: 0.6, training },
    }) as unknown as Parameters<typeof modelLine>[1];
  assert.equal(
    modelLine("f.safetensors", meta({ testSamples: 1000, validation: "test" })),
    "Model: f.safetensors (mlp on fashion, 1 epoch, validation accuracy 60.00% on 1000 test images)",
  );
  assert.equal(
    modelLine("f.safetensors", meta({ testSamples: 1, validation: "holdout:1" })),
    "Model: f.safetensors (mlp on fashion, 1 epoch, validation accuracy 60.00% on 1 held-out " +
      "training image)",
  );
});

Deno.test({
  name: "mnist eval and predict --test-index say images and class names for a Fashion-MNIST model",
  ignore: gpu === null || !HAVE_FASHION, // no adapter, or Debian's dataset-fashion-mnist
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mnist_eval_cli_test_" });
    try {
      await Deno.mkdir(`${dir}/fashion`);
      for (const f of FILES) await Deno.symlink(`${FASHION}/${f}`, `${dir}/fashion/${f}`);
      const args = ["--data-dir", dir, "--dataset", "fashion", "--limit", "300", "--epochs", "1"];
      const train = await runCli(["train", ...args]);
      assert.equal(train.code, 0, train.stderr);
      const model = `${modelDirFor(dir)}/fashion-mlp.safetensors`;
      const line = new RegExp(
        `^Model: ${model.replaceAll(".", "\\.")} \\(mlp on fashion, 1 epoch, validation ` +
          `accuracy \\d+\\.\\d\\d% on 300 test images\\)\\n`,
      );
      const run = await runCli(["eval", "--data-dir", dir, "--limit", "100", "--errors", "2"]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, line);
      assert.match(run.stdout, /^Validation accuracy: \d+\.\d\d% \(\d+\/100\)\n/);
      assert.match(run.stdout, /^ +1\. test image \d+: labelled [A-Z][a-z]+/m);
      assert.doesNotMatch(run.stdout + run.stderr, /digit/);
      assert.doesNotMatch(run.stderr, /note:/);
      // Scored on the other dataset (it was silent: 7.58% for a digit MLP on Fashion-MNIST).
      for (const f of FILES) await Deno.symlink(`${MNIST}/${f}`, `${dir}/${f}`);
      const other = await runCli(
        ["eval", "--data-dir", dir, "--limit", "100", "--dataset", "mnist", "--json"],
      );
      assert.equal(other.code, 0, other.stderr);
      assert.equal(
        other.stderr,
        "note: the model was trained on Fashion-MNIST, not MNIST: its outputs are scored as " +
          "MNIST's classes\n",
      );
      const predict = await runCli(["predict", "--data-dir", dir, "--test-index", "0"]);
      assert.equal(predict.code, 0, predict.stderr);
      assert.match(predict.stderr, line);
      assert.match(
        predict.stdout,
        /^Classified as \d \([A-Z][a-z/-]+( [a-z]+)?\) with probability /,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("gridImage() captions each image under it in the glyph font", () => {
  const images = Array.from({ length: 12 }, (_, i) => new Uint8Array(784).fill(i * 10));
  const split = {
    images: Uint8Array.from(images.flatMap((a) => [...a])),
    labels: new Uint8Array(12),
    count: 12,
    rows: 28,
    cols: 28,
  };
  const captions = Array.from({ length: 12 }, (_, i) => `${i % 10}→${(i * 7) % 10}`);
  for (const scale of [1, 2]) {
    const grid = gridImage(split, { scale, captions });
    const image: DecodedImage = { ...grid, data: grid.pixels };
    assert.deepEqual([grid.width, grid.height], [
      302 * scale,
      (2 * (CELL + STRIP + PAD) + PAD) * scale,
    ]);
    for (const [i, caption] of captions.entries()) {
      const x0 = (PAD + (i % 10) * (CELL + PAD)) * scale;
      const y0 = (PAD + Math.floor(i / 10) * (CELL + STRIP + PAD)) * scale;
      // The image is untouched above its caption.
      assert.equal(image.data[(y0 + 27 * scale) * grid.width + x0], i * 10, `cell ${i}`);
      const box = { x0, y0: y0 + CELL * scale, width: CELL * scale, height: STRIP * scale };
      assert.equal(readCaption(image, { ...box, k: 2 * scale }), caption, `cell ${i}`);
    }
  }
  // A single image with a caption is laid out in the grid too.
  const one = gridImage({ ...split, count: 1 }, { captions: ["3→5"] });
  assert.deepEqual([one.width, one.height], [CELL + 2 * PAD, CELL + STRIP + 2 * PAD]);
});

Deno.test({
  name: "mnist eval names its checkpoint; --errors --png --scale captions each mistake",
  ignore: gpu === null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mnist_eval_cli_test_" });
    try {
      for (const f of FILES) await Deno.symlink(`${MNIST}/${f}`, `${dir}/${f}`);
      // A quick model: 1000 digits, one epoch (about 50% right, so mistakes are plenty).
      const train = await runCli(["train", "--data-dir", dir, "--limit", "1000", "--epochs", "1"]);
      assert.equal(train.code, 0, train.stderr);
      const model = `${modelDirFor(dir)}/mlp.safetensors`;

      const png = `${dir}/mistakes.png`;
      const args = ["eval", "--data-dir", dir, "--limit", "300", "--errors", "12"];
      const run = await runCli([...args, "--png", png, "--scale", "2"]);
      assert.equal(run.code, 0, run.stderr);
      // Which checkpoint, on stderr; the report on stdout starts as it did.
      assert.match(
        run.stderr,
        new RegExp(
          `^Model: ${model.replaceAll(".", "\\.")} \\(mlp, 1 epoch, validation accuracy ` +
            `\\d+\\.\\d\\d% on 1000 test digits\\)\\n$`,
        ),
      );
      assert.match(run.stdout, /^Validation accuracy: \d+\.\d\d% \(\d+\/300\)\n/);
      // Beside the PNG, the list says which test image each cell is.
      const listed = [...run.stdout.matchAll(
        /^ +(\d+)\. test image (\d+): labelled (\d), classified as (\d) with probability 0\.\d{6}$/gm,
      )];
      assert.equal(listed.length, 12, run.stdout);
      assert.match(
        run.stdout,
        new RegExp(
          `^Wrote them to ${png} \\(604x180 px\\), 10 to a row in this order, each ` +
            `captioned label→predicted$`,
          "m",
        ),
      );

      const json = await runCli([...args, "--png", `${dir}/again.png`, "--scale", "2", "--json"]);
      assert.equal(json.code, 0, json.stderr);
      assert.equal(json.stderr, "");
      const result = JSON.parse(json.stdout);
      assert.equal(result.model, model);
      const mistakes = result.mistakes as { index: number; label: number; predicted: number }[];
      assert.deepEqual(
        mistakes.map((m) => [m.index, m.label, m.predicted].map(String)),
        listed.map((m) => [m[2], m[3], m[4]]),
      );

      const image = decodeImage(await Deno.readFile(png), png);
      assert.deepEqual([image.width, image.height, image.channels], [604, 180, 1]);
      const test = await loadSplit(MNIST, { dataset: "mnist", split: "test" });
      for (const [i, m] of mistakes.entries()) {
        const x0 = (PAD + (i % 10) * (CELL + PAD)) * 2;
        const y0 = (PAD + Math.floor(i / 10) * (CELL + STRIP + PAD)) * 2;
        // The cell is the test digit, each pixel 2×2 ...
        for (const [x, y] of [[14, 14], [10, 20], [20, 8]] as const) {
          assert.equal(
            image.data[(y0 + 2 * y + 1) * image.width + x0 + 2 * x + 1],
            test.images[m.index * 784 + y * 28 + x],
            `cell ${i}, (${x}, ${y})`,
          );
        }
        // ... and its caption says "label→predicted".
        const box = { x0, y0: y0 + CELL * 2, width: CELL * 2, height: STRIP * 2, k: 4 };
        assert.equal(readCaption(image, box), `${m.label}→${m.predicted}`, `cell ${i}`);
      }

      // A grid too large is refused before the model is even loaded, in one line and a hint.
      const huge = await runCli([
        "eval",
        "--errors",
        "1000",
        "--png",
        `${dir}/huge.png`,
        "--scale",
        "9",
      ]);
      assert.equal(huge.code, 1);
      assert.equal(huge.stdout, "");
      assert.match(huge.stderr, /^error: --scale 9 would make a 2718×\d+ PNG of 1000 images/);
      assert.match(
        huge.stderr,
        /\nhint: Use --scale 3 or less for 1000 images, or fewer images\.\n$/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "mnist eval --batch-size names the batch size asked for when it does not fit",
  // Only adapters that cannot hold the whole test set in one LeNet batch (llvmpipe: 2,912).
  ignore: gpu === null || largestBatch(lenet(), gpu.device.limits) >= 10000,
  async fn() {
    // eval uses at most the 10,000 test digits a batch, and said "Batch size 10000 is too large".
    const dir = await Deno.makeTempDir({ prefix: "mnist_eval_cli_test_" });
    try {
      const model = lenet();
      const params = new Map(
        inferShapes(model).flatMap((l) =>
          l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
        ),
      );
      const path = `${dir}/lenet.safetensors`;
      const meta = { model, epoch: 0, dataset: "mnist" as const };
      await Deno.writeFile(path, encodeCheckpoint({ meta, params, momentum: new Map() }));
      const args = ["eval", "--model", path, "--data-dir", MNIST, "--batch-size", "65536"];
      const run = await runCli(args);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /^error: Batch size 65536 is too large for lenet on /m);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "mnist eval reports MXNet's cross-entropy: the one train --metric ce logged, and the " +
    "reference's",
  ignore: gpu === null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mnist_eval_cli_test_" });
    try {
      for (const f of FILES) await Deno.symlink(`${MNIST}/${f}`, `${dir}/${f}`);
      const save = `${dir}/ce.safetensors`;
      const train = await runCli([
        "train",
        "--data-dir",
        dir,
        "--limit",
        "1000",
        "--epochs",
        "1",
        "--metric",
        "acc,ce",
        "--save",
        save,
      ]);
      assert.equal(train.code, 0, train.stderr);
      const logged = Number(
        /^INFO:root:Epoch\[0\] Validation-cross-entropy=(\d+\.\d{6})$/m.exec(train.stdout)![1],
      );

      // The line under the accuracy, on the 1000 test digits training validated on.
      const run = await runCli(["eval", "--data-dir", dir, "--model", save, "--limit", "1000"]);
      assert.equal(run.code, 0, run.stderr);
      const out = run.stdout.split("\n");
      assert.match(out[0]!, /^Validation accuracy: \d+\.\d\d% \(\d+\/1000\)$/);
      const line = /^Validation cross-entropy: (\d+\.\d{6})$/.exec(out[1]!);
      assert.ok(line, run.stdout);
      const printed = Number(line[1]);
      // Another batch size sums in another order: equal to f32 rounding.
      assert.ok(Math.abs(printed - logged) <= 2e-6 + 1e-5 * logged, `${printed} vs ${logged}`);

      const json = await runCli(
        ["eval", "--data-dir", dir, "--model", save, "--limit", "1000", "--json"],
      );
      assert.equal(json.code, 0, json.stderr);
      const result = JSON.parse(json.stdout);
      assert.equal(result.crossEntropy.toFixed(6), line[1]);
      const test = subset(await loadSplit(MNIST, { dataset: "mnist", split: "test" }), 1000);
      const want = referenceMlp((await loadCheckpoint(save)).params, test).crossEntropy;
      assert.ok(
        Math.abs(result.crossEntropy - want) <= 2e-6 + 1e-5 * want,
        `eval's cross-entropy ${result.crossEntropy}, reference ${want}`,
      );
      // Some way from chance (ln 10 = 2.303) and from a perfect model.
      assert.ok(want > 0.05 && want < 2, `reference cross-entropy ${want}`);

      // A --limit past the test set: a note on stderr, and all 10,000 scored.
      const over = await runCli(["eval", "--data-dir", dir, "--model", save, "--limit", "20000"]);
      assert.equal(over.code, 0, over.stderr);
      assert.match(
        over.stderr,
        /^note: --limit 20000 is more than the 10,000 test samples: scoring all of them$/m,
      );
      assert.match(over.stdout, /^Validation accuracy: \d+\.\d\d% \(\d+\/10000\)$/m);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
