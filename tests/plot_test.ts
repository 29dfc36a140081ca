/**
 * End-to-end: the real `mnist plot` on published MXNet logs and `mnist train`'s own
 * (tests/fixtures/mxnet_logs/), and `mnist train --plot` on real MNIST. Asserts on the files
 * written (the SVG's curves and labels, the PNG's size and ink), the lines printed, and the
 * one-line errors of bad input.
 */
import assert from "node:assert/strict";
import { decode } from "fast-png";
import { type CliResult, runCli } from "./cli_helpers.ts";
import { gpuTest } from "./gpu_helpers.ts";
import { MNIST } from "./test_data.ts";
import { describeChart, plotFormat } from "../src/cli/plot.ts";
import { parseMxnetLog } from "../src/train/log_parse.ts";
import { curvesSpec, MAX_PANELS } from "../src/plot/curves.ts";

const FIXTURES = "tests/fixtures/mxnet_logs";
const FEEDFORWARD = `${FIXTURES}/feedforward_mlp.log`;
const KAPTAIN = `${FIXTURES}/module_lenet_kaptain.log`;

/** A temporary directory, removed after `fn`. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mnist_plot_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The names in `dir`, sorted. */
async function names(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

/** The lines Vega draws as one `<path>` each, by their accessible label (the first point's). */
function linePaths(svg: string): string[] {
  return [
    ...svg.matchAll(
      /<path aria-label="([^"]*)" role="graphics-symbol"[^>]*aria-roledescription="line mark"/g,
    ),
  ]
    .map((m) => m[1]!);
}

/** Asserts a run failed with one `error:` line matching `pattern` (and at most a hint). */
function assertUserError(run: CliResult, pattern: RegExp, what: string): void {
  assert.equal(run.code, 1, `${what}: exit code, stderr:\n${run.stderr}`);
  const err = run.stderr.trimEnd().split("\n");
  assert.ok(err.length <= 2, `${what}: stderr is\n${run.stderr}`);
  assert.match(err[0]!, /^error: /, what);
  assert.match(err[0]!, pattern, what);
  if (err.length === 2) assert.match(err[1]!, /^hint: /, what);
  assert.equal(run.stdout, "", what);
}

