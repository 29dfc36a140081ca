/**
 * Kernel choice by measurement, as cuDNN's benchmark mode does: before training on a GPU, each
 * layer's forward and backward dispatches are timed with the simple kernels and with the ones
 * tuned for GPUs (timestamp queries, a few steps each), and the layer keeps the faster. GPUs
 * differ too much (vendors, drivers, the Vulkan, Metal and DX12 compilers) for one fixed choice
 * to be right on all of them. CPU adapters skip it: their tuned kernels were measured here.
 */
import type { Gpu } from "../gpu/device.ts";
import type { KernelCache } from "../gpu/kernel.ts";
import { encode } from "../gpu/kernel.ts";
import type { ModelSpec } from "../nn/model.ts";
import { Network } from "../nn/network.ts";
import type { ParamStore } from "../nn/params.ts";
import { profileItems } from "./profile.ts";

/** `--kernels`: choose by timing on GPUs, the tuned kernels untimed, or the simple ones. */
export const KERNEL_MODES = ["auto", "tuned", "simple"] as const;
/** One of {@link KERNEL_MODES}. */
export type KernelMode = (typeof KERNEL_MODES)[number];

/** One layer's measurement: GPU µs per step of its forward and backward dispatches. */
export interface TuneRow {
  layer: string;
  simple: number;
  tuned: number;
  /** The tuned kernels were kept (they were no slower). */
  keptTuned: boolean;
}

/** What {@link chooseKernels} decided: the Network's per-layer `tiled`, and why. */
export interface KernelChoice {
  tiled: boolean[];
  /** Empty when nothing was measured. */
  rows: TuneRow[];
  /** Taken from a checkpoint rather than measured. */
  recalled?: boolean;
}

/** A choice as a checkpoint records it: the adapter, and per layer the kernels kept. */
export interface RecordedKernels {
  adapter: string;
  layers: ("simple" | "tuned")[];
}

/**
 * `choice` as a checkpoint records it; undefined when it was the default, neither measured,
 * recalled nor `explicit` (asked for with --kernels).
 */
export function recordChoice(
  choice: KernelChoice,
  adapter: string,
  { explicit = false }: { explicit?: boolean } = {},
): RecordedKernels | undefined {
  if (choice.rows.length === 0 && !choice.recalled && !explicit) return undefined;
  return { adapter, layers: choice.tiled.map((t) => t ? "tuned" : "simple") };
}

/** A recorded choice, if it is one made on `adapter` for `layers` layers (else null). */
function recall(recorded: unknown, adapter: string, layers: number): KernelChoice | null {
  const r = recorded as Partial<RecordedKernels> | undefined;
  if (r?.adapter !== adapter || !Array.isArray(r.layers) || r.layers.length !== layers) return null;
  if (!r.layers.every((k) => k === "simple" || k === "tuned")) return null;
  return { tiled: r.layers.map((k) => k === "tuned"), rows: [], recalled: true };
}

/**
 * Times every layer of `model` at batch `B` with both kernel families and returns which to use
 * per layer; a `recorded` choice made on this adapter (by the run being resumed, measured or
 * asked for) is returned as it is, without measuring. Needs timestamp queries; without them,
 * or on a CPU adapter (unless `force`), every layer keeps the tuned kernels unmeasured. Of the
 * store it writes only the gradient buffer, which every training step overwrites.
 */
export async function chooseKernels(
  gpu: Gpu,
  kernels: KernelCache,
  { model, store, B, recorded, steps = 10, force = false }: {
    model: ModelSpec;
    store: ParamStore;
    B: number;
    /** A checkpoint's {@link RecordedKernels}, unchecked. */
    recorded?: unknown;
    steps?: number;
    /** Measure on a CPU adapter too (for tests). */
    force?: boolean;
  },
): Promise<KernelChoice> {
  const again = recall(recorded, gpu.name, store.layers.length);
  if (again) return again;
  const all = store.layers.map(() => true);
  if ((gpu.isCpu && !force) || !gpu.timestamps) return { tiled: all, rows: [] };
  const build = (tiled: boolean) =>
    new Network(gpu.device, kernels, { model, store, B, train: true, tiled, target: "gpu" });
  const simple = build(false);
  const tuned = build(true);
  try {
    // Layers whose two builds run the same kernels (flatten; pooling but for 2×2 windows) need
    // no measurement.
    const labels = (net: Network, k: number) =>
      [...net.layers[k]!.forward, ...net.layers[k]!.backward].map((d) => d.kernel.label).join();
    const measured = store.layers.flatMap((_, k) =>
      labels(simple, k) === labels(tuned, k) ? [] : [k]
    );
    if (measured.length === 0) return { tiled: all, rows: [] };
    const item = (net: Network, k: number) => ({
      label: `${net.layers[k]!.name}`,
      encode: (pass: GPUComputePassEncoder) => {
        for (const d of [...net.layers[k]!.forward, ...net.layers[k]!.backward]) encode(pass, d);
      },
    });
    const times = await profileItems(
      gpu.device,
      measured.flatMap((k) => [item(simple, k), item(tuned, k)]),
      { steps },
    );
    gpu.checkErrors();
    const rows = measured.map((k, j) => {
      const [s, t] = [times[2 * j]!.micros, times[2 * j + 1]!.micros];
      return { layer: simple.layers[k]!.name, simple: s, tuned: t, keptTuned: t <= s };
    });
    const tiled = [...all];
    measured.forEach((k, j) => tiled[k] = rows[j]!.keptTuned);
    return { tiled, rows };
  } finally {
    simple.destroy();
    tuned.destroy();
  }
}

/** The measurements as a table, for `mnist train --profile`. */
export function formatChoice(rows: TuneRow[], title: string): string {
  const width = Math.max(5, ...rows.map((r) => r.layer.length));
  const lines = [
    title,
    `${"layer".padEnd(width)}  ${"simple µs".padStart(10)}  ${"tuned µs".padStart(10)}  kept`,
  ];
  for (const r of rows) {
    lines.push(
      `${r.layer.padEnd(width)}  ${r.simple.toFixed(1).padStart(10)}  ${
        r.tuned.toFixed(1).padStart(10)
      }  ${r.keptTuned ? "tuned" : "simple"}`,
    );
  }
  return lines.join("\n");
}
