/**
 * The oracle: every op of the MLP and LeNet as plain TypeScript loops over `Float32Array`s.
 * Nothing here is fast or clever; each function is the textbook formula written out, so that a
 * reader can check it by eye. `reference_test.ts` checks every backward pass against finite
 * differences, and every GPU kernel is checked against these functions.
 *
 * Dimension letters, used in every shape comment:
 *
 * - `B`: batch size
 * - `I`: inputs per example (dense layers)
 * - `O`: outputs: dense units, or conv output channels
 * - `C`: input channels
 * - `H`, `W`: input height and width
 * - `K`: kernel (window) size; kernels and pooling windows are square, K×K
 * - `OH`, `OW`: output height and width
 * - `N`: classes
 *
 * Every buffer is row-major; images are NCHW, so `flatten` from (B, C, H, W) to (B, C·H·W) is a
 * no-op and has no function here. Sums accumulate in float64 (JS numbers) and are rounded to
 * float32 once, when stored, so the oracle is at least as accurate as any float32 kernel.
 *
 * @module
 */

/** Class indices, one per example; any numeric array type holding integers in [0, N). */
export type Labels = ArrayLike<number>;

/**
 * What the cross-entropy adds to the probability of the label before the log, as MXNet's
 * `CrossEntropy` metric does (python/mxnet/metric.py, `eps=1e-12`):
 * `loss = -log(prob[label] + CE_EPS)`, so a confidently wrong prediction (or a probability that
 * underflowed to 0) costs at most -ln(1e-12) ≈ 27.63 instead of `Infinity`. The loss kernel
 * accumulates the same quantity (kernels/softmax.wgsl); the gradient is unaffected.
 */
export const CE_EPS = 1e-12;

// ---------------------------------------------------------------------------------------------
// Dense: y = x · wᵀ + b

/** Dimensions of a dense (fully connected) layer. */
export interface DenseDims {
  /** Batch size. */
  B: number;
  /** Inputs per example. */
  I: number;
  /** Output units. */
  O: number;
}

/**
 * Dense forward: `y[b, o] = b[o] + Σ_i x[b, i] · w[o, i]`.
 *
 * @param inputs `x` (B, I), `w` (O, I) as MXNet's FullyConnected stores it, `b` (O)
 * @returns y (B, O)
 */
export function denseForward(
  { x, w, b }: { x: Float32Array; w: Float32Array; b: Float32Array },
  { B, I, O }: DenseDims,
): Float32Array {
  const op = "denseForward";
  checkDims(op, { B, I, O });
  checkShape(op, "x", x, "B, I", [B, I]);
  checkShape(op, "w", w, "O, I", [O, I]);
  checkShape(op, "b", b, "O", [O]);
  const y = new Float32Array(B * O); // (B, O)
  for (let n = 0; n < B; n++) {
    for (let o = 0; o < O; o++) {
      let sum = b[o]!;
      for (let i = 0; i < I; i++) sum += x[n * I + i]! * w[o * I + i]!;
      y[n * O + o] = sum;
    }
  }
  return y;
}

/**
 * Dense backward, given `dy = ∂L/∂y`:
 * `dx[b, i] = Σ_o dy[b, o] · w[o, i]`, `dw[o, i] = Σ_b dy[b, o] · x[b, i]`,
 * `db[o] = Σ_b dy[b, o]`.
 *
 * @param inputs `dy` (B, O), `x` (B, I), `w` (O, I)
 * @returns dx (B, I), dw (O, I), db (O)
 */
export function denseBackward(
  { dy, x, w }: { dy: Float32Array; x: Float32Array; w: Float32Array },
  { B, I, O }: DenseDims,
): { dx: Float32Array; dw: Float32Array; db: Float32Array } {
  const op = "denseBackward";
  checkDims(op, { B, I, O });
  checkShape(op, "dy", dy, "B, O", [B, O]);
  checkShape(op, "x", x, "B, I", [B, I]);
  checkShape(op, "w", w, "O, I", [O, I]);
  const dx = new Float32Array(B * I); // (B, I)
  for (let n = 0; n < B; n++) {
    for (let i = 0; i < I; i++) {
      let sum = 0;
      for (let o = 0; o < O; o++) sum += dy[n * O + o]! * w[o * I + i]!;
      dx[n * I + i] = sum;
    }
  }
  const dw = new Float32Array(O * I); // (O, I)
  for (let o = 0; o < O; o++) {
    for (let i = 0; i < I; i++) {
      let sum = 0;
      for (let n = 0; n < B; n++) sum += dy[n * O + o]! * x[n * I + i]!;
      dw[o * I + i] = sum;
    }
  }
  const db = new Float32Array(O); // (O)
  for (let o = 0; o < O; o++) {
    let sum = 0;
    for (let n = 0; n < B; n++) sum += dy[n * O + o]!;
    db[o] = sum;
  }
  return { dx, dw, db };
}

