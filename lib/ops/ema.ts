/**
 * The moving-average update of a network's weights as an op: its kernel name, the function
 * lib/train/ema.ts calls, and the update on raw arrays (the TypeScript kernel, and the reference).
 *
 * The shadow copies are plain Float32Arrays outside tfjs, each value computed in double and
 * rounded to float32, so a run is bitwise the same on every backend and after a resume
 * (lib/train/ema.ts says why). The kernel therefore reads the weights (its tensor inputs) and
 * writes the shadows (an attribute) in place, and returns no tensors. Each backend registers it
 * in its own list (lib/backends/kernels/ema.ts: cpu and wasm, native C on the wasm heap when the
 * library is loaded; the cuda list reads the weights back); elsewhere {@link emaUpdate} reads
 * every weight with dataSync.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/**
 * Kernel name of the moving-average update of every tensor at once: inputs w0, w1, … (float32);
 * attrs {@link EmaAttrs}; no outputs (the shadows are updated in place).
 */
export const EMA_UPDATE = "StarmambaEmaUpdate";

/** The kernel's attributes. */
export interface EmaAttrs {
  /** The decay d of this update. */
  decay: number;
  /** One shadow per input, same length, updated in place. */
  shadows: Float32Array[];
}

/** shadow ← d·shadow + (1 − d)·w, element by element (in double, stored as float32). */
export function emaUpdateInto(shadow: Float32Array, w: Float32Array, d: number): void {
  for (let i = 0; i < shadow.length; i++) shadow[i] = d * shadow[i] + (1 - d) * w[i];
}

/**
 * Updates every `shadows[i]` towards `weights[i]` with decay `d`: one call of the active
 * backend's {@link EMA_UPDATE} kernel when it has one (float32 weights), else
 * {@link emaUpdateInto} on each weight read with dataSync. The same bits either way.
 */
export function emaUpdate(shadows: Float32Array[], weights: tf.Tensor[], d: number): void {
  const fused = tf.getKernel(EMA_UPDATE, tf.getBackend()) !== undefined &&
    weights.every((w) => w.dtype === "float32");
  if (fused) {
    const inputs: tf.NamedTensorMap = {};
    weights.forEach((w, i) => inputs[`w${i}`] = w);
    const attrs: EmaAttrs = { decay: d, shadows };
    tf.engine().runKernel(EMA_UPDATE, inputs, attrs as never);
    return;
  }
  weights.forEach((w, i) => emaUpdateInto(shadows[i], w.dataSync() as Float32Array, d));
}
