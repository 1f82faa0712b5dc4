/**
 * Data: the one pipeline (lib/data/pipeline.ts: sources by name, then crop and field context,
 * normalisation per batch), the synthetic sky, ImageFolder and catalogue loading (images and
 * FITS, display stretches, sky-position groups), splits (random, grouped, k-fold), field
 * context, cropping and augmentation.
 * @module
 */
export type { CatalogTable, Dataset } from "./types.ts";
export { generateSynthetic, type SyntheticOptions } from "./synthetic.ts";
export {
  type BadFile,
  type ImageFolderDataset,
  type ImageFolderOptions,
  loadImageFolder,
  resolveDataRoot,
} from "./imagefolder.ts";
export {
  type CatalogDataset,
  catalogOfImageFolder,
  type CatalogOptions,
  type CutoutFile,
  type CutoutOptions,
  decodeCutout,
  FITS_PATTERN,
  type GroupBy,
  loadCatalog,
  parseGroupBy,
  stretchOptions,
} from "./catalog.ts";
export {
  type FitsImage,
  type FitsValue,
  readFits,
  type ReadFitsOptions,
  writeFitsFloat32,
} from "./fits.ts";
export { applyStretch, type StretchName, type StretchOptions } from "./stretch.ts";
export { positionName, separationArcsec, skyGroups } from "./sky_groups.ts";
export {
  DEFAULT_SKY,
  type SyntheticSkyOptions,
  type SyntheticSkySummary,
  writeSyntheticSky,
} from "./synthetic_sky.ts";
export { centerCrop, centerCropPixels } from "./crop.ts";
export { type FieldContext, medianPlane, withFieldContext } from "./context.ts";
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
export {
  type ContextSource,
  loadData,
  preprocess,
  type Preprocessed,
  type PreprocessOptions,
} from "./pipeline.ts";
export {
  cutoutOptions,
  DATA_SOURCES,
  type DataSource,
  dataSource,
  loadCatalogToPredict,
  readCutouts,
  type ReadCutoutsOptions,
  type SourceContext,
  stretchCutouts,
} from "./sources.ts";
export { dihedral, DIHEDRAL_VIEWS } from "./geometric.ts";
// Types the signatures above use
export type { Rng } from "../util/rng.ts";
export type { DataSection, ExperimentConfig } from "../config/schema.ts";
