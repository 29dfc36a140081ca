/** `mnist devices` end to end: the adapters, their subgroup width and limits, as text and JSON. */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { runCli } from "./cli_helpers.ts";
import { gpu, gpuTest } from "./gpu_helpers.ts";
import { vendorName } from "../src/gpu/device.ts";

Deno.test("vendorName() names PCI and Khronos vendor ids and keeps the id in hexadecimal", () => {
  // Deno's wgpu gives the id in decimal: llvmpipe's 65541 is Vulkan's VK_VENDOR_ID_MESA.
  equal(vendorName("65541"), "Mesa (0x10005)");
  equal(vendorName("4318"), "NVIDIA (0x10de)");
  equal(vendorName("4098"), "AMD (0x1002)");
  equal(vendorName("32902"), "Intel (0x8086)");
  equal(vendorName("4203"), "Apple (0x106b)");
  equal(vendorName("5045"), "ARM (0x13b5)");
  equal(vendorName("20803"), "Qualcomm (0x5143)");
  equal(vendorName("65542"), "PoCL (0x10006)");
  equal(vendorName("0x10004"), "Codeplay (0x10004)");
  equal(vendorName("12345"), "unknown vendor (0x3039)");
  // A name (as browsers give) and nothing at all pass through.
  equal(vendorName("nvidia"), "nvidia");
  equal(vendorName(""), "");
});

gpuTest("mnist devices lists the adapters with subgroup width, limits and features", async () => {
  const text = await runCli(["devices"]);
  equal(text.code, 0, text.stderr);
  match(text.stdout, /^\[0\] .+/m);
  match(text.stdout, /^\s+type:\s+(GPU|CPU \(software\/fallback adapter\))$/m);
  match(text.stdout, /^\s+subgroup: (\d+(-\d+)? lanes|-)$/m);
  match(text.stdout, /^\s+maxComputeInvocationsPerWorkgroup:\s+[\d,]+$/m);
  match(text.stdout, /\(selected\)/);
  // The vendor by name, never a bare number such as 65541.
  for (const [, vendor] of text.stdout.matchAll(/^\s+vendor:\s+(.*?)\s{3}architecture:/gm)) {
    match(vendor!, /^(-|\D.*)$/);
  }

  const json = await runCli(["devices", "--json"]);
  equal(json.code, 0, json.stderr);
  const adapters = JSON.parse(json.stdout) as {
    kind: string;
    name: string;
    vendor: string;
    vendorId: number | null;
    subgroupMinSize: number;
    subgroupMaxSize: number;
    limits: Record<string, number>;
  }[];
  ok(adapters.length >= 1);
  for (const a of adapters) {
    ok(a.kind === "gpu" || a.kind === "cpu", a.kind);
    ok(a.subgroupMinSize <= a.subgroupMaxSize, `${a.subgroupMinSize}..${a.subgroupMaxSize}`);
    ok(a.limits.maxComputeInvocationsPerWorkgroup! >= 256);
    if (a.vendorId !== null) ok(a.vendor.endsWith(` (0x${a.vendorId.toString(16)})`), a.vendor);
    // Mesa's software rasteriser has no PCI id: it gives Vulkan's VK_VENDOR_ID_MESA.
    if (a.name.startsWith("llvmpipe")) deepEqual([a.vendor, a.vendorId], ["Mesa (0x10005)", 65541]);
  }
  // The test device's adapter is among them, with the width its device reports.
  const mine = adapters.find((a) => a.name === gpu!.name);
  ok(mine, `${gpu!.name} in ${adapters.map((a) => a.name)}`);
  equal(mine.subgroupMaxSize, gpu!.device.adapterInfo.subgroupMaxSize ?? 0);
});

gpuTest(
  "mnist devices --device gpu lists GPUs only, or fails in one line where there is none",
  async () => {
    const result = await runCli(["devices", "--device", "gpu", "--json"]);
    if (!gpu!.isCpu) {
      // A machine with a GPU: the list holds GPUs only.
      equal(result.code, 0, result.stderr);
      const kinds = (JSON.parse(result.stdout) as { kind: string }[]).map((a) => a.kind);
      deepEqual([...new Set(kinds)], ["gpu"]);
      return;
    }
    equal(result.code, 2);
    equal(result.stdout, "");
    match(
      result.stderr,
      /^error: No hardware GPU adapter found \(only the software adapter ".+"\)$/m,
    );
    ok(!result.stderr.includes("    at "), "no stack trace");
  },
);
