/**
 * results/architectures.md and architectures.json (issue 31): does the Mamba help? One row per
 * network — MedMamba's `cpu` preset (the reference), its block with only the conv branch or only
 * the SS2D branch, the ConvNet of Kim & Brunner (2017) and ResNet-18 — each trained by its own
 * cross-validation sweep (configs/ablations/cv-<network>-grouped-aries.yaml: cv-best-grouped's
 * folds, seed and recipe with only the network changed, tests/architecture_cv_test.ts).
 * MedMamba-T, the seed study's network, has a row in the first table only (size and speed).
 *
 * Per network: parameters, analytic forward FLOPs, training and inference speed beside PyTorch
 * (the newest bench JSON that measured it), the cross-validation's figures as mean ± std over
 * folds and pooled over the out-of-fold predictions with 95% intervals over sky groups, and the
 * locked test set's figures where the sweep was scored on it. Between networks, each against
 * MedMamba `cpu`: the paired differences of accuracy over the same folds, and McNemar's test on
 * the same images, out of fold and on the test set.
 *
 * Every number comes from a published file: cv.json where it has it (accuracy, balanced
 * accuracy, ROC-AUC, the pooled operating points), the folds' predictions.csv for what it lacks
 * (the operating points per fold and their pooled intervals, by cv.ts's own bootstrap), and
 * test-scores.json / test-predictions.csv for the test set. Where the folds trained with
 * balanced classes, the prior-corrected figures of cv.json are the ones decided on (as the test
 * scoring decides), and the row says so.
 * @module
 */