// ---------------------------------------------------------------------------------------------
// Activations, elementwise: any shape, output shaped like the input.

/** ReLU forward: `y = max(x, 0)`. Any shape; y is shaped like x. */
export function reluForward(x: Float32Array): Float32Array {
  return x.map((v) => (v > 0 ? v : 0));
}

/**
 * ReLU backward: `dx = x > 0 ? dy : 0`; the gradient at exactly 0 is taken as 0.
 *
 * @param inputs `x` the forward input and `dy`, both the same shape
 * @returns dx, shaped like x
 */
export function reluBackward({ x, dy }: { x: Float32Array; dy: Float32Array }): Float32Array {
  checkSameLength("reluBackward", { x, dy });
  return x.map((v, i) => (v > 0 ? dy[i]! : 0));
}

/** Tanh forward: `y = tanh(x)`. Any shape; y is shaped like x. */
export function tanhForward(x: Float32Array): Float32Array {
  return x.map(Math.tanh);
}

/**
 * Tanh backward from the forward *output*: `dx = dy · (1 - y²)`.
 *
 * @param inputs `y` the forward output and `dy`, both the same shape
 * @returns dx, shaped like y
 */
export function tanhBackward({ y, dy }: { y: Float32Array; dy: Float32Array }): Float32Array {
  checkSameLength("tanhBackward", { y, dy });
  return y.map((v, i) => dy[i]! * (1 - v * v));
}

/** Sigmoid forward: `y = 1 / (1 + e^-x)`. Any shape; y is shaped like x. */
export function sigmoidForward(x: Float32Array): Float32Array {
  return x.map((v) => 1 / (1 + Math.exp(-v)));
}

/**
 * Sigmoid backward from the forward *output*: `dx = dy · y · (1 - y)`.
 *
 * @param inputs `y` the forward output and `dy`, both the same shape
 * @returns dx, shaped like y
 */
export function sigmoidBackward({ y, dy }: { y: Float32Array; dy: Float32Array }): Float32Array {
  checkSameLength("sigmoidBackward", { y, dy });
  return y.map((v, i) => dy[i]! * v * (1 - v));
}

// ---------------------------------------------------------------------------------------------
// Softmax with cross-entropy (MXNet's SoftmaxOutput), accuracy

/** Dimensions of the classifier head. */
export interface SoftmaxDims {
  /** Batch size. */
  B: number;
  /** Classes. */
  N: number;
}

/**
 * Softmax and cross-entropy with MXNet's `SoftmaxOutput` semantics (normalization "null").
 *
 * - `prob[b, :] = softmax(logits[b, :])`, computed stably by subtracting the row max;
 * - `loss = Σ_b -log(prob[b, label[b]] + CE_EPS)`: a SUM over the batch, not a mean;
 * - `dlogits = prob - onehot(label)`: the gradient of that sum, NOT divided by B; MXNet leaves
 *   the 1/B to the optimizer's `rescale_grad`.
 *
 * `loss` and `dlogits` are computed from the float64 probabilities, before rounding `prob`.
 *
 * @param inputs `logits` (B, N), `labels` (B) class indices in [0, N)
 * @returns prob (B, N), loss (a number), dlogits (B, N)
 */
