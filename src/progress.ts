/**
 * Progress bars on stderr: the download's, training epochs' and evaluations'. cli-progress draws
 * them (one line rewritten in place, at most ten times a second, cut to the terminal's width);
 * this module decides when, and what the line says.
 *
 * - Only on a terminal: when stderr is a pipe or a file (a test, `2> log`), or `TERM=dumb`,
 *   nothing is drawn at all, so logs stay byte-exact.
 * - `NO_COLOR` (https://no-color.org) drops the one colour a bar has.
 * - Lines printed while a bar is up (the MXNet log on stdout) go through `print`: the bar is
 *   cleared first and drawn again with the next update, so a terminal shows clean lines.
 * - The terminal is left as found: the cursor is never hidden and line wrapping never turned
 *   off. For training and evaluation, Ctrl-C clears the bar's line before the program ends (see
 *   progress_worker.ts for why that takes a worker).
 * - cli-progress is loaded only when a bar is to be drawn (`ProgressBar.open`): it costs ~70 ms
 *   of start-up, which `predict`, `serve` and every piped run are spared.
 */
import { colorEnabled, isDumbTerminal, processTerminalEnv, type TerminalEnv } from "./terminal.ts";

/**
 * What this module uses of cli-progress's `SingleBar`. (Its types, @types/cli-progress, bring in
 * @types/node, whose `node:assert` types clash with Deno's in the tests.)
 */
interface SingleBar {
  readonly isActive: boolean;
  start(total: number, value: number, payload: { line: BarLine }): void;
  update(value: number, payload: { line: BarLine }): void;
  stop(): void;
}

/** The options given to `new cliProgress.SingleBar` (cli-progress's lib/options.js). */
interface SingleBarOptions {
  stream: ProgressStream;
  format: (options: unknown, params: { maxWidth: number }, payload: { line: BarLine }) => string;
  fps: number;
  clearOnComplete: boolean;
  hideCursor: boolean;
  linewrap: boolean;
  gracefulExit: boolean;
}

type SingleBarClass = new (options: SingleBarOptions) => SingleBar;

/** cli-progress's `SingleBar`, loaded on first use. */
async function loadSingleBar(): Promise<SingleBarClass> {
  const { default: cliProgress } = await import("cli-progress");
  return cliProgress.SingleBar as SingleBarClass;
}

/** A stream bars are drawn on: stderr, or a stand-in terminal in tests. */
export interface ProgressStream {
  /** Whether it is a terminal; bars are drawn on nothing else. */
  readonly isTTY: boolean;
  /** Its width in columns (0 when unknown: then 80 is assumed). */
  readonly columns: number;
  /** Writes `text` before returning, so that it keeps its place among stdout's lines. */
  write(text: string): boolean;
}

/** Options of `ProgressBar` and `WorkProgress`. */
export interface ProgressOptions {
  /** Where to draw; default: stderr. */
  stream?: ProgressStream;
  /** Where `NO_COLOR` and `TERM` are read; default: `Deno.env`. */
  env?: TerminalEnv;
  /**
   * Clear the bar's line when SIGINT or SIGTERM ends the program (default false). For bars
   * drawn while the GPU may block the main thread; the download clears its bar itself.
   */
  clearOnSignal?: boolean;
}

/** Stderr as a `ProgressStream`: synchronous writes, the width read at each draw. */
function stderrStream(): ProgressStream {
  const encoder = new TextEncoder();
  return {
    isTTY: Deno.stderr.isTerminal(),
    get columns(): number {
      try {
        return Deno.consoleSize().columns;
      } catch {
        return 0;
      }
    },
    write(text: string): boolean {
      const bytes = encoder.encode(text);
      for (let written = 0; written < bytes.length;) {
        written += Deno.stderr.writeSync(bytes.subarray(written));
      }
      return true;
    },
  };
}

/**
 * Whether bars are drawn on `stream`: only on a terminal that can move its cursor (not
 * `TERM=dumb`, as Emacs' shell buffers set).
 */
export function progressEnabled(stream: Pick<ProgressStream, "isTTY">, env: TerminalEnv): boolean {
  return stream.isTTY && !isDumbTerminal(env);
}

/** What one bar says: `label ███░░░  42%  detail`. */
export interface BarLine {
  /** Before the bar: "Epoch 2/10", a file name. */
  label: string;
  /** How much is done, from 0 to 1 (clamped). */
  fraction: number;
  /** After the percentage: counts, speed, ETA. */
  detail: string;
  /**
   * Whether to draw the bar and the percentage (default true); false for a step of unknown
   * length, whose line is `label  detail`.
   */
  bar?: boolean;
}

/** The widest and narrowest the bar itself is drawn, in columns. */
const BAR_WIDTH = { max: 30, min: 10 };
const FILL = "█";
const EMPTY = "░";
/** The filled part's colour (cyan) and the reset, as `formatBar` writes them. */
const COLOR_ON = "\x1b[36m";
const COLOR_OFF = "\x1b[39m";

