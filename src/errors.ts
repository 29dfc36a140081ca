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
