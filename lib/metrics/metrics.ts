/**
 * Classification metrics for the star/galaxy classifier: confusion matrix, per-class
 * precision/recall/specificity/F1, balanced accuracy, ROC-AUC and average precision for the
 * positive class, expected calibration error (Guo et al. 2017), and McNemar's test for paired
 * model comparisons. Pure TypeScript (no tfjs) so results can be recomputed from saved
 * predictions.
 *
 * Conventions (documented once here, relied on by callers):
 * - Prediction = argmax of the probability row; ties go to the lowest class index.
 * - A ratio whose denominator is 0 (precision of a class that is never predicted, recall of a
 *   class with no samples, specificity with no negatives, F1 with precision + recall = 0) is
 *   reported as 0, like scikit-learn's `zero_division=0`, so tables never contain NaN.
 * - Balanced accuracy is the mean recall over classes that occur in `labels` (scikit-learn
 *   ignores absent classes the same way).
 * - ROC-AUC and average precision are NaN when the positive or the negative class is absent
 *   from `labels`: they are undefined, and a silent 0 or 1 would mislead a comparison.
 * @module
 */
import { StarmambaError } from "../util/errors.ts";

/** One-vs-rest metrics of one class. */
export interface ClassMetrics {
  /** TP / (TP + FP); 0 when the class is never predicted. */
  precision: number;
  /** TP / (TP + FN) (sensitivity); 0 when the class has no samples. */
  recall: number;
  /** TN / (TN + FP); 0 when every sample belongs to this class. */
  specificity: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  f1: number;
  /** Number of samples whose true label is this class. */
  support: number;
}

/** All metrics of one evaluation, as written to results tables. */
export interface Metrics {
  /** Fraction of samples whose argmax prediction equals the label. */
  accuracy: number;
  /** Mean recall over classes present in the labels. */
  balancedAccuracy: number;
  /** Per-class metrics keyed by class name. */
  perClass: Record<string, ClassMetrics>;
  /** Counts indexed [true class][predicted class]. */
  confusion: number[][];
  /** Area under the ROC curve for `positiveClass` (Mann–Whitney, ties count 1/2); NaN if undefined. */
  rocAuc: number;
  /** Average precision (step-wise area under the PR curve) for `positiveClass`; NaN if undefined. */
  prAuc: number;
  /** Expected calibration error of the max probability, 15 equal-width bins. */
  ece: number;
  /** Number of samples. */
  n: number;
  /** Class the ROC/PR numbers refer to. */
  positiveClass: string;
}

/** A point of a ROC curve: rates when every score >= `threshold` is called positive. */
export interface RocPoint {
  /** False positive rate FP / N. */
  fpr: number;
  /** True positive rate TP / P. */
  tpr: number;
  /** Score threshold; +Infinity for the (0, 0) start point. */
  threshold: number;
}

/** A point of a precision–recall curve at one score threshold. */
export interface PrPoint {
  /** TP / P. */
  recall: number;
  /** TP / (TP + FP); 1 for the (recall 0) start point, as in scikit-learn. */
  precision: number;
  /** Score threshold; +Infinity for the start point. */
  threshold: number;
}

/** One confidence bin of a reliability diagram. */
export interface ReliabilityBin {
  /** Lower edge (exclusive, except the first bin, which also takes confidence 0). */
  lo: number;
  /** Upper edge (inclusive). */
  hi: number;
  /** Samples in the bin. */
  count: number;
  /** Mean confidence of the samples in the bin; 0 when empty. */
  meanConfidence: number;
  /** Fraction correct in the bin; 0 when empty. */
  accuracy: number;
}

/** Number of bins used for {@link Metrics.ece}. */
export const ECE_BINS = 15;

/** Ratio with the zero_division=0 convention. */
function safeDiv(num: number, den: number): number {
  return den === 0 ? 0 : num / den;
}

/**
 * Checks that `labels` are class indices in [0, k) and `probs` is a finite n × k matrix; throws
 * an Error naming the first bad value.
 */