/**
 * Lays out `line` for a terminal `columns` wide: the bar shrinks (30 to 10 columns) to fit, and
 * the whole string, colour codes included, is at most `columns - 1` characters long, so that it
 * never wraps (the last column would) and cli-progress, which cuts lines at the terminal's width
 * by their length, never cuts it. Where even that does not fit, the line is cut, uncoloured.
 */
export function formatBar(line: BarLine, { columns, color }: {
  columns: number;
  color: boolean;
}): string {
  const room = Math.max(1, (columns || 80) - 1);
  if (line.bar === false) {
    return (line.detail === "" ? line.label : `${line.label}  ${line.detail}`).slice(0, room);
  }
  const fraction = Math.min(1, Math.max(0, Number.isFinite(line.fraction) ? line.fraction : 0));
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const tail = line.detail === "" ? percent : `${percent}  ${line.detail}`;
  const escapes = color ? COLOR_ON.length + COLOR_OFF.length : 0;
  // label, space, bar, space, tail
  const fixed = line.label.length + 2 + tail.length;
  const width = Math.min(BAR_WIDTH.max, room - fixed - escapes);
  if (width >= BAR_WIDTH.min) {
    const filled = Math.round(fraction * width);
    const done = FILL.repeat(filled);
    const bar = (color && filled > 0 ? COLOR_ON + done + COLOR_OFF : done) +
      EMPTY.repeat(width - filled);
    return `${line.label} ${bar} ${tail}`;
  }
  const filled = Math.round(fraction * BAR_WIDTH.min);
  const plain = `${line.label} ${FILL.repeat(filled)}${
    EMPTY.repeat(BAR_WIDTH.min - filled)
  } ${tail}`;
  return plain.slice(0, room);
}

/** `0:42`, `12:05`, `1:02:03`; `--:--` while unknown (no rate yet, or one of 0). */
export function formatEta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.ceil(seconds);
  const two = (n: number) => String(n).padStart(2, "0");
  const [h, m] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60)];
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/** `60,000`: a count as the bars show it. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/**
 * The rate at which a count grows, from the updates of the last `windowMs` (the two most recent
 * at least): the first update is not a start, since work reported as submitted may have only
 * just begun. Times are in ms, from `performance.now()` or a test's clock.
 */
export class Throughput {
  readonly #windowMs: number;
  #points: { at: number; value: number }[] = [];

  /** `windowMs`: how far back (ms) the rate looks; default 10 s. */
  constructor({ windowMs = 10_000 }: { windowMs?: number } = {}) {
    this.#windowMs = windowMs;
  }

  /** Records that the count was `value` at time `at` (ms). */
  add(value: number, at: number): void {
    this.#points.push({ at, value });
    while (this.#points.length > 2 && at - this.#points[1]!.at >= this.#windowMs) {
      this.#points.shift();
    }
  }

  /** Units per second, or undefined until two updates apart in time have come. */
  perSecond(): number | undefined {
    const first = this.#points[0];
    const last = this.#points.at(-1);
    if (!first || !last || last.at <= first.at) return undefined;
    return (last.value - first.value) / ((last.at - first.at) / 1000);
  }

  /** Seconds until the count reaches `total` at the current rate, or undefined. */
  etaSeconds(total: number): number | undefined {
    const rate = this.perSecond();
    const last = this.#points.at(-1);
    if (rate === undefined || rate <= 0 || !last) return undefined;
    return Math.max(0, total - last.value) / rate;
  }

  /** Forgets every update, for a new piece of work. */
  reset(): void {
    this.#points = [];
  }
}

/**
 * One bar line on stderr, drawn with cli-progress when `progressEnabled` says so and a no-op
 * otherwise. `draw` puts it up or updates it, `clear` takes it off the screen, `print` writes
 * something else around it; disposing of it clears it.
 */
export class ProgressBar implements Disposable {
  /** Whether anything is ever drawn. */
  readonly enabled: boolean;
  readonly #bar: SingleBar | undefined;
  readonly #clearOnSignal: boolean;
  #worker: Worker | undefined;

  /** A bar for `options.stream` (default: stderr); cli-progress is loaded only if it is drawn. */
  static async open(options: ProgressOptions = {}): Promise<ProgressBar> {
    const stream = options.stream ?? stderrStream();
    const env = options.env ?? processTerminalEnv;
    const enabled = progressEnabled(stream, env);
    return new ProgressBar(enabled ? await loadSingleBar() : undefined, {
      stream,
      color: colorEnabled(env),
      clearOnSignal: options.clearOnSignal === true && options.stream === undefined,
    });
  }

