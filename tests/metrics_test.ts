/**
 * Metrics against hand-worked values and brute-force references.
 */
import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import {
  argmaxRows,
  averagePrecision,
  computeMetrics,
  confusionMatrix,
  ece,
  prCurve,
  reliabilityBins,
  rocAuc,
  rocCurve,
} from "../lib/metrics/metrics.ts";
import { formatMetricsMarkdown, metricsCsvRows } from "../lib/metrics/format.ts";
import { mcnemar } from "../lib/metrics/stats.ts";

const NAMES = ["star", "galaxy"];

/*
 * Hand-worked 10-sample example. Classes: 0 = star, 1 = galaxy (positive). p = P(galaxy).
 *
 *  i  label   p     pred  outcome(galaxy)  conf = max(p, 1-p)  correct
 *  0  galaxy  0.91  gal   TP               0.91                yes
 *  1  galaxy  0.83  gal   TP               0.83                yes
 *  2  galaxy  0.62  gal   TP               0.62                yes
 *  3  galaxy  0.28  star  FN               0.72                no
 *  4  star    0.71  gal   FP               0.71                no
 *  5  star    0.38  star  TN               0.62                yes
 *  6  star    0.18  star  TN               0.82                yes
 *  7  star    0.09  star  TN               0.91                yes
 *  8  star    0.04  star  TN               0.96                yes
 *  9  star    0.62  gal   FP               0.62                no
 *
 * Confusion [true][pred]: star → [4, 2], galaxy → [1, 3].
 * galaxy: TP 3, FP 2, FN 1, TN 4 → precision 3/5, recall 3/4, specificity 4/6,
 *         F1 = 2·3/(2·3 + 2 + 1) = 6/9.
 * star:   TP 4, FP 1, FN 2, TN 3 → precision 4/5, recall 4/6, specificity 3/4,
 *         F1 = 8/(8 + 1 + 2) = 8/11.
 * accuracy = 7/10; balanced accuracy = (3/4 + 4/6)/2 = 17/24.
 *
 * ROC-AUC: positives {.91, .83, .62, .28}, negatives {.71, .38, .18, .09, .04, .62}; negatives
 * beaten by each positive (tie = 1/2): .91 → 6, .83 → 6, .62 → 4 + 1/2 (tie with .62),
 * .28 → 3. U = 19.5, AUC = 19.5 / (4·6) = 0.8125.
 *
 * AP: distinct thresholds descending with cumulative (TP, FP):
 *   .91 (1,0) R .25 P 1   → +.25
 *   .83 (2,0) R .50 P 1   → +.25
 *   .71 (2,1) R .50       → +0
 *   .62 (3,2) R .75 P 3/5 → +.15
 *   .38 (3,3) R .75       → +0
 *   .28 (4,3) R 1   P 4/7 → +1/7
 *   rest: recall unchanged.  AP = .65 + 1/7 = 111/140.
 *
 * ECE (15 bins of width 1/15, bin b = (b/15, (b+1)/15]):
 *   bin 9  (.600, .667]: .62 ✓, .62 ✓, .62 ✗ → conf .62, acc 2/3 → 3/10 · .04667 = .014
 *   bin 10 (.667, .733]: .72 ✗, .71 ✗       → conf .715, acc 0 → 2/10 · .715   = .143
 *   bin 12 (.800, .867]: .83 ✓, .82 ✓       → conf .825, acc 1 → 2/10 · .175   = .035
 *   bin 13 (.867, .933]: .91 ✓, .91 ✓       → conf .91,  acc 1 → 2/10 · .09    = .018
 *   bin 14 (.933, 1]:    .96 ✓              → conf .96,  acc 1 → 1/10 · .04    = .004
 *   ECE = .214
 */
const HAND_LABELS = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
const HAND_PGAL = [0.91, 0.83, 0.62, 0.28, 0.71, 0.38, 0.18, 0.09, 0.04, 0.62];
const HAND_PROBS = HAND_PGAL.flatMap((p) => [1 - p, p]);

Deno.test("hand-worked 10-sample example: confusion and per-class metrics", () => {
  const m = computeMetrics(HAND_LABELS, HAND_PROBS, NAMES);
  assertEquals(m.confusion, [[4, 2], [1, 3]]);
  assertEquals(m.n, 10);
  assertEquals(m.positiveClass, "galaxy");
  const g = m.perClass.galaxy, s = m.perClass.star;
  assertAllClose(
    [g.precision, g.recall, g.specificity, g.f1, g.support],
    [3 / 5, 3 / 4, 4 / 6, 6 / 9, 4],
    1e-12,
    1e-12,
    "galaxy",
  );
  assertAllClose(
    [s.precision, s.recall, s.specificity, s.f1, s.support],
    [4 / 5, 4 / 6, 3 / 4, 8 / 11, 6],
    1e-12,
    1e-12,
    "star",
  );
  assertAllClose([m.accuracy, m.balancedAccuracy], [0.7, 17 / 24], 1e-12, 1e-12);
});

