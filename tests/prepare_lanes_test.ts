/**
 * Where `mnist serve` prepares the page's drawings: in a worker of their own (`smallWorker`), so
 * that a burst of them does not hold the event loop (tester u12: 60 drawings held /api/health
 * for 4.3 s, and a Ctrl-C then dropped the requests not yet read); without workers, on the
 * event loop one at a time, with a turn of it between two.
 */
import assert from "node:assert/strict";
import { encodePng } from "../src/image/png.ts";
import { PreparePool, RECYCLE_PIXELS } from "../src/serve/prepare.ts";

/** A 280×280 drawing of a bar, as the page sends it: small, so never a large image's worker. */
function drawing(): Promise<Uint8Array> {
  const side = 280;
  const pixels = new Uint8Array(side * side);
  for (let y = 60; y < 220; y++) for (let x = 120; x < 160; x++) pixels[y * side + x] = 255;
  return encodePng({ width: side, height: side, channels: 1, pixels });
}

/** A worker module that cannot start: a pool tells when it asked for one. */
const MISSING = new URL("data:text/javascript,throw new Error('Module not found')");

Deno.test("with smallWorker, a drawing goes to a worker; a pool that has none prepares it inline", async () => {
  const png = await drawing();
  for (const smallWorker of [true, false]) {
    const failures: Error[] = [];
    const pool = new PreparePool({
      size: 1,
      smallWorker,
      onStartFailure: (error) => failures.push(error),
      workerUrl: MISSING,
    });
    try {
      const prepared = await pool.prepare(png);
      assert.equal(prepared.pixels.length, 28 * 28);
      assert.equal(failures.length, smallWorker ? 1 : 0, `smallWorker: ${smallWorker}`);
    } finally {
      pool.close();
    }
  }
});

Deno.test("the page's drawings are answered by a worker of their own, as on the event loop", async () => {
  const png = await drawing();
  const inline = new PreparePool({ size: 0 });
  const pool = new PreparePool({ size: 1, smallWorker: true });
  try {
    const expected = await inline.prepare(png);
    const answers = await Promise.all(Array.from({ length: 8 }, () => pool.prepare(png)));
    for (const answer of answers) assert.deepEqual(answer, expected);
  } finally {
    inline.close();
    pool.close();
  }
});

Deno.test("without workers, drawings are prepared one a turn of the event loop, not all at once", async () => {
  const png = await drawing();
  const pool = new PreparePool({ size: 0 });
  try {
    const order: string[] = [];
    const images = [1, 2, 3].map((i) => pool.prepare(png).then(() => order.push(`image ${i}`)));
    // Due after the first image's turn, before the second's: other requests get this turn.
    const other = new Promise((resolve) => setTimeout(resolve, 0)).then(() => order.push("other"));
    await Promise.all([...images, other]);
    assert.deepEqual(order, ["image 1", "other", "image 2", "image 3"]);
  } finally {
    pool.close();
  }
});

Deno.test("closing the pool rejects the drawings still waiting for the event loop", async () => {
  const png = await drawing();
  const pool = new PreparePool({ size: 0 });
  const waiting = [pool.prepare(png), pool.prepare(png)];
  pool.close();
  for (const image of waiting) await assert.rejects(image, /The image workers are closed/);
});

Deno.test("a worker that prepared an image over RECYCLE_PIXELS is stopped once idle, then replaced", async () => {
  // A 1500×1500 grey PNG of a bar (2.25 MP), and a 400×400 one (a worker's, but small).
  const bar = (side: number) => {
    const pixels = new Uint8Array(side * side);
    for (let y = side / 4; y < (side * 3) / 4; y++) {
      pixels.fill(255, y * side + side * 0.45, y * side + side * 0.55);
    }
    return encodePng({ width: side, height: side, channels: 1, pixels });
  };
  const [large, medium] = await Promise.all([bar(1500), bar(400)]);
  assert.ok(1500 * 1500 > RECYCLE_PIXELS && 400 * 400 < RECYCLE_PIXELS);
  const pool = new PreparePool({ size: 1 });
  try {
    await pool.prepare(medium);
    assert.equal(pool.running, 1, "a worker for an image over 320×320");
    await pool.prepare(medium);
    assert.equal(pool.running, 1, "kept after an image under RECYCLE_PIXELS");
    const [a, b] = await Promise.all([pool.prepare(large), pool.prepare(large)]);
    assert.deepEqual(a, b);
    assert.equal(pool.running, 0, "stopped once the last large image was prepared");
    assert.deepEqual(await pool.prepare(large), a, "a new worker answers as the old one did");
    // A large image, then a smaller one for the same worker: stopped once idle all the same.
    await Promise.all([pool.prepare(large), pool.prepare(medium)]);
    assert.equal(pool.running, 0, "stopped once idle, its last image under RECYCLE_PIXELS");
  } finally {
    pool.close();
  }
});
