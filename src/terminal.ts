/**
 * What a terminal is asked to do, by the conventions users set in the environment: no colour
 * when `NO_COLOR` is set and not empty (https://no-color.org), and neither colour nor cursor
 * movement on `TERM=dumb` (Emacs' shell buffers, some CI logs). One rule for everything that
 * draws: `show`'s images and the progress bars (src/progress.ts).
 */

/** Where `NO_COLOR` and `TERM` are read: the process's environment, or a stand-in in tests. */
export interface TerminalEnv {
  /** The variable's value, or `undefined` when it is not set. */
  get(name: string): string | undefined;
}

/**
 * `Deno.env`, where a program not allowed to read it sees every variable unset, and a value that
 * is not UTF-8 (which Deno cannot read) reads as "\uFFFD": set, not empty and not "dumb".
 * These variables only change how output looks, so they never stop the program.
 */
export const processTerminalEnv: TerminalEnv = {
  get(name: string): string | undefined {
    try {
      return Deno.env.get(name);
    } catch (error) {
      return error instanceof Deno.errors.InvalidData ? "\uFFFD" : undefined;
    }
  },
};

/** Whether `TERM` is `dumb`: a terminal that can neither move its cursor nor show colour. */
export function isDumbTerminal(env: TerminalEnv = processTerminalEnv): boolean {
  return env.get("TERM") === "dumb";
}

/**
 * Whether output to a terminal may use colour: not when `NO_COLOR` is set and not empty, nor on
 * `TERM=dumb`. Whether the output is a terminal at all is the caller's to check.
 */
export function colorEnabled(env: TerminalEnv = processTerminalEnv): boolean {
  const noColor = env.get("NO_COLOR");
  return (noColor === undefined || noColor === "") && !isDumbTerminal(env);
}
