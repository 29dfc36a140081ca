/**
 * The oracle's own tests. Forward passes are checked on tiny examples worked by hand; backward
 * passes against central differences of the scalar loss `L = Σ y · r` for a fixed random r (so
 * `dy = r`), on shapes chosen to break indexing: B = 1, sizes that are not multiples of 4/8/16,
 * strides that leave rows unused, and LeNet's real shapes (sampled coordinates there).
 *
 * Dense, conv, max-pool and ReLU are linear in each single input around a point (away from
 * ties and kinks), so central differences are exact for any step: those checks use a large step
 * so the float32 rounding of y stays small against the difference.
 */

import assert from "node:assert/strict";
import { Rng } from "../src/random.ts";
import { assertClose, gradCheck, numericGradient, randomArray, sampleIndices } from "./check.ts";
import {
  accuracyCount,
  CE_EPS,
  conv2dBackward,
  type Conv2dDims,
  conv2dForward,
  conv2dOutputShape,
  denseBackward,
  type DenseDims,
  denseForward,
  maxPoolBackward,
  type MaxPoolDims,
  maxPoolForward,
  maxPoolOutputShape,
  reluBackward,
  reluForward,
  sgdUpdate,
  sigmoidBackward,
  sigmoidForward,
  softmaxCrossEntropy,
  tanhBackward,
  tanhForward,
} from "./reference.ts";

/** Coordinates checked per buffer at LeNet's shapes, where checking all would be slow. */
const SAMPLE = 50;

/** `Σ y · r` in float64. */
function dot(y: ArrayLike<number>, r: ArrayLike<number>): number {
  assert.equal(y.length, r.length);
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += y[i]! * r[i]!;
  return sum;
}

/** Distinct values `(p - n/2) · spacing` for a random permutation p of [0, n): no ties. */
function distinctArray(n: number, rng: Rng, spacing: number): Float32Array {
  const perm = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
  return Float32Array.from(perm, (p) => (p - n / 2) * spacing);
}

/** Random values with |v| in [0.1, 1): clear of ReLU's kink at 0. */
function awayFromZero(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.next() < 0.5 ? -1 : 1) * rng.uniform(0.1, 1));
}

// ---------------------------------------------------------------------------------------------
// check.ts: the checker must be able to fail.

Deno.test("assertClose accepts values within atol + rtol * |expected|", () => {
  assertClose([1, 100, NaN, Infinity, -0], [1 + 9e-6, 100.01, NaN, Infinity, 0]);
});

Deno.test("assertClose reports the mismatch count and the first 5 mismatches", () => {
  const expected = new Float32Array(10);
  const actual = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 0, 0, 0]);
  assert.throws(
    () => assertClose(actual, expected, { label: "dy" }),
    (e: Error) => {
      assert.equal(e.name, "AssertionError");
      assert.match(e.message, /^dy: 6 of 10 elements differ/);
      assert.match(e.message, /\[1\] actual 1, expected 0\n/);
      assert.match(e.message, /\[5\] actual 5, expected 0$/);
      assert.doesNotMatch(e.message, /\[6\]/);
      return true;
    },
  );
});

Deno.test("assertClose rejects NaN, infinities and lengths that do not match", () => {
  assert.throws(() => assertClose([NaN], [0]), /1 of 1 elements differ/);
  assert.throws(() => assertClose([0], [NaN]), /1 of 1 elements differ/);
  assert.throws(() => assertClose([1e30], [Infinity]), /1 of 1 elements differ/);
  assert.throws(() => assertClose([-Infinity], [Infinity]), /1 of 1 elements differ/);
  assert.throws(() => assertClose([1, 2], [1]), /actual has 2 elements, expected 1/);
  assert.throws(() => assertClose([1.001], [1], { atol: 0, rtol: 1e-4 }), /differ/);
});

