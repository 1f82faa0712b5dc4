/**
 * What astronomers report for a star/galaxy classifier beside accuracy: purity and completeness
 * at fixed operating points (Kim & Brunner 2017 quote star completeness at star purity 0.97 and
 * galaxy purity at galaxy completeness 0.96), the Brier score, calibration before and after
 * temperature scaling, and intervals from a bootstrap over sky groups (cutouts of one field are
 * not independent, so the field is the unit resampled).
 *
 * Purity is precision, TP / (TP + FP); completeness is recall, TP / P. A threshold t calls
 * "positive" every sample whose score is ≥ t, so tied scores always go together.
 * @module
 */
import { rng } from "../util/rng.ts";
import { argmaxRows, ece, rocAuc } from "./metrics.ts";

/** One operating point of a score threshold. */
export interface OperatingPoint {
  /** TP / (TP + FP) at the threshold (1 when nothing is called positive). */
  purity: number;
  /** TP / P at the threshold. */
  completeness: number;
  /** Score threshold (≥ is positive); +Infinity when no threshold meets the target. */
  threshold: number;
}

/** The distinct thresholds in descending order with TP and FP counts at each (ties together). */
function sweep(scores: ArrayLike<number>, positive: ArrayLike<boolean>) {
  const order = Array.from(scores, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const points: { threshold: number; tp: number; fp: number }[] = [];
  let tp = 0, fp = 0;
  for (let j = 0; j < order.length; j++) {
    const i = order[j];
    if (positive[i]) tp++;
    else fp++;
    if (j === order.length - 1 || scores[order[j + 1]] !== scores[i]) {
      points.push({ threshold: scores[i], tp, fp });
    }
  }
  return points;
}

/**
 * Purity at the highest threshold whose completeness reaches `target` (the most selective cut
 * that finds that share of the class). Completeness and threshold say where it landed.
 */
export function purityAtCompleteness(
  scores: ArrayLike<number>,
  positive: ArrayLike<boolean>,
  target: number,
): OperatingPoint {
  const P = Array.from(positive).filter(Boolean).length;
  for (const p of sweep(scores, positive)) {
    if (P > 0 && p.tp / P >= target) {
      return { purity: p.tp / (p.tp + p.fp), completeness: p.tp / P, threshold: p.threshold };
    }
  }
  return { purity: NaN, completeness: 0, threshold: Infinity };
}

/**
 * Completeness at the lowest threshold whose purity is still ≥ `target` (the largest share of
 * the class that can be found that cleanly); completeness 0 when no threshold is that pure.
 */
export function completenessAtPurity(
  scores: ArrayLike<number>,
  positive: ArrayLike<boolean>,
  target: number,
): OperatingPoint {
  const P = Array.from(positive).filter(Boolean).length;
  let best: OperatingPoint = { purity: 1, completeness: 0, threshold: Infinity };
  for (const p of sweep(scores, positive)) {
    const purity = p.tp / (p.tp + p.fp);
    if (purity >= target && P > 0 && p.tp / P > best.completeness) {
      best = { purity, completeness: p.tp / P, threshold: p.threshold };
    }
  }
  return best;
}

/** Brier score of a probability for the positive class: mean (p − y)², y ∈ {0, 1}. */
export function brierScore(prob: ArrayLike<number>, positive: ArrayLike<boolean>): number {
  let s = 0;
  for (let i = 0; i < prob.length; i++) s += (prob[i] - (positive[i] ? 1 : 0)) ** 2;
  return prob.length ? s / prob.length : NaN;
}

/** Class probabilities (n × k, rows) scaled by temperature T: softmax(log p / T). */
export function applyTemperature(probs: ArrayLike<number>, k: number, T: number): Float64Array {
  const out = new Float64Array(probs.length);
  for (let r = 0; r < probs.length; r += k) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, Math.log(Math.max(probs[r + c], 1e-300)) / T);
    let z = 0;
    for (let c = 0; c < k; c++) {
      out[r + c] = Math.exp(Math.log(Math.max(probs[r + c], 1e-300)) / T - max);
      z += out[r + c];
    }
    for (let c = 0; c < k; c++) out[r + c] /= z;
  }
  return out;
}

