// Gathers a batch from the dataset resident on the GPU: u8 pixels (packed 4 per u32) become
// f32 in [0, 1] (MXNet's 1/255 scaling), labels are copied. B batch, P pixels per sample (H × W).
// gather_batch_affine (`train --augment`) also distorts each image by a random affine map.

struct Dims {
  B: u32,
  P: u32,
  // Image width in pixels (P / W rows); read by gather_batch_affine only.
  W: u32,
  // `--seed` and the 0-based epoch: with the sample index they key the distortion's hash.
  seed: u32,
  epoch: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
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

// PCG hash (Jarzynski and Olano, "Hash Functions for GPU Rendering", JCGT 2020): a counter-based
// generator, so a distortion needs no state beyond (seed, epoch, sample).
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// The k-th uniform draw in [0, 1) of key h: 24 bits, exact in f32.
fn uniform01(h: u32, k: u32) -> f32 {
  return f32(pcg(h + k) >> 8u) / 16777216.0;
}

// Pixel (px, py) of the u8 image starting at byte `base`, as 0..255; 0 outside the image.
fn pixel(base: u32, px: i32, py: i32) -> f32 {
  let W = i32(dims.W);
  let H = i32(dims.P / dims.W);
  if (px < 0 || py < 0 || px >= W || py >= H) {
    return 0.0;
  }
  let k = base + u32(py * W + px);
  return f32((images[k >> 2u] >> ((k & 3u) * 8u)) & 0xffu);
}

// As gather_batch, one workgroup per row, but each invocation writes 4 output pixels (one vec4)
// bilinearly sampled at the source point of a random affine map, 0 outside the image: rotation
// ±10°, scale 0.9..1.1, x-shear factor ±0.1 (±5.7°) and shift ±2 px, about the image centre
// (Simard et al. 2003 distort MNIST with affine maps; these ranges are the torchvision
// RandomAffine(degrees=10, translate=(2/28, 2/28), scale=(0.9, 1.1), shear=~6) often used for
// MNIST). The map is drawn from pcg(seed, epoch, sample): the same sample
// gets the same distortion within an epoch, a new one each epoch. tests/reference.ts
// `affineParams` and `affineWarp` are this in TypeScript.
@compute @workgroup_size(WG)
fn gather_batch_affine(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) t: u32,
) {
  let words = dims.P / 4u;
  let c = vec2f(f32(dims.W) - 1.0, f32(dims.P / dims.W) - 1.0) * 0.5;
  for (var b = wg.x; b < dims.B; b += groups.x) {
    let entry = order[b];
    let sample = entry & ~PAD_FLAG;
    let h = pcg(dims.seed ^ pcg(dims.epoch ^ pcg(sample)));
    let angle = (uniform01(h, 0u) * 2.0 - 1.0) * 0.17453292; // ±10° in radians
    let scale = 0.9 + 0.2 * uniform01(h, 1u);
    let shear = (uniform01(h, 2u) * 2.0 - 1.0) * 0.1;
    let shift = vec2f(uniform01(h, 3u), uniform01(h, 4u)) * 4.0 - 2.0;
    // Forward map A = scale · R(angle) · [[1, shear], [0, 1]]: out = A (src - c) + c + shift.
    // Sampling needs its inverse: src = A⁻¹ (out - c - shift) + c.
    let cs = cos(angle);
    let sn = sin(angle);
    let a = scale * vec4f(cs, cs * shear - sn, sn, sn * shear + cs); // a00, a01, a10, a11
    let det = a.x * a.w - a.y * a.z;
    let inv = vec4f(a.w, -a.y, -a.z, a.x) / det;
    let base = sample * dims.P;
    let row = b * words;
    for (var w = t; w < words; w += WG) {
      var v = vec4f(0.0);
      for (var j = 0u; j < 4u; j++) {
        let p = w * 4u + j;
        let o = vec2f(f32(p % dims.W), f32(p / dims.W)) - c - shift;
        let s = vec2f(inv.x * o.x + inv.y * o.y, inv.z * o.x + inv.w * o.y) + c;
        let f = floor(s);
        let d = s - f;
        let i = vec2i(f);
        let top = mix(pixel(base, i.x, i.y), pixel(base, i.x + 1, i.y), d.x);
        let bottom = mix(pixel(base, i.x, i.y + 1), pixel(base, i.x + 1, i.y + 1), d.x);
        v[j] = mix(top, bottom, d.y) / 255.0;
      }
      x[row + w] = v;
    }
    if (t == 0u) {
      label_out[b] = select(labels[sample], PAD, (entry & PAD_FLAG) != 0u);
    }
  }
}
