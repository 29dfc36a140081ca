/**
 * Clears a progress bar's line when SIGINT (Ctrl-C) or SIGTERM ends the program, then lets the
 * signal end it as it would have without a bar: the listeners go, and the signal is raised again
 * (exit status 130 or 143, as the shell reports it).
 *
 * Why a worker: on a CPU adapter, Deno's `queue.submit` waits for the previous submission to run,
 * so the main thread is busy for seconds at a time, and a listener there runs only when it is
 * free again: measured, Ctrl-C during LeNet's first 200 batches ended the program 26 s later.
 * A worker's listener runs at once, whatever the main thread is doing.
 */

const SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM"];
const listeners = new Map<Deno.Signal, () => void>();

function removeAll(): void {
  for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  listeners.clear();
}

for (const signal of SIGNALS) {
  const listener = () => {
    // Carriage return and "erase line": the bar and the "^C" the terminal echoed after it.
    Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
    removeAll();
    Deno.kill(Deno.pid, signal);
  };
  try {
    Deno.addSignalListener(signal, listener);
    listeners.set(signal, listener);
  } catch {
    // Windows has no SIGTERM; Ctrl-C there ends the program as before.
  }
}
