/**
 * `mnist serve` under hostile load: the handler with a stand-in classifier (no GPU) runs in a
 * child process on 127.0.0.1, and this process measures it from outside.
 *
 *   deno run --allow-net --allow-read --allow-run --allow-env bench/serve_load.ts [mode] [options]
 *
 * Modes:
 *   load   (default) `--heavy N` (20) large images posted at once, while GET / and a small
 *          predict (280×280, as the page sends) are timed one after the other until the large
 *          ones are answered. `--large jpeg` (default): a phone's photo, 4000×3000 JPEG at
 *          quality 85 of a ring on noisy paper (1.4 MB); `--large png`: a 2048×2048 RGB PNG
 *          ring, the largest image the server took before issue 16.
 *   idle   `--connections N` (1000) TCP connections that send half a request line and wait;
 *          the server's RSS before, while they are open, and after they close.
 *   slow   `--connections N` (1000) predicts that send their headers (Content-Length 6 MiB,
 *          the body limit),
 *          `--sent KiB` (1023) of the body, then a byte a second; RSS before, while open (2 s,
 *          then after `--hold MS`, past the body deadline) and after they close.
 * Options: `--workers N` (image workers; 0: on the event loop), `--timeout-ms N` (body deadline),
 * `--max-requests N`, passed to `createHandler`.
 */
import { parseArgs } from "node:util";
import jpeg from "jpeg-js";
import { encodePng } from "../src/image/png.ts";
import { Rng } from "../src/random.ts";
import { createHandler, type HandlerOptions, MAX_BODY_BYTES } from "../src/serve/server.ts";

const { values: v, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    serve: { type: "boolean" },
    heavy: { type: "string", default: "20" },
    large: { type: "string", default: "jpeg" },
    connections: { type: "string", default: "1000" },
    workers: { type: "string" },
    "timeout-ms": { type: "string" },
    "max-requests": { type: "string" },
    hold: { type: "string", default: "15000" },
    sent: { type: "string", default: "1023" },
  },
});

/** `createHandler`'s options from the command line (only those given). */
function handlerOptions(): Partial<HandlerOptions> {
  const options: Partial<HandlerOptions> = {};
  if (v.workers !== undefined) options.workers = Number(v.workers);
  if (v["timeout-ms"] !== undefined) options.bodyTimeoutMs = Number(v["timeout-ms"]);
  if (v["max-requests"] !== undefined) options.maxRequests = Number(v["max-requests"]);
  return options;
}

/** The server: prints its port, then serves until killed. */
function serve(): void {
  const handler = createHandler({
    classifier: {
      // A model that answers at once: what is measured is everything around it.
      classify: (images) =>
        Promise.resolve(images.map(() => Float32Array.of(0, 0, 0, 0, 0, 0, 0, 1, 0, 0))),
    },
    ...handlerOptions(),
  });
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(port),
  }, handler);
}

/** A running child server. */
interface Child {
  port: number;
  pid: number;
  /** Resident set size in MiB. */
  rss(): Promise<number>;
  stop(): Promise<void>;
}

async function startChild(): Promise<Child> {
  const args = Deno.args.filter((a) => !["load", "idle", "slow"].includes(a));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", "--allow-env", import.meta.filename!, "--serve"]
      .concat(args),
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const chunk = await reader.read();
    if (chunk.done) throw new Error(`The server printed ${JSON.stringify(out)} and ended`);
    out += chunk.value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return {
    port: Number(out.trim()),
    pid: child.pid,
    async rss() {
      // ps, not /proc, which Deno opens only under --allow-all.
      const ps = new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(child.pid)] });
      return Number(new TextDecoder().decode((await ps.output()).stdout).trim()) / 1024;
    },
    async stop() {
      child.kill("SIGKILL");
      await child.status;
    },
  };
}

/** A `side`² RGB PNG, dark ring on white: the slowest kind to prepare (RGB, luminance). */
function ring(side: number): Promise<Uint8Array<ArrayBuffer>> {
  const pixels = new Uint8Array(side * side * 3).fill(255);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const r = Math.hypot(x - side / 2, y - side / 2);
      if (r > side * 0.25 && r < side * 0.35) {
        pixels.fill(0, (y * side + x) * 3, (y * side + x + 1) * 3);
      }
    }
  }
  return encodePng({ width: side, height: side, channels: 3, pixels }).then((b) => b.slice());
}

/** A 4000×3000 JPEG (quality 85) of a dark ring on grey paper with sensor noise, as a phone takes. */
function photo(): Uint8Array<ArrayBuffer> {
  const width = 4000, height = 3000;
  const rng = new Rng(1);
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const r = Math.hypot(x - width / 2, y - height / 2);
      const base = r > 700 && r < 900 ? 40 : 190 - 30 * (x / width);
      const p = (y * width + x) * 4;
      for (let c = 0; c < 3; c++) data[p + c] = Math.max(0, Math.min(255, base + rng.int(13) - 6));
      data[p + 3] = 255;
    }
  }
  return new Uint8Array(jpeg.encode({ width, height, data }, 85).data);
}

