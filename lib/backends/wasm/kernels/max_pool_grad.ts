/**
 * MaxPoolGrad for the wasm backend. tfjs-backend-wasm 4.22's own kernel loses part of the
 * gradient on some shapes (entries of dx that a window's maximum should receive stay 0: on a
 * 1×4×4×2 or 1×8×8×1 input pooled 2×2 / 2, 2×8×8×4 pooled 3×3 / 1 SAME, 2×32×32×64 pooled
 * 3×3 / 2 padding 1; tests/max_pool_grad_test.ts). This one routes each output's gradient to the
 * first maximum of its window in row-major order (a strictly larger value replaces the maximum,
 * so NaN never wins and a window of NaNs routes nothing), exactly as tfjs's cpu kernel,
 * TensorFlow and PyTorch do; an input that several windows route to sums their gradients as the
 * cpu kernel does (in window order, in float64, rounded once), so the two backends agree bit for
 * bit.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, withArrays } from "../../io.ts";
import type { Override } from "../register.ts";

/** The geometry of a 2-D max pooling (NHWC), as tfjs's computePool2DInfo gives it. */
export interface PoolGeometry {
  batch: number;
  height: number;
  width: number;
  channels: number;
  outHeight: number;
  outWidth: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  /** Rows and columns of padding before the first input row / column. */
  padTop: number;
  padLeft: number;
}

/**
 * dx (x's shape, zero-filled on entry): each dy routed to the first maximum of its window of x.
 * Windows are visited in (batch, row, column) order with the channels innermost. When windows
 * overlap (stride < window), an input may receive several gradients: they are summed in that
 * order in float64 and rounded once, as tfjs's cpu kernel sums them; otherwise each input gets at
 * most one, written as is. Exported for tests.
 */
export function maxPoolGradInto(
  g: PoolGeometry,
  x: Float32Array,
  dy: Float32Array,
  dx: Float32Array,
): void {
  const overlap = g.strideHeight < g.filterHeight || g.strideWidth < g.filterWidth;
  const acc: Float32Array | Float64Array = overlap ? new Float64Array(dx.length) : dx;
  scatterToMaxima(g, x, dy, acc);
  if (overlap) dx.set(acc);
}

/** acc[argmax of each window] += its dy (see {@link maxPoolGradInto}). */
function scatterToMaxima(
  g: PoolGeometry,
  x: Float32Array,
  dy: Float32Array,
  acc: Float32Array | Float64Array,
): void {
  const C = g.channels;
  const best = new Float32Array(C), at = new Int32Array(C);
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      const r0 = oy * g.strideHeight - g.padTop;
      const rLo = Math.max(0, r0), rHi = Math.min(g.height, r0 + g.filterHeight);
      for (let ox = 0; ox < g.outWidth; ox++) {
        const c0 = ox * g.strideWidth - g.padLeft;
        const cLo = Math.max(0, c0), cHi = Math.min(g.width, c0 + g.filterWidth);
        best.fill(-Infinity);
        at.fill(-1);
        for (let r = rLo; r < rHi; r++) {
          for (let c = cLo; c < cHi; c++) {
            const base = ((b * g.height + r) * g.width + c) * C;
            for (let d = 0; d < C; d++) {
              const v = x[base + d];
              if (v > best[d]) {
                best[d] = v;
                at[d] = base + d;
              }
            }
          }
        }
        const o = ((b * g.outHeight + oy) * g.outWidth + ox) * C;
        for (let d = 0; d < C; d++) if (at[d] >= 0) acc[at[d]] += dy[o + d];
      }
    }
  }
}

interface PoolAttrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

/** The pooling's geometry from MaxPoolGrad's attributes (the same call its forward made). */
export function poolGeometry(xShape: number[], attrs: PoolAttrs): PoolGeometry {
  const info = tf.backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  return {
    batch: info.batchSize,
    height: info.inHeight,
    width: info.inWidth,
    channels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    filterHeight: info.effectiveFilterHeight,
    filterWidth: info.effectiveFilterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** MaxPoolGrad (inputs dy, input, output): the correct gradient, replacing the stock kernel. */
export const maxPoolGrad: Override = {
  kernelName: "MaxPoolGrad",
  wrap: () => (args: KernelArgs) => {
    const dy = args.inputs.dy as tf.TensorInfo, x = args.inputs.input as tf.TensorInfo;
    if (x.dtype !== "float32" || dy.dtype !== "float32") {
      throw new Error(`MaxPoolGrad on wasm takes float32 tensors (got ${x.dtype}, ${dy.dtype})`);
    }
    const g = poolGeometry(x.shape, args.attrs as unknown as PoolAttrs);
    return withArrays(args.backend, [x, dy], [x.shape], ([xv, dyv], [dxv]) => {
      maxPoolGradInto(g, xv, dyv, dxv);
    })[0];
  },
};
