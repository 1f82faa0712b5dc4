/**
 * Convolutions on the device. Conv2D (NHWC, stride 1, SAME with an odd kernel, or 1×1) runs as
 * im2col — k·k strided copies of x into a (B·H·W, k·k·Ci) matrix — and one gemm with the filter
 * seen as (k·k·Ci, Co); the gradients of lib/ops/grads.ts need the transposed im2col
 * (StarmambaIm2colT) and the flipped filter (StarmambaFlipFilter), both strided copies too. The
 * depthwise convolution has its own kernel (native/cuda/backend/conv.cuh).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { FLIP_FILTER, IM2COL_T } from "../../../ops/grads.ts";
import type { CudaBackend } from "../backend.ts";
import { contiguousStrides, stridedCopy } from "./copy.ts";
import { filled } from "./fill.ts";
import { gemm } from "./matmul.ts";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";

/** tfjs's convolution attributes. */
interface ConvAttrs {
  strides: number | [number, number];
  pad: string | number | unknown;
  dataFormat?: string;
  dilations?: number | [number, number];
}

const ones = (v: number | [number, number] | undefined) =>
  v === undefined || (Array.isArray(v) ? v.every((d) => d === 1) : v === 1);

/** True for the convolutions this backend runs: stride 1, no dilation, NHWC, SAME with an odd
 * kernel (or 1×1 with any padding). */
function supportedConv(a: ConvAttrs, k: number, k2: number): boolean {
  if (!ones(a.strides) || !ones(a.dilations) || k !== k2) return false;
  if (a.dataFormat !== undefined && a.dataFormat !== "NHWC" && a.dataFormat !== "channelsLast") {
    return false;
  }
  return k === 1 ? a.pad === "same" || a.pad === "valid" || a.pad === 0 : a.pad === "same" &&
    k % 2 === 1;
}

/**
 * The k·k shifted copies of x (B, H, W, C) under SAME padding, written into a zero-filled `out`
 * whose element for (b, h, w), tap (i, j) and channel c sits at offset
 * rowStride·((b·H + h)·W + w) + colStride·((i·k + j)·C + c).
 */
function im2colInto(
  backend: CudaBackend,
  x: tf.TensorInfo,
  out: tf.TensorInfo,
  k: number,
  rowStride: number,
  colStride: number,
): void {
  const [B, H, W, C] = x.shape;
  const p = (k - 1) / 2;
  const xs = contiguousStrides(x.shape);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const h0 = Math.max(0, p - i), h1 = Math.min(H, H + p - i);
      const w0 = Math.max(0, p - j), w1 = Math.min(W, W + p - j);
      if (h1 <= h0 || w1 <= w0) continue;
      stridedCopy(backend, x, out, {
        shape: [B, h1 - h0, w1 - w0, C],
        xStrides: xs,
        xOffset: (h0 + i - p) * xs[1] + (w0 + j - p) * xs[2],
        yStrides: [H * W * rowStride, W * rowStride, rowStride, colStride],
        yOffset: (h0 * W + w0) * rowStride + (i * k + j) * C * colStride,
      });
    }
  }
}

/** y (rows, n) = a (rows, k) · b (k, n): a convolution as one matrix product. */
function matmul(
  backend: CudaBackend,
  rows: number,
  n: number,
  k: number,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  y: tf.TensorInfo,
): void {
  gemm(backend, { batch: 1, m: rows, n, k, a, b, y, transposeA: false, transposeB: false });
}

function conv2d({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const x = inputs.x as tf.TensorInfo, f = inputs.filter as tf.TensorInfo;
  if (x.dtype !== "float32" || f.dtype !== "float32" || x.shape.length !== 4) return null;
  const [k, k2, ci, co] = f.shape;
  if (!supportedConv(attrs as unknown as ConvAttrs, k, k2) || x.shape[3] !== ci) return null;
  const [B, H, W] = x.shape;
  const rows = B * H * W, kk = k * k * ci;
  const y = backend.makeTensorInfo([B, H, W, co], "float32");
  if (k === 1) {
    matmul(backend, rows, co, ci, x, f, y);
    return y;
  }
  const cols = filled(backend, [rows, kk], "float32", 0)!;
  try {
    im2colInto(backend, x, cols, k, kk, 1);
    matmul(backend, rows, co, kk, cols, f, y);
  } finally {
    backend.disposeData(cols.dataId);
  }
  return y;
}

function im2colT({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const x = inputs.x as tf.TensorInfo;
  if (x.dtype !== "float32") return null;
  const k = (attrs as { k: number }).k;
  const [B, H, W, C] = x.shape;
  const n = B * H * W;
  const out = filled(backend, [k * k * C, n], "float32", 0)!;
  im2colInto(backend, x, out, k, 1, n);
  return out;
}

function flipFilter({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const w = inputs.x as tf.TensorInfo;
  if (w.dtype !== "float32") return null;
  const swap = Boolean((attrs as { swap?: boolean }).swap);
  const [k, , ci, co] = w.shape;
  const ws = contiguousStrides(w.shape);
  const shape = swap ? [k, k, co, ci] : [k, k, ci, co];
  const y = backend.makeTensorInfo(shape, "float32");
  stridedCopy(backend, w, y, {
    shape,
    // Both spatial axes walked backwards from the last tap; channels swapped when asked.
    xStrides: [-ws[0], -ws[1], swap ? ws[3] : ws[2], swap ? ws[2] : ws[3]],
    xOffset: (k - 1) * ws[0] + (k - 1) * ws[1],
    yStrides: contiguousStrides(shape),
    yOffset: 0,
  });
  return y;
}

function depthwise({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const x = inputs.x as tf.TensorInfo, f = inputs.filter as tf.TensorInfo;
  if (x.dtype !== "float32" || f.dtype !== "float32" || x.shape.length !== 4) return null;
  const [k, k2, c, mult] = f.shape;
  if (mult !== 1 || c !== x.shape[3]) return null;
  if (!supportedConv(attrs as unknown as ConvAttrs, k, k2)) return null;
  const [B, H, W] = x.shape;
  const y = backend.makeTensorInfo(x.shape, "float32");
  backend.check(
    backend.lib.symbols.smc_depthwise(
      B,
      H,
      W,
      c,
      k,
      backend.pointer(x),
      backend.pointer(f),
      backend.pointer(y),
    ),
    "depthwise conv",
  );
  return y;
}

/** Conv2D, DepthwiseConv2dNative, and the gradients' im2colᵀ and filter flip. */
export const convKernels: CudaKernel[] = [
  { kernelName: "Conv2D", kernelFunc: conv2d },
  { kernelName: "DepthwiseConv2dNative", kernelFunc: depthwise },
  { kernelName: IM2COL_T, kernelFunc: im2colT },
  { kernelName: FLIP_FILTER, kernelFunc: flipFilter },
];
