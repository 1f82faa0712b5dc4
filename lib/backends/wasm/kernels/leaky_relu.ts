/**
 * LeakyRelu for the wasm backend on every core through the native library (native/cpu/pool.c),
 * else (or for small or non-float32 tensors) the stock kernel, which computes the same float32
 * x < 0 ? α·x : x on one thread: the same bits (tests/cnn_kernels_test.ts).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, withArrays } from "../../io.ts";
import type { Override } from "../register.ts";
import { activeNativeConv } from "../hooks.ts";

/** Below this many elements the FFI call costs more than the second core saves. */
const NATIVE_MIN_SIZE = 1 << 16;

/** LeakyRelu: native when the library is loaded and the tensor is large, else stock. */
export const leakyRelu: Override = {
  kernelName: "LeakyRelu",
  wrap: (orig) => (args: KernelArgs) => {
    const native = activeNativeConv();
    const x = args.inputs.x as tf.TensorInfo;
    const size = x.shape.reduce((a, b) => a * b, 1);
    if (!native?.leakyRelu || x.dtype !== "float32" || size < NATIVE_MIN_SIZE) {
      return orig(args as never) as tf.TensorInfo;
    }
    const { alpha } = args.attrs as unknown as { alpha: number };
    return withArrays(args.backend, [x], [x.shape], ([xv], [yv]) => {
      native.leakyRelu!(alpha, xv, yv);
    }, false)[0];
  },
};
