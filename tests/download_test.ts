/**
 * `mnist download` and the download library against local mirrors (tests/mirror_server.ts) that
 * serve /work/shared/mnist and misbehave on request. Never touches the internet.
 */
import assert, { deepStrictEqual as assertEquals, match as assertMatch } from "node:assert/strict";
import { PROJECT_ROOT, runCli } from "./cli_helpers.ts";
import { type FaultKind, startMirror } from "./mirror_server.ts";
import {
  downloadFile,
  type DownloadOptions,
  ensureDataset,
  verifyFile,
} from "../src/data/download.ts";
import { DATASETS, type FileSpec } from "../src/data/mirrors.ts";
import { encodeCheckpoint } from "../src/nn/checkpoint.ts";
import { inferShapes, mlp, sizeOf } from "../src/nn/model.ts";
import type { ProgressStream } from "../src/progress.ts";
import { gunzipSync } from "node:zlib";
import { FASHION, HAVE_FASHION, MNIST } from "./test_data.ts";

const NAMES = DATASETS.mnist.files.map((f) => f.name);
const LABELS: FileSpec = DATASETS.mnist.files.find((f) => f.role === "trainLabels")!;
/** Short waits, so failing mirrors cost milliseconds. */
/**
 * The idle timeout of these tests: short enough that a held response fails over soon, long
 * enough that a good local mirror always answers within it, even on a loaded 2-core machine
 * (at 300 ms, "skips a broken mirror" timed out on the good mirror at a load average of 10).
 */
const TIMEOUT_MS = 2000;
const FAST_ENV = { MNIST_DOWNLOAD_BACKOFF_MS: "1", MNIST_DOWNLOAD_TIMEOUT_MS: String(TIMEOUT_MS) };
const FAST = { backoffMs: 1, timeoutMs: TIMEOUT_MS, progress: false };

