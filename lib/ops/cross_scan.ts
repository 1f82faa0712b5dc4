/**
 * Cross-scan and cross-merge of SS2D (VMamba §3.2, MedMamba Fig. 2) as custom tfjs ops.
 *
 * cross-scan unfolds a feature map x (B, H, W, D) into K sequences of length L = H·W, written
 * channels-first (B, K, D, L) so the selective scan can read them directly:
 *   k = 0  row-major          (l = h·W + w)
 *   k = 1  column-major       (l = w·H + h)
 *   k = 2  row-major, reversed
 *   k = 3  column-major, reversed
 * With K = 2 the directions are {row-major, row-major reversed} (bidirectional, as Vim); with
 * K = 1 only row-major. cross-merge maps each direction back to row-major positions and sums,
 * returning (B, H, W, D). The two are adjoint, so each is the other's gradient.
 *
 * Both are pure index permutations, done in one pass of plain loops ({@link crossScanInto},
 * {@link crossMergeInto}; their kernels are lib/backends/kernels/cross_scan.ts). This also fuses
 * the NHWC ↔ channels-first transposes and avoids tf.reverse, which is slow on wasm. The two
 * reference compositions from plain tfjs ops are in tests/cross_test.ts.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Kernel name of cross-scan. */
export const CROSS_SCAN = "StarmambaCrossScan";
/** Kernel name of cross-merge. */
export const CROSS_MERGE = "StarmambaCrossMerge";

/**
 * Direction code of scan `k` out of `K`: bit 0 = column-major, bit 1 = reversed. K = 4 uses
 * codes 0..3; K = 2 row-major and its reverse (codes 0, 2); K = 1 row-major.
 */
export function directionCode(K: number, k: number): number {
  if (K === 4) return k;
  if (K === 2) return k ? 2 : 0;
  return 0;
}

/**
 * Position in the row-major grid of step `l` of the direction with code `code` (see
 * {@link directionCode}), for an H×W grid. Exported for tests (hand-worked permutations).
 */
export function directionIndex(code: number, l: number, h: number, w: number): number {
  const L = h * w;
  const s = code & 2 ? L - 1 - l : l;
  if ((code & 1) === 0) return s;
  // column-major: step s visits column floor(s/H), row s mod H
  const col = Math.floor(s / h), row = s % h;
  return row * w + col;
}

/** Precomputed permutation table: perm[k·L + l] = row-major position. */
function permTable(k: number, h: number, w: number): Int32Array {
  const L = h * w;
  const t = new Int32Array(k * L);
  for (let d = 0; d < k; d++) {
    const code = directionCode(k, d);
    for (let l = 0; l < L; l++) t[d * L + l] = directionIndex(code, l, h, w);
  }
  return t;
}

/** x (B,H,W,D) → (B,K,D,L). */
export function crossScanArrays(
  x: Float32Array,
  b: number,
  h: number,
  w: number,
  d: number,
  k: number,
): Float32Array {
  const out = new Float32Array(b * k * d * h * w);
  crossScanInto(x, out, b, h, w, d, k);
  return out;
}

/** cross-scan into a preallocated `out` (B,K,D,L). */
export function crossScanInto(
  x: Float32Array,
  out: Float32Array,
  b: number,
  h: number,
  w: number,
  d: number,
  k: number,
): void {
  const L = h * w;
  const perm = permTable(k, h, w);
  for (let bi = 0; bi < b; bi++) {
    const xb = bi * L * d;
    for (let kk = 0; kk < k; kk++) {
      const ob = (bi * k + kk) * d * L;
      for (let l = 0; l < L; l++) {
        const src = xb + perm[kk * L + l] * d;
        for (let c = 0; c < d; c++) out[ob + c * L + l] = x[src + c];
      }
    }
  }
}

