/**
 * MaxPoolGrad for the wasm backend through the native library (native/cpu/pool.c: images shared
 * between the cores), else max_pool_grad.ts's TypeScript loop. Both route each output's gradient
 * to the first maximum of its window and sum overlapping windows' gradients in the same order in
 * float64: the same bits (tests/cnn_kernels_test.ts), and those of tfjs's cpu kernel.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, withArrays } from "../../io.ts";
import type { Override } from "../register.ts";
import { activeNativeConv } from "../hooks.ts";
import { maxPoolGrad, poolGeometry } from "./max_pool_grad.ts";

/** Every dx element is written by the native kernel: no zero fill first. */
const NO_ZERO = false;

/** MaxPoolGrad (inputs dy, input, output): native when the library is loaded, else TypeScript. */
export const maxPoolGradNative: Override = {
  kernelName: "MaxPoolGrad",
  wrap: (orig) => {
    const fallback = maxPoolGrad.wrap(orig);
    return (args: KernelArgs) => {
      const native = activeNativeConv();
      const dy = args.inputs.dy as tf.TensorInfo, x = args.inputs.input as tf.TensorInfo;
      if (!native?.maxPoolGrad || x.dtype !== "float32" || dy.dtype !== "float32") {
        return fallback(args);
      }
      const g = poolGeometry(x.shape, args.attrs as unknown as Parameters<typeof poolGeometry>[1]);
      return withArrays(args.backend, [x, dy], [x.shape], ([xv, dyv], [dxv]) => {
        native.maxPoolGrad!(g, xv, dyv, dxv);
      }, NO_ZERO)[0];
    };
  },
};
