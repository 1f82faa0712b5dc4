/**
 * The kernel of the moving-average update (lib/ops/ema.ts) for the cpu and wasm backends (and,
 * reading the weights back, cuda): one native call over the weights in place on the wasm heap
 * when the library is loaded (native/cpu/ema.c, the same bits), else the TypeScript loop.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { EMA_UPDATE, type EmaAttrs, emaUpdateInto } from "../../ops/ema.ts";
import { activeNativeEma } from "../wasm/hooks.ts";
import { inputArrays, type KernelArgs, type KernelSpec } from "../io.ts";

/** Updates the shadows (attrs) towards the weights w0, w1, … in place; returns no tensors. */
export function emaKernel(args: KernelArgs): tf.TensorInfo[] {
  const { decay, shadows } = args.attrs as unknown as EmaAttrs;
  const inp = args.inputs as Record<string, tf.TensorInfo>;
  // No tfjs allocation from here on: the heap views stay valid.
  const weights = inputArrays(args.backend, shadows.map((_, i) => inp[`w${i}`]));
  const native = activeNativeEma();
  if (native) native(shadows.map((s, i) => [s, weights[i]]), decay);
  else shadows.forEach((s, i) => emaUpdateInto(s, weights[i], decay));
  return [];
}

/** The op's kernel. */
export const emaKernels: KernelSpec[] = [{ kernelName: EMA_UPDATE, kernelFunc: emaKernel }];
