/**
 * starmamba — MedMamba-style vision Mamba networks (conv branch + 2-D selective scan, SS2D)
 * in TensorFlow.js, for reproducible star/galaxy classification experiments.
 *
 * ```ts
 * import { loadConfig, runExperiment } from "./mod.ts";
 * const summary = await runExperiment(loadConfig("configs/quickstart.yaml"));
 * console.log(summary.runDir);
 * ```
 * @module
 */

// config
export {
  canonicalJson,
  configHash,
  loadConfig,
  type LoadedConfig,
  validateConfig,
} from "./lib/config/load.ts";
export { type ExperimentConfig, SCHEMA } from "./lib/config/schema.ts";
export { configReference } from "./lib/config/reference.ts";
// runner
export {
  loadData,
  makeSplit,
  modelConfigFor,
  runExperiment,
  type RunOptions,
  type RunSummary,
} from "./lib/experiment/run.ts";
// backend
export { BACKENDS, setupBackend } from "./lib/backend/backend.ts";
// model
export { MODEL_DEFAULTS, type ModelConfig, modelConfig, PRESETS } from "./lib/model/config.ts";
export { buildMedMamba, type MedMamba } from "./lib/model/medmamba.ts";
export { evalContext, type ForwardContext } from "./lib/model/layers.ts";
export { fusedNorm, type NormMode } from "./lib/model/norm.ts";
export { ss2d, ss2dDims } from "./lib/model/ss2d.ts";
// selective scan
export { getScanKernel, selectiveScan, setScanKernel } from "./lib/scan/op.ts";
export { selectiveScanReference } from "./lib/scan/reference.ts";
export { crossMerge, crossScan } from "./lib/scan/cross.ts";
export type { ScanGrads, ScanInputs, ScanKernel } from "./lib/scan/kernel.ts";
export { loopKernel, scanForward64 } from "./lib/scan/loop.ts";
export { loadNativeKernel } from "./lib/scan/native.ts";
export { selectScanKernel } from "./lib/scan/select.ts";
// data
export type { Dataset } from "./lib/data/types.ts";
export { generateSynthetic } from "./lib/data/synthetic.ts";
export { loadImageFolder, resolveDataRoot } from "./lib/data/imagefolder.ts";
export { centerCrop, centerCropPixels } from "./lib/data/crop.ts";
export { medianPlane, withFieldContext } from "./lib/data/context.ts";
export { frameOf, groupedSplit, kfoldSplits, randomSplit, skyGroupOf } from "./lib/data/splits.ts";
export { dihedral, DIHEDRAL_VIEWS, makeBatch, REFERENCE_AUGMENT } from "./lib/data/augment.ts";
// training
export { predict, saveModel, train, type TrainResult } from "./lib/train/train.ts";
export { loadTensors, saveTensors } from "./lib/train/checkpoint.ts";
export { EMA_PREFIX, emaDecayAt, WeightEma } from "./lib/train/ema.ts";
export { Adam, type AdamOptions, type AdamScalars, learningRate } from "./lib/train/optim.ts";
// metrics and results
export { computeMetrics, mcnemar, type Metrics } from "./lib/metrics/metrics.ts";
export { formatMetricsMarkdown } from "./lib/metrics/format.ts";
export { formatGroupsMarkdown, type GroupMetrics, metricsByGroup } from "./lib/metrics/groups.ts";
export { StarmambaError } from "./lib/util/errors.ts";
// prediction, ablations, verification
export { listInputs, loadRun, predictFiles, predictionsCsv } from "./lib/experiment/predict.ts";
export {
  type EvaluateOptions,
  evaluateRun,
  type RunEvaluation,
} from "./lib/experiment/evaluate.ts";
export { confidentErrors, errorsCsv, errorSheetSvg } from "./lib/results/errors.ts";
export { loadSweep, runSweep } from "./lib/results/ablation.ts";
export { verifyResults } from "./lib/results/verify.ts";
export { ss2dCore } from "./lib/scan/ss2d_core.ts";
// types used in the signatures above
export type {
  Tensor,
  Tensor1D,
  Tensor2D,
  Tensor3D,
  Tensor4D,
  Variable,
} from "@tensorflow/tfjs-core";
export type { Rng } from "./lib/util/rng.ts";
export type { ParamStore } from "./lib/model/params.ts";
export type { SS2DDims } from "./lib/model/ss2d.ts";
export type { ScanOptions } from "./lib/scan/op.ts";
export type { NativeKernelOptions, NativeScanKernel } from "./lib/scan/native.ts";
export type { ClassMetrics, McNemarResult } from "./lib/metrics/metrics.ts";
export type { AugmentConfig, BatchOptions } from "./lib/data/augment.ts";
export type { SectionSpec } from "./lib/config/schema.ts";
export type { EpochRecord, Evaluation, TrainOptions } from "./lib/train/train.ts";
export type { SyntheticOptions } from "./lib/data/synthetic.ts";
export type { GroupedSplit, Split } from "./lib/data/splits.ts";
export type { ImageFolderDataset, ImageFolderOptions } from "./lib/data/imagefolder.ts";
export type { LoadedRun, PredictionRow, PredictOptions } from "./lib/experiment/predict.ts";
export type { SweepOptions, SweepOutcome, SweepSpec } from "./lib/results/ablation.ts";
export type { VerifyReport } from "./lib/results/verify.ts";
export type { ErrorRow, SheetOptions } from "./lib/results/errors.ts";
export type { Obj } from "./lib/config/load.ts";
export type { Param } from "./lib/model/params.ts";
export type { NativeSS2D, SS2DCoreArrays, SS2DCoreDims } from "./lib/scan/native.ts";
export type {
  ConvDims,
  Gemm,
  NativeAdam,
  NativeConv,
  NativeNorm,
} from "./lib/backend/fast_kernels.ts";
export type { FieldSpec } from "./lib/config/schema.ts";
export type { BadFile } from "./lib/data/imagefolder.ts";
export type {
  PairedTest,
  RunRecord,
  Stat,
  SweepSummary,
  SweepVariant,
  VariantSummary,
} from "./lib/results/ablation.ts";