Deno.test("numericGradient differentiates a cubic and restores x", () => {
  const x = Float32Array.from([0.5, -1.25, 2]);
  const before = x.slice();
  // f = Σ x³, f' = 3x²; central differences are off by eps² per coordinate.
  const f = () => x.reduce((s, v) => s + v * v * v, 0);
  assertClose(numericGradient(f, x, { eps: 1e-3 }), [0.75, 4.6875, 12], { atol: 1e-5 });
  assertClose(numericGradient(f, x, { indices: [2] }), [12], { atol: 1e-5 });
  assert.deepEqual(x, before);
});

Deno.test("gradCheck rejects a gradient with one wrong coordinate and names its index", () => {
  const rng = new Rng(1);
  const x = randomArray(20, rng);
  const f = () => x.reduce((s, v) => s + v * v, 0);
  const grad = x.map((v) => 2 * v);
  gradCheck({ f, x, analytic: grad });
  grad[13] = grad[13]! + 0.01;
  assert.throws(() => gradCheck({ f, x, analytic: grad }), /1 of 20 .*\n {2}\[13\]/);
  const indices = sampleIndices(x.length, 5, rng);
  assert.ok(indices.includes(0) && indices.includes(19) && indices.length === 5);
  assert.throws(
    () => gradCheck({ f, x, analytic: grad }, { indices: [3, 13] }),
    /1 of 2 .*\n {2}\[13\]/,
  );
});

// ---------------------------------------------------------------------------------------------
// Dense

Deno.test("denseForward computes a 1×2×2 layer by hand", () => {
  const y = denseForward(
    { x: Float32Array.of(1, 2), w: Float32Array.of(1, 2, 3, 4), b: Float32Array.of(0.5, -1) },
    { B: 1, I: 2, O: 2 },
  );
  // y0 = 1·1 + 2·2 + 0.5; y1 = 1·3 + 2·4 - 1
  assertClose(y, [5.5, 10], { atol: 0, rtol: 0 });
});

Deno.test("denseBackward computes a 1×2×2 layer by hand", () => {
  const { dx, dw, db } = denseBackward(
    { dy: Float32Array.of(1, -1), x: Float32Array.of(1, 2), w: Float32Array.of(1, 2, 3, 4) },
    { B: 1, I: 2, O: 2 },
  );
  assertClose(dx, [1 - 3, 2 - 4], { atol: 0, rtol: 0 }); // dy · w
  assertClose(dw, [1, 2, -1, -2], { atol: 0, rtol: 0 }); // dyᵀ · x
  assertClose(db, [1, -1], { atol: 0, rtol: 0 });
});

Deno.test("denseForward throws naming the buffer whose size does not match the dims", () => {
  const x = new Float32Array(6);
  assert.throws(
    () => denseForward({ x, w: new Float32Array(6), b: new Float32Array(2) }, { B: 2, I: 4, O: 2 }),
    /denseForward: x has 6 elements, expected \(B, I\) = \(2, 4\) = 8/,
  );
});

function checkDenseBackward(dims: DenseDims, seed: number, sample?: number): void {
  const rng = new Rng(seed);
  const { B, I, O } = dims;
  const x = randomArray(B * I, rng); // (B, I)
  const w = randomArray(O * I, rng); // (O, I)
  const b = randomArray(O, rng); // (O)
  const r = randomArray(B * O, rng); // (B, O) = dy
  const loss = () => dot(denseForward({ x, w, b }, dims), r);
  const { dx, dw, db } = denseBackward({ dy: r, x, w }, dims);
  for (const [name, v, grad] of [["x", x, dx], ["w", w, dw], ["b", b, db]] as const) {
    const indices = sample === undefined ? undefined : sampleIndices(v.length, sample, rng);
    gradCheck({ f: loss, x: v, analytic: grad }, { eps: 0.5, indices, label: `d${name}` });
  }
}

Deno.test("denseBackward matches finite differences with B = 1", () => {
  checkDenseBackward({ B: 1, I: 3, O: 5 }, 10);
});

