/**
 * The picture an astronomer looks at first: a frame as a grey PNG (asinh or zscale stretch) with
 * its classified sources circled in their class colours (the colours of the DS9 regions,
 * regions.ts) and a legend with the count of each class. `deno task classify` writes
 * `<frame>.png` with it.
 *
 * Orientation is FITS's as DS9 shows it: row 1 (FITS y = 1, array row 0) at the bottom, x to the
 * right. Frames larger than `maxSide` (default 2048) are reduced by an integer factor f (the
 * smallest with both sides ≤ maxSide) by the mean of each f×f block's non-blank pixels; a block
 * with none is blank. Blank (NaN) pixels are drawn in {@link BLANK_COLOR}. The stretch is
 * lib/data/stretch.ts's (astropy's ZScaleInterval, or PercentileInterval + AsinhStretch),
 * computed on the reduced image. {@link previewAccumulator} builds the reduced image from bands
 * of rows, so a streamed frame never sits in memory at full size; {@link framePreview} is the
 * whole-frame shortcut.
 * @module
 */
import { Buffer } from "node:buffer";
import sharp from "sharp";
import { applyStretch, type StretchOptions } from "../data/stretch.ts";
import { StarmambaError } from "../util/errors.ts";
import { classColor } from "./regions.ts";

/** Colour of blank (NaN) pixels: a purple no stretch of grey produces. */
export const BLANK_COLOR = "#6A3D9A";

/** A source to circle: FITS 1-based pixel position, class, probability. */
export interface PreviewSource {
  /** FITS pixel x (1-based, column; as Source Extractor's X_IMAGE). */
  x: number;
  /** FITS pixel y (1-based, row counted from the bottom; Y_IMAGE). */
  y: number;
  /** Class name; its colour is {@link classColor}'s. */
  cls: string;
  /** Probability (not drawn; kept so callers can pass their catalogue rows). */
  p: number;
}

/** Options of {@link framePreview} and {@link PreviewAccumulator.render}. */
export interface PreviewOptions {
  /** "asinh": PercentileInterval(percentile) + AsinhStretch(asinhA); "zscale": IRAF's zscale. */
  stretch: "asinh" | "zscale";
  /** Longest side of the picture in pixels (framePreview only; default 2048). */
  maxSide?: number;
  /** Circle radius in frame pixels (default 8); at least 2.5 picture pixels are drawn. */
  radius?: number;
  /** Colours by class, "#rrggbb", as for the DS9 regions. */
  colors?: Record<string, string>;
  /** asinh: share of pixels kept by the interval (default 99.5). */
  percentile?: number;
  /** asinh: AsinhStretch a (default 0.1). */
  asinhA?: number;
  /** zscale: contrast (default 0.25). */
  contrast?: number;
  /** Draw the legend in the top-left corner (default true). */
  legend?: boolean;
}

/** Builds a frame's reduced image from bands of rows; renders it as a PNG. */
export interface PreviewAccumulator {
  /** Reduction factor f: picture pixel (i, j) is the mean of frame pixels [f·i, f·i + f). */
  readonly factor: number;
  /** Picture width, ⌈width / f⌉. */
  readonly previewWidth: number;
  /** Picture height, ⌈height / f⌉. */
  readonly previewHeight: number;
  /**
   * Adds rows y0 … y0 + rows − 1 (0-based array rows; row 0 is FITS y = 1), `data` row-major
   * with the frame's width (a FitsFrame.readRows band: `add(band.y0, band.data, band.rows)`).
   * Each row may be added once; rows never added stay blank.
   */
  add(y0: number, data: ArrayLike<number>, rows?: number): void;
  /** The reduced image, row-major from the bottom row (array order); NaN where blank. */
  image(): Float32Array;
  /** The PNG of the reduced image with `sources` circled (opts.maxSide is ignored here). */
  render(sources: readonly PreviewSource[], opts: PreviewOptions): Promise<Uint8Array>;
}

/**
 * A PNG preview of a whole frame in memory: grey by the chosen stretch, FITS row 1 at the
 * bottom, blank pixels in {@link BLANK_COLOR}, sources circled in their class colours.
 * @param pixels row-major, `width × height`, element `(y − 1) · width + (x − 1)` = FITS (x, y).
 * @param width frame width (NAXIS1).
 * @param height frame height (NAXIS2).
 * @param sources sources to circle, FITS 1-based pixel positions.
 * @param opts stretch, maxSide (default 2048), radius, colours, legend.
 * @returns the PNG file's bytes.
 * @throws {StarmambaError} for a bad size, maxSide or colour.
 * @example
 * ```ts
 * // A 64×48 frame: sky 100 with noise, one blob; with a FitsFrame use
 * // frame.readRows(0, frame.height).data.
 * const pixels = Float32Array.from({ length: 64 * 48 }, (_, i) => 100 + ((i * 7919) % 13));
 * pixels[20 * 64 + 30] = 900; // FITS (31, 21)
 * const png = await framePreview(pixels, 64, 48, [{ x: 31, y: 21, cls: "star", p: 0.1 }], {
 *   stretch: "zscale",
 *   radius: 4,
 * });
 * // png holds a 64×48 PNG (writeFileAtomic("frame.png", png))
 * ```
 */