function assertStringIncludes(actual: string, expected: string): void {
  assert(actual.includes(expected), `expected to find ${JSON.stringify(expected)} in:\n${actual}`);
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mnist_download_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function assertSameFile(actual: string, expected: string): Promise<void> {
  const [a, b] = await Promise.all([Deno.readFile(actual), Deno.readFile(expected)]);
  assert(
    a.length === b.length && a.every((x, i) => x === b[i]),
    `${actual} differs from ${expected}`,
  );
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

/** Name, size and mtime of every file in `dir`: equal snapshots mean nothing was written. */
async function snapshot(dir: string): Promise<string[]> {
  const lines: string[] = [];
  for (const name of await listDir(dir)) {
    const info = await Deno.stat(`${dir}/${name}`);
    lines.push(`${name} ${info.size} ${info.mtime?.getTime()}`);
  }
  return lines;
}

async function copyDataset(from: string, to: string): Promise<void> {
  for (const name of NAMES) await Deno.copyFile(`${from}/${name}`, `${to}/${name}`);
}

/**
 * Downloads the training labels from a mirror with `fault`, then a good one, and checks that the
 * good copy landed intact with nothing left over. Returns the lines logged and the bad mirror's
 * request count.
 */
async function fallBackAfter(
  fault: FaultKind,
  options: DownloadOptions = {},
): Promise<{ lines: string[]; badRequests: number }> {
  await using bad = startMirror({ root: MNIST, faults: { [LABELS.name]: fault } });
  await using good = startMirror({ root: MNIST });
  const lines: string[] = [];
  let badRequests = 0;
  await withTempDir(async (dir) => {
    const fetched = await downloadFile(LABELS, dir, {
      ...FAST,
      ...options,
      mirrors: [bad.url, good.url],
      log: (line) => lines.push(line),
    });
    assertEquals(fetched.url, `${good.url}${LABELS.name}`);
    assertEquals(fetched.failedMirrors, [bad.url]);
    await assertSameFile(`${dir}/${LABELS.name}`, `${MNIST}/${LABELS.name}`);
    assertEquals(await listDir(dir), [LABELS.name]);
    badRequests = bad.count(LABELS.name);
  });
  const warnings = lines.filter((line) => line.startsWith("warning:"));
  assertEquals(warnings.length, 1, lines.join("\n"));
  assertStringIncludes(warnings[0]!, `warning: ${bad.url}${LABELS.name}: `);
  assert(warnings[0]!.endsWith("; trying the next mirror"), warnings[0]);
  return { lines: warnings, badRequests };
}

Deno.test("download fetches and verifies all four files from a local mirror", async () => {
  await using mirror = startMirror({ root: MNIST });
  await withTempDir(async (dir) => {
    const result = await runCli(["download", "--mirror", mirror.url, "--data-dir", dir]);
    assertEquals(result.code, 0, result.stderr);
    for (const name of NAMES) {
      await assertSameFile(`${dir}/${name}`, `${MNIST}/${name}`);
      assertMatch(result.stdout, new RegExp(`^${name}: [\\d.]+ [kM]B, verified$`, "m"));
      assertStringIncludes(result.stderr, `Downloading ${mirror.url}${name}\n`);
    }
    assertStringIncludes(result.stdout, `mnist is ready in ${dir}\n`);
    assertEquals(await listDir(dir), [...NAMES].sort());
    assertEquals(mirror.requests.sort(), [...NAMES].sort());
  });
});

Deno.test("download skips a broken mirror before a good one", async () => {
  await using bad = startMirror({ root: MNIST, faults: { "*": "http500" } });
  await using good = startMirror({ root: MNIST });
  await withTempDir(async (dir) => {
    const result = await runCli(
      ["download", "--mirror", bad.url, "--mirror", good.url.slice(0, -1), "--data-dir", dir],
      { env: FAST_ENV },
    );
    assertEquals(result.code, 0, result.stderr);
    const warnings = result.stderr.split("\n").filter((line) => line.startsWith("warning:"));
    // Once a mirror has failed it goes last, so a dead mirror costs one warning, not four.
    assertEquals(warnings, [
      `warning: ${bad.url}${NAMES[0]}: HTTP 500 Internal Server Error; trying the next mirror`,
    ]);
    assertEquals(bad.requests, [NAMES[0], NAMES[0]]); // two attempts, then the next mirror
    for (const name of NAMES) await assertSameFile(`${dir}/${name}`, `${MNIST}/${name}`);
  });
});

Deno.test("download falls back after a truncated body", async () => {
  const { lines, badRequests } = await fallBackAfter("truncated");
  assertStringIncludes(lines[0]!, "connection closed before the whole file arrived");
  assertEquals(badRequests, 2);
});

Deno.test("download falls back after corrupt gzip data", async () => {
  const { lines } = await fallBackAfter("corrupt");
  assertStringIncludes(lines[0]!, "invalid gzip data");
});

Deno.test("download falls back after a checksum mismatch", async () => {
  const { lines } = await fallBackAfter("wrong");
  assertStringIncludes(lines[0]!, ": SHA-256 mismatch;");
});

Deno.test("download falls back after a slow response times out", async () => {
  const { lines, badRequests } = await fallBackAfter("slow");
  assertStringIncludes(lines[0]!, "timed out (no data for 2 s)");
  assertEquals(badRequests, 2);
});

Deno.test("download falls back after a body stalls mid-transfer", async () => {
  const { lines } = await fallBackAfter("stall");
  assertStringIncludes(lines[0]!, "timed out (no data for 2 s)");
});

Deno.test("download keeps waiting while a slow body keeps arriving", async () => {
  // 8 pieces 400 ms apart: 2.8 s in all, more than the 2 s timeout, but never idle that long.
  await using mirror = startMirror({
    root: MNIST,
    faults: { [LABELS.name]: "trickle" },
    trickleMs: 400,
  });
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    const started = performance.now();
    await downloadFile(LABELS, dir, {
      ...FAST,
      mirrors: [mirror.url],
      log: (line) => lines.push(line),
    });
    assert(performance.now() - started > TIMEOUT_MS, "the trickle came faster than planned");
    assertEquals(lines, [`Downloading ${mirror.url}${LABELS.name}`]);
    assertEquals(mirror.count(LABELS.name), 1);
    await assertSameFile(`${dir}/${LABELS.name}`, `${MNIST}/${LABELS.name}`);
  });
});

/** A stand-in for stderr that records what a progress bar writes to it. */
function fakeStderr(isTTY: boolean): ProgressStream & { writes: string[] } {
  const writes: string[] = [];
  return {
    isTTY,
    columns: 100,
    writes,
    write: (text) => writes.push(text) > 0,
  };
}

Deno.test("download draws a bar with the file's progress on a terminal and clears it after", async () => {
  // 8 pieces 100 ms apart: a rate, and so an ETA, before the end.
  await using mirror = startMirror({ root: MNIST, faults: { [LABELS.name]: "trickle" } });
  await withTempDir(async (dir) => {
    const terminal = fakeStderr(true);
    await downloadFile(LABELS, dir, {
      ...FAST,
      progress: terminal,
      mirrors: [mirror.url],
      log: () => {},
    });
    const text = terminal.writes.join("");
    assertStringIncludes(text, `${LABELS.name} `);
    assertMatch(text, /100% {2}28\.9 kB \/ 28\.9 kB {2}[\d.]+ kB\/s {2}ETA /);
    assertMatch(text, /ETA \d:\d\d/, "an ETA once the rate is known");
    assert(text.endsWith("\x1b[2K"), `cleared when done: ${JSON.stringify(text.slice(-40))}`);
    assert(!text.includes("\x1b[?25l"), "the cursor is never hidden");
  });
});

