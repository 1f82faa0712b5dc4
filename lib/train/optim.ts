/**
 * Adam and AdamW (decoupled weight decay), written out so their state can be saved and
 * restored exactly for resumable runs. Same update as PyTorch's torch.optim.Adam/AdamW
 * (bias-corrected moments, eps added after the square root). The update itself is an op
 * (lib/ops/adam.ts), called by kernel name: each backend registers its kernel in its own list.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type AdamScalars, adamUpdate } from "../ops/adam.ts";

// The op's parts, where tests and callers found them before it moved to lib/ops.
export { ADAM_STEP, adamOps, type AdamScalars, adamStepInto } from "../ops/adam.ts";

/** Hyper-parameters of {@link Adam}. */
export interface AdamOptions {
  /** Decay rate β₁ of the first-moment (mean) estimate; default 0.9. */
  beta1?: number;
  /** Decay rate β₂ of the second-moment (uncentred variance) estimate; default 0.999. */
  beta2?: number;
  /** Added to √v̂ in the denominator for stability; default 1e-8. */
  eps?: number;
  /** Decoupled weight decay (AdamW) when > 0. */
  weightDecay?: number;
}

/** Adam / AdamW over a fixed, ordered list of variables. */
export class Adam {
  /** The variables updated, in canonical order. */
  readonly vars: tf.Variable[];
  /** First-moment estimate per variable (same shapes as `vars`). */
  readonly m: tf.Variable[];
  /** Second-moment estimate per variable (same shapes as `vars`). */
  readonly v: tf.Variable[];
  /** Number of updates applied so far. */
  t = 0;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly wd: number;

  /** Starts with zero moments for `vars` (trainable variables, in canonical order). */
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
    const scalars: AdamScalars = {
      lr,
      beta1: this.b1,
      beta2: this.b2,
      eps: this.eps,
      weightDecay: this.wd,
      c1: 1 - this.b1 ** this.t,
      c2: 1 - this.b2 ** this.t,
    };
    tf.tidy(() => {
      // One call of the backend's fused kernel where it has one (lib/ops/adam.ts).
      const next = adamUpdate(
        this.vars.map((w, i) => ({ w, g: grads[i], m: this.m[i], v: this.v[i] })),
        scalars,
      );
      this.vars.forEach((w, i) => {
        const [nw, nm, nv] = next[i];
        w.assign(nw);
        this.m[i].assign(nm);
        this.v[i].assign(nv);
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
