/**
 * Kernels of the helper ops of the convolution gradients (lib/ops/grads.ts) for the cpu and wasm
 * backends: the transposed im2col and the filter flip, as TypeScript loops.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { FLIP_FILTER, flipFilterInto, IM2COL_T, im2colTInto } from "../../ops/grads.ts";
import { type KernelSpec, withArrays } from "../io.ts";

function im2colTKernel(
  args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap },
): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const [b, h, w, c] = x.shape;
  const k = (args.attrs as unknown as { k: number }).k;
  return withArrays(args.backend, [x], [[k * k * c, b * h * w]], ([xv], [out]) => {
    im2colTInto(xv, out, b, h, w, c, k);
  })[0];
}

function flipFilterKernel(
  args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap },
): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const [k, , ci, co] = x.shape;
  const swap = (args.attrs as unknown as { swap: boolean }).swap;
  return withArrays(args.backend, [x], [swap ? [k, k, co, ci] : [k, k, ci, co]], ([w], [out]) => {
    flipFilterInto(w, out, k, ci, co, swap);
  })[0];
}

/** Both helper kernels. */
export const convGradKernels: KernelSpec[] = [
  { kernelName: IM2COL_T, kernelFunc: im2colTKernel },
  { kernelName: FLIP_FILTER, kernelFunc: flipFilterKernel },
];
