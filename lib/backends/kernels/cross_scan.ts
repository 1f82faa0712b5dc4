/**
 * Kernels of cross-scan and cross-merge (lib/ops/cross_scan.ts) for the cpu and wasm backends.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import {
  CROSS_MERGE,
  CROSS_SCAN,
  type CrossAttrs,
  crossMergeInto,
  crossScanInto,
} from "../../ops/cross_scan.ts";
import { type KernelArgs, type KernelSpec, withArrays } from "../io.ts";

function crossScanKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const [b, h, w, d] = x.shape;
  const k = (args.attrs as unknown as CrossAttrs).k;
  return withArrays(args.backend, [x], [[b, k, d, h * w]], ([xs], [out]) => {
    crossScanInto(xs, out, b, h, w, d, k);
  })[0];
}

function crossMergeKernel(args: KernelArgs): tf.TensorInfo {
  const ys = args.inputs.ys as tf.TensorInfo;
  const [b, k, d] = ys.shape;
  const { h, w } = args.attrs as unknown as CrossAttrs;
  return withArrays(args.backend, [ys], [[b, h, w, d]], ([yv], [out]) => {
    crossMergeInto(yv, out, b, h, w, d, k);
  })[0];
}

/** Both kernels. */
export const crossScanKernels: KernelSpec[] = [
  { kernelName: CROSS_SCAN, kernelFunc: crossScanKernel },
  { kernelName: CROSS_MERGE, kernelFunc: crossMergeKernel },
];
