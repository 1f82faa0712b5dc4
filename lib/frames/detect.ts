/**
 * Source detection on a telescope frame, as Source Extractor (Bertin & Arnouts 1996) and SEP
 * (Barbary 2016, `sep.extract`) do it, so a catalogue built here lists the sources those tools
 * list, at the same positions (checked against SEP in tests/detect_test.ts):
 *
 * 1. Background and RMS: {@link measureBackground} (lib/frames/background.ts), subtracted row by row.
 * 2. Filtering: the background-subtracted frame is convolved with a kernel normalised by the sum
 *    of its absolute values — by default SEP's 3 × 3 [[1,2,1],[2,4,2],[1,2,1]] — with zeros
 *    outside the frame and at blank pixels. With a per-pixel RMS map and `filterType: "matched"`
 *    (SEP's default for a noise array) detection uses the matched filter
 *    Σ kᵢ fᵢ / σᵢ² / √(Σ kᵢ² / σᵢ²) against `thresh` instead.
 * 3. Thresholding: a pixel is "on" when its filtered value exceeds thresh·σ (σ the global RMS, a
 *    number given, or the RMS map at that pixel) and it is not blank. Blank pixels (NaN, ±Inf, or
 *    in `mask`) are never part of a source.
 * 4. Segments: 8-connected "on" pixels (runs per row, joined with a union–find), kept when they
 *    have ≥ `minarea` pixels.
 * 5. Deblending (SExtractor's multi-threshold method): between the segment's threshold t₀ and its
 *    filtered peak, `deblendNthresh` − 1 levels tₖ = t₀ (peak/t₀)^(k/N); at each level the
 *    8-connected parts with ≥ min(minarea, 3) pixels form a tree. A node with two or more branches
 *    whose filtered flux above their level, Σ(c − tₖ), exceeds `deblendCont` × the segment's
 *    filtered flux splits; the branches (and deeper splits) become sources flagged
 *    {@link FLAG_BLENDED}, and the segment's remaining pixels go to the branch whose elliptical
 *    Gaussian (from its moments, as SExtractor models it) is largest there. (SEP draws that owner
 *    at random with those weights; here the largest wins, so pixel ownership — not the source list
 *    or the branch positions — can differ.)
 * 6. Measurement: barycentre (first moments of the filtered values over the source's pixels, as
 *    SEP's x, y; a deblended source keeps its branch's barycentre), flux (sum of the
 *    background-subtracted values), peak, second moments and the ellipse a, b, θ.
 * 7. Cleaning (SExtractor CLEAN, `cleanParam` β = 1): a source is dropped when the Moffat-like
 *    wings of a brighter neighbour, extrapolated from the neighbour's moments, would by themselves
 *    put its `minarea`-th brightest pixel above the threshold.
 *
 * Coordinates in {@link DetectedSource} are FITS 1-based (SEP's x + 1): the centre of the first
 * pixel is (1, 1), row 1 is the frame's first row.
 *
 * Differences from SEP: blank pixels are never part of a source (SEP sets masked pixels to 0 but
 * lets them join a segment through the filtered image); deblending assigns leftover pixels to
 * the most probable branch instead of drawing one at random; with an RMS map the deblending
 * threshold t₀ is that at the segment's filtered peak (SEP: at the pixel where its scan finishes
 * the segment).
 * @module
 */
import { StarmambaError } from "../util/errors.ts";
import {
  type BackgroundMap,
  type BackgroundOptions,
  backgroundRow,
  measureBackground,
  rowScratch,
} from "./background.ts";

/** Source was deblended from a larger segment (SEP `OBJ_MERGED`). */
export const FLAG_BLENDED = 1;
/** Source touches the frame's border, or comes within `edgeMargin` pixels of it (SEP `OBJ_TRUNC`). */
export const FLAG_EDGE = 2;
/** Its x and y moments were fully correlated (a line of pixels; SEP `OBJ_SINGU`). */
export const FLAG_SINGULAR = 8;
/** A pixel reached `saturate`. */
export const FLAG_SATURATED = 16;
/** A pixel of the source, or one of its 8 neighbours, is blank. */
export const FLAG_BLANK = 32;

/** A convolution kernel, row-major. */
export interface Kernel {
  /** Columns. */
  width: number;
  /** Rows. */
  height: number;
  /** width × height values, row-major. */
  values: ArrayLike<number>;
}

/** SEP's (and SExtractor's default.conv) 3 × 3 detection kernel, a pyramid ~ a 2-pixel PSF. */
export const DEFAULT_KERNEL: Kernel = {
  width: 3,
  height: 3,
  values: [1, 2, 1, 2, 4, 2, 1, 2, 1],
};

/** Options of {@link detectSources}; the defaults are SEP's. */
export interface DetectOptions {
  /** Detection threshold in units of the RMS (SExtractor DETECT_THRESH). Default 1.5. */
  thresh?: number;
  /**
   * The σ the threshold multiplies: "global" (default) the background's global RMS (a constant
   * threshold, as `sep.extract(data, thresh, err=bkg.globalrms)`), "map" the per-pixel RMS map
   * (`err=bkg.rms()`), or a number.
   */
  rms?: "global" | "map" | number;
  /** Detection kernel; null for none. Default {@link DEFAULT_KERNEL}. */
  filterKernel?: Kernel | null;
  /** With `rms: "map"`: "matched" (default, as SEP) or plain "conv". Otherwise the same thing. */
  filterType?: "matched" | "conv";
  /** Minimum pixels of a source (DETECT_MINAREA). Default 5. */
  minarea?: number;
  /** Deblending levels (DEBLEND_NTHRESH). Default 32. */
  deblendNthresh?: number;
  /** Deblending minimum contrast (DEBLEND_MINCONT); 1 turns deblending off. Default 0.005. */
  deblendCont?: number;
  /** Remove spurious detections in bright sources' wings (CLEAN). Default true. */
  clean?: boolean;
  /** CLEAN_PARAM. Default 1. */
  cleanParam?: number;
  /** Pixel value (before background subtraction) at which the detector saturates; none if absent. */
  saturate?: number;
  /** {@link FLAG_EDGE} also within this many pixels of the border. Default 0 (touching only). */
  edgeMargin?: number;
  /** Background options, or a background already measured on this frame. */
  background?: BackgroundOptions | BackgroundMap;
  /** Extra blank pixels (non-zero = blank); NaN and ±Inf pixels are always blank. */
  mask?: Uint8Array;
  /** Also return the segmentation map. Default false. */
  segmentation?: boolean;
}

