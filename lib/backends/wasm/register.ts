/**
 * Everything the wasm backend runs that tfjs-backend-wasm does not: one list of replacements for
 * its stock kernels (one file each under kernels/) and one of the custom ops' kernels (shared
 * with the cpu backend in ../kernels/, the optimiser's Adam and moving average included, plus
 * the fused block, wasm-only), and what it does fast. The native library they call is loaded by
 * the runtime (../runtime.ts, ../select.ts) and reached through hooks.ts.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, type KernelSpec, registerKernels } from "../io.ts";
import { SHARED_KERNELS } from "../kernels/mod.ts";
import type { Capabilities } from "../../ops/capabilities.ts";
import { activeNativeBlock, activeNativeConv, activeNativeGemm } from "./hooks.ts";
import { slice, splitV } from "./kernels/slice.ts";
import { concat } from "./kernels/concat.ts";
import { batchMatMul } from "./kernels/batch_mat_mul.ts";
import {
  conv2d,
  convFilterGradKernels,
  convStridedKernels,
  flipFilterKernels,
} from "./kernels/conv2d.ts";
import { mean, sum } from "./kernels/reduce.ts";
import { identity } from "./kernels/identity.ts";
import { maxPoolGradNative } from "./kernels/max_pool_native.ts";
import { leakyRelu, leakyReluGradKernels } from "./kernels/leaky_relu.ts";
import { ssConvSsmKernels } from "./kernels/ss_conv_ssm.ts";

/** A replacement for a stock kernel, built around the original (its fallback). */
export interface Override {
  /** The stock kernel replaced. */
  kernelName: string;
  /** The replacement, given the original kernel function. */
  wrap(orig: tf.KernelFunc): (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];
}

/** The stock kernels replaced on wasm. */
export const WASM_OVERRIDES: Override[] = [
  slice,
  splitV,
  concat,
  batchMatMul,
  conv2d,
  sum,
  mean,
  identity,
  // tfjs-backend-wasm 4.22's MaxPoolGrad is wrong on some shapes: ours (native, else TypeScript).
  maxPoolGradNative,
  leakyRelu,
];

/** The custom ops' kernels on wasm. */
export const WASM_KERNELS: KernelSpec[] = [
  // The filter flip runs natively on wasm (bitwise the same copy as the shared loop).
  ...SHARED_KERNELS.filter((k) => !flipFilterKernels.some((f) => f.kernelName === k.kernelName)),
  ...flipFilterKernels,
  ...convFilterGradKernels,
  ...convStridedKernels,
  ...ssConvSsmKernels,
  ...leakyReluGradKernels,
];

const REPLACED = new WeakSet<tf.KernelFunc>();

/** Installs the overrides and the custom ops' kernels (the optimiser's included) for wasm. */
export function registerWasmKernels(): void {
  for (const o of WASM_OVERRIDES) {
    const k = tf.getKernel(o.kernelName, "wasm");
    if (!k || REPLACED.has(k.kernelFunc)) continue;
    const kernelFunc = o.wrap(k.kernelFunc) as tf.KernelFunc;
    REPLACED.add(kernelFunc);
    tf.unregisterKernel(o.kernelName, "wasm");
    tf.registerKernel({
      kernelName: o.kernelName,
      backendName: "wasm",
      setupFunc: k.setupFunc,
      kernelFunc,
    });
  }
  registerKernels("wasm", WASM_KERNELS);
}

const onWasm = () => tf.getBackend() === "wasm";

/** What wasm does fast, as the ops ask it (installed when the runtime activates wasm). */
export const WASM_CAPABILITIES: Partial<Capabilities> = {
  // XNNPACK runs transposed matmuls ~7× slower; the native gemm takes them at full speed.
  transposedMatMulFast: () => !onWasm() || activeNativeGemm() !== null,
  // The native kernels behind these ops are registered for wasm only.
  convFilterGrad: () => onWasm() && activeNativeConv() !== null,
  ssConvSsm: () => onWasm() && activeNativeBlock() !== null,
  // Native when the library is loaded, else a TypeScript loop: registered for wasm only.
  leakyReluGrad: onWasm,
};
