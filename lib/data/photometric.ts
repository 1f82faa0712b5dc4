/**
 * The photometric ops of the augmentation pipeline, with torchvision's semantics: ColorJitter's
 * brightness and contrast, RandomGrayscale (ITU-R 601 weights), clamping, Normalize, and the
 * additive Gaussian noise. All work in place on HWC float32 images in [0, 1].
 * @module
 */
import { normalStream } from "../util/rng.ts";

/** ITU-R 601-2 luma weights, as torchvision's rgb_to_grayscale. */
const GRAY_R = 0.2989, GRAY_G = 0.587, GRAY_B = 0.114;

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
