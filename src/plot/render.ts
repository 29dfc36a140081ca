/**
 * Renders a Vega-Lite specification to SVG with vega-lite (compile) and vega (a headless View,
 * no browser, no canvas), and SVG to PNG with resvg (src/plot/png.ts). The packages are
 * imported when a chart is drawn, not when the CLI starts.
 */

/**
 * The SVG drawing of Vega-Lite `spec`, as text: a standalone `<svg>` document whose size is the
 * chart's, in CSS pixels. Vega measures text without a canvas, by an estimate of the glyphs'
 * widths (its `textMetrics.estimateWidth`), which is close for DejaVu Sans.
 */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  // deno-lint-ignore no-explicit-any -- the spec is built as plain JSON (src/plot/curves.ts)
  const compiled = vegaLite.compile(spec as any, { logger: vega.logger(vega.None) }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none", logLevel: vega.None });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * `svg` drawn as PNG bytes (RGBA, white background where the SVG has none), each CSS pixel as
 * `zoom` × `zoom` pixels, text in the embedded DejaVu Sans.
 */
export async function renderPng(
  svg: string,
  { zoom = 2 }: { zoom?: number } = {},
): Promise<Uint8Array> {
  const { svgToPng } = await import("./png.ts");
  return await svgToPng(svg, { zoom });
}
