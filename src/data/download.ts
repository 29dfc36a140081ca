/**
 * Fetching the dataset files: fetch → DecompressionStream → SHA-256 and size checks → atomic
 * rename. The compressed bytes go to a temporary file beside the target as they arrive, and the
 * decompressed bytes are hashed as they come out, so nothing is held in memory and a file reaches
 * its canonical name only once verified. A mirror that fails is retried, then the next one is
 * tried; a valid cached file is never replaced by a bad one.
 *
 * Hostile or broken mirrors and interruptions: a mirror that trickles bytes is abandoned once its
 * rate stays below a floor for a whole window; a body that arrives already inflated (a mirror
 * labelling its .gz files `Content-Encoding: gzip`, a proxy unpacking them) is recognised by its
 * IDX magic number, verified as is and gzipped on its way to disk; SIGINT and SIGTERM remove the
 * temporary file before the command ends, and temporary files that a killed process left behind
 * are removed by the next download.
 */
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { envVar } from "../env.ts";
import { messageOf, UserError } from "../errors.ts";
import { exists, fileInTheWay, fsReason } from "../fs.ts";
import type { SplitName } from "./dataset.ts";
import { datasetDir, type DatasetName, DATASETS, type FileSpec } from "./mirrors.ts";
import { formatEta, ProgressBar, type ProgressStream, Throughput } from "../progress.ts";

/** How `downloadDataset`, `ensureDataset` and `downloadFile` report and retry. */
export interface DownloadOptions {
  /** Base URLs of folders holding the `.gz` files, tried in order; default: the dataset's. */
  mirrors?: string[];
  /** Receives warnings and progress lines ("Downloading URL"); default: `console.error`. */
  log?: (line: string) => void;
  /** Receives the one result line per file ("x.gz: ok (cached)"); default: `log`. */
  report?: (line: string) => void;
  /**
   * Draw a progress bar for each file: `true` (default) on stderr when it is a terminal, `false`
   * never, or a stream to draw on (tests). See src/progress.ts for when a bar is drawn.
   */
  progress?: boolean | ProgressStream;
  /** Give up on a request after this long without data; default `$MNIST_DOWNLOAD_TIMEOUT_MS` or 30 s. */
  timeoutMs?: number;
  /** Wait before the first retry, doubled for each next; default `$MNIST_DOWNLOAD_BACKOFF_MS` or 1 s. */
  backoffMs?: number;
  /** Requests per mirror and file before moving on to the next mirror; default 2. */
  attempts?: number;
  /**
   * Abandon a mirror whose body arrives slower than this many bytes per second over a whole
   * `rateWindowMs`; 0 never does. Default `$MNIST_DOWNLOAD_MIN_RATE` or 51,200 (50 KiB/s).
   */
  minRate?: number;
  /** The window `minRate` is judged over; default `$MNIST_DOWNLOAD_RATE_WINDOW_MS` or 30 s. */
  rateWindowMs?: number;
  /**
   * Stops a download: its temporary file is removed and the promise rejects with the signal's
   * reason. (`mnist download`, `train`, `show` and `eval` need none: SIGINT and SIGTERM do this.)
   */
  signal?: AbortSignal;
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
  /** The file's URL on the mirror that worked. */
  url: string;
  /** Compressed bytes written: those received, unless the mirror sent them inflated. */
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
    throw await cannotAccess("read", path, error);
  }
  // `file.readable` closes the file when it ends or is cancelled.
  try {
    return await digestGzip(file.readable, spec);
  } catch (error) {
    return { ok: false, reason: gzipReason(error) };
  }
}

/** `ensureDataset`'s options: `DownloadOptions` and which split is needed. */
export interface EnsureOptions extends DownloadOptions {
  /** Only this split's two files (`eval`, `predict --test-index`); default both splits'. */
  split?: SplitName;
}

/**
 * Makes sure `dataset`'s four files (or `options.split`'s two) are in `dataDir`, downloading the
 * ones that are missing. Files already present are not verified (the loader checks them as it
 * reads); use `downloadDataset` to verify them. For `show`, `train`, `eval` and `predict` on
 * first use.
 */
