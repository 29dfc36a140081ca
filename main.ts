/**
 * `mnist`: train, evaluate and serve handwritten-digit classifiers on WebGPU.
 * This file only parses the command word, dispatches, and turns errors into messages and exit
 * codes; it is the only place that calls `Deno.exit`.
 */
import { COMMAND_NAMES, loadCommand, loadCommands } from "./src/cli/commands.ts";
import type { Command } from "./src/cli/command.ts";
import { suggest } from "./src/cli/args.ts";
import { printable, UserError } from "./src/errors.ts";
import { isNonUtf8EnvError } from "./src/env.ts";
import { userDir } from "./src/fs.ts";
import { VERSION } from "./src/version.ts";
import { mark } from "./src/trace.ts";

function usage(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  // Laid out as every command's help is (tests/help_test.ts), with Commands for Options.
  return `Usage: mnist [--device auto|gpu|cpu] [--data-dir DIR] <command> [options]

mnist ${VERSION}: handwritten-digit recognition on WebGPU (the MXNet tutorial, re-made).
Run "mnist <command> --help" for a command's options and examples. The common options may come
before the command word.

Commands:
${lines.join("\n")}

Common options:
  --device auto|gpu|cpu  WebGPU adapter: any (default), hardware GPU only, or the CPU/fallback
                         one; train, eval, predict, serve and devices take it
  --data-dir DIR         MNIST's files (default: $MNIST_DATA_DIR, else $XDG_CACHE_HOME/mnist
                         or ~/.cache/mnist); every command but plot and devices takes it
  -h, --help             show this help
  -V, --version          print the version

Examples:
  mnist train
  mnist eval
  mnist predict seven.png
  mnist help train`;
}

/** Options every command takes, which may also come before the command word. */
const GLOBAL_OPTIONS = ["--device", "--data-dir"];

/** Moves global options given before the command (`mnist --device cpu train`) after it. */
function hoistCommand(args: string[]): string[] {
  const leading: string[] = [];
  let i = 0;
  while (i < args.length) {
    const arg = args[i]!;
    const name = arg.split("=")[0]!;
    if (!GLOBAL_OPTIONS.includes(name)) break;
    const takesNext = !arg.includes("=") && i + 1 < args.length;
    leading.push(...args.slice(i, takesNext ? i + 2 : i + 1));
    i += takesNext ? 2 : 1;
  }
  if (leading.length === 0 || i >= args.length) return args;
  return [args[i]!, ...leading, ...args.slice(i + 1)];
}

/** Throws the `UserError` for a command word that names no command, with a guess if close. */
function unknownCommand(word: string): never {
  // "import" is close to "export", the opposite direction: a PyTorch model is read as it is.
  if (word === "import") {
    throw new UserError(`Unknown command "import": models from PyTorch need no import`, {
      hint: "eval, predict, serve and train --resume read a safetensors state dict as it is " +
        '(README, "Models from PyTorch").',
    });
  }
  const guess = suggest(word, COMMAND_NAMES);
  throw new UserError(`Unknown command "${word}"`, {
    hint: guess ? `Did you mean "mnist ${guess}"?` : `Run "mnist --help" for the commands.`,
  });
}

async function main(argv: string[]): Promise<number> {
  const args = hoistCommand(argv);
  const [word, ...rest] = args;
  if (word === undefined || word === "help" || word === "--help" || word === "-h") {
    const commands = await loadCommands();
    const topic = word === "help" ? commands.find((c) => c.name === rest[0]) : undefined;
    if (word === "help" && rest[0] !== undefined && !topic) unknownCommand(rest[0]);
    console.log(topic ? topic.help : usage(commands));
    return word === undefined ? 1 : 0;
  }
  if (word === "--version" || word === "-V") {
    console.log(`mnist ${VERSION}`);
    return 0;
  }
  if (GLOBAL_OPTIONS.includes(word.split("=")[0]!)) {
    // Only global options (`mnist --data-dir /tmp/x`): hoistCommand found no command after them.
    throw new UserError(`No command after ${word}`, {
      hint: `Run "mnist --help" for the commands.`,
    });
  }
  // Only the command that runs is imported (src/cli/commands.ts).
  const command = await loadCommand(word);
  if (!command) unknownCommand(word);
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(command.help);
    return 0;
  }
  // Paths the user typed resolve where they typed them, not in the project root `deno task`
  // runs from. Nothing the program reads itself is found through the working directory.
  Deno.chdir(userDir());
  mark(`${word}: modules loaded`);
  await command.run(rest);
  mark(`${word}: done`);
  return 0;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    // Messages quote file names and file contents: printed escaped, each on one line.
    if (error instanceof UserError) {
      console.error(`error: ${printable(error.message)}`);
      if (error.hint) console.error(`hint: ${printable(error.hint)}`);
      code = error.exitCode;
    } else if (isNonUtf8EnvError(error)) {
      // A variable read without src/env.ts's envVar, which names it: at least one line.
      console.error(
        `error: an environment variable is not valid UTF-8: ${printable(error.message)}`,
      );
      code = 1;
    } else if (error instanceof Deno.errors.PermissionDenied) {
      console.error(`error: ${printable(error.message)}`);
      code = 1;
    } else {
      console.error(error);
      code = 70; // EX_SOFTWARE: a bug, not a user mistake
    }
  }
  Deno.exit(code);
}
