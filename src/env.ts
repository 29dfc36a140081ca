/**
 * The one reader of environment variables: {@link envVar}. Deno cannot give a variable whose
 * value is not valid UTF-8 (it throws `InvalidData`, naming the value but not the variable), so
 * a variable this program reads that a user set to such bytes becomes a one-line `UserError`
 * naming it; variables the program does not read are never looked at, so they cannot stop it.
 */
import { UserError } from "./errors.ts";

/** How Deno's `InvalidData` error for a non-UTF-8 variable begins (its value follows). */
const NOT_UNICODE = "environment variable was not valid unicode";

/** Whether `error` is Deno's refusal to read a variable that is not valid UTF-8. */
export function isNonUtf8EnvError(error: unknown): error is Deno.errors.InvalidData {
  return error instanceof Deno.errors.InvalidData && error.message.startsWith(NOT_UNICODE);
}

/**
 * `name`'s value, or `undefined` when it is not set (or in a runtime without `Deno`). A value
 * that is not valid UTF-8 is a `UserError`: `HOME is not valid UTF-8 ("/home/lat\xE9n"); set
 * it to a UTF-8 path`; what to set it to is `what` (default "a UTF-8 path"). Any other error
 * (no --allow-env) is thrown as it is.
 */
export function envVar(name: string, what = "a UTF-8 path"): string | undefined {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (!deno) return undefined;
  try {
    return deno.env.get(name);
  } catch (error) {
    if (!isNonUtf8EnvError(error)) throw error;
    // Deno's message quotes the value with its bad bytes escaped: "/tmp/lat\xE9n".
    const value = /: (".*")$/s.exec((error as Error).message)?.[1];
    throw new UserError(
      `${name} is not valid UTF-8${value ? ` (${value})` : ""}, which Deno cannot read; ` +
        `set it to ${what}`,
      { cause: error },
    );
  }
}