export async function ensureDataset(
  dataDir: string,
  dataset: DatasetName,
  options: EnsureOptions = {},
): Promise<void> {
  const dir = datasetDir(dataDir, dataset);
  const missing: FileSpec[] = [];
  const { split } = options;
  const needed = DATASETS[dataset].files.filter((f) =>
    split === undefined || f.role.startsWith(split)
  );
  for (const spec of needed) {
    const path = `${dir}/${spec.name}`;
    const present = await exists(path).catch(async (error) => {
      throw await cannotAccess("read", path, error);
    });
    if (!present) missing.push(spec);
  }
  if (missing.length === 0) return;
  const log = options.log ?? console.error;
  await removeStaleTemps(dir, DATASETS[dataset].files, log);
  log(`Downloading the ${dataset} dataset${split ? `'s ${split} split` : ""} into ${dir}`);
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
  await removeStaleTemps(dir, DATASETS[dataset].files, log);
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
  const created = await missingFolders(dir);
  await Deno.mkdir(dir, { recursive: true }).catch(async (error) => {
    throw await cannotWrite(dir, error);
  });
  using interrupt = abortOnSignals(options.signal);
  try {
    for (const spec of specs) {
      const fetched = await downloadFile(spec, dir, {
        ...options,
        ...settings,
        mirrors,
        signal: interrupt.signal,
      });
      report(`${spec.name}: ${formatBytes(fetched.bytes)}, verified`);
      results.push(fetched);
      const failed = new Set(fetched.failedMirrors);
      mirrors = [...mirrors.filter((m) => !failed.has(m)), ...fetched.failedMirrors];
    }
  } catch (error) {
    // Leave no empty folder behind (fashion/, and the data directory with its parents where
    // mkdir made them: ~/.cache/mnist); one holding files already verified stays, and so do
    // its parents, which a failed removal leaves too.
    for (const folder of created) {
      if (!await Deno.remove(folder).then(() => true, () => false)) break;
    }
    throw error;
  }
  return results;
}

/**
 * The folders that `Deno.mkdir(dir, { recursive: true })` would create, deepest first: `dir` and
 * each parent up to the first that exists. A path whose existence cannot be told ends the list
 * (mkdir then says why).
 */
async function missingFolders(dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (let folder = dir; !(await exists(folder).catch(() => true));) {
    missing.push(folder);
    const parent = dirname(folder);
    if (parent === folder) break;
    folder = parent;
  }
  return missing;
}

/**
 * Turns SIGINT and SIGTERM into an abort while downloads run, so the temporary file is removed on
 * the way out; the abort's reason is a `UserError` whose exit code is the shell's 128 + signal
 * number (130, 143), which main.ts exits with: it stays the only caller of `Deno.exit`. The
 * listeners go at the first signal, so a second one ends the process at once (Deno restores the
 * default action), in case the way out hangs. Dispose of the result to remove them.
 */
function abortOnSignals(outer?: AbortSignal): { signal: AbortSignal } & Disposable {
  const controller = new AbortController();
  const listeners: [Deno.Signal, () => void][] = [];
  const remove = () => {
    for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
    listeners.length = 0;
  };
  for (const [name, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    const listener = () => {
      remove();
      controller.abort(
        new UserError(`Interrupted by ${name}; no partial file was kept`, {
          exitCode: code,
        }),
      );
    };
    try {
      Deno.addSignalListener(name, listener);
      listeners.push([name, listener]);
    } catch {
      // Windows listens for SIGINT and SIGBREAK only.
    }
  }
  return {
    signal: outer ? AbortSignal.any([outer, controller.signal]) : controller.signal,
    [Symbol.dispose]: remove,
  };
}

/** Temporary files older than this are removed even when their process may still run. */
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

/** `<file>.<pid>.<8 hex digits>.tmp`, as `downloadFile` names its temporary files. */
const TEMP_NAME = /^(.+)\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/**
 * Removes the temporary files that earlier downloads into `dir` left behind, with one line each:
 * those no process holds any more (SIGKILL, a crash, a power cut) and those older than a day,
 * whatever holds them. Only names `downloadFile` makes for `specs` are touched; a folder that
 * cannot be read or a file that cannot be removed is left for the steps that follow to report.
 */
async function removeStaleTemps(
  dir: string,
  specs: FileSpec[],
  log: (line: string) => void,
): Promise<void> {
  const names = new Set(specs.map((spec) => spec.name));
  const temps: { path: string; pid: string }[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const match = TEMP_NAME.exec(entry.name);
      if (entry.isFile && match && names.has(match[1]!)) {
        temps.push({ path: `${dir}/${entry.name}`, pid: match[2]! });
      }
    }
  } catch {
    return;
  }
  for (const { path, pid } of temps) {
    const why = await staleReason(path, pid);
    if (why === undefined) continue;
    try {
      await Deno.remove(path);
      log(`Removed ${path}, left by an earlier download (${why})`);
    } catch {
      // Gone already, or not ours to remove.
    }
  }
}

/**
 * Why the temporary file at `path` is an orphan, or `undefined` while a download may still own
 * it. A running download holds an exclusive lock on its file (`openTemp`), and the lock dies with
 * its process. (The pid in the name cannot be checked: Deno lets a program read /proc only with
 * --allow-all, and `Deno.kill(pid, 0)` needs --allow-run, neither of which `mnist` asks for.)
 */
async function staleReason(path: string, pid: string): Promise<string | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch {
    return undefined;
  }
  try {
    // A file system without locks throws here: then only the age rule applies.
    if (await file.tryLock(true).catch(() => false)) return `its process ${pid} is gone`;
    const mtime = (await file.stat()).mtime;
    return mtime && Date.now() - mtime.getTime() > STALE_TEMP_MS ? "older than a day" : undefined;
  } finally {
    file.close();
  }
}

