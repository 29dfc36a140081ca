/**
 * Models and paths the commands must refuse in one line, end to end on a small model trained by
 * the real CLI: a `--model` path with a trailing slash or a name too long, a checkpoint whose
 * classes are not the dataset's 10, an output that is the file the command reads, a network too
 * wide for the adapter's buffers, and a file PyTorch's torch.save wrote.
 */
import assert from "node:assert/strict";
import { loadSplit } from "../src/data/dataset.ts";
import { encodePng } from "../src/image/png.ts";
import { type Checkpoint, encodeCheckpoint, loadCheckpoint } from "../src/nn/checkpoint.ts";
import { type DenseSpec, inferShapes, mlp, sizeOf } from "../src/nn/model.ts";
import { onnxModelType } from "../src/onnx/export.ts";
import { type CliResult, modelDirFor, runCli } from "./cli_helpers.ts";
import { gpu } from "./gpu_helpers.ts";
import { MNIST } from "./test_data.ts";

const FILES = [
  "train-images-idx3-ubyte.gz",
  "train-labels-idx1-ubyte.gz",
  "t10k-images-idx3-ubyte.gz",
  "t10k-labels-idx1-ubyte.gz",
];

/** Asserts a run failed with exit 1 and one `error:` line (and a hint), no stack trace. */
function assertRefused(run: CliResult, pattern: RegExp, what: string): void {
  assert.equal(run.code, 1, `${what}: exit ${run.code}\n${run.stdout}\n${run.stderr}`);
  const lines = run.stderr.trim().split("\n").filter((l) => !l.startsWith("Model: "));
  assert.match(lines[0]!, /^error: /, `${what}: ${run.stderr}`);
  assert.match(lines[0]!, pattern, what);
  assert.ok(lines.length <= 2, `${what}: one line and a hint:\n${run.stderr}`);
  assert.ok(!run.stderr.includes("    at "), `${what}: no stack trace:\n${run.stderr}`);
}

/** `checkpoint` with its last layer cut or grown to `classes` outputs (weights repeated). */
function withClasses(checkpoint: Checkpoint, classes: number): Uint8Array {
  const model = structuredClone(checkpoint.meta.model);
  model.classes = classes;
  (model.layers.at(-1) as DenseSpec).units = classes;
  const params = new Map(checkpoint.params);
  for (const name of ["fc3_weight", "fc3_bias"]) {
    const old = checkpoint.params.get(name)!;
    const per = old.length / 10;
    params.set(name, Float32Array.from({ length: classes * per }, (_, i) => old[i % old.length]!));
  }
  return encodeCheckpoint({ meta: { ...checkpoint.meta, model }, params, momentum: new Map() });
}