export function framePreview(
  pixels: ArrayLike<number>,
  width: number,
  height: number,
  sources: readonly PreviewSource[],
  opts: PreviewOptions,
): Promise<Uint8Array> {
  const acc = previewAccumulator(width, height, opts.maxSide ?? 2048);
  acc.add(0, pixels, height);
  return acc.render(sources, opts);
}

/**
 * A reduced image of a `width × height` frame built band by band, for frames streamed with
 * FitsFrame.readRows: holds only the reduced picture (≤ maxSide² float64 sums and counts, 40 MB at 2048).
 * @param width frame width (NAXIS1).
 * @param height frame height (NAXIS2).
 * @param maxSide longest side of the picture (default 2048).
 * @throws {StarmambaError} for a non-positive-integer size or maxSide.
 * @example
 * ```ts
 * // With a FitsFrame: for each band = frame.readRows(y0, y1): acc.add(band.y0, band.data,
 * // band.rows). Here a 5000×300 frame arrives in bands of 100 rows.
 * const acc = previewAccumulator(5000, 300, 2048); // factor 3: a 1667×100 picture
 * for (let y0 = 0; y0 < 300; y0 += 100) {
 *   acc.add(y0, new Float32Array(100 * 5000).fill(y0), 100);
 * }
 * const png = await acc.render([{ x: 2500, y: 150, cls: "galaxy", p: 0.8 }], {
 *   stretch: "asinh",
 * });
 * ```
 */
export function previewAccumulator(
  width: number,
  height: number,
  maxSide = 2048,
): PreviewAccumulator {
  for (const [name, v] of [["width", width], ["height", height], ["maxSide", maxSide]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new StarmambaError(`preview: ${name} must be a positive integer, got ${v}.`);
    }
  }
  const factor = Math.ceil(Math.max(width, height) / maxSide);
  const pw = Math.ceil(width / factor), ph = Math.ceil(height / factor);
  // Float64 sums keep a faint block beside a bright star exact enough; 16-bit counts suffice up
  // to f = 255 (65,025 pixels a block).
  const sums = new Float64Array(pw * ph);
  const counts = factor <= 255 ? new Uint16Array(pw * ph) : new Uint32Array(pw * ph);
  const seen = new Uint8Array(height);
  const image = (): Float32Array => {
    const out = new Float32Array(pw * ph);
    for (let i = 0; i < out.length; i++) out[i] = counts[i] > 0 ? sums[i] / counts[i] : NaN;
    return out;
  };
  return {
    factor,
    previewWidth: pw,
    previewHeight: ph,
    add(y0, data, rows = Math.floor(data.length / width)) {
      checkBand(y0, rows, data.length, width, height, seen);
      for (let r = 0; r < rows; r++) {
        const base = Math.floor((y0 + r) / factor) * pw, src = r * width;
        for (let x = 0; x < width; x++) {
          const v = data[src + x];
          // Blank pixels (NaN, and ±Inf as readRows blanks them) stay out of the block mean.
          if (!Number.isFinite(v)) continue;
          const i = base + Math.floor(x / factor);
          sums[i] += v;
          counts[i]++;
        }
      }
    },
    image,
    render: (sources, opts) => renderPreview(image(), pw, ph, factor, sources, opts),
  };
}

/** Refuses a band outside the frame, shorter than it claims, or holding a row already added. */
function checkBand(
  y0: number,
  rows: number,
  length: number,
  width: number,
  height: number,
  seen: Uint8Array,
): void {
  if (!Number.isInteger(y0) || !Number.isInteger(rows) || y0 < 0 || rows < 0) {
    throw new Error(`preview: band y0=${y0}, rows=${rows} must be non-negative integers`);
  }
  if (y0 + rows > height || length < rows * width) {
    throw new Error(
      `preview: band of ${rows} rows at y0=${y0} (${length} values) does not fit a ` +
        `${width}×${height} frame`,
    );
  }
  for (let r = y0; r < y0 + rows; r++) {
    if (seen[r]) throw new Error(`preview: row ${r} was added twice`);
    seen[r] = 1;
  }
}

