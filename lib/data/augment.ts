/**
 * Per-sample seeded augmentation and batch assembly. The reference recipe is the torchvision
 * pipeline of the MedMamba-style training script:
 *   RandomHorizontalFlip → RandomRotation(15) → RandomResizedCrop(scale 0.8–1) →
 *   ColorJitter(brightness 0.2, contrast 0.2) → RandomGrayscale(0.1) → Normalize → + N(0, 0.1²)
 * with torchvision's semantics for every op (bilinear sampling with align_corners = False, the
 * ITU-R 601 grayscale weights, the RandomResizedCrop box search). Vertical flips and k·90°
 * rotations are extra switches: the sky has no up.
 *
 * Images are float32 NHWC in [0, 1]. Every op works on any channel count; when a sample's
 * channels are all equal (grayscale cutouts stored as RGB) the geometric and photometric ops run
 * on one plane and the result is replicated, which gives bitwise the same result 3× faster.
 * @module
 */
import type { Dataset } from "./types.ts";
import { type Rng, rng as makeRng } from "../util/rng.ts";
import { StarmambaError } from "../util/errors.ts";

/** Which augmentations run, and how strongly. */
export interface AugmentConfig {
  /** Horizontal flip with p = 0.5. */
  hflip: boolean;
  /** Vertical flip with p = 0.5 (beyond the reference). */
  vflip: boolean;
  /** Counter-clockwise rotation by k·90°, k uniform in 0..3 (beyond the reference). */
  rot90: boolean;
  /** Rotation by an angle uniform in ±deg, bilinear, fill 0; 0 = off (reference 15). */
  rotate_deg: number;
  /** RandomResizedCrop area-scale range, aspect ratio in (3/4, 4/3), back to full size. */
  crop_scale: [number, number] | null;
  /** ColorJitter brightness: factor uniform in [max(0, 1 − b), 1 + b]; 0 = off. */
  brightness: number;
  /** ColorJitter contrast: blend with the mean gray level, factor in [max(0, 1 − c), 1 + c]. */
  contrast: number;
  /** RandomGrayscale probability (on R = G = B images this only rescales by Σ weights = 0.9999). */
  grayscale_p: number;
  /** Standard deviation of Gaussian noise added after normalisation; 0 = off. */
  noise_std: number;
}

/** The reference recipe. */
export const REFERENCE_AUGMENT: Readonly<AugmentConfig> = Object.freeze({
  hflip: true,
  vflip: false,
  rot90: false,
  rotate_deg: 15,
  crop_scale: [0.8, 1.0] as [number, number],
  brightness: 0.2,
  contrast: 0.2,
  grayscale_p: 0.1,
  noise_std: 0.1,
});

/** Every augmentation off (normalisation only, like `augment: null`). */
export const NO_AUGMENT: Readonly<AugmentConfig> = Object.freeze({
  hflip: false,
  vflip: false,
  rot90: false,
  rotate_deg: 0,
  crop_scale: null,
  brightness: 0,
  contrast: 0,
  grayscale_p: 0,
  noise_std: 0,
});

/** RandomResizedCrop aspect-ratio range (torchvision default). */
export const CROP_RATIO: readonly [number, number] = [3 / 4, 4 / 3];

/** ITU-R 601-2 luma weights, as torchvision's rgb_to_grayscale. */
const GRAY_R = 0.2989, GRAY_G = 0.587, GRAY_B = 0.114;

/** A crop box in pixels: rows [top, top + height), columns [left, left + width). */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** The random draws of one sample; `null` / `false` = op not applied. */
export interface AugmentParams {
  hflip: boolean;
  vflip: boolean;
  /** Number of counter-clockwise quarter turns, 0..3. */
  k: number;
  /** Rotation angle in degrees (counter-clockwise), or null. */
  angle: number | null;
  crop: CropBox | null;
  brightness: number | null;
  contrast: number | null;
  grayscale: boolean;
  /** Seed of the sample's noise stream, or null when noise is off. */
  noiseSeed: number | null;
}

