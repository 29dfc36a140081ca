// Softmax with cross-entropy, fused forward and backward (MXNet's SoftmaxOutput), plus the
// metrics: summed loss, correct count, sample count and a non-finite flag, accumulated in
// `stats` until the host reads and clears them. B batch, N classes.
// Labels equal to PAD (0xffffffff) mark padding rows: zero gradient, not counted.

struct Dims {
  B: u32,
  N: u32,
  _pad0: u32,
  _pad1: u32,
}

// Workgroup size; the kernel runs as ONE workgroup so the stats need no atomics.
override WG: u32 = 256u;

const PAD: u32 = 0xffffffffu;

// ln(1e-12), the log of MXNet's CrossEntropy eps (python/mxnet/metric.py).
const LN_EPS: f32 = -27.631021115928547;

@group(0) @binding(0) var<storage, read_write> prob: array<f32>;
@group(0) @binding(1) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> pred: array<u32>;
@group(0) @binding(4) var<storage, read> logits: array<f32>;
@group(0) @binding(5) var<storage, read> labels: array<u32>;
@group(0) @binding(6) var<uniform> dims: Dims;

// Sized for the largest WG (src/nn/loss.ts keeps to it), fixed rather than WG-sized so that
// workgroup memory never depends on how a driver sizes override-length arrays.
var<workgroup> partial: array<vec4f, 256>;

fn is_finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// One workgroup; invocation t takes rows t, t + WG, ...; prob, dlogits: (B, N),
// stats: (4) = [sum of -ln(p(label) + 1e-12), correct, count, non-finite], pred: (B),
// logits: (B, N), labels: (B).
// dlogits = prob - onehot(label), not divided by B: the optimizer's rescale_grad does that.
@compute @workgroup_size(WG)
fn softmax_cross_entropy(@builtin(local_invocation_index) t: u32) {
  let N = dims.N;
  var acc = vec4f(0.0);
  for (var b = t; b < dims.B; b += WG) {
    let row = b * N;
    var m = logits[row];
    var arg = 0u;
    for (var k = 1u; k < N; k++) {
      let v = logits[row + k];
      if (v > m) {
        m = v;
        arg = k;
      }
    }
    var sum = 0.0;
    for (var k = 0u; k < N; k++) {
      sum += exp(logits[row + k] - m);
    }
    let label = labels[b];
    let valid = label != PAD;
    for (var k = 0u; k < N; k++) {
      let p = exp(logits[row + k] - m) / sum;
      prob[row + k] = p;
      dlogits[row + k] = select(0.0, p - select(0.0, 1.0, k == label), valid);
    }
    pred[b] = select(PAD, arg, valid);
    if (valid) {
      // -log softmax(label), from the log-sum-exp: exact where prob[label] underflows.
      let nll = log(sum) + m - logits[row + min(label, N - 1u)];
      // MXNet's CrossEntropy metric, -ln(p + 1e-12) = nll - softplus(nll + ln 1e-12), with the
      // softplus split so that neither side cancels: equal to nll in f32 while p > 2e-5, and
      // 27.631 (-ln 1e-12) at most (src/train/metrics.ts).
      let c = nll + LN_EPS;
      let tail = log(1.0 + exp(-abs(c)));
      let loss = select(nll - tail, -LN_EPS - tail, c > 0.0);
      acc += vec4f(loss, select(0.0, 1.0, arg == label), 1.0, select(1.0, 0.0, is_finite(nll)));
    }
  }
  partial[t] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) {
      partial[t] += partial[t + stride];
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    let total = partial[0];
    stats[0] += total.x;
    stats[1] += total.y;
    stats[2] += total.z;
    stats[3] += total.w;
  }
}
