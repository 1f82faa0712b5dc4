/**
 * SS2D's cross-scan and cross-merge (lib/ops/cross_scan.ts) on the device, one strided copy per
 * direction: x (B, H, W, D) ↔ (B, K, D, L) with step l of direction k at the row-major (code 0),
 * column-major (1) or reversed (2, 3) position. Cross-merge writes direction 0 and adds the
 * others in order k = 1 … K−1, the order of the cpu kernel's sum.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import {
  CROSS_MERGE,
  CROSS_SCAN,
  type CrossAttrs,
  directionCode,
} from "../../../ops/cross_scan.ts";
import { type StridedCopy, stridedCopy } from "./copy.ts";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";

/**
 * The copy between x (B, H, W, D) and direction k of the scanned (B, K, D, L), iterating
 * (b, d, h, w): `scanned` strides walk l in the direction's order.
 */
function direction(B: number, H: number, W: number, D: number, K: number, k: number) {
  const L = H * W;
  const code = directionCode(K, k);
  const rev = (code & 2) !== 0;
  // l of (h, w): row-major h·W + w, column-major w·H + h; reversed: L − 1 − l.
  let sh = code & 1 ? 1 : W, sw = code & 1 ? H : 1, off = k * D * L;
  if (rev) {
    sh = -sh;
    sw = -sw;
    off += L - 1;
  }
  return {
    shape: [B, D, H, W],
    image: [H * W * D, 1, W * D, D],
    scanned: [K * D * L, L, sh, sw],
    offset: off,
  };
}

function crossScan({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const x = inputs.x as tf.TensorInfo;
  if (x.dtype !== "float32") return null;
  const { k: K } = attrs as unknown as CrossAttrs;
  const [B, H, W, D] = x.shape;
  const y = backend.makeTensorInfo([B, K, D, H * W], "float32");
  for (let k = 0; k < K; k++) {
    const d = direction(B, H, W, D, K, k);
    const c: StridedCopy = {
      shape: d.shape,
      xStrides: d.image,
      xOffset: 0,
      yStrides: d.scanned,
      yOffset: d.offset,
    };
    stridedCopy(backend, x, y, c);
  }
  return y;
}

function crossMerge({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const ys = inputs.ys as tf.TensorInfo;
  if (ys.dtype !== "float32") return null;
  const { k: K, h: H, w: W } = attrs as unknown as CrossAttrs;
  const [B, , D] = ys.shape;
  const y = backend.makeTensorInfo([B, H, W, D], "float32");
  for (let k = 0; k < K; k++) {
    const d = direction(B, H, W, D, K, k);
    const c: StridedCopy = {
      shape: d.shape,
      xStrides: d.scanned,
      xOffset: d.offset,
      yStrides: d.image,
      yOffset: 0,
    };
    stridedCopy(backend, ys, y, c, k > 0);
  }
  return y;
}

/** Cross-scan and cross-merge. */
export const crossScanKernels: CudaKernel[] = [
  { kernelName: CROSS_SCAN, kernelFunc: crossScan },
  { kernelName: CROSS_MERGE, kernelFunc: crossMerge },
];
