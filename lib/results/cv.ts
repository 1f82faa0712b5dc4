/**
 * The summary of a cross-validation (issue 21's protocol): one run per held-out fold
 * (`data.kfold`, `data.fold`), each scored on its own fold at the epoch it kept (`train.keep:
 * last`: nothing chosen on the fold). Written beside a sweep's summary as cv.md and cv.json:
 * per-fold metrics, mean ± sample std over folds, and the protocol's figures on the pooled
 * out-of-fold predictions (every non-test image predicted once, by the fold that held it out):
 * operating points, Brier, ECE and 95% intervals by a bootstrap over sky groups. Where the folds
 * trained with balanced classes (train.class_balance sampler or loss), the same figures with the
 * Bayes prior correction from each fold's training counts (lib/results/prior.ts) stand beside
 * them in `prior_corrected`: the fold rows above stay the runs' own recorded figures.
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { computeMetrics, type Metrics } from "../metrics/metrics.ts";
import { meanStd, type Stat } from "../metrics/stats.ts";
import { type ProtocolMetrics, protocolMetrics } from "../metrics/operating.ts";
import { formatProtocol } from "../metrics/format.ts";
import { skyGroupOf } from "../data/splits.ts";
import { parseCsv } from "./write.ts";
import { readJsonObject, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";
import { readRunRecord, type TrainedRunRecord } from "./run_record.ts";
import { StarmambaError } from "../util/errors.ts";
import { recordIfPublished } from "./manifest.ts";
import { type PriorCorrection, priorCorrectionOf, priorCorrectionWeights } from "./prior.ts";
import { reweightPosterior } from "../metrics/prior.ts";

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
  /**
   * The same figures decided with each fold's prior correction, where some fold trained with
   * balanced classes; null when none did (or the correction was switched off).
   */
  prior_corrected: CvPriorCorrected | null;
}

/** One fold's figures after its prior correction. */
export interface CvCorrectedFold {
  /** The held-out fold. */
  fold: number;
  /** The correction (null: this fold trained on the data's prior, its figures as above). */
  prior_correction: PriorCorrection | null;
  /** Held-out images. */
  n: number;
  accuracy: number;
  balanced_accuracy: number;
  roc_auc: number;
}

/** {@link CvSummary.prior_corrected}: per fold, over folds and pooled, after the correction. */
export interface CvPriorCorrected {
  /** How the probabilities were corrected, in words. */
  rule: string;
  /** Each fold, in fold order. */
  folds: CvCorrectedFold[];
  /** Mean ± sample std over folds. */
  over_folds: Record<"accuracy" | "balanced_accuracy" | "roc_auc", Stat>;
  /** The protocol's figures on the pooled corrected out-of-fold predictions. */
  pooled: ProtocolMetrics | null;
}

/** The rule {@link CvPriorCorrected.rule} states. */
export const PRIOR_CORRECTION_RULE = "P'(c) ∝ P(c)·to(c)/from(c) per image (Bayes' rule): " +
  "from = the balanced prior the fold's training imposed (train.class_balance, " +
  "class_weight_power), to = its training split's class shares (result.json " +
  "data.split.train_counts); decided by the arg-max of P'";

/** Options of {@link summarizeCv}. */
export interface SummarizeCvOptions {
  /** Add the prior-corrected figures where a fold trained balanced (default true). */
  priorCorrection?: boolean;
}

/** A fold run's predictions.csv: files, groups, labels and class probabilities (rows). */
/** A fold run's predictions.csv: per image its file, group, label index and probabilities. */
export interface FoldPredictions {
  /** The p_<class> columns' classes, in order. */
  classNames: string[];
  /** Each image's file column. */
  files: string[];
  /** Each image's group: the file's group column, else the sky group of its name. */
  groups: string[];
  /** Each image's label as an index into classNames. */
  labels: number[];
  /** Row-major images × classes. */
  probs: number[];
}

/** Reads a fold run's predictions.csv (the kept model's predictions of its held-out fold). */
export function readFoldPredictions(dir: string): FoldPredictions {
  const rows = parseCsv(Deno.readTextFileSync(join(dir, "predictions.csv")));
  const head = rows[0];
  const pCols = head.map((h, j) => [h, j] as const).filter(([h]) => h.startsWith("p_"));
  const classNames = pCols.map(([h]) => h.slice(2));
  const iFile = head.indexOf("file"), iLabel = head.indexOf("label");
  const iGroup = head.indexOf("group");
  const out: FoldPredictions = { classNames, files: [], groups: [], labels: [], probs: [] };
  for (const row of rows.slice(1)) {
    if (row.length !== head.length) continue;
    out.files.push(row[iFile]);
    // The run's own groups where it wrote them (catalogue data), else the sky groups of names.
    out.groups.push(iGroup >= 0 ? row[iGroup] : skyGroupOf(row[iFile]));
    out.labels.push(classNames.indexOf(row[iLabel]));
    for (const [, j] of pCols) out.probs.push(Number(row[j]));
  }
  return out;
}

