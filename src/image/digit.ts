/**
 * The digit, and nothing else (step 4 of `toMnist`, src/image/preprocess.ts): which marks of an
 * ink map make the digit and which are the desk, a shadow's edge or specks; and the refusal of
 * ink too little to be a digit (a speck, a dot, a digit too small for its strokes).
 */
import { UserError } from "../errors.ts";
import type { Polarity } from "./contrast.ts";
import { type Box, crop, type GreyMap } from "./grey_map.ts";
import { components, dilateMask, distanceTransform, type Mark } from "./morphology.ts";

/**
 * Levelled ink at or above this counts as ink for the bounding box and for speck removal. MNIST's
 * box was that of NIST's bilevel strokes, before anti-aliasing. A stroke's half-covered edge is
 * at about 0.5, and the faint fringe of a blurred or JPEG-softened stroke lies below 0.3: at 0.3
 * the box takes the whole stroke and little of the fringe. (On MNIST's 10,000 test digits, the
 * box at 0.3 is 20 px for 9,984 of them, as MNIST made them.)
 */
export const INK_THRESHOLD = 0.3;

/** A connected mark with fewer ink pixels than this fraction of the digit's largest is a speck. */
export const SPECK_FRACTION = 0.05;

/**
 * How far apart the pieces of one digit may lie (a 5's detached bar, a broken stroke), as a
 * fraction of the longest side of the largest piece: marks farther from the digit are not
 * part of it, whatever their size.
 */
export const PIECE_REACH = 0.25;

/**
 * The least extent (longest side of the ink's box) of a digit, as a fraction of the image's
 * shorter side: a speck or a dot below it is refused, as a blank image is. A thin 1 drawn over
 * half the height is five times as long.
 */
export const MIN_EXTENT = 0.1;

/**
 * A mark no more than this many times as long as it is thick (its widest stroke) and smaller
 * than `MIN_BOLD_EXTENT` of the image is a dot or a blob, or a digit too small for its strokes:
 * a tap on the drawing page makes a dot one brush (a tenth of the pad) wide. MNIST's boldest
 * digits are no longer than two of their strokes are wide too (18 of the 10,000 test digits,
 * 110 of the 60,000 training digits), but they fill their image.
 */
export const MIN_ELONGATION = 2;

/**
 * The least extent (longest side of the ink's box), as a fraction of the image's shorter side,
 * of a digit no longer than `MIN_ELONGATION` of its strokes are wide: a bold digit that fills
 * the image is read, whatever its shape (MNIST's boldest span 14 to 20 pixels of 28, and one, a
 * 0 inked solid, is a blob); a dot or a small digit drawn with a broad brush in a corner of the
 * page is refused.
 */
export const MIN_BOLD_EXTENT = 0.5;

/**
 * The least solidity (`solidity`) of a digit read by `MIN_BOLD_EXTENT`: strokes as broad as half
 * their length fill most of their hull (MNIST's boldest: 73.5% or more of it); a patch of a room
 * with holes in it, as broad, less (two of u4's room photos with no digit: 65%).
 */
export const MIN_BOLD_SOLIDITY = 0.7;

/**
 * The least solidity (`solidity`: the share of the pixels within its convex hull that are ink)
 * of a mark refused as a dot rather than as a digit too small for its strokes: a dot is round or
 * square, and solid (a tap on the drawing page, a pixelated disc or square: all of its hull); a
 * 7 drawn small with the page's brush fills less (an L of two 28-pixel strokes, 50 pixels
 * long: 89%).
 */
export const DOT_SOLIDITY = 0.95;

/**
 * The least extent of the ink a frame encloses (`enclosingFrames`), as a fraction of the
 * frame's: a box or a circle drawn round a digit holds a digit nearly its size (u4's boxes and
 * circles: 0.7 to 0.95), a loop of a digit holds at most a broken-off piece of itself.
 */
export const ENCLOSED_EXTENT = 0.25;

/**
 * The widest gap a frame may have and still enclose (`enclosingFrames`), as a fraction of its
 * extent: a circle drawn by hand is seldom closed exactly. The frame is widened by half this
 * on each side before its inside is found.
 */
export const FRAME_GAP = 0.04;

