/**
 * Kernel choice by measurement (src/train/autotune.ts): forced onto the CPU adapter here, where
 * training itself never measures.
 */
import assert from "node:assert/strict";
import { lenet, mlp } from "../src/nn/model.ts";
import { Network } from "../src/nn/network.ts";
import { ParamStore } from "../src/nn/params.ts";
import { Rng } from "../src/random.ts";
import { chooseVariants, tunedVariant } from "../src/nn/variants.ts";
import { inferShapes } from "../src/nn/model.ts";
import { chooseKernels, formatChoice, recordChoice } from "../src/train/autotune.ts";
import { gpuTest } from "./gpu_helpers.ts";

gpuTest("chooseKernels() keeps, per layer, the kernels that measured faster", async (g, k) => {
  for (const model of [mlp(), lenet()]) {
    const store = new ParamStore(g.device, model);
    store.initialize({ kind: "xavier" }, new Rng(1));
    try {
      const choice = await chooseKernels(g, k, { model, store, B: 4, steps: 2, adapter: "gpu" });
      assert.equal(choice.variants.length, model.layers.length);
      const tuned = inferShapes(model).map((info) =>
        tunedVariant(info, { adapter: "gpu", limits: g.device.limits })
      );
      // Every layer whose two builds differ was measured: all but flatten (LeNet's pools are
      // 2×2 and have their fast path).
      const measured = model.layers.flatMap((l) => l.kind === "flatten" ? [] : [l.name]);
      assert.deepEqual(choice.rows.map((r) => r.layer), measured);
      for (const row of choice.rows) {
        assert.ok(row.simple > 0 && row.tuned > 0, `${row.layer} was timed`);
        assert.equal(row.keptTuned, row.tuned <= row.simple, row.layer);
        const index = model.layers.findIndex((l) => l.name === row.layer);
        assert.equal(choice.variants[index], row.keptTuned ? tuned[index] : "simple", row.layer);
      }
      // Flatten runs no kernels either way and keeps the default.
      model.layers.forEach((l, i) => {
        if (!measured.includes(l.name)) assert.equal(choice.variants[i], tuned[i], l.name);
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
        variants: choice.variants,
      });
      network.destroy();
    } finally {
      store.destroy();
    }
  }
});

gpuTest("chooseKernels() measures nothing on a CPU adapter", async (g, k) => {
  const model = mlp();
  const store = new ParamStore(g.device, model);
  try {
    const choice = await chooseKernels({ ...g, isCpu: true }, k, { model, store, B: 4 });
    const limits = g.device.limits;
    const variants = chooseVariants(model, { adapter: "cpu", limits, kernels: "tuned" });
    assert.deepEqual(choice, { variants, rows: [] });
    assert.deepEqual(variants, ["tiled", "tiled", "tiled"]);
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
    const options = { model, store, B: 2, steps: 1, adapter: "gpu" as const };
    const tuned = inferShapes(model).map((info) =>
      tunedVariant(info, { adapter: "gpu", limits: g.device.limits })
    );
    const variants = layers.map((l, i) => l === "tuned" ? tuned[i]! : "simple");
    const recalled = await chooseKernels(g, k, {
      ...options,
      recorded: { adapter: g.name, layers },
    });
    // "tuned", as checkpoints written before variants had names say, is the layer's tuned variant.
    assert.deepEqual(recalled, { variants, rows: [], recalled: true });
    // Recorded again in the checkpoint by name, and recalled as it was.
    const record = recordChoice(recalled, g.name);
    assert.deepEqual(record, { adapter: g.name, layers: variants });
    const again = await chooseKernels(g, k, { ...options, recorded: record });
    assert.deepEqual(again, { variants, rows: [], recalled: true });
    // Another adapter's choice, or one that does not fit the model, is measured anew.
    for (
      const recorded of [
        { adapter: "another GPU", layers },
        { adapter: g.name, layers: layers.slice(1) },
        { adapter: g.name, layers: layers.map(() => "fast") },
        // A name of another op's row (conv1 has no "shared" row).
        { adapter: g.name, layers: layers.map(() => "shared") },
        "garbage",
      ]
    ) {
      const measured = await chooseKernels(g, k, { ...options, recorded });
      assert.ok(measured.rows.length > 0, JSON.stringify(recorded));
      assert.equal(recordChoice(measured, g.name)?.layers.length, model.layers.length);
    }
    // Nothing measured, nothing recorded: the checkpoint says nothing.
    assert.equal(recordChoice({ variants: ["tiled"], rows: [] }, g.name), undefined);
  } finally {
    store.destroy();
  }
});
