/**
 * Text renderings of {@link Metrics} for reports: a Markdown summary and long-format CSV rows
 * (one value per row, so runs and seeds can be stacked and aggregated without reshaping).
 * @module
 */
import type { Metrics } from "./metrics.ts";
import type { ProtocolMetrics } from "./operating.ts";

/** Fixed 4-decimal rendering for Markdown; NaN (undefined AUC) prints as "n/a". */
function fmt4(x: number): string {
  return Number.isNaN(x) ? "n/a" : x.toFixed(4);
}

/** Full-precision rendering for CSV; NaN stays "NaN" so it round-trips through Number(). */
function fmtFull(x: number): string {
  return String(x);
}

/** Escapes a cell for a Markdown table (pipes would split the cell). */
function mdCell(s: string): string {
  return s.replaceAll("|", "\\|");
}

/**
 * Markdown report: overall metrics, a per-class table, and the confusion matrix.
 * @param m metrics from computeMetrics.
 * @param title optional level-3 heading placed first.
 */
export function formatMetricsMarkdown(m: Metrics, title?: string): string {
  const names = Object.keys(m.perClass);
  const lines: string[] = [];
  if (title) lines.push(`### ${title}`, "");
  lines.push(
    "| metric | value |",
    "|---|---:|",
    `| n | ${m.n} |`,
    `| accuracy | ${fmt4(m.accuracy)} |`,
    `| balanced accuracy | ${fmt4(m.balancedAccuracy)} |`,
    `| ROC-AUC (${mdCell(m.positiveClass)}) | ${fmt4(m.rocAuc)} |`,
    `| PR-AUC / AP (${mdCell(m.positiveClass)}) | ${fmt4(m.prAuc)} |`,
    `| ECE (15 bins) | ${fmt4(m.ece)} |`,
    "",
    "| class | precision | recall | specificity | F1 | support |",
    "|---|---:|---:|---:|---:|---:|",
  );
  for (const name of names) {
    const c = m.perClass[name];
    lines.push(
      `| ${mdCell(name)} | ${fmt4(c.precision)} | ${fmt4(c.recall)} | ${fmt4(c.specificity)} | ` +
        `${fmt4(c.f1)} | ${c.support} |`,
    );
  }
  lines.push(
    "",
    `| true \\ pred | ${names.map(mdCell).join(" | ")} |`,
    `|---|${names.map(() => "---:").join("|")}|`,
  );
  m.confusion.forEach((row, t) => lines.push(`| ${mdCell(names[t])} | ${row.join(" | ")} |`));
  return lines.join("\n") + "\n";
}

/**
 * Long-format CSV rows `[metric, class, value]`, header first. Overall metrics have an empty
 * class; confusion cells are `confusion` with class `true=<a>;pred=<b>`. Values are full
 * precision strings; the caller does the CSV quoting.
 */
export function metricsCsvRows(m: Metrics): string[][] {
  const rows: string[][] = [["metric", "class", "value"]];
  rows.push(["n", "", String(m.n)]);
  rows.push(["accuracy", "", fmtFull(m.accuracy)]);
  rows.push(["balanced_accuracy", "", fmtFull(m.balancedAccuracy)]);
  rows.push(["roc_auc", m.positiveClass, fmtFull(m.rocAuc)]);
  rows.push(["pr_auc", m.positiveClass, fmtFull(m.prAuc)]);
  rows.push(["ece", "", fmtFull(m.ece)]);
  const names = Object.keys(m.perClass);
  for (const name of names) {
    const c = m.perClass[name];
    rows.push(["precision", name, fmtFull(c.precision)]);
    rows.push(["recall", name, fmtFull(c.recall)]);
    rows.push(["specificity", name, fmtFull(c.specificity)]);
    rows.push(["f1", name, fmtFull(c.f1)]);
    rows.push(["support", name, String(c.support)]);
  }
  m.confusion.forEach((row, t) =>
    row.forEach((count, p) =>
      rows.push(["confusion", `true=${names[t]};pred=${names[p]}`, String(count)])
    )
  );
  return rows;
}

/**
 * The protocol's figures (lib/metrics/operating.ts) as four lines of text: intervals over sky
 * groups, galaxy purity at completeness, star completeness at purity, Brier and ECE.
 */
export function formatProtocol(p: ProtocolMetrics): string[] {
  const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : "—");
  const ci = (i: { value: number; lo: number; hi: number }, f = pct) =>
    `${f(i.value)} [${f(i.lo)}, ${f(i.hi)}]`;
  const num = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : "—");
  const gp = Object.entries(p.galaxy_purity_at_completeness)
    .map(([c, o]) => `${pct(o.purity)} at ${c}`).join(", ");
  const sc = Object.entries(p.star_completeness_at_purity)
    .map(([q, o]) => `${pct(o.completeness)} at ${q}`).join(", ");
  return [
    `95% intervals by a bootstrap over the ${p.groups} sky groups: accuracy ${
      ci(p.intervals.accuracy)
    }, balanced ${ci(p.intervals.balanced_accuracy)}, ROC-AUC ${ci(p.intervals.roc_auc, num)}`,
    `galaxy purity at galaxy completeness: ${gp}`,
    `star completeness at star purity: ${sc}`,
    `Brier (P galaxy) ${num(p.brier)}; ECE ${num(p.ece)}` +
    (p.temperature !== null
      ? `, after temperature ${p.temperature.toFixed(3)} (fitted on validation) ${
        num(p.ece_scaled!)
      }`
      : ""),
  ];
}
