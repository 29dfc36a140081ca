/**
 * Side by side: training-step throughput of `mnist` (WebGPU) and PyTorch on the same machine,
 * for the tutorial's MLP and LeNet at batch 100 with SGD. PyTorch runs bench/pytorch_compare.py
 * on CUDA when our adapter is a GPU and torch has CUDA, else on the CPU.
 *
 *     deno task bench:pytorch [--rounds N] [--seconds S] [--torch-threads N,...]
 *                                                    (PYTHON=/path/to/python3 to choose it)
 *
 * The two sides take turns, each trial at least S seconds (default 3) of whole training steps:
 * ours, PyTorch's, ours, PyTorch's... for N rounds (default 5) per model, so that a machine whose
 * speed wanders (other work, clocks) slows both alike. Reported: each side's median and spread
 * (min-max) and the ratio of the medians. PyTorch keeps one process (its warm state) for all
 * its trials.
 *
 * On the CPU, PyTorch runs at each of --torch-threads' thread counts (torch's and OpenBLAS's;
 * default 1 and one per CPU), each in its turn of every round, and the ratio is to the faster
 * median: which count is faster depends on the machine and what else runs (with two busy cores,
 * two OpenMP threads trained the MLP at 1,700 samples/sec where one thread did 39,000-55,000;
 * on a quieter machine one thread did 128,682 where two did 22,079). The load average is printed
 * first, and a loaded machine is warned about.
 *
 * Installs nothing. Refuses, in one line, to compare with a CPU PyTorch that would run on the
 * reference BLAS (Debian's python3-torch does, unless an optimised libblas.so.3 such as
 * libopenblas0-pthread is installed): its figures would flatter ours several times over.
 */
import { parseArgs } from "node:util";
import { lenet, mlp } from "../src/nn/model.ts";
import { gpu, runOnGpu, trainingSetup } from "./common.ts";

const B = 100;
let parsed;
try {
  parsed = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "5" },
      seconds: { type: "string", default: "3" },
      "torch-threads": { type: "string" },
    },
  });
} catch (error) {
  refuse(`bench:pytorch: ${String(error instanceof Error ? error.message : error).split("\n")[0]}`);
}
const opts = parsed.values;
if (!/^[1-9]\d*$/.test(opts.rounds)) {
  refuse(`bench:pytorch: --rounds must be a whole number >= 1, got "${opts.rounds}"`);
}
if (!(Number(opts.seconds) > 0)) {
  refuse(`bench:pytorch: --seconds must be a number > 0, got "${opts.seconds}"`);
}
const rounds = Number(opts.rounds);
/** PyTorch's CPU thread counts to try, in turn. */
const torchThreads = [
  ...new Set(
    (opts["torch-threads"] ?? `1,${navigator.hardwareConcurrency}`).split(",").map(Number),
  ),
].filter((n) => Number.isInteger(n) && n > 0);
if (torchThreads.length === 0) {
  refuse(
    `bench:pytorch: --torch-threads takes thread counts such as 1,2, got "${
      opts["torch-threads"]
    }"`,
  );
}
const seconds = Math.max(0.1, Number(opts.seconds));

/** Our side of one model: a warm network, timed in trials of at least `seconds`. */
async function ourTrainer(model: ReturnType<typeof mlp>) {
  const setup = trainingSetup(model, { B });
  await runOnGpu(3, setup.step);
  // Chunks of half a second to a second of steps (a third of a trial at most), each waited for:
  // `mnist train` waits for the GPU about once a second too, when it reads its log lines back
  // (READ_EVERY_MS in src/train/trainer.ts), and each wait costs about 12 ms on llvmpipe (Deno's
  // completion poll; one LeNet step waited for alone: 47 ms of wall time, 36 ms on the GPU's
  // clock). Chunks of a tenth of a trial (LeNet: 8 steps) waited several times as often.
  const chunkMs = Math.min(1000, (seconds * 1000) / 3);
  let steps = 1;
  for (;;) {
    const t = performance.now();
    await runOnGpu(steps, setup.step);
    if (performance.now() - t > chunkMs / 2 || steps >= 4096) break;
    steps *= 2;
  }
  return {
    async trial(): Promise<number> {
      let done = 0;
      const t = performance.now();
      while (performance.now() - t < seconds * 1000) {
        await runOnGpu(steps, setup.step);
        done += steps;
      }
      return (done * B) / ((performance.now() - t) / 1000);
    },
    destroy() {
      setup.network.destroy();
      setup.store.destroy();
      setup.feeder.destroy();
    },
  };
}

