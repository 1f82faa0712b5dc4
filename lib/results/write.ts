/**
 * Writing and reading the files of a results folder: CSV, the metrics tables, files written with
 * their sha256, and JSON records read with a one-line error naming a damaged file. The run folder
 * itself is lib/results/run_folder.ts, its record (result.json) lib/results/run_record.ts.
 * @module
 */
import { join } from "node:path";
import { sha256Hex, writeFileAtomic } from "../util/fs.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { formatMetricsMarkdown, metricsCsvRows } from "../metrics/format.ts";
import { parse as parseCsvText } from "csv-parse/sync";
import { shown } from "./manifest.ts";
import { StarmambaError } from "../util/errors.ts";

/** Rows of an RFC 4180 CSV text (as toCsv writes), each a list of fields (csv-parse). */
export function parseCsv(text: string): string[][] {
  return parseCsvText(text, { relax_column_count: true }) as string[][];
}

/** CSV from rows (quotes fields that need it). */
export function toCsv(rows: (string | number)[][]): string {
  const q = (v: string | number) => {
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return rows.map((r) => r.map(q).join(",")).join("\n") + "\n";
}

/** Metrics at the best-validation epoch and at the last epoch, side by side, as Markdown. */
export function metricsMarkdown(
  title: string,
  best: { epoch: number; metrics: Metrics },
  last: { epoch: number; metrics: Metrics },
  extra: string,
): string {
  return [
    `# ${title}`,
    "",
    extra,
    "",
    `## Best validation epoch (${best.epoch}) — reference protocol`,
    "",
    "The reference study reports the best of all epochs on the validation set; that choice uses",
    "the validation set for model selection, so this number is optimistic. The last-epoch",
    "numbers below do not select on validation.",
    "",
    formatMetricsMarkdown(best.metrics),
    "",
    `## Last epoch (${last.epoch})`,
    "",
    formatMetricsMarkdown(last.metrics),
    "",
  ].join("\n");
}

/** metrics.csv: one row per (which, metric). */
export function metricsCsv(best: Metrics, last: Metrics): string {
  const rows: (string | number)[][] = [["epoch_choice", "metric", "class", "value"]];
  for (const [which, m] of [["best", best], ["last", last]] as const) {
    for (const r of metricsCsvRows(m).slice(1)) rows.push([which, ...r]);
  }
  return toCsv(rows);
}

/** Writes `files` (name → content) into `dir` atomically and returns name → sha256. */
export async function writeFiles(
  dir: string,
  files: Record<string, string | Uint8Array>,
): Promise<Record<string, string>> {
  const sums: Record<string, string> = {};
  for (const [name, content] of Object.entries(files)) {
    writeFileAtomic(join(dir, name), content);
    sums[name] = await sha256Hex(content);
  }
  return sums;
}

/** sha256 of files already in `dir` (e.g. the saved model). */
export async function checksumFiles(dir: string, names: string[]): Promise<Record<string, string>> {
  const sums: Record<string, string> = {};
  for (const n of names) sums[n] = await sha256Hex(Deno.readFileSync(join(dir, n)));
  return sums;
}

/**
 * A JSON object the results commands read (result.json, cv.json, an evaluation): a missing,
 * truncated or otherwise unreadable file is a {@link StarmambaError} naming it and the fix,
 * never a stack trace.
 */
export function readJsonRecord(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    throw new StarmambaError(
      `${shown(path)}: cannot read it (${(e as Error).message.split("\n")[0]}); restore it with ` +
        `git checkout -- ${shown(path)}, or check the folder with deno task verify-results`,
    );
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new StarmambaError(
      `${shown(path)}: not valid JSON (${(e as Error).message.split("\n")[0]}), the file is ` +
        `truncated or damaged; restore it with git checkout -- ${shown(path)} and check the ` +
        "folder with deno task verify-results",
    );
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new StarmambaError(
      `${shown(path)}: expected a JSON object; restore it with git checkout -- ${shown(path)}`,
    );
  }
  return v as Record<string, unknown>;
}
