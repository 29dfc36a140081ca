/**
 * File helpers: atomic writes, so an interrupted run never leaves a half-written file, and capped
 * reads, so no input (a device, a FIFO, a huge file) is read without end.
 */
import { basename, dirname, extname, join, resolve } from "node:path";
import { messageOf, UserError } from "./errors.ts";
import { defaultModelPointer, resolveModelDir } from "./data/paths.ts";

/**
 * Writes `data` to `path` atomically: to a temporary file in the same directory, then renamed
 * over `path`. The directory is created when missing. A symlink is written through: the file it
 * names is replaced and the link stays. What is not a regular file (a character device such as
 * /dev/null, a FIFO, a process's open file such as /dev/stdout) is written in place, never
 * replaced; a block device, a socket and this program's own standard output or error (where its
 * messages go too) are refused. A failure is a one-line `UserError`,
 * `Cannot write <what> "path": <reason>` (`what` defaults to "file"), and leaves no temporary
 * file behind.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  { what = "file" }: { what?: string } = {},
): Promise<void> {
  const fail = (reason: string, extra: { hint?: string; cause?: unknown } = {}) =>
    new UserError(`Cannot write ${what} "${path}": ${reason}`, extra);
  const target = await writeTarget(path);
  if ("refused" in target) throw fail(target.refused, { hint: target.hint });
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  if (target.inPlace) {
    try {
      await Deno.writeFile(target.path, bytes, { create: false });
    } catch (error) {
      throw fail(fsReason(error), { cause: error });
    }
    return;
  }
  const tmp = tempPath(target.path);
  try {
    await Deno.mkdir(dirname(target.path), { recursive: true });
    await Deno.writeFile(tmp, bytes);
    // The file replaced keeps its permissions (a private 0600 model stays private).
    // Best effort: some file systems (vfat, CIFS, some FUSE mounts) refuse chmod.
    if (target.info?.isFile && target.info.mode !== null) {
      await Deno.chmod(tmp, target.info.mode & 0o7777).catch(() => {});
    }
    await Deno.rename(tmp, target.path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    const blocker = await fileInTheWay(dirname(target.path));
    throw fail(blocker ? `"${blocker}" is not a directory` : fsReason(error), { cause: error });
  }
}

/** The longest file name Linux file systems take (NAME_MAX), in bytes. */
const NAME_MAX = 255;

/** `name`'s length in bytes, as the file system counts it (UTF-8). */
function nameBytes(name: string): number {
  return new TextEncoder().encode(name).length;
}

/**
 * A short, stable tag for a file name (FNV-1a, 32 bits, in hex): names the temporary and lock
 * files of a file whose own name leaves no room for a suffix.
 */
function nameTag(name: string): string {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(name)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/**
 * A file beside `path` named for it, `<name><suffix>`, or, when that would be longer than a file
 * name may be (a legal name of 250 bytes and more), the hidden `.mnist-<tag><suffix>`, `tag` a
 * hash of the name: whenever `path` itself fits, so does this.
 */
function besidePath(path: string, suffix: string): string {
  const name = basename(path);
  const long = `${name}${suffix}`;
  return join(
    dirname(path),
    nameBytes(long) <= NAME_MAX ? long : `.mnist-${nameTag(name)}${suffix}`,
  );
}

/**
 * The temporary file that `writeFileAtomic` writes `path` to before renaming it over `path`:
 * `<name>.<pid>.<8 hex>.tmp` beside it (see `besidePath` for a long name). `removeStaleTemps`
 * recognises it.
 */
export function tempPath(path: string): string {
  return besidePath(path, `.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`);
}

/**
 * Removes the temporary files that a write of `path` left behind when its process was killed:
 * `tempPath`'s `<name>.<pid>.<8 hex>.tmp` (or its hidden form for a long name) and
 * `<name>.<pid>.tmp`, but this process's own. Call it holding `lockFile(path)`, before writing
 * `path`: only a process holding that lock writes there, so another's is left from a run that
 * was killed (/proc, which would tell whether its process lives, needs --allow-all in Deno).
 * Returns the paths removed; a directory that cannot be listed, or a file that cannot be removed,
 * is skipped: they only take space.
 */
export async function removeStaleTemps(path: string): Promise<string[]> {
  const name = basename(path);
  const dir = dirname(path);
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const pattern = new RegExp(
    `^(?:${escape(name)}|\\.mnist-${nameTag(name)})\\.(\\d+)(?:\\.[0-9a-f]{8})?\\.tmp$`,
  );
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const match = pattern.exec(entry.name);
      if (!match || !entry.isFile) continue;
      if (Number(match[1]) === Deno.pid) continue;
      const temp = join(dir, entry.name);
      try {
        await Deno.remove(temp);
        removed.push(temp);
      } catch {
        // Someone else's, or gone already: nothing of this run's.
      }
    }
  } catch {
    // A directory that cannot be listed holds nothing this run can clean.
  }
  return removed;
}

