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
// In both, wd is 0 for the biases, as MXNet's wd_mult makes it (see kernels/optimizer.wgsl).
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

// WG, CLIP, WEIGHT_DECAY, NoDecay, param_index(), clip_gradient() and takes_decay() come from
// kernels/optimizer.wgsl.
// Momentum on or off is fixed per pipeline rather than tested on the uniform: CPU adapters run
// every branch as masked SIMD whatever the uniform says, and the untaken momentum branch alone
// doubled this kernel's time on llvmpipe. The uniforms still carry the values. (CLIP and
// WEIGHT_DECAY are pipeline constants for the same reason.)
override MOMENTUM: bool = false;

@group(0) @binding(0) var<storage, read_write> w: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> mom: array<vec4f>;
@group(0) @binding(2) var<storage, read> grad: array<vec4f>;
@group(0) @binding(3) var<uniform> no_decay: NoDecay;
@group(0) @binding(4) var<uniform> dims: Dims;

// The step both rules take at parameters i (a vec4): lr * (g + wd * w), g the rescaled and
// clipped gradient, wd 0 where takes_decay() says no.
fn sgd_step(i: u32) -> vec4f {
  var g = clip_gradient(dims.rescale_grad * grad[i], dims.clip);
  if (WEIGHT_DECAY) {
    g += select(vec4f(0.0), dims.wd * w[i], takes_decay(i));
  }
  return dims.lr * g;
}

// One invocation per 4 parameters; w, mom, grad: (n / 4) vec4s, n a multiple of 4 (the
// parameter store pads to 64).
@compute @workgroup_size(WG)
fn sgd_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = param_index(gid, nwg);
  if (i >= dims.n / 4u) {
    return;
  }
  let step = sgd_step(i);
  if (MOMENTUM) {
    let m = dims.momentum * mom[i] - step;
    mom[i] = m;
    w[i] += m;
  } else {
    w[i] -= step;
  }
}

// One invocation per 4 parameters, as sgd_update; momentum > 0.
@compute @workgroup_size(WG)
fn nag_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = param_index(gid, nwg);
  if (i >= dims.n / 4u) {
    return;
  }
  let step = sgd_step(i);
  let m = dims.momentum * mom[i] - step;
  mom[i] = m;
  w[i] += dims.momentum * m - step;
}
