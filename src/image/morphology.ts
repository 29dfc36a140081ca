/**
 * Morphology on grey maps and masks, the tools the ink is found with: grey-level closing and
 * opening by a square (van Herk and Gil-Werman's running extremes, linear whatever the square),
 * dilation of a mask, 8-connected components, and a chamfer distance transform. Nothing here
 * knows about digits.
 */
import type { Box, GreyMap, Mask } from "./grey_map.ts";

/**
 * Grey-level closing of `map` by a (2·radius+1)² square, clipped at the edges (pixels outside
 * the map are ignored): the maximum over the square, then the minimum. It fills every dark mark
 * narrower than the square with the level around it and keeps anything wider, any monotone ramp
 * and any step as they are.
 */
export function closing(map: GreyMap, radius: number): GreyMap {
  return extremeFilter(extremeFilter(map, { radius, max: true }), { radius, max: false });
}

/**
 * Grey-level opening of `map` by a (2·radius+1)² square, as {@link closing} with light and dark
 * swapped: the minimum over the square, then the maximum.
 */
export function opening(map: GreyMap, radius: number): GreyMap {
  return extremeFilter(extremeFilter(map, { radius, max: false }), { radius, max: true });
}

/**
 * The maximum (or, with `max` false, the minimum) over a (2r+1)² square around each pixel, the
 * square clipped at the edges: van Herk / Gil-Werman per row, then per column. Each line, padded
 * with r values that never win on either side, is cut into blocks of 2r+1; within a block, running
 * extremes from the left (`g`) and from the right (`h`); a window spans at most two blocks, so
 * its extreme is that of one `h` and one `g`: three comparisons per pixel, whatever r.
 */
function extremeFilter(map: GreyMap, { radius, max }: { radius: number; max: boolean }): GreyMap {
  return extremeFilterXY(map, { rx: radius, ry: radius, max });
}

/**
 * As `extremeFilter`, over a (2·rx+1) × (2·ry+1) rectangle: a radius of 0 skips that direction's
 * pass, so `ry` 0 is a horizontal segment. Each pass reads lines along rows and writes its
 * result transposed, so the column pass reads rows too (a column walk over a 768-px map misses
 * the cache at every pixel): rows → transposed → columns → back. A lone column pass transposes
 * first.
 */
function extremeFilterXY(
  map: GreyMap,
  { rx, ry, max }: { rx: number; ry: number; max: boolean },
): GreyMap {
  const { width, height } = map;
  if (rx === 0 && ry === 0) return { width, height, data: map.data.slice() };
  const scratch = lineScratch(Math.max(rx, ry), Math.max(width, height));
  if (ry === 0) return filterLines(map, { r: rx, max, transposed: false, scratch });
  if (rx === 0 && ry <= SHORT_COLUMN) return filterColumnsShort(map, { r: ry, max });
  const across = rx === 0
    ? transpose(map)
    : filterLines(map, { r: rx, max, transposed: true, scratch });
  // (width, height): lines of `height` pixels, written back transposed.
  return filterLines(across, { r: ry, max, transposed: true, scratch });
}

/** Scratch lines for `filterLines`: padded line, running extremes from the left and right. */
interface LineScratch {
  line: Float32Array;
  g: Float32Array;
  h: Float32Array;
}

/** Buffers long enough for lines of `n` pixels padded by `r` and cut into blocks of 2r+1. */
function lineScratch(r: number, n: number): LineScratch {
  const size = Math.ceil((n + 2 * r) / (2 * r + 1) + 1) * (2 * r + 1);
  return { line: new Float32Array(size), g: new Float32Array(size), h: new Float32Array(size) };
}

/** `map` (height, width) transposed to (width, height), in 16 × 16 tiles to stay in the cache. */
function transpose(map: GreyMap): GreyMap {
  const { width: n, height: rows, data: src } = map;
  const out = new Float32Array(src.length);
  for (let l0 = 0; l0 < rows; l0 += 16) {
    const l1 = Math.min(rows, l0 + 16);
    for (let i0 = 0; i0 < n; i0 += 16) {
      const i1 = Math.min(n, i0 + 16);
      for (let l = l0; l < l1; l++) {
        const base = l * n;
        for (let i = i0; i < i1; i++) out[i * rows + l] = src[base + i]!;
      }
    }
  }
  return { width: rows, height: n, data: out };
}

/** The widest vertical radius taken directly (`filterColumnsShort`) rather than transposed. */
const SHORT_COLUMN = 4;

/**
 * The extreme over 2r+1 rows (r ≤ `SHORT_COLUMN`) down each column of `map`, clipped at the top
 * and bottom, taken row against row so that it reads rows: a few comparisons per pixel. The
 * same value as `filterLines`' (an extreme is one of the values).
 */
