// Max pooling over K×K windows every `stride` pixels, no padding (MXNet's "valid"): the
// forward pass keeps the argmax for the backward pass. B batch, C channels, H×W input, OH×OW
// output with OH = (H - K) / stride + 1 (rows and columns past the last window are dropped);
// all buffers row-major (NCHW).
// maxpool_forward and maxpool_backward take any window and stride; the _2x2 entry points are
// the fast path for LeNet's 2×2 windows at stride 2, four windows per invocation with vec4
// loads and stores (llvmpipe, the CPU adapter, pays per load and per integer division).
// Invocations are numbered gid.x + gid.y · (x workgroups · WG), so a dispatch can spread over
// two dimensions when one would exceed maxComputeWorkgroupsPerDimension.
// Each entry point uses one block of bindings below; variables that share a binding number are
// never used by the same entry point.

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

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

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

@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> argmax_in: array<u32>;
@group(0) @binding(3) var<storage, read> x_in: array<f32>;
@group(0) @binding(4) var<uniform> dims_in: Dims;

// One invocation per (b, c, ih, iw), a gather, so no atomics: dx (B, C, H, W) = the sum of dy
// over the windows whose argmax is this element, ⊙ prev_act'(x); dy, argmax: (B, C, OH, OW),
// x: (B, C, H, W). Windows overlap when K > stride; then an element may collect several.
@compute @workgroup_size(WG)
fn maxpool_backward(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = invocation(gid, groups);
  let H = dims_in.H;
  let W = dims_in.W;
  let K = dims_in.K;
  let S = dims_in.stride;
  let OH = dims_in.OH;
  let OW = dims_in.OW;
  if (i >= dims_in.B * dims_in.C * H * W) {
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
  dx[i] = sum * prev_act_grad(x_in[i]);
}

@group(0) @binding(0) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> argmax4: array<vec4u>;
@group(0) @binding(2) var<storage, read> x4: array<vec4f>;

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

@group(0) @binding(0) var<storage, read_write> dx4: array<vec4f>;
@group(0) @binding(1) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(2) var<storage, read> argmax4_in: array<vec4u>;
@group(0) @binding(3) var<storage, read> x4_in: array<vec4f>;

// One invocation per (b, c, oh, 4 output columns) of 2×2 windows at stride 2, a gather: dx4:
// dx (B, C, H, W/4), rows 2·oh and 2·oh + 1, columns 8q .. 8q + 7 = dy where the window's argmax
// is the element, else 0, ⊙ prev_act'(x); dy4, argmax4_in: (B, C, OH, OW/4), x4_in: x
// (B, C, H, W/4). Needs OW % 4 == 0, W == 2·OW and H == 2·OH, so every element is written.
@compute @workgroup_size(WG)
fn maxpool_backward_2x2(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let i = invocation(gid, groups);
  let OW4 = dims_in.OW / 4u;
  if (i >= dims_in.B * dims_in.C * dims_in.OH * OW4) {
    return;
  }
  let q = i % OW4;
  let oh = (i / OW4) % dims_in.OH;
  let plane = i / (OW4 * dims_in.OH);
  let g = dy4[i];
  let arg = argmax4_in[i];
  let W = dims_in.W;
  let tl = (plane * dims_in.H + 2u * oh) * W + 8u * q + vec4u(0u, 2u, 4u, 6u);
  let zero = vec4f(0.0);
  let dtl = select(zero, g, arg == tl);
  let dtr = select(zero, g, arg == tl + 1u);
  let dbl = select(zero, g, arg == tl + W);
  let dbr = select(zero, g, arg == tl + W + 1u);
  let top = ((plane * dims_in.H + 2u * oh) * W) / 4u + 2u * q;
  let bottom = top + W / 4u;
  dx4[top] = vec4f(dtl.x, dtr.x, dtl.y, dtr.y) * prev_act_grad4(x4_in[top]);
  dx4[top + 1u] = vec4f(dtl.z, dtr.z, dtl.w, dtr.w) * prev_act_grad4(x4_in[top + 1u]);
  dx4[bottom] = vec4f(dbl.x, dbr.x, dbl.y, dbr.y) * prev_act_grad4(x4_in[bottom]);
  dx4[bottom + 1u] = vec4f(dbl.z, dbr.z, dbl.w, dbr.w) * prev_act_grad4(x4_in[bottom + 1u]);
}
