/** Runs the real `mnist` CLI in a subprocess, for end-to-end tests of what a user sees. */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The project root, where `main.ts` lives. */
export const PROJECT_ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** The permissions the `mnist` task grants (see deno.json). */
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/** This test process's model directories, removed when it ends; made on first use. */
let modelRoot: string | undefined;
/** The place `runCli` gave each data directory (resolved), so train and eval share models. */
const places = new Map<string, string>();

/** A new directory under `modelRoot` for one data directory or one run. */
function newPlace(): string {
  if (modelRoot === undefined) {
    const root = Deno.makeTempDirSync({ prefix: "mnist_test_models_" });
    modelRoot = root;
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(root, { recursive: true });
      } catch {
        // Already gone.
      }
    });
  }
  const place = `${modelRoot}/${places.size}.${crypto.randomUUID().slice(0, 8)}`;
  Deno.mkdirSync(place);
  return place;
}

/** The temporary place for runs with data directory `dataDir` (relative to `cwd`). */
function placeFor(dataDir: string, cwd: string): string {
  const key = resolve(cwd, dataDir);
  let place = places.get(key);
  if (place === undefined) {
    place = newPlace();
    places.set(key, place);
  }
  return place;
}

/**
 * The model directory (`MNIST_MODEL_DIR`) `runCli` gives every run with data directory
 * `dataDir` (as the test passed it, relative to the project root): a temporary directory, the
 * same for all of this test process's runs with that data directory, so that a model one run
 * trains is the one the next run finds. Removed when the test process ends.
 */
export function modelDirFor(dataDir: string): string {
  return `${placeFor(dataDir, PROJECT_ROOT)}/models`;
}

/** The `--data-dir` of `args` (`--data-dir DIR` or `--data-dir=DIR`), if any. */
function dataDirOf(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--data-dir") return args[i + 1];
    if (args[i]!.startsWith("--data-dir=")) return args[i]!.slice("--data-dir=".length);
  }
  return undefined;
}

/** What a CLI run printed and how it exited. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `runCli`'s options. */
export interface RunCliOptions {
  /**
   * Extra environment, over the test's own and the defaults `XDG_RUNTIME_DIR=/tmp`, `NO_COLOR=1`,
   * `INIT_CWD` (the directory user paths resolve in) = the project root, and temporary
   * `MNIST_MODEL_DIR` and `XDG_DATA_HOME`, so that no run writes models into the user's home:
   * for a run with a data directory (`--data-dir`, else `MNIST_DATA_DIR` here), those of
   * `modelDirFor(dataDir)`; for one without, new ones. `MNIST_MODEL_DIR: ""` leaves the model
   * directory to `XDG_DATA_HOME`.
   */
  env?: Record<string, string>;
  /** Written to the CLI's stdin, which is then closed; default: no stdin. */
  stdin?: string | Uint8Array;
  /** Extra `deno run` flags, before `main.ts` (e.g. `["--allow-sys"]`). */
  denoFlags?: string[];
}

/**
 * Runs `deno run <permissions> main.ts ...args` in the project root and collects its output.
 * Never throws for a non-zero exit: assert on `code`.
 */
export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const { env = {}, stdin, denoFlags = [] } = options;
  const cwd = env.INIT_CWD ?? PROJECT_ROOT;
  const dataDir = dataDirOf(args) ?? env.MNIST_DATA_DIR;
  const place = dataDir ? placeFor(dataDir, cwd) : newPlace();
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, ...denoFlags, "main.ts", ...args],
    cwd: PROJECT_ROOT,
    // INIT_CWD: relative paths resolve in the project root even when `deno task test` ran from a
    // subdirectory (a task passes its INIT_CWD on to the tests).
    env: {
      XDG_RUNTIME_DIR: "/tmp",
      NO_COLOR: "1",
      INIT_CWD: PROJECT_ROOT,
      MNIST_MODEL_DIR: `${place}/models`,
      XDG_DATA_HOME: `${place}/data-home`,
      ...env,
    },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin);
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** `text`'s lines, without the last line break; none for "". */
export function lines(text: string): string[] {
  return text === "" ? [] : text.trimEnd().split("\n");
}

/**
 * Runs `mnist train ...args` (`deno run -A`, in the project root, with `XDG_RUNTIME_DIR=/tmp`,
 * `NO_COLOR=1` and `env`) and, once a line of its standard output matches `when`, runs `during`
 * with its pid and then sends `signal` (none: `during` alone). Returns what it printed and how it
 * exited; fails the test when no line matched.
 */
export async function trainUntil(
  args: string[],
  { env = {}, when, signal, during }: {
    env?: Record<string, string>;
    when: RegExp;
    signal?: Deno.Signal;
    during?: (pid: number) => Promise<void>;
  },
): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "train", ...args],
    cwd: PROJECT_ROOT,
    env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let stdout = "";
  let sent = false;
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    stdout += chunk;
    if (!sent && lines(stdout).some((line) => when.test(line))) {
      await during?.(child.pid);
      if (signal !== undefined) child.kill(signal);
      sent = true;
    }
  }
  const { code } = await child.status;
  assert.ok(sent, `no line matched ${when}:\n${stdout}`);
  return { code, stdout, stderr: await stderr };
}
