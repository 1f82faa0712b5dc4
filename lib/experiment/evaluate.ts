/**
 * Re-evaluates a finished run's best model on its own validation images (the file list saved in
 * split.json), optionally with test-time augmentation. The data are loaded through the run's
 * data pipeline (lib/data/pipeline.ts: its source, crop and field context, as in training) and
 * checked against the fingerprint the run recorded, so a number from here describes exactly the
 * images the run was validated on.
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { readTestSet } from "../data/test_set.ts";
import { skyGroupOf } from "../data/splits.ts";
import { type ContextSource, loadData } from "../data/pipeline.ts";
import { dataSource } from "../data/sources.ts";
import { onnxModelOf } from "./interchange.ts";
import { createOnnxSession } from "../interchange/onnx/runtime.ts";
import type { Dataset } from "../data/types.ts";
import type { LoadedRun } from "./predict.ts";
import { loadRun, readJsonFile, trainingClassWeights } from "./predict.ts";
import type { ExperimentConfig } from "../config/schema.ts";
import { computeMetrics, type Metrics } from "../metrics/metrics.ts";
import { predict, predictSettings, predictWith } from "../train/predict.ts";
import { shiftPrior } from "../train/loss.ts";
import { StarmambaError } from "../util/errors.ts";
import { exists, readJsonObject, sha256Hex } from "../util/fs.ts";
import { isImported, type TrainedRunRecord } from "../results/run_record.ts";
import {
  type PriorCorrection,
  priorCorrectionOf,
  priorCorrectionWeights,
} from "../results/prior.ts";
import {
  refuseRescoring,
  type TestModelRecord,
  type TestPredictions,
  writeTestScoring,
} from "../results/test_scoring.ts";
import { codeVersion } from "../results/provenance.ts";

/** Options of {@link evaluateRun}. */
export interface EvaluateOptions {
  /** Average the 8 flips and quarter turns of each image. */
  tta: boolean;
  /** ImageFolder root; default the run's data.root resolved as the run did, else STARMAMBA_DATA. */
  dataRoot?: string;
  /** No progress output while decoding. */
  quiet?: boolean;
  /**
   * Decide with the class weights (N / count)^p of the run's training split applied to the
   * probabilities ({@link shiftPrior}); absent: the plain arg-max, as in training.
   */
  classWeightPower?: number;
  /**
   * Field-context runs: take each cutout's template from its frame (default, as trained) or
   * from the cutout alone ("single"), to measure what classifying one image by itself costs.
   */
  context?: ContextSource;
  /** Compute the probabilities with onnxruntime running the exported graph, not starmamba. */
  onnx?: boolean;
  /**
   * Decide a run that trained with balanced classes under its training split's prior
   * (lib/results/prior.ts; default true). Ignored with {@link classWeightPower}, an explicit
   * rule of its own.
   */
  priorCorrection?: boolean;
  /**
   * Score on this locked test set file (lib/data/test_set.ts) instead of the validation images.
   * Refused for a run that trained or validated on any of its images.
   */
  testSet?: string;
}

/** The decision rule of an evaluation when it is not the plain arg-max. */
export interface DecisionRule {
  /** The power p of the class weights. */
  class_weight_power: number;
  /** The weights per class name, from the training split's class counts. */
  weights: Record<string, number>;
}

/** What {@link evaluateRun} measured. */
export interface RunEvaluation {
  /** The run folder, as given. */
  run: string;
  /** Whether test-time augmentation was used. */
  tta: boolean;
  /** The data fingerprint, equal to the run's. */
  fingerprint: string;
  /** Metrics on the run's validation images. */
  metrics: Metrics;
  /** The ImageFolder root the images were read from. */
  dataRoot: string;
  /** The validation files (relative to dataRoot), in split.json order. */
  files: string[];
  /**
   * Each file's group for intervals and per-field tables: the run's own grouping (a
   * catalogue's data.group_by), else the sky group of its ARIES-style name.
   */
  groups: string[];
  /** Their true class indices. */
  labels: number[];
  /** Class probabilities after the decision rule, row-major files.length × classes. */
  probs: Float32Array;
  /** The network's class probabilities before any decision rule (equal to probs without one). */
  rawProbs: Float32Array;
  /** Class names, in index order. */
  classNames: string[];
  /** The re-weighted decision, when {@link EvaluateOptions.classWeightPower} was given. */
  decision?: DecisionRule;
  /**
   * The prior correction the probabilities got (a run that trained balanced), if any: the
   * class prior training imposed (`from`) and the training split's (`to`), by class name.
   */
  priorCorrection?: { from: Record<string, number>; to: Record<string, number> };
  /** With a prior correction: the metrics of the network's own probabilities, beside it. */
  uncorrectedMetrics?: Metrics;
  /** What the images were: the run's validation split, or the locked test set. */
  scoredOn: "validation" | "test";
  /** With a test set: its file and sha256, and the validation images' labels and
   * probabilities (after the same decision rule), for calibration fitted on them. */
  test?: { file: string; sha256: string; calib: { labels: number[]; probs: Float32Array } };
}