Deno.test("download draws nothing on a stderr that is not a terminal", async () => {
  await using mirror = startMirror({ root: MNIST });
  await withTempDir(async (dir) => {
    const pipe = fakeStderr(false);
    await downloadFile(LABELS, dir, {
      ...FAST,
      progress: pipe,
      mirrors: [mirror.url],
      log: () => {},
    });
    assertEquals(pipe.writes, []);
  });
});

Deno.test("download stops a gzip bomb at the expected size", async () => {
  const { lines } = await fallBackAfter("bomb");
  assertStringIncludes(lines[0]!, "decompresses to more than the expected 60,008 bytes");
});

Deno.test("download does not retry a 404 on the same mirror", async () => {
  const { lines, badRequests } = await fallBackAfter("http404");
  assertStringIncludes(lines[0]!, "HTTP 404 Not Found");
  assertEquals(badRequests, 1);
});

Deno.test("download retries a mirror after a transient failure", async () => {
  await using mirror = startMirror({
    root: MNIST,
    faults: { [LABELS.name]: { kind: "http500", times: 1 } },
  });
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    const fetched = await downloadFile(LABELS, dir, {
      ...FAST,
      mirrors: [mirror.url],
      log: (line) => lines.push(line),
    });
    assertEquals(fetched.failedMirrors, []);
    assertEquals(mirror.count(LABELS.name), 2);
    assertEquals(lines, [`Downloading ${mirror.url}${LABELS.name}`]);
    await assertSameFile(`${dir}/${LABELS.name}`, `${MNIST}/${LABELS.name}`);
  });
});

Deno.test("download keeps the cache untouched when every mirror fails", async () => {
  await using wrong = startMirror({ root: MNIST, faults: { "*": "wrong" } });
  await using broken = startMirror({ root: MNIST, faults: { "*": "http500" } });
  await withTempDir(async (dir) => {
    await copyDataset(MNIST, dir);
    // A corrupt cached file: only a verified download may replace it.
    const corrupt = `${dir}/${LABELS.name}`;
    await Deno.writeFile(corrupt, new Uint8Array([0x1f, 0x8b, 1, 2, 3]));
    const before = await snapshot(dir);
    const result = await runCli(
      ["download", "--mirror", wrong.url, "--mirror", broken.url, "--data-dir", dir],
      { env: FAST_ENV },
    );
    assertEquals(result.code, 1);
    const errors = result.stderr.split("\n").filter((line) => line.startsWith("error:"));
    assertEquals(errors, [
      `error: Cannot download "${LABELS.name}": every mirror failed ` +
      `(last: ${broken.url}${LABELS.name}: HTTP 500 Internal Server Error)`,
    ]);
    assertStringIncludes(result.stderr, "\nhint: Check your network, or pass --mirror URL");
    assertStringIncludes(
      result.stderr,
      `warning: ${wrong.url}${LABELS.name}: SHA-256 mismatch; trying the next mirror\n`,
    );
    assert(!/^\s+at /m.test(result.stderr), `stack trace printed:\n${result.stderr}`);
    assertEquals(await snapshot(dir), before); // no .tmp left, nothing replaced
    assertEquals(await Deno.readFile(corrupt), new Uint8Array([0x1f, 0x8b, 1, 2, 3]));
  });
});

Deno.test("download replaces a corrupt cached file", async () => {
  await using mirror = startMirror({ root: MNIST });
  await withTempDir(async (dir) => {
    await copyDataset(MNIST, dir);
    const full = await Deno.readFile(`${MNIST}/${LABELS.name}`);
    await Deno.writeFile(`${dir}/${LABELS.name}`, full.subarray(0, 1000)); // a cut-off download
    const result = await runCli(["download", "--mirror", mirror.url, "--data-dir", dir]);
    assertEquals(result.code, 0, result.stderr);
    assertMatch(
      result.stderr,
      new RegExp(
        `^warning: ${dir}/${LABELS.name}: invalid gzip data .*; downloading it again$`,
        "m",
      ),
    );
    assertEquals(result.stdout.split("\n").filter((l) => l.endsWith(": ok (cached)")).length, 3);
    assertStringIncludes(result.stdout, `${LABELS.name}: 28.9 kB, verified\n`);
    assertEquals(mirror.requests, [LABELS.name]);
    await assertSameFile(`${dir}/${LABELS.name}`, `${MNIST}/${LABELS.name}`);
    assertEquals(await listDir(dir), [...NAMES].sort());
  });
});