/**
 * The share of the ring round a mark (`oneSidedMarks`) that may be as dark as the mark (for
 * dark ink) for the mark to be another digit beside the digit (`sideBySide`): a written digit
 * has paper all round (0% in u4's photos of two digits), a patch of desk in a shadow beside the
 * sheet has its own kind on a side (27% in a photo of issue 16's set).
 */
export const DIGIT_SIDED = 0.1;

/**
 * The least clear gap between two digit-sized marks side by side (`sideBySide`), as a fraction
 * of the digit's height: between written digits there is paper; the pieces of one digit (a 4's
 * stem beside its open hook, an arc of a broken 0) meet or nearly meet.
 */
export const DIGIT_GUTTER = 0.1;

/**
 * Ink below this is paper between two digits side by side (`sideBySide`): a third of
 * `INK_THRESHOLD`.
 */
export const CLEAR_INK = INK_THRESHOLD / 3;

/**
 * How far apart digit-sized marks may lie to be side by side (`sideBySide`), as a fraction of
 * the digit's height: digits written in a row are a fraction of their height apart.
 */
export const DIGIT_SPACING = 1;

/**
 * The least height of a mark side by side with the digit to count as another digit
 * (`sideBySide`), as a fraction of the taller's: a 5's bar, a 7's crossbar, a dash or a word in
 * smaller letters are lower than that.
 */
export const DIGIT_HEIGHT = 0.7;

/**
 * The least ink of a mark side by side with the digit to count as another digit
 * (`sideBySide`), as a fraction of the heaviest's pixels: a 1 beside an 8 has a third of its
 * ink or more; a scanner's faint line beside a digit, a stray stroke, less.
 */
export const DIGIT_MASS = 0.3;

/** `keepDigit`'s result. */
export interface KeptDigit {
  /** The ink map with the dropped marks' pixels set to 0. */
  map: GreyMap;
  /** Per pixel, 1 where a kept mark is. */
  mask: Uint8Array;
  /** The kept marks' bounding box; undefined when nothing is left. */
  box?: Box;
  /**
   * `box` with the frames drawn round the digit (`enclosingFrames`) that were dropped: what the
   * ink's outline is when readings are compared (`judgePolarity`); `box` when there were none.
   */
  outline?: Box;
  /** How many marks were dropped, and why (`enclosures`: frames drawn round the digit). */
  dropped: { frame: number; specks: number; far: number; edges: number; enclosures: number };
  /** Whether a kept mark touches the frame (a digit cropped to its edges, or no digit). */
  touchesFrame: boolean;
  /**
   * The boxes, left to right, of two or more digit-sized marks side by side that hold the
   * digit (`sideBySide`): the image holds several digits, not one. Empty otherwise.
   */
  sideBySide: Box[];
}

/**
 * Keeps the digit and drops what is not part of it. Marks are 8-connected pixels at or above
 * `INK_THRESHOLD`.
 *
 * - With `dropFrame` (photos), marks touching the image's frame are dropped when there is a
 *   digit-sized mark (at least `MIN_EXTENT` of the shorter side) that does not: a strip of desk,
 *   a table's edge, the far side of a sheet that runs off the photo. When every mark touches the
 *   frame, the photo was cropped to the digit, and they stay.
 * - The largest remaining mark is the digit's main stroke; marks within `PIECE_REACH` of its
 *   longest side from the digit (the gap from the digit's box to their nearest pixel) join it,
 *   in turn, unless they are specks (under `SPECK_FRACTION` of its pixels): a 5's detached bar,
 *   a broken stroke.
 * - Everything else is dropped: dust and JPEG specks, a second scribble far away.
 *
 * Before all that, a box or a circle drawn round the digit is dropped as background
 * (`enclosingFrames`). After it, digit-sized marks side by side with the digit are reported
 * (`sideBySide`), not dropped: the image holds a number. With `ground` (the grey map and the
 * ink's polarity), a mark that is the edge of something broad (ink on one side only, as
 * `edges` tells) is not another digit. With `edges`, such marks are dropped first.
 */
