/**
 * Writes kernels/conv2d_tiled.wgsl: register-tiled convolution kernels for K×K = 5×5 kernels,
 * stride 1, no padding (LeNet's convolutions), unrolled over the kernel window (the forward: over
 * a kernel row) and the tile. llvmpipe (the CPU adapter) runs 8 invocations per AVX2 register and
 * loads each lane's values one by one, so what counts is how many multiply-adds each loaded value
 * feeds:
 *
 * - forward: an invocation computes an RH×RW block of output pixels for T output channels. Per
 *   input channel it loads the (RH + K - 1) input rows of its block once, as vec4s, into a window
 *   of RH rows that slides down a row per kernel row (a loop over the K kernel rows, each step
 *   unrolled over the tile and the row's K taps), and every loaded value feeds up to K·K·T
 *   products (the K shifted windows are register swizzles). llvmpipe's cold compile of the
 *   pooled forward kept 135 MB of memory unrolled over all K·K taps with 8-row tiles, and 47 MB
 *   with the loop and 4-row tiles, at the same speed (docs/llvmpipe-kernels.md).
 * - weight gradient: an invocation sums dw for TO output channels × CT input channels × all
 *   K·K taps over a slice of the batch, loading RHW rows of dy and RHW + K - 1 rows of x per
 *   step; slices of the batch, stored tile by tile as vec4s, are summed by
 *   conv2d_sum_slices_tiled. For outputs 8 wide
 *   (LeNet's conv2), conv2d_backward_weight_tiled_rows keeps the x rows in a sliding window and
 *   takes WEIGHT_ROWS.TO output by WEIGHT_ROWS.CT input channels an invocation.
 * - input gradient: an invocation owns one image's whole OH×OW plane of dy (up to PLANE×PLANE)
 *   and the whole H×W plane of dx for TC input channels, so it scatters each dy value into
 *   K·K accumulators without ever touching a border: no wasted products.
 *
 * Separately named accumulators measured far faster on llvmpipe than arrays or loops over the
 * tile, and so did keeping few loaded values live at once: larger tiles than these, or loading
 * every row before using any, measured slower despite fewer loads per product (llvmpipe splits
 * fma() into a multiply and an add either way). Unrolled by hand that is thousands of
 * repetitive lines, so they are generated here. The generated file is valid WGSL and
 * committed; tests/conv2d_tiled_gen_test.ts checks it matches this generator.
 *
 *     deno task gen
 */

import { CONV2D_TILES } from "./tiles.ts";

/** The kernel size the tiled kernels are unrolled for (see kernels/tiles.ts). */
export const K = CONV2D_TILES.K;
/** Forward tile (see kernels/tiles.ts). */
export const FORWARD = CONV2D_TILES.FORWARD;
/** Weight-gradient tile (see kernels/tiles.ts). */
export const WEIGHT = CONV2D_TILES.WEIGHT;
/** Input-gradient tile (see kernels/tiles.ts). */
export const INPUT = CONV2D_TILES.INPUT;
/** Bytes of each of the two uniform windows onto the layer's parameters (see kernels/tiles.ts). */
export const PARAM_WINDOW_BYTES = CONV2D_TILES.PARAM_WINDOW_BYTES;

/** The sliding-rows weight gradient's input channels per invocation (see kernels/tiles.ts). */
export const WEIGHT_ROWS = CONV2D_TILES.WEIGHT_ROWS;

const KK = K * K;
/** Floats in one parameter window. */
const WF = PARAM_WINDOW_BYTES / 4;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const XYZW = ["x", "y", "z", "w"];
/** Component `e` of a row held in vec4s named `${name}_${q}`. */
const comp = (name: string, e: number) => `${name}_${Math.floor(e / 4)}.${XYZW[e % 4]}`;
/**
 * Components `e` .. `e + 3` of a row held in vec4s named `${name}_${q}`, as a vec4f: the vec4
 * itself where they are one (fewer expressions for the shader compilers to get through).
 */
const window = (name: string, e: number) =>
  e % 4 === 0 ? `${name}_${e / 4}` : `vec4f(${range(4).map((k) => comp(name, e + k)).join(", ")})`;
/** `a = fma(x1, y1, fma(x2, y2, ... a))`, the products summed in order. */
function fmaChain(acc: string, products: [string, string][]): string {
  let expr = acc;
  for (const [x, y] of products.toReversed()) expr = `fma(${x}, ${y}, ${expr})`;
  return `${acc} = ${expr};`;
}