/** One detected source. Positions are FITS 1-based pixel coordinates. */
export interface DetectedSource {
  /** Barycentre (SEP x + 1, y + 1; SExtractor X_IMAGE, Y_IMAGE). */
  x: number;
  /** See `x`. */
  y: number;
  /** Sum of background-subtracted values over its pixels (SEP flux, FLUX_ISO). */
  flux: number;
  /** Sum of filtered values (SEP cflux). */
  cflux: number;
  /** Highest background-subtracted value (SEP peak) and where (1-based). */
  peak: number;
  /** Column of the peak (1-based). */
  xpeak: number;
  /** Row of the peak (1-based). */
  ypeak: number;
  /** Highest filtered value (SEP cpeak). */
  cpeak: number;
  /** Pixels (SEP npix, ISOAREA). */
  npix: number;
  /** Pixels whose unfiltered value is above the threshold (SEP tnpix). */
  tnpix: number;
  /** Bounding box, 1-based inclusive. */
  xmin: number;
  /** See `xmin`. */
  xmax: number;
  /** See `xmin`. */
  ymin: number;
  /** See `xmin`. */
  ymax: number;
  /** Second moment along x (pixels², SEP x2); with y2 and xy it gives the ellipse a, b, θ. */
  x2: number;
  /** Second moment along y (pixels², SEP y2). */
  y2: number;
  /** Cross moment (pixels², SEP xy). */
  xy: number;
  /** Semi-major axis (pixels, SEP a). */
  a: number;
  /** Semi-minor axis (pixels, SEP b). */
  b: number;
  /** Position angle of `a`, radians counter-clockwise from +x (SEP theta). */
  theta: number;
  /** The absolute threshold the source was found at. */
  thresh: number;
  /** FLAG_* bits. */
  flags: number;
}

/** What {@link detectSources} returns. */
export interface Detection {
  /** The sources found, in SEP's order. */
  sources: DetectedSource[];
  /** The background and RMS mesh that was subtracted. */
  background: BackgroundMap;
  /** The σ the threshold multiplied (the global RMS unless `rms` was a number); NaN for "map". */
  rms: number;
  /** Pixels that were blank (NaN, ±Inf or masked). */
  blankPixels: number;
  /** Per pixel 0, or i + 1 for pixels of `sources[i]` (when asked for). */
  segmentation?: Int32Array;
}

/** Growable typed-array columns of the "on" pixels, in scan order. */
class PixelList {
  x = new Int32Array(1 << 16);
  y = new Int32Array(1 << 16);
  /** Background-subtracted value. */
  v = new Float32Array(1 << 16);
  /** Filtered value. */
  c = new Float32Array(1 << 16);
  /** Absolute threshold at the pixel. */
  t = new Float32Array(1 << 16);
  n = 0;
  /** Makes room for `more` pixels. */
  reserve(more: number): void {
    if (this.n + more <= this.x.length) return;
    let cap = this.x.length;
    while (cap < this.n + more) cap *= 2;
    const grow = <T extends Int32Array | Float32Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a.subarray(0, this.n));
      return b;
    };
    this.x = grow(this.x, (k) => new Int32Array(k));
    this.y = grow(this.y, (k) => new Int32Array(k));
    this.v = grow(this.v, (k) => new Float32Array(k));
    this.c = grow(this.c, (k) => new Float32Array(k));
    this.t = grow(this.t, (k) => new Float32Array(k));
  }
}

/** Runs of "on" pixels and the union–find that joins them into segments. */
class RunList {
  y = new Int32Array(1 << 14);
  x0 = new Int32Array(1 << 14);
  x1 = new Int32Array(1 << 14);
  /** Index of the run's first pixel in the {@link PixelList}. */
  p0 = new Int32Array(1 << 14);
  parent = new Int32Array(1 << 14);
  n = 0;
  /** Appends a run; returns its index. */
  push(y: number, x0: number, x1: number, p0: number): number {
    if (this.n === this.y.length) {
      const cap = this.n * 2;
      const grow = (a: Int32Array): Int32Array<ArrayBuffer> => {
        const b = new Int32Array(cap);
        b.set(a);
        return b;
      };
      this.y = grow(this.y);
      this.x0 = grow(this.x0);
      this.x1 = grow(this.x1);
      this.p0 = grow(this.p0);
      this.parent = grow(this.parent);
    }
    const i = this.n++;
    this.y[i] = y;
    this.x0[i] = x0;
    this.x1[i] = x1;
    this.p0[i] = p0;
    this.parent[i] = i;
    return i;
  }
  /** Root of run `i` (path halving). */
  find(i: number): number {
    const p = this.parent;
    while (p[i] !== i) {
      p[i] = p[p[i]];
      i = p[i];
    }
    return i;
  }
  /** Joins the segments of runs `a` and `b`; the earlier run's root wins. */
  union(a: number, b: number): void {
    const ra = this.find(a), rb = this.find(b);
    if (ra < rb) this.parent[rb] = ra;
    else if (rb < ra) this.parent[ra] = rb;
  }
}

/** Validated settings. */
interface Settings {
  thresh: number;
  minarea: number;
  nthresh: number;
  mincont: number;
  clean: boolean;
  cleanParam: number;
  saturate: number;
  edgeMargin: number;
  kernel: FilterKernel | null;
  matched: boolean;
  rmsMode: "global" | "map" | "value";
  rmsValue: number;
}

/** Checks the options; one-line errors that name the option. */
function settings(opts: DetectOptions): Settings {
  const num = (name: string, v: number, ok: (v: number) => boolean, want: string): number => {
    if (typeof v !== "number" || !ok(v)) {
      throw new StarmambaError(`detect: ${name} = ${v} is not valid; use ${want}`);
    }
    return v;
  };
  const thresh = num("thresh", opts.thresh ?? 1.5, (v) => v > 0 && isFinite(v), "a number > 0");
  const minarea = num(
    "minarea",
    opts.minarea ?? 5,
    (v) => Number.isInteger(v) && v >= 1,
    "an integer ≥ 1",
  );
  const nthresh = num(
    "deblendNthresh",
    opts.deblendNthresh ?? 32,
    (v) => Number.isInteger(v) && v >= 1,
    "an integer ≥ 1",
  );
  const mincont = num(
    "deblendCont",
    opts.deblendCont ?? 0.005,
    (v) => v >= 0 && v <= 1,
    "a number in [0, 1]",
  );
  const cleanParam = num(
    "cleanParam",
    opts.cleanParam ?? 1,
    (v) => v > 0 && isFinite(v),
    "a number > 0",
  );
  const edgeMargin = num(
    "edgeMargin",
    opts.edgeMargin ?? 0,
    (v) => Number.isInteger(v) && v >= 0,
    "an integer ≥ 0",
  );
  const saturate = opts.saturate === undefined
    ? Infinity
    : num("saturate", opts.saturate, (v) => !isNaN(v), "a number");
  const given: Kernel | null = opts.filterKernel === undefined ? DEFAULT_KERNEL : opts.filterKernel;
  let kernel: FilterKernel | null = null;
  if (given) {
    const { width, height, values } = given;
    let sum = 0;
    for (let i = 0; i < values.length; i++) sum += Math.abs(values[i]);
    if (
      !Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 ||
      values.length !== width * height || !(sum > 0) || !isFinite(sum)
    ) {
      throw new StarmambaError(
        `detect: filterKernel must be width × height finite values, not all zero ` +
          `(got ${width} × ${height} with ${values.length} values); pass null for no filtering`,
      );
    }
    // Normalised by the sum of absolute values, as SEP does.
    kernel = { width, height, values: Float64Array.from(values, (v) => v / sum) };
  }
  const rms = opts.rms ?? "global";
  let rmsMode: Settings["rmsMode"];
  let rmsValue = NaN;
  if (rms === "global" || rms === "map") rmsMode = rms;
  else if (typeof rms === "number" && rms > 0 && isFinite(rms)) {
    rmsMode = "value";
    rmsValue = rms;
  } else {
    throw new StarmambaError(
      `detect: rms = ${rms} is not valid; use "global", "map" or a number > 0`,
    );
  }
  const filterType = opts.filterType ?? "matched";
  if (filterType !== "matched" && filterType !== "conv") {
    throw new StarmambaError(
      `detect: filterType = ${filterType} is not valid; use "matched" or "conv"`,
    );
  }
  return {
    thresh,
    minarea,
    nthresh,
    mincont,
    clean: opts.clean ?? true,
    cleanParam,
    saturate,
    edgeMargin,
    kernel,
    matched: kernel !== null && rmsMode === "map" && filterType === "matched",
    rmsMode,
    rmsValue,
  };
}

