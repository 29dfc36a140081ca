/**
 * The tutorial's MLP (784-128-64-10, ReLU between: src/nn/model.ts's `mlp()`) on the CPU, from
 * tests/reference.ts's ops: what the end-to-end tests check the CLI's logged accuracy and
 * cross-entropy against, from the weights it saved.
 * @module
 */
import { gatherBatch, type Split } from "../src/data/dataset.ts";
import * as ref from "./reference.ts";

/** The MLP's dense layers in order: name, inputs I, outputs O (ReLU after all but the last). */
const LAYERS = [["fc1", 784, 128], ["fc2", 128, 64], ["fc3", 64, 10]] as const;

/** What the reference MLP makes of a split. */
export interface MlpScore {
  /** (B, 10) logits, B the split's samples in order. */
  logits: Float32Array;
  /** Samples whose argmax is their label (ties go to the first class). */
  correct: number;
  /**
   * MXNet's CrossEntropy metric: the mean over the split of -ln(p(label) + 1e-12), p from a
   * float64 softmax of the f32 logits (`ref.softmaxCrossEntropy`).
   */
  crossEntropy: number;
}

/**
 * The MLP with `params` (a checkpoint's: `fc1_weight` (O, I), `fc1_bias` (O), ...) on every
 * sample of `split`.
 */
export function referenceMlp(params: Map<string, Float32Array>, split: Split): MlpScore {
  const B = split.count;
  const batch = gatherBatch(split, Array.from({ length: B }, (_, i) => i));
  let x = batch.data; // (B, 784)
  for (const [name, I, O] of LAYERS) {
    const y = ref.denseForward(
      { x, w: params.get(`${name}_weight`)!, b: params.get(`${name}_bias`)! },
      { B, I, O },
    ); // (B, O)
    x = name === "fc3" ? y : ref.reluForward(y);
  }
  const labels = batch.label; // (B)
  return {
    logits: x,
    correct: ref.accuracyCount({ prob: x, labels }, { B, N: 10 }),
    crossEntropy: ref.softmaxCrossEntropy({ logits: x, labels }, { B, N: 10 }).loss / B,
  };
}