/**
 * The forward, with the tile's epilogue either storing y, or (\`pool\`) max-pooling each 2×2
 * window of it at stride 2 and storing the pooled y and each window's argmax, as
 * kernels/pool_2x2.wgsl does. Each accumulator sums its products input channel by input channel,
 * kernel row by kernel row, then along the row (fmaChain): the order of the earlier forward that
 * was unrolled over all K·K taps, so the sums are the same to the bit.
 */
function forward(pool: boolean): string {
  const { RH, RW, T } = FORWARD;
  const G = RW / 4;
  const NV = Math.ceil((RW + K - 1) / 4);
  const acc = (r: number, j: number, t: number) => `a${r}_${j}_${t}`;
  if (pool && (RW !== 8 || RH % 2 !== 0)) throw new Error("the pooled forward needs 8×2n tiles");
  const body: string[] = [
    `    let xc = (b * C + c) * H * W4;`,
    `    // x{r}_{q}: vec4 q of input row oh0 + kh + r, a window of rows that slides down one row`,
    `    // per kernel row kh; its last row is loaded at the top of each kh step.`,
    ...range(RH - 1).flatMap((r) =>
      range(NV).map((q) => `    var x${r}_${q} = in0v[min(xc + row${r} + ${q}u, last)];`)
    ),
    `    for (var kh = 0u; kh < ${K}u; kh++) {`,
    `      let row = min(oh0 + kh + ${RH - 1}u, H - 1u) * W4 + ow0 / 4u;`,
    ...range(NV).map((q) => `      let x${RH - 1}_${q} = in0v[min(xc + row + ${q}u, last)];`),
    `      let wk = c * ${KK}u + kh * ${K}u;`,
    ...range(T).flatMap((t) =>
      range(K).map((kw) => `      let w${t}_${kw} = param(w${t} + wk + ${kw}u);`)
    ),
  ];
  for (let r = 0; r < RH; r++) {
    body.push(`      // Output row oh0 + ${r} from input row oh0 + ${r} + kh.`);
    for (let j = 0; j < G; j++) {
      for (let t = 0; t < T; t++) {
        const products = range(K).map((kw): [string, string] => [
          window(`x${r}`, 4 * j + kw),
          `vec4f(w${t}_${kw})`,
        ]);
        body.push(`      ${fmaChain(acc(r, j, t), products)}`);
      }
    }
  }
  body.push(
    `      // The window moves down a row.`,
    ...range(RH - 1).flatMap((r) => range(NV).map((q) => `      x${r}_${q} = x${r + 1}_${q};`)),
    `    }`,
  );
  const stores = pool
    ? range(T).flatMap((t) => [
      `  let bias${t} = vec4f(param(O * C * ${KK}u + min(o0 + ${t}u, O - 1u)));`,
      ...range(RH / 2).map((p) =>
        `  store_pooled(b, o0 + ${t}u, oh0 / 2u + ${p}u, ow0 / 2u, array(${
          [2 * p, 2 * p + 1].flatMap((r) => range(G).map((j) => `act4(${acc(r, j, t)} + bias${t})`))
            .join(", ")
        }));`
      ),
    ])
    : range(T).flatMap((t) => [
      `  let bias${t} = vec4f(param(O * C * ${KK}u + min(o0 + ${t}u, O - 1u)));`,
      ...range(RH).flatMap((r) =>
        range(G).map((j) =>
          `  store_forward(b, o0 + ${t}u, oh0 + ${r}u, ow0 + ${4 * j}u, ${
            acc(r, j, t)
          } + bias${t});`
        )
      ),
    ]);
  const head = pool
    ? `// One invocation per (b, ${T} output channels, ${RH}×${RW} output pixels), then max-pooled over
// 2×2 windows at stride 2 (kernels/pool_2x2.wgsl's maxpool_forward_2x2 fused into the
// epilogue); out4: the pool's y (B, O, OH/2, OW/8), argmax4: (B, O, OH/2, OW/8) flat indices
// into the convolution's (B, O, OH, OW) output of each window's first maximum; in0v and the
// parameters as conv2d_forward_tiled. Needs OH, OW even and OW/2 % 4 == 0.
@compute @workgroup_size(WG)
fn conv2d_forward_tiled_pool(`
    : `// One invocation per (b, ${T} output channels, ${RH}×${RW} output pixels); out4: y (B, O, OH, OW/4),
// in0v: x (B, C, H, W/4), params_lo and params_hi: the layer's parameters, w (O, C, K, K)
// then bias (O). Needs W % 4 == 0 (so OW % 4 == 0). Rows and columns past the edges are clamped
// on load (they only feed outputs that are not stored) and skipped on store.
@compute @workgroup_size(WG)
fn conv2d_forward_tiled(`;
  return `${head}
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let C = dims.C;
  let H = dims.H;
  let W4 = dims.W / 4u;
  let O = dims.O;
  let tiles_w = (dims.OW + ${RW - 1}u) / ${RW}u;
  let tiles_h = (dims.OH + ${RH - 1}u) / ${RH}u;
  let tiles_o = (O + ${T - 1}u) / ${T}u;
  var i = invocation(gid, groups);
  let ow0 = (i % tiles_w) * ${RW}u;
  i /= tiles_w;
  let oh0 = (i % tiles_h) * ${RH}u;
  i /= tiles_h;
  let o0 = (i % tiles_o) * ${T}u;
  let b = i / tiles_o;
  if (b >= dims.B) {
    return;
  }
  let last = dims.B * C * H * W4 - 1u;
  // Where output channel o0 + t's weights start, and where input row oh0 + rr of the block
  // starts (in vec4s) within a channel plane (the rows the window starts with).
${range(T).map((t) => `  let w${t} = min(o0 + ${t}u, O - 1u) * C * ${KK}u;`).join("\n")}
${range(RH - 1).map((r) => `  let row${r} = min(oh0 + ${r}u, H - 1u) * W4 + ow0 / 4u;`).join("\n")}
  // a{r}_{j}_{t}: output row oh0 + r, columns ow0 + 4j .. ow0 + 4j + 3, channel o0 + t.
${
    range(RH).flatMap((r) =>
      range(G).flatMap((j) => range(T).map((t) => `  var ${acc(r, j, t)} = vec4f(0.0);`))
    )
      .join("\n")
  }
  for (var c = 0u; c < C; c++) {
${body.join("\n")}
  }
${stores.join("\n")}
}`;
}

