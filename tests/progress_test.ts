/**
 * Progress bars (src/progress.ts): when they are drawn, what their line says, how they make
 * way for log lines; what the trainer and the evaluator report to them; and, end to end, that a
 * piped `mnist train` shows no bar while one on a terminal (a pty from `script`) does, with
 * its log lines intact.
 */
import assert from "node:assert/strict";
import {
  formatBar,
  formatEta,
  ProgressBar,
  progressEnabled,
  type ProgressStream,
  Throughput,
  WorkProgress,
} from "../src/progress.ts";
import { trainingLabel } from "../src/cli/train.ts";
import { colorEnabled, type TerminalEnv } from "../src/terminal.ts";
import { loadSplit, subset } from "../src/data/dataset.ts";
import { mlp } from "../src/nn/model.ts";
import { Network } from "../src/nn/network.ts";
import { ParamStore } from "../src/nn/params.ts";
import { Rng } from "../src/random.ts";
import { Evaluator } from "../src/train/evaluate.ts";
import { train, type TrainProgress } from "../src/train/trainer.ts";
import { PROJECT_ROOT, runCli } from "./cli_helpers.ts";
import { gpuTest } from "./gpu_helpers.ts";
import { MNIST } from "./test_data.ts";

/** Whether `text` holds what drawing a bar writes: an escape code, "\r", the bar's blocks. */
function hasBarMarks(text: string): boolean {
  return ["\x1b", "\r", "█", "░"].some((mark) => text.includes(mark));
}
const HIDE_CURSOR = "\x1b[?25l";
const NO_WRAP = "\x1b[?7l";
const ERASE_LINE = "\x1b[2K";
const CYAN = "\x1b[36m";

/** A stand-in terminal (or pipe) that records each write, in order, into `events`. */
function fakeStream(
  { isTTY = true, columns = 100, events = [] as string[] } = {},
): { stream: ProgressStream; events: string[]; text: () => string } {
  return {
    stream: {
      isTTY,
      columns,
      write(text: string): boolean {
        events.push(text);
        return true;
      },
    },
    events,
    text: () => events.join(""),
  };
}

function env(vars: Record<string, string> = {}): TerminalEnv {
  return { get: (name) => vars[name] };
}

Deno.test("progressEnabled() draws on a terminal only, and not on TERM=dumb", () => {
  assert.equal(progressEnabled({ isTTY: true }, env()), true);
  assert.equal(progressEnabled({ isTTY: true }, env({ TERM: "xterm-256color" })), true);
  assert.equal(progressEnabled({ isTTY: false }, env()), false);
  assert.equal(progressEnabled({ isTTY: true }, env({ TERM: "dumb" })), false);
});

Deno.test("colorEnabled() is off when NO_COLOR is set to anything but the empty string", () => {
  assert.equal(colorEnabled(env()), true);
  assert.equal(colorEnabled(env({ NO_COLOR: "" })), true, "an empty NO_COLOR is unset");
  assert.equal(colorEnabled(env({ NO_COLOR: "1" })), false);
  assert.equal(colorEnabled(env({ NO_COLOR: "0" })), false, "any value, even 0");
  assert.equal(colorEnabled(env({ TERM: "dumb" })), false);
});

Deno.test("formatBar() fits every width, colour codes included, shrinking the bar first", () => {
  const line = { label: "Epoch 3/10", fraction: 0.5, detail: "30,000/60,000  1,234 samples/s" };
  for (const color of [false, true]) {
    for (const columns of [200, 100, 80, 60, 45, 20, 1]) {
      const text = formatBar(line, { columns, color });
      assert.ok(
        text.length <= Math.max(1, columns - 1),
        `${columns} columns, colour ${color}: ${text.length} characters: ${JSON.stringify(text)}`,
      );
    }
  }
  const wide = formatBar(line, { columns: 200, color: false });
  assert.equal(wide, `Epoch 3/10 ${"█".repeat(15)}${"░".repeat(15)}  50%  ${line.detail}`);
  // 69 columns: 68 less the label, the spaces, " 50%" and the detail leave 20 for the bar.
  const narrow = formatBar(line, { columns: 69, color: false });
  assert.equal(narrow, `Epoch 3/10 ${"█".repeat(10)}${"░".repeat(10)}  50%  ${line.detail}`);
  // Too narrow for a 10-column bar: cut, without colour codes that a cut could break.
  const cut = formatBar(line, { columns: 40, color: true });
  assert.equal(cut, `Epoch 3/10 ${"█".repeat(5)}${"░".repeat(5)}  50%  30,000/60,0`);
});

