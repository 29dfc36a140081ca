/**
 * Start-up and memory trace: with `MNIST_TRACE=1` in the environment, {@link mark} prints one
 * line on standard error at each named point of a command: milliseconds since the process
 * started, the resident set size now, the V8 heap in use and the ArrayBuffers' memory (MB).
 * `bench/memory.ts` reads these lines to break a command's cold start and its memory into
 * phases; docs/memory.md is the budget they measured. Unset, empty, `0`, `false`, `no` or `off`
 * (any case) leave it off. Without the variable a mark costs one environment lookup, made once.
 */

/** The values of `MNIST_TRACE` that leave the trace off, as a user writes "off". */
const OFF = ["", "0", "false", "no", "off"];

/** Whether `MNIST_TRACE` asks for the trace (read once; false where env access is denied). */
let enabled: boolean | undefined;

function isEnabled(): boolean {
  if (enabled === undefined) {
    try {
      const value = Deno.env.get("MNIST_TRACE");
      enabled = value !== undefined && !OFF.includes(value.trim().toLowerCase());
    } catch {
      enabled = false;
    }
  }
  return enabled;
}

/** The prefix of every trace line, which `bench/memory.ts` parses. */
export const TRACE_PREFIX = "[trace]";

const MB = 1024 * 1024;

/**
 * Prints `[trace] <ms> ms  rss <MB> MB  heap <MB> MB  buffers <MB> MB  <name>` on stderr when
 * `MNIST_TRACE` is set: ms since the process started (`performance.now()`), then from
 * `Deno.memoryUsage()` the resident set size, the V8 heap in use and the memory of
 * ArrayBuffers (`external`: host copies of the data, garbage not yet collected). Else nothing.
 * The peak between two marks is not seen here (/proc/self/status needs --allow-all):
 * `bench/memory.ts` takes it from GNU time.
 */
export function mark(name: string): void {
  if (!isEnabled()) return;
  const ms = performance.now();
  const { rss, heapUsed, external } = Deno.memoryUsage();
  const mb = (bytes: number) => `${(bytes / MB).toFixed(0).padStart(4)} MB`;
  console.error(
    `${TRACE_PREFIX} ${ms.toFixed(0).padStart(6)} ms  rss ${mb(rss)}  heap ${mb(heapUsed)}  ` +
      `buffers ${mb(external)}  ${name}`,
  );
}
