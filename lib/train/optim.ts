/**
 * Adam and AdamW (decoupled weight decay), written out so their state can be saved and
 * restored exactly for resumable runs. Same update as PyTorch's torch.optim.Adam/AdamW
 * (bias-corrected moments, eps added after the square root).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { withArrays } from "../backends/io.ts";
import { activeNativeAdam, type AdamScalars } from "../backends/wasm/hooks.ts";
import { cudaAdamStep } from "../backends/cuda/kernels/adam.ts";

export type { AdamScalars };

/**
 * Kernel name of the fused Adam update of every variable at once (cpu and wasm): inputs w0…,
 * g0…, m0…, v0…; outputs w'0, m'0, v'0, w'1, … One call per step instead of one per variable
 * (a few hundred), each of which cost tens of microseconds of dispatch.
 */
export const ADAM_STEP = "StarmambaAdamStep";

/**
 * One Adam(W) update of a flat parameter array, written into fresh arrays: the moments, then
 * w ← w − lr·(m/c1)/(√(v/c2) + eps) − lr·wd·w (PyTorch's AdamW order: decay uses the old w).
 * One pass over memory instead of ~12 tensor ops per variable. Exported for tests.
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

function adamKernel(
  args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap },
): tf.TensorInfo[] {
  const inp = args.inputs as Record<string, tf.TensorInfo>;
  const { count, ...scalars } = args.attrs as unknown as AdamScalars & { count: number };
  const ins: tf.TensorInfo[] = [];
  const shapes: number[][] = [];
  for (let i = 0; i < count; i++) {
    ins.push(inp[`w${i}`], inp[`g${i}`], inp[`m${i}`], inp[`v${i}`]);
    shapes.push(inp[`w${i}`].shape, inp[`w${i}`].shape, inp[`w${i}`].shape);
  }
  const native = activeNativeAdam();
  return withArrays(args.backend, ins, shapes, (iv, ov) => {
    const tensors = Array.from({ length: count }, (_, i) => ({
      w: iv[4 * i],
      g: iv[4 * i + 1],
      m: iv[4 * i + 2],
      v: iv[4 * i + 3],
      wo: ov[3 * i],
      mo: ov[3 * i + 1],
      vo: ov[3 * i + 2],
    }));
    if (native) native(tensors, scalars);
    else for (const t of tensors) adamStepInto(t.w, t.g, t.m, t.v, scalars, t.wo, t.mo, t.vo);
  }, false);
}

for (const backendName of ["cpu", "wasm"]) {
  if (!tf.getKernel(ADAM_STEP, backendName)) {
    tf.registerKernel({ kernelName: ADAM_STEP, backendName, kernelFunc: adamKernel as never });
  }
}
// On cuda the step runs on the device (the host kernel takes what it does not handle).
if (!tf.getKernel(ADAM_STEP, "cuda")) {
  tf.registerKernel({
    kernelName: ADAM_STEP,
    backendName: "cuda",
    kernelFunc: ((args: Parameters<typeof adamKernel>[0]) =>
      cudaAdamStep(args as never) ?? adamKernel(args)) as never,
  });
}

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
    const fused = tf.getKernel(ADAM_STEP, tf.getBackend()) !== undefined;
    tf.tidy(() => {
      if (fused) {
        const inputs: tf.NamedTensorMap = {};
        this.vars.forEach((w, i) => {
          inputs[`w${i}`] = w;
          inputs[`g${i}`] = grads[i];
          inputs[`m${i}`] = this.m[i];
          inputs[`v${i}`] = this.v[i];
        });
        const out = tf.engine().runKernel(ADAM_STEP, inputs, {
          ...scalars,
          count: this.vars.length,
        } as never) as tf.Tensor[];
        this.vars.forEach((w, i) => {
          w.assign(out[3 * i]);
          this.m[i].assign(out[3 * i + 1]);
          this.v[i].assign(out[3 * i + 2]);
        });
        return;
      }
      this.vars.forEach((w, i) => {
        const [next, m, v] = adamOps(w, grads[i], this.m[i], this.v[i], scalars);
        this.m[i].assign(m);
        this.v[i].assign(v);
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