Deno.test("download uses a valid data dir read-only without network", async () => {
  const before = await snapshot(MNIST);
  const result = await runCli([
    "download",
    "--mirror",
    "http://127.0.0.1:9/",
    "--data-dir",
    MNIST,
  ]);
  assertEquals(result.code, 0, result.stderr);
  assertEquals(
    result.stdout,
    [...NAMES.map((n) => `${n}: ok (cached)`), `mnist is ready in ${MNIST}`, ""].join("\n"),
  );
  assertEquals(result.stderr, "");
  assertEquals(await snapshot(MNIST), before);
});

Deno.test({
  name: "download --dataset fashion fetches into the fashion subdirectory",
  ignore: !HAVE_FASHION, // Debian's dataset-fashion-mnist is not installed
  async fn() {
    await using mirror = startMirror({ root: FASHION });
    await withTempDir(async (dir) => {
      const result = await runCli([
        "download",
        "--dataset",
        "fashion",
        "--mirror",
        mirror.url,
        "--data-dir",
        dir,
      ]);
      assertEquals(result.code, 0, result.stderr);
      assertEquals(await listDir(dir), ["fashion"]);
      for (const { name } of DATASETS.fashion.files) {
        await assertSameFile(`${dir}/fashion/${name}`, `${FASHION}/${name}`);
      }
      assertStringIncludes(result.stdout, `fashion is ready in ${dir}/fashion\n`);
    });
  },
});

Deno.test("download rejects an invalid --mirror before touching anything", async () => {
  await withTempDir(async (dir) => {
    const result = await runCli(["download", "--mirror", "ftp://example.com/", "--data-dir", dir]);
    assertEquals(result.code, 1);
    assertEquals(result.stderr.split("\n")[0], `error: Invalid mirror URL "ftp://example.com/"`);
    assertEquals(await listDir(dir), []);
  });
});

Deno.test("download reports a data dir it cannot read or write in one line", async () => {
  await using mirror = startMirror({ root: MNIST });
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "not a folder");
    const unreadable = await runCli([
      "download",
      "--mirror",
      mirror.url,
      "--data-dir",
      `${dir}/file`,
    ]);
    assertEquals(unreadable.code, 1);
    assertMatch(
      unreadable.stderr,
      new RegExp(
        `^error: Cannot read "${dir}/file/${NAMES[0]}": "${dir}/file" is not a directory\n` +
          "hint: Pass --data-dir DIR \\(a folder you can read\\) or set MNIST_DATA_DIR\\.\n$",
      ),
    );
    assertEquals(mirror.requests, []);

    // A folder where the file should go: the download succeeds, moving it into place cannot.
    await copyDataset(MNIST, dir);
    await Deno.remove(`${dir}/${LABELS.name}`);
    await Deno.mkdir(`${dir}/${LABELS.name}/taken`, { recursive: true });
    const unwritable = await runCli(["download", "--mirror", mirror.url, "--data-dir", dir]);
    assertEquals(unwritable.code, 1);
    assertMatch(
      unwritable.stderr,
      new RegExp(`^error: Cannot write "${dir}/${LABELS.name}": .+\nhint: `, "m"),
    );
    assertEquals(mirror.requests, [LABELS.name]);
    assertEquals(await listDir(dir), ["file", ...NAMES].sort());
  });
});

/**
 * Makes `dir` refuse new files: `chmod 555`, and for root, whom modes do not stop, `chattr +i`.
 * Returns an undo function, or undefined when neither works here (the test then has no case).
 */
async function makeReadOnly(dir: string): Promise<(() => Promise<void>) | undefined> {
  await Deno.chmod(dir, 0o555);
  const refuses = () =>
    Deno.writeFile(`${dir}/probe`, new Uint8Array()).then(() => false, () => true);
  let immutable = false;
  if (!(await refuses())) {
    await Deno.remove(`${dir}/probe`);
    const chattr = new Deno.Command("chattr", { args: ["+i", dir], stderr: "null" });
    immutable = await chattr.output().then((out) => out.success, () => false);
    if (!immutable || !(await refuses())) return undefined;
  }
  return async () => {
    if (immutable) await new Deno.Command("chattr", { args: ["-i", dir] }).output();
    await Deno.chmod(dir, 0o755);
  };
}

