/**
 * The sky background and its noise over a telescope frame, measured the way Source Extractor
 * (Bertin & Arnouts 1996; "The Source Extractor Guide", §Background) and SEP (Barbary 2016,
 * `sep.Background`) do, so that catalogues built here and by those tools agree:
 *
 * 1. The frame is cut into a mesh of `bw × bh` boxes (default 64 × 64; the last column and row of
 *    boxes are partial when the frame is not a multiple). Blank pixels (NaN, ±Inf, or set in
 *    `mask`) take no part. A box with fewer than half its pixels valid is "bad".
 * 2. Per box: mean and σ of the valid pixels; again within mean ± 2σ; a histogram of those
 *    pixels (≤ 4096 bins over ±5σ); then, on the histogram, iterative clipping at median ± 3σ until
 *    σ changes by < 1e-4. The background is the mode estimate 2.5·median − 1.5·mean when
 *    |mean − median| / σ < 0.3 (a little-crowded box), else the median; the box's RMS is the
 *    clipped σ. The median is read off the histogram by two counters meeting from its ends, with
 *    linear interpolation in the meeting bin, as SExtractor does.
 * 3. Bad boxes take the average of the nearest good boxes; then a `fw × fh` median filter (default
 *    3 × 3, shrunk symmetrically at the mesh edges) runs over both the background and RMS meshes
 *    (only where it changes a value by ≥ `fthresh`). The global background and RMS are the medians
 *    of the filtered meshes.
 * 4. Full resolution: bicubic-spline interpolation between box centres — along y through each mesh
 *    column, then along x through the row so obtained — with the spline recurrence SExtractor
 *    uses (natural ends; its back-substitution divides by 6 at each step), and box centres at
 *    x = (i + ½)·bw − ½ and y = (j + ½)·bh as SExtractor places them. Beyond the outermost centres
 *    the end segments extrapolate. A mesh one box wide or high is constant along that axis.
 *
 * Differences from SEP: none in the algorithm; arithmetic is in float64 where SEP mixes float32,
 * so values agree to ~1e-5 relative rather than bit for bit.
 * @module
 */
import { StarmambaError } from "../util/errors.ts";

/** Options of {@link measureBackground}; the defaults are SEP's and SExtractor's. */
export interface BackgroundOptions {
  /** Box width in pixels (SEP `bw`, SExtractor BACK_SIZE). Default 64. */
  bw?: number;
  /** Box height in pixels (SEP `bh`). Default 64. */
  bh?: number;
  /** Median-filter width in boxes (SEP `fw`, SExtractor BACK_FILTERSIZE). Default 3. */
  fw?: number;
  /** Median-filter height in boxes (SEP `fh`). Default 3. */
  fh?: number;
  /** Filter only where the median differs from the box value by at least this. Default 0. */
  fthresh?: number;
  /** Extra blank pixels: non-zero = blank. NaN and ±Inf pixels are always blank. */
  mask?: Uint8Array;
}

/** The background mesh of one frame, and what {@link backgroundRow} needs to interpolate it. */
export interface BackgroundMap {
  /** The frame's width in pixels. */
  width: number;
  /** The frame's height in pixels. */
  height: number;
  /** Mesh box width (SEP bw, BACK_SIZE). */
  bw: number;
  /** Mesh box height (SEP bh). */
  bh: number;
  /** Boxes along x. */
  nx: number;
  /** Boxes along y. */
  ny: number;
  /** Background per box after filtering, row-major (ny × nx). */
  back: Float64Array;
  /** RMS per box after filtering, row-major. */
  rms: Float64Array;
  /** Spline coefficients along y of `back` and `rms` (SExtractor's scaled second derivatives). */
  dback: Float64Array;
  /** The same for `rms`. */
  drms: Float64Array;
  /** Median of the filtered background mesh (SEP `globalback`). */
  globalBack: number;
  /** Median of the filtered RMS mesh (SEP `globalrms`); that of its positive values when ≤ 0. */
  globalRms: number;
  /** Boxes with too few valid pixels, filled from their nearest good neighbours. */
  badBoxes: number;
}

