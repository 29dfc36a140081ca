/**
 * `mnist serve`: the tutorial's last step, "recognise a digit drawn in a box", as a local web
 * page, with the model loaded once on the GPU behind `POST /api/predict`.
 */
import { choiceOption, intOption, parseCommandArgs } from "./args.ts";
import { type Command, COMMON_HELP, modelLine } from "./command.ts";
import { messageOf, UserError } from "../errors.ts";
import { acquireGpu, DEVICE_CHOICES } from "../gpu/device.ts";
import { resolveDataDir } from "../data/paths.ts";
import {
  checkClasses,
  checkDigitInput,
  type Checkpoint,
  encodeCheckpoint,
  loadCheckpoint,
} from "../nn/checkpoint.ts";
import { type DatasetName, DATASETS } from "../data/mirrors.ts";
import { ARCH_HELP, archOption } from "../nn/import.ts";
import { Classifier } from "../nn/classifier.ts";
import { modelPath } from "../nn/model_store.ts";
import { mark } from "../trace.ts";
import {
  BODY_TIMEOUT_MS,
  createHandler,
  type Handler,
  MAX_BODY_BYTES,
  MAX_IMAGE_PIXELS,
  MAX_IMAGE_SIDE,
  MAX_REQUESTS,
} from "../serve/server.ts";

/**
 * How long a stop waits for the requests in flight to be answered: a prediction takes well
 * under a second, so what is left after this is a body still trickling in (its own deadline is
 * `BODY_TIMEOUT_MS`) or a client that stopped reading, which must not keep the program alive.
 */
export const STOP_GRACE_MS = 5_000;

const LIMIT = `${MAX_BODY_BYTES / 1024 / 1024} MiB`;
const SIDE = `${MAX_IMAGE_PIXELS / 1e6} megapixels (${MAX_IMAGE_SIDE} a side)`;
const GRACE = `${STOP_GRACE_MS / 1000} s`;
const DEADLINE = `${BODY_TIMEOUT_MS / 1000} s`;

const HELP = `Usage: mnist serve [--port N] [--host ADDR] [--model FILE|NAME] [options]

Serves a page to draw digits on with the mouse, a pen or a finger (garments, named as
Fashion-MNIST names them, for a model trained with --dataset fashion): the network answers as
you draw, showing every class's probability and the 28×28 image it saw. Where the browser has
WebGPU, the page runs this program's own network and preprocessing on the served model
(GET /api/model, safetensors) in the browser, where it can also be taught a few digits (SGD
steps in the tab; the taught model can be downloaded); elsewhere the server classifies, and the
page says which. The page is built into the program and works offline. Stop the server with
Ctrl-C (or SIGTERM): it answers the requests in flight first, for at most ${GRACE} (Ctrl-C
again stops it at once), and exits with status 130 (SIGTERM: 143).

API: POST /api/predict with a PNG or JPEG body (Content-Type: image/png or image/jpeg), or a
form upload of one (multipart/form-data, the field "file"), of at most ${LIMIT} and
${SIDE}, sent within ${DEADLINE}, preprocessed as "mnist predict" does; the
answer is JSON: {"digit": 7, "class": 7, "name": "7", "probability": 0.99, "probabilities":
[10 numbers], "input": "data:image/png;base64,..." (the 28×28 image the network saw)}; digit
and class are the class's index, name its name ("Trouser" for a Fashion-MNIST model). At most
${MAX_REQUESTS} requests at once (more get 503). Requests from other web sites (Origin) or
naming another host (Host) are refused.

Options:
  --port N               TCP port (default 8000; 0 picks a free one, printed on start)
  --host ADDR            address to listen on (default 127.0.0.1: this machine only;
                         0.0.0.0 lets other machines connect)
${ARCH_HELP}
  --model FILE|NAME      checkpoint, or mlp or lenet for the one "mnist train --model NAME"
                         saved, or a name "mnist models" lists (default: its default model)

${COMMON_HELP}

Examples:
  mnist serve
  mnist serve --port 0
  curl -H 'Content-Type: image/png' --data-binary @seven.png http://127.0.0.1:8000/api/predict
  curl -F file=@photo.jpg http://127.0.0.1:8000/api/predict`;