/** Options of {@link makeBatch}. */
export interface BatchOptions {
  /** null = evaluation: normalise only. */
  augment: AugmentConfig | null;
  /** Normalisation mean (one value for every channel). */
  mean: number;
  /** Normalisation standard deviation. */
  std: number;
  /** Stream for the random draws; default `rng(0, "augment")`. */
  rng?: Rng;
}

/**
 * Copies images `indices` of `ds` into a new NHWC batch, augments each sample (unless
 * `augment` is null), clamps to [0, 1], normalises (x − mean) / std and adds the noise.
 * Deterministic given the stream state.
 */
export function makeBatch(
  ds: Dataset,
  indices: ArrayLike<number>,
  opts: BatchOptions,
): Float32Array {
  const { height: h, width: w, channels: c } = ds;
  const size = h * w * c;
  if (!(opts.std > 0)) {
    throw new StarmambaError(
      `normalisation std = ${opts.std} must be > 0; set data.std to a positive number`,
    );
  }
  if (opts.augment) validateAugment(opts.augment);
  const out = new Float32Array(indices.length * size);
  const r = opts.augment ? (opts.rng ?? makeRng(0, "augment")) : null;
  const ws = makeWorkspace(size);
  for (let b = 0; b < indices.length; b++) {
    const idx = indices[b];
    if (!(Number.isInteger(idx) && idx >= 0 && idx < ds.n)) {
      throw new RangeError(`makeBatch: index ${idx} is outside the dataset (n = ${ds.n})`);
    }
    const src = ds.images.subarray(idx * size, (idx + 1) * size);
    if (!opts.augment || !r) {
      normaliseInto(src, 1, 1, out, b * size, opts.mean, opts.std);
      continue;
    }
    const p = sampleAugmentParams(opts.augment, h, w, r);
    const res = augmentCore(src, h, w, c, p, ws);
    normaliseInto(res.img, res.planeChannels, c, out, b * size, opts.mean, opts.std);
    if (p.noiseSeed !== null) addNoise(out, b * size, size, opts.augment.noise_std, p.noiseSeed);
  }
  return out;
}

/** Throws a {@link StarmambaError} naming the first out-of-range key of `cfg`. */
export function validateAugment(cfg: AugmentConfig): void {
  const bad = (key: string, value: unknown, fix: string): never => {
    throw new StarmambaError(`augment.${key} = ${JSON.stringify(value)} is invalid; ${fix}`);
  };
  if (!(cfg.rotate_deg >= 0 && cfg.rotate_deg <= 180)) {
    bad("rotate_deg", cfg.rotate_deg, "use degrees in [0, 180] (0 = off)");
  }
  if (cfg.crop_scale !== null) {
    const s = cfg.crop_scale;
    if (!(Array.isArray(s) && s.length === 2 && s[0] > 0 && s[0] <= s[1] && s[1] <= 1)) {
      bad("crop_scale", s, "use [lo, hi] with 0 < lo ≤ hi ≤ 1 (e.g. [0.8, 1.0]) or null");
    }
  }
  if (!(cfg.brightness >= 0)) bad("brightness", cfg.brightness, "use a number ≥ 0 (0 = off)");
  if (!(cfg.contrast >= 0)) bad("contrast", cfg.contrast, "use a number ≥ 0 (0 = off)");
  if (!(cfg.grayscale_p >= 0 && cfg.grayscale_p <= 1)) {
    bad("grayscale_p", cfg.grayscale_p, "use a probability in [0, 1]");
  }
  if (!(cfg.noise_std >= 0)) bad("noise_std", cfg.noise_std, "use a number ≥ 0 (0 = off)");
}

/**
 * Draws one sample's parameters in pipeline order. Ops that are off draw nothing. Odd quarter
 * turns are only drawn for square images (they would change the shape otherwise).
 */