/** A box needs at least this fraction of valid pixels (SExtractor BACK_MINGOODFRAC). */
const MIN_GOOD_FRACTION = 0.5;
/** The histogram spans mean ± this many σ (QUANTIF_NSIGMA). */
const HIST_NSIGMA = 5;
/** At most this many histogram bins (QUANTIF_NMAXLEVELS). */
const HIST_MAX_LEVELS = 4096;
/** About this many pixels per bin at the mode (QUANTIF_AMIN). */
const HIST_AMIN = 4;
/** Clipping stops when σ changes by less than this fraction. */
const CLIP_EPS = 1e-4;
/** A value no valid pixel reaches: marks bad boxes. */
const BAD = -1e30;

/** Checks one size option: a positive integer. */
function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new StarmambaError(`background: ${name} = ${v} is not valid; use a positive integer`);
  }
  return v;
}

/** Scratch buffers reused across boxes (no per-box allocation). */
interface BoxScratch {
  hist: Int32Array;
  cum0: Float64Array;
  cum1: Float64Array;
  cum2: Float64Array;
}

/**
 * Robust statistics of one box: SExtractor's two-pass 2σ cut, then the histogram and its
 * iterative 3σ clipping. Returns [background, rms], or [BAD, BAD] for a box with too few pixels.
 */
function boxStats(
  data: Float32Array,
  mask: Uint8Array | undefined,
  width: number,
  x0: number,
  y0: number,
  w: number,
  h: number,
  scratch: BoxScratch,
): [number, number] {
  // Pass 1: mean and σ of the valid pixels.
  let n = 0, s = 0, ss = 0;
  for (let y = y0; y < y0 + h; y++) {
    const row = y * width;
    for (let i = row + x0, end = row + x0 + w; i < end; i++) {
      const v = data[i];
      if (v - v !== 0 || (mask !== undefined && mask[i] !== 0)) continue; // NaN / ±Inf / masked
      s += v;
      ss += v * v;
      n++;
    }
  }
  if (n < w * h * MIN_GOOD_FRACTION) return [BAD, BAD];
  let mean = s / n;
  let v2 = ss / n - mean * mean;
  let sigma = v2 > 0 ? Math.sqrt(v2) : 0;
  // SEP stores the cuts as float32.
  const lcut = Math.fround(mean - 2 * sigma);
  const hcut = Math.fround(mean + 2 * sigma);
  // Pass 2: the same within mean ± 2σ.
  n = 0;
  s = 0;
  ss = 0;
  for (let y = y0; y < y0 + h; y++) {
    const row = y * width;
    for (let i = row + x0, end = row + x0 + w; i < end; i++) {
      const v = data[i];
      if (!(v >= lcut && v <= hcut) || (mask !== undefined && mask[i] !== 0)) continue;
      s += v;
      ss += v * v;
      n++;
    }
  }
  mean = s / n;
  v2 = ss / n - mean * mean;
  sigma = v2 > 0 ? Math.sqrt(v2) : 0;
  const step = Math.sqrt(2 / Math.PI) * HIST_NSIGMA / HIST_AMIN;
  const nlevels = Math.min(Math.floor(step * n + 1), HIST_MAX_LEVELS);
  // The histogram's origin and bin width, float32 as SEP keeps them.
  const qscale = Math.fround(sigma > 0 ? 2 * HIST_NSIGMA * sigma / nlevels : 1);
  const qzero = Math.fround(mean - HIST_NSIGMA * sigma);
  const cste = Math.fround(0.499999 - qzero / qscale);
  const hist = scratch.hist;
  hist.fill(0, 0, nlevels);
  // Pass 3: the histogram. Bin = trunc(v / qscale + cste) in float32, as SEP computes it (so a
  // value just under the low edge still lands in bin 0).
  for (let y = y0; y < y0 + h; y++) {
    const row = y * width;
    for (let i = row + x0, end = row + x0 + w; i < end; i++) {
      const v = data[i];
      if (v - v !== 0 || (mask !== undefined && mask[i] !== 0)) continue;
      const bin = Math.trunc(Math.fround(Math.fround(v / qscale) + cste));
      if (bin >= 0 && bin < nlevels) hist[bin]++;
    }
  }
  return histogramMode(
    hist,
    nlevels,
    mean,
    qzero,
    qscale,
    scratch.cum0,
    scratch.cum1,
    scratch.cum2,
  );
}

