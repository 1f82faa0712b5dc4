/**
 * A cross-validation's fold models scored on the locked test set (issue 31), published beside
 * the sweep's cv.json as three files:
 *
 * - `test-predictions.csv` — one row per test image: `file, group, label`, each fold model's
 *   probability of the positive class (`p_galaxy_fold0` …), the ensemble's (`p_galaxy_ensemble`,
 *   the mean of the fold columns); where a fold model trained with balanced classes, the
 *   columns hold the prior-corrected probabilities and `…_uncorrected` columns the network's own.
 * - `test-scores.json` — its `figures` are computed from that CSV alone by
 *   {@link testFigures} (the referee's path: read the CSV, recompute every number); the rest
 *   records where they came from (test set file and sha256, the fold runs, their corrections,
 *   the code) and the rules, fixed before scoring.
 * - `test-scores.md` — the figures as a table.
 *
 * Each figure (accuracy, balanced accuracy, ROC-AUC, galaxy purity at completeness 0.9, star
 * completeness at purity 0.99) comes with two 95% intervals from the test set itself: a
 * bootstrap over its images and one over its sky groups (lib/metrics/bootstrap.ts, seeded).
 * The spread between the fold models is reported too, as what it is: the variation of the
 * training, not an uncertainty of the test figure. `deno task verify-results` recomputes the
 * figures from the CSV and reports any difference ({@link checkTestScores}).
 * @module
 */