export function softmaxCrossEntropy(
  { logits, labels }: { logits: Float32Array; labels: Labels },
  { B, N }: SoftmaxDims,
): { prob: Float32Array; loss: number; dlogits: Float32Array } {
  const op = "softmaxCrossEntropy";
  checkDims(op, { B, N });
  checkShape(op, "logits", logits, "B, N", [B, N]);
  checkLabels(op, labels, { B, N });
  const prob = new Float32Array(B * N); // (B, N)
  const dlogits = new Float32Array(B * N); // (B, N)
  let loss = 0;
  for (let n = 0; n < B; n++) {
    const row = n * N;
    let max = -Infinity;
    for (let k = 0; k < N; k++) max = Math.max(max, logits[row + k]!);
    const e = new Float64Array(N); // (N) exp(logit - max), float64
    let sum = 0;
    for (let k = 0; k < N; k++) {
      e[k] = Math.exp(logits[row + k]! - max);
      sum += e[k]!;
    }
    const label = labels[n]!;
    for (let k = 0; k < N; k++) {
      const p = e[k]! / sum;
      prob[row + k] = p;
      dlogits[row + k] = p - (k === label ? 1 : 0);
    }
    loss -= Math.log(e[label]! / sum + CE_EPS);
  }
  return { prob, loss, dlogits };
}

/**
 * Counts the rows whose prediction is right: among the first `valid` rows (default B, for a last
 * batch padded up to B), those whose argmax equals the label. Ties go to the first index, as in
 * `numpy.argmax`.
 *
 * @param inputs `prob` (B, N) (or logits: only the order matters), `labels` (B)
 * @param dims `valid` in [0, B], the number of leading rows to count
 * @returns the number of correct rows, an integer in [0, valid]
 */
export function accuracyCount(
  { prob, labels }: { prob: Float32Array; labels: Labels },
  { B, N, valid = B }: SoftmaxDims & { valid?: number },
): number {
  const op = "accuracyCount";
  checkDims(op, { B, N });
  checkShape(op, "prob", prob, "B, N", [B, N]);
  if (!Number.isInteger(valid) || valid < 0 || valid > B) {
    throw new RangeError(`${op}: valid is ${valid}, expected an integer in [0, B = ${B}]`);
  }
  // Rows past `valid` are padding: their labels are not read, so they need not be classes.
  checkLabels(op, labels, { B: valid, N }, B);
  let correct = 0;
  for (let n = 0; n < valid; n++) {
    let best = 0;
    for (let k = 1; k < N; k++) {
      if (prob[n * N + k]! > prob[n * N + best]!) best = k;
    }
    if (best === labels[n]) correct++;
  }
  return correct;
}

// ---------------------------------------------------------------------------------------------
// Optimizer

/**
 * MXNet's weight-decay multiplier for the parameter `name`: 0 unless the name ends in `_weight`
 * or `_gamma` (`Optimizer.set_wd_mult`, python/mxnet/optimizer/optimizer.py, which FeedForward
 * and Module get the names for), else 1. MXNet's optimizers update each parameter with
 * `wd · wdMult(name)` as its `wd`, so biases are not decayed; PyTorch's `weight_decay` decays
 * every parameter.
 */
export function wdMult(name: string): number {
  return name.endsWith("_weight") || name.endsWith("_gamma") ? 1 : 0;
}

/** Hyperparameters of one SGD step, named as in MXNet's `sgd_update` / `sgd_mom_update`. */
export interface SgdOptions {
  /** Learning rate. */
  lr: number;
  /** Momentum decay; 0 for plain SGD (then `mom` is neither needed nor touched). */
  momentum: number;
  /**
   * Weight decay (L2), applied as `wd · w` added to the gradient: the parameter's own, `wd ·
   * wdMult(name)` (0 for a bias).
   */
  wd: number;
  /** Gradient scale applied first, usually 1/B. */
  rescaleGrad: number;
  /** Clips the rescaled gradient to ±clipGradient; off when absent or <= 0. */
  clipGradient?: number;
}

/**
 * One SGD step in place, as MXNet's `sgd_update` and `sgd_mom_update`
 * (src/operator/optimizer_op-inl.h, `SGDKernel` / `SGDMomKernel`):
 *
 * ```
 * g' = rescaleGrad · g, then clipped to [-clipGradient, clipGradient] if clipGradient > 0
 * momentum > 0:  mom = momentum · mom - lr · (g' + wd · w);  w += mom
 * momentum = 0:  w -= lr · (g' + wd · w)
 * ```
 *
 * (MXNet's kernels clip whenever `clip_gradient >= 0`, but its Python optimizer passes -1 when
 * clipping is off, and its docs say "<= 0 turns clipping off"; here absent or <= 0 is off.)
 *
 * @param buffers `w` (any shape, updated), `g` (like w), `mom` (like w, updated; required when
 *   momentum > 0)
 */
