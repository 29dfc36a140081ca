/**
 * Argument parsing shared by the commands: `node:util` parseArgs in strict mode, with its errors
 * turned into one-line `UserError`s that point at `--help`, and typed number options.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UserError } from "../errors.ts";

/**
 * A command's option declarations, as `node:util` parseArgs takes them: name →
 * `{ type: "string" | "boolean", short?, multiple?, default? }`.
 */
export type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * What `parseCommandArgs` returns: parseArgs's `{ values, positionals }`, `values` typed from the
 * command's options `T`, `--help` and the common options `C` it takes (strings and booleans;
 * arrays for `multiple`).
 */
export type CommandArgs<T extends Options, C extends CommonOption = CommonOption> = ReturnType<
  typeof parseArgs<{
    args: string[];
    options: Pick<typeof COMMON_OPTIONS, "help" | C> & T;
    allowPositionals: boolean;
    strict: true;
  }>
>;

/**
 * The options shared by commands: `--help` (every command), `--device` (those that run on the
 * GPU) and `--data-dir` (those that read MNIST's files or the model store).
 */
export const COMMON_OPTIONS = {
  help: { type: "boolean", short: "h" },
  device: { type: "string" },
  "data-dir": { type: "string" },
} as const satisfies Options;

/** A common option that a command takes only when it uses it: `--device`, `--data-dir`. */
export type CommonOption = "device" | "data-dir";

/** Both common options, which most commands take. */
export const ALL_COMMON: readonly CommonOption[] = ["device", "data-dir"];

/** What `parseCommandArgs` parses for: a command's options, and whether it takes operands. */
export interface ParseCommandOptions<T extends Options, C extends CommonOption = CommonOption> {
  /** The command's own options; `--help` and the common options `common` are added to them. */
  options: T;
  /** Whether operands (file names...) are allowed; default false. */
  positionals?: boolean;
  /**
   * Which of `--device` and `--data-dir` the command takes (default both). One it does not use
   * is refused as an unknown option, not taken and ignored.
   */
  common?: readonly C[];
}

/**
 * Parses `args` for `command` (its name, for messages) in strict mode, with `--help` and the
 * common options it takes (`options.common`) added. An option value that starts with "-" and a digit (`--epochs -1`) is taken as the value.
 * Unknown options, missing values and positionals without `positionals: true` become
 * `UserError`s, with a "did you mean" hint for a mistyped option.
 */
export function parseCommandArgs<T extends Options, C extends CommonOption = CommonOption>(
  command: string,
  args: string[],
  { options, positionals = false, common = ALL_COMMON as readonly C[] }: ParseCommandOptions<
    T,
    C
  >,
): CommandArgs<T, C> {
  const accepted: Options = { help: COMMON_OPTIONS.help, ...options };
  for (const name of common) accepted[name] = COMMON_OPTIONS[name];
  // parseArgs would read "--epochs -1" as two options; "-1" is meant as the value.
  const valued = new Set(
    Object.entries(accepted).flatMap(([name, o]) => o.type === "string" ? [`--${name}`] : []),
  );
  const merged: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (valued.has(args[i]!) && next !== undefined && /^-[\d.]/.test(next)) {
      merged.push(`${args[i]}=${next}`);
      i++;
    } else {
      merged.push(args[i]!);
    }
  }
  let parsed: CommandArgs<T, C>;
  try {
    parsed = parseArgs({
      args: merged,
      options: accepted,
      allowPositionals: positionals,
      strict: true,
    }) as CommandArgs<T, C>;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // node:util messages span lines and mention "parseArgs"; keep the first, user-facing part.
    const first = message.split("\n")[0]!.replace(/\. To specify a positional.*$/, "");
    // A mistyped option gets the suggestion a mistyped command gets: --epoch → --epochs.
    const unknown = /^Unknown option '--([^']+)'/.exec(first)?.[1];
    const guess = unknown === undefined ? undefined : suggest(unknown, Object.keys(accepted));
    throw new UserError(`mnist ${command}: ${first}`, {
      hint: guess ? `Did you mean --${guess}?` : `Run "mnist ${command} --help" for usage.`,
    });
  }
  checkUtf8(command, parsed);
  return parsed;
}

/** Options whose value is text, not a file name: `plot --title`. */
const TEXT_OPTIONS: ReadonlySet<string> = new Set(["title"]);