Deno.test("download into a read-only data dir says permission denied before any request", async () => {
  // Was "Operation not permitted (os error 1)" on a temporary file's name, after "Downloading".
  await using mirror = startMirror({ root: MNIST });
  await withTempDir(async (dir) => {
    const undo = await makeReadOnly(dir);
    if (!undo) {
      console.warn("skipped: cannot make a read-only folder here (chmod and chattr)");
      return;
    }
    try {
      const plain = await runCli(["download", "--mirror", mirror.url, "--data-dir", dir]);
      assertEquals(plain.code, 1);
      assertEquals(
        plain.stderr,
        `error: Cannot write "${dir}/${NAMES[0]}": permission denied\n` +
          "hint: Pass --data-dir DIR (a folder you can write to) or set MNIST_DATA_DIR.\n",
      );
      const fashion = await runCli([
        "download",
        "--dataset",
        "fashion",
        "--mirror",
        mirror.url,
        "--data-dir",
        dir,
      ]);
      assertEquals(fashion.code, 1);
      assertMatch(
        fashion.stderr,
        new RegExp(`^error: Cannot write "${dir}/fashion": permission denied\n`),
      );
      assertEquals(mirror.requests, []);
    } finally {
      await undo();
    }
    assertEquals(await listDir(dir), []);
  });
});

Deno.test("ensureDataset downloads only the missing files", async () => {
  await using mirror = startMirror({ root: MNIST });
  await withTempDir(async (dir) => {
    // Present files are left to the loader to verify, even when they are bad.
    const present = `${dir}/${NAMES[0]}`;
    await Deno.writeTextFile(present, "not checked here");
    const lines: string[] = [];
    await ensureDataset(dir, "mnist", {
      ...FAST,
      mirrors: [mirror.url],
      log: (line) => lines.push(line),
    });
    assertEquals(mirror.requests.sort(), NAMES.slice(1).sort());
    assertEquals(await Deno.readTextFile(present), "not checked here");
    for (const name of NAMES.slice(1)) await assertSameFile(`${dir}/${name}`, `${MNIST}/${name}`);
    assertEquals(lines[0], `Downloading the mnist dataset into ${dir}`);

    lines.length = 0;
    await ensureDataset(dir, "mnist", { mirrors: [mirror.url], log: (line) => lines.push(line) });
    assertEquals(lines, []);
    assertEquals(mirror.requests.length, 3);
  });
});

Deno.test("ensureDataset({ split }) fetches only that split's two files", async () => {
  await using mirror = startMirror({ root: MNIST });
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    await ensureDataset(dir, "mnist", {
      ...FAST,
      mirrors: [mirror.url],
      log: (line) => lines.push(line),
      split: "test",
    });
    const test = DATASETS.mnist.files.filter((f) => f.role.startsWith("test")).map((f) => f.name);
    assertEquals(mirror.requests.sort(), [...test].sort());
    assertEquals(await listDir(dir), [...test].sort());
    assertEquals(lines[0], `Downloading the mnist dataset's test split into ${dir}`);
  });
});

Deno.test("show --split test and eval download the test files only", async () => {
  // They fetched all four files, the 9.9 MB of training images included, to read 10,000 digits.
  await using mirror = startMirror({ root: MNIST });
  await withTempDir(async (dir) => {
    const test = DATASETS.mnist.files.filter((f) => f.role.startsWith("test")).map((f) => f.name);
    const show = await runCli(
      ["show", "--split", "test", "--count", "1", "--mirror", mirror.url, "--data-dir", dir],
      { env: FAST_ENV },
    );
    assertEquals(show.code, 0, show.stderr);
    assertEquals(await listDir(dir), [...test].sort());
    assertEquals(mirror.requests.sort(), [...test].sort());
    await Deno.remove(dir, { recursive: true });
    await Deno.mkdir(dir);

    const model = mlp();
    const params = new Map(
      inferShapes(model).flatMap((l) =>
        l.params.map((p) => [p.name, new Float32Array(sizeOf(p.shape))] as const)
      ),
    );
    const meta = { model, epoch: 0, dataset: "mnist" as const };
    const path = `${dir}/zero.safetensors`;
    await Deno.writeFile(path, encodeCheckpoint({ meta, params, momentum: new Map() }));
    const evalRun = await runCli(
      ["eval", "--model", path, "--limit", "100", "--mirror", mirror.url, "--data-dir", dir],
      { env: FAST_ENV },
    );
    // Without an adapter eval stops before the data: then only show's case holds here.
    if (evalRun.code === 2) return;
    assertEquals(evalRun.code, 0, evalRun.stderr);
    assertEquals(await listDir(dir), [...test, "zero.safetensors"].sort());
  });
});