Deno.test("denseBackward matches finite differences when I and O are not multiples of 4", () => {
  checkDenseBackward({ B: 3, I: 17, O: 9 }, 11);
  checkDenseBackward({ B: 5, I: 33, O: 7 }, 12);
});

Deno.test("denseBackward matches finite differences at LeNet's shapes (800 → 500 → 10)", () => {
  checkDenseBackward({ B: 2, I: 800, O: 500 }, 13, SAMPLE);
  checkDenseBackward({ B: 2, I: 500, O: 10 }, 14, SAMPLE);
});

Deno.test("denseBackward matches finite differences at the MLP's first layer (784 → 128)", () => {
  checkDenseBackward({ B: 2, I: 784, O: 128 }, 15, SAMPLE);
});

// ---------------------------------------------------------------------------------------------
// Activations

Deno.test("reluForward and reluBackward give 0 at and below 0", () => {
  const x = Float32Array.of(-1, 0, 2, -0);
  assertClose(reluForward(x), [0, 0, 2, 0], { atol: 0, rtol: 0 });
  assertClose(reluBackward({ x, dy: Float32Array.of(5, 5, 5, 5) }), [0, 0, 5, 0], {
    atol: 0,
    rtol: 0,
  });
});

Deno.test("tanh and sigmoid match known values", () => {
  const x = Float32Array.of(0, 1, -2);
  assertClose(tanhForward(x), [0, Math.tanh(1), Math.tanh(-2)]);
  assertClose(sigmoidForward(x), [0.5, 1 / (1 + Math.exp(-1)), 1 / (1 + Math.exp(2))]);
  assertClose(sigmoidForward(Float32Array.of(-1000, 1000)), [0, 1], { atol: 0, rtol: 0 });
  // tanh' = 1 - y², sigmoid' = y(1 - y)
  assertClose(tanhBackward({ y: Float32Array.of(0, 0.5), dy: Float32Array.of(2, 2) }), [2, 1.5]);
  assertClose(sigmoidBackward({ y: Float32Array.of(0.5, 0.25), dy: Float32Array.of(1, 4) }), [
    0.25,
    0.75,
  ]);
});

Deno.test("reluBackward matches finite differences away from 0", () => {
  const rng = new Rng(20);
  const x = awayFromZero(37, rng);
  const r = randomArray(37, rng);
  const analytic = reluBackward({ x, dy: r });
  gradCheck({ f: () => dot(reluForward(x), r), x, analytic }, { eps: 0.05 });
  assert.ok(analytic.some((v) => v === 0) && analytic.some((v) => v !== 0));
});

Deno.test("tanhBackward matches finite differences", () => {
  const rng = new Rng(21);
  const x = randomArray(37, rng, { lo: -3, hi: 3 });
  const r = randomArray(37, rng);
  const analytic = tanhBackward({ y: tanhForward(x), dy: r });
  gradCheck({ f: () => dot(tanhForward(x), r), x, analytic }, { eps: 1e-2 });
});

Deno.test("sigmoidBackward matches finite differences", () => {
  const rng = new Rng(22);
  const x = randomArray(37, rng, { lo: -6, hi: 6 });
  const r = randomArray(37, rng);
  const analytic = sigmoidBackward({ y: sigmoidForward(x), dy: r });
  gradCheck({ f: () => dot(sigmoidForward(x), r), x, analytic }, { eps: 1e-2 });
});

// ---------------------------------------------------------------------------------------------
// Softmax with cross-entropy, accuracy

Deno.test("softmaxCrossEntropy of [0, ln 3] is [0.25, 0.75]", () => {
  const { prob, loss, dlogits } = softmaxCrossEntropy(
    { logits: Float32Array.of(0, Math.log(3)), labels: Uint8Array.of(1) },
    { B: 1, N: 2 },
  );
  assertClose(prob, [0.25, 0.75], { atol: 1e-7, rtol: 0 });
  assertClose([loss], [-Math.log(0.75)], { atol: 1e-7, rtol: 0 });
  assertClose(dlogits, [0.25, -0.25], { atol: 1e-7, rtol: 0 }); // prob - onehot, not / B
});

