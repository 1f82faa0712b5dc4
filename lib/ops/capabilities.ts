/**
 * The runtime as the ops see it: what the active backend does fast, and which kernel runs the
 * selective scan. The ops cannot import the backends (they sit below them), so the runtime
 * (openRuntime, lib/backends/runtime.ts) writes both into the one object here: the capabilities
 * its backend states (each backend's register.ts) and the scan kernel it chooses; its close()
 * puts the defaults back. The defaults describe a backend with no acceleration and no kernel.
 * @module
 */
import type { ScanKernel } from "./scan_kernel.ts";

/** The questions an op may ask. */
export interface Capabilities {
  /** BatchMatMul with transpose flags runs as fast as without (true except on plain XNNPACK). */
  transposedMatMulFast(): boolean;
  /** A CONV_FILTER_GRAD kernel can run now (lib/ops/grads.ts). */
  convFilterGrad(): boolean;
  /** A LEAKY_RELU_GRAD kernel can run now (lib/ops/grads.ts). */
  leakyReluGrad(): boolean;
  /** The fused SS-Conv-SSM block can run now (lib/ops/ss_conv_ssm.ts). */
  ssConvSsm(): boolean;
  /** The active backend runs the fused SS2D core (lib/ops/ss2d_core.ts) natively; where it
   * does not (cuda, for now) the model composes the core from separate ops. */
  fusedSS2DCore(): boolean;
}

/** What a backend that states nothing does. */
const DEFAULTS: Capabilities = {
  transposedMatMulFast: () => true,
  convFilterGrad: () => false,
  leakyReluGrad: () => false,
  ssConvSsm: () => false,
  fusedSS2DCore: () => true,
};

/** The runtime's part the ops read: one object per process (its fields change, not itself). */
const view: { capabilities: Capabilities; scanKernel: ScanKernel | null } = {
  capabilities: DEFAULTS,
  scanKernel: null,
};

/** The capabilities of the active backend. */
export function capabilities(): Capabilities {
  return view.capabilities;
}

/**
 * Sets the active backend's capabilities: those given, the defaults for the rest (nothing
 * carries over from a backend activated before).
 */
export function setCapabilities(c: Partial<Capabilities>): void {
  view.capabilities = { ...DEFAULTS, ...c };
}

/** The selective-scan kernel chosen, or null before any (lib/ops/scan_kernel.ts reads it). */
export function chosenScanKernel(): ScanKernel | null {
  return view.scanKernel;
}

/** Records the selective-scan kernel chosen (null: none). */
export function setChosenScanKernel(kernel: ScanKernel | null): void {
  view.scanKernel = kernel;
}

/** Back to the defaults: no capabilities, no scan kernel (the runtime's close()). */
export function resetRuntimeView(): void {
  view.capabilities = DEFAULTS;
  view.scanKernel = null;
}
