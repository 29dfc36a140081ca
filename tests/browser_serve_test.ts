/**
 * The page of `mnist serve` classifying in the browser, with the server's own engine
 * (src/serve/engine.ts bundled into src/serve/engine.bundle.js, served at /engine.js) on the
 * weights it serves at /api/model, against the server's `POST /api/predict` for the same
 * pixels:
 *
 * - the committed bundle is what `deno task gen` makes of today's sources;
 * - headless Chromium with WebGPU on SwiftShader (as tests/browser_kernels_test.ts launches it)
 *   opens the page of the real `mnist serve --port 0`, for an MLP and a LeNet the real CLI
 *   trained: MNIST test digits (as a drawing's transparent ink, and opaque), photos of digits
 *   and a canvas with one dot are put on a canvas and classified by the engine the page loads
 *   and by the server from that canvas's PNG: the same digit, probabilities within 1e-4, the
 *   same refusal; digits drawn with the mouse get answers while the stroke is still being drawn,
 *   and each stroke's answer is the server's within 1e-4;
 * - a browser without WebGPU (navigator.gpu taken away) gets its answers from the server, and
 *   the page says so.
 *
 * Skipped, saying why, where /usr/bin/chromium is missing or this machine has no WebGPU
 * adapter for the server.
 */
import assert from "node:assert/strict";
import { PROJECT_ROOT, runCli } from "./cli_helpers.ts";
import { gpu } from "./gpu_helpers.ts";
import { FASHION, HAVE_FASHION, MNIST } from "./test_data.ts";
import { loadSplit } from "../src/data/dataset.ts";
import { toMnist } from "../src/image/preprocess.ts";
import { decodeCheckpoint } from "../src/nn/checkpoint.ts";
import { TEACH_STEPS } from "../src/serve/engine.ts";
import { Tuner } from "../src/serve/tune.ts";
import { BUNDLE_PATH, bundleEngine } from "../src/serve/gen_engine_bundle.ts";
import { CHROMIUM, hasChromium, importPlaywright } from "./browser_helpers.ts";

const FILES = [
  "train-images-idx3-ubyte.gz",
  "train-labels-idx1-ubyte.gz",
  "t10k-images-idx3-ubyte.gz",
  "t10k-labels-idx1-ubyte.gz",
];
/** How far the browser's probabilities may be from the server's. */
const TOLERANCE = 1e-4;
const CASES = new URL("./fixtures/cases/", import.meta.url);

Deno.test("src/serve/engine.bundle.js is what deno task gen makes of today's sources", async () => {
  const committed = await Deno.readTextFile(BUNDLE_PATH);
  assert.match(committed.split("\n")[0]!, /^\/\/ Generated .* do not edit\.$/);
  const made = await bundleEngine();
  // A whole-file comparison, with the first line that differs named.
  if (made !== committed) {
    const a = made.split("\n");
    const b = committed.split("\n");
    const line = a.findIndex((l, i) => l !== b[i]);
    assert.fail(
      `src/serve/engine.bundle.js is stale (line ${line + 1} differs): run deno task gen`,
    );
  }
});

/** A running `mnist serve --port 0`. */
interface Server {
  url: string;
  stop(): Promise<void>;
}

/** Starts the real CLI's server on a free port and waits for its "Listening on" line. */
async function startServer(model: string): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "main.ts",
      "serve",
      "--port",
      "0",
      "--model",
      model,
    ],
    cwd: PROJECT_ROOT,
    env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!stdout.includes("\n")) {
    const chunk = await reader.read();
    if (chunk.done) break;
    stdout += chunk.value;
  }
  const match = /^Listening on (http:\/\/127\.0\.0\.1:\d+\/)\n$/.exec(stdout);
  if (!match) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`mnist serve printed ${JSON.stringify(stdout)}; stderr:\n${await stderr}`);
  }
  return {
    url: match[1]!,
    async stop() {
      child.kill("SIGTERM");
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      const status = await child.status;
      // 143: stopped by SIGTERM, having answered what was in flight.
      assert.equal(status.code, 143, await stderr);
    },
  };
}

