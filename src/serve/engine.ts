/**
 * The engine the drawing page runs in the browser: the server's own forward pass and
 * preprocessing, bundled for the browser (`deno task bundle` writes `engine.bundle.js`, which
 * the server embeds and serves at `GET /engine.js`). Nothing here is a copy: the checkpoint is
 * read by `decodeCheckpoint`, the drawing is made into the model's 28×28 input by
 * `toModelInput` (a digit, or a garment for a Fashion-MNIST model, as `POST /api/predict` and
 * `mnist predict` make it), and the network is `Classifier`, on the
 * page's WebGPU adapter (`acquireGpu`), with the kernels/*.wgsl modules Deno runs.
 *
 * The page calls {@link startEngine} once; where it throws (no WebGPU, no adapter, a kernel
 * the browser's compiler refuses, a model it cannot read), the page classifies through
 * `POST /api/predict` instead.
 * @module
 */
import { UserError } from "../errors.ts";
import { acquireGpu } from "../gpu/device.ts";
import type { DecodedImage } from "../image/decode.ts";
import { toModelInput } from "../image/input.ts";
import { MNIST_SIDE } from "../image/preprocess.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../nn/checkpoint.ts";
import { Classifier } from "../nn/classifier.ts";
import { IMAGE_NAME, type RefusalKind, refusalOf, topClass } from "./answer.ts";
import { type Sample, TUNE_BATCH, TUNE_LR, Tuner } from "./tune.ts";

/** Pixels as a canvas's `ImageData` holds them: (height, width, 4) RGBA bytes, row-major. */
export interface RgbaImage {
  /** Pixels per row. */
  width: number;
  /** Rows. */
  height: number;
  /** (height, width, 4) samples: red, green, blue, alpha (not premultiplied). */
  data: Uint8ClampedArray | Uint8Array;
}

/** What {@link BrowserEngine.classify} answers: `POST /api/predict`'s fields, or why not. */
export type BrowserAnswer =
  | {
    ok: true;
    /** The most probable class (the first, on a tie, as the server picks it). */
    digit: number;
    /** Its probability. */
    probability: number;
    /** Every class's probability, in class order. */
    probabilities: number[];
    /** (28, 28) the image the network saw, bytes 0..255, light ink on black. */
    ink: Uint8Array;
  }
  | Refused;

/** A drawing not classified: what the server's 400 for its PNG says (`refusalOf`). */
export interface Refused {
  /** Not classified. */
  ok: false;
  /** The kind (no ink, too little...), which the page words for a person drawing. */
  refusal: RefusalKind;
  /** The line the server's 400 carries as `error`, naming no file. */
  message: string;
  /** What to do next, as the 400's `hint`, where there is one. */
  hint?: string;
}

/** SGD steps each {@link BrowserEngine.teach} runs. */
export const TEACH_STEPS = 5;

/** What {@link BrowserEngine.teach} did. */
export interface Taught {
  /** It was taught. */
  ok: true;
  /** Digits taught so far (the last `batch` of them are trained on). */
  samples: number;
  /** The label the drawing replaced had (`replace`), if any: one label per drawing. */
  replaced?: number;
  /** Samples per step at most. */
  batch: number;
  /** SGD steps this call ran. */
  steps: number;
  /** SGD's learning rate. */
  lr: number;
  /** The mean cross-entropy on the taught digits at the last step, before its update. */
  loss: number;
}

/** The network on the page's WebGPU device. */
export interface BrowserEngine {
  /** The adapter's name: its description, else vendor and architecture. */
  adapter: string;
  /** Whether the adapter is a software one (SwiftShader, llvmpipe). */
  isCpu: boolean;
  /** The model's name, as `mnist serve` prints it ("mlp", "lenet"...). */
  model: string;
  /**
   * Preprocesses `image` as the server does and classifies it. A drawing that is not a digit
   * resolves `{ ok: false }`; a failure of WebGPU rejects (the page then asks the server).
   */
  classify(image: RgbaImage): Promise<BrowserAnswer>;
  /**
   * Teaches the network in the page that `image` is a `label`: adds it to the digits taught so
   * far and runs {@link TEACH_STEPS} SGD steps on them (`tune.ts`). With `options.replace`,
   * the drawing taught last (the same drawing, taught again, or with another label) is
   * replaced by this one, not kept beside it: one label per drawing. From then on `classify`
   * answers with the taught weights; the server's model is unchanged. Resolves `{ ok: false }`
   * when the drawing is not a digit, as `classify` does.
   */
  teach(
    image: RgbaImage,
    label: number,
    options?: { replace?: boolean },
  ): Promise<Taught | Refused>;
  /**
   * The weights as they are now (taught, or the server's) as a safetensors checkpoint that
   * `mnist eval`, `predict` and `serve` read: the server's model description, epoch and
   * dataset, no accuracy (the weights changed), no optimizer state.
   */
  download(): Promise<Uint8Array>;
  /** Frees the GPU buffers and the device. */
  destroy(): void;
}

