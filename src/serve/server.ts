/**
 * The HTTP side of `mnist serve`, as a plain `(Request) => Promise<Response>` function so that it
 * can be tested without a socket. Routes:
 *
 *   GET  /             the drawing page (embedded in the program: no file is ever read), worded
 *                      for the model's dataset: digits, or Fashion-MNIST's garments
 *   GET  /engine.js    the page's in-browser engine (`engine.ts`, bundled: embedded too)
 *   GET  /api/model    the model's weights as safetensors, for that engine (404 without one)
 *   GET  /favicon.ico  204, so browsers stop asking
 *   GET  /api/health   {"status": "ok"}
 *   POST /api/predict  a PNG or JPEG body, or a multipart/form-data upload of one
 *                      → {"digit", "class", "name", "probability", "probabilities", "input"}:
 *                      the class, twice (`digit` as before, `class` as `mnist predict --json`
 *                      writes it), its name ("7", or a garment's: "Trouser"), and the rest
 *
 * The page, `/engine.js` and `/api/model` carry `Cache-Control: no-cache` and a strong `ETag` (a
 * hash of the body, computed once): a GET or HEAD whose `If-None-Match` names it is a 304 with no
 * body, so a reload does not fetch the 620 KB engine or the model again.
 *
 * HEAD is answered wherever GET is, as GET without its body. Every other path is a 404, a known
 * path with the wrong method a 405. The handler's errors are JSON: `{"error": "..."}`; an image
 * refused adds its kind and what to do, `{"error": "The image has too little ink to be a digit:
 * ...", "refusal": "too-small", "hint": "..."}` (`Refusal`), which the page words for a person
 * drawing. Requests Deno.serve (hyper) cannot parse never reach it: a request line that is not
 * one (garbage, `GET *`, a NUL in the target, a version other than HTTP/1.0 or 1.1), a
 * Content-Length that is not a number or appears twice, Transfer-Encoding with Content-Length,
 * two Host headers, a header block over hyper's limit (a 200 KB header, 2,000 headers) are
 * answered by Deno with an empty 400 (no JSON), and the connection is closed. What a hostile
 * client or web page meets, in order:
 *
 * - A request over a connection without a Host header is a 400 (HTTP/1.1 requires one). A Host
 *   header that does not name this server is a 421: a web page that rebinds its own DNS name
 *   to 127.0.0.1 must not read the answers; so is an absolute-form target
 *   (`GET http://evil.example/api/health`) naming another. Bound to loopback, the server
 *   answers `localhost`, `127.0.0.1` and `[::1]`; bound to every interface, any IP address and
 *   `localhost`; bound to one address, that address.
 * - A cross-origin request (an `Origin` other than the server's own, `Origin: null`, or
 *   `Sec-Fetch-Site: cross-site` other than following a link to the page) is a 403.
 * - More than `maxRequests` predictions in progress (their bodies all arrived), more than
 *   `maxUploads` bodies arriving at once, or more than `maxBytes` × `maxRequests` bytes held by
 *   the bodies of requests not yet answered: a 503 with `Retry-After`. A body still arriving
 *   holds only what has come, so slow senders cannot take the predictions' places.
 * - A body that is not `Content-Type: image/png`, `image/jpeg`, `multipart/form-data` or
 *   `application/octet-stream` is a 415. A form upload (`curl -F file=@digit.jpg`) is one a
 *   web page may send to any server without the browser asking first; a browser marks it with
 *   its Origin, so the 403 above refuses it from another site.
 * - Bodies over `maxBytes` are refused with 413, by their Content-Length or, without one, while
 *   they stream in; a body not complete within `bodyTimeoutMs` is a 408, and its stream is
 *   cancelled. Only then is a form parsed (`Request.formData()` on the bytes read), and its
 *   file field taken. A body that is not a PNG or JPEG, one larger than `mnist predict` reads
 *   (`maxSide`, `maxPixels`, from its header), one with no ink or too little, is a 400.
 *
 * Images are decoded and preprocessed in worker threads (see `prepare.ts`), large ones and the
 * page's drawings apart, so that neither holds up the page or other requests; only the
 * classifier runs on the main thread.
 * Deno.serve has no header-read timeout and no connection limit: idle connections cost memory
 * until the client closes them (see the README).
 */
import { createHash } from "node:crypto";
import { type DatasetName, DATASETS } from "../data/mirrors.ts";
import { messageOf } from "../errors.ts";
import { MAX_PIXELS, MAX_SIDE } from "../image/decode.ts";
import { encodePng } from "../image/png.ts";
import { MNIST_SIDE } from "../image/preprocess.ts";
import { type Refusal, topClass } from "./answer.ts";
import engine from "./engine.bundle.js" with { type: "text" };
import pageTemplate from "./page.html" with { type: "text" };
import { BadImage, defaultWorkers, type ImageLimits, PreparePool } from "./prepare.ts";
import { mark } from "../trace.ts";

