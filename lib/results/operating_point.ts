/**
 * The operating point of a catalogue (`deno task classify --purity P | --threshold T`): how a
 * probability becomes a class. The model's own rule (arg-max after its prior correction), a
 * threshold on p_<positive class> given by the user, or the smallest threshold whose purity of
 * the positive class reaches P on the model's published out-of-fold predictions — for a released
 * recipe its grouped CV sweep, pooled (each image predicted by the fold that held it out), else
 * the run's own validation predictions.csv; each with its run's prior correction, so the scores
 * are on the scale the catalogue writes.
 *
 * Which CV sweep speaks for a model is the registry's knowledge (lib/registry/card.ts); the
 * caller passes it in, so this module reads result folders and nothing above them.
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { completenessAtPurity } from "../metrics/operating.ts";
import { reweightPosterior } from "../metrics/prior.ts";
import { priorCorrectionOf, priorCorrectionWeights } from "./prior.ts";
import { readRunRecord, type RunRecord } from "./run_record.ts";
import { parseCsv } from "./write.ts";
import { StarmambaError } from "../util/errors.ts";
import { exists } from "../util/fs.ts";

/** How a class is chosen from the probabilities. */
export interface Decision {
  /** `model`: the run's own rule (arg-max after its prior correction); else a threshold on p. */
  rule: "model" | "threshold" | "purity";
  /** The positive class the threshold applies to. */
  positive: string;
  /** p ≥ threshold calls the positive class; null for the model's rule. */
  threshold: number | null;
  /** How the rule was chosen, in words (catalog.json). */
  how: string;
  /** With `purity`: the operating point on the out-of-fold predictions. */
  operating?: OperatingChoice;
}

/** The operating point `--purity` chose. */
export interface OperatingChoice {
  /** The purity asked for. */
  target: number;
  /** The purity reached at the threshold, on the out-of-fold predictions. */
  purity: number;
  /** The completeness there. */
  completeness: number;
  /** Which predictions. */
  source: OutOfFoldSource;
}

/** Where the out-of-fold predictions of {@link decisionRule} come from. */
export interface OutOfFoldSource {
  /** The released recipe's CV sweep, pooled; or the run's own validation predictions. */
  kind: "cv-pooled-out-of-fold" | "run-validation";
  /** The file read (cv.json or predictions.csv), relative to `root` when inside it. */
  path: string;
  /** Images. */
  n: number;
}

/** Out-of-fold scores of the positive class and whether each image is of it. */
export interface OutOfFold {
  /** Each image's probability of the positive class (after its run's prior correction). */
  scores: number[];
  /** Whether each image is of the positive class. */
  positive: boolean[];
  /** Where they come from. */
  source: OutOfFoldSource;
}

/** What the operating point needs of a run (a LoadedRun has it). */
export interface ScoredRun {
  /** The run folder, absolute. */
  dir: string;
  /** Class names in label order. */
  classNames: string[];
  /** Index of the class whose probability the catalogue writes. */
  positive: number;
  /** The run's record (its prior correction). */
  result: RunRecord;
}

/** Where a run's out-of-fold predictions are looked for. */
export interface OutOfFoldPlace {
  /** The cv.json of the CV sweep that speaks for the run (a released recipe's), if any. */
  cv: string | null;
  /** Paths under this folder are written relative to it (catalog.json reads the same anywhere). */
  root: string;
}

/**
 * The rule that turns probabilities into the class column: the model's own (default), a
 * threshold on p_<positive> (`threshold`), or the smallest threshold whose purity of the
 * positive class reaches `purity` on the model's published out-of-fold predictions
 * ({@link outOfFold}).
 * @throws {StarmambaError} for both options at once, values outside (0, 1), a model of other
 *   than two classes, or a purity that no threshold reaches.
 */
export function decisionRule(
  run: ScoredRun,
  opts: { threshold?: number; purity?: number },
  place: OutOfFoldPlace,
): Decision {
  const positive = run.classNames[run.positive];
  const { threshold, purity } = opts;
  if (threshold !== undefined && purity !== undefined) {
    throw new StarmambaError("give --purity or --threshold, not both");
  }
  if (threshold === undefined && purity === undefined) {
    const prior = priorCorrectionOf(run.result) ? ", after its prior correction" : "";
    return { rule: "model", positive, threshold: null, how: `the model's arg-max${prior}` };
  }
  if (run.classNames.length !== 2) {
    throw new StarmambaError(
      `--threshold and --purity need a two-class model; this one has ${run.classNames.join(", ")}`,
    );
  }
  const value = (threshold ?? purity)!;
  if (!(value > 0 && value < 1)) {
    throw new StarmambaError(
      `--${threshold !== undefined ? "threshold" : "purity"} ${value}: give a number in (0, 1)`,
    );
  }
  if (threshold !== undefined) {
    return { rule: "threshold", positive, threshold, how: `p_${positive} ≥ ${threshold} (given)` };
  }
  return purityRule(outOfFold(run, place), positive, value);
}