Deno.test("softmaxCrossEntropy sums the loss over the batch and does not divide by B", () => {
  const logits = Float32Array.of(0, Math.log(3), 0, Math.log(3));
  const { loss, dlogits } = softmaxCrossEntropy(
    { logits, labels: Int32Array.of(1, 0) },
    { B: 2, N: 2 },
  );
  assertClose([loss], [-Math.log(0.75) - Math.log(0.25)], { atol: 1e-6, rtol: 0 });
  assertClose(dlogits, [0.25, -0.25, -0.75, 0.75], { atol: 1e-7, rtol: 0 });
});

Deno.test("softmaxCrossEntropy is stable for large logits", () => {
  const { prob, loss } = softmaxCrossEntropy(
    { logits: Float32Array.of(1000, 1000 + Math.log(3)), labels: Float32Array.of(0) },
    { B: 1, N: 2 },
  );
  assertClose(prob, [0.25, 0.75], { atol: 1e-4, rtol: 0 }); // ln 3 rounds at 1000's ulp
  assertClose([loss], [-Math.log(0.25)], { atol: 1e-3, rtol: 0 });
});

Deno.test("softmaxCrossEntropy adds MXNet's eps to the probability of the label", () => {
  const { prob, loss } = softmaxCrossEntropy(
    { logits: Float32Array.of(0, 200), labels: Uint8Array.of(0) },
    { B: 1, N: 2 },
  );
  assert.equal(prob[0], 0); // e^-200 underflows float32
  assertClose([loss], [-Math.log(CE_EPS)], { atol: 1e-9, rtol: 0 });
  assertClose([loss], [27.6310], { atol: 1e-4, rtol: 0 });
});

Deno.test("softmaxCrossEntropy rows sum to 1 for random logits", () => {
  const rng = new Rng(30);
  const B = 3, N = 10;
  const { prob } = softmaxCrossEntropy(
    { logits: randomArray(B * N, rng, { lo: -10, hi: 10 }), labels: Uint8Array.of(0, 9, 4) },
    { B, N },
  );
  for (let n = 0; n < B; n++) {
    assertClose([prob.subarray(n * N, n * N + N).reduce((s, v) => s + v, 0)], [1]);
  }
});

Deno.test("softmaxCrossEntropy throws on a label outside [0, N)", () => {
  assert.throws(
    () =>
      softmaxCrossEntropy({ logits: new Float32Array(4), labels: Uint8Array.of(0, 2) }, {
        B: 2,
        N: 2,
      }),
    /labels\[1\] is 2, expected a class in \[0, N = 2\)/,
  );
});

function checkSoftmaxBackward(B: number, N: number, seed: number, scale: number): void {
  const rng = new Rng(seed);
  const logits = randomArray(B * N, rng, { lo: -scale, hi: scale }); // (B, N)
  const labels = Int32Array.from({ length: B }, () => rng.int(N)); // (B)
  const { dlogits } = softmaxCrossEntropy({ logits, labels }, { B, N });
  gradCheck(
    {
      f: () => softmaxCrossEntropy({ logits, labels }, { B, N }).loss,
      x: logits,
      analytic: dlogits,
    },
    { eps: 1e-3, atol: 1e-5, rtol: 1e-3, label: "dlogits" },
  );
}

Deno.test("softmaxCrossEntropy dlogits match finite differences of the summed loss", () => {
  checkSoftmaxBackward(1, 10, 31, 3);
  checkSoftmaxBackward(3, 7, 32, 3);
  checkSoftmaxBackward(2, 10, 33, 8);
});

