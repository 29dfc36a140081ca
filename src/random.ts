/**
 * A small seeded PRNG (sfc32) whose whole state is four u32s, so training can save it in a
 * checkpoint and `--resume` continues the same sequence.
 */
export class Rng {
  /** The generator state; copy it to save, pass it to `Rng.fromState` to restore. */
  state: Uint32Array;

  /**
   * A generator seeded by `seed`, taken as a u32 (`seed >>> 0`): the same seed gives the same
   * sequence on every platform. splitmix32 spreads it over the four words; 12 outputs warm up.
   */
  constructor(seed: number) {
    // splitmix32 spreads the seed over the four words; sfc32 then warms up.
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.state = new Uint32Array([next(), next(), next(), next()]);
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** A generator continuing from a saved `state`. */
  static fromState(state: ArrayLike<number>): Rng {
    const rng = new Rng(0);
    rng.state = Uint32Array.from(state);
    return rng;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.state;
    const t = (((s[0]! + s[1]!) >>> 0) + s[3]!) >>> 0;
    s[3] = (s[3]! + 1) >>> 0;
    s[0] = s[1]! ^ (s[1]! >>> 9);
    s[1] = (s[2]! + (s[2]! << 3)) >>> 0;
    s[2] = ((s[2]! << 21) | (s[2]! >>> 11)) >>> 0;
    s[2] = (s[2]! + t) >>> 0;
    return t;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** A uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Shuffles `a` in place (Fisher-Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }
}