/**
 * Where SExtractor's median walk over bins lo..hi ends. The walk moves two counters in from both
 * ends, one bin per step, the low one when its sum is the smaller (else the high one), until they
 * meet. That is a merge of the two sorted lists of running sums L₀ = 0, L₁, … (from the low end)
 * and H₀ = 0, H₁, … (from the high end), ties to H: L_j is taken at merge position
 * j + #{b : H_b ≤ L_j}, and the walk has taken the low bins whose position is < hi − lo + 1. So the
 * count of low bins is found by binary search on the cumulative counts `cum` (cum[i] = Σ bins < i)
 * instead of stepping through every bin.
 * @returns the number of bins the low counter took.
 */
function lowBinsTaken(cum: Float64Array, lo: number, hi: number): number {
  const len = hi - lo + 1, base = cum[lo], top = cum[hi + 1];
  // #{b ∈ [0, len] : H_b ≤ v}, H_b = top − cum[hi + 1 − b] (non-decreasing in b).
  const highAtMost = (v: number): number => {
    let a = 0, z = len + 1; // answer in [0, len + 1)
    while (a < z) {
      const mid = (a + z) >> 1;
      if (top - cum[hi + 1 - mid] <= v) a = mid + 1;
      else z = mid;
    }
    return a;
  };
  // Largest count a with position(L_{a−1}) < len.
  let a = 0, z = len; // L_j for j in [0, len): taken iff j + highAtMost(L_j) < len
  while (a < z) {
    const mid = (a + z) >> 1;
    if (mid + highAtMost(cum[lo + mid] - base) < len) a = mid + 1;
    else z = mid;
  }
  return a;
}

/**
 * SExtractor's background estimate from a box's histogram: clip at median ± 3σ (in bins) until σ
 * settles, then the mode 2.5·median − 1.5·mean, or the median when the box is too skewed.
 * `cum0`, `cum1`, `cum2` are scratch of length ≥ nlevels + 1.
 */
function histogramMode(
  hist: Int32Array,
  nlevels: number,
  mean: number,
  qzero: number,
  qscale: number,
  cum0: Float64Array,
  cum1: Float64Array,
  cum2: Float64Array,
): [number, number] {
  // Cumulative counts, first and second moments: any range's sums in O(1) (exact in float64:
  // all are integers below 2⁵³).
  cum0[0] = cum1[0] = cum2[0] = 0;
  let s0 = 0, s1 = 0, s2 = 0; // running sums in registers, not read back from the arrays
  for (let i = 0; i < nlevels; i++) {
    const c = hist[i];
    s0 += c;
    s1 += c * i;
    s2 += c * i * i;
    cum0[i + 1] = s0;
    cum1[i + 1] = s1;
    cum2[i + 1] = s2;
  }
  const top = nlevels - 1;
  let lo = 0, hi = top;
  let sig = 10 * top, sig1 = 1;
  let mea = mean, med = mean;
  for (let it = 0; it < 100 && sig >= 0.1 && Math.abs(sig / sig1 - 1) > CLIP_EPS; it++) {
    sig1 = sig;
    let sum = 0, m = 0, q = 0;
    if (hi >= lo) {
      sum = cum0[hi + 1] - cum0[lo];
      m = cum1[hi + 1] - cum1[lo];
      q = cum2[hi + 1] - cum2[lo];
      // The median: where the walk from both ends meets, interpolated within the bins there.
      const ilow = lo + lowBinsTaken(cum0, lo, hi), ihigh = ilow - 1;
      const lowsum = cum0[ilow] - cum0[lo], highsum = sum - lowsum;
      if (ihigh >= 0) {
        const a = hist[ilow], b = hist[ihigh];
        const denom = 2 * (a > b ? a : b);
        med = ihigh + 0.5 + (denom > 0 ? (highsum - lowsum) / denom : 0);
      } else {
        med = 0;
      }
    } else {
      med = hi >= 0 ? hi + 0.5 : 0; // an empty range: the walk leaves the counters crossed
    }
    if (sum > 0) {
      m /= sum;
      q = q / sum - m * m;
    }
    mea = m;
    sig = q > 0 ? Math.sqrt(q) : 0;
    const lc = med - 3 * sig;
    lo = lc > 0 ? Math.trunc(lc + 0.5) : 0;
    const hc = med + 3 * sig;
    hi = hc < top ? (hc > 0 ? Math.trunc(hc + 0.5) : Math.trunc(hc - 0.5)) : top;
  }
  let mode: number;
  if (Math.abs(sig) > 0) {
    mode = Math.abs((mea - med) / sig) < 0.3 ? 2.5 * med - 1.5 * mea : med;
  } else {
    mode = mea;
  }
  return [Math.fround(qzero + mode * qscale), Math.fround(sig * qscale)];
}