Deno.test("accuracyCount takes the first index on ties and counts only valid rows", () => {
  const prob = Float32Array.of(
    0.1,
    0.7,
    0.2, // argmax 1, label 1: right
    0.5,
    0.5,
    0, // tie, argmax 0, label 0: right
    0.3,
    0.3,
    0.3, // tie, argmax 0, label 0: right
    0.5,
    0.5,
    0, // tie, argmax 0, label 1: wrong
    0.2,
    0.1,
    0.7, // argmax 2, label 0: wrong
    0,
    0,
    1, // argmax 2, label 2: right
  ); // (6, 3)
  const dims = { B: 6, N: 3 };
  for (const labels of [Uint8Array.of(1, 0, 0, 1, 0, 2), Int32Array.of(1, 0, 0, 1, 0, 2)]) {
    assert.equal(accuracyCount({ prob, labels }, dims), 4);
    assert.equal(accuracyCount({ prob, labels }, { ...dims, valid: 5 }), 3);
    assert.equal(accuracyCount({ prob, labels }, { ...dims, valid: 0 }), 0);
  }
  assert.equal(accuracyCount({ prob, labels: Float32Array.of(1, 0, 0, 1, 0, 2) }, dims), 4);
  // Labels of padding rows past `valid` are not read.
  const padded = Uint8Array.of(1, 0, 0, 1, 255, 255);
  assert.equal(accuracyCount({ prob, labels: padded }, { ...dims, valid: 4 }), 3);
});

// ---------------------------------------------------------------------------------------------
// SGD

// Shared case: w = [1, -2], g = [10, 4], lr 0.1, wd 0.01, rescaleGrad 0.5, so g' = [5, 2] and
// lr·(g' + wd·w) = [0.1·5.01, 0.1·1.98] = [0.501, 0.198].
const SGD = { lr: 0.1, wd: 0.01, rescaleGrad: 0.5 };

Deno.test("sgdUpdate with momentum 0 matches hand-computed numbers", () => {
  const w = Float32Array.of(1, -2);
  const mom = Float32Array.of(7, 7);
  sgdUpdate({ w, g: Float32Array.of(10, 4), mom }, { ...SGD, momentum: 0 });
  assertClose(w, [1 - 0.501, -2 - 0.198], { atol: 1e-6, rtol: 0 });
  assertClose(mom, [7, 7], { atol: 0, rtol: 0 }); // untouched without momentum
});

Deno.test("sgdUpdate with momentum 0.9 matches hand-computed numbers over two steps", () => {
  const w = Float32Array.of(1, -2);
  const mom = Float32Array.of(0.2, -0.1);
  const g = Float32Array.of(10, 4);
  sgdUpdate({ w, g, mom }, { ...SGD, momentum: 0.9 });
  // mom = 0.9·[0.2, -0.1] - [0.501, 0.198] = [-0.321, -0.288]; w += mom
  assertClose(mom, [-0.321, -0.288], { atol: 1e-6, rtol: 0 });
  assertClose(w, [0.679, -2.288], { atol: 1e-6, rtol: 0 });
  sgdUpdate({ w, g, mom }, { ...SGD, momentum: 0.9 });
  // mom = 0.9·[-0.321, -0.288] - 0.1·([5, 2] + 0.01·[0.679, -2.288])
  //     = [-0.2889 - 0.500679, -0.2592 - 0.197712] = [-0.789579, -0.456912]
  assertClose(mom, [-0.789579, -0.456912], { atol: 1e-6, rtol: 0 });
  assertClose(w, [0.679 - 0.789579, -2.288 - 0.456912], { atol: 1e-6, rtol: 0 });
});