/** dw[o0 + t, c0 + cc, k / K, k % K]'s accumulator in the weight-gradient kernels. */
const weightAcc = (t: number, cc: number, k: number) => `a${t}_${cc}_${k}`;

/**
 * The weight-gradient kernels' entry point \`name\` up to their batch loop: the invocation's
 * (output channels, input channels, batch slice), the clamped channels, the accumulators and
 * the slice's end (TO output channels, CT input channels: WEIGHT's unless given).
 */
function weightHead(name: string, CT: number = WEIGHT.CT, TO: number = WEIGHT.TO): string {
  return `@compute @workgroup_size(WG)
fn ${name}(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let B = dims.B;
  let C = dims.C;
  let H = dims.H;
  let O = dims.O;
  let OH = dims.OH;
  let OW = dims.OW;
  let W4 = dims.W / 4u;
  let OW4 = OW / 4u;
  let tiles_c = (C + ${CT - 1}u) / ${CT}u;
  let tiles_o = (O + ${TO - 1}u) / ${TO}u;
  var i = invocation(gid, groups);
  let c0 = (i % tiles_c) * ${CT}u;
  i /= tiles_c;
  let o0 = (i % tiles_o) * ${TO}u;
  let s = i / tiles_o;
  if (s >= dims.S) {
    return;
  }
  let last_x = B * C * H * W4 - 1u;
  let last_dz = B * O * OH * OW4 - 1u;
${range(TO).map((t) => `  let oc${t} = min(o0 + ${t}u, O - 1u);`).join("\n")}
${range(CT).map((cc) => `  let ci${cc} = min(c0 + ${cc}u, C - 1u);`).join("\n")}
  // a{t}_{cc}_{k}: dw[o0 + t, c0 + cc, k / K, k % K]; db{t}: db[o0 + t] as four partial sums.
${
    range(TO).flatMap((t) =>
      range(CT).flatMap((cc) => range(KK).map((k) => `  var ${weightAcc(t, cc, k)} = 0.0;`))
    ).join("\n")
  }
${range(TO).map((t) => `  var db${t} = vec4f(0.0);`).join("\n")}
  let b_end = min(B, (s + 1u) * dims.BS);`;
}

/** Floats of a weight-gradient tile's block in a slice: TO·CT·K·K, padded to whole vec4s. */
function tileBlock(CT: number, TO: number): number {
  return Math.ceil((TO * CT * KK) / 4) * 4;
}

/** Floats of a tile of TO output channels' biases in a slice: TO, padded to whole vec4s. */
const biasBlock = (TO: number) => Math.ceil(TO / 4) * 4;

