/**
 * SVG to PNG with resvg's WebAssembly build (@resvg/resvg-wasm): no native library, and with a
 * font of its own, so a chart's labels render the same on every machine. Both the WebAssembly
 * module and the font are imported as bytes, so that `deno compile` carries them; this module is
 * imported only when a PNG is drawn (src/plot/render.ts).
 */
import { initWasm, Resvg } from "@resvg/resvg-wasm";
import wasm from "@resvg/resvg-wasm/index_bg.wasm" with { type: "bytes" };
// DejaVu Sans 2.37 (Bitstream Vera licence: embedding allowed; see DejaVuSans.LICENSE).
import font from "./DejaVuSans.ttf" with { type: "bytes" };
import { FONT } from "./curves.ts";

let ready: Promise<void> | undefined;

/**
 * Renders `svg` to PNG bytes at `zoom` device pixels per CSS pixel, on white, with every text in
 * DejaVu Sans (no system fonts are read). Throws resvg's error for SVG it cannot parse.
 */
export async function svgToPng(svg: string, { zoom }: { zoom: number }): Promise<Uint8Array> {
  ready ??= initWasm(wasm);
  await ready;
  const resvg = new Resvg(svg, {
    background: "white",
    fitTo: { mode: "zoom", value: zoom },
    font: {
      fontBuffers: [font],
      loadSystemFonts: false,
      defaultFontFamily: FONT,
      sansSerifFamily: FONT,
    },
  });
  try {
    const image = resvg.render();
    try {
      return image.asPng();
    } finally {
      image.free();
    }
  } finally {
    resvg.free();
  }
}
