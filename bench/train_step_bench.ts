/**
 * Whole training steps (gather → forward → loss → backward → SGD), STEPS per iteration at
 * batch 100: samples/sec = STEPS × 100 / (time per iteration). Simple kernels beside the tiled
 * ones, in one group per model.
 */
import { mlp } from "../src/nn/model.ts";
import { runOnGpu, trainingSetup } from "./common.ts";

const STEPS = 50;
const B = 100;

for (const tiled of [false, true]) {
  const setup = trainingSetup(mlp(), { B, tiled });
  await runOnGpu(3, setup.step); // warm up: compile pipelines
  Deno.bench({
    name: `MLP train step ×${STEPS} (${STEPS * B} samples), ${tiled ? "tiled" : "simple"} kernels`,
    group: "mlp-train-step",
    baseline: !tiled,
    n: 10,
    warmup: 2,
    async fn() {
      await runOnGpu(STEPS, setup.step);
    },
  });
}