/** Trains the models the pages run: the real CLI, on a few thousand digits. */
async function trainModels(dataDir: string): Promise<{ mlp: string; lenet: string }> {
  for (const f of FILES) await Deno.symlink(`${MNIST}/${f}`, `${dataDir}/${f}`);
  const train = async (model: string, limit: number) => {
    const file = `${dataDir}/${model}.safetensors`;
    const run = await runCli([
      "train",
      "--model",
      model,
      "--limit",
      String(limit),
      "--epochs",
      "1",
      "--frequent",
      "1000",
      "--data-dir",
      dataDir,
      "--save",
      file,
    ]);
    assert.equal(run.code, 0, `mnist train --model ${model} failed:\n${run.stderr}`);
    return file;
  };
  return { mlp: await train("mlp", 10000), lenet: await train("lenet", 2000) };
}

/**
 * A picture for the page's canvas: an MNIST digit the page draws 280×280 (8×8 blocks, 28 px
 * of margin) as white ink in alpha, as the pad holds a drawing, or grey on opaque black; or
 * an image file the browser decodes.
 */
type Picture =
  | { name: string; digit: number[]; transparent: boolean }
  | { name: string; file: string };

/** Test digit `i` of `images` ((N, 28, 28) bytes). */
function mnistPicture(images: Uint8Array, i: number, transparent: boolean): Picture {
  return {
    name: `test digit #${i} (${transparent ? "alpha" : "opaque"})`,
    digit: Array.from(images.subarray(i * 784, (i + 1) * 784)),
    transparent,
  };
}

/** The DOM the page's scripts below use: this file is type-checked without the DOM library. */
interface Dom {
  document: {
    createElement(tag: "canvas"): Canvas;
    getElementById(id: string): Canvas;
  };
}
interface Canvas {
  width: number;
  height: number;
  getContext(type: "2d"): {
    drawImage(image: ImageBitmap, x: number, y: number): void;
    putImageData(image: ImageData, x: number, y: number): void;
    getImageData(x: number, y: number, width: number, height: number): ImageData;
  };
  toBlob(callback: (blob: Blob | null) => void): void;
}

/** What the page's engine and the server made of one picture. */
interface Compared {
  name: string;
  browser: {
    ok: boolean;
    digit?: number;
    probabilities?: number[];
    message?: string;
    refusal?: string;
  };
  server: {
    status: number;
    digit?: number;
    probabilities?: number[];
    error?: string;
    refusal?: string;
  };
}