export function sgdUpdate(
  { w, g, mom }: { w: Float32Array; g: Float32Array; mom?: Float32Array },
  { lr, momentum, wd, rescaleGrad, clipGradient }: SgdOptions,
): void {
  const op = "sgdUpdate";
  checkSameLength(op, { w, g });
  if (momentum > 0) {
    if (mom === undefined) {
      throw new TypeError(`${op}: momentum is ${momentum} but no mom buffer was given`);
    }
    checkSameLength(op, { w, mom });
  }
  const clip = clipGradient !== undefined && clipGradient > 0 ? clipGradient : Infinity;
  for (let i = 0; i < w.length; i++) {
    const gi = Math.min(Math.max(rescaleGrad * g[i]!, -clip), clip);
    const step = lr * (gi + wd * w[i]!);
    if (momentum > 0) {
      mom![i] = momentum * mom![i]! - step;
      w[i] = w[i]! + mom![i]!;
    } else {
      w[i] = w[i]! - step;
    }
  }
}

/**
 * One NAG step in place, as MXNet's `nag_mom_update` (src/operator/optimizer_op-inl.h,
 * `NAGMomKernel`), written as MXNet writes it (momentum > 0; with 0 it is `sgdUpdate`):
 *
 * ```
 * g' = clip(rescaleGrad · g, ±clipGradient) + wd · w
 * mom' = momentum · mom
 * w = w - mom' + (momentum + 1) · (mom' - lr · g')
 * mom = mom' - lr · g'
 * ```
 *
 * @param buffers `w` (any shape, updated), `g` (like w), `mom` (like w, updated)
 */
export function nagUpdate(
  { w, g, mom }: { w: Float32Array; g: Float32Array; mom: Float32Array },
  { lr, momentum, wd, rescaleGrad, clipGradient }: SgdOptions,
): void {
  checkSameLength("nagUpdate", { w, g, mom });
  const clip = clipGradient !== undefined && clipGradient > 0 ? clipGradient : Infinity;
  for (let i = 0; i < w.length; i++) {
    const gi = Math.min(Math.max(rescaleGrad * g[i]!, -clip), clip) + wd * w[i]!;
    const m = momentum * mom[i]!;
    w[i] = w[i]! - m + (momentum + 1) * (m - lr * gi);
    mom[i] = m - lr * gi;
  }
}

/** Hyperparameters of one Adam step, as MXNet's `adam_update` and contrib `adamw_update`. */
export interface AdamOptions {
  /** The base learning rate (before bias correction). */
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** The parameter's weight decay, `wd · wdMult(name)` (0 for a bias). */
  wd: number;
  rescaleGrad: number;
  /** Clips the gradient to ±clipGradient; off when absent or <= 0. */
  clipGradient?: number;
  /** The step, 1-based (MXNet's per-weight update count). */
  t: number;
  /** AdamW: decoupled weight decay, scaled by `eta`, the schedule's multiplier. */
  decoupled?: boolean;
  /** AdamW's `eta` (default 1). */
  eta?: number;
}

/**
 * One Adam (or AdamW) step in place. Adam is MXNet's Python `Adam.update` (bias correction
 * folded into the rate, `lr · sqrt(1 - beta2^t) / (1 - beta1^t)`) calling `adam_update`
 * (`AdamUpdateKernel`: weight decay added to the rescaled gradient before clipping):
 *
 * ```
 * g' = clip(rescaleGrad · g + wd · w, ±clipGradient)
 * m = beta1 · m + (1 - beta1) · g';  v = beta2 · v + (1 - beta2) · g'²
 * w -= lr_t · m / (sqrt(v) + epsilon)
 * ```
 *
 * AdamW is contrib `adamw_update` (src/operator/contrib/adamw-inl.h; Loshchilov & Hutter): the
 * decay leaves the gradient and `w -= eta · (lr_t · m / (sqrt(v) + epsilon) + wd · w)`.
 *
 * @param buffers `w` (any shape, updated), `g` (like w), `m` and `v` (like w, updated)
 */