/**
 * Fetches the server's model (`GET modelUrl`: safetensors), opens a WebGPU device and builds
 * a forward-only network for one image, then runs it once on a blank image so that every
 * pipeline is compiled before the first drawing. Throws an `Error` saying in one line why the
 * browser cannot classify: no WebGPU, no adapter, a model it cannot read or run.
 */
export async function startEngine(modelUrl: string | URL): Promise<BrowserEngine> {
  const response = await fetch(modelUrl);
  if (!response.ok) throw new Error(`GET ${modelUrl}: ${response.status} ${response.statusText}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const checkpoint = decodeCheckpoint(bytes, "the server's model");
  const input = checkpoint.meta.model.input;
  if (input.join("×") !== `1×${MNIST_SIDE}×${MNIST_SIDE}`) {
    throw new Error(`The server's model takes ${input.join("×")} inputs, not 1×28×28 images`);
  }
  const gpu = await acquireGpu("auto");
  let classifier: Classifier | undefined;
  try {
    classifier = new Classifier(gpu, checkpoint, { batch: 1 });
    const [blank] = await classifier.classify([new Float32Array(classifier.pixels)]);
    const sum = blank!.reduce((s, p) => s + p, 0);
    if (!(Math.abs(sum - 1) < 1e-3)) {
      throw new Error(`The network's probabilities for a blank image add up to ${sum}, not 1`);
    }
  } catch (error) {
    classifier?.destroy();
    gpu.device.destroy();
    throw error;
  }
  const network = classifier;
  const taught: Sample[] = [];
  let tuner: Tuner | undefined;
  const prepare = (image: RgbaImage): ReturnType<typeof toModelInput> | Refused => {
    const decoded: DecodedImage = {
      width: image.width,
      height: image.height,
      channels: 4,
      data: new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength),
    };
    try {
      return toModelInput(decoded, { name: IMAGE_NAME, dataset: checkpoint.meta.dataset });
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      const { refusal, error: message, hint } = refusalOf(error);
      return { ok: false, refusal, message, ...(hint === undefined ? {} : { hint }) };
    }
  };
  return {
    adapter: gpu.name,
    isCpu: gpu.isCpu,
    model: checkpoint.meta.model.name,
    async classify(image) {
      const digit = prepare(image);
      if ("refusal" in digit) return digit;
      const probs = tuner
        ? await tuner.classify(digit.pixels)
        : (await network.classify([digit.pixels]))[0];
      const probabilities = Array.from(probs!);
      const top = topClass(probabilities);
      return {
        ok: true,
        digit: top,
        probability: probabilities[top]!,
        probabilities,
        ink: digit.ink,
      };
    },
    async teach(image, label, { replace = false } = {}) {
      const classes = checkpoint.meta.model.classes;
      if (!Number.isInteger(label) || label < 0 || label >= classes) {
        throw new Error(`A label must be an integer from 0 to ${classes - 1}, got ${label}`);
      }
      const digit = prepare(image);
      if ("refusal" in digit) return digit;
      tuner ??= new Tuner(gpu, checkpoint, { batch: TUNE_BATCH, lr: TUNE_LR });
      const replaced = replace ? taught.pop()?.label : undefined;
      taught.push({ pixels: digit.pixels, label });
      const loss = await tuner.train(taught, TEACH_STEPS);
      return {
        ok: true,
        samples: taught.length,
        ...(replaced === undefined ? {} : { replaced }),
        batch: tuner.batch,
        steps: TEACH_STEPS,
        lr: tuner.lr,
        loss,
      };
    },
    async download() {
      const { model, epoch, dataset } = checkpoint.meta;
      return encodeCheckpoint({
        meta: { model, epoch, dataset },
        params: tuner ? await tuner.weights() : checkpoint.params,
        momentum: new Map(),
      });
    },
    destroy() {
      tuner?.destroy();
      network.destroy();
      gpu.device.destroy();
    },
  };
}
