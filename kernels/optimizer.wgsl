// Shared by the optimizer kernels (sgd.wgsl, adam.wgsl): joined to the end of each one's module
// when it is created (src/nn/optimizer.ts), as activation.wgsl is joined to the layers'.
// Each rule walks the one parameter buffer four parameters (a vec4) per invocation.
//
// Weight decay skips the tensors MXNet gives a wd_mult of 0: Optimizer.set_wd_mult
// (python/mxnet/optimizer/optimizer.py) sets it for every parameter whose name ends in neither
// _weight nor _gamma, so biases are not decayed (PyTorch's weight_decay decays every parameter).
// Their ranges reach the kernel as a small uniform table, written once per optimizer: the check
// reads no memory per parameter and needs no dispatch of its own.

// Workgroup size (invocations along x).
override WG: u32 = 256u;
// Which terms are on, fixed per pipeline rather than tested on the uniforms (the uniforms still
// carry the values): a CPU adapter runs an untaken branch as masked SIMD (see MOMENTUM in
// sgd.wgsl for what that cost).
override CLIP: bool = false;
override WEIGHT_DECAY: bool = false;
// How many ranges of `no_decay` are filled: a loop of known length, which llvmpipe ran about 3%
// faster than one to a count read from the table.
override NO_DECAY_COUNT: u32 = 0u;

// The tensors weight decay skips (src/nn/optimizer.ts, noDecayTable): NO_DECAY_COUNT ranges of
// the parameter buffer, [ranges[k].x, ranges[k].y) in floats; .zw unused. 64 ranges: a bias per
// layer, and a model has at most 64 layers (MODEL_LIMITS.layers, src/nn/model.ts).
struct NoDecay {
  ranges: array<vec4u, 64>,
}

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

// Whether each of parameters i (a vec4) takes weight decay: false in the ranges of `no_decay`,
// the table each kernel file binds. p - start < end - start is start <= p < end in u32.
fn takes_decay(i: u32) -> vec4<bool> {
  let p = vec4u(4u * i) + vec4u(0u, 1u, 2u, 3u);
  var skip = vec4<bool>(false);
  for (var k = 0u; k < NO_DECAY_COUNT; k++) {
    let r = no_decay.ranges[k];
    skip = skip | (p - vec4u(r.x) < vec4u(r.y - r.x));
  }
  return !skip;
}
