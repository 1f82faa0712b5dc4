/**
 * Synthetic telescope frames (issue 32): a whole float32 frame with a TAN WCS, stars and galaxies
 * at known positions, for the `classify` bench's 4096×4096 frame and for tests that need frames
 * larger than the committed fixtures (tests/fixtures/frames, made with astropy).
 *
 * What a frame holds, in ADU:
 * - sky: a level with a gentle gradient (±4% across the frame), so a background mesh has work;
 * - stars: a Moffat PSF (Moffat 1969; β = 3, FWHM `fwhm`), total flux log-uniform in
 *   [1e3, 5e5] ADU — with the default sky and `saturate: 30000` about one in thirty clips;
 * - galaxies: Sérsic (1963) profiles I(r) = I_e exp(−b_n((r/R_e)^{1/n} − 1)) with n in [1, 4],
 *   R_e (semi-major axis) in [2, 6] px, ellipticity 1 − q in [0, 0.6] and a position angle,
 *   total flux log-uniform in [5e3, 2e5] ADU (not convolved with the PSF, as astropy's Sersic2D
 *   in the fixtures);
 * - noise: Gaussian with variance RDNOISE² + (sky + signal)/GAIN (Poisson-like), then clipping at
 *   `saturate` and blank columns (NaN, FITS's blank for BITPIX −32).
 *
 * Profiles are averaged over a 3 × 3 sub-grid near their centres. Everything is drawn from
 * `rng(seed, "frame-sources")` and a noise stream seeded from `rng(seed, "frame-noise")`, so the
 * same options give the same bytes. Coordinates follow lib/frames: FITS 1-based (x the column, y
 * the row counting up; the first pixel's centre is (1, 1)), pixels row-major with row 0 = y = 1.
 * @module
 */
import { gzipSync } from "node:zlib";
import { type FitsValue, writeFitsFloat32 } from "../data/fits.ts";
import { gamma, sersicB } from "../data/synthetic.ts";
import { normalStream, type Rng, rng } from "../util/rng.ts";
import { StarmambaError } from "../util/errors.ts";
import { writeFileAtomic } from "../util/fs.ts";

/** Options of {@link syntheticFrame}. */
export interface SyntheticFrameOptions {
  /** Pixels per row (NAXIS1). */
  width: number;
  /** Rows (NAXIS2). */
  height: number;
  /** Point sources. */
  nStars: number;
  /** Sérsic galaxies. */
  nGalaxies: number;
  /** Seed of the frame's random streams. */
  seed: number;
  /** PSF full width at half maximum, px. Default 3. */
  fwhm?: number;
  /** Pixel scale of the TAN WCS (CD matrix), arcsec per pixel. Default 0.5. */
  pixelScaleArcsec?: number;
  /** FITS columns (x, 1-based) that are blank (NaN) over the whole height. Default none. */
  blankColumns?: number[];
  /** Saturation level, ADU: pixels are clipped there and the header records SATURATE. */
  saturate?: number;
  /** Sky level at the frame's centre, ADU. Default 1000. */
  sky?: number;
  /** Gain, e⁻/ADU (sets the Poisson-like noise). Default 2. */
  gain?: number;
  /** Read noise, ADU. Default 5. */
  readNoise?: number;
}

/** One source as drawn: centre in FITS 1-based pixels, total flux of its profile in ADU. */
export interface SyntheticSource {
  /** FITS x of the profile's centre (column, 1-based). */
  x: number;
  /** FITS y of the profile's centre (row counting up, 1-based). */
  y: number;
  /** Star (the PSF) or galaxy (a Sérsic profile). */
  cls: "star" | "galaxy";
  /** The profile's total flux, ADU, before clipping, noise and blanking. */
  flux: number;
}

/** A frame from {@link syntheticFrame}. */
export interface SyntheticFrame {
  /** NAXIS1. */
  width: number;
  /** NAXIS2. */
  height: number;
  /** `width × height` values, row-major, row 0 = FITS y = 1; blank pixels NaN. */
  pixels: Float32Array;
  /** Header cards for {@link writeFitsFloat32}: a TAN WCS (CD matrix), GAIN, RDNOISE, SATURATE… */
  header: Record<string, FitsValue>;
  /** Every source, stars first, in the order drawn. */
  truth: SyntheticSource[];
}

