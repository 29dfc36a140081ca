/**
 * The invariant of issue 15 (one kernel table per op): restructuring the engine changes nothing
 * numerical. Two short trainings on Mesa's llvmpipe must write, to the bit, the weights and log
 * they wrote at commit 991319c, before the restructure. The hashes are per parameter tensor
 * (SHA-256 of its little-endian f32 bytes, 16 hex digits, in name order, optimizer state left
 * out) and then of those lines together, as /tmp/b15/hash.py computed them. Other adapters round
 * differently (FMA, reduction order), so there the test is skipped.
 */
import assert from "node:assert/strict";
import { runCli } from "./cli_helpers.ts";
import { gpu } from "./gpu_helpers.ts";
import { MNIST } from "./test_data.ts";

const FILES = [
  "train-images-idx3-ubyte.gz",
  "train-labels-idx1-ubyte.gz",
  "t10k-images-idx3-ubyte.gz",
  "t10k-labels-idx1-ubyte.gz",
];

/** The adapter the hashes were recorded on (its name starts so on every llvmpipe build). */
const RECORDED_ON = "llvmpipe";

async function sha16(bytes: Uint8Array | string): Promise<string> {
  const data = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data as BufferSource));
  return Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The hash of a safetensors file's parameters, as /tmp/b15/hash.py prints it on "ALL". */
async function paramsHash(path: string): Promise<string> {
  const file = await Deno.readFile(path);
  const n = Number(new DataView(file.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const data = file.subarray(8 + n);
  const names = Object.keys(header)
    .filter((k) => k !== "__metadata__" && !k.startsWith("optimizer"))
    .sort();
  const lines: string[] = [];
  for (const k of names) {
    const { dtype, shape, data_offsets: [s, e] } = header[k]!;
    lines.push(`${k} ${dtype} [${shape.join(", ")}] ${await sha16(data.subarray(s, e))}`);
  }
  return await sha16(lines.join("\n"));
}

/** The log's lines with speeds and times replaced by X and the checkpoint path by PATH. */
function normalised(stdout: string, save: string): string[] {
  return stdout.trimEnd().split("\n").map((line) =>
    line.replace(/Speed: [\d.]+ samples\/sec/, "Speed: X")
      .replace(/Time cost=[\d.]+/, "Time cost=X")
      .replace(save, "PATH")
  );
}

const MLP_LOG = [
  "INFO:root:Start training with [cpu(0)]",
  "INFO:root:Epoch[0] Batch [20]\tSpeed: X\tTrain-accuracy=0.476500",
  "INFO:root:Epoch[0] Batch [40]\tSpeed: X\tTrain-accuracy=0.760500",
  "INFO:root:Epoch[0] Batch [60]\tSpeed: X\tTrain-accuracy=0.827000",
  "INFO:root:Epoch[0] Resetting Data Iterator",
  "INFO:root:Epoch[0] Time cost=X",
  'INFO:root:Saved checkpoint to "PATH"',
  "INFO:root:Epoch[0] Validation-accuracy=0.802667",
  "INFO:root:Epoch[1] Batch [20]\tSpeed: X\tTrain-accuracy=0.846000",
  "INFO:root:Epoch[1] Batch [40]\tSpeed: X\tTrain-accuracy=0.870500",
  "INFO:root:Epoch[1] Batch [60]\tSpeed: X\tTrain-accuracy=0.887500",
  "INFO:root:Epoch[1] Resetting Data Iterator",
  "INFO:root:Epoch[1] Time cost=X",
  'INFO:root:Saved checkpoint to "PATH"',
  "INFO:root:Epoch[1] Validation-accuracy=0.780500",
];

const LENET_LOG = [
  "INFO:root:Start training with [cpu(0)]",
  ...[0.105, 0.23, 0.48, 0.48, 0.645].map((a, i) =>
    `INFO:root:Epoch[0] Batch [${2 * i + 2}]\tSpeed: X\tTrain-accuracy=${a.toFixed(6)}`
  ),
  "INFO:root:Epoch[0] Resetting Data Iterator",
  "INFO:root:Epoch[0] Time cost=X",
  'INFO:root:Saved checkpoint to "PATH"',
  "INFO:root:Epoch[0] Validation-accuracy=0.568000",
];

/** Trains with `args` on a temporary data directory; returns the log and the weights' hash. */
async function train(args: string[]): Promise<{ log: string[]; hash: string }> {
  const dir = await Deno.makeTempDir({ prefix: "mnist_training_hash_test_" });
  try {
    for (const f of FILES) await Deno.symlink(`${MNIST}/${f}`, `${dir}/${f}`);
    const save = `${dir}/model.safetensors`;
    const run = await runCli(["train", ...args, "--data-dir", dir, "--save", save]);
    assert.equal(run.code, 0, run.stderr);
    return { log: normalised(run.stdout, save), hash: await paramsHash(save) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const onRecordedAdapter = gpu?.name.startsWith(RECORDED_ON) ?? false;

Deno.test({
  name: "MLP training on llvmpipe writes the weights and log it wrote before the restructure",
  ignore: !onRecordedAdapter,
  fn: async () => {
    const { log, hash } = await train(
      ["--model", "mlp", "--epochs", "2", "--limit", "6000", "--frequent", "20"],
    );
    assert.deepEqual(log, MLP_LOG);
    assert.equal(hash, "c2ab7523f7f13ab3");
  },
});

Deno.test({
  name: "LeNet training on llvmpipe writes the weights and log it wrote before the restructure",
  ignore: !onRecordedAdapter,
  fn: async () => {
    const { log, hash } = await train(
      ["--model", "lenet", "--epochs", "1", "--limit", "1000", "--frequent", "2"],
    );
    assert.deepEqual(log, LENET_LOG);
    assert.equal(hash, "5b5ad136b0256e09");
  },
});
