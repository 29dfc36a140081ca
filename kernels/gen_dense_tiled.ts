/**
 * Writes kernels/dense_tiled.wgsl: the register-tiled dense kernels, up to ROWS_MAX×TC outputs
 * (TR×TC for the weight gradient) per invocation, fully unrolled. llvmpipe (the CPU adapter)
 * keeps separately named accumulators in registers and explicit dot()s fused, where arrays or loops over the tile measured 1.5-2×
 * slower; unrolled by hand that is hundreds of repetitive lines, so they are generated here.
 * The generated file is valid WGSL and committed; tests/dense_tiled_gen_test.ts checks it
 * matches this generator.
 *
 *     deno task gen
 */

import { batchGroup } from "./gen_batch.ts";
import { DENSE_TILES } from "./tiles.ts";

/** Weight rows per tile of the weight gradient (see kernels/tiles.ts). */
export const TR = DENSE_TILES.TR;
/** The most batch rows per tile of the forward and the input gradient (kernels/tiles.ts). */
export const ROWS_MAX = DENSE_TILES.ROWS_MAX;
/** Columns per tile, a multiple of 4 (see kernels/tiles.ts). */
export const TC = DENSE_TILES.TC;
/** Columns per tile of the _ragged forward, a multiple of 4 (see kernels/tiles.ts). */
export const TC_RAGGED = DENSE_TILES.TC_RAGGED;

const G = TC / 4;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const XYZW = ["x", "y", "z", "w"];

function accumulators(rows: number, groups = G): string[] {
  return range(rows).flatMap((r) => range(groups).map((h) => `  var a${r}_${h} = vec4f(0.0);`));
}

/** `lines` indented by `indent` spaces, under `if (ROWS > r)` for rows past the first. */
function forRow(r: number, indent: number, lines: string[]): string[] {
  const pad = " ".repeat(indent);
  if (r === 0) return lines.map((l) => pad + l);
  return [`${pad}if (ROWS > ${r}u) {`, ...lines.map((l) => `${pad}  ${l}`), `${pad}}`];
}

/** Where row `b` of x starts, in vec4s of x or (gathering) in u32 words of the split's images. */
function xRow(gather: boolean, b: string): string {
  return gather ? `sample_of(${b})` : b;
}

/**
 * The forward; `ragged` (O % 4 != 0, a classifier's 10 outputs) stores y as scalars, the others
 * as vec4s (out4), and takes tiles TC_RAGGED wide.
 */
function forward(gather: boolean, ragged = false): string {
  const TC = ragged ? TC_RAGGED : DENSE_TILES.TC;
  const G = TC / 4;
  const body = [
    ...range(TC).map((c) => `    let v${c} = in1[w${c} + i];`),
    ...range(ROWS_MAX).flatMap((r) =>
      forRow(r, 4, [
        gather ? `let u${r} = unpack4x8unorm(images[x${r} + i]);` : `let u${r} = in0[x${r} + i];`,
        ...range(G).map((h) =>
          `a${r}_${h} += vec4f(${range(4).map((k) => `dot(u${r}, v${4 * h + k})`).join(", ")});`
        ),
      ])
    ),
  ];
  const x = gather
    ? `x: the batch's images (group 1), read through its order
// (so I = P, I/4 words a row), its labels copied to label_out by the tiles of outputs 0 .. ${
      TC - 1
    }`
    : "in0: x (B, I/4)";
  const y = ragged ? "out: y (B, O)" : "out4: y (B, O/4)";
  const store = ragged ? "store_forward" : "store_forward4";
  return `// One invocation per ROWS×${TC} tile of (b, o); ${y}, ${x},
// in1: the layer's parameters, w (O, I/4); in2s: the same parameters as scalars, for the bias (O).
@compute @workgroup_size(WG)
fn dense_forward_tiled${gather ? "_gather" : ""}${
    ragged ? "_ragged" : ""
  }(@builtin(global_invocation_id) gid: vec3u) {
  let B = dims.B;
  let O = dims.O;
  let I4 = dims.I / 4u;
  let tiles = (O + ${TC - 1}u) / ${TC}u;
  let b0 = (gid.x / tiles) * ROWS;
  let o0 = (gid.x % tiles) * ${TC}u;
  if (b0 >= B) {
    return;
  }
  // Row offsets (in vec4s${
    gather ? " or u32 words" : ""
  }) of the x and w rows, clamped at the edges.
${
    range(ROWS_MAX).map((r) => `  let x${r} = ${xRow(gather, `min(b0 + ${r}u, B - 1u)`)} * I4;`)
      .join("\n")
  }
${range(TC).map((c) => `  let w${c} = min(o0 + ${c}u, O - 1u) * I4;`).join("\n")}
  // a{r}_{h}: row b0 + r, outputs o0 + 4h .. o0 + 4h + 3.
${accumulators(ROWS_MAX, G).join("\n")}
  for (var i = 0u; i < I4; i++) {
${body.join("\n")}
  }
${
    gather
      ? `  if (o0 == 0u) {
    for (var r = 0u; r < ROWS; r++) {
      gather_label(b0 + r);
    }
  }
`
      : ""
  }${range(G).map((h) => `  let bias${h} = bias4(o0 + ${4 * h}u);`).join("\n")}
${
    range(ROWS_MAX).flatMap((r) =>
      forRow(
        r,
        2,
        range(G).map((h) => `${store}(b0 + ${r}u, o0 + ${4 * h}u, a${r}_${h} + bias${h});`),
      )
    ).join("\n")
  }
}`;
}

