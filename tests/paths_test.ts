import assert from "node:assert/strict";
import {
  defaultModelPath,
  defaultModelPointer,
  legacyModelDir,
  legacyModelPointer,
  previousModelPath,
  resolveDataDir,
  resolveModelDir,
} from "../src/data/paths.ts";
import { UserError } from "../src/errors.ts";

/** An environment of exactly `vars`. */
const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("resolveModelDir() takes MNIST_MODEL_DIR over XDG_DATA_HOME and HOME", () => {
  const all = { MNIST_MODEL_DIR: "/m", XDG_DATA_HOME: "/xdg", HOME: "/home/u" };
  assert.equal(resolveModelDir(envOf(all)), "/m");
});

Deno.test("resolveModelDir() is $XDG_DATA_HOME/mnist/models without MNIST_MODEL_DIR", () => {
  assert.equal(
    resolveModelDir(envOf({ XDG_DATA_HOME: "/xdg", HOME: "/home/u" })),
    "/xdg/mnist/models",
  );
});

Deno.test("resolveModelDir() is ~/.local/share/mnist/models without either", () => {
  assert.equal(resolveModelDir(envOf({ HOME: "/home/u" })), "/home/u/.local/share/mnist/models");
  assert.equal(
    resolveModelDir(envOf({ USERPROFILE: "C:/Users/u" })),
    "C:/Users/u/.local/share/mnist/models",
  );
});

Deno.test("resolveModelDir() counts empty variables as unset", () => {
  const env = { MNIST_MODEL_DIR: "", XDG_DATA_HOME: "", HOME: "/home/u" };
  assert.equal(resolveModelDir(envOf(env)), "/home/u/.local/share/mnist/models");
});

Deno.test("resolveModelDir() ignores a relative XDG_DATA_HOME, as the XDG specification says", () => {
  const env = { XDG_DATA_HOME: "share", HOME: "/home/u" };
  assert.equal(resolveModelDir(envOf(env)), "/home/u/.local/share/mnist/models");
});

Deno.test("resolveModelDir() keeps a relative MNIST_MODEL_DIR for the working directory", () => {
  assert.equal(resolveModelDir(envOf({ MNIST_MODEL_DIR: "models" })), "models");
});

Deno.test("resolveModelDir() without HOME says to set MNIST_MODEL_DIR", () => {
  assert.throws(() => resolveModelDir(envOf({})), (error: UserError) => {
    assert.ok(error instanceof UserError);
    assert.equal(error.message, "Cannot find a model directory: HOME is not set");
    assert.match(error.hint ?? "", /MNIST_MODEL_DIR/);
    return true;
  });
});

Deno.test("the model directory does not follow the data directory", () => {
  const env = envOf({ HOME: "/home/u", MNIST_DATA_DIR: "/data" });
  assert.equal(resolveDataDir(undefined, env), "/data");
  assert.equal(resolveModelDir(env), "/home/u/.local/share/mnist/models");
});

Deno.test("model file names: default, pointer, legacy places and .prev", () => {
  assert.equal(defaultModelPath("/m", "lenet"), "/m/lenet.safetensors");
  assert.equal(defaultModelPointer("/m"), "/m/default");
  assert.equal(legacyModelDir("/data"), "/data/models");
  assert.equal(legacyModelPointer("/data"), "/data/models/last");
  assert.equal(previousModelPath("/m/mlp.safetensors"), "/m/mlp.prev.safetensors");
  assert.equal(previousModelPath("/tmp/run.st"), "/tmp/run.st.prev");
});
