/** The SGD kernel (one dispatch over every parameter) against the oracle. */
import { buildSgd } from "../src/nn/optimizer.ts";
import { encode } from "../src/gpu/kernel.ts";
import { mlp } from "../src/nn/model.ts";
import { ParamStore } from "../src/nn/params.ts";
import { Rng } from "../src/random.ts";
import { assertClose, randomArray } from "./check.ts";
import { gpuTest, runPass } from "./gpu_helpers.ts";
import * as ref from "./reference.ts";

for (
  const options of [
    { lr: 0.1, momentum: 0, wd: 0, rescaleGrad: 1 / 100, clipGradient: 0 },
    { lr: 0.05, momentum: 0.9, wd: 1e-4, rescaleGrad: 1 / 32, clipGradient: 0 },
    { lr: 0.1, momentum: 0.5, wd: 1e-3, rescaleGrad: 1, clipGradient: 0.25 },
    // A decay large enough that a decayed bias would be far off (the tester's --wd 0.5).
    { lr: 0.1, momentum: 0.9, wd: 0.5, rescaleGrad: 1 / 100, clipGradient: 0 },
    // Each term on alone: the kernel compiles a pipeline per combination.
    { lr: 0.2, momentum: 0, wd: 5e-3, rescaleGrad: 1 / 10, clipGradient: 0 },
    { lr: 0.2, momentum: 0, wd: 0, rescaleGrad: 1 / 10, clipGradient: 0.1 },
    { lr: 0.05, momentum: 0.9, wd: 0, rescaleGrad: 1 / 100, clipGradient: 0 },
  ]
) {
  gpuTest(`sgdUpdate() matches MXNet's update with ${JSON.stringify(options)}`, async (g, k) => {
    const rng = new Rng(7);
    const store = new ParamStore(g.device, mlp());
    const n = store.length;
    const w = randomArray(n, rng);
    const grad = randomArray(n, rng, { lo: -3, hi: 3 });
    const mom = randomArray(n, rng, { lo: -0.1, hi: 0.1 });
    store.upload(w.slice(), store.params);
    store.upload(grad.slice(), store.grads);
    store.upload(mom.slice(), store.momentum);
    const sgd = buildSgd(g.device, k, { store, ...options });
    runPass(g, (pass) => {
      encode(pass, sgd);
      encode(pass, sgd);
    });
    // MXNet updates each tensor with its own wd: 0 for the biases.
    for (const t of store.tensors) {
      const slice = (a: Float32Array) => a.subarray(t.offset, t.offset + t.size);
      const wd = options.wd * ref.wdMult(t.name);
      for (let step = 0; step < 2; step++) {
        ref.sgdUpdate({ w: slice(w), g: slice(grad), mom: slice(mom) }, { ...options, wd });
      }
    }
    const got = await store.download();
    // Untouched momentum stays as uploaded when the update has none.
    const gotMom = await store.download(store.momentum);
    for (const t of store.tensors) {
      const slice = (a: Float32Array) => a.subarray(t.offset, t.offset + t.size);
      assertClose(got.get(t.name)!, slice(w), { atol: 1e-6, rtol: 1e-5, label: t.name });
      assertClose(gotMom.get(t.name)!, slice(mom), { atol: 1e-6, rtol: 1e-5, label: t.name });
    }
    store.destroy();
  });
}