Deno.test("ensureDataset fails with a UserError and leaves no empty folder", async () => {
  await using mirror = startMirror({ root: MNIST, faults: { "*": "http404" } });
  await withTempDir(async (dir) => {
    const target = `${dir}/new`;
    await assert.rejects(
      ensureDataset(target, "fashion", { ...FAST, mirrors: [mirror.url], log: () => {} }),
      (error: Error) => {
        assertEquals(error.name, "UserError");
        assertEquals(
          error.message,
          `Cannot download "${NAMES[0]}": every mirror failed ` +
            `(last: ${mirror.url}${NAMES[0]}: HTTP 404 Not Found)`,
        );
        return true;
      },
    );
    // Neither the data dir nor its fashion/, which this download made, stays behind empty.
    assertEquals(await listDir(dir), []);
    // A data dir that was there stays, with what it held.
    await Deno.mkdir(target);
    await Deno.writeTextFile(`${target}/keep`, "");
    await assert.rejects(
      ensureDataset(target, "fashion", { ...FAST, mirrors: [mirror.url], log: () => {} }),
    );
    assertEquals(await listDir(target), ["keep"]);
  });
});

Deno.test("a failed download --dataset fashion leaves no empty ~/.cache/mnist behind", async () => {
  // MNIST_DATA_DIR and XDG_CACHE_HOME unset: the data directory is $HOME/.cache/mnist, which
  // mkdir made with its parents; the README says the data directory is left as it was.
  await using mirror = startMirror({ root: MNIST, faults: { "*": "http404" } });
  // Deno's own cache stays where it is (it would go to $HOME/.cache/deno).
  const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir as string;
  await withTempDir(async (home) => {
    for (const dataset of ["fashion", "mnist"]) {
      const run = await runCli(["download", "--dataset", dataset, "--mirror", mirror.url], {
        env: {
          ...FAST_ENV,
          HOME: home,
          MNIST_DATA_DIR: "",
          XDG_CACHE_HOME: "",
          DENO_DIR: denoDir,
        },
      });
      assertEquals(run.code, 1, run.stderr);
      assertStringIncludes(run.stderr, "every mirror failed");
      assertEquals(await listDir(home), [], `${dataset}: nothing left in ${home}`);
    }
  });
});

Deno.test("verifyFile tells valid, missing, corrupt, short and oversized files apart", async () => {
  assertEquals(await verifyFile(`${MNIST}/${LABELS.name}`, LABELS), { ok: true });
  await withTempDir(async (dir) => {
    assertEquals(await verifyFile(`${dir}/absent.gz`, LABELS), { ok: false, reason: "missing" });
    await Deno.writeTextFile(`${dir}/text.gz`, "<html>Not Found</html>");
    const text = await verifyFile(`${dir}/text.gz`, LABELS);
    assertEquals(text, { ok: false, reason: "invalid gzip data (invalid gzip header)" });
    // The test labels are a valid gzip, but 50,000 bytes too short for the training labels.
    const short = await verifyFile(`${MNIST}/t10k-labels-idx1-ubyte.gz`, LABELS);
    assertEquals(short, { ok: false, reason: "decompresses to 10,008 bytes, expected 60,008" });
    const images = await verifyFile(`${MNIST}/${NAMES[0]}`, LABELS);
    assertEquals(images, {
      ok: false,
      reason: "decompresses to more than the expected 60,008 bytes",
    });
    const sameSize = { ...LABELS, sha256: "0".repeat(64) };
    assertEquals(await verifyFile(`${MNIST}/${LABELS.name}`, sameSize), {
      ok: false,
      reason: "SHA-256 mismatch",
    });
  });
});

// Hostile mirrors and interruptions (issue 13).

/** A floor of 50 KiB/s judged over 1 s: a drip of 1 KiB per 0.5 s is far below it. */
const SLOW = { minRate: 50 * 1024, rateWindowMs: 1000, timeoutMs: 5000 };

Deno.test("download abandons a mirror that drips below the minimum rate", async () => {
  const started = performance.now();
  const { lines, badRequests } = await fallBackAfter("drip", SLOW);
  const elapsed = performance.now() - started;
  // About two 1 KiB pieces arrive in the first second, depending on timers and TCP.
  const rate = /: too slow: ([\d.]+) KiB\/s over 1 s; trying the next mirror$/.exec(lines[0]!);
  assert(rate, lines[0]);
  assert(Number(rate[1]) >= 0.5 && Number(rate[1]) <= 4, lines[0]);
  assertEquals(badRequests, 1); // too slow is not retried: the next mirror is tried at once
  assert(elapsed < 4000, `took ${Math.round(elapsed)} ms`);
});

