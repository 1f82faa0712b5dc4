/**
 * PatchMerging's 2×2 gather as one op: (B, H, W, C) → (B, H/2, W/2, 4C) with the four
 * neighbours in VMamba's order x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]. Its
 * gradient is the inverse permutation, also one op. As tensor ops (reshape, four slices and a
 * concat; in the backward four zero-padded copies of the whole input summed by three adds) the
 * merges cost more than the convolutions of the last stage. {@link spaceToDepthOps} is the
 * tensor-op reference (tests/merge_op_test.ts); the kernels are in
 * lib/backends/kernels/space_to_depth.ts.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Kernel names of the gather and of its gradient (the scatter back). */
export const SPACE_TO_DEPTH = "StarmambaSpaceToDepth";
export const SPACE_TO_DEPTH_GRAD = "StarmambaSpaceToDepthGrad";

/**
 * Copies between x (B, H, W, C) and y (B, H/2, W/2, 4C): block q of y's channels holds the
 * pixel (2·y2 + (q & 1), 2·x2 + (q >> 1)). `toY` gathers x into y, else scatters y back into x.
 * Exported for tests.
 */
export function spaceToDepthCopy(
  x: Float32Array,
  y: Float32Array,
  shape: number[],
  toY: boolean,
): void {
  const [B, H, W, C] = shape;
  const h2 = H / 2, w2 = W / 2;
  for (let b = 0, o = 0; b < B; b++) {
    for (let yy = 0; yy < h2; yy++) {
      for (let xx = 0; xx < w2; xx++) {
        for (let q = 0; q < 4; q++, o += C) {
          const src = ((b * H + 2 * yy + (q & 1)) * W + 2 * xx + (q >> 1)) * C;
          if (toY) y.set(x.subarray(src, src + C), o);
          else x.set(y.subarray(o, o + C), src);
        }
      }
    }
  }
}

let gradientRegistered = false;

/** Registers the op's gradient, the scatter back (idempotent). */
export function registerSpaceToDepthGradient(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: SPACE_TO_DEPTH,
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => {
      const shape = saved[0].shape;
      return {
        x: () =>
          tf.engine().runKernel(SPACE_TO_DEPTH_GRAD, { dy: dy as tf.Tensor }, {
            shape,
          } as never) as tf.Tensor,
      };
    },
  });
}

/** Whether the op runs on the active backend. */
export function spaceToDepthAvailable(): boolean {
  return tf.getKernel(SPACE_TO_DEPTH, tf.getBackend()) !== undefined;
}

/** The 2×2 gather of PatchMerging: (B, H, W, C) → (B, H/2, W/2, 4C). */
export function spaceToDepth(x: tf.Tensor4D): tf.Tensor4D {
  return tf.engine().runKernel(SPACE_TO_DEPTH, { x }) as tf.Tensor4D;
}

/** The same gather as tensor ops (reshape, slices, concat): the reference. */
export function spaceToDepthOps(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const h2 = h / 2, w2 = w / 2;
  // rows split into (h2, 2); columns (w2, 2) folded into the channel axis as 2·c
  const r = tf.reshape(x, [b * h2, 2, w2, 2 * c]);
  const part = (i: number, j: number) => tf.slice(r, [0, i, 0, j * c], [b * h2, 1, w2, c]);
  const cat = tf.concat([part(0, 0), part(1, 0), part(0, 1), part(1, 1)], 3);
  return tf.reshape(cat, [b, h2, w2, 4 * c]);
}
