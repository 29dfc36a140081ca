/**
 * What the server's `POST /api/predict` and the page's in-browser engine (`engine.ts`) both
 * make of the network's probabilities, so that the two paths name the same digit.
 * @module
 */

/** The index of the largest probability; the first of equal ones. `probabilities`: (N). */
export function topClass(probabilities: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < probabilities.length; k++) {
    if (probabilities[k]! > probabilities[best]!) best = k;
  }
  return best;
}
