/**
 * Confident learning (Northcutt, Jiang & Chuang, "Confident Learning: Estimating Uncertainty in
 * Dataset Labels", JAIR 70, 2021, §3): from out-of-sample class probabilities p̂ and the given
 * (possibly noisy) labels ỹ, which images' labels do the networks confidently reject?
 *
 * - Per-class thresholds (§3.1): t_j = the mean of p̂_j over the images labelled j (the class's
 *   average self-confidence), so a class the model is less sure of gets a lower bar.
 * - The confident joint C[i][j] (§3.1, Eq. 1): images labelled i whose p̂_j ≥ t_j; an image
 *   above the thresholds of several classes counts once, for the one of them with the largest
 *   p̂ (argmax over {l : p̂_l ≥ t_l}); an image above none counts nowhere.
 * - Calibration (§3.1, Eq. 2): Q̃[i][j] = C[i][j] / Σ_l C[i][l] · |X_{ỹ=i}|, so row i sums to
 *   the number of images labelled i; Q̂ = Q̃ / n is the estimated joint of given and true labels
 *   and n·Q̂[i][j] = Q̃[i][j] the estimated count of images labelled i that are truly j.
 * - Rank and prune (§3.2): `prune_by_class` flags, per class i, the round(Σ_{j≠i} Q̃[i][j])
 *   images labelled i with the lowest self-confidence p̂_i; `prune_by_noise_rate` flags, per
 *   off-diagonal cell, the round(Q̃[i][j]) images labelled i with the largest margin p̂_j − p̂_i;
 *   `both` is the images both rules flag (the paper's C+NR); `confident_joint` is the images
 *   counted off the diagonal of C (the paper's C_{ỹ,y*}).
 *
 * One guard beyond the paper's text (the open-source cleanlab applies the same): an image whose
 * arg-max class is its given label is never flagged. Q̃'s counts are estimates that can exceed
 * the images the networks actually put elsewhere; flagging an image the networks agree with
 * would not be "confidently rejected".
 * @module
 */

/** The paper's rules for which images to flag (§3.2). */
export const LABEL_ISSUE_FILTERS = [
  "prune_by_noise_rate",
  "prune_by_class",
  "both",
  "confident_joint",
] as const;

/** One of {@link LABEL_ISSUE_FILTERS}. */
export type LabelIssueFilter = typeof LABEL_ISSUE_FILTERS[number];

/**
 * Slack of the threshold test p̂_j ≥ t_j: the mean is rounded, so an image whose p̂_j equals it
 * in exact arithmetic (e.g. every image of a class at the same p̂) still counts.
 */
const THRESHOLD_SLACK = 1e-12;

/** Checks the shapes: n labels in [0, k), n·k probabilities. */
function checkShapes(labels: ArrayLike<number>, probs: ArrayLike<number>, k: number): void {
  if (probs.length !== labels.length * k) {
    throw new RangeError(
      `confident learning: ${labels.length} labels but ${probs.length} probabilities for ${k} classes`,
    );
  }
  for (let i = 0; i < labels.length; i++) {
    if (!(labels[i] >= 0 && labels[i] < k && Number.isInteger(labels[i]))) {
      throw new RangeError(
        `confident learning: label ${labels[i]} of image ${i} is not in [0, ${k})`,
      );
    }
  }
}

/**
 * The per-class thresholds t_j: the mean of p̂_j over the images labelled j (NaN for a class
 * no image is labelled with: nothing can be confidently counted in it).
 */
export function perClassThresholds(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  k: number,
): number[] {
  checkShapes(labels, probs, k);
  const sum = new Array<number>(k).fill(0), count = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) {
    sum[labels[i]] += probs[i * k + labels[i]];
    count[labels[i]]++;
  }
  return sum.map((s, j) => (count[j] > 0 ? s / count[j] : NaN));
}

/**
 * Each image's confidently counted class y*: the class with the largest p̂ among those whose
 * threshold it reaches, or -1 when it reaches none.
 */
export function confidentClasses(
  probs: ArrayLike<number>,
  k: number,
  thresholds: readonly number[],
): Int32Array {
  const n = probs.length / k;
  const out = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    let best = -1;
    for (let j = 0; j < k; j++) {
      const p = probs[i * k + j];
      if (!(p >= thresholds[j] - THRESHOLD_SLACK)) continue; // NaN threshold: never reached
      if (best < 0 || p > probs[i * k + best]) best = j;
    }
    out[i] = best;
  }
  return out;
}

/** The confident joint C[given][confident] (Eq. 1), k × k counts. */
export function confidentJoint(
  labels: ArrayLike<number>,
  confident: ArrayLike<number>,
  k: number,
): number[][] {
  const c = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < labels.length; i++) {
    if (confident[i] >= 0) c[labels[i]][confident[i]]++;
  }
  return c;
}

/**
 * The calibrated joint as counts, Q̃ = n·Q̂ (Eq. 2): row i of C rescaled to the number of images
 * labelled i. A row with nothing counted stays zero (no estimate; nothing is flagged from it).
 */
