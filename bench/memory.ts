/**
 * Peak memory, wall time and cold start of the real CLI, each command a child process on the
 * local MNIST files, as a user runs it:
 *
 *   train --model lenet --epochs 1, train --model mlp --epochs 1, eval (the LeNet just trained),
 *   predict on one 28×28 PNG (from launch to the answer), and serve (from launch to "Listening"
 *   and to the answer of the first POST /api/predict).
 *
 * Peak RSS is GNU time's "Maximum resident set size" (`/usr/bin/time -f %M`); on a CPU adapter
 * GPU buffers and compiled kernels are the process's memory, so this is the whole footprint. With
 * MNIST_TRACE=1 each command prints the phases of its start (src/trace.ts), shown under the
 * cold-start figures. Models go to a temporary model directory: the user's are not touched.
 *
 *     deno task bench:memory [--limit N] [--epochs N] [--repeat N] [--only NAME,...] [--cold]
 *
 * MNIST_DATA_DIR must hold the four MNIST .gz files (the run downloads nothing). --limit and
 * --epochs shorten the training runs (quick checks; the memory targets are for the full set),
 * --repeat runs predict and serve N times (default 3) and reports the median.
 *
 * Mesa's llvmpipe keeps compiled shaders in a disk cache (~/.cache/mesa_shader_cache): the first
 * launch after a kernel changes compiles with LLVM, later ones load. That moves both figures a
 * lot (eval's peak 341 MB cold against 265 MB warm, and seconds of start-up), so predict and
 * serve are launched once untimed first, and --cold runs every command with the cache off
 * (MESA_SHADER_CACHE_DISABLE=true): the first run after an install or a kernel change.
 */
import { parseArgs } from "node:util";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const FLAGS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];
const GNU_TIME = "/usr/bin/time";

/** What --only can name. */
const PARTS = ["train-lenet", "train-mlp", "eval", "predict", "serve"];

function refuse(message: string): never {
  console.error(`error: ${message}`);
  Deno.exit(1);
}

let parsed;
try {
  parsed = parseArgs({
    args: Deno.args,
    options: {
      limit: { type: "string" },
      epochs: { type: "string", default: "1" },
      repeat: { type: "string", default: "3" },
      only: { type: "string" },
      cold: { type: "boolean", default: false },
    },
  });
} catch (error) {
  refuse(`bench:memory: ${String(error instanceof Error ? error.message : error).split("\n")[0]}`);
}
const opts = parsed.values;
const repeat = Math.max(1, Number(opts.repeat));
const only = opts.only?.split(",");
const unknown = only?.filter((name) => !PARTS.includes(name));
if (unknown?.length) {
  refuse(`bench:memory: --only names ${unknown.join(", ")}; it takes ${PARTS.join(", ")}`);
}
const wanted = (name: string) => only === undefined || only.includes(name);

const dataDir = Deno.env.get("MNIST_DATA_DIR");
if (!dataDir) {
  console.error("error: set MNIST_DATA_DIR to a directory holding the MNIST .gz files");
  Deno.exit(1);
}
const hasTime = await Deno.stat(GNU_TIME).then(() => true, () => false);

/** One phase line of MNIST_TRACE: ms since launch, RSS then, and its name. */
interface Phase {
  ms: number;
  rss: number;
  name: string;
}

/** What one run of a command measured. */
interface Run {
  /** Peak resident set size in MB (GNU time), or NaN without it. */
  peakMb: number;
  /** Seconds from launch to exit (from launch to the answer for serve). */
  seconds: number;
  phases: Phase[];
  stdout: string;
  stderr: string;
}

const TRACE = /^\[trace\]\s+(\d+) ms\s+rss\s+(\d+) MB\s+heap\s+\d+ MB\s+buffers\s+\d+ MB\s+(.+)$/;

function phasesOf(stderr: string): Phase[] {
  return stderr.split("\n").flatMap((line) => {
    const m = TRACE.exec(line);
    return m ? [{ ms: Number(m[1]), rss: Number(m[2]), name: m[3]! }] : [];
  });
}

const work = await Deno.makeTempDir({ prefix: "mnist_bench_memory_" });
const env = {
  MNIST_DATA_DIR: dataDir,
  MNIST_MODEL_DIR: `${work}/models`,
  MNIST_TRACE: "1",
  NO_COLOR: "1",
  ...(opts.cold ? { MESA_SHADER_CACHE_DISABLE: "true" } : {}),
};

