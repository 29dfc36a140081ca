/** Softmax + cross-entropy (MXNet's SoftmaxOutput), fused forward/backward with the metrics. */
import code from "../../kernels/softmax.wgsl" with { type: "text" };
import { createDims } from "../gpu/buffer.ts";
import { type Dispatch, dispatchOf, type KernelCache, type Program } from "../gpu/kernel.ts";

/** The softmax kernel's WGSL module. */
export const SOFTMAX: Program = { name: "softmax", code };

/** The softmax kernel's one row: the fused loss, its gradient and the metrics. */
export const SOFTMAX_TABLE = {
  simple: { variant: "simple", program: SOFTMAX, entries: { loss: "softmax_cross_entropy" } },
} as const;

/** The `struct Dims` of kernels/softmax.wgsl: batch B, N classes. */
export const SOFTMAX_DIMS = { B: "u32", N: "u32" } as const;

/** Buffers of the loss, by the names of kernels/softmax.wgsl's variables. */
export interface LossBuffers {
  /** (B, N) probabilities. */
  prob: GPUBuffer;
  /** (B, N) gradient w.r.t. the logits (prob - onehot), not divided by B. */
  dlogits: GPUBuffer;
  /** (4) [loss sum, correct, count, non-finite], accumulated until cleared. */
  stats: GPUBuffer;
  /** (B) u32 argmax per row, 0xffffffff on padding rows. */
  pred: GPUBuffer;
  /** (B, N) logits. */
  logits: GPUBuffer;
  /** (B) u32 labels, 0xffffffff on padding rows. */
  labels: GPUBuffer;
}

/** The softmax-cross-entropy dispatch for batch `B` and `N` classes. */
export function buildLoss(
  device: GPUDevice,
  kernels: KernelCache,
  { B, N, buffers }: { B: number; N: number; buffers: LossBuffers },
): Dispatch {
  // One workgroup reduces the batch's statistics: a power of two (see KernelCache.workgroup), at
  // most the 256 its workgroup array holds.
  const WG = Math.min(256, kernels.workgroup(256));
  const { prob, dlogits, stats, pred, logits, labels } = buffers;
  return dispatchOf(device, kernels, {
    program: SOFTMAX,
    entry: SOFTMAX_TABLE.simple.entries.loss,
    constants: { WG },
    io: { prob, dlogits, stats, pred, logits, labels },
    dims: createDims(device, "softmax", { layout: SOFTMAX_DIMS, values: { B, N } }),
    grid: [1],
  });
}
