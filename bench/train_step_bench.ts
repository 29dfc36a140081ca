/**
 * Whole training steps (gather → forward → loss → backward → SGD) of the MLP and LeNet at
 * batch 100, several per iteration: samples/sec = samples / (time per iteration). Simple kernels
 * beside the ones tuned for CPU adapters and for GPUs, in one group per model.
 */
import { lenet, mlp } from "../src/nn/model.ts";
import { runOnGpu, trainingSetup, VARIANTS } from "./common.ts";

const B = 100;

for (const [model, steps] of [[mlp(), 50], [lenet(), 5]] as const) {
  for (const { kind, tiled, target, own } of VARIANTS) {
    const setup = trainingSetup(model, { B, tiled, target });
    await runOnGpu(2, setup.step); // warm up: compile pipelines
    Deno.bench({
      name: `${model.name} train step ×${steps} (${steps * B} samples), ${kind} kernels${
        own ? " (this adapter's)" : ""
      }`,
      group: `${model.name}-train-step`,
      baseline: !tiled,
      n: own ? 10 : 3,
      warmup: 1,
      async fn() {
        await runOnGpu(steps, setup.step);
      },
    });
  }
}
