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

const LIMIT = `${MAX_BODY_BYTES / 1024 / 1024} MiB`;
const SIDE = `${MAX_IMAGE_PIXELS / 1e6} megapixels (${MAX_IMAGE_SIDE} a side)`;
const DEADLINE = `${BODY_TIMEOUT_MS / 1000} s`;

const HELP = `Usage: mnist serve [--port N] [--host ADDR] [--model FILE|NAME] [options]

Serves a page to draw digits on with the mouse, a pen or a finger (garments, named as
Fashion-MNIST names them, for a model trained with --dataset fashion): the network answers as
you draw, showing every class's probability and the 28×28 image it saw. Where the browser has
WebGPU, the page runs this program's own network and preprocessing on the served model
(GET /api/model, safetensors) in the browser, where it can also be taught a few digits (SGD
steps in the tab; the taught model can be downloaded); elsewhere the server classifies, and the
page says which. The page is built into the program and works offline. Stop the server with
Ctrl-C.

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
  signal: AbortSignal,
  handler: (request: Request) => Promise<Response>,
): Deno.HttpServer<Deno.NetAddr> {
  const where = authority(host, port);
  try {
    return Deno.serve({ hostname: host, port, signal, onListen: () => {} }, handler);
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

/** The signals that stop the server: Ctrl-C everywhere, plus SIGTERM where it exists. */
const STOP_SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGINT", "SIGTERM"];

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
    try {
      // One pass before listening: a CPU adapter compiles each kernel's code at its first dispatch
      // (llvmpipe: 4 s for these when its shader cache is cold), which would otherwise fall on the
      // first request (docs/memory.md).
      await classifier.classify([new Float32Array(classifier.pixels)]);
      mark("serve: first pass run");
      const stopping = new AbortController();
      const server = listen(host, port, stopping.signal, (request) => handler!(request));
      handler = createHandler({
        classifier,
        model: sharedModel(checkpoint),
        // Images are prepared as the model's dataset was made: digits, or garments.
        dataset,
        host,
        port: server.addr.port,
      });
      // Aborting shuts the server down gracefully: requests in flight are answered first.
      const stop = () => stopping.abort();
      for (const signal of STOP_SIGNALS) Deno.addSignalListener(signal, stop);
      try {
        // The model on stderr, so that stdout's one line stays the address scripts wait for.
        console.error(modelLine(path, checkpoint));
        console.log(`Listening on http://${authority(host, server.addr.port)}/`);
        mark("serve: listening");
        await server.finished;
      } finally {
        for (const signal of STOP_SIGNALS) Deno.removeSignalListener(signal, stop);
      }
    } finally {
      handler?.close();
      classifier.destroy();
      gpu.device.destroy();
    }
  },
};