/** Stretch → grey RGB flipped to FITS orientation → circles and legend → PNG. */
async function renderPreview(
  image: Float32Array,
  pw: number,
  ph: number,
  factor: number,
  sources: readonly PreviewSource[],
  opts: PreviewOptions,
): Promise<Uint8Array> {
  const grey = applyStretch(image, stretchOptions(opts), image);
  const rgb = greyToRgb(grey, pw, ph);
  const svg = overlaySvg(sources, pw, ph, factor, opts, grey.some(Number.isNaN));
  const png = await sharp(rgb, { raw: { width: pw, height: ph, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .png({ compressionLevel: 6 })
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.length);
}

/** lib/data/stretch.ts options for the preview's stretch. */
function stretchOptions(opts: PreviewOptions): StretchOptions {
  if (opts.stretch !== "asinh" && opts.stretch !== "zscale") {
    throw new StarmambaError(`preview: stretch must be asinh or zscale, got "${opts.stretch}".`);
  }
  return {
    stretch: opts.stretch,
    percentile: opts.percentile ?? 99.5,
    asinh_a: opts.asinhA ?? 0.1,
    zscale_contrast: opts.contrast ?? 0.25,
    zscale_samples: 1000,
  };
}

/** [0, 1] values (array order, bottom row first) as 8-bit RGB rows from the top; NaN → blank. */
function greyToRgb(grey: Float32Array, pw: number, ph: number): Buffer {
  const blank = hexRgb(BLANK_COLOR);
  const out = Buffer.alloc(pw * ph * 3);
  for (let j = 0; j < ph; j++) {
    // Picture row j (from the top) shows array row ph − 1 − j: FITS row 1 ends up at the bottom.
    const src = (ph - 1 - j) * pw;
    for (let i = 0; i < pw; i++) {
      const v = grey[src + i], o = 3 * (j * pw + i);
      if (Number.isNaN(v)) out.set(blank, o);
      else out.fill(Math.round(v * 255), o, o + 3);
    }
  }
  return out;
}

/** "#rrggbb" → [r, g, b]. */
function hexRgb(hex: string): number[] {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

/**
 * The SVG drawn over the picture: a circle per source at its FITS position, then the legend.
 * FITS pixel (x, y) has its centre at array position (x − 0.5, y − 0.5) in pixel-edge units,
 * i.e. picture position ((x − 0.5) / f, ph − (y − 0.5) / f).
 */
function overlaySvg(
  sources: readonly PreviewSource[],
  pw: number,
  ph: number,
  factor: number,
  opts: PreviewOptions,
  hasBlank: boolean,
): string {
  const r = Math.max((opts.radius ?? 8) / factor, 2.5);
  const stroke = Math.max(1, Math.round(Math.max(pw, ph) / 1024));
  const circles = sources.map((s) => {
    const cx = (s.x - 0.5) / factor, cy = ph - (s.y - 0.5) / factor;
    return `<circle cx="${num(cx)}" cy="${num(cy)}" r="${num(r)}" ` +
      `stroke="${classColor(s.cls, opts.colors)}"/>`;
  });
  const legend = opts.legend === false ? "" : legendSvg(sources, pw, ph, opts, hasBlank);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${pw}" height="${ph}">` +
    `<g fill="none" stroke-width="${stroke}" shape-rendering="crispEdges">${circles.join("")}</g>` +
    `${legend}</svg>`;
}

/** The legend: one swatch and "class count" line per class (sorted), and "blank" if any. */
function legendSvg(
  sources: readonly PreviewSource[],
  pw: number,
  ph: number,
  opts: PreviewOptions,
  hasBlank: boolean,
): string {
  const counts = new Map<string, number>();
  for (const s of sources) counts.set(s.cls, (counts.get(s.cls) ?? 0) + 1);
  const rows = [...counts.keys()].sort().map((c) => ({
    text: `${c} ${counts.get(c)}`,
    swatch: `<circle cx="0" cy="0" r="0.3" fill="none" stroke-width="0.12" ` +
      `stroke="${classColor(c, opts.colors)}"/>`,
  }));
  if (hasBlank) {
    rows.push({
      text: "blank",
      swatch: `<rect x="-0.3" y="-0.3" width="0.6" height="0.6" fill="${BLANK_COLOR}"/>`,
    });
  }
  if (rows.length === 0) return "";
  // Font size in picture pixels: readable on a 2048 picture, not overwhelming a small one.
  const fs = Math.min(24, Math.max(9, Math.round(Math.max(pw, ph) / 60)));
  const width = Math.max(...rows.map((r) => r.text.length)) * 0.62 + 1.6;
  const items = rows.map((r, k) =>
    `<g transform="translate(0.6 ${num(0.8 + 1.3 * k)})">${r.swatch}` +
    `<text x="0.7" y="0.35" font-size="1" fill="#ffffff">${escapeXml(r.text)}</text></g>`
  );
  return `<g transform="translate(4 4) scale(${fs})" font-family="DejaVu Sans, sans-serif">` +
    `<rect width="${num(width)}" height="${num(1.3 * rows.length + 0.2)}" fill="#000000" ` +
    `fill-opacity="0.6"/>${items.join("")}</g>`;
}

/** A coordinate for SVG: 3 decimals, no trailing zeros. */
function num(x: number): string {
  return String(Math.round(x * 1000) / 1000);
}

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}
