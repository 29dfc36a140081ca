/**
 * Dense kernels at the MLP's first layer (100×784 → 128, 20.1 MFLOP per dispatch), the simple
 * kernel beside the register-tiled one: GFLOP/s = REPEATS × 20.1e6 / (time per iteration).
 */
import { encode } from "../src/gpu/kernel.ts";
import { mlp } from "../src/nn/model.ts";
import { runOnGpu, trainingSetup } from "./common.ts";

const REPEATS = 50;
const B = 100;
const MFLOP = (2 * B * 784 * 128) / 1e6;

for (const tiled of [false, true]) {
  const { network } = trainingSetup(mlp(), { B, tiled });
  const fc1 = network.layers[0]!;
  const fc2 = network.layers[1]!;
  const kind = tiled ? "tiled" : "simple";
  for (
    const [group, dispatch] of [
      ["fc1 forward", fc1.forward[0]!],
      ["fc1 weight gradient", fc1.backward[0]!],
      ["fc2 input gradient", fc2.backward[1]!],
    ] as const
  ) {
    await runOnGpu(1, (pass) => encode(pass, dispatch));
    Deno.bench({
      name: `${group} ×${REPEATS}, ${kind}${
        group.startsWith("fc1") ? ` (${MFLOP.toFixed(1)} MFLOP each)` : ""
      }`,
      group,
      baseline: !tiled,
      n: 10,
      warmup: 2,
      async fn() {
        await runOnGpu(REPEATS, (pass) => encode(pass, dispatch));
      },
    });
  }
}
