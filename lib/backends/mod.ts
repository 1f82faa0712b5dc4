/**
 * Backends: the compute runtime of a process in one call (openRuntime: the tfjs backend with
 * starmamba's kernels, one registration list per backend; the selective-scan kernel — TypeScript
 * loop, native C, CUDA; the native library).
 * @module
 */
export {
  openRuntime,
  type Runtime,
  type RuntimeConfig,
  type RuntimeEnvironment,
  type RuntimeOptions,
} from "./runtime.ts";
export { type BackendName, BACKENDS } from "./setup.ts";
// Types the signatures above use
export type { ScanKernelChoice } from "./select.ts";
export type { NativeKernelInfo } from "./wasm/native_api.ts";
export type {
  ScanGrads,
  ScanInputs,
  ScanKernel,
  SS2DCoreArrays,
  SS2DCoreDims,
  SS2DCoreImpl,
} from "../ops/scan_kernel.ts";
