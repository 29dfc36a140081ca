/**
 * bench/compare.ts (deno task bench:pytorch) refuses, in one line and with status 1, a $PYTHON
 * that cannot import torch or that does not answer its BLAS question, instead of comparing
 * with another python or dying on a stack trace.
 */
import assert from "node:assert/strict";

const SCRIPT = new URL("../bench/compare.ts", import.meta.url).pathname;

async function runCompare(
  python: string,
  args = ["--rounds", "1", "--seconds", "0.1"],
): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...args],
    env: { PYTHON: python, XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

Deno.test("bench:pytorch refuses a PYTHON that cannot import torch, in one line", async () => {
  const { code, stderr } = await runCompare("/nonexistent/python3");
  assert.equal(code, 1);
  assert.match(
    stderr,
    /^error: not comparing: PYTHON=\/nonexistent\/python3 cannot run "import torch"$/m,
  );
  assert.doesNotMatch(stderr, /Uncaught| {4}at /);
});

Deno.test("bench:pytorch refuses a python that does not say which BLAS torch loads", async () => {
  // /bin/true "imports torch" (exits 0) and prints nothing where JSON is expected.
  const { code, stderr } = await runCompare("/bin/true");
  assert.equal(code, 1);
  assert.match(stderr, /^error: not comparing: \/bin\/true .*--blas did not say which BLAS/m);
  assert.doesNotMatch(stderr, /Uncaught| {4}at /);
});

Deno.test("bench:pytorch refuses bad arguments in one line before it runs anything", async () => {
  // An unknown option was parseArgs' stack trace; --rounds abc ran no rounds at all.
  const cases: [string[], RegExp][] = [
    [["--bogus"], /^error: bench:pytorch: .*'--bogus'/],
    [
      ["--rounds", "abc"],
      /^error: bench:pytorch: --rounds must be a whole number >= 1, got "abc"$/,
    ],
    [["--seconds", "0"], /^error: bench:pytorch: --seconds must be a number > 0, got "0"$/],
    [["--torch-threads", "x"], /^error: bench:pytorch: --torch-threads takes thread counts/],
  ];
  for (const [args, pattern] of cases) {
    const { code, stderr } = await runCompare("/usr/bin/python3", args);
    assert.equal(code, 1, args.join(" "));
    assert.match(stderr.trim(), pattern);
    assert.equal(stderr.trim().split("\n").length, 1, stderr);
  }
});
