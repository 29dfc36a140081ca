/**
 * Fetching the dataset files: fetch → DecompressionStream → SHA-256 and size checks → atomic
 * rename. The compressed bytes go to a temporary file beside the target as they arrive, and the
 * decompressed bytes are hashed as they come out, so nothing is held in memory and a file reaches
 * its canonical name only once verified. A mirror that fails is retried, then the next one is
 * tried; a valid cached file is never replaced by a bad one.
 */
import { createHash } from "node:crypto";
import { messageOf, UserError } from "../errors.ts";
import { exists } from "../fs.ts";
import { datasetDir, type DatasetName, DATASETS, type FileSpec } from "./mirrors.ts";

/** How `downloadDataset`, `ensureDataset` and `downloadFile` report and retry. */
export interface DownloadOptions {
  /** Base URLs of folders holding the `.gz` files, tried in order; default: the dataset's. */
  mirrors?: string[];
  /** Receives warnings and progress lines ("Downloading URL"); default: `console.error`. */
  log?: (line: string) => void;
  /** Receives the one result line per file ("x.gz: ok (cached)"); default: `log`. */
  report?: (line: string) => void;
  /** Draw a progress bar on stderr; default: when stderr is a terminal. */
  progress?: boolean;
  /** Give up on a request after this long without data; default `$MNIST_DOWNLOAD_TIMEOUT_MS` or 30 s. */
  timeoutMs?: number;
  /** Wait before the first retry, doubled for each next; default `$MNIST_DOWNLOAD_BACKOFF_MS` or 1 s. */
  backoffMs?: number;
  /** Requests per mirror and file before moving on to the next mirror; default 2. */
  attempts?: number;
}

/** The result of checking a file's decompressed content against its spec. */
export type Verdict = { ok: true } | { ok: false; reason: string };

/** What `downloadDataset` did with one file. */
export interface FileOutcome {
  /** The canonical file name. */
  name: string;
  /** Where the file lives now. */
  path: string;
  /** `cached`: present and valid; `downloaded`: was missing; `replaced`: was corrupt. */
  status: "cached" | "downloaded" | "replaced";
  /** The URL it came from, unless cached. */
  url?: string;
}

/** What `downloadFile` fetched, and which mirrors failed on the way. */
export interface Fetched {
  url: string;
  /** Compressed bytes received and written. */
  bytes: number;
  /** The mirrors that failed before `url` worked, in the order they were tried. */
  failedMirrors: string[];
}

const HINT = "Check your network, or pass --mirror URL (a folder holding the four .gz files).";

/**
 * Turns a mirror into a base URL ending in `/`, so file names resolve inside it.
 * Throws a `UserError` for anything but an http, https or file URL.
 */
export function normalizeMirror(mirror: string): string {
  let url: URL;
  try {
    url = new URL(mirror);
  } catch {
    throw invalidMirror(mirror);
  }
  if (!["http:", "https:", "file:"].includes(url.protocol)) throw invalidMirror(mirror);
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url.href;
}

function invalidMirror(mirror: string): UserError {
  return new UserError(`Invalid mirror URL "${mirror}"`, {
    hint: "A mirror is an http://, https:// or file:// URL of a folder holding the four .gz files.",
  });
}

/**
 * Checks the gzip file at `path` against `spec`: stream-decompresses it, hashing as it goes, and
 * stops as soon as it decompresses to more than `spec.size` bytes. Never touches the network.
 * A missing file is `{ ok: false, reason: "missing" }`; other errors opening it are thrown as
 * `UserError`s.
 */
export async function verifyFile(path: string, spec: FileSpec): Promise<Verdict> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { ok: false, reason: "missing" };
    throw cannotAccess("read", path, error);
  }
  // `file.readable` closes the file when it ends or is cancelled.
  try {
    return await digestGzip(file.readable, spec);
  } catch (error) {
    return { ok: false, reason: gzipReason(error) };
  }
}

/**
 * Makes sure `dataset`'s four files are in `dataDir`, downloading the ones that are missing.
 * Files already present are not verified (the loader checks them as it reads); use
 * `downloadDataset` to verify them. For `show`, `train` and `eval` on first use.
 */
export async function ensureDataset(
  dataDir: string,
  dataset: DatasetName,
  options: DownloadOptions = {},
): Promise<void> {
  const dir = datasetDir(dataDir, dataset);
  const missing: FileSpec[] = [];
  for (const spec of DATASETS[dataset].files) {
    const path = `${dir}/${spec.name}`;
    const present = await exists(path).catch((error) => {
      throw cannotAccess("read", path, error);
    });
    if (!present) missing.push(spec);
  }
  if (missing.length === 0) return;
  const log = options.log ?? console.error;
  log(`Downloading the ${dataset} dataset into ${dir}`);
  await fetchAll(missing, dir, dataset, options);
}

