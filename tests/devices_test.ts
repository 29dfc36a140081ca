/** `mnist devices` end to end: the adapters, their subgroup width and limits, as text and JSON. */
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { runCli } from "./cli_helpers.ts";
import { gpu, gpuTest } from "./gpu_helpers.ts";

gpuTest("mnist devices lists the adapters with subgroup width, limits and features", async () => {
  const text = await runCli(["devices"]);
  equal(text.code, 0, text.stderr);
  match(text.stdout, /^\[0\] .+/m);
  match(text.stdout, /^\s+type:\s+(GPU|CPU \(software\/fallback adapter\))$/m);
  match(text.stdout, /^\s+subgroup: (\d+(-\d+)? lanes|-)$/m);
  match(text.stdout, /^\s+maxComputeInvocationsPerWorkgroup:\s+[\d,]+$/m);
  match(text.stdout, /\(selected\)/);

  const json = await runCli(["devices", "--json"]);
  equal(json.code, 0, json.stderr);
  const adapters = JSON.parse(json.stdout) as {
    kind: string;
    name: string;
    subgroupMinSize: number;
    subgroupMaxSize: number;
    limits: Record<string, number>;
  }[];
  ok(adapters.length >= 1);
  for (const a of adapters) {
    ok(a.kind === "gpu" || a.kind === "cpu", a.kind);
    ok(a.subgroupMinSize <= a.subgroupMaxSize, `${a.subgroupMinSize}..${a.subgroupMaxSize}`);
    ok(a.limits.maxComputeInvocationsPerWorkgroup! >= 256);
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
