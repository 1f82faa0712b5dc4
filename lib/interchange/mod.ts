/**
 * Interchange formats: safetensors (read and written without a dependency) and the official
 * MedMamba PyTorch state_dict's names and layouts.
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
  permute,
  variantNotes,
} from "./medmamba_layout.ts";
// Types the signatures above use
export type { ModelConfig } from "../model/config.ts";
