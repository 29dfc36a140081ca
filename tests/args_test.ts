import assert from "node:assert/strict";
import { floatOption, intOption, parseCommandArgs } from "../src/cli/args.ts";
import { UserError } from "../src/errors.ts";
import { modelPath } from "../src/nn/model_store.ts";

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
    // A name with a "." that names no file is said here, with the models saved (2aeb0f8); a
    // path (with a "/") is left for loading to report (it names the file and says it is missing).
    await assert.rejects(
      modelPath("resnet.safetensors", dir),
      /^UserError: Cannot load model "resnet\.safetensors": no such file here, nor in /,
    );
    assert.equal(await modelPath(`${dir}/resnet`, dir), `${dir}/resnet`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test('intOption() takes decimal digits only: "0x10", "1e3", "5.0", " 5" are refused', () => {
  assert.equal(intOption("count", "16", { fallback: 1 }), 16);
  assert.equal(intOption("count", "-1", { fallback: 1 }), -1);
  assert.equal(intOption("count", undefined, { fallback: 7 }), 7);
  for (
    const [text, hint] of [
      ["0x10", "Write it in decimal digits: --count 16."],
      ["1e3", "Write it in decimal digits: --count 1000."],
      ["5.0", "Write it in decimal digits: --count 5."],
      [" 5", "Write it in decimal digits: --count 5."],
      ["+5", "Write it in decimal digits: --count 5."],
      ["0b11", "Write it in decimal digits: --count 3."],
      ["1.5", undefined],
      ["", undefined],
      ["ten", undefined],
    ] as const
  ) {
    assert.throws(() => intOption("count", text, { fallback: 1 }), (error: UserError) => {
      assert.equal(error.message, `--count must be an integer, got "${text}"`);
      assert.equal(error.hint, hint, text);
      return true;
    });
  }
  // Past 2^53 the digits no longer name one number.
  assert.throws(
    () => intOption("epochs", "99999999999999999999", { fallback: 1, min: 1 }),
    /^UserError: --epochs is too large, got 99999999999999999999$/,
  );
  assert.throws(
    () => intOption("batch-size", "99999999999999999999", { fallback: 1, min: 1, max: 65536 }),
    /--batch-size must be between 1 and 65536, got 99999999999999999999$/,
  );
});

Deno.test('floatOption() takes decimal numbers only: "0x10", "Infinity", " 5" are refused', () => {
  for (const [text, value] of [["0.1", 0.1], [".5", 0.5], ["1e-8", 1e-8], ["2", 2], ["3.", 3]]) {
    assert.equal(floatOption("lr", text as string, { fallback: 1 }), value);
  }
  for (const text of ["0x10", " 5", "5 ", "Infinity", "1e", "", "."]) {
    assert.throws(
      () => floatOption("lr", text, { fallback: 1 }),
      (error: UserError) => error.message === `--lr must be a number, got "${text}"`,
      text,
    );
  }
});
