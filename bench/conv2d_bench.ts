/**
 * LeNet's convolution and max-pool kernels at batch 100, the simple kernels beside the ones
 * tuned for CPU adapters and for GPUs (kernels/conv2d.wgsl vs conv2d_tiled.wgsl vs
 * conv2d_vec4.wgsl; pool.wgsl's general kernels vs pool_2x2.wgsl's). The table after the benches
 * gives GPU µs per repetition and GFLOP/s (GB/s for pooling). The simple convolution kernels
 * take up to a second per dispatch on the CPU adapter, so they run fewer iterations. On CPU
 * adapters the tuned convolutions also pool in their epilogue (conv2d `tiled_pool`, maxpool
 * `fused`); the last groups set that pair beside the unfused one (conv2d `tiled`, maxpool
 * `2x2`): the dispatches the fusion changes, forward and backward, for both of LeNet's pairs.
 */
import { encode } from "../src/gpu/kernel.ts";
import { lenet } from "../src/nn/model.ts";
import { benchGpu, TARGET, trainingSetup, VARIANTS } from "./common.ts";

const REPEATS = 5;
const B = 100;
/** FLOP of one pass: 2 · B · O · OH · OW · C · K · K for every convolution pass. */
const CONV1 = 2 * B * 20 * 24 * 24 * 1 * 25;
const CONV2 = 2 * B * 50 * 8 * 8 * 20 * 25;
/** Floats of pool1's input (conv1's output) and output. */
const POOL_IN = B * 20 * 24 * 24;
const POOL_OUT = B * 20 * 12 * 12;

for (const { kind, tiled, target, own } of VARIANTS) {
  const { network } = trainingSetup(lenet(), { B, tiled, target });
  const conv1 = network.layers[0]!;
  const pool1 = network.layers[1]!;
  const conv2 = network.layers[2]!;
  // The backward lists: conv1's the weight gradient alone (then the slice sum, the batch being
  // sliced), conv2's both gradients (the GPU kernels compute them in one dispatch).
  const cases = [
    ["conv1 forward", [conv1.forward[0]!], { flop: CONV1 }],
    ["conv1 weight gradient", conv1.backward, { flop: CONV1 }],
    ["conv2 forward", [conv2.forward[0]!], { flop: CONV2 }],
    ["conv2 weight and input gradients", conv2.backward, { flop: 2 * CONV2 }],
    // Reads x; writes y and the argmax.
    // None on CPUs, where conv1 pools in its epilogue (the groups below).
    ["pool1 forward", pool1.forward, { bytes: 4 * (POOL_IN + 2 * POOL_OUT) }],
    // Reads dy, the argmax and x (for the activation's derivative); writes dx.
    ["pool1 backward", pool1.backward, { bytes: 4 * (2 * POOL_IN + 2 * POOL_OUT) }],
  ] as const;
  for (const [group, dispatches, work] of cases) {
    if (dispatches.length === 0) continue;
    await benchGpu({
      group,
      kind,
      own,
      baseline: !tiled,
      repeats: REPEATS,
      run: (pass) => dispatches.forEach((d) => encode(pass, d)),
      work,
      n: own ? 10 : 2,
    });
  }
}

// The conv → tanh → 2×2 pool pairs, fused and not (both on the CPU-tuned kernels): forward
// (convolutions and pools) and the pools' backward (the convolutions' backward is the same).
const LENET_UNFUSED = ["tiled", "2x2", "tiled", "2x2", "simple", "tiled", "tiled"];
const LENET_FUSED = ["tiled_pool", "fused", "tiled_pool", "fused", "simple", "tiled", "tiled"];
for (const [kind, variants] of [["unfused", LENET_UNFUSED], ["fused", LENET_FUSED]] as const) {
  const { network } = trainingSetup(lenet(), { B, variants: [...variants] });
  const [conv1, pool1, conv2, pool2] = network.layers;
  const pairs = [
    ["conv+pool forward, both pairs", [conv1!, pool1!, conv2!, pool2!].flatMap((l) => l.forward)],
    ["pool backward, both pairs", [pool2!, pool1!].flatMap((l) => l.backward)],
  ] as const;
  for (const [group, dispatches] of pairs) {
    await benchGpu({
      group,
      kind: `${kind} (${dispatches.length} dispatches)`,
      own: kind === "fused" && TARGET === "cpu",
      baseline: kind === "unfused",
      repeats: REPEATS,
      run: (pass) => dispatches.forEach((d) => encode(pass, d)),
      work: { samples: B },
      n: 10,
    });
  }
}
