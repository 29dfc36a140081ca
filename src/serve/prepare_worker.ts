/**
 * A worker thread of `PreparePool`: says `READY` once loaded, then receives a `PrepareJob` (one
 * PNG or JPEG body, moved here) and answers a `PrepareResult`, one image at a time.
 */
import { BadImage, prepareImage, type PrepareJob, type PrepareResult, READY } from "./prepare.ts";

// A worker's global scope, which the project's `deno.window` types do not describe.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<PrepareJob>) => void) | null;
  postMessage(message: PrepareResult | typeof READY): void;
};

scope.onmessage = ({ data: { bytes, limits, dataset } }) => {
  let result: PrepareResult;
  try {
    // 28×28 each: copied, not worth moving.
    const { pixels, ink } = prepareImage(bytes, { ...limits, dataset });
    result = { ok: true, pixels, ink };
  } catch (error) {
    if (error instanceof BadImage) {
      const { message, refusal, hint } = error;
      result = { ok: false, bad: true, message, refusal, ...(hint === undefined ? {} : { hint }) };
    } else {
      result = error instanceof Error
        ? { ok: false, bad: false, message: error.message, stack: error.stack }
        : { ok: false, bad: false, message: String(error) };
    }
  }
  scope.postMessage(result);
};

// Loaded: images may come.
scope.postMessage(READY);
