/** main.ts: the command word, global options before it, help and version. */
import { equal, match } from "node:assert/strict";
import { runCli } from "./cli_helpers.ts";
import { MNIST } from "./test_data.ts";

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
