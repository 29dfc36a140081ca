/** kernels/dense_tiled.wgsl is generated: it must match its generator. */
import { equal } from "node:assert/strict";
import onDisk from "../kernels/dense_tiled.wgsl" with { type: "text" };
import { generate, ROWS_MAX } from "../kernels/gen_dense_tiled.ts";
import { TILE_ROWS_MAX, tileRows } from "../src/nn/dense.ts";

Deno.test("kernels/dense_tiled.wgsl matches kernels/gen_dense_tiled.ts", () => {
  equal(
    onDisk.trimEnd(),
    generate().trimEnd(),
    "stale: regenerate it with deno task gen",
  );
});

Deno.test("tileRows() covers the batch with the fewest idle rows, within the generated tile", () => {
  equal(TILE_ROWS_MAX, ROWS_MAX);
  // One tile for small batches (predict's batch of 1 computes one row, not 16).
  equal(tileRows(1), 1);
  equal(tileRows(17), 17);
  equal(tileRows(20), 20);
  // 5 × 20 at the tutorial's batch of 100, not 7 × 16; 16 where it divides the batch.
  equal(tileRows(100), 20);
  equal(tileRows(128), 16);
  equal(tileRows(64), 16);
  equal(tileRows(57), 20);
  for (let B = 1; B <= 300; B++) {
    const r = tileRows(B);
    equal(r >= 1 && r <= ROWS_MAX, true, `batch ${B}: ${r} rows`);
  }
});
