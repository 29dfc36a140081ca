/**
 * The drawing page of `mnist serve` when a drawing gets no answer, in headless Chromium driven
 * by playwright-core, against the server's handler (`createHandler`, over TCP) with a stand-in
 * classifier that always says 1; no GPU in Deno, no training:
 *
 * - a refused drawing takes the answer before it off the page (the class, its bars and the
 *   28×28 image), in the page's engine (WebGPU on SwiftShader, the fixture MLP's weights) and
 *   from the server;
 * - a server that is away, or answers with something other than JSON, is said in words;
 * - a busy server (503 with Retry-After) is asked again for the drawing on the box, a few times
 *   at most, and not for a drawing a new stroke has changed.
 *
 * Skipped, saying why, where /usr/bin/chromium is missing.
 */
import assert from "node:assert/strict";
import { decodeCheckpoint, encodeCheckpoint } from "../src/nn/checkpoint.ts";
import { createHandler, type ImageClassifier } from "../src/serve/server.ts";
import { CHROMIUM, hasChromium, importPlaywright } from "./browser_helpers.ts";

const MODEL = new URL("./fixtures/mlp-kernels-tuned-991319c.safetensors", import.meta.url);

/** Always a 1, 99.9% sure. */
const ONES: ImageClassifier = {
  classify: (images) =>
    Promise.resolve(
      images.map(() =>
        Float32Array.of(
          0.0001,
          0.999,
          0.0001,
          0.0001,
          0.0001,
          0.0001,
          0.0001,
          0.0001,
          0.0001,
          0.0006,
        )
      ),
    ),
};

/** The handler on a free port of 127.0.0.1; the fixture MLP's weights at /api/model. */
async function startServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const checkpoint = decodeCheckpoint(await Deno.readFile(MODEL), "fixture");
  const { model, epoch, dataset, accuracy } = checkpoint.meta;
  const bytes = encodeCheckpoint({
    meta: { model, epoch, dataset, accuracy },
    params: checkpoint.params,
    momentum: new Map(),
  });
  const handler = createHandler({ classifier: ONES, model: bytes, workers: 0 });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => handler(request),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    async stop() {
      await server.shutdown();
      handler.close();
    },
  };
}

type Point = [number, number];
type Page = import("playwright-core").Page;

/** Opens `url` in Chromium, with WebGPU on SwiftShader or without `navigator.gpu`. */
async function open(url: string, webgpu: boolean) {
  const { chromium } = await importPlaywright();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless=new",
      ...(webgpu ? ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"] : []),
      "--no-sandbox",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
    ],
  });
  const context = await browser.newContext();
  if (!webgpu) {
    await context.addInitScript(() => {
      delete (Navigator.prototype as { gpu?: unknown }).gpu;
    });
  }
  const page = await context.newPage();
  await page.goto(url);
  await page.locator("body:not([data-engine=loading])").waitFor({ timeout: 120_000 });
  assert.equal(await page.getAttribute("body", "data-engine"), webgpu ? "browser" : "server");
  const box = (await page.locator("#pad").boundingBox())!;
  /** Draws one stroke through points given in fractions of the box. */
  const stroke = async (points: Point[]) => {
    const at = ([x, y]: Point): Point => [box.x + x * box.width, box.y + y * box.height];
    await page.mouse.move(...at(points[0]!));
    await page.mouse.down();
    for (const p of points.slice(1)) await page.mouse.move(...at(p), { steps: 8 });
    await page.mouse.up();
  };
  return { browser, page, stroke };
}

/** The answer on the page: class, confidence, bars, the 28×28 image. */
interface Shown {
  prediction: string;
  confidence: string;
  probabilities: string | null;
  values: string;
  top: number;
  input: boolean;
}

function answerShown(page: Page): Promise<Shown> {
  return page.evaluate(`({
    prediction: document.getElementById("prediction").textContent,
    confidence: document.getElementById("confidence").textContent,
    probabilities: document.getElementById("bars").dataset.probabilities ?? null,
    values: Array.from(document.querySelectorAll("#bars .value"), (v) => v.textContent).join(""),
    top: document.querySelectorAll("#bars li.top").length,
    input: !document.getElementById("input").hidden,
  })`);
}

const NOTHING = {
  prediction: "",
  confidence: "",
  probabilities: null,
  values: "",
  top: 0,
  input: false,
};
const LEFT_ONE: Point[] = [[0.2, 0.15], [0.2, 0.85]];
const RIGHT_ONE: Point[] = [[0.8, 0.15], [0.8, 0.85]];
const SEVEN: Point[] = [[0.3, 0.2], [0.7, 0.2], [0.42, 0.85]];
const FOUR: Point[][] = [[[0.55, 0.15], [0.3, 0.6], [0.72, 0.6]], [[0.6, 0.35], [0.6, 0.88]]];

