/** main.ts: the command word, global options before it, help and version. */
import { equal, match } from "node:assert/strict";
import { runCli } from "./cli_helpers.ts";
import { MNIST } from "./test_data.ts";
import { printable } from "../src/errors.ts";
import { fileURLToPath as fromFileUrl } from "node:url";

Deno.test("mnist --help lists every command; no command prints usage and fails", async () => {
  const help = await runCli(["--help"]);
  equal(help.code, 0);
  for (
    const command of ["download", "show", "train", "eval", "predict", "summary", "serve", "devices"]
  ) {
    match(help.stdout, new RegExp(`^  ${command} `, "m"));
  }
  const none = await runCli([]);
  equal(none.code, 1);
  match(none.stdout, /^Usage: mnist /m);
});

Deno.test("global options may come before the command word", async () => {
  const before = await runCli(["--data-dir", MNIST, "show", "--count", "3"]);
  equal(before.code, 0, before.stderr);
  match(before.stdout, /^label: \[5 0 4\]$/m);
  const equals = await runCli([`--data-dir=${MNIST}`, "show", "--count", "2"]);
  match(equals.stdout, /^label: \[5 0\]$/m);
});

Deno.test("mnist --version and mnist help <command>", async () => {
  match((await runCli(["--version"])).stdout, /^mnist \d+\.\d+\.\d+\n$/);
  const help = await runCli(["help", "train"]);
  equal(help.code, 0);
  match(help.stdout, /^Usage: mnist train /);
});

Deno.test("mnist import says a PyTorch model needs none, not 'Did you mean mnist export'", async () => {
  const run = await runCli(["import", "model.safetensors"]);
  equal(run.code, 1);
  equal(
    run.stderr,
    'error: Unknown command "import": models from PyTorch need no import\n' +
      "hint: eval, predict, serve and train --resume read a safetensors state dict as it is " +
      '(README, "Models from PyTorch").\n',
  );
});

Deno.test("a file name with terminal escapes and a newline is printed escaped, on one line", async () => {
  // `mnist predict $'x\e]0;pwned\a\e[2J.png'` retitled and cleared the terminal, and a newline in
  // a name broke the one-line error.
  const dir = await Deno.makeTempDir();
  try {
    const name = `${dir}/x\x1b]0;pwned\x07\x1b[2J\nsecond\u202eline.safetensors`;
    const run = await runCli(["predict", `${dir}/digit.png`, "--model", name]);
    match(
      run.stderr,
      /x\\x1b\]0;pwned\\x07\\x1b\[2J\\nsecond\\u202eline\.safetensors": no such file/,
    );
    equal(run.code, 1);
    equal(run.stderr.includes("\x1b"), false, run.stderr);
    equal(run.stderr.includes("\x07"), false, run.stderr);
    equal(run.stderr.includes("\u202e"), false, run.stderr);
    const lines = run.stderr.trimEnd().split("\n");
    match(lines[0]!, /^error: /);
    for (const line of lines) match(line, /^(error|hint): /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("printable() escapes control and bidi characters and keeps the rest", () => {
  equal(
    printable("a\nb\tc\x1b[2J\x7f\x9b\u202e\u2066é 7"),
    "a\\nb\\tc\\x1b[2J\\x7f\\x9b\\u202e\\u2066é 7",
  );
});

Deno.test("predict of several images prints each name escaped", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = new URL("./fixtures/mlp-kernels-tuned-991319c.safetensors", import.meta.url);
    const evil = `${dir}/a\x1b[2J.png`;
    await Deno.writeFile(evil, new Uint8Array([1, 2, 3]));
    const run = await runCli(["predict", evil, `${dir}/b\x07.png`, "--model", fromFileUrl(model)]);
    match(run.stderr, /^error: Cannot read image "[^"]*a\\x1b\[2J\.png": /m);
    match(run.stderr, /^error: Cannot read image "[^"]*b\\x07\.png": /m);
    equal([..."\x07\x1b"].some((c) => (run.stderr + run.stdout).includes(c)), false, run.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
