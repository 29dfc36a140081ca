/**
 * The op tables (one row per variant) and the one decision per layer (src/nn/variants.ts):
 * every WGSL entry point is named by exactly one row, the choice follows the adapter, the
 * shapes and --kernels, and checkpoints that recorded "simple"/"tuned" before variants had
 * names still resume with the kernels they ran.
 */
import assert from "node:assert/strict";
import { CONV2D_TABLE } from "../src/nn/conv2d.ts";
import { DENSE_TABLE } from "../src/nn/dense.ts";
import { lenet, mlp } from "../src/nn/model.ts";
import { POOL_TABLE } from "../src/nn/pool.ts";
import { GATHER_TABLE } from "../src/train/feeder.ts";
import { SOFTMAX_TABLE } from "../src/nn/loss.ts";
import { ADAM_TABLE, SGD_TABLE } from "../src/nn/optimizer.ts";
import {
  chooseVariants,
  inferenceVariants,
  recallVariants,
  SIMPLE_INFERENCE_BATCH,
} from "../src/nn/variants.ts";
import { runCli } from "./cli_helpers.ts";
import { gpu } from "./gpu_helpers.ts";
import { MNIST } from "./test_data.ts";

const KERNELS = new URL("../kernels/", import.meta.url);

/** Every table, by op, with its rows' modules and entry points. */
const TABLES: Record<string, Record<string, { program: { name: string }; entries: object }>> = {
  dense: DENSE_TABLE,
  conv2d: CONV2D_TABLE,
  maxpool: POOL_TABLE,
  softmax: SOFTMAX_TABLE,
  sgd: SGD_TABLE,
  adam: ADAM_TABLE,
  gather: GATHER_TABLE,
};

Deno.test("every @compute entry point in kernels/ is named by exactly one table row", async () => {
  const named = new Map<string, string[]>();
  for (const [op, table] of Object.entries(TABLES)) {
    for (const [variant, row] of Object.entries(table)) {
      for (const entry of Object.values(row.entries) as string[]) {
        const key = `${row.program.name}.wgsl:${entry}`;
        named.set(key, [...named.get(key) ?? [], `${op}.${variant}`]);
      }
    }
  }
  const found: string[] = [];
  for await (const f of Deno.readDir(KERNELS)) {
    if (!f.name.endsWith(".wgsl")) continue;
    const code = await Deno.readTextFile(new URL(f.name, KERNELS));
    for (const m of code.matchAll(/@compute[^]*?\bfn\s+(\w+)/g)) found.push(`${f.name}:${m[1]}`);
  }
  found.sort();
  assert.ok(found.length >= 30, `found ${found.length} entry points`);
  for (const key of found) {
    assert.equal(named.get(key)?.length, 1, `${key} is named by ${named.get(key) ?? "no row"}`);
  }
  // And every row names entry points that exist.
  assert.deepEqual([...named.keys()].sort(), found);
});

const LIMITS = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupStorageSize: 16384 };

Deno.test("chooseVariants() picks each layer's row from the adapter, the shapes and --kernels", () => {
  const choose = (adapter: "cpu" | "gpu", kernels: "auto" | "tuned" | "simple") =>
    chooseVariants(lenet(), { adapter, limits: LIMITS, kernels });
  // LeNet: conv1, pool1, conv2, pool2, flatten, fc1, fc2. On CPUs each pool runs in its
  // convolution's epilogue.
  assert.deepEqual(choose("cpu", "tuned"), [
    "tiled_pool",
    "fused",
    "tiled_pool",
    "fused",
    "simple",
    "tiled",
    "tiled",
  ]);
  assert.deepEqual(choose("cpu", "auto"), choose("cpu", "tuned"));
  assert.deepEqual(choose("gpu", "tuned"), [
    "vec4",
    "2x2",
    "vec4",
    "2x2",
    "simple",
    "shared",
    "shared",
  ]);
  assert.ok(choose("gpu", "simple").every((v) => v === "simple"));
  // On a GPU, a measured layer keeps the tuned row only if it was no slower.
  const timing = [{ simple: 1, tuned: 2 }, null, { simple: 2, tuned: 2 }];
  assert.deepEqual(
    chooseVariants(lenet(), { adapter: "gpu", limits: LIMITS, kernels: "auto", timing })
      .slice(0, 3),
    ["simple", "2x2", "vec4"],
  );
  // A dense layer with I % 4 != 0 does not fit the tiled row; too small a workgroup limit
  // rules out the shared one.
  const odd = { ...mlp(), input: [1, 1, 7] as [number, number, number] };
  assert.deepEqual(chooseVariants(odd, { adapter: "cpu", limits: LIMITS, kernels: "tuned" }), [
    "simple",
    "tiled",
    "tiled",
  ]);
  const small = { ...LIMITS, maxComputeInvocationsPerWorkgroup: 128 };
  assert.deepEqual(
    chooseVariants(mlp(), { adapter: "gpu", limits: small, kernels: "tuned" }),
    ["simple", "simple", "simple"],
  );
});