import { join, relative, resolve } from "node:path";
import { StarmambaError } from "../util/errors.ts";
import { exists, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";
import { argmaxRows } from "../metrics/metrics.ts";
import { mcnemar, type McNemarResult, meanStd, type Stat } from "../metrics/stats.ts";
import {
  clusterBootstrap,
  completenessAtPurity,
  type Interval,
  purityAtCompleteness,
} from "../metrics/operating.ts";
import { BINARY_FIGURES, type BinaryFigures, OPERATING_TARGETS } from "../metrics/bootstrap.ts";
import type { NetworkDescription } from "../model/network.ts";
import {
  correctedProbs,
  type CvSummary,
  type FoldPredictions as CvFoldPredictions,
  readFoldPredictions as readCvFoldPredictions,
} from "./cv.ts";
import { readJsonRecord } from "./write.ts";
import { readRunRecord } from "./run_record.ts";
import type { PriorCorrection } from "./prior.ts";
import type { RunEntry } from "./sweep.ts";
import { recordIfPublished, shown } from "./manifest.ts";
import { type IntervalRow, intervalsSvg } from "./plots.ts";
import {
  ENSEMBLE,
  type FigureSet,
  parseTestPredictions,
  TEST_PREDICTIONS_FILE,
  TEST_RULES,
  TEST_SCORES_FILE,
  type TestScores,
} from "./test_scoring.ts";

/** Schema of architectures.json. */
export const ARCHITECTURES_SCHEMA = "starmamba.architectures/1";

/** One network of the table: its name, its cross-validation sweep and its bench name. */
export interface ArchitectureNetwork {
  /** Short key (JSON, the comparison rows). */
  key: string;
  /** How the tables name it. */
  label: string;
  /** Its sweep: configs/ablations/<sweep>.yaml, published as results/ablations/<sweep>/v<N>. */
  sweep: string;
  /** Its name in bench/networks.ts and in the bench JSON figures (`<bench>.train.images_per_s`). */
  bench: string;
}

/**
 * The networks, reference first. ResNet-18's sweep trains torchvision's stem (model.stem:
 * imagenet, configs/aries/resnet18-grouped.yaml), whose bench name is `resnet18-imagenet`.
 */
export const ARCHITECTURES: readonly ArchitectureNetwork[] = [
  { key: "cpu", label: "MedMamba `cpu` preset", sweep: "cv-best-grouped-aries", bench: "cpu" },
  {
    key: "conv-only",
    label: "MedMamba `cpu`, conv branch only",
    sweep: "cv-conv-only-grouped-aries",
    bench: "cpu-conv-only",
  },
  {
    key: "ssm-only",
    label: "MedMamba `cpu`, SS2D branch only",
    sweep: "cv-ssm-only-grouped-aries",
    bench: "cpu-ssm-only",
  },
  {
    key: "convnet",
    label: "ConvNet (Kim & Brunner 2017)",
    sweep: "cv-convnet-grouped-aries",
    bench: "convnet",
  },
  {
    key: "resnet18",
    label: "ResNet-18 (torchvision stem)",
    sweep: "cv-resnet18-grouped-aries",
    bench: "resnet18-imagenet",
  },
];

/** A network the table measures for size and speed only: no cross-validation of it is run. */
export interface BenchOnlyNetwork {
  key: string;
  label: string;
  /** Its name in bench/networks.ts and the bench JSON. */
  bench: string;
  /** Why it has no sweep (the table says so beside its speeds). */
  why: string;
}

/**
 * MedMamba-T, the seed study's network, is in the networks table for its size and speed (issue
 * 31 lists it) but not cross-validated: at 35 training img/s on 2 cores a 48-epoch fold would
 * take ~4× the `cpu` preset's, and the `cpu` preset already matches its accuracy on the seed
 * study's protocol (docs/results.md).
 */
export const BENCH_ONLY_NETWORKS: readonly BenchOnlyNetwork[] = [
  {
    key: "tiny",
    label: "MedMamba-T (the seed study's)",
    bench: "tiny",
    why: "not cross-validated (~4× the `cpu` preset's time a fold on 2 cores)",
  },
];

/** The network every other is compared against (its key). */
export const REFERENCE_NETWORK = "cpu";

/**
 * The bootstrap of the pooled operating points' intervals: cv.ts's (protocolMetrics calls
 * clusterBootstrap with its defaults, 1000 replicates, seed 1), so they come from the very
 * replicates of cv.json's accuracy, balanced accuracy and ROC-AUC intervals.
 */
export const CV_BOOTSTRAP = { replicates: 1000, seed: 1 } as const;

/**
 * Which test-set column McNemar pairs: the ensemble of the fold models. It is the rule fixed
 * before any ensemble was scored (results/README.md, TEST_RULES.ensemble) and gives one decision
 * per image, so each test image is one pair; five per-fold tests would be correlated (the same
 * images, overlapping training sets) and need a correction for multiplicity.
 */
export const TEST_MCNEMAR_COLUMN = ENSEMBLE;

/** A figure's name: accuracy … completeness_at_purity (test_scoring's names). */
export type Figure = keyof BinaryFigures;

/** What the bench says of a network, from the newest bench JSON that measured it. */
export interface BenchRow {
  /** The bench JSON, relative to the bench folder. */
  file: string;
  /** Our training and inference images per second. */
  train: number;
  infer: number;
  /** PyTorch's, measured in the same sitting (null: that file ran no peer for it). */
  peer_train: number | null;
  peer_infer: number | null;
  /**
   * The bench's own speed ratios (ours ÷ PyTorch's: with --rounds, the median of the per-round
   * ratios, which need not equal the ratio of the medians); null where the file has none.
   */
  ratio_train: number | null;
  ratio_infer: number | null;
}

/** One fold's figures (decided as the row is: prior-corrected where the folds were). */
export type FoldFigures = { fold: number; n: number } & BinaryFigures;

/** The cross-validation figures of one network. */
export interface CvFigures {
  /** The sweep version folder, relative to the results folder. */
  dir: string;
  k: number;
  /** Whether these are cv.json's prior-corrected figures (folds trained with balanced classes). */
  prior_corrected: boolean;
  folds: FoldFigures[];
  /** Mean ± sample std over folds. */
  over_folds: Record<Figure, Stat>;
  /** Pooled out-of-fold images and their sky groups. */
  pooled_n: number;
  groups: number;
  /** Each figure on the pooled predictions with its 95% interval over sky groups. */
  pooled: Record<Figure, Interval>;
}

/** The locked test set's figures of one network: the ensemble's, with both intervals. */
export interface TestRow {
  /** test-scores.json, relative to the results folder. */
  file: string;
  images: number;
  groups: number;
  /** The ensemble of the fold models: value, [images] and {sky groups} intervals. */
  ensemble: FigureSet;
  /** The fold models' spread (training between folds, not an uncertainty). */
  over_models: Record<Figure, Stat>;
}

/** One row of the table. */
export interface ArchitectureRow {
  key: string;
  label: string;
  sweep: string;
  bench_name: string;
  /** Whether the sweep's cv.json is published. */
  published: boolean;
  /** The command that runs (or resumes) the sweep. */
  run_command: string;
  /** Before cv.json: how many of its folds are published, e.g. "2 of 5 folds"; else null. */
  progress: string | null;
  /** Trainable parameters; where the number comes from. */
  params: number | null;
  params_source: string;
  /** Analytic forward GFLOP per 3×64×64 image (bench/networks.ts). */
  forward_gflop: number;
  /** A difference between the trained network and the bench's, or null. */
  network_note: string | null;
  bench: BenchRow | null;
  cv: CvFigures | null;
  test: TestRow | null;
  /** The command that scores the published sweep on the test set, while it is not scored. */
  test_command: string | null;
}

/** McNemar's test on paired decisions, with the images paired. */
export type PairedMcNemar = McNemarResult & { n: number };

/** One network against the reference. */
export interface PairedComparison {
  key: string;
  against: string;
  /** Why the comparison was refused (image sets or folds differ), or null. */
  refused: string | null;
  /** Per fold: accuracy of the network minus the reference's. */
  folds: { fold: number; difference: number }[];
  /** Mean ± std of those differences. */
  accuracy_difference: Stat | null;
  /** b: the network right, the reference wrong; c: the reverse. Out-of-fold predictions. */
  mcnemar_oof: PairedMcNemar | null;
  /** The same on the test set's {@link TEST_MCNEMAR_COLUMN} column (null: one is not scored). */
  mcnemar_test: PairedMcNemar | null;
}

/** architectures.json. */
export interface ArchitectureTable {
  schema: string;
  reference: string;
  rules: Record<string, string>;
  networks: ArchitectureRow[];
  /** The networks of the first table only: size, cost and speed, no sweep. */
  bench_only: BenchOnlyRow[];
  comparisons: PairedComparison[];
}

/** A bench-only network's row: what the networks table prints. */
export interface BenchOnlyRow {
  key: string;
  label: string;
  bench_name: string;
  why: string;
  /** Trainable parameters, counted from bench/networks.ts's description. */
  params: number;
  forward_gflop: number;
  bench: BenchRow | null;
}

/** What the table needs beside the results folder: the bench's networks and its JSON files. */
export interface ArchitectureSources {
  /** The bench JSON folder (bench/results); null: no speeds. */
  benchDir: string | null;
  /** A bench network's description and analytic forward FLOPs (bench/networks.ts). */
  network: (benchName: string) => { description: NetworkDescription; forwardFlops: number };
  /** Its trainable parameters, asked only where no published run records them. */
  countParams: (description: NetworkDescription) => number;
  /** The networks (default {@link ARCHITECTURES}); the first is the reference. */
  networks?: readonly ArchitectureNetwork[];
  /** Networks measured for size and speed only (default {@link BENCH_ONLY_NETWORKS}). */
  benchOnly?: readonly BenchOnlyNetwork[];
}

/** The rules architectures.json states beside its numbers. */
export const ARCHITECTURE_RULES: Record<string, string> = {
  over_folds: "mean ± sample std over the folds of each figure of the fold's own held-out images",
  pooled: "every non-test image predicted once, by the fold that held it out; 95% percentile " +
    `intervals by a bootstrap over sky groups (${CV_BOOTSTRAP.replicates} replicates, seed ` +
    `${CV_BOOTSTRAP.seed}: cv.ts's), the operating points' from the same replicates`,
  operating_points: `galaxy purity at the most selective threshold with galaxy completeness ≥ ` +
    `${OPERATING_TARGETS.completeness}; star completeness at the lowest threshold with star ` +
    `purity ≥ ${OPERATING_TARGETS.purity}`,
  paired_folds: "accuracy of the network minus the reference's on the same fold (the same " +
    "held-out images, checked), mean ± sample std over folds",
  mcnemar: "b = images the network gets right and the reference wrong, c = the reverse; exact " +
    "binomial p below 25 discordant pairs, else continuity-corrected chi-square; pairs matched " +
    "by file, refused when the image sets differ",
  mcnemar_test: `the test set's ${TEST_MCNEMAR_COLUMN} column (${TEST_RULES.ensemble}); ` +
    TEST_RULES.decision,
  speed: "the newest bench JSON that measured the network; PyTorch from that same file (the " +
    "same sitting), else —",
};

// ---- reading a published cross-validation ----

/** One fold's out-of-fold predictions, decided as the row is (prior-corrected where cv.json is). */
/** A fold's predictions (cv.ts's reading, prior-corrected where the fold has a correction). */
interface FoldPredictions extends CvFoldPredictions {
  /** The fold's index. */
  fold: number;
}

/** A published cross-validation sweep, read. */
interface Sweep {
  /** The version folder relative to the results folder, and absolute. */
  dir: string;
  abs: string;
  cv: CvSummary;
  folds: FoldPredictions[];
  /** The first fold's run folder (its result.json names the network). */
  runDir: string;
}

/**
 * The newest version folder of `sweep` that holds `file` (cv.json, sweep.json), relative to
 * `results`; null: none.
 */
function newestVersionWith(results: string, sweep: string, file: string): string | null {
  const base = join(results, "ablations", sweep);
  if (!exists(base)) return null;
  const versions = [...Deno.readDirSync(base)]
    .filter((e) => e.isDirectory && /^v\d+$/.test(e.name) && exists(join(base, e.name, file)))
    .map((e) => Number(e.name.slice(1))).sort((a, b) => b - a);
  return versions.length ? join("ablations", sweep, `v${versions[0]}`) : null;
}

/** The newest version folder of `sweep` with a cv.json, relative to `results`; null: none. */
function newestCvDir(results: string, sweep: string): string | null {
  return newestVersionWith(results, sweep, "cv.json");
}

/**
 * How far an unfinished sweep is: its newest version folder's finished runs (those with a
 * result.json) of all its sweep.json lists, e.g. "2 of 5 folds"; null when nothing is published.
 */
function sweepProgress(results: string, sweep: string): string | null {
  const version = newestVersionWith(results, sweep, "sweep.json");
  if (version === null) return null;
  const dir = join(results, version);
  const state = readJsonRecord(join(dir, "sweep.json")) as {
    runs?: Record<string, RunEntry>;
    spec?: { variants?: unknown[]; seeds?: unknown[] };
  };
  const runs = Object.values(state.runs ?? {});
  const done = runs.filter((r) => r.run_dir && exists(join(dir, r.run_dir, "result.json")));
  // The planned runs: every variant × seed of the spec (runs lists only those begun so far).
  const planned = (state.spec?.variants?.length ?? 0) * (state.spec?.seeds?.length ?? 0);
  const total = Math.max(planned, runs.length);
  return total ? `${done.length} of ${total} folds` : null;
}

/**
 * A fold run's predictions.csv as lib/results/cv.ts reads it (the file's group column where it
 * has one, else the sky group of the file name), with `correction` applied to the probabilities.
 */
function readFoldPredictions(
  runDir: string,
  fold: number,
  correction: PriorCorrection | null,
): FoldPredictions {
  const path = join(runDir, "predictions.csv");
  if (!exists(path)) {
    throw new StarmambaError(
      `${shown(path)} is missing: the fold's out-of-fold predictions; restore it with git ` +
        "checkout, or check the folder with deno task verify-results",
    );
  }
  const read = readCvFoldPredictions(runDir);
  const classNames = read.classNames;
  if (!classNames.includes("galaxy") || !classNames.includes("star") || classNames.length !== 2) {
    throw new StarmambaError(
      `${shown(path)}: columns ${classNames.map((c) => `p_${c}`).join(", ")}; the architecture ` +
        "table compares galaxy/star classifiers (p_galaxy, p_star)",
    );
  }
  // cv.ts's own reader and correction: the table cannot read a fold other than cv.json did.
  return { ...read, fold, probs: correctedProbs(read, correction) };
}

/** The published cross-validation of `sweep` (newest version), or null when there is none. */
function readSweep(results: string, sweep: string): Sweep | null {
  const dir = newestCvDir(results, sweep);
  if (dir === null) return null;
  const abs = join(results, dir), path = join(abs, "cv.json");
  const cv = readJsonRecord(path) as unknown as CvSummary;
  if (!Array.isArray(cv.folds) || cv.folds.length === 0 || !cv.over_folds) {
    throw new StarmambaError(
      `${shown(path)}: no folds or over_folds; restore it with git checkout, or check the ` +
        "folder with deno task verify-results",
    );
  }
  const correction = (fold: number) =>
    cv.prior_corrected?.folds?.find((f) => f.fold === fold)?.prior_correction ?? null;
  const folds = cv.folds.map((f) =>
    readFoldPredictions(resolve(abs, f.run), f.fold, correction(f.fold))
  );
  return { dir, abs, cv, folds, runDir: resolve(abs, cv.folds[0].run) };
}

// ---- the figures ----

/** P(galaxy), P(star) and the true classes of predictions (rows of two class probabilities). */
function scores(p: Pick<FoldPredictions, "classNames" | "labels" | "probs">) {
  const gal = p.classNames.indexOf("galaxy"), star = p.classNames.indexOf("star");
  const k = p.classNames.length;
  return {
    pGal: p.labels.map((_, i) => p.probs[i * k + gal]),
    pStar: p.labels.map((_, i) => p.probs[i * k + star]),
    isGal: p.labels.map((l) => l === gal),
    isStar: p.labels.map((l) => l === star),
  };
}

/** Galaxy purity at completeness 0.9 and star completeness at purity 0.99 of `idx` (repeats count). */
function operatingStats(s: ReturnType<typeof scores>) {
  const pick = <T>(xs: T[], idx: number[]) => idx.map((i) => xs[i]);
  return {
    purity_at_completeness: (idx: number[]) =>
      purityAtCompleteness(pick(s.pGal, idx), pick(s.isGal, idx), OPERATING_TARGETS.completeness)
        .purity,
    completeness_at_purity: (idx: number[]) =>
      completenessAtPurity(pick(s.pStar, idx), pick(s.isStar, idx), OPERATING_TARGETS.purity)
        .completeness,
  };
}

/** All indices of n images. */
const everyIndex = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The pooled predictions of every fold, in fold order. */
function pooledPredictions(s: Sweep): FoldPredictions {
  return {
    fold: -1,
    classNames: s.folds[0].classNames,
    files: s.folds.flatMap((f) => f.files),
    groups: s.folds.flatMap((f) => f.groups),
    labels: s.folds.flatMap((f) => f.labels),
    probs: s.folds.flatMap((f) => f.probs),
  };
}

/**
 * The pooled operating points with their intervals over sky groups: cv.ts's bootstrap (same
 * replicates, seed and draws). cv.json records the values; a value the predictions do not give
 * means one of the files was edited, and is refused.
 */
function pooledOperatingPoints(
  s: Sweep,
): Record<"purity_at_completeness" | "completeness_at_purity", Interval> {
  const p = pooledPredictions(s);
  const { replicates, seed } = CV_BOOTSTRAP;
  const boot = clusterBootstrap(p.groups, operatingStats(scores(p)), replicates, seed);
  const pooled = (s.cv.prior_corrected ? s.cv.prior_corrected.pooled : s.cv.pooled)!;
  const recorded = {
    purity_at_completeness: pooled.galaxy_purity_at_completeness?.[
      String(OPERATING_TARGETS.completeness)
    ]?.purity,
    completeness_at_purity: pooled.star_completeness_at_purity?.[
      String(OPERATING_TARGETS.purity)
    ]?.completeness,
  };
  for (const [key, rec] of Object.entries(recorded)) {
    const got = boot[key].value;
    if (rec !== undefined && rec !== null && Math.abs(rec - got) > 1e-12) {
      throw new StarmambaError(
        `${shown(join(s.abs, "cv.json"))}: pooled ${key} ${rec}, but its folds' ` +
          `predictions.csv give ${got}: one was edited after it was written (git checkout ` +
          "restores it; deno task verify-results checks the folder)",
      );
    }
  }
  return {
    purity_at_completeness: boot.purity_at_completeness,
    completeness_at_purity: boot.completeness_at_purity,
  };
}

/** The cross-validation figures of a sweep: cv.json's where it has them, the rest computed. */
function cvFigures(s: Sweep): CvFigures {
  const c = s.cv.prior_corrected;
  const recorded = c ? c.folds : s.cv.folds;
  const over = c ? c.over_folds : s.cv.over_folds;
  const pooled = c ? c.pooled : s.cv.pooled;
  if (!pooled) {
    throw new StarmambaError(
      `${shown(join(s.abs, "cv.json"))}: no pooled figures (not a galaxy/star classification)`,
    );
  }
  const folds: FoldFigures[] = s.folds.map((p) => {
    const r = recorded.find((f) => f.fold === p.fold)!;
    const op = operatingStats(scores(p)), all = everyIndex(p.files.length);
    return {
      fold: p.fold,
      n: r.n,
      accuracy: r.accuracy,
      balanced_accuracy: r.balanced_accuracy,
      roc_auc: r.roc_auc,
      purity_at_completeness: op.purity_at_completeness(all),
      completeness_at_purity: op.completeness_at_purity(all),
    };
  }).sort((a, b) => a.fold - b.fold);
  const stat = (k: Figure) => meanStd(folds.map((f) => f[k]));
  return {
    dir: s.dir,
    k: s.cv.k,
    prior_corrected: c !== null && c !== undefined,
    folds,
    over_folds: {
      accuracy: over.accuracy,
      balanced_accuracy: over.balanced_accuracy,
      roc_auc: over.roc_auc,
      purity_at_completeness: stat("purity_at_completeness"),
      completeness_at_purity: stat("completeness_at_purity"),
    },
    pooled_n: s.cv.pooled_n,
    groups: pooled.groups,
    pooled: { ...pooled.intervals, ...pooledOperatingPoints(s) },
  };
}

/** The test set's figures of a scored sweep (test-scores.json), or null when it is not scored. */
function testRow(s: Sweep): TestRow | null {
  const path = join(s.abs, TEST_SCORES_FILE);
  if (!exists(path)) return null;
  const t = readJsonRecord(path) as unknown as TestScores;
  const decided = t.figures?.decided;
  const ensemble = decided?.models?.[ENSEMBLE];
  if (!ensemble) {
    throw new StarmambaError(
      `${shown(path)}: no figures.decided.models.${ENSEMBLE}; restore it with git checkout, or ` +
        "check the folder with deno task verify-results",
    );
  }
  return {
    file: join(s.dir, TEST_SCORES_FILE),
    images: t.figures.images,
    groups: t.figures.groups,
    ensemble,
    over_models: decided.over_models,
  };
}

// ---- the bench and the network ----

/** A bench JSON's headline figures (schema starmamba-bench/*), with its file and date. */
export interface BenchFile {
  /** File name in the bench folder. */
  file: string;
  /** createdAt ("" when absent). */
  created: string;
  figures: Record<string, unknown>;
}

/**
 * The bench JSON files of `dir` that hold headline figures (schema starmamba-bench/1 or /2),
 * newest first (createdAt, then file name); other JSON there (A/B sittings, ONNX runs) is left
 * out.
 */
export function readBenchFiles(dir: string | null): BenchFile[] {
  if (dir === null || !exists(dir)) return [];
  const out: BenchFile[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (!e.isFile || !e.name.endsWith(".json")) continue;
    const j = readJsonRecord(join(dir, e.name));
    const figures = j.figures;
    if (typeof j.schema !== "string" || !j.schema.startsWith("starmamba-bench/")) continue;
    if (typeof figures !== "object" || figures === null) continue;
    const created = typeof j.createdAt === "string" ? j.createdAt : "";
    out.push({ file: e.name, created, figures: figures as Record<string, unknown> });
  }
  const key = (b: BenchFile) => `${b.created}\u0000${b.file}`;
  return out.sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0));
}

