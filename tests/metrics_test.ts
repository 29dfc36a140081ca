/**
 * `--metric`'s names and values (src/train/metrics.ts), and the loss kernel's cross-entropy sum
 * against MXNet's CrossEntropy metric (python/mxnet/metric.py): the mean over rows of
 * -ln(p(label) + eps), eps = 1e-12, computed here in float64 from float64 probabilities.
 */
import assert from "node:assert/strict";
import { UserError } from "../src/errors.ts";
import { encode } from "../src/gpu/kernel.ts";
import { buildLoss } from "../src/nn/loss.ts";
import {
  accuracy,
  CROSS_ENTROPY_EPS,
  crossEntropy,
  type Metrics,
  metricValues,
  parseMetrics,
} from "../src/train/metrics.ts";
import { gpuTest, readF32, runPass, upload } from "./gpu_helpers.ts";

/** Classes N of the test rows. */
const N = 10;

/**
 * MXNet's CrossEntropy of one row: -ln(softmax(logits)[label] + eps), in float64.
 * `logits`: (N).
 */
function mxnetCrossEntropy(logits: readonly number[], label: number): number {
  const max = Math.max(...logits);
  const e = logits.map((x) => Math.exp(x - max)); // (N)
  const sum = e.reduce((a, b) => a + b, 0);
  return -Math.log(e[label]! / sum + CROSS_ENTROPY_EPS);
}

gpuTest(
  "loss kernel sums MXNet's -ln(p + 1e-12), p underflowing, tiny, middling or near 1",
  async (g, kernels) => {
    // Each row: the label's logit `gap` below the other nine (all equal), so that
    // p(label) = 1 / (1 + 9 e^gap): gap -20 gives p ≈ 1, 0 gives 0.1, 25.4 about 1e-12 (where
    // eps doubles p), 40 about 5e-19 and 200 an f32 underflow (MXNet's score is then -ln 1e-12).
    const gaps = [-20, -3, 0, 2.5, 9, 14, 20, 25.4, 27.6, 40, 200, 1e4];
    const B = gaps.length;
    const logits = new Float32Array(B * N); // (B, N)
    const labels = new Uint32Array(B); // (B)
    const expected: number[] = [];
    gaps.forEach((gap, b) => {
      const label = b % N;
      const row = Array.from({ length: N }, (_, k) => (k === label ? -gap : 0));
      logits.set(row, b * N);
      labels[b] = label;
      expected.push(mxnetCrossEntropy(Array.from(logits.subarray(b * N, b * N + N)), label));
    });
    const buffers = {
      prob: upload(g, new Float32Array(B * N)),
      dlogits: upload(g, new Float32Array(B * N)),
      stats: upload(g, new Float32Array(4)),
      pred: upload(g, new Uint32Array(B)),
      logits: upload(g, logits),
      labels: upload(g, labels),
    };
    // One row per batch so that each row's score is read on its own.
    for (let b = 0; b < B; b++) {
      const one = {
        ...buffers,
        logits: upload(g, logits.slice(b * N, b * N + N)),
        labels: upload(g, labels.slice(b, b + 1)),
        stats: upload(g, new Float32Array(4)),
      };
      const dispatch = buildLoss(g.device, kernels, { B: 1, N, buffers: one });
      runPass(g, (pass) => encode(pass, dispatch));
      const [lossSum, correct, count, nonFinite] = await readF32(g, one.stats, 4);
      const want = expected[b]!;
      const close = Math.abs(lossSum! - want) <= 1e-5 + 1e-5 * Math.abs(want);
      assert.ok(close, `gap ${gaps[b]}: kernel ${lossSum}, MXNet's definition ${want}`);
      assert.ok(lossSum! <= -Math.log(CROSS_ENTROPY_EPS) + 1e-5, `gap ${gaps[b]}: above -ln eps`);
      assert.deepEqual([correct, count, nonFinite], [gaps[b]! < 0 ? 1 : 0, 1, 0]);
    }
    // The whole batch at once: the sum of the rows.
    const dispatch = buildLoss(g.device, kernels, { B, N, buffers });
    runPass(g, (pass) => encode(pass, dispatch));
    const [lossSum] = await readF32(g, buffers.stats, 4);
    const want = expected.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(lossSum! - want) <= 1e-5 * want, `batch: kernel ${lossSum}, want ${want}`);
  },
);

Deno.test("parseMetrics() reads MXNet's names and aliases in the order given", () => {
  assert.deepEqual(parseMetrics("acc"), ["accuracy"]);
  assert.deepEqual(parseMetrics("acc,ce"), ["accuracy", "cross-entropy"]);
  assert.deepEqual(parseMetrics("cross-entropy, Accuracy"), ["cross-entropy", "accuracy"]);
});

Deno.test("parseMetrics() refuses an unknown, empty or repeated name with one line", () => {
  assert.throws(() => parseMetrics("acc,f1"), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.message, 'Unknown metric "f1" in --metric acc,f1');
    assert.match(e.hint ?? "", /acc \(accuracy\) and ce \(cross-entropy\)/);
    return true;
  });
  assert.throws(() => parseMetrics("acc,"), UserError);
  assert.throws(() => parseMetrics(""), UserError);
  assert.throws(() => parseMetrics("acc,accuracy"), /--metric names accuracy twice/);
});

Deno.test("metricValues() gives each metric's mean over the counted rows", () => {
  const m: Metrics = { lossSum: 28.1234, correct: 91.23, count: 100, nonFinite: 0 };
  assert.deepEqual(metricValues(m, ["accuracy", "cross-entropy"]), [
    { metric: "accuracy", value: 0.9123 },
    { metric: "cross-entropy", value: 0.281234 },
  ]);
  const none: Metrics = { lossSum: 0, correct: 0, count: 0, nonFinite: 0 };
  assert.equal(accuracy(none), 0);
  assert.equal(crossEntropy(none), 0);
});
