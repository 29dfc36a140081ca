/**
 * How `mnist serve` stops: on SIGINT or SIGTERM it stops accepting connections, answers the
 * requests in flight (for at most `STOP_GRACE_MS`) and exits with 130 or 143; a second Ctrl-C
 * ends it at once. The real CLI, on the fixture MLP, over raw TCP: a request is held in flight
 * by sending its body but for its last byte.
 */
import assert from "node:assert/strict";
import { PROJECT_ROOT } from "./cli_helpers.ts";
import { gpu } from "./gpu_helpers.ts";
import { encodePng } from "../src/image/png.ts";
import { STOP_GRACE_MS } from "../src/cli/serve.ts";

const MODEL = new URL("./fixtures/mlp-kernels-tuned-991319c.safetensors", import.meta.url).pathname;

/** A 280×280 drawing of a ring, as the page sends it. */
function drawing(): Promise<Uint8Array> {
  const side = 280;
  const pixels = new Uint8Array(side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const r = Math.hypot(x - 140, y - 140);
      if (r > 60 && r < 90) pixels[y * side + x] = 255;
    }
  }
  return encodePng({ width: side, height: side, channels: 1, pixels });
}

/** A running `mnist serve` whose stderr is read as it comes. */
interface Served {
  port: number;
  child: Deno.ChildProcess;
  /** Everything on stderr so far. */
  stderr(): string;
  /** Resolves once stderr holds `text`. */
  waitFor(text: string): Promise<void>;
}

async function serve(): Promise<Served> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "serve", "--port", "0", "--model", MODEL],
    cwd: PROJECT_ROOT,
    env: { XDG_RUNTIME_DIR: "/tmp", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let err = "";
  const waiting: { text: string; resolve: () => void }[] = [];
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      err += chunk;
      for (const w of waiting.splice(0)) {
        if (err.includes(w.text)) w.resolve();
        else waiting.push(w);
      }
    }
  })();
  const waitFor = (text: string) =>
    err.includes(text) ? Promise.resolve() : new Promise<void>((resolve) => {
      waiting.push({ text, resolve });
    });
  let out = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    out += chunk;
    if (out.includes("\n")) break;
  }
  const match = /^Listening on http:\/\/127\.0\.0\.1:(\d+)\/\n$/.exec(out);
  if (!match) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`mnist serve printed ${JSON.stringify(out)}; stderr:\n${err}`);
  }
  return { port: Number(match[1]), child, stderr: () => err, waitFor };
}

/** A POST of `body` but for its last byte; `finish` sends that byte and reads the answer. */
async function heldRequest(port: number, body: Uint8Array): Promise<{
  finish(): Promise<string>;
  conn: Deno.Conn;
}> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const head = `POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
    `Content-Type: image/png\r\nContent-Length: ${body.length}\r\n\r\n`;
  const all = new Uint8Array([...new TextEncoder().encode(head), ...body]);
  for (let at = 0; at < all.length - 1;) at += await conn.write(all.subarray(at, -1));
  return {
    conn,
    async finish() {
      await conn.write(all.subarray(-1));
      let text = "";
      const buffer = new Uint8Array(65536);
      const decoder = new TextDecoder();
      // The server closes the connection after answering: it is shutting down.
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        text += decoder.decode(buffer.subarray(0, n), { stream: true });
      }
      conn.close();
      return text;
    },
  };
}

/**
 * The status line and JSON error of a new request to `port`, or "refused" once the server has
 * stopped listening.
 */
async function newRequest(port: number): Promise<string> {
  let conn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return "refused";
    throw error;
  }
  try {
    await conn.write(
      new TextEncoder().encode(`GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`),
    );
    // Read up to the body's end: the connection may stay open until the server stops.
    let text = "";
    const buffer = new Uint8Array(65536);
    while (true) {
      const end = text.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: (\d+)\r\n/i.exec(text)?.[1];
      if (end >= 0 && length !== undefined && text.length >= end + 4 + Number(length)) {
        return `${text.slice(0, text.indexOf("\r\n"))} ${text.slice(end + 4)}`;
      }
      const n = await conn.read(buffer);
      if (n === null) return `closed after ${JSON.stringify(text)}`;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
  } catch {
    return "refused"; // reset: the server stopped listening as it was accepted
  } finally {
    conn.close();
  }
}

const options = {
  ignore: gpu === null,
  // The shared WebGPU device keeps internal ops alive across tests, on purpose.
  sanitizeOps: false,
  sanitizeResources: false,
};

Deno.test({
  ...options,
  name: "SIGINT: mnist serve answers a request in flight, takes no new one, and exits 130",
  async fn() {
    const server = await serve();
    const held = await heldRequest(server.port, await drawing());
    // The handler is reading the body: the request is in flight.
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill("SIGINT");
    await server.waitFor("Stopping (SIGINT)");
    // Until the request in flight is answered, a new one is a 503.
    assert.equal(
      await newRequest(server.port),
      'HTTP/1.1 503 Service Unavailable {"error":"The server is stopping"}',
    );
    const answer = await held.finish();
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(answer, /"digit":\d/);
    const { code } = await server.child.status;
    assert.equal(await newRequest(server.port), "refused");
    const lines = server.stderr().trim().split("\n");
    assert.equal(code, 130, server.stderr());
    assert.deepEqual(lines.slice(1), [
      `Stopping (SIGINT): answering the 1 request in flight, new ones with 503, for at most ` +
      `${STOP_GRACE_MS / 1000} s (Ctrl-C again stops at once)`,
      "error: Stopped by SIGINT: 1 request in flight answered first",
    ]);
  },
});

Deno.test({
  ...options,
  name: "SIGTERM: a body that never ends holds mnist serve's exit for the grace time only, 143",
  async fn() {
    const server = await serve();
    const held = await heldRequest(server.port, await drawing());
    // A connection that sent half its headers (slow loris) does not hold the exit either.
    const loris = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await loris.write(new TextEncoder().encode("GET /api/health HTTP/1.1\r\nHost: 127"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const start = performance.now();
    server.child.kill("SIGTERM");
    const { code } = await server.child.status;
    const seconds = (performance.now() - start) / 1000;
    held.conn.close();
    loris.close();
    assert.equal(code, 143, server.stderr());
    // The grace time, and a few seconds for a loaded machine; never the 30 s body deadline.
    assert.ok(seconds >= STOP_GRACE_MS / 1000 - 0.5, `exited after ${seconds} s`);
    assert.ok(seconds < STOP_GRACE_MS / 1000 + 10, `exited after ${seconds} s`);
    assert.match(
      server.stderr(),
      /\nerror: Stopped by SIGTERM: 1 request of 1 in flight still unanswered after 5 s/,
    );
  },
});

Deno.test({
  ...options,
  name: "a second Ctrl-C ends mnist serve at once, while a request is in flight",
  async fn() {
    const server = await serve();
    const held = await heldRequest(server.port, await drawing());
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill("SIGINT");
    await server.waitFor("Stopping (SIGINT)");
    const start = performance.now();
    server.child.kill("SIGINT");
    const status = await server.child.status;
    const seconds = (performance.now() - start) / 1000;
    held.conn.close();
    // Ended by the signal itself (Deno's default action): no "Stopped by" line.
    assert.equal(status.signal, "SIGINT", server.stderr());
    assert.ok(seconds < STOP_GRACE_MS / 1000, `exited after ${seconds} s`);
    assert.doesNotMatch(server.stderr(), /Stopped by/);
  },
});
