/**
 * The network: presets and configuration, parameters, layers, SS2D, the SS-Conv-SSM block (as
 * tensor ops and fused) and MedMamba itself.
 * @module
 */
export { MODEL_DEFAULTS, type ModelConfig, modelConfig, PRESETS } from "./config.ts";
export { blockOps, buildMedMamba, dropPathRates, type MedMamba, stageDims } from "./medmamba.ts";
export { evalContext, type ForwardContext } from "./layers.ts";
export { type Param, ParamStore } from "./params.ts";
export { ss2d, type SS2DDims, ss2dDims } from "./ss2d.ts";
export { fusedBlock, fusedBlockAvailable } from "./block.ts";
// Types the signatures above use
export type { Rng } from "../util/rng.ts";
export type * from "../util/tensor_types.ts";