/**
 * The speeds of bench network `name` from the newest file that measured it (training and
 * inference), and PyTorch's from that same file: a ratio across sittings would compare two
 * machines' loads, not two implementations. Null when no file measured it.
 */
export function benchRow(files: BenchFile[], name: string): BenchRow | null {
  for (const b of files) {
    const num = (key: string) => {
      const v = b.figures[key];
      return typeof v === "number" && Number.isFinite(v) ? v : null;
    };
    const train = num(`${name}.train.images_per_s`), infer = num(`${name}.infer.images_per_s`);
    if (train === null || infer === null) continue;
    return {
      file: b.file,
      train,
      infer,
      peer_train: num(`peer.${name}.train.images_per_s`),
      peer_infer: num(`peer.${name}.infer.images_per_s`),
      ratio_train: num(`ratio.${name}.train`),
      ratio_infer: num(`ratio.${name}.infer`),
    };
  }
  return null;
}

/** JSON with object keys sorted, so two configs compare by content. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (typeof v === "object" && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)}}`;
  }
  return JSON.stringify(v);
}

/**
 * Parameters, FLOPs and the check that the trained network is the bench's: a published run's
 * result.json gives the parameters of the network as trained; an unpublished one's are counted
 * from bench/networks.ts's description.
 */
function networkFacts(
  results: string,
  net: ArchitectureNetwork,
  sweep: Sweep | null,
  sources: ArchitectureSources,
): Pick<ArchitectureRow, "params" | "params_source" | "forward_gflop" | "network_note"> {
  const bench = sources.network(net.bench);
  const forward_gflop = bench.forwardFlops / 1e9;
  if (!sweep) {
    return {
      params: sources.countParams(bench.description),
      params_source: `bench/networks.ts ${net.bench}, counted`,
      forward_gflop,
      network_note: null,
    };
  }
  const r = readRunRecord(sweep.runDir, "trained");
  const trained = { arch: r.model.arch, config: r.model.config };
  const same = canonical(trained) === canonical(bench.description);
  return {
    params: r.model.parameters,
    params_source: `${relative(results, sweep.runDir)}/result.json`,
    forward_gflop,
    network_note: same ? null : `the trained network ${canonical(trained)} is not bench ` +
      `network ${net.bench} ${canonical(bench.description)}: FLOPs and speeds are the bench's`,
  };
}

