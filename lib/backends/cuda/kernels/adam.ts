/**
 * The optimiser's fused Adam(W) step on the device: one launch per parameter tensor
 * (native/cuda/backend/adam.cuh), the float32 arithmetic of the wasm backend's native kernel.
 * The op (lib/ops/adam.ts) is called by the optimiser by kernel name; this is the cuda
 * backend's entry for it in its registration list (../register.ts).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";
import { ADAM_STEP, type AdamAttrs } from "../../../ops/adam.ts";

/** The Adam step on device buffers; null (use the host kernel) for non-float32 tensors. */
export function cudaAdamStep({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo[] | null {
  const inp = inputs as Record<string, tf.TensorInfo>;
  const s = attrs as unknown as AdamAttrs;
  // 1 − β in double, as the native C kernel gets them (1.f − 0.999f is 1.3e-5 off 0.001).
  const scalars = Float32Array.from([
    s.lr,
    s.beta1,
    s.beta2,
    1 - s.beta1,
    1 - s.beta2,
    s.eps,
    s.weightDecay,
    s.c1,
    s.c2,
  ]);
  const outs: tf.TensorInfo[] = [];
  for (let i = 0; i < s.count; i++) {
    const [w, g, m, v] = ["w", "g", "m", "v"].map((k) => inp[`${k}${i}`]);
    if ([w, g, m, v].some((t) => t.dtype !== "float32")) {
      outs.forEach((o) => backend.disposeData(o.dataId));
      return null;
    }
    const [wo, mo, vo] = [0, 1, 2].map(() => backend.makeTensorInfo(w.shape, "float32"));
    outs.push(wo, mo, vo);
    const n = w.shape.reduce((a, b) => a * b, 1);
    backend.check(
      backend.lib.symbols.smc_adam(
        scalars,
        backend.pointer(w),
        backend.pointer(g),
        backend.pointer(m),
        backend.pointer(v),
        backend.pointer(wo),
        backend.pointer(mo),
        backend.pointer(vo),
        BigInt(n),
      ),
      "adam",
    );
  }
  return outs;
}

/** The op's kernel on the device (the host kernel takes what it returns null for). */
export const adamKernels: CudaKernel[] = [{ kernelName: ADAM_STEP, kernelFunc: cudaAdamStep }];