import { join, resolve } from "node:path";
import { parseCsv, toCsv } from "./write.ts";
import { recordIfPublished, sha256File } from "./manifest.ts";
import type { PriorCorrection } from "./prior.ts";
import {
  BINARY_FIGURES,
  type BinaryFigures,
  BinaryScorer,
  bootstrapFigures,
  OPERATING_TARGETS,
} from "../metrics/bootstrap.ts";
import type { Interval } from "../metrics/operating.ts";
import { meanStd, type Stat } from "../metrics/stats.ts";
import { exists, readJsonObject, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";
import { StarmambaError } from "../util/errors.ts";

/** Schema of test-scores.json. */
export const TEST_SCORES_SCHEMA = "starmamba.test-scores/1";
/** The files, in the sweep folder. */
export const TEST_PREDICTIONS_FILE = "test-predictions.csv";
/** See {@link TEST_PREDICTIONS_FILE}. */
export const TEST_SCORES_FILE = "test-scores.json";
/** See {@link TEST_PREDICTIONS_FILE}. */
export const TEST_SCORES_MD = "test-scores.md";
/** Bootstrap replicates and seed of every interval. */
export const TEST_BOOTSTRAP = { replicates: 1000, seed: 1 } as const;
/** The ensemble column's name. */
export const ENSEMBLE = "ensemble";

/** The rules, fixed before the first scoring that uses them (results/README.md). */
export const TEST_RULES = {
  decision: "an image is called the positive class (galaxy) iff its P(galaxy) ≥ 0.5: the " +
    "arg-max of two classes, ties to galaxy; no test-time augmentation, no class weights",
  ensemble: "the mean of the fold models' P(galaxy), equal weights, each model's after its prior " +
    "correction where it has one, decided as one model at 0.5; fixed 2026-12-06 before any " +
    "ensemble of fold models was scored (results/README.md)",
  prior_correction: "a fold model that trained with balanced classes (train.class_balance " +
    "sampler or loss) decides with P'(c) ∝ P(c)·to(c)/from(c): from = the balanced prior its " +
    "training imposed, to = its training split's class shares; its network's own P is in the " +
    "…_uncorrected columns and scored beside it",
  bootstrap: "95% percentile intervals, 1000 replicates, seed 1: over images (each image " +
    "resampled) and over sky groups (whole groups resampled; the CSV's group column)",
  over_models: "mean ± sample std of the fold models' figures: the spread of training between " +
    "folds, not an uncertainty of the test figure",
} as const;

/** One probability column: a model's name (fold0 … or ensemble) and its value per image. */
export interface TestColumn {
  name: string;
  p: number[];
}

/** The content of test-predictions.csv. */
export interface TestPredictions {
  /** The class whose probability the columns hold (galaxy), and the other (star). */
  positive: string;
  negative: string;
  /** Per image: its path under the data root, its sky group and its true class name. */
  files: string[];
  groups: string[];
  labels: string[];
  /** The fold models' columns, fold order (after their prior correction where they have one). */
  models: TestColumn[];
  /** The networks' own columns, where some model's were corrected; else null. */
  uncorrected: TestColumn[] | null;
}

/** A figure with its intervals over images and over sky groups. */
export interface Estimate {
  value: number;
  images: { lo: number; hi: number };
  groups: { lo: number; hi: number };
}

/** Every figure of one model. */
export type FigureSet = Record<keyof BinaryFigures, Estimate>;

/** Figures of every column of one kind (decided, or uncorrected). */
export interface ColumnFigures {
  /** Column name (fold0 … ensemble) → its figures. */
  models: Record<string, FigureSet>;
  /** The fold models' spread (the ensemble left out). */
  over_models: Record<keyof BinaryFigures, Stat>;
}

/** What {@link testFigures} computes from the CSV alone (test-scores.json `figures`). */
export interface TestFigures {
  /** Images, sky groups and classes of the CSV. */
  images: number;
  groups: number;
  positive: string;
  negative: string;
  /** The operating points' targets. */
  targets: { galaxy_completeness: number; star_purity: number };
  bootstrap: { replicates: number; seed: number };
  /** The decided columns (the corrected ones where a correction applies). */
  decided: ColumnFigures;
  /** The networks' own columns, where some were corrected; null otherwise. */
  uncorrected: ColumnFigures | null;
}

/** One fold model in test-scores.json. */
export interface TestModelRecord {
  /** Its column name (fold<k>). */
  name: string;
  /** Its fold run, relative to the sweep folder. */
  run: string;
  /** Its prior correction, or null. */
  prior_correction: PriorCorrection | null;
}

/** test-scores.json. */
export interface TestScores {
  schema: string;
  created: string;
  /** The code that scored, as result.json records it. */
  code: { commit: string; dirty: boolean };
  /** The locked test set's file and its sha256. */
  test_set: { file: string; sha256: string };
  /** The predictions file (in this folder) and its sha256. */
  predictions: { file: string; sha256: string };
  models: TestModelRecord[];
  rules: typeof TEST_RULES;
  /** Recomputed from the CSV alone by {@link testFigures}. */
  figures: TestFigures;
}

/** A column's header: `p_<positive>_<name>[_uncorrected]`. */
function header(positive: string, name: string, uncorrected = false): string {
  return `p_${positive}_${name}${uncorrected ? "_uncorrected" : ""}`;
}

/** The mean of columns, image by image (the ensemble). */
function meanColumn(cols: TestColumn[]): number[] {
  return cols[0].p.map((_, i) => cols.reduce((s, c) => s + c.p[i], 0) / cols.length);
}

/** The CSV text: the fold columns, the ensemble (their mean), and the uncorrected set if any. */
export function testPredictionsCsv(t: TestPredictions): string {
  const sets = [t.models, ...(t.uncorrected ? [t.uncorrected] : [])];
  const cols = sets.flatMap((set, s) => [
    ...set.map((c) => ({ name: header(t.positive, c.name, s === 1), p: c.p })),
    { name: header(t.positive, ENSEMBLE, s === 1), p: meanColumn(set) },
  ]);
  return toCsv([
    ["file", "group", "label", ...cols.map((c) => c.name)],
    ...t.files.map((f, i) => [f, t.groups[i], t.labels[i], ...cols.map((c) => c.p[i])]),
  ]);
}

/**
 * Reads test-predictions.csv: the fold columns, and checks each ensemble column is the mean of
 * its set. A malformed file is a {@link StarmambaError} naming the row or column.
 */
export function parseTestPredictions(text: string, path: string): TestPredictions {
  const rows = parseCsv(text);
  const head = rows[0] ?? [];
  if (head.slice(0, 3).join(",") !== "file,group,label") {
    throw new StarmambaError(`${path}: the header must start with file,group,label`);
  }
  const m = /^p_(.+)_ensemble$/.exec(head.find((h) => h.endsWith("_ensemble")) ?? "");
  if (!m) throw new StarmambaError(`${path}: no p_<class>_ensemble column`);
  const positive = m[1];
  const labels = rows.slice(1).map((r) => r[2]);
  const negative = [...new Set(labels)].filter((l) => l !== positive).sort()[0] ?? "";
  const column = (j: number, name: string): TestColumn => ({
    name,
    p: rows.slice(1).map((r, i) => {
      const x = Number(r[j]);
      if (r.length !== head.length || r[j] === "" || !(x >= 0 && x <= 1)) {
        throw new StarmambaError(`${path} row ${i + 2}: ${head[j]} is not a probability`);
      }
      return x;
    }),
  });
  const setOf = (uncorrected: boolean): TestColumn[] | null => {
    const re = new RegExp(`^p_${escape(positive)}_(.+)${uncorrected ? "_uncorrected" : ""}$`);
    const cols = head.map((h, j) => [h, j] as const).slice(3)
      .filter(([h]) => uncorrected === h.endsWith("_uncorrected") && re.test(h))
      .map(([h, j]) => column(j, re.exec(h)![1]));
    if (cols.length === 0) return null;
    const ens = cols.find((c) => c.name === ENSEMBLE);
    const models = cols.filter((c) => c.name !== ENSEMBLE);
    if (!ens || models.length === 0) {
      throw new StarmambaError(`${path}: a set of columns without its models or ensemble`);
    }
    const mean = meanColumn(models);
    const bad = ens.p.findIndex((x, i) => Math.abs(x - mean[i]) > 1e-12);
    if (bad >= 0) {
      throw new StarmambaError(
        `${path} row ${bad + 2}: ${header(positive, ENSEMBLE, uncorrected)} ${ens.p[bad]} is ` +
          `not the mean ${mean[bad]} of the fold columns`,
      );
    }
    return models;
  };
  return {
    positive,
    negative,
    files: rows.slice(1).map((r) => r[0]),
    groups: rows.slice(1).map((r) => r[1]),
    labels,
    models: setOf(false) ?? [],
    uncorrected: setOf(true),
  };
}

/** `s` with the characters a RegExp treats specially escaped. */
function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The figures and intervals of one column. */
function figureSet(p: number[], positive: boolean[], files: string[], groups: string[]) {
  const score = new BinaryScorer(p, positive);
  const { replicates, seed } = TEST_BOOTSTRAP;
  const byImage = bootstrapFigures(score, files, replicates, seed);
  const byGroup = bootstrapFigures(score, groups, replicates, seed);
  const lohi = (i: Interval) => ({ lo: i.lo, hi: i.hi });
  return Object.fromEntries(BINARY_FIGURES.map((k) => [k, {
    value: byImage[k].value,
    images: lohi(byImage[k]),
    groups: lohi(byGroup[k]),
  }])) as FigureSet;
}

/** Every column of a set, the ensemble last, and the fold models' spread. */
function columnFigures(t: TestPredictions, set: TestColumn[]): ColumnFigures {
  const positive = t.labels.map((l) => l === t.positive);
  const cols = [...set, { name: ENSEMBLE, p: meanColumn(set) }];
  const models = Object.fromEntries(
    cols.map((c) => [c.name, figureSet(c.p, positive, t.files, t.groups)]),
  );
  const over = Object.fromEntries(
    BINARY_FIGURES.map((k) => [k, meanStd(set.map((c) => models[c.name][k].value))]),
  ) as ColumnFigures["over_models"];
  return { models, over_models: over };
}

/**
 * Every figure of test-scores.json from the predictions alone: per model and for the ensemble,
 * each with its intervals over images and over sky groups, for the decided columns and (where
 * some were prior-corrected) the networks' own.
 */
export function testFigures(t: TestPredictions): TestFigures {
  if (new Set(t.files).size !== t.files.length) {
    throw new StarmambaError("test predictions: a file is listed twice");
  }
  if (t.models.length === 0) throw new StarmambaError("test predictions: no model columns");
  return {
    images: t.files.length,
    groups: new Set(t.groups).size,
    positive: t.positive,
    negative: t.negative,
    targets: {
      galaxy_completeness: OPERATING_TARGETS.completeness,
      star_purity: OPERATING_TARGETS.purity,
    },
    bootstrap: { ...TEST_BOOTSTRAP },
    decided: columnFigures(t, t.models),
    uncorrected: t.uncorrected ? columnFigures(t, t.uncorrected) : null,
  };
}

/** Where the figures came from, recorded beside them in test-scores.json. */
export interface TestProvenance {
  code: { commit: string; dirty: boolean };
  test_set: { file: string; sha256: string };
  models: TestModelRecord[];
}

/**
 * Writes test-predictions.csv, test-scores.json and test-scores.md into `dir` (a sweep folder),
 * refusing to replace a scoring already there (the test set is scored once per recipe), and
 * records them in the manifest above, if any. The figures are computed from the CSV as written,
 * read back, so the JSON is what a reader of the CSV gets. Returns the paths written.
 */
export function writeTestScoring(
  dir: string,
  t: TestPredictions,
  provenance: TestProvenance,
  title: string,
): string[] {
  const csv = resolve(dir, TEST_PREDICTIONS_FILE);
  const json = resolve(dir, TEST_SCORES_FILE), md = resolve(dir, TEST_SCORES_MD);
  refuseRescoring(dir);
  writeFileAtomic(csv, testPredictionsCsv(t));
  const figures = testFigures(parseTestPredictions(Deno.readTextFileSync(csv), csv));
  const scores: TestScores = {
    schema: TEST_SCORES_SCHEMA,
    created: new Date().toISOString(),
    code: provenance.code,
    test_set: provenance.test_set,
    predictions: { file: TEST_PREDICTIONS_FILE, sha256: sha256File(csv) },
    models: provenance.models,
    rules: TEST_RULES,
    figures,
  };
  writeJsonAtomic(json, scores);
  writeFileAtomic(md, testScoresMarkdown(scores, title));
  recordIfPublished([csv, json, md]);
  return [csv, json, md];
}

/** A scoring already in `dir` is kept: the test set scores a recipe once. */
export function refuseRescoring(dir: string): void {
  const there = [TEST_PREDICTIONS_FILE, TEST_SCORES_FILE, TEST_SCORES_MD]
    .filter((f) => exists(join(dir, f)));
  if (there.length) {
    throw new StarmambaError(
      `${join(dir, there[0])} exists: this sweep's models were scored on the test set already, ` +
        "and every test score stays published; to score again (e.g. after a fix), move its " +
        `${there.join(", ")} away first`,
    );
  }
}

/** test-scores.md: one table per set of columns, every figure with both intervals. */
export function testScoresMarkdown(s: TestScores, title: string): string {
  const f = s.figures;
  const lines = [
    `# ${title}: the fold models on the locked test set`,
    "",
    `${f.images} images in ${f.groups} sky groups of ${s.test_set.file} (sha256 ` +
    `${s.test_set.sha256.slice(0, 12)}…), every number below recomputed from ` +
    `${s.predictions.file} alone (deno task verify-results checks it).`,
    "",
    `- Decision: ${s.rules.decision}.`,
    `- Ensemble: ${s.rules.ensemble}.`,
    `- Intervals: ${s.rules.bootstrap}; shown as [images] {sky groups}.`,
    `- Over models: ${s.rules.over_models}.`,
    "",
    ...figureTable(f.decided, s.models),
  ];
  if (f.uncorrected) {
    lines.push(
      "",
      `Prior correction: ${s.rules.prior_correction}. Without it (the networks' own ` +
        "probabilities, plain arg-max):",
      "",
      ...figureTable(f.uncorrected, s.models),
    );
  }
  return lines.join("\n") + "\n";
}

/** The table of one set of columns. */
function figureTable(c: ColumnFigures, models: TestModelRecord[]): string[] {
  const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : "—");
  const auc = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "—");
  const fmt = (k: keyof BinaryFigures) => (k === "roc_auc" ? auc : pct);
  const cell = (k: keyof BinaryFigures, e: Estimate) => {
    const g = fmt(k);
    return `${g(e.value)} [${g(e.images.lo)}, ${g(e.images.hi)}] {${g(e.groups.lo)}, ${
      g(e.groups.hi)
    }}`;
  };
  const stat = (k: keyof BinaryFigures, st: Stat) => {
    const g = fmt(k);
    return st.mean === null ? "—" : `${g(st.mean)} ± ${st.std === null ? "—" : g(st.std)}`;
  };
  const run = (name: string) => models.find((m) => m.name === name)?.run ?? "";
  return [
    "| model | accuracy % | balanced % | ROC-AUC | galaxy purity % at completeness 0.9 | " +
    "star completeness % at purity 0.99 | run |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ...Object.entries(c.models).map(([name, fs]) =>
      `| ${name} | ${BINARY_FIGURES.map((k) => cell(k, fs[k])).join(" | ")} | ${
        name === ENSEMBLE ? "mean of the fold columns" : run(name)
      } |`
    ),
    `| fold models, mean ± std | ${
      BINARY_FIGURES.map((k) => stat(k, c.over_models[k])).join(" | ")
    } | spread, not uncertainty |`,
  ];
}

