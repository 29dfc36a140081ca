/**
 * bench/memory.ts (deno task bench:memory) refuses bad arguments in one line with status 1,
 * before it runs anything: an unknown option was a stack trace, and an --only name it does not
 * know ran nothing and printed an empty table with status 0.
 */
import assert from "node:assert/strict";

const SCRIPT = new URL("../bench/memory.ts", import.meta.url).pathname;

async function runMemory(...args: string[]): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...args],
    env: { MNIST_DATA_DIR: "/nonexistent" },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

Deno.test("bench:memory refuses an unknown option in one line", async () => {
  const { code, stderr } = await runMemory("--bogus");
  assert.equal(code, 1);
  assert.match(stderr, /^error: bench:memory: .*'--bogus'/);
  assert.equal(stderr.trim().split("\n").length, 1);
});

Deno.test("bench:memory refuses an --only name it does not know, naming the ones it knows", async () => {
  const { code, stderr } = await runMemory("--only", "predict,trian-mlp");
  assert.equal(code, 1);
  assert.equal(
    stderr.trim(),
    "error: bench:memory: --only names trian-mlp; it takes train-lenet, train-mlp, eval, " +
      "predict, serve",
  );
});