export function keepDigit(
  map: GreyMap,
  options: {
    dropFrame: boolean;
    edges?: { grey: GreyMap; polarity: Polarity };
    ground?: { grey: GreyMap; polarity: Polarity };
  },
): KeptDigit {
  const { width, height, data } = map;
  const found = components(map, INK_THRESHOLD);
  const { labels } = found;
  const dropped = { frame: 0, specks: 0, far: 0, edges: 0, enclosures: 0 };
  const oneSided = options.edges
    ? oneSidedMarks(labels, { n: found.marks.length, ...options.edges })
    : new Uint8Array(found.marks.length + 1);
  const unframed = found.marks.filter((m) => !oneSided[m.label]);
  dropped.edges = found.marks.length - unframed.length;
  const enclosing = enclosingFrames(unframed, { labels, width, height });
  const marks = unframed.filter((m) => !enclosing.has(m));
  dropped.enclosures = enclosing.size;
  const mask = new Uint8Array(data.length);
  if (marks.length === 0) return { map, mask, dropped, touchesFrame: false, sideBySide: [] };

  const minExtent = MIN_EXTENT * Math.min(width, height);
  const extent = (b: Box) => Math.max(b.width, b.height);
  const inner = marks.filter((m) => !m.touchesFrame);
  const framed = options.dropFrame && inner.some((m) => extent(m.box) >= minExtent);
  const pool = framed ? inner : marks;
  // The main stroke: the longest mark (pixels over mean width), favouring the middle of the
  // image, where a photo's subject is, over its edges, where the desk and shadows are.
  const inMarks = Uint8Array.from(labels, (l) => (l > 0 ? 1 : 0));
  const distance0 = distanceTransform({ width, height, data: inMarks });
  const depth = new Float64Array(found.marks.length + 1);
  for (let p = 0; p < labels.length; p++) depth[labels[p]!]! += distance0[p]!;
  const halfDiagonal = Math.hypot(width, height) / 2;
  const score = (m: Mark) => {
    const length = (m.size * m.size) / (2 * depth[m.label]!);
    const off = Math.hypot(
      m.box.x + m.box.width / 2 - width / 2,
      m.box.y + m.box.height / 2 - height / 2,
    ) / halfDiagonal;
    return length * (1 - Math.min(1, off)) ** 2;
  };
  const main = pool.reduce((a, b) => (score(b) > score(a) ? b : a));
  const kept = new Set<Mark>([main]);
  let box = main.box;
  const reach = PIECE_REACH * extent(main.box);
  // Grows the digit by the marks within reach of its box, until none is left to join.
  for (let grew = true; grew;) {
    grew = false;
    const distance = distancesToBox(box, { labels, n: found.marks.length, width });
    for (const mark of pool) {
      if (kept.has(mark) || mark.size < SPECK_FRACTION * main.size) continue;
      if (distance[mark.label]! <= reach) {
        kept.add(mark);
        box = unionBox(box, mark.box);
        grew = true;
      }
    }
  }
  for (const mark of marks) {
    if (kept.has(mark)) continue;
    if (framed && mark.touchesFrame) dropped.frame++;
    else if (mark.size < SPECK_FRACTION * main.size) dropped.specks++;
    else dropped.far++;
  }
  const keptLabels = new Uint8Array(found.marks.length + 1);
  for (const mark of kept) keptLabels[mark.label] = 1;
  const out = data.slice();
  for (let p = 0; p < out.length; p++) {
    const label = labels[p]!;
    if (label === 0) continue;
    if (keptLabels[label]) mask[p] = 1;
    else out[p] = 0;
  }
  const touchesFrame = [...kept].some((m) => m.touchesFrame);
  const others = pool.filter((m) => m.size >= SPECK_FRACTION * main.size);
  // Marks that are the edge of something broad (one-sided: a patch of desk in a shadow) are no
  // digits; asked only when there is a row to judge.
  const ground = options.ground;
  let sided: Uint8Array | undefined;
  const isEdge = (m: Mark) => {
    if (ground === undefined) return false;
    sided ??= oneSidedMarks(labels, { n: found.marks.length, ...ground, share: DIGIT_SIDED });
    return sided[m.label] === 1;
  };
  const row = sideBySide(others, { main, box, minHeight: minExtent, isEdge, ink: map });
  const outline = [...enclosing].reduce((a, m) => unionBox(a, m.box), box);
  return {
    map: { width, height, data: out },
    mask,
    box,
    outline,
    dropped,
    touchesFrame,
    sideBySide: row,
  };
}

