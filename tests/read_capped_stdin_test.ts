/**
 * `readCapped("-")`, which `mnist predict -` and `mnist plot -` read standard input with, run in
 * a child process so that its standard input is a pipe this test writes.
 */
import assert from "node:assert/strict";

/** Runs `readCapped("-", { maxBytes, what: "image" })` on `input`; its stdout and stderr. */
async function readStdin(input: Uint8Array, maxBytes: number): Promise<string> {
  const fs = new URL("../src/fs.ts", import.meta.url).href;
  const code = `import { readCapped } from "${fs}";
    try {
      const bytes = await readCapped("-", { maxBytes: ${maxBytes}, what: "image" });
      console.log("read", bytes.length);
    } catch (error) {
      console.log(error.message);
    }`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", code],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const { stdout, stderr } = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return (decode(stdout) + decode(stderr)).trim();
}

Deno.test("readCapped() names standard input and says its limit once", async () => {
  assert.equal(await readStdin(new Uint8Array(2048), 2048), "read 2048");
  assert.equal(
    await readStdin(new Uint8Array(2049), 2048),
    "Cannot read image from standard input: it is more than the 2 KiB limit for image files",
  );
});