/** What the handler needs of a model: `Classifier`'s `classify`. */
export interface ImageClassifier {
  /** Class probabilities for each image (784 floats in [0, 1], light ink on black). */
  classify(images: Float32Array[]): Promise<Float32Array[]>;
}

/** `createHandler`'s options. */
export interface HandlerOptions {
  /** The model, loaded once; requests that arrive together are classified in one batch. */
  classifier: ImageClassifier;
  /**
   * The same model's weights as safetensors (`encodeCheckpoint`), served at `GET /api/model`
   * so that the page can classify in the browser; without them the page asks the server.
   */
  model?: Uint8Array;
  /**
   * The dataset the model was trained on (its checkpoint's `dataset`), which decides how an
   * image is prepared, and what the page calls the classes (`drawingPage`): a garment for
   * "fashion", a handwritten digit otherwise (the default).
   */
  dataset?: string;
  /** The largest request body accepted, in bytes (default `MAX_BODY_BYTES`). */
  maxBytes?: number;
  /** The largest width and height accepted, in pixels (default `MAX_IMAGE_SIDE`). */
  maxSide?: number;
  /** The most pixels accepted (default `MAX_IMAGE_PIXELS`). */
  maxPixels?: number;
  /** How long a request body may take to arrive, in ms (default `BODY_TIMEOUT_MS`). */
  bodyTimeoutMs?: number;
  /**
   * The most predictions in progress at once, from when a body has arrived; more are refused
   * with 503 (`MAX_REQUESTS`). Bodies held meanwhile may total `maxBytes` × `maxRequests`.
   */
  maxRequests?: number;
  /** The most request bodies arriving at once; more are refused with 503 (`MAX_UPLOADS`). */
  maxUploads?: number;
  /**
   * Worker threads that decode and preprocess images larger than 320×320 (default: the CPU
   * cores but one, 1 to 4); smaller ones, the page's drawings, have one worker of their own,
   * so that they never wait behind large ones. 0 does it all on the main thread.
   */
  workers?: number;
  /**
   * The address the server listens on, which decides the Host headers it answers (default
   * 127.0.0.1: `localhost`, `127.0.0.1`, `[::1]`).
   */
  host?: string;
  /** The port it listens on: a Host header naming another port is refused (default: any). */
  port?: number;
  /**
   * Called with errors that are bugs, not bad requests (the client gets a 500), and without a
   * request when image workers cannot start (images are then prepared on the main thread);
   * default: stderr.
   */
  onError?: (error: unknown, request?: Request) => void;
}

/**
 * The largest request body `POST /api/predict` accepts by default: 6 MiB, a phone's JPEG (a
 * 12 MP photo is 3–5 MB) with a form's few hundred bytes around it.
 */
export const MAX_BODY_BYTES = 6 * 1024 * 1024;

/**
 * The largest image side `POST /api/predict` accepts by default: `decodeImage`'s, 8000 px
 * (`mnist predict` reads files up to `MAX_PHOTO_SIDE`; a server keeps to the smaller bound).
 * Images are preprocessed on a copy shrunk to 768 px (`WORKING_SIDE`), in a worker thread:
 * a 12 MP JPEG takes about a second and a half of CPU to decode and prepare, most of it
 * decoding. The page sends 280×280.
 */
export const MAX_IMAGE_SIDE: number = MAX_SIDE;

/**
 * The most pixels `POST /api/predict` accepts by default: `decodeImage`'s, 16 megapixels
 * (`mnist predict` reads files up to `MAX_PHOTO_PIXELS`, 50; a server keeps to the smaller bound).
 */
export const MAX_IMAGE_PIXELS: number = MAX_PIXELS;

/** How long a request body may take to arrive by default: 30 s (6 MiB at 200 KiB/s). */
export const BODY_TIMEOUT_MS = 30_000;

/**
 * The most predictions in progress at once by default, counted from when a request's body has
 * all arrived. The bodies of the requests not yet answered may hold at most 64 times the
 * largest body (384 MiB by default), arrived or arriving. The page has one at a time.
 */
export const MAX_REQUESTS = 64;

/**
 * The most request bodies arriving at once by default. 64 clients sending 1 KiB a second held
 * every place of `MAX_REQUESTS` for the 30 s of `BODY_TIMEOUT_MS` when the bodies counted as
 * predictions (tester u5); they now count apart, and each holds only the bytes it sent.
 */
