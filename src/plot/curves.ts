/**
 * Training curves as a Vega-Lite specification (https://vega.github.io/vega-lite/): one panel per
 * metric (accuracy first, then cross-entropy and any other the logs carry), the epoch along x,
 * one colour per log, one line style per curve (train per Speedometer line, train per epoch,
 * validation per epoch). Rendering is src/plot/render.ts's; this module loads no package.
 */
import { type LogPoint, metricsOf } from "../train/log_parse.ts";

/** One log to draw. */
export interface CurveLog {
  /** Its name in the legend, e.g. the file name. */
  label: string;
  /** Its metric values, as `parseMxnetLog` reads them, in log order. */
  points: readonly LogPoint[];
}

/** The curves a log can have, in legend order, by what their points summarise. */
export const CURVES = [
  { name: "validation, per epoch", kind: "epoch", phase: "validation" },
  { name: "train, per epoch", kind: "epoch", phase: "train" },
  { name: "train, per Speedometer line", kind: "batch", phase: "train" },
] as const;

/** A curve's name, as the legend shows it. */
export type CurveName = (typeof CURVES)[number]["name"];

/** How each curve is drawn: validation solid and thick, the train curves thinner and dashed. */
const CURVE_STYLE: Record<CurveName, { dash: number[]; width: number }> = {
  "validation, per epoch": { dash: [1, 0], width: 2.5 },
  "train, per epoch": { dash: [8, 3, 2, 3], width: 1.5 },
  "train, per Speedometer line": { dash: [4, 3], width: 1.5 },
};

/** The name of `point`'s curve. */
export function curveName(point: Pick<LogPoint, "kind" | "phase">): CurveName {
  return CURVES.find((c) => c.kind === point.kind && c.phase === point.phase)!.name;
}

/** A row of the chart's data. */
interface Row {
  log: string;
  curve: CurveName;
  metric: string;
  epoch: number;
  value: number;
}

/** Width and height of each metric's panel, in CSS pixels (the SVG's units). */
export const PANEL = { width: 640, height: 260 } as const;

/** The text font of the chart: DejaVu Sans, which the PNG renderer embeds. */
export const FONT = "DejaVu Sans";

/**
 * The most metrics drawn, one panel each. Vega's cost grows with the panels (a log of 300
 * validation metrics took 7 s and a 1.5 MB SVG, one of 3000 over 2 minutes and 2.5 GB); a
 * training log has two or three metrics, and the rest of a log's are left out, and said so.
 */
export const MAX_PANELS = 8;

/** What a chart holds: its curves (one line each), metrics and epochs. */
export interface CurvesSummary {
  /** Lines drawn: one per log, metric drawn and curve that has points. */
  lines: number;
  /**
   * The metrics drawn, each in a panel of its own: accuracy first, then as the logs first name
   * them, at most `MAX_PANELS`.
   */
  metrics: string[];
  /** The logs' other metrics, after the first `MAX_PANELS`: not drawn. */
  omitted: string[];
  /** The last epoch any point reaches, counting from 1 (an epoch's end). */
  epochs: number;
}

/** What `curvesSpec` will draw, for messages and tests. */
export function summarizeCurves(logs: readonly CurveLog[]): CurvesSummary {
  const all = metricsOf(logs.flatMap((l) => l.points));
  const drawn = new Set(all.slice(0, MAX_PANELS));
  const lines = new Set<string>();
  let epochs = 0;
  for (const [i, log] of logs.entries()) {
    for (const p of log.points) {
      if (!drawn.has(p.metric)) continue;
      lines.add(`${i}/${p.metric}/${curveName(p)}`);
      epochs = Math.max(epochs, Math.ceil(p.x));
    }
  }
  return { lines: lines.size, metrics: [...drawn], omitted: all.slice(MAX_PANELS), epochs };
}