/** Resolved options. */
interface Settings {
  width: number;
  height: number;
  nStars: number;
  nGalaxies: number;
  seed: number;
  fwhm: number;
  scale: number;
  blankColumns: number[];
  saturate?: number;
  sky: number;
  gain: number;
  readNoise: number;
}

/** Moffat β of the PSF. */
const MOFFAT_BETA = 3;
/** Sub-samples per axis near a profile's centre. */
const SUPERSAMPLE = 3;
/** Profiles are rendered out to where they fall below this many ADU (well under the sky noise). */
const FLOOR = 0.05;
/** Largest radius a profile is rendered to, px (bounds a very bright star's cost). */
const MAX_REACH = 64;

/**
 * Makes a synthetic frame: sky, Moffat stars, Sérsic galaxies, noise, clipping, blank columns,
 * and a TAN WCS in the header.
 * @param opts size, source counts, seed, and optionally the PSF FWHM, pixel scale, blank
 *   columns, saturation level, sky, gain and read noise.
 * @returns pixels, header cards and the truth (positions in FITS 1-based pixels).
 * @throws {StarmambaError} for a size, count or option out of range.
 * @example
 * ```ts
 * import { syntheticFrame } from "./synthetic.ts";
 * const frame = syntheticFrame({ width: 128, height: 96, nStars: 10, nGalaxies: 3, seed: 1 });
 * console.log(frame.truth.length, frame.header["CTYPE1"]); // 13 "RA---TAN"
 * ```
 */
export function syntheticFrame(opts: SyntheticFrameOptions): SyntheticFrame {
  const s = settings(opts);
  const r = rng(s.seed, "frame-sources");
  const header = wcsHeader(s, r);
  const truth: SyntheticSource[] = [];
  const pixels = new Float32Array(s.width * s.height);
  const psf = moffatShape(s.fwhm);
  for (let i = 0; i < s.nStars; i++) truth.push(addStar(pixels, s, r, psf));
  for (let i = 0; i < s.nGalaxies; i++) truth.push(addGalaxy(pixels, s, r));
  observe(pixels, s, rng(s.seed, "frame-noise").int(2 ** 31));
  return { width: s.width, height: s.height, pixels, header, truth };
}

/**
 * Makes a synthetic frame ({@link syntheticFrame}) and writes it as a float32 FITS file
 * (BITPIX −32, one primary HDU), gzipped when `path` ends in `.gz`, atomically.
 * @param path the file to write (its folder is created).
 * @param opts as {@link syntheticFrame}.
 * @returns the frame written (its truth says where the sources are).
 * @throws {StarmambaError} for bad options, or when the file cannot be written.
 * @example
 * ```ts
 * import { writeSyntheticFrame } from "./synthetic.ts";
 * // The bench's frame is 4096 × 4096 with 4,000 stars and 1,000 galaxies (64 MB).
 * const path = Deno.makeTempFileSync({ suffix: ".fits" });
 * const { truth } = writeSyntheticFrame(path, {
 *   width: 256, height: 256, nStars: 40, nGalaxies: 10, seed: 32, saturate: 30000,
 * });
 * console.log(truth.length); // 50
 * Deno.removeSync(path);
 * ```
 */
export function writeSyntheticFrame(path: string, opts: SyntheticFrameOptions): SyntheticFrame {
  const frame = syntheticFrame(opts);
  const bytes = writeFitsFloat32(frame.width, frame.height, frame.pixels, frame.header);
  writeFileAtomic(path, path.endsWith(".gz") ? new Uint8Array(gzipSync(bytes)) : bytes);
  return frame;
}

/** Checks and completes the options. */
function settings(opts: SyntheticFrameOptions): Settings {
  const bad = (what: string) => {
    throw new StarmambaError(`syntheticFrame: ${what}.`);
  };
  for (const key of ["width", "height"] as const) {
    if (!Number.isInteger(opts[key]) || opts[key] < 1) bad(`${key} must be a positive integer`);
  }
  for (const key of ["nStars", "nGalaxies", "seed"] as const) {
    if (!Number.isInteger(opts[key]) || opts[key] < 0) bad(`${key} must be an integer ≥ 0`);
  }
  const s: Settings = {
    width: opts.width,
    height: opts.height,
    nStars: opts.nStars,
    nGalaxies: opts.nGalaxies,
    seed: opts.seed,
    fwhm: opts.fwhm ?? 3,
    scale: opts.pixelScaleArcsec ?? 0.5,
    blankColumns: opts.blankColumns ?? [],
    saturate: opts.saturate,
    sky: opts.sky ?? 1000,
    gain: opts.gain ?? 2,
    readNoise: opts.readNoise ?? 5,
  };
  for (const key of ["fwhm", "scale", "gain"] as const) {
    if (!(Number.isFinite(s[key]) && s[key] > 0)) bad(`${key} must be a positive number`);
  }
  if (!(s.sky >= 0 && s.readNoise >= 0)) bad("sky and readNoise must be numbers ≥ 0");
  if (s.saturate !== undefined && !(Number.isFinite(s.saturate) && s.saturate > s.sky)) {
    bad(`saturate must be a number above the sky (${s.sky} ADU)`);
  }
  for (const c of s.blankColumns) {
    if (!Number.isInteger(c) || c < 1 || c > s.width) {
      bad(`blank column ${c} is not a FITS column 1..${s.width}`);
    }
  }
  return s;
}

