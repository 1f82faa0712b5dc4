/**
 * Metrics: accuracy, per-class precision/recall/F1, ROC-AUC, calibration, McNemar's test, per-group
 * (per-field) metrics, and their Markdown; operating points (purity/completeness), Brier score,
 * temperature scaling and intervals by a bootstrap over sky groups.
 * @module
 */
export { type ClassMetrics, computeMetrics, type Metrics } from "./metrics.ts";
export { formatMetricsMarkdown } from "./format.ts";
export { formatGroupsMarkdown, type GroupMetrics, metricsByGroup } from "./groups.ts";
export { mcnemar, type McNemarResult, meanStd, type Stat } from "./stats.ts";
export {
  applyTemperature,
  brierScore,
  clusterBootstrap,
  completenessAtPurity,
  fitTemperature,
  type Interval,
  type OperatingPoint,
  purityAtCompleteness,
} from "./operating.ts";
