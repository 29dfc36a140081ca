/**
 * File helpers: atomic writes, so an interrupted run never leaves a half-written file, and capped
 * reads, so no input (a device, a FIFO, a huge file) is read without end.
 */
import { dirname, join } from "node:path";
import { messageOf, UserError } from "./errors.ts";

/**
 * Writes `data` to `path` atomically: to a temporary file in the same directory, then renamed
 * over `path`. The directory is created when missing. A failure is a one-line `UserError`,
 * `Cannot write <what> "path": <reason>` (`what` defaults to "file"), and leaves no temporary
 * file behind.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  { what = "file" }: { what?: string } = {},
): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await Deno.mkdir(dirname(path), { recursive: true });
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    const blocker = await fileInTheWay(dirname(path));
    const reason = blocker ? `"${blocker}" is not a directory` : fsReason(error);
    throw new UserError(`Cannot write ${what} "${path}": ${reason}`, { cause: error });
  }
}

/**
 * The first existing ancestor of `dir` (or `dir` itself) when it is not a directory: the file
 * that makes `mkdir -p dir` fail with a bare "already exists".
 */
async function fileInTheWay(dir: string): Promise<string | undefined> {
  for (let up = dir;; up = dirname(up)) {
    const found = await Deno.stat(up).catch(() => undefined);
    if (found) return found.isDirectory ? undefined : up;
    if (dirname(up) === up) return undefined;
  }
}

/**
 * Checks, before any long work, that `path` can be written: for a file, that it is not a
 * directory and that its directory exists (or can be made) and takes a new file; with
 * `directory`, that `path` is (or can be made) a directory that takes a new file. A probe file is
 * created and removed. Throws a one-line `UserError` naming the path and the reason.
 */
export async function checkWritable(
  path: string,
  { directory = false, what = directory ? "to directory" : "file" }: {
    directory?: boolean;
    what?: string;
  } = {},
): Promise<void> {
  const fail = (reason: string, cause?: unknown) =>
    new UserError(`Cannot write ${what} "${path}": ${reason}`, { cause });
  const info = await Deno.stat(path).catch(() => undefined);
  if (!directory && info?.isDirectory) throw fail("it is a directory");
  if (directory && info && !info.isDirectory) throw fail("it is not a directory");
  const dir = directory ? path : dirname(path);
  // mkdir under a file says only "already exists"; name the file that is in the way.
  const blocker = await fileInTheWay(dir);
  if (blocker) throw fail(`"${blocker}" is not a directory`);
  const probe = join(dir, `.mnist-write-test.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`);
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeFile(probe, new Uint8Array(), { createNew: true });
  } catch (error) {
    throw fail(fsReason(error), error);
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
  const name = path === "-" ? "standard input" : `"${path}"`;
  const fail = (reason: string, extra: { hint?: string; cause?: unknown } = {}) =>
    new UserError(`Cannot read ${what} ${name}: ${reason}`, extra);
  const tooLarge = (size: string) =>
    fail(`it is ${size}, more than the ${formatBytes(maxBytes)} limit for ${what} files`);
  if (path === "-") {
    const bytes = await readStream(Deno.stdin.readable, maxBytes);
    if (bytes === undefined) throw tooLarge(`over ${formatBytes(maxBytes)}`);
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
    if (bytes === undefined) throw tooLarge(`over ${formatBytes(maxBytes)}`);
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