/** A fold's probabilities after its prior correction (unchanged where it has none). */
export function correctedProbs(p: FoldPredictions, c: PriorCorrection | null): number[] {
  if (!c) return p.probs;
  const k = p.classNames.length;
  return Array.from(reweightPosterior(p.probs, k, priorCorrectionWeights(c, p.classNames)));
}

/** Mean ± std over folds of the three per-fold figures. */
function overFolds(
  folds: Pick<CvFold, "accuracy" | "balanced_accuracy" | "roc_auc">[],
): CvSummary["over_folds"] {
  const stat = (key: "accuracy" | "balanced_accuracy" | "roc_auc") =>
    meanStd(folds.map((f) => f[key]));
  return {
    accuracy: stat("accuracy"),
    balanced_accuracy: stat("balanced_accuracy"),
    roc_auc: stat("roc_auc"),
  };
}

/**
 * Summarises the fold runs in `runDirs` (one per fold, every fold present), or returns null when
 * they are not the folds of one k-fold cross-validation (a sweep of anything else). Reads each
 * run's result.json and predictions.csv (the kept model's predictions of its held-out fold).
 */
export function summarizeCv(
  runDirs: string[],
  opts: SummarizeCvOptions = {},
): CvSummary | null {
  const results = runDirs.map((d) => readRunRecord(d, "trained"));
  const k = results[0]?.config.data.kfold ?? 0;
  if (k < 2 || results.some((r) => r.config.data.kfold !== k)) return null;
  const folds: CvFold[] = [], corrected: CvCorrectedFold[] = [];
  const files: string[] = [], groups: string[] = [], labels: number[] = [], probs: number[] = [];
  const fixed: number[] = [];
  let classNames: string[] = [];
  for (const [i, dir] of runDirs.entries()) {
    const r = results[i];
    const cfg = r.config;
    const kept = keptEvaluation(r, dir);
    const fold = cfg.data.fold as number;
    folds.push({
      fold,
      run: dir,
      keep: cfg.train.keep ?? "best",
      epoch: kept.epoch,
      n: kept.metrics.n,
      accuracy: kept.metrics.accuracy,
      balanced_accuracy: kept.metrics.balancedAccuracy,
      roc_auc: kept.metrics.rocAuc,
    });
    const p = readFoldPredictions(dir);
    classNames = p.classNames;
    files.push(...p.files), groups.push(...p.groups), labels.push(...p.labels);
    probs.push(...p.probs);
    const prior = opts.priorCorrection === false ? null : priorCorrectionOf(r);
    const cp = correctedProbs(p, prior);
    fixed.push(...cp);
    corrected.push({ fold, prior_correction: prior, ...foldFigures(p, cp) });
  }
  folds.sort((a, b) => a.fold - b.fold);
  corrected.sort((a, b) => a.fold - b.fold);
  const present = folds.map((f) => f.fold);
  if (present.length !== k || present.some((f, i) => f !== i)) {
    throw new StarmambaError(
      `cross-validation summary: folds ${present.join(", ")} of ${k} (each fold once, all present)`,
    );
  }
  if (new Set(files).size !== files.length) {
    throw new StarmambaError("cross-validation summary: an image was held out by two folds");
  }
  const galaxyStar = classNames.includes("galaxy") && classNames.includes("star");
  return {
    k,
    folds,
    over_folds: overFolds(folds),
    pooled_n: files.length,
    pooled: galaxyStar ? protocolMetrics(labels, probs, classNames, groups) : null,
    nothing_chosen: folds.every((f) => f.keep === "last"),
    prior_corrected: corrected.some((f) => f.prior_correction)
      ? {
        rule: PRIOR_CORRECTION_RULE,
        folds: corrected,
        over_folds: overFolds(corrected),
        pooled: galaxyStar ? protocolMetrics(labels, fixed, classNames, groups) : null,
      }
      : null,
  };
}

/** Images, accuracy, balanced accuracy and ROC-AUC of a fold's predictions with `probs`. */
function foldFigures(
  p: FoldPredictions,
  probs: number[],
): Pick<CvCorrectedFold, "n" | "accuracy" | "balanced_accuracy" | "roc_auc"> {
  const m = computeMetrics(p.labels, probs, p.classNames);
  return { n: m.n, accuracy: m.accuracy, balanced_accuracy: m.balancedAccuracy, roc_auc: m.rocAuc };
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
  if (s.prior_corrected) lines.push("", ...correctedMarkdown(s.prior_corrected, s.pooled_n));
  return lines.join("\n") + "\n";
}