/**
 * The marks that are frames drawn round the digit: a box or a circle (printed or drawn by hand,
 * closed to within `FRAME_GAP` of its extent, clear of the map's edge) that encloses other
 * ink, at least `ENCLOSED_EXTENT` of its own extent, and has no ink outside it but specks
 * (under `SPECK_FRACTION` of the enclosed ink) and marks touching the image's frame (the
 * desk). `marks` and `map.labels` are `components`' (one label per pixel of the map). A
 * digit that is itself a loop (a 0, an 8, a big 6 or 9) encloses no ink and stays; so does a 0
 * drawn inside a box, whose box is the frame. Frames inside frames are all dropped.
 *
 * A mark's inside is what the map's border cannot reach without crossing the mark, widened
 * by `FRAME_GAP` / 2 of its extent to close a hand-drawn circle's gap.
 */
export function enclosingFrames(
  marks: Mark[],
  map: { labels: Int32Array; width: number; height: number },
): Set<Mark> {
  const frames = new Set<Mark>();
  const extent = (b: Box) => Math.max(b.width, b.height);
  const holds = (a: Box, b: Box) =>
    b.x > a.x && b.y > a.y && b.x + b.width < a.x + a.width && b.y + b.height < a.y + a.height;
  // Outermost first: a frame's box holds every box it encloses.
  // A mark that reaches the map's edge is no frame: it is the ground, the desk, or cut off.
  const candidates = marks
    .filter((m) =>
      !m.touchesFrame &&
      marks.some((n) =>
        n !== m && holds(m.box, n.box) && extent(n.box) >= ENCLOSED_EXTENT * extent(m.box)
      )
    )
    .sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
  for (const frame of candidates) {
    const rest = marks.filter((m) => m !== frame && !frames.has(m));
    const reached = outsideOf(frame, map);
    const enclosed = rest.filter((m) => !reached.has(m.label));
    if (!enclosed.some((m) => extent(m.box) >= ENCLOSED_EXTENT * extent(frame.box))) continue;
    let ink = 0;
    for (const m of enclosed) ink += m.size;
    const outside = rest.filter((m) =>
      reached.has(m.label) && !m.touchesFrame && m.size >= SPECK_FRACTION * ink
    );
    if (outside.length === 0) frames.add(frame);
  }
  return frames;
}

/**
 * The labels of the marks that the map's border reaches (4-connected) without crossing `frame`
 * widened by `FRAME_GAP` / 2 of its extent.
 */
function outsideOf(
  frame: Mark,
  { labels, width, height }: { labels: Int32Array; width: number; height: number },
): Set<number> {
  const own = Uint8Array.from(labels, (l) => (l === frame.label ? 1 : 0));
  const radius = Math.max(
    1,
    Math.round((FRAME_GAP / 2) * Math.max(frame.box.width, frame.box.height)),
  );
  const wall = dilateMask({ width, height, data: own }, { radius }).data;
  const seen = new Uint8Array(labels.length);
  const queue = new Int32Array(labels.length);
  let tail = 0;
  const push = (p: number) => {
    if (!wall[p] && !seen[p]) {
      seen[p] = 1;
      queue[tail++] = p;
    }
  };
  for (let x = 0; x < width; x++) {
    push(x);
    push((height - 1) * width + x);
  }
  for (let y = 0; y < height; y++) {
    push(y * width);
    push(y * width + width - 1);
  }
  const reached = new Set<number>();
  for (let head = 0; head < tail; head++) {
    const p = queue[head]!;
    if (labels[p]! > 0) reached.add(labels[p]!);
    const x = p % width;
    if (x > 0) push(p - 1);
    if (x < width - 1) push(p + 1);
    if (p >= width) push(p - width);
    if (p + width < labels.length) push(p + width);
  }
  return reached;
}

