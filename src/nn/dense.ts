/** Fully connected layer: y = act(x · wᵀ + b), on kernels/dense.wgsl. */
import code from "../../kernels/dense.wgsl" with { type: "text" };
import { createDims } from "../gpu/buffer.ts";
import { type Dispatch, makeDispatch, type Program } from "../gpu/kernel.ts";
import type { Layer, LayerContext } from "./layer.ts";
import { ACTIVATION_CODE, type DenseSpec, sizeOf } from "./model.ts";

/** The dense kernels' WGSL module. */
export const DENSE: Program = { name: "dense", code };

const WG = 64;

function groups(rows: number, cols: number, tile: number): [number] {
  return [Math.ceil((Math.ceil(rows / tile) * Math.ceil(cols / tile)) / WG)];
}

/**
 * Builds a dense layer's dispatches for the context's batch size: the 8×8 register-tiled vec4
 * kernels where the shapes allow and `ctx.tiled` asks for them, else the simple 4×4 ones.
 */
export function buildDense(ctx: LayerContext): Layer {
  const spec = ctx.info.spec as DenseSpec;
  const { device, kernels, B, store, index } = ctx;
  const I = sizeOf(ctx.info.input);
  const O = spec.units;
  const dims = createDims(device, spec.name, [B, I, O, 0]);
  const params = store.range(store.params, index);
  const vecForward = ctx.tiled && I % 4 === 0;
  const vecBackward = vecForward && O % 4 === 0;
  const suffix = (vec: boolean) => (vec ? "_vec4" : "");
  const tile = (vec: boolean) => (vec ? 8 : 4);

  const forwardKernel = kernels.get(DENSE, `dense_forward${suffix(vecForward)}`, {
    constants: { WG, ACT: ACTIVATION_CODE[spec.act] },
    bindings: ["storage", "read", "read", null, "uniform"],
  });
  const forward = [
    makeDispatch(
      device,
      forwardKernel,
      [ctx.y, ctx.x, params, null, dims],
      groups(B, O, tile(vecForward)),
    ),
  ];
  const backward: Dispatch[] = [];
  if (ctx.dy) {
    const weightKernel = kernels.get(DENSE, `dense_backward_weight${suffix(vecBackward)}`, {
      constants: { WG },
      bindings: ["storage", "read", "read", null, "uniform"],
    });
    const grads = store.range(store.grads, index);
    backward.push(
      makeDispatch(
        device,
        weightKernel,
        [grads, ctx.dy, ctx.x, null, dims],
        groups(O, I, tile(vecBackward)),
      ),
    );
    if (ctx.dx) {
      const inputKernel = kernels.get(DENSE, `dense_backward_input${suffix(vecBackward)}`, {
        constants: { WG, PREV_ACT: ACTIVATION_CODE[ctx.prevAct] },
        bindings: ["storage", "read", "read", "read", "uniform"],
      });
      backward.push(
        makeDispatch(
          device,
          inputKernel,
          [ctx.dx, ctx.dy, params, ctx.x, dims],
          groups(B, I, tile(vecBackward)),
        ),
      );
    }
  }
  return { name: spec.name, forward, backward };
}