/**
 * `mnist download`: verifies the files present in `dataDir` (no network) and downloads the ones
 * that are missing or corrupt, reporting one line per file. Throws a `UserError` when a file
 * cannot be fetched from any mirror; files already verified stay in place.
 */
export async function downloadDataset(
  dataDir: string,
  dataset: DatasetName,
  options: DownloadOptions = {},
): Promise<FileOutcome[]> {
  const dir = datasetDir(dataDir, dataset);
  const log = options.log ?? console.error;
  const report = options.report ?? log;
  const outcomes: FileOutcome[] = [];
  const toFetch: FileSpec[] = [];
  const corrupt = new Set<string>();
  for (const spec of DATASETS[dataset].files) {
    const path = `${dir}/${spec.name}`;
    const verdict = await verifyFile(path, spec);
    if (verdict.ok) {
      report(`${spec.name}: ok (cached)`);
      outcomes.push({ name: spec.name, path, status: "cached" });
      continue;
    }
    if (verdict.reason !== "missing") {
      log(`warning: ${path}: ${verdict.reason}; downloading it again`);
      corrupt.add(spec.name);
    }
    toFetch.push(spec);
  }
  const fetched = await fetchAll(toFetch, dir, dataset, options);
  for (const [i, spec] of toFetch.entries()) {
    outcomes.push({
      name: spec.name,
      path: `${dir}/${spec.name}`,
      status: corrupt.has(spec.name) ? "replaced" : "downloaded",
      url: fetched[i]!.url,
    });
  }
  // Report in the dataset's order, whichever files had to be fetched.
  const order = DATASETS[dataset].files.map((f) => f.name);
  return outcomes.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
}

/**
 * Downloads `specs` into `dir` one after another. A mirror that fails for one file moves to the
 * end of the list for the next ones, so a dead mirror costs one warning, not one per file.
 */
async function fetchAll(
  specs: FileSpec[],
  dir: string,
  dataset: DatasetName,
  options: DownloadOptions,
): Promise<Fetched[]> {
  if (specs.length === 0) return [];
  let mirrors = (options.mirrors ?? DATASETS[dataset].mirrors).map(normalizeMirror);
  const settings = resolveSettings(options); // bad environment values fail before any write
  const report = options.report ?? options.log ?? console.error;
  const results: Fetched[] = [];
  const created = !(await exists(dir));
  await Deno.mkdir(dir, { recursive: true }).catch((error) => {
    throw cannotWrite(dir, error);
  });
  try {
    for (const spec of specs) {
      const fetched = await downloadFile(spec, dir, { ...options, ...settings, mirrors });
      report(`${spec.name}: ${formatBytes(fetched.bytes)}, verified`);
      results.push(fetched);
      const failed = new Set(fetched.failedMirrors);
      mirrors = [...mirrors.filter((m) => !failed.has(m)), ...fetched.failedMirrors];
    }
  } catch (error) {
    // Leave no empty folder behind; one holding files already verified stays.
    if (created) await Deno.remove(dir).catch(() => {});
    throw error;
  }
  return results;
}

/**
 * Downloads one file into `dir` (which must exist) from the first mirror that serves it intact,
 * replacing any file already there only once the new one is verified. Prints one warning line
 * per failing mirror. Throws a `UserError` naming the file and the last reason when every mirror
 * fails, and when the temporary file cannot be written; no temporary file is left behind.
 */
