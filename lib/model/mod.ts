/**
 * The networks: the registry (networks by name, `model.arch`) and the interface they share;
 * MedMamba's presets and configuration, parameters, layers, SS2D, the SS-Conv-SSM block (as
 * tensor ops and fused) and MedMamba itself; the ConvNet of Kim & Brunner (2017); ResNet-18 in
 * torchvision's layout.
 * @module
 */
export {
  createNetwork,
  networkEntry,
  networkFor,
  networkNames,
  NETWORKS,
  registerNetwork,
} from "./registry.ts";
export {
  describeNetwork,
  type Network,
  type NetworkDescription,
  type NetworkEntry,
  type NetworkShape,
} from "./network.ts";
export {
  medmambaConfigFor,
  MODEL_DEFAULTS,
  type ModelConfig,
  modelConfig,
  modelOverrides,
  PRESETS,
} from "./config.ts";
export {
  blockOps,
  buildMedMamba,
  dropPathRates,
  type MedMamba,
  MEDMAMBA_ARCH,
  MEDMAMBA_ENTRY,
  stageDims,
} from "./medmamba.ts";
export {
  buildConvNet,
  type ConvNet,
  CONVNET_ARCH,
  CONVNET_ENTRY,
  CONVNET_PAPER,
  type ConvNetConfig,
  convnetConfigFor,
  type ConvNetFlops,
  convnetFlops,
  convnetParameters,
} from "./convnet.ts";
export {
  buildResnet,
  convStrided,
  maxPool3x3s2,
  RESNET18_ARCH,
  RESNET18_BLOCKS,
  RESNET18_ENTRY,
  RESNET_STEMS,
  type ResnetConfig,
  resnetConfig,
  resnetConfigFor,
  type ResnetFlops,
  resnetFlops,
  type ResnetStem,
  stridedSide,
  subsample2,
  validateResnetConfig,
} from "./resnet.ts";
export { evalContext, type ForwardContext } from "./layers.ts";
export { type Param, ParamStore } from "./params.ts";
export { ss2d, type SS2DDims, ss2dDims } from "./ss2d.ts";
export { fusedBlock, fusedBlockAvailable } from "./block.ts";
// Types the signatures above use
export type { Rng } from "../util/rng.ts";
export type { ExperimentConfig } from "../config/schema.ts";
export type * from "../util/tensor_types.ts";
