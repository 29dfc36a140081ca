/**
 * Side by side: training-step throughput of `mnist` (WebGPU) and PyTorch on the same machine,
 * for the tutorial's MLP and LeNet at batch 100 with SGD. PyTorch runs bench/pytorch_compare.py
 * on CUDA when our adapter is a GPU and torch has CUDA, else on the CPU.
 *
 *     deno task bench:pytorch            (PYTHON=/path/to/python3 to choose the interpreter)
 */
import { lenet, mlp } from "../src/nn/model.ts";
import { gpu, runOnGpu, trainingSetup } from "./common.ts";

const B = 100;

/** Our samples/sec: whole training steps, repeated for at least `seconds`, best of 3. */
async function ours(model: ReturnType<typeof mlp>, seconds: number): Promise<number> {
  const setup = trainingSetup(model, { B });
  await runOnGpu(3, setup.step);
  // Size a chunk to about a quarter of the time, so the ~10 ms completion latency is amortised.
  let steps = 1;
  for (;;) {
    const t = performance.now();
    await runOnGpu(steps, setup.step);
    if (performance.now() - t > (seconds * 1000) / 4 || steps >= 4096) break;
    steps *= 2;
  }
  let best = 0;
  for (let trial = 0; trial < 3; trial++) {
    const t = performance.now();
    await runOnGpu(steps, setup.step);
    best = Math.max(best, (steps * B) / ((performance.now() - t) / 1000));
  }
  setup.network.destroy();
  setup.store.destroy();
  setup.feeder.destroy();
  return best;
}

async function pythonWithTorch(): Promise<string | undefined> {
  const candidates = [Deno.env.get("PYTHON"), "python3", "/usr/bin/python3"].filter(Boolean);
  for (const python of candidates as string[]) {
    try {
      const { success } = await new Deno.Command(python, {
        args: ["-c", "import torch"],
        stdout: "null",
        stderr: "null",
      }).output();
      if (success) return python;
    } catch {
      // not installed
    }
  }
  return undefined;
}

async function pytorch(python: string, device: string): Promise<Map<string, number>> {
  const script = new URL("./pytorch_compare.py", import.meta.url).pathname;
  const data = Deno.env.get("MNIST_DATA_DIR") ??
    new URL("../../shared/mnist", import.meta.url).pathname;
  const out = await new Deno.Command(python, {
    args: [
      script,
      "--device",
      device,
      "--data",
      data,
      "--steps",
      device === "cuda" ? "600" : "200",
    ],
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const rates = new Map<string, number>();
  for (const m of text.matchAll(/^pytorch (\w+): ([\d,]+) samples\/sec/gm)) {
    rates.set(m[1]!, Number(m[2]!.replaceAll(",", "")));
  }
  return rates;
}

const models = [mlp(), lenet()];
const mine = new Map<string, number>();
for (const model of models) mine.set(model.name, await ours(model, gpu.isCpu ? 4 : 2));

const python = await pythonWithTorch();
let theirs = new Map<string, number>();
let where = "not run: no python3 with torch (Debian: apt-get install python3-torch)";
if (python) {
  const { success, stdout } = await new Deno.Command(python, {
    args: ["-c", "import torch; print(torch.cuda.is_available())"],
    stderr: "null",
  }).output();
  const cuda = success && new TextDecoder().decode(stdout).trim() === "True" && !gpu.isCpu;
  where = cuda ? "CUDA" : "CPU";
  theirs = await pytorch(python, cuda ? "cuda" : "cpu");
}

const fmt = (
  n: number | undefined,
) => (n === undefined ? "-" : Math.round(n).toLocaleString("en-US"));
console.log(`\nTraining throughput at batch ${B} (samples/sec), SGD:`);
console.log(`  mnist: WebGPU on ${gpu.name}${gpu.isCpu ? " (CPU)" : ""};  PyTorch: ${where}`);
console.log(
  `${"model".padEnd(8)}${"mnist".padStart(12)}${"PyTorch".padStart(12)}${"ratio".padStart(8)}`,
);
for (const model of models) {
  const a = mine.get(model.name);
  const b = theirs.get(model.name);
  const ratio = a !== undefined && b ? `${(a / b).toFixed(2)}×` : "-";
  console.log(
    `${model.name.padEnd(8)}${fmt(a).padStart(12)}${fmt(b).padStart(12)}${ratio.padStart(8)}`,
  );
}
