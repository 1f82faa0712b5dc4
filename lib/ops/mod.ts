/**
 * The custom ops of MedMamba on tfjs, each beside its reference from plain tfjs ops: the
 * selective scan, cross-scan and cross-merge, the fused SS2D core, the fused LayerNorm /
 * BatchNorm, PatchMerging's gather, the fused SS-Conv-SSM block; the scan-kernel contract and
 * its portable TypeScript loop. The kernels that run them are in lib/backends/.
 * @module
 */
export { type ScanOptions, selectiveScan, selectiveScanReference } from "./selective_scan.ts";
export {
  getScanKernel,
  type ScanGrads,
  type ScanInputs,
  type ScanKernel,
  setScanKernel,
} from "./scan_kernel.ts";
export { loopKernel, scanForward64 } from "./scan_loop.ts";
export { crossMerge, crossMergeReference, crossScan, crossScanReference } from "./cross_scan.ts";
export { ss2dCore, ss2dCoreReference, type SS2DCoreSizes } from "./ss2d_core.ts";
export { batchNormTrainOps, fusedNorm, layerNormOps, type NormMode } from "./norm.ts";
export { spaceToDepth, spaceToDepthOps } from "./space_to_depth.ts";
export { BLOCK_SLOTS, type BlockOptions, type BlockSlot, ssConvSsm } from "./ss_conv_ssm.ts";
// Types the signatures above use
export type { SS2DCoreArrays, SS2DCoreDims, SS2DCoreImpl } from "./scan_kernel.ts";
export type * from "../util/tensor_types.ts";
export {
  ADAM_STEP,
  adamOps,
  type AdamScalars,
  adamStepInto,
  type AdamTensors,
  adamUpdate,
} from "./adam.ts";
export { EMA_UPDATE, emaUpdate, emaUpdateInto } from "./ema.ts";