/** The run's record, where the run can be evaluated: trained on images read from disk. */
function evaluableRecord(run: LoadedRun, runDir: string): TrainedRunRecord {
  const result = run.result;
  if (isImported(result)) {
    throw new StarmambaError(
      `${runDir}: an imported model has no validation split of its own to evaluate on; ` +
        "classify images with deno task predict instead",
    );
  }
  if (result.data.source !== "folder" && result.data.source !== "catalog") {
    throw new StarmambaError(
      `${runDir}: trained on data.source ${result.data.source}; evaluate needs a run on an ` +
        "ImageFolder or a catalogue",
    );
  }
  return result;
}

/** The run's train and validation files (split.json). */
interface SplitFiles {
  train?: string[];
  val: string[];
}

/** The run's split.json and its path; without validation images only a test set is scored. */
function readSplit(
  dir: string,
  runDir: string,
  opts: EvaluateOptions,
): { splitPath: string; split: SplitFiles } {
  const splitPath = join(dir, "split.json");
  if (!exists(splitPath)) throw new StarmambaError(`${splitPath} is missing`);
  const split = readJsonFile(splitPath) as unknown as SplitFiles;
  if (split.val.length === 0 && !opts.testSet) {
    throw new StarmambaError(
      `${runDir}: trained on every labelled image (data.split: all), so it has no validation ` +
        "images to evaluate on; classify labelled images of your own with deno task predict",
    );
  }
  return { splitPath, split };
}

/**
 * The run's config as evaluate uses it (--data, --tta), and the path its data.root resolves
 * against: the run's top config (recorded relative to the repository root), or the working
 * directory for --data.
 */
function evaluationConfig(
  run: LoadedRun,
  result: TrainedRunRecord,
  opts: EvaluateOptions,
): { cfg: ExperimentConfig; configPath: string } {
  const files = result.config_files ?? [];
  const cfg: ExperimentConfig = {
    ...run.config,
    data: { ...run.config.data, root: opts.dataRoot ?? run.config.data.root },
    train: { ...run.config.train, tta: opts.tta },
  };
  const configPath = opts.dataRoot || files.length === 0
    ? join(Deno.cwd(), "(command line)")
    : resolve(files[files.length - 1]);
  return { cfg, configPath };
}

/** The data's fingerprint, after checking it is the one the run was trained on. */
function checkedFingerprint(
  ds: Dataset,
  cfg: ExperimentConfig,
  result: TrainedRunRecord,
  runDir: string,
): string {
  const fp = ds.fingerprint ?? "";
  const want = result.data.fingerprint;
  if (fp !== want) {
    throw new StarmambaError(
      `the data at ${cfg.data.root} has fingerprint ${fp.slice(0, 16)}… but ${runDir} was ` +
        `trained on ${want.slice(0, 16)}…; point --data at the same images`,
    );
  }
  return fp;
}

/** Indices into `ds` of a list of its files; a file not in the data names `where`. */
function fileIndexer(ds: Dataset): (list: string[], where: string) => number[] {
  const index = new Map((ds.files ?? []).map((f, i) => [f, i]));
  return (list, where) =>
    list.map((f) => {
      const i = index.get(f);
      if (i === undefined) throw new StarmambaError(`${where}: ${f} is not in the data`);
      return i;
    });
}

/**
 * The decision rule: the class weights of the run's training split when asked, else the prior
 * correction of a run that trained balanced (unless switched off), else the plain arg-max.
 */
