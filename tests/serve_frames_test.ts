/**
 * `POST /api/predict` on two digits side by side and on a digit with a box drawn round it, as
 * `mnist predict` answers them (src/image is shared): the pair is refused as `several`, in the
 * image's pixels, with what to do; the boxed digit is read, its box dropped. No GPU: the
 * classifier answers 3 to everything; what is asserted is the prepared input and the refusal.
 */
import assert from "node:assert/strict";
import { loadSplit } from "../src/data/dataset.ts";
import { decodeImage } from "../src/image/decode.ts";
import { createHandler, type ImageClassifier } from "../src/serve/server.ts";
import { correlation, encodeJpeg, framedPhoto, pairPhoto } from "./digit_photos.ts";
import { MNIST } from "./test_data.ts";

const THREES: ImageClassifier = {
  classify: (images) =>
    Promise.resolve(images.map(() => Float32Array.of(0, 0, 0, 1, 0, 0, 0, 0, 0, 0))),
};

function post(body: Uint8Array<ArrayBuffer>): Request {
  return new Request("http://127.0.0.1/api/predict", {
    method: "POST",
    body,
    headers: { "Content-Type": "image/jpeg" },
  });
}

Deno.test("POST /api/predict refuses two digits side by side as several, and reads a boxed digit", async () => {
  const split = await loadSplit(MNIST, { dataset: "mnist", split: "test" });
  const digit = (i: number) => split.images.slice(i * 784, (i + 1) * 784);
  // Workers too: a 1000×600 JPEG is prepared off the event loop.
  using handler = createHandler({ classifier: THREES, workers: 1 });
  const pair = encodeJpeg(pairPhoto(digit(1000), digit(6000)), 85).slice();
  const response = await handler(post(pair));
  const text = await response.text();
  assert.equal(response.status, 400, text);
  const body = JSON.parse(text);
  assert.equal(body.refusal, "several", text);
  assert.match(
    body.error,
    /^The image holds 2 digits side by side, not one \(\d+×\d+ pixels at \(\d+, \d+\), \d+×\d+ pixels at \(\d+, \d+\)\): crop it to the one digit to classify$/,
  );
  assert.match(body.hint, /crop each digit/);
  const boxed = encodeJpeg(framedPhoto(digit(1000), "box"), 85).slice();
  const read = await handler(post(boxed));
  assert.equal(read.status, 200, await read.clone().text());
  const answer = await read.json();
  assert.equal(answer.digit, 3);
  // The network saw the digit, not the digit in its box (0.42 at 898385d).
  const input = decodeImage(Uint8Array.fromBase64(answer.input.split(",")[1]!), "input");
  const r = correlation(input.data.filter((_, i) => i % input.channels === 0), digit(1000));
  assert.ok(r > 0.8, `correlation ${r.toFixed(3)}`);
});
