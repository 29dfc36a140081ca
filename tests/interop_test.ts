/**
 * PyTorch → mnist → PyTorch, end to end (issue 18): the MLP and LeNet trained for one epoch by
 * PyTorch (tests/fixtures/torch_interop.py; LeNet on the first 10,000 training digits) and
 * written as plain safetensors files in F32, F64, F16 and BF16 score in `mnist eval` what they
 * score in PyTorch; `predict --json` and `summary` say what they recognised; `train --resume`
 * trains such a file afresh without overwriting it; and both Python examples of
 * docs/checkpoint.md run. Needs a python3 with torch (Debian's python3-torch; `PYTHON=...` to
 * choose), skipped with the reason when there is none, except under CI (MNIST_REQUIRE_INTEROP=1).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type CliResult, PROJECT_ROOT, runCli } from "./cli_helpers.ts";
import { gpu } from "./gpu_helpers.ts";
import { MNIST } from "./test_data.ts";
import { loadCheckpoint } from "../src/nn/checkpoint.ts";
import { loadSplit } from "../src/data/dataset.ts";
import { encodePng } from "../src/image/png.ts";

const FILES = [
  "train-images-idx3-ubyte.gz",
  "train-labels-idx1-ubyte.gz",
  "t10k-images-idx3-ubyte.gz",
  "t10k-labels-idx1-ubyte.gz",
];
const DTYPES = ["F32", "F64", "F16", "BF16"] as const;
/** LeNet trains on this many digits in PyTorch: one epoch of all 60,000 takes a minute here. */
const LENET_SAMPLES = 10000;

/** The first python that imports torch, or why there is none. */
async function findPython(): Promise<{ python: string } | { skip: string }> {
  const candidates = [Deno.env.get("PYTHON"), "python3", "/usr/bin/python3"];
  for (const python of candidates.filter((p): p is string => !!p)) {
    try {
      const { success } = await new Deno.Command(python, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) return { python };
    } catch {
      // Not installed: try the next.
    }
  }
  return {
    skip: `no python3 with torch among ${candidates.filter(Boolean).join(", ")} ` +
      "(Debian: apt-get install python3-torch; .ci/run installs it)",
  };
}

const PY = await findPython();
if ("skip" in PY) {
  // CI installs torch: there a missing one is a failure, not a skip.
  if (Deno.env.get("MNIST_REQUIRE_INTEROP") === "1") throw new Error(PY.skip);
  console.warn(`PyTorch interop test skipped: ${PY.skip}`);
}

const TRAINER = fileURLToPath(new URL("./fixtures/torch_interop.py", import.meta.url));

/** Runs the python that has torch; returns stdout, failing the test with stderr otherwise. */
async function python(args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command((PY as { python: string }).python, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" },
  }).output();
  const decoder = new TextDecoder();
  assert.ok(success, `python3 ${args.join(" ")} failed:\n${decoder.decode(stderr)}`);
  return decoder.decode(stdout);
}

/** The python block after `<!-- example: NAME -->` in docs/checkpoint.md. */
async function docExample(name: string): Promise<string> {
  const doc = await Deno.readTextFile(`${PROJECT_ROOT}/docs/checkpoint.md`);
  const match = new RegExp(`<!-- example: ${name} -->\\s*\`\`\`python\\n([^]*?)\`\`\``).exec(doc);
  assert.ok(match, `docs/checkpoint.md has no example ${name}`);
  return match[1]!;
}

function assertOk(run: CliResult, what: string): void {
  assert.equal(run.code, 0, `${what} exited ${run.code}:\n${run.stderr}`);
}

/** `mnist eval --json`'s count of correct digits and what it says the model is. */
async function evaluate(args: string[]): Promise<{ correct: number; architecture: unknown }> {
  const run = await runCli(["eval", "--json", ...args]);
  assertOk(run, `mnist eval ${args.join(" ")}`);
  const { correct, architecture } = JSON.parse(run.stdout);
  return { correct, architecture };
}

interface TorchReport {
  samples: number;
  seconds: number;
  [dtype: string]: number | { file: string; correct?: number; correct2000: number };
}