/** A lock held on a file (`lockFile`); disposing of it releases the lock and removes its file. */
export interface FileLock extends Disposable {
  /** The lock file. */
  path: string;
}

/**
 * Takes an exclusive lock for writing `path`, so that no two runs write it at once: an advisory
 * lock (flock) on the hidden `.<name>.lock` beside the file `path` names (its symlinks
 * followed), which holds the pid of its owner. The system releases it when the process ends,
 * however it ends, so a lock file left by a killed run is taken over. Returns the lock, or,
 * when another process holds it, that process's pid (undefined when it has not written it
 * yet) in `heldBy`; undefined for a path written in place (a device, a FIFO), which takes no
 * lock. A lock file that cannot be created is a `UserError`.
 */
export async function lockFile(
  path: string,
  { what = "file" }: { what?: string } = {},
): Promise<FileLock | { heldBy: number | undefined; path: string } | undefined> {
  const target = await writeTarget(path);
  if ("refused" in target || target.inPlace) return undefined;
  const lock = besidePath(join(dirname(target.path), `.${basename(target.path)}`), ".lock");
  const fail = (error: unknown) =>
    new UserError(`Cannot lock ${what} "${path}" with "${lock}": ${fsReason(error)}`, {
      cause: error,
    });
  try {
    await Deno.mkdir(dirname(lock), { recursive: true });
  } catch (error) {
    throw fail(error);
  }
  // A file that the lock's owner removed as it let go is no lock: open the one now there.
  for (let attempt = 0;; attempt++) {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(lock, { read: true, write: true, create: true });
    } catch (error) {
      throw fail(error);
    }
    try {
      if (!await file.tryLock(true)) {
        const text = new TextDecoder().decode(await readFully(file, 32));
        file.close();
        const pid = /^\s*(\d+)/.exec(text)?.[1];
        return { heldBy: pid === undefined ? undefined : Number(pid), path: lock };
      }
      const [held, now] = [await file.stat(), await Deno.stat(lock).catch(() => undefined)];
      if (now === undefined || held.ino !== now.ino || held.dev !== now.dev) {
        file.close();
        if (attempt < 10) continue;
        throw fail(new Error("it keeps being replaced"));
      }
      await file.truncate(0);
      await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
    } catch (error) {
      try {
        file.close();
      } catch {
        // closed above
      }
      if (error instanceof UserError) throw error;
      throw fail(error);
    }
    return {
      path: lock,
      [Symbol.dispose]() {
        // Removed while still held, so that no other run takes a lock on a file about to go.
        try {
          Deno.removeSync(lock);
        } catch {
          // Gone already, or the directory no longer takes changes: the lock goes with the file.
        }
        file.close();
      },
    };
  }
}

/** Where a write to a path lands (see `writeTarget`), or why it is refused. */
type WriteTarget =
  | {
    /** The path with its symlinks followed: the file that is replaced or written. */
    path: string;
    /** True when `path` is written in place (a device, a FIFO), not replaced by a rename. */
    inPlace: boolean;
    /**
     * `Deno.stat` of the path as given, which follows symlinks: the file a link names (the one
     * replaced), not the link; absent when nothing is there (a missing or dangling path).
     */
    info?: Deno.FileInfo;
  }
  | { refused: string; hint?: string };

