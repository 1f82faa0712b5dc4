/**
 * Kernels that only relabel a buffer: Reshape and Identity share the input's device buffer (one
 * more reference), as tfjs-backend-cpu does; nothing is copied or launched.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";

function reshape({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  const size = tf.util.sizeFromShape(x.shape);
  const shape = tf.util.inferFromImplicitShape((attrs as { shape: number[] }).shape, size);
  tf.util.assert(
    tf.util.sizeFromShape(shape) === size,
    () => `Reshape: cannot reshape [${x.shape}] (${size} values) to [${shape}]`,
  );
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape, dtype: x.dtype };
}

function identity({ inputs, backend }: CudaKernelArgs): tf.TensorInfo {
  const x = inputs.x as tf.TensorInfo;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Reshape and Identity. */
export const reshapeKernels: CudaKernel[] = [
  { kernelName: "Reshape", kernelFunc: reshape },
  { kernelName: "Identity", kernelFunc: identity },
];
