// Fully connected layer for GPUs: 16×16 output tiles per workgroup, one output per invocation,
// operands staged through workgroup memory in 32-wide chunks so that global loads are coalesced
// (consecutive invocations read consecutive addresses), each chunk loaded into registers while
// the one before it is multiplied, so that memory latency overlaps arithmetic rather than
// adding to it (at batch 100 these kernels are latency-bound: few workgroups, long chains of
// chunks). kernels/dense.wgsl stays the reference.
// B batch, I inputs, O outputs; row-major; any sizes (edges are zero-filled on load and skipped
// on store).

struct Dims {
  B: u32,
  I: u32,
  O: u32,
  // dense_forward_split: the inputs each slice of the reduction covers (a multiple of TK).
  KS: u32,
}

// Output tile side, and the reduction chunk staged per barrier.
const T: u32 = 16u;
const TK: u32 = 32u;
// ACT, PREV_ACT, activate() and prev_act_grad() come from kernels/activation.wgsl.

// Two outputs, so that dense_backward_shared can write both gradients; each entry point uses
// some of these.
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> out1: array<f32>;
@group(0) @binding(2) var<storage, read> in0: array<f32>;
@group(0) @binding(3) var<storage, read> in1: array<f32>;
@group(0) @binding(4) var<storage, read> in2: array<f32>;
@group(0) @binding(5) var<uniform> dims: Dims;

// Two staging tiles, 16×32 or 32×16 as each entry point uses them, padded against bank
// conflicts.
var<workgroup> ta: array<array<f32, 33>, 32>;
var<workgroup> tb: array<array<f32, 33>, 32>;

// in0, in1 or in2 [row, col] of a (rows, cols) matrix, or 0 outside it (the load clamped).
fn load0(row: u32, col: u32, rows: u32, cols: u32) -> f32 {
  let v = in0[min(row, rows - 1u) * cols + min(col, cols - 1u)];
  return select(0.0, v, row < rows && col < cols);
}

fn load1(row: u32, col: u32, rows: u32, cols: u32) -> f32 {
  let v = in1[min(row, rows - 1u) * cols + min(col, cols - 1u)];
  return select(0.0, v, row < rows && col < cols);
}

fn load2(row: u32, col: u32, rows: u32, cols: u32) -> f32 {
  let v = in2[min(row, rows - 1u) * cols + min(col, cols - 1u)];
  return select(0.0, v, row < rows && col < cols);
}

// Σ x[b0 + ty, i] · w[o0 + tx, i] over i in [first, end), for invocation (tx, ty) of a
// 16×16 workgroup: x (B, I) in in0 and w (O, I) in in1, staged through ta[b][i] and tb[o][i]
// (16 rows × 32 columns, two values per invocation each). Each chunk is loaded into registers
// while the one before it is multiplied, so that memory latency overlaps the arithmetic.
fn forward_tile(b0: u32, o0: u32, first: u32, end: u32, l: vec3u) -> f32 {
  let b = b0 + l.y;
  var xa = x_before(b, first + l.x, end);
  var xb = x_before(b, first + l.x + T, end);
  var wa = w_before(o0 + l.y, first + l.x, end);
  var wb = w_before(o0 + l.y, first + l.x + T, end);
  var acc = 0.0;
  for (var i0 = first; i0 < end; i0 += TK) {
    ta[l.y][l.x] = xa;
    ta[l.y][l.x + T] = xb;
    tb[l.y][l.x] = wa;
    tb[l.y][l.x + T] = wb;
    workgroupBarrier();
    let i1 = i0 + TK;
    xa = x_before(b, i1 + l.x, end);
    xb = x_before(b, i1 + l.x + T, end);
    wa = w_before(o0 + l.y, i1 + l.x, end);
    wb = w_before(o0 + l.y, i1 + l.x + T, end);
    for (var k = 0u; k < TK; k++) {
      acc += ta[l.y][k] * tb[l.x][k];
    }
    workgroupBarrier();
  }
  return acc;
}

