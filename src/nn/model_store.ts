/**
 * The model store: where trained checkpoints live (the model directory, and read-only the
 * `<data dir>/models` of older versions), which one is the default of eval, predict and serve,
 * how `--model` resolves, and what each checkpoint's header says.
 */
import { basename, dirname, resolve } from "node:path";
import { messageOf, printable, UserError } from "../errors.ts";
import { exists, fsReason, readFully, writeFileAtomic } from "../fs.ts";
import {
  defaultModelPath,
  defaultModelPointer,
  legacyModelDir,
  legacyModelPointer,
  resolveModelDir,
} from "../data/paths.ts";
import {
  checkClasses,
  type Checkpoint,
  decodeCheckpoint,
  MAX_HEADER,
  safetensorsHeaderLength,
} from "./checkpoint.ts";
import { MODEL_LIMITS, MODELS } from "./model.ts";
import type { DatasetName } from "../data/mirrors.ts";
import { type DatasetPart, trainedOn } from "../train/trained_on.ts";

/** Where to look for models; `modelDir` defaults to `resolveModelDir()` (the environment). */
export interface ModelDirOptions {
  /** The model directory (see `resolveModelDir`). */
  modelDir?: string;
}

/** The default checkpoint and where its pointer was found. */
export interface DefaultModel {
  /** The checkpoint's path: absolute (a relative one taken from the pointer's directory). */
  path: string;
  /** True when it came from an older version's `<data dir>/models/last`. */
  legacy: boolean;
  /** The pointer file that named it: `<model dir>/default`, or the legacy `last`. */
  pointer: string;
}

/** The most a pointer may hold: one path (Linux's PATH_MAX) and its newline. */
const MAX_POINTER_BYTES = 4096;

/** What sets the default model again, for every message about a pointer that names none. */
const POINTER_FIX = 'Set it again with "mnist models --default NAME" ("mnist models" lists them).';

/**
 * The checkpoint a pointer file names, or undefined when there is no pointer (or it is empty).
 * The pointer is one line: a path, absolute as `setDefaultModel` writes it; a relative one (a
 * pointer written by hand, or a file name that `setDefaultModel` writes where the absolute path
 * would not be one line) is taken relative to the pointer's own directory, the model
 * directory, not to wherever the command runs. Read only when it is a regular file of at most
 * {@link MAX_POINTER_BYTES} (a FIFO would block the read, a device never end it); anything else
 * (a directory, text of several lines, control characters, bytes that are not UTF-8) is a
 * one-line `UserError` naming the pointer, its contents escaped, with the way to set it again.
 */
async function readPointer(pointer: string): Promise<string | undefined> {
  const refuse = (why: string, fix = POINTER_FIX) =>
    new UserError(`Cannot read the default model's pointer "${printable(pointer)}": ${why}`, {
      hint: fix,
    });
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(pointer);
    const removeFirst = `Remove it, then set the default with "mnist models --default NAME".`;
    if (info.isDirectory) throw refuse("it is a directory, not a file", removeFirst);
    if (!info.isFile) throw refuse("it is not a regular file (a pipe or a device?)", removeFirst);
    if (info.size > MAX_POINTER_BYTES) {
      throw refuse(`it is ${info.size} bytes, more than one path (${MAX_POINTER_BYTES} at most)`);
    }
    bytes = await Deno.readFile(pointer);
  } catch (error) {
    if (error instanceof UserError) throw error;
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw refuse(fsReason(error));
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, MAX_POINTER_BYTES));
  } catch {
    throw refuse("it is not text (bytes that are not UTF-8)");
  }
  // One line, its newline optional; blank means no default, as an emptied pointer always has.
  const line = text.replace(/\r?\n$/, "");
  if (line.trim() === "") return undefined;
  if (/[\r\n]/.test(line)) {
    throw refuse(`it holds more than one line ("${printable(line)}"), not one path`);
  }
  if (printable(line) !== line) {
    throw refuse(`its path "${printable(line)}" holds control characters`);
  }
  return resolve(dirname(pointer), line.trim());
}

/**
 * The default model: the one `<model dir>/default` names, else (a store that older versions
 * filled) the one `<data dir>/models/last` names; undefined when neither exists. A pointer
 * that is not one line naming a path (a FIFO, a directory, several lines, binary) is a
 * one-line `UserError` naming it and saying how to set it again.
 */