export function sampleAugmentParams(
  cfg: AugmentConfig,
  h: number,
  w: number,
  r: Rng,
): AugmentParams {
  const hflip = cfg.hflip ? r.next() < 0.5 : false;
  const vflip = cfg.vflip ? r.next() < 0.5 : false;
  const k = cfg.rot90 ? (h === w ? r.int(4) : 2 * r.int(2)) : 0;
  const angle = cfg.rotate_deg > 0 ? r.uniform(-cfg.rotate_deg, cfg.rotate_deg) : null;
  const crop = cfg.crop_scale ? sampleCropBox(h, w, cfg.crop_scale, CROP_RATIO, r) : null;
  const jitter = (amount: number): number | null =>
    amount > 0 ? r.uniform(Math.max(0, 1 - amount), 1 + amount) : null;
  const brightness = jitter(cfg.brightness);
  const contrast = jitter(cfg.contrast);
  const grayscale = cfg.grayscale_p > 0 ? r.next() < cfg.grayscale_p : false;
  const noiseSeed = cfg.noise_std > 0 ? r.int(0x100000000) : null;
  return { hflip, vflip, k, angle, crop, brightness, contrast, grayscale, noiseSeed };
}

/** Two ping-pong buffers of one sample's size, reused across a batch. */
export interface Workspace {
  a: Float32Array;
  b: Float32Array;
}

/** Allocates a {@link Workspace} for samples of `size` values. */
export function makeWorkspace(size: number): Workspace {
  return { a: new Float32Array(size), b: new Float32Array(size) };
}

/**
 * Applies `p` to one HWC image in [0, 1], in the reference order (flips / rot90, rotation,
 * resized crop, brightness, contrast, grayscale), and clamps to [0, 1]. `src` is not modified;
 * the result lives in `ws` (copy it before the next call).
 */
export function augmentSample(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  p: AugmentParams,
  ws: Workspace = makeWorkspace(h * w * c),
): Float32Array {
  const { img, planeChannels } = augmentCore(src, h, w, c, p, ws);
  if (planeChannels === c) return img;
  // A replicated plane: spread it back over the c channels.
  const out = img.buffer === ws.a.buffer ? ws.b : ws.a;
  for (let i = 0, j = 0; i < img.length; i++, j += c) {
    for (let q = 0; q < c; q++) out[j + q] = img[i];
  }
  return out;
}

/**
 * {@link augmentSample} without the final replication: when all channels of `src` are equal
 * the ops run on one plane (planeChannels = 1), which is bitwise the same and c× cheaper.
 */
function augmentCore(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  p: AugmentParams,
  ws: Workspace,
): { img: Float32Array; planeChannels: number } {
  const single = c > 1 && channelsIdentical(src, c);
  const cw = single ? 1 : c;
  let cur = ws.a, spare = ws.b;
  if (single) { for (let i = 0, j = 0; j < src.length; i++, j += c) cur[i] = src[j]; }
  else cur.set(src);
  let ch = h, cwid = w;
  const step = (fn: (s: Float32Array, d: Float32Array) => void): void => {
    fn(cur, spare);
    [cur, spare] = [spare, cur];
  };
  if (p.hflip) step((s, d) => hflip(s, ch, cwid, cw, d));
  if (p.vflip) step((s, d) => vflip(s, ch, cwid, cw, d));
  if (p.k % 4 !== 0) {
    if (p.k % 2 === 1 && h !== w && !p.crop) {
      throw new RangeError(`augmentSample: an odd quarter turn changes a ${h}×${w} image's shape`);
    }
    step((s, d) => rot90(s, ch, cwid, cw, p.k, d));
    if (p.k % 2 === 1) [ch, cwid] = [cwid, ch];
  }
  if (p.angle !== null) {
    const angle = p.angle;
    step((s, d) => rotate(s, ch, cwid, cw, angle, d));
  }
  if (p.crop) {
    const box = p.crop;
    step((s, d) => resizedCrop(s, ch, cwid, cw, box, h, w, d));
  }
  const img = cur.subarray(0, h * w * cw);
  if (p.brightness !== null) adjustBrightness(img, p.brightness);
  // The mean gray level of a replicated plane is that of (v, v, v) pixels, as for RGB.
  if (p.contrast !== null) adjustContrast(img, cw, p.contrast, single ? c : cw);
  if (p.grayscale) toGrayscale(img, cw, single ? c : cw);
  clamp01(img);
  return { img, planeChannels: cw };
}