export const MAX_UPLOADS = 1024;

/** The request body types `POST /api/predict` accepts. */
export const BODY_TYPES: readonly string[] = [
  "image/png",
  "image/jpeg",
  "multipart/form-data",
  "application/octet-stream",
];

/** What `POST /api/predict` answers. */
export interface Prediction {
  /** The most probable class: a digit, or a garment's index for a Fashion-MNIST model. */
  digit: number;
  /** The same class, as `mnist predict --json` writes it too. */
  class: number;
  /** The class's name: "7", or a garment's ("Trouser"), as the page labels it. */
  name: string;
  /** Its probability. */
  probability: number;
  /** Every class's probability, in class order. */
  probabilities: number[];
  /** The 28×28 image the network saw (light ink on black), as a `data:image/png;base64,` URL. */
  input: string;
}

/**
 * Sent with every response: the page runs only its own inline script and style, and the
 * engine this server serves.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; " +
    "style-src 'unsafe-inline'; script-src 'self' 'unsafe-inline'; base-uri 'none'; " +
    "form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
};

/** An error that becomes a JSON response with `status`: `{"error": message, ...fields}`. */
class HttpError extends Error {
  readonly headers: HeadersInit;
  readonly fields: Omit<Partial<Refusal>, "error">;
  constructor(
    readonly status: number,
    message: string,
    options: { headers?: HeadersInit; fields?: Omit<Partial<Refusal>, "error"> } = {},
  ) {
    super(message);
    this.headers = options.headers ?? {};
    this.fields = options.fields ?? {};
  }
}

/** A path's handlers by method. */
type Route = Map<string, (request: Request) => Promise<Response> | Response>;

/** `createHandler`'s request handler, with `close` to stop its worker threads. */
export interface Handler {
  /**
   * `info`: the connection, as `Deno.serve` gives it; a request without it (made in a test)
   * may go without a Host header, its URL's host standing in.
   */
  (request: Request, info?: Deno.ServeHandlerInfo): Promise<Response>;
  /** Stops the image workers: call it once the server has stopped. */
  close(): void;
  /**
   * Prepares a drawing of its own in the worker that prepares the page's drawings (started
   * now), so that the first one a user sends waits neither for it to load nor for its code to
   * be compiled.
   */
  warm(): Promise<void>;
  /** Requests being answered now: from their headers to their answer (not its sending). */
  inFlight(): number;
  /**
   * Stops taking requests (each new one is a 503, "The server is stopping", on a connection then
   * closed) and resolves once those in flight are answered, bodies still arriving included.
   */
  drain(): Promise<void>;
  /** `close`, for `using`. */
  [Symbol.dispose](): void;
}

/**
 * The server's request handler. It never throws: bad requests become 4xx JSON errors and bugs a
 * 500, so one request cannot stop the server.
 */
export function createHandler(options: HandlerOptions): Handler {
  const { onError = logError } = options;
  const batcher = new Batcher(options.classifier);
  const pool = new PreparePool({
    size: options.workers ?? defaultWorkers(),
    smallWorker: true,
    onStartFailure: (error) => onError(error),
    dataset: options.dataset,
  });
  const hostAllowed = hostPolicy(options.host ?? "127.0.0.1");
  const routes = serverRoutes(options, { batcher, pool });
  let inFlight = 0;
  // Set by `drain`: resolved once no request is in flight.
  const stopping: { drained?: PromiseWithResolvers<void> } = {};
  const handler = async (request: Request, info?: Deno.ServeHandlerInfo) => {
    if (stopping.drained) {
      await request.body?.cancel().catch(() => {});
      return json({ error: "The server is stopping" }, {
        status: 503,
        headers: { Connection: "close" },
      });
    }
    inFlight++;
    try {
      return await dispatch(request, routes, {
        hostAllowed,
        port: options.port,
        onError,
        connection: info !== undefined,
      });
    } finally {
      inFlight--;
      settle();
    }
  };
  const settle = () => {
    if (inFlight === 0) stopping.drained?.resolve();
  };
  const drain = () => {
    stopping.drained ??= Promise.withResolvers();
    settle();
    return stopping.drained.promise;
  };
  const close = () => pool.close();
  return Object.assign(handler, {
    close,
    warm: () => pool.warm(),
    inFlight: () => inFlight,
    drain,
    [Symbol.dispose]: close,
  });
}

/**
 * The server's routes, by path and then method (see the module comment): the files it serves
 * (`fileResponders`), the health check and `POST /api/predict` (`predictResponder`).
 */