export function calibrateJoint(
  joint: readonly number[][],
  classCounts: readonly number[],
): number[][] {
  return joint.map((row, i) => {
    const s = row.reduce((a, b) => a + b, 0);
    return row.map((x) => (s > 0 ? (x / s) * classCounts[i] : 0));
  });
}

/** What {@link findLabelIssues} found. */
export interface LabelIssues {
  /** The rule that set {@link LabelIssues.flagged}. */
  filter: LabelIssueFilter;
  /** t_j per class. */
  thresholds: number[];
  /** Images per given class. */
  classCounts: number[];
  /** C[given][confident]: the confident joint. */
  confidentJoint: number[][];
  /** Q̃ = n·Q̂: the calibrated joint as estimated counts (rows sum to the class counts). */
  calibratedJoint: number[][];
  /** y* per image (-1: above no threshold). */
  confident: Int32Array;
  /** Whether each image is flagged by `filter`. */
  flagged: boolean[];
  /** Images each rule flags, per given class (the chosen rule's row equals `flagged`'s). */
  countsByFilter: Record<LabelIssueFilter, number[]>;
}

/** p̂ of each image's given label (the paper's self-confidence). */
export function selfConfidence(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  k: number,
): Float64Array {
  checkShapes(labels, probs, k);
  return Float64Array.from({ length: labels.length }, (_, i) => probs[i * k + labels[i]]);
}

/** Whether each image's arg-max class (first of ties) differs from its given label. */
function argmaxDisagrees(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  k: number,
): boolean[] {
  return Array.from({ length: labels.length }, (_, i) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j] > probs[i * k + best]) best = j;
    return best !== labels[i];
  });
}

/**
 * The `take` members of `members` (image indices) with the largest `score`, ties by index:
 * the order a rule prunes in.
 */
function topBy(members: number[], score: (i: number) => number, take: number): number[] {
  return [...members].sort((a, b) => score(b) - score(a) || a - b).slice(0, Math.max(0, take));
}

/** Prune by class (§3.2): per class, the images with the lowest self-confidence. */
function pruneByClass(
  byClass: number[][],
  q: number[][],
  probs: ArrayLike<number>,
  k: number,
): Set<number> {
  const out = new Set<number>();
  for (let i = 0; i < k; i++) {
    const off = q[i].reduce((s, x, j) => s + (j === i ? 0 : x), 0);
    for (const m of topBy(byClass[i], (x) => -probs[x * k + i], Math.round(off))) out.add(m);
  }
  return out;
}

/** Prune by noise rate (§3.2): per off-diagonal cell (i, j), the largest margins p̂_j − p̂_i. */
function pruneByNoiseRate(
  byClass: number[][],
  q: number[][],
  probs: ArrayLike<number>,
  k: number,
): Set<number> {
  const out = new Set<number>();
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      if (i === j) continue;
      const margin = (x: number) => probs[x * k + j] - probs[x * k + i];
      for (const m of topBy(byClass[i], margin, Math.round(q[i][j]))) out.add(m);
    }
  }
  return out;
}

/**
 * Confident learning on out-of-sample probabilities: the thresholds, the confident joint, its
 * calibration and the images `filter` flags (with the arg-max guard of the module's note), and
 * how many each of the paper's rules would flag per class. `probs` is row-major n × k.
 */
export function findLabelIssues(
  labels: ArrayLike<number>,
  probs: ArrayLike<number>,
  k: number,
  filter: LabelIssueFilter = "prune_by_noise_rate",
): LabelIssues {
  const thresholds = perClassThresholds(labels, probs, k);
  const confident = confidentClasses(probs, k, thresholds);
  const joint = confidentJoint(labels, confident, k);
  const byClass: number[][] = Array.from({ length: k }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const classCounts = byClass.map((m) => m.length);
  const q = calibrateJoint(joint, classCounts);
  const disagrees = argmaxDisagrees(labels, probs, k);
  const pbc = pruneByClass(byClass, q, probs, k), pbnr = pruneByNoiseRate(byClass, q, probs, k);
  const rules: Record<LabelIssueFilter, (i: number) => boolean> = {
    prune_by_noise_rate: (i) => pbnr.has(i),
    prune_by_class: (i) => pbc.has(i),
    both: (i) => pbc.has(i) && pbnr.has(i),
    confident_joint: (i) => confident[i] >= 0 && confident[i] !== labels[i],
  };
  const flags = (rule: LabelIssueFilter) =>
    Array.from({ length: labels.length }, (_, i) => disagrees[i] && rules[rule](i));
  const perClass = (f: boolean[]) => byClass.map((m) => m.filter((i) => f[i]).length);
  const countsByFilter = Object.fromEntries(
    LABEL_ISSUE_FILTERS.map((r) => [r, perClass(flags(r))]),
  ) as Record<LabelIssueFilter, number[]>;
  return {
    filter,
    thresholds,
    classCounts,
    confidentJoint: joint,
    calibratedJoint: q,
    confident,
    flagged: flags(filter),
    countsByFilter,
  };
}
