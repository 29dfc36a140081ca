/** Where data and models live: `--data-dir`, else `$MNIST_DATA_DIR`, else the user cache dir. */
import { UserError } from "../errors.ts";

/**
 * Resolves the data directory from the flag, the environment and the XDG cache convention.
 * `getEnv` reads the environment (default: `Deno.env.get`), so tests can pass their own.
 */
export function resolveDataDir(
  flag?: string,
  getEnv: (name: string) => string | undefined = (name) => Deno.env.get(name),
): string {
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

/** Where `mnist train` saves a model by default: `<data dir>/models/<model>.safetensors`. */
export function defaultModelPath(dataDir: string, model: string): string {
  return `${dataDir}/models/${model}.safetensors`;
}

/** The file naming the checkpoint `mnist train` saved last: `<data dir>/models/last`. */
export function lastModelPointer(dataDir: string): string {
  return `${dataDir}/models/last`;
}