Deno.test("formatBar() colours only the filled part, and clamps the fraction", () => {
  const colored = formatBar({ label: "x", fraction: 0.25, detail: "" }, {
    columns: 100,
    color: true,
  });
  assert.equal(colored, `x ${CYAN}${"█".repeat(8)}\x1b[39m${"░".repeat(22)}  25%`);
  const plain = (fraction: number) =>
    formatBar({ label: "x", fraction, detail: "" }, { columns: 100, color: false });
  assert.equal(plain(-1), `x ${"░".repeat(30)}   0%`);
  assert.equal(plain(NaN), `x ${"░".repeat(30)}   0%`);
  assert.equal(plain(3), `x ${"█".repeat(30)} 100%`);
  assert.equal(plain(0.999), `x ${"█".repeat(30)}  99%`, "99.9% is not yet 100%");
});

Deno.test("formatEta() writes m:ss and h:mm:ss, rounding up, and --:-- while unknown", () => {
  assert.equal(formatEta(0), "0:00");
  assert.equal(formatEta(41.2), "0:42");
  assert.equal(formatEta(725), "12:05");
  assert.equal(formatEta(3723), "1:02:03");
  assert.equal(formatEta(undefined), "--:--");
  assert.equal(formatEta(Infinity), "--:--");
  assert.equal(formatEta(NaN), "--:--");
  assert.equal(formatEta(-1), "--:--");
});

Deno.test("Throughput measures from its first update and forgets those older than its window", () => {
  const rate = new Throughput({ windowMs: 10_000 });
  assert.equal(rate.perSecond(), undefined);
  // Submitted work is reported as it starts: the first update is where the count starts.
  rate.add(500, 0);
  assert.equal(rate.perSecond(), undefined, "one update is no rate");
  assert.equal(rate.etaSeconds(6000), undefined);
  rate.add(1500, 2_000);
  assert.equal(rate.perSecond(), 500);
  assert.equal(rate.etaSeconds(6000), 9);
  // Slower now: after the window, only the recent updates count.
  rate.add(1600, 12_000);
  rate.add(1700, 22_000);
  assert.equal(rate.perSecond(), 10);
  rate.reset();
  assert.equal(rate.perSecond(), undefined);
});

Deno.test("trainingLabel() counts epochs from 1 and names the validation", () => {
  const p: TrainProgress = { phase: "train", epoch: 0, epochs: 10, done: 0, total: 1 };
  assert.equal(trainingLabel(p), "Epoch 1/10");
  assert.equal(trainingLabel({ ...p, phase: "validate", epoch: 9 }), "Validation 10/10");
  assert.equal(trainingLabel({ ...p, phase: "warm-up", total: 0 }), "Compiling kernels");
});

Deno.test("formatBar() without a bar writes the label and the detail, cut to the width", () => {
  const line = { label: "Compiling kernels", fraction: 0, detail: "(seconds)", bar: false };
  assert.equal(formatBar(line, { columns: 80, color: true }), "Compiling kernels  (seconds)");
  assert.equal(formatBar({ ...line, detail: "" }, { columns: 80, color: true }), line.label);
  assert.equal(formatBar(line, { columns: 11, color: false }), "Compiling ");
});

Deno.test("WorkProgress.status() draws a line without a bar, which the next update replaces", async () => {
  const events: string[] = [];
  const fake = fakeStream({ events });
  let now = 0;
  using progress = await WorkProgress.open({
    stream: fake.stream,
    env: env({ NO_COLOR: "1" }),
    now: () => now,
  });
  const log = progress.log((line) => events.push(`stdout: ${line}`));
  progress.status("Compiling kernels", "(seconds)");
  const status = fake.text();
  assert.match(status, /Compiling kernels {2}\(seconds\)/);
  assert.ok(!status.includes("█") && !status.includes("░") && !status.includes("%"), status);
  const drawn = events.length;
  now = 1000;
  progress.update("Epoch 1/1", { done: 1000, total: 6000 });
  now = 2000;
  progress.update("Epoch 1/1", { done: 2000, total: 6000 });
  log("INFO:root:Epoch[0] Batch [20]");
  const at = events.indexOf("stdout: INFO:root:Epoch[0] Batch [20]");
  const bar = events.slice(drawn, at).join("");
  assert.match(bar, /Epoch 1\/1 [█░]+ +33% {2}2,000\/6,000 {2}1,000 samples\/s/, "its own rate");
  assert.ok(!bar.includes("Compiling"), bar);
});