function quantile(values: number[], q: number): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function load(): Promise<void> {
  const heavy = Number(v.heavy);
  const isJpeg = v.large === "jpeg";
  const big = isJpeg ? photo() : await ring(2048);
  const small = await ring(280);
  const child = await startChild();
  const url = `http://127.0.0.1:${child.port}/`;
  const post = (body: Uint8Array<ArrayBuffer>) =>
    fetch(url + "api/predict", {
      method: "POST",
      body,
      headers: { "Content-Type": body === big && isJpeg ? "image/jpeg" : "image/png" },
    });
  try {
    // Warm up: modules compiled, one large image through (a worker started).
    await (await fetch(url)).text();
    await (await post(small)).text();
    await (await post(big)).text();
    const started = performance.now();
    let done = 0;
    const statuses: number[] = [];
    const heavies = Array.from({ length: heavy }, async () => {
      const response = await post(big);
      await response.text();
      statuses.push(response.status);
      done++;
    });
    const page: number[] = [];
    const predict: number[] = [];
    while (done < heavy) {
      let t = performance.now();
      const response = await fetch(url);
      await response.text();
      page.push(performance.now() - t);
      t = performance.now();
      const answer = await post(small);
      await answer.text();
      if (answer.status !== 200) throw new Error(`Small predict: ${answer.status}`);
      predict.push(performance.now() - t);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await Promise.all(heavies);
    const total = performance.now() - started;
    const ms = (x: number) => `${x.toFixed(0)} ms`;
    console.log(
      `${heavy} × ${isJpeg ? "4000×3000 JPEG" : "2048×2048 PNG"} ` +
        `(${(big.length / 1024).toFixed(0)} KiB) at once, ` +
        `workers ${v.workers ?? "default"}: all answered in ${ms(total)} ` +
        `(${statuses.filter((s) => s === 200).length} × 200)`,
    );
    for (const [name, times] of [["GET /", page], ["small predict", predict]] as const) {
      console.log(
        `  ${name.padEnd(14)} n=${times.length}  median ${ms(quantile(times, 0.5))}  ` +
          `max ${ms(Math.max(...times))}`,
      );
    }
  } finally {
    await child.stop();
  }
}

/** Opens `n` connections with `open`, holding them; returns them to close. */
async function connectAll(
  port: number,
  n: number,
  open: (conn: Deno.TcpConn) => Promise<void>,
): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, async () => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await open(conn);
        return conn;
      }),
    );
    conns.push(...batch);
  }
  return conns;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function idleOrSlow(slow: boolean): Promise<void> {
  const n = Number(v.connections);
  const hold = Number(v.hold);
  const child = await startChild();
  const encoder = new TextEncoder();
  const line = (label: string, mib: number) =>
    console.log(`  ${label.padEnd(32)} ${mib.toFixed(0)} MiB`);
  try {
    // One request first, so the heap holds what serving needs before the baseline.
    await (await fetch(`http://127.0.0.1:${child.port}/`)).text();
    await sleep(500);
    const before = await child.rss();
    console.log(`${n} ${slow ? "slow bodies" : "idle connections"}, server RSS:`);
    line("before", before);
    const head = slow
      ? `POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:${child.port}\r\n` +
        `Content-Type: image/png\r\nContent-Length: ${MAX_BODY_BYTES}\r\n\r\n`
      : "GET / HT";
    const conns = await connectAll(child.port, n, async (conn) => {
      await conn.write(encoder.encode(head));
    });
    // Slow bodies: all but the last KiB at once, then a byte a second, as a slowloris sends.
    let dribbling = slow;
    const dribble = slow
      ? (async () => {
        const chunk = new Uint8Array(Number(v.sent) * 1024);
        const write = async (c: Deno.TcpConn) => {
          for (let at = 0; at < chunk.length;) at += await c.write(chunk.subarray(at));
        };
        await Promise.all(conns.map((c) => write(c).catch(() => {})));
        while (dribbling) {
          await Promise.all(conns.map((c) => c.write(Uint8Array.of(0)).catch(() => {})));
          await sleep(1000);
        }
      })()
      : Promise.resolve();
    await sleep(2000);
    line(`with ${n} open (2 s)`, await child.rss());
    await sleep(hold);
    line(`with ${n} open (${(hold / 1000 + 2).toFixed(0)} s)`, await child.rss());
    dribbling = false;
    await dribble;
    for (const conn of conns) conn.close();
    await sleep(3000);
    line("3 s after they closed", await child.rss());
    const after = await fetch(`http://127.0.0.1:${child.port}/api/health`);
    console.log(`  then GET /api/health: ${after.status}`);
    await after.body?.cancel();
  } finally {
    await child.stop();
  }
}

if (v.serve) serve();
else if (positionals[0] === "idle") await idleOrSlow(false);
else if (positionals[0] === "slow") await idleOrSlow(true);
else await load();
