/**
 * The fused Adam(W) update as an op: its kernel name, the function the optimiser calls, the
 * update on raw arrays (the TypeScript kernel) and its reference from plain tfjs ops. Same
 * update as PyTorch's torch.optim.Adam/AdamW (bias-corrected moments, eps added after the square
 * root, decoupled weight decay on the old weights).
 *
 * Why one kernel for every tensor: one call per step instead of one per variable (a few
 * hundred), each of which cost tens of microseconds of dispatch. Each backend registers its
 * kernel in its own list (lib/backends/kernels/adam.ts for cpu and wasm, native C on wasm when
 * the library is loaded; lib/backends/cuda/kernels/adam.ts on the device); on a backend without
 * one (webgpu, tensorflow) {@link adamUpdate} runs {@link adamOps}.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/**
 * Kernel name of the fused Adam update of every variable at once: inputs w0…, g0…, m0…, v0…
 * (attrs: {@link AdamScalars} and `count`); outputs w'0, m'0, v'0, w'1, …
 */
export const ADAM_STEP = "StarmambaAdamStep";

/** Scalars of one Adam(W) update (c1, c2: bias corrections 1 − β₁ᵗ, 1 − β₂ᵗ). */
export interface AdamScalars {
  /** Learning rate of this step. */
  lr: number;
  /** First-moment decay rate β₁. */
  beta1: number;
  /** Second-moment decay rate β₂. */
  beta2: number;
  /** Added to √(v/c2) in the denominator. */
  eps: number;
  /** Decoupled (AdamW) weight decay; the step subtracts lr·weightDecay·w, 0 for plain Adam. */
  weightDecay: number;
  /** First-moment bias correction 1 − β₁ᵗ. */
  c1: number;
  /** Second-moment bias correction 1 − β₂ᵗ. */
  c2: number;
}

/** The kernel's attributes: the scalars and the number of tensors. */
export type AdamAttrs = AdamScalars & { count: number };

/** One tensor's part of an update: weights, gradient, first and second moments. */
export interface AdamTensors {
  /** Weights. */
  w: tf.Tensor;
  /** Gradient of the loss with respect to `w`. */
  g: tf.Tensor;
  /** First-moment estimate. */
  m: tf.Tensor;
  /** Second-moment estimate. */
  v: tf.Tensor;
}

/**
 * One Adam(W) update of a flat parameter array, written into fresh arrays: the moments, then
 * w ← w − lr·(m/c1)/(√(v/c2) + eps) − lr·wd·w (PyTorch's AdamW order: decay uses the old w).
 * One pass over memory instead of ~12 tensor ops per variable; the kernel of cpu and of wasm
 * without the native library.
 */
export function adamStepInto(
  w: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  s: AdamScalars,
  wOut: Float32Array,
  mOut: Float32Array,
  vOut: Float32Array,
): void {
  const { lr, beta1, beta2, eps, weightDecay, c1, c2 } = s;
  const a1 = 1 - beta1, a2 = 1 - beta2, decay = lr * weightDecay;
  for (let i = 0; i < w.length; i++) {
    const gi = g[i];
    const mi = beta1 * m[i] + a1 * gi;
    const vi = beta2 * v[i] + a2 * gi * gi;
    mOut[i] = mi;
    vOut[i] = vi;
    wOut[i] = w[i] - lr * ((mi / c1) / (Math.sqrt(vi / c2) + eps)) - decay * w[i];
  }
}

/**
 * One Adam(W) update of every tensor in `ts`: returns [w', m', v'] for each, in order. One call
 * of the active backend's {@link ADAM_STEP} kernel when it has one, else {@link adamOps} per
 * tensor. Call inside tf.tidy (the results are new tensors).
 */
export function adamUpdate(ts: AdamTensors[], s: AdamScalars): tf.Tensor[][] {
  if (tf.getKernel(ADAM_STEP, tf.getBackend()) === undefined) {
    return ts.map((t) => adamOps(t.w, t.g, t.m, t.v, s));
  }
  const inputs: tf.NamedTensorMap = {};
  ts.forEach((t, i) => {
    inputs[`w${i}`] = t.w;
    inputs[`g${i}`] = t.g;
    inputs[`m${i}`] = t.m;
    inputs[`v${i}`] = t.v;
  });
  const attrs: AdamAttrs = { ...s, count: ts.length };
  const out = tf.engine().runKernel(ADAM_STEP, inputs, attrs as never) as tf.Tensor[];
  return ts.map((_, i) => out.slice(3 * i, 3 * i + 3));
}

/**
 * The same update as tensor ops, for backends without the fused kernel (webgpu, tensorflow) and
 * as the reference in tests: returns [w', m', v'].
 */
export function adamOps(
  w: tf.Tensor,
  g: tf.Tensor,
  m0: tf.Tensor,
  v0: tf.Tensor,
  s: AdamScalars,
): tf.Tensor[] {
  const m = tf.add(tf.mul(m0, s.beta1), tf.mul(g, 1 - s.beta1));
  const v = tf.add(tf.mul(v0, s.beta2), tf.mul(tf.square(g), 1 - s.beta2));
  const upd = tf.div(tf.div(m, s.c1), tf.add(tf.sqrt(tf.div(v, s.c2)), s.eps));
  let next = tf.sub(w, tf.mul(upd, s.lr));
  if (s.weightDecay > 0) next = tf.sub(next, tf.mul(w, s.lr * s.weightDecay));
  return [next, m, v];
}