export function adamUpdate(
  { w, g, m, v }: { w: Float32Array; g: Float32Array; m: Float32Array; v: Float32Array },
  o: AdamOptions,
): void {
  checkSameLength("adamUpdate", { w, g, m, v });
  const clip = o.clipGradient !== undefined && o.clipGradient > 0 ? o.clipGradient : Infinity;
  const lr = o.lr * Math.sqrt(1 - o.beta2 ** o.t) / (1 - o.beta1 ** o.t);
  const eta = o.eta ?? 1;
  for (let i = 0; i < w.length; i++) {
    const decay = o.decoupled ? 0 : o.wd * w[i]!;
    const gi = Math.min(Math.max(o.rescaleGrad * g[i]! + decay, -clip), clip);
    m[i] = o.beta1 * m[i]! + (1 - o.beta1) * gi;
    v[i] = o.beta2 * v[i]! + (1 - o.beta2) * gi * gi;
    const step = lr * m[i]! / (Math.sqrt(v[i]!) + o.epsilon);
    w[i] = o.decoupled ? w[i]! - eta * (step + o.wd * w[i]!) : w[i]! - step;
  }
}

// ---------------------------------------------------------------------------------------------
// Convolution (cross-correlation, as MXNet and PyTorch)

/** Dimensions of a 2-D convolution. */
export interface Conv2dDims {
  /** Batch size. */
  B: number;
  /** Input channels. */
  C: number;
  /** Input height. */
  H: number;
  /** Input width. */
  W: number;
  /** Output channels. */
  O: number;
  /** Kernel size (K×K). */
  K: number;
  /** Step between windows, default 1. */
  stride?: number;
  /** Zeros added on every side, default 0. */
  pad?: number;
}

/**
 * The output size of a convolution: `OH = floor((H + 2·pad - K) / stride) + 1`, same for OW.
 * Throws when the kernel does not fit.
 */
export function conv2dOutputShape(
  { H, W, K, stride = 1, pad = 0 }: Pick<Conv2dDims, "H" | "W" | "K" | "stride" | "pad">,
): { OH: number; OW: number } {
  const OH = Math.floor((H + 2 * pad - K) / stride) + 1;
  const OW = Math.floor((W + 2 * pad - K) / stride) + 1;
  if (OH < 1 || OW < 1) {
    throw new RangeError(
      `conv2d: kernel K = ${K} does not fit input H×W = ${H}×${W} with pad = ${pad}`,
    );
  }
  return { OH, OW };
}

/**
 * Conv2d forward:
 * `y[b, o, oh, ow] = b[o] + Σ_{c, kh, kw} x[b, c, oh·stride - pad + kh, ow·stride - pad + kw] ·
 * w[o, c, kh, kw]`, where x outside the image is 0.
 *
 * @param inputs `x` (B, C, H, W), `w` (O, C, K, K), `b` (O)
 * @returns y (B, O, OH, OW), sized by {@link conv2dOutputShape}
 */
export function conv2dForward(
  { x, w, b }: { x: Float32Array; w: Float32Array; b: Float32Array },
  dims: Conv2dDims,
): Float32Array {
  const op = "conv2dForward";
  const { B, C, H, W, O, K, stride = 1, pad = 0 } = dims;
  checkDims(op, { B, C, H, W, O, K, stride }, { pad });
  const { OH, OW } = conv2dOutputShape(dims);
  checkShape(op, "x", x, "B, C, H, W", [B, C, H, W]);
  checkShape(op, "w", w, "O, C, K, K", [O, C, K, K]);
  checkShape(op, "b", b, "O", [O]);
  const y = new Float32Array(B * O * OH * OW); // (B, O, OH, OW)
  for (let n = 0; n < B; n++) {
    for (let o = 0; o < O; o++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let sum = b[o]!;
          for (let c = 0; c < C; c++) {
            for (let kh = 0; kh < K; kh++) {
              const ih = oh * stride - pad + kh;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < K; kw++) {
                const iw = ow * stride - pad + kw;
                if (iw < 0 || iw >= W) continue;
                sum += x[((n * C + c) * H + ih) * W + iw]! * w[((o * C + c) * K + kh) * K + kw]!;
              }
            }
          }
          y[((n * O + o) * OH + oh) * OW + ow] = sum;
        }
      }
    }
  }
  return y;
}

