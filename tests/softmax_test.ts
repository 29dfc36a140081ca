/** The fused softmax-cross-entropy kernel and its metrics against the oracle. */
import { equal as assertEquals } from "node:assert/strict";
import { buildLoss } from "../src/nn/loss.ts";
import { encode } from "../src/gpu/kernel.ts";
import { Rng } from "../src/random.ts";
import { assertClose, randomArray } from "./check.ts";
import { gpuTest, readF32, readU32, runPass, upload } from "./gpu_helpers.ts";
import * as ref from "./reference.ts";

const PAD = 0xffffffff;

for (
  const { B, N, scale, padded } of [
    { B: 1, N: 10, scale: 1, padded: 0 },
    { B: 3, N: 2, scale: 1, padded: 0 },
    { B: 100, N: 10, scale: 5, padded: 0 },
    { B: 300, N: 10, scale: 1, padded: 7 }, // more rows than the 256-wide workgroup
    { B: 8, N: 10, scale: 60, padded: 2 }, // large logits: exp would overflow without the max
  ]
) {
  gpuTest(
    `softmaxCrossEntropy() matches reference with B=${B}, N=${N}, |logits|<=${scale}, ${padded} padding rows`,
    async (g, kernels) => {
      const rng = new Rng(B * 31 + N);
      const logits = randomArray(B * N, rng, { lo: -scale, hi: scale }); // (B, N)
      const labels = Uint32Array.from({ length: B }, () => rng.int(N)); // (B)
      const gpuLabels = labels.slice();
      for (let i = B - padded; i < B; i++) gpuLabels[i] = PAD;
      const buffers = {
        prob: upload(g, new Float32Array(B * N)),
        dlogits: upload(g, new Float32Array(B * N)),
        stats: upload(g, new Float32Array(4)),
        pred: upload(g, new Uint32Array(B)),
        logits: upload(g, logits),
        labels: upload(g, gpuLabels),
      };
      const loss = buildLoss(g.device, kernels, { B, N, buffers });
      // Twice: the metrics accumulate until the host clears them.
      runPass(g, (pass) => {
        encode(pass, loss);
        encode(pass, loss);
      });
      const expected = ref.softmaxCrossEntropy({ logits, labels }, { B, N });
      const valid = B - padded;
      const dlogits = expected.dlogits.map((v, i) => (Math.floor(i / N) < valid ? v : 0));
      assertClose(await readF32(g, buffers.prob), expected.prob, { atol: 1e-6, label: "prob" });
      assertClose(await readF32(g, buffers.dlogits), dlogits, { atol: 1e-6, label: "dlogits" });
      const pred = await readU32(g, buffers.pred);
      for (let i = 0; i < B; i++) {
        let best = 0;
        for (let k = 1; k < N; k++) if (logits[i * N + k]! > logits[i * N + best]!) best = k;
        assertEquals(pred[i], i < valid ? best : PAD, `pred[${i}]`);
      }
      const validLoss = ref.softmaxCrossEntropy(
        { logits: logits.subarray(0, valid * N), labels: labels.subarray(0, valid) },
        { B: valid, N },
      ).loss;
      const correct = ref.accuracyCount({ prob: expected.prob, labels }, { B, N, valid });
      const stats = await readF32(g, buffers.stats);
      assertClose(stats, [2 * validLoss, 2 * correct, 2 * valid, 0], {
        rtol: 1e-5,
        atol: 1e-3,
        label: "stats",
      });
      for (const b of Object.values(buffers)) b.destroy();
    },
  );
}

gpuTest("softmaxCrossEntropy() flags a non-finite loss", async (g, kernels) => {
  const B = 2, N = 3;
  const logits = new Float32Array([0, NaN, 1, 0, 1, 2]);
  const buffers = {
    prob: upload(g, new Float32Array(B * N)),
    dlogits: upload(g, new Float32Array(B * N)),
    stats: upload(g, new Float32Array(4)),
    pred: upload(g, new Uint32Array(B)),
    logits: upload(g, logits),
    labels: upload(g, new Uint32Array([0, 2])),
  };
  runPass(g, (pass) => encode(pass, buildLoss(g.device, kernels, { B, N, buffers })));
  const stats = await readF32(g, buffers.stats);
  assertEquals(stats[3], 1, "one row has a non-finite loss");
  for (const b of Object.values(buffers)) b.destroy();
});