export async function findDefaultModel(
  dataDir: string,
  { modelDir = resolveModelDir() }: ModelDirOptions = {},
): Promise<DefaultModel | undefined> {
  const pointer = defaultModelPointer(modelDir);
  const path = await readPointer(pointer);
  if (path !== undefined) return { path, legacy: false, pointer };
  const legacy = legacyModelPointer(dataDir);
  const old = await readPointer(legacy);
  return old === undefined ? undefined : { path: old, legacy: true, pointer: legacy };
}

/**
 * Whether `text` reads back from a pointer as it is (see `readPointer`): no control characters,
 * nor spaces at its ends.
 */
function pointerLine(text: string): boolean {
  return text !== "" && printable(text) === text && text.trim() === text;
}

/** Whether directory `a` is directory `b`, by the path or, through links, by the real path. */
async function sameDir(a: string, b: string): Promise<boolean> {
  if (resolve(a) === resolve(b)) return true;
  const real = (p: string) => Deno.realPath(p).catch(() => resolve(p));
  return await real(a) === await real(b);
}

/**
 * The line the default model's pointer holds for the checkpoint `path`: its absolute path, or,
 * where that cannot be read back as one line (a model directory whose path holds a line break,
 * another control character, or spaces at its end), its file name, which `readPointer` takes
 * relative to the model directory. A checkpoint elsewhere whose path cannot be written so is a
 * `UserError`.
 */
async function pointerTo(modelDir: string, path: string): Promise<string> {
  const absolute = resolve(path);
  if (pointerLine(absolute)) return absolute;
  const name = basename(absolute);
  if (pointerLine(name) && await sameDir(dirname(absolute), modelDir)) return name;
  throw new UserError(
    `Cannot make "${printable(absolute)}" the default model: the pointer ` +
      `"${printable(defaultModelPointer(modelDir))}" holds one line, and this path holds ` +
      (printable(absolute) === absolute ? "spaces at its end" : "control characters"),
    {
      hint: "Move or copy the checkpoint to a path without them (or into the model directory), " +
        'then run "mnist models --default PATH".',
    },
  );
}

/**
 * Whether the default model's pointer can name the checkpoint `path` (see `pointerTo`): not when
 * its path, outside the model directory, holds a line break, another control character or
 * spaces at its end.
 */
export async function canBeDefault(modelDir: string, path: string): Promise<boolean> {
  try {
    await pointerTo(modelDir, path);
    return true;
  } catch (error) {
    if (error instanceof UserError) return false;
    throw error;
  }
}

/**
 * Makes `path` (resolved against the working directory) the default model of eval, predict and
 * serve, by writing `<model dir>/default` atomically: the absolute path, or the file name in the
 * model directory when the path could not be read back (see `pointerTo`). Never writes in the
 * data directory.
 */