// ---- between networks ----

/** Refuses two lists of images that are not the same set (one line naming the difference). */
function checkSameImages(a: string[], b: string[], what: string): void {
  const sa = new Set(a), sb = new Set(b);
  if (sa.size !== a.length || sb.size !== b.length) {
    throw new StarmambaError(`${what}: an image is listed twice; McNemar pairs each image once`);
  }
  const onlyA = a.filter((f) => !sb.has(f)), onlyB = b.filter((f) => !sa.has(f));
  if (onlyA.length || onlyB.length) {
    const eg = (xs: string[]) => (xs.length ? ` (e.g. ${xs[0]})` : "");
    throw new StarmambaError(
      `${what}: the image sets differ, ${onlyA.length} only in the first${eg(onlyA)} and ` +
        `${onlyB.length} only in the second${eg(onlyB)}; paired tests need the same images, so ` +
        "train both on the same data and folds",
    );
  }
}

/** Whether each image's arg-max decision is its label, by file. */
function correctByFile(p: FoldPredictions): Map<string, boolean> {
  const pred = argmaxRows(p.probs, p.classNames.length);
  return new Map(p.files.map((f, i) => [f, pred[i] === p.labels[i]]));
}

/** McNemar of `a` against `b` on the same files (b: a right, b wrong; c: the reverse). */
function pairedMcNemar(a: Map<string, boolean>, b: Map<string, boolean>): PairedMcNemar {
  const files = [...a.keys()];
  return { ...mcnemar(files.map((f) => a.get(f)!), files.map((f) => b.get(f)!)), n: files.length };
}

