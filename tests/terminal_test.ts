/** src/terminal.ts: one rule for colour, and `show` drawing by it on a terminal. */
import { equal } from "node:assert/strict";
import { colorEnabled, isDumbTerminal } from "../src/terminal.ts";
import { PROJECT_ROOT } from "./cli_helpers.ts";
import { MNIST } from "./test_data.ts";

/** A stand-in environment holding `vars`. */
function env(vars: Record<string, string>) {
  return { get: (name: string) => vars[name] };
}

Deno.test("colour: not with NO_COLOR set and not empty, nor on TERM=dumb", () => {
  equal(colorEnabled(env({})), true);
  equal(colorEnabled(env({ TERM: "xterm-256color" })), true);
  equal(colorEnabled(env({ NO_COLOR: "" })), true, "an empty NO_COLOR is unset (no-color.org)");
  equal(colorEnabled(env({ NO_COLOR: "1" })), false);
  equal(colorEnabled(env({ TERM: "dumb" })), false);
  equal(isDumbTerminal(env({ TERM: "dumb" })), true);
  equal(isDumbTerminal(env({ TERM: "xterm" })), false);
});

/** Whether util-linux `script`, which gives a command a terminal, is here. */
const hasScript = new Deno.Command("sh", { args: ["-c", "command -v script"] }).outputSync()
  .success;

Deno.test({
  name: "show on a terminal draws in colour, but not on TERM=dumb nor with NO_COLOR",
  ignore: !hasScript,
  async fn() {
    // It checked Deno.noColor only, and drew 256-colour codes in Emacs' shell (TERM=dumb).
    const escapes = async (vars: Record<string, string>) => {
      const command = `'${Deno.execPath()}' run -A main.ts show --count 2`;
      const run = await new Deno.Command("script", {
        args: ["-qc", command, "/dev/null"],
        cwd: PROJECT_ROOT,
        env: { XDG_RUNTIME_DIR: "/tmp", MNIST_DATA_DIR: MNIST, ...vars },
        clearEnv: false,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(run.stdout);
      equal(run.code, 0, out);
      return out.includes("\x1b[");
    };
    const plain = { NO_COLOR: "" };
    equal(await escapes({ ...plain, TERM: "xterm-256color" }), true);
    equal(await escapes({ ...plain, TERM: "dumb" }), false);
    equal(await escapes({ NO_COLOR: "1", TERM: "xterm-256color" }), false);
  },
});