/** The command line of `mnist args`, under GNU time writing to `timeFile` where there is one. */
function commandLine(args: string[], timeFile: string): [string, string[]] {
  const deno = [Deno.execPath(), "run", ...FLAGS, MAIN, ...args];
  return hasTime ? [GNU_TIME, ["-f", "%M %e", "-o", timeFile, ...deno]] : [deno[0]!, deno.slice(1)];
}

async function peakOf(timeFile: string): Promise<number> {
  if (!hasTime) return NaN;
  const text = await Deno.readTextFile(timeFile);
  const m = /(\d+) ([\d.]+)\s*$/.exec(text);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Runs `mnist args` to the end. */
async function run(args: string[]): Promise<Run> {
  const timeFile = `${work}/time.txt`;
  const [cmd, cmdArgs] = commandLine(args, timeFile);
  const start = performance.now();
  const out = await new Deno.Command(cmd, { args: cmdArgs, env, stdout: "piped", stderr: "piped" })
    .output();
  const seconds = (performance.now() - start) / 1000;
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    console.error(`error: mnist ${args.join(" ")} failed (exit ${out.code}):\n${stderr}`);
    Deno.exit(1);
  }
  return { peakMb: await peakOf(timeFile), seconds, phases: phasesOf(stderr), stdout, stderr };
}

