/**
 * The grey-level filters against a brute-force oracle (the extreme over every pixel of the
 * clipped rectangle), on shapes chosen to break running extremes: one pixel, one row, windows
 * wider than the map, sides that are not a multiple of a block; and `mayHaveRule` against the
 * line map it stands in for; and `localContrast` asked twice for the same grey levels.
 */
import assert from "node:assert/strict";
import type { GreyMap } from "../src/image/grey_map.ts";
import { closing, dilateXY, opening, openingXY } from "../src/image/morphology.ts";
import { dropRules, mayHaveRule } from "../src/image/rules.ts";
import { localContrast } from "../src/image/contrast.ts";
import { Rng } from "../src/random.ts";

/** The extreme of `map` over the (2·rx+1) × (2·ry+1) rectangle, clipped, pixel by pixel. */
function bruteExtreme(map: GreyMap, rx: number, ry: number, max: boolean): Float32Array {
  const { width, height, data } = map;
  const out = new Float32Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let best = max ? -Infinity : Infinity;
      for (let v = Math.max(0, y - ry); v <= Math.min(height - 1, y + ry); v++) {
        for (let u = Math.max(0, x - rx); u <= Math.min(width - 1, x + rx); u++) {
          const value = data[v * width + u]!;
          best = max ? Math.max(best, value) : Math.min(best, value);
        }
      }
      out[y * width + x] = best;
    }
  }
  return out;
}

function randomMap(width: number, height: number, seed: number): GreyMap {
  const rng = new Rng(seed);
  const data = new Float32Array(width * height);
  // Coarse levels so that ties are common, as on flat paper.
  for (let p = 0; p < data.length; p++) data[p] = Math.floor(rng.next() * 8) / 7;
  return { width, height, data };
}

/** First mismatch of two maps, or undefined. */
function firstMismatch(a: Float32Array, b: Float32Array): string | undefined {
  for (let p = 0; p < a.length; p++) {
    if (!Object.is(a[p], b[p])) return `pixel ${p}: ${a[p]} vs ${b[p]}`;
  }
  return undefined;
}

const SHAPES: [number, number][] = [[1, 1], [1, 9], [9, 1], [7, 5], [23, 17], [40, 3], [33, 64]];
const RADII: [number, number][] = [
  [0, 1],
  [1, 0],
  [0, 3],
  [0, 4],
  [0, 5],
  [0, 9],
  [2, 0],
  [
    1,
    1,
  ],
  [3, 2],
  [2, 7],
  [6, 6],
  [30, 0],
  [0, 30],
  [40, 40],
];

Deno.test("dilateXY() and openingXY() match the brute-force extreme on awkward shapes", () => {
  let seed = 1;
  for (const [width, height] of SHAPES) {
    for (const [rx, ry] of RADII) {
      const map = randomMap(width, height, seed++);
      const dilated = dilateXY(map, { rx, ry });
      const at = `${width}×${height}, rx ${rx}, ry ${ry}`;
      assert.equal(firstMismatch(dilated.data, bruteExtreme(map, rx, ry, true)), undefined, at);
      const eroded = bruteExtreme(map, rx, ry, false);
      const opened = bruteExtreme({ width, height, data: eroded }, rx, ry, true);
      assert.equal(firstMismatch(openingXY(map, { rx, ry }).data, opened), undefined, at);
      assert.notEqual(dilated.data, map.data, "a new map, not the input");
    }
  }
});

Deno.test("closing() and opening() match the brute-force extremes, square windows", () => {
  let seed = 100;
  for (const [width, height] of SHAPES) {
    for (const radius of [1, 2, 5, 16, 70]) {
      const map = randomMap(width, height, seed++);
      const at = `${width}×${height}, radius ${radius}`;
      const up = bruteExtreme(map, radius, radius, true);
      const closed = bruteExtreme({ width, height, data: up }, radius, radius, false);
      assert.equal(firstMismatch(closing(map, radius).data, closed), undefined, at);
      const down = bruteExtreme(map, radius, radius, false);
      const opened = bruteExtreme({ width, height, data: down }, radius, radius, true);
      assert.equal(firstMismatch(opening(map, radius).data, opened), undefined, at);
    }
  }
});

