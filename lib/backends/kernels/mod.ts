/**
 * The custom ops' kernels that serve both the cpu and the wasm backend (through raw arrays of
 * either, lib/backends/io.ts), dispatching to native code where the wasm backend has it: the
 * model's ops and the optimiser's (Adam, the moving average of the weights).
 * @module
 */
import type { KernelSpec } from "../io.ts";
import { selectiveScanKernels } from "./selective_scan.ts";
import { crossScanKernels } from "./cross_scan.ts";
import { ss2dCoreKernels } from "./ss2d_core.ts";
import { normKernels } from "./norm.ts";
import { convGradKernels } from "./conv_grads.ts";
import { spaceToDepthKernels } from "./space_to_depth.ts";
import { adamKernels } from "./adam.ts";
import { emaKernels } from "./ema.ts";

/** Every shared kernel. */
export const SHARED_KERNELS: KernelSpec[] = [
  ...selectiveScanKernels,
  ...crossScanKernels,
  ...ss2dCoreKernels,
  ...normKernels,
  ...convGradKernels,
  ...spaceToDepthKernels,
  ...adamKernels,
  ...emaKernels,
];

/**
 * The shared kernels that need nothing but readSync, for the other backends (webgpu,
 * tensorflow): the fused norms and the gather read tensors synchronously, which is only free on
 * cpu and wasm.
 */
export const READSYNC_KERNELS: KernelSpec[] = [
  ...selectiveScanKernels,
  ...crossScanKernels,
  ...ss2dCoreKernels,
  ...convGradKernels,
];
