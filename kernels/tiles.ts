/**
 * The tile shapes of the generated kernel families: what kernels/gen_conv2d_tiled.ts and
 * kernels/gen_dense_tiled.ts unroll, and what src/nn/ sizes their dispatches by. Data only, so
 * that the engine reads the shapes without importing a generator at run time.
 */

/** kernels/conv2d_tiled.wgsl: unrolled for K×K kernels, stride 1, no padding. */
export const CONV2D_TILES = {
  /** The kernel size the tiled kernels are unrolled for. */
  K: 5,
  /**
   * Forward tile: output rows, output columns (a multiple of 4) and output channels. 4 rows, not
   * 8: llvmpipe's cold compile of LeNet's pooled forward grows with the tile's accumulators and
   * code, 135 MB of memory at 8 rows fully unrolled, 47 MB at 4 with the loop over kernel rows
   * (docs/llvmpipe-kernels.md).
   */
  FORWARD: { RH: 4, RW: 8, T: 5 },
  /**
   * Weight-gradient tile: output channels, input channels, dy rows per step, and dy columns per
   * step (a multiple of 4).
   */
  WEIGHT: { TO: 10, CT: 1, RHW: 1, CW: 4 },
  /**
   * The sliding-rows weight gradient (outputs 8 wide, LeNet's conv2), which keeps WEIGHT's other
   * sides. CT: input channels per invocation, so that each dy load feeds two channels' products,
   * where llvmpipe pays for every load lane by lane; conv2's weight gradient at batch 100 on
   * llvmpipe: 8.2-9.6 ms a step with 1, 6.7-7.4 with 2, 7.4-7.7 with 4 (interleaved `--profile`
   * runs). TO: output channels per invocation, 5 where WEIGHT's are 10: with 10, its 500
   * accumulators and 1,000 unrolled fma chains a dy row made llvmpipe's cold compile add 129 MB
   * of RSS (10.8 s), what set `train`'s cold peak; with 5 it adds 56 MB (3.6 s), for about
   * 2 ms more process CPU a step in the kernel (18.7 against 16.9 ms, medians of 4 interleaved
   * runs, load 5-8) and no change seen in a whole LeNet step (docs/memory.md).
   */
  WEIGHT_ROWS: { CT: 2, TO: 5 },
  /** Input-gradient tile: input channels per invocation; dy planes up to PLANE×PLANE. */
  INPUT: { TC: 2, PLANE: 8 },
  /**
   * The forward and the input gradient read the layer's parameters through two uniform windows
   * of this many bytes each (WebGPU's default maxUniformBufferBindingSize), so a layer's
   * O·C·K·K + O parameters must fit in twice as many bytes: 32,768 floats (LeNet's conv2: 25,050).
   */
  PARAM_WINDOW_BYTES: 65536,
} as const;

/** kernels/dense_tiled.wgsl: register tiles of up to ROWS_MAX×TC outputs (TR×TC for dW). */
export const DENSE_TILES = {
  /** Weight rows per tile of the weight gradient. */
  TR: 16,
  /**
   * The most batch rows per tile of the forward and the input gradient; the `ROWS` override
   * picks how many of them a pipeline uses (rows past it fold away at pipeline creation), so
   * that the tiles can cover the batch without a ragged last one: 20 × 5 at batch 100, where
   * 16-row tiles leave 12 rows idle and llvmpipe's forward of the MLP's fc1 measured 20-30%
   * slower.
   */
  ROWS_MAX: 20,
  /** Columns per tile, a multiple of 4 (vec4 groups). */
  TC: 16,
  /**
   * Columns per tile of the forward where O % 4 != 0 (`_ragged`: a classifier's 10 outputs),
   * a multiple of 4: 12 covers 10 outputs with 2 idle columns where 16 left 6, and llvmpipe's
   * cold compile of that forward (LeNet's fc2) kept 72 MB of memory instead of 98.
   */
  TC_RAGGED: 12,
} as const;