/**
 * The header: a TAN WCS with a CD matrix of `scale` arcsec/px rotated by a random angle (RA
 * increasing to the left, as on the sky), centred on the frame at a random (RA, Dec), and the
 * observing cards.
 */
function wcsHeader(s: Settings, r: Rng): Record<string, FitsValue> {
  const ra = r.uniform(0, 360);
  const dec = r.uniform(-60, 60);
  const angle = r.uniform(0, 2 * Math.PI);
  const cdelt = s.scale / 3600;
  const cos = Math.cos(angle), sin = Math.sin(angle);
  const header: Record<string, FitsValue> = {
    BUNIT: "adu",
    OBJECT: "starmamba synthetic frame",
    GAIN: s.gain,
    RDNOISE: s.readNoise,
    SEEING: s.fwhm * s.scale,
    CTYPE1: "RA---TAN",
    CTYPE2: "DEC--TAN",
    CRPIX1: (s.width + 1) / 2,
    CRPIX2: (s.height + 1) / 2,
    CRVAL1: ra,
    CRVAL2: dec,
    CD1_1: -cdelt * cos,
    CD1_2: -cdelt * sin,
    CD2_1: -cdelt * sin,
    CD2_2: cdelt * cos,
    RADESYS: "ICRS",
  };
  if (s.saturate !== undefined) header.SATURATE = s.saturate;
  return header;
}

/** A profile's shape at an offset from its centre; 1 at the centre for the PSF. */
type Shape = (dx: number, dy: number) => number;

/** The Moffat PSF I(r) = (1 + (r/α)²)^{−β}, FWHM = 2α√(2^{1/β} − 1), and its flux per unit I_0. */
function moffatShape(fwhm: number): { shape: Shape; alpha: number; area: number } {
  const alpha = fwhm / (2 * Math.sqrt(Math.pow(2, 1 / MOFFAT_BETA) - 1));
  const inv2 = 1 / (alpha * alpha);
  return {
    // β = 3 exactly: a cube instead of Math.pow, the PSF is evaluated most often.
    shape: (dx, dy) => {
      const t = 1 / (1 + (dx * dx + dy * dy) * inv2);
      return t * t * t;
    },
    alpha,
    area: (Math.PI * alpha * alpha) / (MOFFAT_BETA - 1),
  };
}

/** Draws a star, adds it to `pixels` and returns its truth. */
function addStar(
  pixels: Float32Array,
  s: Settings,
  r: Rng,
  psf: { shape: Shape; alpha: number; area: number },
): SyntheticSource {
  const cx = r.uniform(0, s.width - 1), cy = r.uniform(0, s.height - 1);
  const flux = logUniform(r, 1e3, 5e5);
  const i0 = flux / psf.area;
  // The Moffat profile falls to FLOOR at r = α √((I_0/FLOOR)^{1/β} − 1).
  const reach = psf.alpha * Math.sqrt(Math.max(0, Math.pow(i0 / FLOOR, 1 / MOFFAT_BETA) - 1));
  addProfile(pixels, s, cx, cy, i0, psf.shape, reach, 3);
  return { x: cx + 1, y: cy + 1, cls: "star", flux };
}

