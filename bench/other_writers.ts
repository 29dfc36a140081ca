/**
 * Issue 17: how well do models trained on MNIST read digits by other writers? The test set is
 * scikit-learn's 8×8 digits (UCI "optdigits": 1,797 digits by 13 writers who are not MNIST's,
 * each a 32×32 bitmap counted in 4×4 blocks, 0..16 ink), brought to MNIST's format as the
 * product's preprocess does (src/image/preprocess.ts): cropped to the ink's box, scaled by area
 * so its longest side is 20 px, placed in 28×28 by its centre of mass, strongest pixel full ink.
 * Each model given is scored on all of them (accuracy and MXNet's cross-entropy, from the same
 * loss kernel as `mnist eval`), so a model trained with `--augment` can be compared with one
 * trained without.
 *
 *     deno run -A bench/other_writers.ts MODEL.safetensors... [--digits digits.csv.gz]
 *         [--png digits.png] [--device auto|gpu|cpu]
 *
 * `--digits` defaults to the copy Debian's python3-sklearn ships
 * (`apt-get install python3-sklearn`): 1,797 lines of 64 values 0..16 and the label. `--png`
 * draws the first 100 converted digits, to look at what the models see.
 */
import { parseArgs } from "node:util";
import { gridImage } from "../src/cli/show.ts";
import { acquireGpu, type DeviceChoice } from "../src/gpu/device.ts";
import { KernelCache } from "../src/gpu/kernel.ts";
import {
  boundingBox,
  crop,
  DIGIT_SIDE,
  fitSize,
  type GreyMap,
  MNIST_SIDE,
  placeByCenterOfMass,
  resizeArea,
} from "../src/image/preprocess.ts";
import { encodePng } from "../src/image/png.ts";
import { loadCheckpoint } from "../src/nn/checkpoint.ts";
import { Network } from "../src/nn/network.ts";
import { ParamStore } from "../src/nn/params.ts";
import { inferenceVariants } from "../src/nn/variants.ts";
import { Evaluator } from "../src/train/evaluate.ts";
import type { HostSplit } from "../src/train/feeder.ts";
import { accuracy, crossEntropy } from "../src/train/metrics.ts";

/** Where Debian's python3-sklearn keeps the digits. */
const SKLEARN_DIGITS = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";

/** The optdigits' side and their largest value (a count of 16 ink pixels in a 4×4 block). */
const SIDE = 8;
const FULL = 16;

/** Reads the gzipped CSV: (count, 8, 8) ink in [0, 1] and (count) labels. */
async function readDigits(path: string): Promise<{ maps: GreyMap[]; labels: Uint8Array }> {
  const file = await Deno.open(path);
  const text = await new Response(
    file.readable.pipeThrough(new DecompressionStream("gzip")),
  ).text();
  const maps: GreyMap[] = [];
  const labels: number[] = [];
  for (const [n, line] of text.trim().split("\n").entries()) {
    const values = line.split(",").map(Number);
    if (values.length !== SIDE * SIDE + 1 || values.some((v) => !Number.isInteger(v))) {
      throw new Error(`${path}, line ${n + 1}: expected 65 integers`);
    }
    const data = Float32Array.from(values.slice(0, SIDE * SIDE), (v) => v / FULL); // (8, 8)
    maps.push({ width: SIDE, height: SIDE, data });
    labels.push(values[SIDE * SIDE]!);
  }
  return { maps, labels: Uint8Array.from(labels) };
}

/**
 * One 8×8 digit as MNIST's 28×28 bytes, with the product's steps (toMnist after its ink is
 * found): every pixel with ink is in the box, as a clean scan's would be.
 */
function toMnist28(map: GreyMap, name: string): Uint8Array {
  const box = boundingBox(map, { name, threshold: 1 / FULL });
  const size = fitSize(box, DIGIT_SIDE);
  const placed = placeByCenterOfMass(
    resizeArea(crop(map, box), size),
    MNIST_SIDE,
  );
  const pixels = placed.map.data; // (28, 28)
  let max = 0;
  for (const v of pixels) max = Math.max(max, v);
  return Uint8Array.from(pixels, (v) => Math.round((v / max) * 255));
}

const { values: opts, positionals: models } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    digits: { type: "string", default: SKLEARN_DIGITS },
    png: { type: "string" },
    device: { type: "string", default: "auto" },
  },
});
if (models.length === 0) {
  console.error("usage: deno run -A bench/other_writers.ts MODEL.safetensors... [--png FILE]");
  Deno.exit(2);
}

const { maps, labels } = await readDigits(opts.digits!);
const count = maps.length;
const images = new Uint8Array(count * MNIST_SIDE * MNIST_SIDE); // (count, 28, 28)
maps.forEach((map, i) => images.set(toMnist28(map, `digit ${i}`), i * MNIST_SIDE * MNIST_SIDE));
const split: HostSplit = { images, labels, count, rows: MNIST_SIDE, cols: MNIST_SIDE };
console.log(`${count} digits from ${opts.digits}, as 28×28 MNIST-style images`);
if (opts.png !== undefined) {
  const shown = Math.min(100, count);
  const grid = gridImage({ ...split, count: shown }, { scale: 2 });
  await Deno.writeFile(opts.png, await encodePng(grid));
  console.log(`wrote the first ${shown} to ${opts.png}`);
}

const gpu = await acquireGpu(opts.device as DeviceChoice);
console.log(`adapter: ${gpu.name}${gpu.isCpu ? " (CPU)" : ""}`);
const kernels = new KernelCache(gpu.device);
console.log("| model | trained | MNIST validation accuracy | other writers: accuracy | CE |");
console.log("|---|---|---|---|---|");
for (const path of models) {
  const checkpoint = await loadCheckpoint(path);
  const model = checkpoint.meta.model;
  const store = new ParamStore(gpu.device, model);
  store.load(checkpoint.params);
  const network = new Network(gpu.device, kernels, {
    model,
    store,
    B: 100,
    train: false,
    variants: inferenceVariants(model, gpu),
  });
  const evaluator = new Evaluator(gpu.device, kernels, { network, split });
  const { metrics } = await evaluator.run();
  gpu.checkErrors();
  const t = checkpoint.meta.training;
  const trained = `${model.name}, ${checkpoint.meta.epoch + 1} epochs` +
    (t?.augment ? ", --augment" : "") + (t?.optimizer ? `, ${t.optimizer}` : "");
  const mnist = checkpoint.meta.accuracy === undefined
    ? "?"
    : `${(checkpoint.meta.accuracy * 100).toFixed(2)}%`;
  console.log(
    `| ${path} | ${trained} | ${mnist} | ${(accuracy(metrics) * 100).toFixed(2)}% ` +
      `(${metrics.correct}/${metrics.count}) | ${crossEntropy(metrics).toFixed(4)} |`,
  );
  evaluator.destroy();
  network.destroy();
  store.destroy();
}
gpu.device.destroy();
