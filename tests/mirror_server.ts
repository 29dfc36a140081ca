/**
 * A dataset mirror on 127.0.0.1 for tests: serves the files of a folder (e.g. /work/shared/mnist)
 * and can misbehave on request, the way real mirrors do.
 *
 * ```ts
 * await using mirror = startMirror({
 *   root: "/work/shared/mnist",
 *   faults: { "train-labels-idx1-ubyte.gz": "http500" },
 * });
 * // mirror.url is "http://127.0.0.1:PORT/"; mirror.requests lists the paths asked for.
 * ```
 */
import { gunzipSync, gzipSync } from "node:zlib";

/**
 * How a response goes wrong:
 * - `http500`, `http404`: that status, with a short text body.
 * - `truncated`: the whole file's Content-Length, then half the bytes and the connection closes.
 * - `corrupt`: the full length, with bytes in the middle of the gzip stream inverted.
 * - `wrong`: a valid gzip of the same size whose content differs in its last byte (a checksum
 *   mismatch and nothing else).
 * - `slow`: no response until `delayMs` has passed (a dead server, for connect/header timeouts).
 * - `stall`: headers and half the body, then nothing for `delayMs` (an idle timeout mid-body).
 * - `trickle`: the whole file in 8 pieces, `trickleMs` apart: slow, but never idle for long.
 * - `drip`: 1 KiB every `dripMs`: never idle, yet far below any sensible rate (a hostile mirror).
 * - `encoded`: the .gz bytes labelled `Content-Encoding: gzip` (a common misconfiguration, which
 *   makes a client that accepts gzip inflate them on the fly).
 * - `inflated`: the decompressed IDX bytes under the .gz name (a proxy that unpacks them).
 * - `bomb`: a valid gzip of 64 MiB of zeros, more than any dataset file decompresses to.
 */
export type FaultKind =
  | "http500"
  | "http404"
  | "truncated"
  | "corrupt"
  | "wrong"
  | "slow"
  | "stall"
  | "trickle"
  | "drip"
  | "encoded"
  | "inflated"
  | "bomb";

/** A fault, optionally only for the first `times` requests of a path (then it serves normally). */
export interface FaultRule {
  kind: FaultKind;
  times?: number;
}

/** `startMirror`'s options. */
export interface MirrorOptions {
  /** The folder served; request paths resolve inside it. */
  root: string;
  /** Faults by file name (the request path without the leading `/`), or `"*"` for every path. */
  faults?: Record<string, FaultKind | FaultRule>;
  /** How long `slow` and `stall` hold; default 60 s, cut short by `close()`. */
  delayMs?: number;
  /** The pause between the pieces of a `trickle`; default 100 ms. */
  trickleMs?: number;
  /** The pause between the 1 KiB pieces of a `drip`; default 500 ms. */
  dripMs?: number;
}

