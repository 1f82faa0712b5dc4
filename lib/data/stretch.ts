/**
 * Per-cutout display stretches, applied to physical pixel values (e.g. from a FITS file)
 * before normalisation, mapping them to [0, 1] the way astronomers look at images. Each one is
 * an astropy.visualization interval followed by a stretch, with astropy's exact semantics, so a
 * cutout prepared here looks like the same cutout prepared with astropy:
 *
 * - `identity`: the values unchanged (for images already in [0, 1]);
 * - `minmax`: MinMaxInterval + LinearStretch;
 * - `linear`: PercentileInterval(percentile) (MinMaxInterval when null) + LinearStretch;
 * - `asinh`: the same interval + AsinhStretch(a): asinh(x / a) / asinh(1 / a);
 * - `zscale`: ZScaleInterval (IRAF's zscale) + LinearStretch.
 *
 * Every interval ignores NaN and ±Infinity; every result but `identity` is clipped to [0, 1].
 * @module
 */
import { StarmambaError } from "../util/errors.ts";

/** Names of the display stretches {@link applyStretch} knows. */
export type StretchName = "identity" | "linear" | "minmax" | "asinh" | "zscale";

/** Which stretch {@link applyStretch} applies, with its parameters. */
export interface StretchOptions {
  /** The stretch (see the module documentation). */
  stretch: StretchName;
  /**
   * Percentile clip for `linear` and `asinh`, e.g. 99.5 → astropy PercentileInterval(99.5)
   * (keeps the central 99.5% of the pixels); null = min/max.
   */
  percentile: number | null;
  /** AsinhStretch `a`, 0 < a ≤ 1 (astropy default 0.1): where the curve turns logarithmic. */
  asinh_a: number;
  /** ZScaleInterval contrast (astropy default 0.25); ≤ 0 leaves the fitted slope as it is. */
  zscale_contrast: number;
  /** ZScaleInterval n_samples (astropy default 1000): pixels sampled for the fit. */
  zscale_samples: number;
}

const STRETCHES: readonly StretchName[] = ["identity", "linear", "minmax", "asinh", "zscale"];

/**
 * Maps one cutout's values to [0, 1] with the stretch in `opts`; astropy equivalent:
 * `stretch(interval(values))` (both with clip=True).
 *
 * The interval [vmin, vmax] is computed from the finite values only. Each value becomes
 * (v − vmin) / (vmax − vmin), clipped to [0, 1], then stretched. A constant cutout
 * (vmax = vmin) is not divided: every finite value maps to 0 (astropy does the same). NaN
 * values stay NaN (the caller replaces them), +Infinity maps to 1 and −Infinity to 0; a cutout
 * with no finite value comes back all NaN. `identity` copies the values unchanged.
 * @param values the cutout's pixel values (any order: intervals use all of them; zscale samples
 *   them in the given order, as astropy samples the flattened array).
 * @param opts the stretch and its parameters.
 * @param out where to write the result (may be `values` itself); a new array when omitted.
 * @returns `out`, holding the stretched values (float32, as the model's input).
 * @throws {StarmambaError} for an unknown stretch or a parameter out of range.
 */
export function applyStretch(
  values: ArrayLike<number>,
  opts: StretchOptions,
  out: Float32Array = new Float32Array(values.length),
): Float32Array {
  if (out.length !== values.length) {
    throw new Error(`applyStretch: out has ${out.length} elements for ${values.length} values`);
  }
  checkOptions(opts);
  if (opts.stretch === "identity") {
    for (let i = 0; i < values.length; i++) out[i] = values[i];
    return out;
  }
  // The interval is computed before anything is written, so out may alias values.
  const [vmin, vmax] = intervalOf(values, opts);
  const range = vmax - vmin;
  const curve = opts.stretch === "asinh" ? asinhCurve(opts.asinh_a) : (x: number) => x;
  for (let i = 0; i < values.length; i++) {
    let v = values[i] - vmin;
    // astropy only divides by a non-zero range: a constant cutout stays at v - vmin = 0.
    if (range !== 0) v /= range;
    out[i] = curve(clip01(v));
  }
  return out;
}

/** The interval the stretch in `opts` uses. */
function intervalOf(values: ArrayLike<number>, opts: StretchOptions): [number, number] {
  if (opts.stretch === "zscale") {
    return zscaleInterval(values, opts.zscale_contrast, opts.zscale_samples);
  }
  if (opts.stretch !== "minmax" && opts.percentile !== null) {
    return percentileInterval(values, opts.percentile);
  }
  return minMaxInterval(values);
}

/** astropy's AsinhStretch: asinh(x / a) / asinh(1 / a), so 0 → 0 and 1 → 1. */
function asinhCurve(a: number): (x: number) => number {
  const norm = Math.asinh(1 / a);
  return (x) => Math.asinh(x / a) / norm;
}

/** Clips to [0, 1]; NaN stays NaN (Math.max/min propagate it), as np.clip does. */
function clip01(x: number): number {
  return Math.min(Math.max(x, 0), 1);
}