/**
 * Conv2d backward, given `dy = ∂L/∂y`. Walks exactly the loops of {@link conv2dForward}; where
 * the forward pass read `x[...] · w[...]` into `y[...]`, this adds `dy[...] · w[...]` into
 * `dx[...]` and `dy[...] · x[...]` into `dw[...]`; `db[o] = Σ_{b, oh, ow} dy[b, o, oh, ow]`.
 *
 * @param inputs `dy` (B, O, OH, OW), `x` (B, C, H, W), `w` (O, C, K, K)
 * @returns dx (B, C, H, W), dw (O, C, K, K), db (O)
 */
export function conv2dBackward(
  { dy, x, w }: { dy: Float32Array; x: Float32Array; w: Float32Array },
  dims: Conv2dDims,
): { dx: Float32Array; dw: Float32Array; db: Float32Array } {
  const op = "conv2dBackward";
  const { B, C, H, W, O, K, stride = 1, pad = 0 } = dims;
  checkDims(op, { B, C, H, W, O, K, stride }, { pad });
  const { OH, OW } = conv2dOutputShape(dims);
  checkShape(op, "dy", dy, "B, O, OH, OW", [B, O, OH, OW]);
  checkShape(op, "x", x, "B, C, H, W", [B, C, H, W]);
  checkShape(op, "w", w, "O, C, K, K", [O, C, K, K]);
  // float64 accumulators: each element gathers many scattered terms.
  const dx = new Float64Array(B * C * H * W); // (B, C, H, W)
  const dw = new Float64Array(O * C * K * K); // (O, C, K, K)
  const db = new Float64Array(O); // (O)
  for (let n = 0; n < B; n++) {
    for (let o = 0; o < O; o++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          const g = dy[((n * O + o) * OH + oh) * OW + ow]!;
          db[o]! += g;
          for (let c = 0; c < C; c++) {
            for (let kh = 0; kh < K; kh++) {
              const ih = oh * stride - pad + kh;
              if (ih < 0 || ih >= H) continue;
              for (let kw = 0; kw < K; kw++) {
                const iw = ow * stride - pad + kw;
                if (iw < 0 || iw >= W) continue;
                const xi = ((n * C + c) * H + ih) * W + iw;
                const wi = ((o * C + c) * K + kh) * K + kw;
                dx[xi]! += g * w[wi]!;
                dw[wi]! += g * x[xi]!;
              }
            }
          }
        }
      }
    }
  }
  return { dx: Float32Array.from(dx), dw: Float32Array.from(dw), db: Float32Array.from(db) };
}

// ---------------------------------------------------------------------------------------------
// Max pooling

/** Dimensions of a max-pooling layer; the defaults are LeNet's 2×2 windows, stride 2. */
export interface MaxPoolDims {
  /** Batch size. */
  B: number;
  /** Channels. */
  C: number;
  /** Input height. */
  H: number;
  /** Input width. */
  W: number;
  /** Window size (K×K), default 2. */
  K?: number;
  /** Step between windows, default 2. */
  stride?: number;
}

/**
 * The output size of max pooling (MXNet's "valid" convention, no padding):
 * `OH = floor((H - K) / stride) + 1`, same for OW. Throws when the window does not fit.
 */
export function maxPoolOutputShape(
  { H, W, K = 2, stride = 2 }: Pick<MaxPoolDims, "H" | "W" | "K" | "stride">,
): { OH: number; OW: number } {
  const OH = Math.floor((H - K) / stride) + 1;
  const OW = Math.floor((W - K) / stride) + 1;
  if (OH < 1 || OW < 1) {
    throw new RangeError(`maxPool: window K = ${K} does not fit input H×W = ${H}×${W}`);
  }
  return { OH, OW };
}

/**
 * Max-pool forward: `y[b, c, oh, ow] = max over the K×K window at (oh·stride, ow·stride)`.
 * `argmax` keeps, for backward, the flat index into x of the chosen element: the first maximum
 * in row-major window order on ties.
 *
 * @param inputs `x` (B, C, H, W)
 * @returns y (B, C, OH, OW), argmax (B, C, OH, OW) flat indices into x
 */