/**
 * The weight-gradient kernels' end, for TO output channels by CT input channels an invocation
 * (WEIGHT's unless given): slice s's partial sums stored in the slice's tile order (see
 * conv2d_sum_slices_tiled), the tile's TO·CT·K·K weights as vec4s, then (c0 = 0) its TO biases. A
 * tile's block is whole vec4s where the gradient range's (O, C, K, K) order puts its 25-float
 * kernels across vec4s: llvmpipe compiles each store into a loop over the lanes, and storing
 * LeNet's conv2 tile as 500 floats took 5.6-5.8 s of a cold compile. Tiles past O or C store what
 * their clamped loads summed; the sum never reads it.
 */
function weightStores(CT: number = WEIGHT.CT, TO: number = WEIGHT.TO): string {
  const block = tileBlock(CT, TO);
  const BIAS_BLOCK = biasBlock(TO);
  const values = range(TO).flatMap((t) =>
    range(CT).flatMap((cc) => range(KK).map((k) => weightAcc(t, cc, k)))
  );
  while (values.length < block) values.push("0.0");
  const bias = range(BIAS_BLOCK).map((t) => t < TO ? `dot(db${t}, vec4f(1.0))` : "0.0");
  const vec4s = (v: string[], q: number) => `vec4f(${v.slice(4 * q, 4 * q + 4).join(", ")})`;
  const stores = [
    `  let slice = s * (tiles_o * tiles_c * ${block / 4}u + tiles_o * ${BIAS_BLOCK / 4}u);`,
    `  let at = slice + ((o0 / ${TO}u) * tiles_c + c0 / ${CT}u) * ${block / 4}u;`,
    ...range(block / 4).map((q) => `  out4[at + ${q}u] = ${vec4s(values, q)};`),
    `  if (c0 == 0u) {`,
    `    let db = slice + tiles_o * tiles_c * ${block / 4}u + (o0 / ${TO}u) * ${BIAS_BLOCK / 4}u;`,
    ...range(BIAS_BLOCK / 4).map((q) => `    out4[db + ${q}u] = ${vec4s(bias, q)};`),
    `  }`,
  ];
  return `${stores.join("\n")}\n}`;
}

/**
 * The sum of the weight gradients' slices into the gradient range, reading each slice in the
 * tile order weightStores writes; TO and CT are overrides, since the two weight kernels tile
 * the channels differently.
 */
function sumSlices(): string {
  const { TO, CT } = WEIGHT;
  return `// Output and input channels per tile of the weight gradient whose slices are summed:
// ${TO} and ${CT} for conv2d_backward_weight_tiled, ${WEIGHT_ROWS.TO} and ${WEIGHT_ROWS.CT} for
// conv2d_backward_weight_tiled_rows.
override TO: u32 = ${TO}u;
override CT: u32 = ${CT}u;

// One invocation per element of the gradient range; out: dw (O, C, K, K) then db (O); in0v: the
// S partial sums of a weight gradient above, each slice in tile order: for each tile of TO
// output channels by CT input channels (by output tile, then input tile), its TO·CT·${KK}
// weights in (t, cc, kh, kw) order padded to whole vec4s; then, for each output tile, its TO
// biases padded to whole vec4s. Added over s in order, as conv2d.wgsl's conv2d_sum_slices does.
@compute @workgroup_size(WG)
fn conv2d_sum_slices_tiled(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let O = dims.O;
  let C = dims.C;
  let n = O * C * ${KK}u;
  let i = invocation(gid, groups);
  if (i >= n + O) {
    return;
  }
  let tiles_o = (O + TO - 1u) / TO;
  let tiles_c = (C + CT - 1u) / CT;
  let block = (TO * CT * ${KK}u + 3u) / 4u * 4u;
  let bias_block = (TO + 3u) / 4u * 4u;
  let weights = tiles_o * tiles_c * block;
  var at: u32;
  if (i < n) {
    let k = i % ${KK}u;
    let c = (i / ${KK}u) % C;
    let o = i / (${KK}u * C);
    at = ((o / TO) * tiles_c + c / CT) * block + ((o % TO) * CT + c % CT) * ${KK}u + k;
  } else {
    let o = i - n;
    at = weights + (o / TO) * bias_block + o % TO;
  }
  let slice = weights + tiles_o * bias_block;
  var sum = 0.0;
  for (var s = 0u; s < dims.S; s++) {
    let e = s * slice + at;
    sum += in0v[e / 4u][e % 4u];
  }
  out[i] = sum;
}`;
}

