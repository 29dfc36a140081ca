/**
 * The HTTP side of `mnist serve`, as a plain `(Request) => Promise<Response>` function so that it
 * can be tested without a socket. Routes:
 *
 *   GET  /             the drawing page (embedded in the program: no file is ever read)
 *   GET  /favicon.ico  204, so browsers stop asking
 *   GET  /api/health   {"status": "ok"}
 *   POST /api/predict  a PNG body → {"digit", "probability", "probabilities", "input"}
 *
 * Every other path is a 404, a known path with the wrong method a 405. Bodies over `maxBytes`
 * are refused with 413, by their Content-Length or, without one, while they stream in; a body
 * that is not a PNG, a PNG wider or taller than `maxSide`, or one with no ink, is a 400. Errors
 * are JSON: `{"error": "..."}`.
 */
import { messageOf, UserError } from "../errors.ts";
import { decodeImage, readHeader, sniffFormat } from "../image/decode.ts";
import { encodePng } from "../image/png.ts";
import { MNIST_SIDE, toMnist } from "../image/preprocess.ts";
import page from "./page.html" with { type: "text" };

/** What the handler needs of a model: `Classifier`'s `classify`. */
export interface ImageClassifier {
  /** Class probabilities for each image (784 floats in [0, 1], light ink on black). */
  classify(images: Float32Array[]): Promise<Float32Array[]>;
}

/** `createHandler`'s options. */
export interface HandlerOptions {
  /** The model, loaded once; requests that arrive together are classified in one batch. */
  classifier: ImageClassifier;
  /** The largest request body accepted, in bytes (default `MAX_BODY_BYTES`). */
  maxBytes?: number;
  /** The largest width and height accepted, in pixels (default `MAX_IMAGE_SIDE`). */
  maxSide?: number;
  /** Called with errors that are bugs, not bad requests (the client gets a 500); default: stderr. */
  onError?: (error: unknown, request: Request) => void;
}

/** The largest request body `POST /api/predict` accepts by default: 1 MiB. */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The largest image side `POST /api/predict` accepts by default. Preprocessing runs on the
 * event loop, and a PNG of a blank 4000×4000 page compresses to a few kilobytes yet takes over a
 * second to preprocess; 2048×2048 keeps that near a quarter of a second. The page sends 280×280.
 */
export const MAX_IMAGE_SIDE = 2048;

/** What `POST /api/predict` answers. */
export interface Prediction {
  /** The most probable class. */
  digit: number;
  /** Its probability. */
  probability: number;
  /** Every class's probability, in class order. */
  probabilities: number[];
  /** The 28×28 image the network saw (light ink on black), as a `data:image/png;base64,` URL. */
  input: string;
}

/** The image's name in error messages. */
const NAME = "request body";

/** Sent with every response: the page runs only its own inline script and style. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; " +
    "style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; " +
    "form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
};

/** An error that becomes a JSON response with `status`. */
class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: HeadersInit = {}) {
    super(message);
  }
}

/** A path's handlers by method. */
type Route = Map<string, (request: Request) => Promise<Response> | Response>;

/**
 * The server's request handler. It never throws: bad requests become 4xx JSON errors and bugs a
 * 500, so one request cannot stop the server.
 */
export function createHandler(options: HandlerOptions): (request: Request) => Promise<Response> {
  const { maxBytes = MAX_BODY_BYTES, maxSide = MAX_IMAGE_SIDE, onError = logError } = options;
  const batcher = new Batcher(options.classifier);
  const pageResponse = (request: Request) =>
    respond(request, page, {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-cache",
    });
  const icon = () => withHeaders(new Response(null, { status: 204 }));
  const health = () => json({ status: "ok" });
  const classify = async (request: Request) => {
    const bytes = await readBody(request, maxBytes);
    return json(await predict(bytes, batcher, maxSide));
  };
  // Maps, not objects: a path or a method such as "constructor" must find nothing.
  const routes = new Map<string, Route>([
    ["/", new Map([["GET", pageResponse], ["HEAD", pageResponse]])],
    ["/favicon.ico", new Map([["GET", icon]])],
    ["/api/health", new Map([["GET", health]])],
    ["/api/predict", new Map([["POST", classify]])],
  ]);

  return async (request) => {
    try {
      const route = routes.get(rawPath(request.url));
      if (!route) throw new HttpError(404, "Not found");
      const method = route.get(request.method);
      if (!method) {
        const allow = [...route.keys()].join(", ");
        throw new HttpError(405, `Method ${request.method} not allowed: use ${allow}`, {
          Allow: allow,
        });
      }
      return await method(request);
    } catch (error) {
      if (error instanceof HttpError) {
        return json({ error: error.message }, { status: error.status, headers: error.headers });
      }
      onError(error, request);
      return json({ error: "Internal server error" }, { status: 500 });
    }
  };
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

/** Reads the whole body, refusing with 413 as soon as it is known to exceed `maxBytes`. */
async function readBody(request: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () =>
    new HttpError(413, `The request body is larger than the ${formatBytes(maxBytes)} limit`);
  const declared = request.headers.get("Content-Length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge();
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = request.body.getReader();
  while (true) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (error) {
      throw new HttpError(400, `Cannot read the request body: ${messageOf(error)}`);
    }
    if (chunk.done) break;
    length += chunk.value.length;
    if (length > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(chunk.value);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/** Decodes, preprocesses (as `mnist predict` does) and classifies one PNG. */
async function predict(bytes: Uint8Array, batcher: Batcher, maxSide: number): Promise<Prediction> {
  if (bytes.length === 0) {
    throw new HttpError(400, "The request body is empty: send a PNG image");
  }
  if (sniffFormat(bytes) !== "png") {
    throw new HttpError(400, "The request body is not a PNG image");
  }
  let digit;
  try {
    const { width, height } = readHeader(bytes, NAME);
    if (width > maxSide || height > maxSide) {
      throw new HttpError(
        400,
        `The image is ${width}×${height} pixels, larger than the ${maxSide}×${maxSide} limit`,
      );
    }
    digit = toMnist(decodeImage(bytes, NAME), NAME);
  } catch (error) {
    if (error instanceof UserError) throw new HttpError(400, error.message);
    throw error;
  }
  const probabilities = Array.from(await batcher.classify(digit.pixels));
  let best = 0;
  for (let k = 1; k < probabilities.length; k++) {
    if (probabilities[k]! > probabilities[best]!) best = k;
  }
  const png = await encodePng({
    width: MNIST_SIDE,
    height: MNIST_SIDE,
    channels: 1,
    pixels: digit.ink,
  });
  return {
    digit: best,
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

function respond(request: Request, body: string, headers: Record<string, string>): Response {
  return withHeaders(new Response(request.method === "HEAD" ? null : body, { headers }));
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

function logError(error: unknown, request: Request): void {
  console.error(`Error handling ${request.method} ${request.url}:`, error);
}