/** Prints `message` as one `error:` line and exits with status 1. */
function refuse(message: string): never {
  console.error(`error: ${message}`);
  Deno.exit(1);
}

/**
 * The python to run PyTorch with: $PYTHON when set (refused in one line when it cannot import
 * torch: the user chose it, another would compare something else), else the first of python3
 * and /usr/bin/python3 that can; undefined when none can.
 */
async function pythonWithTorch(): Promise<string | undefined> {
  const chosen = Deno.env.get("PYTHON");
  const candidates = chosen ? [chosen] : ["python3", "/usr/bin/python3"];
  for (const python of candidates) {
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
  if (chosen) refuse(`not comparing: PYTHON=${chosen} cannot run "import torch"`);
  return undefined;
}

/** What bench/pytorch_compare.py reports of the BLAS it loaded. */
interface Blas {
  kind: string;
  libraries: string[];
  threads: number | null;
}

/** PyTorch's side: pytorch_compare.py --serve, one trial per request. */
async function startPytorch(python: string, device: string) {
  const script = new URL("./pytorch_compare.py", import.meta.url).pathname;
  const data = Deno.env.get("MNIST_DATA_DIR") ??
    new URL("../../shared/mnist", import.meta.url).pathname;
  const child = new Deno.Command(python, {
    args: [
      script,
      "--serve",
      "--device",
      device,
      "--data",
      data,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (): Promise<string> => {
    for (;;) {
      const end = buffered.indexOf("\n");
      if (end >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        return line;
      }
      const { value, done } = await lines.read();
      if (done) throw new Error("pytorch_compare.py stopped");
      buffered += value;
    }
  };
  const writer = child.stdin.getWriter();
  const info = JSON.parse((await nextLine()).replace(/^info /, "")) as {
    torch: string;
    device: string;
    threads: number;
    /** torch.get_num_threads() before the script set it. */
    default_threads: number;
    blas: Blas;
  };
  return {
    info,
    /** A trial of `model`, on the CPU on `threads` threads. */
    async trial(model: string, threads: number): Promise<number> {
      await writer.write(new TextEncoder().encode(`${model} ${seconds} ${threads}\n`));
      const m = /^result (\w+) ([\d.]+)/.exec(await nextLine());
      if (!m || m[1] !== model) throw new Error(`unexpected answer from pytorch_compare.py`);
      return Number(m[2]);
    },
    async close() {
      await writer.close();
      await child.status;
    },
  };
}

const python = await pythonWithTorch();
let cuda = false;
if (python) {
  const { success, stdout } = await new Deno.Command(python, {
    args: ["-c", "import torch; print(torch.cuda.is_available())"],
    stderr: "null",
  }).output();
  cuda = success && new TextDecoder().decode(stdout).trim() === "True" && !gpu.isCpu;
  if (!cuda) {
    const script = new URL("./pytorch_compare.py", import.meta.url).pathname;
    const out = await new Deno.Command(python, { args: [script, "--blas"], stderr: "inherit" })
      .output();
    let blas: Blas | undefined;
    try {
      blas = JSON.parse(new TextDecoder().decode(out.stdout)) as Blas;
    } catch {
      // not JSON: reported below
    }
    if (!out.success || typeof blas?.kind !== "string" || !Array.isArray(blas.libraries)) {
      refuse(`not comparing: ${python} ${script} --blas did not say which BLAS torch loads`);
    }
    if (blas.kind === "reference") {
      refuse(
        `not comparing: PyTorch (${python}) would run on the reference BLAS ` +
          `(${blas.libraries.join(", ")}), which flatters mnist several times over; install an ` +
          `optimised one (Debian: apt-get install libopenblas0-pthread) and run again`,
      );
    }
  }
}

const cpus = navigator.hardwareConcurrency;
const [load] = Deno.loadavg();
console.log(
  `load average ${load!.toFixed(2)} on ${cpus} CPUs` +
    (load! > cpus / 2
      ? ": other work is running; its threads compete with both sides' (PyTorch's OpenMP threads " +
        "suffer most), so these figures compare poorly with a quiet machine's"
      : ""),
);
const llvmpipeThreads = Deno.env.get("LP_NUM_THREADS");
console.log(
  `mnist: WebGPU on ${gpu.name}${
    gpu.isCpu
      ? ` (CPU adapter; llvmpipe threads: ${
        llvmpipeThreads
          ? `LP_NUM_THREADS=${llvmpipeThreads}`
          : `${navigator.hardwareConcurrency}, one per CPU (Mesa's default)`
      })`
      : ""
  }`,
);
const pytorch = python ? await startPytorch(python, cuda ? "cuda" : "cpu") : undefined;
if (pytorch) {
  const { info } = pytorch;
  console.log(
    `PyTorch ${info.torch} (${python}) on ${cuda ? `CUDA, ${info.device}` : "the CPU"}` +
      (cuda
        ? ""
        : `: ${torchThreads.join(" and ")} threads in turn (torch's and OpenBLAS's; torch's ` +
          `default here: ${info.default_threads}); BLAS ${info.blas.kind} ` +
          `(${info.blas.libraries.join(", ")})`),
  );
} else {
  console.log("PyTorch: not run: no python3 with torch (Debian: apt-get install python3-torch)");
}
console.log(
  `Batch ${B}, SGD; ${rounds} rounds of ${seconds} s trials, ours and PyTorch's in turn\n`,
);

const models = [mlp(), lenet()];
/** PyTorch's runs: one series per thread count on the CPU, one on CUDA. */
const series = cuda ? [0] : torchThreads;
const label = (threads: number) => (cuda ? "PyTorch" : `PyTorch ${threads}T`);
const results = new Map<string, { ours: number[]; theirs: Map<number, number[]> }>();
for (const model of models) {
  const ours = await ourTrainer(model);
  const row = { ours: [] as number[], theirs: new Map(series.map((t) => [t, [] as number[]])) };
  results.set(model.name, row);
  for (let round = 0; round < rounds; round++) {
    row.ours.push(await ours.trial());
    const line = [`mnist ${Math.round(row.ours.at(-1)!)}`];
    for (const threads of pytorch ? series : []) {
      const rate = await pytorch!.trial(model.name, threads);
      row.theirs.get(threads)!.push(rate);
      line.push(`${label(threads)} ${Math.round(rate)}`);
    }
    console.error(`  ${model.name} round ${round + 1}: ${line.join(", ")} samples/sec`);
  }
  ours.destroy();
}
await pytorch?.close();

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const cell = (xs: number[]) =>
  xs.length === 0 ? "-" : `${fmt(median(xs))} (${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))})`;
const columns = pytorch ? series : [];
console.log(
  `${"model".padEnd(7)}${"mnist: median (min-max)".padStart(28)}` +
    columns.map((t) => `${label(t)}: median (min-max)`.padStart(33)).join("") +
    `${"ratio".padStart(8)}`,
);
for (const model of models) {
  const { ours, theirs } = results.get(model.name)!;
  const best = Math.max(...columns.map((t) => median(theirs.get(t)!)));
  const ratio = columns.length ? `${(median(ours) / best).toFixed(2)}×` : "-";
  console.log(
    `${model.name.padEnd(7)}${cell(ours).padStart(28)}` +
      columns.map((t) => cell(theirs.get(t)!).padStart(33)).join("") + `${ratio.padStart(8)}`,
  );
}
console.log(
  "samples/sec of whole training steps; ratio: mnist's median / PyTorch's " +
    (columns.length > 1 ? "faster median" : "median"),
);
