/**
 * The summary of a cross-validation (issue 21's protocol): one run per held-out fold
 * (`data.kfold`, `data.fold`), each scored on its own fold at the epoch it kept (`train.keep:
 * last`: nothing chosen on the fold). Written beside a sweep's summary as cv.md and cv.json:
 * per-fold metrics, mean ± sample std over folds, and the protocol's figures on the pooled
 * out-of-fold predictions (every non-test image predicted once, by the fold that held it out):
 * operating points, Brier, ECE and 95% intervals by a bootstrap over sky groups.
 * @module
 */
import { dirname, join, resolve } from "node:path";
import type { Metrics } from "../metrics/metrics.ts";
import { meanStd, type Stat } from "../metrics/stats.ts";
import { type ProtocolMetrics, protocolMetrics } from "../metrics/operating.ts";
import { formatProtocol } from "../metrics/format.ts";
import { skyGroupOf } from "../data/splits.ts";
import { parseCsv } from "./write.ts";
import { readJsonObject, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";
import { readRunRecord, type TrainedRunRecord } from "./run_record.ts";
import { StarmambaError } from "../util/errors.ts";
import { recordIfPublished } from "./manifest.ts";

/** One fold's row. */
export interface CvFold {
  /** The held-out fold. */
  fold: number;
  /** The run folder, as given. */
  run: string;
  /** Which epoch's model the run kept (train.keep) and its epoch. */
  keep: string;
  epoch: number;
  /** Held-out images. */
  n: number;
  accuracy: number;
  balanced_accuracy: number;
  roc_auc: number;
}

/** What {@link summarizeCv} returns. */
export interface CvSummary {
  /** Folds in the cross-validation (data.kfold). */
  k: number;
  /** Each fold, in fold order. */
  folds: CvFold[];
  /** Mean ± sample std over folds. */
  over_folds: Record<"accuracy" | "balanced_accuracy" | "roc_auc", Stat>;
  /** Pooled out-of-fold images. */
  pooled_n: number;
  /** The protocol's figures on the pooled out-of-fold predictions (null: not galaxy/star). */
  pooled: ProtocolMetrics | null;
  /** Whether every fold kept its last epoch (nothing chosen on a held-out fold). */
  nothing_chosen: boolean;
}

/**
 * Summarises the fold runs in `runDirs` (one per fold, every fold present), or returns null when
 * they are not the folds of one k-fold cross-validation (a sweep of anything else). Reads each
 * run's result.json and predictions.csv (the kept model's predictions of its held-out fold).
 */
export function summarizeCv(runDirs: string[]): CvSummary | null {
  const results = runDirs.map((d) => readRunRecord(d, "trained"));
  const k = results[0]?.config.data.kfold ?? 0;
  if (k < 2 || results.some((r) => r.config.data.kfold !== k)) return null;
  const folds: CvFold[] = [];
  const files: string[] = [], groups: string[] = [], labels: number[] = [], probs: number[] = [];
  let classNames: string[] = [];
  for (const [i, dir] of runDirs.entries()) {
    const r = results[i];
    const cfg = r.config;
    const kept = keptEvaluation(r, dir);
    folds.push({
      fold: cfg.data.fold as number,
      run: dir,
      keep: cfg.train.keep ?? "best",
      epoch: kept.epoch,
      n: kept.metrics.n,
      accuracy: kept.metrics.accuracy,
      balanced_accuracy: kept.metrics.balancedAccuracy,
      roc_auc: kept.metrics.rocAuc,
    });
    const rows = parseCsv(Deno.readTextFileSync(join(dir, "predictions.csv")));
    const head = rows[0];
    const pCols = head.map((h, j) => [h, j] as const).filter(([h]) => h.startsWith("p_"));
    classNames = pCols.map(([h]) => h.slice(2));
    const iFile = head.indexOf("file"), iLabel = head.indexOf("label");
    const iGroup = head.indexOf("group");
    for (const row of rows.slice(1)) {
      if (row.length !== head.length) continue;
      files.push(row[iFile]);
      // The run's own groups where it wrote them (catalogue data), else the sky groups of names.
      groups.push(iGroup >= 0 ? row[iGroup] : skyGroupOf(row[iFile]));
      labels.push(classNames.indexOf(row[iLabel]));
      for (const [, j] of pCols) probs.push(Number(row[j]));
    }
  }
  folds.sort((a, b) => a.fold - b.fold);
  const present = folds.map((f) => f.fold);
  if (present.length !== k || present.some((f, i) => f !== i)) {
    throw new StarmambaError(
      `cross-validation summary: folds ${present.join(", ")} of ${k} (each fold once, all present)`,
    );
  }
  if (new Set(files).size !== files.length) {
    throw new StarmambaError("cross-validation summary: an image was held out by two folds");
  }
  const stat = (key: "accuracy" | "balanced_accuracy" | "roc_auc") =>
    meanStd(folds.map((f) => f[key]));
  const galaxyStar = classNames.includes("galaxy") && classNames.includes("star");
  return {
    k,
    folds,
    over_folds: {
      accuracy: stat("accuracy"),
      balanced_accuracy: stat("balanced_accuracy"),
      roc_auc: stat("roc_auc"),
    },
    pooled_n: files.length,
    pooled: galaxyStar ? protocolMetrics(labels, probs, classNames, groups) : null,
    nothing_chosen: folds.every((f) => f.keep === "last"),
  };
}

/** The evaluation a fold run kept (its record's `best`: train.keep decides which epoch). */
function keptEvaluation(r: TrainedRunRecord, dir: string): { epoch: number; metrics: Metrics } {
  if (!r.best) {
    throw new StarmambaError(
      `${dir}/result.json: no held-out metrics (data.split: all); a fold run needs data.kfold ` +
        "and data.fold",
    );
  }
  return r.best;
}

/** The record of a fold run for the checker: null where it does not read (the problem names it). */
function foldRecord(runDir: string): TrainedRunRecord | null {
  try {
    return readRunRecord(runDir, "trained");
  } catch (e) {
    if (e instanceof StarmambaError) return null;
    throw e;
  }
}

/** cv.md: the folds, their mean ± std and the pooled figures. */
export function cvMarkdown(s: CvSummary, title: string): string {
  const pct = (
    x: number | null,
  ) => (x === null || !Number.isFinite(x) ? "—" : `${(100 * x).toFixed(2)}%`);
  const ms = (st: Stat, f = pct) => `${f(st.mean)} ± ${st.std === null ? "—" : f(st.std)}`;
  const num = (x: number | null) => (x === null || !Number.isFinite(x) ? "—" : x.toFixed(4));
  const lines = [
    `# ${title}: ${s.k}-fold cross-validation`,
    "",
    s.nothing_chosen
      ? "Each fold's model is its last epoch (train.keep: last): nothing was chosen on a held-out fold."
      : "**Some folds kept the epoch with the best accuracy on their own held-out fold: these numbers " +
        "are chosen on the images that score them.**",
    "",
    "| fold | images | epoch | accuracy | balanced | ROC-AUC | run |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ...s.folds.map((f) =>
      `| ${f.fold} | ${f.n} | ${f.epoch} | ${pct(f.accuracy)} | ${pct(f.balanced_accuracy)} | ${
        num(f.roc_auc)
      } | ${f.run} |`
    ),
    `| mean ± std | ${s.pooled_n} | | ${ms(s.over_folds.accuracy)} | ${
      ms(s.over_folds.balanced_accuracy)
    } | ${ms(s.over_folds.roc_auc, num)} | |`,
  ];
  if (s.pooled) {
    lines.push(
      "",
      `Pooled out-of-fold predictions (${s.pooled_n} images):`,
      "",
      ...formatProtocol(s.pooled).map((l) => `- ${l}`),
    );
  }
  return lines.join("\n") + "\n";
}

