// Gathers a batch from the dataset resident on the GPU: u8 pixels (packed 4 per u32) become
// f32 in [0, 1] (MXNet's 1/255 scaling), labels are copied. B batch, P pixels per sample.

struct Dims {
  B: u32,
  P: u32,
  _pad0: u32,
  _pad1: u32,
}

override WG: u32 = 64u;

const PAD_FLAG: u32 = 0x80000000u;
const PAD: u32 = 0xffffffffu;

@group(0) @binding(0) var<storage, read_write> x: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> label_out: array<u32>;
@group(0) @binding(2) var<storage, read> images: array<u32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read> order: array<u32>;
@group(0) @binding(5) var<uniform> dims: Dims;

// Workgroup b → row b of the batch (and rows b + groups, ... should B exceed the grid), its
// invocations striding over the row's words: no division, which CPU adapters run lane by lane
// (AVX2 has no vector integer division). x: (B, P) as vec4s, label_out: (B), images: (count, P)
// u8, labels: (count), order: (B) sample indices, the top bit set on padding that must not count.
@compute @workgroup_size(WG)
fn gather_batch(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) t: u32,
) {
  let words = dims.P / 4u;
  for (var b = wg.x; b < dims.B; b += groups.x) {
    let entry = order[b];
    let first = (entry & ~PAD_FLAG) * words;
    let row = b * words;
    for (var w = t; w < words; w += WG) {
      x[row + w] = unpack4x8unorm(images[first + w]);
    }
    if (t == 0u) {
      label_out[b] = select(labels[entry & ~PAD_FLAG], PAD, (entry & PAD_FLAG) != 0u);
    }
  }
}