/** A running mirror. */
export interface Mirror {
  /** The base URL, ending in `/`. */
  url: string;
  /** The paths requested (without the leading `/`), in order, faulty or not. */
  requests: string[];
  /** How many times `path` was requested. */
  count(path: string): number;
  /** Stops the server, ending any held response at once. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Bytes of zeros in a `bomb`: more than MNIST's largest file (47,040,016 bytes decompressed). */
const BOMB_SIZE = 64 * 1024 * 1024;
let bomb: Uint8Array | undefined;

/** Starts a mirror of `root` on 127.0.0.1 at a free port. Close it (or `await using` it). */
export function startMirror(options: MirrorOptions): Mirror {
  const { root, faults = {}, delayMs = 60_000, trickleMs = 100, dripMs = 500 } = options;
  const requests: string[] = [];
  const closing = new AbortController();

  const handler = async (request: Request): Promise<Response> => {
    const path = decodeURIComponent(new URL(request.url).pathname).slice(1);
    requests.push(path);
    if (path === "" || path.split("/").includes("..")) {
      return new Response("Not Found\n", { status: 404 });
    }
    const rule = faultFor(path);
    // Held responses last until `delayMs` or `close()`, whichever comes first. (Not until the
    // client hangs up: Deno's request.signal also fires after every successful response.)
    const signal = closing.signal;
    switch (rule) {
      case "http500":
        return new Response("Internal Server Error\n", { status: 500 });
      case "http404":
        return new Response("Not Found\n", { status: 404 });
      case "slow":
        await delay(delayMs, signal);
        if (signal.aborted) return new Response("Service Unavailable\n", { status: 503 });
        break;
    }
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await Deno.readFile(`${root}/${path}`);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        return new Response("Not Found\n", { status: 404 });
      }
      throw error;
    }
    switch (rule) {
      case "truncated":
        return halfBody(bytes, { close: Promise.resolve() });
      case "stall":
        return halfBody(bytes, { close: delay(delayMs, signal) });
      case "trickle":
        return trickle(bytes, { pieces: 8, pauseMs: trickleMs, signal });
      case "drip":
        return trickle(bytes, { pieces: Math.ceil(bytes.length / 1024), pauseMs: dripMs, signal });
      case "encoded":
        return new Response(bytes, {
          headers: {
            "content-type": "application/gzip",
            "content-encoding": "gzip",
            "content-length": `${bytes.length}`,
          },
        });
      case "inflated":
        bytes = new Uint8Array(gunzipSync(bytes));
        break;
      case "corrupt": {
        bytes = bytes.slice();
        const middle = bytes.length >> 1;
        for (let i = middle; i < Math.min(middle + 64, bytes.length); i++) bytes[i]! ^= 0xff;
        break;
      }
      case "wrong": {
        const content = gunzipSync(bytes);
        content[content.length - 1]! ^= 0x01;
        bytes = new Uint8Array(gzipSync(content, { level: 1 }));
        break;
      }
      case "bomb":
        bomb ??= new Uint8Array(gzipSync(new Uint8Array(BOMB_SIZE), { level: 9 }));
        bytes = new Uint8Array(bomb);
        break;
    }
    return new Response(bytes, {
      headers: { "content-type": "application/gzip", "content-length": `${bytes.length}` },
    });
  };

  const counts = new Map<string, number>();
  function faultFor(path: string): FaultKind | undefined {
    const n = (counts.get(path) ?? 0) + 1;
    counts.set(path, n);
    const fault = faults[path] ?? faults["*"];
    if (fault === undefined) return undefined;
    const rule = typeof fault === "string" ? { kind: fault } : fault;
    return rule.times === undefined || n <= rule.times ? rule.kind : undefined;
  }

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    // A client that hangs up mid-body is a test case, not an error worth a stack trace.
    onError: () => new Response("Internal Server Error\n", { status: 500 }),
  }, handler);

  const close = async () => {
    closing.abort();
    await server.shutdown();
  };
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    requests,
    count: (path) => requests.filter((p) => p === path).length,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * A response claiming all of `bytes` that sends the first half, then ends the body once `close`
 * settles, leaving the client short.
 */
function halfBody(bytes: Uint8Array<ArrayBuffer>, { close }: { close: Promise<void> }): Response {
  let sent = false;
  const body = new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      if (!sent) {
        sent = true;
        controller.enqueue(bytes.slice(0, bytes.length >> 1));
        return;
      }
      await close;
      controller.close();
    },
  });
  return new Response(body, {
    headers: { "content-type": "application/gzip", "content-length": `${bytes.length}` },
  });
}

/** A response sending `bytes` in `pieces` parts, `pauseMs` apart (no pause once `signal` aborts). */
function trickle(
  bytes: Uint8Array<ArrayBuffer>,
  { pieces, pauseMs, signal }: { pieces: number; pauseMs: number; signal: AbortSignal },
): Response {
  const step = Math.ceil(bytes.length / pieces);
  let offset = 0;
  const body = new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      if (offset > 0) await delay(pauseMs, signal);
      controller.enqueue(bytes.slice(offset, offset + step));
      offset += step;
      if (offset >= bytes.length) controller.close();
    },
  });
  return new Response(body, {
    headers: { "content-type": "application/gzip", "content-length": `${bytes.length}` },
  });
}

/** Resolves after `ms`, or at once when `signal` aborts; leaves no timer behind either way. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