/** `host:port` as a URL authority: IPv6 addresses go in brackets. */
function authority(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Binds the server, turning the operating system's refusals into one-line `UserError`s. */
function listen(
  host: string,
  port: number,
  handler: Deno.ServeHandler<Deno.NetAddr>,
): Deno.HttpServer<Deno.NetAddr> {
  const where = authority(host, port);
  try {
    return Deno.serve({ hostname: host, port, onListen: () => {} }, handler);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new UserError(`Cannot listen on ${where}: address in use`, {
        hint: `Another program is using port ${port}: stop it, or choose another port with ` +
          `--port N (--port 0 picks a free one).`,
      });
    }
    if (error instanceof Deno.errors.AddrNotAvailable) {
      throw new UserError(`Cannot listen on ${where}: not an address of this machine`, {
        hint: "Use --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface).",
      });
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new UserError(`Cannot listen on ${where}: permission denied`, {
        hint: port < 1024
          ? "Ports below 1024 need administrator rights: choose another with --port N."
          : undefined,
      });
    }
    if (error instanceof Deno.errors.NotCapable) throw error; // Deno's --allow-net
    throw new UserError(`Cannot listen on ${where}: ${messageOf(error)}`, {
      hint: "Check --host: an IP address such as 127.0.0.1, or a host name of this machine.",
    });
  }
}

/**
 * What `GET /api/model` serves the page's in-browser engine: the weights the server loaded,
 * as F32 safetensors with the model's description, its epoch, dataset and accuracy; not the
 * optimizer state or the training record (its settings and data paths).
 */
function sharedModel(checkpoint: Checkpoint): Uint8Array {
  const { model, epoch, dataset, accuracy } = checkpoint.meta;
  return encodeCheckpoint({
    meta: { model, epoch, dataset, accuracy },
    params: checkpoint.params,
    momentum: new Map(),
  });
}

/**
 * The signals that stop the server, with the exit status each ends the program with (128 + its
 * number, as shells report it; `train` exits the same way): Ctrl-C everywhere, SIGTERM where it
 * exists (Windows has SIGBREAK instead).
 */
const STOP_SIGNALS: readonly [Deno.Signal, number][] = Deno.build.os === "windows"
  ? [["SIGINT", 130], ["SIGBREAK", 149]]
  : [["SIGINT", 130], ["SIGTERM", 143]];

/** The signal that stopped the server, and whether the requests in flight were all answered. */
interface Stopped {
  signal: Deno.Signal;
  exitCode: number;
  /** Requests in flight when the signal came. */
  pending: number;
  /** Requests still unanswered at the end of `STOP_GRACE_MS` (0: all answered). */
  unanswered: number;
}

/**
 * Serves until the first of `STOP_SIGNALS`, then answers the requests in flight, new ones with
 * 503 (`Handler.drain`), and only then stops listening (`Deno.HttpServer.shutdown`, which
 * would cut the bodies still arriving; aborting `Deno.serve`'s `signal` drops every request in
 * flight), all within `STOP_GRACE_MS`. The listeners go at the first signal, so a second one
 * ends the program at once (Deno restores the default action).
 */