/** Draws a Sérsic galaxy, adds it to `pixels` and returns its truth. */
function addGalaxy(pixels: Float32Array, s: Settings, r: Rng): SyntheticSource {
  const cx = r.uniform(0, s.width - 1), cy = r.uniform(0, s.height - 1);
  const flux = logUniform(r, 5e3, 2e5);
  const n = r.uniform(1, 4), re = r.uniform(2, 6), q = 1 - r.uniform(0, 0.6);
  const theta = r.uniform(0, Math.PI);
  const bn = sersicB(n);
  // Total flux of I_e exp(−b_n((r/R_e)^{1/n} − 1)) over ellipses of axis ratio q.
  const ie = flux / (2 * Math.PI * n * re * re * q * Math.exp(bn) * gamma(2 * n) /
    Math.pow(bn, 2 * n));
  const cos = Math.cos(theta), sin = Math.sin(theta);
  const invN = 1 / n, invRe = 1 / re, invQ = 1 / q;
  const shape: Shape = (dx, dy) => {
    const u = dx * cos + dy * sin;
    const w = (-dx * sin + dy * cos) * invQ;
    const rr = Math.sqrt(u * u + w * w) * invRe;
    return Math.exp(-bn * (Math.pow(rr, invN) - 1));
  };
  // I = FLOOR at r/R_e = (1 + ln(I_e/FLOOR)/b_n)^n along the major axis.
  const reach = re * Math.pow(Math.max(0, 1 + Math.log(ie / FLOOR) / bn), n);
  addProfile(pixels, s, cx, cy, ie, shape, reach, Math.max(3, 1.5 * re));
  return { x: cx + 1, y: cy + 1, cls: "galaxy", flux };
}

/**
 * pixels += amp · shape(x − cx, y − cy) (0-based pixel centres) within `reach` of the centre,
 * averaged over a {@link SUPERSAMPLE}² sub-grid within `near` px, where the profile changes
 * inside a pixel.
 */
function addProfile(
  pixels: Float32Array,
  s: Settings,
  cx: number,
  cy: number,
  amp: number,
  shape: Shape,
  reach0: number,
  near: number,
): void {
  const reach = Math.min(MAX_REACH, reach0);
  const x0 = Math.max(0, Math.floor(cx - reach)), x1 = Math.min(s.width - 1, Math.ceil(cx + reach));
  const y0 = Math.max(0, Math.floor(cy - reach)),
    y1 = Math.min(s.height - 1, Math.ceil(cy + reach));
  const near2 = (near + 0.75) ** 2, reach2 = reach * reach;
  const step = 1 / SUPERSAMPLE, first = -0.5 + step / 2, subAmp = amp / SUPERSAMPLE ** 2;
  for (let y = y0; y <= y1; y++) {
    const dy = y - cy, row = y * s.width;
    for (let x = x0; x <= x1; x++) {
      const dx = x - cx, d2 = dx * dx + dy * dy;
      if (d2 > reach2) continue;
      if (d2 > near2) {
        pixels[row + x] += amp * shape(dx, dy);
        continue;
      }
      let sum = 0;
      for (let sy = 0; sy < SUPERSAMPLE; sy++) {
        for (let sx = 0; sx < SUPERSAMPLE; sx++) {
          sum += shape(dx + first + sx * step, dy + first + sy * step);
        }
      }
      pixels[row + x] += subAmp * sum;
    }
  }
}

/**
 * Turns the source signal into what the detector records, in place: + sky (with a gradient),
 * + Gaussian noise of variance RDNOISE² + (sky + signal)/GAIN, clipped at SATURATE, blank
 * columns NaN.
 */
function observe(pixels: Float32Array, s: Settings, noiseSeed: number): void {
  const normal = normalStream(noiseSeed);
  const rn2 = s.readNoise * s.readNoise, invGain = 1 / s.gain;
  const top = s.saturate ?? Infinity;
  const gx = (0.04 * s.sky) / s.width, gy = (-0.03 * s.sky) / s.height;
  for (let y = 0; y < s.height; y++) {
    const row = y * s.width, skyRow = s.sky + gy * (y - s.height / 2);
    for (let x = 0; x < s.width; x++) {
      const mean = skyRow + gx * (x - s.width / 2) + pixels[row + x];
      const v = mean + normal() * Math.sqrt(rn2 + Math.max(0, mean) * invGain);
      pixels[row + x] = v < top ? v : top;
    }
  }
  for (const c of s.blankColumns) {
    for (let y = 0; y < s.height; y++) pixels[y * s.width + c - 1] = NaN;
  }
}

/** Log-uniform draw in [lo, hi): fluxes span decades. */
function logUniform(r: Rng, lo: number, hi: number): number {
  return Math.exp(r.uniform(Math.log(lo), Math.log(hi)));
}