/** The purity rule's threshold on the out-of-fold predictions. */
function purityRule(oof: OutOfFold, positive: string, target: number): Decision {
  const point = completenessAtPurity(oof.scores, oof.positive, target);
  if (!Number.isFinite(point.threshold)) {
    throw new StarmambaError(
      `--purity ${target}: no threshold reaches a ${positive} purity of ${target} on ` +
        `${oof.source.path} (${oof.source.n} out-of-fold predictions); ask for less, or set ` +
        "--threshold",
    );
  }
  return {
    rule: "purity",
    positive,
    threshold: point.threshold,
    how: `the smallest threshold whose ${positive} purity is ≥ ${target} on the ` +
      `${oof.source.kind} predictions of ${oof.source.path}`,
    operating: {
      target,
      purity: point.purity,
      completeness: point.completeness,
      source: oof.source,
    },
  };
}

/**
 * The model's published out-of-fold predictions: the pooled fold predictions of `place.cv`
 * when given; otherwise the run's own validation predictions.csv.
 * @throws {StarmambaError} when the run has neither (e.g. a release model trained on all data
 *   whose recipe has no CV sweep).
 */
export function outOfFold(run: ScoredRun, place: OutOfFoldPlace): OutOfFold {
  if (place.cv !== null) return cvOutOfFold(run, place.cv, place.root);
  const own = join(run.dir, "predictions.csv");
  if (!exists(own)) {
    throw new StarmambaError(
      `--purity needs the model's out-of-fold predictions, and ${run.dir} has none (no ` +
        "predictions.csv: trained without a validation split, and no CV sweep is linked); " +
        "set --threshold instead",
    );
  }
  return readScores(run.dir, run, "run-validation", place.root);
}

/** The pooled predictions of the folds a cv.json lists. */
function cvOutOfFold(run: ScoredRun, cvPath: string, root: string): OutOfFold {
  let folds: { run: string }[];
  try {
    folds = JSON.parse(Deno.readTextFileSync(cvPath)).folds;
  } catch (e) {
    throw new StarmambaError(`${cvPath}: cannot read the CV summary (${(e as Error).message})`);
  }
  const out: OutOfFold = {
    scores: [],
    positive: [],
    source: { kind: "cv-pooled-out-of-fold", path: relativeTo(root, cvPath), n: 0 },
  };
  for (const f of folds) {
    const one = readScores(join(dirname(cvPath), f.run), run, "cv-pooled-out-of-fold", root);
    out.scores.push(...one.scores);
    out.positive.push(...one.positive);
  }
  out.source.n = out.scores.length;
  return out;
}

/** A run folder's predictions.csv as positive-class scores, with that run's prior correction. */
function readScores(
  dir: string,
  run: ScoredRun,
  kind: OutOfFoldSource["kind"],
  root: string,
): OutOfFold {
  const path = join(dir, "predictions.csv");
  const rows = parseCsv(Deno.readTextFileSync(path));
  const head = rows[0] ?? [];
  const pCols = run.classNames.map((c) => head.indexOf(`p_${c}`));
  const iLabel = head.indexOf("label");
  if (pCols.some((j) => j < 0) || iLabel < 0) {
    throw new StarmambaError(
      `${path}: needs the columns label and ${run.classNames.map((c) => `p_${c}`).join(", ")}`,
    );
  }
  const body = rows.slice(1).filter((r) => r.length === head.length);
  const k = run.classNames.length;
  let probs: ArrayLike<number> = body.flatMap((r) => pCols.map((j) => Number(r[j])));
  const prior = priorCorrectionOf(readRunRecord(dir));
  if (prior) probs = reweightPosterior(probs, k, priorCorrectionWeights(prior, run.classNames));
  const positive = run.classNames[run.positive];
  return {
    scores: body.map((_, i) => probs[i * k + run.positive]),
    positive: body.map((r) => r[iLabel] === positive),
    source: { kind, path: relativeTo(root, path), n: body.length },
  };
}

/**
 * `p` relative to `root` when inside it, else absolute: how catalog.json names files of the
 * repository, so that it reads the same on every machine.
 */
export function relativeTo(root: string, p: string): string {
  const abs = resolve(p), base = resolve(root);
  return abs.startsWith(`${base}/`) ? abs.slice(base.length + 1) : abs;
}
