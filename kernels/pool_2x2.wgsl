// Max pooling over 2×2 windows at stride 2, no padding: the fast path of kernels/pool.wgsl for
// LeNet's pools, four windows per invocation with vec4 loads and stores (llvmpipe, the CPU
// adapter, pays per load and per integer division). B batch, C channels, H×W input, OH×OW
// output; all buffers row-major (NCHW), read and written as vec4s along rows, so OW must be a
// multiple of 4. The bindings are pool.wgsl's, in vec4s, so one layer's buffers serve both.
// struct Dims, WG and invocation() come from kernels/pool_common.wgsl; ACT, PREV_ACT,
// activate() and prev_act_grad4() from kernels/activation.wgsl.

// One binding number per variable, outputs first: the forward pass binds y4, argmax4 and x4,
// the backward pass dx4, x4, dy4 and argmax4_in (the forward's argmax4, read).
@group(0) @binding(0) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> argmax4: array<vec4u>;
@group(0) @binding(2) var<storage, read_write> dx4: array<vec4f>;
@group(0) @binding(3) var<storage, read> x4: array<vec4f>;
@group(0) @binding(4) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(5) var<storage, read> argmax4_in: array<vec4u>;
@group(0) @binding(6) var<uniform> dims: Dims;

// Where one invocation's four windows lie: invocation i is (b, c, oh, q), row-major over
// (B, C, OH, OW/4); its windows are output row oh, columns 4q .. 4q + 3, over input rows 2·oh
// and 2·oh + 1, columns 8q .. 8q + 7: two vec4s of x4 in each row.
struct Windows {
  // Flat indices into x of each window's top-left element; the others are + 1, + W, + W + 1.
  tl: vec4u,
  // Indices into x4 (and dx4) of the top row's first vec4 and the bottom row's (top + W/4).
  top: u32,
  bottom: u32,
}

// The number of invocations that have windows: B·C·OH·OW/4.
fn window_groups() -> u32 {
  return dims.B * dims.C * dims.OH * (dims.OW / 4u);
}

// The windows of invocation i < window_groups().
fn windows_of(i: u32) -> Windows {
  let OW4 = dims.OW / 4u;
  let q = i % OW4;
  let oh = (i / OW4) % dims.OH;
  let plane = i / (OW4 * dims.OH);
  // Flat index into x of input row 2·oh's first element.
  let row = (plane * dims.H + 2u * oh) * dims.W;
  let top = row / 4u + 2u * q;
  return Windows(row + 8u * q + vec4u(0u, 2u, 4u, 6u), top, top + dims.W / 4u);
}

// A gradient over one invocation's windows as dx4 holds it: the vec4s at top, top + 1 (input
// row 2·oh) and bottom, bottom + 1 (row 2·oh + 1).
struct Block {
  top0: vec4f,
  top1: vec4f,
  bottom0: vec4f,
  bottom1: vec4f,
}

// The four windows' gradients g scattered: each window's at its argmax element (arg, flat
// indices into x, as maxpool_forward_2x2 wrote them), 0 at its other three; tl as in Windows.
fn scatter_2x2(g: vec4f, arg: vec4u, tl: vec4u) -> Block {
  let W = dims.W;
  let zero = vec4f(0.0);
  let dtl = select(zero, g, arg == tl);
  let dtr = select(zero, g, arg == tl + 1u);
  let dbl = select(zero, g, arg == tl + W);
  let dbr = select(zero, g, arg == tl + W + 1u);
  return Block(
    vec4f(dtl.x, dtr.x, dtl.y, dtr.y),
    vec4f(dtl.z, dtr.z, dtl.w, dtr.w),
    vec4f(dbl.x, dbr.x, dbl.y, dbr.y),
    vec4f(dbl.z, dbr.z, dbl.w, dbr.w),
  );
}

// One invocation per (b, c, oh, 4 output columns) of 2×2 windows at stride 2; y4: y
// (B, C, OH, OW/4), argmax4: (B, C, OH, OW/4) flat indices into x of each window's first
// maximum, x4: x (B, C, H, W/4). Needs OW % 4 == 0 and W == 2·OW (a last odd row is dropped).
@compute @workgroup_size(WG)
fn maxpool_forward_2x2(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = invocation(gid, groups);
  if (i >= window_groups()) {
    return;
  }
  let w = windows_of(i);
  let a0 = x4[w.top];
  let a1 = x4[w.top + 1u];
  let b0 = x4[w.bottom];
  let b1 = x4[w.bottom + 1u];
  // Candidates in row-major order, so the first maximum wins.
  var m = vec4f(a0.x, a0.z, a1.x, a1.z);
  var arg = w.tl;
  let tr = vec4f(a0.y, a0.w, a1.y, a1.w);
  arg = select(arg, w.tl + 1u, tr > m);
  m = select(m, tr, tr > m);
  let bl = vec4f(b0.x, b0.z, b1.x, b1.z);
  arg = select(arg, w.tl + dims.W, bl > m);
  m = select(m, bl, bl > m);
  let br = vec4f(b0.y, b0.w, b1.y, b1.w);
  arg = select(arg, w.tl + dims.W + 1u, br > m);
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
  if (i >= window_groups()) {
    return;
  }
  let w = windows_of(i);
  let d = scatter_2x2(dy4[i], argmax4_in[i], w.tl);
  dx4[w.top] = d.top0 * prev_act_grad4(x4[w.top]);
  dx4[w.top + 1u] = d.top1 * prev_act_grad4(x4[w.top + 1u]);
  dx4[w.bottom] = d.bottom0 * prev_act_grad4(x4[w.bottom]);
  dx4[w.bottom + 1u] = d.bottom1 * prev_act_grad4(x4[w.bottom + 1u]);
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
  if (i >= window_groups()) {
    return;
  }
  let w = windows_of(i);
  let d = scatter_2x2(dy4[i] * prev_act_grad4(x4[i]), argmax4_in[i], w.tl);
  dx4[w.top] = d.top0;
  dx4[w.top + 1u] = d.top1;
  dx4[w.bottom] = d.bottom0;
  dx4[w.bottom + 1u] = d.bottom1;
}
