/**
 * The kernels in a second WebGPU implementation: headless Chromium (Dawn, its Tint WGSL compiler
 * and SwiftShader's Vulkan) runs tests/browser/kernels_entry.ts, bundled from the same src/
 * modules and kernels/*.wgsl Deno runs (`deno bundle --platform browser`, which loads the
 * `with { type: "text" }` imports as strings), on a page served from 127.0.0.1. Every module
 * must compile with no error and no warning (`getCompilationInfo()`), every entry point must
 * become a pipeline, and every row of DENSE_TABLE, CONV2D_TABLE and POOL_TABLE must agree with
 * tests/reference.ts forward and backward, on a device with WebGPU's default limits. Skipped,
 * saying why, only where /usr/bin/chromium is missing.
 */
import assert from "node:assert/strict";
import { CONV2D_TABLE } from "../src/nn/conv2d.ts";
import { DENSE_TABLE } from "../src/nn/dense.ts";
import { POOL_TABLE } from "../src/nn/pool.ts";
import type { KernelReport } from "./browser/kernels_entry.ts";
import { CHROMIUM, hasChromium, importPlaywright } from "./browser_helpers.ts";

const ROOT = new URL("./browser/", import.meta.url);

/** tests/browser/kernels_entry.ts as one ES module for the browser. */
async function bundle(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "mnist-browser-" });
  try {
    const out = `${dir}/kernels.js`;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "browser",
        "--output",
        out,
        new URL("kernels_entry.ts", ROOT).pathname,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, `deno bundle failed: ${new TextDecoder().decode(stderr)}`);
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Serves the page and the bundle, opens it in Chromium with WebGPU, and runs the checks. */
async function runInChromium(script: string): Promise<KernelReport> {
  const html = await Deno.readTextFile(new URL("kernels.html", ROOT));
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/") return new Response(html, { headers: { "content-type": "text/html" } });
      if (path === "/kernels.js") {
        return new Response(script, { headers: { "content-type": "text/javascript" } });
      }
      return new Response("not found", { status: 404 });
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}/`;
  const { chromium } = await importPlaywright();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless=new",
      "--enable-unsafe-webgpu",
      "--use-webgpu-adapter=swiftshader",
      "--no-sandbox",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const page = await (await browser.newContext()).newPage();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.goto(url);
    await page.waitForFunction(() => "runKernelChecks" in globalThis, null, { timeout: 30_000 });
    const hasGpu = await page.evaluate(() => "gpu" in navigator);
    assert.ok(hasGpu, "navigator.gpu is missing in Chromium: WebGPU flags not honoured");
    const report = await page.evaluate(() =>
      (globalThis as unknown as { runKernelChecks(): Promise<KernelReport> }).runKernelChecks()
    );
    assert.deepEqual(problems, []);
    return report;
  } finally {
    await browser.close();
  }
}

Deno.test({
  name:
    "in chromium: every kernel module compiles cleanly and every table row matches the reference",
  ignore: !hasChromium(),
  // Playwright keeps its connection's timers past the test; the browser is closed above.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const report = await runInChromium(await bundle());
    console.log(`chromium adapter: ${report.adapter}`);
    for (const m of report.modules) {
      const said = m.messages.map((x) => `${x.type} line ${x.line}: ${x.message}`);
      console.log(`tint ${m.name}: ${said.length ? said.join("; ") : "clean"}`);
    }
    for (const c of report.checks) {
      const errors = Object.entries(c.maxError).map(([k, v]) => `${k} ${v.toExponential(1)}`);
      console.log(`${c.op}/${c.variant} ${c.shape}: max |gpu - ref| ${errors.join(", ")}`);
    }
    // No error and no warning from Tint, and every entry point a pipeline.
    const said = report.modules.flatMap((m) =>
      m.messages.filter((x) => x.type !== "info").map((x) =>
        `${m.name}:${x.line} ${x.type}: ${x.message}`
      )
    );
    assert.deepEqual(said, []);
    assert.deepEqual(report.modules.flatMap((m) => m.pipelineErrors), []);
    const shared = ["activation", "pool_common"];
    assert.ok(report.modules.every((m) => shared.includes(m.name) || m.entries.length > 0));
    // Every row of every table ran, forward and backward, and agreed.
    const ran = new Set(report.checks.map((c) => `${c.op}/${c.variant}`));
    const rows = [
      ...Object.keys(DENSE_TABLE).map((v) => `dense/${v}`),
      ...Object.keys(CONV2D_TABLE).map((v) => `conv2d/${v}`),
      ...Object.keys(POOL_TABLE).map((v) => `maxpool/${v}`),
    ];
    assert.deepEqual(rows.filter((r) => !ran.has(r)), [], "rows that never ran");
    for (const c of report.checks) {
      assert.ok(c.kernels.length >= 2, `${c.op}/${c.variant} ${c.shape}: forward and backward`);
    }
    const failed = report.checks.flatMap((c) =>
      c.problems.map((p) => `${c.op}/${c.variant} ${c.shape}: ${p}`)
    );
    assert.deepEqual(failed, []);
    assert.deepEqual(report.uncaptured, []);
  },
});