/** Rejects option values astropy would reject, or that make no sense for a config. */
function checkOptions(opts: StretchOptions): void {
  if (!STRETCHES.includes(opts.stretch)) {
    throw new StarmambaError(
      `Unknown stretch "${opts.stretch}"; use one of ${STRETCHES.join(", ")}.`,
    );
  }
  const usesPercentile = opts.stretch === "linear" || opts.stretch === "asinh";
  if (usesPercentile && opts.percentile !== null) checkPercentile(opts.percentile);
  if (opts.stretch === "asinh" && !(opts.asinh_a > 0 && opts.asinh_a <= 1)) {
    throw new StarmambaError(
      `asinh_a must be > 0 and ≤ 1 (astropy AsinhStretch; default 0.1), got ${opts.asinh_a}.`,
    );
  }
  if (opts.stretch === "zscale") checkZscale(opts.zscale_contrast, opts.zscale_samples);
}

function checkPercentile(percentile: number): void {
  if (!(percentile > 0 && percentile <= 100)) {
    throw new StarmambaError(
      `percentile must be in (0, 100] (the share of pixels kept, e.g. 99.5), got ${percentile}; ` +
        "use null for the full min/max range.",
    );
  }
}

function checkZscale(contrast: number, nSamples: number): void {
  if (!Number.isFinite(contrast)) {
    throw new StarmambaError(`zscale_contrast must be a number (default 0.25), got ${contrast}.`);
  }
  if (!Number.isInteger(nSamples) || nSamples < 1) {
    throw new StarmambaError(
      `zscale_samples must be a positive integer (default 1000), got ${nSamples}.`,
    );
  }
}

/** The finite values, in input order (NaN and ±Infinity never enter an interval). */
function finiteValues(values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) out[n++] = v;
  }
  return out.subarray(0, n);
}

/** astropy MinMaxInterval: smallest and largest finite value ([NaN, NaN] when there is none). */
function minMaxInterval(values: ArrayLike<number>): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [NaN, NaN];
}

/**
 * astropy PercentileInterval(percentile): the (100 − p) / 2 and 100 − (100 − p) / 2
 * percentiles of the finite values, with np.percentile's default "linear" interpolation.
 * @param values pixel values; NaN and ±Infinity are ignored.
 * @param percentile share of the pixels kept, in (0, 100]: 99.5 drops 0.25% at each end.
 * @returns [vmin, vmax]; [NaN, NaN] when no value is finite.
 * @throws {StarmambaError} when `percentile` is outside (0, 100].
 */
export function percentileInterval(
  values: ArrayLike<number>,
  percentile: number,
): [number, number] {
  checkPercentile(percentile);
  const sorted = finiteValues(values).sort();
  if (sorted.length === 0) return [NaN, NaN];
  // Same arithmetic as astropy (lower, then upper = 100 - lower) so the limits match bit-wise.
  const lower = (100 - percentile) * 0.5;
  const upper = 100 - lower;
  return [quantileSorted(sorted, lower / 100), quantileSorted(sorted, upper / 100)];
}

/**
 * np.quantile(method="linear") of sorted values: the value at virtual index (n − 1) · q,
 * interpolated between its neighbours. NumPy interpolates from the nearer neighbour (b − d·(1 − t)
 * when t ≥ 0.5), which keeps the result exact at t = 1; done the same way here.
 */
