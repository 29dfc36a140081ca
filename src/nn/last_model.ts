/**
 * Remembers the checkpoint `mnist train` saved last, the default model of eval, predict and
 * serve, and resolves their `--model`.
 */
import { resolve } from "node:path";
import { UserError } from "../errors.ts";
import { exists, writeFileAtomic } from "../fs.ts";
import { defaultModelPath, lastModelPointer } from "../data/paths.ts";
import { MODELS } from "./model.ts";

/** Records `path` as the last trained model of `dataDir`. */
export async function rememberModel(dataDir: string, path: string): Promise<void> {
  await writeFileAtomic(lastModelPointer(dataDir), resolve(path) + "\n");
}

/** The path of the last trained model, or a `UserError` saying to train one first. */
export async function lastModel(dataDir: string): Promise<string> {
  try {
    const path = (await Deno.readTextFile(lastModelPointer(dataDir))).trim();
    if (path) return path;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  throw new UserError(`No trained model found in "${dataDir}"`, {
    hint: 'Run "mnist train" first, or pass --model FILE.',
  });
}

/**
 * The checkpoint `--model` names: the last trained model when absent; a model's name (mlp,
 * lenet) for where `mnist train --model NAME` saves it, unless a file of that name exists here;
 * else a file. A bare word (no "/" or ".") that is neither is an unknown model.
 */
export async function modelPath(flag: string | undefined, dataDir: string): Promise<string> {
  if (flag === undefined) return lastModel(dataDir);
  if (await exists(flag)) return flag;
  if (!Object.hasOwn(MODELS, flag)) {
    // A path is a file whose loading names what is wrong; a bare word ("resnet") meant a model.
    if (/[/.]/.test(flag)) return flag;
    throw new UserError(`Unknown model "${flag}"`, {
      hint: `Choose one of: ${Object.keys(MODELS).join(", ")}.`,
    });
  }
  const path = defaultModelPath(dataDir, flag);
  if (!await exists(path)) {
    throw new UserError(`No trained ${flag} in "${dataDir}/models"`, {
      hint: `Run "mnist train --model ${flag}" first, or pass --model FILE.`,
    });
  }
  return path;
}
