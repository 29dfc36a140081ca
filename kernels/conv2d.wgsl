// 2-D convolution (cross-correlation, as MXNet and PyTorch): y = act(conv(x, w) + b), and its
// gradients. B batch, C input channels, H×W input, O output channels, K×K kernel, OH×OW output,
// `stride` and `pad` (zeros on every side); all buffers row-major (NCHW).
// The simple kernels: one output element per invocation. They are the reference and the
// fallback; kernels/conv2d_tiled.wgsl holds the fast register-tiled ones.
// Invocations are numbered gid.x + gid.y · (x workgroups · WG), so a dispatch can spread over
// two dimensions when one would exceed maxComputeWorkgroupsPerDimension.

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

// Workgroup size (invocations along x).
override WG: u32 = 64u;
// ACT, PREV_ACT, activate() and prev_act_grad() come from kernels/activation.wgsl.

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read> in2: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

fn invocation(gid: vec3u, groups: vec3u) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

// One invocation per (b, o, oh, ow); out: y (B, O, OH, OW), in0: x (B, C, H, W),
// in1: the layer's parameters, w (O, C, K, K) followed by bias (O).
@compute @workgroup_size(WG)
fn conv2d_forward(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = invocation(gid, groups);
  let C = dims.C;
  let H = i32(dims.H);
  let W = i32(dims.W);
  let O = dims.O;
  let K = dims.K;
  let OH = dims.OH;
  let OW = dims.OW;
  if (i >= dims.B * O * OH * OW) {
    return;
  }
  let ow = i % OW;
  let oh = (i / OW) % OH;
  let o = (i / (OW * OH)) % O;
  let b = i / (OW * OH * O);
  let ih0 = i32(oh * dims.stride) - i32(dims.pad);
  let iw0 = i32(ow * dims.stride) - i32(dims.pad);
  var sum = in1[O * C * K * K + o];
  for (var c = 0u; c < C; c++) {
    let xc = (b * C + c) * u32(H);
    let wc = (o * C + c) * K;
    for (var kh = 0u; kh < K; kh++) {
      let ih = ih0 + i32(kh);
      if (ih < 0 || ih >= H) {
        continue;
      }
      let xrow = (xc + u32(ih)) * u32(W);
      let wrow = (wc + kh) * K;
      for (var kw = 0u; kw < K; kw++) {
        let iw = iw0 + i32(kw);
        if (iw >= 0 && iw < W) {
          sum += in0[xrow + u32(iw)] * in1[wrow + kw];
        }
      }
    }
  }
  out[i] = activate(sum);
}

// One invocation per (b, c, ih, iw); out: dx (B, C, H, W) = conv_transpose(dz, w) ⊙
// prev_act'(x), in0: dz (B, O, OH, OW), in1: the layer's parameters (w (O, C, K, K) first),
// in2: x (B, C, H, W), the layer below's output.
@compute @workgroup_size(WG)
fn conv2d_backward_input(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = invocation(gid, groups);
  let C = dims.C;
  let H = dims.H;
  let W = dims.W;
  let O = dims.O;
  let K = dims.K;
  let OH = dims.OH;
  let OW = dims.OW;
  let S = dims.stride;
  if (i >= dims.B * C * H * W) {
    return;
  }
  let iw = i % W;
  let ih = (i / W) % H;
  let c = (i / (W * H)) % C;
  let b = i / (W * H * C);
  // Output (oh, ow) read x at (oh·S - pad + kh, ow·S - pad + kw): the taps that reach (ih, iw)
  // are kh = th - oh·S for th = ih + pad, i.e. kh0, kh0 + S, ... with oh = oh0, oh0 - 1, ...
  let th = ih + dims.pad;
  let tw = iw + dims.pad;
  let kh0 = th % S;
  let oh0 = i32(th / S);
  let kw0 = tw % S;
  let ow0 = i32(tw / S);
  var sum = 0.0;
  if (S == 1u) {
    // Stride 1 (LeNet's): the taps that reach (ih, iw) form one rectangle, kh in
    // [max(th - OH + 1, 0), min(th, K - 1)], so the loops need no per-tap checks.
    let kh_lo = u32(max(i32(th) - i32(OH) + 1, 0));
    let kh_hi = min(th, K - 1u);
    let kw_lo = u32(max(i32(tw) - i32(OW) + 1, 0));
    let kw_hi = min(tw, K - 1u);
    for (var o = 0u; o < O; o++) {
      let dzo = (b * O + o) * OH;
      let wo = (o * C + c) * K;
      for (var kh = kh_lo; kh <= kh_hi; kh++) {
        let dzrow = (dzo + th - kh) * OW + tw;
        let wrow = (wo + kh) * K;
        for (var kw = kw_lo; kw <= kw_hi; kw++) {
          sum += in0[dzrow - kw] * in1[wrow + kw];
        }
      }
    }
    out[i] = sum * prev_act_grad(in2[i]);
    return;
  }
  for (var o = 0u; o < O; o++) {
    let dzo = (b * O + o) * OH;
    let wo = (o * C + c) * K;
    var oh = oh0;
    for (var kh = kh0; kh < K && oh >= 0; kh += S) {
      if (u32(oh) < OH) {
        let dzrow = (dzo + u32(oh)) * OW;
        let wrow = (wo + kh) * K;
        var ow = ow0;
        for (var kw = kw0; kw < K && ow >= 0; kw += S) {
          if (u32(ow) < OW) {
            sum += in0[dzrow + u32(ow)] * in1[wrow + kw];
          }
          ow -= 1;
        }
      }
      oh -= 1;
    }
  }
  out[i] = sum * prev_act_grad(in2[i]);
}

