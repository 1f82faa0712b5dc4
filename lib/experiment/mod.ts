/**
 * Experiments: the runner (config → data → network → training → result folder), evaluation of a
 * finished run (test-time augmentation, class weights, ensembles, per-field metrics) and
 * prediction on new cutouts.
 * @module
 */
export {
  type ContextSource,
  loadData,
  makeSplit,
  networkForData,
  runExperiment,
  type RunOptions,
  type RunSummary,
} from "./run.ts";
export {
  type DecisionRule,
  type EvaluateOptions,
  evaluateRun,
  type RunEvaluation,
} from "./evaluate.ts";
export {
  exportSafetensors,
  type ExportSummary,
  type ImportOptions,
  importSafetensors,
  onnxModelOf,
  vssmKwargs,
} from "./interchange.ts";
export {
  catalogPredictionsCsv,
  listInputs,
  type LoadedRun,
  loadRun,
  predictCatalog,
  predictFiles,
  predictionInputs,
  type PredictionRow,
  predictionsCsv,
  type PredictOptions,
} from "./predict.ts";
export {
  checkSeeds,
  loadSweep,
  type OpenedSweep,
  openSweep,
  parseSweep,
  planSweep,
  runSweep,
  type SweepOptions,
  type SweepOutcome,
} from "./sweep.ts";
export {
  availableCores,
  type FailedTask,
  type LocalJobsOptions,
  type LocalJobsOutcome,
  runSweepJobs,
} from "./local_jobs.ts";
export {
  collectSweep,
  type ManifestLine,
  type MissingRun,
  runSlurmTask,
  type SlurmOptions,
  type SlurmPlan,
  submitSlurm,
  type SweepJobFile,
  writeSlurmJob,
  writeSweepJob,
} from "./slurm.ts";
// Types the signatures above use
export type {
  PairedTest,
  PlannedRun,
  RunEntry,
  SweepRun,
  SweepSpec,
  SweepState,
  SweepSummary,
  SweepVariant,
  VariantSummary,
} from "../results/sweep.ts";
export type {
  DataRecord,
  EvaluationRecord,
  HistoryRecord,
  ImportedRunRecord,
  RecordedConfig,
  RunEnvironment,
  RunRecord,
  RunRecordBase,
  TrainedRunRecord,
} from "../results/run_record.ts";
export type { Environment, SlurmTask } from "../results/provenance.ts";
export type { RuntimeEnvironment } from "../backends/runtime.ts";
export type { Stat } from "../metrics/stats.ts";
export type { OnnxScanForm } from "../interchange/onnx/selective_scan.ts";
export type { McNemarResult } from "../metrics/stats.ts";
export type { ExperimentConfig } from "../config/schema.ts";
export type { LoadedConfig } from "../config/load.ts";
export type { MedMamba } from "../model/medmamba.ts";
export type { Network, NetworkDescription, NetworkShape } from "../model/network.ts";
export type { ModelConfig } from "../model/config.ts";
export type { Metrics } from "../metrics/metrics.ts";
export type { CatalogTable, Dataset } from "../data/types.ts";
export type { Split } from "../data/splits.ts";
export type { ForwardContext } from "../model/layers.ts";
export type { Param, ParamStore } from "../model/params.ts";
export type { Rng } from "../util/rng.ts";
export type { ClassMetrics } from "../metrics/metrics.ts";
export type * from "../util/tensor_types.ts";
export {
  CATALOG_COLUMNS,
  type CatalogRow,
  classifyFrames,
  type ClassifyOptions,
  type ClassifyProgress,
  type ClassifySummary,
  type Decision,
  decisionRule,
  FLAG_LEGEND,
  type FrameSummary,
  mergeCatalogs,
  type OperatingChoice,
  type OutOfFold,
  outOfFold,
  type OutOfFoldSource,
} from "./classify.ts";
export { predictDataset } from "./predict.ts";