Deno.test("sgdUpdate clips the rescaled gradient when clipGradient > 0", () => {
  const g = Float32Array.of(10, 4, -10); // g' = [5, 2, -5], clipped to [3, 2, -3]
  const w = Float32Array.of(1, -2, 0);
  sgdUpdate({ w, g }, { ...SGD, momentum: 0, clipGradient: 3 });
  assertClose(w, [1 - 0.1 * 3.01, -2 - 0.198, 0.3], { atol: 1e-6, rtol: 0 });
  const unclipped = Float32Array.of(1, -2, 0);
  sgdUpdate({ w: unclipped, g }, { ...SGD, momentum: 0, clipGradient: 0 });
  assertClose(unclipped, [0.499, -2.198, 0.5], { atol: 1e-6, rtol: 0 });
});

Deno.test("sgdUpdate throws when momentum > 0 and no mom buffer is given", () => {
  assert.throws(
    () => sgdUpdate({ w: new Float32Array(2), g: new Float32Array(2) }, { ...SGD, momentum: 0.9 }),
    /momentum is 0.9 but no mom buffer was given/,
  );
});

// ---------------------------------------------------------------------------------------------
// Conv2d

Deno.test("conv2dForward sums 2×2 windows of a 3×3 image by hand", () => {
  const x = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9); // (1, 1, 3, 3)
  const y = conv2dForward(
    { x, w: Float32Array.of(1, 1, 1, 1), b: Float32Array.of(1) },
    { B: 1, C: 1, H: 3, W: 3, O: 1, K: 2 },
  );
  assertClose(y, [13, 17, 25, 29], { atol: 0, rtol: 0 });
});

Deno.test("conv2dForward with stride 2 and padding 1 reads zeros outside the image", () => {
  const x = Float32Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9); // (1, 1, 3, 3)
  const dims = { B: 1, C: 1, H: 3, W: 3, O: 1, K: 3, stride: 2, pad: 1 };
  assert.deepEqual(conv2dOutputShape(dims), { OH: 2, OW: 2 });
  const center = Float32Array.of(0, 0, 0, 0, 1, 0, 0, 0, 0);
  assertClose(conv2dForward({ x, w: center, b: Float32Array.of(0) }, dims), [1, 3, 7, 9], {
    atol: 0,
    rtol: 0,
  });
  const ones = new Float32Array(9).fill(1);
  // Each 3×3 window overlaps the image in a 2×2 corner.
  assertClose(conv2dForward({ x, w: ones, b: Float32Array.of(0) }, dims), [12, 16, 24, 28], {
    atol: 0,
    rtol: 0,
  });
});

Deno.test("conv2dForward with an identity kernel returns its input", () => {
  const rng = new Rng(40);
  const dims = { B: 2, C: 2, H: 4, W: 5, O: 2, K: 3, pad: 1 };
  const x = randomArray(2 * 2 * 4 * 5, rng); // (B, C, H, W)
  const w = new Float32Array(2 * 2 * 3 * 3); // (O, C, K, K): w[o, c, 1, 1] = (o == c)
  w[((0 * 2 + 0) * 3 + 1) * 3 + 1] = 1;
  w[((1 * 2 + 1) * 3 + 1) * 3 + 1] = 1;
  assertClose(conv2dForward({ x, w, b: new Float32Array(2) }, dims), x, { atol: 0, rtol: 0 });
});

Deno.test("conv2dForward with a kernel covering the whole image equals denseForward", () => {
  // With K = H = W and no padding, y (B, O, 1, 1) is a dense layer over the flattened
  // (C, H, W) input with w (O, C·K·K): this pins the flatten order of x and w.
  const rng = new Rng(41);
  const B = 3, C = 3, K = 5, O = 7;
  const x = randomArray(B * C * K * K, rng);
  const w = randomArray(O * C * K * K, rng);
  const b = randomArray(O, rng);
  assertClose(
    conv2dForward({ x, w, b }, { B, C, H: K, W: K, O, K }),
    denseForward({ x, w, b }, { B, I: C * K * K, O }),
    { atol: 1e-6, rtol: 1e-6 },
  );
});

