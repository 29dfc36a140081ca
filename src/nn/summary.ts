/**
 * Describing a network the way MXNet's `mx.viz.print_summary` and `plot_network` do: one row per
 * operator (activations and the softmax get rows of their own, as in MXNet's symbol graph), as a
 * table, Graphviz DOT, or a self-contained SVG drawing.
 */
import { inferShapes, type ModelSpec, sizeOf } from "./model.ts";

/** One operator of the drawn graph. */
export interface SummaryRow {
  /**
   * The layer's name; `data` for the input, `softmax` for the loss, and for activations their
   * kind numbered from 1 (`tanh1`, `tanh2`), as MXNet's symbols name them.
   */
  name: string;
  /** MXNet's operator name: Convolution, Activation, Pooling, Flatten, FullyConnected... */
  type: string;
  /** Output shape without the batch. */
  shape: number[];
  /** Learnable parameters (floats) of the operator; 0 for those without. */
  params: number;
  /** A short description for drawings, e.g. "5×5, 20" or "tanh". */
  detail: string;
}

const ACT_TYPE = "Activation";

/** Fill colours by operator type, as MXNet's plot_network uses them. */
const COLORS: Record<string, string> = {
  null: "#8dd3c7",
  Convolution: "#fb8072",
  FullyConnected: "#fb8072",
  Activation: "#ffffb3",
  Pooling: "#80b1d3",
  Flatten: "#fdb462",
  SoftmaxOutput: "#b3de69",
};

/**
 * The operator rows of `model`, from the input to the softmax. A dense layer whose input is not
 * flat (the MLP's 1×28×28 digits) gets a Flatten row before it, with no parameters, as the
 * tutorial's MLP starts with `mx.sym.Flatten` and MXNet's plot_network draws it: the dense
 * kernels read their input flattened, and the row says where 1×28×28 becomes 784. It is named
 * `flatten`, or `flatten1`, `flatten2`... when a layer already has that name.
 */
export function summaryRows(model: ModelSpec): SummaryRow[] {
  const rows: SummaryRow[] = [
    { name: "data", type: "null", shape: [...model.input], params: 0, detail: "input" },
  ];
  const actCount = new Map<string, number>();
  const taken = new Set(model.layers.map((l) => l.name));
  for (const info of inferShapes(model)) {
    const spec = info.spec;
    const params = info.params.reduce((n, p) => n + sizeOf(p.shape), 0);
    switch (spec.kind) {
      case "dense":
        if (info.input.length > 1) {
          let name = "flatten";
          for (let n = 1; taken.has(name); n++) name = `flatten${n}`;
          taken.add(name);
          rows.push({ name, type: "Flatten", shape: [sizeOf(info.input)], params: 0, detail: "" });
        }
        rows.push({
          name: spec.name,
          type: "FullyConnected",
          shape: info.output,
          params,
          detail: `${spec.units} units`,
        });
        break;
      case "conv2d":
        rows.push({
          name: spec.name,
          type: "Convolution",
          shape: info.output,
          params,
          detail: `${spec.kernel}×${spec.kernel}, ${spec.filters} filters` +
            (spec.stride !== 1 ? `, stride ${spec.stride}` : "") +
            (spec.pad !== 0 ? `, pad ${spec.pad}` : ""),
        });
        break;
      case "maxpool":
        rows.push({
          name: spec.name,
          type: "Pooling",
          shape: info.output,
          params: 0,
          detail: `max ${spec.size}×${spec.size}, stride ${spec.stride}`,
        });
        break;
      case "flatten":
        rows.push({ name: spec.name, type: "Flatten", shape: info.output, params: 0, detail: "" });
        break;
    }
    if (spec.act !== "none") {
      const n = (actCount.get(spec.act) ?? 0) + 1;
      actCount.set(spec.act, n);
      rows.push({
        name: `${spec.act}${n}`,
        type: ACT_TYPE,
        shape: info.output,
        params: 0,
        detail: spec.act,
      });
    }
  }
  rows.push({
    name: "softmax",
    type: "SoftmaxOutput",
    shape: [model.classes],
    params: 0,
    detail: "cross-entropy",
  });
  return rows;
}

