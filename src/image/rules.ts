/**
 * Printed rules and grid lines (a step of `toMnist` between `localContrast` and `levelInk`, see
 * src/image/preprocess.ts): ruled or squared paper puts long, thin, straight marks across the
 * sheet that differ from the paper as ink does. Left in, they are most of the ink, and the
 * network sees a grey slab of line fragments with a small digit in it.
 */
import { backgroundWindow, type Contrast, localContrast, MIN_CONTRAST } from "./contrast.ts";
import type { GreyMap } from "./grey_map.ts";
import { Histogram } from "./histogram.ts";
import { dilateXY, openingXY } from "./morphology.ts";

/**
 * The least length of a rule, as a fraction of the map's side along it (its width, for a
 * horizontal rule): a rule runs across the sheet, a digit's stroke over at most the digit's
 * size. A straight stroke this long and as thin as a rule (`RULE_WIDTH`) is taken for one.
 */
export const RULE_LENGTH = 2 / 3;

/**
 * The widest a rule is, as a fraction of the map's longer side: 3 px at the 768 px working
 * size (`WORKING_SIDE`), wider than printed rules and a margin line (1–3 px in an 800×600
 * photo) with their blur, narrower than a pen's stroke in a photo (1–5% of the image). Below
 * one pixel (a map under 384 px, such as a 28×28 digit) no mark is a rule.
 */
export const RULE_WIDTH = 1 / 256;

/**
 * The least contrast of a rule (`localContrast`'s, relative to the paper): half `MIN_CONTRAST`,
 * 12 grey levels on lit paper. Printed rules stand 0.25–0.6 above the paper; the noise of plain
 * paper, opened along a row, leaves a faint level on every row that is not a rule.
 */
export const RULE_CONTRAST = MIN_CONTRAST / 2;

/** `dropRules`'s result. */
export interface Unruled {
  /** The contrast with the rules' contrast taken off. */
  contrast: GreyMap;
  /** How many pixels lost contrast to a rule. */
  ruled: number;
  /**
   * The dark-ink contrast of `grey` at `backgroundWindow`'s scale, when no rule was found (the
   * grey map is then the input itself): `judgePolarity`'s first reading, not computed twice.
   */
  darkContrast?: Contrast;
}

/**
 * Takes printed rules and grid lines off a contrast map (`localContrast`: 0 on the paper,
 * positive on ink): the horizontal and vertical lines at least `RULE_LENGTH` of the map long
 * and at most `RULE_WIDTH` wide, standing at least `RULE_CONTRAST` above the paper and four
 * robust standard deviations of its noise. For each
 * direction, the contrast is first widened by a pixel
 * across the line (a rule a pixel off straight over its length stays one), then opened along
 * it by a segment `RULE_LENGTH` long: what stays is each line's least contrast along its run,
 * and nothing of the digit's shorter strokes. Of that, only what is thin across is a rule (an
 * opening across by a segment wider than a rule takes it away; a broad shadow stays). The rule
 * level is taken off each pixel, at most its own contrast: the paper under a rule is left at
 * 0, and a stroke that crosses a rule loses only the rule's level where they overlap, so the
 * digit is not cut apart.
 */
export function dropRules(contrast: GreyMap): Unruled {
  const { width, height, data } = contrast;
  const across = Math.round(RULE_WIDTH * Math.max(width, height));
  if (across < 1) return { contrast, ruled: 0 };
  // Index loops, here and below: `map` with a callback and `for…of` over a typed array are
  // several times slower than indexing it.
  const positive: GreyMap = { width, height, data: new Float32Array(data.length) };
  for (let p = 0; p < data.length; p++) positive.data[p] = Math.max(0, data[p]!);
  // A rule stands clear of the paper's noise too: on dim, noisy paper, every row of noise
  // opened along leaves a level of its own. Four robust standard deviations (1.4826 × MAD).
  const level = new Histogram(-1, 1);
  for (let p = 0; p < data.length; p++) level.add(data[p]!);
  const median = level.quantile(0.5);
  const spread = new Histogram();
  for (let p = 0; p < data.length; p++) spread.add(Math.abs(data[p]! - median));
  const least = Math.max(RULE_CONTRAST, 4 * 1.4826 * spread.quantile(0.5));
  const rule = new Float32Array(data.length);
  const directions = [
    { along: { rx: Math.round(RULE_LENGTH * width) >> 1, ry: 0 }, wide: { rx: 0, ry: 1 } },
    { along: { rx: 0, ry: Math.round(RULE_LENGTH * height) >> 1 }, wide: { rx: 1, ry: 0 } },
  ];
  for (const { along, wide } of directions) {
    // Most images have no rule: skipped then, as it would come out below `least` everywhere.
    if (!mayHaveRule(positive, { least, radius: along.rx || along.ry, horizontal: !!along.rx })) {
      continue;
    }
    const lines = openingXY(dilateXY(positive, wide), along);
    // A segment across, 2·across + 3 px: longer than a rule widened by a pixel on each side.
    const broad = openingXY(lines, wide.rx ? { rx: across + 1, ry: 0 } : { rx: 0, ry: across + 1 });
    // Along the frame, a mark is cut by it and its width across unknown: the thin tip of a
    // desk's corner there is no rule, and lifting it would part the desk from the frame.
    const margin = across + 2;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const edge = wide.rx ? Math.min(x, width - 1 - x) : Math.min(y, height - 1 - y);
        if (edge < margin) continue;
        const p = y * width + x;
        rule[p] = Math.max(rule[p]!, lines.data[p]! - broad.data[p]!);
      }
    }
  }
  const out = data.slice();
  let ruled = 0;
  for (let p = 0; p < out.length; p++) {
    if (rule[p]! < least) continue;
    const off = Math.min(positive.data[p]!, rule[p]!);
    if (off > 0) {
      out[p]! -= off;
      ruled++;
    }
  }
  return { contrast: { width, height, data: out }, ruled };
}