/** Whether `dropRules`' line map along one direction reaches `least` (what it stands in for). */
function lineMapReaches(
  positive: GreyMap,
  { least, radius, horizontal }: { least: number; radius: number; horizontal: boolean },
): boolean {
  const wide = horizontal ? { rx: 0, ry: 1 } : { rx: 1, ry: 0 };
  const along = horizontal ? { rx: radius, ry: 0 } : { rx: 0, ry: radius };
  const lines = openingXY(dilateXY(positive, wide), along);
  return lines.data.some((v) => v >= least);
}

Deno.test("mayHaveRule() is true exactly where the opened line map reaches the level", () => {
  const rng = new Rng(7);
  let reached = 0, cases = 0;
  for (const [width, height] of [[12, 9], [30, 20], [9, 31], [1, 5], [5, 1]] as const) {
    for (let trial = 0; trial < 60; trial++) {
      const data = new Float32Array(width * height);
      // Mostly paper, with runs of ink of random length along a random row or column, some
      // reaching the frame, some broken by a pixel.
      for (let p = 0; p < data.length; p++) data[p] = rng.next() < 0.3 ? 0.2 : 0;
      for (let s = 0; s < 3; s++) {
        const horizontal = rng.next() < 0.5;
        const n = horizontal ? width : height, across = horizontal ? height : width;
        const line = Math.floor(rng.next() * across);
        const start = Math.floor(rng.next() * n), length = Math.floor(rng.next() * n) + 1;
        for (let i = start; i < Math.min(n, start + length); i++) {
          data[horizontal ? line * width + i : i * width + line] = 0.5;
        }
      }
      const map = { width, height, data };
      for (const horizontal of [true, false]) {
        for (const least of [0.1, 0.3]) {
          const side = horizontal ? width : height;
          const radius = Math.floor(rng.next() * side);
          const options = { least, radius, horizontal };
          const expected = lineMapReaches(map, options);
          assert.equal(
            mayHaveRule(map, options),
            expected,
            JSON.stringify({ width, height, ...options, trial }),
          );
          reached += expected ? 1 : 0;
          cases++;
        }
      }
    }
  }
  // Both answers occur, or the test would not test.
  assert.ok(reached > cases / 10 && reached < cases * 0.9, `${reached} of ${cases}`);
});

Deno.test("dropRules() still takes a printed rule off, and leaves a map without one as it is", () => {
  const width = 400, height = 300;
  const data = new Float32Array(width * height);
  const rng = new Rng(3);
  for (let p = 0; p < data.length; p++) data[p] = (rng.next() - 0.5) * 0.02;
  // A short stroke (a digit's) and, in the second map, a rule across the sheet.
  for (let y = 100; y < 160; y++) for (let x = 190; x < 196; x++) data[y * width + x] = 0.8;
  const plain = dropRules({ width, height, data });
  assert.equal(plain.ruled, 0);
  assert.deepEqual(plain.contrast.data, data);
  const ruledData = data.slice();
  for (let x = 0; x < width; x++) ruledData[200 * width + x] = 0.4;
  const ruled = dropRules({ width, height, data: ruledData });
  assert.ok(ruled.ruled >= width - 20, `${ruled.ruled} pixels ruled`);
  assert.ok(ruled.contrast.data[200 * width + 50]! < 0.05);
  assert.equal(ruled.contrast.data[130 * width + 192], 0.800000011920929);
});

Deno.test("localContrast() asked again for the same grey levels gives the same, unshared maps", () => {
  const map = randomMap(50, 40, 9);
  const window = 17;
  const first = localContrast(map, { polarity: "dark", window });
  const again = localContrast(map, { polarity: "dark", window });
  assert.deepEqual(again, first);
  assert.notEqual(again.contrast.data, first.contrast.data);
  assert.notEqual(again.background.data, first.background.data);
  assert.notEqual(again.divisor, first.divisor);
  // The grey levels changed in place: computed anew, not the last result.
  map.data[0] = 0.5;
  map.data[1] = 0;
  const changed = localContrast(map, { polarity: "dark", window });
  const fresh = localContrast({ ...map, data: map.data.slice() }, { polarity: "light", window });
  const light = localContrast({ ...map, data: map.data.slice() }, { polarity: "light", window });
  assert.deepEqual(light, fresh);
  assert.notDeepEqual(changed.contrast.data, first.contrast.data);
  const up = bruteExtreme(map, 8, 8, true);
  const background = bruteExtreme({ width: 50, height: 40, data: up }, 8, 8, false);
  assert.equal(firstMismatch(changed.background.data, background), undefined);
});
