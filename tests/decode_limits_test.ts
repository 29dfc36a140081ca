/**
 * Hostile images that are valid enough to decode but would cost minutes of CPU or gigabytes of
 * memory: each is refused (or decoded within bounds) from what the file says about itself.
 */
import assert from "node:assert/strict";
import { decodeImage, MAX_JPEG_SCANS, readHeader } from "../src/image/decode.ts";
import { UserError } from "../src/errors.ts";

function assertUserError(fn: () => unknown, pattern: RegExp): UserError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof UserError, `expected a UserError, got ${error}`);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "the message is one line");
    return error;
  }
  assert.fail(`expected a UserError matching ${pattern}`);
}

// ---------------------------------------------------------------------------------------------
// JPEG scans

/** A JPEG marker segment: 0xFF, `marker`, a 16-bit length (itself included), `payload`. */
function segment(marker: number, payload: number[]): number[] {
  const length = payload.length + 2;
  return [0xff, marker, length >> 8, length & 0xff, ...payload];
}

/** '0'/'1' bits → bytes, padded with 1s, a 0x00 stuffed after every 0xFF. */
function bitBytes(bits: string): number[] {
  const padded = bits + "1".repeat((8 - (bits.length % 8)) % 8);
  const out: number[] = [];
  for (let i = 0; i < padded.length; i += 8) {
    const byte = parseInt(padded.slice(i, i + 8), 2);
    out.push(byte);
    if (byte === 0xff) out.push(0);
  }
  return out;
}

/**
 * A grey `side`×`side` progressive JPEG (side a multiple of 8, at most 256): one DC scan, then
 * `acScans` copies of one AC scan that codes every block as empty (an end-of-band run). Each
 * scan is a few bytes, and each makes the decoder walk every block again: the "scan bomb".
 */
function progressiveJpeg(side: number, acScans: number): Uint8Array {
  const blocks = (side / 8) ** 2;
  const bytes = [0xff, 0xd8];
  bytes.push(...segment(0xdb, [0, ...new Array(64).fill(1)]));
  bytes.push(...segment(0xc2, [8, 0, side, 0, side, 1, 1, 0x11, 0]));
  // DC table 0: one code '0' → category 0; AC table 0: one code '0' → EOB run of 2^14.
  bytes.push(...segment(0xc4, [0x00, 1, ...new Array(15).fill(0), 0x00]));
  bytes.push(...segment(0xc4, [0x10, 1, ...new Array(15).fill(0), 0xe0]));
  bytes.push(...segment(0xda, [1, 1, 0x00, 0, 0, 0x00]), ...bitBytes("0".repeat(blocks)));
  const ac = [...segment(0xda, [1, 1, 0x00, 1, 63, 0x00]), ...bitBytes("0" + "1".repeat(14))];
  for (let i = 0; i < acScans; i++) bytes.push(...ac);
  bytes.push(0xff, 0xd9);
  return Uint8Array.from(bytes);
}

Deno.test("decodeImage() decodes a progressive JPEG of MAX_JPEG_SCANS scans", () => {
  const image = decodeImage(progressiveJpeg(64, MAX_JPEG_SCANS - 1), "p.jpg");
  assert.deepEqual([image.width, image.height, image.channels], [64, 64, 1]);
  // Every coefficient is 0: mid-grey.
  assert.ok(image.data.every((v) => v === 128), `got ${image.data.slice(0, 8)}`);
});

Deno.test("readHeader() refuses a JPEG of more scans than MAX_JPEG_SCANS before decoding", () => {
  const bomb = progressiveJpeg(64, MAX_JPEG_SCANS);
  const error = assertUserError(
    () => readHeader(bomb, "bomb.jpg"),
    /^Cannot read image "bomb\.jpg": it is a JPEG of more than 100 scans, which is not supported \(a progressive JPEG has about 10\)$/,
  );
  assert.match(error.hint ?? "", /baseline JPEG or as PNG/);
  assertUserError(() => decodeImage(bomb, "bomb.jpg"), /more than 100 scans/);
  // 20,000 scans of a 256×256 image: minutes of decoding, refused from the header.
  assertUserError(() => decodeImage(progressiveJpeg(256, 20_000), "big.jpg"), /100 scans/);
});

Deno.test("readHeader() counts scans past fill bytes, restart markers and stuffed 0xFF", () => {
  // A scan whose entropy-coded data holds a stuffed 0xFF00 and an RST0 marker, and fill 0xFFs
  // before the next marker: none of them is a scan.
  const jpeg = progressiveJpeg(64, 3);
  const at = jpeg.length - 2; // before EOI
  const extra = [0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, 0xff, 0xff, 0xff];
  const withExtra = Uint8Array.from([...jpeg.subarray(0, at), ...extra, 0xff, 0xd9]);
  assert.equal(readHeader(withExtra, "x.jpg").width, 64);
  // 101 scans behind a large COM segment are still counted.
  const comment = segment(0xfe, new Array(60_000).fill(0xff));
  const bomb = progressiveJpeg(64, MAX_JPEG_SCANS);
  const sof = bomb.indexOf(0xc2) - 1;
  const hidden = Uint8Array.from([...bomb.subarray(0, sof), ...comment, ...bomb.subarray(sof)]);
  assertUserError(() => readHeader(hidden, "c.jpg"), /more than 100 scans/);
});