/** True when the background option is an already measured map. */
function isMap(b: BackgroundOptions | BackgroundMap | undefined): b is BackgroundMap {
  return b !== undefined && (b as BackgroundMap).back instanceof Float64Array;
}

/**
 * Filters one row: out[x] = Σ k[cy][cx] · rows[cy][x + cx] (of k², with `square`), the rows padded
 * so that index x + cx is pixel x + cx − kx (zeros beyond the frame). A separable kernel (as the
 * default [1 2 1]ᵀ[1 2 1] is) runs as a column pass into `tmp`, then a row pass.
 */
function filterRow(
  rows: Float32Array[],
  kernel: FilterKernel,
  out: Float32Array,
  width: number,
  tmp: Float64Array,
  square = false,
): void {
  const { width: kw, height: kh } = kernel;
  const sq = (c: number): number => (square ? c * c : c);
  if (kernel.col && kernel.row) {
    const col = kernel.col, row = kernel.row, padded = width + kw - 1;
    tmp.fill(0, 0, padded);
    for (let cy = 0; cy < kh; cy++) {
      const c = sq(col[cy]), r = rows[cy];
      if (c === 0) continue;
      for (let i = 0; i < padded; i++) tmp[i] += c * r[i];
    }
    if (kw === 3) {
      const r0 = sq(row[0]), r1 = sq(row[1]), r2 = sq(row[2]);
      for (let x = 0; x < width; x++) out[x] = r0 * tmp[x] + r1 * tmp[x + 1] + r2 * tmp[x + 2];
    } else {
      for (let x = 0; x < width; x++) {
        let acc = 0;
        for (let cx = 0; cx < kw; cx++) acc += sq(row[cx]) * tmp[x + cx];
        out[x] = acc;
      }
    }
    return;
  }
  const k = kernel.values;
  for (let x = 0; x < width; x++) {
    let acc = 0;
    for (let cy = 0; cy < kh; cy++) {
      const r = rows[cy];
      for (let cx = 0; cx < kw; cx++) acc += sq(k[cy * kw + cx]) * r[x + cx];
    }
    out[x] = acc;
  }
}

/** A normalised kernel, with its column and row factors when it is separable (k = col ⊗ row). */
interface FilterKernel {
  width: number;
  height: number;
  values: Float64Array;
  col?: Float64Array;
  row?: Float64Array;
}

/** Splits `k` into col ⊗ row when it is (to 1e-12 relative) an outer product. */
function separable(k: FilterKernel): FilterKernel {
  const { width: kw, height: kh, values } = k;
  // Pivot on the largest element: row = its row, col = its column / pivot.
  let pi = 0;
  for (let i = 1; i < values.length; i++) if (Math.abs(values[i]) > Math.abs(values[pi])) pi = i;
  const py = Math.floor(pi / kw), px = pi % kw, pivot = values[pi];
  const row = values.slice(py * kw, py * kw + kw);
  const col = Float64Array.from({ length: kh }, (_, cy) => values[cy * kw + px] / pivot);
  for (let cy = 0; cy < kh; cy++) {
    for (let cx = 0; cx < kw; cx++) {
      if (Math.abs(col[cy] * row[cx] - values[cy * kw + cx]) > 1e-12 * Math.abs(pivot)) return k;
    }
  }
  return { ...k, col, row };
}

/**
 * Scans the frame row by row: background subtraction, filtering, thresholding, runs and their
 * 8-connected union. Returns the "on" pixels and runs, and the blank pixel count.
 */