  private constructor(
    SingleBar: SingleBarClass | undefined,
    { stream, color, clearOnSignal }: {
      stream: ProgressStream;
      color: boolean;
      clearOnSignal: boolean;
    },
  ) {
    this.enabled = SingleBar !== undefined;
    this.#clearOnSignal = clearOnSignal;
    if (!SingleBar) return;
    this.#bar = new SingleBar({
      // cli-progress writes with `write` and moves the cursor with node's readline helpers,
      // which write escape codes to the same stream: any object with `write` will do.
      stream,
      format: (_options, params, payload) =>
        formatBar(payload.line, { columns: params.maxWidth, color }),
      fps: 10,
      clearOnComplete: true,
      hideCursor: false,
      // true: cut lines to the width rather than send "\x1b[?7l" (no wrap), which a killed
      // program would leave on, truncating the shell's lines after it.
      linewrap: true,
      gracefulExit: false,
    });
  }

  /** Whether the bar is on the screen now. */
  get drawn(): boolean {
    return this.#bar?.isActive === true;
  }

  /** Shows `line`, putting the bar up if it is not. */
  draw(line: BarLine): void {
    if (!this.#bar) return;
    if (this.#bar.isActive) {
      this.#bar.update(line.fraction, { line });
    } else {
      this.#bar.start(1, line.fraction, { line });
      if (this.#clearOnSignal) this.#worker ??= startSignalWorker();
    }
  }

  /** Takes the bar off the screen (its line is cleared); the next `draw` puts it up again. */
  clear(): void {
    if (this.#bar?.isActive) this.#bar.stop();
  }

  /**
   * Runs `write`, which prints whole lines elsewhere (stdout), with the bar cleared first, so
   * that the lines do not land on the bar's. The bar comes back with the next `draw`: lines come
   * with news (the trainer reports its progress after the log lines of a readback), and a bar
   * drawn again at once would show the old count until then.
   */
  print(write: () => void): void {
    this.clear();
    write();
  }

  /** Clears the bar and ends its signal worker, if it has one. */
  [Symbol.dispose](): void {
    this.clear();
    this.#worker?.terminate();
    this.#worker = undefined;
  }
}

/** The worker that clears the bar's line on SIGINT and SIGTERM (see progress_worker.ts). */
function startSignalWorker(): Worker | undefined {
  try {
    return new Worker(new URL("./progress_worker.ts", import.meta.url).href, {
      type: "module",
      name: "progress signals",
    });
  } catch {
    // Without it, a signal ends the program as it always did, leaving the bar's text.
    return undefined;
  }
}

/**
 * A bar for work counted in samples (training epochs, evaluations): the label, the bar, the
 * percentage, `done/total`, the rate in samples/s and the ETA. A piece of work is reported
 * with the same label until `done` reaches `total`; then it is finished and its bar cleared.
 * Lines printed through `log` clear the bar; the next `update` draws it again.
 */
/**
 * A bar for work counted in samples (training epochs, validation, eval): label, done/total,
 * samples per second over the last 10 s (`Throughput`) and the ETA. Drawn only where
 * `progressEnabled` says (a terminal, not `TERM=dumb`); elsewhere every call does nothing.
 */
export class WorkProgress implements Disposable {
  readonly #bar: ProgressBar;
  readonly #rate = new Throughput();
  readonly #now: () => number;
  #label: string | undefined;
  #done = 0;

  /** A bar as `ProgressBar.open` makes it; `now` (ms) times the rate, for tests. */
  static async open(
    options: ProgressOptions & { now?: () => number } = {},
  ): Promise<WorkProgress> {
    return new WorkProgress(await ProgressBar.open(options), options.now);
  }

  private constructor(bar: ProgressBar, now = () => performance.now()) {
    this.#bar = bar;
    this.#now = now;
  }

  /** Whether anything is ever drawn. */
  get enabled(): boolean {
    return this.#bar.enabled;
  }

  /**
   * Reports that `done` of `total` samples of the work called `label` are done (or submitted:
   * see each caller). A new label, or a count that went back, starts a new piece of work; `done`
   * reaching `total` clears the bar.
   */
  update(label: string, { done, total }: { done: number; total: number }): void {
    if (!this.#bar.enabled) return;
    if (label !== this.#label || done < this.#done) this.#rate.reset();
    this.#label = label;
    this.#done = done;
    if (done >= total) {
      this.#bar.clear();
      this.#rate.reset();
      return;
    }
    this.#rate.add(done, this.#now());
    const rate = this.#rate.perSecond();
    const speed = rate === undefined ? "" : `  ${formatCount(rate)} samples/s`;
    this.#bar.draw({
      label,
      fraction: total > 0 ? done / total : 0,
      detail: `${formatCount(done)}/${formatCount(total)}${speed}  ETA ${
        formatEta(this.#rate.etaSeconds(total))
      }`,
    });
  }

  /**
   * Shows `label` and `detail` without a bar, for a step of unknown length (the kernels'
   * compile at their first dispatch); the next `update` replaces the line with its bar.
   */
  status(label: string, detail = ""): void {
    if (!this.#bar.enabled) return;
    this.#label = undefined;
    this.#done = 0;
    this.#rate.reset();
    this.#bar.draw({ label, fraction: 0, detail, bar: false });
  }

  /** Wraps `print` (a line printer, e.g. stdout's) so that its lines never land on the bar. */
  log(print: (line: string) => void): (line: string) => void {
    return (line) => this.#bar.print(() => print(line));
  }

  /** Disposes of the bar (clears it, ends its worker). */
  [Symbol.dispose](): void {
    this.#bar[Symbol.dispose]();
  }
}
