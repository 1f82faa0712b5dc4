/**
 * The most confident mistakes of a model, as a table and a contact sheet. On ARIES some labels
 * are doubtful (the data README counts 151 overlapping cutout pairs with different labels), and a
 * model's surest errors are where a wrong label, a neighbour in the frame or a real blind spot
 * shows first; looking at them is cheaper than any new training run.
 * @module
 */
import sharp from "sharp";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { StarmambaError } from "../util/errors.ts";
import { argmaxRows } from "../metrics/metrics.ts";
import { toCsv } from "./write.ts";

/** One misclassified image. */
export interface ErrorRow {
  /** Path relative to the data root, e.g. "galaxy/x.jpg". */
  file: string;
  /** True class name. */
  label: string;
  /** Predicted class name (the arg-max). */
  predicted: string;
  /** Probability of the predicted class. */
  confidence: number;
  /** Probability per class, in class order. */
  probs: number[];
}

/**
 * Every image whose arg-max class differs from its label, surest first (ties by file name, so
 * the order is stable). `probs` is row-major n × classNames.length.
 */
export function confidentErrors(
  files: readonly string[],
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  classNames: readonly string[],
): ErrorRow[] {
  const k = classNames.length, n = files.length;
  if (labels.length !== n || probs.length !== n * k) {
    throw new RangeError(
      `confidentErrors: ${n} files, ${labels.length} labels, ${probs.length} probabilities for ${k} classes`,
    );
  }
  const preds = argmaxRows(probs, k);
  const rows: ErrorRow[] = [];
  for (let i = 0; i < n; i++) {
    const arg = preds[i];
    if (arg === labels[i]) continue;
    const p = Array.from({ length: k }, (_, c) => probs[i * k + c]);
    rows.push({
      file: files[i],
      label: classNames[labels[i]],
      predicted: classNames[arg],
      confidence: p[arg],
      probs: p,
    });
  }
  return rows.sort((a, b) =>
    b.confidence - a.confidence || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)
  );
}

/** CSV of `rows`: file, label, predicted, confidence and one P(class) column per class. */
export function errorsCsv(rows: readonly ErrorRow[], classNames: readonly string[]): string {
  return toCsv([
    ["file", "label", "predicted", "confidence", ...classNames.map((c) => `p_${c}`)],
    ...rows.map((r) => [
      r.file,
      r.label,
      r.predicted,
      r.confidence.toFixed(6),
      ...r.probs.map((p) => p.toFixed(6)),
    ]),
  ]);
}

/** Layout of {@link errorSheetSvg}. */
export interface SheetOptions {
  /** Tiles per row (default 6). */
  columns?: number;
  /** Tile side in pixels; images are enlarged with nearest-neighbour so pixels stay sharp (default 128). */
  tile?: number;
  /** Title line above the grid. */
  title?: string;
}

const escapeXml = (s: string): string =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll(
    '"',
    "&quot;",
  );

/**
 * A contact sheet (SVG with the images embedded as PNG) of `rows`, read from `root`: each tile
 * captioned with its true label, the predicted class and its probability, and the file name.
 * The bytes depend only on the inputs.
 */
export async function errorSheetSvg(
  rows: readonly ErrorRow[],
  root: string,
  opts: SheetOptions = {},
): Promise<string> {
  const cols = opts.columns ?? 6, tile = opts.tile ?? 128;
  const capH = 34, pad = 8, titleH = opts.title ? 28 : 0;
  const cellW = tile + pad, cellH = tile + capH + pad;
  const nRows = Math.max(1, Math.ceil(rows.length / cols));
  const width = cols * cellW + pad, height = titleH + nRows * cellH + pad;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  if (opts.title) {
    parts.push(`<text x="${pad}" y="20" font-size="15">${escapeXml(opts.title)}</text>`);
  }
  for (const [i, r] of rows.entries()) {
    const x = pad + (i % cols) * cellW, y = titleH + pad + Math.floor(i / cols) * cellH;
    let png: Uint8Array;
    try {
      png = await sharp(join(root, r.file))
        .resize(tile, tile, { kernel: "nearest", fit: "fill" })
        .png({ compressionLevel: 9 })
        .toBuffer();
    } catch (e) {
      throw new StarmambaError(`${join(root, r.file)}: cannot read it for the error sheet (${e})`);
    }
    const name = r.file.split("/").pop() ?? r.file;
    const short = name.length > 24 ? `${name.slice(0, 11)}…${name.slice(-12)}` : name;
    parts.push(
      `<image x="${x}" y="${y}" width="${tile}" height="${tile}" ` +
        `href="data:image/png;base64,${Buffer.from(png).toString("base64")}"/>`,
      `<text x="${x}" y="${y + tile + 14}" font-size="12">${escapeXml(r.label)} → ${
        escapeXml(r.predicted)
      } ${r.confidence.toFixed(2)}</text>`,
      `<text x="${x}" y="${y + tile + 28}" font-size="9" fill="#555">${escapeXml(short)}</text>`,
    );
  }
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