export function validatePredictions(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  k: number,
): void {
  if (k < 2) throw new Error(`metrics need at least 2 classes, got ${k}`);
  if (probs.length !== labels.length * k) {
    throw new Error(
      `probs has ${probs.length} values but ${labels.length} labels × ${k} classes = ` +
        `${labels.length * k} were expected (row-major n × k softmax)`,
    );
  }
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= k) {
      throw new Error(`label ${y} at index ${i} is not a class index in [0, ${k})`);
    }
  }
  for (let i = 0; i < probs.length; i++) {
    if (!Number.isFinite(probs[i])) {
      throw new Error(
        `probability ${probs[i]} at row ${Math.floor(i / k)} is not finite ` +
          `(did training diverge? try a lower learning rate)`,
      );
    }
  }
}

/** Argmax of each row of a row-major n × k matrix; ties go to the lowest index. */
export function argmaxRows(probs: ArrayLike<number>, k: number): Int32Array {
  const n = Math.floor(probs.length / k);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j] > probs[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

/** Confusion matrix of counts indexed [true][pred] for classes 0..k-1. */
export function confusionMatrix(
  labels: ArrayLike<number>,
  preds: ArrayLike<number>,
  k: number,
): number[][] {
  if (labels.length !== preds.length) {
    throw new Error(`labels (${labels.length}) and preds (${preds.length}) differ in length`);
  }
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][preds[i]]++;
  return m;
}

/** One-vs-rest metrics of class `c` from a confusion matrix. */
export function classMetrics(confusion: number[][], c: number): ClassMetrics {
  const k = confusion.length;
  let total = 0, predC = 0;
  for (let t = 0; t < k; t++) {
    for (let p = 0; p < k; p++) total += confusion[t][p];
    predC += confusion[t][c];
  }
  const tp = confusion[c][c];
  const support = confusion[c].reduce((a, b) => a + b, 0);
  const fp = predC - tp;
  const fn = support - tp;
  const tn = total - tp - fp - fn;
  const precision = safeDiv(tp, tp + fp);
  const recall = safeDiv(tp, tp + fn);
  return {
    precision,
    recall,
    specificity: safeDiv(tn, tn + fp),
    // 2TP/(2TP+FP+FN) equals 2PR/(P+R) but avoids compounding two rounded ratios.
    f1: safeDiv(2 * tp, 2 * tp + fp + fn),
    support,
  };
}

/**
 * Distinct-threshold sweep shared by the ROC and PR curves: for each distinct score in
 * descending order, the cumulative TP and FP counts when every score >= it is called positive.
 * Tied scores form one step, which is what makes the curves (and their areas) tie-aware.
 */
function thresholdSweep(
  scores: ArrayLike<number>,
  positive: ArrayLike<boolean>,
): { tp: number[]; fp: number[]; thresholds: number[]; nPos: number; nNeg: number } {
  if (scores.length !== positive.length) {
    throw new Error(`scores (${scores.length}) and positive (${positive.length}) differ in length`);
  }
  const order = Array.from({ length: scores.length }, (_, i) => i)
    .sort((a, b) => scores[b] - scores[a] || a - b);
  const tp: number[] = [], fp: number[] = [], thresholds: number[] = [];
  let cTp = 0, cFp = 0;
  for (let r = 0; r < order.length; r++) {
    const i = order[r];
    if (positive[i]) cTp++;
    else cFp++;
    const last = r === order.length - 1 || scores[order[r + 1]] !== scores[i];
    if (last) {
      tp.push(cTp);
      fp.push(cFp);
      thresholds.push(scores[i]);
    }
  }
  return { tp, fp, thresholds, nPos: cTp, nNeg: cFp };
}

/**
 * ROC curve with one point per distinct score (descending thresholds), starting at (0, 0) with
 * threshold +Infinity. Rates are NaN when the positive (tpr) or negative (fpr) set is empty.
 */
