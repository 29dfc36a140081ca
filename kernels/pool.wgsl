// Max pooling over K×K windows every `stride` pixels, no padding (MXNet's "valid"): the
// forward pass keeps the argmax for the backward pass. B batch, C channels, H×W input, OH×OW
// output with OH = (H - K) / stride + 1 (rows and columns past the last window are dropped);
// all buffers row-major (NCHW).
// These kernels take any window and stride; kernels/pool_2x2.wgsl is the fast path for LeNet's
// 2×2 windows at stride 2, with the same bindings.
// struct Dims, WG and invocation() come from kernels/pool_common.wgsl; ACT, PREV_ACT,
// activate() and prev_act_grad() from kernels/activation.wgsl.

// One binding number per variable, outputs first: the forward pass binds y, argmax and x, the
// backward pass dx, x, dy and argmax_in (the forward's argmax, read).
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> argmax_in: array<u32>;
@group(0) @binding(6) var<uniform> dims: Dims;

// One invocation per (b, c, oh, ow); y: (B, C, OH, OW), argmax: (B, C, OH, OW) flat indices
// into x of each window's first maximum (row-major window order), x: (B, C, H, W).
@compute @workgroup_size(WG)
fn maxpool_forward(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = invocation(gid, groups);
  let H = dims.H;
  let W = dims.W;
  let K = dims.K;
  let OH = dims.OH;
  let OW = dims.OW;
  if (i >= dims.B * dims.C * OH * OW) {
    return;
  }
  let ow = i % OW;
  let oh = (i / OW) % OH;
  let plane = i / (OW * OH);
  let first = (plane * H + oh * dims.stride) * W + ow * dims.stride;
  var best = first;
  var m = x[first];
  for (var kh = 0u; kh < K; kh++) {
    for (var kw = 0u; kw < K; kw++) {
      let at = first + kh * W + kw;
      let v = x[at];
      if (v > m) {
        m = v;
        best = at;
      }
    }
  }
  y[i] = m;
  argmax[i] = best;
}

// One invocation per (b, c, ih, iw), a gather, so no atomics: dx (B, C, H, W) = the sum of dy
// over the windows whose argmax is this element, ⊙ prev_act'(x); dy, argmax: (B, C, OH, OW),
// x: (B, C, H, W). Windows overlap when K > stride; then an element may collect several.
@compute @workgroup_size(WG)
fn maxpool_backward(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = invocation(gid, groups);
  let H = dims.H;
  let W = dims.W;
  let K = dims.K;
  let S = dims.stride;
  let OH = dims.OH;
  let OW = dims.OW;
  if (i >= dims.B * dims.C * H * W) {
    return;
  }
  let iw = i % W;
  let ih = (i / W) % H;
  let plane = i / (W * H);
  // Windows oh with oh·S <= ih < oh·S + K: from ceil((ih + 1 - K) / S) to floor(ih / S).
  let oh_lo = select(0u, (ih + 1u - K + S - 1u) / S, ih + 1u >= K);
  let oh_hi = min(ih / S, OH - 1u);
  let ow_lo = select(0u, (iw + 1u - K + S - 1u) / S, iw + 1u >= K);
  let ow_hi = min(iw / S, OW - 1u);
  var sum = 0.0;
  for (var oh = oh_lo; oh <= oh_hi; oh++) {
    for (var ow = ow_lo; ow <= ow_hi; ow++) {
      let o = (plane * OH + oh) * OW + ow;
      if (argmax_in[o] == i) {
        sum += dy[o];
      }
    }
  }
  dx[i] = sum * prev_act_grad(x[i]);
}
