/**
 * The test set's figures of a two-class score and their uncertainty from the scored images
 * themselves: a bootstrap over images (each image resampled) and one over sky groups (whole
 * groups resampled, since cutouts of one field are not independent). Each replicate is a
 * multiset of the images; here it is held as a count per image and every figure is computed
 * from the counts in one pass over orders sorted once, so thousands of replicates of several
 * models take a second. The draws are those of {@link clusterBootstrap} (same stream, same
 * order), and the figures equal its index-list statistics (rocAuc, purityAtCompleteness,
 * completenessAtPurity) on the same multisets: tests/test_scoring_test.ts checks both.
 * @module
 */
import { rng } from "../util/rng.ts";
import { groupMembers, type Interval, quantile } from "./operating.ts";

/** The figures of one two-class score (issue 31): accuracy … star completeness at purity. */
export interface BinaryFigures {
  /** Share of images whose decision (positive iff p ≥ 0.5) is their label. */
  accuracy: number;
  /** Mean of the two classes' recalls (NaN when a class is absent). */
  balanced_accuracy: number;
  /** ROC-AUC of p for the positive class (ties count one half). */
  roc_auc: number;
  /** Positive-class purity at the most selective threshold reaching completeness 0.9. */
  purity_at_completeness: number;
  /** Negative-class completeness at the lowest threshold (on 1 − p) with purity ≥ 0.99. */
  completeness_at_purity: number;
}

/** The names of {@link BinaryFigures}, in report order. */
export const BINARY_FIGURES = [
  "accuracy",
  "balanced_accuracy",
  "roc_auc",
  "purity_at_completeness",
  "completeness_at_purity",
] as const;

/** The operating points' targets: positive completeness 0.9, negative purity 0.99. */
export const OPERATING_TARGETS = { completeness: 0.9, purity: 0.99 } as const;

/** Indices sorted by a score, descending, with the index as tie order. */
function descending(s: ArrayLike<number>): Int32Array {
  return Int32Array.from(Array.from(s, (_, i) => i).sort((a, b) => s[b] - s[a] || a - b));
}

/**
 * A two-class score prepared for {@link BinaryScorer.figures}: the orders are sorted once and
 * every replicate is one pass over them.
 */
export class BinaryScorer {
  readonly #p: Float64Array;
  readonly #q: Float64Array;
  readonly #pos: Uint8Array;
  readonly #byP: Int32Array;
  readonly #byQ: Int32Array;

  /**
   * `p`: each image's probability of the positive class; `positive`: whether it is one. The
   * negative class's score is 1 − p (computed here, as the reader of a CSV of p does).
   */
  constructor(p: ArrayLike<number>, positive: ArrayLike<boolean>) {
    if (p.length !== positive.length) {
      throw new RangeError(`BinaryScorer: ${p.length} scores, ${positive.length} labels`);
    }
    this.#p = Float64Array.from(p);
    this.#q = this.#p.map((x) => 1 - x);
    this.#pos = Uint8Array.from(positive, (b) => (b ? 1 : 0));
    this.#byP = descending(this.#p);
    this.#byQ = descending(this.#q);
  }

  /** Images scored. */
  get n(): number {
    return this.#p.length;
  }

