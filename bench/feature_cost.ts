/**
 * Issue 17: what each training feature costs, in samples/sec. Runs the real CLI (`main.ts
 * train`, one epoch) with one feature on at a time against the plain run, the configurations
 * interleaved round by round so that a busy machine slows them alike, and prints the median
 * training speed (the samples trained over the epoch's `Time cost`, which is training only), the
 * median over rounds of its ratio to the plain run of the same round, and the median CPU time
 * (user + system, from /usr/bin/time) of the whole command (start-up, validation, saving and
 * `--plot` included): on a machine others are using, CPU time moves far less than wall time.
 *
 *     deno run -A bench/feature_cost.ts [--model mlp|lenet] [--limit 20000] [--rounds 5]
 *         [--device cpu]
 *
 * Needs MNIST in $MNIST_DATA_DIR. Models are saved in a temporary directory, removed at the end.
 */
import { parseArgs } from "node:util";

const { values: opts } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string", default: "mlp" },
    limit: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
    device: { type: "string", default: "cpu" },
  },
});
const limit = Number(opts.limit);
const rounds = Number(opts.rounds);
const holdout = Math.round(limit / 4);

/** Each configuration: its name, the options it adds, and the samples an epoch trains on. */
const CONFIGS: { name: string; args: string[]; trained: number; limit?: number }[] = [
  { name: "plain (sgd)", args: [], trained: limit },
  // The same with half the training samples (and the same 10,000 validation samples when
  // --limit is 20,000 or more): the CPU time between the two is what training costs a sample.
  { name: `plain, --limit ${limit / 2}`, args: [], trained: limit / 2, limit: limit / 2 },
  { name: "--augment", args: ["--augment"], trained: limit },
  { name: "--metric acc,ce", args: ["--metric", "acc,ce"], trained: limit },
  {
    name: `--validation holdout:${holdout}`,
    args: ["--validation", `holdout:${holdout}`],
    trained: limit - holdout,
  },
  { name: "--optimizer adam", args: ["--optimizer", "adam"], trained: limit },
  {
    name: "--optimizer nag --momentum 0.9",
    args: ["--optimizer", "nag", "--momentum", "0.9"],
    trained: limit,
  },
  {
    name: "--lr-schedule cosine",
    args: ["--lr-schedule", "cosine", "--final-lr", "0.01"],
    trained: limit,
  },
  { name: "--plot FILE.svg", args: ["--plot", "PLOT.svg"], trained: limit },
];

const dir = await Deno.makeTempDir({ prefix: "mnist_feature_cost_" });
const main = new URL("../main.ts", import.meta.url).pathname;
const results = new Map<string, { speed: number[]; ratio: number[]; cpu: number[] }>(
  CONFIGS.map((c) => [c.name, { speed: [], ratio: [], cpu: [] }]),
);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

try {
  for (let round = 0; round < rounds; round++) {
    for (const config of CONFIGS) {
      const args = [
        "run",
        "--allow-net",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        main,
        "train",
        "--model",
        opts.model!,
        "--epochs",
        "1",
        "--limit",
        String(config.limit ?? limit),
        "--frequent",
        "50",
        "--device",
        opts.device!,
        "--save",
        `${dir}/model.safetensors`,
        ...config.args.map((a) => a.replace("PLOT", `${dir}/plot`)),
      ];
      const tic = performance.now();
      const out = await new Deno.Command("/usr/bin/time", {
        args: ["-f", "cpu %U %S", Deno.execPath(), ...args],
        env: { MNIST_MODEL_DIR: dir },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const wall = (performance.now() - tic) / 1000;
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      if (!out.success) throw new Error(`${config.name} failed:\n${stderr}`);
      const cost = Number(/Time cost=(\d+\.\d+)/.exec(stdout)![1]);
      const [, user, system] = /^cpu (\S+) (\S+)$/m.exec(stderr)!;
      const cpu = Number(user) + Number(system);
      const r = results.get(config.name)!;
      const speed = config.trained / cost;
      r.speed.push(speed);
      r.ratio.push(speed / results.get(CONFIGS[0]!.name)!.speed[round]!);
      r.cpu.push(cpu);
      console.error(
        `round ${round + 1} ${config.name}: ${speed.toFixed(0)} samples/s, ` +
          `epoch ${cost.toFixed(3)} s, wall ${wall.toFixed(2)} s, CPU ${cpu.toFixed(2)} s`,
      );
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}

const baseCpu = median(results.get(CONFIGS[0]!.name)!.cpu);
// CPU seconds a training sample costs, and the rest of the plain command (start-up, loading,
// validation, saving).
const perSample = (baseCpu - median(results.get(CONFIGS[1]!.name)!.cpu)) / (limit / 2);
const fixed = baseCpu - perSample * limit;
console.log(
  `plain training: ${(perSample * 1e6).toFixed(1)} CPU µs a sample ` +
    `(${(1 / perSample).toFixed(0)} samples per CPU second); the rest of the command ` +
    `${fixed.toFixed(2)} CPU s`,
);
console.log(
  `${opts.model}, --limit ${limit}, 1 epoch, batch 100, --device ${opts.device}, ` +
    `medians of ${rounds} interleaved rounds`,
);
console.log(
  "| feature | samples/s, median (range) | speed / plain's, median of rounds | " +
    "CPU s of the command, median | vs plain | samples per CPU s of training |",
);
console.log("|---|---|---|---|---|---|");
for (const config of CONFIGS) {
  const r = results.get(config.name)!;
  const speed = median(r.speed);
  const cpu = median(r.cpu);
  const pct = (x: number) => `${x >= 1 ? "+" : ""}${((x - 1) * 100).toFixed(1)}%`;
  console.log(
    `| ${config.name} | ${speed.toFixed(0)} (${Math.min(...r.speed).toFixed(0)}-` +
      `${Math.max(...r.speed).toFixed(0)}) | ${pct(median(r.ratio))} | ${cpu.toFixed(2)} | ` +
      `${(cpu - baseCpu >= 0 ? "+" : "") + (cpu - baseCpu).toFixed(2)} s | ` +
      `${(config.trained / (cpu - fixed)).toFixed(0)} |`,
  );
}