function backwardInput(ragged: boolean): string {
  // Ragged (O % 4 != 0): dz read as scalars, the columns past O zeroed, w's rows clamped.
  const wRow = (k: number) =>
    ragged ? (k === 0 ? "r0 * I4" : `j${k} * I4`) : k === 0 ? "r0" : `r0 + ${k}u * I4`;
  const body = ragged
    ? [
      // Columns 4·o4 .. 4·o4 + 3 of dz, clamped to O - 1; the mask zeroes those past it.
      `    let r0 = 4u * o4;`,
      ...range(3).map((k) => `    let j${k + 1} = min(r0 + ${k + 1}u, O - 1u);`),
      `    let live = vec4f(1.0, ${
        range(3).map((k) => `select(0.0, 1.0, r0 + ${k + 1}u < O)`).join(", ")
      });`,
    ]
    : [`    let r0 = 4u * o4 * I4;`];
  body.push(
    ...range(4).flatMap((k) =>
      range(G).map((h) => `    let p${k}_${h} = in1[${wRow(k)} + c${h}];`)
    ),
    ...range(ROWS_MAX).flatMap((r) =>
      forRow(r, 4, [
        ragged
          ? `let g${r} = vec4f(in0s[d${r} + r0], ${
            range(3).map((k) => `in0s[d${r} + j${k + 1}]`).join(", ")
          }) * live;`
          : `let g${r} = in0[d${r} + o4];`,
        ...range(G).map((h) =>
          `a${r}_${h} += ${range(4).map((k) => `g${r}.${XYZW[k]} * p${k}_${h}`).join(" + ")};`
        ),
      ])
    ),
  );
  const name = `dense_backward_input_tiled${ragged ? "_ragged" : ""}`;
  const dz = ragged ? "in0s: dz (B, O)" : "in0: dz (B, O/4)";
  return `// One invocation per ROWS×${TC} tile of (b, i); out: dx (B, I) = (dz · w) ⊙ prev_act'(x),
// ${dz}, in1: the layer's parameters, w (O, I/4) first, in2s: x (B, I).
@compute @workgroup_size(WG)
fn ${name}(@builtin(global_invocation_id) gid: vec3u) {
  let B = dims.B;
  let I = dims.I;
  let I4 = I / 4u;
${ragged ? "  let O = dims.O;\n  let O4 = (O + 3u) / 4u;" : "  let O4 = dims.O / 4u;"}
  let tiles = (I + ${TC - 1}u) / ${TC}u;
  let b0 = (gid.x / tiles) * ROWS;
  let i0 = (gid.x % tiles) * ${TC}u;
  if (b0 >= B) {
    return;
  }
${
    range(ROWS_MAX).map((r) => `  let d${r} = min(b0 + ${r}u, B - 1u) * ${ragged ? "O" : "O4"};`)
      .join("\n")
  }
${range(G).map((h) => `  let c${h} = min(i0 / 4u + ${h}u, I4 - 1u);`).join("\n")}
  // a{r}_{h}: row b0 + r, inputs i0 + 4h .. i0 + 4h + 3.
${accumulators(ROWS_MAX).join("\n")}
  for (var o4 = 0u; o4 < O4; o4++) {
    // p{k}_{h}: w row 4·o4 + k, columns i0 + 4h .. i0 + 4h + 3.
${body.join("\n")}
  }
${
    range(ROWS_MAX).flatMap((r) =>
      forRow(
        r,
        2,
        range(G).map((h) => `store_backward_input(b0 + ${r}u, i0 + ${4 * h}u, a${r}_${h});`),
      )
    ).join("\n")
  }
}`;
}

