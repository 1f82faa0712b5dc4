/**
 * The custom ops' kernels on tfjs's pure-JavaScript cpu backend: the shared ones (TypeScript on
 * raw arrays; the selective scan and the SS2D core through the chosen scan kernel; the
 * optimiser's Adam and moving average). The cpu
 * backend is the reference the wasm backend is tested against, so it gets no fused block.
 * @module
 */
import { registerKernels } from "../io.ts";
import { SHARED_KERNELS } from "../kernels/mod.ts";

/** Registers the custom ops' kernels for cpu (idempotent). */
export function registerCpuKernels(): void {
  registerKernels("cpu", SHARED_KERNELS);
}
