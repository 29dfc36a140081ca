/**
 * `mnist export --onnx` (src/onnx/export.ts, src/cli/export.ts): the graph as protobuf, decoded
 * with the same schema; and, where Node and onnxruntime-node are installed (.ci/run puts the
 * package in .ci/ort; MNIST_ORT_DIR names another copy), the exported MLP and LeNet run by
 * onnxruntime on the 10,000 test digits against the probabilities `mnist eval` computes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CliResult, PROJECT_ROOT, runCli } from "./cli_helpers.ts";
import { gpu } from "./gpu_helpers.ts";
import { MNIST } from "./test_data.ts";
import { randomArray } from "./check.ts";
import { exportOnnx, IR_VERSION, onnxModelType, OPSET } from "../src/onnx/export.ts";
import { encodeCheckpoint, loadCheckpoint } from "../src/nn/checkpoint.ts";
import { inferShapes, lenet, mlp, type ModelSpec, sizeOf } from "../src/nn/model.ts";
import { largestBatch, Network } from "../src/nn/network.ts";
import { ParamStore } from "../src/nn/params.ts";
import { inferenceVariants } from "../src/nn/variants.ts";
import { KernelCache } from "../src/gpu/kernel.ts";
import { loadSplit } from "../src/data/dataset.ts";
import { Evaluator } from "../src/train/evaluate.ts";
import { Rng } from "../src/random.ts";

const FILES = [
  "train-images-idx3-ubyte.gz",
  "train-labels-idx1-ubyte.gz",
  "t10k-images-idx3-ubyte.gz",
  "t10k-labels-idx1-ubyte.gz",
];

/** A model as protobufjs decodes it, with int64s as numbers. */
// deno-lint-ignore no-explicit-any
type Decoded = any;

function decode(bytes: Uint8Array): Decoded {
  const Model = onnxModelType();
  return Model.toObject(Model.decode(bytes), { longs: Number, defaults: false, arrays: true });
}

function randomParams(model: ModelSpec, seed: number): Map<string, Float32Array> {
  const rng = new Rng(seed);
  return new Map(
    inferShapes(model).flatMap((l) =>
      l.params.map((p) => [p.name, randomArray(sizeOf(p.shape), rng)] as const)
    ),
  );
}

/** Each node as "name Op(inputs) -> output" with its attributes, for one readable comparison. */
function nodes(graph: Decoded): string[] {
  return graph.node.map((n: Decoded) => {
    const attributes = (n.attribute ?? []).map((a: Decoded) =>
      `${a.name}=${a.type === 7 ? `[${a.ints}]` : a.i}`
    );
    return `${n.name} ${n.op_type}(${n.input.join(", ")}) -> ${n.output.join(", ")}` +
      (attributes.length ? ` {${attributes.join(", ")}}` : "");
  });
}

/** A value_info's name, element type and shape (dim_param or dim_value). */
function valueInfo(v: Decoded): string {
  const t = v.type.tensor_type;
  const dims = t.shape.dim.map((d: Decoded) => d.dim_param ?? d.dim_value);
  return `${v.name}: ${t.elem_type === 1 ? "float32" : t.elem_type} [${dims}]`;
}