/** Median of `xs[0..n)` (sorts them): the middle value, or the mean of the two middle ones. */
function medianInPlace(xs: Float64Array, n: number): number {
  const a = xs.subarray(0, n).sort();
  if (n < 2) return a[0];
  return n % 2 === 1 ? a[n >> 1] : (a[(n >> 1) - 1] + a[n >> 1]) / 2;
}

/** Fills bad boxes with the average of the nearest good boxes (SExtractor's rule). */
function fillBadBoxes(back: Float64Array, rms: Float64Array, nx: number, ny: number): number {
  const src = back.slice();
  let bad = 0;
  for (let py = 0; py < ny; py++) {
    for (let px = 0; px < nx; px++) {
      const i = py * nx + px;
      if (src[i] > BAD) continue;
      bad++;
      let d2min = Infinity, count = 0, b = 0, r = 0;
      for (let y = 0; y < ny; y++) {
        for (let x = 0; x < nx; x++) {
          const j = y * nx + x;
          if (src[j] <= BAD) continue;
          const d2 = (x - px) * (x - px) + (y - py) * (y - py);
          if (d2 < d2min) {
            d2min = d2;
            count = 1;
            b = src[j];
            r = rms[j];
          } else if (d2 === d2min) {
            count++;
            b += src[j];
            r += rms[j];
          }
        }
      }
      back[i] = count ? b / count : 0;
      rms[i] = count ? r / count : 1;
    }
  }
  return bad;
}

/**
 * The `fw × fh` median filter over both meshes. At the mesh edges the window shrinks
 * symmetrically (a corner box is its own median), as SExtractor's filter does.
 */
function medianFilter(
  back: Float64Array,
  rms: Float64Array,
  nx: number,
  ny: number,
  fw: number,
  fh: number,
  fthresh: number,
): void {
  const hx = fw >> 1, hy = fh >> 1;
  const b2 = new Float64Array(back.length), r2 = new Float64Array(rms.length);
  const bw = new Float64Array((2 * hx + 1) * (2 * hy + 1));
  const rw = new Float64Array(bw.length);
  for (let py = 0; py < ny; py++) {
    const ey = Math.min(hy, py, ny - 1 - py);
    for (let px = 0; px < nx; px++) {
      const ex = Math.min(hx, px, nx - 1 - px);
      let k = 0;
      for (let y = py - ey; y <= py + ey; y++) {
        for (let x = px - ex; x <= px + ex; x++) {
          bw[k] = back[y * nx + x];
          rw[k++] = rms[y * nx + x];
        }
      }
      const i = py * nx + px;
      const med = medianInPlace(bw, k);
      if (Math.abs(med - back[i]) >= fthresh) {
        b2[i] = med;
        r2[i] = medianInPlace(rw, k);
      } else {
        b2[i] = back[i];
        r2[i] = rms[i];
      }
    }
  }
  back.set(b2);
  rms.set(r2);
}

/**
 * Spline coefficients through `n` values spaced by one, with SExtractor's recurrence (natural
 * ends; the back-substitution divides by 6 at each step). `get(k)` reads value k; the
 * coefficients go to `out(k, v)`. `u` is scratch of length ≥ n.
 */
function splineCoefficients(
  n: number,
  get: (k: number) => number,
  d: Float64Array,
  dOff: number,
  dStride: number,
  u: Float64Array,
): void {
  d[dOff] = 0;
  if (n < 2) return;
  u[0] = 0;
  for (let k = 1; k < n - 1; k++) {
    const t = -1 / (d[dOff + (k - 1) * dStride] + 4);
    d[dOff + k * dStride] = t;
    u[k] = t * (u[k - 1] - 6 * (get(k + 1) + get(k - 1) - 2 * get(k)));
  }
  d[dOff + (n - 1) * dStride] = 0;
  for (let k = n - 2; k >= 1; k--) {
    d[dOff + k * dStride] = (d[dOff + k * dStride] * d[dOff + (k + 1) * dStride] + u[k]) / 6;
  }
}

