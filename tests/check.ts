/**
 * Test utilities shared by the oracle's tests and the GPU kernel tests: seeded random inputs,
 * an elementwise closeness assertion that reports the first mismatches, and finite-difference
 * gradients.
 *
 * @module
 */

import { AssertionError } from "node:assert/strict";
import type { Rng } from "../src/random.ts";

/** A `Float32Array` of `n` values drawn uniformly from [lo, hi) by `rng`. */
export function randomArray(
  n: number,
  rng: Rng,
  { lo = -1, hi = 1 }: { lo?: number; hi?: number } = {},
): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(lo, hi);
  return a;
}

/**
 * `count` distinct indices in [0, n), sorted, drawn by `rng`; all of [0, n) when count >= n.
 * Index 0 and n - 1 are always among them, since edges are where indexing bugs live.
 */
export function sampleIndices(n: number, count: number, rng: Rng): Int32Array {
  if (count >= n) return Int32Array.from({ length: n }, (_, i) => i);
  const pool = Int32Array.from({ length: n - 2 }, (_, i) => i + 1);
  rng.shuffle(pool);
  const picked = [0, n - 1, ...pool.subarray(0, Math.max(0, count - 2))];
  return Int32Array.from(picked).sort();
}

/** Tolerances for {@link assertClose}: `|actual - expected| <= atol + rtol · |expected|`. */
export interface CloseOptions {
  /** Absolute tolerance, default 1e-5. */
  atol?: number;
  /** Relative tolerance, default 1e-4. */
  rtol?: number;
  /** Names the compared buffer in the failure message. */
  label?: string;
}

/**
 * Asserts `actual` and `expected` have the same length and agree elementwise:
 * `|a - e| <= atol + rtol · |e|`. NaN matches only NaN, and an infinity only the same infinity.
 * On failure throws an `AssertionError` giving the number of mismatches and the first 5, each
 * with its index, actual and expected value.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  options: CloseOptions = {},
): void {
  assertCloseAt(actual, expected, options, (k) => k);
}

/**
 * Central-difference gradient of the scalar `f` with respect to `x`:
 * `(f(x + eps·e_i) - f(x - eps·e_i)) / (2·eps)` for each coordinate i. `x[i]` is perturbed in
 * place and restored, so `f` must read `x` each time it runs. The divisor is the step actually
 * taken after rounding `x[i] ± eps` to float32, and `f`'s result is a float64 JS number, so
 * `f` should accumulate in float64.
 *
 * @param options `eps` the step, default 1e-3; `indices` the coordinates to differentiate,
 *   default all
 * @returns the gradient, one value per coordinate of `indices` (or of x when absent)
 */
export function numericGradient(
  f: () => number,
  x: Float32Array,
  { eps = 1e-3, indices }: { eps?: number; indices?: ArrayLike<number> } = {},
): Float32Array {
  const coords = indices ?? Int32Array.from({ length: x.length }, (_, i) => i);
  const grad = new Float32Array(coords.length);
  for (let k = 0; k < coords.length; k++) {
    const i = coords[k]!;
    const original = x[i]!;
    x[i] = original + eps;
    const xPlus = x[i]!;
    const fPlus = f();
    x[i] = original - eps;
    const xMinus = x[i]!;
    const fMinus = f();
    x[i] = original;
    grad[k] = (fPlus - fMinus) / (xPlus - xMinus);
  }
  return grad;
}

/** Options for {@link gradCheck}: tolerances, the step, and which coordinates to check. */
export interface GradCheckOptions extends CloseOptions {
  /** Finite-difference step, default 1e-3. */
  eps?: number;
  /** Coordinates of x to check (e.g. from {@link sampleIndices}); default all. */
  indices?: ArrayLike<number>;
}

/**
 * Asserts the `analytic` gradient of `f` with respect to `x` matches central differences, at
 * `indices` or at every coordinate. Defaults: atol 1e-4, rtol 1e-3 (finite differences of a
 * float32 computation are not exact). Mismatches are reported by their index into x.
 */
export function gradCheck(
  { f, x, analytic }: { f: () => number; x: Float32Array; analytic: ArrayLike<number> },
  { eps, indices, atol = 1e-4, rtol = 1e-3, label = "gradient" }: GradCheckOptions = {},
): void {
  if (analytic.length !== x.length) {
    throw new AssertionError({
      message: `${label}: analytic gradient has ${analytic.length} elements but x has ${x.length}`,
    });
  }
  const coords = indices ?? Int32Array.from({ length: x.length }, (_, i) => i);
  const numeric = numericGradient(f, x, { eps, indices: coords });
  const picked = Array.from(coords, (i) => analytic[i]!);
  assertCloseAt(picked, numeric, { atol, rtol, label }, (k) => coords[k]!);
}

/** {@link assertClose}, reporting position k as index `indexOf(k)`. */
function assertCloseAt(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  { atol = 1e-5, rtol = 1e-4, label = "values" }: CloseOptions,
  indexOf: (k: number) => number,
): void {
  if (actual.length !== expected.length) {
    throw new AssertionError({
      message: `${label}: actual has ${actual.length} elements, expected ${expected.length}`,
      actual: actual.length,
      expected: expected.length,
      operator: "assertClose",
    });
  }
  const first: string[] = [];
  let mismatches = 0;
  for (let k = 0; k < actual.length; k++) {
    const a = actual[k]!;
    const e = expected[k]!;
    if (isClose(a, e, atol, rtol)) continue;
    mismatches++;
    if (first.length < 5) first.push(`  [${indexOf(k)}] actual ${a}, expected ${e}`);
  }
  if (mismatches > 0) {
    throw new AssertionError({
      message: `${label}: ${mismatches} of ${actual.length} elements differ by more than ` +
        `atol + rtol·|expected| (atol ${atol}, rtol ${rtol}); first ${first.length}:\n` +
        first.join("\n"),
      operator: "assertClose",
    });
  }
}

function isClose(a: number, e: number, atol: number, rtol: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(e)) return Number.isNaN(a) && Number.isNaN(e);
  // An infinity matches only itself; checked apart, since rtol·|Infinity| would allow anything.
  if (!Number.isFinite(a) || !Number.isFinite(e)) return a === e;
  return Math.abs(a - e) <= atol + rtol * Math.abs(e);
}
