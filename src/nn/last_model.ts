/** Remembers the checkpoint `mnist train` saved last, the default model of eval and predict. */
import { resolve } from "node:path";
import { UserError } from "../errors.ts";
import { writeFileAtomic } from "../fs.ts";
import { lastModelPointer } from "../data/paths.ts";

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
