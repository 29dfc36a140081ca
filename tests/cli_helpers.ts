/** Runs the real `mnist` CLI in a subprocess, for end-to-end tests of what a user sees. */
import { fileURLToPath } from "node:url";

/** The project root, where `main.ts` lives. */
export const PROJECT_ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** The permissions the `mnist` task grants (see deno.json). */
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

/** What a CLI run printed and how it exited. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `runCli`'s options. */
export interface RunCliOptions {
  /**
   * Extra environment, over the test's own and the defaults `XDG_RUNTIME_DIR=/tmp`, `NO_COLOR=1`
   * and `INIT_CWD` (the directory user paths resolve in) = the project root.
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
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, ...denoFlags, "main.ts", ...args],
    cwd: PROJECT_ROOT,
    // INIT_CWD: relative paths resolve in the project root even when `deno task test` ran from a
    // subdirectory (a task passes its INIT_CWD on to the tests).
    env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1", INIT_CWD: PROJECT_ROOT, ...env },
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