Deno.test("ProgressBar writes nothing to a stream that is not a terminal", async () => {
  const fake = fakeStream({ isTTY: false });
  using bar = await ProgressBar.open({ stream: fake.stream, env: env() });
  assert.equal(bar.enabled, false);
  bar.draw({ label: "x", fraction: 0.5, detail: "" });
  bar.print(() => {});
  bar.clear();
  assert.deepEqual(fake.events, []);
});

Deno.test("ProgressBar never hides the cursor nor turns wrapping off, and clears its line", async () => {
  const fake = fakeStream();
  {
    using bar = await ProgressBar.open({ stream: fake.stream, env: env() });
    bar.draw({ label: "file.gz", fraction: 0.5, detail: "1 MB" });
    assert.ok(bar.drawn);
    assert.match(fake.text(), /file\.gz .*50% {2}1 MB/);
    assert.ok(!fake.text().includes(ERASE_LINE), "not cleared yet");
  }
  // Disposed: the line is erased.
  assert.ok(fake.text().endsWith(ERASE_LINE), JSON.stringify(fake.text()));
  assert.ok(!fake.text().includes(HIDE_CURSOR));
  assert.ok(!fake.text().includes(NO_WRAP));
});

Deno.test("ProgressBar uses colour on a terminal, and none under NO_COLOR", async () => {
  const draw = async (vars: Record<string, string>) => {
    const fake = fakeStream();
    using bar = await ProgressBar.open({ stream: fake.stream, env: env(vars) });
    bar.draw({ label: "x", fraction: 0.5, detail: "" });
    return fake.text();
  };
  assert.ok((await draw({})).includes(CYAN));
  const plain = await draw({ NO_COLOR: "1" });
  assert.ok(plain.includes("█"), "still drawn");
  assert.ok(!plain.includes(CYAN));
  const codes = plain.split("\x1b").slice(1);
  assert.ok(!codes.some((code) => /^\[[\d;]*m/.test(code)), `no colour: ${JSON.stringify(plain)}`);
});

Deno.test("WorkProgress clears its bar before a log line and draws it again with the next update", async () => {
  const events: string[] = [];
  const fake = fakeStream({ events });
  let now = 0;
  using progress = await WorkProgress.open({ stream: fake.stream, env: env(), now: () => now });
  const log = progress.log((line) => events.push(`stdout: ${line}`));
  progress.update("Epoch 1/2", { done: 1000, total: 6000 });
  now = 1000;
  progress.update("Epoch 1/2", { done: 2000, total: 6000 });
  log("INFO:root:Epoch[0] Batch [20]");
  const at = events.indexOf("stdout: INFO:root:Epoch[0] Batch [20]");
  const before = events.slice(0, at).join("");
  assert.match(before, /Epoch 1\/2 .* 33% {2}2,000\/6,000 {2}1,000 samples\/s {2}ETA 0:04/);
  assert.ok(before.endsWith(ERASE_LINE), `the bar is cleared first: ${JSON.stringify(before)}`);
  assert.deepEqual(events.slice(at + 1), [], "not drawn again with the old count");
  now = 2000;
  progress.update("Epoch 1/2", { done: 3000, total: 6000 });
  assert.match(events.slice(at + 1).join(""), /3,000\/6,000 {2}1,000 samples\/s {2}ETA 0:03/);
});

Deno.test("WorkProgress clears a finished bar and starts a new label's rate afresh", async () => {
  const events: string[] = [];
  const fake = fakeStream({ events });
  let now = 0;
  using progress = await WorkProgress.open({ stream: fake.stream, env: env(), now: () => now });
  const log = progress.log((line) => events.push(`stdout: ${line}`));
  progress.update("Epoch 1/1", { done: 3000, total: 6000 });
  now = 1000;
  progress.update("Epoch 1/1", { done: 6000, total: 6000 });
  assert.ok(fake.text().endsWith(ERASE_LINE), "done: cleared");
  const cleared = events.length;
  log("INFO:root:Epoch[0] Time cost=1.000");
  assert.deepEqual(events.slice(cleared), ["stdout: INFO:root:Epoch[0] Time cost=1.000"]);
  now = 1500;
  progress.update("Validation 1/1", { done: 100, total: 6000 });
  const validation = events.slice(cleared + 1).join("");
  assert.match(validation, /Validation 1\/1 .*100\/6,000 {2}ETA --:--/, "no rate from the epoch's");
});

gpuTest(
  "Evaluator.run() gives the same results in several submits, reporting up to the total",
  async (g, k) => {
    const count = 1037; // 11 batches of 100, the last one padded
    const split = subset(await loadSplit(MNIST, { dataset: "mnist", split: "test" }), count);
    const model = mlp();
    const store = new ParamStore(g.device, model);
    store.initialize({ kind: "xavier" }, new Rng(5));
    const network = new Network(g.device, k, { model, store, B: 100, train: false });
    const evaluator = new Evaluator(g.device, k, { network, split });
    try {
      const whole = await evaluator.run({ predictions: true, probabilities: true });
      const reports: [number, number][] = [];
      const chunked = await evaluator.run({
        predictions: true,
        probabilities: true,
        onProgress: (done, total) => reports.push([done, total]),
      });
      assert.deepEqual(chunked.metrics, whole.metrics);
      assert.deepEqual(chunked.predictions, whole.predictions);
      assert.deepEqual(chunked.probabilities, whole.probabilities);
      // One report per batch here (11 < 20 submits), in samples, the padding not counted.
      assert.deepEqual(reports.map(([done]) => done), [
        ...Array.from({ length: 10 }, (_, i) => (i + 1) * 100),
        count,
      ]);
      assert.ok(reports.every(([, total]) => total === count));
    } finally {
      evaluator.destroy();
      network.destroy();
      store.destroy();
    }
  },
);

gpuTest(
  "train() with onProgress logs what it logs without, and reports every epoch to its end",
  async (g) => {
    const [trainSplit, testSplit] = await Promise.all([
      loadSplit(MNIST, { dataset: "mnist", split: "train" }).then((s) => subset(s, 1030)),
      loadSplit(MNIST, { dataset: "mnist", split: "test" }).then((s) => subset(s, 300)),
    ]);
    const dir = await Deno.makeTempDir({ prefix: "mnist_progress_test_" });
    try {
      const run = async (onProgress?: (p: TrainProgress) => void) => {
        const lines: string[] = [];
        await train(g, {
          model: mlp(),
          train: trainSplit,
          validationSplit: testSplit,
          epochs: 2,
          batchSize: 50, // 21 batches: a pass of 2 batches with a listener, else one of 21
          optimizer: { lr: 0.1, momentum: 0.9, wd: 0, clipGradient: 0 },
          seed: 11,
          init: { kind: "xavier" },
          frequent: 10,
          save: `${dir}/m.safetensors`,
          dataset: "mnist",
          log: (line) => lines.push(line),
          readEveryMs: 0,
          onProgress,
        });
        // Speeds and times differ from run to run; everything else may not.
        return lines.map((l) =>
          l.replace(/Speed: [\d.]+/, "Speed: _").replace(/Time cost=[\d.]+/, "Time cost=_")
        );
      };
      const all: TrainProgress[] = [];
      const withBar = await run((p) => all.push(p));
      const without = await run();
      assert.deepEqual(withBar, without, "smaller submits compute the same");
      // The warm-up pass is reported once, first, and counts nothing.
      assert.deepEqual(all.filter((p) => p.phase === "warm-up"), [
        { phase: "warm-up", epoch: 0, epochs: 2, done: 0, total: 0 },
      ]);
      assert.equal(all[0]!.phase, "warm-up");
      const reports = all.slice(1);

      for (
        const [phase, epoch, total] of [
          ["train", 0, 1030],
          ["validate", 0, 300],
          ["train", 1, 1030],
          ["validate", 1, 300],
        ] as const
      ) {
        const done = reports.filter((p) => p.phase === phase && p.epoch === epoch).map((p) => {
          assert.equal(p.total, total);
          assert.equal(p.epochs, 2);
          return p.done;
        });
        assert.ok(done.length >= 6, `${phase} ${epoch}: several reports: ${done}`);
        assert.deepEqual(done, [...done].sort((a, b) => a - b), `${phase} ${epoch}: in order`);
        assert.equal(done.at(-1), total, `${phase} ${epoch} ends at its total`);
        assert.equal(done.indexOf(total), done.length - 1, `${phase} ${epoch}: total comes once`);
      }
      // Epoch 0's reports all come before its validation's, and those before epoch 1's.
      const order = reports.map((p) => `${p.epoch}${p.phase}`);
      assert.deepEqual(order, [...order].sort());
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** A data directory linking to MNIST, and an empty model directory, for the CLI runs below. */
async function withDirs(fn: (data: string, models: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mnist_progress_cli_test_" });
  try {
    await Deno.mkdir(`${dir}/data`);
    for await (const entry of Deno.readDir(MNIST)) {
      if (entry.name.endsWith(".gz")) {
        await Deno.symlink(`${MNIST}/${entry.name}`, `${dir}/data/${entry.name}`);
      }
    }
    await fn(`${dir}/data`, `${dir}/models`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("train in a pipe prints no bar: stdout and stderr hold no escape codes", async () => {
  await withDirs(async (data, models) => {
    const run = await runCli(
      ["train", "--device", "cpu", "--epochs", "1", "--limit", "600", "--frequent", "2"].concat(
        ["--data-dir", data, "--save", `${models}/m.safetensors`],
      ),
      // Colour allowed: a bar drawn into a pipe would show its escape codes.
      { env: { MNIST_MODEL_DIR: models, NO_COLOR: "", TERM: "xterm-256color" } },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Epoch\[0\] Batch \[2\]/);
    assert.ok(!hasBarMarks(run.stdout), `stdout: ${JSON.stringify(run.stdout)}`);
    assert.ok(!hasBarMarks(run.stderr), `stderr: ${JSON.stringify(run.stderr)}`);
  });
});

/** `script` (util-linux) runs a command on a pseudo-terminal: a terminal for the test. */
const SCRIPT = await Deno.stat("/usr/bin/script").then(() => true, () => false);

Deno.test({
  name: "train and eval on a terminal draw bars on stderr and clear them before each log line",
  ignore: !SCRIPT,
  async fn() {
    await withDirs(async (data, models) => {
      const mnist = (args: string) =>
        `'${Deno.execPath()}' run --allow-net --allow-read --allow-write --allow-env main.ts ` +
        `${args} --device cpu --data-dir '${data}'`;
      const command = new Deno.Command("/usr/bin/script", {
        args: [
          "-qefc",
          `${
            mnist(`train --epochs 1 --limit 1000 --frequent 2 --save '${models}/m.safetensors'`)
          }` +
          ` && ${mnist(`eval --model '${models}/m.safetensors' --batch-size 100 --limit 1000`)}`,
          "/dev/null",
        ],
        cwd: PROJECT_ROOT,
        env: {
          XDG_RUNTIME_DIR: "/tmp",
          INIT_CWD: PROJECT_ROOT,
          MNIST_MODEL_DIR: models,
          TERM: "xterm",
          NO_COLOR: "1",
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      });
      const { code, stdout } = await command.output();
      // The terminal's screen: stdout and stderr together, as a user sees them.
      const screen = new TextDecoder().decode(stdout);
      assert.equal(code, 0, screen);
      assert.match(screen, /Epoch 1\/1 [█░]+ +\d+% {2}[\d,]+\/1,000/, "the epoch's bar");
      assert.match(screen, /Validation 1\/1 [█░]+ +\d+% {2}[\d,]+\/1,000/, "the validation's");
      assert.match(screen, /Evaluating [█░]+ +\d+% {2}[\d,]+\/1,000/, "eval's");
      assert.match(screen, /Compiling kernels {2}\(/, "the warm-up's line");
      // Each log line starts a line of its own: after a newline, or after the bar was erased.
      const starts = [...screen.matchAll(/INFO:root:|Validation accuracy:/g)];
      assert.ok(starts.length >= 8, screen);
      for (const { index } of starts) {
        const before = screen.slice(Math.max(0, index - 4), index);
        assert.ok(
          index === 0 || before.endsWith("\n") || before.endsWith(ERASE_LINE),
          `a line drawn over: ${JSON.stringify(screen.slice(Math.max(0, index - 80), index + 20))}`,
        );
      }
      assert.ok(!screen.includes(HIDE_CURSOR) && !screen.includes(NO_WRAP));
      assert.ok(!screen.includes(CYAN), "NO_COLOR");
    });
  },
});