/**
 * Whether each test image's {@link TEST_MCNEMAR_COLUMN} decision is its label, by file: the
 * mean of the fold columns (as the CSV's writer sums them), galaxy iff ≥ 0.5. Null when the
 * sweep has no test-predictions.csv.
 */
function testCorrect(s: Sweep): Map<string, boolean> | null {
  const path = join(s.abs, TEST_PREDICTIONS_FILE);
  if (!exists(path)) return null;
  const t = parseTestPredictions(Deno.readTextFileSync(path), shown(path));
  const m = t.models;
  const p = t.files.map((_, i) => m.reduce((sum, c) => sum + c.p[i], 0) / m.length);
  checkSameImages(t.files, t.files, shown(path)); // a file listed twice would pair twice
  return new Map(t.files.map((f, i) => [f, (p[i] >= 0.5) === (t.labels[i] === t.positive)]));
}

/**
 * `net` against `ref`: per-fold accuracy differences on the same folds, McNemar on the pooled
 * out-of-fold predictions and on the test set. Refuses (StarmambaError, one line) when the
 * images or their folds differ.
 */
function compareSweeps(
  net: Sweep,
  ref: Sweep,
  what: string,
): Omit<PairedComparison, "key" | "against" | "refused"> {
  const foldOf = (s: Sweep) => new Map(s.folds.flatMap((f) => f.files.map((x) => [x, f.fold])));
  const fn = foldOf(net), fr = foldOf(ref);
  checkSameImages([...fn.keys()], [...fr.keys()], `${what}, out-of-fold`);
  const moved = [...fn].find(([f, k]) => fr.get(f) !== k);
  if (moved) {
    throw new StarmambaError(
      `${what}: ${moved[0]} is held out by fold ${moved[1]} in the first and fold ` +
        `${fr.get(moved[0])} in the second; paired differences need the same folds`,
    );
  }
  const acc = (s: Sweep) => cvFoldsDecided(s).map((f) => [f.fold, f.accuracy] as const);
  const refAcc = new Map(acc(ref));
  const folds = acc(net).map(([fold, a]) => ({ fold, difference: a - refAcc.get(fold)! }))
    .sort((a, b) => a.fold - b.fold);
  const oof = (s: Sweep) => correctByFile(pooledPredictions(s));
  const tn = testCorrect(net), tr = testCorrect(ref);
  if (tn && tr) checkSameImages([...tn.keys()], [...tr.keys()], `${what}, test set`);
  return {
    folds,
    accuracy_difference: meanStd(folds.map((f) => f.difference)),
    mcnemar_oof: pairedMcNemar(oof(net), oof(ref)),
    mcnemar_test: tn && tr ? pairedMcNemar(tn, tr) : null,
  };
}

