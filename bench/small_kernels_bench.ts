/**
 * The small kernels of a training step at batch 100: the batch gather (u8 images → f32),
 * softmax with cross-entropy (fused forward, backward and metrics) and the SGD update of every
 * parameter in one dispatch, for the MLP (109,386 parameters) and LeNet (431,080). They move
 * memory rather than compute, so the table after the benches gives GB/s. One variant each: SGD
 * is vectorised (vec4) everywhere, and the others are a few microseconds.
 */
import { encode } from "../src/gpu/kernel.ts";
import { lenet, mlp } from "../src/nn/model.ts";
import { benchGpu, trainingSetup } from "./common.ts";

const REPEATS = 50;
const B = 100;

for (const model of [mlp(), lenet()]) {
  // gather: false, so that the feeder dispatches the gather this bench times.
  const { store, network, sgd, feeder } = trainingSetup(model, { B, gather: false });
  const withMomentum = trainingSetup(model, { B, momentum: 0.9 });
  const pixels = model.input.reduce((a, b) => a * b, 1);
  const cases = [
    // Reads B images of u8 and B indices and labels; writes B images of f32 and B labels.
    ["gather", (pass: GPUComputePassEncoder) => feeder.encodeGather(pass, 0), B * pixels * 5],
    // Reads logits and labels; writes probabilities, their gradient and predictions.
    ["softmax-CE", (pass: GPUComputePassEncoder) => encode(pass, network.loss), B * 10 * 12],
    // Reads weights and gradients; writes weights (`mnist train`'s default, no momentum).
    ["SGD", (pass: GPUComputePassEncoder) => encode(pass, sgd), store.length * 4 * 3],
    // Reads weights, momenta and gradients; writes weights and momenta.
    [
      "SGD",
      (pass: GPUComputePassEncoder) => encode(pass, withMomentum.sgd),
      store.length * 4 * 5,
      "momentum 0.9, ",
    ],
  ] as const;
  for (const [group, run, bytes, what = ""] of cases) {
    await benchGpu({
      group,
      kind: `${model.name} (${what}${(bytes / 1024).toFixed(0)} KiB each)`,
      repeats: REPEATS,
      run,
      work: { bytes },
      n: 20,
    });
  }
}
