/**
 * An image file → the 28×28 input of a model, made the way the model's dataset was made: a
 * handwritten digit for MNIST's models (`toMnist`: ink box, 20 px, centre of mass), a garment
 * for Fashion-MNIST's (`toFashion`: trimmed, longer side 28 px, centred, negated). `mnist
 * predict`, `POST /api/predict` and the serve page's engine all prepare images here.
 */
import type { DecodedImage } from "./decode.ts";
import { type FashionImage, toFashion } from "./fashion.ts";
import { type MnistDigit, toMnist } from "./preprocess.ts";

/** What a model's input needs of a prepared image, and what is shown of it. */
export interface ModelInput {
  /** (28, 28) values in [0, 1], light on black: the network's input. */
  pixels: Float32Array;
  /** (28, 28) the same as bytes 0..255, for display (`--show`, `--save-input`, the page). */
  ink: Uint8Array;
}

/**
 * `image` prepared for a model trained on `dataset` (a checkpoint's `dataset`: "fashion" gets
 * `toFashion`, anything else `toMnist`). Throws `toMnist`'s or `toFashion`'s `UserError`s,
 * naming `name`.
 */
export function toModelInput(
  image: DecodedImage,
  options: { name: string; dataset: string },
): MnistDigit | FashionImage {
  return options.dataset === "fashion"
    ? toFashion(image, options.name)
    : toMnist(image, options.name);
}
