// SGD with momentum and weight decay, MXNet's sgd_mom_update / sgd_update, over every
// parameter of the model at once (they live in one buffer):
//   g = clip(rescale_grad * grad, ±clip)            (no clipping when clip <= 0)
//   momentum > 0:  mom = momentum * mom - lr * (g + wd * w);  w += mom
//   momentum = 0:  w -= lr * (g + wd * w)
// and Nesterov's momentum, MXNet's nag_mom_update (src/operator/optimizer_op-inl.h,
// NAGMomKernel), whose
//   mom' = momentum * mom;  w = w - mom' + (momentum + 1) * (mom' - lr * (g + wd * w));
//   mom = mom' - lr * (g + wd * w)
// is, with step = lr * (g + wd * w):  mom = momentum * mom - step;  w += momentum * mom - step.
// (NAG without momentum is sgd_update, as MXNet's NAG falls back to sgd_update.)
// `lr` is the rate of this update (a schedule's): the trainer writes one Dims per step of a
// submit into 256-byte slots of one uniform buffer, so a changing rate needs no pipeline.

struct Dims {
  n: u32,
  lr: f32,
  momentum: f32,
  wd: f32,
  rescale_grad: f32,
  clip: f32,
  _pad0: u32,
  _pad1: u32,
}

override WG: u32 = 256u;
// Which terms are on, fixed per pipeline rather than tested on the uniforms: CPU adapters run
// every branch as masked SIMD whatever the uniform says, and the untaken momentum branch alone
// doubled this kernel's time on llvmpipe. The uniforms still carry the values.
override MOMENTUM: bool = false;
override CLIP: bool = false;
override WEIGHT_DECAY: bool = false;

@group(0) @binding(0) var<storage, read_write> w: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> mom: array<vec4f>;
@group(0) @binding(2) var<storage, read> grad: array<vec4f>;
@group(0) @binding(3) var<uniform> dims: Dims;

// One invocation per 4 parameters (a 2-D grid folded to 1-D); w, mom, grad: (n / 4) vec4s,
// n a multiple of 4 (the parameter store pads to 64).
@compute @workgroup_size(WG)
fn sgd_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= dims.n / 4u) {
    return;
  }
  var g = dims.rescale_grad * grad[i];
  if (CLIP) {
    g = clamp(g, vec4f(-dims.clip), vec4f(dims.clip));
  }
  if (WEIGHT_DECAY) {
    g += dims.wd * w[i];
  }
  let step = dims.lr * g;
  if (MOMENTUM) {
    let m = dims.momentum * mom[i] - step;
    mom[i] = m;
    w[i] += m;
  } else {
    w[i] -= step;
  }
}

// One invocation per 4 parameters, as sgd_update; momentum > 0 (the pipeline has MOMENTUM on).
@compute @workgroup_size(WG)
fn nag_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= dims.n / 4u) {
    return;
  }
  var g = dims.rescale_grad * grad[i];
  if (CLIP) {
    g = clamp(g, vec4f(-dims.clip), vec4f(dims.clip));
  }
  if (WEIGHT_DECAY) {
    g += dims.wd * w[i];
  }
  let step = dims.lr * g;
  let m = dims.momentum * mom[i] - step;
  mom[i] = m;
  w[i] += dims.momentum * m - step;
}