export function rocCurve(scores: ArrayLike<number>, positive: ArrayLike<boolean>): RocPoint[] {
  const s = thresholdSweep(scores, positive);
  const pts: RocPoint[] = [{ fpr: s.nNeg ? 0 : NaN, tpr: s.nPos ? 0 : NaN, threshold: Infinity }];
  for (let j = 0; j < s.thresholds.length; j++) {
    pts.push({
      fpr: s.nNeg ? s.fp[j] / s.nNeg : NaN,
      tpr: s.nPos ? s.tp[j] / s.nPos : NaN,
      threshold: s.thresholds[j],
    });
  }
  return pts;
}

/**
 * Precision–recall curve with one point per distinct score (descending thresholds, so recall
 * rises), starting at (recall 0, precision 1) with threshold +Infinity as in scikit-learn.
 * Recall is NaN when there are no positives.
 */
export function prCurve(scores: ArrayLike<number>, positive: ArrayLike<boolean>): PrPoint[] {
  const s = thresholdSweep(scores, positive);
  const pts: PrPoint[] = [{ recall: s.nPos ? 0 : NaN, precision: 1, threshold: Infinity }];
  for (let j = 0; j < s.thresholds.length; j++) {
    pts.push({
      recall: s.nPos ? s.tp[j] / s.nPos : NaN,
      precision: s.tp[j] / (s.tp[j] + s.fp[j]),
      threshold: s.thresholds[j],
    });
  }
  return pts;
}

/**
 * Area under the ROC curve = Mann–Whitney U / (n_pos · n_neg): the probability that a random
 * positive scores above a random negative, ties counting 1/2. Computed with average ranks in
 * O(n log n). NaN when either class is absent.
 */