/**
 * Digit-sized marks side by side with the digit, left to right, when there are two or more:
 * the image holds a number ("14"), not a digit. `marks` are the candidates (no specks);
 * `main` the digit's main stroke and `box` the digit's box as kept.
 *
 * Marks in the digit's band of rows (overlapping its box vertically) are gathered into columns:
 * marks whose spans across overlap or lie closer than `DIGIT_GUTTER` of the digit's height are
 * one column (a 4's stem and hook, a 5's bar, a broken stroke). A column at least `DIGIT_HEIGHT`
 * as tall as the tallest and `minHeight` tall, with at least `DIGIT_MASS` of the heaviest's
 * ink, and overlapping the main stroke's column vertically by half the lower one's height is a
 * digit; digits no more than `DIGIT_SPACING` of the height apart, with a column of paper
 * between them in `ink` (every pixel under `CLEAR_INK`: `clearBetween`), are a row. A row of two
 * or more that holds the main stroke is returned.
 */
export function sideBySide(
  marks: Mark[],
  options: {
    main: Mark;
    box: Box;
    minHeight: number;
    isEdge?: (m: Mark) => boolean;
    ink?: GreyMap;
  },
): Box[] {
  const { main, box, minHeight, isEdge = () => false, ink } = options;
  const band = marks.filter((m) => m.box.y < box.y + box.height && m.box.y + m.box.height > box.y);
  if (band.length < 2) return [];
  const tallest = Math.max(box.height, ...band.map((m) => m.box.height));
  const gutter = DIGIT_GUTTER * tallest;
  // Columns: spans across merged where they overlap or nearly meet.
  const sorted = [...band].sort((a, b) => a.box.x - b.box.x);
  const columns: { box: Box; marks: Mark[] }[] = [];
  for (const m of sorted) {
    const last = columns.at(-1);
    if (last && m.box.x - (last.box.x + last.box.width) < gutter) {
      last.box = unionBox(last.box, m.box);
      last.marks.push(m);
    } else columns.push({ box: m.box, marks: [m] });
  }
  if (columns.length < 2) return [];
  const height = Math.max(...columns.map((c) => c.box.height));
  const mass = (c: { marks: Mark[] }) => c.marks.reduce((sum, m) => sum + m.size, 0);
  const heaviest = Math.max(...columns.map(mass));
  const home = columns.findIndex((c) => c.marks.includes(main));
  const digitSized = (c: { box: Box; marks: Mark[] }) =>
    c.box.height >= DIGIT_HEIGHT * height && c.box.height >= minHeight &&
    mass(c) >= DIGIT_MASS * heaviest;
  if (home < 0 || !digitSized(columns[home]!)) return [];
  // Ink all round: at least half a column's pixels in marks that are not one-sided.
  const inked = (c: { marks: Mark[] }) =>
    2 * c.marks.reduce((sum, m) => sum + (isEdge(m) ? 0 : m.size), 0) >= mass(c);
  const level = (c: { box: Box }) => {
    const a = columns[home]!.box, b = c.box;
    const overlap = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
    return overlap >= 0.5 * Math.min(a.height, b.height);
  };
  if (!inked(columns[home]!)) return [];
  const row = [columns[home]!.box];
  const spacing = DIGIT_SPACING * height;
  for (const step of [-1, 1]) {
    let near = columns[home]!.box;
    for (let i = home + step; i >= 0 && i < columns.length; i += step) {
      const c = columns[i]!;
      if (!digitSized(c) || !level(c) || !inked(c)) continue;
      const gap = step > 0 ? c.box.x - (near.x + near.width) : near.x - (c.box.x + c.box.width);
      if (gap > spacing) break;
      const [a, b] = step > 0 ? [near, c.box] : [c.box, near];
      if (ink && !clearBetween(ink, [a, b])) continue;
      near = c.box;
      if (step > 0) row.push(c.box);
      else row.unshift(c.box);
    }
  }
  return row.length >= 2 ? row : [];
}

/**
 * Whether some column of `ink` between box `a` and box `b` (a to the left) is paper over both
 * boxes' rows: every pixel under `CLEAR_INK`. Two written digits have paper between them; the
 * halves of one digit whose strokes a blur or a faint pen left under `INK_THRESHOLD` (the top
 * and bottom of a 0 smeared by a shake) are joined by that fainter ink.
 */