export function maxPoolForward(
  { x }: { x: Float32Array },
  dims: MaxPoolDims,
): { y: Float32Array; argmax: Int32Array } {
  const op = "maxPoolForward";
  const { B, C, H, W, K = 2, stride = 2 } = dims;
  checkDims(op, { B, C, H, W, K, stride });
  const { OH, OW } = maxPoolOutputShape(dims);
  checkShape(op, "x", x, "B, C, H, W", [B, C, H, W]);
  const y = new Float32Array(B * C * OH * OW); // (B, C, OH, OW)
  const argmax = new Int32Array(B * C * OH * OW); // (B, C, OH, OW), flat indices into x
  for (let n = 0; n < B; n++) {
    for (let c = 0; c < C; c++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let best = -1;
          for (let kh = 0; kh < K; kh++) {
            for (let kw = 0; kw < K; kw++) {
              const xi = ((n * C + c) * H + oh * stride + kh) * W + ow * stride + kw;
              if (best < 0 || x[xi]! > x[best]!) best = xi;
            }
          }
          const yi = ((n * C + c) * OH + oh) * OW + ow;
          y[yi] = x[best]!;
          argmax[yi] = best;
        }
      }
    }
  }
  return { y, argmax };
}

/**
 * Max-pool backward: `dx[argmax[i]] += dy[i]` for every output element i, zero elsewhere.
 * Accumulates, since overlapping windows (K > stride) can pick the same input.
 *
 * @param inputs `dy` (B, C, OH, OW), `argmax` (B, C, OH, OW) from {@link maxPoolForward}
 * @returns dx (B, C, H, W)
 */
export function maxPoolBackward(
  { dy, argmax }: { dy: Float32Array; argmax: Int32Array },
  dims: MaxPoolDims,
): Float32Array {
  const op = "maxPoolBackward";
  const { B, C, H, W, K = 2, stride = 2 } = dims;
  checkDims(op, { B, C, H, W, K, stride });
  const { OH, OW } = maxPoolOutputShape(dims);
  checkShape(op, "dy", dy, "B, C, OH, OW", [B, C, OH, OW]);
  checkShape(op, "argmax", argmax, "B, C, OH, OW", [B, C, OH, OW]);
  const dx = new Float64Array(B * C * H * W); // (B, C, H, W)
  for (let i = 0; i < dy.length; i++) {
    const xi = argmax[i]!;
    if (xi < 0 || xi >= dx.length) {
      throw new RangeError(`${op}: argmax[${i}] = ${xi} is outside x, which has ${dx.length}`);
    }
    dx[xi]! += dy[i]!;
  }
  return Float32Array.from(dx);
}

// ---------------------------------------------------------------------------------------------
// Argument checks: a wrong shape in a test should fail loudly, naming the op and the buffer.