/** cv.json's per-fold figures as decided (the prior-corrected ones where it has them). */
function cvFoldsDecided(s: Sweep): { fold: number; accuracy: number }[] {
  return s.cv.prior_corrected ? s.cv.prior_corrected.folds : s.cv.folds;
}

/** One network against the reference, the refusal as a line instead of a failure of the table. */
function comparison(
  net: ArchitectureNetwork,
  s: Sweep,
  ref: ArchitectureNetwork,
  r: Sweep,
): PairedComparison {
  const head = { key: net.key, against: ref.key };
  try {
    return { ...head, refused: null, ...compareSweeps(s, r, `${net.sweep} against ${ref.sweep}`) };
  } catch (e) {
    if (!(e instanceof StarmambaError)) throw e;
    return {
      ...head,
      refused: e.message,
      folds: [],
      accuracy_difference: null,
      mcnemar_oof: null,
      mcnemar_test: null,
    };
  }
}

// ---- the table ----

/**
 * The architecture table of the results folder `results`: a row per network (published or
 * "not run yet") and each published network against the reference.
 *
 * @example Render the table of the published results (experiments/compare.ts does this)
 * ```ts
 * import { architectureTable, architecturesMarkdown } from "./lib/results/architectures.ts";
 * import { benchNetwork } from "./bench/networks.ts";
 * const table = architectureTable("results", {
 *   benchDir: "bench/results",
 *   network: (name) => {
 *     const b = benchNetwork(name);
 *     return { description: b.description, forwardFlops: b.flops.forward };
 *   },
 *   countParams: () => NaN, // compare.ts builds the network (createNetwork) to count them
 * });
 * console.log(architecturesMarkdown(table));
 * ```
 */
export function architectureTable(
  results: string,
  sources: ArchitectureSources,
): ArchitectureTable {
  const networks = sources.networks ?? ARCHITECTURES;
  const benchFiles = readBenchFiles(sources.benchDir);
  const sweeps = networks.map((n) => readSweep(results, n.sweep));
  const rows = networks.map((net, i): ArchitectureRow => {
    const s = sweeps[i];
    return {
      key: net.key,
      label: net.label,
      sweep: net.sweep,
      bench_name: net.bench,
      published: s !== null,
      run_command: `deno task ablate configs/ablations/${net.sweep}.yaml --publish`,
      progress: s ? null : sweepProgress(results, net.sweep),
      ...networkFacts(results, net, s, sources),
      bench: benchRow(benchFiles, net.bench),
      cv: s ? cvFigures(s) : null,
      test: s ? testRow(s) : null,
      test_command: s && !exists(join(s.abs, TEST_SCORES_FILE))
        ? `deno task evaluate --cv results/${s.dir} --test`
        : null,
    };
  });
  const [ref, refSweep] = [networks[0], sweeps[0]];
  const comparisons = refSweep
    ? networks.slice(1).flatMap((n, i) => {
      const s = sweeps[i + 1];
      return s ? [comparison(n, s, ref, refSweep)] : [];
    })
    : [];
  const bench_only = (sources.benchOnly ?? BENCH_ONLY_NETWORKS).map((n): BenchOnlyRow => {
    const b = sources.network(n.bench);
    return {
      key: n.key,
      label: n.label,
      bench_name: n.bench,
      why: n.why,
      params: sources.countParams(b.description),
      forward_gflop: b.forwardFlops / 1e9,
      bench: benchRow(benchFiles, n.bench),
    };
  });
  return {
    schema: ARCHITECTURES_SCHEMA,
    reference: ref.key,
    rules: ARCHITECTURE_RULES,
    networks: rows,
    bench_only,
    comparisons,
  };
}

// ---- Markdown ----

/** A percentage with one decimal, "—" for a missing number. */
const pct = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "—" : (100 * x).toFixed(1);
/** A ROC-AUC with three decimals. */
const auc = (x: number | null | undefined): string =>
  x === null || x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(3);
/** How a figure is written: ROC-AUC as a number, the others as percentages. */
const fmtOf = (k: Figure) => (k === "roc_auc" ? auc : pct);
/** Mean ± std ("—" without a mean, the mean alone without a std). */
const ms = (st: Stat | null, f: (x: number | null) => string): string =>
  !st || st.mean === null ? "—" : st.std === null ? f(st.mean) : `${f(st.mean)} ± ${f(st.std)}`;
/** A value and its interval's bounds. */
type Bounds = { value: number; lo: number; hi: number };

/** A value and its 95% interval. */
const ci = (i: Bounds, f: (x: number) => string): string =>
  `${f(i.value)} [${f(i.lo)}, ${f(i.hi)}]`;
/** "p < 0.001" or "p = 0.012": a McNemar p-value as the table prints it. */
const pText = (p: number): string => (p < 0.001 ? "p < 0.001" : `p = ${p.toPrecision(2)}`);
/** A difference of shares in percentage points, signed. */
const points = (x: number | null): string =>
  x === null || !Number.isFinite(x) ? "—" : `${x >= 0 ? "+" : "−"}${Math.abs(100 * x).toFixed(1)}`;