Deno.test({
  name: "mnist refuses bad models and paths in one line",
  ignore: gpu === null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "mnist_model_refusals_test_" });
    try {
      for (const f of FILES) await Deno.symlink(`${MNIST}/${f}`, `${dir}/${f}`);
      const args = ["--data-dir", dir];
      const train = await runCli(["train", ...args, "--limit", "300", "--epochs", "1"]);
      assert.equal(train.code, 0, train.stderr);
      const model = `${modelDirFor(dir)}/mlp.safetensors`;
      const checkpoint = await loadCheckpoint(model);
      const test = await loadSplit(MNIST, { dataset: "mnist", split: "test" });
      const digit = await encodePng({
        width: 28,
        height: 28,
        channels: 1,
        pixels: test.images.subarray(0, 784),
      });
      await Deno.writeFile(`${dir}/seven.png`, digit);

      await t.step("a --model path with a trailing slash or a long name", async () => {
        const long = `${dir}/${"a".repeat(300)}.safetensors`;
        const commands: [string, string[]][] = [
          ["predict", ["predict", ...args, `${dir}/seven.png`, "--model"]],
          ["eval", ["eval", ...args, "--limit", "10", "--model"]],
          ["export", ["export", ...args, "--onnx", `${dir}/m.onnx`, "--model"]],
          ["models --default", ["models", ...args, "--default"]],
          ["show --filters", ["show", ...args, "--filters"]],
          ["train --resume", ["train", ...args, "--limit", "300", "--epochs", "2", "--resume"]],
          ["summary", ["summary", "--model"]],
        ];
        for (const [name, command] of commands) {
          assertRefused(
            await runCli([...command, `${model}/`]),
            /^error: Cannot load model ".+\/": ".+mlp\.safetensors" is a file, not a directory$/,
            `${name} MODEL/`,
          );
        }
        for (const [name, command] of commands.slice(0, 3)) {
          assertRefused(
            await runCli([...command, long]),
            /^error: Cannot load model "\/.+": file name too long$/,
            `${name} with a 300-character name`,
          );
        }
      });

      await t.step("a model whose classes are not the dataset's 10", async () => {
        for (const classes of [5, 12]) {
          const file = `${dir}/classes${classes}.safetensors`;
          await Deno.writeFile(file, withClasses(checkpoint, classes));
          const refusal = new RegExp(`"${file}": it has ${classes} classes, not mnist's 10$`);
          for (
            const command of [
              ["eval", ...args, "--limit", "10", "--model", file],
              ["predict", ...args, "--model", file, `${dir}/seven.png`],
              ["train", ...args, "--limit", "300", "--epochs", "2", "--resume", file],
            ]
          ) {
            assertRefused(await runCli(command), refusal, `${command[0]}, ${classes} classes`);
          }
          // export writes it, naming no classes: its outputs are not the dataset's.
          const onnx = `${dir}/classes${classes}.onnx`;
          const run = await runCli(["export", "--model", file, "--onnx", onnx]);
          assert.equal(run.code, 0, run.stderr);
          assert.match(run.stderr, new RegExp(`its ${classes} outputs are not mnist's 10 classes`));
          const decoded = onnxModelType().decode(await Deno.readFile(onnx)) as unknown as {
            metadata_props: { key: string; value: string }[];
          };
          const props = Object.fromEntries(decoded.metadata_props.map((p) => [p.key, p.value]));
          assert.equal(props.classes, undefined);
          assert.match(props.output!, new RegExp(`\\[N, ${classes}\\], class probabilities$`));
        }
      });

      await t.step("an output that is the file the command reads", async () => {
        // Named as no format is (.st), so that only being the input makes it wrong.
        const copy = `${dir}/copy.st`;
        await Deno.copyFile(model, copy);
        await Deno.symlink(copy, `${dir}/link.onnx`);
        const before = await Deno.readFile(copy);
        const cases: [string[], RegExp][] = [
          [["export", "--model", copy, "--onnx", copy], /ONNX model ".+": it is the model this/],
          [
            ["export", "--model", copy, "--onnx", `${dir}/link.onnx`],
            /ONNX model ".+link\.onnx": it is the model ".+copy\.st" this/,
          ],
          [["summary", "--model", copy, "--svg", copy], /drawing ".+": it is the model this/],
          [["show", "--filters", copy, "--png", copy], /image ".+": it is the model this/],
          [
            ["eval", ...args, "--limit", "10", "--errors", "3", "--model", copy, "--png", copy],
            /image ".+": it is the model this/,
          ],
        ];
        for (const [command, pattern] of cases) {
          assertRefused(await runCli(command), pattern, command.join(" "));
        }
        assert.deepEqual(await Deno.readFile(copy), before, "the model is left as it was");
        // predict --save-input DIR writes DIR/x.mnist.png: not over an image it reads.
        await Deno.mkdir(`${dir}/seen`);
        await Deno.writeFile(`${dir}/seen/x.png`, digit);
        const photo = (await Deno.readFile(`${dir}/seven.png`)).slice();
        await Deno.writeFile(`${dir}/seen/x.mnist.png`, photo);
        assertRefused(
          await runCli([
            "predict",
            "--model",
            model,
            "--save-input",
            `${dir}/seen`,
            `${dir}/seen/x.png`,
            `${dir}/seen/x.mnist.png`,
          ]),
          /input image ".+\/seen\/x\.mnist\.png": it is the image this command reads$/,
          "predict --save-input",
        );
        assert.deepEqual(await Deno.readFile(`${dir}/seen/x.mnist.png`), photo);
        // plot: a chart written over its log (through a link, as the extension must be .svg; the
        // log's name has none, as a link to a .log is refused for the format alone).
        await Deno.writeTextFile(`${dir}/train-log`, train.stderr);
        await Deno.symlink(`${dir}/train-log`, `${dir}/curves.svg`);
        assertRefused(
          await runCli(["plot", `${dir}/train-log`, "--out", `${dir}/curves.svg`]),
          /chart ".+curves\.svg": it is the log ".+train-log" this command reads$/,
          "plot",
        );
        assert.equal(await Deno.readTextFile(`${dir}/train-log`), train.stderr);
      });

      await t.step("a network too wide for the adapter's buffers", async () => {
        // fc1 of 43,000 units: 135 MB of parameters in one binding, over llvmpipe's 128 MiB.
        const wide = mlp();
        (wide.layers[0] as DenseSpec).units = 43000;
        const block = 43000 * 785 * 4;
        if (block <= gpu!.device.limits.maxStorageBufferBindingSize) {
          console.log(`skipped: this adapter binds ${block} bytes`);
          return;
        }
        const params = new Map(
          inferShapes(wide).flatMap((l) =>
            l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))])
          ),
        );
        const file = `${dir}/wide.safetensors`;
        await Deno.writeFile(
          file,
          encodeCheckpoint({
            meta: { model: wide, epoch: 0, dataset: "mnist" },
            params,
            momentum: new Map(),
          }),
        );
        for (
          const command of [
            ["predict", "--model", file, `${dir}/seven.png`],
            ["eval", ...args, "--limit", "10", "--model", file],
          ]
        ) {
          assertRefused(
            await runCli(command),
            /^error: Model "mlp" is too large for ".+": fc1's parameters take 128\.8 MiB, over /,
            command[0]!,
          );
        }
        await Deno.remove(file);
      });

      await t.step("a file PyTorch's torch.save wrote", async () => {
        // torch.save's zip archive, as far as its magic: "PK\x03\x04".
        const pt = `${dir}/model.pt`;
        await Deno.writeFile(pt, Uint8Array.from([0x50, 0x4b, 3, 4, ...new Array(60).fill(0)]));
        const run = await runCli(["eval", ...args, "--model", pt]);
        assertRefused(
          run,
          /"[^"]+model\.pt": not a safetensors file \(a zip archive: PyTorch's torch\.save\?\)$/,
          "pt",
        );
        assert.match(run.stderr, /hint: Write the state_dict as safetensors instead/);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
