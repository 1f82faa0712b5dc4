/**
 * Metrics: accuracy, per-class precision/recall/F1, ROC-AUC, calibration, McNemar's test, per-group
 * (per-field) metrics, and their Markdown.
 * @module
 */
export {
  type ClassMetrics,
  computeMetrics,
  mcnemar,
  type McNemarResult,
  type Metrics,
} from "./metrics.ts";
export { formatMetricsMarkdown } from "./format.ts";
export { formatGroupsMarkdown, type GroupMetrics, metricsByGroup } from "./groups.ts";
export { meanStd, type Stat } from "./stats.ts";
