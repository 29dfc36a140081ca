/**
 * `POST /api/predict`'s CPU work: a PNG or JPEG body to the 28×28 input the network sees, as
 * `mnist predict` makes it (`decodeImage`, then `toModelInput`: a digit for an MNIST model, a
 * garment for a Fashion-MNIST one), within the same pixel limits.
 *
 * Decoding and preprocessing a large image takes a good part of a second of CPU (a 2048×2048
 * PNG about 0.7 s on this project's test machine, before preprocessing worked on a shrunk
 * copy); on the event loop, 20 of them at once held a page load back for 7.8 s. So images
 * larger than `INLINE_PIXELS` are prepared in worker threads (`PreparePool`), one image per
 * worker at a time, first come first served; the page's 280×280 drawings in a worker of their
 * own (`smallWorker`, as `mnist serve` runs it), where they never wait behind large images. A
 * drawing takes about 10 ms on a quiet machine but 60-150 ms at a load of 7-10 (tester u12): 60
 * of them prepared on the event loop held `/api/health` for 1-4 s, and the requests not yet
 * read when Ctrl-C came were dropped. Without workers, images are prepared on the calling
 * thread one at a time, a turn of its event loop between two.
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
import { encodePng } from "../image/png.ts";
import { IMAGE_NAME as NAME, type RefusalKind, refusalOf } from "./answer.ts";

/** Images of at most this many pixels (320×320, about 10 ms) are prepared on the main thread. */
export const INLINE_PIXELS = 320 * 320;

/**
 * A worker that prepared an image of more pixels than this (2 MP: about 50 MB of jpeg-js's
 * blocks) is stopped once no image waits for it, even if the images it prepared since were
 * small (two 12 MP JPEGs then a 1000×1000 PNG left 386 MB held), and a new one started for the
 * next: its V8 heap keeps what decoding took, which the process does not give back otherwise.
 * After 16 bodies of 32 KB claiming 4000×4000 and four 16 MP JPEGs, `mnist serve` held 1.33 GB
 * of RSS idle, 0.44 GB with this (0.2 GB at the start; tester u12 saw 1.7-1.8 GB).
 */
export const RECYCLE_PIXELS = 2_000_000;

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
  // A JPEG too short for its header's size is refused by `decodeImage` before any block is
  // allocated (a byte per 512 pixels, as `mnist predict` refuses it), not here: a tighter floor
  // refused whole progressive JPEGs of near-blank pages (a 4000×3000 one of 41,718 bytes).
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

/** Which workers an image goes to: small ones never wait behind large ones. */
type Lane = "small" | "large";

/** A worker thread and the image it is working on. */
interface Slot {
  worker: Worker;
  lane: Lane;
  /** Whether it has said `READY`: until then it is given no image, so none is lost with it. */
  ready: boolean;
  /**
   * Whether it has prepared an image over `RECYCLE_PIXELS`: it is stopped the next time no
   * image waits for it, whatever the size of the last one.
   */
  recycle?: boolean;
  job?: Queued;
}

interface Queued extends PrepareJob {
  lane: Lane;
  /** The image's pixels, from its header. */
  pixels: number;
  resolve: (prepared: Prepared) => void;
  reject: (error: unknown) => void;
}

/** `PreparePool`'s options. */
export interface PoolOptions {
  /** Worker threads for large images, started when first needed (0: every image inline). */
  size: number;
  /**
   * Whether small images (at most `INLINE_PIXELS`, 256 KiB) go to a worker of their own, started
   * when first needed, rather than being prepared on the calling thread (default false).
   */
  smallWorker?: boolean;
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
 * of at most `INLINE_PIXELS` pixels are prepared in a worker of their own (`smallWorker`) or on
 * the calling thread, one each turn of its event loop. A worker that fails (an uncaught error,
 * a crash) fails only its own image, and is replaced.
 */
export class PreparePool {
  readonly #sizes: Record<Lane, number>;
  readonly #onStartFailure: (error: Error) => void;
  readonly #workerUrl: URL;
  readonly #dataset: string;
  readonly #slots: Slot[] = [];
  readonly #queues: Record<Lane, Queued[]> = { small: [], large: [] };
  /** Images waiting for the calling thread, one prepared each turn of the event loop. */
  readonly #inlineQueue: Queued[] = [];
  #inlineTimer: ReturnType<typeof setTimeout> | undefined;
  #inline: boolean;
  #closed = false;

  /** A pool of at most `size` workers (and the small images' one); none is started yet. */
  constructor(
    { size, smallWorker = false, onStartFailure = () => {}, workerUrl = WORKER_URL, dataset }:
      PoolOptions,
  ) {
    this.#sizes = { small: smallWorker && size > 0 ? 1 : 0, large: size };
    this.#dataset = dataset ?? "mnist";
    this.#workerUrl = workerUrl;
    this.#inline = size === 0;
    this.#onStartFailure = onStartFailure;
  }