/**
 * Measures the background and RMS mesh of a frame (steps 1–3 of the module's description) and
 * prepares its interpolation (step 4, done per row by {@link backgroundRow}).
 * @param data the frame, row-major (`width × height`); NaN/±Inf pixels are blank.
 * @param width pixels per row.
 * @param height rows.
 * @param opts box and filter sizes and an optional mask (SEP's defaults).
 * @returns the mesh, the global background and RMS.
 * @throws {StarmambaError} on a size that is not a positive integer or does not match the data.
 */
export function measureBackground(
  data: Float32Array,
  width: number,
  height: number,
  opts: BackgroundOptions = {},
): BackgroundMap {
  positiveInt("width", width);
  positiveInt("height", height);
  if (data.length !== width * height) {
    throw new StarmambaError(
      `background: the frame has ${data.length} pixels, not width × height = ${width} × ${height}; ` +
        `pass the frame's own dimensions`,
    );
  }
  if (opts.mask && opts.mask.length !== data.length) {
    throw new StarmambaError(
      `background: the mask has ${opts.mask.length} pixels, the frame ${data.length}; ` +
        `pass a mask of the frame's size`,
    );
  }
  const bw = positiveInt("bw", opts.bw ?? 64);
  const bh = positiveInt("bh", opts.bh ?? 64);
  const fw = positiveInt("fw", opts.fw ?? 3);
  const fh = positiveInt("fh", opts.fh ?? 3);
  const fthresh = opts.fthresh ?? 0;
  const nx = Math.max(1, Math.floor((width - 1) / bw) + 1);
  const ny = Math.max(1, Math.floor((height - 1) / bh) + 1);
  const back = new Float64Array(nx * ny), rms = new Float64Array(nx * ny);
  const scratch: BoxScratch = {
    hist: new Int32Array(HIST_MAX_LEVELS),
    cum0: new Float64Array(HIST_MAX_LEVELS + 1),
    cum1: new Float64Array(HIST_MAX_LEVELS + 1),
    cum2: new Float64Array(HIST_MAX_LEVELS + 1),
  };
  for (let j = 0; j < ny; j++) {
    const y0 = j * bh, h = Math.min(bh, height - y0);
    for (let i = 0; i < nx; i++) {
      const x0 = i * bw, w = Math.min(bw, width - x0);
      const [b, r] = boxStats(data, opts.mask, width, x0, y0, w, h, scratch);
      back[j * nx + i] = b;
      rms[j * nx + i] = r;
    }
  }
  const badBoxes = fillBadBoxes(back, rms, nx, ny);
  medianFilter(back, rms, nx, ny, fw, fh, fthresh);
  const tmp = new Float64Array(nx * ny);
  tmp.set(back);
  const globalBack = medianInPlace(tmp, nx * ny);
  tmp.set(rms);
  let globalRms = medianInPlace(tmp, nx * ny);
  if (globalRms <= 0) {
    // `tmp` is sorted: the median of the positive values, or 1 when there are none.
    let first = 0;
    while (first < tmp.length && tmp[first] <= 0) first++;
    globalRms = first < tmp.length ? medianInPlace(tmp.slice(first), tmp.length - first) : 1;
  }
  const dback = new Float64Array(nx * ny), drms = new Float64Array(nx * ny);
  const u = new Float64Array(Math.max(nx, ny));
  for (let i = 0; i < nx; i++) {
    splineCoefficients(ny, (k) => back[k * nx + i], dback, i, nx, u);
    splineCoefficients(ny, (k) => rms[k * nx + i], drms, i, nx, u);
  }
  return {
    width,
    height,
    bw,
    bh,
    nx,
    ny,
    back,
    rms,
    dback,
    drms,
    globalBack,
    globalRms,
    badBoxes,
  };
}

/**
 * Per-frame scratch of {@link backgroundRow}: node values and their x coefficients for the
 * current row, and per column its spline segment and weights (the same for every row).
 */
export interface RowScratch {
  /** The mesh nodes' values interpolated along y to the current row. */
  node: Float64Array;
  /** Their spline coefficients along x. */
  dnode: Float64Array;
  /** Work space of the spline's tridiagonal solve. */
  u: Float64Array;
  /** Column x interpolates between nodes seg[x] and seg[x] + 1 … */
  seg: Int32Array;
  /** … with weights w[4x..4x+3] on node, its coefficient, next node, its coefficient. */
  w: Float64Array;
}