/** Opens Chromium: WebGPU on SwiftShader when `webgpu`, as tests/browser_kernels_test.ts does. */
async function launch(webgpu: boolean) {
  const { chromium } = await importPlaywright();
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless=new",
      ...(webgpu ? ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"] : []),
      "--no-sandbox",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

type Point = [number, number];

/** An ellipse as a closed polyline, starting at the top and going clockwise. */
function ellipse(cx: number, cy: number, rx: number, ry: number, n = 20): Point[] {
  return Array.from({ length: n + 1 }, (_, i) => {
    const a = (2 * Math.PI * i) / n;
    return [cx + rx * Math.sin(a), cy - ry * Math.cos(a)];
  });
}

/** Digits as strokes, in fractions of the box (as tests/serve_test.ts draws them). */
const DRAWINGS: { digit: number; strokes: Point[][] }[] = [
  { digit: 7, strokes: [[[0.3, 0.2], [0.7, 0.2], [0.42, 0.85]]] },
  { digit: 0, strokes: [ellipse(0.5, 0.5, 0.22, 0.33)] },
  { digit: 4, strokes: [[[0.55, 0.15], [0.3, 0.6], [0.72, 0.6]], [[0.6, 0.35], [0.6, 0.88]]] },
];

function maxDifference(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  return Math.max(...a.map((x, k) => Math.abs(x - b[k]!)));
}

/** The page of `url` with WebGPU: injected pictures, then digits drawn with the mouse. */
async function browserPage(
  url: string,
  { pictures, model, dataDir }: { pictures: Picture[]; model: string; dataDir: string },
): Promise<void> {
  const browser = await launch(true);
  try {
    const page = await (await browser.newContext()).newPage();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    const loading = Date.now();
    await page.goto(url);
    await page.locator("body:not([data-engine=loading])").waitFor({ timeout: 120_000 });
    const said = await page.textContent("#engine");
    console.log(`${model}: "${said}" after ${Date.now() - loading} ms`);
    assert.equal(await page.getAttribute("body", "data-engine"), "browser", said ?? "");
    assert.match(said ?? "", /^Classifying in your browser \(WebGPU: .+\)$/);

    // The pictures, through the engine module the page loaded and through the server.
    const compared: Compared[] = await page.evaluate(async (pictures) => {
      // @ts-ignore: the engine the server serves, as the page imports it.
      const { startEngine } = await import("/engine.js");
      const engine = await startEngine("/api/model");
      const { document } = globalThis as unknown as Dom;
      const results = [];
      for (const picture of pictures) {
        let canvas: Canvas;
        if ("file" in picture) {
          const bytes = Uint8Array.from(atob(picture.file), (c) => c.charCodeAt(0));
          const bitmap = await createImageBitmap(new Blob([bytes]));
          canvas = Object.assign(document.createElement("canvas"), {
            width: bitmap.width,
            height: bitmap.height,
          });
          canvas.getContext("2d")!.drawImage(bitmap, 0, 0);
        } else {
          canvas = Object.assign(document.createElement("canvas"), { width: 280, height: 280 });
          const image = new ImageData(280, 280);
          for (let y = 0; y < 280; y++) {
            for (let x = 0; x < 280; x++) {
              const [u, v] = [Math.floor((x - 28) / 8), Math.floor((y - 28) / 8)];
              const ink = u >= 0 && u < 28 && v >= 0 && v < 28 ? picture.digit[v * 28 + u]! : 0;
              const rgba = picture.transparent ? [255, 255, 255, ink] : [ink, ink, ink, 255];
              image.data.set(rgba, 4 * (y * 280 + x));
            }
          }
          canvas.getContext("2d")!.putImageData(image, 0, 0);
        }
        const ctx = canvas.getContext("2d")!;
        const browser = await engine.classify(ctx.getImageData(0, 0, canvas.width, canvas.height));
        const png = await new Promise<Blob>((resolve) => canvas.toBlob((b) => resolve(b!)));
        const response = await fetch("/api/predict", {
          method: "POST",
          headers: { "Content-Type": "image/png" },
          body: png,
        });
        const server = { status: response.status, ...(await response.json()) };
        delete browser.ink;
        delete server.input;
        results.push({ name: picture.name, browser, server });
      }
      engine.destroy();
      return results;
    }, pictures);
    let worst = 0;
    for (const { name, browser, server } of compared) {
      if (!browser.ok) {
        console.log(`${model} ${name}: refused by both: ${browser.message}`);
        assert.equal(server.status, 400, `${name}: the server answered ${server.digit}`);
        assert.equal(browser.message, server.error, name);
        assert.equal(browser.refusal, server.refusal, name);
        assert.doesNotMatch(browser.message!, /request body/, name);
        continue;
      }
      assert.equal(server.status, 200, `${name}: ${server.error}`);
      const difference = maxDifference(browser.probabilities!, server.probabilities!);
      worst = Math.max(worst, difference);
      assert.equal(browser.digit, server.digit, name);
      assert.ok(difference <= TOLERANCE, `${name}: probabilities differ by ${difference}`);
    }
    const named = compared.filter((c) => c.browser.ok).length;
    console.log(
      `${model}: ${named} pictures classified in the browser as on the server, ` +
        `largest |browser - server| ${worst.toExponential(2)}`,
    );
    assert.ok(named >= pictures.length - 1, "all but the dot are digits");

    // Digits drawn with the mouse: answers while drawing, and the server's for each stroke.
    // (Console errors only from here: the dot's 400 above is one.)
    page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
    const box = (await page.locator("#pad").boundingBox())!;
    const at = ([x, y]: Point): Point => [box.x + x * box.width, box.y + y * box.height];
    // A tap: a dot, refused by the engine in words about the box (it drew nothing, and said
    // `Image "request body" has no ink ...`: defects found by trying the product).
    await page.mouse.click(...at([0.5, 0.5]));
    await page.locator(`body[data-answered="1"][data-state="error"]`).waitFor({ timeout: 10_000 });
    assert.equal(await page.getAttribute("body", "data-refusal"), "too-small");
    assert.equal(
      await page.textContent("#status"),
      "Too small: draw the digit larger, filling the box",
    );
    const latencies: number[] = [];
    const drawn: string[] = [];
    for (const { digit, strokes } of DRAWINGS) {
      await page.click("#clear");
      for (const [i, stroke] of strokes.entries()) {
        const before = await page.getAttribute("#bars", "data-probabilities") ?? "";
        await page.mouse.move(...at(stroke[0]!));
        await page.mouse.down();
        const answers = new Set<string>();
        for (const point of stroke.slice(1)) {
          await page.mouse.move(...at(point), { steps: 8 });
          // Time for the throttled classification to land before the next segment.
          await page.waitForTimeout(150);
          answers.add(await page.getAttribute("#bars", "data-probabilities") ?? "");
          latencies.push(Number(await page.getAttribute("body", "data-latency")));
        }
        // Answers came while the button was still down, and changed as the ink did.
        assert.equal(await page.getAttribute("body", "data-answered"), String(i), "mid-stroke");
        answers.delete("");
        answers.delete(before);
        assert.ok(answers.size >= 1, `stroke ${i + 1} of a ${digit}: no new answer while drawing`);
        await page.mouse.up();
        await page.locator(`body[data-answered="${i + 1}"]`).waitFor({ timeout: 10_000 });
        assert.equal(await page.getAttribute("body", "data-answered-by"), "browser");
        const shown = JSON.parse((await page.getAttribute("#bars", "data-probabilities"))!);
        const server = await page.evaluate(async () => {
          const pad = (globalThis as unknown as Dom).document.getElementById("pad");
          const png = await new Promise<Blob>((resolve) => pad.toBlob((b) => resolve(b!)));
          const response = await fetch("/api/predict", {
            method: "POST",
            headers: { "Content-Type": "image/png" },
            body: png,
          });
          return await response.json();
        });
        const difference = maxDifference(shown, server.probabilities);
        assert.ok(difference <= TOLERANCE, `stroke ${i + 1} of a ${digit}: ${difference}`);
        assert.equal(await page.textContent("#prediction"), String(server.digit));
      }
      drawn.push(`${digit} → ${await page.textContent("#prediction")}`);
    }
    latencies.sort((a, b) => a - b);
    console.log(
      `${model}: drawn ${drawn.join(", ")}; ink change to answer on screen: median ` +
        `${latencies[latencies.length >> 1]!.toFixed(1)} ms, most ` +
        `${latencies[latencies.length - 1]!.toFixed(1)} ms (${latencies.length} answers)`,
    );
    assert.deepEqual(problems, []);
    if (model === "mlp") await teachTest(page, { url, at, dataDir });

    // WebGPU failing after the engine loaded (its device gone): the server takes over.
    await page.click("#clear");
    await page.evaluate("browser.destroy()"); // the page's engine, a global of its script
    const [seven] = DRAWINGS;
    const stroke = seven!.strokes[0]!;
    await page.mouse.move(...at(stroke[0]!));
    await page.mouse.down();
    for (const point of stroke.slice(1)) await page.mouse.move(...at(point), { steps: 8 });
    await page.mouse.up();
    await page.locator(`body[data-answered="1"]`).waitFor({ timeout: 10_000 });
    assert.equal(await page.getAttribute("body", "data-engine"), "server");
    assert.equal(await page.getAttribute("body", "data-answered-by"), "server");
    assert.match(
      await page.textContent("#engine") ?? "",
      /^Classifying on the server \(WebGPU failed: .+\)$/,
    );
    assert.equal(await page.textContent("#prediction"), "7");
    console.log(`${model}, its device destroyed: "${await page.textContent("#engine")}"`);
  } finally {
    await browser.close();
  }
}

/**
 * Teaching in the page: a drawn 7 taught as a 1 (SGD steps in Chromium) is then a 1, with
 * the weights and probabilities the same steps give in Deno (`Tuner`, on this process's
 * adapter) from the same pixels and the served weights; the page's download of the taught
 * model holds those weights, and `mnist eval` reads it.
 */
async function teachTest(
  page: import("playwright-core").Page,
  { url, at, dataDir }: { url: string; at: (p: Point) => Point; dataDir: string },
): Promise<void> {
  await page.click("#clear");
  assert.ok(await page.isVisible("#teach"), "the teaching buttons are shown");
  // Nothing to teach on an empty box: they were enabled, and a press did nothing, said nothing
  // (defects found by trying the product).
  const enabled = () =>
    page.locator("#labels button").evaluateAll((buttons) => buttons.map((b) => !b.disabled));
  assert.deepEqual(await enabled(), new Array(10).fill(false), "disabled on an empty box");
  const stroke = DRAWINGS[0]!.strokes[0]!;
  await page.mouse.move(...at(stroke[0]!));
  await page.mouse.down();
  for (const point of stroke.slice(1)) await page.mouse.move(...at(point), { steps: 8 });
  await page.mouse.up();
  await page.locator(`body[data-answered="1"][data-state="ready"]`).waitFor({ timeout: 10_000 });
  assert.equal(await page.textContent("#prediction"), "7");
  assert.deepEqual(await enabled(), new Array(10).fill(true), "enabled once answered");
  // The pad's RGBA pixels, as the engine reads them.
  const rgba = await page.evaluate(() => {
    const pad = (globalThis as unknown as Dom).document.getElementById("pad");
    const { data } = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height);
    let text = "";
    for (let i = 0; i < data.length; i += 8192) {
      text += String.fromCharCode(...data.subarray(i, i + 8192));
    }
    return btoa(text);
  });
  // Taught, click after click, until it says 1: one drawing, one sample, trained on again.
  let clicks = 0;
  const seen: string[] = [];
  let lessons = 0;
  /** Presses `label`'s button and waits until the page answers with what it was taught. */
  const press = async (label: number) => {
    await page.click(`#labels button[data-label="${label}"]`);
    await page.locator(`body[data-lessons="${++lessons}"][data-state="ready"]`)
      .waitFor({ timeout: 60_000 });
  };
  while (clicks < 8 && await page.textContent("#prediction") !== "1") {
    await press(1);
    clicks++;
    const p = JSON.parse((await page.getAttribute("#bars", "data-probabilities"))!);
    seen.push(p[1].toFixed(3));
  }
  const taught: number[] = JSON.parse((await page.getAttribute("#bars", "data-probabilities"))!);
  const said = await page.textContent("#taught") ?? "";
  console.log(`mlp, a 7 taught as a 1: p(1) after each click ${seen.join(", ")}; "${said}"`);
  assert.equal(await page.textContent("#prediction"), "1", `after ${clicks} clicks`);
  assert.equal(await page.getAttribute("body", "data-taught"), "1", "one drawing, one sample");
  assert.match(
    said,
    new RegExp(
      `^Taught this drawing as 1${clicks > 1 ? " again" : ""}\\. 1 digit taught in your ` +
        `browser: ${TEACH_STEPS} SGD steps on the last 1 `,
    ),
  );
  assert.match(await page.textContent("#engine") ?? "", /with what you taught it$/);

  // The same steps in Deno.
  const bytes = new Uint8Array(await (await fetch(url + "api/model")).arrayBuffer());
  const checkpoint = decodeCheckpoint(bytes, "served");
  const image = {
    width: 280,
    height: 280,
    channels: 4 as const,
    data: Uint8Array.fromBase64(rgba),
  };
  const { pixels } = toMnist(image, "pad");
  const tuner = new Tuner(gpu!, checkpoint);
  let weights: Map<string, Float32Array>;
  try {
    for (let k = 0; k < clicks; k++) await tuner.train([{ pixels, label: 1 }], TEACH_STEPS);
    const expected = Array.from(await tuner.classify(pixels));
    const difference = maxDifference(taught, expected);
    console.log(`mlp, taught: probabilities, max |chromium - deno| ${difference.toExponential(2)}`);
    assert.ok(difference <= TOLERANCE, `taught probabilities differ by ${difference}`);
    weights = await tuner.weights();
  } finally {
    tuner.destroy();
  }

  // The download: the taught weights, as Deno's steps made them, and a file mnist eval reads.
  assert.ok(await page.isVisible("#download"), "the download is offered once taught");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
  assert.equal(download.suggestedFilename(), "mnist-taught.safetensors");
  const file = `${dataDir}/taught.safetensors`;
  await download.saveAs(file);
  const downloaded = decodeCheckpoint(await Deno.readFile(file), file);
  let worst = 0;
  let moved = 0;
  for (const [name, expected] of weights) {
    const got = downloaded.params.get(name)!;
    const before = checkpoint.params.get(name)!;
    expected.forEach((w, i) => {
      worst = Math.max(worst, Math.abs(got[i]! - w));
      moved = Math.max(moved, Math.abs(w - before[i]!));
    });
  }
  console.log(
    `mlp, taught: weights moved by up to ${moved.toExponential(2)}, ` +
      `max |chromium - deno| ${worst.toExponential(2)}`,
  );
  assert.ok(moved > 1e-3, "teaching changed the weights");
  assert.ok(worst <= 1e-5, `the downloaded weights differ from Deno's steps by ${worst}`);
  // mnist eval reads it; it scores what it scores, against the served model's score on the same
  // digits (teaching on one drawing alone makes it forget: reported, not asserted).
  const served = `${dataDir}/served.safetensors`;
  await Deno.writeFile(served, bytes);
  const scores: string[] = [];
  for (const model of [served, file]) {
    const run = await runCli(["eval", "--model", model, "--data-dir", dataDir, "--limit", "1000"]);
    assert.equal(run.code, 0, run.stderr);
    const line = /^Validation accuracy: \d+\.\d+% \(\d+\/1000\)$/m.exec(run.stdout);
    assert.ok(line, run.stdout);
    scores.push(line[0]);
  }
  console.log(`mnist eval, served model: ${scores[0]}; the download: ${scores[1]}`);

  // Another label for the same drawing replaces its label: it was taught both, 7 and then 1,
  // as two samples ("Taught 2 digits": defects found by trying the product).
  await press(7);
  assert.equal(await page.getAttribute("body", "data-taught"), "1", "still one sample");
  assert.match(
    await page.textContent("#taught") ?? "",
    /^This drawing is now taught as 7, not 1 \(one label per drawing\)\. 1 digit taught /,
  );

  // On a phone: the cards one above the other, as wide as each other; the ten buttons in rows
  // of five (the 9 had a row of its own).
  await page.setViewportSize({ width: 390, height: 844 });
  const cards = await page.locator("section.card").evaluateAll((sections) =>
    sections.map((c) => Math.round(c.getBoundingClientRect().width))
  );
  assert.equal(cards[0], cards[1], `card widths ${cards}`);
  const rows = await page.locator("#labels button").evaluateAll((buttons) => {
    const count = new Map<number, number>();
    for (const b of buttons) {
      const y = Math.round(b.getBoundingClientRect().y);
      count.set(y, (count.get(y) ?? 0) + 1);
    }
    return [...count.values()];
  });
  assert.deepEqual(rows, [5, 5], "buttons per row");
  await page.setViewportSize({ width: 1280, height: 720 });
}

/** A browser without WebGPU: the page says the server classifies, and it does. */
async function withoutWebGpu(url: string): Promise<void> {
  const browser = await launch(true);
  try {
    const context = await browser.newContext();
    // As in a browser that has no WebGPU at all.
    await context.addInitScript(() => {
      delete (Navigator.prototype as { gpu?: unknown }).gpu;
    });
    const page = await context.newPage();
    const requests: string[] = [];
    page.on("request", (r) => requests.push(new URL(r.url()).pathname));
    await page.goto(url);
    await page.locator("body[data-engine=server]").waitFor({ timeout: 30_000 });
    assert.equal(
      await page.textContent("#engine"),
      "Classifying on the server (not in your browser: this browser has no WebGPU)",
    );
    const box = (await page.locator("#pad").boundingBox())!;
    const at = ([x, y]: Point): Point => [box.x + x * box.width, box.y + y * box.height];
    const [seven] = DRAWINGS;
    const stroke = seven!.strokes[0]!;
    await page.mouse.move(...at(stroke[0]!));
    await page.mouse.down();
    for (const point of stroke.slice(1)) await page.mouse.move(...at(point), { steps: 8 });
    await page.mouse.up();
    await page.locator(`body[data-answered="1"]`).waitFor({ timeout: 10_000 });
    assert.equal(await page.getAttribute("body", "data-answered-by"), "server");
    assert.equal(await page.textContent("#prediction"), "7");
    assert.ok(!(await page.isVisible("#teach")), "no teaching without the engine");
    assert.ok(!requests.includes("/engine.js"), "the engine is not fetched without WebGPU");
    assert.ok(requests.includes("/api/predict"));
  } finally {
    await browser.close();
  }
}

Deno.test({
  name: "in chromium: the page classifies in the browser as the server does, or asks the server",
  ignore: !hasChromium() || gpu === null,
  // Playwright keeps its connection's timers past the test; the browsers are closed.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dataDir = await Deno.makeTempDir({ prefix: "mnist_browser_serve_test_" });
    try {
      const models = await trainModels(dataDir);
      const test = await loadSplit(MNIST, { dataset: "mnist", split: "test" });
      const file = async (name: string) => ({
        name,
        file: (await Deno.readFile(new URL(name, CASES))).toBase64(),
      });
      const pictures: Picture[] = [
        ...[0, 1, 2, 3, 4, 5].map((i) => mnistPicture(test.images, i, true)),
        ...[6, 7, 8, 9].map((i) => mnistPicture(test.images, i, false)),
        await file("photo-4-paper-on-desk.jpg"),
        await file("photo-4-shadow.jpg"),
        await file("canvas-single-dot.png"),
      ];
      for (const [model, path] of Object.entries(models)) {
        const server = await startServer(path);
        try {
          await t.step(
            `${model}: in the browser, as on the server`,
            () => browserPage(server.url, { pictures, model, dataDir }),
          );
          if (model === "mlp") {
            await t.step(
              `${model}: without WebGPU, on the server`,
              () => withoutWebGpu(server.url),
            );
          }
        } finally {
          await server.stop();
        }
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "in chromium: a Fashion-MNIST model's page names garments in the browser, taught too",
  ignore: !hasChromium() || gpu === null || !HAVE_FASHION, // Debian's dataset-fashion-mnist
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "mnist_browser_fashion_test_" });
    try {
      await Deno.mkdir(`${dataDir}/fashion`);
      for (const f of FILES) await Deno.symlink(`${FASHION}/${f}`, `${dataDir}/fashion/${f}`);
      const model = `${dataDir}/fashion-mlp.safetensors`;
      const run = await runCli([
        ...["train", "--dataset", "fashion", "--limit", "2000", "--epochs", "1"],
        ...["--data-dir", dataDir, "--save", model],
      ]);
      assert.equal(run.code, 0, `mnist train --dataset fashion failed:\n${run.stderr}`);
      const server = await startServer(model);
      const browser = await launch(true);
      try {
        const page = await browser.newPage();
        await page.goto(server.url);
        await page.locator("body:not([data-engine=loading])").waitFor({ timeout: 120_000 });
        assert.equal(await page.getAttribute("body", "data-engine"), "browser");
        const names = await page.locator("#bars .label").allTextContents();
        assert.equal(names[1], "Trouser");
        // A pair of trousers, filled in, answered by the engine in the page, by name.
        const box = (await page.locator("#pad").boundingBox())!;
        const at = ([x, y]: Point): Point => [box.x + x * box.width, box.y + y * box.height];
        const strokes: Point[][] = [
          [[0.3, 0.12], [0.7, 0.12]],
          [[0.33, 0.12], [0.3, 0.9]],
          [[0.42, 0.2], [0.42, 0.9]],
          [[0.58, 0.2], [0.58, 0.9]],
          [[0.67, 0.12], [0.7, 0.9]],
        ];
        for (const stroke of strokes) {
          await page.mouse.move(...at(stroke[0]!));
          await page.mouse.down();
          await page.mouse.move(...at(stroke[1]!), { steps: 6 });
          await page.mouse.up();
        }
        await page.locator(`body[data-answered="${strokes.length}"][data-state="ready"]`)
          .waitFor({ timeout: 20_000 });
        assert.equal(await page.getAttribute("body", "data-answered-by"), "browser");
        const shown = await page.textContent("#prediction") ?? "";
        assert.ok(names.includes(shown), `#prediction says "${shown}"`);
        assert.equal(shown, await page.locator("#bars li.top .label").textContent());
        // Taught that it is a trouser: the page says so in garments, not digits.
        assert.equal(
          await page.getAttribute(`#labels button[data-label="1"]`, "aria-label"),
          "Teach: this is a Trouser",
        );
        await page.click(`#labels button[data-label="1"]`);
        await page.locator(`body[data-taught="1"][data-state="ready"]`).waitFor({
          timeout: 60_000,
        });
        const said = await page.textContent("#taught") ?? "";
        console.log(`fashion mlp: trousers drawn → ${shown}; taught: "${said}"`);
        assert.match(said, /^Taught this drawing as Trouser\. 1 garment taught in your browser: /);
        assert.match(said, /It forgets other garments as it learns these;/);
      } finally {
        await browser.close();
        await server.stop();
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
