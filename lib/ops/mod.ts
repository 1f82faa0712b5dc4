/**
 * The selective scan: the op and its reference from plain tfjs ops, cross-scan and cross-merge,
 * the fused SS2D core, and the kernel choice (TypeScript loop, native C, CUDA; selectScanKernel).
 * @module
 */
export { getScanKernel, type ScanOptions, selectiveScan, setScanKernel } from "./selective_scan.ts";
export { selectiveScanReference } from "./selective_scan_ref.ts";
export { crossMerge, crossScan } from "./cross_scan.ts";
export { ss2dCore } from "./ss2d_core.ts";
export type { ScanGrads, ScanInputs, ScanKernel } from "./scan_kernel.ts";
export { loopKernel, scanForward64 } from "./scan_loop.ts";
export { selectScanKernel } from "../backends/select.ts";
// Types the signatures above use
export type {
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor3D,
  Tensor4D,
  Variable,
} from "@tensorflow/tfjs-core";