/** Writes cv.md and cv.json into `dir` (and into the manifest above it, if any); returns their paths. */
export function writeCvSummary(dir: string, s: CvSummary, title: string): string[] {
  const md = resolve(dir, "cv.md"), json = resolve(dir, "cv.json");
  writeFileAtomic(md, cvMarkdown(s, title));
  writeJsonAtomic(json, { schema: "starmamba.cv/1", ...s });
  recordIfPublished([md, json]);
  return [md, json];
}

/** Equal as recorded numbers: both NaN (JSON null), or equal up to rounding. */
function same(a: unknown, b: unknown): boolean {
  const x = a === null || a === undefined ? NaN : Number(a);
  const y = b === null || b === undefined ? NaN : Number(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y);
  return Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x));
}

/**
 * Problems of a written cv.json against the fold runs it summarises: each fold's row against
 * its run's result.json (fold, kept epoch, n, accuracy, balanced accuracy, ROC-AUC), the mean ±
 * std over folds and the pooled image count against those rows. The pooled protocol figures
 * (a bootstrap) are not recomputed; the manifest covers them.
 */
export function checkCvSummary(cvPath: string): string[] {
  const cv = readJsonObject(cvPath) as unknown as CvSummary | null;
  if (!cv || !Array.isArray(cv.folds)) return ["not readable JSON, or no folds list"];
  const dir = dirname(cvPath);
  const edited = "one of them was edited after it was written (git checkout restores it)";
  const out: string[] = [];
  for (const f of cv.folds) {
    const r = foldRecord(resolve(dir, f.run));
    const kept = r?.best;
    if (!r || !kept?.metrics) {
      out.push(`fold ${f.fold}: ${f.run}/result.json is missing, unreadable or has no metrics`);
      continue;
    }
    const cfg = r.config;
    const want: [string, unknown, unknown][] = [
      ["fold", f.fold, cfg.data.fold],
      ["epoch", f.epoch, kept.epoch],
      ["n", f.n, kept.metrics.n],
      ["accuracy", f.accuracy, kept.metrics.accuracy],
      ["balanced_accuracy", f.balanced_accuracy, kept.metrics.balancedAccuracy],
      ["roc_auc", f.roc_auc, kept.metrics.rocAuc],
    ];
    for (const [key, got, wanted] of want) {
      if (!same(got, wanted)) {
        out.push(`fold ${f.fold} ${key} ${got} but ${f.run}/result.json says ${wanted}: ${edited}`);
      }
    }
  }
  for (const key of ["accuracy", "balanced_accuracy", "roc_auc"] as const) {
    const st = meanStd(cv.folds.map((f) => f[key]));
    const rec = cv.over_folds?.[key];
    if (!same(rec?.mean, st.mean) || !same(rec?.std, st.std)) {
      out.push(
        `over_folds.${key} ${rec?.mean} ± ${rec?.std} is not the folds' ${st.mean} ± ${st.std}: ` +
          edited,
      );
    }
  }
  const n = cv.folds.reduce((s, f) => s + f.n, 0);
  if (cv.pooled_n !== n) {
    out.push(`pooled_n ${cv.pooled_n} is not the folds' ${n} images: ${edited}`);
  }
  return out;
}
