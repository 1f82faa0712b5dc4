/**
 * BatchMatMul on the device (native/cuda/backend/gemm.cuh): float32, transposes as flags, the
 * batch of either side broadcast when it is 1. Batch shapes that broadcast otherwise fall back.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CudaBackend } from "../backend.ts";
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
  gemm(backend, { batch, m, n, k, a, b, y, transposeA, transposeB }, ba === 1, bb === 1);
  return y;
}

/** One (batched) product y = op(a)·op(b) on the device (native/cuda/backend/gemm.cuh). */
export interface Gemm {
  batch: number;
  m: number;
  n: number;
  k: number;
  a: tf.TensorInfo;
  b: tf.TensorInfo;
  y: tf.TensorInfo;
  transposeA: boolean;
  transposeB: boolean;
}

/** Runs `g`; `shareA` / `shareB` broadcast that side's one matrix over the batch. */
export function gemm(backend: CudaBackend, g: Gemm, shareA = false, shareB = false): void {
  backend.check(
    backend.lib.symbols.smc_gemm(
      g.batch,
      g.m,
      g.n,
      g.k,
      backend.pointer(g.a),
      BigInt(shareA ? 0 : g.m * g.k),
      g.transposeA ? 1 : 0,
      backend.pointer(g.b),
      BigInt(shareB ? 0 : g.k * g.n),
      g.transposeB ? 1 : 0,
      backend.pointer(g.y),
    ),
    "gemm",
  );
}

/** BatchMatMul. */
export const matMulKernels: CudaKernel[] = [{ kernelName: "BatchMatMul", kernelFunc: batchMatMul }];