Deno.test("download takes the rate window and floor from the environment", async () => {
  await using bad = startMirror({ root: MNIST, faults: { "*": "drip" } });
  await using good = startMirror({ root: MNIST });
  await withTempDir(async (dir) => {
    const result = await runCli(
      ["download", "--mirror", bad.url, "--mirror", good.url, "--data-dir", dir],
      {
        env: {
          MNIST_DOWNLOAD_BACKOFF_MS: "1", // and the default idle timeout, longer than the window
          MNIST_DOWNLOAD_RATE_WINDOW_MS: "1000",
          MNIST_DOWNLOAD_MIN_RATE: "51200",
        },
      },
    );
    assertEquals(result.code, 0, result.stderr);
    const warnings = result.stderr.split("\n").filter((line) => line.startsWith("warning:"));
    assertEquals(warnings.length, 1, result.stderr);
    assertMatch(
      warnings[0]!,
      new RegExp(`^warning: ${bad.url}${NAMES[0]}: too slow: [\\d.]+ KiB/s over 1 s; trying`),
    );
    for (const name of NAMES) await assertSameFile(`${dir}/${name}`, `${MNIST}/${name}`);

    // Words and other spellings of numbers than decimal digits are refused alike.
    for (const value of ["fast", "0x10", "1e3", " 5"]) {
      const invalid = await runCli(["download", "--mirror", good.url, "--data-dir", `${dir}/x`], {
        env: { MNIST_DOWNLOAD_MIN_RATE: value },
      });
      assertEquals(invalid.code, 1, value);
      assertEquals(
        invalid.stderr.split("\n")[0],
        `error: MNIST_DOWNLOAD_MIN_RATE must be an integer >= 0, got "${value}"`,
      );
    }
  });
});

Deno.test("download accepts a .gz labelled Content-Encoding: gzip", async () => {
  await using mirror = startMirror({ root: MNIST, faults: { "*": "encoded" } });
  await withTempDir(async (dir) => {
    const result = await runCli(["download", "--mirror", mirror.url, "--data-dir", dir]);
    assertEquals(result.code, 0, result.stderr);
    // Asked for with Accept-Encoding: identity, the bytes arrive as stored.
    for (const name of NAMES) await assertSameFile(`${dir}/${name}`, `${MNIST}/${name}`);
    assert(!result.stderr.includes("warning:"), result.stderr);
  });
});

Deno.test("download accepts a body that arrives inflated and stores it gzipped", async () => {
  await using mirror = startMirror({ root: MNIST, faults: { "*": "inflated" } });
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    for (const spec of DATASETS.mnist.files.filter((f) => f.name.startsWith("t10k"))) {
      const fetched = await downloadFile(spec, dir, {
        ...FAST,
        mirrors: [mirror.url],
        log: (line) => lines.push(line),
      });
      const path = `${dir}/${spec.name}`;
      assertEquals(await verifyFile(path, spec), { ok: true });
      assertEquals(fetched.bytes, (await Deno.stat(path)).size); // what reached the disk
      const original = gunzipSync(await Deno.readFile(`${MNIST}/${spec.name}`));
      assertEquals(gunzipSync(await Deno.readFile(path)).equals(original), true);
    }
    assertEquals(lines.filter((line) => !line.startsWith("Downloading")), []);
    assertEquals(await listDir(dir), NAMES.filter((n) => n.startsWith("t10k")).sort());
  });
});

Deno.test("download checks the size and SHA-256 of a body that arrives inflated", async () => {
  await withTempDir(async (root) => {
    const labels = gunzipSync(await Deno.readFile(`${MNIST}/${LABELS.name}`));
    labels[labels.length - 1]! ^= 0x01;
    await Deno.mkdir(`${root}/wrong`);
    await Deno.writeFile(`${root}/wrong/${LABELS.name}`, labels);
    await Deno.mkdir(`${root}/short`);
    await Deno.writeFile(`${root}/short/${LABELS.name}`, labels.subarray(0, 10_008));
    await Deno.mkdir(`${root}/long`);
    await Deno.writeFile(`${root}/long/${LABELS.name}`, new Uint8Array([...labels, 0]));
    await using wrong = startMirror({ root: `${root}/wrong` });
    await using short = startMirror({ root: `${root}/short` });
    await using long = startMirror({ root: `${root}/long` });
    await withTempDir(async (dir) => {
      const lines: string[] = [];
      await assert.rejects(
        downloadFile(LABELS, dir, {
          ...FAST,
          attempts: 1,
          mirrors: [wrong.url, short.url, long.url],
          log: (line) => lines.push(line),
        }),
        new RegExp(
          `^UserError: Cannot download "${LABELS.name}": every mirror failed \\(last: ` +
            `${long.url}${LABELS.name}: uncompressed body has more than the expected ` +
            `60,008 bytes\\)$`,
        ),
      );
      assertEquals(lines.filter((line) => line.startsWith("warning:")), [
        `warning: ${wrong.url}${LABELS.name}: SHA-256 mismatch; trying the next mirror`,
        `warning: ${short.url}${LABELS.name}: uncompressed body has 10,008 bytes, ` +
        `expected 60,008; trying the next mirror`,
      ]);
      assertEquals(await listDir(dir), []);
    });
  });
});

