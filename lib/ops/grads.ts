/**
 * Gradient overrides that make training work, and fast, on the wasm backend.
 *
 * tfjs-backend-wasm has no Conv2DBackpropFilter and no DepthwiseConv2dNative backprop kernels,
 * so the stock gradients throw there; and BatchMatMul with transposeA/transposeB (what the stock
 * matMul gradient dispatches) runs ~7× slower than an explicit transpose followed by a plain
 * matmul. We re-register the gradients of those three kernels in terms of ops every backend has:
 *
 * - BatchMatMul: dA = dY·Bᵀ, dB = Aᵀ·dY, with explicit transposes on wasm unless the native
 *   gemm serves it (which takes transposed operands at full speed).
 * - Conv2D (stride 1, SAME, odd square kernel, NHWC): dx is a SAME convolution of dY with the
 *   spatially flipped filter with in/out channels swapped; dW is im2col(x)ᵀ·dY.
 * - DepthwiseConv2dNative (stride 1, SAME, multiplier 1): dx is a depthwise convolution of dY
 *   with the flipped filter; dW[kh,kw,c] = Σ x_shifted·dY.
 * - LeakyRelu: tfjs-core's where(x > 0, dY, α·dY) as one kernel where the backend has it
 *   ({@link LEAKY_RELU_GRAD}), else as tfjs-core writes it; the same bits either way.
 *
 * The overrides apply to every backend, so the cpu backend (the cross-check in tests) runs the
 * same maths. Other conv configurations throw a clear error rather than a wrong gradient. The two
 * helper kernels (transposed im2col, filter flip) are in lib/backends/kernels/conv_grads.ts; what
 * the active backend does fast comes from {@link capabilities}.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { capabilities } from "./capabilities.ts";

let installed = false;

/** Kernel name of the transposed im2col used by the Conv2D filter gradient. */
export const IM2COL_T = "StarmambaIm2colT";

/**
 * Kernel name of a Conv2D filter gradient in one kernel (x, dy → dW), which a backend may offer
 * (wasm with the native library: im2col + gemm in C); see {@link capabilities}.
 */
export const CONV_FILTER_GRAD = "StarmambaConv2DFilterGrad";

/**
 * Transposed im2col of x (B,H,W,C) for a k×k SAME convolution: row (kh·k + kw)·C + c, column
 * (b·H + h)·W + w holds x[b, h + kh − p, w + kw − p, c] (0 outside). Exported for tests.
 */
export function im2colTInto(
  x: Float32Array,
  out: Float32Array,
  b: number,
  h: number,
  w: number,
  c: number,
  k: number,
): void {
  const p = (k - 1) / 2, n = b * h * w;
  for (let kh = 0; kh < k; kh++) {
    for (let kw = 0; kw < k; kw++) {
      for (let ch = 0; ch < c; ch++) {
        const row = ((kh * k + kw) * c + ch) * n;
        for (let bi = 0; bi < b; bi++) {
          for (let y = 0; y < h; y++) {
            const sy = y + kh - p;
            const col = (bi * h + y) * w;
            if (sy < 0 || sy >= h) continue; // out stays 0
            const src = ((bi * h + sy) * w) * c + ch;
            const x0 = Math.max(0, p - kw), x1 = Math.min(w, w + p - kw);
            for (let xx = x0; xx < x1; xx++) out[row + col + xx] = x[src + (xx + kw - p) * c];
          }
        }
      }
    }
  }
}

/** im2colᵀ(x) as a tensor (k·k·C, B·H·W); used only inside gradients, so not differentiable. */
export function im2colT(x: tf.Tensor4D, k: number): tf.Tensor2D {
  return tf.engine().runKernel(IM2COL_T, { x }, { k } as never) as tf.Tensor2D;
}

/**
 * Kernel name of the leaky ReLU's gradient in one kernel (x, dy → dx; attrs {alpha}), which a
 * backend may offer (wasm: native on every core); see {@link capabilities}.
 */
export const LEAKY_RELU_GRAD = "StarmambaLeakyReluGrad";