function filterColumnsShort(map: GreyMap, { r, max }: { r: number; max: boolean }): GreyMap {
  const { width, height, data: src } = map;
  const out = new Float32Array(src.length);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    out.set(src.subarray(row, row + width), row);
    const y1 = Math.min(height - 1, y + r);
    for (let t = Math.max(0, y - r); t <= y1; t++) {
      if (t === y) continue;
      const other = t * width;
      if (max) {
        for (let x = 0; x < width; x++) {
          const a = out[row + x]!, b = src[other + x]!;
          out[row + x] = a > b ? a : b;
        }
      } else {
        for (let x = 0; x < width; x++) {
          const a = out[row + x]!, b = src[other + x]!;
          out[row + x] = a < b ? a : b;
        }
      }
    }
  }
  return { width, height, data: out };
}

/**
 * The running extreme over 2r+1 pixels (r > 0) along each row of `map`, clipped at the ends:
 * (height, width), or (width, height) when `transposed`. `scratch` is `lineScratch`'s for a
 * radius and a line at least as long.
 */
function filterLines(
  map: GreyMap,
  { r, max, transposed, scratch }: {
    r: number;
    max: boolean;
    transposed: boolean;
    scratch: LineScratch;
  },
): GreyMap {
  const { width: n, height: lines, data: src } = map;
  const { line, g, h } = scratch;
  const k = 2 * r + 1;
  const out = new Float32Array(src.length);
  const m = Math.ceil((n + 2 * r) / k) * k;
  const blocks = { m, k };
  const none = max ? -Infinity : Infinity;
  line.fill(none, 0, r);
  line.fill(none, r + n, m);
  const span = 2 * r;
  for (let l = 0; l < lines; l++) {
    const base = l * n;
    line.set(src.subarray(base, base + n), r);
    if (max) runningMax(scratch, blocks);
    else runningMin(scratch, blocks);
    // Output x covers padded [x, x + 2r].
    if (transposed) {
      if (max) {
        for (let x = 0; x < n; x++) {
          const a = h[x]!, b = g[x + span]!;
          out[x * lines + l] = a > b ? a : b;
        }
      } else {
        for (let x = 0; x < n; x++) {
          const a = h[x]!, b = g[x + span]!;
          out[x * lines + l] = a < b ? a : b;
        }
      }
    } else if (max) {
      for (let x = 0; x < n; x++) {
        const a = h[x]!, b = g[x + span]!;
        out[base + x] = a > b ? a : b;
      }
    } else {
      for (let x = 0; x < n; x++) {
        const a = h[x]!, b = g[x + span]!;
        out[base + x] = a < b ? a : b;
      }
    }
  }
  return transposed
    ? { width: lines, height: n, data: out }
    : { width: n, height: lines, data: out };
}

/**
 * Per block of `k` of `line`'s first `m` values: running maxima from the left (`g`) and from the
 * right (`h`).
 */
function runningMax({ line, g, h }: LineScratch, { m, k }: { m: number; k: number }) {
  for (let start = 0; start < m; start += k) {
    const end = start + k - 1;
    g[start] = line[start]!;
    h[end] = line[end]!;
    for (let i = start + 1; i <= end; i++) {
      const v = line[i]!, prev = g[i - 1]!;
      g[i] = v > prev ? v : prev;
    }
    for (let i = end - 1; i >= start; i--) {
      const v = line[i]!, next = h[i + 1]!;
      h[i] = v > next ? v : next;
    }
  }
}

/** As `runningMax`, with minima. */
function runningMin({ line, g, h }: LineScratch, { m, k }: { m: number; k: number }) {
  for (let start = 0; start < m; start += k) {
    const end = start + k - 1;
    g[start] = line[start]!;
    h[end] = line[end]!;
    for (let i = start + 1; i <= end; i++) {
      const v = line[i]!, prev = g[i - 1]!;
      g[i] = v < prev ? v : prev;
    }
    for (let i = end - 1; i >= start; i--) {
      const v = line[i]!, next = h[i + 1]!;
      h[i] = v < next ? v : next;
    }
  }
}

/**
 * Grey-level opening of `map` by a (2·rx+1) × (2·ry+1) rectangle (the minimum over it, then the
 * maximum), clipped at the edges: with `ry` 0, what stays of `map` along every horizontal run
 * of 2·rx+1 pixels, its least value there; a line longer than that keeps its level, anything
 * shorter goes.
 */
export function openingXY(map: GreyMap, radii: { rx: number; ry: number }): GreyMap {
  const eroded = extremeFilterXY(map, { ...radii, max: false });
  return extremeFilterXY(eroded, { ...radii, max: true });
}

