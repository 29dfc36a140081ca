import assert from "node:assert/strict";
import { findMnist } from "./test_data.ts";

/** A lookup where only the folders in `full` hold the four files, and `env` is the environment. */
function lookup(env: Record<string, string>, full: string[]) {
  return findMnist({
    getEnv: (name) => env[name],
    root: "/src/mnist",
    present: (dir) => full.includes(dir),
  });
}

Deno.test("findMnist() takes $MNIST_TEST_DATA first", () => {
  const env = { MNIST_TEST_DATA: "/data/m", HOME: "/home/u" };
  assert.equal(lookup(env, ["/data/m", "/src/shared/mnist", "/home/u/.cache/mnist"]), "/data/m");
});

Deno.test("findMnist() refuses a $MNIST_TEST_DATA without the files", () => {
  const env = { MNIST_TEST_DATA: "/data/m", HOME: "/home/u" };
  assert.throws(() => lookup(env, ["/src/shared/mnist"]), /MNIST_TEST_DATA="\/data\/m" lacks/);
});

Deno.test("findMnist() takes ../shared/mnist beside the project before the data directory", () => {
  const env = { HOME: "/home/u" };
  assert.equal(lookup(env, ["/src/shared/mnist", "/home/u/.cache/mnist"]), "/src/shared/mnist");
});

Deno.test("findMnist() falls back to the data directory mnist train downloads to", () => {
  assert.equal(lookup({ HOME: "/home/u" }, ["/home/u/.cache/mnist"]), "/home/u/.cache/mnist");
  assert.equal(lookup({ HOME: "/home/u", XDG_CACHE_HOME: "/c" }, ["/c/mnist"]), "/c/mnist");
  assert.equal(lookup({ HOME: "/home/u", MNIST_DATA_DIR: "/d" }, ["/d"]), "/d");
});

Deno.test("findMnist() names all three places and the download command when none has the files", () => {
  assert.throws(() => lookup({ HOME: "/home/u" }, []), (error: Error) => {
    assert.match(error.message, /MNIST_TEST_DATA \(not set\)/);
    assert.match(error.message, /"\/src\/shared\/mnist"/);
    assert.match(error.message, /"\/home\/u\/\.cache\/mnist"/);
    assert.match(error.message, /deno task mnist download/);
    return true;
  });
  assert.throws(() => lookup({}, []), /data directory \(HOME is not set\)/);
});

Deno.test("no test reads a file from ../shared other than MNIST (a fresh clone has no ../shared)", async () => {
  const dir = new URL("./", import.meta.url);
  const offenders: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    const text = await Deno.readTextFile(new URL(entry.name, dir));
    // The failing cases live in tests/fixtures/cases; only MNIST is looked up beside the clone.
    if (/shared\/cases/.test(text)) offenders.push(entry.name);
  }
  assert.deepEqual(offenders, []);
});
