/**
 * LeNet's convolution and max-pool kernels at batch 100, the simple kernels beside the ones
 * tuned for CPU adapters and for GPUs (kernels/conv2d.wgsl vs conv2d_tiled.wgsl vs
 * conv2d_vec4.wgsl; pool.wgsl's general kernels vs its 2×2 ones on CPUs): GFLOP/s = REPEATS ×
 * MFLOP / (time per iteration in ms). The simple convolution kernels take up to a second per
 * dispatch on the CPU adapter, so they run fewer iterations.
 */
import { encode } from "../src/gpu/kernel.ts";
import { lenet } from "../src/nn/model.ts";
import { runOnGpu, trainingSetup, VARIANTS } from "./common.ts";

const REPEATS = 5;
const B = 100;
/** MFLOP of one dispatch: 2 · B · O · OH · OW · C · K · K for every convolution pass. */
const CONV1 = (2 * B * 20 * 24 * 24 * 1 * 25) / 1e6;
const CONV2 = (2 * B * 50 * 8 * 8 * 20 * 25) / 1e6;

for (const { kind, tiled, target, own } of VARIANTS) {
  const { network } = trainingSetup(lenet(), { B, tiled, target });
  const conv1 = network.layers[0]!;
  const pool1 = network.layers[1]!;
  const conv2 = network.layers[2]!;
  // The backward lists: conv1's the weight gradient alone (then the slice sum, the batch being
  // sliced), conv2's both gradients (the GPU kernels compute them in one dispatch).
  const cases = [
    ["conv1 forward", [conv1.forward[0]!], CONV1],
    ["conv1 weight gradient", conv1.backward, CONV1],
    ["conv2 forward", [conv2.forward[0]!], CONV2],
    ["conv2 weight and input gradients", conv2.backward, 2 * CONV2],
    ["pool1 forward", pool1.forward, 0],
    ["pool1 backward", pool1.backward, 0],
  ] as const;
  for (const [group, dispatches, mflop] of cases) {
    await runOnGpu(1, (pass) => dispatches.forEach((d) => encode(pass, d)));
    Deno.bench({
      name: `${group} ×${REPEATS}, ${kind}${own ? " (this adapter's)" : ""}${
        mflop ? ` (${mflop.toFixed(1)} MFLOP each)` : ""
      }`,
      group,
      baseline: !tiled,
      n: own ? 10 : 2,
      warmup: 1,
      async fn() {
        await runOnGpu(REPEATS, (pass) => dispatches.forEach((d) => encode(pass, d)));
      },
    });
  }
}