function checkDims(
  op: string,
  positive: Record<string, number>,
  nonNegative: Record<string, number> = {},
): void {
  for (const [name, v] of Object.entries(positive)) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${op}: ${name} is ${v}, expected a positive integer`);
    }
  }
  for (const [name, v] of Object.entries(nonNegative)) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`${op}: ${name} is ${v}, expected a non-negative integer`);
    }
  }
}

/** Checks `a` holds the product of `shape`; `letters` names the dims, e.g. "O, C, K, K". */
function checkShape(
  op: string,
  name: string,
  a: ArrayLike<number>,
  letters: string,
  shape: number[],
): void {
  const size = shape.reduce((p, v) => p * v, 1);
  if (a.length !== size) {
    const values = shape.join(", ");
    throw new RangeError(
      `${op}: ${name} has ${a.length} elements, expected (${letters}) = (${values}) = ${size}`,
    );
  }
}

function checkSameLength(op: string, arrays: Record<string, ArrayLike<number>>): void {
  const entries = Object.entries(arrays);
  const [firstName, first] = entries[0]!;
  for (const [name, a] of entries.slice(1)) {
    if (a.length !== first.length) {
      throw new RangeError(
        `${op}: ${name} has ${a.length} elements but ${firstName} has ${first.length}`,
      );
    }
  }
}

/** Checks the first `B` labels are classes in [0, N); `length` is the expected labels length. */
function checkLabels(
  op: string,
  labels: Labels,
  { B, N }: SoftmaxDims,
  length: number = B,
): void {
  if (labels.length !== length) {
    throw new RangeError(`${op}: labels has ${labels.length} elements, expected B = ${length}`);
  }
  for (let n = 0; n < B; n++) {
    const label = labels[n]!;
    if (!Number.isInteger(label) || label < 0 || label >= N) {
      throw new RangeError(`${op}: labels[${n}] is ${label}, expected a class in [0, N = ${N})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Activations by name, as the layers fuse them

/** An activation's name, as in src/nn/model.ts. */
export type ActivationName = "none" | "relu" | "tanh" | "sigmoid";

/** `act(z)` elementwise. */
export function activationForward(act: ActivationName, z: Float32Array): Float32Array {
  switch (act) {
    case "none":
      return z;
    case "relu":
      return reluForward(z);
    case "tanh":
      return tanhForward(z);
    case "sigmoid":
      return sigmoidForward(z);
  }
}

/**
 * `dy ⊙ act'(z)`, computed from the activation's OUTPUT `y = act(z)` as the kernels do (for ReLU
 * `y > 0` exactly when `z > 0`).
 */
export function activationBackward(
  act: ActivationName,
  { y, dy }: { y: Float32Array; dy: Float32Array },
): Float32Array {
  switch (act) {
    case "none":
      return dy;
    case "relu":
      return reluBackward({ x: y, dy });
    case "tanh":
      return tanhBackward({ y, dy });
    case "sigmoid":
      return sigmoidBackward({ y, dy });
  }
}

// ---------------------------------------------------------------------------------------------
// Augmentation: the random affine warp of kernels/gather.wgsl `gather_batch_affine`

/** PCG hash (Jarzynski and Olano, JCGT 2020) on u32s, as kernels/gather.wgsl `pcg`. */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** One sample's distortion: rotation (radians), scale, x-shear factor, shift (pixels). */
export interface AffineParams {
  angle: number;
  scale: number;
  shear: number;
  dx: number;
  dy: number;
}

/**
 * The distortion `gather_batch_affine` draws for `sample` in `epoch` of a run seeded `seed`:
 * rotation ±10°, scale 0.9..1.1, shear ±0.1, shift ±2 px, each from a 24-bit uniform draw.
 */
export function affineParams(
  seed: number,
  { epoch, sample }: { epoch: number; sample: number },
): AffineParams {
  const h = pcgHash((seed ^ pcgHash((epoch ^ pcgHash(sample)) >>> 0)) >>> 0);
  const u = (k: number) => (pcgHash((h + k) >>> 0) >>> 8) / 16777216;
  return {
    angle: (u(0) * 2 - 1) * 0.17453292,
    scale: 0.9 + 0.2 * u(1),
    shear: (u(2) * 2 - 1) * 0.1,
    dx: u(3) * 4 - 2,
    dy: u(4) * 4 - 2,
  };
}

/**
 * Warps one u8 image by `p` about its centre c = ((W-1)/2, (H-1)/2): the forward map is
 * out = A (src - c) + c + shift with A = scale · R(angle) · [[1, shear], [0, 1]], and each output
 * pixel is the bilinear sample of the source at A⁻¹ (out - c - shift) + c, 0 outside the image,
 * scaled by 1/255.
 *
 * @param image (H, W) u8 pixels
 * @returns (H, W) f32 in [0, 1]
 */
export function affineWarp(
  image: Uint8Array,
  { H, W, params: p }: { H: number; W: number; params: AffineParams },
): Float32Array {
  checkShape("affineWarp", "image", image, "H, W", [H, W]);
  const cx = (W - 1) / 2;
  const cy = (H - 1) / 2;
  const [cs, sn] = [Math.cos(p.angle), Math.sin(p.angle)];
  const [a00, a01, a10, a11] = [cs, cs * p.shear - sn, sn, sn * p.shear + cs].map((v) =>
    p.scale * v
  ) as [number, number, number, number];
  const det = a00 * a11 - a01 * a10;
  const at = (x: number, y: number) => x < 0 || y < 0 || x >= W || y >= H ? 0 : image[y * W + x]!;
  const out = new Float32Array(H * W); // (H, W)
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const ox = x - cx - p.dx;
      const oy = y - cy - p.dy;
      const sx = (a11 * ox - a01 * oy) / det + cx;
      const sy = (-a10 * ox + a00 * oy) / det + cy;
      const [fx, fy] = [Math.floor(sx), Math.floor(sy)];
      const [dx, dy] = [sx - fx, sy - fy];
      const top = at(fx, fy) * (1 - dx) + at(fx + 1, fy) * dx;
      const bottom = at(fx, fy + 1) * (1 - dx) + at(fx + 1, fy + 1) * dx;
      out[y * W + x] = (top * (1 - dy) + bottom * dy) / 255;
    }
  }
  return out;
}
