/**
 * Results: a run's record (result.json: its type, writer and reader), writing and verifying
 * result folders, error sheets, an ablation sweep's records and report (the sweeps run from
 * lib/experiment/sweep.ts).
 * @module
 */
export {
  type DataRecord,
  type EvaluationRecord,
  type HistoryRecord,
  type ImportedRunRecord,
  isImported,
  type NewRunRecord,
  readRunRecord,
  type RecordedConfig,
  RUN_RECORD_FILE,
  RUN_RECORD_SCHEMA,
  type RunEnvironment,
  type RunRecord,
  type RunRecordBase,
  type TrainedRunRecord,
  writeRunRecord,
  type WriteRunRecordOptions,
} from "./run_record.ts";
export { type VerifyOptions, type VerifyReport, verifyResults } from "./verify.ts";
export {
  confidentErrors,
  type ErrorRow,
  errorsCsv,
  errorSheetSvg,
  type SheetOptions,
} from "./errors.ts";
export {
  type PairedTest,
  summarizeSweep,
  type SweepRun,
  type SweepSpec,
  type SweepState,
  type SweepSummary,
  type SweepVariant,
  type VariantSummary,
} from "./sweep.ts";
export { sweepCsv, sweepMarkdown, writeSweepSummary } from "./sweep_report.ts";
export { parseCsv, toCsv } from "./write.ts";
// Types the signatures above use
export type { McNemarResult } from "../metrics/stats.ts";
export type { Stat } from "../metrics/stats.ts";
export type { PlannedRun, RunEntry } from "./sweep.ts";
export type { Environment, SlurmTask } from "./provenance.ts";
export type { RuntimeEnvironment } from "../backends/runtime.ts";
export type { ClassMetrics, Metrics } from "../metrics/metrics.ts";
export type { NetworkShape } from "../model/network.ts";
export type { ExperimentConfig } from "../config/schema.ts";