function serverRoutes(
  options: HandlerOptions,
  { batcher, pool }: { batcher: Batcher; pool: PreparePool },
): Map<string, Route> {
  const { pageResponse, engineResponse, modelResponse } = fileResponders(options);
  const icon = () => withHeaders(new Response(null, { status: 204 }));
  const health = () => json({ status: "ok" });
  const classify = predictResponder(options, { batcher, pool });
  // Maps, not objects: a path or a method such as "constructor" must find nothing.
  return new Map<string, Route>([
    ["/", new Map([["GET", pageResponse], ["HEAD", pageResponse]])],
    ["/engine.js", new Map([["GET", engineResponse], ["HEAD", engineResponse]])],
    ["/api/model", new Map([["GET", modelResponse], ["HEAD", modelResponse]])],
    ["/favicon.ico", new Map([["GET", icon]])],
    ["/api/health", new Map([["GET", health]])],
    ["/api/predict", new Map([["POST", classify]])],
  ]);
}

/**
 * The responders for the three bodies served as they are, each with a strong `ETag` computed
 * once: the drawing page worded for `options.dataset`, the bundled engine, and the model's
 * weights (a 404 without them).
 */
function fileResponders(options: HandlerOptions): {
  pageResponse: (request: Request) => Response;
  engineResponse: (request: Request) => Response;
  modelResponse: (request: Request) => Response;
} {
  const page = drawingPage(options.dataset);
  const pageTag = entityTag(page);
  const pageResponse = (request: Request) =>
    respond(request, page, {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-cache",
      "ETag": pageTag,
    });
  const engineTag = entityTag(engine);
  const engineResponse = (request: Request) =>
    respond(request, engine, {
      "Content-Type": "text/javascript; charset=utf-8",
      "Cache-Control": "no-cache",
      "ETag": engineTag,
    });
  const model = options.model?.slice();
  const modelTag = model && entityTag(model);
  const modelResponse = (request: Request) => {
    if (model === undefined) {
      throw new HttpError(
        404,
        "This server does not share its model: classify through /api/predict",
      );
    }
    // A copy each time: a body's buffer is the response's to consume.
    return respond(request, request.method === "HEAD" ? model : model.slice(), {
      "Content-Type": "application/octet-stream",
      "Cache-Control": "no-cache",
      "ETag": modelTag!,
    });
  };
  return { pageResponse, engineResponse, modelResponse };
}

/**
 * `POST /api/predict`'s responder: refuses the request with 503 when `maxRequests` predictions
 * are in progress or `maxUploads` bodies are arriving, reads the body (bytes held by unanswered
 * requests counted against `maxBytes` × `maxRequests`), takes a form's file, and answers with
 * `predict`'s JSON.
 */
function predictResponder(
  options: HandlerOptions,
  { batcher, pool }: { batcher: Batcher; pool: PreparePool },
): (request: Request) => Promise<Response> {
  const {
    maxBytes = MAX_BODY_BYTES,
    maxSide = MAX_IMAGE_SIDE,
    maxPixels = MAX_IMAGE_PIXELS,
    bodyTimeoutMs = BODY_TIMEOUT_MS,
    maxRequests = MAX_REQUESTS,
    maxUploads = MAX_UPLOADS,
  } = options;
  let inProgress = 0;
  let uploading = 0;
  // Bytes held by the bodies of requests not yet answered, arrived or arriving.
  const held = { bytes: 0, max: maxBytes * maxRequests };
  const names = DATASETS[datasetName(options.dataset)].classes;
  const busy = async (request: Request, why: string) => {
    await request.body?.cancel().catch(() => {});
    return new HttpError(503, `The server is busy: ${why}; try again shortly`, {
      headers: { "Retry-After": "1" },
    });
  };
  return async (request: Request) => {
    if (inProgress >= maxRequests) {
      throw await busy(request, `${maxRequests} predictions are in progress`);
    }
    if (uploading >= maxUploads) {
      throw await busy(request, `${maxUploads} request bodies are arriving`);
    }
    // What this request's body holds of `held`, from its first byte until it is answered.
    const body = { bytes: 0 };
    try {
      const type = await checkBodyType(request);
      let bytes;
      uploading++;
      try {
        bytes = await readBody(request, { maxBytes, timeoutMs: bodyTimeoutMs, held, body });
      } finally {
        uploading--;
      }
      if (inProgress >= maxRequests) {
        throw await busy(request, `${maxRequests} predictions are in progress`);
      }
      inProgress++;
      try {
        if (type === "multipart/form-data") {
          bytes = await formImage(bytes, request.headers.get("Content-Type")!);
        }
        const limits = { maxSide, maxPixels };
        const answer = await predict(bytes, { batcher, pool, limits, names });
        mark("serve: /api/predict answered");
        return json(answer);
      } finally {
        inProgress--;
      }
    } finally {
      held.bytes -= body.bytes;
    }
  };
}

