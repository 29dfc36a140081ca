// 2-D convolution for GPUs, as implicit matrix products: 16×16 output tiles per workgroup, one
// output per invocation, operands (an im2col view of the input, the weights) staged through
// workgroup memory in 16-wide chunks so that consecutive invocations load consecutive addresses.
// kernels/conv2d.wgsl stays the reference. B batch, C input channels, H×W input, O output
// channels, K×K kernel, OH×OW output, `stride`, `pad`; NCHW; any sizes (edges zero-filled).

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
  // Batch slices of the weight gradient, and images per slice.
  S: u32,
  BS: u32,
}

const T: u32 = 16u;

// Activation in conv2d_forward_shared's epilogue: 0 none, 1 relu, 2 tanh, 3 sigmoid.
override ACT: u32 = 0u;
// Activation of the layer below, applied in conv2d_backward_input_shared's epilogue.
override PREV_ACT: u32 = 0u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read> in2: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

// Two 16×16 staging tiles, padded to 17 columns against bank conflicts.
var<workgroup> ta: array<array<f32, 17>, 16>;
var<workgroup> tb: array<array<f32, 17>, 16>;

fn activate(z: f32) -> f32 {
  switch ACT {
    case 1u: { return max(z, 0.0); }
    case 2u: { return tanh(clamp(z, -15.0, 15.0)); }
    case 3u: { return 1.0 / (1.0 + exp(-z)); }
    default: { return z; }
  }
}

// d act(z) / dz in terms of the activation's output y = act(z).
fn prev_act_grad(y: f32) -> f32 {
  switch PREV_ACT {
    case 1u: { return select(0.0, 1.0, y > 0.0); }
    case 2u: { return 1.0 - y * y; }
    case 3u: { return y * (1.0 - y); }
    default: { return 1.0; }
  }
}

// The input pixel that output position p = (oh, ow) of image b sees through tap r = (c, kh, kw),
// or 0 in the padding: the im2col matrix (B·OH·OW, C·K·K) read from x = in-buffer `which`.
fn im2col(b: u32, p: u32, r: u32, from_in1: bool) -> f32 {
  let K = dims.K;
  let kk = K * K;
  let c = r / kk;
  let kh = (r % kk) / K;
  let kw = r % K;
  let ih = i32((p / dims.OW) * dims.stride + kh) - i32(dims.pad);
  let iw = i32((p % dims.OW) * dims.stride + kw) - i32(dims.pad);
  let inside = ih >= 0 && iw >= 0 && u32(ih) < dims.H && u32(iw) < dims.W && c < dims.C;
  let at = ((b * dims.C + min(c, dims.C - 1u)) * dims.H + u32(max(ih, 0))) * dims.W +
    u32(max(iw, 0));
  if (from_in1) {
    return select(0.0, in1[min(at, arrayLength(&in1) - 1u)], inside);
  }
  return select(0.0, in0[min(at, arrayLength(&in0) - 1u)], inside);
}

// Workgroup (m tile, o tile), invocation (tx, ty) → y at m = m0 + tx (m = (b, oh, ow)),
// o = o0 + ty; out: y (B, O, OH, OW), in0: x (B, C, H, W), in1: parameters, w (O, C·K·K)
// then bias (O).
@compute @workgroup_size(16, 16)
fn conv2d_forward_shared(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let P = dims.OH * dims.OW;
  let M = dims.B * P;
  let O = dims.O;
  let R = dims.C * dims.K * dims.K;
  let m0 = wg.x * T;
  let o0 = wg.y * T;
  let m = m0 + l.x;
  let mb = min(m, M - 1u);
  var acc = 0.0;
  for (var r0 = 0u; r0 < R; r0 += T) {
    // ta[r][m]: the im2col chunk; tb[o][r]: the weights, rows contiguous in r.
    ta[l.y][l.x] = select(0.0, im2col(mb / P, mb % P, r0 + l.y, false), m < M && r0 + l.y < R);
    let wo = o0 + l.y;
    let wr = r0 + l.x;
    tb[l.y][l.x] = select(0.0, in1[min(wo, O - 1u) * R + min(wr, R - 1u)], wo < O && wr < R);
    workgroupBarrier();
    for (var k = 0u; k < T; k++) {
      acc += ta[k][l.x] * tb[l.y][k];
    }
    workgroupBarrier();
  }
  let o = o0 + l.y;
  if (m < M && o < O) {
    out[((m / P) * O + o) * P + m % P] = activate(acc + in1[O * R + o]);
  }
}

