/**
 * Reference selective scan built only from stock tfjs ops (mamba_ssm's selective_scan_ref):
 * materialise exp(Δ·A) and Δ·B·u, then a sequential loop over L. Autodiff through it gives a
 * second, independent set of gradients. Slow (O(L) ops); it is the oracle for fast kernels.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Same signature and semantics as {@link selectiveScan} in op.ts. */
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