function backwardWeight(ragged: boolean, gather = false): string {
  const RG = TR / 4;
  const body = [
    ...range(RG).map((q) =>
      ragged
        ? `    let g${q} = vec4f(${
          range(4).map((k) => `in0s[b * O + oc${4 * q + k}]`).join(", ")
        });`
        : `    let g${q} = in0[b * O4 + og${q}];`
    ),
    ...(gather ? [`    let xb = ${xRow(true, "b")} * I4;`] : []),
    ...range(G).map((h) =>
      gather
        ? `    let x${h} = unpack4x8unorm(images[xb + c${h}]);`
        : `    let x${h} = in1[b * I4 + c${h}];`
    ),
    ...range(TR).flatMap((r) =>
      range(G).map((h) => `    a${r}_${h} += g${Math.floor(r / 4)}.${XYZW[r % 4]} * x${h};`)
    ),
    ...range(RG).map((q) => `    db${q} += g${q};`),
  ];
  const name = `dense_backward_weight_tiled${ragged ? "_ragged" : ""}${gather ? "_gather" : ""}`;
  const dz = ragged ? "in0s: dz (B, O)" : "in0: dz (B, O/4)";
  const x = gather ? "x: the batch's images (group 1), read through its order" : "in1: x (B, I/4)";
  return `// One invocation per ${TR}×${TC} tile of (o, i); out: dw (O, I) then db (O), the layer's
// gradient range; ${dz}, ${x}. The tiles with i0 = 0 also sum db.
@compute @workgroup_size(WG)
fn ${name}(@builtin(global_invocation_id) gid: vec3u) {
  let B = dims.B;
  let I = dims.I;
  let O = dims.O;
  let I4 = I / 4u;
${ragged ? "" : "  let O4 = O / 4u;\n"}  let tiles = (I + ${TC - 1}u) / ${TC}u;
  let o0 = (gid.x / tiles) * ${TR}u;
  let i0 = (gid.x % tiles) * ${TC}u;
  if (o0 >= O) {
    return;
  }
${
    ragged
      // dz's columns o0 .. o0 + 15, clamped: rows past O are computed but never stored.
      ? range(TR).map((k) => `  let oc${k} = min(o0 + ${k}u, O - 1u);`).join("\n") + "\n"
      : range(RG).map((q) => `  let og${q} = min(o0 / 4u + ${q}u, O4 - 1u);`).join("\n") + "\n"
  }${range(G).map((h) => `  let c${h} = min(i0 / 4u + ${h}u, I4 - 1u);`).join("\n")}
  // a{r}_{h}: dw row o0 + r, columns i0 + 4h .. i0 + 4h + 3.
${accumulators(TR).join("\n")}
${range(RG).map((q) => `  var db${q} = vec4f(0.0);`).join("\n")}
  for (var b = 0u; b < B; b++) {
${body.join("\n")}
  }
${
    range(TR).flatMap((r) =>
      range(G).map((h) => `  store_backward_weight(o0 + ${r}u, i0 + ${4 * h}u, a${r}_${h});`)
    ).join("\n")
  }
  if (i0 == 0u) {
${range(RG).map((q) => `    store_bias_grad(o0 + ${4 * q}u, db${q});`).join("\n")}
  }
}`;
}