/**
 * Answers one request: checks its Host (421) and Origin (403), finds its route (404) and
 * method (405) and runs it; an `HttpError` becomes its JSON error, anything else a 500 reported
 * to `onError`.
 */
async function dispatch(
  request: Request,
  routes: Map<string, Route>,
  { hostAllowed, port, onError, connection }: {
    hostAllowed: (hostname: string) => boolean;
    port: number | undefined;
    onError: (error: unknown, request?: Request) => void;
    /** Whether the request came over a connection (a test's may have no Host header). */
    connection: boolean;
  },
): Promise<Response> {
  try {
    checkHost(request, hostAllowed, { port, connection });
    checkOrigin(request);
    const route = routes.get(rawPath(request.url));
    if (!route) throw new HttpError(404, "Not found");
    // HEAD is GET without the body (RFC 9110 §9.3.2), where a route does not answer it itself.
    const head = request.method === "HEAD" && !route.has("HEAD");
    const method = route.get(head ? "GET" : request.method);
    if (!method) {
      const allow = [...route.keys()];
      if (route.has("GET") && !route.has("HEAD")) allow.splice(1, 0, "HEAD");
      throw new HttpError(405, `Method ${request.method} not allowed: use ${allow.join(", ")}`, {
        headers: { Allow: allow.join(", ") },
      });
    }
    const response = await method(request);
    return head ? await withoutBody(response) : response;
  } catch (error) {
    if (error instanceof HttpError) {
      return json(
        { error: error.message, ...error.fields },
        { status: error.status, headers: error.headers },
      );
    }
    onError(error, request);
    return json({ error: "Internal server error" }, { status: 500 });
  }
}

/** What the drawing page says of one dataset's classes. */
interface PageWords {
  /** One class, in the title, the heading and the labels: "digit". */
  noun: string;
  /** Several: "digits". */
  nouns: string;
  /** The instructions under the heading. */
  lead: string;
}

const ANSWERS = "with the mouse, a pen or a finger. The network answers as you draw.";

/** The page's words by dataset; the class names themselves are `DATASETS[name].classes`. */
const PAGE_WORDS: Record<DatasetName, PageWords> = {
  mnist: {
    noun: "digit",
    nouns: "digits",
    lead: `Draw one digit, 0 to 9, large in the box, ${ANSWERS}`,
  },
  fashion: {
    noun: "garment",
    nouns: "garments",
    lead: "Draw one garment, as Fashion-MNIST pictures them (a T-shirt/top, trouser, pullover, " +
      "dress, coat, sandal, shirt, sneaker, bag or ankle boot), large and filled in, in the box, " +
      ANSWERS,
  },
};

/**
 * The drawing page (`page.html`) for a model trained on `dataset`, a checkpoint's `dataset`:
 * for "fashion" its title, instructions, aria labels, bars, teaching buttons and messages name
 * Fashion-MNIST's garments (`DATASETS.fashion.classes`); for any other, MNIST's digits 0 to 9.
 * The template's `{{ slot }}`s are filled once, with HTML-escaped text.
 */
function drawingPage(dataset = "mnist"): string {
  const name = datasetName(dataset);
  const words = PAGE_WORDS[name];
  const classes = DATASETS[name].classes;
  const article = (noun: string) => /^[aeiou]/i.test(noun) ? "an" : "a";
  const slots: Record<string, string> = {
    dataset: escapeHtml(name),
    noun: escapeHtml(words.noun),
    nouns: escapeHtml(words.nouns),
    lead: escapeHtml(words.lead),
    // One bar per class, in class order; the page's script fills in the widths and values.
    bars: classes.map((label, k) =>
      `<li data-digit="${k}"><span class="label">${escapeHtml(label)}</span>` +
      `<span class="track"><span class="bar"></span></span><span class="value"></span></li>`
    ).join(""),
    labels: classes.map((label, k) =>
      `<button type="button" data-label="${k}" ` +
      `aria-label="Teach: this is ${article(label)} ${escapeHtml(label)}">` +
      `${escapeHtml(label)}</button>`
    ).join(""),
  };
  // `{{ name }}`, spaced as deno fmt writes slots in text, or `{{name}}` in an attribute.
  return pageTemplate.replace(/\{\{\s*(\w+)\s*\}\}/g, (slot: string, key: string) => {
    const value = slots[key];
    if (value === undefined) throw new Error(`page.html: no value for ${slot}`);
    return value;
  });
}