// Workgroup (m tile, c tile), invocation (tx, ty) → dx at m = m0 + tx (m = (b, ih, iw)),
// c = c0 + ty: Σ over taps r = (o, kh, kw) of dz at the output that read (ih, iw) through
// (kh, kw), times w[o, c, kh, kw], then ⊙ prev_act'(x). out: dx (B, C, H, W),
// in0: dz (B, O, OH, OW), in1: parameters (w (O, C, K, K) first), in2: x (B, C, H, W).
@compute @workgroup_size(16, 16)
fn conv2d_backward_input_shared(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_id) l: vec3u,
) {
  let C = dims.C;
  let K = dims.K;
  let kk = K * K;
  let HW = dims.H * dims.W;
  let M = dims.B * HW;
  let R = dims.O * kk;
  let S = dims.stride;
  let m0 = wg.x * T;
  let c0 = wg.y * T;
  let m = m0 + l.x;
  let mb = min(m, M - 1u);
  let b = mb / HW;
  let ih = (mb % HW) / dims.W;
  let iw = mb % dims.W;
  var acc = 0.0;
  for (var r0 = 0u; r0 < R; r0 += T) {
    // ta[r][m]: dz at the output position that tap r = (o, kh, kw) maps (ih, iw) from, or 0.
    let r = r0 + l.y;
    let o = r / kk;
    let kh = (r % kk) / K;
    let kw = r % K;
    let th = i32(ih + dims.pad) - i32(kh);
    let tw = i32(iw + dims.pad) - i32(kw);
    let oh = u32(max(th, 0)) / S;
    let ow = u32(max(tw, 0)) / S;
    let hit = m < M && r < R && th >= 0 && tw >= 0 && u32(th) % S == 0u && u32(tw) % S == 0u &&
      oh < dims.OH && ow < dims.OW;
    let dz_at = ((b * dims.O + min(o, dims.O - 1u)) * dims.OH + min(oh, dims.OH - 1u)) * dims.OW +
      min(ow, dims.OW - 1u);
    ta[l.y][l.x] = select(0.0, in0[dz_at], hit);
    // tb[c][r]: w[o, c, kh, kw] for tap r = r0 + tx.
    let rr = r0 + l.x;
    let c = c0 + l.y;
    let w_at = (min(rr / kk, dims.O - 1u) * C + min(c, C - 1u)) * kk + rr % kk;
    tb[l.y][l.x] = select(0.0, in1[w_at], rr < R && c < C);
    workgroupBarrier();
    for (var k = 0u; k < T; k++) {
      acc += ta[k][l.x] * tb[l.y][k];
    }
    workgroupBarrier();
  }
  let c = c0 + l.y;
  if (m < M && c < C) {
    let at = (b * C + c) * HW + ih * dims.W + iw;
    out[at] = acc * prev_act_grad(in2[at]);
  }
}

// Workgroup (r tile, o tile, slice s), invocation (tx, ty) → slice s's partial dw[o0 + ty,
// r0 + tx] (r = (c, kh, kw)): Σ over the slice's (b, oh, ow) of dz · im2col(x); the r tile 0
// also sums db. out: S partial sums (S, O·C·K·K + O), each laid out like the gradient range;
// in0: dz (B, O, OH, OW), in1: x (B, C, H, W).
@compute @workgroup_size(16, 16)
fn conv2d_backward_weight_shared(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_id) l: vec3u,
) {
  let O = dims.O;
  let P = dims.OH * dims.OW;
  let R = dims.C * dims.K * dims.K;
  let n = O * R + O;
  let r0 = wg.x * T;
  let o0 = wg.y * T;
  let s = wg.z;
  let q_begin = s * dims.BS * P;
  let q_end = min(dims.B, (s + 1u) * dims.BS) * P;
  var acc = 0.0;
  var db = 0.0;
  for (var q0 = q_begin; q0 < q_end; q0 += T) {
    // ta[o][q]: dz rows, contiguous in q's (oh, ow); tb[q][r]: the im2col chunk.
    let q = q0 + l.x;
    let o = o0 + l.y;
    let qb = min(q, q_end - 1u);
    ta[l.y][l.x] = select(0.0, in0[((qb / P) * O + min(o, O - 1u)) * P + qb % P], q < q_end && o < O);
    let qr = q0 + l.y;
    let qrb = min(qr, q_end - 1u);
    tb[l.y][l.x] = select(0.0, im2col(qrb / P, qrb % P, r0 + l.x, true), qr < q_end && r0 + l.x < R);
    workgroupBarrier();
    for (var k = 0u; k < T; k++) {
      acc += ta[l.y][k] * tb[k][l.x];
      db += ta[l.y][k];
    }
    workgroupBarrier();
  }
  let o = o0 + l.y;
  let r = r0 + l.x;
  if (o < O && r < R) {
    out[s * n + o * R + r] = acc;
  }
  if (o < O && wg.x == 0u && l.x == 0u) {
    out[s * n + O * R + o] = db;
  }
}
