/**
 * The photo set of issue 16: MNIST test digits printed on a sheet of paper and photographed on a
 * desk (tests/digit_photos.ts `photoSet`), with desks of three tones around the sheet, shadows
 * over its edge, across the digit or over most of it, the sheet turned by up to 6°, uneven
 * light, noise and JPEG at quality 70–90. Preprocessing must give back the MNIST digit each photo
 * was made from; no model is needed to tell, so CI checks it on every run. (What the trained
 * models make of the set, before and after, is in docs/photos.md.)
 */
import assert from "node:assert/strict";
import { loadSplit, type Split } from "../src/data/dataset.ts";
import { UserError } from "../src/errors.ts";
import { decodeImage, readHeader } from "../src/image/decode.ts";
import { toMnist } from "../src/image/preprocess.ts";
import {
  correlation,
  type DeskScene,
  DRAWN_FRAMES,
  encodeJpeg,
  framedPhoto,
  pairPhoto,
  photoSet,
  ruledPhoto,
  RULINGS,
} from "./digit_photos.ts";
import { MNIST } from "./test_data.ts";

let testSplit: Split | undefined;
async function mnistTest(): Promise<Split> {
  return testSplit ??= await loadSplit(MNIST, { dataset: "mnist", split: "test" });
}

/** Pearson correlation of two 28×28 images, at the best shift by up to a pixel each way. */
function alignedCorrelation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let best = -1;
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const shifted = new Float32Array(784);
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
          const sx = x - dx, sy = y - dy;
          if (sx >= 0 && sx < 28 && sy >= 0 && sy < 28) shifted[y * 28 + x] = a[sy * 28 + sx]!;
        }
      }
      best = Math.max(best, correlation(shifted, b));
    }
  }
  return best;
}

Deno.test("photoSet() makes 40 desk photos of every kind, balanced and reproducible", async () => {
  const split = await mnistTest();
  const set = photoSet(split, { count: 40 });
  assert.equal(set.length, 40);
  const count = <K extends keyof DeskScene>(key: K) => {
    const seen = new Map<DeskScene[K], number>();
    for (const photo of set) seen.set(photo.scene[key], (seen.get(photo.scene[key]) ?? 0) + 1);
    return seen;
  };
  assert.deepEqual([...count("desk").keys()].sort(), ["dark", "light", "mid"]);
  assert.deepEqual([...count("shadow").keys()].sort(), ["across", "edge", "most", "none"]);
  for (let label = 0; label < 10; label++) {
    assert.equal(set.filter((p) => p.label === label).length, 4, `label ${label}`);
  }
  for (const photo of set) {
    const { scene } = photo;
    assert.equal(split.labels[photo.index], photo.label, photo.name);
    assert.ok(scene.quality >= 70 && scene.quality <= 90, `${photo.name}: quality`);
    assert.ok(Math.abs(scene.rotation) <= 6, `${photo.name}: rotation`);
    assert.ok(scene.shadow === "none" || scene.shadowDepth >= 0.3, `${photo.name}: shadow`);
    const header = readHeader(photo.bytes, photo.name);
    assert.deepEqual(
      [header.format, header.width, header.height],
      ["jpeg", scene.width, scene.height],
    );
    assert.match(photo.name, /^\d_(dark|mid|light)-desk_(none|edge|across|most)-shadow_\d\d\.jpg$/);
  }
  // The same seed makes the same files.
  const again = photoSet(split, { count: 3 });
  again.forEach((photo, i) => assert.deepEqual(photo.bytes, set[i]!.bytes));
});

Deno.test("toMnist() gives back the MNIST digit of each of 40 desk photos", async () => {
  const set = photoSet(await mnistTest(), { count: 40 });
  const scores: { name: string; aligned: number }[] = [];
  for (const photo of set) {
    const digit = toMnist(decodeImage(photo.bytes, photo.name), photo.name);
    // Dark ink on paper, whatever the desk's tone: the desk is never taken for the paper.
    assert.equal(digit.steps.source, "inverted luminance", photo.name);
    // The digit's box lies on the sheet, not around it.
    const { box } = digit.steps;
    assert.ok(
      Math.max(box.width / photo.width, box.height / photo.height) < 0.6,
      `${photo.name}: box ${JSON.stringify(box)} of ${photo.width}×${photo.height}`,
    );
    scores.push({ name: photo.name, aligned: alignedCorrelation(digit.pixels, photo.digit) });
  }
  const sorted = scores.map((s) => s.aligned).sort((a, b) => a - b);
  const read = scores.filter((s) => s.aligned > 0.8).length;
  console.log(
    `  aligned correlation with the original, 40 photos: min ${sorted[0]!.toFixed(3)}, ` +
      `p10 ${sorted[4]!.toFixed(3)}, median ${sorted[20]!.toFixed(3)}; ${read} above 0.8`,
  );
  // Measured: 39 of 40 above 0.8 (the one below, a 1 at 0.74, is still read as a 1 by both
  // models), median 0.92. Before issue 16 the desk decided the polarity in most of them.
  assert.ok(read >= 38, scores.filter((s) => s.aligned <= 0.8).map((s) => s.name).join(", "));
  assert.ok(sorted[20]! > 0.9, `median ${sorted[20]}`);
});