/**
 * Whether `dropRules`' line map along one direction (`positive` widened by a pixel across, then
 * opened by a segment of 2·radius+1 px along, clipped at the ends) reaches `least` anywhere:
 * only where every pixel of some clipped segment, widened across, is at least `least`. Its
 * rule level (the line map less an opening of it, both ≥ 0) is at most the line map, so with
 * none, that direction takes nothing off. Exact, from the same comparisons, in one pass.
 */
export function mayHaveRule(
  positive: GreyMap,
  { least, radius, horizontal }: { least: number; radius: number; horizontal: boolean },
): boolean {
  const { width, height, data } = positive;
  // Lines of `n` pixels along the segment; `step` between pixels along, `stride` across.
  const [n, lines, step, stride] = horizontal
    ? [width, height, 1, width]
    : [height, width, width, 1];
  for (let l = 0; l < lines; l++) {
    let start = -1;
    for (let i = 0; i <= n; i++) {
      let high = false;
      if (i < n) {
        const p = l * stride + i * step;
        high = data[p]! >= least ||
          (l > 0 && data[p - stride]! >= least) ||
          (l < lines - 1 && data[p + stride]! >= least);
      }
      if (high) {
        if (start < 0) start = i;
        continue;
      }
      if (start < 0) continue;
      // The run [start, i - 1] holds the clipped segment around some q.
      const end = i - 1;
      const lo = start === 0 ? 0 : start + radius;
      const hi = end === n - 1 ? n - 1 : end - radius;
      if (lo <= hi) return true;
      start = -1;
    }
  }
  return false;
}

/** `unrule`'s result. */
export interface UnruledGrey {
  /** The grey map with its dark rules lifted to the paper's level around them. */
  grey: GreyMap;
  /** How many pixels lost contrast to a rule. */
  ruled: number;
  /**
   * The dark-ink contrast of `grey` at `backgroundWindow`'s scale, when no rule was found (the
   * grey map is then the input itself): `judgePolarity`'s first reading, not computed twice.
   */
  darkContrast?: Contrast;
}

/**
 * A grey map (0 black, 1 white) with its printed rules and grid lines dropped as background:
 * the dark-ink contrast (`localContrast` at `backgroundWindow`'s scale) has its rules taken off
 * (`dropRules`) and the grey levels are raised by what was taken, so the rules become the paper
 * around them for both readings of `judgePolarity`: a grid's squares of paper are no longer
 * light marks framed by dark lines, nor the lines dark marks, and a stroke crossing a rule keeps
 * its pixels, lightened by the rule's level where they overlap. Dark rules only: light lines on a
 * dark board are left as they are.
 */
export function unrule(grey: GreyMap): UnruledGrey {
  const window = backgroundWindow(grey.width, grey.height);
  const darkContrast = localContrast(grey, { polarity: "dark", window });
  const { contrast, divisor } = darkContrast;
  const { contrast: kept, ruled } = dropRules(contrast);
  if (ruled === 0) return { grey, ruled, darkContrast };
  const data = grey.data.slice();
  // Dark contrast is (background − grey) / divisor: taking `off` from it raises grey by
  // off · divisor.
  for (let p = 0; p < data.length; p++) {
    data[p]! += (contrast.data[p]! - kept.data[p]!) * divisor![p]!;
  }
  return { grey: { width: grey.width, height: grey.height, data }, ruled };
}
