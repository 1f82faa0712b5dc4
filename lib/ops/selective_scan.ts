/**
 * The SelectiveScan op (Mamba's S6, mamba_ssm's `selective_scan_fn`): one tfjs kernel name
 * with a registered gradient that runs one fused backward for all seven inputs, and beside it
 * {@link selectiveScanReference}, the same op from plain tfjs ops (mamba_ssm's
 * `selective_scan_ref`), the oracle every kernel is tested against.
 *
 * The kernels that run it (lib/backends/kernels/selective_scan.ts, on cpu and wasm) dispatch to
 * the active {@link ScanKernel} (TypeScript loop, native C, or CUDA; chosen once per process),
 * so models never change when a faster kernel lands.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Kernel name of the forward scan. */
export const SELECTIVE_SCAN = "StarmambaSelectiveScan";
/** Kernel name of the fused backward (seven outputs). */
export const SELECTIVE_SCAN_GRAD = "StarmambaSelectiveScanGrad";

/** Options of {@link selectiveScan}. */
export interface ScanOptions {
  /** Apply softplus to delta (+ deltaBias), as SS2D does. */
  deltaSoftplus?: boolean;
}

const INPUT_NAMES = ["u", "delta", "A", "B", "C", "D", "deltaBias"] as const;
let gradientRegistered = false;

/** Registers the op's gradient (idempotent; kernels are registered per backend). */
export function registerSelectiveScanGradient(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: SELECTIVE_SCAN,
    inputsToSave: [...INPUT_NAMES],
    gradFunc: (dy, saved, attrs) => {
      const inputs: tf.NamedTensorMap = { dy: dy as tf.Tensor };
      INPUT_NAMES.forEach((name, i) => (inputs[name] = saved[i]));
      // One fused backward for all seven gradients; each closure picks its output.
      const grads = tf.engine().runKernel(SELECTIVE_SCAN_GRAD, inputs, attrs) as tf.Tensor[];
      const out: Record<string, () => tf.Tensor> = {};
      INPUT_NAMES.forEach((name, i) => (out[name] = () => grads[i]));
      return out;
    },
  });
}

/**
 * Selective scan with the signature of mamba_ssm's `selective_scan_fn`.
 * u, delta (batch, dim, L); A (dim, N); B, C (batch, groups, N, L); D, deltaBias (dim).
 * Returns y (batch, dim, L). Differentiable in every input.
 */
export function selectiveScan(
  u: tf.Tensor3D,
  delta: tf.Tensor3D,
  A: tf.Tensor2D,
  B: tf.Tensor4D,
  C: tf.Tensor4D,
  D?: tf.Tensor1D | null,
  deltaBias?: tf.Tensor1D | null,
  opts: ScanOptions = {},
): tf.Tensor3D {
  return tf.tidy(() => {
    const dim = u.shape[1];
    const inputs: tf.NamedTensorMap = {
      u,
      delta,
      A,
      B,
      C,
      D: D ?? tf.zeros([dim]),
      deltaBias: deltaBias ?? tf.zeros([dim]),
    };
    return tf.engine().runKernel(SELECTIVE_SCAN, inputs, {
      deltaSoftplus: Boolean(opts.deltaSoftplus),
    } as never) as tf.Tensor3D;
  });
}

/**
 * The selective scan from stock tfjs ops only (mamba_ssm's `selective_scan_ref`): materialise
 * exp(Δ·A) and Δ·B·u, then a sequential loop over L. Autodiff through it gives a second,
 * independent set of gradients. Slow (O(L) ops): the oracle for the fast kernels. Same signature
 * and semantics as {@link selectiveScan}.
 */
export function selectiveScanReference(
  u: tf.Tensor3D,
  delta: tf.Tensor3D,
  A: tf.Tensor2D,
  B: tf.Tensor4D,
  C: tf.Tensor4D,
  D?: tf.Tensor1D | null,
  deltaBias?: tf.Tensor1D | null,
  opts: { deltaSoftplus?: boolean } = {},
): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, d, l] = u.shape;
    const [, g, n] = B.shape;
    let dt: tf.Tensor3D = delta;
    if (deltaBias) dt = tf.add(dt, tf.reshape(deltaBias, [1, d, 1]));
    if (opts.deltaSoftplus) dt = tf.softplus(dt);
    // expand groups to channels: (b, g, n, l) → (b, d, n, l)
    const expand = (t: tf.Tensor4D) =>
      tf.reshape(tf.mul(tf.reshape(t, [b, g, 1, n, l]), tf.ones([1, 1, d / g, 1, 1])), [
        b,
        d,
        n,
        l,
      ]);
    const Bd = expand(B), Cd = expand(C);
    const dA = tf.exp(tf.mul(tf.reshape(dt, [b, d, 1, l]), tf.reshape(A, [1, d, n, 1])));
    const dBu = tf.mul(tf.reshape(tf.mul(dt, u), [b, d, 1, l]), Bd);
    // Step t of each (b, d, n, l) tensor, as (b, d, n).
    const at = (x: tf.Tensor, t: number) =>
      tf.reshape(tf.slice(x, [0, 0, 0, t], [b, d, n, 1]), [b, d, n]);
    let h: tf.Tensor = tf.zeros([b, d, n]);
    const ys: tf.Tensor[] = [];
    for (let t = 0; t < l; t++) {
      h = tf.add(tf.mul(at(dA, t), h), at(dBu, t));
      ys.push(tf.sum(tf.mul(h, at(Cd, t)), 2, true));
    }
    let y = tf.reshape(tf.concat(ys, 2), [b, d, l]) as tf.Tensor3D;
    if (D) y = tf.add(y, tf.mul(u, tf.reshape(D, [1, d, 1])));
    return y;
  });
}
