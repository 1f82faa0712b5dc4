/**
 * The shape of a `cuda` kernel in the backend's registration list.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { CudaBackend } from "../backend.ts";

/** What a cuda kernel receives. */
export interface CudaKernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: CudaBackend;
  attrs?: tf.NamedAttrMap;
}

/**
 * One kernel on the device. `kernelFunc` returns null for the cases it does not handle on the
 * device (another dtype, a rank above its limit): those run through the host fallback.
 */
export interface CudaKernel {
  /** tfjs's (or a custom op's) kernel name. */
  kernelName: string;
  /** The device implementation, or null to fall back to the host for these arguments. */
  kernelFunc(args: CudaKernelArgs): tf.TensorInfo | tf.TensorInfo[] | null;
}
