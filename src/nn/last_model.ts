/**
 * The model store: where trained checkpoints live (the model directory, and read-only the
 * `<data dir>/models` of older versions), which one is the default of eval, predict and serve,
 * how `--model` resolves, and what each checkpoint's header says.
 */
import { basename, resolve } from "node:path";
import { UserError } from "../errors.ts";
import { exists, fsReason, writeFileAtomic } from "../fs.ts";
import {
  defaultModelPath,
  defaultModelPointer,
  legacyModelDir,
  legacyModelPointer,
  resolveModelDir,
} from "../data/paths.ts";
import { parseSafetensorsHeader, safetensorsHeaderLength } from "./checkpoint.ts";
import { recognise } from "./import.ts";
import { MODELS } from "./model.ts";

/** Where to look for models; `modelDir` defaults to `resolveModelDir()` (the environment). */
export interface ModelDirOptions {
  /** The model directory (see `resolveModelDir`). */
  modelDir?: string;
}

/** The default checkpoint and where its pointer was found. */
export interface DefaultModel {
  /** The checkpoint's path, absolute as written. */
  path: string;
  /** True when it came from an older version's `<data dir>/models/last`. */
  legacy: boolean;
}

/** The path a pointer file names, or undefined when there is no pointer (or it is empty). */
async function readPointer(pointer: string): Promise<string | undefined> {
  try {
    const path = (await Deno.readTextFile(pointer)).trim();
    return path === "" ? undefined : path;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new UserError(`Cannot read the default model's pointer "${pointer}": ${fsReason(error)}`);
  }
}

/**
 * The default model: the one `<model dir>/default` names, else (a store that older versions
 * filled) the one `<data dir>/models/last` names; undefined when neither exists.
 */
export async function findDefaultModel(
  dataDir: string,
  { modelDir = resolveModelDir() }: ModelDirOptions = {},
): Promise<DefaultModel | undefined> {
  const path = await readPointer(defaultModelPointer(modelDir));
  if (path !== undefined) return { path, legacy: false };
  const old = await readPointer(legacyModelPointer(dataDir));
  return old === undefined ? undefined : { path: old, legacy: true };
}

/**
 * Makes `path` (resolved against the working directory) the default model of eval, predict and
 * serve, by writing `<model dir>/default` atomically. Never writes in the data directory.
 */
export async function setDefaultModel(modelDir: string, path: string): Promise<void> {
  await writeFileAtomic(defaultModelPointer(modelDir), resolve(path) + "\n", {
    what: "default model pointer",
  });
}

/** `modelPath`'s options. */
export interface ModelPathOptions extends ModelDirOptions {
  /** The option that named the model, for hints: "--model" (default), "--resume", "--filters". */
  option?: string;
  /**
   * The dataset a model's name (mlp, lenet) is looked up for (default mnist): `fashion` finds
   * what `mnist train --model NAME --dataset fashion` saved (see `trainedModelPath`).
   */
  dataset?: string;
}

/**
 * Where `mnist train --model NAME` saves a model trained on `dataset` (default mnist):
 * `<model dir>/<NAME>.safetensors` for the digits, `<model dir>/<dataset>-<NAME>.safetensors`
 * for another (`fashion-mlp.safetensors`), so that a Fashion-MNIST run never replaces a digit
 * model, nor the other way round.
 */
export function trainedModelPath(modelDir: string, model: string, dataset = "mnist"): string {
  return dataset === "mnist"
    ? defaultModelPath(modelDir, model)
    : `${modelDir}/${dataset}-${model}.safetensors`;
}

/**
 * The checkpoint `--model` (or `options.option`) names, with `flag` as typed:
 * - absent: the default model (`findDefaultModel`), or a `UserError` saying to choose one with
 *   `mnist models --default` when the store holds models, else to train one first;
 * - a file that exists here: that file;
 * - a model's name (mlp, lenet): where `mnist train --model NAME` saves it for
 *   `options.dataset` (`trainedModelPath`), in the model directory, else in an older version's
 *   `<data dir>/models`;
 * - a name without "/" of a file in either (`mlp.prev`, `mlp.prev.safetensors`): that file;
 * - otherwise a path, left for loading to report, but a bare word (no "/" or ".") is an unknown
 *   model.
 */