function backwardWeight(): string {
  const { TO, CT, RHW, CW } = WEIGHT;
  const Q = CW / 4;
  const NV = Math.ceil((CW + K - 1) / 4);
  const rows = RHW + K - 1;
  const acc = weightAcc;
  const body: string[] = [];
  // Whether dz row oh0 + r, columns ow0 + 4q .. + 3 lie inside (the loops keep r = q = 0 inside).
  for (let r = 0; r < RHW; r++) {
    for (let q = r === 0 ? 1 : 0; q < Q; q++) {
      body.push(`        let in${r}_${q} = oh0 + ${r}u < OH && ow0 + ${4 * q}u < OW;`);
    }
  }
  for (let t = 0; t < TO; t++) {
    body.push(`        let dz${t} = ((b * O + oc${t}) * OH + oh0) * OW4 + ow0 / 4u;`);
    for (let r = 0; r < RHW; r++) {
      for (let q = 0; q < Q; q++) {
        body.push(
          r === 0 && q === 0
            ? `        let g${t}_0_0 = in0v[min(dz${t}, last_dz)];`
            : `        let g${t}_${r}_${q} = select(vec4f(0.0), in0v[min(dz${t} + ${r}u * OW4 + ${q}u, last_dz)], in${r}_${q});`,
        );
      }
    }
    const all = range(RHW).flatMap((r) => range(Q).map((q) => `g${t}_${r}_${q}`));
    body.push(`        db${t} += ${all.join(" + ")};`);
  }
  // Each x row is loaded just before the products that use it: with fewer values live at once
  // this measured faster on llvmpipe than loading every row first.
  for (let cc = 0; cc < CT; cc++) {
    body.push(`        let xc${cc} = ((b * C + ci${cc}) * H + oh0) * W4 + ow0 / 4u;`);
    for (let rr = 0; rr < rows; rr++) {
      body.push(`        // x row oh0 + ${rr}: meets dz rows oh0 + r for the taps kh = ${rr} - r.`);
      for (let q = 0; q < NV; q++) {
        body.push(
          `        let x${cc}_${rr}_${q} = in2v[min(xc${cc} + ${rr}u * W4 + ${q}u, last_x)];`,
        );
      }
      for (let r = Math.max(0, rr - K + 1); r <= Math.min(RHW - 1, rr); r++) {
        const kh = rr - r;
        for (let t = 0; t < TO; t++) {
          for (let kw = 0; kw < K; kw++) {
            const products = range(CW).map((e): [string, string] => [
              comp(`g${t}_${r}`, e),
              comp(`x${cc}_${rr}`, e + kw),
            ]);
            body.push(`        ${fmaChain(acc(t, cc, kh * K + kw), products)}`);
          }
        }
      }
    }
  }
  return `// One invocation per (${TO} output channels, ${CT} input channel${
    CT > 1 ? "s" : ""
  }, batch slice s);
// out: slice s of the partial sums (S, O·C·K·K + O), each laid out like the gradient range:
// dw (O, C, K, K) then db (O); in0v: dz (B, O, OH, OW/4), in2v: x (B, C, H, W/4). Slice s sums
// images s·BS .. s·BS + BS - 1; the invocations with c0 = 0 also sum db. Needs W % 4 == 0.
// dz rows and columns past the edges read as zeros, so the x they meet never counts.
${weightHead("conv2d_backward_weight_tiled")}
  for (var b = s * dims.BS; b < b_end; b++) {
    for (var oh0 = 0u; oh0 < OH; oh0 += ${RHW}u) {
      for (var ow0 = 0u; ow0 < OW; ow0 += ${CW}u) {
${body.join("\n")}
      }
    }
  }
${weightStores()}`;
}

/**
 * The weight gradient for outputs exactly 8 wide (LeNet's conv2: 8×8 from 12×12), with the x
 * rows kept as a sliding window: where conv2d_backward_weight_tiled loads the K x rows of each
 * (dz row, 4 columns) step afresh (10 vec4s for 4 columns), this one loads each x row of an
 * image once, 3 vec4s across its 12 columns, and shifts the window down a row per dz row,
 * both column groups of a dz row in turn; and it takes WEIGHT_ROWS.CT input channels an
 * invocation rather than WEIGHT.CT, so that each dz load feeds every channel's products, and
 * WEIGHT_ROWS.TO output channels rather than WEIGHT.TO, which halves its code (its batch slices
 * stay the general kernel's: weightSlices in src/nn/conv2d.ts). Every
 * accumulator takes the same products in the same order as conv2d_backward_weight_tiled's (dz
 * rows, then column groups, then the fmaChain), over the same batch slices, so the sums are the
 * same to the bit; x loads per image and channel go from 160 to 36.
 */
