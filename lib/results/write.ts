/**
 * The results folder: one immutable folder per run version, `<root>/<experiment>/v<N>/`,
 * holding result.json (schema-versioned), metrics.md, metrics.csv, history.csv, split.json,
 * plots, and the best model; and `<root>/index.md` listing every version.
 * @module
 */
import { join, relative } from "node:path";
import { exists, sha256Hex, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { formatMetricsMarkdown, metricsCsvRows } from "../metrics/format.ts";
import { parse as parseCsvText } from "csv-parse/sync";
import { recordIfPublished, shown } from "./manifest.ts";
import { StarmambaError } from "../util/errors.ts";

/** Version of the result.json layout. */
export const RESULT_SCHEMA = "starmamba.result/1";

/**
 * Creates the next free version folder `<root>/<experiment>/v<N>` and returns its path.
 * mkdir without `recursive` fails if the folder exists, so two concurrent runs never share one.
 */
export function createVersionDir(
  root: string,
  experiment: string,
): { dir: string; version: string } {
  const base = join(root, experiment);
  Deno.mkdirSync(base, { recursive: true });
  for (let n = 1;; n++) {
    const dir = join(base, `v${n}`);
    if (exists(dir)) continue;
    try {
      Deno.mkdirSync(dir);
      return { dir, version: `v${n}` };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

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

/** Writes result.json last: its presence marks a complete version folder. */
export function writeResultJson(dir: string, result: Record<string, unknown>): void {
  writeJsonAtomic(join(dir, "result.json"), { schema: RESULT_SCHEMA, ...result });
}

interface IndexRow {
  path: string;
  experiment: string;
  version: string;
  created: string;
  accBest: number;
  accLast: number;
  seed: number;
  commit: string;
}

/** Regenerates `<root>/index.md` from every result.json under `root`. */
export function writeIndex(root: string): void {
  const rows: IndexRow[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const p = join(dir, e.name);
      if (e.isDirectory) walk(p);
      else if (e.name === "result.json") {
        try {
          const r = JSON.parse(Deno.readTextFileSync(p));
          rows.push({
            path: relative(root, dir),
            experiment: r.experiment,
            version: r.version,
            created: r.created,
            accBest: r.best?.metrics?.accuracy ?? NaN,
            accLast: r.last?.metrics?.accuracy ?? NaN,
            seed: r.seed,
            commit: String(r.code?.commit ?? "").slice(0, 10),
          });
        } catch { /* not a result file we understand; verify-results reports it */ }
      }
    }
  };
  if (!exists(root)) return;
  walk(root);
  rows.sort((a, b) => a.path.localeCompare(b.path, undefined, { numeric: true }));
  const lines = [
    "# Results index",
    "",
    "Every run version, generated from the result.json files (do not edit by hand).",
    "",
    "| run | experiment | version | seed | val acc (best epoch) | val acc (last epoch) | commit | created |",
    "|---|---|---|---|---|---|---|---|",
    ...rows.map((r) =>
      `| [${r.path}](${r.path}/metrics.md) | ${r.experiment} | ${r.version} | ${r.seed} | ${
        pctOrDash(r.accBest)
      } | ${pctOrDash(r.accLast)} | ${r.commit} | ${r.created} |`
    ),
    "",
  ];
  writeFileAtomic(join(root, "index.md"), lines.join("\n"));
  // A published folder's index is one of its files: keep its manifest entry current.
  recordIfPublished([join(root, "index.md")]);
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

/** "92.97%", or "—" for a run without validation metrics (data.split: all). */
function pctOrDash(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : "—";
}
