// 2-D convolution for GPUs, register-tiled: 5×5 kernels, stride 1, no padding, W % 4 == 0
// (LeNet's convolutions). kernels/conv2d.wgsl holds the simple reference kernels and every
// other shape; kernels/conv2d_tiled.wgsl the ones for CPU adapters.
// B batch, C input channels, H×W input, O output channels, OH×OW = (H - 4)×(W - 4) output; all
// buffers row-major (NCHW), rows read and written as vec4s (W and OW are multiples of 4).
//
// An invocation owns 4 adjacent columns (a vec4) of TT channels. Per row of the 5×5 window it
// loads two vec4s, 8 columns; the 5 taps are the 5 windows of 4 columns inside them (register
// swizzles), so each load feeds 5·TT vec4 multiply-adds. The channel tile is the slowest
// invocation index, so the invocations of a subgroup read the same weights (one broadcast load)
// and neighbouring columns of the same rows. The loops hold no division and no per-tap bounds
// check: the simple kernels spend most of their instructions on both.
// Invocations are numbered gid.x + gid.y · (x workgroups · WG), as in conv2d.wgsl.

struct Dims {
  B: u32,
  C: u32,
  H: u32,
  W: u32,
  O: u32,
  K: u32,
  OH: u32,
  OW: u32,
  stride: u32,
  pad: u32,
  // Batch slices of the weight gradient, and images per slice: unused here (conv2d.wgsl's).
  S: u32,
  BS: u32,
}

// Channels per invocation: output channels (forward) or input channels (input gradient).
const TT: u32 = 5u;
// Weights per (output channel, input channel): the 5×5 window.
const KK: u32 = 25u;

// Workgroup size (invocations along x).
override WG: u32 = 64u;
// ACT, PREV_ACT, activate() and prev_act_grad() come from kernels/activation.wgsl.

// Two outputs, so that conv2d_backward_vec4 can write both gradients; each entry point uses
// some of these.
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(2) var<storage, read> in0v: array<vec4f>;
@group(0) @binding(3) var<storage, read> in1: array<f32>;
@group(0) @binding(4) var<storage, read> in2v: array<vec4f>;
@group(0) @binding(5) var<uniform> dims: Dims;

fn invocation(gid: vec3u, groups: vec3u) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

// acc + Σ_kw window(kw) · w[kw], where window(kw) is columns kw .. kw + 3 of the 8 columns
// a‖b and w the 5 weights at in1[at..]: one row of a 5×5 cross-correlation.
fn taps(acc: vec4f, a: vec4f, b: vec4f, at: u32) -> vec4f {
  var s = fma(a, vec4f(in1[at]), acc);
  s = fma(vec4f(a.yzw, b.x), vec4f(in1[at + 1u]), s);
  s = fma(vec4f(a.zw, b.xy), vec4f(in1[at + 2u]), s);
  s = fma(vec4f(a.w, b.xyz), vec4f(in1[at + 3u]), s);
  return fma(b, vec4f(in1[at + 4u]), s);
}

// The same with the window flipped, window(kw) = columns 4 - kw .. 7 - kw: one row of the
// transposed convolution that carries dz back to dx.
fn taps_flipped(acc: vec4f, a: vec4f, b: vec4f, at: u32) -> vec4f {
  var s = fma(b, vec4f(in1[at]), acc);
  s = fma(vec4f(a.w, b.xyz), vec4f(in1[at + 1u]), s);
  s = fma(vec4f(a.zw, b.xy), vec4f(in1[at + 2u]), s);
  s = fma(vec4f(a.yzw, b.x), vec4f(in1[at + 3u]), s);
  return fma(a, vec4f(in1[at + 4u]), s);
}