export async function setDefaultModel(modelDir: string, path: string): Promise<void> {
  const line = await pointerTo(modelDir, path);
  const pointer = defaultModelPointer(modelDir);
  // A FIFO or a device there, or a link to one, would be written through (as `--save
  // /dev/stdout` is), and a FIFO would wait for a reader forever: a pointer is only ever a
  // file, so such a one is removed (the link, not what it names) and written anew.
  const info = await Deno.stat(pointer).catch(() => undefined);
  if (info !== undefined && !info.isFile && !info.isDirectory) {
    await Deno.remove(pointer).catch(() => {});
  }
  await writeFileAtomic(pointer, line + "\n", {
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
 *   one with a "." that names no file is a `UserError` whose hint names the models saved;
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
    if (found) {
      // Not left for loading to report: its "no such file" would say to train one first.
      if (await exists(found.path)) return found.path;
      throw new UserError(
        `The default model "${printable(found.path)}" does not exist ` +
          `(named by "${printable(found.pointer)}")`,
        { hint: `${POINTER_FIX.replace(/\.$/, "")}, or pass ${option} FILE.` },
      );
    }
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
    // A name ("mlp.prev") found nowhere: loading's "train one first, or pass --model FILE"
    // would not say that other models are there, nor what they are called.
    if (flag.includes(".")) {
      throw new UserError(
        `Cannot load model "${printable(flag)}": no such file here, nor in "${
          printable(modelDir)
        }"`,
        {
          hint: await storedNamesHint(flag, { dirs, modelDir, option }),
        },
      );
    }
  }
  // A path is a file whose loading names what is wrong; a bare word ("resnet") meant a model.
  if (/[/.]/.test(flag)) return flag;
  throw new UserError(`Unknown model "${flag}"`, {
    hint: `Choose one of: ${Object.keys(MODELS).join(", ")}.`,
  });
}

/** The most names `storedNamesHint` lists; more are counted. */
const MAX_HINTED_NAMES = 6;

/**
 * The hint for a model name that names no file: the names `mnist models` lists that do exist
 * (those sharing the name's first part first: "mlp.prev-1" for "mlp.prev"), at most
 * {@link MAX_HINTED_NAMES}, or, with none, to train one first.
 */
async function storedNamesHint(
  flag: string,
  { dirs, modelDir, option }: { dirs: string[]; modelDir: string; option: string },
): Promise<string> {
  const names = [
    ...new Set(
      (await Promise.all(dirs.map((dir) => safetensorsIn(dir).catch(() => [])))).flat()
        .map((file) => file.replace(/\.safetensors$/, "")),
    ),
  ];
  if (names.length === 0) {
    return `No model is saved in "${modelDir}" yet: train one with "mnist train", ` +
      `or pass ${option} FILE.`;
  }
  const stem = flag.split(".")[0]!;
  const near = (name: string) => name.split(".")[0] === stem ? 0 : 1;
  const sorted = names.sort((a, b) => near(a) - near(b) || a.localeCompare(b));
  const shown = sorted.slice(0, MAX_HINTED_NAMES).map(printable).join(", ");
  const more = sorted.length > MAX_HINTED_NAMES
    ? ` and ${sorted.length - MAX_HINTED_NAMES} more`
    : "";
  return `Saved models: ${shown}${more} ("mnist models" lists them, with their accuracy).`;
}

/** What a checkpoint says of itself, and whether it loads (see `readCheckpointInfo`). */
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
   * What each part of its training was on (`trainedOn`), only when it changed dataset (two
   * parts or more): `mnist train --resume mlp --dataset fashion` on an MNIST model.
   */
  datasets?: DatasetPart[];
  /**
   * How the model was recognised in a plain safetensors file (no mnist metadata): "names" or
   * "shapes", as `mnist eval` would load it; unset for mnist's own checkpoints.
   */
  plain?: "names" | "shapes";
  /** Why the file cannot be loaded, in a few words; the other fields are then unset. */
  problem?: string;
}

/** The largest file `loadCheckpoint` reads: the header and three float32 copies of the limit. */
const MAX_CHECKPOINT_BYTES = 8 + MAX_HEADER + 3 * 4 * MODEL_LIMITS.params;