/** ys (B,K,D,L) → (B,H,W,D), summing directions. */
export function crossMergeArrays(
  ys: Float32Array,
  b: number,
  h: number,
  w: number,
  d: number,
  k: number,
): Float32Array {
  const out = new Float32Array(b * h * w * d);
  crossMergeInto(ys, out, b, h, w, d, k);
  return out;
}

/** cross-merge into a zero-filled `out` (B,H,W,D). */
export function crossMergeInto(
  ys: Float32Array,
  out: Float32Array,
  b: number,
  h: number,
  w: number,
  d: number,
  k: number,
): void {
  const L = h * w;
  const perm = permTable(k, h, w);
  for (let bi = 0; bi < b; bi++) {
    const ob = bi * L * d;
    for (let kk = 0; kk < k; kk++) {
      const ib = (bi * k + kk) * d * L;
      for (let l = 0; l < L; l++) {
        const dst = ob + perm[kk * L + l] * d;
        for (let c = 0; c < d; c++) out[dst + c] += ys[ib + c * L + l];
      }
    }
  }
}

/** Attributes of the two kernels: directions, and the grid of a cross-merge. */
export interface CrossAttrs {
  k: number;
  h: number;
  w: number;
}

let gradientRegistered = false;

/** Registers the gradients of cross-scan and cross-merge: each is the other (idempotent). */
export function registerCrossScanGradients(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: CROSS_SCAN,
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const [, h, w] = saved[0].shape;
      const k = (attrs as unknown as CrossAttrs).k;
      return { x: () => crossMerge(dy as tf.Tensor4D, h, w, k) };
    },
  });
  tf.registerGradient({
    kernelName: CROSS_MERGE,
    inputsToSave: [],
    gradFunc: (dy, _saved, attrs) => {
      const k = (attrs as unknown as CrossAttrs).k;
      return { ys: () => crossScan(dy as tf.Tensor4D, k) };
    },
  });
}

/** cross-scan: x (B,H,W,D) → (B,K,D,H·W). */
export function crossScan(x: tf.Tensor4D, k: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  return tf.engine().runKernel(CROSS_SCAN, { x }, { k, h, w } as never) as tf.Tensor4D;
}

/** cross-merge: ys (B,K,D,H·W) → (B,H,W,D), summing the K directions in row-major order. */
export function crossMerge(ys: tf.Tensor4D, h: number, w: number, k: number): tf.Tensor4D {
  return tf.engine().runKernel(CROSS_MERGE, { ys }, { k, h, w } as never) as tf.Tensor4D;
}

/**
 * cross-scan from plain tfjs ops (transposes, reverses, stack): the reference of
 * {@link crossScan}, same signature.
 */
export function crossScanReference(x: tf.Tensor4D, k: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w, d] = x.shape;
    const row = tf.transpose(tf.reshape(x, [b, h * w, d]), [0, 2, 1]);
    const col = tf.transpose(tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, h * w, d]), [0, 2, 1]);
    const dirs = k === 4
      ? [row, col, tf.reverse(row, 2), tf.reverse(col, 2)]
      : k === 2
      ? [row, tf.reverse(row, 2)]
      : [row];
    return tf.stack(dirs, 1) as tf.Tensor4D;
  });
}

/**
 * cross-merge from plain tfjs ops: each direction put back in row-major order and summed; the
 * reference of {@link crossMerge}, same signature.
 */
export function crossMergeReference(ys: tf.Tensor4D, h: number, w: number, k: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, , d] = ys.shape;
    const parts = tf.unstack(ys, 1).map((y, i) => {
      const code = directionCode(k, i);
      const s = code & 2 ? tf.reverse(y, 2) : y;
      return code & 1
        ? tf.transpose(tf.reshape(s, [b, d, w, h]), [0, 3, 2, 1])
        : tf.transpose(tf.reshape(s, [b, d, h, w]), [0, 2, 3, 1]);
    });
    return tf.addN(parts) as tf.Tensor4D;
  });
}