/** True when every pixel of the HWC image has equal channels. */
export function channelsIdentical(img: Float32Array, c: number): boolean {
  for (let j = 0; j < img.length; j += c) {
    const v = img[j];
    for (let q = 1; q < c; q++) if (img[j + q] !== v) return false;
  }
  return true;
}

/** Mirrors columns: dst[y][x] = src[y][w − 1 − x]. Returns dst (must not alias src). */
export function hflip(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  dst: Float32Array = new Float32Array(h * w * c),
): Float32Array {
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const d = (row + x) * c, s = (row + w - 1 - x) * c;
      for (let q = 0; q < c; q++) dst[d + q] = src[s + q];
    }
  }
  return dst;
}

/** Mirrors rows: dst[y][x] = src[h − 1 − y][x]. Returns dst (must not alias src). */
export function vflip(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  dst: Float32Array = new Float32Array(h * w * c),
): Float32Array {
  const rowLen = w * c;
  for (let y = 0; y < h; y++) {
    dst.set(src.subarray((h - 1 - y) * rowLen, (h - y) * rowLen), y * rowLen);
  }
  return dst;
}

/**
 * Rotates counter-clockwise (as displayed, row 0 at the top) by k quarter turns, like
 * `np.rot90(img, k)`. For odd k the result is w × h. Returns dst (must not alias src).
 */
export function rot90(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  k: number,
  dst: Float32Array = new Float32Array(h * w * c),
): Float32Array {
  const kk = ((k % 4) + 4) % 4;
  const oh = kk % 2 === 1 ? w : h, ow = kk % 2 === 1 ? h : w;
  // Source pixel index = base + i·di + j·dj for output row i, column j.
  const [base, di, dj] = kk === 0
    ? [0, w, 1]
    : kk === 1
    ? [w - 1, -1, w]
    : kk === 2
    ? [(h - 1) * w + w - 1, -w, -1]
    : [(h - 1) * w, 1, -w];
  for (let i = 0; i < oh; i++) {
    for (let j = 0; j < ow; j++) {
      const d = (i * ow + j) * c, s = (base + i * di + j * dj) * c;
      for (let q = 0; q < c; q++) dst[d + q] = src[s + q];
    }
  }
  return dst;
}

/** The 8 symmetries of a square: quarter turns 0–3, then the same after a horizontal flip. */
export const DIHEDRAL_VIEWS = 8;

/**
 * View `t` (0 ≤ t < 8) of a square image: `rot90(·, t mod 4)`, horizontally flipped first when
 * t ≥ 4. t = 0 is the image itself. Used for test-time augmentation. Returns dst.
 */
export function dihedral(
  src: Float32Array,
  size: number,
  c: number,
  t: number,
  dst: Float32Array = new Float32Array(size * size * c),
): Float32Array {
  if (!Number.isInteger(t) || t < 0 || t >= DIHEDRAL_VIEWS) {
    throw new RangeError(`dihedral view ${t}: expected 0…7`);
  }
  const base = t >= 4 ? hflip(src, size, size, c) : src;
  if (t % 4 === 0) {
    dst.set(base);
    return dst;
  }
  return rot90(base, size, size, c, t % 4, dst);
}

/**
 * Rotates counter-clockwise by `deg` about the image centre with bilinear sampling and fill 0,
 * as torchvision's rotate(…, BILINEAR, fill=0) on tensors: grid_sample with zero padding
 * (align_corners = False), times the equally resampled in-bounds mask.
 */
export function rotate(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  deg: number,
  dst: Float32Array = new Float32Array(h * w * c),
): Float32Array {
  const t = (deg * Math.PI) / 180;
  const cos = Math.cos(t), sin = Math.sin(t);
  const cx = (w - 1) / 2, cy = (h - 1) / 2;
  for (let y = 0; y < h; y++) {
    const dy = y - cy;
    for (let x = 0; x < w; x++) {
      const dx = x - cx;
      // Inverse map of a counter-clockwise turn in a y-down frame.
      const sx = cos * dx - sin * dy + cx;
      const sy = sin * dx + cos * dy + cy;
      sampleBilinearMasked(src, h, w, c, sx, sy, dst, (y * w + x) * c);
    }
  }
  return dst;
}