function backwardWeightRows(): string {
  const { RHW, CW } = WEIGHT;
  const { CT, TO } = WEIGHT_ROWS;
  if (RHW !== 1 || CW !== 4) {
    throw new Error("the sliding-rows weight gradient is written for RHW = 1, CW = 4");
  }
  const G = 2; // column groups of 4: OW = 8
  const NV = 3; // vec4s of an x row: W = OW + K - 1 = 12
  const win = (cc: number, rr: number) => `r${cc}_${rr}`;
  // Vec4 q of x row `row` of channel ci{cc}.
  const xLoad = (cc: number, row: string, q: number) =>
    `in2v[min(xc${cc} + ${row} * W4${q > 0 ? ` + ${q}u` : ""}, last_x)]`;
  const body: string[] = range(CT).flatMap((cc) =>
    range(NV).map((q) => `      let ${win(cc, K - 1)}_${q} = ${xLoad(cc, `(oh0 + ${K - 1}u)`, q)};`)
  );
  for (let j = 0; j < G; j++) {
    body.push(`      // Columns ${4 * j} .. ${4 * j + 3} of dz row oh0.`);
    for (let t = 0; t < TO; t++) {
      body.push(`      let g${t}_${j} = in0v[min(dz${t} + ${j}u, last_dz)];`);
      body.push(`      db${t} += g${t}_${j};`);
    }
    for (let cc = 0; cc < CT; cc++) {
      for (let rr = 0; rr < K; rr++) {
        const x = (e: number) => comp(win(cc, rr), 4 * j + e);
        for (let t = 0; t < TO; t++) {
          for (let kw = 0; kw < K; kw++) {
            const products = range(CW).map((e): [string, string] => [
              `g${t}_${j}.${XYZW[e]}`,
              x(e + kw),
            ]);
            body.push(`      ${fmaChain(weightAcc(t, cc, rr * K + kw), products)}`);
          }
        }
      }
    }
  }
  body.push(
    `      // The window moves down a row.`,
    ...range(CT).flatMap((cc) =>
      range(K - 1).flatMap((rr) =>
        range(NV).map((q) => `      ${win(cc, rr)}_${q} = ${win(cc, rr + 1)}_${q};`)
      )
    ),
  );
  return `// One invocation per (${TO} output channels, ${CT} input channels, batch slice s), channels
// fastest (c0 = ${CT}·(i % tiles_c)): conv2d_backward_weight_tiled's bindings and batch slices,
// for OW = 8 (so W = 12, W4 = 3), the x rows of each image loaded once into a sliding window of
// ${K} rows: the same sums, to the bit, with a fifth of the x loads and each dz load shared by
// ${CT} channels.
${weightHead("conv2d_backward_weight_tiled_rows", CT, TO)}
  for (var b = s * dims.BS; b < b_end; b++) {
${range(CT).map((cc) => `    let xc${cc} = (b * C + ci${cc}) * H * W4;`).join("\n")}
    // r{cc}_{rr}_{q}: vec4 q of x row oh0 + rr of channel ci{cc}.
${
    range(CT).flatMap((cc) =>
      range(K - 1).flatMap((rr) =>
        range(NV).map((q) => `    var ${win(cc, rr)}_${q} = ${xLoad(cc, `${rr}u`, q)};`)
      )
    ).join("\n")
  }
    for (var oh0 = 0u; oh0 < OH; oh0++) {
${range(TO).map((t) => `      let dz${t} = ((b * O + oc${t}) * OH + oh0) * OW4;`).join("\n")}
${body.join("\n")}
    }
  }
${weightStores(CT, TO)}`;
}

