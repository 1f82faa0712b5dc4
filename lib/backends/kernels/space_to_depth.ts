/**
 * Kernels of PatchMerging's 2×2 gather and its scatter back (lib/ops/space_to_depth.ts) for the
 * cpu and wasm backends (TypeScript copies of whole channel runs).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { SPACE_TO_DEPTH, SPACE_TO_DEPTH_GRAD, spaceToDepthCopy } from "../../ops/space_to_depth.ts";
import { type KernelArgs, type KernelSpec, withArrays } from "../io.ts";

function gatherKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const [B, H, W, C] = x.shape;
  return withArrays(args.backend, [x], [[B, H / 2, W / 2, 4 * C]], ([xv], [yv]) => {
    spaceToDepthCopy(xv, yv, x.shape, true);
  }, false)[0];
}

function scatterKernel(args: KernelArgs): tf.TensorInfo {
  const dy = args.inputs.dy as tf.TensorInfo;
  const { shape } = args.attrs as unknown as { shape: number[] };
  return withArrays(args.backend, [dy], [shape], ([dyv], [dxv]) => {
    spaceToDepthCopy(dxv, dyv, shape, false);
  }, false)[0];
}

/** The gather and the scatter. */
export const spaceToDepthKernels: KernelSpec[] = [
  { kernelName: SPACE_TO_DEPTH, kernelFunc: gatherKernel },
  { kernelName: SPACE_TO_DEPTH_GRAD, kernelFunc: scatterKernel },
];