async function serveUntilSignal(
  server: Deno.HttpServer<Deno.NetAddr>,
  handler: Handler,
): Promise<Stopped> {
  const caught = Promise.withResolvers<{ signal: Deno.Signal; exitCode: number }>();
  const listeners: [Deno.Signal, () => void][] = [];
  const remove = () => {
    for (const [name, listener] of listeners.splice(0)) Deno.removeSignalListener(name, listener);
  };
  for (const [signal, exitCode] of STOP_SIGNALS) {
    const listener = () => {
      remove();
      caught.resolve({ signal, exitCode });
    };
    Deno.addSignalListener(signal, listener);
    listeners.push([signal, listener]);
  }
  try {
    // `finished` settles only after a shutdown, which only a signal starts.
    const { signal, exitCode } = await caught.promise;
    const pending = handler.inFlight();
    const seconds = STOP_GRACE_MS / 1000;
    console.error(
      `Stopping (${signal}): answering the ${plural(pending, "request")} in flight, new ` +
        `ones with 503, for at most ${seconds} s (Ctrl-C again stops at once)`,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, STOP_GRACE_MS));
    try {
      await Promise.race([handler.drain().then(() => server.shutdown()), late]);
    } finally {
      clearTimeout(timer);
    }
    return { signal, exitCode, pending, unanswered: handler.inFlight() };
  } finally {
    remove();
  }
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** `mnist serve`: the drawing page and `POST /api/predict`, until SIGINT or SIGTERM. */
export const serveCommand: Command = {
  name: "serve",
  summary: "serve a page to draw digits on, and a prediction API",
  help: HELP,
  async run(args) {
    const { values: v } = parseCommandArgs("serve", args, {
      options: {
        port: { type: "string" },
        host: { type: "string" },
        model: { type: "string" },
        arch: { type: "string" },
      },
    });
    const device = choiceOption("device", v.device, { choices: DEVICE_CHOICES, fallback: "auto" });
    const port = intOption("port", v.port, { fallback: 8000, min: 0, max: 65535 });
    const host = v.host ?? "127.0.0.1";
    if (host.trim() === "") throw new UserError("--host must not be empty");
    const dataDir = resolveDataDir(v["data-dir"]);
    const path = await modelPath(v.model, dataDir);
    const checkpoint = await loadCheckpoint(path, { arch: archOption(v.arch) });
    checkDigitInput(checkpoint, path);
    const { dataset } = checkpoint.meta;
    checkClasses(checkpoint, path, {
      dataset: dataset in DATASETS ? dataset as DatasetName : "mnist",
    });

    mark("serve: model read");
    const gpu = await acquireGpu(device);
    mark("serve: device");
    const classifier = new Classifier(gpu, checkpoint, { batch: 64 });
    mark("serve: network built");
    // Made once the port is known (--port 0), before any request can arrive.
    let handler: Handler | undefined;
    let stopped: Stopped | undefined;
    try {
      // One pass before listening: a CPU adapter compiles each kernel's code at its first dispatch
      // (llvmpipe: 4 s for these when its shader cache is cold), which would otherwise fall on the
      // first request (docs/memory.md).
      await classifier.classify([new Float32Array(classifier.pixels)]);
      mark("serve: first pass run");
      const server = listen(host, port, (request, info) => handler!(request, info));
      handler = createHandler({
        classifier,
        model: sharedModel(checkpoint),
        // Images are prepared as the model's dataset was made: digits, or garments.
        dataset,
        host,
        port: server.addr.port,
      });
      await handler.warm();
      // The model on stderr, so that stdout's one line stays the address scripts wait for.
      console.error(modelLine(path, checkpoint));
      console.log(`Listening on http://${authority(host, server.addr.port)}/`);
      mark("serve: listening");
      stopped = await serveUntilSignal(server, handler);
    } finally {
      // Requests left unanswered would fail on a destroyed device and say so: the program
      // ends now anyway.
      if (!stopped?.unanswered) {
        handler?.close();
        classifier.destroy();
        gpu.device.destroy();
      }
    }
    const { signal, exitCode, pending, unanswered } = stopped;
    throw new UserError(
      unanswered === 0
        ? `Stopped by ${signal}` + (pending === 0 ? "" : `: ${plural(pending, "request")} in ` +
          `flight answered first`)
        : `Stopped by ${signal}: ${plural(unanswered, "request")} of ${pending} in flight ` +
          `still unanswered after ${STOP_GRACE_MS / 1000} s (a body still arriving, or a ` +
          `client not reading its answer), dropped`,
      { exitCode },
    );
  },
};