/** The maximum of `map` over a (2·rx+1) × (2·ry+1) rectangle around each pixel, clipped. */
export function dilateXY(map: GreyMap, radii: { rx: number; ry: number }): GreyMap {
  return extremeFilterXY(map, { ...radii, max: true });
}

/**
 * `mask` dilated by a (2·radius+1)² square: every pixel within `radius` of a set pixel is set.
 * Two separable running counts, along the rows, then down the columns.
 */
export function dilateMask(mask: Mask, { radius }: { radius: number }): Mask {
  const { width, height } = mask;
  const rows = runningCount(mask.data, { n: width, stride: 1, lines: height, step: width, radius });
  const data = runningCount(rows, { n: height, stride: width, lines: width, step: 1, radius });
  return { width, height, data };
}

/**
 * Per pixel of `lines` lines of `n` pixels in `src` (line l's pixel i at l·step + i·stride), 1
 * where a set pixel lies within `radius` along the line, else 0.
 */
function runningCount(
  src: Uint8Array,
  { n, stride, lines, step, radius }: {
    n: number;
    stride: number;
    lines: number;
    step: number;
    radius: number;
  },
): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let line = 0; line < lines; line++) {
    const base = line * step;
    let count = 0;
    for (let i = 0; i < Math.min(radius, n); i++) count += src[base + i * stride]!;
    for (let i = 0; i < n; i++) {
      if (i + radius < n) count += src[base + (i + radius) * stride]!;
      if (i - radius - 1 >= 0) count -= src[base + (i - radius - 1) * stride]!;
      out[base + i * stride] = count > 0 ? 1 : 0;
    }
  }
  return out;
}

/** A connected mark: its pixels' label, size, bounding box, whether it touches the frame. */
export interface Mark {
  /** Its label in `components`' labels, 1..n. */
  label: number;
  /** Its pixels. */
  size: number;
  /** Its bounding box. */
  box: Box;
  /** Whether it reaches the map's first or last row or column. */
  touchesFrame: boolean;
}

/** 8-connected components of pixels >= `threshold`: labels 1..n per pixel (0: none), marks. */
export function components(map: GreyMap, threshold: number): { labels: Int32Array; marks: Mark[] } {
  const { width, height, data } = map;
  const labels = new Int32Array(data.length);
  const marks: Mark[] = [];
  const stack = new Int32Array(data.length);
  for (let start = 0; start < data.length; start++) {
    if (labels[start] !== 0 || data[start]! < threshold) continue;
    const label = marks.length + 1;
    let size = 0, top = 0;
    let x0 = width, y0 = height, x1 = -1, y1 = -1;
    stack[top++] = start;
    labels[start] = label;
    while (top > 0) {
      const p = stack[--top]!;
      size++;
      const x = p % width;
      const y = (p - x) / width;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (labels[q] === 0 && data[q]! >= threshold) {
            labels[q] = label;
            stack[top++] = q;
          }
        }
      }
    }
    marks.push({
      label,
      size,
      box: { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 },
      touchesFrame: x0 === 0 || y0 === 0 || x1 === width - 1 || y1 === height - 1,
    });
  }
  return { labels, marks };
}

/**
 * Per pixel, the distance in pixels from a set pixel of `mask` to the nearest unset one (0 on
 * unset pixels), by a two-pass 3-4 chamfer (within 8% of the Euclidean distance); beyond the
 * map's edge counts as set, so a mark cut by the edge is not thinned by it.
 */
export function distanceTransform(mask: Mask): Float32Array {
  const { width, height } = mask;
  const far = 1e9;
  const d = new Float32Array(mask.data.length);
  for (let p = 0; p < d.length; p++) d[p] = mask.data[p] ? far : 0;
  const at = (x: number, y: number) =>
    x < 0 || y < 0 || x >= width || y >= height ? far : d[y * width + x]!;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if (d[p] === 0) continue;
      d[p] = Math.min(
        d[p]!,
        at(x - 1, y) + 3,
        at(x, y - 1) + 3,
        at(x - 1, y - 1) + 4,
        at(x + 1, y - 1) + 4,
      );
    }
  }
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const p = y * width + x;
      if (d[p] === 0) continue;
      d[p] = Math.min(
        d[p]!,
        at(x + 1, y) + 3,
        at(x, y + 1) + 3,
        at(x + 1, y + 1) + 4,
        at(x - 1, y + 1) + 4,
      );
    }
  }
  // Chamfer units are thirds of a pixel; a mask with no unset pixel is as thick as the map.
  const cap = Math.min(width, height);
  for (let p = 0; p < d.length; p++) d[p] = d[p]! >= far ? cap : d[p]! / 3;
  return d;
}