/** `20×24×24`. */
export function formatShape(shape: readonly number[]): string {
  return shape.join("×");
}

function thousands(n: number): string {
  return n.toLocaleString("en-US");
}

/** The summary table, laid out like MXNet's print_summary. */
export function summaryTable(model: ModelSpec): string {
  const rows = summaryRows(model);
  const cols = [32, 20, 12, 20];
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(cols[i]!)).join("").trimEnd();
  const width = cols.reduce((a, b) => a + b, 0);
  const out = [
    "_".repeat(width),
    line(["Layer (type)", "Output Shape", "Param #", "Previous Layer"]),
    "=".repeat(width),
  ];
  rows.forEach((row, i) => {
    out.push(line([
      `${row.name} (${row.type})`,
      formatShape(row.shape),
      thousands(row.params),
      i === 0 ? "" : rows[i - 1]!.name,
    ]));
    out.push(i === rows.length - 1 ? "=".repeat(width) : "_".repeat(width));
  });
  const total = rows.reduce((n, r) => n + r.params, 0);
  out.push(`Total params: ${thousands(total)}`, "_".repeat(width));
  return out.join("\n");
}

/** Graphviz DOT of the network, shapes on the edges (`dot -Tpng`). */
export function summaryDot(model: ModelSpec): string {
  const rows = summaryRows(model);
  const lines = [
    `digraph "${model.name}" {`,
    `  rankdir=BT;`,
    `  node [shape=box, style="rounded,filled", fontname="Helvetica", fixedsize=false];`,
  ];
  for (const row of rows) {
    const label = row.detail ? `${row.name}\\n${row.detail}` : row.name;
    lines.push(`  "${row.name}" [label="${label}", fillcolor="${COLORS[row.type] ?? "#dddddd"}"];`);
  }
  for (let i = 1; i < rows.length; i++) {
    lines.push(
      `  "${rows[i - 1]!.name}" -> "${rows[i]!.name}" [label="${
        formatShape(rows[i - 1]!.shape)
      }"];`,
    );
  }
  lines.push("}");
  return lines.join("\n");
}

function escapeXml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll(
    '"',
    "&quot;",
  );
}

/** A self-contained SVG drawing: the operators bottom to top, shapes beside the arrows. */
export function summarySvg(model: ModelSpec): string {
  const rows = summaryRows(model);
  const boxW = 200, boxH = 44, gap = 36, margin = 20, width = 360;
  const height = margin * 2 + rows.length * boxH + (rows.length - 1) * gap + 24;
  const x = (width - boxW) / 2;
  // Input at the bottom, as MXNet's plot_network draws it.
  const yOf = (i: number) => height - margin - (i + 1) * boxH - i * gap;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    `<title>${escapeXml(model.name)}</title>`,
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>`,
    `<text x="${width / 2}" y="${margin}" text-anchor="middle" font-size="15" font-weight="bold">${
      escapeXml(model.name)
    }: ${thousands(rows.reduce((n, r) => n + r.params, 0))} parameters</text>`,
  ];
  rows.forEach((row, i) => {
    const y = yOf(i);
    parts.push(
      `<rect x="${x}" y="${y}" width="${boxW}" height="${boxH}" rx="8" fill="${
        COLORS[row.type] ?? "#ddd"
      }" stroke="#444"/>`,
      `<text x="${width / 2}" y="${
        y + 18
      }" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(row.name)}</text>`,
      `<text x="${width / 2}" y="${y + 34}" text-anchor="middle" font-size="11">${
        escapeXml(row.detail || row.type)
      }</text>`,
    );
    if (i > 0) {
      const y1 = yOf(i - 1);
      parts.push(
        `<line x1="${width / 2}" y1="${y1}" x2="${width / 2}" y2="${
          y + boxH + 2
        }" stroke="#444" marker-end="url(#arrow)"/>`,
        `<text x="${width / 2 + 8}" y="${(y1 + y + boxH) / 2 + 4}" font-size="11" fill="#333">${
          formatShape(rows[i - 1]!.shape)
        }</text>`,
      );
    }
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
