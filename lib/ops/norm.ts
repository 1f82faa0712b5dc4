/**
 * LayerNorm and training-mode BatchNorm as one fused op each way (forward, and a backward that
 * returns dx, dγ and dβ together), for the cpu and wasm backends.
 *
 * Written as tensor ops, a normalisation is ~10 kernels forward and ~25 backward (moments, their
 * gradients, broadcasts); in MedMamba-T those were a fifth of a training step on wasm, mostly
 * per-kernel overhead and reductions over leading axes. Here each is one pass over memory with
 * float64 statistics (native C on wasm when the native library is loaded, else the TypeScript
 * loops below; kernels in lib/backends/kernels/norm.ts). The tensor-op versions at the end of
 * this file ({@link layerNormOps}, {@link batchNormTrainOps}) are the reference (tests) and the
 * path on other backends.
 *
 * x is viewed as a (rows, C) matrix with C the last axis; γ and β have C entries.
 * - mode "row" (LayerNorm): statistics per row over its C entries.
 * - mode "col" (BatchNorm2d on NHWC): statistics per channel over all rows.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Kernel names of the fused normalisation and its gradient. */
export const NORM = "StarmambaNorm";
export const NORM_GRAD = "StarmambaNormGrad";

/** Which axis the statistics run over (see the module doc). */
export type NormMode = "row" | "col";

/** Attributes of the fused kernels. */
export interface NormAttrs {
  mode: NormMode;
  eps: number;
}

/**
 * Forward: y = (x − μ)·rstd·γ + β with rstd = 1/√(σ² + eps), σ² the biased variance.
 * Writes μ, σ² and rstd per group (rows for "row", channels for "col"). Exported for tests.
 */
export function normForwardInto(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  C: number,
  mode: NormMode,
  eps: number,
  y: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  rstd: Float32Array,
): void {
  const R = x.length / C;
  if (mode === "row") {
    for (let r = 0, o = 0; r < R; r++, o += C) {
      let s = 0;
      for (let c = 0; c < C; c++) s += x[o + c];
      const mu = s / C;
      let q = 0;
      for (let c = 0; c < C; c++) {
        const d = x[o + c] - mu;
        q += d * d;
      }
      const v = q / C, rs = 1 / Math.sqrt(v + eps);
      mean[r] = mu;
      variance[r] = v;
      rstd[r] = rs;
      for (let c = 0; c < C; c++) y[o + c] = (x[o + c] - mu) * rs * gamma[c] + beta[c];
    }
    return;
  }
  const s = new Float64Array(C), q = new Float64Array(C);
  for (let o = 0; o < x.length; o += C) for (let c = 0; c < C; c++) s[c] += x[o + c];
  for (let c = 0; c < C; c++) s[c] /= R;
  for (let o = 0; o < x.length; o += C) {
    for (let c = 0; c < C; c++) {
      const d = x[o + c] - s[c];
      q[c] += d * d;
    }
  }
  const scale = new Float64Array(C), shift = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const v = q[c] / R, rs = 1 / Math.sqrt(v + eps);
    mean[c] = s[c];
    variance[c] = v;
    rstd[c] = rs;
    scale[c] = rs * gamma[c];
    shift[c] = beta[c] - s[c] * scale[c];
  }
  for (let o = 0; o < x.length; o += C) {
    for (let c = 0; c < C; c++) y[o + c] = x[o + c] * scale[c] + shift[c];
  }
}

/**
 * Backward of {@link normForwardInto} given dy: with x̂ = (x − μ)·rstd and g = dy·γ,
 * dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) (means over each group), dγ = Σ dy·x̂, dβ = Σ dy
 * (sums over rows). Exported for tests.
 */
