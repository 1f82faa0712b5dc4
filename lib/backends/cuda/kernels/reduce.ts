/**
 * Reductions on the device: Sum, Mean, Max, Min over any axes of a float32 tensor
 * (native/cuda/backend/reduce.cuh). The reduced axes, when they are adjacent, are read in place
 * as (outer, reduced, inner); otherwise a strided copy first moves them innermost, as
 * tfjs-backend-cpu does. Each output is summed in an order fixed by the shape alone, so results
 * are bitwise repeatable.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { transposed } from "./copy.ts";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";

/** The library's reduce op numbers. */
const OPS: Record<string, number> = { Sum: 0, Mean: 1, Max: 2, Min: 3 };
const MAX_RANK = 6;

function reduce(op: number) {
  return ({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null => {
    const x = inputs.x as tf.TensorInfo;
    if (x.dtype !== "float32" || x.shape.length > MAX_RANK) return null;
    // Sum and Mean name the axes `axis`, Max and Min `reductionIndices`.
    const a = attrs as {
      axis?: number | number[];
      reductionIndices?: number | number[];
      keepDims: boolean;
    };
    const axis = (a.axis ?? a.reductionIndices ?? null) as number | number[];
    const keepDims = a.keepDims;
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
    const [outShape, reduceShape] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
    const shape = keepDims ? tf.backend_util.expandShapeToKeepDim(outShape, axes) : outShape;
    const r = tf.util.sizeFromShape(reduceShape);
    // Max/min of nothing: let the cpu kernel decide what that is.
    if (r === 0 && op >= 2) return null;
    let src = x;
    let outer: number, inner: number;
    const adjacent = axes.every((a, i) => i === 0 || a === axes[i - 1] + 1);
    if (axes.length === 0 || adjacent) {
      const first = axes.length ? axes[0] : x.shape.length;
      const last = axes.length ? axes[axes.length - 1] : x.shape.length - 1;
      outer = tf.util.sizeFromShape(x.shape.slice(0, first));
      inner = tf.util.sizeFromShape(x.shape.slice(last + 1));
    } else {
      // Move the reduced axes innermost (kept axes first, in order).
      src = transposed(backend, x, tf.backend_util.getAxesPermutation(axes, x.shape.length)!);
      outer = tf.util.sizeFromShape(outShape);
      inner = 1;
    }
    const y = backend.makeTensorInfo(shape, "float32");
    try {
      if (r === 0) {
        backend.check(
          backend.lib.symbols.smc_fill_f32(
            backend.pointer(y),
            BigInt(tf.util.sizeFromShape(shape)),
            op === 1 ? NaN : 0,
          ),
          "fill",
        );
      } else if (tf.util.sizeFromShape(shape) > 0) {
        backend.check(
          backend.lib.symbols.smc_reduce(
            op,
            backend.pointer(src),
            backend.pointer(y),
            BigInt(outer),
            BigInt(r),
            BigInt(inner),
          ),
          "reduce kernel",
        );
      }
    } finally {
      if (src !== x) backend.disposeData(src.dataId);
    }
    return y;
  };
}

/** ArgMax / ArgMin along one axis (read in place as (outer, r, inner)). */
function argReduce(largest: boolean) {
  return ({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null => {
    const x = inputs.x as tf.TensorInfo;
    if (x.dtype !== "float32") return null;
    const [axis] = tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape);
    const r = x.shape[axis];
    if (r === 0) return null;
    const outer = tf.util.sizeFromShape(x.shape.slice(0, axis));
    const inner = tf.util.sizeFromShape(x.shape.slice(axis + 1));
    const y = backend.makeTensorInfo(x.shape.filter((_, d) => d !== axis), "int32");
    backend.check(
      backend.lib.symbols.smc_arg_reduce(
        largest ? 1 : 0,
        backend.pointer(x),
        backend.pointer(y),
        BigInt(outer),
        BigInt(r),
        BigInt(inner),
      ),
      "arg reduce",
    );
    return y;
  };
}

/** Sum, Mean, Max, Min, ArgMax, ArgMin. */
export const reduceKernels: CudaKernel[] = [
  ...Object.entries(OPS).map(([kernelName, op]) => ({ kernelName, kernelFunc: reduce(op) })),
  { kernelName: "ArgMax", kernelFunc: argReduce(true) },
  { kernelName: "ArgMin", kernelFunc: argReduce(false) },
];