/**
 * Creates the temporary file `path` and locks it until it is renamed or removed, so that other
 * downloads leave it alone while this process lives (see `staleReason`). A failure names
 * `target`, the file the user asked for, not the temporary name beside it.
 */
async function openTemp(path: string, target: string): Promise<Deno.FsFile> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true }).catch(
    async (error) => {
      throw await cannotWrite(target, error);
    },
  );
  await file.lock(true).catch(() => {}); // no locks here: the age rule still applies
  return file;
}

/**
 * Downloads one file into `dir` (which must exist) from the first mirror that serves it intact,
 * replacing any file already there only once the new one is verified. Prints one warning line
 * per failing mirror. Throws a `UserError` naming the file and the last reason when every mirror
 * fails, and when the temporary file cannot be written; no temporary file is left behind, also
 * when `options.signal` aborts (then it rejects with the signal's reason).
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
  const signal = options.signal;
  let last = "";
  let file: Deno.FsFile | undefined;
  try {
    for (const [m, mirror] of mirrors.entries()) {
      const url = new URL(spec.name, mirror).href;
      // A folder that takes no file fails here, before "Downloading" promises what cannot be.
      file ??= await openTemp(tmp, target);
      log(`Downloading ${url}`);
      for (let attempt = 1;; attempt++) {
        signal?.throwIfAborted();
        const result = await attemptDownload(url, spec, { file, target }, {
          ...settings,
          signal,
        });
        signal?.throwIfAborted(); // an interrupted attempt is not the mirror's fault
        if (result.ok) {
          await Deno.rename(tmp, target).catch(async (error) => {
            throw await cannotWrite(target, error);
          });
          return { url, bytes: result.bytes, failedMirrors };
        }
        last = `${url}: ${result.reason}`;
        if (!result.retry || attempt >= settings.attempts) break;
        await sleep(settings.backoffMs * 2 ** (attempt - 1), signal);
      }
      failedMirrors.push(mirror);
      if (m < mirrors.length - 1) log(`warning: ${last}; trying the next mirror`);
    }
  } catch (error) {
    signal?.throwIfAborted(); // a write error while interrupted is the interruption's doing
    throw error;
  } finally {
    try {
      file?.close();
    } catch {
      // Already closed.
    }
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
  progress: boolean | ProgressStream;
  minRate: number;
  rateWindowMs: number;
}

function resolveSettings(options: DownloadOptions): Settings {
  return {
    timeoutMs: options.timeoutMs ?? envInt("MNIST_DOWNLOAD_TIMEOUT_MS", 30_000, 1),
    backoffMs: options.backoffMs ?? envInt("MNIST_DOWNLOAD_BACKOFF_MS", 1_000, 0),
    minRate: options.minRate ?? envInt("MNIST_DOWNLOAD_MIN_RATE", 50 * 1024, 0),
    rateWindowMs: options.rateWindowMs ?? envInt("MNIST_DOWNLOAD_RATE_WINDOW_MS", 30_000, 1),
    attempts: Math.max(1, options.attempts ?? 2),
    progress: options.progress ?? true,
  };
}

function envInt(name: string, fallback: number, min: number): number {
  const value = envVar(name, `an integer >= ${min}`);
  if (value === undefined || value === "") return fallback;
  // Decimal digits only, as the options take them: Number() would read "0x10", "1e3" and " 5".
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
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
 * One request: streams the body into the temporary file (emptied first) and through the
 * decompressor and hash. Returns why it failed rather than throwing, except for local write
 * errors (thrown as `UserError`).
 */
