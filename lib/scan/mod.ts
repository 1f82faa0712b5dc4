/**
 * The selective scan: the op and its reference from plain tfjs ops, cross-scan and cross-merge,
 * the fused SS2D core, and the kernel choice (TypeScript loop, native C, CUDA; selectScanKernel).
 * @module
 */
export { getScanKernel, type ScanOptions, selectiveScan, setScanKernel } from "./op.ts";
export { selectiveScanReference } from "./reference.ts";
export { crossMerge, crossScan } from "./cross.ts";
export { ss2dCore } from "./ss2d_core.ts";
export type { ScanGrads, ScanInputs, ScanKernel } from "./kernel.ts";
export { loopKernel, scanForward64 } from "./loop.ts";
export { selectScanKernel } from "./select.ts";
// Types the signatures above use
export type {
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor3D,
  Tensor4D,
  Variable,
} from "@tensorflow/tfjs-core";