/** The figures' column heads. */
const FIGURE_HEADS = "accuracy % | balanced % | ROC-AUC | galaxy purity % at completeness " +
  `${OPERATING_TARGETS.completeness} | star completeness % at purity ${OPERATING_TARGETS.purity}`;

/** A row's label, marked where its figures are prior-corrected. */
function rowLabel(r: ArchitectureRow): string {
  return r.cv?.prior_corrected ? `${r.label} (prior-corrected)` : r.label;
}

/** The first section: size, cost and speed. */
function networksSection(t: ArchitectureTable): string[] {
  // The ratio as the bench printed it (the same figure in both files), else ours ÷ PyTorch's.
  const speed = (ours: number, peer: number | null, ratio: number | null) =>
    peer === null
      ? `${ours.toFixed(1)} (PyTorch —)`
      : `${ours.toFixed(1)} (PyTorch ${peer.toFixed(1)}, ${(ratio ?? ours / peer).toFixed(2)}×)`;
  const notes = t.networks.filter((r) => r.network_note).map((r) =>
    `- ${r.label}: ${r.network_note}`
  );
  return [
    "## The networks",
    "",
    "Parameters: trainable, from the published fold run's result.json (the network as trained), " +
    "else counted from bench/networks.ts. FLOPs: the analytic forward pass of one 3×64×64 image " +
    "(bench/flops.ts: 2 per multiply-add, plus the selective scan). Speeds: images/s of " +
    "`deno task bench`, from the newest bench JSON (bench/results/) that measured the network, " +
    "beside its PyTorch equivalent from the same file (the same sitting); the ratio is the " +
    "bench's own (over several rounds, the median of the per-round ratios). A network without " +
    "a sweep is measured here only.",
    "",
    "| network | sweep | parameters | forward GFLOP/img | training img/s | inference img/s | bench file |",
    "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ...[...t.networks, ...t.bench_only].map((r) =>
      `| ${r.label} | ${"why" in r ? r.why : r.sweep} | ${
        r.params === null ? "—" : `${(r.params / 1e6).toFixed(2)} M`
      } | ${r.forward_gflop.toFixed(3)} | ${
        r.bench ? speed(r.bench.train, r.bench.peer_train, r.bench.ratio_train) : "—"
      } | ${r.bench ? speed(r.bench.infer, r.bench.peer_infer, r.bench.ratio_infer) : "—"} | ${
        r.bench?.file ?? "—"
      } |`
    ),
    ...(notes.length ? ["", ...notes] : []),
    "",
  ];
}

/** The cell of a network without a cv.json: how far its sweep is, and the command that runs it. */
function notYet(r: ArchitectureRow): string {
  return r.progress
    ? `running: ${r.progress} published; \`${r.run_command}\` resumes it`
    : `not run yet: \`${r.run_command}\``;
}

/** The cross-validation's mean ± std over folds, and its pooled figures with intervals. */
function cvSection(t: ArchitectureTable): string[] {
  const missing = (r: ArchitectureRow, cols: number) =>
    `| ${r.label} | ${notYet(r)} |${" |".repeat(cols)}`;
  const link = (r: ArchitectureRow) => `[${rowLabel(r)}](${r.cv!.dir}/cv.md)`;
  return [
    "## Cross-validation: mean ± std over folds",
    "",
    "Each fold scored on its own held-out sky groups at the last epoch (nothing chosen on them); " +
    "mean ± sample std over folds. Operating points: galaxy purity at the most selective " +
    `threshold that finds ${OPERATING_TARGETS.completeness} of the galaxies, star completeness ` +
    `at the lowest threshold whose stars are still ${OPERATING_TARGETS.purity} pure.`,
    "",
    `| network | folds | ${FIGURE_HEADS} |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...t.networks.map((r) =>
      r.cv
        ? `| ${link(r)} | ${r.cv.folds.length} | ${
          BINARY_FIGURES.map((k) => ms(r.cv!.over_folds[k], fmtOf(k))).join(" | ")
        } |`
        : missing(r, 5)
    ),
    "",
    "## Cross-validation: pooled out-of-fold predictions, 95% intervals over sky groups",
    "",
    "Every image outside the test set predicted once, by the fold that held it out; intervals " +
    `by a bootstrap over sky groups (${CV_BOOTSTRAP.replicates} replicates, seed ` +
    `${CV_BOOTSTRAP.seed}, cv.ts's; the operating points' from the same replicates).`,
    "",
    `| network | images | sky groups | ${FIGURE_HEADS} |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...t.networks.map((r) =>
      r.cv
        ? `| ${rowLabel(r)} | ${r.cv.pooled_n} | ${r.cv.groups} | ${
          BINARY_FIGURES.map((k) => ci(r.cv!.pooled[k], fmtOf(k))).join(" | ")
        } |`
        : missing(r, 6)
    ),
    "",
  ];
}