/** Equal as recorded numbers: both null/NaN, or equal up to rounding. */
function same(a: unknown, b: unknown): boolean {
  const x = a === null || a === undefined ? NaN : Number(a);
  const y = b === null || b === undefined ? NaN : Number(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y);
  return Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x));
}

/** Paths (a.b.c) where two JSON-like values differ as recorded numbers or otherwise. */
function differences(a: unknown, b: unknown, at = ""): string[] {
  const isNum = (v: unknown) => typeof v === "number" || v === null;
  if (isNum(a) && isNum(b)) return same(a, b) ? [] : [`${at} ${a} (recomputed ${b})`];
  if (typeof a === "object" && a && typeof b === "object" && b) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      differences(
        (a as Record<string, unknown>)[k],
        (b as Record<string, unknown>)[k],
        at ? `${at}.${k}` : k,
      )
    );
  }
  return a === b ? [] : [`${at} ${JSON.stringify(a)} (recomputed ${JSON.stringify(b)})`];
}

/**
 * Problems of a written test-scores.json against its test-predictions.csv: the CSV's sha256,
 * and every figure recomputed from the CSV alone. At most five differing figures are named.
 */
export function checkTestScores(jsonPath: string): string[] {
  const s = readJsonObject(jsonPath) as unknown as TestScores | null;
  if (!s || s.schema !== TEST_SCORES_SCHEMA || !s.predictions?.file) {
    return [`not a ${TEST_SCORES_SCHEMA} file`];
  }
  const csv = join(resolve(jsonPath, ".."), s.predictions.file);
  const edited = "one of the two was edited after it was written (git checkout restores it)";
  if (!exists(csv)) return [`${s.predictions.file} is missing beside it`];
  const out: string[] = [];
  const sha = sha256File(csv);
  if (sha !== s.predictions.sha256) {
    out.push(
      `${s.predictions.file} has sha256 ${sha.slice(0, 12)}…, not the ` +
        `${String(s.predictions.sha256).slice(0, 12)}… recorded: ${edited}`,
    );
  }
  let figures: TestFigures;
  try {
    figures = testFigures(parseTestPredictions(Deno.readTextFileSync(csv), s.predictions.file));
  } catch (e) {
    if (!(e instanceof StarmambaError)) throw e;
    return [...out, e.message];
  }
  const diff = differences(s.figures, JSON.parse(JSON.stringify(figures)));
  if (diff.length) {
    out.push(
      `${diff.length} figure(s) differ from ${s.predictions.file} recomputed: ` +
        `${diff.slice(0, 5).map((d) => `figures.${d}`).join("; ")}: ${edited}`,
    );
  }
  return out;
}