/**
 * dst[d..d+c) = bilinear sample of src at (sx, sy) with zero padding, times the in-bounds weight
 * (torchvision's fill mask). The same expression serves every channel count, so a replicated
 * plane and its RGB image give bitwise-equal results.
 */
function sampleBilinearMasked(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  sx: number,
  sy: number,
  dst: Float32Array,
  d: number,
): void {
  const x0 = Math.floor(sx), y0 = Math.floor(sy);
  if (x0 < -1 || y0 < -1 || x0 >= w || y0 >= h) {
    for (let q = 0; q < c; q++) dst[d + q] = 0;
    return;
  }
  const fx = sx - x0, fy = sy - y0;
  let w00 = (1 - fx) * (1 - fy), w01 = fx * (1 - fy), w10 = (1 - fx) * fy, w11 = fx * fy;
  const inX0 = x0 >= 0, inX1 = x0 + 1 < w, inY0 = y0 >= 0, inY1 = y0 + 1 < h;
  if (inX0 && inX1 && inY0 && inY1) {
    const a = (y0 * w + x0) * c, b = a + c, e = a + w * c, g = e + c;
    for (let q = 0; q < c; q++) {
      dst[d + q] = w00 * src[a + q] + w01 * src[b + q] + w10 * src[e + q] + w11 * src[g + q];
    }
    return;
  }
  // Border: out-of-bounds taps weigh 0 (and read a clamped, valid index).
  if (!(inX0 && inY0)) w00 = 0;
  if (!(inX1 && inY0)) w01 = 0;
  if (!(inX0 && inY1)) w10 = 0;
  if (!(inX1 && inY1)) w11 = 0;
  const mask = w00 + w01 + w10 + w11;
  const cx0 = Math.max(x0, 0), cx1 = Math.min(x0 + 1, w - 1);
  const cy0 = Math.max(y0, 0), cy1 = Math.min(y0 + 1, h - 1);
  const a = (cy0 * w + cx0) * c, b = (cy0 * w + cx1) * c;
  const e = (cy1 * w + cx0) * c, g = (cy1 * w + cx1) * c;
  for (let q = 0; q < c; q++) {
    dst[d + q] = (w00 * src[a + q] + w01 * src[b + q] + w10 * src[e + q] + w11 * src[g + q]) *
      mask;
  }
}

/**
 * torchvision RandomResizedCrop.get_params: up to 10 tries at an area in `scale` × h·w and a
 * log-uniform aspect ratio in `ratio`, else the central crop clamped to `ratio`. Rounding is
 * Python's round (half to even).
 */
export function sampleCropBox(
  h: number,
  w: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  r: Rng,
): CropBox {
  const area = h * w;
  const logLo = Math.log(ratio[0]), logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * r.uniform(scale[0], scale[1]);
    const aspect = Math.exp(r.uniform(logLo, logHi));
    const cw = roundHalfEven(Math.sqrt(target * aspect));
    const chh = roundHalfEven(Math.sqrt(target / aspect));
    if (cw > 0 && cw <= w && chh > 0 && chh <= h) {
      const top = r.int(h - chh + 1);
      const left = r.int(w - cw + 1);
      return { top, left, height: chh, width: cw };
    }
  }
  const inRatio = w / h;
  let cw = w, chh = h;
  if (inRatio < Math.min(...ratio)) chh = roundHalfEven(cw / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) cw = roundHalfEven(chh * Math.max(...ratio));
  return { top: Math.floor((h - chh) / 2), left: Math.floor((w - cw) / 2), height: chh, width: cw };
}

/** Python 3 round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Crops `box` and resizes it to outH × outW with bilinear interpolation, align_corners = False
 * (PyTorch's upsample_bilinear2d: src = (dst + ½)·scale − ½, clamped at the edges).
 * Returns dst (must not alias src).
 */