/** The locked test set: each network's ensemble, with both intervals. */
function testSection(t: ArchitectureTable): string[] {
  const cell = (k: Figure, r: ArchitectureRow) => {
    const e = r.test!.ensemble[k], f = fmtOf(k);
    return `${f(e.value)} [${f(e.images.lo)}, ${f(e.images.hi)}] {${f(e.groups.lo)}, ${
      f(e.groups.hi)
    }}`;
  };
  const row = (r: ArchitectureRow) => {
    if (r.test) {
      return `| ${r.label} | ${r.test.images} | ${
        BINARY_FIGURES.map((k) => cell(k, r)).join(" | ")
      } | ${ms(r.test.over_models.accuracy, pct)} |`;
    }
    const why = r.test_command ? `not scored yet: \`${r.test_command}\`` : notYet(r);
    return `| ${r.label} | ${why} |${" |".repeat(6)}`;
  };
  return [
    "## The locked test set: the ensemble of each network's fold models",
    "",
    `Ensemble: ${TEST_RULES.ensemble}. Decision: ${TEST_RULES.decision}. Intervals from the ` +
    "test set itself, [over images] {over sky groups} (test-scores.json). The last column is the " +
    "fold models' spread: the variation of training between folds, not an uncertainty.",
    "",
    `| network | images | ${FIGURE_HEADS} | fold models' accuracy %, mean ± std |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...t.networks.map(row),
    "",
  ];
}

/** Each network against the reference: paired fold differences and McNemar. */
function pairedSection(t: ArchitectureTable): string[] {
  const ref = t.networks.find((r) => r.key === t.reference)!;
  const head = [
    `## Each network against ${ref.label}`,
    "",
  ];
  if (!ref.cv) {
    return [...head, `${ref.label}'s sweep is not published yet: \`${ref.run_command}\`.`, ""];
  }
  const mc = (m: PairedMcNemar | null) => m ? `${m.b} / ${m.c} of ${m.n}, ${pText(m.pValue)}` : "—";
  const row = (r: ArchitectureRow) => {
    const c = t.comparisons.find((x) => x.key === r.key);
    if (!c) return `| ${r.label} | ${notYet(r)} | | | |`;
    if (c.refused) return `| ${r.label} | refused: ${c.refused} | | | |`;
    const test = c.mcnemar_test ? mc(c.mcnemar_test) : "— (a network not scored on it)";
    const d = c.accuracy_difference;
    const diff = !d || d.mean === null
      ? "—"
      : `${points(d.mean)}${d.std === null ? "" : ` ± ${(100 * d.std).toFixed(1)}`}`;
    return `| ${r.label} | ${diff} | ${c.folds.map((f) => points(f.difference)).join(", ")} | ${
      mc(c.mcnemar_oof)
    } | ${test} |`;
  };
  return [
    ...head,
    `Δ accuracy: the network's accuracy minus ${ref.label}'s on the same fold (the same ` +
    "held-out images), in percentage points, mean ± sample std over folds. McNemar: b = images " +
    `the network gets right and ${ref.label} wrong, c = the reverse (exact binomial p below 25 ` +
    "discordant pairs, else continuity-corrected chi-square); out of fold on the pooled " +
    "predictions (arg-max), on the test set on each network's " +
    `${TEST_MCNEMAR_COLUMN} of fold models (one decision per image: the rule fixed before ` +
    "scoring).",
    "",
    "| network | Δ accuracy, points | Δ per fold | McNemar out of fold: b / c, p | McNemar test set (ensemble): b / c, p |",
    "| --- | ---: | --- | --- | --- |",
    ...t.networks.filter((r) => r.key !== t.reference).map(row),
    "",
  ];
}

/** architectures.md: the table's sections, generated from {@link architectureTable}'s object. */
export function architecturesMarkdown(t: ArchitectureTable): string {
  const ref = t.networks.find((r) => r.key === t.reference)!;
  return [
    "# Does the Mamba help? MedMamba beside the CNNs astronomers use",
    "",
    "Generated by `deno task compare` (lib/results/architectures.ts); every number below is in " +
    "[architectures.json](architectures.json) too. Each network is trained by its own sweep, " +
    "configs/ablations/<sweep>.yaml: the recommended recipe's 5-fold cross-validation grouped " +
    "by sky position on the images outside the locked test set (field context, shape-preserving " +
    "augmentation, EMA, 48 epochs, last epoch kept, seed 1), with only the network changed " +
    `(tests/architecture_cv_test.ts). The reference is ${ref.label} (${ref.sweep}).`,
    "",
    `![${FIGURE_TITLE}](${FIGURE_FILE})`,
    "",
    ...networksSection(t),
    ...cvSection(t),
    ...testSection(t),
    ...pairedSection(t),
  ].join("\n");
}

/** architectures.svg: the forest plot of the accuracies, beside architectures.md. */
export const FIGURE_FILE = "architectures.svg";
const FIGURE_TITLE = "Accuracy of each network on sky fields it never saw, with 95% intervals";
/** The figures the plot shows, and the panel each is drawn in. */
const FIGURE_PANELS: [Figure, string][] = [
  ["accuracy", "accuracy %"],
  ["balanced_accuracy", "balanced accuracy %"],
];

/**
 * The points of architectures.svg, in percent: per network with published figures, the pooled
 * out-of-fold value with its interval over sky groups, and the locked test set's ensemble with
 * its interval over images — the same numbers as the tables.
 */
export function architectureIntervals(t: ArchitectureTable): IntervalRow[] {
  const rows: IntervalRow[] = [];
  const add = (r: ArchitectureRow, series: string, panel: string, i: Bounds) =>
    rows.push({ row: rowLabel(r).replaceAll("`", ""), series, panel, ...scaled(i) });
  for (const [k, panel] of FIGURE_PANELS) {
    for (const r of t.networks) {
      if (r.cv) add(r, "out of fold (cross-validation), over sky groups", panel, r.cv.pooled[k]);
      if (r.test) {
        const e = r.test.ensemble[k];
        add(r, "locked test set (fold models' mean), over images", panel, {
          value: e.value,
          lo: e.images.lo,
          hi: e.images.hi,
        });
      }
    }
  }
  return rows;
}

/** An interval of shares as percentages. */
function scaled(i: Bounds): Bounds {
  return { value: 100 * i.value, lo: 100 * i.lo, hi: 100 * i.hi };
}

/**
 * Writes architectures.svg ({@link architectureIntervals} as a forest plot) into `dir` and
 * records it in the checksum manifest above, if any. Returns its path.
 */
export async function writeArchitecturesFigure(dir: string, t: ArchitectureTable): Promise<string> {
  const path = resolve(dir, FIGURE_FILE);
  writeFileAtomic(path, await intervalsSvg(architectureIntervals(t), FIGURE_TITLE));
  recordIfPublished([path]);
  return path;
}

/**
 * Writes architectures.md and architectures.json into `dir` (a results folder) and records them
 * in the checksum manifest above, if any. Returns their paths.
 */
export function writeArchitectures(dir: string, t: ArchitectureTable): string[] {
  const md = resolve(dir, "architectures.md"), json = resolve(dir, "architectures.json");
  writeFileAtomic(md, architecturesMarkdown(t));
  writeJsonAtomic(json, t);
  recordIfPublished([md, json]);
  return [md, json];
}