/** Reads `stream` line by line until `pattern` matches; returns the match. */
async function waitFor(
  reader: ReadableStreamDefaultReader<string>,
  pattern: RegExp,
  seen: string[],
): Promise<RegExpExecArray> {
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server stopped before printing ${pattern}:\n${seen.join("")}`);
    buffered += value;
    seen.push(value);
    const m = pattern.exec(buffered);
    if (m) return m;
  }
}

/**
 * Starts `mnist serve`, posts `png` to /api/predict once "Listening on" is printed, and stops
 * the server with SIGTERM. `seconds` is launch to the answer; also returns launch to listening.
 */
async function serveOnce(
  model: string,
  png: Uint8Array<ArrayBuffer>,
): Promise<Run & { listenS: number }> {
  const timeFile = `${work}/time.txt`;
  const [cmd, cmdArgs] = commandLine(["serve", "--model", model, "--port", "0"], timeFile);
  const start = performance.now();
  const child = new Deno.Command(cmd, { args: cmdArgs, env, stdout: "piped", stderr: "piped" })
    .spawn();
  const stderrText = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const seen: string[] = [];
  const m = await waitFor(reader, /Listening on (http:\/\/\S+)\//, seen);
  const listenS = (performance.now() - start) / 1000;
  const response = await fetch(`${m[1]}/api/predict`, {
    method: "POST",
    headers: { "Content-Type": "image/png" },
    body: png,
  });
  const answer = await response.json();
  const seconds = (performance.now() - start) / 1000;
  if (!response.ok) throw new Error(`POST /api/predict answered ${response.status}: ${answer}`);
  // GNU time passes no signal on: stop the server itself, its child.
  const server = hasTime ? await childPid(child.pid) : child.pid;
  Deno.kill(server, "SIGTERM");
  reader.releaseLock();
  await child.stdout.cancel().catch(() => {});
  const status = await child.status;
  const stderr = await stderrText;
  // 143: stopped by SIGTERM, having answered what was in flight.
  if (status.code !== 143) throw new Error(`serve exited with ${status.code}:\n${stderr}`);
  return {
    peakMb: await peakOf(timeFile),
    seconds,
    listenS,
    phases: phasesOf(stderr),
    stdout: `digit ${answer.digit}`,
    stderr,
  };
}

/** The one child of process `pid` (GNU time's), from pgrep. */
async function childPid(pid: number): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const out = await new Deno.Command("pgrep", { args: ["-P", String(pid)] }).output();
    const found = new TextDecoder().decode(out.stdout).trim().split("\n")[0];
    if (found) return Number(found);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no child process of ${pid}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const mb = (x: number) => (Number.isNaN(x) ? "-" : `${x.toFixed(0)} MB`);

/** The phases of a run as "name: +ms (rss MB)" lines, each delta from the previous mark. */
function phaseLines(phases: Phase[]): string[] {
  let previous = 0;
  return phases.map((p) => {
    const line = `    ${String(p.ms).padStart(6)} ms  (+${String(p.ms - previous).padStart(5)})  ` +
      `rss ${String(p.rss).padStart(4)} MB  ${p.name}`;
    previous = p.ms;
    return line;
  });
}

try {
  const devices = await run(["devices"]);
  const adapter = devices.stdout.split("\n").find((l) => l.includes("(selected)")) ??
    devices.stdout.split("\n")[0]!;
  console.log(`adapter: ${adapter.replace(/^\[\d+\]\s*/, "").replace(/\s*\(selected\)/, "")}`);
  console.log(
    `peak RSS: ${hasTime ? "GNU time's maximum resident set size" : "unknown (no /usr/bin/time)"}` +
      `; Deno ${Deno.version.deno}; ${navigator.hardwareConcurrency} CPUs`,
  );
  console.log(
    opts.cold
      ? "shader cache: off (--cold: every pipeline compiled by LLVM, as on a first run)"
      : "shader cache: as it is (llvmpipe loads what an earlier run compiled; predict and serve " +
        "launched once untimed first)",
  );
  const limit = opts.limit ? ["--limit", opts.limit] : [];
  const epochs = ["--epochs", opts.epochs!];
  const rows: { label: string; run: Run; note?: string }[] = [];
  const report = (label: string, r: Run, note?: string) => {
    rows.push({ label, run: r, note });
    console.log(
      `${label.padEnd(44)} ${mb(r.peakMb).padStart(8)} ${r.seconds.toFixed(1).padStart(7)} s` +
        (note ? `  ${note}` : ""),
    );
  };
  console.log(`\n${"command".padEnd(44)} ${"peak RSS".padStart(8)} ${"wall".padStart(9)}`);

  for (const model of ["lenet", "mlp"]) {
    if (
      !wanted(`train-${model}`) && !(model === "lenet" && ["eval", "predict", "serve"].some(wanted))
    ) {
      continue;
    }
    const args = ["train", "--model", model, ...epochs, ...limit];
    const r = await run(args);
    const accuracy = /Validation-accuracy=([\d.]+)\s*$/.exec(r.stdout.trim())?.[1];
    if (wanted(`train-${model}`)) report(args.join(" "), r, `accuracy ${accuracy}`);
  }
  const lenet = `${work}/models/lenet.safetensors`;
  if (wanted("eval")) {
    const r = await run(["eval", "--model", lenet]);
    const line = r.stdout.split("\n")[0]!;
    report("eval --model lenet", r, line.replace("Validation accuracy: ", "accuracy "));
  }
  const png = `${work}/digit.png`;
  await run(["show", "--split", "test", "--count", "1", "--png", png]);
  const cold: { label: string; runs: Run[]; listen?: number[] }[] = [];
  if (wanted("predict")) {
    const runs: Run[] = [];
    if (!opts.cold) await run(["predict", "--model", lenet, png]);
    for (let i = 0; i < repeat; i++) runs.push(await run(["predict", "--model", lenet, png]));
    const mid = runs.find((r) => r.seconds === median(runs.map((x) => x.seconds)))!;
    report("predict --model lenet digit.png", mid, mid.stdout.trim());
    cold.push({ label: "predict --model lenet digit.png", runs });
  }
  if (wanted("serve")) {
    const bytes = await Deno.readFile(png);
    const runs: (Run & { listenS: number })[] = [];
    if (!opts.cold) await serveOnce(lenet, bytes);
    for (let i = 0; i < repeat; i++) runs.push(await serveOnce(lenet, bytes));
    const mid = runs.find((r) => r.seconds === median(runs.map((x) => x.seconds)))!;
    report("serve --model lenet, first POST /api/predict", mid, mid.stdout);
    cold.push({ label: "serve --model lenet", runs, listen: runs.map((r) => r.listenS) });
  }
  for (const c of cold) {
    const seconds = c.runs.map((r) => r.seconds);
    const mid = c.runs.find((r) => r.seconds === median(seconds))!;
    console.log(
      `\nCold start, ${c.label}: launch to answer ${median(seconds).toFixed(2)} s (median of ` +
        `${seconds.length}: ${seconds.map((s) => s.toFixed(2)).join(", ")})` +
        (c.listen ? `; to "Listening" ${median(c.listen).toFixed(2)} s` : ""),
    );
    console.log("  phases of the median run (MNIST_TRACE; ms since launch, the step, RSS):");
    for (const line of phaseLines(mid.phases)) console.log(line);
  }
  for (const r of rows.filter((r) => r.label.startsWith("train") || r.label.startsWith("eval"))) {
    console.log(`\nPhases of ${r.label} (MNIST_TRACE):`);
    for (const line of phaseLines(r.run.phases)) console.log(line);
  }
} finally {
  await Deno.remove(work, { recursive: true });
}
