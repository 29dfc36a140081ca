/**
 * What the server's `POST /api/predict` and the page's in-browser engine (`engine.ts`) both
 * make of the network's probabilities and of an image's refusal, so that the two paths name
 * the same digit and refuse a drawing in the same words.
 * @module
 */
import type { UserError } from "../errors.ts";

/** The index of the largest probability; the first of equal ones. `probabilities`: (N). */
export function topClass(probabilities: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < probabilities.length; k++) {
    if (probabilities[k]! > probabilities[best]!) best = k;
  }
  return best;
}

/**
 * The name the server and the engine give an image for `src/image`'s messages, which name
 * their file (`Image "x.png" has no ink ...`); `refusalOf` words it away, since a request
 * body or a drawing has no file name.
 */
export const IMAGE_NAME = "request body";

/**
 * Why an image is not classified, by kind, for the page to say in words about the drawing:
 * - `blank`: no ink (a digit model), nothing that stands out (a Fashion-MNIST model);
 * - `too-small`: too little ink to be a digit (a speck, a dot: a tap on the page);
 * - `several`: digits side by side, not one;
 * - `bad-image`: not a PNG or JPEG this server reads (corrupt, too large, unsupported).
 */
export type RefusalKind = "blank" | "too-small" | "several" | "bad-image";

/** An image's refusal: `POST /api/predict`'s 400 JSON, and the engine's `{ ok: false }`. */
export interface Refusal {
  /** The kind, which the page words for a person drawing. */
  refusal: RefusalKind;
  /** The one line for `curl` users, naming no file: "The image has too little ink ...". */
  error: string;
  /** What to do next, where the refusal says. */
  hint?: string;
}

/** Kinds by the first words of `src/image`'s refusals after the image's name; else `bad-image`. */
const KINDS: [RegExp, RefusalKind][] = [
  [/^The image has (no ink|nothing) to classify\b/, "blank"],
  [/^The image has too little ink\b/, "too-small"],
  [/^The image holds \d+ \w+ side by side\b/, "several"],
];

/**
 * `error` (a `UserError` thrown by `src/image` for an image named `IMAGE_NAME`) as a refusal:
 * its message with `Image "request body"` written "The image" (and `image "request body"`,
 * "the image"), its kind, its hint.
 */
export function refusalOf(error: UserError): Refusal {
  const message = error.message
    .replaceAll(`Image "${IMAGE_NAME}"`, "The image")
    .replaceAll(`image "${IMAGE_NAME}"`, "the image");
  const refusal = KINDS.find(([pattern]) => pattern.test(message))?.[1] ?? "bad-image";
  return { refusal, error: message, ...(error.hint === undefined ? {} : { hint: error.hint }) };
}