/** Mean negative log-likelihood of the labels under row probabilities. */
export function nll(labels: ArrayLike<number>, probs: ArrayLike<number>, k: number): number {
  let s = 0;
  for (let i = 0; i < labels.length; i++) s -= Math.log(Math.max(probs[i * k + labels[i]], 1e-300));
  return labels.length ? s / labels.length : NaN;
}

/**
 * The temperature minimising the NLL of `labels` (Guo et al. 2017), by golden-section search on
 * log T over [e⁻³, e³]. Fit it on validation images only and apply it to the others.
 */
export function fitTemperature(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  k: number,
): number {
  const f = (logT: number) => nll(labels, applyTemperature(probs, k, Math.exp(logT)), k);
  let a = -3, b = 3;
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a), d = a + g * (b - a);
  let fc = f(c), fd = f(d);
  for (let it = 0; it < 80; it++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return Math.exp((a + b) / 2);
}

/** A 95% interval from a bootstrap. */
export interface Interval {
  /** The statistic on the data as they are. */
  value: number;
  /** 2.5th percentile of the bootstrap replicates. */
  lo: number;
  /** 97.5th percentile. */
  hi: number;
  /** Replicates drawn. */
  replicates: number;
}

/** The p-quantile (linear interpolation) of sorted finite values (NaN when there are none). */
export function quantile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const x = p * (sorted.length - 1), i = Math.floor(x), f = x - i;
  return i + 1 < sorted.length ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[i];
}

/**
 * The clusters of a cluster bootstrap: the distinct groups, sorted (the order the draws index,
 * so a seed gives the same replicates wherever it is used), and each one's sample indices.
 * @example
 * ```ts
 * import { groupMembers } from "./operating.ts";
 * console.log(groupMembers(["b", "a", "b"])); // { keys: ["a", "b"], members: [[1], [0, 2]] }
 * ```
 */
export function groupMembers(groupOf: readonly string[]): { keys: string[]; members: number[][] } {
  const byGroup = new Map<string, number[]>();
  groupOf.forEach((g, i) => {
    const m = byGroup.get(g);
    if (m) m.push(i);
    else byGroup.set(g, [i]);
  });
  const keys = [...byGroup.keys()].sort();
  return { keys, members: keys.map((k) => byGroup.get(k)!) };
}

/**
 * 95% percentile intervals of statistics by a cluster bootstrap: each replicate draws as many
 * groups as there are, with replacement, and pools their samples; `stat` maps sample indices
 * (with repeats) to one number per statistic. Seeded, so the interval is reproducible.
 */
export function clusterBootstrap(
  groupOf: string[],
  stats: Record<string, (idx: number[]) => number>,
  replicates = 1000,
  seed = 1,
): Record<string, Interval> {
  const { keys, members } = groupMembers(groupOf);
  const all = groupOf.map((_, i) => i);
  const r = rng(seed, "bootstrap/groups");
  const draws: Record<string, number[]> = Object.fromEntries(
    Object.keys(stats).map((k) => [k, []]),
  );
  for (let b = 0; b < replicates; b++) {
    const idx: number[] = [];
    for (let j = 0; j < keys.length; j++) {
      idx.push(...members[r.int(keys.length)]);
    }
    for (const [name, fn] of Object.entries(stats)) {
      const v = fn(idx);
      if (Number.isFinite(v)) draws[name].push(v);
    }
  }
  return Object.fromEntries(
    Object.entries(stats).map(([name, fn]) => {
      const s = draws[name].sort((x, y) => x - y);
      return [name, { value: fn(all), lo: quantile(s, 0.025), hi: quantile(s, 0.975), replicates }];
    }),
  );
}

/** ROC-AUC of a subset (with repeats), for {@link clusterBootstrap}. */
export function rocAucOf(scores: ArrayLike<number>, positive: ArrayLike<boolean>) {
  return (idx: number[]): number => rocAuc(idx.map((i) => scores[i]), idx.map((i) => positive[i]));
}

