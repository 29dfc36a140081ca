/**
 * `MNIST_TRACE` (src/trace.ts): which values turn the start-up trace on. Each value runs in its
 * own process, since the variable is read once.
 */
import assert from "node:assert/strict";

const TRACE = new URL("../src/trace.ts", import.meta.url).href;

async function traceLines(value: string | undefined): Promise<string[]> {
  const env: Record<string, string> = value === undefined ? {} : { MNIST_TRACE: value };
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `import { mark } from "${TRACE}"; mark("here");`],
    env,
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0);
  return new TextDecoder().decode(stderr).split("\n").filter((line) => line.includes("here"));
}

Deno.test("MNIST_TRACE=1 (or yes, on, true) prints a [trace] line at each mark", async () => {
  for (const value of ["1", "yes", "on", "true"]) {
    const lines = await traceLines(value);
    assert.equal(lines.length, 1, value);
    assert.match(
      lines[0]!,
      /^\[trace\] +\d+ ms {2}rss +\d+ MB {2}heap +\d+ MB {2}buffers +\d+ MB {2}here$/,
    );
  }
});

Deno.test("MNIST_TRACE unset, empty, 0, false, no or off prints nothing", async () => {
  // "false" and "off" turned the trace on before: only "" and "0" were off.
  for (const value of [undefined, "", "0", "false", "FALSE", "no", "off", " off "]) {
    assert.deepEqual(await traceLines(value), [], String(value));
  }
});
