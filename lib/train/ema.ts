/**
 * Exponential moving average (EMA) of a network's weights, as timm's ModelEmaV2 keeps it: after
 * every optimiser step, `ema = d·ema + (1 − d)·w` for every parameter, BatchNorm running
 * statistics included, with the decay warmed up as `d_t = min(decay, (1 + t) / (10 + t))` so the
 * first steps do not average in the random initialisation. Evaluation and the saved model use the
 * averaged weights. Why here: with the small ARIES validation set the accuracy of the raw weights
 * swings several points between neighbouring epochs; the average moves slowly.
 *
 * The shadow copies live in JS Float32Arrays, each update computed in double and rounded to
 * float32, so a run is bitwise the same on every backend and after a resume. The update is an op
 * (lib/ops/ema.ts) called by kernel name: on the wasm backend with the native library one call
 * updates every tensor in place from the weights on the wasm heap, with the same arithmetic (the
 * TypeScript loop read every weight through a copy: 2–17 ms a step for the `cpu` preset, against
 * ~1 ms).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ParamStore } from "../model/params.ts";
import { emaUpdate } from "../ops/ema.ts";

/** Key prefix of the shadow weights inside a resumable state checkpoint. */
export const EMA_PREFIX = "ema/";

/** The decay used at update number `t` (0-based) for a target `decay`. */
export function emaDecayAt(decay: number, t: number): number {
  return Math.min(decay, (1 + t) / (10 + t));
}

/** Moving average of every parameter of a {@link ParamStore}. */
export class WeightEma {
  /** Updates applied so far (drives the decay warm-up). */
  updates = 0;
  private readonly shadow: Map<string, Float32Array> = new Map();

  /** Starts the average at the store's current values. */
  constructor(private readonly store: ParamStore, readonly decay: number) {
    for (const p of store.params.values()) {
      this.shadow.set(p.name, Float32Array.from(p.variable.dataSync() as Float32Array));
    }
  }

  /** One averaging step after an optimiser step. */
  update(): void {
    const d = emaDecayAt(this.decay, this.updates);
    const params = [...this.store.params.values()];
    // One call of the backend's kernel (lib/ops/ema.ts): native on the wasm heap, in place.
    emaUpdate(params.map((p) => this.shadow.get(p.name)!), params.map((p) => p.variable), d);
    this.updates++;
  }

  /**
   * Runs `fn` with the averaged weights in the store, then puts the trained weights back exactly
   * (they are copied out first, so the optimiser continues from where it was).
   */
  async withAveraged<T>(fn: () => T | Promise<T>): Promise<T> {
    const saved = new Map<string, Float32Array>();
    for (const p of this.store.params.values()) {
      saved.set(p.name, Float32Array.from(p.variable.dataSync() as Float32Array));
      assignValues(p.variable, this.shadow.get(p.name)!);
    }
    try {
      return await fn();
    } finally {
      for (const p of this.store.params.values()) assignValues(p.variable, saved.get(p.name)!);
    }
  }

  /** The shadow weights as tensors keyed `ema/<name>` (the caller disposes them). */
  stateTensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    for (const p of this.store.params.values()) {
      const copy = Float32Array.from(this.shadow.get(p.name)!);
      out[EMA_PREFIX + p.name] = tf.tensor(copy, p.variable.shape, "float32");
    }
    return out;
  }

  /** Restores the shadow weights saved by {@link stateTensors} and the update count. */
  restore(tensors: Record<string, tf.Tensor>, updates: number): void {
    for (const p of this.store.params.values()) {
      const t = tensors[EMA_PREFIX + p.name];
      if (!t) throw new Error(`resumable state has no ${EMA_PREFIX}${p.name}`);
      this.shadow.set(p.name, Float32Array.from(t.dataSync() as Float32Array));
    }
    this.updates = updates;
  }
}

function assignValues(v: tf.Variable, values: Float32Array): void {
  // The cpu backend keeps the array it is given; copy so later updates can't reach the tensor.
  tf.tidy(() => v.assign(tf.tensor(Float32Array.from(values), v.shape, "float32")));
}