/** A checkpoint's `dataset` as one of `DATASETS`: MNIST's for any other (`mnist predict`'s rule). */
function datasetName(dataset = "mnist"): DatasetName {
  return Object.hasOwn(DATASETS, dataset) ? dataset as DatasetName : "mnist";
}

/** `text` with `&`, `<`, `>`, `"` and `'` written as character references. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The host part of a Host header: a name, an IPv4 address or a bracketed IPv6 address. */
const HOST_HEADER = /^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/i;

/** Names a server bound to a loopback address answers to. */
const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

/**
 * Which host names (as `URL.hostname` writes them: lower case, IPv6 in brackets) a server
 * bound to `address` answers to. An IP address is never a DNS rebinding, a name can be.
 */
function hostPolicy(address: string): (hostname: string) => boolean {
  const bound = normalHostname(address.includes(":") ? `[${address}]` : address);
  if (bound === "0.0.0.0" || bound === "[::]") {
    return (name) => name === "localhost" || isIpAddress(name);
  }
  if (bound === "localhost" || bound === "[::1]" || /^127\./.test(bound ?? "")) {
    return (name) => LOOPBACK_NAMES.includes(name) || name === bound;
  }
  return (name) => name === bound;
}

/** `host` (no port) as `URL.hostname` writes it, or undefined when it is not a host name. */
function normalHostname(host: string): string | undefined {
  if (!HOST_HEADER.test(host)) return undefined;
  try {
    return new URL(`http://${host}/`).hostname;
  } catch {
    return undefined;
  }
}

function isIpAddress(hostname: string): boolean {
  return hostname.startsWith("[") || /^\d+\.\d+\.\d+\.\d+$/.test(hostname);
}

/** The request's Host (Deno.serve puts it in the URL too; a `Request` made in a test, only there). */
function hostOf(request: Request): string {
  return request.headers.get("Host") ?? new URL(request.url).host;
}

/**
 * Refuses, with 421, a Host header that names another server (DNS rebinding), and so an
 * absolute-form target (`GET http://evil.example/api/health`) whose authority does; with 400,
 * a request over a connection without a Host header, which HTTP/1.1 requires (RFC 9112 §3.2;
 * `Deno.serve` does not say which version a request is, so an HTTP/1.0 one is refused too).
 */
function checkHost(
  request: Request,
  allowed: (hostname: string) => boolean,
  { port, connection }: { port: number | undefined; connection: boolean },
): void {
  if (connection && request.headers.get("Host") === null) {
    throw new HttpError(400, "The request has no Host header: HTTP/1.1 requires one");
  }
  const check = (host: string) => {
    const match = HOST_HEADER.exec(host);
    const hostname = match ? normalHostname(host.replace(/:\d+$/, "")) : undefined;
    const portOk = port === undefined || match?.[1] === undefined || Number(match[1]) === port;
    if (hostname === undefined || !allowed(hostname) || !portOk) {
      throw new HttpError(421, `This server does not answer for host "${host}"`);
    }
  };
  const host = hostOf(request);
  check(host);
  // Deno.serve makes the URL from the Host header, or from an absolute-form target.
  const target = new URL(request.url).host;
  if (connection && target.toLowerCase() !== host.toLowerCase()) check(target);
}

/**
 * Refuses, with 403, requests a web page on another origin makes: an `Origin` that is not
 * `http://` and this request's Host, `Origin: null` (sandboxed frames, files), and any request
 * the browser marks `Sec-Fetch-Site: cross-site` except following a link to the page.
 */
function checkOrigin(request: Request): void {
  const origin = request.headers.get("Origin");
  if (origin !== null) {
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      // not an origin: refused below
    }
    const own = new URL(`http://${hostOf(request)}/`).host;
    if (url?.protocol !== "http:" || url.host !== own || url.origin !== origin) {
      throw new HttpError(403, `Cross-origin requests are refused (Origin: ${origin})`);
    }
  }
  const site = request.headers.get("Sec-Fetch-Site");
  const link = request.headers.get("Sec-Fetch-Mode") === "navigate" &&
    (request.method === "GET" || request.method === "HEAD");
  if (site === "cross-site" && !link) {
    throw new HttpError(403, "Cross-site requests are refused (Sec-Fetch-Site: cross-site)");
  }
}

/**
 * The body's declared type (`BODY_TYPES`, lower case, without parameters); refuses others with
 * 415. A web page may send text/plain, a urlencoded form or no type at all to another origin
 * without asking first; the one of these that carries a file, multipart/form-data, comes with
 * the page's Origin, which `checkOrigin` has refused already when it is not this server's.
 */
