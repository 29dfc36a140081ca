/** What a layer is once built for a batch size: the dispatches of its forward and backward. */
import type { Dispatch, KernelCache } from "../gpu/kernel.ts";
import type { Activation, LayerInfo } from "./model.ts";
import type { ParamStore } from "./params.ts";

/** Everything a layer needs to prepare its dispatches. Buffers are (B, ...) row-major f32. */
export interface LayerContext {
  /** The device the dispatches are made for. */
  device: GPUDevice;
  /** The pipeline cache the layer's kernels come from. */
  kernels: KernelCache;
  /** Batch size. */
  B: number;
  /** The layer's spec and its input and output shapes per sample. */
  info: LayerInfo;
  /** The layer's index in the model, for its parameter block. */
  index: number;
  /** The parameter and gradient buffers of the whole model. */
  store: ParamStore;
  /** Input (B, ...info.input), the output of the layer below. */
  x: GPUBuffer;
  /** Output (B, ...info.output), after the layer's activation. */
  y: GPUBuffer;
  /** Gradient of the loss w.r.t. this layer's PRE-activation output; null when not training. */
  dy: GPUBuffer | null;
  /**
   * Where to write the gradient w.r.t. the layer below's pre-activation output (so this layer
   * applies `prevAct`'s derivative); null for the first layer, whose input needs no gradient.
   */
  dx: GPUBuffer | null;
  /** The activation of the layer below (the one that produced `x`). */
  prevAct: Activation;
  /**
   * The layer's variant: a row of its op's table (`DENSE_TABLE`, `CONV2D_TABLE`, `POOL_TABLE`),
   * as `chooseVariants` (src/nn/variants.ts) picked it.
   */
  variant: string;
  /**
   * Where a convolution that max-pools in its forward's epilogue (conv2d `tiled_pool`) and the
   * pool layer after it (maxpool `fused`) meet: the pool's output (B, C, OH, OW) and its argmax
   * (the same shape, u32 flat indices into the convolution's output). Absent for other layers.
   */
  pooled?: { y: GPUBuffer; argmax: GPUBuffer };
  /**
   * Set on a network's first layer when the network reads its batches straight from a Feeder's
   * dataset (`Network`'s `gather` option) and the layer's variant can (`gathersBatch` in
   * src/nn/variants.ts): the layer then reads x from the Feeder's bind group (`BATCH_GROUP` in
   * src/gpu/kernel.ts) instead of `x`, and its forward writes the batch's labels.
   */
  gather?: boolean;
  /** Allocates a zeroed storage buffer the network owns (and frees), e.g. max-pool's argmax. */
  alloc: (label: string, bytes: number) => GPUBuffer;
}

/** A layer built for one batch size; nothing is allocated when it runs. */
export interface Layer {
  /** The layer's name in the model (`fc1`, `conv1`, ...). */
  name: string;
  /** The forward pass's dispatches, in order. */
  forward: Dispatch[];
  /** The backward pass's dispatches, in order; empty when not training. */
  backward: Dispatch[];
}