/** The names in `dir` that end in `.tmp`. */
async function temps(dir: string): Promise<string[]> {
  return (await listDir(dir)).filter((name) => name.endsWith(".tmp"));
}

/**
 * Starts `mnist download` from a mirror whose bodies stall halfway, and resolves once the first
 * file's temporary file holds data. `output` is the child's, to await after signalling it.
 */
async function startStalledDownload(mirror: string, dir: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "main.ts",
      "download",
      "--mirror",
      mirror,
      "--data-dir",
      dir,
    ],
    cwd: PROJECT_ROOT,
    env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  const deadline = performance.now() + 15_000;
  let seen: string[] = [];
  while (performance.now() < deadline) {
    seen = await temps(dir);
    if (seen.length > 0 && (await Deno.stat(`${dir}/${seen[0]}`)).size > 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assertEquals(seen.length, 1, "no temporary file appeared");
  assertMatch(seen[0]!, new RegExp(`^${NAMES[0]}\\.${child.pid}\\.[0-9a-f]{8}\\.tmp$`));
  return { child, output, tmp: seen[0]! };
}

for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
  Deno.test(`download removes its temporary file on ${signal} and exits ${code}`, async () => {
    await using mirror = startMirror({ root: MNIST, faults: { "*": "stall" } });
    await withTempDir(async (dir) => {
      const { child, output } = await startStalledDownload(mirror.url, dir);
      child.kill(signal);
      const result = await output;
      const stderr = new TextDecoder().decode(result.stderr);
      assertEquals(result.code, code, stderr);
      assertStringIncludes(stderr, `\nerror: Interrupted by ${signal}; no partial file was kept\n`);
      assertEquals(await listDir(dir), []);
    });
  });
}

Deno.test("the next download removes the temporary file of a SIGKILLed one", async () => {
  await using stalled = startMirror({ root: MNIST, faults: { "*": "stall" } });
  await using good = startMirror({ root: MNIST });
  await withTempDir(async (dir) => {
    const { child, output, tmp } = await startStalledDownload(stalled.url, dir);
    child.kill("SIGKILL");
    assertEquals((await output).signal, "SIGKILL");
    assertEquals(await temps(dir), [tmp]); // nothing can clean up after SIGKILL

    const result = await runCli(["download", "--mirror", good.url, "--data-dir", dir]);
    assertEquals(result.code, 0, result.stderr);
    assertStringIncludes(
      result.stderr,
      `Removed ${dir}/${tmp}, left by an earlier download (its process ${child.pid} is gone)\n`,
    );
    assertEquals(await listDir(dir), [...NAMES].sort());
  });
});

Deno.test("download removes orphaned and day-old temporary files, not live ones", async () => {
  await using mirror = startMirror({ root: MNIST });
  await withTempDir(async (dir) => {
    const dead = `${LABELS.name}.999999.abcd1234.tmp`; // its process was SIGKILLed
    const live = `${LABELS.name}.${Deno.pid}.0123abcd.tmp`; // a download still running
    const old = `${LABELS.name}.${Deno.pid}.deadbeef.tmp`; // running, but for two days
    const other = `notes.txt.999999.abcd1234.tmp`; // not a dataset file: not ours
    for (const name of [dead, live, old, other]) await Deno.writeTextFile(`${dir}/${name}`, "x");
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    await Deno.utime(`${dir}/${old}`, twoDaysAgo, twoDaysAgo);
    // A running download holds an exclusive lock on its temporary file, as this test does here.
    using held = await Deno.open(`${dir}/${live}`);
    await held.lock(true);
    using heldOld = await Deno.open(`${dir}/${old}`);
    await heldOld.lock(true);

    const result = await runCli(["download", "--mirror", mirror.url, "--data-dir", dir]);
    assertEquals(result.code, 0, result.stderr);
    const removed = result.stderr.split("\n").filter((line) => line.startsWith("Removed "));
    assertEquals(
      removed.sort(),
      [
        `Removed ${dir}/${dead}, left by an earlier download (its process 999999 is gone)`,
        `Removed ${dir}/${old}, left by an earlier download (older than a day)`,
      ].sort(),
    );
    assertEquals(await listDir(dir), [...NAMES, live, other].sort());
  });
});