function clearBetween(ink: GreyMap, [a, b]: [Box, Box]): boolean {
  const y0 = Math.min(a.y, b.y), y1 = Math.max(a.y + a.height, b.y + b.height);
  for (let x = a.x + a.width; x < b.x; x++) {
    let clear = true;
    for (let y = y0; y < y1 && clear; y++) clear = ink.data[y * ink.width + x]! < CLEAR_INK;
    if (clear) return true;
  }
  return false;
}

/** How far around a mark `oneSidedMarks` looks, in pixels: past the stroke's soft edge. */
const RING = 3;

/**
 * Per label 1..n, 1 for a mark that is ink on one side only: the edge of something broad, not
 * a stroke. A stroke differs from the ground all around it; the bright rim of a sheet against a
 * dark desk (a JPEG's or a phone's sharpening halo), or a dark line along a shadow's edge, has
 * on one side ground as light (or as dark) as itself. So the ring 2 to `RING` pixels around each
 * mark (each pixel given to the nearest mark) is compared with the mark's mean grey level: a
 * mark is one-sided when `share` (30% by default) of its ring lies on its side of the midpoint
 * between the mark's level and the ring's mean.
 */
function oneSidedMarks(
  labels: Int32Array,
  { n, grey, polarity, share = 0.3 }: {
    n: number;
    grey: GreyMap;
    polarity: Polarity;
    share?: number;
  },
): Uint8Array {
  const { width, height, data } = grey;
  // Multi-source breadth-first search from every mark pixel, out to RING (8-neighbours).
  const owner = Int32Array.from(labels);
  const distance = new Uint8Array(labels.length).fill(255);
  const queue = new Int32Array(labels.length);
  let head = 0, tail = 0;
  for (let p = 0; p < labels.length; p++) {
    if (labels[p]! > 0) {
      distance[p] = 0;
      queue[tail++] = p;
    }
  }
  while (head < tail) {
    const p = queue[head++]!;
    const d = distance[p]!;
    if (d >= RING) continue;
    const x = p % width, y = (p - x) / width;
    for (let dy = -1; dy <= 1; dy++) {
      const ny = y + dy;
      if (ny < 0 || ny >= height) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const nx = x + dx;
        if (nx < 0 || nx >= width) continue;
        const q = ny * width + nx;
        if (distance[q]! > d + 1) {
          distance[q] = d + 1;
          owner[q] = owner[p]!;
          queue[tail++] = q;
        }
      }
    }
  }
  const markSum = new Float64Array(n + 1), markCount = new Float64Array(n + 1);
  const ringSum = new Float64Array(n + 1), ringCount = new Float64Array(n + 1);
  for (let i = 0; i < tail; i++) {
    const p = queue[i]!;
    const d = distance[p]!;
    if (d === 0) {
      markSum[owner[p]!]! += data[p]!;
      markCount[owner[p]!]!++;
    } else if (d >= 2) {
      ringSum[owner[p]!]! += data[p]!;
      ringCount[owner[p]!]!++;
    }
  }
  const alike = new Float64Array(n + 1);
  const sign = polarity === "dark" ? -1 : 1;
  for (let i = 0; i < tail; i++) {
    const p = queue[i]!;
    if (distance[p]! < 2) continue;
    const label = owner[p]!;
    const mark = markSum[label]! / markCount[label]!;
    const mid = (mark + ringSum[label]! / ringCount[label]!) / 2;
    if (sign * (data[p]! - mid) >= 0) alike[label]!++;
  }
  const out = new Uint8Array(n + 1);
  for (let label = 1; label <= n; label++) {
    out[label] = ringCount[label]! > 0 && alike[label]! >= share * ringCount[label]! ? 1 : 0;
  }
  return out;
}

/**
 * Drops specks: marks (8-connected pixels at or above `threshold`) with fewer pixels than
 * `SPECK_FRACTION` of the largest mark's are set to 0, so that a fleck of dust or a JPEG
 * artefact does not stretch the digit's bounding box or pull its centre of mass. Broken strokes
 * of one digit (a 5's detached bar) are far above that fraction and stay.
 */
