// Fully connected layer: y = act(x · wᵀ + b), and its gradients.
// B batch, I inputs, O outputs; all buffers row-major.
// Each invocation computes a 4×4 register tile; rows past the edge are clamped on load and
// skipped on store, so any B, I, O work.

struct Dims {
  B: u32,
  I: u32,
  O: u32,
  _pad: u32,
}

// Workgroup size (invocations along x).
override WG: u32 = 64u;
// Activation applied in dense_forward's epilogue: 0 none, 1 relu, 2 tanh, 3 sigmoid.
override ACT: u32 = 0u;
// Activation of the layer BELOW (whose output is this layer's input x), applied in
// dense_backward_input's epilogue so it emits that layer's pre-activation gradient.
override PREV_ACT: u32 = 0u;

fn activate(z: f32) -> f32 {
  switch ACT {
    case 1u: { return max(z, 0.0); }
    case 2u: { return tanh(clamp(z, -15.0, 15.0)); }
    case 3u: { return 1.0 / (1.0 + exp(-z)); }
    default: { return z; }
  }
}

// d act(z) / dz written in terms of the activation's output y = act(z).
fn prev_act_grad(y: f32) -> f32 {
  switch PREV_ACT {
    case 1u: { return select(0.0, 1.0, y > 0.0); }
    case 2u: { return 1.0 - y * y; }
    case 3u: { return y * (1.0 - y); }
    default: { return 1.0; }
  }
}

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

// ---------------------------------------------------------------------------------------------
// Register-tiled variants: 8×8 outputs per invocation with vec4 loads along the contiguous
// dimension. On a CPU adapter (llvmpipe runs 8 invocations per SIMD register) they are 2-5×
// faster than the scalar kernels above, which stay as the simple reference. They need I % 4 == 0
// (forward) and also O % 4 == 0 (backward); tiles past the edges are clamped on load, skipped on
// store. The vec4 views alias bindings 1 and 2 (no entry point uses both views of a binding).

@group(0) @binding(1) var<storage, read> in0v: array<vec4f>;
@group(0) @binding(2) var<storage, read> in1v: array<vec4f>;

