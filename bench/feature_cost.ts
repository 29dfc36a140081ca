/**
 * Issue 17: what each training feature costs, in samples/sec. Runs the real CLI (`main.ts
 * train`, one epoch) with one feature on at a time against the plain run, the configurations
 * interleaved round by round so that a busy machine slows them alike, and prints the median
 * training speed (the samples trained over the epoch's `Time cost`, which is training only) and
 * the median wall time of the whole command (start-up, validation, saving and `--plot` included).
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
const CONFIGS: { name: string; args: string[]; trained: number }[] = [
  { name: "plain (sgd)", args: [], trained: limit },
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
const results = new Map<string, { speed: number[]; wall: number[] }>(
  CONFIGS.map((c) => [c.name, { speed: [], wall: [] }]),
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
        String(limit),
        "--frequent",
        "50",
        "--device",
        opts.device!,
        "--save",
        `${dir}/model.safetensors`,
        ...config.args.map((a) => a.replace("PLOT", `${dir}/plot`)),
      ];
      const tic = performance.now();
      const out = await new Deno.Command(Deno.execPath(), {
        args,
        env: { MNIST_MODEL_DIR: dir },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const wall = (performance.now() - tic) / 1000;
      const stdout = new TextDecoder().decode(out.stdout);
      if (!out.success) {
        throw new Error(`${config.name} failed:\n${new TextDecoder().decode(out.stderr)}`);
      }
      const cost = Number(/Time cost=(\d+\.\d+)/.exec(stdout)![1]);
      const r = results.get(config.name)!;
      r.speed.push(config.trained / cost);
      r.wall.push(wall);
      console.error(
        `round ${round + 1} ${config.name}: ${(config.trained / cost).toFixed(0)} samples/s, ` +
          `epoch ${cost.toFixed(3)} s, wall ${wall.toFixed(2)} s`,
      );
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}

const base = median(results.get(CONFIGS[0]!.name)!.speed);
const baseWall = median(results.get(CONFIGS[0]!.name)!.wall);
console.log(
  `${opts.model}, --limit ${limit}, 1 epoch, batch 100, --device ${opts.device}, ` +
    `medians of ${rounds} interleaved rounds`,
);
console.log("| feature | samples/s (median) | vs plain | wall s (median) | vs plain |");
console.log("|---|---|---|---|---|");
for (const config of CONFIGS) {
  const r = results.get(config.name)!;
  const speed = median(r.speed);
  const wall = median(r.wall);
  const pct = (x: number, y: number) => `${x >= y ? "+" : ""}${((x / y - 1) * 100).toFixed(1)}%`;
  console.log(
    `| ${config.name} | ${speed.toFixed(0)} (${Math.min(...r.speed).toFixed(0)}-` +
      `${Math.max(...r.speed).toFixed(0)}) | ${pct(speed, base)} | ${wall.toFixed(2)} | ` +
      `${pct(wall, baseWall)} |`,
  );
}