function scanFrame(
  data: Float32Array,
  width: number,
  height: number,
  mask: Uint8Array | undefined,
  map: BackgroundMap,
  s: Settings,
  sigma: number,
): { pixels: PixelList; runs: RunList; blank: number } {
  const pixels = new PixelList(), runs = new RunList();
  const kernel = separable(
    s.kernel ?? { width: 1, height: 1, values: Float64Array.of(1) },
  );
  const kw = kernel.width, kh = kernel.height;
  // Row y's filter needs rows y − ky … y − ky + kh − 1: the scan runs `lag` rows ahead.
  const kx = kw >> 1, ky = kh >> 1, lag = kh - 1 - ky;
  // Ring buffers of the last kh rows, padded by kx on the left and kw − 1 − kx on the right:
  // background-subtracted values (0 at blank pixels), blank flags, and for the matched filter
  // 1/σ² and value/σ². Rows beyond the frame read as zeros, as SEP cuts the kernel there.
  const padded = width + kw - 1;
  const ring = (): Float32Array[] => Array.from({ length: kh }, () => new Float32Array(padded));
  const sub = ring(), ivar = s.matched ? ring() : [], wsub = s.matched ? ring() : [];
  const blankRows = Array.from({ length: kh }, () => new Uint8Array(width));
  const zero = new Float32Array(padded);
  const needRms = s.rmsMode === "map";
  const rmsRows = needRms ? Array.from({ length: kh }, () => new Float32Array(width)) : [];
  const backLine = new Float32Array(width);
  const on = new Uint8Array(width);
  const conv = new Float32Array(width), den = new Float32Array(width);
  const num = new Float32Array(width), tmp = new Float64Array(padded);
  const rows: Float32Array[] = new Array(kh), irows: Float32Array[] = new Array(kh);
  const wrows: Float32Array[] = new Array(kh);
  const scratch = rowScratch(map);
  const absThresh = s.thresh * sigma;
  let blank = 0;
  let prevStart = 0, prevEnd = 0; // runs of the previous row
  for (let yy = 0; yy < height + lag; yy++) {
    if (yy < height) {
      // Row yy into the rings.
      const slot = yy % kh;
      const row = sub[slot], isBlankRow = blankRows[slot];
      backgroundRow(map, yy, backLine, "back", scratch);
      const off = yy * width;
      for (let x = 0; x < width; x++) {
        const v = data[off + x];
        if (v - v !== 0 || (mask !== undefined && mask[off + x] !== 0)) {
          row[x + kx] = 0;
          isBlankRow[x] = 1;
          blank++;
        } else {
          row[x + kx] = v - backLine[x];
          isBlankRow[x] = 0;
        }
      }
      if (needRms) {
        const r = rmsRows[slot];
        backgroundRow(map, yy, r, "rms", scratch);
        if (s.matched) {
          const iv = ivar[slot], ws = wsub[slot];
          for (let x = 0; x < width; x++) {
            const w = isBlankRow[x] || !(r[x] > 0) ? 0 : 1 / (r[x] * r[x]);
            iv[x + kx] = w;
            ws[x + kx] = w * row[x + kx];
          }
        }
      }
    }
    const y = yy - lag;
    if (y < 0) continue;
    // Filtered row y.
    for (let cy = 0; cy < kh; cy++) {
      const sy = y - ky + cy, inside = sy >= 0 && sy < height;
      rows[cy] = inside ? sub[sy % kh] : zero;
      if (s.matched) {
        irows[cy] = inside ? ivar[sy % kh] : zero;
        wrows[cy] = inside ? wsub[sy % kh] : zero;
      }
    }
    filterRow(rows, kernel, conv, width, tmp);
    if (s.matched) {
      filterRow(wrows, kernel, num, width, tmp);
      filterRow(irows, kernel, den, width, tmp, true);
    }
    const cur = sub[y % kh], isBlankRow = blankRows[y % kh];
    // Threshold: "on" pixels of row y (never a blank one).
    const rmsRow = needRms ? rmsRows[y % kh] : null;
    const thresh = s.thresh;
    if (s.matched) {
      for (let x = 0; x < width; x++) {
        on[x] = isBlankRow[x] === 0 && num[x] / Math.sqrt(den[x]) > thresh ? 1 : 0;
      }
    } else if (rmsRow) {
      for (let x = 0; x < width; x++) {
        on[x] = isBlankRow[x] === 0 && conv[x] > thresh * rmsRow[x] ? 1 : 0;
      }
    } else {
      for (let x = 0; x < width; x++) on[x] = conv[x] > absThresh && isBlankRow[x] === 0 ? 1 : 0;
    }
    // Runs of row y, each joined to the runs of row y − 1 it touches (8-connectivity: overlap of
    // [x0 − 1, x1 + 1]).
    const rowStart = runs.n;
    let x = 0;
    while (x < width) {
      while (x < width && on[x] === 0) x++;
      if (x === width) break;
      const x0 = x;
      while (x < width && on[x] === 1) x++;
      const n = x - x0;
      pixels.reserve(n);
      const p0 = pixels.n;
      for (let k = 0; k < n; k++) {
        const xx = x0 + k, p = p0 + k;
        pixels.x[p] = xx;
        pixels.y[p] = y;
        pixels.v[p] = cur[xx + kx];
        pixels.c[p] = conv[xx];
        pixels.t[p] = rmsRow ? s.thresh * rmsRow[xx] : absThresh;
      }
      pixels.n += n;
      const r = runs.push(y, x0, x - 1, p0);
      while (prevStart < prevEnd && runs.x1[prevStart] < x0 - 1) prevStart++;
      for (let q = prevStart; q < prevEnd && runs.x0[q] <= x; q++) runs.union(r, q);
    }
    prevStart = rowStart;
    prevEnd = runs.n;
  }
  return { pixels, runs, blank };
}

/** The segments (≥ minarea pixels): their pixel indices, concatenated, in completion order. */
interface Segments {
  /** Pixel indices (into the {@link PixelList}), segment after segment, each in scan order. */
  idx: Int32Array;
  /** Segment s is idx[start[s] .. start[s + 1]). */
  start: Int32Array;
  count: number;
}

/**
 * Groups the runs' pixels by segment and keeps segments of ≥ `minarea` pixels, ordered as SEP
 * finishes them: by their last row, then by where their last run ends.
 */
function segments(runs: RunList, minarea: number, width: number): Segments {
  const nr = runs.n;
  const size = new Int32Array(nr), last = new Int32Array(nr).fill(-1);
  for (let r = 0; r < nr; r++) {
    const root = runs.find(r);
    size[root] += runs.x1[r] - runs.x0[r] + 1;
    last[root] = r; // runs are in scan order: the last one seen is the segment's last
  }
  const roots: number[] = [];
  for (let r = 0; r < nr; r++) if (runs.parent[r] === r && size[r] >= minarea) roots.push(r);
  const key = (root: number): number => runs.y[last[root]] * (width + 1) + runs.x1[last[root]];
  roots.sort((a, b) => key(a) - key(b));
  const segOf = new Int32Array(nr).fill(-1);
  const start = new Int32Array(roots.length + 1);
  roots.forEach((root, k) => {
    segOf[root] = k;
    start[k + 1] = start[k] + size[root];
  });
  const idx = new Int32Array(start[roots.length]);
  const fill = start.slice(0, roots.length);
  for (let r = 0; r < nr; r++) {
    const k = segOf[runs.parent[r]];
    if (k < 0) continue;
    const n = runs.x1[r] - runs.x0[r] + 1;
    for (let i = 0; i < n; i++) idx[fill[k]++] = runs.p0[r] + i;
  }
  return { idx, start, count: roots.length };
}

/** Moments and shape of a set of pixels (SExtractor's "analyse"). */
interface Measure {
  npix: number;
  /** Σ filtered values. */
  cflux: number;
  /** Σ background-subtracted values. */
  flux: number;
  cpeak: number;
  peak: number;
  xpeak: number;
  ypeak: number;
  xmin: number;
  xmax: number;
  ymin: number;
  ymax: number;
  tnpix: number;
  /** Barycentre, 0-based. */
  mx: number;
  my: number;
  x2: number;
  y2: number;
  xy: number;
  a: number;
  b: number;
  theta: number;
  cxx: number;
  cyy: number;
  cxy: number;
  /** SExtractor's isophotal-area correction of a and b for a profile cut at the threshold. */
  abcor: number;
  singular: boolean;
}

/**
 * Measures the pixels `idx[from..to)` at threshold `thresh`: barycentre and second moments
 * weighted by the filtered values (as SEP), or about `centre` when given (a deblended source keeps
 * its branch's barycentre), the ellipse, and the area correction of SExtractor's cleaning.
 */
