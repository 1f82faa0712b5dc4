/**
 * Kernels of the fused LayerNorm / BatchNorm (lib/ops/norm.ts) for the cpu and wasm backends:
 * native C (native/cpu/norm.c) on wasm when the library is loaded, else the TypeScript loops.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import {
  NORM,
  NORM_GRAD,
  type NormAttrs,
  normBackwardInto,
  normForwardInto,
  type NormMode,
} from "../../ops/norm.ts";
import { activeNativeNorm } from "../wasm/hooks.ts";
import { type KernelArgs, type KernelSpec, withArrays } from "../io.ts";

function groups(x: tf.TensorInfo, mode: NormMode): number {
  const C = x.shape[x.shape.length - 1];
  return mode === "row" ? x.shape.reduce((a, b) => a * b, 1) / C : C;
}

function forwardKernel(args: KernelArgs): tf.TensorInfo[] {
  const { x, gamma, beta } = args.inputs as Record<string, tf.TensorInfo>;
  const { mode, eps } = args.attrs as unknown as NormAttrs;
  const C = x.shape[x.shape.length - 1], G = groups(x, mode);
  const native = activeNativeNorm();
  return withArrays(
    args.backend,
    [x, gamma, beta],
    [x.shape, [G], [G], [G]],
    ([xv, gv, bv], [y, mu, v, rs]) =>
      native
        ? native.forward(C, mode, eps, xv, gv, bv, y, mu, v, rs)
        : normForwardInto(xv, gv, bv, C, mode, eps, y, mu, v, rs),
    false,
  );
}

function backwardKernel(args: KernelArgs): tf.TensorInfo[] {
  const { dy, x, gamma, mean, rstd } = args.inputs as Record<string, tf.TensorInfo>;
  const { mode } = args.attrs as unknown as NormAttrs;
  const C = x.shape[x.shape.length - 1];
  const native = activeNativeNorm();
  return withArrays(
    args.backend,
    [dy, x, gamma, mean, rstd],
    [x.shape, [C], [C]],
    ([dyv, xv, gv, mu, rs], [dx, dg, db]) =>
      native
        ? native.backward(C, mode, dyv, xv, gv, mu, rs, dx, dg, db)
        : normBackwardInto(dyv, xv, gv, mu, rs, C, mode, dx, dg, db),
    false,
  );
}

/** The op's forward and backward kernels. */
export const normKernels: KernelSpec[] = [
  { kernelName: NORM, kernelFunc: forwardKernel },
  { kernelName: NORM_GRAD, kernelFunc: backwardKernel },
];