Deno.test("mnist plot draws a FeedForward and a Module log as one SVG, one colour each", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/curves.svg`;
    const run = await runCli(["plot", FEEDFORWARD, KAPTAIN, "--out", out]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.equal(run.stdout, `Wrote ${out} (2 logs, 5 curves of accuracy, 10 epochs)\n`);
    const svg = await Deno.readTextFile(out);
    assert.match(svg, /^<svg [^>]*width="\d+" height="\d+"/);
    // mnist train's log: validation and Speedometer curves; Kaptain's (Module): both and the
    // epochs' train accuracy. Each is one line.
    const lines = linePaths(svg);
    assert.equal(lines.length, 5, lines.join("\n"));
    const strokes = [
      ...svg.matchAll(/aria-roledescription="line mark" d="[^"]*" stroke="(#[0-9a-f]+)"/g),
    ]
      .map((m) => m[1]);
    assert.equal(new Set(strokes).size, 2, `two colours: ${strokes}`);
    for (const label of ["feedforward_mlp.log", "module_lenet_kaptain.log"]) {
      assert.ok(svg.includes(`>${label}</text>`), `legend has ${label}`);
    }
    for (const text of ["Training curves", "accuracy", "epoch", "validation, per epoch"]) {
      assert.ok(svg.includes(`>${text}</text>`), `SVG has the text "${text}"`);
    }
    assert.deepEqual(await names(dir), ["curves.svg"]);
  });
});

Deno.test("mnist plot draws a log with non-breaking spaces as the tabbed one", async () => {
  await withTempDir(async (dir) => {
    const tabbed = await runCli(["plot", FEEDFORWARD, "--out", `${dir}/a.svg`, "--title", "T"]);
    const nbsp = await runCli([
      "plot",
      `${FIXTURES}/feedforward_mlp_nbsp.log`,
      "--out",
      `${dir}/b.svg`,
      "--title",
      "T",
    ]);
    assert.equal(tabbed.code, 0, tabbed.stderr);
    assert.equal(nbsp.code, 0, nbsp.stderr);
    const a = await Deno.readTextFile(`${dir}/a.svg`);
    const b = await Deno.readTextFile(`${dir}/b.svg`);
    assert.equal(linePaths(a).length, 2);
    // The same curves, point for point (the legends differ by the file's name).
    const shapes = (svg: string) =>
      [...svg.matchAll(/aria-roledescription="line mark" d="([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual(shapes(b), shapes(a));
  });
});

Deno.test("mnist plot --out x.png writes a PNG twice the chart's size, with ink on white", async () => {
  await withTempDir(async (dir) => {
    const run = await runCli(["plot", KAPTAIN, "--out", `${dir}/c.png`]);
    assert.equal(run.code, 0, run.stderr);
    const svgRun = await runCli(["plot", KAPTAIN, "--out", `${dir}/c.svg`]);
    assert.equal(svgRun.code, 0, svgRun.stderr);
    const [, w, h] = /^<svg [^>]*width="(\d+)" height="(\d+)"/.exec(
      await Deno.readTextFile(`${dir}/c.svg`),
    )!;
    const png = decode(await Deno.readFile(`${dir}/c.png`));
    assert.deepEqual([png.width, png.height], [2 * Number(w), 2 * Number(h)]);
    assert.equal(png.channels, 4);
    // Mostly white paper, with dark text and the log's colour (Vega's first: #4c78a8).
    const { data, channels } = png;
    let white = 0, dark = 0, blue = 0;
    for (let i = 0; i < data.length; i += channels) {
      const [r, g, b] = [data[i]!, data[i + 1]!, data[i + 2]!];
      if (r > 245 && g > 245 && b > 245) white++;
      if (r < 60 && g < 60 && b < 60) dark++;
      if (Math.abs(r - 0x4c) < 16 && Math.abs(g - 0x78) < 16 && Math.abs(b - 0xa8) < 16) blue++;
    }
    const pixels = png.width * png.height;
    assert.ok(white > pixels * 0.7, `white: ${white} of ${pixels}`);
    assert.ok(dark > 2000, `text: ${dark} dark pixels`);
    assert.ok(blue > 2000, `curves: ${blue} pixels of the log's colour`);
  });
});

Deno.test("mnist plot draws cross-entropy in a panel of its own and reads standard input", async () => {
  await withTempDir(async (dir) => {
    const log = [
      "INFO:root:Epoch[0] Batch [50]\tSpeed: 1000.00 samples/sec\tTrain-accuracy=0.800000" +
      "\tTrain-cross-entropy=0.600000",
      "INFO:root:Epoch[0] Batch [100]\tSpeed: 1000.00 samples/sec\tTrain-accuracy=0.900000" +
      "\tTrain-cross-entropy=0.300000",
      "INFO:root:Epoch[0] Validation-accuracy=0.910000",
      "INFO:root:Epoch[0] Validation-cross-entropy=0.280000",
    ].join("\n");
    const run = await runCli(["plot", "-", "--out", `${dir}/ce.svg`], { stdin: log });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\(1 log, 4 curves of accuracy and cross-entropy, 1 epoch\)/);
    const svg = await Deno.readTextFile(`${dir}/ce.svg`);
    assert.equal(linePaths(svg).length, 4);
    assert.ok(svg.includes(">cross-entropy</text>") && svg.includes(">accuracy</text>"));
    assert.ok(svg.includes(">standard input</text>"));
  });
});

Deno.test("mnist plot says where a log starts again at an earlier epoch", async () => {
  await withTempDir(async (dir) => {
    const first = await Deno.readTextFile(FEEDFORWARD);
    // The first three epochs again, as a run resumed from the checkpoint of epoch 0 appends.
    const again = first.split("\n").filter((l) => /Epoch\[[12]\]|Start/.test(l)).join("\n");
    await Deno.writeTextFile(`${dir}/again.log`, `${first}${again}\n`);
    const run = await runCli(["plot", `${dir}/again.log`, "--out", `${dir}/a.svg`]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stderr,
      "again.log: the run starts again at epoch 1 on line 73; drawing the later lines from there\n",
    );
    assert.match(run.stdout, /\(1 log, 2 curves of accuracy, 3 epochs\)/);
  });
});

