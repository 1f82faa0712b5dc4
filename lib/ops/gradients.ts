/**
 * Every gradient the ops register: the custom ops' (one fused backward kernel each) and the
 * overrides of stock gradients (lib/ops/grads.ts). Gradients are global in tfjs, not per backend;
 * lib/backends/setup.ts calls this once.
 * @module
 */
import { registerCrossScanGradients } from "./cross_scan.ts";
import { registerStockGradients } from "./grads.ts";
import { registerNormGradient } from "./norm.ts";
import { registerSelectiveScanGradient } from "./selective_scan.ts";
import { registerSpaceToDepthGradient } from "./space_to_depth.ts";
import { registerSS2DCoreGradient } from "./ss2d_core.ts";

/** Registers all of them (idempotent). */
export function registerOpGradients(): void {
  registerStockGradients();
  registerSelectiveScanGradient();
  registerCrossScanGradients();
  registerSS2DCoreGradient();
  registerNormGradient();
  registerSpaceToDepthGradient();
}
