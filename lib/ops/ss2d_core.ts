/**
 * The fused SS2D core as one tfjs op: cross-scan → per-direction x_proj and dt_proj →
 * selective scan → cross-merge, forward and backward in native code (native/cpu/ss2d_core.c;
 * kernels in lib/backends/kernels/ss2d_core.ts). Used by the model whenever the active scan kernel
 * carries it (the native kernel). {@link ss2dCoreReference} is the same core from separate ops
 * (cross-scan, batched matmuls, the selective scan, cross-merge): the reference it is tested
 * against, and the path when no fused core is available.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { getScanKernel, type SS2DCoreImpl } from "./scan_kernel.ts";
import { crossMerge, crossScan } from "./cross_scan.ts";
import { selectiveScan } from "./selective_scan.ts";
import { capabilities } from "./capabilities.ts";

/** Kernel name of the fused forward. */
export const SS2D_CORE = "StarmambaSS2DCore";
/** Kernel name of the fused backward (six outputs). */
export const SS2D_CORE_GRAD = "StarmambaSS2DCoreGrad";

/** The op's inputs, in the order of its gradient outputs. */
export const SS2D_CORE_INPUTS = ["xc", "Wx", "Wdt", "bias", "A", "D"] as const;

/** The fused core of the active scan kernel, or null if it has none or the active backend does
 * not run it (see {@link capabilities}). */
export function fusedSS2D(): SS2DCoreImpl | null {
  if (!capabilities().fusedSS2DCore()) return null;
  try {
    return getScanKernel().ss2d ?? null;
  } catch {
    return null;
  }
}

let gradientRegistered = false;

/** Registers the op's gradient: one fused backward for all six inputs (idempotent). */
export function registerSS2DCoreGradient(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: SS2D_CORE,
    inputsToSave: [...SS2D_CORE_INPUTS],
    gradFunc: (dy, saved) => {
      const inputs: tf.NamedTensorMap = { dy: dy as tf.Tensor };
      SS2D_CORE_INPUTS.forEach((n, i) => (inputs[n] = saved[i]));
      const g = tf.engine().runKernel(SS2D_CORE_GRAD, inputs) as tf.Tensor[];
      const out: Record<string, () => tf.Tensor> = {};
      SS2D_CORE_INPUTS.forEach((n, i) => (out[n] = () => g[i]));
      return out;
    },
  });
}

/**
 * Fused SS2D core. xc (B,H,W,d_inner) after the depthwise conv and SiLU; Wx (K, dt_rank + 2N,
 * d_inner); Wdt (K, d_inner, dt_rank); bias (K·d_inner); A (K·d_inner, N) = −exp(A_log);
 * D (K·d_inner). Returns the cross-merged scan output (B,H,W,d_inner), before out_norm.
 */
export function ss2dCore(
  xc: tf.Tensor4D,
  Wx: tf.Tensor3D,
  Wdt: tf.Tensor3D,
  bias: tf.Tensor1D,
  A: tf.Tensor2D,
  D: tf.Tensor1D,
): tf.Tensor4D {
  return tf.engine().runKernel(SS2D_CORE, { xc, Wx, Wdt, bias, A, D }) as tf.Tensor4D;
}

/** Sizes the SS2D core needs (lib/model/ss2d.ts's SS2DDims has them). */
export interface SS2DCoreSizes {
  /** Channels of the core's input and output. */
  d_inner: number;
  /** Rank of the delta projection. */
  dt_rank: number;
  /** State size N. */
  d_state: number;
  /** Scan directions. */
  K: number;
}

/**
 * The SS2D core from separate tfjs ops — cross-scan, per-direction projections as batched
 * matmuls, the selective scan, cross-merge: the reference of {@link ss2dCore}, with the sizes
 * passed explicitly.
 */
export function ss2dCoreReference(
  xc: tf.Tensor4D,
  Wx: tf.Tensor3D,
  Wdt: tf.Tensor3D,
  bias: tf.Tensor1D,
  A: tf.Tensor2D,
  D: tf.Tensor1D,
  dims: SS2DCoreSizes,
): tf.Tensor4D {
  const { d_inner: di, dt_rank: R, d_state: N, K } = dims;
  const [b, h, w] = xc.shape;
  const L = h * w;
  const xs = crossScan(xc, K); // (B, K, di, L)
  // Per-direction projections as batched matmuls over K, on (K, ·, B·L) layouts.
  const xsK = tf.reshape(tf.transpose(xs, [1, 2, 0, 3]), [K, di, b * L]);
  const xDbl = tf.matMul(Wx, xsK); // (K, R + 2N, B·L)
  const [dtsLow, Bs, Cs] = tf.split(xDbl, [R, N, N], 1);
  const dts = tf.matMul(Wdt, dtsLow); // (K, di, B·L)
  const toBatchMajor = (t: tf.Tensor, c: number) =>
    tf.transpose(tf.reshape(t, [K, c, b, L]), [2, 0, 1, 3]);
  const y = selectiveScan(
    tf.reshape(xs, [b, K * di, L]) as tf.Tensor3D,
    tf.reshape(toBatchMajor(dts, di), [b, K * di, L]) as tf.Tensor3D,
    A,
    toBatchMajor(Bs, N) as tf.Tensor4D,
    toBatchMajor(Cs, N) as tf.Tensor4D,
    D,
    bias,
    { deltaSoftplus: true },
  );
  return crossMerge(tf.reshape(y, [b, K, di, L]) as tf.Tensor4D, h, w, K);
}