Deno.test("hand-worked 10-sample example: ROC-AUC, AP, ECE", () => {
  const m = computeMetrics(HAND_LABELS, HAND_PROBS, NAMES);
  assertAllClose([m.rocAuc, m.prAuc, m.ece], [0.8125, 111 / 140, 0.214], 1e-12, 1e-12);
});

Deno.test("reliability bins of the hand-worked example", () => {
  const conf = [0.91, 0.83, 0.62, 0.72, 0.71, 0.62, 0.82, 0.91, 0.96, 0.62];
  const ok = [true, true, true, false, false, true, true, true, true, false];
  const bins = reliabilityBins(conf, ok);
  assertEquals(bins.length, 15);
  assertEquals(bins.map((b) => b.count), [0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 0, 2, 2, 1]);
  assertAllClose(
    [bins[9].meanConfidence, bins[9].accuracy, bins[10].meanConfidence, bins[10].accuracy],
    [0.62, 2 / 3, 0.715, 0],
    1e-12,
    1e-12,
  );
  assertAllClose([ece(conf, ok)], [0.214], 1e-12, 1e-12);
  // Bins are right-closed (b/B, (b+1)/B]: with 5 bins, 0.2 and 0.4 fall in bins 0 and 1, and
  // confidence 1 in the last bin.
  const edge = reliabilityBins([0.2, 0.4, 1.0], [true, true, true], 5);
  assertEquals(edge.map((b) => b.count), [1, 1, 0, 0, 1]);
  // Perfect calibration: every sample in the top bin with confidence 1 and correct.
  assertEquals(ece([1, 1, 1], [true, true, true]), 0);
});

Deno.test("class with no predictions reports 0, never NaN", () => {
  // Every sample predicted star: galaxy precision is 0/0 → 0.
  const labels = [0, 0, 1, 1];
  const probs = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4];
  const m = computeMetrics(labels, probs, NAMES);
  assertEquals(m.confusion, [[2, 0], [2, 0]]);
  assertEquals(m.perClass.galaxy, {
    precision: 0,
    recall: 0,
    specificity: 1,
    f1: 0,
    support: 2,
  });
  assertEquals(m.perClass.star.precision, 0.5);
  assertEquals(m.perClass.star.specificity, 0);
  assertEquals(m.balancedAccuracy, 0.5);
  // The galaxy score still ranks galaxies above stars, so the ranking metrics are perfect.
  assertEquals(m.rocAuc, 1);
  assertEquals(m.prAuc, 1);
  for (const row of metricsCsvRows(m).slice(1)) assert(row[2] !== "NaN", `NaN in ${row}`);
});

Deno.test("a class absent from the labels: balanced accuracy ignores it, rates are 0", () => {
  const names = ["star", "galaxy", "qso"];
  const labels = [0, 1, 1];
  const probs = [0.8, 0.1, 0.1, 0.1, 0.2, 0.7, 0.2, 0.7, 0.1];
  const m = computeMetrics(labels, probs, names);
  assertEquals(m.confusion, [[1, 0, 0], [0, 1, 1], [0, 0, 0]]);
  assertEquals(m.perClass.qso, { precision: 0, recall: 0, specificity: 2 / 3, f1: 0, support: 0 });
  // Mean recall over star (1) and galaxy (1/2) only.
  assertEquals(m.balancedAccuracy, 0.75);
});

Deno.test("ROC-AUC and AP are NaN when a class is absent from the labels", () => {
  const m = computeMetrics([0, 0, 0], [0.9, 0.1, 0.4, 0.6, 0.5, 0.5], NAMES);
  assert(Number.isNaN(m.rocAuc));
  assert(Number.isNaN(m.prAuc));
  assert(Number.isNaN(rocAuc([0.3, 0.4], [true, true])));
  assert(Number.isNaN(averagePrecision([0.3, 0.4], [false, false])));
  assert(formatMetricsMarkdown(m).includes("| n/a |"));
});

/**
 * Tiny seeded generator (mulberry32) so this test does not depend on lib/util/rng.ts; only the
 * test cases' variety matters here, not stream quality.
 */
function testRng(seed: number): { next(): number; int(n: number): number } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number): number => Math.floor(next() * n) };
}

