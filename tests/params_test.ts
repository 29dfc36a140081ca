/**
 * ParamStore's layout and buffers: the 256-byte block alignment that storage ranges and the tiled
 * convolutions' uniform windows need, and a params buffer no longer than the windows require (the
 * optimizer binds it whole, so every byte past the parameters counts against
 * maxStorageBufferBindingSize).
 */
import assert from "node:assert/strict";
import { CONV2D_TILES } from "../kernels/tiles.ts";
import { lenet, mlp, type ModelSpec } from "../src/nn/model.ts";
import { Optimizer } from "../src/nn/optimizer.ts";
import { ParamStore } from "../src/nn/params.ts";
import { gpuTest } from "./gpu_helpers.ts";

const WINDOW = CONV2D_TILES.PARAM_WINDOW_BYTES;

/** One 5×5 convolution straight into the classes: the conv block is the model's last. */
const convOnly: ModelSpec = {
  name: "conv-only",
  input: [1, 8, 8],
  classes: 16,
  layers: [{ kind: "conv2d", name: "conv", filters: 1, kernel: 5, stride: 1, pad: 0, act: "none" }],
};

/** A 1×1 convolution after one of 40,100 floats: the last block starts 160,512 bytes in. */
const convThenConv: ModelSpec = {
  name: "conv-then-conv",
  input: [16, 12, 12],
  classes: 64,
  layers: [
    { kind: "conv2d", name: "conv1", filters: 100, kernel: 5, stride: 1, pad: 0, act: "relu" },
    { kind: "conv2d", name: "conv2", filters: 1, kernel: 1, stride: 1, pad: 0, act: "none" },
  ],
};

for (const model of [lenet(), convOnly, convThenConv]) {
  gpuTest(
    `ParamStore.uniformWindows() of every ${model.name} convolution starts on 256 bytes and ` +
      `ends inside the params buffer`,
    (g) => {
      const store = new ParamStore(g.device, model);
      try {
        let convs = 0;
        store.layers.forEach((info, i) => {
          if (info.spec.kind !== "conv2d") return;
          convs++;
          const windows = store.uniformWindows(i, { bytes: WINDOW, count: 2 });
          assert.equal(windows.length, 2);
          windows.forEach((range, j) => {
            assert.ok("buffer" in range, `window ${j} is a range`);
            const w = range;
            assert.equal(w.buffer, store.params);
            assert.equal(w.offset, store.blocks[i]!.offset * 4 + j * WINDOW);
            assert.equal(w.offset % 256, 0, `window ${j} of layer ${i} at byte ${w.offset}`);
            assert.equal(w.size, WINDOW);
            assert.ok(
              w.offset + w.size <= store.params.size,
              `window ${j} of layer ${i} ends past`,
            );
          });
        });
        assert.ok(convs > 0);
      } finally {
        store.destroy();
      }
      return Promise.resolve();
    },
  );
}

gpuTest(
  "ParamStore's params buffer has a tail only where a convolution's windows need one",
  (g) => {
    for (const model of [mlp(), lenet(), convOnly, convThenConv]) {
      const store = new ParamStore(g.device, model);
      const needed = Math.max(
        store.length * 4,
        ...store.layers.map((info, i) =>
          info.spec.kind === "conv2d" ? store.blocks[i]!.offset * 4 + 2 * WINDOW : 0
        ),
      );
      assert.equal(store.params.size, needed, model.name);
      // The rest of the store's buffers hold the parameters' layout and nothing more.
      assert.equal(store.grads.size, store.length * 4, model.name);
      assert.equal(store.momentum.size, store.length * 4, model.name);
      store.destroy();
    }
    return Promise.resolve();
  },
);

gpuTest("ParamStore.uniformWindows() past the params buffer throws a RangeError", (g) => {
  // mlp has no tail: windows onto its last block would run past the end.
  const store = new ParamStore(g.device, mlp());
  try {
    assert.throws(() => store.uniformWindows(2, { bytes: WINDOW, count: 2 }), {
      name: "RangeError",
      message: /run past the params buffer/,
    });
  } finally {
    store.destroy();
  }
  return Promise.resolve();
});

gpuTest(
  "Optimizer binds a params buffer whose parameters fill maxStorageBufferBindingSize",
  async (g, kernels) => {
    const cap = g.device.limits.maxStorageBufferBindingSize;
    // 819·64·64 inputs → 10 classes: 33,546,250 floats, 33,546,304 with the block padding,
    // 134,185,216 bytes: within 128 MiB, but not with 128 KiB more.
    const model: ModelSpec = {
      name: "wide",
      input: [819, 64, 64],
      classes: 10,
      layers: [{ kind: "dense", name: "fc", units: 10, act: "none" }],
    };
    if (cap !== 128 * 2 ** 20) {
      console.warn(`skipped: the adapter's maxStorageBufferBindingSize is ${cap}, not 128 MiB`);
      return;
    }
    const store = new ParamStore(g.device, model);
    try {
      assert.ok(store.length * 4 <= cap && store.length * 4 + 2 * WINDOW > cap);
      g.device.pushErrorScope("validation");
      const optimizer = new Optimizer(g.device, kernels, {
        store,
        options: { lr: 0.1, momentum: 0, wd: 0, rescaleGrad: 1, clipGradient: 0 },
      });
      const error = await g.device.popErrorScope();
      optimizer.destroy();
      assert.equal(error?.message ?? null, null);
    } finally {
      store.destroy();
    }
  },
);
