/**
 * Dense kernels at the MLP's first layers (100×784 → 128, 20.1 MFLOP per pass; 100×128 → 64,
 * 1.6 MFLOP), the simple kernels beside the ones tuned for CPU adapters and for GPUs (whose
 * forward is split in two dispatches at fc1's shape, and whose two gradients are one dispatch).
 * The table after the benches gives GPU µs per repetition and GFLOP/s.
 */
import { encode } from "../src/gpu/kernel.ts";
import { mlp } from "../src/nn/model.ts";
import { benchGpu, trainingSetup, VARIANTS } from "./common.ts";

const REPEATS = 50;
const B = 100;
/** FLOP of one pass (forward, weight gradient or input gradient) of each layer. */
const FC1 = 2 * B * 784 * 128;
const FC2 = 2 * B * 128 * 64;

for (const { kind, tiled, target, own } of VARIANTS) {
  // The kernels alone: fc1 reading x, not the batch itself (see train_step_bench.ts).
  const { network } = trainingSetup(mlp(), { B, tiled, target, gather: false });
  const fc1 = network.layers[0]!;
  const fc2 = network.layers[1]!;
  for (
    const [group, dispatches, flop] of [
      ["fc1 forward", fc1.forward, FC1],
      // The first layer has no input gradient.
      ["fc1 weight gradient", fc1.backward, FC1],
      ["fc2 weight and input gradients", fc2.backward, 2 * FC2],
    ] as const
  ) {
    await benchGpu({
      group,
      kind,
      own,
      baseline: !tiled,
      repeats: REPEATS,
      run: (pass) => dispatches.forEach((d) => encode(pass, d)),
      work: { flop },
      n: 10,
    });
  }
}
