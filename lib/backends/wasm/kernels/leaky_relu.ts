/**
 * LeakyRelu for the wasm backend on every core through the native library (native/cpu/pool.c),
 * else (or for small or non-float32 tensors) the stock kernel, which computes the same float32
 * x < 0 ? α·x : x on one thread: the same bits (tests/cnn_kernels_test.ts). And its gradient
 * (lib/ops/grads.ts's LEAKY_RELU_GRAD): native likewise, else the TypeScript loop.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, type KernelSpec, withArrays } from "../../io.ts";
import { LEAKY_RELU_GRAD, leakyReluGradInto } from "../../../ops/grads.ts";
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

function leakyReluGradKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo, dy = args.inputs.dy as tf.TensorInfo;
  const { alpha } = args.attrs as unknown as { alpha: number };
  const native = activeNativeConv();
  const size = x.shape.reduce((a, b) => a * b, 1);
  const run = native?.leakyReluGrad && size >= NATIVE_MIN_SIZE
    ? native.leakyReluGrad.bind(native)
    : leakyReluGradInto;
  return withArrays(args.backend, [x, dy], [x.shape], ([xv, dyv], [dxv]) => {
    run(alpha, xv, dyv, dxv);
  }, false)[0];
}

/** The leaky ReLU's gradient in one kernel (x, dy → dx). */
export const leakyReluGradKernels: KernelSpec[] = [
  { kernelName: LEAKY_RELU_GRAD, kernelFunc: leakyReluGradKernel },
];