  /** The worker threads alive now, of both lanes. */
  get running(): number {
    return this.#slots.length;
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
      // Small in bytes too: a 6 MB body of 320×320 pixels can hold half a million tiny PNG
      // chunks or JPEG segments, 0.5-2 s of decoding.
      const small = pixels <= INLINE_PIXELS && bytes.length <= 256 * 1024;
      const lane: Lane = small ? "small" : "large";
      const job = { bytes, limits, dataset: this.#dataset, lane, pixels, resolve, reject };
      if (this.#inline || this.#sizes[lane] === 0) this.#runInline(job);
      else {
        this.#queues[lane].push(job);
        this.#dispatch();
      }
    });
  }

  /**
   * Prepares a drawing of its own where the page's drawings are prepared (the small images'
   * worker, or this thread), so that the first drawing a user sends waits neither for the worker
   * to load nor for its code to be compiled: on a busy 2-core machine, a second or more.
   */
  async warm(): Promise<void> {
    if (this.#closed) return;
    await this.prepare(await warmUpDrawing()).catch(() => {});
  }

  /** Stops every worker; images still waiting or being prepared are rejected. */
  close(): void {
    this.#closed = true;
    const closed = () => new Error("The image workers are closed");
    for (const slot of this.#slots.splice(0)) {
      slot.worker.terminate();
      slot.job?.reject(closed());
    }
    for (const queue of Object.values(this.#queues)) {
      for (const job of queue.splice(0)) job.reject(closed());
    }
    clearTimeout(this.#inlineTimer);
    this.#inlineTimer = undefined;
    for (const job of this.#inlineQueue.splice(0)) job.reject(closed());
  }

  /**
   * Prepares `job` on this thread, after the images already waiting for it, each in a turn of
   * the event loop of its own: between two, the server reads and answers other requests.
   */
  #runInline(job: Queued): void {
    this.#inlineQueue.push(job);
    if (this.#inlineTimer !== undefined) return;
    const next = () => {
      const job = this.#inlineQueue.shift();
      this.#inlineTimer = this.#inlineQueue.length > 0 ? setTimeout(next, 0) : undefined;
      if (job) runInline(job);
    };
    this.#inlineTimer = setTimeout(next, 0);
  }

  /** Gives waiting images to ready workers, starting workers (up to the lane's size) for the rest. */
  #dispatch(): void {
    for (const lane of ["small", "large"] as const) {
      const queue = this.#queues[lane];
      while (queue.length > 0) {
        if (this.#inline) {
          for (const job of queue.splice(0)) this.#runInline(job);
          break;
        }
        const slots = this.#slots.filter((s) => s.lane === lane);
        const slot = slots.find((s) => s.ready && s.job === undefined);
        if (!slot) {
          let starting = slots.filter((s) => !s.ready).length;
          let started = slots.length;
          while (started < this.#sizes[lane] && starting < queue.length) {
            this.#start(lane);
            started++;
            starting++;
          }
          break;
        }
        const job = queue.shift()!;
        slot.job = job;
        // The body is not needed here any more: move it, do not copy it.
        const { bytes, limits, dataset } = job;
        const whole = bytes.buffer instanceof ArrayBuffer &&
          bytes.byteLength === bytes.buffer.byteLength;
        const message = { bytes, limits, dataset } satisfies PrepareJob;
        slot.worker.postMessage(message, whole ? [bytes.buffer] : []);
      }
    }
  }

  /** Stops an idle worker and forgets it: its memory goes back to the system. */
  #retire(slot: Slot): void {
    slot.worker.terminate();
    const at = this.#slots.indexOf(slot);
    if (at >= 0) this.#slots.splice(at, 1);
  }

  #start(lane: Lane): void {
    const worker = new Worker(this.#workerUrl.href, {
      type: "module",
      name: `mnist serve: prepare ${lane} images`,
    });
    const slot: Slot = { worker, lane, ready: false };
    worker.onmessage = (event: MessageEvent<PrepareResult | typeof READY>) => {
      const result = event.data;
      if (result === READY) slot.ready = true;
      else {
        const job = slot.job;
        slot.job = undefined;
        if (job && job.pixels > RECYCLE_PIXELS) slot.recycle = true;
        if (slot.recycle && this.#queues[lane].length === 0) this.#retire(slot);
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
          if (other.job) this.#queues[other.lane].push(other.job);
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

/** A 280×280 drawing of a ring, as the page sends one: `PreparePool.warm`'s. */
function warmUpDrawing(): Promise<Uint8Array> {
  const side = 280;
  const pixels = new Uint8Array(side * side);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const r = Math.hypot(x - side / 2, y - side / 2);
      if (r > 60 && r < 90) pixels[y * side + x] = 255;
    }
  }
  return encodePng({ width: side, height: side, channels: 1, pixels });
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
