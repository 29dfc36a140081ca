/**
 * `mnist predict` end to end on images that once went wrong (defects found by trying the
 * product): a digit on flat off-white paper shrunk from a large image, an opaque sheet on a
 * transparent margin, a tiny dot in a tiny image, an image over the size limit, two digits side
 * by side. A small model (300 digits, one epoch) is enough: what is asserted is what a user
 * sees, read or refused.
 */
import * as assert from "node:assert/strict";
import { loadSplit } from "../src/data/dataset.ts";
import { decodeImage } from "../src/image/decode.ts";
import { encodePng } from "../src/image/png.ts";
import { modelDirFor, runCli } from "./cli_helpers.ts";
import { correlation, encodeJpeg, makeDigitImage, pairPhoto } from "./digit_photos.ts";
import { gpu } from "./gpu_helpers.ts";
import { FASHION, HAVE_FASHION, MNIST } from "./test_data.ts";

/** A 7 of 6 px strokes on 1600×1200 grey `paper` at 240, as the tester drew it. */
function flatSeven(): Uint8Array {
  const width = 1600, height = 1200;
  const data = new Uint8Array(width * height).fill(240);
  for (const [x0, y0, x1, y1] of [[600, 320, 1000, 320], [1000, 320, 760, 920]] as const) {
    const dx = x1 - x0, dy = y1 - y0, length2 = dx * dx + dy * dy;
    for (let y = Math.min(y0, y1) - 3; y <= Math.max(y0, y1) + 3; y++) {
      for (let x = Math.min(x0, x1) - 3; x <= Math.max(x0, x1) + 3; x++) {
        const t = Math.min(1, Math.max(0, ((x - x0) * dx + (y - y0) * dy) / length2));
        if (Math.hypot(x - x0 - t * dx, y - y0 - t * dy) <= 3) data[y * width + x] = 0;
      }
    }
  }
  return data;
}

/** 700×500 RGBA: transparent, an opaque white sheet at 50..649 × 50..449, a black bar on it. */
function sheet(): Uint8Array {
  const width = 700, height = 500;
  const data = new Uint8Array(width * height * 4);
  for (let y = 50; y < 450; y++) {
    for (let x = 50; x < 650; x++) {
      const i = (y * width + x) * 4;
      // A 1: a 12 px bar down the middle of the sheet.
      data.fill(x >= 344 && x < 356 && y >= 120 && y < 380 ? 0 : 255, i, i + 3);
      data[i + 3] = 255;
    }
  }
  return data;
}

