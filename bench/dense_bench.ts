/**
 * Dense kernels at the MLP's first layer (100×784 → 128, 20.1 MFLOP per pass), the simple
 * kernels beside the ones tuned for CPU adapters and for GPUs (whose forward is split in two
 * dispatches at this shape): GFLOP/s = REPEATS × 20.1e6 / (time per iteration).
 */
import { encode } from "../src/gpu/kernel.ts";
import { mlp } from "../src/nn/model.ts";
import { runOnGpu, trainingSetup, VARIANTS } from "./common.ts";

const REPEATS = 50;
const B = 100;
const MFLOP = (2 * B * 784 * 128) / 1e6;

for (const { kind, tiled, target, own } of VARIANTS) {
  const { network } = trainingSetup(mlp(), { B, tiled, target });
  const fc1 = network.layers[0]!;
  const fc2 = network.layers[1]!;
  for (
    const [group, dispatches] of [
      ["fc1 forward", fc1.forward],
      ["fc1 weight gradient", [fc1.backward[0]!]],
      ["fc2 input gradient", [fc2.backward[1]!]],
    ] as const
  ) {
    const run = (pass: GPUComputePassEncoder) => dispatches.forEach((d) => encode(pass, d));
    await runOnGpu(1, run);
    Deno.bench({
      name: `${group} ×${REPEATS}, ${kind}${own ? " (this adapter's)" : ""}${
        group.startsWith("fc1") ? ` (${MFLOP.toFixed(1)} MFLOP each)` : ""
      }`,
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