/** Brute-force AUC: fraction of (positive, negative) pairs ordered correctly, ties 1/2. */
function pairCountAuc(scores: number[], positive: boolean[]): number {
  let wins = 0, pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!positive[i]) continue;
    for (let j = 0; j < scores.length; j++) {
      if (positive[j]) continue;
      pairs++;
      if (scores[i] > scores[j]) wins += 1;
      else if (scores[i] === scores[j]) wins += 0.5;
    }
  }
  return wins / pairs;
}

/** Trapezoidal area under a polyline through (x, y) points in order. */
function trapezoid(xs: number[], ys: number[]): number {
  let a = 0;
  for (let i = 1; i < xs.length; i++) a += ((xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1])) / 2;
  return a;
}

Deno.test("ROC-AUC equals the brute-force pair count, with many ties", () => {
  const r = testRng(11);
  for (let trial = 0; trial < 20; trial++) {
    const n = 5 + r.int(60);
    const levels = 1 + r.int(6); // few distinct scores → many ties
    const positive = Array.from({ length: n }, () => r.next() < 0.4);
    positive[0] = true;
    positive[1] = false;
    // Positives score a little higher on average so AUC is not always ~0.5.
    const scores = positive.map((p) => Math.min(levels, r.int(levels + 1) + (p ? r.int(2) : 0)));
    const expected = pairCountAuc(scores, positive);
    assertAllClose([rocAuc(scores, positive)], [expected], 1e-12, 1e-12, `trial ${trial}`);
    // The tie-aware ROC curve's trapezoidal area is the same number.
    const curve = rocCurve(scores, positive);
    const area = trapezoid(curve.map((p) => p.fpr), curve.map((p) => p.tpr));
    assertAllClose([area], [expected], 1e-12, 1e-12, `curve trial ${trial}`);
  }
});

Deno.test("ROC curve points of a small tied example", () => {
  // Scores .8(P) .5(P) .5(N) .2(N): thresholds ∞, .8, .5, .2.
  const curve = rocCurve([0.8, 0.5, 0.5, 0.2], [true, true, false, false]);
  assertEquals(curve, [
    { fpr: 0, tpr: 0, threshold: Infinity },
    { fpr: 0, tpr: 0.5, threshold: 0.8 },
    { fpr: 0.5, tpr: 1, threshold: 0.5 },
    { fpr: 1, tpr: 1, threshold: 0.2 },
  ]);
  // Pairs (P, N): (.8, .5) 1, (.8, .2) 1, (.5, .5) ½, (.5, .2) 1 → AUC = 3.5/4.
  assertEquals(rocAuc([0.8, 0.5, 0.5, 0.2], [true, true, false, false]), 0.875);
});

Deno.test("AP: hand-worked example, PR curve, and step-wise sum", () => {
  // Scores .9(P) .8(N) .7(P) .6(N) .5(P): P@R=1/3 is 1, P@R=2/3 is 2/3, P@R=1 is 3/5.
  // AP = 1/3·1 + 1/3·2/3 + 1/3·3/5 = (15 + 10 + 9)/45 = 34/45.
  const scores = [0.9, 0.8, 0.7, 0.6, 0.5];
  const positive = [true, false, true, false, true];
  assertAllClose([averagePrecision(scores, positive)], [34 / 45], 1e-12, 1e-12);
  const pr = prCurve(scores, positive);
  assertEquals(pr[0], { recall: 0, precision: 1, threshold: Infinity });
  assertAllClose(pr.map((p) => p.recall), [0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1], 1e-12, 1e-12);
  assertAllClose(pr.map((p) => p.precision), [1, 1, 1 / 2, 2 / 3, 2 / 4, 3 / 5], 1e-12, 1e-12);
  // Ties form one step: both tied samples enter at once.
  // Scores .9(P) .5(P) .5(N): AP = 1/2·1 + 1/2·2/3 = 5/6.
  assertAllClose([averagePrecision([0.9, 0.5, 0.5], [true, true, false])], [5 / 6], 1e-12, 1e-12);
});

Deno.test("perfectly separable scores give AUC 1 and AP 1", () => {
  const labels = [0, 1, 0, 1, 1, 0];
  const pGal = [0.1, 0.9, 0.3, 0.55, 0.7, 0.45];
  const m = computeMetrics(labels, pGal.flatMap((p) => [1 - p, p]), NAMES);
  assertEquals(m.rocAuc, 1);
  assertEquals(m.prAuc, 1);
  assertEquals(m.accuracy, 1);
  // Reversed scores: AUC 0.
  assertEquals(rocAuc(pGal.map((p) => 1 - p), labels.map((y) => y === 1)), 0);
});