Deno.test("mnist plot says when a run appended to a log ended before its first value", async () => {
  await withTempDir(async (dir) => {
    const first = await Deno.readTextFile(FEEDFORWARD);
    // A second run appended, stopped after its first epoch's time cost: no value yet.
    const cut = "INFO:root:Start training with [cpu(0)]\n" +
      "INFO:root:Epoch[0] Resetting Data Iterator\nINFO:root:Epoch[0] Time cost=2.1\n";
    const path = `${dir}/two runs.log`;
    await Deno.writeTextFile(path, `${first}${cut}`);
    const run = await runCli(["plot", path, "--out", `${dir}/a.svg`]);
    assertUserError(
      run,
      /^error: Cannot plot ".*two runs\.log": the run that starts again at epoch 0 on line \d+ logged no metric value before it ended, and it replaces the earlier run's values from that epoch on$/,
      "appended run",
    );
    const line = Number(/on line (\d+)/.exec(run.stderr)![1]);
    assert.match(run.stderr, new RegExp(`hint: .*head -n ${line - 1} '.*two runs\\.log' \\|`));
    // The hint's command draws the earlier run.
    const head = (await Deno.readTextFile(path)).split("\n").slice(0, line - 1).join("\n");
    const earlier = await runCli(["plot", "-", "--out", `${dir}/b.svg`], { stdin: head });
    assert.equal(earlier.code, 0, earlier.stderr);
    await assert.rejects(Deno.stat(`${dir}/a.svg`), Deno.errors.NotFound);
  });
});

