/**
 * The tfjs tensor types that public signatures mention. Each entry point (mod.ts and the
 * lib/<area>/mod.ts sub-paths) re-exports them with `export type *` so that `deno doc --lint`
 * finds every type a signature uses, and the list lives in one place.
 * @module
 */
export type {
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor3D,
  Tensor4D,
  Variable,
} from "@tensorflow/tfjs-core";
