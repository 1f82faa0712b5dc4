/**
 * Interchange formats: safetensors (read and written without a dependency), the official
 * MedMamba PyTorch state_dict's names and layouts, torchvision's ResNet-18 state_dict, and the
 * network as one ONNX graph.
 * @module
 */
export {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsDtype,
  type SafetensorsFile,
  type StoredTensor,
  type TensorToWrite,
} from "./safetensors.ts";
export {
  fromOfficialStateDict,
  inferModelConfig,
  type NamedArray,
  officialName,
  officialPermutation,
  officialStateDict,
  paramArrays,
  permute,
  variantNotes,
} from "./medmamba_layout.ts";
export {
  fromTorchvisionStateDict,
  inferResnetConfig,
  loadResnetStateDict,
  resnetStateDict,
  torchvisionPermutation,
  torchvisionRecipe,
} from "./torchvision_layout.ts";
export { medmambaOnnx, ONNX_OPSET, type OnnxExportOptions } from "./onnx/medmamba.ts";
export { type OnnxScanForm, type ScanTensors, selectiveScanOnnx } from "./onnx/selective_scan.ts";
export { createOnnxSession, type OnnxSession } from "./onnx/runtime.ts";
export { resnetOnnx } from "./onnx/resnet.ts";
export {
  type Attr,
  type ClassifierShape,
  encodeClassifier,
  OnnxGraph,
  type ValueInfo,
} from "./onnx/graph.ts";
export { decodeModel, encodeModel } from "./onnx/proto.ts";
// Types the signatures above use
export type { ModelConfig } from "../model/config.ts";
export type { ResnetConfig, ResnetStem } from "../model/resnet.ts";
export type { NetworkShape } from "../model/network.ts";
export type { Param, ParamStore } from "../model/params.ts";
export type * from "../util/tensor_types.ts";
