/**
 * What the browser bundle of the page's engine (`gen_engine_bundle.ts`) gets for the Node
 * built-ins its modules import for work the browser never does: `node:path` (the checkpoint's
 * file writing, in src/fs.ts) and `node:crypto` (the dataset's file hashes). The engine calls
 * none of them, so the bundler drops these; one reached all the same says so.
 * @module
 */

function unavailable(name: string): never {
  throw new Error(`${name} is not available in the browser`);
}

/** `node:path`'s `dirname`: throws. */
export function dirname(_path: string): string {
  return unavailable("path.dirname");
}

/** `node:path`'s `join`: throws. */
export function join(..._paths: string[]): string {
  return unavailable("path.join");
}

/** `node:crypto`'s `createHash`: throws. */
export function createHash(_algorithm: string): never {
  return unavailable("crypto.createHash");
}