/**
 * dx[i] = x[i] > 0 ? dy[i] : α·dy[i] in float32, as tfjs-core's where(greater(x, 0), dy,
 * mul(dy, α)) (0 and NaN take the α side). Exported for tests and the kernels.
 */
export function leakyReluGradInto(
  alpha: number,
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
): void {
  const a = Math.fround(alpha);
  // the product of two float32 values is exact in float64, so fround rounds it once, as float32
  for (let i = 0; i < x.length; i++) dx[i] = x[i] > 0 ? dy[i] : Math.fround(a * dy[i]);
}

/** Installs the gradient overrides once per process (idempotent). */
export function registerStockGradients(): void {
  if (installed) return;
  installed = true;
  // tfjs warns on every override; these are deliberate.
  const warn = console.warn;
  console.warn = () => {};
  try {
    tf.registerGradient(batchMatMulGrad);
    tf.registerGradient(conv2dGrad);
    tf.registerGradient(depthwiseGrad);
    tf.registerGradient(leakyReluGrad);
  } finally {
    console.warn = warn;
  }
}

/** Swaps the last two axes with an explicit transpose (fast on wasm). */
export function transposeLast2(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(x, perm);
}

/** Sums leading batch axes of `g` down to `shape` (undoes matmul batch broadcasting). */
function reduceBatchTo(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (g.shape[0] === shape[0]) return g;
  return tf.reshape(tf.sum(g, 0, true), shape);
}

const batchMatMulGrad: tf.GradConfig = {
  kernelName: "BatchMatMul",
  inputsToSave: ["a", "b"],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const g = dy as tf.Tensor;
    const [a, b] = saved;
    const { transposeA, transposeB } = attrs as unknown as {
      transposeA: boolean;
      transposeB: boolean;
    };
    if (capabilities().transposedMatMulFast()) {
      // C = op(a)·op(b): each gradient is one matmul with transpose flags, no copies.
      return {
        a: () =>
          reduceBatchTo(
            transposeA ? tf.matMul(b, g, transposeB, true) : tf.matMul(g, b, false, !transposeB),
            a.shape,
          ),
        b: () =>
          reduceBatchTo(
            transposeB ? tf.matMul(g, a, true, transposeA) : tf.matMul(a, g, !transposeA, false),
            b.shape,
          ),
      };
    }
    const T = transposeLast2;
    const mm = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y);
    // Effective A' = op(a), B' = op(b); dA' = g·B'ᵀ, dB' = A'ᵀ·g; then undo op.
    const aEff = () => (transposeA ? T(a) : a);
    const bEff = () => (transposeB ? T(b) : b);
    return {
      a: () => {
        const dAeff = mm(g, T(bEff()));
        return reduceBatchTo(transposeA ? T(dAeff) : dAeff, a.shape);
      },
      b: () => {
        const dBeff = mm(T(aEff()), g);
        return reduceBatchTo(transposeB ? T(dBeff) : dBeff, b.shape);
      },
    };
  },
};

interface ConvAttrs {
  strides: number | [number, number];
  pad: string | number;
  dilations: number | [number, number];
  dataFormat: string;
}

function checkSameStride1(attrs: ConvAttrs, filterShape: number[], op: string): void {
  const s = Array.isArray(attrs.strides) ? attrs.strides : [attrs.strides, attrs.strides];
  const d = attrs.dilations == null
    ? [1, 1]
    : Array.isArray(attrs.dilations)
    ? attrs.dilations
    : [attrs.dilations, attrs.dilations];
  const [kh, kw] = filterShape;
  const ok = s[0] === 1 && s[1] === 1 && d[0] === 1 && d[1] === 1 &&
    (attrs.pad === "same" || (kh === 1 && kw === 1 && attrs.pad === "valid")) &&
    kh === kw && kh % 2 === 1 && (attrs.dataFormat ?? "NHWC") === "NHWC";
  if (!ok) {
    throw new Error(
      `${op} gradient: starmamba supports stride 1, SAME padding, odd square kernels, NHWC ` +
        `(got strides ${JSON.stringify(attrs.strides)}, pad ${attrs.pad}, filter ${filterShape})`,
    );
  }
}