async function attemptDownload(
  url: string,
  spec: FileSpec,
  { file, target }: { file: Deno.FsFile; target: string },
  settings: Settings & { signal?: AbortSignal },
): Promise<Attempt> {
  try {
    await file.truncate(0);
    await file.seek(0, Deno.SeekMode.Start);
  } catch (error) {
    throw await cannotWrite(target, error);
  }
  const watchdog = new Watchdog(settings);
  const signal = settings.signal
    ? AbortSignal.any([watchdog.signal, settings.signal])
    : watchdog.signal;
  const progress = settings.progress === false ? undefined : await DownloadBar.open(spec, {
    stream: settings.progress === true ? undefined : settings.progress,
  });
  let received = 0;
  let sourceError: unknown;
  let sink: TempSink | undefined;
  try {
    let response: Response;
    try {
      // The bytes as stored: to a client that accepts gzip, a mirror labelling its .gz files
      // `Content-Encoding: gzip` (a common misconfiguration) would have them inflated.
      response = await fetch(url, { signal, headers: { "accept-encoding": "identity" } });
    } catch (error) {
      return { ok: false, reason: watchdog.reason ?? networkReason(error), retry: watchdog.retry };
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
    watchdog.bodyStarted();
    // A deflate stream cannot legitimately be much larger than what it decompresses to.
    const maxCompressed = Math.ceil(spec.size * 1.01) + 65_536;
    const body = response.body.getReader();
    /** The next chunk of the body; records network failures so they are not mistaken for bad data. */
    const next = async (): Promise<ReadableStreamReadResult<Uint8Array<ArrayBuffer>>> => {
      let chunk: ReadableStreamReadResult<Uint8Array<ArrayBuffer>>;
      try {
        chunk = await body.read();
      } catch (error) {
        sourceError = error;
        throw error;
      }
      if (chunk.done) return chunk;
      watchdog.received(chunk.value.byteLength);
      received += chunk.value.byteLength;
      if (received > maxCompressed) {
        sourceError = new Error(`sent more than ${formatBytes(maxCompressed)}`);
        await body.cancel();
        throw sourceError;
      }
      return chunk;
    };
    let verdict: Verdict;
    try {
      // Sniff the first bytes: gzip's magic, or the IDX magic of a body sent already inflated.
      const head: Uint8Array<ArrayBuffer>[] = [];
      while (head.reduce((n, chunk) => n + chunk.byteLength, 0) < 4) {
        const chunk = await next();
        if (chunk.done) break;
        head.push(chunk.value);
      }
      const inflated = isIdxMagic(concat(head));
      const out = new TempSink(file, { gzip: inflated });
      sink = out;
      // The body as it arrives, written to the temporary file on the way.
      const tapped = new ReadableStream<Uint8Array<ArrayBuffer>>({
        async pull(controller) {
          const chunk = head.length > 0
            ? { done: false as const, value: head.shift()! }
            : await next();
          try {
            if (chunk.done) await out.close();
            else await out.write(chunk.value);
          } catch (error) {
            await body.cancel();
            throw new LocalWriteError(messageOf(error), { cause: error });
          }
          if (chunk.done) controller.close();
          else controller.enqueue(chunk.value);
        },
        cancel: (reason) => body.cancel(reason),
      }, { highWaterMark: 0 });
      const onProgress = (n: number) => progress?.update(received, n);
      verdict = inflated
        ? await digest(tapped, spec, { has: "uncompressed body has", onProgress })
        : await digestGzip(tapped, spec, onProgress);
    } catch (error) {
      if (error instanceof LocalWriteError) throw await cannotWrite(target, error.cause);
      if (watchdog.reason) return { ok: false, reason: watchdog.reason, retry: watchdog.retry };
      if (sourceError !== undefined) {
        return { ok: false, reason: networkReason(sourceError), retry: true };
      }
      return { ok: false, reason: gzipReason(error), retry: true };
    }
    return verdict.ok ? { ok: true, bytes: sink.bytes } : { ...verdict, retry: true };
  } finally {
    watchdog.clear();
    progress?.clear();
    await sink?.abort();
  }
}

/** Whether `bytes` start like an uncompressed MNIST file: IDX magic 2049 or 2051. */
function isIdxMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 8 &&
    (bytes[3] === 1 || bytes[3] === 3);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * Writes the temporary file: the body as received or, for a body that arrived inflated, gzipped
 * again (the data directory holds .gz files). `close()` flushes; `bytes` counts what reached disk.
 */
class TempSink {
  readonly #file: Deno.FsFile;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array<ArrayBuffer>> | undefined;
  readonly #pump: Promise<void> | undefined;
  #closed = false;
  bytes = 0;

  constructor(file: Deno.FsFile, { gzip }: { gzip: boolean }) {
    this.#file = file;
    if (!gzip) return;
    const compress = new CompressionStream("gzip");
    this.#writer = compress.writable.getWriter();
    this.#pump = compress.readable.pipeTo(
      new WritableStream({ write: (chunk) => this.#writeFile(chunk) }),
    );
    this.#pump.catch(() => {}); // reported by the next write or close
  }

  async write(chunk: Uint8Array<ArrayBuffer>): Promise<void> {
    if (!this.#writer) return await this.#writeFile(chunk);
    // Resolves once compressed, waiting while the file lags behind: memory stays bounded.
    await this.#writer.ready;
    await this.#writer.write(chunk);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#writer?.close();
    await this.#pump;
  }

  /** Drops what is still being compressed, after a failure, once no write to the file is pending. */
  async abort(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer?.abort().catch(() => {});
    await this.#pump?.catch(() => {});
  }

  async #writeFile(chunk: Uint8Array): Promise<void> {
    await writeAll(this.#file, chunk);
    this.bytes += chunk.byteLength;
  }
}

/**
 * Decompresses `gzipped`, hashing and counting the output, and compares it with `spec`. Stops
 * (cancelling `gzipped`) as soon as the output exceeds `spec.size`, so a gzip bomb costs no more
 * than one file's worth of work. Errors of the stream, including bad gzip data, are thrown.
 */
function digestGzip(
  gzipped: ReadableStream<Uint8Array<ArrayBuffer>>,
  spec: FileSpec,
  onProgress?: (decompressed: number) => void,
): Promise<Verdict> {
  const content = gzipped.pipeThrough(new DecompressionStream("gzip"));
  return digest(content, spec, { has: "decompresses to", onProgress });
}

/**
 * Hashes and counts `content` and compares it with `spec`, cancelling it as soon as it exceeds
 * `spec.size`. `has` starts the reasons: "decompresses to 10,008 bytes, expected 60,008".
 */
async function digest(
  content: ReadableStream<Uint8Array>,
  spec: FileSpec,
  { has, onProgress }: { has: string; onProgress?: (size: number) => void },
): Promise<Verdict> {
  const reader = content.getReader();
  const hash = createHash("sha256");
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > spec.size) {
      await reader.cancel();
      return { ok: false, reason: `${has} more than the expected ${formatCount(spec.size)} bytes` };
    }
    hash.update(value);
    onProgress?.(size);
  }
  if (size !== spec.size) {
    return {
      ok: false,
      reason: `${has} ${formatCount(size)} bytes, expected ${formatCount(spec.size)}`,
    };
  }
  if (hash.digest("hex") !== spec.sha256) return { ok: false, reason: "SHA-256 mismatch" };
  return { ok: true };
}

/**
 * Aborts a request that gets no data for `timeoutMs`, or whose body arrives slower than `minRate`
 * bytes per second over a whole `rateWindowMs` window: a mirror trickling 1 KiB every half second
 * is never idle, yet would take hours. Windows follow one another from the first byte of the
 * body; a file that arrives within the first window is never judged.
 */
class Watchdog {
  readonly #controller = new AbortController();
  readonly #settings: Settings;
  #idle: ReturnType<typeof setTimeout> | undefined;
  #window: ReturnType<typeof setInterval> | undefined;
  #windowBytes = 0;
  /** Why it aborted the request, once it has. */
  reason: string | undefined;
  /** Whether the mirror deserves another request: after a timeout yes, when too slow no. */
  retry = true;

  constructor(settings: Settings) {
    this.#settings = settings;
    this.#resetIdle();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Starts judging the rate, once the headers are in. */
  bodyStarted(): void {
    const { minRate, rateWindowMs } = this.#settings;
    if (minRate <= 0) return;
    this.#window = setInterval(() => {
      const rate = this.#windowBytes / (rateWindowMs / 1000);
      this.#windowBytes = 0;
      if (rate >= minRate) return;
      this.#fire(`too slow: ${formatRate(rate)} over ${formatDuration(rateWindowMs)}`, false);
    }, rateWindowMs);
  }

  /** Counts `bytes` of the body that just arrived. */
  received(bytes: number): void {
    this.#windowBytes += bytes;
    this.#resetIdle();
  }

  clear(): void {
    clearTimeout(this.#idle);
    clearInterval(this.#window);
  }

  #resetIdle(): void {
    clearTimeout(this.#idle);
    const ms = this.#settings.timeoutMs;
    this.#idle = setTimeout(() => this.#fire(`timed out (no data for ${formatDuration(ms)})`), ms);
  }

  #fire(reason: string, retry = true): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.retry = retry;
    this.clear();
    this.#controller.abort(new DOMException(reason, "TimeoutError"));
  }
}

/**
 * A file's progress bar: its name, the share of its content verified so far, the bytes received
 * (of the Content-Length, when the mirror sends one), their speed and the ETA.
 */
class DownloadBar {
  readonly #bar: ProgressBar;
  readonly #spec: FileSpec;
  readonly #rate = new Throughput({ windowMs: 5_000 });
  #total: number | undefined;
  #started = 0;

  static async open(spec: FileSpec, { stream }: { stream?: ProgressStream }): Promise<DownloadBar> {
    return new DownloadBar(spec, await ProgressBar.open({ stream }));
  }

  private constructor(spec: FileSpec, bar: ProgressBar) {
    this.#spec = spec;
    this.#bar = bar;
  }

  start(total: number | undefined): void {
    this.#total = total;
    this.#started = performance.now();
    this.#rate.reset();
  }

  /** `received`: compressed bytes so far; `decompressed`: their output, which sets the share. */
  update(received: number, decompressed: number): void {
    if (!this.#bar.enabled) return;
    const now = performance.now();
    this.#rate.add(decompressed, now);
    const seconds = Math.max((now - this.#started) / 1000, 1e-3);
    const size = this.#total === undefined
      ? formatBytes(received)
      : `${formatBytes(received)} / ${formatBytes(this.#total)}`;
    const speed = `${formatBytes(received / seconds)}/s`;
    const eta = formatEta(this.#rate.etaSeconds(this.#spec.size));
    this.#bar.draw({
      label: this.#spec.name,
      fraction: decompressed / this.#spec.size,
      detail: `${size}  ${speed}  ETA ${eta}`,
    });
  }

  clear(): void {
    this.#bar.clear();
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await file.write(bytes.subarray(written));
  }
}

function cannotWrite(path: string, error: unknown): Promise<UserError> {
  return cannotAccess("write", path, error);
}

/**
 * A file-system error on `path` as one line in the words `fsReason` uses elsewhere ("permission
 * denied", not "Operation not permitted (os error 1)"). A path through a file, or a folder to
 * create where a file is, names that file (`fileInTheWay`): `"/etc/passwd" is not a directory`.
 * The hint says which data directory to pass: one that can be read, or written to.
 */
async function cannotAccess(
  verb: "read" | "write",
  path: string,
  error: unknown,
): Promise<UserError> {
  const blocker = error instanceof Deno.errors.NotADirectory ||
      error instanceof Deno.errors.AlreadyExists
    ? await fileInTheWay(path)
    : undefined;
  const reason = blocker === path
    ? "it is not a directory"
    : blocker
    ? `"${blocker}" is not a directory`
    : fsReason(error);
  const folder = verb === "read" ? "a folder you can read" : "a folder you can write to";
  return new UserError(`Cannot ${verb} "${path}": ${reason}`, {
    hint: `Pass --data-dir DIR (${folder}) or set MNIST_DATA_DIR.`,
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

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, signal?.aborted ? 0 : ms);
    signal?.addEventListener("abort", done);
  });
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

/** `2.0 KiB/s`: binary units, as the slow-mirror floor is set. */
function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1024).toFixed(1)} KiB/s`;
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${+(ms / 1000).toFixed(1)} s`;
}