// One invocation per 8×8 tile of (b, o); out: y (B, O), in0v: x (B, I/4),
// in1v: parameters, w (O, I/4) then bias (O) (read as components).
@compute @workgroup_size(WG)
fn dense_forward_vec4(@builtin(global_invocation_id) gid: vec3u) {
  let B = dims.B;
  let O = dims.O;
  let I4 = dims.I / 4u;
  let tiles_o = (O + 7u) / 8u;
  let b0 = (gid.x / tiles_o) * 8u;
  let o0 = (gid.x % tiles_o) * 8u;
  if (b0 >= B) {
    return;
  }
  // Row offsets (in vec4s) of the 8 x rows and 8 w rows, clamped at the edges.
  let x0 = min(b0, B - 1u) * I4;
  let x1 = min(b0 + 1u, B - 1u) * I4;
  let x2 = min(b0 + 2u, B - 1u) * I4;
  let x3 = min(b0 + 3u, B - 1u) * I4;
  let x4 = min(b0 + 4u, B - 1u) * I4;
  let x5 = min(b0 + 5u, B - 1u) * I4;
  let x6 = min(b0 + 6u, B - 1u) * I4;
  let x7 = min(b0 + 7u, B - 1u) * I4;
  let w0 = min(o0, O - 1u) * I4;
  let w1 = min(o0 + 1u, O - 1u) * I4;
  let w2 = min(o0 + 2u, O - 1u) * I4;
  let w3 = min(o0 + 3u, O - 1u) * I4;
  let w4 = min(o0 + 4u, O - 1u) * I4;
  let w5 = min(o0 + 5u, O - 1u) * I4;
  let w6 = min(o0 + 6u, O - 1u) * I4;
  let w7 = min(o0 + 7u, O - 1u) * I4;
  // acc[r][h]: row b0 + r, outputs o0 + 4h .. o0 + 4h + 3.
  var acc: array<array<vec4f, 2>, 8>;
  for (var i = 0u; i < I4; i++) {
    // x · m gives the dot products of x with each column of m: four w rows at once.
    let wa = mat4x4f(in1v[w0 + i], in1v[w1 + i], in1v[w2 + i], in1v[w3 + i]);
    let wb = mat4x4f(in1v[w4 + i], in1v[w5 + i], in1v[w6 + i], in1v[w7 + i]);
    let v0 = in0v[x0 + i];
    acc[0][0] += v0 * wa;
    acc[0][1] += v0 * wb;
    let v1 = in0v[x1 + i];
    acc[1][0] += v1 * wa;
    acc[1][1] += v1 * wb;
    let v2 = in0v[x2 + i];
    acc[2][0] += v2 * wa;
    acc[2][1] += v2 * wb;
    let v3 = in0v[x3 + i];
    acc[3][0] += v3 * wa;
    acc[3][1] += v3 * wb;
    let v4 = in0v[x4 + i];
    acc[4][0] += v4 * wa;
    acc[4][1] += v4 * wb;
    let v5 = in0v[x5 + i];
    acc[5][0] += v5 * wa;
    acc[5][1] += v5 * wb;
    let v6 = in0v[x6 + i];
    acc[6][0] += v6 * wa;
    acc[6][1] += v6 * wb;
    let v7 = in0v[x7 + i];
    acc[7][0] += v7 * wa;
    acc[7][1] += v7 * wb;
  }
  let bias_at = O * I4 * 4u;
  for (var c = 0u; c < 8u; c++) {
    let o = o0 + c;
    if (o >= O) {
      break;
    }
    let k = bias_at + o;
    let bias = in1v[k / 4u][k % 4u];
    for (var r = 0u; r < 8u; r++) {
      let b = b0 + r;
      if (b < B) {
        out[b * O + o] = activate(acc[r][c / 4u][c % 4u] + bias);
      }
    }
  }
}

// One invocation per 8×8 tile of (b, i); out: dx (B, I) = (dz · w) ⊙ prev_act'(x),
// in0v: dz (B, O/4), in1v: parameters, w (O, I/4) first, in2: x (B, I).
@compute @workgroup_size(WG)
fn dense_backward_input_vec4(@builtin(global_invocation_id) gid: vec3u) {
  let B = dims.B;
  let I = dims.I;
  let I4 = I / 4u;
  let O4 = dims.O / 4u;
  let tiles_i = (I + 7u) / 8u;
  let b0 = (gid.x / tiles_i) * 8u;
  let i0 = (gid.x % tiles_i) * 8u;
  if (b0 >= B) {
    return;
  }
  let d0 = min(b0, B - 1u) * O4;
  let d1 = min(b0 + 1u, B - 1u) * O4;
  let d2 = min(b0 + 2u, B - 1u) * O4;
  let d3 = min(b0 + 3u, B - 1u) * O4;
  let d4 = min(b0 + 4u, B - 1u) * O4;
  let d5 = min(b0 + 5u, B - 1u) * O4;
  let d6 = min(b0 + 6u, B - 1u) * O4;
  let d7 = min(b0 + 7u, B - 1u) * O4;
  let ca = i0 / 4u;
  let cb = min(ca + 1u, I4 - 1u);
  var acc: array<array<vec4f, 2>, 8>;
  for (var o4 = 0u; o4 < O4; o4++) {
    // Columns are w rows 4·o4 .. 4·o4 + 3, so m · dz sums w rows weighted by dz.
    let r0 = (4u * o4) * I4;
    let wa = mat4x4f(in1v[r0 + ca], in1v[r0 + I4 + ca], in1v[r0 + 2u * I4 + ca],
                     in1v[r0 + 3u * I4 + ca]);
    let wb = mat4x4f(in1v[r0 + cb], in1v[r0 + I4 + cb], in1v[r0 + 2u * I4 + cb],
                     in1v[r0 + 3u * I4 + cb]);
    let g0 = in0v[d0 + o4];
    acc[0][0] += wa * g0;
    acc[0][1] += wb * g0;
    let g1 = in0v[d1 + o4];
    acc[1][0] += wa * g1;
    acc[1][1] += wb * g1;
    let g2 = in0v[d2 + o4];
    acc[2][0] += wa * g2;
    acc[2][1] += wb * g2;
    let g3 = in0v[d3 + o4];
    acc[3][0] += wa * g3;
    acc[3][1] += wb * g3;
    let g4 = in0v[d4 + o4];
    acc[4][0] += wa * g4;
    acc[4][1] += wb * g4;
    let g5 = in0v[d5 + o4];
    acc[5][0] += wa * g5;
    acc[5][1] += wb * g5;
    let g6 = in0v[d6 + o4];
    acc[6][0] += wa * g6;
    acc[6][1] += wb * g6;
    let g7 = in0v[d7 + o4];
    acc[7][0] += wa * g7;
    acc[7][1] += wb * g7;
  }
  for (var r = 0u; r < 8u; r++) {
    let b = b0 + r;
    if (b >= B) {
      break;
    }
    for (var c = 0u; c < 8u; c++) {
      let i = i0 + c;
      if (i < I) {
        out[b * I + i] = acc[r][c / 4u][c % 4u] * prev_act_grad(in2[b * I + i]);
      }
    }
  }
}

