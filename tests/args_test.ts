import assert from "node:assert/strict";
import { parseCommandArgs } from "../src/cli/args.ts";
import { UserError } from "../src/errors.ts";
import { modelPath } from "../src/nn/last_model.ts";

const TRAIN_OPTIONS = { epochs: { type: "string" }, model: { type: "string" } } as const;

Deno.test("parseCommandArgs() suggests the option a mistyped one was meant to be", () => {
  for (const typed of [["--epoch", "3"], ["--epoch=3"], ["--data-dri", "x"]]) {
    assert.throws(
      () => parseCommandArgs("train", typed, { options: TRAIN_OPTIONS }),
      (error: UserError) => {
        assert.match(error.message, /^mnist train: Unknown option '--/);
        assert.match(error.hint ?? "", /^Did you mean --(epochs|data-dir)\?$/);
        return true;
      },
    );
  }
});

Deno.test("parseCommandArgs() points at --help for an option like none it knows", () => {
  assert.throws(
    () => parseCommandArgs("train", ["--bogus"], { options: TRAIN_OPTIONS }),
    (error: UserError) => {
      assert.equal(error.message, "mnist train: Unknown option '--bogus'");
      assert.equal(error.hint, 'Run "mnist train --help" for usage.');
      return true;
    },
  );
});

Deno.test("modelPath() calls a bare word that is neither a file nor a model an unknown model", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mnist_args_test_" });
  try {
    await assert.rejects(modelPath("resnet", dir), (error: UserError) => {
      assert.equal(error.message, 'Unknown model "resnet"');
      assert.equal(error.hint, "Choose one of: mlp, lenet.");
      return true;
    });
    // A path is left for loading to report (it names the file and says it is missing).
    assert.equal(await modelPath("resnet.safetensors", dir), "resnet.safetensors");
    assert.equal(await modelPath(`${dir}/resnet`, dir), `${dir}/resnet`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
