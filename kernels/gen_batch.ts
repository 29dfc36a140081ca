/**
 * The WGSL that the generated kernel files share for their `_gather` entry points, which read a
 * network's first batch straight from the dataset split (src/train/feeder.ts binds it as group
 * 1, `BATCH_GROUP` in src/gpu/kernel.ts): the group's bindings and the labels' copy. Written
 * into kernels/dense_tiled.wgsl and kernels/conv2d_tiled.wgsl by their generators; the module's
 * `Dims` must have the batch size `B`.
 */

/** The group-1 bindings, the padding flag and `gather_label()`, as WGSL. */
export function batchGroup(): string {
  return `// The batch of the _gather entry points, bound as group 1 by the Feeder (src/train/feeder.ts)
// that feeds the network: the split's u8 pixels (4 per u32, rows of whole words), its labels,
// the batch's slice of the epoch's order (a dynamic offset), and the network's labels (B), which
// the forward fills as kernels/gather.wgsl's gather_batch does.
@group(1) @binding(0) var<storage, read> images: array<u32>;
@group(1) @binding(1) var<storage, read> labels: array<u32>;
@group(1) @binding(2) var<storage, read> order: array<u32>;
@group(1) @binding(3) var<storage, read_write> label_out: array<u32>;

// An order entry with this bit set is padding: its label reads PAD, which metrics skip.
const PAD_FLAG: u32 = 0x80000000u;
const PAD: u32 = 0xffffffffu;

// The split's sample at row b of the batch.
fn sample_of(b: u32) -> u32 {
  return order[b] & ~PAD_FLAG;
}

// label_out[b] = the label of order[b], or PAD for padding, skipping rows past B.
fn gather_label(b: u32) {
  if (b >= dims.B) {
    return;
  }
  let entry = order[b];
  label_out[b] = select(labels[entry & ~PAD_FLAG], PAD, (entry & PAD_FLAG) != 0u);
}`;
}