// x[b, i] for i < end (<= I), else 0.
fn x_before(b: u32, i: u32, end: u32) -> f32 {
  return select(0.0, load0(b, i, dims.B, dims.I), i < end);
}

// w[o, i] for i < end (<= I), else 0.
fn w_before(o: u32, i: u32, end: u32) -> f32 {
  return select(0.0, load1(o, i, dims.O, dims.I), i < end);
}

// Workgroup (o tile, b tile), invocation (tx, ty) → y[b0 + ty, o0 + tx]; out: y (B, O),
// in0: x (B, I), in1: parameters, w (O, I) then bias (O).
@compute @workgroup_size(16, 16)
fn dense_forward_shared(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let b = wg.y * T + l.y;
  let o = wg.x * T + l.x;
  let acc = forward_tile(wg.y * T, wg.x * T, 0u, dims.I, l);
  if (b < dims.B && o < dims.O) {
    out[b * dims.O + o] = activate(acc + in1[dims.O * dims.I + o]);
  }
}

// Split-K forward, for layers whose output has too few 16×16 tiles to fill a GPU (the MLP's
// first layer at batch 100 has 56, each a chain of 25 dependent chunks): workgroup (o tile,
// b tile, slice s), invocation (tx, ty) → the partial sum of y[b0 + ty, o0 + tx] over inputs
// s·KS .. s·KS + KS - 1; out: partial sums (S, B, O), in0: x (B, I), in1: parameters, w (O, I)
// first. dense_forward_reduce adds the slices, the bias and the activation.
@compute @workgroup_size(16, 16)
fn dense_forward_split(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let b = wg.y * T + l.y;
  let o = wg.x * T + l.x;
  let first = wg.z * dims.KS;
  let acc = forward_tile(wg.y * T, wg.x * T, first, min(dims.I, first + dims.KS), l);
  if (b < dims.B && o < dims.O) {
    out[(wg.z * dims.B + b) * dims.O + o] = acc;
  }
}

// One invocation per (o, b) → y[b, o] = act(Σ_s partial[s, b, o] + bias[o]); out: y (B, O),
// in0: the S = ceil(I / KS) partial sums (S, B, O), in1: parameters, bias (O) after w (O, I).
@compute @workgroup_size(64)
fn dense_forward_reduce(@builtin(global_invocation_id) gid: vec3u) {
  let B = dims.B;
  let O = dims.O;
  let o = gid.x;
  let b = gid.y;
  if (o >= O) {
    return;
  }
  let S = (dims.I + dims.KS - 1u) / dims.KS;
  var acc = in1[O * dims.I + o];
  for (var s = 0u; s < S; s++) {
    acc += in0[(s * B + b) * O + o];
  }
  out[b * O + o] = activate(acc);
}

// Invocation (tx, ty) of the workgroup for tile (i tile, b tile) = `t` → dx[b0 + ty, i0 + tx] =
// (dz · w) ⊙ prev_act'(x); out1: dx (B, I), in0: dz (B, O), in1: parameters, w (O, I) first,
// in2: x (B, I).
fn input_tile(t: vec2u, l: vec3u) {
  let B = dims.B;
  let I = dims.I;
  let O = dims.O;
  let b0 = t.y * T;
  let i0 = t.x * T;
  // Next chunk into registers during this one's products, as in forward_tile.
  var za = load0(b0 + l.y, l.x, B, O);
  var zb = load0(b0 + l.y, l.x + T, B, O);
  var wa = load1(l.y, i0 + l.x, O, I);
  var wb = load1(l.y + T, i0 + l.x, O, I);
  var acc = 0.0;
  for (var o0 = 0u; o0 < O; o0 += TK) {
    // ta[b][o]: dz, 16 × 32; tb[o][i]: w rows o0.., columns i0.., 32 × 16.
    ta[l.y][l.x] = za;
    ta[l.y][l.x + T] = zb;
    tb[l.y][l.x] = wa;
    tb[l.y + T][l.x] = wb;
    workgroupBarrier();
    let o1 = o0 + TK;
    za = load0(b0 + l.y, o1 + l.x, B, O);
    zb = load0(b0 + l.y, o1 + l.x + T, B, O);
    wa = load1(o1 + l.y, i0 + l.x, O, I);
    wb = load1(o1 + l.y + T, i0 + l.x, O, I);
    for (var k = 0u; k < TK; k++) {
      acc += ta[l.y][k] * tb[k][l.x];
    }
    workgroupBarrier();
  }
  let b = b0 + l.y;
  let i = i0 + l.x;
  if (b < B && i < I) {
    out1[b * I + i] = acc * prev_act_grad(in2[b * I + i]);
  }
}

