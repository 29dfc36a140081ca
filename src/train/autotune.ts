/**
 * Kernel choice by measurement, as cuDNN's benchmark mode does: before training on a GPU, each
 * layer's forward and backward dispatches are timed with the simple kernels and with the ones
 * tuned for GPUs (timestamp queries, a few steps each), and `chooseVariants` keeps the faster.
 * GPUs differ too much (vendors, drivers, the Vulkan, Metal and DX12 compilers) for one fixed
 * choice to be right on all of them. CPU adapters skip it: their tuned kernels were measured
 * here.
 */
import type { Gpu } from "../gpu/device.ts";
import type { KernelCache } from "../gpu/kernel.ts";
import { encode } from "../gpu/kernel.ts";
import type { ModelSpec } from "../nn/model.ts";
import { Network } from "../nn/network.ts";
import type { ParamStore } from "../nn/params.ts";
import {
  type AdapterKind,
  adapterKind,
  chooseVariants,
  type KernelMode,
  type LayerTiming,
  recallVariants,
} from "../nn/variants.ts";
import { profileItems } from "./profile.ts";

export { KERNEL_MODES, type KernelMode } from "../nn/variants.ts";

/** One layer's measurement: GPU µs per step of its forward and backward dispatches. */
export interface TuneRow {
  /** The layer's name in the model (`fc1`, `conv2`). */
  layer: string;
  /** µs per step with the simple kernels, the mean over the timed steps. */
  simple: number;
  /** µs per step with the kernels tuned for GPUs, the mean over the timed steps. */
  tuned: number;
  /** The tuned kernels were kept (they were no slower). */
  keptTuned: boolean;
}

/** What {@link chooseKernels} decided: each layer's variant, and why. */
export interface KernelChoice {
  /** By layer index: a row of the layer's op table (see src/nn/variants.ts). */
  variants: string[];
  /** Empty when nothing was measured. */
  rows: TuneRow[];
  /** Taken from a checkpoint rather than measured. */
  recalled?: boolean;
}

/**
 * A choice as a checkpoint records it (training.kernels): the adapter's name, and per layer
 * the variant it ran. Checkpoints written before variants had names hold "simple" or "tuned".
 */
export interface RecordedKernels {
  /** The adapter's name (`Gpu.name`); on another adapter the choice is made afresh. */
  adapter: string;
  /** By layer index, the variant's name: a row of the layer's op table (src/nn/variants.ts). */
  layers: string[];
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
  return { adapter, layers: [...choice.variants] };
}

/**
 * Each layer's variant for `mode` (see `chooseVariants`). In "auto" mode a `recorded` choice
 * made on this adapter (by the run being resumed, measured or asked for) is kept as it is;
 * else, on a GPU with timestamp queries, every layer whose simple and tuned builds differ is
 * timed at batch `B` first. Of the store it writes only the gradient buffer, which every
 * training step overwrites.
 */
export async function chooseKernels(
  gpu: Gpu,
  kernels: KernelCache,
  { model, store, B, mode = "auto", recorded, steps = 10, adapter = adapterKind(gpu) }: {
    model: ModelSpec;
    store: ParamStore;
    B: number;
    /** `--kernels` (default "auto"). */
    mode?: KernelMode;
    /** A checkpoint's {@link RecordedKernels}, unchecked. */
    recorded?: unknown;
    steps?: number;
    /** The kind of adapter to choose for (default `gpu`'s): tests time GPU kernels on a CPU. */
    adapter?: AdapterKind;
  },
): Promise<KernelChoice> {
  const limits = gpu.device.limits;
  const choose = (timing?: (LayerTiming | null)[]) =>
    chooseVariants(model, { adapter, limits, kernels: mode, timing });
  if (mode !== "auto") return { variants: choose(), rows: [] };
  const r = recorded as Partial<RecordedKernels> | undefined;
  const again = r?.adapter === gpu.name
    ? recallVariants(model, r.layers, { adapter, limits })
    : null;
  if (again) return { variants: again, rows: [], recalled: true };
  if (adapter === "cpu" || !gpu.timestamps) return { variants: choose(), rows: [] };

  const build = (kernelsMode: KernelMode) =>
    new Network(gpu.device, kernels, {
      model,
      store,
      B,
      train: true,
      variants: chooseVariants(model, { adapter, limits, kernels: kernelsMode }),
    });
  const simple = build("simple");
  const tuned = build("tuned");
  try {
    // Layers whose two builds run the same kernels (flatten; pooling but for 2×2 windows) need
    // no measurement.
    const labels = (net: Network, k: number) =>
      [...net.layers[k]!.forward, ...net.layers[k]!.backward].map((d) => d.kernel.label).join();
    const measured = store.layers.flatMap((_, k) =>
      labels(simple, k) === labels(tuned, k) ? [] : [k]
    );
    if (measured.length === 0) return { variants: choose(), rows: [] };
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
    const timing: (LayerTiming | null)[] = store.layers.map(() => null);
    const rows = measured.map((k, j) => {
      const [s, t] = [times[2 * j]!.micros, times[2 * j + 1]!.micros];
      timing[k] = { simple: s, tuned: t };
      return { layer: simple.layers[k]!.name, simple: s, tuned: t, keptTuned: t <= s };
    });
    return { variants: choose(timing), rows };
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