/** Linux's limit on the symlinks one path lookup follows (ELOOP past it). */
const MAX_SYMLINKS = 40;

/**
 * One spelling per file, to compare paths by the file they name: the real path (symlinks
 * followed) when `path` exists, else its directory's real path joined with its name, else
 * `resolve(path)`.
 */
async function realName(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    try {
      return join(await Deno.realPath(dirname(path)), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/**
 * Why an output `path` that lands on `target` (its symlinks followed, see `writeTarget`) must not
 * be written, judged by the file replaced, not by the name given: the default model's pointer
 * (`<model dir>/default`, the one path that eval, predict and serve read to find their model;
 * anything written there loses it), or, through a symlink, a file whose extension names another
 * format than `format` (`--png LINK.png`, LINK a link to a checkpoint, would turn the checkpoint
 * into a PNG). Undefined when neither.
 */
async function checkLanding(
  path: string,
  target: string,
  { format, option }: { format?: string; option?: string },
): Promise<{ refused: string; hint: string } | undefined> {
  const through = target === path ? "it is" : `it is a symbolic link to "${target}",`;
  const hint = `Give ${option ?? "it"} another file name.`;
  let pointer: string | undefined;
  try {
    pointer = defaultModelPointer(resolveModelDir());
  } catch {
    pointer = undefined; // no model directory (no HOME): no pointer to protect
  }
  if (pointer !== undefined && await realName(target) === await realName(pointer)) {
    return {
      refused: `${through} the file naming the default model of eval, predict and serve`,
      hint: `${hint} "mnist models --default NAME" chooses the default model.`,
    };
  }
  const named = EXTENSION_FORMATS[extname(target).slice(1).toLowerCase()];
  if (target !== path && format !== undefined && named !== undefined && named !== format) {
    return {
      refused: `${through} a ${named} file, and ${option ?? "it"} writes ${format}`,
      hint: `${hint.slice(0, -1)}, so that "${target}" is not overwritten.`,
    };
  }
  return undefined;
}

/**
 * Where a write to `path` lands. A symlink chain is followed to the file it names, which is
 * replaced there (a dangling link's target is created), so the link stays a link. A device or a
 * FIFO, or a link into /proc (a process's open file: /dev/stdout, /dev/fd/N, whose target may be
 * a pipe with no path), is written in place, through `path`. An empty path, a block device (a
 * disk) and a socket are refused.
 */
async function writeTarget(path: string): Promise<WriteTarget> {
  if (path === "") return { refused: "the path is empty", hint: "Give a file name." };
  const own = ownStream(resolve(path));
  if (own) return ownStreamRefusal(own);
  const info = await Deno.stat(path).catch(() => undefined); // follows symlinks
  if (info?.isBlockDevice) {
    return { refused: "it is a block device (a disk)", hint: "Give a regular file's name." };
  }
  if (info?.isSocket) return { refused: "it is a socket", hint: "Give a regular file's name." };
  if (info && !info.isFile && !info.isDirectory) return { path, inPlace: true, info };
  let at = path;
  for (let links = 0;; links++) {
    const found = await Deno.lstat(at).catch(() => undefined);
    if (!found?.isSymlink) return { path: at, inPlace: false, info };
    if (links === MAX_SYMLINKS) return { refused: "too many levels of symbolic links" };
    // The link's target is relative to the link's real directory, not to the path as typed.
    const dir = await Deno.realPath(dirname(at)).catch(() => resolve(dirname(at)));
    if (dir === "/proc" || dir.startsWith("/proc/")) {
      const fd = /^\/proc\/[^/]+\/fd$/.test(dir) ? ownStream(`/dev/fd/${basename(at)}`) : undefined;
      return fd ? ownStreamRefusal(fd) : { path, inPlace: true, info };
    }
    try {
      at = resolve(dir, await Deno.readLink(at));
    } catch (error) {
      return { refused: fsReason(error) };
    }
  }
}

/**
 * "output" or "error" when `path` names this program's own standard output or error
 * (/dev/stdout, /dev/fd/1, ...): the commands print their messages there too, and a file
 * written through a fresh descriptor would start at its beginning, truncating what the shell
 * appended to (`>>`) and overwritten by the next message.
 */
function ownStream(path: string): "output" | "error" | undefined {
  if (path === "/dev/stdout" || path === "/dev/fd/1") return "output";
  if (path === "/dev/stderr" || path === "/dev/fd/2") return "error";
  return undefined;
}

function ownStreamRefusal(stream: "output" | "error"): { refused: string; hint: string } {
  return {
    refused: `it is this program's standard ${stream}, where it also prints its messages`,
    hint: "Give a file name.",
  };
}

/**
 * The first existing ancestor of `dir` (or `dir` itself) when it is not a directory: the file
 * that makes `mkdir -p dir` fail with a bare "already exists", or a path through a file fail
 * with "Not a directory" (`"/etc/passwd" is not a directory`). Undefined when that ancestor is
 * a directory; an ancestor that cannot be examined (permission) counts as missing.
 */
export async function fileInTheWay(dir: string): Promise<string | undefined> {
  for (let up = dir;; up = dirname(up)) {
    const found = await Deno.stat(up).catch(() => undefined);
    if (found) return found.isDirectory ? undefined : up;
    if (dirname(up) === up) return undefined;
  }
}

/** The formats that output options write, for `checkWritable`'s `format`. */
export type OutputFormat = "PNG" | "SVG" | "ONNX" | "safetensors";

/**
 * File extensions (lower case, without the dot) and the format each names, for refusing an
 * output file named for another format than it gets (`--png x.jpg`). An extension not listed
 * names nothing, and is accepted.
 */
const EXTENSION_FORMATS: Readonly<Record<string, string>> = {
  png: "PNG",
  jpg: "JPEG",
  jpeg: "JPEG",
  jpe: "JPEG",
  jfif: "JPEG",
  gif: "GIF",
  bmp: "BMP",
  webp: "WebP",
  avif: "AVIF",
  tif: "TIFF",
  tiff: "TIFF",
  ico: "icon",
  svg: "SVG",
  // Compressed SVG: --svg writes it uncompressed, so the name would lie.
  svgz: "gzip-compressed SVG",
  pdf: "PDF",
  ps: "PostScript",
  eps: "PostScript",
  dot: "Graphviz DOT",
  gv: "Graphviz DOT",
  onnx: "ONNX",
  safetensors: "safetensors",
  pt: "PyTorch",
  pth: "PyTorch",
  pkl: "pickle",
  pickle: "pickle",
  npy: "NumPy",
  npz: "NumPy",
  h5: "HDF5",
  hdf5: "HDF5",
  keras: "Keras",
  tflite: "TensorFlow Lite",
  json: "JSON",
  csv: "CSV",
  txt: "text",
  log: "text",
  md: "Markdown",
  html: "HTML",
  htm: "HTML",
  gz: "gzip",
  zip: "zip",
  tar: "tar",
};

/** The extension each output format is usually given. */
const USUAL_EXTENSION: Readonly<Record<OutputFormat, string>> = {
  PNG: "png",
  SVG: "svg",
  ONNX: "onnx",
  safetensors: "safetensors",
};

/**
 * Checks, before any long work, that `path` can be written: for a file, that it is not empty,
 * a directory, a block device or a socket, that its extension (when it has a known one) names
 * `format`, and that its directory exists (or can be made) and takes a new file; with
 * `directory`, that `path` is (or can be made) a directory that takes a new file. A probe file is
 * created and removed (in the directory of the file a symlink names); a device or a FIFO, which
 * is written in place, is not opened here. Throws a one-line `UserError` naming the path and
 * the reason, with a hint; `option` (`"--png"`) names the option in them.
 */
export async function checkWritable(
  path: string,
  { directory = false, what = directory ? "to directory" : "file", format, option }: {
    directory?: boolean;
    what?: string;
    format?: OutputFormat;
    option?: string;
  } = {},
): Promise<void> {
  const fail = (reason: string, extra: { hint?: string; cause?: unknown } = {}) =>
    new UserError(`Cannot write ${what} "${path}": ${reason}`, extra);
  if (path === "") {
    const name = directory ? "a directory" : "a file";
    throw fail("the path is empty", { hint: `Give ${option ?? "it"} ${name} name.` });
  }
  if (format !== undefined && !directory) {
    const ext = extname(path).slice(1).toLowerCase();
    const named = EXTENSION_FORMATS[ext];
    if (named !== undefined && named !== format) {
      const usual = USUAL_EXTENSION[format];
      const fixed = path.slice(0, path.length - ext.length) + usual;
      throw fail(`.${ext} is the extension of ${named} files; ${option ?? "it"} writes ${format}`, {
        hint: `Name it "${fixed}".`,
      });
    }
  }
  const info = await Deno.stat(path).catch(() => undefined);
  if (!directory && info?.isDirectory) throw fail("it is a directory");
  if (directory && info && !info.isDirectory) throw fail("it is not a directory");
  let dir = path;
  if (!directory) {
    const target = await writeTarget(path);
    if ("refused" in target) throw fail(target.refused, { hint: target.hint });
    const landing = await checkLanding(path, target.path, {
      format: format ?? EXTENSION_FORMATS[extname(path).slice(1).toLowerCase()],
      option,
    });
    if (landing) throw fail(landing.refused, { hint: landing.hint });
    // Opening a FIFO to probe it would wait for a reader, then hand it an empty file.
    if (target.inPlace) return;
    dir = dirname(target.path);
  }
  // mkdir under a file says only "already exists"; name the file that is in the way.
  const blocker = await fileInTheWay(dir);
  if (blocker) throw fail(`"${blocker}" is not a directory`);
  const probe = join(dir, `.mnist-write-test.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`);
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(probe, new Uint8Array(), { createNew: true });
  } catch (error) {
    throw fail(fsReason(error), { cause: error });
  }
  await Deno.remove(probe).catch(() => {});
}

/**
 * True when `path` exists (any kind of file); false too for a path that cannot name one: through
 * a file (`model.safetensors/`) or with a name too long. Other failures (permission) are thrown.
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (
      error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory ||
      (error as { code?: string }).code === "ENAMETOOLONG"
    ) return false;
    throw error;
  }
}

/** `readCapped`'s options. */
export interface ReadCappedOptions {
  /** The most bytes accepted; a longer file or stream is refused without reading the rest. */
  maxBytes: number;
  /** What the file is, for messages: `Cannot read image "x": ...`. */
  what: string;
  /** A hint for a path that is a directory. */
  hint?: string;
}

/**
 * Reads the file at `path`, or standard input when `path` is `-`, refusing more than `maxBytes`.
 * A path that is not a regular file (a directory, a device such as /dev/zero, a FIFO) is refused
 * from its `stat`, before it is opened, so nothing hangs or reads without end. Every failure is a
 * one-line `UserError` naming the path: `Cannot read image "x": it is a directory`.
 */
export async function readCapped(path: string, options: ReadCappedOptions): Promise<Uint8Array> {
  const { maxBytes, what } = options;
  const name = path === "-" ? "from standard input" : `"${path}"`;
  const fail = (reason: string, extra: { hint?: string; cause?: unknown } = {}) =>
    new UserError(`Cannot read ${what} ${name}: ${reason}`, extra);
  // A stream's size is not known, only that it went past the limit.
  const limit = `the ${formatBytes(maxBytes)} limit for ${what} files`;
  const tooLarge = (size?: string) => fail(`it is ${size ? `${size}, ` : ""}more than ${limit}`);
  if (path === "-") {
    const bytes = await readStream(Deno.stdin.readable, maxBytes);
    if (bytes === undefined) throw tooLarge();
    return bytes;
  }
  let file: Deno.FsFile | undefined;
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory) throw fail("it is a directory", { hint: options.hint });
    if (!info.isFile) throw fail("it is not a regular file (a device, FIFO or socket)");
    if (info.size > maxBytes) throw tooLarge(formatBytes(info.size));
    file = await Deno.open(path, { read: true });
    // The size can change between stat and read; the cap holds whatever the file does.
    const bytes = await readStream(file.readable, maxBytes);
    file = undefined; // the stream closed it
    if (bytes === undefined) throw tooLarge();
    return bytes;
  } catch (error) {
    file?.close();
    if (error instanceof UserError) throw error;
    throw fail(fsReason(error), { cause: error });
  }
}