/** `error`'s message without the `Cannot ... "path": ` a loader's message begins with. */
function reasonOf(error: unknown, path: string): string {
  const message = messageOf(error);
  const prefix = /^Cannot [^"]*"/.exec(message)?.[0];
  return prefix !== undefined && message.startsWith(`${prefix}${path}": `)
    ? message.slice(prefix.length + path.length + 3)
    : message;
}

/**
 * What eval, predict and serve would say of the checkpoint whose bytes are `bytes` (the whole
 * file): loaded by `decodeCheckpoint`, the same code as loading, weights and all (a NaN or an
 * infinity among them is a problem, as loading finds it), then its input and classes as they
 * check them.
 */
function checkedInfo(
  bytes: Uint8Array,
  path: string,
): Omit<CheckpointInfo, "path" | "size" | "modified"> {
  let checkpoint: Checkpoint;
  try {
    checkpoint = decodeCheckpoint(bytes, path);
    const input = checkpoint.meta.model.input.join("×");
    if (input !== "1×28×28") return { problem: `it takes ${input} inputs, not 1×28×28 images` };
    const dataset = checkpoint.meta.dataset as DatasetName;
    checkClasses(checkpoint, path, { dataset });
  } catch (error) {
    return { problem: reasonOf(error, path) };
  }
  const { meta, origin } = checkpoint;
  if (origin?.from !== "metadata") {
    return { kind: meta.model.name, plain: origin?.from === "shapes" ? "shapes" : "names" };
  }
  const { testSamples, validation, limit } = meta.training ?? {};
  const parts = trainedOn(meta);
  return {
    kind: meta.model.name,
    epochs: meta.epoch + 1,
    dataset: meta.dataset,
    accuracy: meta.accuracy,
    testSamples: Number.isSafeInteger(testSamples) && (testSamples as number) > 0
      ? testSamples as number
      : undefined,
    validation: typeof validation === "string" && /^(test|holdout:\d+)$/.test(validation)
      ? validation
      : undefined,
    limit: Number.isSafeInteger(limit) && (limit as number) > 0 ? limit as number : undefined,
    ...(parts.length > 1 ? { datasets: parts } : {}),
  };
}

/**
 * Reads the safetensors checkpoint at `path` and says what it is: first its header (8 bytes of
 * length, then at most 16 MiB of JSON), so that a file that is no checkpoint is told without
 * reading it all, then the whole file, checked as loading checks it. A file that eval, predict
 * and serve would refuse comes back with `problem` set, in the loader's words ("not a
 * safetensors file (bad header length)", "it is a directory", "tensor \"fc1_weight\" is I32,
 * not F32, F64, F16, BF16", "tensor \"fc1_bias\" holds NaN at index 3"...), not as an error (see
 * `checkedInfo`). A file over `READ_WHOLE_BYTES` is read whole only once its header has passed:
 * its size is then the model's own (a header names no tensor the model lacks, and no byte belongs
 * to no tensor).
 * `problem` may quote the file's bytes: print it through `printable`.
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
  if (info.size > MAX_CHECKPOINT_BYTES) {
    return {
      ...base,
      problem: `it is ${info.size} bytes, more than a model may be (${MAX_CHECKPOINT_BYTES})`,
    };
  }
  let bytes: Uint8Array;
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(path, { read: true });
    const prefix = await readFully(file, 8);
    const length = safetensorsHeaderLength(prefix, { fileBytes: info.size });
    if (typeof length === "string") return { ...base, problem: length };
    const header = new Uint8Array(8 + length);
    header.set(prefix);
    header.set(await readFully(file, length), 8);
    const padded = new Uint8Array(info.size);
    padded.set(header);
    // A large file's header is checked against a file of its size, zeros for weights (its layout
    // and shapes) before its weights are read; a small one is read whole at once (one decode).
    if (info.size > READ_WHOLE_BYTES) {
      const headerProblem = checkedInfo(padded, path).problem;
      if (headerProblem !== undefined) return { ...base, problem: headerProblem };
    }
    const weights = await readFully(file, info.size - header.length);
    if (weights.length < info.size - header.length) {
      return { ...base, problem: "it was cut short while being read (is it being written?)" };
    }
    bytes = padded;
    bytes.set(weights, header.length);
  } catch (error) {
    return { ...base, problem: fsReason(error) };
  } finally {
    file?.close();
  }
  return { ...base, ...checkedInfo(bytes, path) };
}

/**
 * Checkpoints up to this size are read whole before their header is checked (the built-in
 * models' are 0.4 and 1.7 MB); larger ones only once the header has passed.
 */
const READ_WHOLE_BYTES = 64 * 1024 * 1024;

/** How many checkpoints `listModels` reads at once. */
const LIST_READERS = 4;

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
 * default model when it lives elsewhere. Each read and checked as loading checks it
 * (`readCheckpointInfo`).
 * A default model's pointer that cannot be read (see `findDefaultModel`) is no error here: it
 * comes back as `pointerProblem`, and no model is the default.
 */
export async function listModels(
  dataDir: string,
  { modelDir = resolveModelDir() }: ModelDirOptions = {},
): Promise<{ models: StoredModel[]; defaultModel?: DefaultModel; pointerProblem?: UserError }> {
  // A pointer that names nothing usable is no reason not to list the models to choose from.
  let defaultModel: DefaultModel | undefined;
  let pointerProblem: UserError | undefined;
  try {
    defaultModel = await findDefaultModel(dataDir, { modelDir });
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    pointerProblem = error;
  }
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
  // Read a few at a time: each file is read whole, and a directory may hold hundreds.
  const models: StoredModel[] = new Array(found.length);
  let next = 0;
  const reader = async () => {
    for (let i = next++; i < found.length; i = next++) {
      const f = found[i]!;
      models[i] = {
        ...await readCheckpointInfo(f.path),
        file: basename(f.path),
        legacy: f.legacy,
        elsewhere: f.elsewhere,
        isDefault: resolve(f.path) === defaultPath,
      };
    }
  };
  await Promise.all(Array.from({ length: Math.min(LIST_READERS, found.length) }, reader));
  return { models, defaultModel, ...(pointerProblem ? { pointerProblem } : {}) };
}
