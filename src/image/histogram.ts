/**
 * Histograms of values in a known range, for quantiles in linear time (images reach 16 million
 * pixels, too many to sort), and Otsu's threshold over one.
 */

/**
 * A histogram at 4096 levels over [lo, hi] (default [0, 1]), for quantiles in linear time:
 * images reach 16 million pixels, too many to sort. Both ends are levels, so a clean image's
 * quantiles are exact.
 */
export class Histogram {
  /** Levels between `lo` and `hi`: values are binned by rounding to the nearest. */
  static readonly LEVELS = 4096;
  /** (LEVELS + 1) counts, one per level from `lo` to `hi`. */
  readonly counts: Uint32Array = new Uint32Array(Histogram.LEVELS + 1);
  /** How many values were added. */
  total = 0;

  private readonly scale: number;

  /** An empty histogram over [lo, hi]. */
  constructor(readonly lo = 0, readonly hi = 1) {
    this.scale = Histogram.LEVELS / (hi - lo);
  }

  /** Counts `value` at its nearest level, clamped to [lo, hi]. */
  add(value: number): void {
    const t = (value - this.lo) * this.scale;
    this.counts[t <= 0 ? 0 : t >= Histogram.LEVELS ? Histogram.LEVELS : Math.round(t)]!++;
    this.total++;
  }

  /** The value of a level. */
  value(level: number): number {
    return this.lo + (level / Histogram.LEVELS) * (this.hi - this.lo);
  }

  /** The `q`-quantile (0..1) by nearest rank; `lo` when empty. */
  quantile(q: number): number {
    const rank = Math.min(this.total - 1, Math.floor(q * this.total));
    let seen = 0;
    for (let level = 0; level < this.counts.length; level++) {
      seen += this.counts[level]!;
      if (seen > rank) return this.value(level);
    }
    return this.lo;
  }
}

/**
 * Otsu's threshold: the level that best splits `values` (in [0, 1]) into two classes, by the
 * largest between-class variance (values above it form the upper class), and the difference of
 * the two classes' means. When all values are equal there is nothing to split: the threshold is
 * that value, and the separation 0.
 */
export function otsuThreshold(values: ArrayLike<number>): {
  threshold: number;
  separation: number;
} {
  const histogram = new Histogram();
  for (let i = 0; i < values.length; i++) histogram.add(values[i]!);
  const { counts, total } = histogram;
  let sumAll = 0;
  for (let level = 0; level < counts.length; level++) sumAll += level * counts[level]!;
  let below = 0, sumBelow = 0, best = 0, bestLevel = 0, separation = 0;
  for (let level = 0; level < counts.length; level++) {
    below += counts[level]!;
    if (below === 0) continue;
    const above = total - below;
    if (above === 0) break;
    sumBelow += level * counts[level]!;
    const meanBelow = sumBelow / below;
    const meanAbove = (sumAll - sumBelow) / above;
    const between = below * above * (meanBelow - meanAbove) ** 2;
    if (between > best) {
      best = between;
      bestLevel = level;
      separation = (meanAbove - meanBelow) / Histogram.LEVELS;
    }
  }
  if (best === 0) return { threshold: histogram.quantile(1), separation: 0 };
  // Values are binned by rounding: the lower class is everything below the next half level.
  return { threshold: histogram.value(bestLevel + 0.5), separation };
}