Deno.test("exportOnnx() writes LeNet as MXNet's graph: opset 13, data → softmax", () => {
  const params = randomParams(lenet(), 1);
  const bytes = exportOnnx({ model: lenet(), params }, {
    classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    producerVersion: "9.9.9",
    metadata: { dataset: "mnist" },
  });
  const m = decode(bytes);
  assert.equal(m.ir_version, IR_VERSION);
  assert.deepEqual(m.opset_import, [{ domain: "", version: OPSET }]);
  assert.ok(OPSET >= 13);
  assert.equal(m.producer_name, "mnist");
  assert.equal(m.producer_version, "9.9.9");
  assert.deepEqual(m.graph.input.map(valueInfo), ["data: float32 [N,1,28,28]"]);
  assert.deepEqual(m.graph.output.map(valueInfo), ["softmax: float32 [N,10]"]);
  assert.deepEqual(nodes(m.graph), [
    "conv1 Conv(data, conv1_weight, conv1_bias) -> conv1_output " +
    "{kernel_shape=[5,5], strides=[1,1], pads=[0,0,0,0]}",
    "tanh1 Tanh(conv1_output) -> tanh1_output",
    "pool1 MaxPool(tanh1_output) -> pool1_output {kernel_shape=[2,2], strides=[2,2]}",
    "conv2 Conv(pool1_output, conv2_weight, conv2_bias) -> conv2_output " +
    "{kernel_shape=[5,5], strides=[1,1], pads=[0,0,0,0]}",
    "tanh2 Tanh(conv2_output) -> tanh2_output",
    "pool2 MaxPool(tanh2_output) -> pool2_output {kernel_shape=[2,2], strides=[2,2]}",
    "flatten Flatten(pool2_output) -> flatten_output {axis=1}",
    "fc1 Gemm(flatten_output, fc1_weight, fc1_bias) -> fc1_output {transB=1}",
    "tanh3 Tanh(fc1_output) -> tanh3_output",
    "fc2 Gemm(tanh3_output, fc2_weight, fc2_bias) -> fc2_output {transB=1}",
    "softmax Softmax(fc2_output) -> softmax {axis=1}",
  ]);
  // The weights, bit for bit, under MXNet's names and PyTorch's shapes.
  assert.deepEqual(
    m.graph.initializer.map((t: Decoded) => `${t.name} [${t.dims}] ${t.data_type}`),
    [
      "conv1_weight [20,1,5,5] 1",
      "conv1_bias [20] 1",
      "conv2_weight [50,20,5,5] 1",
      "conv2_bias [50] 1",
      "fc1_weight [500,800] 1",
      "fc1_bias [500] 1",
      "fc2_weight [10,500] 1",
      "fc2_bias [10] 1",
    ],
  );
  for (const t of m.graph.initializer) {
    const raw = Uint8Array.from(t.raw_data as Uint8Array);
    assert.deepEqual(new Float32Array(raw.buffer), params.get(t.name), t.name);
  }
  const props = Object.fromEntries(
    m.metadata_props.map((p: Decoded) => [p.key, p.value]),
  );
  assert.deepEqual(Object.keys(props), [
    "input",
    "ink",
    "preprocessing",
    "output",
    "classes",
    "dataset",
  ]);
  assert.match(props.input, /^data: float32 \[N, 1, 28, 28\], grey pixels \/ 255, in \[0, 1\]$/);
  assert.match(props.ink, /light ink on a black background/);
  assert.match(props.preprocessing, /20 px .*centre of mass/);
  assert.deepEqual(JSON.parse(props.classes), ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  assert.match(m.doc_string, /pixels \/ 255/);
});

Deno.test("exportOnnx() writes the MLP with a Flatten before its first Gemm", () => {
  const m = decode(
    exportOnnx({ model: mlp(), params: randomParams(mlp(), 2) }, {
      classes: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
      producerVersion: "0",
    }),
  );
  assert.deepEqual(nodes(m.graph), [
    "fc1_flatten Flatten(data) -> fc1_flatten_output {axis=1}",
    "fc1 Gemm(fc1_flatten_output, fc1_weight, fc1_bias) -> fc1_output {transB=1}",
    "relu1 Relu(fc1_output) -> relu1_output",
    "fc2 Gemm(relu1_output, fc2_weight, fc2_bias) -> fc2_output {transB=1}",
    "relu2 Relu(fc2_output) -> relu2_output",
    "fc3 Gemm(relu2_output, fc3_weight, fc3_bias) -> fc3_output {transB=1}",
    "softmax Softmax(fc3_output) -> softmax {axis=1}",
  ]);
  assert.throws(
    () => exportOnnx({ model: mlp(), params: new Map() }, { classes: [], producerVersion: "0" }),
    /Parameter "fc1_weight" is missing/,
  );
});

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mnist_onnx_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts a failed run printed one `error:` line matching `pattern` (and maybe a hint). */
function assertUserError(run: CliResult, pattern: RegExp, what: string): void {
  assert.equal(run.code, 1, `${what}: exit 1:\n${run.stderr}`);
  const lines = run.stderr.trimEnd().split("\n");
  assert.match(lines[0]!, pattern, what);
  assert.ok(lines.length <= 2 && (lines[1] ?? "hint: ").startsWith("hint: "), run.stderr);
  assert.doesNotMatch(run.stderr, /^\s+at /m, `${what}: no stack trace`);
}

Deno.test(
  "mnist export of a Fashion-MNIST model states Zalando's input, and the accuracy's samples",
  async () => {
    // It described MNIST's digit preprocessing (20 px box, centre of mass) for a Fashion model,
    // and gave a holdout accuracy as if it were a test one.
    const dir = await Deno.makeTempDir({ prefix: "mnist_onnx_test_" });
    try {
      const model = mlp();
      const props = async (
        dataset: "mnist" | "fashion",
        training: { testSamples?: number; validation?: string },
      ) => {
        const path = `${dir}/${dataset}.safetensors`;
        const meta = { model, epoch: 1, dataset, accuracy: 0.746, training };
        await Deno.writeFile(
          path,
          encodeCheckpoint({ meta, params: randomParams(model, 3), momentum: new Map() }),
        );
        const run = await runCli(
          ["export", "--model", path, "--onnx", `${dir}/${dataset}.onnx`, "--data-dir", dir],
          { env: { MNIST_MODEL_DIR: `${dir}/models` } },
        );
        assert.equal(run.code, 0, run.stderr);
        const m = decode(await Deno.readFile(`${dir}/${dataset}.onnx`));
        return {
          doc: m.doc_string as string,
          ...Object.fromEntries(m.metadata_props.map((p: Decoded) => [p.key, p.value])),
        } as Record<string, string>;
      };
      const fashion = await props("fashion", { testSamples: 500, validation: "holdout:500" });
      assert.equal(fashion.dataset, "fashion");
      assert.equal(
        fashion.preprocessing,
        "as Zalando's Fashion-MNIST: trim to the garment, scale so that its longer side is " +
          "28 px, centre it in 28×28, its shades kept",
      );
      assert.match(fashion.ink!, /^a light garment on a black background/);
      for (const text of [fashion.ink!, fashion.preprocessing!, fashion.doc!]) {
        assert.doesNotMatch(text, /digit|20 px|centre of mass|\bink\b|LeCun/, text);
      }
      assert.equal(fashion.accuracy, "0.746");
      assert.equal(
        fashion.accuracy_on,
        "500 held-out training images (mnist train --validation holdout:500), not test samples",
      );
      const digits = await props("mnist", { testSamples: 3000, validation: "test" });
      assert.match(digits.preprocessing!, /^as LeCun's MNIST: .*20 px .*centre of mass/);
      assert.match(digits.ink!, /^light ink on a black background/);
      assert.equal(digits.accuracy_on, "3000 test digits");
      assert.equal((await props("mnist", {})).accuracy_on, "samples not recorded");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("mnist export refuses a missing --onnx, a bad --arch or output path, in one line", async () => {
  await withTempDir(async (dir) => {
    const env = { MNIST_MODEL_DIR: `${dir}/models` };
    await Deno.mkdir(`${dir}/out.onnx`);
    const cases: [string[], RegExp][] = [
      [["export", "--model", "lenet"], /^error: mnist export: --onnx FILE is required$/],
      [
        ["export", "--onnx", `${dir}/x.onnx`, "--arch", "resnet"],
        /^error: --arch must be one of mlp, lenet, got "resnet"$/,
      ],
      [["export", "--onnx", `${dir}/out.onnx`], /^error: .*out\.onnx.*directory/],
      [
        ["export", "--model", `${dir}/nope.safetensors`, "--onnx", `${dir}/x.onnx`],
        /^error: Cannot load model ".*nope\.safetensors": no such file$/,
      ],
    ];
    for (const [args, pattern] of cases) {
      assertUserError(await runCli([...args, "--data-dir", dir], { env }), pattern, args.join(" "));
    }
    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    assert.deepEqual(names, ["out.onnx"], "nothing written");
  });
});

/** onnxruntime-node's package folder, or why the onnxruntime test cannot run here. */
async function findOnnxRuntime(): Promise<{ dir: string } | { skip: string }> {
  const dir = Deno.env.get("MNIST_ORT_DIR") ??
    join(PROJECT_ROOT, ".ci/ort/node_modules/onnxruntime-node");
  try {
    const { success } = await new Deno.Command("node", { args: ["--version"], stdout: "null" })
      .output();
    if (!success) return { skip: "node --version failed" };
  } catch {
    return { skip: "Node.js is not installed (the test runs onnxruntime-node under node)" };
  }
  try {
    await Deno.stat(join(dir, "package.json"));
  } catch {
    return {
      skip: `onnxruntime-node is not installed in "${dir}" (.ci/run installs it: ` +
        `npm install --ignore-scripts --prefix .ci/ort onnxruntime-node; or set MNIST_ORT_DIR)`,
    };
  }
  return { dir };
}

const ORT = await findOnnxRuntime();
if ("skip" in ORT) {
  // CI installs both: there a missing one is a failure, not a skip.
  if (Deno.env.get("MNIST_REQUIRE_INTEROP") === "1") throw new Error(ORT.skip);
  console.warn(`onnxruntime test skipped: ${ORT.skip}`);
}

const RUNNER = fileURLToPath(new URL("./fixtures/onnx_run.mjs", import.meta.url));

/** Largest of |a - b|, and the samples whose most likely class differs. */
function compare(a: Float32Array, b: Float32Array, classes: number) {
  let largest = 0;
  const differ: number[] = [];
  const argmax = (p: Float32Array, i: number) => {
    let best = 0;
    for (let k = 1; k < classes; k++) if (p[i * classes + k]! > p[i * classes + best]!) best = k;
    return best;
  };
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i]! - b[i]!));
  for (let i = 0; i < a.length / classes; i++) if (argmax(a, i) !== argmax(b, i)) differ.push(i);
  return { largest, differ, argmax };
}

Deno.test({
  name: "onnxruntime runs the exported MLP and LeNet as mnist eval does on the 10,000 test digits",
  ignore: gpu === null || "skip" in ORT,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const ortDir = (ORT as { dir: string }).dir;
    await withTempDir(async (dir) => {
      for (const f of FILES) await Deno.symlink(`${MNIST}/${f}`, `${dir}/${f}`);
      const env = { MNIST_MODEL_DIR: `${dir}/models` };
      const test = await loadSplit(dir, { dataset: "mnist", split: "test" });
      const pixels = Float32Array.from(test.images, (u) => u / 255);
      await Deno.writeFile(`${dir}/test.f32`, new Uint8Array(pixels.buffer));
      for (const name of ["mlp", "lenet"]) {
        // A small model: agreement does not need a good one.
        const common = ["--data-dir", dir];
        const train = await runCli([
          "train",
          "--model",
          name,
          "--limit",
          "2000",
          "--epochs",
          "1",
          "--frequent",
          "10",
          "--save",
          `${dir}/${name}.safetensors`,
          ...common,
        ], { env });
        assert.equal(train.code, 0, train.stderr);
        const exported = await runCli([
          "export",
          "--model",
          `${dir}/${name}.safetensors`,
          "--onnx",
          `${dir}/${name}.onnx`,
          ...common,
        ], { env });
        assert.equal(exported.code, 0, exported.stderr);
        assert.match(exported.stdout, new RegExp(`^Wrote .*${name}\\.onnx \\(ONNX opset 13, `));
        const evaluated = await runCli([
          "eval",
          "--model",
          `${dir}/${name}.safetensors`,
          "--json",
          ...common,
        ], { env });
        assert.equal(evaluated.code, 0, evaluated.stderr);
        const evalCorrect = JSON.parse(evaluated.stdout).correct as number;

        // mnist's own probabilities, computed as mnist eval computes them.
        const g = gpu!;
        const checkpoint = await loadCheckpoint(`${dir}/${name}.safetensors`);
        const model = checkpoint.meta.model;
        const store = new ParamStore(g.device, model);
        store.load(checkpoint.params);
        const kernels = new KernelCache(g.device);
        const network = new Network(g.device, kernels, {
          model,
          store,
          B: Math.min(1000, largestBatch(model, g.device.limits)),
          train: false,
          variants: inferenceVariants(model, g),
        });
        const evaluator = new Evaluator(g.device, kernels, { network, split: test });
        const ours = (await evaluator.run({ probabilities: true })).probabilities!;
        evaluator.destroy();
        network.destroy();
        store.destroy();

        const run = await new Deno.Command("node", {
          args: [
            RUNNER,
            ortDir,
            `${dir}/${name}.onnx`,
            `${dir}/test.f32`,
            String(test.count),
            `${dir}/${name}.out.f32`,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(run.stderr);
        assert.ok(run.success, `node ${RUNNER} failed:\n${stderr}`);
        const info = JSON.parse(new TextDecoder().decode(run.stdout));
        assert.deepEqual(info.inputs, ["data"]);
        assert.deepEqual(info.outputs, ["softmax"]);
        assert.deepEqual(info.inputMetadata?.[0]?.shape, ["N", 1, 28, 28]);
        assert.deepEqual(info.dims[0], [1, 10], "a batch of 1");
        const theirs = new Float32Array((await Deno.readFile(`${dir}/${name}.out.f32`)).buffer);
        assert.equal(theirs.length, ours.length);

        const { largest, differ, argmax } = compare(ours, theirs, 10);
        let ortCorrect = 0;
        for (let i = 0; i < test.count; i++) if (argmax(theirs, i) === test.labels[i]) ortCorrect++;
        console.log(
          `${name}: mnist eval ${evalCorrect}/10000, onnxruntime ${ortCorrect}/10000, ` +
            `${differ.length} digits differ, largest probability difference ${
              largest.toExponential(2)
            }`,
        );
        assert.ok(largest <= 1e-5, `${name}: probabilities differ by ${largest}`);
        assert.ok(differ.length <= 2, `${name}: ${differ.length} digits classified differently`);
        // Those that differ are near-ties: their two most likely classes within 2e-5.
        for (const i of differ) {
          const p = [...ours.subarray(i * 10, i * 10 + 10)].sort((a, b) => b - a);
          assert.ok(p[0]! - p[1]! <= 2e-5, `${name}: digit ${i} differs but is no tie: ${p}`);
        }
        assert.ok(
          Math.abs(ortCorrect - evalCorrect) <= 2,
          `${name}: ${ortCorrect} vs ${evalCorrect}`,
        );
      }
    });
  },
});
