/**
 * Constant tensors on the device: Fill, ZerosLike, OnesLike (float32 and int32; bool falls back
 * to the host).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CudaBackend } from "../backend.ts";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";

/** A new tensor of `shape` and `dtype` with every element `value`; null for other dtypes. */
export function filled(
  backend: CudaBackend,
  shape: number[],
  dtype: tf.DataType,
  value: number,
): tf.TensorInfo | null {
  if (dtype !== "float32" && dtype !== "int32") return null;
  const out = backend.makeTensorInfo(shape, dtype);
  const n = BigInt(tf.util.sizeFromShape(shape));
  if (n === 0n) return out;
  const s = backend.lib.symbols;
  backend.check(
    dtype === "float32"
      ? s.smc_fill_f32(backend.pointer(out), n, value)
      : s.smc_fill_i32(backend.pointer(out), n, value),
    "fill",
  );
  return out;
}

function fill({ backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const { shape, value, dtype } = attrs as { shape: number[]; value: number; dtype?: tf.DataType };
  if (typeof value !== "number") return null;
  return filled(backend, shape, dtype ?? "float32", value);
}

function like(value: number) {
  return ({ inputs, backend }: CudaKernelArgs): tf.TensorInfo | null => {
    const x = inputs.x as tf.TensorInfo;
    return filled(backend, x.shape, x.dtype, value);
  };
}

/** Fill, ZerosLike, OnesLike. */
export const fillKernels: CudaKernel[] = [
  { kernelName: "Fill", kernelFunc: fill },
  { kernelName: "ZerosLike", kernelFunc: like(0) },
  { kernelName: "OnesLike", kernelFunc: like(1) },
];