export function normBackwardInto(
  dy: Float32Array,
  x: Float32Array,
  gamma: Float32Array,
  mean: Float32Array,
  rstd: Float32Array,
  C: number,
  mode: NormMode,
  dx: Float32Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
): void {
  const R = x.length / C;
  const dg = new Float64Array(C), db = new Float64Array(C);
  if (mode === "row") {
    for (let r = 0, o = 0; r < R; r++, o += C) {
      const mu = mean[r], rs = rstd[r];
      let sg = 0, sgx = 0;
      for (let c = 0; c < C; c++) {
        const xh = (x[o + c] - mu) * rs, d = dy[o + c], g = d * gamma[c];
        sg += g;
        sgx += g * xh;
        dg[c] += d * xh;
        db[c] += d;
      }
      const mg = sg / C, mgx = sgx / C;
      for (let c = 0; c < C; c++) {
        const xh = (x[o + c] - mu) * rs;
        dx[o + c] = rs * (dy[o + c] * gamma[c] - mg - xh * mgx);
      }
    }
  } else {
    for (let o = 0; o < x.length; o += C) {
      for (let c = 0; c < C; c++) {
        const d = dy[o + c];
        db[c] += d;
        dg[c] += d * (x[o + c] - mean[c]) * rstd[c];
      }
    }
    // mean over rows of g = γ·dβ/R, of g·x̂ = γ·dγ/R.
    const a = new Float64Array(C), b = new Float64Array(C), k = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      a[c] = rstd[c] * gamma[c];
      b[c] = (gamma[c] * db[c]) / R;
      k[c] = (gamma[c] * dg[c]) / R;
    }
    for (let o = 0; o < x.length; o += C) {
      for (let c = 0; c < C; c++) {
        const xh = (x[o + c] - mean[c]) * rstd[c];
        dx[o + c] = a[c] * dy[o + c] - rstd[c] * (b[c] + xh * k[c]);
      }
    }
  }
  for (let c = 0; c < C; c++) {
    dgamma[c] = dg[c];
    dbeta[c] = db[c];
  }
}

let gradientRegistered = false;

/** Registers the op's gradient: one backward kernel for dx, dγ, dβ (idempotent). */
export function registerNormGradient(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: NORM,
    inputsToSave: ["x", "gamma"],
    outputsToSave: [false, true, false, true],
    gradFunc: (dy, saved, attrs) => {
      // Only y carries a gradient: μ and σ² feed the running statistics, which are not trained.
      const dyY = (dy as tf.Tensor[])[0];
      const [x, gamma, mean, rstd] = saved;
      const [dx, dgamma, dbeta] = tf.engine().runKernel(
        NORM_GRAD,
        { dy: dyY, x, gamma, mean, rstd },
        attrs,
      ) as tf.Tensor[];
      return { x: () => dx, gamma: () => dgamma, beta: () => dbeta };
    },
  });
}

/** Whether the fused op can run on the active backend. */
export function fusedNormAvailable(): boolean {
  return tf.getKernel(NORM, tf.getBackend()) !== undefined;
}

/** The fused op: returns y and the per-group mean and biased variance. */
export function fusedNorm(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  mode: NormMode,
  eps: number,
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const [y, mean, variance] = tf.engine().runKernel(
    NORM,
    { x, gamma, beta },
    { mode, eps } as never,
  ) as tf.Tensor[];
  return { y, mean, variance };
}

/** ε of MedMamba's LayerNorms and BatchNorms (PyTorch's default). */
export const NORM_EPS = 1e-5;

/** LayerNorm over the last axis as tensor ops: the reference for the fused op. */
export function layerNormOps(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  const xn = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, NORM_EPS)));
  return tf.add(tf.mul(xn, weight), bias);
}

/**
 * Training-mode BatchNorm2d on NHWC as tensor ops (batch statistics; biased variance): the
 * reference for the fused op.
 */
export function batchNormTrainOps(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
): { y: tf.Tensor4D; mean: tf.Tensor; variance: tf.Tensor } {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return { y: batchNormWith(x, mean, variance, gamma, beta), mean, variance };
}

/** (x − mean)·γ/√(variance + eps) + β per channel, for given statistics (eval-mode BatchNorm). */
export function batchNormWith(
  x: tf.Tensor4D,
  mean: tf.Tensor,
  variance: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
): tf.Tensor4D {
  const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, NORM_EPS)));
  return tf.add(tf.mul(tf.sub(x, mean), scale), beta) as tf.Tensor4D;
}