async function checkBodyType(request: Request): Promise<string> {
  const declared = request.headers.get("Content-Type");
  const type = declared === null ? undefined : declared.split(";")[0]!.trim().toLowerCase();
  if (type !== undefined && BODY_TYPES.includes(type)) return type;
  await request.body?.cancel().catch(() => {});
  throw new HttpError(
    415,
    `The request body must be sent with Content-Type: image/png, image/jpeg, ` +
      `multipart/form-data (a file field) or application/octet-stream, not ` +
      (declared === null ? "none" : `"${declared}"`),
  );
}

/**
 * The image file of a multipart/form-data body, already read within the size limit and the
 * deadline: the field named `file`, else the first file in the form. A malformed form, or one
 * without a file, is a 400.
 */
async function formImage(
  body: Uint8Array<ArrayBuffer>,
  contentType: string,
): Promise<Uint8Array> {
  let form: FormData;
  try {
    form = await new Response(body, { headers: { "Content-Type": contentType } }).formData();
  } catch (error) {
    throw new HttpError(400, `Cannot read the multipart/form-data body: ${messageOf(error)}`);
  }
  const named = form.get("file");
  const file = named instanceof File
    ? named
    : [...form.values()].find((value): value is File => value instanceof File);
  if (file === undefined && !closesForm(body, contentType)) {
    // A part cut short is dropped without a word: the form is missing its end, not its file.
    throw new HttpError(
      400,
      "The multipart/form-data body is truncated or malformed: it does not end with its " +
        "closing boundary (--BOUNDARY--, BOUNDARY from its Content-Type)",
    );
  }
  if (file === undefined) {
    throw new HttpError(
      400,
      'The form has no file: send the image as a file field, e.g. curl -F "file=@digit.jpg"',
    );
  }
  return new Uint8Array(await file.arrayBuffer());
}

/**
 * Whether a multipart body holds its close delimiter, `--` + the Content-Type's boundary + `--`
 * (RFC 2046 §5.1.1), at its start or after a line break.
 */
function closesForm(body: Uint8Array, contentType: string): boolean {
  const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const value = boundary?.[1] ?? boundary?.[2];
  if (value === undefined) return false;
  // Latin-1 keeps one character a byte, whatever the parts hold.
  const text = new TextDecoder("latin1").decode(body);
  const close = `--${value}--`;
  return text.startsWith(close) || text.includes(`\n${close}`);
}

/**
 * The path exactly as the client sent it. `new URL()` would resolve dot segments, even encoded
 * ones (`/%2e%2e/` is `/` to it); the routes match what was sent, so those are 404s.
 */
function rawPath(url: string): string {
  const path = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, "");
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end);
}

/**
 * Reads the whole body, refusing with 413 as soon as it is known to exceed `maxBytes`, with 408
 * when it is not all there within `timeoutMs`, and with 503 when a chunk would take the bytes
 * that all requests' bodies hold (`held.bytes`, counted up here in `body.bytes`, which the
 * caller gives back once the request is answered) past `held.max`. Each time the stream is
 * cancelled, so what was read is dropped and the connection closed.
 */
