/**
 * What the environment and the command line can hold that Deno cannot use or that the graphics
 * stack trips on: variables and path arguments that are not UTF-8, a model directory that is a
 * file, no XDG_RUNTIME_DIR. Each through the real CLI, as a user meets it.
 */
import { deepEqual, equal, match } from "node:assert/strict";
import { modelDirFor, PROJECT_ROOT, runCli } from "./cli_helpers.ts";
import { MNIST } from "./test_data.ts";

/** `deno run` with the permissions the `mnist` task grants, as `runCli` runs it. */
const DENO_RUN = [
  Deno.execPath(),
  "run",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "main.ts",
];

/** Deno's cache directory, which Deno itself finds through HOME unless DENO_DIR names it. */
async function denoDir(): Promise<string> {
  const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
}

/**
 * Runs `script` in `sh` in the project root, with `"$@"` the CLI's `deno run ... main.ts`, and
 * `$B` a directory of `dir` named `lat\xE9n` (Latin-1 é: not UTF-8), which JavaScript strings
 * cannot carry to a child's environment or arguments.
 */
async function runShell(
  script: string,
  dir: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command("sh", {
    args: ["-c", `B=$(printf '%s/lat\\351n' "$T"); mkdir -p "$B"; ${script}`, "sh", ...DENO_RUN],
    cwd: PROJECT_ROOT,
    env: {
      T: dir,
      XDG_RUNTIME_DIR: "/tmp",
      NO_COLOR: "1",
      INIT_CWD: PROJECT_ROOT,
      MNIST_DATA_DIR: MNIST,
      MNIST_MODEL_DIR: `${dir}/models`,
      DENO_DIR: await denoDir(),
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("a variable mnist reads that is not UTF-8 is one line naming it; others are no matter", async () => {
  // Each was "InvalidData: environment variable was not valid unicode" with a stack, exit 70.
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string, string][] = [
      ["MNIST_MODEL_DIR", `MNIST_MODEL_DIR="$B" "$@" models`],
      ["HOME", `unset MNIST_MODEL_DIR XDG_DATA_HOME; HOME="$B" "$@" models`],
      ["MNIST_DATA_DIR", `MNIST_DATA_DIR="$B" "$@" models`],
      ["XDG_CACHE_HOME", `unset MNIST_DATA_DIR; XDG_CACHE_HOME="$B" "$@" models`],
      ["XDG_DATA_HOME", `unset MNIST_MODEL_DIR; XDG_DATA_HOME="$B" "$@" models`],
    ];
    for (const [name, script] of cases) {
      const run = await runShell(script, dir);
      equal(run.code, 1, `${name}: ${run.stderr}`);
      equal(
        run.stderr,
        `error: ${name} is not valid UTF-8 ("${dir}/lat\\xE9n"), which Deno cannot read; ` +
          "set it to a UTF-8 path\n",
      );
    }
    // A number: the line says what to set it to.
    const timeout = await runShell(
      `MNIST_DOWNLOAD_TIMEOUT_MS="$B" "$@" download --data-dir "$T/data"`,
      dir,
    );
    equal(timeout.code, 1, timeout.stderr);
    equal(
      timeout.stderr,
      `error: MNIST_DOWNLOAD_TIMEOUT_MS is not valid UTF-8 ("${dir}/lat\\xE9n"), which Deno ` +
        "cannot read; set it to an integer >= 1\n",
    );
    // One the program does not read, and one it does not need here (MNIST_MODEL_DIR is set).
    const unrelated = await runShell(`FOO="$B" HOME="$B" "$@" models`, dir);
    equal(unrelated.code, 0, unrelated.stderr);
    match(unrelated.stdout, /^Models in /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a path argument that is not UTF-8 is refused, not written to a look-alike", async () => {
  // `export --onnx "$B/x.onnx"` said "Wrote .../lat\uFFFDn/x.onnx" into a new directory.
  const dir = await Deno.makeTempDir();
  try {
    const cases: [string, string][] = [
      [
        `"$@" export --model mlp --onnx "$B/x.onnx"`,
        `mnist export: --onnx "${dir}/lat\uFFFDn/x.onnx"`,
      ],
      [
        `"$@" export --model="$B/m.safetensors"`,
        `mnist export: --model "${dir}/lat\uFFFDn/m.safetensors"`,
      ],
      [`"$@" predict "$B/seven.png"`, `mnist predict: "${dir}/lat\uFFFDn/seven.png"`],
      [`"$@" --data-dir "$B" show`, `mnist show: --data-dir "${dir}/lat\uFFFDn"`],
    ];
    for (const [script, start] of cases) {
      const run = await runShell(script, dir);
      equal(run.code, 1, `${script}: ${run.stderr}`);
      equal(
        run.stderr,
        `error: ${start} is not valid UTF-8 (\uFFFD marks the bytes that are not): ` +
          "Deno can only use UTF-8 paths\n" +
          "hint: Rename the file or directory to a UTF-8 name, or give another path.\n",
      );
    }
    deepEqual(
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).filter((n) => n !== "models")
        .length,
      1,
      "nothing but $B itself was made",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("models refuses a model directory that is a file, in one line", async () => {
  // It listed "none yet: train one", and --default said "No trained mlp in".
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/afile`;
    await Deno.writeTextFile(file, "hi\n");
    const hint = "hint: Set MNIST_MODEL_DIR to a directory (it is created when missing).\n";
    for (const args of [["models"], ["models", "--default", "mlp"], ["models", "--json"]]) {
      const run = await runCli(args, { env: { MNIST_DATA_DIR: MNIST, MNIST_MODEL_DIR: file } });
      equal(run.code, 1, args.join(" "));
      equal(run.stdout, "");
      equal(run.stderr, `error: MNIST_MODEL_DIR "${file}" is a file, not a directory\n${hint}`);
    }
    const under = await runCli(["models"], {
      env: { MNIST_DATA_DIR: MNIST, MNIST_MODEL_DIR: `${file}/models` },
    });
    equal(under.code, 1);
    equal(
      under.stderr,
      `error: MNIST_MODEL_DIR "${file}/models" cannot be a directory: "${file}" is a file\n${hint}`,
    );
    const xdg = await runCli(["models"], {
      env: { MNIST_DATA_DIR: MNIST, MNIST_MODEL_DIR: "", XDG_DATA_HOME: file },
    });
    equal(xdg.code, 1);
    match(xdg.stderr, /^error: The model directory ".*" \(from XDG_DATA_HOME\) cannot be a /);
    // A directory not made yet is no error: training makes it.
    const missing = await runCli(["models"], {
      env: { MNIST_DATA_DIR: MNIST, MNIST_MODEL_DIR: `${dir}/not-yet` },
    });
    equal(missing.code, 0, missing.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without XDG_RUNTIME_DIR, devices prints no graphics-stack errors and leaves no directory", async () => {
  // libwayland printed "error: XDG_RUNTIME_DIR is invalid or not set in the environment." 8
  // times (2 for a command that trains or predicts), probed by the Vulkan device-select layer.
  const tmp = await Deno.makeTempDir();
  try {
    const env: Record<string, string> = { ...Deno.env.toObject(), TMPDIR: tmp, NO_COLOR: "1" };
    delete env.XDG_RUNTIME_DIR;
    const run = await new Deno.Command(DENO_RUN[0]!, {
      args: [...DENO_RUN.slice(1), "devices"],
      cwd: PROJECT_ROOT,
      clearEnv: true,
      env: { ...env, MNIST_MODEL_DIR: modelDirFor(MNIST) },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    equal(run.code, 0, stderr);
    equal(stderr.includes("XDG_RUNTIME_DIR"), false, stderr);
    match(new TextDecoder().decode(run.stdout), /\(selected\)/);
    // The private directory it made for the probe is gone.
    deepEqual(await Array.fromAsync(Deno.readDir(tmp)), []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
