/**
 * Where data and models live. Data: `--data-dir`, else `$MNIST_DATA_DIR`, else the user cache
 * dir. Models: `$MNIST_MODEL_DIR`, else the XDG data home, apart from the data, which may be a
 * read-only shared copy.
 */
import { UserError } from "../errors.ts";
import { envVar } from "../env.ts";
import { basename, dirname } from "node:path";

/** Reads one environment variable; tests pass their own. */
export type GetEnv = (name: string) => string | undefined;

/** The process's environment: a variable set to bytes that are not UTF-8 is a `UserError`. */
const processEnv: GetEnv = (name) => envVar(name);

/**
 * Resolves the data directory from the flag, the environment and the XDG cache convention.
 * `getEnv` reads the environment (default: `Deno.env.get`), so tests can pass their own.
 */
export function resolveDataDir(flag?: string, getEnv: GetEnv = processEnv): string {
  if (flag !== undefined && flag !== "") return flag;
  const env = getEnv("MNIST_DATA_DIR");
  if (env) return env;
  const xdg = getEnv("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/mnist`;
  const home = getEnv("HOME") ?? getEnv("USERPROFILE");
  if (!home) {
    throw new UserError("Cannot find a data directory: HOME is not set", {
      hint: "Pass --data-dir DIR or set MNIST_DATA_DIR.",
    });
  }
  return `${home}/.cache/mnist`;
}

/**
 * The directory trained models are saved in and found: `$MNIST_MODEL_DIR`, else
 * `$XDG_DATA_HOME/mnist/models`, else `~/.local/share/mnist/models` (the XDG Base Directory
 * specification's data home; a relative `XDG_DATA_HOME` is ignored, as the specification says).
 * Empty variables count as unset. `getEnv` reads the environment (default: `Deno.env.get`).
 * Throws a `UserError` when none of them and no `HOME` is set.
 */
export function resolveModelDir(getEnv: GetEnv = processEnv): string {
  const env = getEnv("MNIST_MODEL_DIR");
  if (env) return env;
  const xdg = getEnv("XDG_DATA_HOME");
  if (xdg?.startsWith("/")) return `${xdg}/mnist/models`;
  const home = getEnv("HOME") ?? getEnv("USERPROFILE");
  if (!home) {
    throw new UserError("Cannot find a model directory: HOME is not set", {
      hint: "Set MNIST_MODEL_DIR to the directory models should be saved in.",
    });
  }
  return `${home}/.local/share/mnist/models`;
}

/**
 * Where the model directory {@link resolveModelDir} gives came from, for messages: the variable
 * that named it (`MNIST_MODEL_DIR`, `XDG_DATA_HOME`), else `HOME` (`USERPROFILE` on Windows).
 */
export function modelDirSource(getEnv: GetEnv = processEnv): string {
  if (getEnv("MNIST_MODEL_DIR")) return "MNIST_MODEL_DIR";
  if (getEnv("XDG_DATA_HOME")?.startsWith("/")) return "XDG_DATA_HOME";
  return getEnv("HOME") !== undefined ? "HOME" : "USERPROFILE";
}

/**
 * Throws a one-line `UserError` when the model directory `dir` ({@link resolveModelDir}), or the
 * first of its ancestors that exists, is not a directory: `MNIST_MODEL_DIR "/tmp/x" is a file,
 * not a directory`, rather than a list with no models in it. A missing one is fine (training
 * creates it).
 */
export async function checkModelDir(dir: string, getEnv: GetEnv = processEnv): Promise<void> {
  // As src/fs.ts's fileInTheWay, which imports this module.
  let blocker: string | undefined;
  for (let up = dir;; up = dirname(up)) {
    const found = await Deno.stat(up).catch(() => undefined);
    if (found) {
      if (!found.isDirectory) blocker = up;
      break;
    }
    if (dirname(up) === up) break;
  }
  if (blocker === undefined) return;
  const source = modelDirSource(getEnv);
  const named = source === "MNIST_MODEL_DIR"
    ? `MNIST_MODEL_DIR "${dir}"`
    : `The model directory "${dir}" (from ${source})`;
  throw new UserError(
    blocker === dir
      ? `${named} is a file, not a directory`
      : `${named} cannot be a directory: "${blocker}" is a file`,
    { hint: "Set MNIST_MODEL_DIR to a directory (it is created when missing)." },
  );
}

/** Where `mnist train --model NAME` saves a model by default: `<model dir>/<NAME>.safetensors`. */
export function defaultModelPath(modelDir: string, model: string): string {
  return `${modelDir}/${model}.safetensors`;
}

/**
 * The file naming the default checkpoint of eval, predict and serve: `<model dir>/default`,
 * holding one path and a newline: absolute as mnist writes it (a relative one, written by hand,
 * is taken from the model directory); at most 4096 bytes, one line, no control characters.
 */
export function defaultModelPointer(modelDir: string): string {
  return `${modelDir}/default`;
}

/**
 * Where versions before the model directory saved models: `<data dir>/models`, holding
 * `<model>.safetensors` and `last` (a pointer like `default`). Only read, never written.
 */
export function legacyModelDir(dataDir: string): string {
  return `${dataDir}/models`;
}

/** The pointer older versions wrote: `<data dir>/models/last`. */
export function legacyModelPointer(dataDir: string): string {
  return `${legacyModelDir(dataDir)}/last`;
}

/** Where a run keeps the better model it replaced: `<dir>/<name>.prev.safetensors`. */
export function previousModelPath(path: string): string {
  return path.endsWith(".safetensors")
    ? `${path.slice(0, -".safetensors".length)}.prev.safetensors`
    : `${path}.prev`;
}

/** The longest file name Linux file systems take (NAME_MAX), in bytes. */
export const NAME_MAX = 255;

/**
 * The length in bytes (UTF-8, as file systems count) of the longest name the backups of a
 * checkpoint at `path` take: `previousModelPath`'s, or the `<name>.prev-N.safetensors` that an
 * earlier backup is moved aside to (counted up to N = 99). Over `NAME_MAX`, the checkpoint's name
 * is too long for a run to keep the model it replaces.
 */
export function backupNameBytes(path: string): number {
  const stem = basename(previousModelPath(path)).replace(/\.safetensors$/, "");
  return new TextEncoder().encode(`${stem}-99.safetensors`).length;
}