  /** The figures with image i counted w[i] times (all once when `w` is absent). */
  figures(w?: ArrayLike<number>): BinaryFigures {
    const count = (i: number) => (w ? w[i] : 1);
    let rightPos = 0, rightNeg = 0, nPos = 0, nNeg = 0;
    for (let i = 0; i < this.#p.length; i++) {
      const c = count(i);
      if (c === 0) continue;
      if (this.#pos[i]) {
        nPos += c;
        if (this.#p[i] >= 0.5) rightPos += c;
      } else {
        nNeg += c;
        if (this.#p[i] < 0.5) rightNeg += c;
      }
    }
    return {
      accuracy: nPos + nNeg > 0 ? (rightPos + rightNeg) / (nPos + nNeg) : NaN,
      balanced_accuracy: nPos && nNeg ? (rightPos / nPos + rightNeg / nNeg) / 2 : NaN,
      roc_auc: this.#auc(count, nPos, nNeg),
      purity_at_completeness: this.#purityAt(count, nPos),
      completeness_at_purity: this.#completenessAt(count, nNeg),
    };
  }

  /** Mann–Whitney U / (P·N), walking p descending by tie groups: negatives below, half of ties. */
  #auc(count: (i: number) => number, nPos: number, nNeg: number): number {
    if (nPos === 0 || nNeg === 0) return NaN;
    const o = this.#byP, p = this.#p;
    let u = 0, negAbove = 0;
    for (let s = 0; s < o.length;) {
      let e = s, tiePos = 0, tieNeg = 0;
      for (; e < o.length && p[o[e]] === p[o[s]]; e++) {
        if (this.#pos[o[e]]) tiePos += count(o[e]);
        else tieNeg += count(o[e]);
      }
      // Positives of this group beat every negative below it and tie with its own negatives.
      u += tiePos * (nNeg - negAbove - tieNeg) + 0.5 * tiePos * tieNeg;
      negAbove += tieNeg;
      s = e;
    }
    return u / (nPos * nNeg);
  }

  /** Positive purity at the first threshold (p descending, ties together) reaching the target. */
  #purityAt(count: (i: number) => number, nPos: number): number {
    const o = this.#byP, p = this.#p, target = OPERATING_TARGETS.completeness;
    let tp = 0, fp = 0;
    for (let s = 0; s < o.length;) {
      let e = s;
      for (; e < o.length && p[o[e]] === p[o[s]]; e++) {
        if (this.#pos[o[e]]) tp += count(o[e]);
        else fp += count(o[e]);
      }
      if (nPos > 0 && tp + fp > 0 && tp / nPos >= target) return tp / (tp + fp);
      s = e;
    }
    return NaN;
  }

  /** Negative completeness at the lowest threshold (1 − p descending) still ≥ the purity target. */
  #completenessAt(count: (i: number) => number, nNeg: number): number {
    const o = this.#byQ, q = this.#q, target = OPERATING_TARGETS.purity;
    let tp = 0, fp = 0, best = 0;
    for (let s = 0; s < o.length;) {
      let e = s;
      for (; e < o.length && q[o[e]] === q[o[s]]; e++) {
        if (this.#pos[o[e]]) fp += count(o[e]);
        else tp += count(o[e]);
      }
      if (tp + fp > 0 && tp / (tp + fp) >= target && nNeg > 0 && tp / nNeg > best) {
        best = tp / nNeg;
      }
      s = e;
    }
    return best;
  }
}

/**
 * 95% percentile intervals of each figure of `score` by a bootstrap that resamples the keys of
 * `groupOf` (one key per image; unique keys resample images, sky groups resample fields): each
 * replicate draws as many keys as there are, with replacement, exactly as {@link
 * clusterBootstrap} does with the same seed. Non-finite replicate values are left out of the
 * percentiles, as there.
 */
export function bootstrapFigures(
  score: BinaryScorer,
  groupOf: readonly string[],
  replicates = 1000,
  seed = 1,
): Record<keyof BinaryFigures, Interval> {
  const draws = bootstrapCounts(groupOf, replicates, seed);
  const values: Record<string, number[]> = Object.fromEntries(BINARY_FIGURES.map((k) => [k, []]));
  for (const w of draws) {
    const f = score.figures(w);
    for (const k of BINARY_FIGURES) if (Number.isFinite(f[k])) values[k].push(f[k]);
  }
  const all = score.figures();
  return Object.fromEntries(BINARY_FIGURES.map((k) => {
    const s = values[k].sort((a, b) => a - b);
    return [k, { value: all[k], lo: quantile(s, 0.025), hi: quantile(s, 0.975), replicates }];
  })) as Record<keyof BinaryFigures, Interval>;
}

/**
 * The replicates of a cluster bootstrap as counts per image: the draws of {@link
 * clusterBootstrap} (stream "bootstrap/groups", keys sorted, one `int` per drawn key).
 */
export function* bootstrapCounts(
  groupOf: readonly string[],
  replicates: number,
  seed: number,
): Generator<Uint32Array> {
  const { keys, members } = groupMembers(groupOf);
  const r = rng(seed, "bootstrap/groups");
  for (let b = 0; b < replicates; b++) {
    const w = new Uint32Array(groupOf.length);
    for (let j = 0; j < keys.length; j++) {
      for (const i of members[r.int(keys.length)]) w[i]++;
    }
    yield w;
  }
}
