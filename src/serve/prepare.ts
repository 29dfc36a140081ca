/**
 * `POST /api/predict`'s CPU work: a PNG or JPEG body to the 28×28 input the network sees, as
 * `mnist predict` makes it (`decodeImage`, then `toModelInput`: a digit for an MNIST model, a
 * garment for a Fashion-MNIST one), within the same pixel limits.
 *
 * Decoding and preprocessing a large image takes a good part of a second of CPU (a 2048×2048
 * PNG about 0.7 s on this project's test machine, before preprocessing worked on a shrunk
 * copy); on the event loop, 20 of them at once held a page load back for 7.8 s. So images
 * larger than `INLINE_PIXELS` are prepared in worker threads (`PreparePool`), one image per
 * worker at a time, first come first served; the page's 280×280 drawings (about 10 ms) are
 * prepared on the main thread, where they never wait behind large images.
 */
import { UserError } from "../errors.ts";
import {
  checkImageSize,
  decodeImage,
  MAX_PIXELS,
  MAX_SIDE,
  readHeader,
  sniffFormat,
} from "../image/decode.ts";
import { toModelInput } from "../image/input.ts";
import { IMAGE_NAME as NAME, type RefusalKind, refusalOf } from "./answer.ts";

/** Images of at most this many pixels (320×320, about 10 ms) are prepared on the main thread. */
export const INLINE_PIXELS = 320 * 320;

/** What the network needs of one image, and what the page shows of it. */
export interface Prepared {
  /** (28, 28) ink in [0, 1], light ink on black: the network's input. */
  pixels: Float32Array;
  /** (28, 28) the same as bytes 0..255, for the answer's `input` image. */
  ink: Uint8Array;
}

/** The largest image `prepareImage` takes: by default `mnist predict`'s, from the header. */
export interface ImageLimits {
  /** The longest side, in pixels (default `MAX_SIDE`, 8000). */
  maxSide?: number;
  /** The most pixels (default `MAX_PIXELS`, 16 megapixels). */
  maxPixels?: number;
}

/** `prepareImage`'s options: the limits, and the dataset the model was trained on. */
export interface PrepareOptions extends ImageLimits {
  /** The model's dataset (a checkpoint's `dataset`): "fashion", or MNIST's digits (default). */
  dataset?: string;
}

/** The client's fault (a 400): not a PNG or JPEG, too large, corrupt, no ink, too little. */
export class BadImage extends Error {
  /** Its kind, as the 400 response's JSON `refusal` says it (`refusalOf`). */
  readonly refusal: RefusalKind;
  /** What to do next, for the 400 response's JSON `hint`, where there is one. */
  readonly hint?: string;

  /**
   * `message`: the one line the 400 response's JSON `error` carries, naming no file;
   * `options.refusal` defaults to "bad-image".
   */
  constructor(message: string, options: { refusal?: RefusalKind; hint?: string } = {}) {
    super(message);
    this.name = "BadImage";
    this.refusal = options.refusal ?? "bad-image";
    this.hint = options.hint;
  }
}

/** `src/image`'s `UserError` for an image named `NAME` as a `BadImage` (`refusalOf`). */
function badImage(error: UserError): BadImage {
  const { error: message, refusal, hint } = refusalOf(error);
  return new BadImage(message, { refusal, hint });
}

/**
 * Decodes a PNG or JPEG within `options`' limits and prepares it for a model of `options.dataset`
 * (`toModelInput`); throws `BadImage`.
 */
export function prepareImage(bytes: Uint8Array, options: PrepareOptions = {}): Prepared {
  checkImage(bytes, options);
  try {
    const dataset = options.dataset ?? "mnist";
    const { pixels, ink } = toModelInput(decodeImage(bytes, NAME), { name: NAME, dataset });
    return { pixels, ink };
  } catch (error) {
    if (error instanceof UserError) throw badImage(error);
    throw error;
  }
}

/**
 * Checks what can be checked without decoding (a PNG or JPEG, by its first bytes; its size,
 * from its header, within `limits`) and returns its pixel count; throws `BadImage`.
 */
