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
 * The ops themselves live in geometric.ts and photometric.ts; this file is the pipeline.
 * @module
 */
import type { Dataset } from "./types.ts";
import { type Rng, rng as makeRng } from "../util/rng.ts";
import { StarmambaError } from "../util/errors.ts";
import {
  CROP_RATIO,
  type CropBox,
  hflip,
  resizedCrop,
  rot90,
  rotate,
  sampleCropBox,
  vflip,
} from "./geometric.ts";
import {
  addNoise,
  adjustBrightness,
  adjustContrast,
  clamp01,
  normaliseInto,
  toGrayscale,
} from "./photometric.ts";

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