Deno.test("conv2dForward throws when w is not (O, C, K, K)", () => {
  const dims = { B: 1, C: 2, H: 5, W: 5, O: 3, K: 3 };
  const x = new Float32Array(2 * 5 * 5);
  assert.throws(
    () => conv2dForward({ x, w: new Float32Array(3 * 2 * 3), b: new Float32Array(3) }, dims),
    /conv2dForward: w has 18 elements, expected \(O, C, K, K\) = \(3, 2, 3, 3\) = 54/,
  );
});

Deno.test("conv2dOutputShape floors and throws when the kernel does not fit", () => {
  assert.deepEqual(conv2dOutputShape({ H: 8, W: 7, K: 5, stride: 2 }), { OH: 2, OW: 2 });
  assert.deepEqual(conv2dOutputShape({ H: 28, W: 28, K: 5 }), { OH: 24, OW: 24 });
  assert.throws(() => conv2dOutputShape({ H: 4, W: 9, K: 5 }), /K = 5 does not fit/);
});

function checkConv2dBackward(dims: Conv2dDims, seed: number, sample?: number): void {
  const rng = new Rng(seed);
  const { B, C, H, W, O, K } = dims;
  const { OH, OW } = conv2dOutputShape(dims);
  const x = randomArray(B * C * H * W, rng); // (B, C, H, W)
  const w = randomArray(O * C * K * K, rng); // (O, C, K, K)
  const b = randomArray(O, rng); // (O)
  const r = randomArray(B * O * OH * OW, rng); // (B, O, OH, OW) = dy
  const loss = () => dot(conv2dForward({ x, w, b }, dims), r);
  const { dx, dw, db } = conv2dBackward({ dy: r, x, w }, dims);
  for (const [name, v, grad] of [["x", x, dx], ["w", w, dw], ["b", b, db]] as const) {
    const indices = sample === undefined ? undefined : sampleIndices(v.length, sample, rng);
    gradCheck({ f: loss, x: v, analytic: grad }, { eps: 0.5, indices, label: `d${name}` });
  }
}

Deno.test("conv2dBackward matches finite differences with C = 1, B = 1 and H ≠ W", () => {
  checkConv2dBackward({ B: 1, C: 1, H: 5, W: 7, O: 2, K: 3 }, 50);
});

Deno.test("conv2dBackward matches finite differences with stride 2 and padding 1", () => {
  checkConv2dBackward({ B: 2, C: 3, H: 7, W: 6, O: 4, K: 3, stride: 2, pad: 1 }, 51);
});

Deno.test("conv2dBackward matches finite differences with K = 5 and padding 1", () => {
  checkConv2dBackward({ B: 2, C: 3, H: 9, W: 8, O: 3, K: 5, pad: 1 }, 52);
});

Deno.test("conv2dBackward matches finite differences when stride 2 leaves a row unused", () => {
  // H = 8, W = 7, K = 5, stride 2: OH = OW = 2, and the last row of x feeds no window.
  const dims = { B: 1, C: 2, H: 8, W: 7, O: 3, K: 5, stride: 2 };
  checkConv2dBackward(dims, 53);
  const rng = new Rng(54);
  const { dx } = conv2dBackward({
    dy: randomArray(1 * 3 * 2 * 2, rng),
    x: randomArray(2 * 8 * 7, rng),
    w: randomArray(3 * 2 * 5 * 5, rng),
  }, dims);
  for (let c = 0; c < 2; c++) {
    assert.ok(dx.subarray((c * 8 + 7) * 7, (c * 8 + 8) * 7).every((v) => v === 0));
  }
});

Deno.test("conv2dBackward matches finite differences at LeNet's first conv (1×28×28 → 20×24×24)", () => {
  checkConv2dBackward({ B: 2, C: 1, H: 28, W: 28, O: 20, K: 5 }, 55, SAMPLE);
});

Deno.test("conv2dBackward matches finite differences at LeNet's second conv (20×12×12 → 50×8×8)", () => {
  checkConv2dBackward({ B: 2, C: 20, H: 12, W: 12, O: 50, K: 5 }, 56, SAMPLE);
});

