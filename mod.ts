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
 * // configs/quickstart.yaml cut to two training steps, so this runs in seconds (leave out the
 * // overrides but the last for the real quickstart); the run folder goes to a temporary folder.
 * const scratch = await Deno.makeTempDir();
 * const loaded = loadConfig("configs/quickstart.yaml", [
 *   "data.synthetic_n=96",
 *   "model.dim=8",
 *   "train.epochs=1",
 *   "train.steps_per_epoch=2",
 *   `output.scratch_dir=${scratch}`,
 * ]);
 * const summary = await runExperiment(loaded, { quiet: true });
 * // The run folder (…/quickstart/v1) and its best epoch's validation accuracy.
 * console.log(summary.runDir, summary.result?.best?.metrics.accuracy);
 * await Deno.remove(scratch, { recursive: true });
 * ```
 *
 * @example Classify a cutout with a released model
 * ```ts
 * import { join } from "node:path";
 * import { loadRun, predictFiles } from "@starmamba/starmamba";
 * import { DEFAULT_SKY, writeSyntheticSky } from "@starmamba/starmamba/data";
 * // A cutout to classify: one of the synthetic sky's (your own JPEG, PNG or FITS files go here).
 * const dir = await Deno.makeTempDir();
 * await writeSyntheticSky(dir, { ...DEFAULT_SKY, n: 1, format: "png" });
 * const run = await loadRun("aries-cpu-ctx-s1"); // a released model (deno task models lists them)
 * // A field-context run: "single" judges each cutout alone (its prediction depends on that file
 * // only); "frame" takes each frame's median from the cutouts given of that frame.
 * const rows = await predictFiles(run, [join(dir, "cutouts", "SKY000a_000.png")], {
 *   context: "single",
 * });
 * console.log(rows[0].predicted, rows[0].probs); // the class and P(class) in run.classNames order
 * run.model.params.dispose();
 * await Deno.remove(dir, { recursive: true });
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