export function removeSpecks(map: GreyMap, threshold = INK_THRESHOLD): GreyMap {
  const { width, height, data } = map;
  const { labels, marks } = components(map, threshold);
  let largest = 0;
  for (const mark of marks) largest = Math.max(largest, mark.size);
  const out = data.slice();
  for (let p = 0; p < out.length; p++) {
    const label = labels[p]!;
    if (label > 0 && marks[label - 1]!.size < SPECK_FRACTION * largest) out[p] = 0;
  }
  return { width, height, data: out };
}

/**
 * For each label 1..n, how near its nearest pixel comes to `box` (0 inside it): the larger of
 * the gaps along x and along y. A strip of desk framing the digit has a box that holds the
 * digit's, but its pixels are a sheet's margin away.
 */
function distancesToBox(
  box: Box,
  { labels, n, width }: { labels: Int32Array; n: number; width: number },
): Float64Array {
  const distance = new Float64Array(n + 1).fill(Infinity);
  const right = box.x + box.width - 1, bottom = box.y + box.height - 1;
  for (let p = 0; p < labels.length; p++) {
    const label = labels[p]!;
    if (label === 0) continue;
    const x = p % width, y = (p - x) / width;
    const d = Math.max(box.x - x, x - right, box.y - y, y - bottom, 0);
    if (d < distance[label]!) distance[label] = d;
  }
  return distance;
}

function unionBox(a: Box, b: Box): Box {
  const x = Math.min(a.x, b.x), y = Math.min(a.y, b.y);
  return {
    x,
    y,
    width: Math.max(a.x + a.width, b.x + b.width) - x,
    height: Math.max(a.y + a.height, b.y + b.height) - y,
  };
}

/**
 * Refuses, with a `UserError` naming `name`, ink too little to be a digit, as a blank image is
 * refused:
 *
 * - a speck: its box's longest side is under `MIN_EXTENT` (a tenth) of the image's shorter side;
 * - a mark no more than `MIN_ELONGATION` times as long as its thickest stroke is wide
 *   (`strokeWidth`), unless it spans `MIN_BOLD_EXTENT` (half) of the image's shorter side or
 *   more with paper all round and fills `MIN_BOLD_SOLIDITY` of its hull (MNIST's boldest
 *   digits, 20 pixels of 28): "one dot" when it is
 *   solid (`solidity` at least `DOT_SOLIDITY`: a tap on a drawing page, a blob, down to a 2×2
 *   square in a 10×10 image) or reaches the image's frame (the paper read as ink round a dot),
 *   "too small" otherwise (a 7 drawn small in a corner of the page with its broad brush).
 *
 * A thin 1 drawn over half the height is many times as long as wide. `map` and `box` are in
 * working pixels; `scale` is working pixels per image pixel (`shrink`'s, 1 by default): the
 * message gives the user's image pixels, not the working copy's.
 */
export function checkDigitSize(
  map: GreyMap,
  options: { box: Box; name: string; scale?: number },
): void {
  const { box, name, scale = 1 } = options;
  const { width, height } = map;
  const extent = Math.max(box.width, box.height);
  const shorter = Math.min(width, height);
  const px = (v: number) => Math.max(1, Math.round(v / scale));
  const spans = `${px(box.width)}×${px(box.height)} pixels`;
  const hint = "Write the digit larger, in strokes, or crop the image closer around it: " +
    "a dot or a speck is not a digit.";
  if (extent < MIN_EXTENT * shorter) {
    throw new UserError(
      `Image "${name}" has too little ink to be a digit: it spans ${spans}, under a tenth of ` +
        `the image's ${px(shorter)}-pixel side`,
      { hint },
    );
  }
  const ink = crop(map, box);
  if (extent > MIN_ELONGATION * strokeWidth(ink)) return;
  // Paper all round, as MNIST's digits have: ink reaching the frame is the ground (light paper
  // read as the ink), a blot, or cut off.
  const clear = box.x > 0 && box.y > 0 && box.x + box.width < width && box.y + box.height < height;
  const large = extent >= MIN_BOLD_EXTENT * shorter;
  const solid = solidity(ink);
  if (large && clear && solid >= MIN_BOLD_SOLIDITY) return;
  if (large || solid >= DOT_SOLIDITY) {
    throw new UserError(
      `Image "${name}" has too little ink to be a digit: one dot ${spans}, no longer than ` +
        `${MIN_ELONGATION} of its strokes are wide`,
      { hint },
    );
  }
  throw new UserError(
    `Image "${name}" has too little ink to be a digit: too small, it spans ${spans}, no ` +
      `longer than ${MIN_ELONGATION} of its strokes are wide, under half of the image's ` +
      `${px(shorter)}-pixel side`,
    { hint: "Write the digit larger or with a finer pen, or crop the image closer around it." },
  );
}