function backwardInput(): string {
  const { TC, PLANE } = INPUT;
  const HM = PLANE + K - 1;
  const Q = PLANE / 4;
  const acc = (cc: number, ih: number, iw: number) => `a${cc}_${ih}_${iw}`;
  const body: string[] = [`    let dz = (b * O + o) * OH * OW4;`];
  for (let r = 0; r < PLANE; r++) {
    for (let q = 0; q < Q; q++) {
      body.push(
        `    let g${r}_${q} = select(vec4f(0.0), in0v[min(dz + ${r}u * OW4 + ${q}u, last_dz)], in${r}_${q});`,
      );
    }
  }
  for (let cc = 0; cc < TC; cc++) {
    body.push(`    let w${cc} = (o * C + ci${cc}) * ${KK}u;`);
    for (let k = 0; k < KK; k++) body.push(`    let w${cc}_${k} = param(w${cc} + ${k}u);`);
  }
  for (let cc = 0; cc < TC; cc++) {
    for (let ih = 0; ih < HM; ih++) {
      for (let iw = 0; iw < HM; iw++) {
        // dx[ih, iw] gathers dz[ih - kh, iw - kw] · w[kh, kw] over the taps inside the plane.
        const products: [string, string][] = [];
        for (let kh = 0; kh < K; kh++) {
          for (let kw = 0; kw < K; kw++) {
            const r = ih - kh;
            const j = iw - kw;
            if (r < 0 || r >= PLANE || j < 0 || j >= PLANE) continue;
            products.push([comp(`g${r}`, j), `w${cc}_${kh * K + kw}`]);
          }
        }
        body.push(`    ${fmaChain(acc(cc, ih, iw), products)}`);
      }
    }
  }
  const stores: string[] = [];
  for (let cc = 0; cc < TC; cc++) {
    stores.push(`  if (c0 + ${cc}u < C) {`);
    stores.push(`    let dx${cc} = (b * C + c0 + ${cc}u) * H * W4;`);
    for (let ih = 0; ih < HM; ih++) {
      for (let q = 0; q < HM / 4; q++) {
        const v = `vec4f(${range(4).map((e) => acc(cc, ih, 4 * q + e)).join(", ")})`;
        stores.push(`    store_backward_input(dx${cc}, ${ih}u, ${q}u, ${v});`);
      }
    }
    stores.push(`  }`);
  }
  return `// One invocation per (b, ${TC} input channels): the whole dx plane from the whole dz plane;
// out4: dx (B, C, H, W/4) = conv_transpose(dz, w) ⊙ prev_act'(x), in0v: dz (B, O, OH, OW/4),
// params_lo and params_hi: the layer's parameters (w (O, C, K, K) first), in2v: x (B, C, H,
// W/4), the layer below's output. Needs OH, OW <= ${PLANE} and W % 4 == 0 (so OW % 4 == 0); dz outside the
// plane reads as zeros.
@compute @workgroup_size(WG)
fn conv2d_backward_input_tiled(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) groups: vec3u,
) {
  let C = dims.C;
  let H = dims.H;
  let O = dims.O;
  let OH = dims.OH;
  let OW = dims.OW;
  let W4 = dims.W / 4u;
  let OW4 = OW / 4u;
  let tiles_c = (C + ${TC - 1}u) / ${TC}u;
  let i = invocation(gid, groups);
  let c0 = (i % tiles_c) * ${TC}u;
  let b = i / tiles_c;
  if (b >= dims.B) {
    return;
  }
  let last_dz = dims.B * O * OH * OW4 - 1u;
${range(TC).map((cc) => `  let ci${cc} = min(c0 + ${cc}u, C - 1u);`).join("\n")}
${
    range(PLANE).flatMap((r) =>
      range(Q).map((q) => `  let in${r}_${q} = ${r}u < OH && ${4 * q}u < OW;`)
    ).join("\n")
  }
  // a{cc}_{ih}_{iw}: dx[b, c0 + cc, ih, iw].
${
    range(TC).flatMap((cc) =>
      range(HM).flatMap((ih) => range(HM).map((iw) => `  var ${acc(cc, ih, iw)} = 0.0;`))
    ).join("\n")
  }
  for (var o = 0u; o < O; o++) {
${body.join("\n")}
  }
${stores.join("\n")}
}`;
}