async function readBody(
  request: Request,
  { maxBytes, timeoutMs, held, body }: {
    maxBytes: number;
    timeoutMs: number;
    held: { bytes: number; max: number };
    body: { bytes: number };
  },
): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () =>
    new HttpError(413, `The request body is larger than the ${formatBytes(maxBytes)} limit`);
  const declared = request.headers.get("Content-Length");
  if (declared !== null && Number(declared) > maxBytes) {
    await request.body?.cancel().catch(() => {});
    throw tooLarge();
  }
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = request.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), timeoutMs);
  });
  try {
    while (true) {
      const reading = reader.read();
      reading.catch(() => {}); // still pending when the deadline wins the race
      let chunk: ReadableStreamReadResult<Uint8Array> | "late";
      try {
        chunk = await Promise.race([reading, late]);
      } catch (error) {
        throw new HttpError(400, `Cannot read the request body: ${messageOf(error)}`);
      }
      if (chunk === "late") {
        await reader.cancel().catch(() => {});
        throw new HttpError(
          408,
          `The request body did not arrive within ${timeoutMs / 1000} s (${length} bytes came)`,
        );
      }
      if (chunk.done) break;
      length += chunk.value.length;
      if (length > maxBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      if (held.bytes + chunk.value.length > held.max) {
        await reader.cancel().catch(() => {});
        throw new HttpError(
          503,
          `The server is busy: request bodies hold ${formatBytes(held.max)}; try again shortly`,
          { headers: { "Retry-After": "1" } },
        );
      }
      held.bytes += chunk.value.length;
      body.bytes += chunk.value.length;
      chunks.push(chunk.value);
    }
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/**
 * Decodes, prepares (as `mnist predict` does, for the model's dataset), classifies an image;
 * `names`: the dataset's class names, in class order.
 */
async function predict(
  bytes: Uint8Array,
  { batcher, pool, limits, names }: {
    batcher: Batcher;
    pool: PreparePool;
    limits: ImageLimits;
    names: readonly string[];
  },
): Promise<Prediction> {
  let digit;
  try {
    digit = await pool.prepare(bytes, limits);
  } catch (error) {
    if (error instanceof BadImage) {
      const { refusal, hint } = error;
      throw new HttpError(400, error.message, {
        fields: { refusal, ...(hint === undefined ? {} : { hint }) },
      });
    }
    throw error;
  }
  const probabilities = Array.from(await batcher.classify(digit.pixels));
  const best = topClass(probabilities);
  const png = await encodePng({
    width: MNIST_SIDE,
    height: MNIST_SIDE,
    channels: 1,
    pixels: digit.ink,
  });
  return {
    digit: best,
    class: best,
    name: names[best] ?? String(best),
    probability: probabilities[best]!,
    probabilities,
    input: `data:image/png;base64,${png.toBase64()}`,
  };
}

/**
 * Classifies images in batches: while the GPU works on one batch, the requests that arrive
 * wait together and go in the next, so a burst of requests costs a few passes, not one each.
 */
class Batcher {
  #waiting: {
    pixels: Float32Array;
    resolve: (p: Float32Array) => void;
    reject: (e: unknown) => void;
  }[] = [];
  #running = false;
  readonly #classifier: ImageClassifier;

  constructor(classifier: ImageClassifier) {
    this.#classifier = classifier;
  }

  classify(pixels: Float32Array): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ pixels, resolve, reject });
      if (!this.#running) this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    while (this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0);
      try {
        const results = await this.#classifier.classify(batch.map((b) => b.pixels));
        batch.forEach((b, i) => b.resolve(results[i]!));
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    }
    this.#running = false;
  }
}

/**
 * `body` with `headers`; for HEAD no body, and the Content-Length a GET's would have (left
 * alone, an empty body says 0). Where `headers` has an `ETag` that the request's
 * `If-None-Match` names, a 304 with no body and no Content-Type or Content-Length.
 */
function respond(
  request: Request,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string>,
): Response {
  const tag = headers["ETag"];
  if (tag !== undefined && noneMatchNames(request.headers.get("If-None-Match"), tag)) {
    const { "Content-Type": _, ...rest } = headers;
    return withHeaders(new Response(null, { status: 304, headers: rest }));
  }
  if (request.method !== "HEAD") return withHeaders(new Response(body, { headers }));
  const length = typeof body === "string" ? new TextEncoder().encode(body).length : body.length;
  return withHeaders(
    new Response(null, { headers: { ...headers, "Content-Length": String(length) } }),
  );
}

/** `response` with no body, and the Content-Length its body had: the answer to a HEAD. */
async function withoutBody(response: Response): Promise<Response> {
  if (response.body === null) return response;
  const length = (await response.arrayBuffer()).byteLength;
  const headers = new Headers(response.headers);
  headers.set("Content-Length", String(length));
  return new Response(null, { status: response.status, headers });
}

/** A strong entity tag for `body`: its SHA-256, base64url, quoted (45 characters). */
function entityTag(body: string | Uint8Array): string {
  return `"${createHash("sha256").update(body).digest("base64url")}"`;
}

/**
 * Whether an `If-None-Match` header value names `tag`: `*`, or a comma-separated list holding
 * it (weak comparison, RFC 9110 §13.1.2: a `W/` prefix is ignored).
 */
function noneMatchNames(header: string | null, tag: string): boolean {
  if (header === null) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === tag);
}

function json(value: unknown, init: ResponseInit = {}): Response {
  const response = new Response(JSON.stringify(value), init);
  response.headers.set("Content-Type", "application/json; charset=utf-8");
  response.headers.set("Cache-Control", "no-store");
  return withHeaders(response);
}

function withHeaders(response: Response): Response {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.headers.set(name, value);
  return response;
}

function formatBytes(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n}-byte`;
}

function logError(error: unknown, request?: Request): void {
  if (request) console.error(`Error handling ${request.method} ${request.url}:`, error);
  else console.error(`Warning: ${messageOf(error)}; images are prepared on the main thread`);
}