// ---------------------------------------------------------------------------------------------
// Max pooling

Deno.test("maxPoolForward picks the first maximum on ties and returns flat indices into x", () => {
  const x = Float32Array.of(
    1,
    5,
    7,
    7, // b = 0, row 0
    3,
    2,
    7,
    7, // b = 0, row 1
    -1,
    -3,
    0,
    4, // b = 1, row 0
    -2,
    -1,
    9,
    4, // b = 1, row 1
  ); // (2, 1, 2, 4)
  const { y, argmax } = maxPoolForward({ x }, { B: 2, C: 1, H: 2, W: 4, K: 2, stride: 2 });
  assertClose(y, [5, 7, -1, 9], { atol: 0, rtol: 0 });
  assert.deepEqual(argmax, Int32Array.of(1, 2, 8, 14));
});

Deno.test("maxPoolBackward accumulates where overlapping windows pick the same input", () => {
  const x = Float32Array.of(0, 9, 0, 0, 0, 0); // (1, 1, 2, 3)
  const dims = { B: 1, C: 1, H: 2, W: 3, K: 2, stride: 1 };
  const { argmax } = maxPoolForward({ x }, dims);
  assert.deepEqual(argmax, Int32Array.of(1, 1));
  const dx = maxPoolBackward({ dy: Float32Array.of(1, 2), argmax }, dims);
  assertClose(dx, [0, 3, 0, 0, 0, 0], { atol: 0, rtol: 0 });
});

Deno.test("maxPoolOutputShape floors odd sizes", () => {
  assert.deepEqual(maxPoolOutputShape({ H: 5, W: 7 }), { OH: 2, OW: 3 });
  assert.deepEqual(maxPoolOutputShape({ H: 7, W: 6, K: 3, stride: 2 }), { OH: 3, OW: 2 });
  assert.deepEqual(maxPoolOutputShape({ H: 24, W: 24, K: 2, stride: 2 }), { OH: 12, OW: 12 });
});

function checkMaxPoolBackward(dims: MaxPoolDims, seed: number, sample?: number): void {
  const rng = new Rng(seed);
  const { B, C, H, W } = dims;
  const { OH, OW } = maxPoolOutputShape(dims);
  // Distinct values 0.01 apart and a step of 0.002: no perturbation changes a window's argmax.
  const x = distinctArray(B * C * H * W, rng, 0.01); // (B, C, H, W)
  const r = randomArray(B * C * OH * OW, rng); // (B, C, OH, OW) = dy
  const { argmax } = maxPoolForward({ x }, dims);
  const dx = maxPoolBackward({ dy: r, argmax }, dims);
  const indices = sample === undefined ? undefined : sampleIndices(x.length, sample, rng);
  gradCheck(
    { f: () => dot(maxPoolForward({ x }, dims).y, r), x, analytic: dx },
    { eps: 0.002, indices, label: "dx" },
  );
}

Deno.test("maxPoolBackward matches finite differences with B = 1", () => {
  checkMaxPoolBackward({ B: 1, C: 1, H: 4, W: 4 }, 60);
});

Deno.test("maxPoolBackward matches finite differences when H and W are odd", () => {
  checkMaxPoolBackward({ B: 2, C: 3, H: 5, W: 7, K: 2, stride: 2 }, 61);
});

Deno.test("maxPoolBackward matches finite differences with overlapping 3×3 windows, stride 2", () => {
  checkMaxPoolBackward({ B: 2, C: 2, H: 7, W: 6, K: 3, stride: 2 }, 62);
});

Deno.test("maxPoolBackward matches finite differences at LeNet's shapes (24×24 and 8×8)", () => {
  checkMaxPoolBackward({ B: 2, C: 20, H: 24, W: 24 }, 63, SAMPLE);
  checkMaxPoolBackward({ B: 2, C: 50, H: 8, W: 8 }, 64, SAMPLE);
});
