/**
 * A small seeded fuzz suite for the image path of `mnist predict` and `mnist serve`: random
 * mutations of valid PNG and JPEG files go through `decodeImage` and `toMnist`, and each must
 * either give a digit or fail with one `UserError` line in plain words. A `TypeError`,
 * `RangeError`, a multi-line message, a decoder's internals in the message ("Invalid typed array
 * length: 1690") or a hang is a bug. The cases are bounded and deterministic (seeded, or every
 * offset in turn), so a failure names the case that reproduces it.
 */
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import jpeg from "jpeg-js";
import { UserError } from "../src/errors.ts";
import { encode as encodeFastPng } from "fast-png";
import { decodeImage } from "../src/image/decode.ts";
import { encodePng } from "../src/image/png.ts";
import { toMnist } from "../src/image/preprocess.ts";
import { Rng } from "../src/random.ts";

/** Mutated files per base image. */
const CASES = 150;

/**
 * Words that give away a decoder's or the runtime's internals, never a user's file: what
 * JavaScript says of a read past a buffer, and what fast-png, zlib and jpeg-js say of bytes they
 * did not expect. Compared in lower case.
 */
const TELL_TALES = [
  "typed array",
  "undefined",
  "offset",
  "cannot read properties",
  "cannot set properties",
  "rangeerror",
  "typeerror",
  "null",
  "nan",
  "bounds",
  "is not a function",
  "invalid",
  "unsupported",
  "unexpected marker",
  "jpeg marker",
  "huffman",
  "dqt",
  "got ",
  "\\u0",
];

/**
 * Asserts that `error` is a `UserError` of one line whose message and hint use none of
 * `TELL_TALES`, and that a "truncated or corrupt" message says why in brackets, with a hint.
 */
function assertPlain(error: unknown, what: string): void {
  const text = `${what}: ${error instanceof Error ? error.stack : error}`;
  assert.ok(error instanceof UserError, `not a UserError: ${text}`);
  assert.ok(!error.message.includes("\n"), `one line: ${text}`);
  const words = `${error.message} ${error.hint ?? ""}`.toLowerCase();
  const tell = TELL_TALES.find((t) => words.includes(t));
  assert.equal(tell, undefined, `"${tell}" gives away a decoder's internals: ${text}`);
  if (error.message.includes("truncated or corrupt")) {
    assert.match(error.message, /the (PNG|JPEG) file is truncated or corrupt \([a-z].+\)$/, text);
    assert.ok(error.hint, `a hint: ${text}`);
  }
}

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
        assertPlain(error, `${name}, seed ${seed}`);
        outcomes.refused++;
      }
      // A small file decodes in milliseconds; a second means something loops.
      assert.ok(performance.now() - started < 1000, `${name}, seed ${seed}: took too long`);
    }
  }
  // Both outcomes occur, so the mutations neither all break the files nor all miss.
  assert.ok(outcomes.digit > 0 && outcomes.refused > 0, JSON.stringify(outcomes));
});

/** More kinds of PNG, written by fast-png: 16-bit RGBA interlaced, and a palette with alpha. */
function morePngs(): [string, Uint8Array][] {
  const size = 24;
  const ink = ring(size);
  const rgba16 = new Uint16Array(size * size * 4);
  for (let p = 0; p < size * size; p++) {
    rgba16.set([ink[p]! * 257, ink[p]! * 257, 65535 - ink[p]! * 200, 65535], p * 4);
  }
  const indices = Uint8Array.from(ink, (v) => (v < 128 ? 1 : 0));
  return [
    [
      "rgba16-adam7.png",
      encodeFastPng({ width: size, height: size, data: rgba16, depth: 16, channels: 4 }, {
        interlace: "Adam7",
      }),
    ],
    [
      "palette.png",
      encodeFastPng({
        width: size,
        height: size,
        data: indices,
        depth: 8,
        channels: 1,
        palette: [[250, 250, 240, 255], [10, 10, 60, 255]],
      }),
    ],
  ];
}

Deno.test("decodeImage() explains every cut and every damaged byte of PNGs and JPEGs in plain words", async () => {
  const counts = { cases: 0, refused: 0 };
  for (const [name, bytes] of [...await baseImages(), ...morePngs()]) {
    const png = name.endsWith(".png");
    // The unmutated file decodes: each case below damages something that was valid.
    decodeImage(bytes, name);
    const cases: [string, Uint8Array][] = [];
    for (let n = 0; n < bytes.length; n++) cases.push([`cut at ${n}`, bytes.slice(0, n)]);
    for (let i = 0; i < bytes.length; i++) {
      // Fewer values for the JPEG, which is slower to decode than the small PNGs.
      const values = png ? [0x00, 0xff, bytes[i]! ^ 0x01, bytes[i]! ^ 0x80] : [0xff, bytes[i]! ^ 1];
      for (const value of values) {
        const damaged = bytes.slice();
        damaged[i] = value;
        cases.push([`byte ${i} = ${value}`, damaged]);
        // The same damage behind valid CRCs, so that it reaches fast-png.
        if (png) {
          const behind = damaged.slice();
          fixPngCrcs(behind);
          cases.push([`byte ${i} = ${value}, CRCs fixed`, behind]);
        }
      }
    }
    for (const [what, mutated] of cases) {
      counts.cases++;
      try {
        decodeImage(mutated, name);
      } catch (error) {
        assertPlain(error, `${name}, ${what}`);
        counts.refused++;
      }
    }
  }
  // Most cases are refused (every cut of a PNG is), so the assertions above did run.
  assert.ok(counts.refused > counts.cases / 2, JSON.stringify(counts));
});
