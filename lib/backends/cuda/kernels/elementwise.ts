/**
 * Elementwise float32 kernels on the device (native/cuda/backend/elementwise.cuh): unary maps,
 * binary maps with broadcasting, comparisons into bool. Other dtypes fall back to the host.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";

/** tfjs kernel name → the library's UnaryOp number. */
export const UNARY_OPS: Record<string, number> = {
  Neg: 0,
  Exp: 1,
  Log: 2,
  Sqrt: 3,
  Rsqrt: 4,
  Square: 5,
  Abs: 6,
  Relu: 7,
  Sigmoid: 8,
  Tanh: 9,
  Softplus: 10,
  Log1p: 11,
  Reciprocal: 12,
  Sign: 13,
  Relu6: 14,
  Expm1: 15,
  Floor: 16,
  Ceil: 17,
};

/** tfjs kernel name → the library's BinaryOp number (from 8 on: comparisons, bool output). */
export const BINARY_OPS: Record<string, number> = {
  Add: 0,
  Sub: 1,
  Multiply: 2,
  RealDiv: 3,
  Maximum: 4,
  Minimum: 5,
  Pow: 6,
  SquaredDifference: 7,
  Greater: 8,
  GreaterEqual: 9,
  Less: 10,
  LessEqual: 11,
  Equal: 12,
  NotEqual: 13,
};
const FIRST_COMPARISON = 8;
const MAX_RANK = 6;

/** Unary maps with parameters: kernel name → op number and how its attrs give (p0, p1). */
export const PARAM_UNARY_OPS: Record<string, { op: number; params(a: tf.NamedAttrMap): number[] }> =
  {
    Step: { op: 18, params: (a) => [Number(a.alpha ?? 0)] },
    LeakyRelu: { op: 19, params: (a) => [Number(a.alpha)] },
    ClipByValue: { op: 20, params: (a) => [Number(a.clipValueMin), Number(a.clipValueMax)] },
  };

function unary(op: number, params: (a: tf.NamedAttrMap) => number[] = () => []) {
  return ({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null => {
    const x = inputs.x as tf.TensorInfo;
    if (x.dtype !== "float32") return null;
    const out = backend.makeTensorInfo(x.shape, "float32");
    const n = tf.util.sizeFromShape(x.shape);
    const [p0 = 0, p1 = 0] = params(attrs ?? {});
    if (n > 0) {
      backend.check(
        backend.lib.symbols.smc_unary(
          op,
          backend.pointer(x),
          backend.pointer(out),
          BigInt(n),
          p0,
          p1,
        ),
        "unary kernel",
      );
    }
    return out;
  };
}

/** Element strides of a contiguous tensor of `shape` seen in the output's `rank` axes (0 where
 * it is broadcast). */
export function broadcastStrides(shape: number[], outShape: number[]): number[] {
  const rank = outShape.length, lead = rank - shape.length;
  const strides = new Array<number>(rank).fill(0);
  let s = 1;
  for (let d = rank - 1; d >= lead; d--) {
    const dim = shape[d - lead];
    strides[d] = dim === 1 ? 0 : s;
    s *= dim;
  }
  return strides;
}

function binary(op: number) {
  return ({ inputs, backend }: CudaKernelArgs): tf.TensorInfo | null => {
    const a = inputs.a as tf.TensorInfo, b = inputs.b as tf.TensorInfo;
    if (a.dtype !== "float32" || b.dtype !== "float32") return null;
    const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    if (shape.length > MAX_RANK) return null;
    const out = backend.makeTensorInfo(shape, op >= FIRST_COMPARISON ? "bool" : "float32");
    const n = tf.util.sizeFromShape(shape);
    if (n === 0) return out;
    const packed = Int32Array.from([
      shape.length,
      ...shape,
      ...broadcastStrides(a.shape, shape),
      ...broadcastStrides(b.shape, shape),
    ]);
    backend.check(
      backend.lib.symbols.smc_binary(
        op,
        packed,
        backend.pointer(a),
        backend.pointer(b),
        backend.pointer(out),
        BigInt(n),
      ),
      "binary kernel",
    );
    return out;
  };
}

function oneHot({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const idx = inputs.indices as tf.TensorInfo;
  const { depth, onValue, offValue, dtype } = attrs as {
    depth: number;
    onValue: number;
    offValue: number;
    dtype?: tf.DataType;
  };
  const out = dtype ?? "int32";
  if (idx.dtype !== "int32" || (out !== "float32" && out !== "int32")) return null;
  const n = tf.util.sizeFromShape(idx.shape);
  const y = backend.makeTensorInfo([...idx.shape, depth], "float32");
  backend.check(
    backend.lib.symbols.smc_one_hot(
      backend.pointer(idx),
      BigInt(n),
      depth,
      onValue,
      offValue,
      backend.pointer(y),
    ),
    "one-hot",
  );
  if (out === "float32") return y;
  // tf.oneHot's default dtype is int32: the same values, cast.
  const yi = backend.makeTensorInfo(y.shape, "int32");
  backend.check(
    backend.lib.symbols.smc_cast(0, 1, backend.pointer(y), backend.pointer(yi), BigInt(n * depth)),
    "cast",
  );
  backend.disposeData(y.dataId);
  return yi;
}

/** The elementwise kernels. */
export const elementwiseKernels: CudaKernel[] = [
  ...Object.entries(UNARY_OPS).map(([kernelName, op]) => ({ kernelName, kernelFunc: unary(op) })),
  ...Object.entries(PARAM_UNARY_OPS).map(([kernelName, u]) => ({
    kernelName,
    kernelFunc: unary(u.op, u.params),
  })),
  ...Object.entries(BINARY_OPS).map(([kernelName, op]) => ({
    kernelName,
    kernelFunc: binary(op),
  })),
  { kernelName: "OneHot", kernelFunc: oneHot },
];
