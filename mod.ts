/**
 * starmamba — MedMamba-style vision Mamba networks (a convolution branch beside VMamba's 2-D
 * selective scan, SS2D) in TensorFlow.js, for reproducible star/galaxy classification.
 *
 * The public API: load a config and run an experiment, evaluate or apply a finished run, build
 * a network from a preset, and the custom ops (the selective scan and the SS2D core with their
 * references). Everything else is reachable by area through the sub-path exports
 * (`@starmamba/starmamba/model`, `/ops`, `/backends`, `/data`, `/train`, `/metrics`, `/results`,
 * `/config`, `/experiment`).
 *
 * @example Train the quickstart network on the built-in synthetic sky
 * ```ts
 * import { loadConfig, runExperiment } from "@starmamba/starmamba";
 * const summary = await runExperiment(loadConfig("configs/quickstart.yaml"));
 * console.log(summary.runDir, summary.result?.best?.metrics.accuracy);
 * ```
 *
 * @example Classify new cutouts with a finished run
 * ```ts
 * import { loadRun, predictFiles } from "@starmamba/starmamba";
 * const run = await loadRun("results/improved-cpu-context-ema-shape/v2");
 * // A field-context run: "single" judges each cutout alone (its prediction depends on that file
 * // only); "frame" takes each frame's median from the cutouts given of that frame.
 * const rows = await predictFiles(run, ["cutouts/J1530p2310_r_01_12_34_5.jpg"], {
 *   context: "single",
 * });
 * ```
 * @module
 */

// Configs and experiments
export { configHash, loadConfig, type LoadedConfig, validateConfig } from "./lib/config/load.ts";
export type { ExperimentConfig } from "./lib/config/schema.ts";
export { runExperiment, type RunOptions, type RunSummary } from "./lib/experiment/run.ts";
export {
  type EvaluateOptions,
  evaluateRun,
  type RunEvaluation,
} from "./lib/experiment/evaluate.ts";
export {
  type LoadedRun,
  loadRun,
  predictFiles,
  type PredictionRow,
  type PredictOptions,
} from "./lib/experiment/predict.ts";
export { type VerifyOptions, type VerifyReport, verifyResults } from "./lib/results/verify.ts";
// A run's record (result.json); its reader and writer are in the /results sub-path
export type { RunRecord, TrainedRunRecord } from "./lib/results/run_record.ts";
// Released models and interchange with the official MedMamba (PyTorch)
export { RELEASED, type ReleasedModel } from "./lib/registry/released.ts";
export {
  exportSafetensors,
  type ExportSummary,
  type ImportOptions,
  importSafetensors,
} from "./lib/experiment/interchange.ts";
// Networks by name (model.arch), MedMamba's presets
export { createNetwork, NETWORKS } from "./lib/model/registry.ts";
export type {
  Network,
  NetworkDescription,
  NetworkEntry,
  NetworkShape,
} from "./lib/model/network.ts";
export { type ModelConfig, modelConfig, PRESETS } from "./lib/model/config.ts";
export { buildMedMamba, type MedMamba } from "./lib/model/medmamba.ts";
export { evalContext, type ForwardContext } from "./lib/model/layers.ts";
// The compute runtime: backend, selective-scan kernel, native library, in one call
export {
  openRuntime,
  type Runtime,
  type RuntimeConfig,
  type RuntimeEnvironment,
  type RuntimeOptions,
} from "./lib/backends/runtime.ts";
export { type BackendName, BACKENDS } from "./lib/backends/setup.ts";
// The custom ops, each beside its reference from plain tfjs ops
export {
  type ScanOptions,
  selectiveScan,
  selectiveScanReference,
} from "./lib/ops/selective_scan.ts";
export {
  crossMerge,
  crossMergeReference,
  crossScan,
  crossScanReference,
} from "./lib/ops/cross_scan.ts";
export { ss2dCore, ss2dCoreReference, type SS2DCoreSizes } from "./lib/ops/ss2d_core.ts";
// Errors that carry a message for the user (a CLI prints it and exits 2)
export { StarmambaError } from "./lib/util/errors.ts";
// Types the signatures above use
export type { ClassMetrics, Metrics } from "./lib/metrics/metrics.ts";
export type {
  DataRecord,
  EvaluationRecord,
  HistoryRecord,
  ImportedRunRecord,
  RecordedConfig,
  RunEnvironment,
  RunRecordBase,
} from "./lib/results/run_record.ts";
export type { Environment, SlurmTask } from "./lib/results/provenance.ts";
export type { SS2DDims } from "./lib/model/ss2d.ts";
export type { DecisionRule } from "./lib/experiment/evaluate.ts";
export type { ContextSource } from "./lib/data/pipeline.ts";
export type { Param, ParamStore } from "./lib/model/params.ts";
export type { Rng } from "./lib/util/rng.ts";
export type { ScanKernelChoice } from "./lib/backends/select.ts";
export type { NativeKernelInfo } from "./lib/backends/wasm/native_api.ts";
export type {
  ScanGrads,
  ScanInputs,
  ScanKernel,
  SS2DCoreArrays,
  SS2DCoreDims,
  SS2DCoreImpl,
} from "./lib/ops/scan_kernel.ts";
export type * from "./lib/util/tensor_types.ts";