/** cv.md's section on the prior-corrected figures. */
function correctedMarkdown(c: CvPriorCorrected, pooledN: number): string[] {
  const pct = (x: number | null) =>
    x === null || !Number.isFinite(x) ? "—" : `${(100 * x).toFixed(2)}%`;
  const num = (x: number | null) => (x === null || !Number.isFinite(x) ? "—" : x.toFixed(4));
  const ms = (st: Stat, f = pct) => `${f(st.mean)} ± ${st.std === null ? "—" : f(st.std)}`;
  const prior = (pc: PriorCorrection | null) =>
    pc
      ? Object.keys(pc.to).map((name) =>
        `${name} ${pc.from[name].toFixed(3)} → ${pc.to[name].toFixed(3)}`
      ).join(", ")
      : "none (trained on the data's prior)";
  const lines = [
    "## With the prior correction",
    "",
    "These folds trained with balanced classes (train.class_balance), so their arg-max decides " +
    "as if the classes were equally common and calls the rarer class far too often. Here each " +
    `fold's probabilities are decided under its own training prior instead: ${c.rule}. ` +
    "Nothing is fitted on a held-out fold. Within a fold the ranking, hence ROC-AUC, does not " +
    "change; the pooled ROC-AUC moves a little because each fold's correction differs.",
    "",
    "| fold | images | prior from → to | accuracy | balanced | ROC-AUC |",
    "| ---: | ---: | --- | ---: | ---: | ---: |",
    ...c.folds.map((f) =>
      `| ${f.fold} | ${f.n} | ${prior(f.prior_correction)} | ${pct(f.accuracy)} | ${
        pct(f.balanced_accuracy)
      } | ${num(f.roc_auc)} |`
    ),
    `| mean ± std | ${pooledN} | | ${ms(c.over_folds.accuracy)} | ${
      ms(c.over_folds.balanced_accuracy)
    } | ${ms(c.over_folds.roc_auc, num)} |`,
  ];
  if (c.pooled) {
    lines.push(
      "",
      `Pooled out-of-fold predictions (${pooledN} images), prior-corrected:`,
      "",
      ...formatProtocol(c.pooled).map((l) => `- ${l}`),
    );
  }
  return lines;
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
  if (cv.prior_corrected) out.push(...checkCorrected(cv, dir, edited));
  return out;
}

/**
 * Problems of cv.json's prior-corrected figures: each fold's correction against its
 * result.json, its figures recomputed from its predictions.csv, and the mean ± std over folds.
 */
function checkCorrected(cv: CvSummary, dir: string, edited: string): string[] {
  const out: string[] = [];
  const c = cv.prior_corrected!;
  for (const f of c.folds ?? []) {
    const run = cv.folds.find((x) => x.fold === f.fold)?.run;
    const r = run === undefined ? null : foldRecord(resolve(dir, run));
    if (!r || run === undefined) {
      out.push(`prior_corrected fold ${f.fold}: no fold run of that number to check it against`);
      continue;
    }
    const want = priorCorrectionOf(r);
    if (JSON.stringify(want) !== JSON.stringify(f.prior_correction ?? null)) {
      out.push(
        `prior_corrected fold ${f.fold}: prior_correction ${JSON.stringify(f.prior_correction)} ` +
          `is not the ${JSON.stringify(want)} of ${run}/result.json: ${edited}`,
      );
      continue;
    }
    let p: FoldPredictions;
    try {
      p = readFoldPredictions(resolve(dir, run));
    } catch {
      continue; // the run's own check reports a missing predictions.csv
    }
    const got = foldFigures(p, correctedProbs(p, want));
    for (const key of ["n", "accuracy", "balanced_accuracy", "roc_auc"] as const) {
      if (!same(f[key], got[key])) {
        out.push(
          `prior_corrected fold ${f.fold} ${key} ${f[key]} but ${run}/predictions.csv gives ` +
            `${got[key]} after the correction: ${edited}`,
        );
      }
    }
  }
  for (const key of ["accuracy", "balanced_accuracy", "roc_auc"] as const) {
    const st = meanStd((c.folds ?? []).map((f) => f[key]));
    const rec = c.over_folds?.[key];
    if (!same(rec?.mean, st.mean) || !same(rec?.std, st.std)) {
      out.push(
        `prior_corrected.over_folds.${key} ${rec?.mean} ± ${rec?.std} is not the folds' ` +
          `${st.mean} ± ${st.std}: ${edited}`,
      );
    }
  }
  return out;
}