/** Scratch buffers for {@link backgroundRow} on `map` (allocate once per frame, not per row). */
export function rowScratch(map: BackgroundMap): RowScratch {
  const { nx, bw, width } = map;
  const seg = new Int32Array(width), w = new Float64Array(4 * width);
  if (nx > 1) {
    // Along x: box centres at (i + ½)·bw − ½. Segment s (centres s, s+1) serves pixels from
    // s·bw + ⌊bw/2⌋ on; the first and last segments extrapolate outwards.
    const half = bw >> 1;
    let s = 0;
    let next = nx > 2 ? bw + half : Infinity; // first pixel of segment 1
    for (let x = 0; x < width; x++) {
      if (x === next) {
        s++;
        next = s < nx - 2 ? next + bw : Infinity;
      }
      const dx = (x - ((s + 0.5) * bw - 0.5)) / bw, cdx = 1 - dx;
      seg[x] = s;
      w[4 * x] = cdx;
      w[4 * x + 1] = cdx * (cdx * cdx - 1);
      w[4 * x + 2] = dx;
      w[4 * x + 3] = dx * (dx * dx - 1);
    }
  }
  return {
    node: new Float64Array(nx),
    dnode: new Float64Array(nx),
    u: new Float64Array(nx),
    seg,
    w,
  };
}

/**
 * Writes row `y` of the interpolated background (`which` = "back") or RMS ("rms") into `out`
 * (length ≥ width): SExtractor's bicubic spline between box centres.
 * @param map from {@link measureBackground}.
 * @param y row, 0-based.
 * @param out receives `width` values.
 * @param which the background or its RMS.
 * @param scratch from {@link rowScratch}; allocated here when absent.
 */
export function backgroundRow(
  map: BackgroundMap,
  y: number,
  out: Float32Array,
  which: "back" | "rms" = "back",
  scratch: RowScratch = rowScratch(map),
): void {
  const { nx, ny, bh, width } = map;
  const values = which === "back" ? map.back : map.rms;
  const dvalues = which === "back" ? map.dback : map.drms;
  const { node, dnode, u } = scratch;
  if (ny > 1) {
    // Along y: box centres at (j + ½)·bh; outside the first/last centres the end segment
    // extrapolates.
    let dy = y / bh - 0.5;
    let yl = Math.trunc(dy);
    dy -= yl;
    if (yl >= ny - 1) {
      yl = ny - 2;
      dy += 1;
    }
    const cdy = 1 - dy, dy3 = dy * dy * dy - dy, cdy3 = cdy * cdy * cdy - cdy;
    const lo = yl * nx, hi = lo + nx;
    for (let i = 0; i < nx; i++) {
      node[i] = cdy * values[lo + i] + dy * values[hi + i] + cdy3 * dvalues[lo + i] +
        dy3 * dvalues[hi + i];
    }
    splineCoefficients(nx, (k) => node[k], dnode, 0, 1, u);
  } else {
    // One row of boxes: the nodes as they are, coefficients 0 (so linear along x).
    for (let i = 0; i < nx; i++) {
      node[i] = values[i];
      dnode[i] = dvalues[i];
    }
  }
  if (nx === 1) {
    out.fill(node[0], 0, width);
    return;
  }
  // Along x: the per-column segments and weights of `scratch`.
  const { seg, w } = scratch;
  for (let x = 0; x < width; x++) {
    const s = seg[x], k = 4 * x;
    out[x] = w[k] * node[s] + w[k + 1] * dnode[s] + w[k + 2] * node[s + 1] +
      w[k + 3] * dnode[s + 1];
  }
}

/**
 * The full-resolution background (or RMS) image of `map`, row-major.
 * @param map from {@link measureBackground}.
 * @param which the background or its RMS.
 * @returns `width × height` values.
 */
export function backgroundImage(map: BackgroundMap, which: "back" | "rms" = "back"): Float32Array {
  const out = new Float32Array(map.width * map.height);
  const scratch = rowScratch(map);
  for (let y = 0; y < map.height; y++) {
    backgroundRow(map, y, out.subarray(y * map.width, (y + 1) * map.width), which, scratch);
  }
  return out;
}