function measure(
  P: PixelList,
  idx: Int32Array,
  from: number,
  to: number,
  thresh: number,
  centre?: { mx: number; my: number },
): Measure {
  let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
  let cflux = 0, flux = 0, cpeak = -Infinity, peak = -Infinity, xpeak = 0, ypeak = 0;
  for (let k = from; k < to; k++) {
    const p = idx[k], x = P.x[p], y = P.y[p], v = P.v[p], c = P.c[p];
    if (x < xmin) xmin = x;
    if (x > xmax) xmax = x;
    if (y < ymin) ymin = y;
    if (y > ymax) ymax = y;
    if (v > peak) {
      peak = v;
      xpeak = x;
      ypeak = y;
    }
    if (c > cpeak) cpeak = c;
    cflux += c;
    flux += v;
  }
  const thresh2 = (thresh + peak) / 2;
  let tnpix = 0, area2 = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  for (let k = from; k < to; k++) {
    const p = idx[k], x = P.x[p] - xmin, y = P.y[p] - ymin, v = P.v[p], c = P.c[p];
    if (v > thresh) tnpix++;
    if (v > thresh2) area2++;
    sx += c * x;
    sy += c * y;
    sxx += c * x * x;
    syy += c * y * y;
    sxy += c * x * y;
  }
  let xm = sx / cflux, ym = sy / cflux, x2: number, y2: number, xy: number;
  if (centre) {
    const xn = centre.mx - xmin, yn = centre.my - ymin;
    x2 = sxx / cflux + xn * xn - 2 * xm * xn;
    y2 = syy / cflux + yn * yn - 2 * ym * yn;
    xy = sxy / cflux + xn * yn - xm * yn - xn * ym;
    xm = xn;
    ym = yn;
  } else {
    x2 = sxx / cflux - xm * xm;
    y2 = syy / cflux - ym * ym;
    xy = sxy / cflux - xm * ym;
  }
  let det = x2 * y2 - xy * xy;
  let singular = false;
  if (det < 0.00694) {
    // A line of pixels: add a pixel's own variance (1/12) to both axes.
    x2 += 0.0833333;
    y2 += 0.0833333;
    det = x2 * y2 - xy * xy;
    singular = true;
  }
  const d = x2 - y2;
  const theta = Math.abs(d) > 0 ? Math.atan2(2 * xy, d) / 2 : Math.PI / 4;
  const root = Math.sqrt(0.25 * d * d + xy * xy);
  const mean2 = 0.5 * (x2 + y2);
  const a = Math.fround(Math.sqrt(mean2 + root)), b = Math.fround(Math.sqrt(mean2 - root));
  const darea = area2 - tnpix;
  const t1t2 = thresh / thresh2;
  let abcor = 1;
  if (t1t2 > 0) {
    abcor = (darea < 0 ? darea : -1) / (2 * Math.PI * Math.log(t1t2 < 1 ? t1t2 : 0.99) * a * b);
    if (abcor > 1) abcor = 1;
  }
  return {
    npix: to - from,
    cflux,
    flux,
    cpeak,
    peak,
    xpeak,
    ypeak,
    xmin,
    xmax,
    ymin,
    ymax,
    tnpix,
    mx: xm + xmin,
    my: ym + ymin,
    x2,
    y2,
    xy,
    a,
    b,
    theta,
    cxx: y2 / det,
    cyy: x2 / det,
    cxy: -2 * xy / det,
    abcor,
    singular,
  };
}

/** One source out of deblending: its pixels and, when deblended, its branch's barycentre. */
interface Part {
  idx: Int32Array;
  merged: boolean;
  centre?: { mx: number; my: number };
}

/** 8-neighbour offsets (dx, dy). */
const NEIGHBOURS: readonly number[] = [-1, -1, 0, -1, 1, -1, -1, 0, 1, 0, -1, 1, 0, 1, 1, 1];

/** SExtractor's multi-threshold deblending, with scratch buffers reused across segments. */
class Deblender {
  private grid = new Int32Array(0);
  private cap = 0;
  private lx = new Int32Array(0);
  private ly = new Int32Array(0);
  private lc = new Float64Array(0);
  private order = new Int32Array(0);
  private rank = new Int32Array(0);
  private uf = new Int32Array(0);
  private size = new Int32Array(0);
  private flux = new Float64Array(0);
  /** Per union–find root: its part's first pixel in scan order. */
  private first = new Int32Array(0);
  /** Per root: the part's index in its level's list. */
  private pos = new Int32Array(0);
  /** Visit marks: equal to `stamp` when seen in the current pass. */
  private seen = new Int32Array(0);
  private stamp = 0;

  /** Grows the per-pixel scratch to `n` pixels. */
  private reserve(n: number): void {
    if (n > this.cap) {
      const cap = Math.max(n, 2 * this.cap, 256);
      this.cap = cap;
      this.lx = new Int32Array(cap);
      this.ly = new Int32Array(cap);
      this.lc = new Float64Array(cap);
      this.order = new Int32Array(cap);
      this.rank = new Int32Array(cap);
      this.uf = new Int32Array(cap);
      this.size = new Int32Array(cap);
      this.flux = new Float64Array(cap);
      this.first = new Int32Array(cap);
      this.pos = new Int32Array(cap);
      this.seen = new Int32Array(cap);
      this.stamp = 0;
    }
  }

  /** Root of local pixel i in the union–find (path halving). */
  private find(i: number): number {
    const uf = this.uf;
    while (uf[i] !== i) {
      uf[i] = uf[uf[i]];
      i = uf[i];
    }
    return i;
  }