// One invocation per (o tile, b, oh, column group q), q fastest → y[b, o0 .. o0 + 4, oh,
// 4q .. 4q + 3]; out4: y (B, O, OH, OW), in0v: x (B, C, H, W), in1: the layer's parameters,
// w (O, C, 5, 5) followed by bias (O).
@compute @workgroup_size(WG)
fn conv2d_forward_vec4(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = invocation(gid, groups);
  let B = dims.B;
  let C = dims.C;
  let O = dims.O;
  let OH = dims.OH;
  let W4 = dims.W / 4u;
  let OW4 = dims.OW / 4u;
  if (i >= ((O + TT - 1u) / TT) * B * OH * OW4) {
    return;
  }
  let q = i % OW4;
  let oh = (i / OW4) % OH;
  let b = (i / (OW4 * OH)) % B;
  let o0 = (i / (OW4 * OH * B)) * TT;
  // Weight blocks of the tile's channels; channels past O repeat the last (never stored).
  let w0 = min(o0, O - 1u) * C * KK;
  let w1 = min(o0 + 1u, O - 1u) * C * KK;
  let w2 = min(o0 + 2u, O - 1u) * C * KK;
  let w3 = min(o0 + 3u, O - 1u) * C * KK;
  let w4 = min(o0 + 4u, O - 1u) * C * KK;
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  var a4 = vec4f(0.0);
  for (var c = 0u; c < C; c++) {
    // Input rows oh .. oh + 4 from column 4q: vec4s q and q + 1 (4q + 7 < W since OW = W - 4).
    var row = ((b * C + c) * dims.H + oh) * W4 + q;
    var at = c * KK;
    for (var kh = 0u; kh < 5u; kh++) {
      let xa = in0v[row];
      let xb = in0v[row + 1u];
      a0 = taps(a0, xa, xb, w0 + at);
      a1 = taps(a1, xa, xb, w1 + at);
      a2 = taps(a2, xa, xb, w2 + at);
      a3 = taps(a3, xa, xb, w3 + at);
      a4 = taps(a4, xa, xb, w4 + at);
      row += W4;
      at += 5u;
    }
  }
  let bias = O * C * KK;
  let plane = OH * OW4;
  let y = ((b * O + o0) * OH + oh) * OW4 + q;
  out4[y] = activate4(a0 + in1[bias + o0]);
  if (o0 + 1u < O) {
    out4[y + plane] = activate4(a1 + in1[bias + o0 + 1u]);
  }
  if (o0 + 2u < O) {
    out4[y + 2u * plane] = activate4(a2 + in1[bias + o0 + 2u]);
  }
  if (o0 + 3u < O) {
    out4[y + 3u * plane] = activate4(a3 + in1[bias + o0 + 3u]);
  }
  if (o0 + 4u < O) {
    out4[y + 4u * plane] = activate4(a4 + in1[bias + o0 + 4u]);
  }
}

// Invocations of input_columns: one per (c tile, b, ih, column group q).
fn input_invocations() -> u32 {
  return ((dims.C + TT - 1u) / TT) * dims.B * dims.H * (dims.W / 4u);
}

// Invocation i = (c tile, b, ih, column group q), q fastest → dx[b, c0 .. c0 + 4, ih,
// 4q .. 4q + 3] = conv_transpose(dz, w) ⊙ prev_act'(x); out4: dx (B, C, H, W), in0v: dz
// (B, O, OH, OW), in1: the layer's parameters (w (O, C, 5, 5) first), in2v: x (B, C, H, W).
fn input_columns(i: u32) {
  let B = dims.B;
  let C = dims.C;
  let H = dims.H;
  let O = dims.O;
  let OH = dims.OH;
  let W4 = dims.W / 4u;
  let OW4 = dims.OW / 4u;
  if (i >= input_invocations()) {
    return;
  }
  let q = i % W4;
  let ih = (i / W4) % H;
  let b = (i / (W4 * H)) % B;
  let c0 = (i / (W4 * H * B)) * TT;
  // dx columns 4q .. 4q + 3 gather dz columns 4q - 4 .. 4q + 3: vec4s q - 1 and q of a dz
  // row, zero where they fall outside it (dz rows are one vec4 shorter than dx rows).
  let qa = max(q, 1u) - 1u;
  let qb = min(q, OW4 - 1u);
  let has_a = q > 0u;
  let has_b = q < OW4;
  // dz rows ih - kh for kh in [kh_lo, kh_hi]: the window rows that reach input row ih.
  let kh_lo = u32(max(i32(ih) - i32(OH) + 1, 0));
  let kh_hi = min(ih, 4u);
  let c1 = min(c0 + 1u, C - 1u) * KK;
  let c2 = min(c0 + 2u, C - 1u) * KK;
  let c3 = min(c0 + 3u, C - 1u) * KK;
  let c4 = min(c0 + 4u, C - 1u) * KK;
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  var a4 = vec4f(0.0);
  for (var o = 0u; o < O; o++) {
    let dz = (b * O + o) * OH;
    let wo = o * C * KK;
    for (var kh = kh_lo; kh <= kh_hi; kh++) {
      let row = (dz + ih - kh) * OW4;
      let za = select(vec4f(0.0), in0v[row + qa], has_a);
      let zb = select(vec4f(0.0), in0v[row + qb], has_b);
      let at = wo + kh * 5u;
      a0 = taps_flipped(a0, za, zb, at + c0 * KK);
      a1 = taps_flipped(a1, za, zb, at + c1);
      a2 = taps_flipped(a2, za, zb, at + c2);
      a3 = taps_flipped(a3, za, zb, at + c3);
      a4 = taps_flipped(a4, za, zb, at + c4);
    }
  }
  let plane = H * W4;
  let dx = ((b * C + c0) * H + ih) * W4 + q;
  out4[dx] = a0 * prev_act_grad4(in2v[dx]);
  if (c0 + 1u < C) {
    out4[dx + plane] = a1 * prev_act_grad4(in2v[dx + plane]);
  }
  if (c0 + 2u < C) {
    out4[dx + 2u * plane] = a2 * prev_act_grad4(in2v[dx + 2u * plane]);
  }
  if (c0 + 3u < C) {
    out4[dx + 3u * plane] = a3 * prev_act_grad4(in2v[dx + 3u * plane]);
  }
  if (c0 + 4u < C) {
    out4[dx + 4u * plane] = a4 * prev_act_grad4(in2v[dx + 4u * plane]);
  }
}