Deno.test("mnist plot refuses bad input with one line and writes nothing", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/empty.log`, "\n\n");
    await Deno.writeTextFile(`${dir}/other.log`, "Epoch 1/10 - loss: 0.3 - acc: 0.9\n");
    await Deno.writeTextFile(
      `${dir}/speed.log`,
      "INFO:root:Epoch[0] Batch [10]\tSpeed: 1.0 samples/sec\n",
    );
    await Deno.writeFile(`${dir}/binary.log`, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 1]));
    await Deno.writeTextFile(`${dir}/a-file`, "");
    const out = `${dir}/out.svg`;
    const cases: [string[], RegExp][] = [
      [
        ["plot", `${dir}/missing.log`, "--out", out],
        /Cannot read log ".*missing.log": no such file/,
      ],
      [["plot", `${dir}/empty.log`, "--out", out], /Cannot plot ".*empty.log": it is empty/],
      [["plot", `${dir}/other.log`, "--out", out], /not an MXNet training log/],
      [["plot", `${dir}/speed.log`, "--out", out], /: its one MXNet line holds no metric value$/m],
      [["plot", `${dir}/binary.log`, "--out", out], /it is not a text file/],
      [
        ["plot", FEEDFORWARD, "--out", `${dir}/a-file/out.svg`],
        /Cannot write chart .*is not a directory/,
      ],
      [["plot", FEEDFORWARD, "--out", dir], /--out must end in \.svg or \.png/],
      [
        ["plot", FEEDFORWARD, "--out", `${dir}/out.jpg`],
        /--out must end in \.svg or \.png, got ".*out\.jpg" \(\.jpg\)/,
      ],
      [["plot", FEEDFORWARD], /needs --out FILE\.svg or --out FILE\.png/],
      [["plot", "--out", out], /needs a log file/],
      // One good log and one bad: nothing is drawn.
      [["plot", FEEDFORWARD, `${dir}/other.log`, "--out", out], /other\.log/],
    ];
    for (const [args, pattern] of cases) {
      assertUserError(await runCli(args), pattern, args.join(" "));
    }
    assert.deepEqual(await names(dir), [
      "a-file",
      "binary.log",
      "empty.log",
      "other.log",
      "speed.log",
    ]);
  });
});

Deno.test("plotFormat() and describeChart() name the format and what a chart shows", () => {
  assert.equal(plotFormat("x/curves.SVG"), "svg");
  assert.equal(plotFormat("curves.png"), "png");
  assert.throws(() => plotFormat("curves.pdf"), /--out must end in \.svg or \.png/);
  const points = parseMxnetLog(Deno.readTextFileSync(KAPTAIN)).points;
  assert.equal(describeChart([{ label: "k", points }]), "1 log, 3 curves of accuracy, 10 epochs");
});

Deno.test("mnist plot draws at most MAX_PANELS metrics of a log of 300 and says so", async () => {
  // 300 validation metrics: 300 panels took 7 s and a 1.5 MB SVG (3000: over 2 minutes, 2.5 GB).
  const lines = Array.from({ length: 300 }, (_, i) => `INFO:root:Epoch[0] Validation-m${i}=0.5`);
  const points = parseMxnetLog(["INFO:root:Epoch[0] Validation-accuracy=0.9", ...lines].join("\n"))
    .points;
  const spec = curvesSpec([{ label: "many.log", points }]);
  assert.equal((spec.vconcat as unknown[]).length, MAX_PANELS);
  const rows = (spec.data as { values: { metric: string }[] }).values;
  assert.deepEqual(
    [...new Set(rows.map((r) => r.metric))],
    ["accuracy", "m0", "m1", "m2", "m3", "m4", "m5", "m6"],
  );
  await withTempDir(async (dir) => {
    const log = `${dir}/many.log`;
    await Deno.writeTextFile(log, lines.join("\n") + "\n");
    const out = `${dir}/many.svg`;
    const run = await runCli(["plot", log, "--out", out]);
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.equal(
      run.stdout,
      `Wrote ${out} (1 log, 8 curves of m0, m1, m2, m3, m4, m5, m6 and m7, 1 epoch; ` +
        `292 more metrics not drawn (at most 8 panels))\n`,
    );
    const svg = await Deno.readTextFile(out);
    for (const metric of ["m0", "m7"]) assert.ok(svg.includes(`>${metric}</text>`), metric);
    assert.ok(!svg.includes(">m8</text>"), "m8 is not drawn");
  });
});

gpuTest("mnist train --plot draws the run's own curves at the end", async () => {
  await withTempDir(async (dir) => {
    for (const f of await Array.fromAsync(Deno.readDir(MNIST))) {
      if (f.name.endsWith(".gz")) await Deno.symlink(`${MNIST}/${f.name}`, `${dir}/${f.name}`);
    }
    const out = `${dir}/run.svg`;
    const run = await runCli([
      "train",
      "--data-dir",
      dir,
      "--limit",
      "1000",
      "--epochs",
      "2",
      "--frequent",
      "3",
      "--plot",
      out,
    ]);
    assert.equal(run.code, 0, run.stderr);
    // Standard output stays MXNet's log; the note goes to standard error.
    assert.doesNotMatch(run.stdout, /Wrote/);
    assert.match(
      run.stderr,
      new RegExp(`^Wrote ${out} \\(1 log, 2 curves of accuracy, 2 epochs\\)$`, "m"),
    );
    const svg = await Deno.readTextFile(out);
    assert.equal(linePaths(svg).length, 2);
    assert.ok(svg.includes(">mlp</text>"));
    // 10 batches an epoch, a line every 3: batch 9 of epoch 0 sits at 0.9, not at the end.
    const parsed = parseMxnetLog(run.stdout, { batchesPerEpoch: 10 });
    const first = parsed.points.filter((p) => p.kind === "batch" && p.epoch === 0).at(-1)!;
    assert.equal(first.x, 0.9);

    // A --plot that cannot be written fails before training.
    const bad = await runCli([
      "train",
      "--data-dir",
      dir,
      "--limit",
      "100",
      "--plot",
      `${dir}/x.gif`,
    ]);
    assertUserError(bad, /--plot must end in \.svg or \.png/, "train --plot x.gif");
  });
});