// One invocation per 8×8 tile of (o, i); out: dw (O, I) then db (O), the layer's gradient
// range; in0v: dz (B, O/4), in1v: x (B, I/4). The tiles with i0 = 0 also sum db.
@compute @workgroup_size(WG)
fn dense_backward_weight_vec4(@builtin(global_invocation_id) gid: vec3u) {
  let B = dims.B;
  let I = dims.I;
  let O = dims.O;
  let I4 = I / 4u;
  let O4 = O / 4u;
  let tiles_i = (I + 7u) / 8u;
  let o0 = (gid.x / tiles_i) * 8u;
  let i0 = (gid.x % tiles_i) * 8u;
  if (o0 >= O) {
    return;
  }
  let oa = o0 / 4u;
  let ob = min(oa + 1u, O4 - 1u);
  let ca = i0 / 4u;
  let cb = min(ca + 1u, I4 - 1u);
  // acc[r][h]: dw row o0 + r, columns i0 + 4h .. i0 + 4h + 3.
  var acc: array<array<vec4f, 2>, 8>;
  var db_a = vec4f(0.0);
  var db_b = vec4f(0.0);
  for (var b = 0u; b < B; b++) {
    let ga = in0v[b * O4 + oa];
    let gb = in0v[b * O4 + ob];
    let xa = in1v[b * I4 + ca];
    let xb = in1v[b * I4 + cb];
    acc[0][0] += ga.x * xa;
    acc[0][1] += ga.x * xb;
    acc[1][0] += ga.y * xa;
    acc[1][1] += ga.y * xb;
    acc[2][0] += ga.z * xa;
    acc[2][1] += ga.z * xb;
    acc[3][0] += ga.w * xa;
    acc[3][1] += ga.w * xb;
    acc[4][0] += gb.x * xa;
    acc[4][1] += gb.x * xb;
    acc[5][0] += gb.y * xa;
    acc[5][1] += gb.y * xb;
    acc[6][0] += gb.z * xa;
    acc[6][1] += gb.z * xb;
    acc[7][0] += gb.w * xa;
    acc[7][1] += gb.w * xb;
    db_a += ga;
    db_b += gb;
  }
  for (var r = 0u; r < 8u; r++) {
    let o = o0 + r;
    if (o >= O) {
      break;
    }
    for (var c = 0u; c < 8u; c++) {
      let i = i0 + c;
      if (i < I) {
        out[o * I + i] = acc[r][c / 4u][c % 4u];
      }
    }
    if (i0 == 0u) {
      let db = array<vec4f, 2>(db_a, db_b);
      out[O * I + o] = db[r / 4u][r % 4u];
    }
  }
}
