/** kernels/conv2d_tiled.wgsl is generated: it must match its generator. */
import { equal } from "node:assert/strict";
import onDisk from "../kernels/conv2d_tiled.wgsl" with { type: "text" };
import { generate } from "../kernels/gen_conv2d_tiled.ts";

Deno.test("kernels/conv2d_tiled.wgsl matches kernels/gen_conv2d_tiled.ts", () => {
  equal(
    onDisk.trimEnd(),
    generate().trimEnd(),
    "stale: regenerate it with deno task gen",
  );
});