function checkImage(bytes: Uint8Array, limits: ImageLimits = {}): number {
  const { maxSide = MAX_SIDE, maxPixels = MAX_PIXELS } = limits;
  if (bytes.length === 0) {
    throw new BadImage("The request body is empty: send a PNG or JPEG image");
  }
  if (sniffFormat(bytes) === undefined) {
    throw new BadImage("The request body is not a PNG or JPEG image");
  }
  let header;
  try {
    header = readHeader(bytes, NAME);
  } catch (error) {
    if (error instanceof UserError) throw badImage(error);
    throw error;
  }
  try {
    // The limits in the words `mnist predict` uses: both, whichever the image is over.
    checkImageSize(header, { name: NAME, maxSide, maxPixels });
  } catch (error) {
    if (error instanceof UserError) throw badImage(error);
    throw error;
  }
  return header.width * header.height;
}

/** A message to a worker: one image. */
export interface PrepareJob {
  /** The request body: a PNG or JPEG file's bytes, sniffed, never trusted by type. */
  bytes: Uint8Array;
  /** The largest image accepted, checked from the header before any pixel is decoded. */
  limits: ImageLimits;
  /** The model's dataset, which decides how the image is prepared (`toModelInput`). */
  dataset: string;
}

/** A worker's answer: the prepared image, or why not (`bad`: the client's fault). */
export type PrepareResult =
  | { ok: true; pixels: Float32Array; ink: Uint8Array }
  | {
    ok: false;
    bad: boolean;
    message: string;
    stack?: string;
    /** A `BadImage`'s kind and hint. */
    refusal?: RefusalKind;
    hint?: string;
  };

/** The worker's module: a URL relative to this one, which `deno compile --include` embeds. */
const WORKER_URL = new URL("./prepare_worker.ts", import.meta.url);

/** The message a worker sends once it is ready for images. */
export const READY = "ready";

/** A worker thread and the image it is working on. */
interface Slot {
  worker: Worker;
  /** Whether it has said `READY`: until then it is given no image, so none is lost with it. */
  ready: boolean;
  job?: Queued;
}

interface Queued extends PrepareJob {
  resolve: (prepared: Prepared) => void;
  reject: (error: unknown) => void;
}

/** `PreparePool`'s options. */
export interface PoolOptions {
  /** Worker threads, started when first needed (0: every image on the calling thread). */
  size: number;
  /**
   * Called once if a worker cannot start (a program made by `deno compile` without
   * `--include src/serve/prepare_worker.ts`); images are then prepared on the calling thread.
   */
  onStartFailure?: (error: Error) => void;
  /** The worker's module (default `prepare_worker.ts`; tests name a missing one). */
  workerUrl?: URL;
  /** The model's dataset: images are prepared as its images were made (default "mnist"). */
  dataset?: string;
}

/**
 * Prepares images in worker threads, started when first needed and kept until `close`; images
 * of at most `INLINE_PIXELS` pixels are prepared on the calling thread. A worker that fails (an
 * uncaught error, a crash) fails only its own image, and is replaced.
 */
export class PreparePool {
  readonly #size: number;
  readonly #onStartFailure: (error: Error) => void;
  readonly #workerUrl: URL;
  readonly #dataset: string;
  readonly #slots: Slot[] = [];
  readonly #queue: Queued[] = [];
  #inline: boolean;
  #closed = false;

  /** A pool of at most `size` workers; none is started until an image needs one. */
  constructor(
    { size, onStartFailure = () => {}, workerUrl = WORKER_URL, dataset = "mnist" }: PoolOptions,
  ) {
    this.#size = size;
    this.#dataset = dataset;
    this.#workerUrl = workerUrl;
    this.#inline = size === 0;
    this.#onStartFailure = onStartFailure;
  }