/** The whole generated module. */
export function generate(): string {
  return `// GENERATED by kernels/gen_dense_tiled.ts: edit the generator, not this file.
//
// Fully connected layer, register-tiled: each invocation computes a ROWS×${TC} tile of outputs
// (${TR}×${TC} for the weight gradient) with vec4 loads along the contiguous dimension, for the
// CPU adapter (llvmpipe), where it runs several times faster than kernels/dense.wgsl; that
// file's simple kernels stay the reference and the fallback. B batch, I inputs, O outputs;
// row-major. Needs I % 4 == 0. Where O % 4 == 0 the forward stores y as vec4s and the backward
// kernels read dz as vec4s; their _ragged twins store and read them as scalars (a classifier's
// 10 outputs). Tiles past the edges
// are clamped on load and skipped on store. The _gather twins of the forward and the weight
// gradient, for a network's first layer, read x straight from the dataset split, as
// kernels/gather.wgsl's gather_batch would have written it (the same floats, summed in the same
// order), so that no gather dispatch runs before them.

struct Dims {
  B: u32,
  I: u32,
  O: u32,
  // Inputs per slice of a split forward (dense_shared.wgsl's); unused here.
  KS: u32,
}

override WG: u32 = 8u;
// ACT, PREV_ACT, activate() and prev_act_grad() come from kernels/activation.wgsl.
// Batch rows per tile of the forward and the input gradient, 1 to ${ROWS_MAX}.
override ROWS: u32 = 16u;

// y of the _ragged forward (O % 4 != 0), whose rows do not fall on vec4s.
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
// The other outputs, as vec4s: y where O % 4 == 0, dx (I % 4 == 0), or the layer's gradient
// range, dw then db, bound rounded up to whole vec4s (its block's padding: src/nn/params.ts). Each
// store is one vec4, where llvmpipe compiles every storage access into a loop over its lanes: with
// four scalar stores a vec4, the MLP's weight gradients took 0.9-1.4 s to compile instead of
// 0.3-0.4 s (cold shader cache), its input gradients 2.7-2.9 s instead of 1.4-1.5 s.
@group(0) @binding(1) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(2) var<storage, read> in0: array<vec4f>;
@group(0) @binding(3) var<storage, read> in1: array<vec4f>;
@group(0) @binding(4) var<storage, read> in2s: array<f32>;
// dz of the _ragged entry points (O % 4 != 0), whose rows do not fall on vec4s: they bind it
// here instead of in0.
@group(0) @binding(5) var<storage, read> in0s: array<f32>;
// x of the input gradients, as vec4s (in2s is the forward's parameters as scalars).
@group(0) @binding(6) var<storage, read> in2v: array<vec4f>;
@group(0) @binding(7) var<uniform> dims: Dims;

${batchGroup()}

// Biases o .. o + 3 from the parameter block (bias follows w (O, I)), clamped at the edge.
// Read from in2s, the same block as scalars: in1's vec4 view ends at its last whole vec4, so
// where O·I + O is not a multiple of 4 the last biases lie past in1's end (Dawn clamps such a
// read to in1's last element; wgpu happened to read the bias).
fn bias4(o: u32) -> vec4f {
  let O = dims.O;
  let at = O * dims.I;
  var v = vec4f(0.0);
  for (var c = 0u; c < 4u; c++) {
    v[c] = in2s[at + min(o + c, O - 1u)];
  }
  return v;
}

// y[b, o .. o + 3] = act(v) (O and o are multiples of 4), skipping what lies past B or O.
fn store_forward4(b: u32, o: u32, v: vec4f) {
  let O = dims.O;
  if (b >= dims.B || o >= O) {
    return;
  }
  out4[(b * O + o) / 4u] = vec4f(activate(v.x), activate(v.y), activate(v.z), activate(v.w));
}

// y[b, o .. o + 3] = act(v), skipping what lies past B or O (the _ragged forward's, O % 4 != 0).
fn store_forward(b: u32, o: u32, v: vec4f) {
  let O = dims.O;
  if (b >= dims.B) {
    return;
  }
  for (var c = 0u; c < 4u; c++) {
    if (o + c < O) {
      out[b * O + o + c] = activate(v[c]);
    }
  }
}

// dx[b, i .. i + 3] = v ⊙ prev_act'(x[b, i .. i + 3]), skipping what lies past B or I (i and I
// are multiples of 4). x is read as one vec4 too: with four scalar loads a store (320 a tile) the
// MLP's input gradients took 3.7-4.0 s to compile instead of 2.7-2.9 s.
fn store_backward_input(b: u32, i: u32, v: vec4f) {
  let I = dims.I;
  if (b >= dims.B || i >= I) {
    return;
  }
  let at = (b * I + i) / 4u;
  let x = in2v[at];
  out4[at] = v * vec4f(prev_act_grad(x.x), prev_act_grad(x.y), prev_act_grad(x.z),
                       prev_act_grad(x.w));
}

// dw[o, i .. i + 3] = v (i and I are multiples of 4), skipping what lies past O or I.
fn store_backward_weight(o: u32, i: u32, v: vec4f) {
  let I = dims.I;
  if (o >= dims.O || i >= I) {
    return;
  }
  out4[(o * I + i) / 4u] = v;
}

// db[o .. o + 3] (stored after dw; O·I and o are multiples of 4), skipping what lies past O: in
// the last vec4 of a ragged O, the floats past O (the range's padding) are written back as read.
fn store_bias_grad(o: u32, v: vec4f) {
  let O = dims.O;
  if (o >= O) {
    return;
  }
  let at = (O * dims.I + o) / 4u;
  out4[at] = select(out4[at], v, vec4u(o) + vec4u(0u, 1u, 2u, 3u) < vec4u(O));
}

${forward(false)}

${forward(false, true)}

${backwardInput(false)}

${backwardWeight(false)}

${backwardInput(true)}

${backwardWeight(true)}

${forward(true)}

${backwardWeight(false, true)}
`;
}

if (import.meta.main) console.log(generate().trimEnd());
