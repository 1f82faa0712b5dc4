/**
 * Cast between float32, int32 and bool on the device (as tfjs-backend-cpu: float → int
 * truncates toward zero, anything → bool is `!= 0`).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";

const CODE: Record<string, number> = { float32: 0, int32: 1, bool: 2 };

function cast({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const x = inputs.x as tf.TensorInfo;
  const to = (attrs as { dtype: tf.DataType }).dtype;
  if (!(x.dtype in CODE) || !(to in CODE)) return null;
  if (to === x.dtype) {
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: to };
  }
  const out = backend.makeTensorInfo(x.shape, to);
  const n = tf.util.sizeFromShape(x.shape);
  if (n > 0) {
    backend.check(
      backend.lib.symbols.smc_cast(
        CODE[x.dtype],
        CODE[to],
        backend.pointer(x),
        backend.pointer(out),
        BigInt(n),
      ),
      "cast kernel",
    );
  }
  return out;
}

/** The Cast kernel. */
export const castKernels: CudaKernel[] = [{ kernelName: "Cast", kernelFunc: cast }];