  /**
   * Splits one segment (`idx`, pixel indices in scan order) found at threshold `t0`.
   * Returns one part (the segment itself) when it does not split.
   */
  run(P: PixelList, idx: Int32Array, t0: number, s: Settings): Part[] {
    const n = idx.length;
    const debMin = Math.min(s.minarea, 3); // SExtractor's smallest branch (MAXDEBAREA)
    const N = s.nthresh;
    const whole: Part[] = [{ idx, merged: false }];
    if (N < 2 || s.mincont >= 1 || n < 2 * debMin) return whole;
    let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity, cpeak = -Infinity;
    let cflux = 0;
    for (let k = 0; k < n; k++) {
      const p = idx[k];
      if (P.x[p] < xmin) xmin = P.x[p];
      if (P.x[p] > xmax) xmax = P.x[p];
      if (P.y[p] < ymin) ymin = P.y[p];
      if (P.y[p] > ymax) ymax = P.y[p];
      if (P.c[p] > cpeak) cpeak = P.c[p];
      cflux += P.c[p];
    }
    this.reserve(n);
    const { lx, ly, lc, order, rank, uf, size, flux, first, pos, seen } = this;
    // Local grid of the bounding box: local pixel index or −1.
    const gw = xmax - xmin + 1, gh = ymax - ymin + 1;
    if (this.grid.length < gw * gh) {
      this.grid = new Int32Array(Math.max(gw * gh, 2 * this.grid.length));
    }
    const grid = this.grid;
    grid.fill(-1, 0, gw * gh);
    for (let k = 0; k < n; k++) {
      lx[k] = P.x[idx[k]] - xmin;
      ly[k] = P.y[idx[k]] - ymin;
      lc[k] = P.c[idx[k]];
      grid[ly[k] * gw + lx[k]] = k;
    }
    // Each part of a split holds a local maximum of the filtered values: with one, no split.
    let maxima = 0;
    for (let p = 0; p < n && maxima < 2; p++) {
      let top = true;
      for (let e = 0; e < 16 && top; e += 2) {
        const qx = lx[p] + NEIGHBOURS[e], qy = ly[p] + NEIGHBOURS[e + 1];
        if (qx < 0 || qy < 0 || qx >= gw || qy >= gh) continue;
        const q = grid[qy * gw + qx];
        if (q >= 0 && lc[q] > lc[p]) top = false;
      }
      if (top) maxima++;
    }
    if (maxima < 2) return whole;
    const value0 = s.mincont * cflux;
    // Pixels by filtered value, brightest first: level k's pixels are a prefix of this order.
    for (let k = 0; k < n; k++) order[k] = k;
    order.subarray(0, n).sort((a, b) => lc[b] - lc[a] || a - b);
    for (let r = 0; r < n; r++) rank[order[r]] = r;
    // Level thresholds (float32, as SEP keeps them) and how many pixels lie above each.
    const T: number[] = [t0], M: number[] = [n];
    for (let k = 1, m = n; k < N; k++) {
      const t = Math.fround(cpeak > 0 ? t0 * Math.pow(cpeak / t0, k / N) : t0);
      while (m > 0 && lc[order[m - 1]] <= t) m--;
      // With fewer than two branches' worth of pixels nothing at or above this level splits.
      if (m < 2 * debMin) break;
      T.push(t);
      M.push(m);
    }
    if (T.length < 2) return whole;
    // The tree, built from the top level down: lowering the threshold only adds pixels and
    // merges parts, so one union–find serves every level. Per level, its parts (≥ debMin pixels,
    // in scan order of their first pixel): root, pixel count, filtered flux, parent's index.
    const levels = T.length;
    const roots: number[][] = new Array(levels), counts: number[][] = new Array(levels);
    const fluxes: number[][] = new Array(levels), parents: number[][] = new Array(levels);
    const starts: number[][] = new Array(levels);
    roots[0] = [0];
    counts[0] = [n];
    fluxes[0] = [cflux];
    let live: number[] = [];
    for (let k = levels - 1; k >= 1; k--) {
      const fresh: number[] = [];
      for (let r = k === levels - 1 ? 0 : M[k + 1]; r < M[k]; r++) {
        const p = order[r];
        uf[p] = p;
        size[p] = 1;
        flux[p] = lc[p];
        first[p] = p;
        if (debMin <= 1) fresh.push(p);
        for (let e = 0; e < 16; e += 2) {
          const qx = lx[p] + NEIGHBOURS[e], qy = ly[p] + NEIGHBOURS[e + 1];
          if (qx < 0 || qy < 0 || qx >= gw || qy >= gh) continue;
          const q = grid[qy * gw + qx];
          if (q < 0 || rank[q] >= r) continue; // not yet added: it joins p when it is
          let a = this.find(p), b = this.find(q);
          if (a === b) continue;
          if (size[a] < size[b]) [a, b] = [b, a];
          const small = size[a] < debMin || size[b] < debMin;
          uf[b] = a;
          size[a] += size[b];
          flux[a] += flux[b];
          if (first[b] < first[a]) first[a] = first[b];
          if (small && size[a] >= debMin) fresh.push(a);
        }
      }
      // This level's parts: last level's mapped through the merges, plus parts just grown big.
      const here: number[] = [];
      this.stamp++;
      for (const list of [live, fresh]) {
        for (const x of list) {
          const root = this.find(x);
          if (size[root] < debMin || seen[root] === this.stamp) continue;
          seen[root] = this.stamp;
          here.push(root);
        }
      }
      here.sort((a, b) => first[a] - first[b]);
      for (let j = 0; j < here.length; j++) pos[here[j]] = j;
      if (k < levels - 1) parents[k + 1] = roots[k + 1].map((root) => pos[this.find(root)]);
      roots[k] = here;
      counts[k] = here.map((root) => size[root]);
      fluxes[k] = here.map((root) => flux[root]);
      starts[k] = here.map((root) => first[root]); // the root's `first` moves on at lower levels
      live = here;
    }
    parents[1] = roots[1].map(() => 0);
    // Levels above the highest with a part add nothing.
    let K = levels;
    while (K > 1 && roots[K - 1].length === 0) K--;
    if (K < 2) return whole;
    // Top-down cut: a node with ≥ 2 significant branches splits into them.
    const ok: Uint8Array[] = roots.slice(0, K).map((c) => new Uint8Array(c.length).fill(1));
    const cores: { level: number; start: number }[] = [];
    const significant = (k: number, j: number): boolean =>
      fluxes[k][j] - T[k] * counts[k][j] > value0;
    for (let k = K - 2; k >= 0; k--) {
      const nk = roots[k].length, nc = roots[k + 1].length;
      const sig = new Int32Array(nk);
      for (let j = 0; j < nc; j++) {
        const i = parents[k + 1][j];
        if (significant(k + 1, j)) sig[i]++;
        ok[k][i] &= ok[k + 1][j];
      }
      for (let i = 0; i < nk; i++) {
        if (sig[i] < 2) continue;
        for (let j = 0; j < nc; j++) {
          if (parents[k + 1][j] === i && ok[k + 1][j] && significant(k + 1, j)) {
            cores.push({ level: k + 1, start: starts[k + 1][j] });
          }
        }
        ok[k][i] = 0;
      }
    }
    if (ok[0][0]) return whole;
    // Each branch's pixels: those above its level connected to its first pixel.
    const coreIdx = cores.map(({ level, start }) => this.flood(start, M[level], gw, gh));
    return this.gatherUp(P, idx, coreIdx, cores.map((c) => T[c.level]), t0, xmin, ymin);
  }

  /** Local pixels of rank < `m` 8-connected to local pixel `start` (a flood fill). */
  private flood(start: number, m: number, gw: number, gh: number): Int32Array {
    const { lx, ly, rank, grid, seen } = this;
    this.stamp++;
    const out: number[] = [start];
    seen[start] = this.stamp;
    for (let h = 0; h < out.length; h++) {
      const p = out[h];
      for (let e = 0; e < 16; e += 2) {
        const qx = lx[p] + NEIGHBOURS[e], qy = ly[p] + NEIGHBOURS[e + 1];
        if (qx < 0 || qy < 0 || qx >= gw || qy >= gh) continue;
        const q = grid[qy * gw + qx];
        if (q < 0 || rank[q] >= m || seen[q] === this.stamp) continue;
        seen[q] = this.stamp;
        out.push(q);
      }
    }
    return Int32Array.from(out).sort();
  }

  /**
   * The branches' pixels, plus every other pixel of the segment given to the branch whose
   * elliptical Gaussian (amplitude and shape from its moments, as SExtractor models it) is
   * largest there.
   */
  private gatherUp(
    P: PixelList,
    idx: Int32Array,
    cores: Int32Array[],
    coreT: number[],
    t0: number,
    x0: number,
    y0: number,
  ): Part[] {
    const n = idx.length, nc = cores.length;
    const { lx, ly } = this;
    const owner = new Int32Array(n).fill(-1);
    const shapes: Measure[] = [];
    const amp = new Float64Array(nc);
    for (let i = 0; i < nc; i++) {
      const local = cores[i], mine = new Int32Array(local.length);
      for (let k = 0; k < local.length; k++) {
        mine[k] = idx[local[k]];
        owner[local[k]] = i;
      }
      const m = measure(P, mine, 0, mine.length, coreT[i]);
      shapes.push(m);
      const dist = m.npix / (2 * Math.PI * m.abcor * m.a * m.b);
      amp[i] = Math.min(dist < 70 ? t0 * Math.exp(dist) : 4 * m.cpeak, 4 * m.cpeak);
    }
    for (let p = 0; p < n; p++) {
      if (owner[p] >= 0) continue;
      const x = lx[p] + x0, y = ly[p] + y0;
      let best = -1, bestW = 0, nearest = 0, dmin = Infinity;
      for (let i = 0; i < nc; i++) {
        const m = shapes[i], dx = x - m.mx, dy = y - m.my;
        const d = 0.5 * (m.cxx * dx * dx + m.cyy * dy * dy + m.cxy * dx * dy) / m.abcor;
        const w = d < 70 ? amp[i] * Math.exp(-d) : 0;
        if (w > bestW) {
          bestW = w;
          best = i;
        }
        if (d < dmin) {
          dmin = d;
          nearest = i;
        }
      }
      owner[p] = bestW > 1e-31 ? best : nearest;
    }
    const parts: Part[] = [];
    for (let i = 0; i < nc; i++) {
      const mine: number[] = [];
      for (let p = 0; p < n; p++) if (owner[p] === i) mine.push(idx[p]);
      parts.push({
        idx: Int32Array.from(mine),
        merged: true,
        centre: { mx: shapes[i].mx, my: shapes[i].my },
      });
    }
    return parts;
  }
}