function decisionRule(
  run: LoadedRun,
  runDir: string,
  opts: EvaluateOptions,
): { decide: (p: Float32Array) => Float32Array; decision?: DecisionRule; prior?: PriorCorrection } {
  const k = run.classNames.length;
  if (opts.classWeightPower === undefined) {
    const prior = opts.priorCorrection === false ? null : priorCorrectionOf(run.result);
    if (!prior) return { decide: (p) => p };
    const w = priorCorrectionWeights(prior, run.classNames);
    return { decide: (p) => shiftPrior(p, k, w), prior };
  }
  const w = trainingClassWeights(run, runDir, opts.classWeightPower);
  return {
    decide: (p) => shiftPrior(p, k, w),
    decision: {
      class_weight_power: opts.classWeightPower,
      weights: Object.fromEntries(run.classNames.map((c, j) => [c, w[j]])),
    },
  };
}

/**
 * Evaluates `runDir`'s best model on the run's validation files.
 *
 * @example Train on a catalogue of cutouts for two steps, then score its validation images
 * ```ts
 * import { evaluateRun, loadConfig, runExperiment } from "@starmamba/starmamba";
 * import { DEFAULT_SKY, writeSyntheticSky } from "@starmamba/starmamba/data";
 * // Evaluation reads images from disk: the synthetic sky written as PNG files and a catalogue.
 * const dir = await Deno.makeTempDir();
 * const sky = await writeSyntheticSky(dir, { ...DEFAULT_SKY, n: 96, size: 32, format: "png" });
 * const loaded = loadConfig("configs/quickstart.yaml", [
 *   "data.source=catalog",
 *   `data.catalog=${sky.catalog}`,
 *   "data.channels=1",
 *   "model.dim=8",
 *   "train.epochs=1",
 *   "train.steps_per_epoch=2",
 *   `output.scratch_dir=${dir}/runs`,
 * ]);
 * const { runDir } = await runExperiment(loaded, { quiet: true });
 * const ev = await evaluateRun(runDir, { tta: false });
 * console.log(ev.files.length, ev.metrics.accuracy, ev.metrics.rocAuc); // 19 images, their scores
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function evaluateRun(runDir: string, opts: EvaluateOptions): Promise<RunEvaluation> {
  const run = await loadRun(runDir, opts.quiet ?? true);
  try {
    const result = evaluableRecord(run, runDir);
    const { splitPath, split } = readSplit(run.dir, runDir, opts);
    const { cfg, configPath } = evaluationConfig(run, result, opts);
    const ds = await loadData(cfg, configPath, opts.quiet ?? true, opts.context ?? "frame");
    const fp = checkedFingerprint(ds, cfg, result, runDir);
    const indices = fileIndexer(ds);
    const locked = opts.testSet ? await lockedTestFiles(opts.testSet, runDir, split) : null;
    const idx = indices(locked ? locked.files : split.val, locked ? opts.testSet! : splitPath);
    const probsOf = async (which: number[]) =>
      opts.onnx
        ? await onnxProbs(run, ds, which, cfg)
        : predict(run.model, ds, which, predictSettings(cfg)).probs;
    const raw = await probsOf(idx);
    const labels = idx.map((i) => ds.labels[i]);
    const { decide, decision, prior } = decisionRule(run, runDir, opts);
    const probs = decide(raw);
    // On the test set, the validation images' predictions too: calibration is fitted on them.
    // (A release run has no validation images: nothing to calibrate on.)
    const vidx = locked ? indices(split.val, splitPath) : [];
    const test: RunEvaluation["test"] = locked
      ? {
        file: opts.testSet!,
        sha256: locked.sha256,
        calib: { labels: vidx.map((i) => ds.labels[i]), probs: decide(await probsOf(vidx)) },
      }
      : undefined;
    return {
      run: runDir,
      tta: opts.tta,
      fingerprint: fp,
      metrics: computeMetrics(labels, probs, run.classNames),
      dataRoot: dataSource(cfg.data).root(cfg.data, dirname(configPath)) ?? "",
      files: locked ? locked.files : split.val,
      groups: idx.map((i) => ds.groups?.[i] ?? skyGroupOf(ds.files![i])),
      labels,
      probs,
      rawProbs: raw,
      classNames: run.classNames,
      ...(decision ? { decision } : {}),
      ...(prior
        ? {
          priorCorrection: prior,
          uncorrectedMetrics: computeMetrics(labels, raw, run.classNames),
        }
        : {}),
      scoredOn: locked ? "test" : "validation",
      ...(test ? { test } : {}),
    };
  } finally {
    run.model.params.dispose();
  }
}

/**
 * The locked test set's files, after checking that the run never saw one of them: its training
 * and validation images (split.json) must be disjoint from the set.
 */