Deno.test("argmax ties go to the lowest index; confusionMatrix counts", () => {
  assertEquals(Array.from(argmaxRows([0.5, 0.5, 0.2, 0.8, 0.4, 0.4, 0.2, 0.4], 2)), [0, 1, 0, 1]);
  assertEquals(confusionMatrix([0, 1, 2, 2], [0, 2, 2, 1], 3), [[1, 0, 0], [0, 0, 1], [0, 1, 1]]);
  const m = computeMetrics([1], [0.5, 0.5], NAMES);
  assertEquals(m.confusion, [[0, 0], [1, 0]]);
});

Deno.test("positive class: default galaxy, else classNames[1], explicit name checked", () => {
  assertEquals(computeMetrics([0, 1], [1, 0, 0, 1], ["galaxy", "star"]).positiveClass, "galaxy");
  assertEquals(computeMetrics([0, 1], [1, 0, 0, 1], ["a", "b"]).positiveClass, "b");
  // With star as positive the scores are P(star): the example's AUC is the same by symmetry.
  const m = computeMetrics(HAND_LABELS, HAND_PROBS, NAMES, "star");
  assertEquals(m.positiveClass, "star");
  assertAllClose([m.rocAuc], [0.8125], 1e-12, 1e-12);
  assertThrows(() => computeMetrics([0], [1, 0], NAMES, "qso"), StarmambaError, "qso");
});

Deno.test("input validation names the problem", () => {
  assertThrows(() => computeMetrics([0, 1], [0.5, 0.5], NAMES), Error, "probs has 2 values");
  assertThrows(() => computeMetrics([2], [0.5, 0.5], NAMES), Error, "label 2");
  assertThrows(() => computeMetrics([0], [NaN, 0.5], NAMES), Error, "not finite");
});

Deno.test("McNemar: exact binomial for small b + c, chi-square otherwise", () => {
  // b = 2 (A right, B wrong), c = 8 (A wrong, B right), 5 both right, 3 both wrong.
  // Exact: P(X ≤ 2 | Bin(10, ½)) = (1 + 10 + 45)/1024; two-sided p = 112/1024 = 0.109375.
  // Statistic: (|2 − 8| − 1)² / 10 = 2.5.
  const a = [...Array(2).fill(true), ...Array(8).fill(false), ...Array(5).fill(true)];
  const b = [...Array(2).fill(false), ...Array(8).fill(true), ...Array(5).fill(true)];
  a.push(false, false, false);
  b.push(false, false, false);
  const r = mcnemar(a, b);
  assertEquals([r.b, r.c, r.method], [2, 8, "exact"]);
  assertAllClose([r.statistic, r.pValue], [2.5, 112 / 1024], 1e-12, 1e-12);
  // b = 30, c = 10: (|30 − 10| − 1)² / 40 = 9.025; p = erfc(√(9.025/2)) = 0.0026631192591
  // (Python math.erfc).
  const big = mcnemar(
    [...Array(30).fill(true), ...Array(10).fill(false)],
    [...Array(30).fill(false), ...Array(10).fill(true)],
  );
  assertEquals([big.b, big.c, big.method], [30, 10, "chi2"]);
  assertAllClose([big.statistic, big.pValue], [9.025, 0.002663119259138554], 1e-6, 1e-9);
  // No discordant pairs: no evidence of a difference.
  assertEquals(mcnemar([true, false], [true, false]).pValue, 1);
  // Symmetric exact case b = c = 3: two-sided p is capped at 1.
  assertEquals(
    mcnemar([true, true, true, false, false, false], [
      false,
      false,
      false,
      true,
      true,
      true,
    ]).pValue,
    1,
  );
  assertThrows(() => mcnemar([true], []), Error, "paired");
});

Deno.test("formatMetricsMarkdown and metricsCsvRows render the hand-worked example", () => {
  const m = computeMetrics(HAND_LABELS, HAND_PROBS, NAMES);
  const md = formatMetricsMarkdown(m, "test split");
  assert(md.startsWith("### test split\n"));
  assert(md.includes("| accuracy | 0.7000 |"), md);
  assert(md.includes("| ROC-AUC (galaxy) | 0.8125 |"), md);
  assert(md.includes("| galaxy | 0.6000 | 0.7500 | 0.6667 | 0.6667 | 4 |"), md);
  assert(md.includes("| star | 4 | 2 |"), md);
  assert(md.includes("| galaxy | 1 | 3 |"), md);
  const rows = metricsCsvRows(m);
  assertEquals(rows[0], ["metric", "class", "value"]);
  assert(rows.every((r) => r.length === 3));
  const get = (metric: string, cls: string): number =>
    Number(rows.find((r) => r[0] === metric && r[1] === cls)![2]);
  assertEquals(get("accuracy", ""), 0.7);
  assertEquals(get("roc_auc", "galaxy"), 0.8125);
  assertEquals(get("f1", "star"), 8 / 11);
  assertEquals(get("confusion", "true=star;pred=galaxy"), 2);
});
