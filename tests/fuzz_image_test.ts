/**
 * A small seeded fuzz suite for the image path of `mnist predict` and `mnist serve`: random
 * mutations of valid PNG and JPEG files go through `decodeImage` and `toMnist`, and each must
 * either give a digit or fail with one `UserError` line. A `TypeError`, `RangeError`, a
 * multi-line message or a hang is a bug. The cases are bounded and deterministic (seeded), so a
 * failure names the seed that reproduces it.
 */
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import jpeg from "jpeg-js";
import { UserError } from "../src/errors.ts";
import { decodeImage } from "../src/image/decode.ts";
import { encodePng } from "../src/image/png.ts";
import { toMnist } from "../src/image/preprocess.ts";
import { Rng } from "../src/random.ts";

/** Mutated files per base image. */
const CASES = 150;

/** A (size, size) grey digit: a ring, dark ink on white paper. */
function ring(size: number): Uint8Array {
  const pixels = new Uint8Array(size * size).fill(235);
  const c = (size - 1) / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const r = Math.hypot((x - c) / 0.7, y - c);
      if (Math.abs(r - size * 0.35) < size * 0.06) pixels[y * size + x] = 20;
    }
  }
  return pixels;
}

async function baseImages(): Promise<[string, Uint8Array][]> {
  const grey = ring(40);
  const rgba = new Uint8Array(40 * 40 * 4);
  for (let p = 0; p < 40 * 40; p++) {
    // A transparent canvas with opaque black strokes, as the drawing page exports.
    rgba.set([0, 0, 0, grey[p]! < 128 ? 255 : 0], p * 4);
  }
  const rgb = new Uint8Array(48 * 48 * 4);
  const big = ring(48);
  for (let p = 0; p < 48 * 48; p++) rgb.set([big[p]!, big[p]!, big[p]!, 255], p * 4);
  return [
    ["grey.png", await encodePng({ width: 40, height: 40, channels: 1, pixels: grey })],
    ["drawing.png", await encodePng({ width: 40, height: 40, channels: 4, pixels: rgba })],
    ["photo.jpg", new Uint8Array(jpeg.encode({ width: 48, height: 48, data: rgb }, 85).data)],
  ];
}

/** Rewrites every PNG chunk's CRC, so a mutation reaches the decoder instead of the CRC check. */
function fixPngCrcs(bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at + 12 <= bytes.length;) {
    const length = view.getUint32(at);
    if (length > bytes.length - at - 12) return;
    view.setUint32(at + 8 + length, crc32(bytes.subarray(at + 4, at + 8 + length)));
    at += 12 + length;
  }
}

/** One random mutation of `bytes`: flips, a cut, an insertion, a large header number. */
function mutate(bytes: Uint8Array, rng: Rng, png: boolean): Uint8Array {
  const at = (n: number) => Math.floor(rng.uniform(0, n));
  let out = bytes.slice();
  switch (at(5)) {
    case 0: // a few random bytes
      for (let k = 1 + at(8); k > 0; k--) out[at(out.length)] = at(256);
      break;
    case 1: // cut short
      out = out.slice(0, at(out.length));
      break;
    case 2: { // random bytes inserted
      const i = at(out.length);
      const extra = Uint8Array.from({ length: 1 + at(64) }, () => at(256));
      out = Uint8Array.from([...out.subarray(0, i), ...extra, ...out.subarray(i)]);
      break;
    }
    case 3: { // a large 16- or 32-bit number in the header, where sizes and lengths live
      const i = at(Math.min(out.length - 4, 200));
      const view = new DataView(out.buffer);
      if (rng.uniform(0, 1) < 0.5) view.setUint32(i, [0xffffffff, 0x7fffffff, 65535, 0][at(4)]!);
      else view.setUint16(i, [0xffff, 0, 1, 9000][at(4)]!);
      break;
    }
    default: // a run of zeros or ones
      out.fill(at(2) ? 0xff : 0, at(out.length), at(out.length));
  }
  if (png && rng.uniform(0, 1) < 0.7) fixPngCrcs(out);
  return out;
}

Deno.test("decodeImage() and toMnist() give a digit or one UserError line for mutated files", async () => {
  const outcomes = { digit: 0, refused: 0 };
  for (const [name, bytes] of await baseImages()) {
    // The unmutated file is a digit: the cases below start from something valid.
    assert.ok(toMnist(decodeImage(bytes, name), name));
    for (let seed = 0; seed < CASES; seed++) {
      const rng = new Rng(seed);
      const mutated = mutate(bytes, rng, name.endsWith(".png"));
      const started = performance.now();
      try {
        toMnist(decodeImage(mutated, name), name);
        outcomes.digit++;
      } catch (error) {
        const what = `${name}, seed ${seed}: ${error instanceof Error ? error.stack : error}`;
        assert.ok(error instanceof UserError, `not a UserError: ${what}`);
        assert.ok(!error.message.includes("\n"), `one line: ${what}`);
        outcomes.refused++;
      }
      // A small file decodes in milliseconds; a second means something loops.
      assert.ok(performance.now() - started < 1000, `${name}, seed ${seed}: took too long`);
    }
  }
  // Both outcomes occur, so the mutations neither all break the files nor all miss.
  assert.ok(outcomes.digit > 0 && outcomes.refused > 0, JSON.stringify(outcomes));
});