async function lockedTestFiles(
  path: string,
  runDir: string,
  split: { train?: string[]; val: string[] },
): Promise<{ files: string[]; sha256: string }> {
  const t = readTestSet(path);
  const inTest = new Set(t.files);
  const seen = [...(split.train ?? []), ...split.val].filter((f) => inTest.has(f));
  if (seen.length) {
    throw new StarmambaError(
      `${runDir} trained or validated on ${seen.length} images of the locked test set ${path} ` +
        `(first: ${seen[0]}): it predates the set or did not set data.test_set, so it cannot be ` +
        "scored on it",
    );
  }
  return { files: t.files, sha256: await sha256Hex(Deno.readFileSync(path)) };
}

/** What {@link evaluateEnsemble} measured: the averaged evaluation plus each member's own. */
export interface EnsembleEvaluation extends RunEvaluation {
  /** The members' evaluations, in the order given (each with its own metrics). */
  members: RunEvaluation[];
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Evaluates several finished runs as one ensemble: each member's class probabilities on the
 * validation images (with TTA if asked), averaged with equal weights, then decided as
 * {@link evaluateRun} decides. The members must share the validation files, labels, classes, data
 * fingerprint and (for a class-weighted decision) the training split's weights — runs of the same
 * seed and data do — so the average is taken image by image over the same split.
 */
export async function evaluateEnsemble(
  runDirs: string[],
  opts: EvaluateOptions,
): Promise<EnsembleEvaluation> {
  if (runDirs.length < 2) throw new StarmambaError("an ensemble needs at least two runs");
  const members: RunEvaluation[] = [];
  for (const dir of runDirs) members.push(await evaluateRun(dir, opts));
  const [first] = members;
  for (const m of members.slice(1)) {
    const why = m.fingerprint !== first.fingerprint
      ? "were trained on different data (fingerprints differ)"
      : !sameList(m.classNames, first.classNames)
      ? `have different classes (${m.classNames} vs ${first.classNames})`
      : !sameList(m.files, first.files) || !sameList(m.labels, first.labels)
      ? "were validated on different images (split.json differs: train them with the same " +
        "seed, data and split settings)"
      : JSON.stringify(m.decision?.weights) !== JSON.stringify(first.decision?.weights)
      ? "have different training class counts, so different decision weights"
      : null;
    if (why) throw new StarmambaError(`${first.run} and ${m.run} ${why}`);
  }
  const k = first.classNames.length;
  const raw = meanOf(members, "rawProbs");
  const w = first.decision ? first.classNames.map((c) => first.decision!.weights[c]) : null;
  // Members with a prior correction enter the mean with their corrected probabilities.
  const corrected = members.some((m) => m.priorCorrection) ? meanOf(members, "probs") : null;
  const probs = w ? shiftPrior(raw, k, w) : corrected ?? raw;
  // On the test set, calibrate on the mean of the members' validation probabilities.
  let test = first.test;
  if (test) {
    const calib = new Float32Array(test.calib.probs.length);
    for (const m of members) {
      m.test!.calib.probs.forEach((v, i) => (calib[i] += v / members.length));
    }
    test = { ...test, calib: { labels: test.calib.labels, probs: calib } };
  }
  return {
    ...first,
    run: runDirs.join(" + "),
    metrics: computeMetrics(first.labels, probs, first.classNames),
    probs,
    rawProbs: raw,
    // Each member records its own correction; the ensemble's network-only figures stand beside.
    priorCorrection: undefined,
    uncorrectedMetrics: corrected ? computeMetrics(first.labels, raw, first.classNames) : undefined,
    members,
    ...(test ? { test } : {}),
  };
}

/** The image-by-image mean of the members' probabilities of one kind. */
function meanOf(members: RunEvaluation[], key: "probs" | "rawProbs"): Float32Array {
  const out = new Float32Array(members[0][key].length);
  for (let i = 0; i < out.length; i++) {
    let sum = 0;
    for (const m of members) sum += m[key][i];
    out[i] = sum / members.length;
  }
  return out;
}

/** The run's probabilities for `idx` from onnxruntime running its exported graph. */
async function onnxProbs(
  run: LoadedRun,
  ds: Dataset,
  idx: number[],
  cfg: ExperimentConfig,
): Promise<Float32Array> {
  const session = await createOnnxSession(onnxModelOf(run), `${run.dir} as ONNX`);
  try {
    return await predictWith(session.probs, run.classNames.length, ds, idx, predictSettings(cfg));
  } finally {
    await session.release();
  }
}

/** Options of {@link scoreCvOnTest}: those of {@link evaluateRun}, the test set required. */
export type CvTestOptions = Omit<EvaluateOptions, "testSet" | "classWeightPower" | "onnx"> & {
  testSet: string;
};

/** What {@link scoreCvOnTest} did: the files written and the predictions they hold. */
export interface CvTestScoring {
  written: string[];
  predictions: TestPredictions;
}

/** The fold runs a cross-validation sweep's cv.json lists, in fold order. */
function cvFoldRuns(sweepDir: string): { fold: number; run: string }[] {
  const cv = readJsonObject(join(sweepDir, "cv.json"));
  const folds = cv?.folds as { fold: number; run: string }[] | undefined;
  if (!Array.isArray(folds) || folds.length < 2) {
    throw new StarmambaError(
      `${sweepDir}: no readable cv.json with its folds; --cv takes the folder of a ` +
        "cross-validation sweep (deno task ablate with data.kfold), e.g. " +
        "results/ablations/cv-best-grouped-aries/v1",
    );
  }
  return [...folds].sort((a, b) => a.fold - b.fold);
}

/**
 * Scores every fold model of the cross-validation sweep in `sweepDir` on the locked test set
 * (each as {@link evaluateRun} with `testSet`: a model that saw a test image is refused) and
 * writes test-predictions.csv, test-scores.json and test-scores.md into the sweep folder
 * (lib/results/test_scoring.ts), recorded in the manifest where the folder is published.
 * Refused before any model loads when the sweep was scored already.
 */
export async function scoreCvOnTest(sweepDir: string, opts: CvTestOptions): Promise<CvTestScoring> {
  const folds = cvFoldRuns(sweepDir);
  refuseRescoring(sweepDir);
  const evs: RunEvaluation[] = [];
  for (const f of folds) evs.push(await evaluateRun(resolve(sweepDir, f.run), opts));
  const [first] = evs;
  const bad = evs.find((e) => !sameList(e.files, first.files) || !sameList(e.labels, first.labels));
  if (bad) throw new StarmambaError(`${bad.run}: scored other test images than ${first.run}`);
  const pos = first.classNames.indexOf("galaxy"), neg = first.classNames.indexOf("star");
  if (pos < 0 || neg < 0 || first.classNames.length !== 2) {
    throw new StarmambaError(
      `${first.run}: classes ${first.classNames.join(", ")}; the test scoring's figures are ` +
        "those of a galaxy/star classifier",
    );
  }
  const column = (e: RunEvaluation, p: Float32Array) =>
    Array.from({ length: e.files.length }, (_, i) => p[i * 2 + pos]);
  const name = (j: number) => `fold${folds[j].fold}`;
  const predictions: TestPredictions = {
    positive: "galaxy",
    negative: "star",
    files: first.files,
    groups: first.groups,
    labels: first.labels.map((l) => first.classNames[l]),
    models: evs.map((e, j) => ({ name: name(j), p: column(e, e.probs) })),
    uncorrected: evs.some((e) => e.priorCorrection)
      ? evs.map((e, j) => ({ name: name(j), p: column(e, e.rawProbs) }))
      : null,
  };
  const models: TestModelRecord[] = evs.map((e, j) => ({
    name: name(j),
    run: folds[j].run,
    prior_correction: e.priorCorrection ?? null,
  }));
  const root = new URL("../..", import.meta.url).pathname;
  const written = writeTestScoring(sweepDir, predictions, {
    code: codeVersion(root, ["results", "scratch"]),
    test_set: { file: opts.testSet, sha256: first.test!.sha256 },
    models,
  }, basename(dirname(resolve(sweepDir))));
  return { written, predictions };
}