// Workgroups of weight_row: one per (o, c, kh).
fn weight_rows() -> u32 {
  return dims.O * dims.C * 5u;
}

// The largest WG (src/nn/conv2d.ts keeps to it): the size of `partial`, fixed rather than
// WG-sized so that workgroup memory never depends on how a driver sizes override-length arrays.
const MAX_WG: u32 = 256u;

// Per invocation, the 6 partial sums of weight_row (taps kw = 0..4, then db), for the tree
// reduction across the workgroup.
var<workgroup> partial: array<array<f32, 6>, MAX_WG>;

// Invocation t of the workgroup for row r = (o, c, kh), kh fastest → dw[o, c, kh, 0 .. 4]:
// the workgroup's invocations share out the (image, output row) pairs, each keeping per tap four
// lanes of partial sums (one per column of a vec4), and add them up in workgroup memory; the
// row with c = kh = 0 also sums db. out: the gradient range, dw (O, C, 5, 5) then db (O);
// in0v: dz (B, O, OH, OW), in2v: x (B, C, H, W). Called by whole workgroups (it has barriers).
fn weight_row(r: u32, t: u32) {
  let C = dims.C;
  let O = dims.O;
  let OH = dims.OH;
  let W4 = dims.W / 4u;
  let OW4 = dims.OW / 4u;
  let kh = r % 5u;
  let c = (r / 5u) % C;
  let o = r / (5u * C);
  var d0 = vec4f(0.0);
  var d1 = vec4f(0.0);
  var d2 = vec4f(0.0);
  var d3 = vec4f(0.0);
  var d4 = vec4f(0.0);
  var db = vec4f(0.0);
  for (var p = t; p < dims.B * OH; p += WG) {
    let b = p / OH;
    let oh = p % OH;
    let dz = ((b * O + o) * OH + oh) * OW4;
    // x row oh + kh from column 4q: vec4s q and q + 1.
    let x = ((b * C + c) * dims.H + oh + kh) * W4;
    for (var q = 0u; q < OW4; q++) {
      let z = in0v[dz + q];
      let xa = in2v[x + q];
      let xb = in2v[x + q + 1u];
      d0 = fma(z, xa, d0);
      d1 = fma(z, vec4f(xa.yzw, xb.x), d1);
      d2 = fma(z, vec4f(xa.zw, xb.xy), d2);
      d3 = fma(z, vec4f(xa.w, xb.xyz), d3);
      d4 = fma(z, xb, d4);
      db += z;
    }
  }
  let ones = vec4f(1.0);
  partial[t] = array<f32, 6>(
    dot(d0, ones),
    dot(d1, ones),
    dot(d2, ones),
    dot(d3, ones),
    dot(d4, ones),
    dot(db, ones),
  );
  workgroupBarrier();
  for (var span = WG / 2u; span > 0u; span /= 2u) {
    if (t < span) {
      for (var k = 0u; k < 6u; k++) {
        partial[t][k] += partial[t + span][k];
      }
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    let dw = (o * C + c) * KK + kh * 5u;
    for (var k = 0u; k < 5u; k++) {
      out[dw + k] = partial[0][k];
    }
    if (c == 0u && kh == 0u) {
      out[O * C * KK + o] = partial[0][5];
    }
  }
}

// weight_row, one workgroup each (workgroups past the rows return at once).
@compute @workgroup_size(WG)
fn conv2d_backward_weight_vec4(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) t: u32,
) {
  let r = wg.x + wg.y * groups.x;
  if (r < weight_rows()) {
    weight_row(r, t);
  }
}

// Both gradients in one dispatch, as they depend on each other in neither direction (each alone
// leaves much of a large GPU idle, and a dispatch boundary costs a few microseconds): the first
// weight_rows() workgroups run weight_row, the invocations after them input_columns. The branch
// depends on the workgroup alone, so weight_row's barriers stay in uniform control flow.
@compute @workgroup_size(WG)
fn conv2d_backward_vec4(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) groups: vec3u,
  @builtin(local_invocation_index) t: u32,
) {
  let r = wg.x + wg.y * groups.x;
  let rows = weight_rows();
  if (r < rows) {
    weight_row(r, t);
  } else {
    input_columns(invocation(gid, groups) - rows * WG);
  }
}
