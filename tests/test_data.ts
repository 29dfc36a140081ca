/**
 * Where the tests find the datasets: MNIST in $MNIST_TEST_DATA, else beside the checkout in
 * ../shared/mnist (CI), else in the data directory `mnist train` downloads to; Fashion-MNIST where
 * Debian's dataset-fashion-mnist installs it (or $FASHION_TEST_DATA). Tests only read these
 * folders; they never write to them.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { resolveDataDir } from "../src/data/paths.ts";
import { DATASETS } from "../src/data/mirrors.ts";

/** Whether `dir` holds MNIST's four .gz files. */
function hasMnist(dir: string): boolean {
  return DATASETS.mnist.files.every(({ name }) => {
    try {
      return Deno.statSync(`${dir}/${name}`).isFile;
    } catch {
      return false;
    }
  });
}

/** `findMnist`'s inputs: the environment, the project root and how to check a folder. */
export interface MnistLookup {
  /** Reads an environment variable (default: `Deno.env.get`). */
  getEnv?: (name: string) => string | undefined;
  /** The project root; ../shared/mnist is looked up beside it. */
  root?: string;
  /** Whether a folder holds the four .gz files (default: checks the files exist). */
  present?: (dir: string) => boolean;
}

/**
 * The folder holding MNIST's four .gz files: `$MNIST_TEST_DATA` when set (it must hold them),
 * else `<root>/../shared/mnist` when it holds them, else the data directory `mnist train` and
 * `mnist download` use by default. Throws an error naming all three places when none has them.
 */
export function findMnist(
  {
    getEnv = (name) => Deno.env.get(name),
    root = fileURLToPath(new URL("..", import.meta.url)),
    present = hasMnist,
  }: MnistLookup = {},
): string {
  const hint =
    'Run "deno task mnist download" (the tests then find it in the data directory), or set ' +
    "MNIST_TEST_DATA to a folder holding the four .gz files.";
  const explicit = getEnv("MNIST_TEST_DATA");
  if (explicit) {
    if (present(explicit)) return explicit;
    throw new Error(
      `The tests need MNIST's four .gz files, but MNIST_TEST_DATA="${explicit}" lacks them\n` +
        `hint: ${hint}`,
    );
  }
  const shared = resolve(root, "../shared/mnist");
  if (present(shared)) return shared;
  let dataDir: string | undefined;
  try {
    dataDir = resolveDataDir(undefined, getEnv);
  } catch {
    // No HOME: there is no default data directory to look in.
  }
  if (dataDir !== undefined && present(dataDir)) return dataDir;
  throw new Error(
    "The tests need MNIST's four .gz files and found them in none of: $MNIST_TEST_DATA (not set), " +
      `"${shared}", the data directory ${dataDir ? `"${dataDir}"` : "(HOME is not set)"}\n` +
      `hint: ${hint}`,
  );
}

/** The folder holding the four MNIST .gz files. */
export const MNIST: string = findMnist();

/** The four Fashion-MNIST .gz files. */
export const FASHION: string = Deno.env.get("FASHION_TEST_DATA") ??
  "/usr/share/datasets/fashion-mnist";

function present(dir: string): boolean {
  try {
    return Deno.statSync(`${dir}/t10k-labels-idx1-ubyte.gz`).isFile;
  } catch {
    return false;
  }
}

/** Whether Fashion-MNIST is installed (its tests are skipped otherwise). */
export const HAVE_FASHION: boolean = present(FASHION);

/** Gunzips the first `n` bytes of a real MNIST file. */
export async function readHead(path: string, n: number): Promise<Uint8Array> {
  const file = await Deno.open(path);
  const reader = file.readable.pipeThrough(new DecompressionStream("gzip")).getReader();
  const out = new Uint8Array(n);
  let length = 0;
  while (length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    const take = Math.min(value.length, n - length);
    out.set(value.subarray(0, take), length);
    length += take;
  }
  await reader.cancel();
  return out.subarray(0, length);
}

/** MNIST's four file names (the same for Fashion-MNIST), as `DATASETS` lists them. */
export const DATASET_FILES: readonly string[] = DATASETS.mnist.files.map((f) => f.name);

/**
 * Runs `fn` in a new temporary data directory holding links to MNIST's four files (none when
 * `empty`), and removes the directory afterwards. `prefix` begins its name (after the test).
 */
export async function withDataDir(
  fn: (dir: string) => Promise<void>,
  { prefix = "mnist_test_", empty = false }: { prefix?: string; empty?: boolean } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    if (!empty) {
      for (const f of DATASET_FILES) await Deno.symlink(`${MNIST}/${f}`, `${dir}/${f}`);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