/**
 * The level CLEAN compares a source with: about its `minarea`-th highest (filtered value −
 * threshold). Computed as SExtractor does it, pixel by pixel in scan order: the first `minarea`
 * values fill a buffer, the next one is dropped while the buffer is sorted, later ones replace the
 * buffer's first entry when larger and sift down (with SExtractor's step to the child's index + 1),
 * and the level is the buffer's first entry. So it is not exactly the `minarea`-th highest; the
 * same steps give the same decisions as SEP's CLEAN on borderline pairs.
 */
function cleanLevel(P: PixelList, idx: Int32Array, minarea: number, heap: Float64Array): number {
  const n = idx.length;
  if (n < minarea) return 0;
  for (let k = 0; k < n; k++) {
    const v = Math.fround(P.c[idx[k]] - P.t[idx[k]]);
    if (k < minarea) heap[k] = v;
    else if (k === minarea) heap.subarray(0, minarea).sort();
    else if (v > heap[0]) {
      heap[0] = v;
      for (let j = 0;;) {
        const c = (j + 1) << 1; // children of j: c − 1 and c
        if (c > minarea) break;
        const child = c !== minarea && heap[c - 1] > heap[c] ? c : c - 1;
        if (heap[j] <= heap[child]) break;
        const t = heap[child];
        heap[child] = heap[j];
        heap[j] = t;
        j = child + 1; // SExtractor steps on from the child's index + 1
      }
    }
  }
  return heap[0];
}

/** What CLEAN needs of each source. */
interface CleanInput {
  m: Measure;
  thresh: number;
  mthresh: number;
}

/** Radius of the neighbourhood CLEAN looks at, in units of a₁ + a₂ (SExtractor CLEAN_ZONE). */
const CLEAN_ZONE = 10;

/**
 * SExtractor's CLEAN: for each pair of sources within CLEAN_ZONE·(a₁ + a₂), the brighter one's
 * wings, modelled as amp·(1 + α r²)^−β from its moments, are compared with the fainter one's
 * `minarea`-th brightest pixel; above it, the fainter one is dropped. Pairs in SExtractor's order
 * (i < j in list order). Returns which sources survive.
 */
function cleanSources(items: CleanInput[], beta: number): Uint8Array {
  const n = items.length;
  const survives = new Uint8Array(n).fill(1);
  const ampOf = new Float64Array(n), alphaOf = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const { m, thresh } = items[i];
    const unit = Math.PI * m.a * m.b;
    ampOf[i] = m.cflux / (2 * unit * m.abcor);
    alphaOf[i] = (Math.pow(ampOf[i] / thresh, 1 / beta) - 1) * unit / m.npix;
  }
  // Which pairs can be within reach (distance ≤ CLEAN_ZONE·(aᵢ + aⱼ)): sources with a ≤ A_SPLIT
  // pair through a grid of cells; the few larger ones are paired with everything.
  const neighbours = candidatePairs(items);
  const eats = (big: number, small: number, dx: number, dy: number): boolean => {
    const m = items[big].m;
    const val = 1 + alphaOf[big] * (m.cxx * dx * dx + m.cyy * dy * dy + m.cxy * dx * dy);
    return val > 1 &&
      Math.fround(val < 1e10 ? ampOf[big] * Math.pow(val, -beta) : 0) > items[small].mthresh;
  };
  // SExtractor's order: i ascending, then its partners j > i ascending.
  for (let i = 0; i < n; i++) {
    if (!survives[i]) continue;
    const mi = items[i].m;
    for (const j of neighbours[i]) {
      if (!survives[j]) continue;
      const mj = items[j].m;
      const dx = Math.fround(mi.mx - mj.mx), dy = Math.fround(mi.my - mj.my);
      const rlim = Math.fround((mi.a + mj.a) * (mi.a + mj.a));
      if (dx * dx + dy * dy > rlim * CLEAN_ZONE * CLEAN_ZONE) continue;
      if (mj.cflux < mi.cflux) {
        if (eats(i, j, dx, dy)) survives[j] = 0;
      } else if (eats(j, i, dx, dy)) survives[i] = 0;
    }
  }
  return survives;
}

/** Sources with a larger than this (pixels) are paired with all others by CLEAN. */
const A_SPLIT = 4;

/**
 * For each source i, the sources j > i (ascending) that may lie within CLEAN_ZONE·(aᵢ + aⱼ) of
 * it: a superset of the pairs CLEAN tests, found through a grid instead of all n² pairs.
 */
function candidatePairs(items: CleanInput[]): number[][] {
  const n = items.length;
  const lists: number[][] = Array.from({ length: n }, () => []);
  const small: number[] = [], large: number[] = [];
  for (let i = 0; i < n; i++) (items[i].m.a <= A_SPLIT ? small : large).push(i);
  // Small–small: reach ≤ CLEAN_ZONE · 2 · A_SPLIT; cells of that size, 3 × 3 cells searched.
  const cell = CLEAN_ZONE * 2 * A_SPLIT;
  const grid = new Map<number, number[]>();
  const key = (cx: number, cy: number): number => cx * 1_000_003 + cy;
  for (const i of small) {
    const k = key(Math.floor(items[i].m.mx / cell), Math.floor(items[i].m.my / cell));
    const bucket = grid.get(k);
    if (bucket) bucket.push(i);
    else grid.set(k, [i]);
  }
  for (const i of small) {
    const cx = Math.floor(items[i].m.mx / cell), cy = Math.floor(items[i].m.my / cell);
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        for (const j of grid.get(key(cx + dx, cy + dy)) ?? []) if (j > i) lists[i].push(j);
      }
    }
  }
  // Large with everything (each pair once).
  const isLarge = new Uint8Array(n);
  for (const i of large) isLarge[i] = 1;
  for (const b of large) {
    for (let o = 0; o < n; o++) {
      if (o === b || (isLarge[o] && o < b)) continue;
      if (o < b) lists[o].push(b);
      else lists[b].push(o);
    }
  }
  for (const l of lists) l.sort((p, q) => p - q);
  return lists;
}

/** Is pixel (x, y) blank (NaN, ±Inf or masked)? */
function isBlank(data: Float32Array, mask: Uint8Array | undefined, i: number): boolean {
  const v = data[i];
  return v - v !== 0 || (mask !== undefined && mask[i] !== 0);
}

