// Max pooling over 2×2 windows at stride 2, no padding: the fast path of kernels/pool.wgsl for
// LeNet's pools, four windows per invocation with vec4 loads and stores (llvmpipe, the CPU
// adapter, pays per load and per integer division). B batch, C channels, H×W input, OH×OW
// output; all buffers row-major (NCHW), read and written as vec4s along rows, so OW must be a
// multiple of 4. The bindings are pool.wgsl's, in vec4s, so one layer's buffers serve both.
// Invocations are numbered gid.x + gid.y · (x workgroups · WG), so a dispatch can spread over
// two dimensions when one would exceed maxComputeWorkgroupsPerDimension.

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
// ACT, PREV_ACT, activate() and prev_act_grad() come from kernels/activation.wgsl.

fn invocation(gid: vec3u, groups: vec3u) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

// One binding number per variable, outputs first: the forward pass binds y4, argmax4 and x4,
// the backward pass dx4, x4, dy4 and argmax4_in (the forward's argmax4, read).
@group(0) @binding(0) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> argmax4: array<vec4u>;
@group(0) @binding(2) var<storage, read_write> dx4: array<vec4f>;
@group(0) @binding(3) var<storage, read> x4: array<vec4f>;
@group(0) @binding(4) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(5) var<storage, read> argmax4_in: array<vec4u>;
@group(0) @binding(6) var<uniform> dims: Dims;

// One invocation per (b, c, oh, 4 output columns) of 2×2 windows at stride 2; y4: y
// (B, C, OH, OW/4), argmax4: (B, C, OH, OW/4) flat indices into x of each window's first
// maximum, x4: x (B, C, H, W/4). Needs OW % 4 == 0 and W == 2·OW (a last odd row is dropped).
@compute @workgroup_size(WG)
fn maxpool_forward_2x2(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = invocation(gid, groups);
  let OW4 = dims.OW / 4u;
  if (i >= dims.B * dims.C * dims.OH * OW4) {
    return;
  }
  let q = i % OW4;
  let oh = (i / OW4) % dims.OH;
  let plane = i / (OW4 * dims.OH);
  let top = ((plane * dims.H + 2u * oh) * dims.W) / 4u + 2u * q;
  let bottom = top + dims.W / 4u;
  let a0 = x4[top];
  let a1 = x4[top + 1u];
  let b0 = x4[bottom];
  let b1 = x4[bottom + 1u];
  // Flat indices into x of each window's top-left element; candidates in row-major order.
  let tl = (plane * dims.H + 2u * oh) * dims.W + 8u * q + vec4u(0u, 2u, 4u, 6u);
  var m = vec4f(a0.x, a0.z, a1.x, a1.z);
  var arg = tl;
  let tr = vec4f(a0.y, a0.w, a1.y, a1.w);
  arg = select(arg, tl + 1u, tr > m);
  m = select(m, tr, tr > m);
  let bl = vec4f(b0.x, b0.z, b1.x, b1.z);
  arg = select(arg, tl + dims.W, bl > m);
  m = select(m, bl, bl > m);
  let br = vec4f(b0.y, b0.w, b1.y, b1.w);
  arg = select(arg, tl + dims.W + 1u, br > m);
  m = select(m, br, br > m);
  y4[i] = m;
  argmax4[i] = arg;
}


// One invocation per (b, c, oh, 4 output columns) of 2×2 windows at stride 2, a gather: dx4:
// dx (B, C, H, W/4), rows 2·oh and 2·oh + 1, columns 8q .. 8q + 7 = dy where the window's argmax
// is the element, else 0, ⊙ prev_act'(x); dy4, argmax4_in: (B, C, OH, OW/4), x4: x
// (B, C, H, W/4). Needs OW % 4 == 0, W == 2·OW and H == 2·OH, so every element is written.
@compute @workgroup_size(WG)
fn maxpool_backward_2x2(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = invocation(gid, groups);
  let OW4 = dims.OW / 4u;
  if (i >= dims.B * dims.C * dims.OH * OW4) {
    return;
  }
  let q = i % OW4;
  let oh = (i / OW4) % dims.OH;
  let plane = i / (OW4 * dims.OH);
  let g = dy4[i];
  let arg = argmax4_in[i];
  let W = dims.W;
  let tl = (plane * dims.H + 2u * oh) * W + 8u * q + vec4u(0u, 2u, 4u, 6u);
  let zero = vec4f(0.0);
  let dtl = select(zero, g, arg == tl);
  let dtr = select(zero, g, arg == tl + 1u);
  let dbl = select(zero, g, arg == tl + W);
  let dbr = select(zero, g, arg == tl + W + 1u);
  let top = ((plane * dims.H + 2u * oh) * W) / 4u + 2u * q;
  let bottom = top + W / 4u;
  dx4[top] = vec4f(dtl.x, dtr.x, dtl.y, dtr.y) * prev_act_grad4(x4[top]);
  dx4[top + 1u] = vec4f(dtl.z, dtr.z, dtl.w, dtr.w) * prev_act_grad4(x4[top + 1u]);
  dx4[bottom] = vec4f(dbl.x, dbr.x, dbl.y, dbr.y) * prev_act_grad4(x4[bottom]);
  dx4[bottom + 1u] = vec4f(dbl.z, dbr.z, dbl.w, dbr.w) * prev_act_grad4(x4[bottom + 1u]);
}

// maxpool_backward_2x2 for a pool whose forward ran in its convolution's epilogue
// (conv2d_tiled.wgsl's conv2d_forward_tiled_pool), which stored the pool's output and argmax
// but not the convolution's output: prev_act' is taken of the pooled y, which is the
// convolution's output at each window's argmax, the only element whose gradient is not 0.
// The same values as maxpool_backward_2x2 (g · prev_act'(y) where the argmax is, 0 elsewhere).
// One invocation per (b, c, oh, 4 output columns); dx4: dx (B, C, H, W/4); x4: here the pool's
// output y (B, C, OH, OW/4); dy4, argmax4_in: (B, C, OH, OW/4). Needs maxpool_backward_2x2's
// shapes.
@compute @workgroup_size(WG)
fn maxpool_backward_2x2_fused(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = invocation(gid, groups);
  let OW4 = dims.OW / 4u;
  if (i >= dims.B * dims.C * dims.OH * OW4) {
    return;
  }
  let q = i % OW4;
  let oh = (i / OW4) % dims.OH;
  let plane = i / (OW4 * dims.OH);
  let g = dy4[i] * prev_act_grad4(x4[i]);
  let arg = argmax4_in[i];
  let W = dims.W;
  let tl = (plane * dims.H + 2u * oh) * W + 8u * q + vec4u(0u, 2u, 4u, 6u);
  let zero = vec4f(0.0);
  let dtl = select(zero, g, arg == tl);
  let dtr = select(zero, g, arg == tl + 1u);
  let dbl = select(zero, g, arg == tl + W);
  let dbr = select(zero, g, arg == tl + W + 1u);
  let top = ((plane * dims.H + 2u * oh) * W) / 4u + 2u * q;
  let bottom = top + W / 4u;
  dx4[top] = vec4f(dtl.x, dtr.x, dtl.y, dtr.y);
  dx4[top + 1u] = vec4f(dtl.z, dtr.z, dtl.w, dtr.w);
  dx4[bottom] = vec4f(dbl.x, dbr.x, dbl.y, dbr.y);
  dx4[bottom + 1u] = vec4f(dbl.z, dbr.z, dbl.w, dbr.w);
}
