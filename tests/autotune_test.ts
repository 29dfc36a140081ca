/**
 * Kernel choice by measurement (src/train/autotune.ts): forced onto the CPU adapter here, where
 * training itself never measures.
 */
import assert from "node:assert/strict";
import { lenet, mlp } from "../src/nn/model.ts";
import { Network } from "../src/nn/network.ts";
import { ParamStore } from "../src/nn/params.ts";
import { Rng } from "../src/random.ts";
import { chooseKernels, formatChoice, recordChoice } from "../src/train/autotune.ts";
import { gpuTest } from "./gpu_helpers.ts";

gpuTest("chooseKernels() keeps, per layer, the kernels that measured faster", async (g, k) => {
  for (const model of [mlp(), lenet()]) {
    const store = new ParamStore(g.device, model);
    store.initialize({ kind: "xavier" }, new Rng(1));
    try {
      const choice = await chooseKernels(g, k, { model, store, B: 4, steps: 2, force: true });
      assert.equal(choice.tiled.length, model.layers.length);
      // Every layer whose two builds differ was measured: all but flatten (LeNet's pools are
      // 2×2 and have their fast path).
      const measured = model.layers.flatMap((l) => l.kind === "flatten" ? [] : [l.name]);
      assert.deepEqual(choice.rows.map((r) => r.layer), measured);
      for (const row of choice.rows) {
        assert.ok(row.simple > 0 && row.tuned > 0, `${row.layer} was timed`);
        assert.equal(row.keptTuned, row.tuned <= row.simple, row.layer);
        const index = model.layers.findIndex((l) => l.name === row.layer);
        assert.equal(choice.tiled[index], row.keptTuned, row.layer);
      }
      // Flatten runs no kernels either way and keeps the default.
      model.layers.forEach((l, i) => {
        if (!measured.includes(l.name)) assert.equal(choice.tiled[i], true, l.name);
      });
      assert.match(
        formatChoice(choice.rows, "t"),
        new RegExp(`^${measured[0]} +[\\d.]+ +[\\d.]+  (tuned|simple)$`, "m"),
      );
      // The choice builds a network.
      const network = new Network(g.device, k, {
        model,
        store,
        B: 4,
        train: true,
        target: "gpu",
        tiled: choice.tiled,
      });
      network.destroy();
    } finally {
      store.destroy();
    }
  }
});

gpuTest("chooseKernels() measures nothing on a CPU adapter unless forced", async (g, k) => {
  const model = mlp();
  const store = new ParamStore(g.device, model);
  try {
    const choice = await chooseKernels({ ...g, isCpu: true }, k, { model, store, B: 4 });
    assert.deepEqual(choice, { tiled: model.layers.map(() => true), rows: [] });
  } finally {
    store.destroy();
  }
});

gpuTest("chooseKernels() keeps the choice a checkpoint recorded on the same adapter", async (
  g,
  k,
) => {
  const model = lenet();
  const store = new ParamStore(g.device, model);
  try {
    const layers = model.layers.map((_, i) => i % 2 === 0 ? "simple" as const : "tuned" as const);
    const options = { model, store, B: 2, steps: 1, force: true };
    const recalled = await chooseKernels(g, k, {
      ...options,
      recorded: { adapter: g.name, layers },
    });
    assert.deepEqual(recalled, {
      tiled: layers.map((l) => l === "tuned"),
      rows: [],
      recalled: true,
    });
    // Recorded again in the checkpoint, as it was.
    assert.deepEqual(recordChoice(recalled, g.name), { adapter: g.name, layers });
    // Another adapter's choice, or one that does not fit the model, is measured anew.
    for (
      const recorded of [
        { adapter: "another GPU", layers },
        { adapter: g.name, layers: layers.slice(1) },
        { adapter: g.name, layers: layers.map(() => "fast") },
        "garbage",
      ]
    ) {
      const measured = await chooseKernels(g, k, { ...options, recorded });
      assert.ok(measured.rows.length > 0, JSON.stringify(recorded));
      assert.equal(recordChoice(measured, g.name)?.layers.length, model.layers.length);
    }
    // Nothing measured, nothing recorded: the checkpoint says nothing.
    assert.equal(recordChoice({ tiled: [true], rows: [] }, g.name), undefined);
  } finally {
    store.destroy();
  }
});
