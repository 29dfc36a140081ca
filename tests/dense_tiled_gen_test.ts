/** kernels/dense_tiled.wgsl is generated: it must match its generator. */
import { equal } from "node:assert/strict";
import onDisk from "../kernels/dense_tiled.wgsl" with { type: "text" };
import { generate } from "../kernels/gen_dense_tiled.ts";

Deno.test("kernels/dense_tiled.wgsl matches kernels/gen_dense_tiled.ts", () => {
  equal(
    onDisk.trimEnd(),
    generate().trimEnd(),
    "regenerate: deno run kernels/gen_dense_tiled.ts > kernels/dense_tiled.wgsl",
  );
});
