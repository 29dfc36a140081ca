/**
 * `mnist train --profile`: GPU time per kernel of a training step, from timestamp queries.
 * Each dispatch runs in its own compute pass with `timestampWrites`, over several steps, after
 * training has finished (so the training's own timings are undisturbed).
 */

/** One thing to time: a label and how to encode it into a pass. */
export interface ProfileItem {
  /** The table's row and the pass's label: layer and kernel (`fc1 dense.dense_forward`). */
  label: string;
  /** Encodes the item's dispatches into `pass`, a pass of its own that writes the timestamps. */
  encode: (pass: GPUComputePassEncoder) => void;
}

/** Measured GPU time of one item. */
export interface ProfileRow {
  /** The {@link ProfileItem}'s label. */
  label: string;
  /** Mean GPU time per step, in microseconds. */
  micros: number;
}

/**
 * Times each item `steps` times (a full step's items in order, repeated) and returns the mean
 * GPU time of each. Needs a device created with the `timestamp-query` feature.
 */
export async function profileItems(
  device: GPUDevice,
  items: ProfileItem[],
  { steps = 20 }: { steps?: number } = {},
): Promise<ProfileRow[]> {
  const perSubmit = Math.max(1, Math.floor(2048 / items.length));
  const count = 2 * items.length * perSubmit;
  const querySet = device.createQuerySet({ label: "profile", type: "timestamp", count });
  const resolve = device.createBuffer({
    label: "profile.resolve",
    size: count * 8,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const staging = device.createBuffer({
    label: "profile.readback",
    size: count * 8,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const totals = new Float64Array(items.length);
  try {
    for (let done = 0; done < steps;) {
      const n = Math.min(perSubmit, steps - done);
      const encoder = device.createCommandEncoder({ label: "profile" });
      let q = 0;
      for (let s = 0; s < n; s++) {
        for (const item of items) {
          const pass = encoder.beginComputePass({
            label: item.label,
            timestampWrites: { querySet, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 },
          });
          item.encode(pass);
          pass.end();
          q += 2;
        }
      }
      encoder.resolveQuerySet(querySet, 0, q, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, staging, 0, q * 8);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ, 0, q * 8);
      const stamps = new BigUint64Array(staging.getMappedRange(0, q * 8).slice(0));
      staging.unmap();
      for (let s = 0; s < n; s++) {
        items.forEach((_, i) => {
          const k = 2 * (s * items.length + i);
          const ns = Number(stamps[k + 1]! - stamps[k]!);
          if (ns > 0) totals[i]! += ns;
        });
      }
      done += n;
    }
  } finally {
    querySet.destroy();
    resolve.destroy();
    staging.destroy();
  }
  return items.map((item, i) => ({ label: item.label, micros: totals[i]! / steps / 1000 }));
}

/** The profile as a table, slowest first, with each kernel's share of the step. */
export function formatProfile(rows: ProfileRow[], title: string): string {
  const total = rows.reduce((a, r) => a + r.micros, 0);
  const width = Math.max(...rows.map((r) => r.label.length), 6);
  const lines = [
    title,
    `${"kernel".padEnd(width)}  ${"µs/step".padStart(10)}  ${"share".padStart(6)}`,
  ];
  for (const r of [...rows].sort((a, b) => b.micros - a.micros)) {
    const share = total > 0 ? (100 * r.micros) / total : 0;
    lines.push(
      `${r.label.padEnd(width)}  ${r.micros.toFixed(1).padStart(10)}  ${
        share.toFixed(1).padStart(5)
      }%`,
    );
  }
  lines.push(`${"total".padEnd(width)}  ${total.toFixed(1).padStart(10)}  100.0%`);
  return lines.join("\n");
}