function quantileSorted(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  const index = (n - 1) * q;
  if (index >= n - 1) return sorted[n - 1];
  if (index < 0) return sorted[0];
  const below = Math.floor(index);
  const t = index - below;
  const a = sorted[below], b = sorted[below + 1];
  const d = b - a;
  return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

/** A fitted straight line y = slope · x + intercept. */
interface Line {
  slope: number;
  intercept: number;
}

/**
 * astropy ZScaleInterval (IRAF's zscale): fits a line to the sorted sample of the pixel values
 * with iterative k-sigma rejection and sets the limits to the sample median ∓ the fitted slope
 * (divided by `contrast`) times the distance from the central sample, kept within the sample's
 * min and max. Sampling: the finite values in input order, every `stride`-th with
 * stride = ⌊max(1, n / nSamples)⌋, at most `nSamples` of them (m samples). If fewer than
 * max(minNpixels, ⌊m · maxReject⌋) samples survive the rejection, the sample min and max are
 * returned.
 * @param values pixel values (row-major for an image); NaN and ±Infinity are dropped first.
 * @param contrast slope divisor (default 0.25); ≤ 0: the slope is used as fitted.
 * @param nSamples most samples used (default 1000).
 * @param maxReject largest share of the samples that may be rejected (default 0.5).
 * @param minNpixels fewest samples that must survive rejection (default 5).
 * @param krej rejection threshold in standard deviations of the residuals (default 2.5).
 * @param maxIterations most fit-and-reject rounds (default 5).
 * @returns [vmin, vmax]; [NaN, NaN] when no value is finite.
 * @throws {StarmambaError} for a non-finite contrast or a non-positive-integer nSamples.
 */
export function zscaleInterval(
  values: ArrayLike<number>,
  contrast = 0.25,
  nSamples = 1000,
  maxReject = 0.5,
  minNpixels = 5,
  krej = 2.5,
  maxIterations = 5,
): [number, number] {
  checkZscale(contrast, nSamples);
  const samples = zscaleSamples(values, nSamples);
  const npix = samples.length;
  if (npix === 0) return [NaN, NaN];
  let vmin = samples[0];
  let vmax = samples[npix - 1];
  const minpix = Math.max(minNpixels, Math.trunc(npix * maxReject));
  // Rejected samples also reject ~1% of the sample around them (IRAF's "ngrow").
  const ngrow = Math.max(1, Math.trunc(npix * 0.01));
  let bad: Uint8Array = new Uint8Array(npix);
  let ngood = npix;
  let lastNgood = npix + 1;
  let fit: Line | null = null;
  for (let iter = 0; iter < maxIterations; iter++) {
    if (ngood >= lastNgood || ngood < minpix) break;
    // As in astropy, the line kept is the one fitted *before* this round's rejection.
    fit = fitLine(samples, bad);
    const threshold = krej * residualStd(samples, fit, bad);
    rejectBeyond(samples, fit, threshold, bad);
    bad = dilate(bad, ngrow);
    lastNgood = ngood;
    ngood = countGood(bad);
  }
  if (fit !== null && ngood >= minpix) {
    const slope = contrast > 0 ? fit.slope / contrast : fit.slope;
    const center = Math.trunc((npix - 1) / 2);
    const median = medianSorted(samples);
    // The asymmetric (center - 1) is IRAF's and astropy's; kept so the limits match.
    vmin = Math.max(vmin, median - (center - 1) * slope);
    vmax = Math.min(vmax, median + (npix - center) * slope);
  }
  return [vmin, vmax];
}

/** Every stride-th finite value (at most nSamples), sorted ascending. */
function zscaleSamples(values: ArrayLike<number>, nSamples: number): Float64Array {
  const finite = finiteValues(values);
  const stride = Math.trunc(Math.max(1, finite.length / nSamples));
  const n = Math.min(nSamples, Math.ceil(finite.length / stride));
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) samples[i] = finite[i * stride];
  return samples.sort();
}

/** Least-squares line through the good samples (x = sample index), as np.polyfit(deg=1). */
function fitLine(samples: Float64Array, bad: Uint8Array): Line {
  let n = 0, sx = 0, sy = 0;
  for (let i = 0; i < samples.length; i++) {
    if (bad[i]) continue;
    n++;
    sx += i;
    sy += samples[i];
  }
  const xm = sx / n, ym = sy / n;
  // Centred sums: the closed form without cancellation between large x·y and n·xm·ym.
  let sxy = 0, sxx = 0;
  for (let i = 0; i < samples.length; i++) {
    if (bad[i]) continue;
    sxy += (i - xm) * (samples[i] - ym);
    sxx += (i - xm) * (i - xm);
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  return { slope, intercept: ym - slope * xm };
}

/** Population standard deviation (ddof 0) of the good samples' residuals from the line. */
function residualStd(samples: Float64Array, fit: Line, bad: Uint8Array): number {
  let n = 0, sum = 0;
  for (let i = 0; i < samples.length; i++) {
    if (!bad[i]) {
      n++;
      sum += samples[i] - (fit.slope * i + fit.intercept);
    }
  }
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < samples.length; i++) {
    if (!bad[i]) {
      const d = samples[i] - (fit.slope * i + fit.intercept) - mean;
      ss += d * d;
    }
  }
  return Math.sqrt(ss / n);
}

/** Marks every sample (good or already bad) whose residual is beyond ±threshold. */
function rejectBeyond(samples: Float64Array, fit: Line, threshold: number, bad: Uint8Array): void {
  for (let i = 0; i < samples.length; i++) {
    const r = samples[i] - (fit.slope * i + fit.intercept);
    if (r < -threshold || r > threshold) bad[i] = 1;
  }
}

/**
 * Grows the bad mask like np.convolve(mask, ones(ngrow), mode="same"): output i is bad when any
 * of inputs i + off − ngrow + 1 … i + off is, with off = ⌊(ngrow − 1) / 2⌋ (so an even ngrow
 * reaches one further to the left). The whole mask grows each round, old rejections included.
 */
function dilate(bad: Uint8Array, ngrow: number): Uint8Array {
  const n = bad.length;
  const before = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) before[i + 1] = before[i] + bad[i];
  const off = (ngrow - 1) >> 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i + off - ngrow + 1);
    const hi = Math.min(n - 1, i + off);
    out[i] = before[hi + 1] - before[lo] > 0 ? 1 : 0;
  }
  return out;
}

function countGood(bad: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bad.length; i++) if (!bad[i]) n++;
  return n;
}

/** np.median of sorted values: the middle one, or the mean of the middle two. */
function medianSorted(sorted: Float64Array): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