/** The bytes of `stream`, or undefined (after cancelling it) once more than `maxBytes` arrive. */
async function readStream(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array | undefined> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const part of stream) {
    total += part.length;
    if (total > maxBytes) return undefined; // leaving the loop cancels the stream
    parts.push(part);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Reads exactly `n` bytes from `file`, or fewer at the end of the file. */
export async function readFully(file: Deno.FsFile, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let at = 0;
  while (at < n) {
    const got = await file.read(out.subarray(at));
    if (got === null) break;
    at += got;
  }
  return out.subarray(0, at);
}

/**
 * A file-system error as the short reason a user reads after the path: "no such file",
 * "permission denied", "read-only file system", "no space left on device"...
 */
export function fsReason(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file or directory";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  if (error instanceof Deno.errors.NotADirectory) return "a part of the path is not a directory";
  if (error instanceof Deno.errors.AlreadyExists) return "it already exists";
  const message = messageOf(error);
  // Deno's messages end in the call and path: "Read-only file system (os error 30): open '/x'".
  return message.replace(/\s*\(os error \d+\)/, "").replace(/:\s*\w+\s+'.*'$/, "")
    .replace(/^./, (c) => c.toLowerCase());
}

/** `n` bytes for a message: "512 B", "2.0 KiB", "64 MiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const [value, unit] = n < 1024 ** 2
    ? [n / 1024, "KiB"]
    : n < 1024 ** 3
    ? [n / 1024 ** 2, "MiB"]
    : [n / 1024 ** 3, "GiB"];
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${unit}`;
}

/**
 * The directory the user typed the command in, against which the paths they give resolve:
 * `$INIT_CWD`, which `deno task` (like npm) sets there while it runs the program from the project
 * root, when it is a directory, else the current directory.
 */
export function userDir(): string {
  try {
    const dir = Deno.env.get("INIT_CWD");
    if (dir && Deno.statSync(dir).isDirectory) return dir;
  } catch {
    // No --allow-env, or INIT_CWD is gone: only the current directory is known.
  }
  return Deno.cwd();
}

/**
 * Throws a one-line `UserError` when `output` is the same file as one of `inputs` (by device and
 * inode, so through symlinks, hard links and other spellings of the path): the run would write
 * over what it reads. An output that does not exist yet is none of them; `-` (standard input)
 * and inputs that cannot be read are skipped. `what` says what each file is ("ONNX model",
 * "model"), `option` the output's flag (`directory`: it names the directory `output` is in), for
 * the message and its hint.
 */
export async function checkNotInput(
  output: string,
  inputs: readonly { path: string; what: string }[],
  { what, option, directory = false }: { what: string; option: string; directory?: boolean },
): Promise<void> {
  const out = await Deno.stat(output).catch(() => undefined);
  if (!out || out.ino === null) return;
  for (const input of inputs) {
    if (input.path === "-") continue;
    const info = await Deno.stat(input.path).catch(() => undefined);
    if (info && info.dev === out.dev && info.ino === out.ino) {
      const as = input.path === output ? "" : ` "${input.path}"`;
      throw new UserError(
        `Cannot write ${what} "${output}": it is the ${input.what}${as} this command reads`,
        {
          hint: `Give ${option} another ${directory ? "directory" : "file"}, so that the ` +
            `${input.what} is not overwritten.`,
        },
      );
    }
  }
}
