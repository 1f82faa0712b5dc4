/**
 * Centre crop: keep the central `side × side` pixels of every image. A cutout is centred on the
 * source being classified, while its edges often hold neighbours (the ARIES README counts ~470
 * overlapping pairs, 151 with different labels); a network that pools over the whole frame cannot
 * tell the centre from a neighbour, so cropping is the simplest way to tell it what to look at.
 * @module
 */

import type { Dataset } from "./types.ts";
import { StarmambaError } from "../util/errors.ts";

/** The central `side × side` window of NHWC `images` (n × h × w × c) as a new array. */
export function centerCropPixels(
  images: Float32Array,
  n: number,
  h: number,
  w: number,
  c: number,
  side: number,
): Float32Array {
  if (side > h || side > w) {
    throw new StarmambaError(
      `data.center_crop: ${side} is larger than the ${h}x${w} images; use at most ${
        Math.min(h, w)
      }`,
    );
  }
  // Odd margins put the extra pixel after the window (as torchvision's CenterCrop rounds).
  const top = Math.floor((h - side) / 2), left = Math.floor((w - side) / 2);
  const out = new Float32Array(n * side * side * c);
  const row = side * c;
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < side; y++) {
      const src = ((i * h + top + y) * w + left) * c;
      out.set(images.subarray(src, src + row), (i * side + y) * row);
    }
  }
  return out;
}

/** `ds` with every image centre-cropped to `side × side` (labels, files, fingerprint kept). */
export function centerCrop(ds: Dataset, side: number): Dataset {
  return {
    ...ds,
    images: centerCropPixels(ds.images, ds.n, ds.height, ds.width, ds.channels, side),
    height: side,
    width: side,
  };
}
