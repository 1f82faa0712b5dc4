/**
 * BatchMatMul on the device (native/cuda/backend/gemm.cuh): float32, transposes as flags, the
 * batch of either side broadcast when it is 1. Batch shapes that broadcast otherwise fall back.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";

function batchMatMul({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const a = inputs.a as tf.TensorInfo, b = inputs.b as tf.TensorInfo;
  if (a.dtype !== "float32" || b.dtype !== "float32") return null;
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  const ra = a.shape.length, rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  tf.util.assert(k === kb, () => `BatchMatMul: inner dimensions ${k} and ${kb} differ`);
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const ba = tf.util.sizeFromShape(batchA), bb = tf.util.sizeFromShape(batchB);
  const batchShape = tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
  const batch = tf.util.sizeFromShape(batchShape);
  // Only one side broadcast as a whole, or none (every shape of this network).
  if ((ba !== batch && ba !== 1) || (bb !== batch && bb !== 1) || batch > 65535) return null;
  const y = backend.makeTensorInfo([...batchShape, m, n], "float32");
  backend.check(
    backend.lib.symbols.smc_gemm(
      batch,
      m,
      n,
      k,
      backend.pointer(a),
      BigInt(ba === 1 ? 0 : m * k),
      transposeA ? 1 : 0,
      backend.pointer(b),
      BigInt(bb === 1 ? 0 : k * n),
      transposeB ? 1 : 0,
      backend.pointer(y),
    ),
    "gemm",
  );
  return y;
}

/** BatchMatMul. */
export const matMulKernels: CudaKernel[] = [{ kernelName: "BatchMatMul", kernelFunc: batchMatMul }];