Deno.test({
  name: "mnist predict reads flat paper and a sheet on a transparent margin, refuses a dot, a pair",
  ignore: gpu === null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mnist-predict-images-" });
    try {
      for (const entry of Deno.readDirSync(MNIST)) {
        if (entry.name.endsWith(".gz")) {
          await Deno.symlink(`${MNIST}/${entry.name}`, `${dir}/${entry.name}`);
        }
      }
      const train = await runCli([
        "train",
        "--data-dir",
        dir,
        "--limit",
        "300",
        "--epochs",
        "1",
        "--frequent",
        "3",
      ]);
      assert.equal(train.code, 0, train.stderr);
      const dot = new Uint8Array(100).fill(255);
      dot.fill(0, 44, 46);
      dot.fill(0, 54, 56);
      const files: [string, Parameters<typeof encodePng>[0]][] = [
        ["flat.png", { width: 1600, height: 1200, channels: 1, pixels: flatSeven() }],
        ["sheet.png", { width: 700, height: 500, channels: 4, pixels: sheet() }],
        ["dot.png", { width: 10, height: 10, channels: 1, pixels: dot }],
        // Over predict's 8192 pixels a side (MAX_PHOTO_SIDE), well under its 50 megapixels.
        ["wide.png", { width: 8193, height: 10, channels: 1, pixels: new Uint8Array(81930) }],
      ];
      for (const [name, image] of files) {
        await Deno.writeFile(`${dir}/${name}`, await encodePng(image));
      }
      // Two test digits side by side (tester u4's second_digit): it was answered as one digit.
      const test = await loadSplit(MNIST, { dataset: "mnist", split: "test" });
      const digit = (i: number) => test.images.slice(i * 784, (i + 1) * 784);
      await Deno.writeFile(`${dir}/pair.jpg`, encodeJpeg(pairPhoto(digit(1000), digit(6000)), 85));
      const run = await runCli([
        "predict",
        "--model",
        `${modelDirFor(dir)}/mlp.safetensors`,
        ...files.map(([name]) => `${dir}/${name}`),
        `${dir}/pair.jpg`,
      ]);
      assert.equal(run.code, 1, run.stderr);
      const read = run.stdout.trim().split("\n");
      assert.equal(read.length, 2, run.stdout);
      assert.match(read[0]!, /\/flat\.png: Classified as \d with probability/);
      assert.match(read[1]!, /\/sheet\.png: Classified as \d with probability/);
      assert.match(run.stderr, /dot\.png" has too little ink to be a digit: one dot 2×2 pixels/);
      assert.match(
        run.stderr,
        /wide\.png": 8193×10 pixels is over the limit of 8192 pixels a side\n/,
      );
      assert.match(
        run.stderr,
        /pair\.jpg" holds 2 digits side by side, not one \(\d+×\d+ pixels at \(\d+, \d+\), \d+×\d+ pixels at \(\d+, \d+\)\): crop it to the one digit to classify\n/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "mnist predict reads a Fashion-MNIST image file as --test-index does, and a garment photo",
  ignore: gpu === null || !HAVE_FASHION, // no adapter, or Debian's dataset-fashion-mnist
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // It made every image a digit: test image 2 (a trouser) written as a PNG was cut into
    // strokes and classified "3 (Dress) 0.443", where --test-index 2 said "1 (Trouser) 0.9999";
    // of test images 0..99, 32 answers were --test-index's and 22 images were refused as "too
    // little ink to be a digit".
    const dir = await Deno.makeTempDir({ prefix: "mnist-predict-fashion-" });
    try {
      await Deno.symlink(FASHION, `${dir}/fashion`);
      const data = ["--data-dir", dir];
      const train = await runCli(
        ["train", ...data, "--dataset", "fashion", "--limit", "300", "--epochs", "1"],
      );
      assert.equal(train.code, 0, train.stderr);
      const split = await loadSplit(dir, { dataset: "fashion", split: "test" });
      const images = [0, 2].map((i) => split.images.slice(i * 784, (i + 1) * 784));
      const shown = await runCli([
        "show",
        ...data,
        "--dataset",
        "fashion",
        "--split",
        "test",
        "--first",
        "2",
        "--count",
        "1",
        "--png",
        `${dir}/f2.png`,
      ]);
      assert.equal(shown.code, 0, shown.stderr);
      await Deno.writeFile(
        `${dir}/f0.png`,
        await encodePng({ width: 28, height: 28, channels: 1, pixels: images[0]! }),
      );
      // Test image 2 as a JPEG photo: a dark trouser on unevenly lit grey paper, 8–12× larger.
      const photo = await makeDigitImage(images[1]!, "photo", 2);
      await Deno.writeFile(`${dir}/trouser.jpg`, photo.bytes);
      const files = ["f0.png", "f2.png", "trouser.jpg"].map((f) => `${dir}/${f}`);
      const run = await runCli(
        ["predict", ...data, "--json", "--save-input", `${dir}/seen`, ...files],
      );
      assert.equal(run.code, 0, run.stderr);
      const answers = JSON.parse(run.stdout) as { probabilities: number[]; digit: number }[];
      for (const [k, index] of [0, 2].entries()) {
        const byIndex = await runCli(["predict", ...data, "--json", "--test-index", `${index}`]);
        assert.equal(byIndex.code, 0, byIndex.stderr);
        const [expected] = JSON.parse(byIndex.stdout) as { probabilities: number[] }[];
        // The file is the dataset's image: the same input, the same probabilities, bit for bit.
        assert.deepEqual(answers[k]!.probabilities, expected!.probabilities, `test image ${index}`);
        // --save-input writes what the network saw: the image itself.
        const saved = decodeImage(await Deno.readFile(`${dir}/seen/f${index}.mnist.png`), "s");
        assert.deepEqual(saved.data, Uint8Array.from(images[k]!));
      }
      // The photo is seen as the garment it shows (a digit's 20 px box and centre of mass made
      // it strokes): what --save-input wrote is close to the dataset's image.
      const seen = decodeImage(await Deno.readFile(`${dir}/seen/trouser.mnist.png`), "t").data;
      const r = correlation(seen, images[1]!);
      assert.ok(r > 0.9, `the trouser photo as seen: correlation ${r.toFixed(3)}`);
      const shownInput = await runCli(["predict", ...data, "--show", `${dir}/trouser.jpg`]);
      assert.equal(shownInput.code, 0, shownInput.stderr);
      const [line, ...drawing] = shownInput.stdout.trimEnd().split("\n");
      assert.match(line!, /^Classified as \d \([A-Z][a-z/-]+( [a-z]+)?\) with probability /);
      assert.ok(drawing.length >= 14, shownInput.stdout);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