export function rocAuc(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  if (scores.length !== positive.length) {
    throw new Error(`scores (${scores.length}) and positive (${positive.length}) differ in length`);
  }
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSumPos = 0, nPos = 0;
  for (let start = 0; start < n;) {
    let end = start;
    while (end + 1 < n && scores[order[end + 1]] === scores[order[start]]) end++;
    // 1-based ranks start+1..end+1 share their average.
    const avgRank = (start + end) / 2 + 1;
    for (let r = start; r <= end; r++) {
      if (positive[order[r]]) {
        rankSumPos += avgRank;
        nPos++;
      }
    }
    start = end + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  const u = rankSumPos - (nPos * (nPos + 1)) / 2;
  return u / (nPos * nNeg);
}

/**
 * Average precision as scikit-learn defines it: AP = Σ_n (R_n − R_{n−1}) P_n over distinct
 * thresholds in descending order — a step-wise area, no interpolation. NaN with no positives.
 */
export function averagePrecision(scores: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  const s = thresholdSweep(scores, positive);
  if (s.nPos === 0) return NaN;
  let ap = 0, prevRecall = 0;
  for (let j = 0; j < s.thresholds.length; j++) {
    const recall = s.tp[j] / s.nPos;
    ap += (recall - prevRecall) * (s.tp[j] / (s.tp[j] + s.fp[j]));
    prevRecall = recall;
  }
  return ap;
}

/**
 * Equal-width confidence bins on [0, 1]: bin b holds confidences in (b/B, (b+1)/B] (Guo et al.
 * 2017; bin 0 also takes exactly 0).
 */
export function reliabilityBins(
  confidence: ArrayLike<number>,
  correct: ArrayLike<boolean>,
  nBins = ECE_BINS,
): ReliabilityBin[] {
  if (confidence.length !== correct.length) {
    throw new Error(
      `confidence (${confidence.length}) and correct (${correct.length}) differ in length`,
    );
  }
  const count = new Array<number>(nBins).fill(0);
  const confSum = new Array<number>(nBins).fill(0);
  const hits = new Array<number>(nBins).fill(0);
  for (let i = 0; i < confidence.length; i++) {
    const p = confidence[i];
    const b = Math.min(nBins - 1, Math.max(0, Math.ceil(p * nBins) - 1));
    count[b]++;
    confSum[b] += p;
    if (correct[i]) hits[b]++;
  }
  return count.map((c, b) => ({
    lo: b / nBins,
    hi: (b + 1) / nBins,
    count: c,
    meanConfidence: safeDiv(confSum[b], c),
    accuracy: safeDiv(hits[b], c),
  }));
}

/** Expected calibration error Σ_b (n_b / n) |acc_b − conf_b| over equal-width bins; 0 if n = 0. */
export function ece(
  confidence: ArrayLike<number>,
  correct: ArrayLike<boolean>,
  nBins = ECE_BINS,
): number {
  const n = confidence.length;
  if (n === 0) return 0;
  return reliabilityBins(confidence, correct, nBins)
    .reduce((sum, bin) => sum + (bin.count / n) * Math.abs(bin.accuracy - bin.meanConfidence), 0);
}

/** Resolves the positive class: explicit name, else "galaxy" if present, else classNames[1]. */
export function resolvePositiveClass(classNames: string[], positiveClass?: string): number {
  if (positiveClass !== undefined) {
    const idx = classNames.indexOf(positiveClass);
    if (idx < 0) {
      throw new StarmambaError(
        `positive class "${positiveClass}" is not one of the dataset classes ` +
          `[${classNames.join(", ")}]; set it to one of those names`,
      );
    }
    return idx;
  }
  const g = classNames.indexOf("galaxy");
  return g >= 0 ? g : 1;
}

/** Max probability and correctness of the argmax prediction, per row. */
export function confidenceAndCorrect(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  k: number,
): { confidence: Float64Array; correct: boolean[]; preds: Int32Array } {
  const preds = argmaxRows(probs, k);
  const confidence = new Float64Array(labels.length);
  const correct = new Array<boolean>(labels.length);
  for (let i = 0; i < labels.length; i++) {
    confidence[i] = probs[i * k + preds[i]];
    correct[i] = preds[i] === labels[i];
  }
  return { confidence, correct, preds };
}

/** Scores of the positive class and whether each label is positive, for ROC/PR curves. */
export function positiveScores(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  k: number,
  pos: number,
): { scores: Float64Array; positive: boolean[] } {
  const scores = new Float64Array(labels.length);
  const positive = new Array<boolean>(labels.length);
  for (let i = 0; i < labels.length; i++) {
    scores[i] = probs[i * k + pos];
    positive[i] = labels[i] === pos;
  }
  return { scores, positive };
}

/**
 * All metrics of one evaluation.
 * @param labels true class index per sample.
 * @param probs n × k row-major softmax probabilities.
 * @param classNames name of each class index (k = classNames.length).
 * @param positiveClass class for ROC-AUC / AP; default "galaxy" if present else classNames[1].
 */
export function computeMetrics(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  classNames: string[],
  positiveClass?: string,
): Metrics {
  const k = classNames.length;
  validatePredictions(labels, probs, k);
  const n = labels.length;
  const pos = resolvePositiveClass(classNames, positiveClass);
  const { confidence, correct, preds } = confidenceAndCorrect(labels, probs, k);
  const confusion = confusionMatrix(labels, preds, k);
  const perClass: Record<string, ClassMetrics> = {};
  let recallSum = 0, present = 0;
  for (let c = 0; c < k; c++) {
    const cm = classMetrics(confusion, c);
    perClass[classNames[c]] = cm;
    if (cm.support > 0) {
      recallSum += cm.recall;
      present++;
    }
  }
  const hits = correct.reduce((a, ok) => a + (ok ? 1 : 0), 0);
  const { scores, positive } = positiveScores(labels, probs, k, pos);
  return {
    accuracy: safeDiv(hits, n),
    balancedAccuracy: safeDiv(recallSum, present),
    perClass,
    confusion,
    rocAuc: rocAuc(scores, positive),
    prAuc: averagePrecision(scores, positive),
    ece: ece(confidence, correct),
    n,
    positiveClass: classNames[pos],
  };
}