export async function modelPath(
  flag: string | undefined,
  dataDir: string,
  { modelDir = resolveModelDir(), option = "--model", dataset = "mnist" }: ModelPathOptions = {},
): Promise<string> {
  if (flag === undefined) {
    const found = await findDefaultModel(dataDir, { modelDir });
    if (found) return found.path;
    // Models but no default: a run that ended at chance, or a default set aside.
    const stored = (await listModels(dataDir, { modelDir })).models.filter((m) => !m.problem);
    if (stored.length > 0) {
      const count = stored.length === 1 ? "1 model" : `${stored.length} models`;
      throw new UserError(
        `No default model: ${count} saved (${stored[0]!.file}` +
          `${stored.length > 1 ? ", ..." : ""}) but none is the default`,
        {
          hint: `Choose one with "mnist models --default NAME" ("mnist models" lists them), ` +
            `or pass ${option} NAME.`,
        },
      );
    }
    throw new UserError(`No trained model found in "${modelDir}"`, {
      hint: `Run "mnist train" first, or pass ${option} FILE.`,
    });
  }
  if (await exists(flag)) return flag;
  const dirs = [modelDir, legacyModelDir(dataDir)];
  if (Object.hasOwn(MODELS, flag)) {
    for (const dir of dirs) {
      const path = trainedModelPath(dir, flag, dataset);
      if (await exists(path)) return path;
    }
    const on = dataset === "mnist" ? "" : ` --dataset ${dataset}`;
    throw new UserError(`No trained ${flag}${on ? ` for ${dataset}` : ""} in "${modelDir}"`, {
      hint: `Run "mnist train --model ${flag}${on}" first, or pass ${option} FILE.`,
    });
  }
  if (!flag.includes("/") && flag !== "" && flag !== "." && flag !== "..") {
    for (const dir of dirs) {
      for (const name of [flag, `${flag}.safetensors`]) {
        if (await exists(`${dir}/${name}`)) return `${dir}/${name}`;
      }
    }
  }
  // A path is a file whose loading names what is wrong; a bare word ("resnet") meant a model.
  if (/[/.]/.test(flag)) return flag;
  throw new UserError(`Unknown model "${flag}"`, {
    hint: `Choose one of: ${Object.keys(MODELS).join(", ")}.`,
  });
}

/** What a checkpoint's header says, read without its weights (see `readCheckpointInfo`). */
export interface CheckpointInfo {
  /** The file's path, as listed. */
  path: string;
  /** File size in bytes, from the file system. */
  size: number;
  /** Modification time, from the file system; absent where it does not report one. */
  modified?: Date;
  /** The model's name (mlp, lenet), from the network description. */
  kind?: string;
  /** Epochs completed: the recorded 0-based epoch + 1. */
  epochs?: number;
  /** The dataset it was trained on (mnist, fashion). */
  dataset?: string;
  /** Validation accuracy after its last epoch, 0..1, when it was measured. */
  accuracy?: number;
  /** How many test digits that accuracy was measured on (`training.testSamples`). */
  testSamples?: number;
  /**
   * What they were (`training.validation`): "test", or "holdout:N" when the run validated on
   * its last N training samples instead; absent in checkpoints from before it (test digits).
   */
  validation?: string;
  /** `--limit` of its run (`training.limit`), when it had one. */
  limit?: number;
  /**
   * How the model was recognised in a plain safetensors file (no mnist metadata): "names" or
   * "shapes", as `mnist eval` would load it; unset for mnist's own checkpoints.
   */
  plain?: "names" | "shapes";
  /** Why the header cannot be read, in a few words; the other fields are then unset. */
  problem?: string;
}

/** Reads exactly `n` bytes from `file`, or fewer at the end of the file. */
async function readFully(file: Deno.FsFile, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const got = await file.read(out.subarray(at));
    if (got === null) break;
    at += got;
  }
  return out.subarray(0, at);
}

/**
 * A header without mnist's metadata, as the loader would take it: the model its tensors' names
 * or shapes make it (see `recognise`), or why they make it none.
 */
function plainInfo(
  header: Record<string, unknown>,
): Pick<CheckpointInfo, "kind" | "plain" | "problem"> {
  const tensors = Object.entries(header).flatMap(([name, entry]) => {
    const shape = (entry as { shape?: unknown } | null)?.shape;
    return name !== "__metadata__" && Array.isArray(shape) ? [{ name, shape }] : [];
  });
  try {
    const { origin } = recognise(tensors);
    return { kind: origin.architecture, plain: origin.from === "shapes" ? "shapes" : "names" };
  } catch {
    return { problem: "a plain safetensors file whose tensors are not the MLP's or LeNet's" };
  }
}

/**
 * Reads the header of the safetensors checkpoint at `path` (8 bytes of length, then at most
 * 16 MiB of JSON) and nothing of its weights, so a directory of models lists fast. A file that
 * is not a checkpoint comes back with `problem` set ("not a safetensors file (bad header
 * length)", "it is a directory"...), not as an error. The weights are not checked: load it with
 * `loadCheckpoint` for that.
 */
