// Adam and AdamW over every parameter of the model at once (they live in one buffer).
//
// Adam is MXNet's adam_update (src/operator/optimizer_op-inl.h, AdamUpdateKernel), weight decay
// added to the gradient BEFORE clipping, as there:
//   g = clip(rescale_grad * grad + wd * w, ±clip)   (no clipping when clip <= 0)
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g²
//   w -= lr * m / (sqrt(v) + epsilon)
// with the bias correction folded into the rate by the caller, as MXNet's Python Adam does
// (python/mxnet/optimizer/optimizer.py): lr = lr_t · sqrt(1 - beta2^t) / (1 - beta1^t).
//
// AdamW (adamw_update) is MXNet's contrib adamw_update (src/operator/contrib/adamw-inl.h,
// AdamWUpdate; Loshchilov & Hutter, "Decoupled Weight Decay Regularization", Algorithm 2):
//   g = clip(rescale_grad * grad, ±clip)
//   m, v as above;  w -= eta * (lr * m / (sqrt(v) + epsilon) + wd * w)
// where eta is the schedule's multiplier (lr_t / base lr) and lr the base rate with the bias
// correction folded in, so the decay is not scaled by the base rate (as in the paper).
//
// In both, wd is 0 for the biases, as MXNet's wd_mult makes it (see kernels/optimizer.wgsl).
//
// The caller writes one Dims per step of a submit into 256-byte slots of one uniform buffer
// (t, and so lr, change every step), so nothing is rebuilt and nothing read back.

struct Dims {
  n: u32,
  lr: f32,
  beta1: f32,
  beta2: f32,
  epsilon: f32,
  wd: f32,
  rescale_grad: f32,
  clip: f32,
  eta: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

// WG, CLIP, WEIGHT_DECAY, NoDecay, param_index(), clip_gradient() and takes_decay() come from
// kernels/optimizer.wgsl.

@group(0) @binding(0) var<storage, read_write> w: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> mean: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> variance: array<vec4f>;
@group(0) @binding(3) var<storage, read> grad: array<vec4f>;
@group(0) @binding(4) var<uniform> no_decay: NoDecay;
@group(0) @binding(5) var<uniform> dims: Dims;

// The moments' update at parameters i (a vec4) for gradient g: stores m and v, returns the
// step lr · m / (sqrt(v) + epsilon).
fn adam_step(i: u32, g: vec4f) -> vec4f {
  let m = dims.beta1 * mean[i] + (1.0 - dims.beta1) * g;
  let v = dims.beta2 * variance[i] + (1.0 - dims.beta2) * g * g;
  mean[i] = m;
  variance[i] = v;
  return dims.lr * m / (sqrt(v) + dims.epsilon);
}

// One invocation per 4 parameters; w, mean, variance, grad: (n / 4) vec4s, n a multiple of 4
// (the parameter store pads to 64).
@compute @workgroup_size(WG)
fn adam_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = param_index(gid, nwg);
  if (i >= dims.n / 4u) {
    return;
  }
  let wi = w[i];
  var g = dims.rescale_grad * grad[i];
  if (WEIGHT_DECAY) {
    g += select(vec4f(0.0), dims.wd * wi, takes_decay(i));
  }
  w[i] = wi - adam_step(i, clip_gradient(g, dims.clip));
}

// One invocation per 4 parameters, as adam_update; the decay is decoupled from the gradient.
@compute @workgroup_size(WG)
fn adamw_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = param_index(gid, nwg);
  if (i >= dims.n / 4u) {
    return;
  }
  let wi = w[i];
  var step = adam_step(i, clip_gradient(dims.rescale_grad * grad[i], dims.clip));
  if (WEIGHT_DECAY) {
    step += select(vec4f(0.0), dims.wd * wi, takes_decay(i));
  }
  w[i] = wi - step * dims.eta;
}