/** Kernel name of the spatial flip (with optional in/out channel swap) of a conv filter. */
export const FLIP_FILTER = "StarmambaFlipFilter";

/**
 * w [k, k, ci, co] → out[kh, kw, ·, ·] = w[k−1−kh, k−1−kw, ·, ·], with the last two axes swapped
 * when `swap` (giving [k, k, co, ci]). Exported for tests.
 */
export function flipFilterInto(
  w: Float32Array,
  out: Float32Array,
  k: number,
  ci: number,
  co: number,
  swap: boolean,
): void {
  const plane = ci * co;
  for (let t = 0; t < k * k; t++) {
    const src = (k * k - 1 - t) * plane, dst = t * plane;
    if (!swap) {
      out.set(w.subarray(src, src + plane), dst);
      continue;
    }
    for (let i = 0; i < ci; i++) {
      for (let o = 0; o < co; o++) out[dst + o * ci + i] = w[src + i * co + o];
    }
  }
}

/** Flips a [k, k, ci, co] filter spatially (and swaps ci/co if `swap`); used only in gradients. */
function flipSpatial(w: tf.Tensor, swap = false): tf.Tensor4D {
  return tf.engine().runKernel(FLIP_FILTER, { x: w }, { swap } as never) as tf.Tensor4D;
}

/** The k·k shifted views of x (B,H,W,C) under SAME padding, in (kh, kw) row-major order. */
function shiftedViews(x: tf.Tensor4D, k: number): tf.Tensor4D[] {
  const p = (k - 1) / 2;
  const [b, h, w, c] = x.shape;
  const xp = p > 0 ? tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]) : x;
  const views: tf.Tensor4D[] = [];
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) views.push(tf.slice(xp, [0, i, j, 0], [b, h, w, c]));
  }
  return views;
}

const conv2dGrad: tf.GradConfig = {
  kernelName: "Conv2D",
  inputsToSave: ["x", "filter"],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const g = dy as tf.Tensor4D;
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as ConvAttrs;
    checkSameStride1(a, filter.shape, "Conv2D");
    const [k, , ci, co] = filter.shape;
    return {
      x: () => {
        const wT = flipSpatial(filter, true);
        return tf.conv2d(g, wT, 1, "same");
      },
      filter: () => {
        if (capabilities().convFilterGrad()) {
          return tf.engine().runKernel(CONV_FILTER_GRAD, { x, dy: g }, { k } as never) as tf.Tensor;
        }
        const [b, h, w] = x.shape;
        const dW = tf.matMul(im2colT(x, k), tf.reshape(g, [b * h * w, co]));
        return tf.reshape(dW, [k, k, ci, co]);
      },
    };
  },
};

const depthwiseGrad: tf.GradConfig = {
  kernelName: "DepthwiseConv2dNative",
  inputsToSave: ["x", "filter"],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const g = dy as tf.Tensor4D;
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const a = attrs as unknown as ConvAttrs;
    checkSameStride1(a, filter.shape, "DepthwiseConv2dNative");
    if (filter.shape[3] !== 1) throw new Error("depthwise gradient: channel multiplier must be 1");
    const k = filter.shape[0];
    const c = filter.shape[2];
    return {
      x: () => tf.depthwiseConv2d(g, flipSpatial(filter), 1, "same"),
      filter: () => {
        const taps = shiftedViews(x, k).map((v) => tf.sum(tf.mul(v, g), [0, 1, 2]));
        return tf.reshape(tf.stack(taps), [k, k, c, 1]);
      },
    };
  },
};

const leakyReluGrad: tf.GradConfig = {
  kernelName: "LeakyRelu",
  inputsToSave: ["x"],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const g = dy as tf.Tensor;
    const [x] = saved;
    const { alpha } = attrs as unknown as { alpha: number };
    if (capabilities().leakyReluGrad()) {
      return {
        x: () => tf.engine().runKernel(LEAKY_RELU_GRAD, { x, dy: g }, { alpha }) as tf.Tensor,
      };
    }
    return { x: () => tf.where(tf.greater(x, 0), g, tf.mul(g, alpha)) };
  },
};
