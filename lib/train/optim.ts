/**
 * Adam and AdamW (decoupled weight decay), written out so their state can be saved and
 * restored exactly for resumable runs. Same update as PyTorch's torch.optim.Adam/AdamW
 * (bias-corrected moments, eps added after the square root).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Hyper-parameters of {@link Adam}. */
export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (AdamW) when > 0. */
  weightDecay?: number;
}

/** Adam / AdamW over a fixed, ordered list of variables. */
export class Adam {
  readonly vars: tf.Variable[];
  readonly m: tf.Variable[];
  readonly v: tf.Variable[];
  /** Number of updates applied so far. */
  t = 0;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly wd: number;

  /** @param vars trainable variables, in canonical order. */
  constructor(vars: tf.Variable[], opts: AdamOptions = {}) {
    this.vars = vars;
    this.b1 = opts.beta1 ?? 0.9;
    this.b2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.wd = opts.weightDecay ?? 0;
    this.m = vars.map((x) => tf.variable(tf.zerosLike(x), false));
    this.v = vars.map((x) => tf.variable(tf.zerosLike(x), false));
  }

  /** Applies one update with learning rate `lr`; `grads[i]` belongs to `vars[i]`. */
  step(grads: tf.Tensor[], lr: number): void {
    this.t++;
    const c1 = 1 - this.b1 ** this.t, c2 = 1 - this.b2 ** this.t;
    tf.tidy(() => {
      this.vars.forEach((w, i) => {
        const g = grads[i];
        const m = tf.add(tf.mul(this.m[i], this.b1), tf.mul(g, 1 - this.b1));
        const v = tf.add(tf.mul(this.v[i], this.b2), tf.mul(tf.square(g), 1 - this.b2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        const upd = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.eps));
        let next = tf.sub(w, tf.mul(upd, lr));
        if (this.wd > 0) next = tf.sub(next, tf.mul(w, lr * this.wd));
        w.assign(next);
      });
    });
  }

  /** Moments and step count, for checkpoints. */
  stateTensors(): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    this.vars.forEach((_, i) => {
      out[`adam.m.${i}`] = this.m[i];
      out[`adam.v.${i}`] = this.v[i];
    });
    return out;
  }

  /** Restores moments saved by {@link stateTensors} and the step count. */
  restore(tensors: Record<string, tf.Tensor>, t: number): void {
    this.vars.forEach((_, i) => {
      this.m[i].assign(tensors[`adam.m.${i}`]);
      this.v[i].assign(tensors[`adam.v.${i}`]);
    });
    this.t = t;
  }

  /** Frees the moment buffers. */
  dispose(): void {
    [...this.m, ...this.v].forEach((x) => x.dispose());
  }
}

/** Learning rate at fractional epoch `e`: linear warm-up, then constant or cosine to minLr. */
export function learningRate(
  e: number,
  opts: {
    lr: number;
    epochs: number;
    warmup: number;
    schedule: "constant" | "cosine";
    minLr: number;
  },
): number {
  if (opts.warmup > 0 && e < opts.warmup) return (opts.lr * (e + 1e-9)) / opts.warmup;
  if (opts.schedule === "constant") return opts.lr;
  const span = Math.max(opts.epochs - opts.warmup, 1e-9);
  const p = Math.min(Math.max((e - opts.warmup) / span, 0), 1);
  return opts.minLr + 0.5 * (opts.lr - opts.minLr) * (1 + Math.cos(Math.PI * p));
}