// Invocation (tx, ty) of the workgroup for tile (i tile, o tile) = `t` → dw[o0 + ty, i0 + tx];
// the i tile 0 also sums db. out: dw (O, I) then db (O), the layer's gradient range; in0: dz
// (B, O), in2: x (B, I).
fn weight_tile(t: vec2u, l: vec3u) {
  let B = dims.B;
  let I = dims.I;
  let O = dims.O;
  let o0 = t.y * T;
  let i0 = t.x * T;
  // Next chunk into registers during this one's products, as in forward_tile.
  var za = load0(l.y, o0 + l.x, B, O);
  var zb = load0(l.y + T, o0 + l.x, B, O);
  var xa = load2(l.y, i0 + l.x, B, I);
  var xb = load2(l.y + T, i0 + l.x, B, I);
  var acc = 0.0;
  var db = 0.0;
  for (var b0 = 0u; b0 < B; b0 += TK) {
    // ta[b][o]: dz rows b0.., columns o0..; tb[b][i]: x rows b0.., columns i0..; 32 × 16 each.
    ta[l.y][l.x] = za;
    ta[l.y + T][l.x] = zb;
    tb[l.y][l.x] = xa;
    tb[l.y + T][l.x] = xb;
    workgroupBarrier();
    let b1 = b0 + TK;
    za = load0(b1 + l.y, o0 + l.x, B, O);
    zb = load0(b1 + l.y + T, o0 + l.x, B, O);
    xa = load2(b1 + l.y, i0 + l.x, B, I);
    xb = load2(b1 + l.y + T, i0 + l.x, B, I);
    for (var k = 0u; k < TK; k++) {
      acc += ta[k][l.y] * tb[k][l.x];
      db += ta[k][l.y];
    }
    workgroupBarrier();
  }
  let o = o0 + l.y;
  let i = i0 + l.x;
  if (o < O && i < I) {
    out[o * I + i] = acc;
  }
  if (o < O && t.x == 0u && l.x == 0u) {
    out[O * I + o] = db;
  }
}

// Workgroup (i tile, o tile) → weight_tile.
@compute @workgroup_size(16, 16)
fn dense_backward_weight_shared(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_id) l: vec3u,
) {
  weight_tile(wg.xy, l);
}

// Both gradients in one dispatch, as they depend on each other in neither direction: at batch
// 100 each alone is a short, latency-bound dispatch that leaves most of a GPU idle, and a
// dispatch boundary costs a few microseconds. Workgroup (i tile, o tile, 0) → weight_tile,
// (i tile, b tile, 1) → input_tile; the grid is (I tiles, max(O tiles, B tiles), 2) and the
// workgroups past either's tiles return at once (the branches depend on the workgroup alone,
// so the barriers inside stay in uniform control flow).
@compute @workgroup_size(16, 16)
fn dense_backward_shared(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(local_invocation_id) l: vec3u,
) {
  if (wg.z == 0u) {
    if (wg.y * T < dims.O) {
      weight_tile(wg.xy, l);
    }
  } else if (wg.y * T < dims.B) {
    input_tile(wg.xy, l);
  }
}