/** A 1, answered; a second 1 far to its right, refused as several: the answer goes with it. */
async function refusedAfterAnswer(page: Page, stroke: (p: Point[]) => Promise<void>, by: string) {
  await stroke(LEFT_ONE);
  await page.locator(`body[data-answered="1"][data-state="ready"]`).waitFor({ timeout: 20_000 });
  assert.equal(await page.getAttribute("body", "data-answered-by"), by);
  assert.equal(await page.textContent("#prediction"), "1");
  assert.ok((await answerShown(page)).input, "the 28×28 image is shown");
  await stroke(RIGHT_ONE);
  await page.locator(`body[data-answered="2"][data-state="error"]`).waitFor({ timeout: 20_000 });
  assert.equal(await page.getAttribute("body", "data-refusal"), "several");
  assert.equal(await page.getAttribute("body", "data-answered-by"), by, "refused by");
  assert.equal(
    await page.textContent("#status"),
    "More than one digit: clear the box and draw one",
  );
  assert.deepEqual(await answerShown(page), NOTHING, `refused by the ${by}`);
}

Deno.test({
  name: "in chromium: a refused drawing takes the answer before it off the page",
  ignore: !hasChromium(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const server = await startServer();
    try {
      for (const webgpu of [false, true]) {
        const by = webgpu ? "browser" : "server";
        await t.step(`refused by the ${by}`, async () => {
          const { browser, page, stroke } = await open(server.url, webgpu);
          try {
            await refusedAfterAnswer(page, stroke, by);
          } finally {
            await browser.close();
          }
        });
      }
    } finally {
      await server.stop();
    }
  },
});

Deno.test({
  name: "in chromium: a server away or answering HTML is said in words, and the old answer goes",
  ignore: !hasChromium(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startServer();
    let stopped = false;
    const { browser, page, stroke } = await open(server.url, false);
    try {
      // A reverse proxy's error page.
      await page.route("**/api/predict", (route) =>
        route.fulfill({
          status: 502,
          contentType: "text/html",
          body: "<html><body>Bad Gateway</body></html>",
        }));
      await stroke(SEVEN);
      await page.locator(`body[data-answered="1"][data-state="error"]`).waitFor({
        timeout: 20_000,
      });
      assert.equal(
        await page.textContent("#status"),
        "The server answered with HTTP 502 Bad Gateway, not a prediction",
      );
      await page.unroute("**/api/predict");

      // Answered, then the server stops: the next stroke cannot be answered.
      await page.click("#clear");
      await stroke(SEVEN);
      await page.locator(`body[data-answered="1"][data-state="ready"]`).waitFor({
        timeout: 20_000,
      });
      assert.equal(await page.textContent("#prediction"), "1");
      await server.stop();
      stopped = true;
      await stroke(LEFT_ONE);
      await page.locator(`body[data-answered="2"][data-state="error"]`).waitFor({
        timeout: 20_000,
      });
      assert.equal(
        await page.textContent("#status"),
        "Cannot reach the server: is mnist serve still running?",
      );
      assert.deepEqual(await answerShown(page), NOTHING, "no answer beside the error");
    } finally {
      await browser.close();
      if (!stopped) await server.stop();
    }
  },
});

Deno.test({
  name: "in chromium: a busy server is asked again after Retry-After, for the latest drawing only",
  ignore: !hasChromium(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = await startServer();
    const { browser, page, stroke } = await open(server.url, false);
    try {
      let asked = 0;
      let busyFor = 0;
      let retryAfter = "1";
      await page.route("**/api/predict", (route) => {
        asked++;
        if (busyFor-- <= 0) return route.fallback();
        return route.fulfill({
          status: 503,
          contentType: "application/json",
          headers: { "Retry-After": retryAfter },
          body: JSON.stringify({
            error: "The server is busy: 64 predictions are in progress; try again shortly",
          }),
        });
      });

      // Busy once: asked again after a second, answered, with no new stroke.
      busyFor = 1;
      await stroke(SEVEN);
      await page.locator(`body[data-state="waiting"]`).waitFor({ timeout: 20_000 });
      assert.equal(await page.textContent("#status"), "The server is busy: asking again in 1 s");
      await page.locator(`body[data-answered="1"][data-state="ready"]`).waitFor({
        timeout: 20_000,
      });
      assert.equal(await page.textContent("#prediction"), "1");
      assert.equal(asked, 2, "the 503, then the drawing again");

      // Busy, and a stroke drawn while the page waits: that drawing is asked for, once; the
      // wait for the one before it is dropped.
      await page.click("#clear");
      asked = 0;
      busyFor = 1;
      retryAfter = "2";
      await stroke(FOUR[0]!);
      await page.locator(`body[data-state="waiting"]`).waitFor({ timeout: 20_000 });
      await stroke(FOUR[1]!);
      await page.locator(`body[data-answered="2"][data-state="ready"]`).waitFor({
        timeout: 20_000,
      });
      await page.waitForTimeout(2500);
      assert.equal(asked, 2, "the 503, then the drawing of two strokes; no retry of the first");
      assert.equal(await page.getAttribute("body", "data-answered"), "2");

      // Busy every time: asked 1 + 3 times, then said.
      await page.click("#clear");
      asked = 0;
      busyFor = 100;
      retryAfter = "0";
      await stroke(SEVEN);
      await page.locator(`body[data-answered="1"][data-state="error"]`).waitFor({
        timeout: 20_000,
      });
      assert.equal(
        await page.textContent("#status"),
        "The server is still busy after 4 tries: draw again in a moment",
      );
      assert.equal(asked, 4);
      assert.deepEqual(await answerShown(page), NOTHING);
    } finally {
      await browser.close();
      await server.stop();
    }
  },
});
