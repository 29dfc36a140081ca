/** `mnist summary`: the tutorial's networks described, with MXNet's parameter totals. */
import { equal, match, ok } from "node:assert/strict";
import { encodeCheckpoint } from "../src/nn/checkpoint.ts";
import { inferShapes, lenet, mlp, parameterCount, sizeOf } from "../src/nn/model.ts";
import { summaryDot, summaryRows, summarySvg, summaryTable } from "../src/nn/summary.ts";
import { runCli } from "./cli_helpers.ts";

Deno.test("parameterCount() gives the tutorial's totals: MLP 109,386, LeNet 431,080", () => {
  equal(parameterCount(mlp()), 109_386);
  equal(parameterCount(lenet()), 431_080);
});

Deno.test("summaryRows() lists LeNet's operators with MXNet's shapes", () => {
  const rows = summaryRows(lenet()).map((r) =>
    `${r.name}:${r.type}:${r.shape.join("x")}:${r.params}`
  );
  equal(
    rows.join(" "),
    [
      "data:null:1x28x28:0",
      "conv1:Convolution:20x24x24:520",
      "tanh1:Activation:20x24x24:0",
      "pool1:Pooling:20x12x12:0",
      "conv2:Convolution:50x8x8:25050",
      "tanh2:Activation:50x8x8:0",
      "pool2:Pooling:50x4x4:0",
      "flatten:Flatten:800:0",
      "fc1:FullyConnected:500:400500",
      "tanh3:Activation:500:0",
      "fc2:FullyConnected:10:5010",
      "softmax:SoftmaxOutput:10:0",
    ].join(" "),
  );
});

Deno.test("summaryRows() shows the MLP's flatten from 1×28×28 to 784, as mx.sym.Flatten", () => {
  // The tutorial's MLP starts with mx.sym.Flatten; the summary went from data (1×28×28) straight
  // to fc1, without saying where the digits became 784 inputs.
  const rows = summaryRows(mlp()).map((r) =>
    `${r.name}:${r.type}:${r.shape.join("x")}:${r.params}`
  );
  equal(
    rows.join(" "),
    [
      "data:null:1x28x28:0",
      "flatten:Flatten:784:0",
      "fc1:FullyConnected:128:100480",
      "relu1:Activation:128:0",
      "fc2:FullyConnected:64:8256",
      "relu2:Activation:64:0",
      "fc3:FullyConnected:10:650",
      "softmax:SoftmaxOutput:10:0",
    ].join(" "),
  );
  const table = summaryTable(mlp());
  match(table, /^flatten \(Flatten\)\s+784\s+0\s+data$/m);
  match(table, /^fc1 \(FullyConnected\)\s+128\s+100,480\s+flatten$/m);
  match(table, /^Total params: 109,386$/m);
  const dot = summaryDot(mlp());
  match(dot, /"data" -> "flatten" \[label="1×28×28"\];/);
  match(dot, /"flatten" -> "fc1" \[label="784"\];/);
  const svg = summarySvg(mlp());
  equal((svg.match(/<rect /g) ?? []).length, 8);
  match(svg, /109,386 parameters/);
  // A layer already named flatten keeps its name; the drawn flatten takes another.
  const named = {
    ...mlp(),
    layers: mlp().layers.map((l, i) => i === 1 ? { ...l, name: "flatten" } : l),
  };
  const names = summaryRows(named).map((r) => r.name);
  equal(names.slice(0, 4).join(" "), "data flatten1 fc1 relu1");
  equal(new Set(names).size, names.length);
});

Deno.test("summaryTable() prints each layer and the total like print_summary", () => {
  const table = summaryTable(mlp());
  match(table, /^Layer \(type\)\s+Output Shape\s+Param #\s+Previous Layer$/m);
  match(table, /^fc1 \(FullyConnected\)\s+128\s+100,480\s+flatten$/m);
  match(table, /^relu1 \(Activation\)\s+128\s+0\s+fc1$/m);
  match(table, /^Total params: 109,386$/m);
});

Deno.test("summaryDot() is a digraph with shapes on the edges", () => {
  const dot = summaryDot(lenet());
  match(dot, /^digraph "lenet" \{/);
  match(dot, /"conv1" -> "tanh1" \[label="20×24×24"\];/);
  match(dot, /"fc2" -> "softmax" \[label="10"\];/);
  ok(dot.trimEnd().endsWith("}"));
});

Deno.test("summarySvg() is a self-contained SVG with one box per operator", () => {
  const svg = summarySvg(lenet());
  ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  equal((svg.match(/<rect /g) ?? []).length, summaryRows(lenet()).length);
  ok(!/href="http/.test(svg), "no external references");
  match(svg, /431,080 parameters/);
});

Deno.test("mnist summary --model lenet --svg writes the drawing; unknown models fail", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await runCli(["summary", "--model", "lenet", "--svg", `${dir}/lenet.svg`]);
    equal(r.code, 0, r.stderr);
    match(r.stdout, /Total params: 431,080/);
    ok((await Deno.readTextFile(`${dir}/lenet.svg`)).includes("</svg>"));
    const bad = await runCli(["summary", "--model", "resnet"]);
    equal(bad.code, 1);
    match(bad.stderr, /^error: Unknown model "resnet"\n/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mnist summary --model finds the names mnist models lists, as eval does", async () => {
  // "mlp.prev" was "Cannot load model "mlp.prev": no such file", hint "Train one first".
  const dir = await Deno.makeTempDir({ prefix: "mnist_summary_test_" });
  try {
    const model = lenet();
    const params = new Map(
      inferShapes(model).flatMap((l) =>
        l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
      ),
    );
    const bytes = encodeCheckpoint({
      meta: { model, epoch: 0, dataset: "mnist" },
      params,
      momentum: new Map(),
    });
    await Deno.writeFile(`${dir}/lenet.prev.safetensors`, bytes);
    const env = { MNIST_MODEL_DIR: dir };
    for (const name of ["lenet.prev", "lenet.prev.safetensors"]) {
      const r = await runCli(["summary", "--model", name], { env });
      equal(r.code, 0, r.stderr);
      match(r.stdout, new RegExp(`^Model "${dir}/lenet\\.prev\\.safetensors": `));
      match(r.stdout, /Total params: 431,080/);
    }
    // The built-in names still describe the untrained network, not a checkpoint.
    const builtIn = await runCli(["summary", "--model", "mlp"], { env });
    equal(builtIn.code, 0, builtIn.stderr);
    match(builtIn.stdout, /^Layer \(type\)/m);
    equal(builtIn.stdout.includes('Model "'), false);
    const missing = await runCli(["summary", "--model", "mlp.prev"], { env });
    equal(missing.code, 1);
    match(
      missing.stderr,
      new RegExp(
        `^error: Cannot load model "mlp\\.prev": no such file here, nor in "${dir}"\n` +
          `hint: Saved models: lenet\\.prev \\("mnist models" lists them, with their accuracy\\)\\.\n$`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
