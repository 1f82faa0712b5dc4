/**
 * The kernel of the fused Adam(W) update (lib/ops/adam.ts) for the cpu and wasm backends: every
 * tensor in one native call on wasm when the library is loaded (native/cpu/adam.c), else the
 * TypeScript loop per tensor.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { ADAM_STEP, type AdamAttrs, adamStepInto } from "../../ops/adam.ts";
import { activeNativeAdam } from "../wasm/hooks.ts";
import { type KernelArgs, type KernelSpec, withArrays } from "../io.ts";

/** The update of `count` tensors: inputs w0…, g0…, m0…, v0…; outputs w'0, m'0, v'0, w'1, … */
export function adamKernel(args: KernelArgs): tf.TensorInfo[] {
  const inp = args.inputs as Record<string, tf.TensorInfo>;
  const { count, ...scalars } = args.attrs as unknown as AdamAttrs;
  const ins: tf.TensorInfo[] = [];
  const shapes: number[][] = [];
  for (let i = 0; i < count; i++) {
    ins.push(inp[`w${i}`], inp[`g${i}`], inp[`m${i}`], inp[`v${i}`]);
    shapes.push(inp[`w${i}`].shape, inp[`w${i}`].shape, inp[`w${i}`].shape);
  }
  const native = activeNativeAdam();
  return withArrays(args.backend, ins, shapes, (iv, ov) => {
    const tensors = Array.from({ length: count }, (_, i) => ({
      w: iv[4 * i],
      g: iv[4 * i + 1],
      m: iv[4 * i + 2],
      v: iv[4 * i + 3],
      wo: ov[3 * i],
      mo: ov[3 * i + 1],
      vo: ov[3 * i + 2],
    }));
    if (native) native(tensors, scalars);
    else for (const t of tensors) adamStepInto(t.w, t.g, t.m, t.v, scalars, t.wo, t.mo, t.vo);
  }, false);
}

/** The op's kernel. */
export const adamKernels: KernelSpec[] = [{ kernelName: ADAM_STEP, kernelFunc: adamKernel }];
