/**
 * Backends: choosing and setting up a tfjs backend with starmamba's kernels (one registration
 * list per backend), choosing the selective-scan kernel (TypeScript loop, native C, CUDA), and the
 * native library's loader.
 * @module
 */
export { type BackendName, BACKENDS, setupBackend } from "./setup.ts";
export { selectScanKernel } from "./select.ts";
// Types the signatures above use
export type {
  ScanGrads,
  ScanInputs,
  ScanKernel,
  SS2DCoreArrays,
  SS2DCoreDims,
  SS2DCoreImpl,
} from "../ops/scan_kernel.ts";
