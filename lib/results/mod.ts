/**
 * Results: writing and verifying result folders, error sheets, an ablation sweep's records and
 * report (the sweeps run from lib/experiment/sweep.ts).
 * @module
 */
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
  type RunRecord,
  summarizeSweep,
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
