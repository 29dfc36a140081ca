/**
 * Whole training steps (gather → forward → loss → backward → SGD) of the MLP and LeNet at
 * batch 100, several per iteration: samples/sec = samples / (time per iteration). Simple kernels
 * beside the tiled ones, in one group per model.
 */
import { lenet, mlp } from "../src/nn/model.ts";
import { runOnGpu, trainingSetup } from "./common.ts";

const B = 100;

for (const [model, steps] of [[mlp(), 50], [lenet(), 5]] as const) {
  for (const tiled of [false, true]) {
    const setup = trainingSetup(model, { B, tiled });
    await runOnGpu(2, setup.step); // warm up: compile pipelines
    Deno.bench({
      name: `${model.name} train step ×${steps} (${steps * B} samples), ${
        tiled ? "tiled" : "simple"
      } kernels`,
      group: `${model.name}-train-step`,
      baseline: !tiled,
      n: 10,
      warmup: 1,
      async fn() {
        await runOnGpu(steps, setup.step);
      },
    });
  }
}
