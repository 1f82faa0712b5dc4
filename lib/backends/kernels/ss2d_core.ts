/**
 * Kernels of the fused SS2D core (lib/ops/ss2d_core.ts) for the cpu and wasm backends: raw arrays
 * handed to the fused core of the active scan kernel (native/cpu/ss2d_core.c).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import {
  fusedSS2D,
  SS2D_CORE,
  SS2D_CORE_GRAD,
  SS2D_CORE_INPUTS as INPUTS,
} from "../../ops/ss2d_core.ts";
import type { SS2DCoreDims } from "../../ops/scan_kernel.ts";
import { type KernelArgs, type KernelSpec, withArrays } from "../io.ts";

type Infos = Record<string, tf.TensorInfo>;

function dimsOf(inp: Infos): SS2DCoreDims {
  const [B, H, W, di] = inp.xc.shape;
  const [K, C2] = inp.Wx.shape;
  const R = inp.Wdt.shape[2];
  return { B, H, W, di, K, N: (C2 - R) / 2, R };
}

function forwardKernel(args: KernelArgs): tf.TensorInfo {
  const inp = args.inputs as Infos;
  const core = fusedSS2D();
  if (!core) throw new Error("SS2D core op needs the native scan kernel");
  return withArrays(args.backend, INPUTS.map((n) => inp[n]), [inp.xc.shape], (ins, [y]) => {
    const [xc, Wx, Wdt, bias, A, D] = ins;
    core.forwardInto(dimsOf(inp), { xc, Wx, Wdt, bias, A, D }, y);
  })[0];
}

function backwardKernel(args: KernelArgs): tf.TensorInfo[] {
  const inp = args.inputs as Infos;
  const core = fusedSS2D();
  if (!core) throw new Error("SS2D core op needs the native scan kernel");
  const infos = [...INPUTS.map((n) => inp[n]), inp.dy];
  return withArrays(args.backend, infos, INPUTS.map((n) => inp[n].shape), (ins, outs) => {
    const [xc, Wx, Wdt, bias, A, D, dy] = ins;
    const [dxc, dWx, dWdt, dbias, dA, dD] = outs;
    core.backwardInto(dimsOf(inp), { xc, Wx, Wdt, bias, A, D }, dy, {
      dxc,
      dWx,
      dWdt,
      dbias,
      dA,
      dD,
    });
  });
}

/** The op's forward and backward kernels. */
export const ss2dCoreKernels: KernelSpec[] = [
  { kernelName: SS2D_CORE, kernelFunc: forwardKernel },
  { kernelName: SS2D_CORE_GRAD, kernelFunc: backwardKernel },
];
