/**
 * Errors a user can act on. `main.ts` prints them as one line (plus an optional hint) and exits
 * with `exitCode`; any other error is a bug and is printed with its stack.
 */
export class UserError extends Error {
  /**
   * Process exit status: 1 for bad input and failures, 2 for a missing GPU adapter, 128 + the
   * signal's number for an interrupted download (130 for SIGINT), as shells report it.
   */
  readonly exitCode: number;
  /** A line saying what to do next, printed after the message. */
  readonly hint?: string;

  /**
   * `message`: the one line printed after "error: ", std-style (`Cannot read IDX file "x.gz":
   * ...`). `options.hint` is printed after "hint: "; `exitCode` defaults to 1; `cause` is kept
   * for debugging and never printed.
   */
  constructor(
    message: string,
    options: { hint?: string; exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "UserError";
    this.exitCode = options.exitCode ?? 1;
    this.hint = options.hint;
  }
}

/** The message of any thrown value, for wrapping into a `UserError`. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * `text` made safe to print as one line on a terminal: control characters (C0 but for none,
 * DEL, C1) and the bidirectional overrides (U+202A-U+202E, U+2066-U+2069, which reorder what
 * follows them on screen) are written as escapes (`\n`, `\t`, `\x1b`, `\u202e`), so that a file
 * name or a file's contents quoted in a message can neither break the line nor send the
 * terminal a command (a title, a cleared screen). Everything else is left as it is.
 */
export function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    const code = c.charCodeAt(0);
    return named[c] ??
      (code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`);
  });
}
