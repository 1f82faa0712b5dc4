/**
 * Results: verification of published result folders, error sheets, ablation sweeps.
 * @module
 */
export { type VerifyReport, verifyResults } from "./verify.ts";
export {
  confidentErrors,
  type ErrorRow,
  errorsCsv,
  errorSheetSvg,
  type SheetOptions,
} from "./errors.ts";
export {
  loadSweep,
  type PairedTest,
  parseCsv,
  type RunRecord,
  runSweep,
  type Stat,
  type SweepOptions,
  type SweepOutcome,
  type SweepSpec,
  type SweepSummary,
  type SweepVariant,
  type VariantSummary,
} from "./ablation.ts";
// Types the signatures above use
export type { McNemarResult } from "../metrics/metrics.ts";