/**
 * The Vega-Lite specification of `logs`' training curves: a title (`title`, default "Training
 * curves") with the log's name (or the number of logs) under it, then one panel per metric,
 * PANEL.width × PANEL.height each (the first `MAX_PANELS` metrics, see `summarizeCurves`),
 * sharing the epoch axis and the legends. Each (log, metric,
 * curve) is one line; epoch curves also mark their points. Labels that repeat get a number
 * (`train.log`, `train.log (2)`), so that two logs never share a colour.
 */
export function curvesSpec(
  logs: readonly CurveLog[],
  { title = "Training curves" }: { title?: string } = {},
): Record<string, unknown> {
  const labels = uniqueLabels(logs.map((l) => l.label));
  const { metrics, epochs } = summarizeCurves(logs);
  const drawn = new Set(metrics);
  const rows: Row[] = logs.flatMap((log, i) =>
    log.points.filter((p) => drawn.has(p.metric)).map((p) => ({
      log: labels[i]!,
      curve: curveName(p),
      metric: p.metric,
      epoch: p.x,
      value: p.value,
    }))
  );
  const present: CurveName[] = CURVES.map((c) => c.name)
    .filter((name) => rows.some((r) => r.curve === name));
  const color = {
    field: "log",
    type: "nominal",
    title: "log",
    scale: { domain: labels, scheme: "tableau10" },
    legend: { orient: "right", symbolType: "stroke", symbolStrokeWidth: 3, labelLimit: 280 },
  };
  const strokeDash = {
    field: "curve",
    type: "nominal",
    title: "curve",
    scale: { domain: present, range: present.map((c) => CURVE_STYLE[c].dash) },
    legend: {
      orient: "right",
      symbolType: "stroke",
      symbolStrokeWidth: 2,
      symbolSize: 500,
      labelLimit: 280,
    },
  };
  const panel = (metric: string) => ({
    width: PANEL.width,
    height: PANEL.height,
    transform: [{ filter: { field: "metric", equal: metric } }],
    encoding: {
      x: {
        field: "epoch",
        type: "quantitative",
        title: "epoch",
        scale: { domain: [0, Math.max(1, epochs)], nice: false },
        axis: { tickMinStep: 1, format: "d" },
      },
      y: {
        field: "value",
        type: "quantitative",
        title: metric,
        scale: { zero: false, nice: true },
      },
      color,
    },
    layer: [
      ...present.map((curve) => ({
        transform: [{ filter: { field: "curve", equal: curve } }],
        mark: { type: "line", clip: true, strokeWidth: CURVE_STYLE[curve].width },
        encoding: { strokeDash, order: { field: "epoch", type: "quantitative" } },
      })),
      ...(["validation, per epoch", "train, per epoch"] as const).map((curve) => ({
        transform: [{ filter: { field: "curve", equal: curve } }],
        mark: {
          type: "point",
          filled: true,
          opacity: 1,
          clip: true,
          shape: curve === "validation, per epoch" ? "circle" : "square",
          size: curve === "validation, per epoch" ? 30 : 20,
        },
      })),
    ],
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: title,
      subtitle: logs.length === 1 ? labels[0] : `${logs.length} logs`,
      anchor: "start",
      fontSize: 16,
    },
    data: { values: rows },
    vconcat: metrics.map(panel),
    resolve: { scale: { x: "shared", color: "shared", strokeDash: "shared" } },
    config: {
      background: "white",
      font: FONT,
      view: { stroke: "#ccc" },
      axis: { labelFontSize: 11, titleFontSize: 12, gridColor: "#e6e6e6" },
      legend: { labelFontSize: 11, titleFontSize: 12 },
    },
  };
}

/** `labels` with repeats numbered: ["a", "a", "b"] → ["a", "a (2)", "b"]. */
function uniqueLabels(labels: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return labels.map((label) => {
    const n = (seen.get(label) ?? 0) + 1;
    seen.set(label, n);
    return n === 1 ? label : `${label} (${n})`;
  });
}