/**
 * Throws a one-line `UserError` for an operand or option value (file names, but for the
 * {@link TEXT_OPTIONS}) that holds U+FFFD, the replacement character: Deno hands a program its
 * arguments as UTF-8 text, with each byte that is not UTF-8 replaced by U+FFFD, so such a path
 * names another file than the one typed (a new directory `lat\uFFFDn`, not `lat\xE9n`).
 */
function checkUtf8(command: string, { values, positionals }: {
  values: Record<string, unknown>;
  positionals: string[];
}): void {
  const given: [string, string][] = positionals.map((p) => ["", p]);
  for (const [name, value] of Object.entries(values)) {
    if (TEXT_OPTIONS.has(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (typeof v === "string") given.push([`--${name} `, v]);
    }
  }
  const bad = given.find(([, v]) => v.includes("\uFFFD"));
  if (!bad) return;
  throw new UserError(
    `mnist ${command}: ${bad[0]}"${bad[1]}" is not valid UTF-8 (\uFFFD marks the bytes that are ` +
      `not): Deno can only use UTF-8 paths`,
    { hint: "Rename the file or directory to a UTF-8 name, or give another path." },
  );
}

/**
 * Whether `text` is an integer written in decimal digits, with an optional leading minus: "12",
 * "-1", not "0x10", "1e3", "5.0", "+5" or " 5" (which `Number` would all take).
 */
export function isDecimalInteger(text: string): boolean {
  return /^-?\d+$/.test(text);
}

/**
 * Whether `text` is a number written in decimal: "0.1", "-2", ".5", "1e-8", not "0x10",
 * "Infinity" or " 5" (which `Number` would all take).
 */
export function isDecimalNumber(text: string): boolean {
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text);
}

/**
 * Parses `--name`'s `value` as an integer in `min..max` (inclusive; unbounded by default),
 * written in decimal digits (see `isDecimalInteger`); `undefined` (the option not given) gives
 * `fallback`. Anything else is a `UserError` quoting it.
 */
export function intOption(
  name: string,
  value: string | undefined,
  { fallback, min = -Infinity, max = Infinity }: { fallback: number; min?: number; max?: number },
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!isDecimalInteger(value)) {
    // "0x10", "1e3", "5.0", " 5": an integer to `Number`, but not as people write one here.
    const hint = value.trim() !== "" && Number.isSafeInteger(n)
      ? { hint: `Write it in decimal digits: --${name} ${n}.` }
      : {};
    throw new UserError(`--${name} must be an integer, got "${value}"`, hint);
  }
  if (n < min || n > max) {
    const range = max === Infinity ? `>= ${min}` : `between ${min} and ${max}`;
    throw new UserError(`--${name} must be ${range}, got ${value}`);
  }
  if (!Number.isSafeInteger(n)) throw new UserError(`--${name} is too large, got ${value}`);
  return n;
}

/**
 * Parses `--name`'s `value` as a finite number written in decimal (see `isDecimalNumber`) of at
 * least `min` (more than `min` with `exclusiveMin`); `undefined` gives `fallback`. Anything else
 * is a `UserError` quoting it.
 */
export function floatOption(
  name: string,
  value: string | undefined,
  { fallback, min = -Infinity, exclusiveMin = false }: {
    fallback: number;
    min?: number;
    exclusiveMin?: boolean;
  },
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!isDecimalNumber(value) || !Number.isFinite(n)) {
    throw new UserError(`--${name} must be a number, got "${value}"`);
  }
  if (exclusiveMin ? n <= min : n < min) {
    throw new UserError(`--${name} must be ${exclusiveMin ? ">" : ">="} ${min}, got ${value}`);
  }
  return n;
}

/**
 * Checks that `--name`'s `value` is one of `choices`; `undefined` gives `fallback`. Anything else
 * is a `UserError` listing the choices.
 */
export function choiceOption<C extends string>(
  name: string,
  value: string | undefined,
  { choices, fallback }: { choices: readonly C[]; fallback: C },
): C {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UserError(`--${name} must be one of ${choices.join(", ")}, got "${value}"`);
  }
  return value as C;
}

/**
 * Edit distance counting insertions, deletions, substitutions and swaps of two adjacent letters
 * (optimal string alignment), for "did you mean" suggestions: "trian" is one edit from "train".
 */
export function editDistance(a: string, b: string): number {
  const d = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest of `candidates` to `word`, if it is close enough to be a likely typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 2 ? 0 : editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}
