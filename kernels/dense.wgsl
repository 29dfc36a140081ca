// Fully connected layer: y = act(x · wᵀ + b), and its gradients.
// B batch, I inputs, O outputs; all buffers row-major.
// Each invocation computes a 4×4 register tile; rows past the edge are clamped on load and
// skipped on store, so any B, I, O work.

struct Dims {
  B: u32,
  I: u32,
  O: u32,
  // Inputs per slice of a split forward (dense_shared.wgsl's); unused here.
  KS: u32,
}

// Workgroup size (invocations along x).
override WG: u32 = 64u;
// ACT, PREV_ACT, activate() and prev_act_grad() come from kernels/activation.wgsl.

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read> in2: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

// One invocation per 4×4 tile of (b, o); out: y (B, O), in0: x (B, I),
// in1: the layer's parameters, w (O, I) followed by bias (O).
@compute @workgroup_size(WG)
fn dense_forward(@builtin(global_invocation_id) gid: vec3u) {
  let B = dims.B;
  let I = dims.I;
  let O = dims.O;
  let tiles_o = (O + 3u) / 4u;
  let b0 = (gid.x / tiles_o) * 4u;
  let o0 = (gid.x % tiles_o) * 4u;
  if (b0 >= B) {
    return;
  }
  let x0 = min(b0, B - 1u) * I;
  let x1 = min(b0 + 1u, B - 1u) * I;
  let x2 = min(b0 + 2u, B - 1u) * I;
  let x3 = min(b0 + 3u, B - 1u) * I;
  let w0 = min(o0, O - 1u) * I;
  let w1 = min(o0 + 1u, O - 1u) * I;
  let w2 = min(o0 + 2u, O - 1u) * I;
  let w3 = min(o0 + 3u, O - 1u) * I;
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  for (var i = 0u; i < I; i++) {
    let wv = vec4f(in1[w0 + i], in1[w1 + i], in1[w2 + i], in1[w3 + i]);
    a0 += in0[x0 + i] * wv;
    a1 += in0[x1 + i] * wv;
    a2 += in0[x2 + i] * wv;
    a3 += in0[x3 + i] * wv;
  }
  let bo = O * I;
  let bias = vec4f(in1[bo + min(o0, O - 1u)], in1[bo + min(o0 + 1u, O - 1u)],
                   in1[bo + min(o0 + 2u, O - 1u)], in1[bo + min(o0 + 3u, O - 1u)]);
  let acc = array<vec4f, 4>(a0 + bias, a1 + bias, a2 + bias, a3 + bias);
  for (var r = 0u; r < 4u; r++) {
    let b = b0 + r;
    if (b >= B) {
      break;
    }
    for (var c = 0u; c < 4u; c++) {
      let o = o0 + c;
      if (o < O) {
        out[b * O + o] = activate(acc[r][c]);
      }
    }
  }
}

// One invocation per 4×4 tile of (b, i); out: dx (B, I) = (dz · w) ⊙ prev_act'(x),
// in0: dz (B, O), in1: the layer's parameters (w (O, I) first), in2: x (B, I), the layer
// below's output.
@compute @workgroup_size(WG)
fn dense_backward_input(@builtin(global_invocation_id) gid: vec3u) {
  let B = dims.B;
  let I = dims.I;
  let O = dims.O;
  let tiles_i = (I + 3u) / 4u;
  let b0 = (gid.x / tiles_i) * 4u;
  let i0 = (gid.x % tiles_i) * 4u;
  if (b0 >= B) {
    return;
  }
  let d0 = min(b0, B - 1u) * O;
  let d1 = min(b0 + 1u, B - 1u) * O;
  let d2 = min(b0 + 2u, B - 1u) * O;
  let d3 = min(b0 + 3u, B - 1u) * O;
  let c0 = min(i0, I - 1u);
  let c1 = min(i0 + 1u, I - 1u);
  let c2 = min(i0 + 2u, I - 1u);
  let c3 = min(i0 + 3u, I - 1u);
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  for (var o = 0u; o < O; o++) {
    let row = o * I;
    let wv = vec4f(in1[row + c0], in1[row + c1], in1[row + c2], in1[row + c3]);
    a0 += in0[d0 + o] * wv;
    a1 += in0[d1 + o] * wv;
    a2 += in0[d2 + o] * wv;
    a3 += in0[d3 + o] * wv;
  }
  let acc = array<vec4f, 4>(a0, a1, a2, a3);
  for (var r = 0u; r < 4u; r++) {
    let b = b0 + r;
    if (b >= B) {
      break;
    }
    for (var c = 0u; c < 4u; c++) {
      let i = i0 + c;
      if (i < I) {
        out[b * I + i] = acc[r][c] * prev_act_grad(in2[b * I + i]);
      }
    }
  }
}

// One invocation per 4×4 tile of (o, i); out: dw (O, I) followed by db (O), the layer's
// gradient range; in0: dz (B, O), in1: x (B, I). The tiles with i0 = 0 also sum db.
@compute @workgroup_size(WG)
fn dense_backward_weight(@builtin(global_invocation_id) gid: vec3u) {
  let B = dims.B;
  let I = dims.I;
  let O = dims.O;
  let tiles_i = (I + 3u) / 4u;
  let o0 = (gid.x / tiles_i) * 4u;
  let i0 = (gid.x % tiles_i) * 4u;
  if (o0 >= O) {
    return;
  }
  let r0 = min(o0, O - 1u);
  let r1 = min(o0 + 1u, O - 1u);
  let r2 = min(o0 + 2u, O - 1u);
  let r3 = min(o0 + 3u, O - 1u);
  let c0 = min(i0, I - 1u);
  let c1 = min(i0 + 1u, I - 1u);
  let c2 = min(i0 + 2u, I - 1u);
  let c3 = min(i0 + 3u, I - 1u);
  var a0 = vec4f(0.0);
  var a1 = vec4f(0.0);
  var a2 = vec4f(0.0);
  var a3 = vec4f(0.0);
  var db = vec4f(0.0);
  for (var b = 0u; b < B; b++) {
    let drow = b * O;
    let xrow = b * I;
    let dz = vec4f(in0[drow + r0], in0[drow + r1], in0[drow + r2], in0[drow + r3]);
    let xv = vec4f(in1[xrow + c0], in1[xrow + c1], in1[xrow + c2], in1[xrow + c3]);
    a0 += dz.x * xv;
    a1 += dz.y * xv;
    a2 += dz.z * xv;
    a3 += dz.w * xv;
    db += dz;
  }
  let acc = array<vec4f, 4>(a0, a1, a2, a3);
  for (var r = 0u; r < 4u; r++) {
    let o = o0 + r;
    if (o >= O) {
      break;
    }
    for (var c = 0u; c < 4u; c++) {
      let i = i0 + c;
      if (i < I) {
        out[o * I + i] = acc[r][c];
      }
    }
    if (i0 == 0u) {
      out[O * I + o] = db[r];
    }
  }
}