export async function readCheckpointInfo(path: string): Promise<CheckpointInfo> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    return {
      path,
      size: 0,
      problem: error instanceof Deno.errors.NotFound ? "no such file" : fsReason(error),
    };
  }
  const base = { path, size: info.size, modified: info.mtime ?? undefined };
  if (info.isDirectory) return { ...base, problem: "it is a directory" };
  // A device or a FIFO would read without end.
  if (!info.isFile) return { ...base, problem: "it is not a regular file" };
  let header: Record<string, unknown> | string;
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const length = safetensorsHeaderLength(await readFully(file, 8), { fileBytes: info.size });
    if (typeof length === "string") return { ...base, problem: length };
    header = parseSafetensorsHeader(await readFully(file, length));
  } catch (error) {
    return { ...base, problem: fsReason(error) };
  } finally {
    file?.close();
  }
  if (typeof header === "string") return { ...base, problem: header };
  const found = header.__metadata__;
  const meta = found !== null && typeof found === "object" && !Array.isArray(found)
    ? found as Record<string, unknown>
    : {};
  if (meta.format !== "mnist" || typeof meta.model !== "string") {
    return { ...base, ...plainInfo(header) };
  }
  const json = (text: unknown): unknown => {
    try {
      return typeof text === "string" ? JSON.parse(text) : undefined;
    } catch {
      return undefined;
    }
  };
  const model = json(meta.model) as { name?: unknown } | undefined;
  const training = json(meta.training) as
    | { testSamples?: unknown; validation?: unknown; limit?: unknown }
    | undefined;
  const epoch = Number(meta.epoch);
  const accuracy = typeof meta.accuracy === "string" && meta.accuracy.trim() !== ""
    ? Number(meta.accuracy)
    : NaN;
  const testSamples = training?.testSamples;
  return {
    ...base,
    kind: typeof model?.name === "string" ? model.name : undefined,
    epochs: Number.isSafeInteger(epoch) && epoch >= -1 ? epoch + 1 : undefined,
    dataset: typeof meta.dataset === "string" ? meta.dataset : undefined,
    accuracy: accuracy >= 0 && accuracy <= 1 ? accuracy : undefined,
    testSamples: Number.isSafeInteger(testSamples) && (testSamples as number) > 0
      ? testSamples as number
      : undefined,
    validation: typeof training?.validation === "string" &&
        /^(test|holdout:\d+)$/.test(training.validation)
      ? training.validation
      : undefined,
    limit: Number.isSafeInteger(training?.limit) && (training!.limit as number) > 0
      ? training!.limit as number
      : undefined,
  };
}

/** A checkpoint of the store, as `mnist models` lists it. */
export interface StoredModel extends CheckpointInfo {
  /** The file's name in its directory. */
  file: string;
  /** Found in an older version's `<data dir>/models` (read-only). */
  legacy: boolean;
  /** Neither in the model directory nor a legacy one: only the default pointer names it. */
  elsewhere: boolean;
  /** The default model of eval, predict and serve. */
  isDefault: boolean;
}

/** The `*.safetensors` files of `dir`, by name; none when it does not exist. */
async function safetensorsIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.endsWith(".safetensors")) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return [];
    }
    throw new UserError(`Cannot list models in "${dir}": ${fsReason(error)}`);
  }
  return names.sort();
}

/**
 * Every checkpoint of the store: the model directory's `*.safetensors`, then an older version's
 * in `<data dir>/models` (not those the model directory has under the same name), then the
 * default model when it lives elsewhere. Each read by its header only (`readCheckpointInfo`).
 */
export async function listModels(
  dataDir: string,
  { modelDir = resolveModelDir() }: ModelDirOptions = {},
): Promise<{ models: StoredModel[]; defaultModel?: DefaultModel }> {
  const defaultModel = await findDefaultModel(dataDir, { modelDir });
  const defaultPath = defaultModel ? resolve(defaultModel.path) : undefined;
  const current = await safetensorsIn(modelDir);
  const legacyDir = legacyModelDir(dataDir);
  const legacy = resolve(legacyDir) === resolve(modelDir)
    ? []
    : (await safetensorsIn(legacyDir)).filter((name) => !current.includes(name));
  const found = [
    ...current.map((name) => ({ path: `${modelDir}/${name}`, legacy: false, elsewhere: false })),
    ...legacy.map((name) => ({ path: `${legacyDir}/${name}`, legacy: true, elsewhere: false })),
  ];
  if (defaultPath && !found.some((f) => resolve(f.path) === defaultPath)) {
    found.push({ path: defaultModel!.path, legacy: false, elsewhere: true });
  }
  const models = await Promise.all(found.map(async (f) => ({
    ...await readCheckpointInfo(f.path),
    file: basename(f.path),
    legacy: f.legacy,
    elsewhere: f.elsewhere,
    isDefault: resolve(f.path) === defaultPath,
  })));
  return { models, defaultModel };
}