/** The whole generated module. */
export function generate(): string {
  return `// GENERATED by kernels/gen_conv2d_tiled.ts: edit the generator, not this file.
//
// 2-D convolution, register-tiled for the CPU adapter (llvmpipe), where these run several
// times faster than kernels/conv2d.wgsl; that file's simple kernels stay the reference and the
// fallback. Unrolled for ${K}×${K} kernels, stride 1, no padding. B batch, C input channels, H×W
// input, O output channels, OH×OW output; all buffers row-major (NCHW), read and written as
// vec4s along rows, so W (and with it OW = W - ${K - 1}) must be a multiple of 4.
// Invocations are numbered gid.x + gid.y · (x workgroups · WG), so a dispatch can spread over
// two dimensions when one would exceed maxComputeWorkgroupsPerDimension.
// The bindings: outputs out, out4 and the pooled forward's argmax4, inputs in0v and in2v, the
// parameters' two uniform windows, then dims; one variable per binding number, each entry point
// using some of them.

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

override WG: u32 = 8u;
// ACT, PREV_ACT, activate() and prev_act_grad() come from kernels/activation.wgsl.

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> out4: array<vec4f>;
// The pooled forward's argmax (conv2d_forward_tiled_pool only).
@group(0) @binding(2) var<storage, read_write> argmax4: array<vec4u>;
@group(0) @binding(3) var<storage, read> in0v: array<vec4f>;
@group(0) @binding(4) var<storage, read> in2v: array<vec4f>;
// The layer's parameters, w (O, C, K, K) then bias (O), as two ${WF / 256} KiB uniform windows
// (the second starts where the first ends): llvmpipe loads a uniform with one gather per register,
// but a storage buffer lane by lane with a branch and a bounds check per lane, and the weights
// are the loads that feed most products (conv2's forward measured 26% faster this way).
@group(0) @binding(5) var<uniform> params_lo: array<vec4f, ${WF / 4}>;
@group(0) @binding(6) var<uniform> params_hi: array<vec4f, ${WF / 4}>;
@group(0) @binding(7) var<uniform> dims: Dims;

fn invocation(gid: vec3u, groups: vec3u) -> u32 {
  return gid.x + gid.y * groups.x * WG;
}

// Float \`e\` of the layer's parameters (e < ${2 * WF}; clamped within each window).
fn param(e: u32) -> f32 {
  let lo = min(e, ${WF - 1}u);
  let hi = min(max(e, ${WF}u) - ${WF}u, ${WF - 1}u);
  return select(params_hi[hi / 4u][hi % 4u], params_lo[lo / 4u][lo % 4u], e < ${WF}u);
}

// y[b, o, oh, ow .. ow + 3] = act(v), skipping what lies past O, OH or OW.
fn store_forward(b: u32, o: u32, oh: u32, ow: u32, v: vec4f) {
  if (o >= dims.O || oh >= dims.OH || ow >= dims.OW) {
    return;
  }
  let at = (((b * dims.O + o) * dims.OH + oh) * dims.OW + ow) / 4u;
  out4[at] = vec4f(activate(v.x), activate(v.y), activate(v.z), activate(v.w));
}

// act() of each of v's components.
fn act4(v: vec4f) -> vec4f {
  return vec4f(activate(v.x), activate(v.y), activate(v.z), activate(v.w));
}

// The pool's y[b, o, ph, pw .. pw + 3] and argmax: the maxima of the four 2×2 windows whose
// rows 2·ph, 2·ph + 1 of the convolution's output y (B, O, OH, OW) are \`v\` (top row's columns
// 2·pw .. 2·pw + 3, 2·pw + 4 .. 2·pw + 7, then the bottom row's), compared in the order of
// kernels/pool_2x2.wgsl's maxpool_forward_2x2 (the first maximum wins); skipping what lies past
// O or OH/2 (the pooled width is whole vec4s).
fn store_pooled(b: u32, o: u32, ph: u32, pw: u32, v: array<vec4f, 4>) {
  let PH = dims.OH / 2u;
  let PW = dims.OW / 2u;
  if (o >= dims.O || ph >= PH || pw >= PW) {
    return;
  }
  let plane = b * dims.O + o;
  let tl = (plane * dims.OH + 2u * ph) * dims.OW + 2u * pw + vec4u(0u, 2u, 4u, 6u);
  var m = vec4f(v[0].x, v[0].z, v[1].x, v[1].z);
  var arg = tl;
  let tr = vec4f(v[0].y, v[0].w, v[1].y, v[1].w);
  arg = select(arg, tl + 1u, tr > m);
  m = select(m, tr, tr > m);
  let bl = vec4f(v[2].x, v[2].z, v[3].x, v[3].z);
  arg = select(arg, tl + dims.OW, bl > m);
  m = select(m, bl, bl > m);
  let br = vec4f(v[2].y, v[2].w, v[3].y, v[3].w);
  arg = select(arg, tl + dims.OW + 1u, br > m);
  m = select(m, br, br > m);
  let at = ((plane * PH + ph) * PW + pw) / 4u;
  out4[at] = m;
  argmax4[at] = arg;
}

// dx[.., ih, 4q .. 4q + 3] of the plane starting at vec4 \`plane\` = v ⊙ prev_act'(x),
// skipping what lies past H or W.
fn store_backward_input(plane: u32, ih: u32, q: u32, v: vec4f) {
  let W4 = dims.W / 4u;
  if (ih >= dims.H || q >= W4) {
    return;
  }
  let at = plane + ih * W4 + q;
  let x = in2v[at];
  out4[at] = v * vec4f(prev_act_grad(x.x), prev_act_grad(x.y), prev_act_grad(x.z),
                       prev_act_grad(x.w));
}

${forward(false)}

${forward(true)}

${backwardWeight()}

${backwardWeightRows()}

${backwardInput()}

${sumSlices()}
`;
}

if (import.meta.main) console.log(generate().trimEnd());
