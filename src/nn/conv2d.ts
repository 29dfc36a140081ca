/** 2-D convolution layer: y = act(conv(x, w) + b), on kernels/conv2d.wgsl. */
import code from "../../kernels/conv2d.wgsl" with { type: "text" };
import { createDims } from "../gpu/buffer.ts";
import { type Dispatch, makeDispatch, type Program } from "../gpu/kernel.ts";
import type { Layer, LayerContext } from "./layer.ts";
import { ACTIVATION_CODE, type Conv2dSpec } from "./model.ts";

/** The simple convolution kernels (one output per invocation): the reference and fallback. */
export const CONV2D: Program = { name: "conv2d", code };

const WG = 64;

/**
 * Workgroup counts for `invocations` invocations of a `wg`-wide kernel that numbers them
 * gid.x + gid.y · (x workgroups · wg): one dimension while it fits the device's limit, else a
 * grid (the kernels skip the invocations past the end).
 */
export function workgroupGrid(
  device: GPUDevice,
  invocations: number,
  wg: number,
): [number, number] {
  const groups = Math.max(1, Math.ceil(invocations / wg));
  const limit = device.limits.maxComputeWorkgroupsPerDimension;
  const y = Math.ceil(groups / limit);
  return [Math.ceil(groups / y), y];
}

/**
 * Builds a convolution layer's dispatches for the context's batch size: forward, then the
 * weight-and-bias gradient and (unless this is the first layer) the input gradient.
 */
export function buildConv2d(ctx: LayerContext): Layer {
  const spec = ctx.info.spec as Conv2dSpec;
  const { device, kernels, B, store, index } = ctx;
  const [C, H, W] = ctx.info.input as [number, number, number];
  const [O, OH, OW] = ctx.info.output as [number, number, number];
  const { kernel: K, stride, pad } = spec;
  const dims = createDims(device, spec.name, [B, C, H, W, O, K, OH, OW, stride, pad, 0, 0]);
  const params = store.range(store.params, index);

  const forwardKernel = kernels.get(CONV2D, "conv2d_forward", {
    constants: { WG, ACT: ACTIVATION_CODE[spec.act] },
    bindings: ["storage", "read", "read", null, "uniform"],
  });
  const forward = [
    makeDispatch(
      device,
      forwardKernel,
      [ctx.y, ctx.x, params, null, dims],
      workgroupGrid(device, B * O * OH * OW, WG),
    ),
  ];
  const backward: Dispatch[] = [];
  if (ctx.dy) {
    const weightKernel = kernels.get(CONV2D, "conv2d_backward_weight", {
      constants: { WG },
      bindings: ["storage", "read", "read", null, "uniform"],
    });
    const grads = store.range(store.grads, index);
    backward.push(
      makeDispatch(
        device,
        weightKernel,
        [grads, ctx.dy, ctx.x, null, dims],
        workgroupGrid(device, O * C * K * K, WG),
      ),
    );
    if (ctx.dx) {
      const inputKernel = kernels.get(CONV2D, "conv2d_backward_input", {
        constants: { WG, PREV_ACT: ACTIVATION_CODE[ctx.prevAct] },
        bindings: ["storage", "read", "read", "read", "uniform"],
      });
      backward.push(
        makeDispatch(
          device,
          inputKernel,
          [ctx.dx, ctx.dy, params, ctx.x, dims],
          workgroupGrid(device, B * C * H * W, WG),
        ),
      );
    }
  }
  return { name: spec.name, forward, backward };
}
