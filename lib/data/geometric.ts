/**
 * The geometric ops of the augmentation pipeline, with torchvision's semantics: flips, quarter
 * turns and the dihedral views (test-time augmentation), RandomRotation (bilinear, zero fill) and
 * RandomResizedCrop (its box search, and resizing with align_corners = False). Every op maps an
 * HWC float32 image into a destination buffer and works on any channel count.
 * @module
 */
import type { Rng } from "../util/rng.ts";

/** RandomResizedCrop aspect-ratio range (torchvision default). */
export const CROP_RATIO: readonly [number, number] = [3 / 4, 4 / 3];

/** A crop box in pixels: rows [top, top + height), columns [left, left + width). */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
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
