/**
 * Dense kernels at the MLP's first layers (100×784 → 128, 20.1 MFLOP per pass; 100×128 → 64,
 * 1.6 MFLOP), the simple kernels beside the ones tuned for CPU adapters and for GPUs (whose
 * forward is split in two dispatches at fc1's shape, and whose two gradients are one dispatch):
 * GFLOP/s = REPEATS × MFLOP / (time per iteration in ms).
 */
import { encode } from "../src/gpu/kernel.ts";
import { mlp } from "../src/nn/model.ts";
import { runOnGpu, trainingSetup, VARIANTS } from "./common.ts";

const REPEATS = 50;
const B = 100;
/** MFLOP of one pass (forward, weight gradient or input gradient) of each layer. */
const FC1 = (2 * B * 784 * 128) / 1e6;
const FC2 = (2 * B * 128 * 64) / 1e6;

for (const { kind, tiled, target, own } of VARIANTS) {
  const { network } = trainingSetup(mlp(), { B, tiled, target });
  const fc1 = network.layers[0]!;
  const fc2 = network.layers[1]!;
  for (
    const [group, dispatches, mflop] of [
      ["fc1 forward", fc1.forward, FC1],
      // The first layer has no input gradient.
      ["fc1 weight gradient", fc1.backward, FC1],
      ["fc2 weight and input gradients", fc2.backward, 2 * FC2],
    ] as const
  ) {
    const run = (pass: GPUComputePassEncoder) => dispatches.forEach((d) => encode(pass, d));
    await runOnGpu(1, run);
    Deno.bench({
      name: `${group} ×${REPEATS}, ${kind}${own ? " (this adapter's)" : ""} (${
        mflop.toFixed(1)
      } MFLOP each)`,
      group,
      baseline: !tiled,
      n: 10,
      warmup: 2,
      async fn() {
        await runOnGpu(REPEATS, run);
      },
    });
  }
}