/** The protocol's figures of one evaluation (issue 21): operating points, calibration, intervals. */
export interface ProtocolMetrics {
  /** Galaxy purity at galaxy completeness 0.80, 0.90, 0.96 (keys "0.8", "0.9", "0.96"). */
  galaxy_purity_at_completeness: Record<string, OperatingPoint>;
  /** Star completeness at star purity 0.97, 0.99. */
  star_completeness_at_purity: Record<string, OperatingPoint>;
  /** Brier score of P(galaxy). */
  brier: number;
  /** ECE of the probabilities as they are. */
  ece: number;
  /** Temperature fitted on the calibration images (the run's validation split), if given. */
  temperature: number | null;
  /** ECE after that temperature; null without calibration images. */
  ece_scaled: number | null;
  /** 95% intervals by a bootstrap over sky groups (1000 replicates, seed 1). */
  intervals: Record<"accuracy" | "balanced_accuracy" | "roc_auc", Interval>;
  /** Sky groups resampled. */
  groups: number;
}

/**
 * Operating points, Brier score, calibration (with temperature scaling fitted on `calib`, which
 * must be other images than these: the run's validation split when these are test images) and
 * cluster-bootstrap intervals over `groups` (one sky-group key per sample).
 */
export function protocolMetrics(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  classNames: string[],
  groups: string[],
  calib?: { labels: ArrayLike<number>; probs: ArrayLike<number> },
): ProtocolMetrics {
  const k = classNames.length, n = labels.length;
  const gal = classNames.indexOf("galaxy"), star = classNames.indexOf("star");
  if (gal < 0 || star < 0 || k !== 2) {
    throw new Error(`protocol metrics need the classes galaxy and star (got ${classNames})`);
  }
  const pGal = Array.from({ length: n }, (_, i) => probs[i * k + gal]);
  const pStar = Array.from({ length: n }, (_, i) => probs[i * k + star]);
  const isGal = Array.from(labels, (l) => l === gal),
    isStar = Array.from(labels, (l) => l === star);
  const pred = Array.from(argmaxRows(probs, k)); // ties as every other metric breaks them
  const correct = pred.map((p, i) => p === labels[i]);
  const conf = pred.map((p, i) => probs[i * k + p]);
  const accuracy = (idx: number[]) =>
    idx.reduce((s, i) => s + (correct[i] ? 1 : 0), 0) / idx.length;
  const balanced = (idx: number[]) => {
    let tg = 0, ng = 0, ts = 0, ns = 0;
    for (const i of idx) {
      if (isGal[i]) {
        ng++;
        if (correct[i]) tg++;
      } else {
        ns++;
        if (correct[i]) ts++;
      }
    }
    return ng && ns ? (tg / ng + ts / ns) / 2 : NaN;
  };
  let temperature: number | null = null, eceScaled: number | null = null;
  if (calib) {
    temperature = fitTemperature(calib.labels, calib.probs, k);
    const scaled = applyTemperature(probs, k, temperature);
    eceScaled = ece(
      pred.map((p, i) => scaled[i * k + p]),
      correct,
    );
  }
  return {
    galaxy_purity_at_completeness: Object.fromEntries(
      [0.8, 0.9, 0.96].map((c) => [String(c), purityAtCompleteness(pGal, isGal, c)]),
    ),
    star_completeness_at_purity: Object.fromEntries(
      [0.97, 0.99].map((p) => [String(p), completenessAtPurity(pStar, isStar, p)]),
    ),
    brier: brierScore(pGal, isGal),
    ece: ece(conf, correct),
    temperature,
    ece_scaled: eceScaled,
    intervals: clusterBootstrap(groups, {
      accuracy,
      balanced_accuracy: balanced,
      roc_auc: rocAucOf(pGal, isGal),
    }) as ProtocolMetrics["intervals"],
    groups: new Set(groups).size,
  };
}
