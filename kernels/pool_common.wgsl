// Shared by the max-pool kernels (pool.wgsl, pool_2x2.wgsl): joined to the end of each one's
// module when it is created (src/nn/pool.ts), as activation.wgsl is joined to the layers'.
// B batch, C channels, H×W input, K×K windows every `stride` pixels, OH×OW output with
// OH = (H - K) / stride + 1; all buffers row-major (NCHW).

struct Dims {
  B: u32,
  C: u32,
  H: u32,
  W: u32,
  K: u32,
  stride: u32,
  OH: u32,
  OW: u32,
}

// Workgroup size (invocations along x).
override WG: u32 = 64u;

// Invocations are numbered gid.x + gid.y · (x workgroups · WG), so a dispatch can spread over
// two dimensions when one would exceed maxComputeWorkgroupsPerDimension; groups is
// num_workgroups.
fn invocation(gid: vec3u, groups: vec3u) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}