/** Flags from a source's pixels: edge, saturation, blank neighbours. */
function pixelFlags(
  P: PixelList,
  idx: Int32Array,
  data: Float32Array,
  mask: Uint8Array | undefined,
  width: number,
  height: number,
  s: Settings,
): number {
  let flags = 0;
  const e = s.edgeMargin;
  for (let k = 0; k < idx.length; k++) {
    const x = P.x[idx[k]], y = P.y[idx[k]];
    if (x <= e || y <= e || x >= width - 1 - e || y >= height - 1 - e) flags |= FLAG_EDGE;
    if (data[y * width + x] >= s.saturate) flags |= FLAG_SATURATED;
    if ((flags & FLAG_BLANK) === 0) {
      for (let d = 0; d < 16; d += 2) {
        const qx = x + NEIGHBOURS[d], qy = y + NEIGHBOURS[d + 1];
        if (qx < 0 || qy < 0 || qx >= width || qy >= height) continue;
        if (isBlank(data, mask, qy * width + qx)) {
          flags |= FLAG_BLANK;
          break;
        }
      }
    }
  }
  return flags;
}

/**
 * Detects the sources of one frame: background, filtering, threshold, 8-connected segments,
 * deblending, measurement and cleaning, as SEP's `Background` + `extract` (see the module's
 * description for each step and the differences).
 * @param data the frame, row-major, row 0 = FITS row 1; NaN/±Inf pixels are blank.
 * @param width pixels per row (NAXIS1).
 * @param height rows (NAXIS2).
 * @param opts thresholds and switches; the defaults are SEP's (thresh 1.5 × the global RMS).
 * @returns the sources (FITS 1-based coordinates), the background, the σ used.
 * @throws {StarmambaError} on an invalid option or sizes that do not match the data.
 */
export function detectSources(
  data: Float32Array,
  width: number,
  height: number,
  opts: DetectOptions = {},
): Detection {
  const s = settings(opts);
  if (
    !(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0) ||
    data.length !== width * height
  ) {
    throw new StarmambaError(
      `detect: the frame has ${data.length} pixels, not width × height = ${width} × ${height}; ` +
        `pass the frame's own dimensions`,
    );
  }
  if (opts.mask && opts.mask.length !== data.length) {
    throw new StarmambaError(
      `detect: the mask has ${opts.mask.length} pixels, the frame ${data.length}; ` +
        `pass a mask of the frame's size`,
    );
  }
  const map = isMap(opts.background)
    ? opts.background
    : measureBackground(data, width, height, { ...opts.background, mask: opts.mask });
  if (map.width !== width || map.height !== height) {
    throw new StarmambaError(
      `detect: the background was measured on a ${map.width} × ${map.height} frame, this one is ` +
        `${width} × ${height}; measure it on this frame`,
    );
  }
  const sigma = s.rmsMode === "global" ? map.globalRms : s.rmsMode === "value" ? s.rmsValue : NaN;
  const { pixels: P, runs, blank } = scanFrame(data, width, height, opts.mask, map, s, sigma);
  const segs = segments(runs, s.minarea, width);
  const deblender = new Deblender();
  const found: { part: Part; m: Measure; thresh: number }[] = [];
  for (let g = 0; g < segs.count; g++) {
    const idx = segs.idx.subarray(segs.start[g], segs.start[g + 1]);
    // The segment's threshold: constant, or (RMS map) that at its filtered peak.
    let t0 = P.t[idx[0]];
    if (s.rmsMode === "map") {
      let best = -Infinity;
      for (let k = 0; k < idx.length; k++) {
        if (P.c[idx[k]] > best) {
          best = P.c[idx[k]];
          t0 = P.t[idx[k]];
        }
      }
    }
    for (const part of deblender.run(P, idx, t0, s)) {
      found.push({
        part,
        m: measure(P, part.idx, 0, part.idx.length, t0, part.centre),
        thresh: t0,
      });
    }
  }
  let survives: Uint8Array;
  if (s.clean) {
    const heap = new Float64Array(s.minarea);
    survives = cleanSources(
      found.map((f) => ({
        m: f.m,
        thresh: f.thresh,
        mthresh: cleanLevel(P, f.part.idx, s.minarea, heap),
      })),
      s.cleanParam,
    );
  } else survives = new Uint8Array(found.length).fill(1);
  const sources: DetectedSource[] = [];
  const segmentation = opts.segmentation ? new Int32Array(width * height) : undefined;
  for (let i = 0; i < found.length; i++) {
    if (!survives[i]) continue;
    const { part, m, thresh } = found[i];
    let flags = pixelFlags(P, part.idx, data, opts.mask, width, height, s);
    if (part.merged) flags |= FLAG_BLENDED;
    if (m.singular) flags |= FLAG_SINGULAR;
    sources.push({
      x: m.mx + 1,
      y: m.my + 1,
      flux: m.flux,
      cflux: m.cflux,
      peak: m.peak,
      xpeak: m.xpeak + 1,
      ypeak: m.ypeak + 1,
      cpeak: m.cpeak,
      npix: m.npix,
      tnpix: m.tnpix,
      xmin: m.xmin + 1,
      xmax: m.xmax + 1,
      ymin: m.ymin + 1,
      ymax: m.ymax + 1,
      x2: m.x2,
      y2: m.y2,
      xy: m.xy,
      a: m.a,
      b: m.b,
      theta: m.theta,
      thresh,
      flags,
    });
    if (segmentation) {
      const label = sources.length;
      for (let k = 0; k < part.idx.length; k++) {
        const p = part.idx[k];
        segmentation[P.y[p] * width + P.x[p]] = label;
      }
    }
  }
  return { sources, background: map, rms: sigma, blankPixels: blank, segmentation };
}

/** What {@link detectFrame} needs of a frame: `openFitsFrame`'s FitsFrame (lib/frames/open.ts) fits. */
export interface FrameSource {
  /** Columns (NAXIS1). */
  width: number;
  /** Rows (NAXIS2). */
  height: number;
  /** SATURATE from the header, when it gives one. */
  saturate?: number;
  /** Reads rows y0 ≤ row < y1 into `out` (row-major, blank pixels NaN). */
  readRows(y0: number, y1: number, out?: Float32Array): { data: Float32Array };
}

/** Rows read per call by {@link detectFrame}. */
const BAND_ROWS = 256;

/**
 * Detects the sources of an open frame (`openFitsFrame(path, { hdu })`): reads its rows in bands
 * into one float32 array (4 bytes a pixel: 64 MB for a 4096 × 4096 frame) and runs
 * {@link detectSources}, with `saturate` from the header unless the options give one.
 * @param frame the open frame.
 * @param opts as {@link detectSources}.
 * @returns the detection; coordinates FITS 1-based, as the frame's WCS takes them.
 */
export function detectFrame(frame: FrameSource, opts: DetectOptions = {}): Detection {
  const { width, height } = frame;
  const data = new Float32Array(width * height);
  for (let y0 = 0; y0 < height; y0 += BAND_ROWS) {
    const y1 = Math.min(height, y0 + BAND_ROWS);
    frame.readRows(y0, y1, data.subarray(y0 * width, y1 * width));
  }
  return detectSources(data, width, height, { saturate: frame.saturate, ...opts });
}
