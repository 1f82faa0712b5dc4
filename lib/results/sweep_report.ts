/**
 * A finished sweep's comparison ({@link SweepSummary}, from sweep.ts) as files people read:
 * summary.md (tables with mean ± std, paired differences and McNemar's p), summary.csv,
 * summary.json and bars.svg.
 * @module
 */
import { join } from "node:path";
import type { Stat } from "../metrics/stats.ts";
import { barChartSvg, type BarRow } from "./plots.ts";
import { toCsv } from "./write.ts";
import { writeFileAtomic } from "../util/fs.ts";
import { BASE_VARIANT, type SweepSummary } from "./sweep.ts";
import { findManifestRoot, recordInManifest, unlistedFiles } from "./manifest.ts";

/** Human label of a summary metric key. */
function metricLabel(key: string): string {
  if (key === "roc_auc") return "ROC-AUC";
  return key.replace("_", " ");
}

function fmt(x: number | null, signed = false): string {
  if (x === null || !Number.isFinite(x)) return "n/a";
  return (signed && x >= 0 ? "+" : "") + x.toFixed(4);
}

function fmtStat(s: Stat, signed = false): string {
  if (s.mean === null) return "n/a";
  return s.std === null ? fmt(s.mean, signed) : `${fmt(s.mean, signed)} ± ${s.std.toFixed(4)}`;
}

function fmtSeconds(s: Stat): string {
  if (s.mean === null) return "n/a";
  return s.std === null ? s.mean.toFixed(1) : `${s.mean.toFixed(1)} ± ${s.std.toFixed(1)}`;
}

function fmtP(p: number): string {
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}

function code(s: string): string {
  return "`" + s.replaceAll("|", "\\|") + "`";
}

/** summary.md. */
export function sweepMarkdown(s: SweepSummary): string {
  const L: string[] = [];
  const seedsTxt = s.seeds.join(", ");
  L.push(`# Ablation ${s.name} ${s.version}`, "");
  if (s.description) L.push(s.description, "");
  L.push(
    `Base config ${code(s.base_config)}, sweep file ${code(s.sweep_file)}, seeds ${seedsTxt}, ` +
      `spec hash ${code(s.spec_hash.slice(0, 16))}.`,
    `Shared overrides: ${
      s.shared_overrides.length ? s.shared_overrides.map(code).join(", ") : "none"
    }. Code: ${s.commits.map(code).join(", ")}.`,
    "",
    `Every cell is the mean ± sample standard deviation (n − 1) over seeds on the validation ` +
      `set; "${s.positive_class}" is the positive class. Δ is the mean ± std over seeds of ` +
      `(variant − ${BASE_VARIANT}) on the same seed, so the split and data order are shared.`,
    "",
    "![bar chart of the variants](bars.svg)",
    "",
  );
  for (const which of ["best", "last"] as const) {
    L.push(
      which === "best"
        ? "## Best validation epoch (reference protocol; optimistic, it selects on validation)"
        : "## Last epoch (no selection on validation)",
      "",
      `| variant | overrides | ${s.metrics.map(metricLabel).join(" | ")} | Δ accuracy |`,
      `|---|---|${s.metrics.map(() => "---:").join("|")}|---:|`,
    );
    for (const v of s.variants) {
      const delta = which === "best" ? v.delta_best : v.delta_last;
      L.push(
        `| ${v.name} | ${v.overrides.map(code).join(" ") || "—"} | ${
          s.metrics.map((m) => fmtStat(v[which][m])).join(" | ")
        } | ${delta ? fmtStat(delta.accuracy, true) : "—"} |`,
      );
    }
    L.push("");
  }
  L.push(
    `## Paired test against ${BASE_VARIANT} (McNemar, best-epoch predictions)`,
    "",
    `b = images ${BASE_VARIANT} classifies correctly and the variant does not; c = the ` +
      "reverse. p is two-sided: exact binomial for b + c < 25, else continuity-corrected " +
      "chi-square. The pooled row adds the seeds' discordant pairs; the seeds share validation " +
      "images, so pooled p is optimistic. No correction for multiple comparisons.",
    "",
    "| variant | seed | n | b | c | p | test |",
    "|---|---|---:|---:|---:|---:|---|",
  );
  for (const v of s.variants) {
    if (v.name === BASE_VARIANT) continue;
    if (!v.mcnemar) {
      L.push(`| ${v.name} | — | | | | | ${v.mcnemar_note ?? "n/a"} |`);
      continue;
    }
    for (const t of v.mcnemar) {
      L.push(
        `| ${v.name} | ${t.seed} | ${t.n} | ${t.b} | ${t.c} | ${fmtP(t.pValue)} | ${t.method} |`,
      );
    }
  }
  L.push(
    "",
    "## Cost",
    "",
    "| variant | parameters | training seconds |",
    "|---|---:|---:|",
    ...s.variants.map((v) =>
      `| ${v.name} | ${v.parameters.mean?.toLocaleString("en-US") ?? "n/a"} | ${
        fmtSeconds(v.train_seconds)
      } |`
    ),
    "",
    "## Runs",
    "",
    "| variant | seed | run | best epoch | accuracy (best) | accuracy (last) | commit |",
    "|---|---:|---|---:|---:|---:|---|",
    ...s.runs.map((r) =>
      `| ${r.variant} | ${r.seed} | [${r.run_dir}](${r.run_dir}/metrics.md) | ${r.best_epoch} | ${
        fmt(r.best.accuracy)
      } | ${fmt(r.last.accuracy)} | ${r.commit.slice(0, 10)}${r.dirty ? " (dirty)" : ""} |`
    ),
    "",
  );
  return L.join("\n");
}