export async function downloadFile(
  spec: FileSpec,
  dir: string,
  options: DownloadOptions & { mirrors: string[] },
): Promise<Fetched> {
  const settings = resolveSettings(options);
  const log = options.log ?? console.error;
  const mirrors = options.mirrors.map(normalizeMirror);
  const target = `${dir}/${spec.name}`;
  const tmp = `${target}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const failedMirrors: string[] = [];
  let last = "";
  try {
    for (const [m, mirror] of mirrors.entries()) {
      const url = new URL(spec.name, mirror).href;
      log(`Downloading ${url}`);
      for (let attempt = 1;; attempt++) {
        const result = await attemptDownload(url, spec, tmp, settings);
        if (result.ok) {
          await Deno.rename(tmp, target).catch((error) => {
            throw cannotWrite(target, error);
          });
          return { url, bytes: result.bytes, failedMirrors };
        }
        last = `${url}: ${result.reason}`;
        if (!result.retry || attempt >= settings.attempts) break;
        await sleep(settings.backoffMs * 2 ** (attempt - 1));
      }
      failedMirrors.push(mirror);
      if (m < mirrors.length - 1) log(`warning: ${last}; trying the next mirror`);
    }
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
  throw new UserError(
    mirrors.length === 0
      ? `Cannot download "${spec.name}": no mirror given`
      : `Cannot download "${spec.name}": every mirror failed (last: ${last})`,
    { hint: HINT },
  );
}

interface Settings {
  timeoutMs: number;
  backoffMs: number;
  attempts: number;
  progress: boolean;
}

function resolveSettings(options: DownloadOptions): Settings {
  return {
    timeoutMs: options.timeoutMs ?? envInt("MNIST_DOWNLOAD_TIMEOUT_MS", 30_000, 1),
    backoffMs: options.backoffMs ?? envInt("MNIST_DOWNLOAD_BACKOFF_MS", 1_000, 0),
    attempts: Math.max(1, options.attempts ?? 2),
    progress: options.progress ?? Deno.stderr.isTerminal(),
  };
}

function envInt(name: string, fallback: number, min: number): number {
  const value = Deno.env.get(name);
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new UserError(`${name} must be an integer >= ${min}, got "${value}"`);
  }
  return n;
}

type Attempt =
  | { ok: true; bytes: number }
  | { ok: false; reason: string; retry: boolean };

/** A failure writing the temporary file: the disk's fault, not the mirror's, so not retried. */
class LocalWriteError extends Error {}

/**
 * One request: streams the body into `tmp` and through the decompressor and hash. Returns why
 * it failed rather than throwing, except for local write errors (thrown as `UserError`).
 */
async function attemptDownload(
  url: string,
  spec: FileSpec,
  tmp: string,
  settings: Settings,
): Promise<Attempt> {
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true }).catch(
    (error) => {
      throw cannotWrite(tmp, error);
    },
  );
  const idle = new IdleTimeout(settings.timeoutMs);
  const progress = settings.progress ? new ProgressBar(spec) : undefined;
  let received = 0;
  let sourceError: unknown;
  try {
    let response: Response;
    try {
      response = await fetch(url, { signal: idle.signal });
    } catch (error) {
      return { ok: false, reason: idle.fired ? idle.reason : networkReason(error), retry: true };
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel();
      const status = response.status;
      // 4xx other than "timeout" and "too many requests" will not change on a retry.
      const permanent = status >= 400 && status < 500 && status !== 408 && status !== 429;
      return {
        ok: false,
        reason: response.body === null ? "empty response" : `HTTP ${status} ${response.statusText}`,
        retry: !permanent,
      };
    }
    progress?.start(Number(response.headers.get("content-length")) || undefined);
    // A deflate stream cannot legitimately be much larger than what it decompresses to.
    const maxCompressed = Math.ceil(spec.size * 1.01) + 65_536;
    const body = response.body.getReader();
    // The body as it arrives, written to `tmp` on the way; `sourceError` records network
    // failures so they are not mistaken for bad gzip data downstream.
    const tapped = new ReadableStream<Uint8Array<ArrayBuffer>>({
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Uint8Array<ArrayBuffer>>;
        try {
          chunk = await body.read();
        } catch (error) {
          sourceError = error;
          throw error;
        }
        if (chunk.done) return controller.close();
        idle.reset();
        received += chunk.value.byteLength;
        if (received > maxCompressed) {
          sourceError = new Error(`sent more than ${formatBytes(maxCompressed)}`);
          await body.cancel();
          throw sourceError;
        }
        try {
          await writeAll(file, chunk.value);
        } catch (error) {
          await body.cancel();
          throw new LocalWriteError(messageOf(error), { cause: error });
        }
        controller.enqueue(chunk.value);
      },
      cancel: (reason) => body.cancel(reason),
    }, { highWaterMark: 0 });
    let verdict: Verdict;
    try {
      verdict = await digestGzip(tapped, spec, (n) => progress?.update(received, n));
    } catch (error) {
      if (error instanceof LocalWriteError) throw cannotWrite(tmp, error.cause);
      if (idle.fired) return { ok: false, reason: idle.reason, retry: true };
      if (sourceError !== undefined) {
        return { ok: false, reason: networkReason(sourceError), retry: true };
      }
      return { ok: false, reason: gzipReason(error), retry: true };
    }
    return verdict.ok ? { ok: true, bytes: received } : { ...verdict, retry: true };
  } finally {
    idle.clear();
    progress?.clear();
    try {
      file.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * Decompresses `gzipped`, hashing and counting the output, and compares it with `spec`. Stops
 * (cancelling `gzipped`) as soon as the output exceeds `spec.size`, so a gzip bomb costs no more
 * than one file's worth of work. Errors of the stream, including bad gzip data, are thrown.
 */
async function digestGzip(
  gzipped: ReadableStream<Uint8Array<ArrayBuffer>>,
  spec: FileSpec,
  onProgress?: (decompressed: number) => void,
): Promise<Verdict> {
  const reader = gzipped.pipeThrough(new DecompressionStream("gzip")).getReader();
  const hash = createHash("sha256");
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > spec.size) {
      await reader.cancel();
      return {
        ok: false,
        reason: `decompresses to more than the expected ${formatCount(spec.size)} bytes`,
      };
    }
    hash.update(value);
    onProgress?.(size);
  }
  if (size !== spec.size) {
    return {
      ok: false,
      reason: `decompresses to ${formatCount(size)} bytes, expected ${formatCount(spec.size)}`,
    };
  }
  if (hash.digest("hex") !== spec.sha256) return { ok: false, reason: "SHA-256 mismatch" };
  return { ok: true };
}

/** Aborts a request after `ms` without data; `reset()` on every chunk. */
class IdleTimeout {
  readonly #controller = new AbortController();
  readonly #ms: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  fired = false;

  constructor(ms: number) {
    this.#ms = ms;
    this.reset();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get reason(): string {
    return `timed out (no data for ${formatDuration(this.#ms)})`;
  }

  reset(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.fired = true;
      this.#controller.abort(new DOMException(this.reason, "TimeoutError"));
    }, this.#ms);
  }

  clear(): void {
    clearTimeout(this.#timer);
  }
}

/** A one-line progress bar on stderr, redrawn in place at most ten times a second. */
class ProgressBar {
  readonly #spec: FileSpec;
  #total: number | undefined;
  #started = 0;
  #lastDraw = 0;
  #drawn = false;

  constructor(spec: FileSpec) {
    this.#spec = spec;
  }

  start(total: number | undefined): void {
    this.#total = total;
    this.#started = performance.now();
  }

  /** `received`: compressed bytes so far; `decompressed`: their output, which sets the percent. */
  update(received: number, decompressed: number): void {
    const now = performance.now();
    if (now - this.#lastDraw < 100 && decompressed < this.#spec.size) return;
    this.#lastDraw = now;
    const fraction = Math.min(1, decompressed / this.#spec.size);
    const width = 14;
    const filled = Math.round(fraction * width);
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    const seconds = Math.max((now - this.#started) / 1000, 1e-3);
    const size = this.#total === undefined
      ? formatBytes(received)
      : `${formatBytes(received)} / ${formatBytes(this.#total)}`;
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    const speed = `${formatBytes(received / seconds)}/s`;
    const line = `${this.#spec.name} [${bar}] ${percent}  ${size}  ${speed}`;
    // A line wider than the terminal wraps, and `\r` would then redraw only its last part.
    writeStderr(`\r\x1b[K${line.slice(0, terminalColumns() - 1)}`);
    this.#drawn = true;
  }

  clear(): void {
    if (this.#drawn) writeStderr("\r\x1b[K");
    this.#drawn = false;
  }
}

function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

function writeStderr(text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let written = 0; written < bytes.length;) {
    written += Deno.stderr.writeSync(bytes.subarray(written));
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await file.write(bytes.subarray(written));
  }
}

function cannotWrite(path: string, error: unknown): UserError {
  return cannotAccess("write", path, error);
}

function cannotAccess(verb: "read" | "write", path: string, error: unknown): UserError {
  // Deno appends the operation and paths ("...: rename 'a' -> 'b'"); the path is already named.
  const reason = messageOf(error).replace(/: [a-z]+ '.*$/, "");
  return new UserError(`Cannot ${verb} "${path}": ${reason}`, {
    hint: "Pass --data-dir DIR (a writable folder) or set MNIST_DATA_DIR.",
    cause: error,
  });
}

/** A network error's message without the URL (already printed) and the client's jargon. */
function networkReason(error: unknown): string {
  let message = messageOf(error);
  if (message === "fetch failed" && error instanceof Error && error.cause !== undefined) {
    message = messageOf(error.cause);
  }
  message = message
    .replace(/^error sending request for url \([^)]*\): /, "")
    .replace(/^client error \([^)]*\): /, "");
  if (message === "error reading a body from connection") {
    return "connection closed before the whole file arrived";
  }
  return message;
}

function gzipReason(error: unknown): string {
  return `invalid gzip data (${messageOf(error)})`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `9.9 MB`, `28.9 kB`, `512 B`: decimal units, as network speeds are quoted. */
export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${Math.round(bytes)} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  if (bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e9).toFixed(2)} GB`;
}

function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${+(ms / 1000).toFixed(1)} s`;
}