Deno.test("toMnist() drops the rules and grid lines of ruled and squared paper", async () => {
  // Tester u4's papers (tests/digit_photos.ts `ruledPhoto`): lined, with a margin line, a light
  // grid and a dark one, 800×600 JPEGs at quality 85, five test digits on each.
  const split = await mnistTest();
  const scores: { name: string; aligned: number }[] = [];
  for (const ruling of RULINGS) {
    for (let k = 0; k < 5; k++) {
      const index = 1000 + 37 * k;
      const original = split.images.slice(index * 784, (index + 1) * 784);
      const name = `${ruling}_${index}.jpg`;
      const bytes = encodeJpeg(ruledPhoto(original, ruling, k + 1), 85);
      const digit = toMnist(decodeImage(bytes, name), name);
      scores.push({ name, aligned: alignedCorrelation(digit.pixels, original) });
    }
  }
  const sorted = scores.map((s) => s.aligned).sort((a, b) => a - b);
  const read = scores.filter((s) => s.aligned > 0.8).length;
  console.log(
    `  aligned correlation with the original, 20 ruled photos: min ${sorted[0]!.toFixed(3)}, ` +
      `median ${sorted[10]!.toFixed(3)}; ${read} above 0.8`,
  );
  // Measured: min 0.947, median 0.989, 20 of 20 above 0.8; before the rules were dropped, min
  // 0.074, median 0.392, 3 above 0.8 (the rules were most of the ink).
  assert.ok(read >= 18, scores.filter((s) => s.aligned <= 0.8).map((s) => s.name).join(", "));
  assert.ok(sorted[10]! > 0.9, `median ${sorted[10]}`);
});

Deno.test("toMnist() drops a box, a circle or a loop drawn round the digit, and keeps a 0's strokes", async () => {
  // Tester u4's boxed and circled photos (tests/digit_photos.ts `framedPhoto`), and a loop drawn
  // by hand with a gap, five test digits in each; then two 0s (test digits 3 and 10, a loop
  // themselves) in a box and in a loop: the frame goes, the 0 stays.
  const split = await mnistTest();
  const cases = DRAWN_FRAMES.flatMap((frame) =>
    [0, 1, 2, 3, 4].map((k) => ({ frame, index: 1000 + 37 * k, seed: k + 1 }))
  );
  cases.push(
    { frame: "box", index: 3, seed: 6 },
    { frame: "loop", index: 10, seed: 7 },
  );
  const scores: { name: string; aligned: number }[] = [];
  for (const { frame, index, seed } of cases) {
    const original = split.images.slice(index * 784, (index + 1) * 784);
    const name = `${frame}_${index}.jpg`;
    const bytes = encodeJpeg(framedPhoto(original, frame, seed), 85);
    const digit = toMnist(decodeImage(bytes, name), name);
    assert.equal(digit.steps.source, "inverted luminance", name);
    assert.equal(digit.steps.dropped.enclosures, 1, name);
    scores.push({ name, aligned: alignedCorrelation(digit.pixels, original) });
  }
  const sorted = scores.map((s) => s.aligned).sort((a, b) => a - b);
  const read = scores.filter((s) => s.aligned > 0.8).length;
  console.log(
    `  aligned correlation with the original, ${scores.length} framed photos: min ` +
      `${sorted[0]!.toFixed(3)}, median ${
        sorted[scores.length >> 1]!.toFixed(3)
      }; ${read} above 0.8`,
  );
  assert.equal(
    read,
    scores.length,
    scores.filter((s) => s.aligned <= 0.8).map((s) => s.name).join(),
  );
});

Deno.test("toMnist() refuses two digits side by side, saying where they are in the image", async () => {
  // Tester u4's second_digit photos (tests/digit_photos.ts `pairPhoto`): a test digit and the
  // one 5000 further on, 1000×600, each in a 300 px field, the second 255 px to the right.
  const split = await mnistTest();
  const digit = (i: number) => split.images.slice(i * 784, (i + 1) * 784);
  for (let k = 0; k < 5; k++) {
    const index = 1000 + 37 * k;
    const name = `pair_${index}.jpg`;
    const bytes = encodeJpeg(pairPhoto(digit(index), digit(index + 5000), k + 1), 85);
    let message = "";
    assert.throws(() => toMnist(decodeImage(bytes, name), name), (e: unknown) => {
      message = e instanceof UserError ? e.message : String(e);
      return e instanceof UserError;
    });
    const match = message.match(
      /^Image "pair_\d+\.jpg" holds 2 digits side by side, not one \((\d+)×(\d+) pixels at \((\d+), (\d+)\), (\d+)×(\d+) pixels at \((\d+), (\d+)\)\): crop it to the one digit to classify$/,
    );
    assert.ok(match, message);
    const [w1, h1, x1, y1, w2, h2, x2, y2] = match.slice(1).map(Number) as number[];
    // In the photo's pixels: the left digit's field spans x 160..500, the right one's 415..755.
    assert.ok(x1! >= 160 && x1! + w1! <= 500 && x2! >= 415 && x2! + w2! <= 755, message);
    assert.ok(x1! + w1! <= x2!, message);
    for (const [y, h] of [[y1!, h1!], [y2!, h2!]]) {
      assert.ok(y! >= 130 && y! + h! <= 470 && h! >= 150, message);
    }
  }
});