export function resizedCrop(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  box: CropBox,
  outH: number,
  outW: number,
  dst: Float32Array = new Float32Array(outH * outW * c),
): Float32Array {
  if (box.top < 0 || box.left < 0 || box.top + box.height > h || box.left + box.width > w) {
    throw new RangeError(`resizedCrop: box ${JSON.stringify(box)} is outside ${h}×${w}`);
  }
  const ys = axisTaps(box.height, outH), xs = axisTaps(box.width, outW);
  for (let y = 0; y < outH; y++) {
    const r0 = (box.top + ys.i0[y]) * w, r1 = (box.top + ys.i1[y]) * w;
    const fy = ys.f[y];
    for (let x = 0; x < outW; x++) {
      const c0 = box.left + xs.i0[x], c1 = box.left + xs.i1[x];
      const fx = xs.f[x];
      const a = (r0 + c0) * c, b = (r0 + c1) * c, e = (r1 + c0) * c, g = (r1 + c1) * c;
      const d = (y * outW + x) * c;
      for (let q = 0; q < c; q++) {
        const top = src[a + q] + fx * (src[b + q] - src[a + q]);
        const bottom = src[e + q] + fx * (src[g + q] - src[e + q]);
        dst[d + q] = top + fy * (bottom - top);
      }
    }
  }
  return dst;
}

/** Source indices and weights along one axis for align_corners = False resizing. */
function axisTaps(n: number, out: number): { i0: Int32Array; i1: Int32Array; f: Float64Array } {
  const i0 = new Int32Array(out), i1 = new Int32Array(out), f = new Float64Array(out);
  const scale = n / out;
  for (let o = 0; o < out; o++) {
    const s = Math.max(0, (o + 0.5) * scale - 0.5);
    const lo = Math.min(Math.floor(s), n - 1);
    i0[o] = lo;
    i1[o] = Math.min(lo + 1, n - 1);
    f[o] = s - lo;
  }
  return { i0, i1, f };
}