Deno.test("recallVariants() reads old 'simple'/'tuned' records and variant names", () => {
  const options = { limits: LIMITS };
  const old = ["tuned", "simple", "tuned", "tuned", "tuned", "simple", "tuned"];
  assert.deepEqual(recallVariants(lenet(), old, { ...options, adapter: "cpu" }), [
    "tiled",
    "simple",
    "tiled",
    "2x2",
    "simple",
    "simple",
    "tiled",
  ]);
  assert.deepEqual(
    recallVariants(mlp(), ["tuned", "tuned", "tuned"], {
      ...options,
      adapter: "gpu",
    }),
    ["shared", "shared", "shared"],
  );
  const named = ["vec4", "simple", "tiled", "2x2", "simple", "shared", "simple"];
  assert.deepEqual(recallVariants(lenet(), named, { ...options, adapter: "gpu" }), named);
  // Another length, a name the op lacks, a row that does not fit, not a list: null.
  assert.equal(recallVariants(mlp(), ["tuned"], { ...options, adapter: "cpu" }), null);
  assert.equal(
    recallVariants(mlp(), ["vec4", "tiled", "tiled"], { ...options, adapter: "cpu" }),
    null,
  );
  assert.equal(
    recallVariants(lenet(), ["2x2", ...named.slice(1)], { ...options, adapter: "cpu" }),
    null,
  );
  assert.equal(recallVariants(mlp(), "tuned", { ...options, adapter: "cpu" }), null);
  // A fused pool without its pooling convolution, or the other way round: null.
  const fused = ["tiled_pool", "fused", "tiled_pool", "fused", "simple", "tiled", "tiled"];
  assert.deepEqual(recallVariants(lenet(), fused, { ...options, adapter: "cpu" }), fused);
  for (
    const broken of [["tiled", ...fused.slice(1)], [...fused.slice(0, 3), "2x2", ...fused.slice(4)]]
  ) {
    assert.equal(recallVariants(lenet(), broken, { ...options, adapter: "cpu" }), null);
  }
});

/**
 * Written by the code before the restructure (commit 991319c) with `mnist train --kernels tuned
 * --epochs 1 --limit 500 --device cpu` on llvmpipe: its training.kernels is {adapter: "llvmpipe
 * (LLVM 15.0.6, 256 bits)", layers: ["tuned", "tuned", "tuned"]}.
 */
const OLD_CHECKPOINT = new URL("./fixtures/mlp-kernels-tuned-991319c.safetensors", import.meta.url);
const OLD_ADAPTER = "llvmpipe (LLVM 15.0.6, 256 bits)";

/** What the old code logged for epoch 1 of the same run uninterrupted (`--epochs 2`). */
const OLD_EPOCH_1 = [
  "INFO:root:Start training with [cpu(0)]",
  "INFO:root:Epoch[1] Resetting Data Iterator",
  "INFO:root:Epoch[1] Time cost=X",
  'INFO:root:Saved checkpoint to "PATH"',
  "INFO:root:Epoch[1] Validation-accuracy=0.516000",
];

Deno.test({
  name: "a checkpoint that recorded 'tuned' kernels resumes as the old uninterrupted run went on",
  // The recorded choice is kept only on the adapter it was made on (and the log is its rounding).
  ignore: gpu?.name !== OLD_ADAPTER,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mnist_variants_test_" });
    try {
      for (const f of await Array.fromAsync(Deno.readDir(MNIST))) {
        if (f.name.endsWith(".gz")) await Deno.symlink(`${MNIST}/${f.name}`, `${dir}/${f.name}`);
      }
      const save = `${dir}/resumed.safetensors`;
      const run = await runCli([
        "train",
        "--resume",
        OLD_CHECKPOINT.pathname,
        "--epochs",
        "2",
        "--device",
        "cpu",
        "--data-dir",
        dir,
        "--save",
        save,
      ]);
      assert.equal(run.code, 0, run.stderr);
      const log = run.stdout.trimEnd().split("\n").map((l) =>
        l.replace(/Time cost=[\d.]+/, "Time cost=X").replace(save, "PATH")
      );
      assert.deepEqual(log, OLD_EPOCH_1);
      // The choice is recorded again, by variant name.
      const file = await Deno.readFile(save);
      const n = Number(new DataView(file.buffer).getBigUint64(0, true));
      const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n)));
      const training = JSON.parse(header.__metadata__.training);
      assert.deepEqual(training.kernels, {
        adapter: OLD_ADAPTER,
        layers: ["tiled", "tiled", "tiled"],
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("inferenceVariants() runs a few images on a CPU adapter with the simple kernels", () => {
  const device = { limits: LIMITS } as unknown as GPUDevice;
  const cpu = { isCpu: true, device };
  const tuned = chooseVariants(lenet(), { adapter: "cpu", limits: LIMITS, kernels: "tuned" });
  const simple = chooseVariants(lenet(), { adapter: "cpu", limits: LIMITS, kernels: "simple" });
  assert.deepEqual(inferenceVariants(lenet(), cpu, { batch: 1 }), simple);
  assert.deepEqual(inferenceVariants(lenet(), cpu, { batch: SIMPLE_INFERENCE_BATCH }), simple);
  assert.deepEqual(inferenceVariants(lenet(), cpu, { batch: SIMPLE_INFERENCE_BATCH + 1 }), tuned);
  assert.deepEqual(inferenceVariants(lenet(), cpu), tuned);
  // A GPU compiles its tuned kernels in milliseconds: tuned whatever the batch.
  const onGpu = inferenceVariants(lenet(), { isCpu: false, device }, { batch: 1 });
  assert.deepEqual(
    onGpu,
    chooseVariants(lenet(), { adapter: "gpu", limits: LIMITS, kernels: "tuned" }),
  );
});