/**
 * The share of the pixels within the ink's convex hull that are ink (at or above
 * `INK_THRESHOLD` in `map`), in (0, 1]; 0 when there is no ink. The hull is that of the ink
 * pixels' centres and a pixel is within it when its centre is, so a pixelated disc or square of
 * any size, down to one pixel, is all ink, and a stroke bent into a digit much less. A dot is
 * solid; a digit has hooks, loops and notches.
 */
export function solidity(map: GreyMap): number {
  // Each row's first and last ink pixels hold the row's ink between them.
  const ends: [number, number][] = [];
  let ink = 0;
  for (let y = 0; y < map.height; y++) {
    let first = -1, last = -1;
    for (let x = 0; x < map.width; x++) {
      if (map.data[y * map.width + x]! < INK_THRESHOLD) continue;
      ink++;
      if (first < 0) first = x;
      last = x;
    }
    if (first >= 0) ends.push([first, y], [last, y]);
  }
  if (ink === 0) return 0;
  // Andrew's monotone chain: the lower and upper hulls of the ends sorted by x, then y.
  ends.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const turn = (o: [number, number], a: [number, number], b: [number, number]) =>
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const half = (points: [number, number][]) => {
    const chain: [number, number][] = [];
    for (const p of points) {
      while (chain.length >= 2 && turn(chain.at(-2)!, chain.at(-1)!, p) <= 0) chain.pop();
      chain.push(p);
    }
    return chain.slice(0, -1);
  };
  const hull = [...half(ends), ...half(ends.toReversed())];
  if (hull.length === 0) hull.push(ends[0]!); // one pixel
  // Per row, the hull's span across it, and the pixels whose centres lie in it.
  let inside = 0;
  const eps = 1e-9;
  for (let y = 0; y < map.height; y++) {
    let left = Infinity, right = -Infinity;
    for (let i = 0; i < hull.length; i++) {
      const a = hull[i]!, b = hull[(i + 1) % hull.length]!;
      if (y < Math.min(a[1], b[1]) || y > Math.max(a[1], b[1])) continue;
      const xs = a[1] === b[1]
        ? [a[0], b[0]]
        : [a[0] + ((y - a[1]) * (b[0] - a[0])) / (b[1] - a[1])];
      for (const x of xs) {
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
    if (left <= right) inside += Math.floor(right + eps) - Math.ceil(left - eps) + 1;
  }
  return ink / inside;
}

/**
 * The width of the thickest stroke, in pixels: the largest distance from an ink pixel (at or
 * above `INK_THRESHOLD`) to the nearest pixel that is not ink, or to the map's edge
 * (`distanceTransform`), measured on the mask doubled in each direction. Doubled, every stroke
 * is an even number of pixels wide and its middle lies half its width from either side, so a
 * 2-pixel stroke (a 2×2 dot) is 2 wide, not 1 as its pixels' centres alone would say.
 */
export function strokeWidth(map: GreyMap): number {
  // Doubled, and padded with a pixel of background, so that ink reaching the map's edge ends
  // there.
  const width = 2 * map.width + 2, height = 2 * map.height + 2;
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < map.height; y++) {
    for (let x = 0; x < map.width; x++) {
      if (map.data[y * map.width + x]! < INK_THRESHOLD) continue;
      const p = (2 * y + 1) * width + 2 * x + 1;
      mask[p] =
        mask[p + 1] =
        mask[p + width] =
        mask[p + width + 1] =
          1;
    }
  }
  let best = 0;
  for (const d of distanceTransform({ width, height, data: mask })) best = Math.max(best, d);
  // The distance runs from a doubled pixel's centre to the first one outside: a stroke 2w
  // doubled pixels wide is w from either side in the middle.
  return best;
}
