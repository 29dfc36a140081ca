/**
 * Whole training steps (gather → forward → loss → backward → SGD) of the MLP and LeNet at
 * batch 100, several per iteration, in one group per model: simple kernels beside the ones tuned
 * for CPU adapters and for GPUs, each after the gather dispatch; then the MLP's CPU-tuned step with the gather fused into its
 * first layer (as `mnist train` runs it) beside the separate gather dispatch it replaced. The
 * table after the benches gives samples/sec; the lines before them, dispatches and submits per
 * step.
 */
import { countDispatches } from "../src/gpu/kernel.ts";
import { lenet, mlp } from "../src/nn/model.ts";
import { benchGpu, TARGET, trainingSetup, VARIANTS } from "./common.ts";

const B = 100;

for (const [model, steps] of [[mlp(), 50], [lenet(), 5]] as const) {
  for (const { kind, tiled, target, own } of VARIANTS) {
    // Each family with the gather dispatch, comparable with earlier runs (the fused step below).
    const setup = trainingSetup(model, { B, tiled, target, gather: false });
    // Each iteration encodes `steps` steps in one pass and submits one command buffer.
    console.log(
      `${model.name}, ${kind} kernels: ${countDispatches(setup.step)} dispatches per step, ` +
        `1 command-buffer submit per ${steps} steps`,
    );
    await benchGpu({
      group: `${model.name} train step`,
      kind: `${kind} kernels`,
      own,
      baseline: !tiled,
      repeats: steps,
      run: setup.step,
      work: { samples: B },
      n: own ? 10 : 3,
    });
  }
}

// The gather fused into the MLP's first layer (kernels/dense_tiled.wgsl's _gather entry points)
// against the gather dispatch and the plain tiled kernels: the unfused step is the reference.
// (A first convolution does not fuse it: see gathersBatch in src/nn/variants.ts.)
for (const [model, steps] of [[mlp(), 50]] as const) {
  const first = model.layers[0]!.name;
  for (const gather of [false, true]) {
    const setup = trainingSetup(model, { B, tiled: true, target: "cpu", gather });
    const kind = gather ? `gather fused into ${first}` : "gather dispatch (reference)";
    console.log(
      `${model.name}, CPU-tuned, ${kind}: ${countDispatches(setup.step)} dispatches per step`,
    );
    await benchGpu({
      group: `${model.name} train step, CPU-tuned`,
      kind,
      own: gather && TARGET === "cpu",
      baseline: !gather,
      repeats: steps,
      run: setup.step,
      work: { samples: B },
      n: 10,
    });
  }
}