Deno.test({
  name:
    "models PyTorch trained score in mnist eval what they score in PyTorch: F32, F64, F16, BF16",
  ignore: gpu === null || "skip" in PY,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mnist_interop_test_" });
    try {
      for (const f of FILES) await Deno.symlink(`${MNIST}/${f}`, `${dir}/${f}`);
      const data = ["--data-dir", dir];
      const report: Record<string, TorchReport> = JSON.parse(
        await python([TRAINER, MNIST, dir, String(LENET_SAMPLES)]),
      );
      const lines: string[] = [];
      for (const name of ["mlp", "lenet"] as const) {
        const torch = report[name]!;
        lines.push(`${name}: PyTorch trained on ${torch.samples} digits in ${torch.seconds} s`);
        for (const dtype of DTYPES) {
          const entry = torch[dtype] as { file: string; correct?: number; correct2000: number };
          // LeNet in full once (F32); its other dtypes on 2,000 digits, to keep the test short.
          const full = entry.correct !== undefined && !(name === "lenet" && dtype === "F64");
          const ours = await evaluate([
            "--model",
            entry.file,
            ...(full ? [] : ["--limit", "2000"]),
            ...data,
          ]);
          const theirs = full ? entry.correct! : entry.correct2000;
          lines.push(
            `  ${dtype.padEnd(4)} PyTorch ${theirs}, mnist eval ${ours.correct} ` +
              `of ${full ? 10000 : 2000}`,
          );
          assert.deepEqual(ours.architecture, { name, from: "names", naming: "pytorch" });
          assert.ok(
            Math.abs(ours.correct - theirs) <= 2,
            `${name} ${dtype}: mnist eval ${ours.correct}, PyTorch ${theirs}`,
          );
        }
      }
      console.log(lines.join("\n"));

      // predict --json and summary name the network and how it was recognised.
      const test = await loadSplit(dir, { dataset: "mnist", split: "test" });
      await Deno.writeFile(
        `${dir}/digit.png`,
        await encodePng({ width: 28, height: 28, channels: 1, pixels: test.images.slice(0, 784) }),
      );
      const lenetF16 = (report.lenet!.F16 as { file: string }).file;
      const predicted = await runCli([
        "predict",
        "--model",
        lenetF16,
        "--json",
        `${dir}/digit.png`,
      ]);
      assertOk(predicted, "predict");
      const [result] = JSON.parse(predicted.stdout);
      assert.equal(result.model, lenetF16);
      assert.deepEqual(result.architecture, { name: "lenet", from: "names", naming: "pytorch" });
      assert.equal(result.class, test.labels[0]);
      const summary = await runCli(["summary", "--model", lenetF16]);
      assertOk(summary, "summary");
      assert.equal(
        summary.stdout.split("\n")[0],
        `Model "${lenetF16}": lenet (tensor names, PyTorch's)`,
      );
      assert.match(summary.stdout, /Total params: 431,080/);

      // train --resume trains the file afresh (epoch 0, its own settings, no momentum) and saves
      // where a fresh run would, leaving PyTorch's file as it was.
      const mlpFile = (report.mlp!.F32 as { file: string }).file;
      const before = await Deno.readFile(mlpFile);
      const resumed = await runCli([
        "train",
        "--resume",
        mlpFile,
        "--epochs",
        "1",
        "--limit",
        "1000",
        "--frequent",
        "5",
        ...data,
      ]);
      assertOk(resumed, "train --resume");
      assert.match(resumed.stdout, /^INFO:root:Epoch\[0\] Batch \[5\]/m);
      const saved = /^INFO:root:Saved checkpoint to "(.+)"$/m.exec(resumed.stdout)?.[1];
      assert.ok(saved && saved !== mlpFile, `saved elsewhere:\n${resumed.stdout}`);
      assert.deepEqual(await Deno.readFile(mlpFile), before, "PyTorch's file is untouched");
      const checkpoint = await loadCheckpoint(saved);
      assert.equal(checkpoint.meta.epoch, 0);
      assert.deepEqual(checkpoint.origin, { architecture: "mlp", from: "metadata" });
      assert.equal(checkpoint.momentum.size, 0, "momentum 0: none stored");
      assert.equal((checkpoint.meta.training as { lr: number }).lr, 0.1);
      // Its first weights were the file's: it records no --init.
      assert.equal(checkpoint.meta.training?.init, undefined);
      // It started from PyTorch's weights: a fresh run on 1,000 digits scores about 60%.
      const accuracy = checkpoint.meta.accuracy!;
      assert.ok(accuracy > 0.85, `validation accuracy ${accuracy} after resuming`);

      // docs/checkpoint.md's examples: PyTorch → mnist, and mnist → PyTorch.
      await Deno.writeTextFile(`${dir}/save_for_mnist.py`, await docExample("save_for_mnist.py"));
      await python([`${dir}/save_for_mnist.py`, `${dir}/from_doc.safetensors`]);
      const fromDoc = await runCli(["summary", "--model", `${dir}/from_doc.safetensors`]);
      assertOk(fromDoc, "summary of the doc example's file");
      assert.match(fromDoc.stdout, /: lenet \(tensor names, PyTorch's\)\n/);
      await Deno.writeTextFile(
        `${dir}/load_into_pytorch.py`,
        await docExample("load_into_pytorch.py"),
      );
      const loaded = await python([`${dir}/load_into_pytorch.py`, saved, dir]);
      const torchCorrect = Number(/\((\d+)\/10000\)/.exec(loaded)?.[1]);
      const { correct } = await evaluate(["--model", saved, ...data]);
      console.log(`mnist's checkpoint in PyTorch: ${torchCorrect}, mnist eval: ${correct}`);
      assert.ok(Math.abs(torchCorrect - correct) <= 2, `${loaded} vs mnist eval ${correct}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