  /** The prepared image; rejects with `BadImage` for the client's faults, else with a bug. */
  prepare(bytes: Uint8Array, limits: ImageLimits = {}): Promise<Prepared> {
    if (this.#closed) return Promise.reject(new Error("The image workers are closed"));
    let pixels: number;
    try {
      pixels = checkImage(bytes, limits);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      const job = { bytes, limits, dataset: this.#dataset, resolve, reject };
      // Small in bytes too: a 6 MB body of 320×320 pixels can hold half a million tiny PNG
      // chunks or JPEG segments, 0.5-2 s of decoding.
      const small = pixels <= INLINE_PIXELS && bytes.length <= 256 * 1024;
      if (this.#inline || small) runInline(job);
      else {
        this.#queue.push(job);
        this.#dispatch();
      }
    });
  }

  /** Stops every worker; images still waiting or being prepared are rejected. */
  close(): void {
    this.#closed = true;
    const closed = () => new Error("The image workers are closed");
    for (const slot of this.#slots.splice(0)) {
      slot.worker.terminate();
      slot.job?.reject(closed());
    }
    for (const job of this.#queue.splice(0)) job.reject(closed());
  }

  /** Gives waiting images to ready workers, starting workers (up to `size`) for the rest. */
  #dispatch(): void {
    while (this.#queue.length > 0) {
      if (this.#inline) {
        for (const job of this.#queue.splice(0)) runInline(job);
        return;
      }
      const slot = this.#slots.find((s) => s.ready && s.job === undefined);
      if (!slot) {
        let starting = this.#slots.filter((s) => !s.ready).length;
        while (this.#slots.length < this.#size && starting < this.#queue.length) {
          this.#start();
          starting++;
        }
        return;
      }
      const job = this.#queue.shift()!;
      slot.job = job;
      // The body is not needed here any more: move it, do not copy it.
      const { bytes, limits, dataset } = job;
      const whole = bytes.buffer instanceof ArrayBuffer &&
        bytes.byteLength === bytes.buffer.byteLength;
      const message = { bytes, limits, dataset } satisfies PrepareJob;
      slot.worker.postMessage(message, whole ? [bytes.buffer] : []);
    }
  }

  #start(): void {
    const worker = new Worker(this.#workerUrl.href, {
      type: "module",
      name: "mnist serve: prepare images",
    });
    const slot: Slot = { worker, ready: false };
    worker.onmessage = (event: MessageEvent<PrepareResult | typeof READY>) => {
      const result = event.data;
      if (result === READY) slot.ready = true;
      else {
        const job = slot.job;
        slot.job = undefined;
        if (result.ok) job?.resolve({ pixels: result.pixels, ink: result.ink });
        else if (result.bad) {
          const { refusal, hint } = result;
          job?.reject(new BadImage(result.message, { refusal, hint }));
        } else {
          const error = new Error(`An image worker failed: ${result.message}`);
          if (result.stack) error.stack = result.stack;
          job?.reject(error);
        }
      }
      this.#dispatch();
    };
    // An uncaught error or a crash ends the worker: fail its image, and start a new one; one
    // that cannot start at all (its module missing) will not start next time either.
    const fail = (message: string) => {
      worker.terminate();
      const at = this.#slots.indexOf(slot);
      if (at >= 0) this.#slots.splice(at, 1);
      if (this.#closed) return;
      if (!slot.ready && !this.#inline) {
        this.#inline = true;
        for (const other of this.#slots.splice(0)) {
          other.worker.terminate();
          if (other.job) this.#queue.push(other.job);
        }
        this.#onStartFailure(new Error(`An image worker cannot start: ${message}`));
      }
      slot.job?.reject(new Error(`An image worker stopped: ${message}`));
      this.#dispatch();
    };
    worker.onerror = (event) => {
      event.preventDefault(); // or the error would end the whole program
      fail(event.message);
    };
    worker.onmessageerror = () => fail("it sent a message that cannot be read");
    this.#slots.push(slot);
  }
}

/** Prepares `job` on this thread. */
function runInline(job: Queued): void {
  try {
    job.resolve(prepareImage(job.bytes, { ...job.limits, dataset: job.dataset }));
  } catch (error) {
    job.reject(error);
  }
}

/** The default number of image workers: the CPU cores but one for the event loop, 1 to 4. */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency - 1));
}
