/**
 * PatchMerging's 2×2 gather (lib/ops/space_to_depth.ts) and its scatter back, each one strided
 * copy on the device: y (B, H/2, W/2, 4C) seen as (B, H/2, W/2, 2, 2, C) — channel block
 * q = 2·dx + dy holds pixel (2·h + dy, 2·w + dx) — against x (B, H, W, C).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { SPACE_TO_DEPTH, SPACE_TO_DEPTH_GRAD } from "../../../ops/space_to_depth.ts";
import { contiguousStrides, type StridedCopy, stridedCopy } from "./copy.ts";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";

/** The copy from x (gather: toY) or back into it, for x of `shape`. */
function plan(shape: number[], toY: boolean): StridedCopy {
  const [B, H, W, C] = shape;
  const it = [B, H / 2, W / 2, 2, 2, C];
  // x offsets of (b, h2, w2, dx, dy, c): ((b·H + 2·h2 + dy)·W + 2·w2 + dx)·C + c
  const xs = [H * W * C, 2 * W * C, 2 * C, C, W * C, 1];
  const ys = contiguousStrides(it);
  return toY
    ? { shape: it, xStrides: xs, xOffset: 0, yStrides: ys, yOffset: 0 }
    : { shape: it, xStrides: ys, xOffset: 0, yStrides: xs, yOffset: 0 };
}

function gather({ inputs, backend }: CudaKernelArgs): tf.TensorInfo | null {
  const x = inputs.x as tf.TensorInfo;
  const [B, H, W, C] = x.shape;
  if (x.dtype !== "float32" || H % 2 || W % 2) return null;
  const y = backend.makeTensorInfo([B, H / 2, W / 2, 4 * C], "float32");
  stridedCopy(backend, x, y, plan(x.shape, true));
  return y;
}

function scatter({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const dy = inputs.dy as tf.TensorInfo;
  const shape = (attrs as { shape: number[] }).shape;
  if (dy.dtype !== "float32" || shape[1] % 2 || shape[2] % 2) return null;
  // Every element of dx is written once (H and W even), so no zero fill.
  const dx = backend.makeTensorInfo(shape, "float32");
  stridedCopy(backend, dy, dx, plan(shape, false));
  return dx;
}

/** The gather and its gradient. */
export const spaceToDepthKernels: CudaKernel[] = [
  { kernelName: SPACE_TO_DEPTH, kernelFunc: gather },
  { kernelName: SPACE_TO_DEPTH_GRAD, kernelFunc: scatter },
];
