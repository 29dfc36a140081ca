// Shared by the optimizer kernels (sgd.wgsl, adam.wgsl): joined to the end of each one's module
// when it is created (src/nn/optimizer.ts), as activation.wgsl is joined to the layers'.
// Each rule walks the one parameter buffer four parameters (a vec4) per invocation.

// Workgroup size (invocations along x).
override WG: u32 = 256u;
// Which terms are on, fixed per pipeline rather than tested on the uniforms (the uniforms still
// carry the values): a CPU adapter runs an untaken branch as masked SIMD (see MOMENTUM in
// sgd.wgsl for what that cost).
override CLIP: bool = false;
override WEIGHT_DECAY: bool = false;

// The vec4 of parameters invocation gid updates: a 2-D grid of workgroups folded to 1-D
// (src/gpu/kernel.ts's workgroupGrid), nwg the grid's size.
fn param_index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// g clipped to ±clip when CLIP is on, else g.
fn clip_gradient(g: vec4f, clip: f32) -> vec4f {
  if (CLIP) {
    return clamp(g, vec4f(-clip), vec4f(clip));
  }
  return g;
}
