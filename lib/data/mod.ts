/**
 * Data: the synthetic sky, ImageFolder loading, splits (random, grouped by sky position,
 * k-fold), field context, cropping and augmentation.
 * @module
 */
export type { Dataset } from "./types.ts";
export { generateSynthetic, type SyntheticOptions } from "./synthetic.ts";
export {
  type BadFile,
  type ImageFolderDataset,
  type ImageFolderOptions,
  loadImageFolder,
  resolveDataRoot,
} from "./imagefolder.ts";
export { centerCrop, centerCropPixels } from "./crop.ts";
export { medianPlane, withFieldContext } from "./context.ts";
export {
  frameOf,
  type GroupedSplit,
  groupedSplit,
  kfoldSplits,
  randomSplit,
  skyGroupOf,
  type Split,
} from "./splits.ts";
export {
  chooseTestSet,
  partitionByTestSet,
  readTestSet,
  TEST_SET_FORMAT,
  type TestSet,
  type TestSetRule,
} from "./test_set.ts";
export { type AugmentConfig, type BatchOptions, makeBatch, REFERENCE_AUGMENT } from "./augment.ts";
export { dihedral, DIHEDRAL_VIEWS } from "./geometric.ts";
// Types the signatures above use
export type { Rng } from "../util/rng.ts";