/**
 * summary.csv in long format, one value per row: per-run values (`seed` = the seed), aggregates
 * (`seed` = mean | std | n | delta_mean | delta_std), and McNemar counts (`metric` =
 * mcnemar_b | mcnemar_c | mcnemar_p, `seed` = the seed or pooled).
 */
export function sweepCsv(s: SweepSummary): string {
  const rows: (string | number)[][] = [["variant", "epoch_choice", "metric", "seed", "value"]];
  const num = (x: number | null) => (x === null ? "NaN" : x);
  for (const v of s.variants) {
    for (const which of ["best", "last"] as const) {
      for (const m of s.metrics) {
        for (const r of s.runs.filter((r) => r.variant === v.name)) {
          rows.push([v.name, which, m, r.seed, r[which][m]]);
        }
        const st = v[which][m];
        rows.push([v.name, which, m, "n", st.n], [v.name, which, m, "mean", num(st.mean)]);
        rows.push([v.name, which, m, "std", num(st.std)]);
        const d = (which === "best" ? v.delta_best : v.delta_last)?.[m];
        if (d) rows.push([v.name, which, m, "delta_mean", num(d.mean)]);
        if (d) rows.push([v.name, which, m, "delta_std", num(d.std)]);
      }
    }
    for (const t of v.mcnemar ?? []) {
      rows.push([v.name, "best", "mcnemar_b", t.seed, t.b]);
      rows.push([v.name, "best", "mcnemar_c", t.seed, t.c]);
      rows.push([v.name, "best", "mcnemar_p", t.seed, t.pValue]);
    }
  }
  return toCsv(rows);
}

/** The bars of bars.svg: best-epoch accuracy, then the headline metrics at the last epoch. */
export function sweepBars(s: SweepSummary): BarRow[] {
  const panels: [string, "best" | "last", string][] = [
    ["accuracy", "best", "accuracy (best epoch)"],
    ["accuracy", "last", "accuracy (last epoch)"],
    ["balanced_accuracy", "last", "balanced acc. (last)"],
    [`${s.positive_class}_recall`, "last", `${s.positive_class} recall (last)`],
    ["roc_auc", "last", "ROC-AUC (last)"],
  ];
  const rows: BarRow[] = [];
  for (const [key, which, label] of panels) {
    for (const v of s.variants) {
      const st = v[which][key];
      if (st?.mean === null || st === undefined) continue;
      rows.push({ variant: v.name, metric: label, mean: st.mean, std: st.std ?? 0 });
    }
  }
  return rows;
}

/**
 * Writes summary.md, summary.csv, summary.json and bars.svg into `dir`; returns the names. In a
 * published folder (one with a checksum manifest above it) the sweep is complete now, so the
 * manifest records the summary, sweep.json and the sweep's files not listed yet (its SLURM
 * records); its runs recorded themselves when they finished.
 */
export async function writeSweepSummary(dir: string, s: SweepSummary): Promise<string[]> {
  const files: Record<string, string> = {
    "summary.md": sweepMarkdown(s),
    "summary.csv": sweepCsv(s),
    "summary.json": JSON.stringify(s, null, 2) + "\n",
    "bars.svg": await barChartSvg(sweepBars(s)),
  };
  for (const [name, text] of Object.entries(files)) writeFileAtomic(join(dir, name), text);
  const root = findManifestRoot(dir);
  if (root) {
    const own = [...Object.keys(files), "sweep.json"].map((n) => join(dir, n));
    recordInManifest(root, [...own, ...unlistedFiles(root, dir)]);
  }
  return Object.keys(files);
}