// One invocation per (batch slice s, o, c, kh, kw); out: slice s of the partial sums
// (S, O·C·K·K + O), each laid out like the gradient range, dw (O, C, K, K) then db (O) (with
// S = 1, the gradient range itself); in0: dz (B, O, OH, OW), in1: x (B, C, H, W). Slice s sums
// images s·BS .. s·BS + BS - 1, so small layers still make enough invocations for a GPU; the
// invocations with c = kh = kw = 0 also sum db.
@compute @workgroup_size(WG)
fn conv2d_backward_weight(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = invocation(gid, groups);
  let B = dims.B;
  let C = dims.C;
  let H = i32(dims.H);
  let W = i32(dims.W);
  let O = dims.O;
  let K = dims.K;
  let OH = dims.OH;
  let OW = dims.OW;
  let CKK = C * K * K;
  if (i >= O * CKK * dims.S) {
    return;
  }
  let s = i / (O * CKK);
  let j = i % (O * CKK);
  let kw = j % K;
  let kh = (j / K) % K;
  let c = (j / (K * K)) % C;
  let o = j / CKK;
  var sum = 0.0;
  var db = 0.0;
  for (var b = s * dims.BS; b < min(B, (s + 1u) * dims.BS); b++) {
    let dzo = (b * O + o) * OH;
    let xc = (b * C + c) * u32(H);
    for (var oh = 0u; oh < OH; oh++) {
      let ih = i32(oh * dims.stride + kh) - i32(dims.pad);
      let row_ok = ih >= 0 && ih < H;
      let xrow = (xc + u32(max(ih, 0))) * u32(W);
      let dzrow = (dzo + oh) * OW;
      for (var ow = 0u; ow < OW; ow++) {
        let g = in0[dzrow + ow];
        db += g;
        let iw = i32(ow * dims.stride + kw) - i32(dims.pad);
        if (row_ok && iw >= 0 && iw < W) {
          sum += g * in1[xrow + u32(iw)];
        }
      }
    }
  }
  let base = s * (O * CKK + O);
  out[base + j] = sum;
  if (j % CKK == 0u) {
    out[base + O * CKK + o] = db;
  }
}

// One invocation per element of the gradient range; out: dw (O, C, K, K) then db (O), in0: the
// S partial sums of a weight-gradient kernel (this file's or conv2d_tiled.wgsl's), each laid
// out like out.
@compute @workgroup_size(WG)
fn conv2d_sum_slices(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let n = dims.O * dims.C * dims.K * dims.K + dims.O;
  let i = invocation(gid, groups);
  if (i >= n) {
    return;
  }
  var sum = 0.0;
  for (var s = 0u; s < dims.S; s++) {
    sum += in0[s * n + i];
  }
  out[i] = sum;
}