/** ColorJitter brightness: x ← clamp(factor · x, 0, 1), in place. */
export function adjustBrightness(img: Float32Array, factor: number): Float32Array {
  for (let i = 0; i < img.length; i++) {
    const v = factor * img[i];
    img[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return img;
}

/**
 * ColorJitter contrast: x ← clamp(factor · x + (1 − factor) · m, 0, 1), in place, where m is the
 * mean gray level (the mean of the image when it has one channel). `logicalChannels` = 3 with
 * c = 1 treats the plane as a replicated RGB image (gray level of (v, v, v)).
 */
export function adjustContrast(
  img: Float32Array,
  c: number,
  factor: number,
  logicalChannels = c,
): Float32Array {
  const m = meanGray(img, c, logicalChannels);
  const offset = (1 - factor) * m;
  for (let i = 0; i < img.length; i++) {
    const v = factor * img[i] + offset;
    img[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return img;
}

/** Mean of the per-pixel gray level (ITU-R 601 for 3 channels, identity for 1). */
function meanGray(img: Float32Array, c: number, logicalChannels: number): number {
  let sum = 0;
  if (logicalChannels !== 3) {
    for (let i = 0; i < img.length; i++) sum += img[i];
    return sum / img.length;
  }
  if (c === 1) {
    for (let i = 0; i < img.length; i++) sum += gray(img[i], img[i], img[i]);
    return sum / img.length;
  }
  for (let j = 0; j < img.length; j += 3) sum += gray(img[j], img[j + 1], img[j + 2]);
  return sum / (img.length / 3);
}

/** The luma of one pixel; one expression so both code paths round identically. */
function gray(r: number, g: number, b: number): number {
  return GRAY_R * r + GRAY_G * g + GRAY_B * b;
}

/**
 * RandomGrayscale's op, in place: every channel ← the ITU-R 601 luma. One channel: no-op.
 * `logicalChannels` = 3 with c = 1 treats the plane as a replicated RGB image.
 */
export function toGrayscale(img: Float32Array, c: number, logicalChannels = c): Float32Array {
  if (logicalChannels !== 3) return img;
  if (c === 1) {
    for (let i = 0; i < img.length; i++) img[i] = gray(img[i], img[i], img[i]);
    return img;
  }
  for (let j = 0; j < img.length; j += 3) {
    const l = gray(img[j], img[j + 1], img[j + 2]);
    img[j] = img[j + 1] = img[j + 2] = l;
  }
  return img;
}

/** Clamps to [0, 1] in place (NaN becomes 0). */
export function clamp01(img: Float32Array): Float32Array {
  for (let i = 0; i < img.length; i++) {
    const v = img[i];
    img[i] = v > 0 ? (v < 1 ? v : 1) : 0;
  }
  return img;
}

/**
 * out[offset + …] = (clamp(x, 0, 1) − mean) / std, spreading each of x's `xChannels` values
 * per pixel over `outChannels` (1 → c replicates a plane; equal counts copy).
 */
export function normaliseInto(
  x: Float32Array,
  xChannels: number,
  outChannels: number,
  out: Float32Array,
  offset: number,
  mean: number,
  std: number,
): void {
  if (xChannels === outChannels) {
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      out[offset + i] = ((v > 0 ? (v < 1 ? v : 1) : 0) - mean) / std;
    }
    return;
  }
  for (let i = 0, j = offset; i < x.length; i++, j += outChannels) {
    const v = x[i];
    const y = ((v > 0 ? (v < 1 ? v : 1) : 0) - mean) / std;
    for (let q = 0; q < outChannels; q++) out[j + q] = y;
  }
}

/**
 * Adds std · N(0, 1) to out[offset, offset + n), from a per-sample stream (see
 * {@link normalStream}).
 */
export function addNoise(
  out: Float32Array,
  offset: number,
  n: number,
  std: number,
  seed: number,
): void {
  const normal = normalStream(seed);
  for (let i = offset; i < offset + n; i++) out[i] += std * normal();
}

/** Ziggurat layers of Marsaglia & Tsang (2000), 128 strips. */
const ZIG = buildZiggurat();

function buildZiggurat(): { kn: Int32Array; wn: Float64Array; fn: Float64Array } {
  const kn = new Int32Array(128), wn = new Float64Array(128), fn = new Float64Array(128);
  const m1 = 2147483648;
  let dn = 3.442619855899, tn = dn;
  const vn = 9.91256303526217e-3;
  const q = vn / Math.exp(-0.5 * dn * dn);
  kn[0] = Math.floor((dn / q) * m1);
  kn[1] = 0;
  wn[0] = q / m1;
  wn[127] = dn / m1;
  fn[0] = 1;
  fn[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = Math.floor((dn / tn) * m1);
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / m1;
  }
  return { kn, wn, fn };
}

/**
 * Standard normals from a mulberry32 stream through the ziggurat (Marsaglia & Tsang 2000):
 * ~99% of draws cost one 32-bit integer and a multiply. One ARC4 draw plus Box–Muller per
 * element would cost more than all the other augmentation ops together.
 */
export function normalStream(seed: number): () => number {
  let state = seed | 0;
  const next32 = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return t ^ (t >>> 14); // signed 32-bit
  };
  const uniform = (): number => ((next32() >>> 0) + 0.5) / 4294967296; // (0, 1)
  const { kn, wn, fn } = ZIG;
  const tail = (hz0: number, iz0: number): number => {
    let hz = hz0, iz = iz0;
    for (;;) {
      const x = hz * wn[iz];
      if (iz === 0) {
        // Base strip: sample the tail beyond r = 3.442620 (Marsaglia 1964).
        let xt = 0, yt = 0;
        do {
          xt = -Math.log(uniform()) * 0.2904764;
          yt = -Math.log(uniform());
        } while (yt + yt < xt * xt);
        return hz > 0 ? 3.44262 + xt : -3.44262 - xt;
      }
      if (fn[iz] + uniform() * (fn[iz - 1] - fn[iz]) < Math.exp(-0.5 * x * x)) return x;
      hz = next32();
      iz = hz & 127;
      if (Math.abs(hz) < kn[iz]) return hz * wn[iz];
    }
  };
  return (): number => {
    const hz = next32();
    const iz = hz & 127;
    return Math.abs(hz) < kn[iz] ? hz * wn[iz] : tail(hz, iz);
  };
}
