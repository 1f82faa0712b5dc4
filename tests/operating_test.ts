/**
 * Operating points, Brier score, temperature scaling and the cluster bootstrap
 * (lib/metrics/operating.ts) on hand-worked examples.
 */
import { assert, assertAllClose, assertEquals } from "../lib/util/assert.ts";
import {
  applyTemperature,
  brierScore,
  clusterBootstrap,
  completenessAtPurity,
  fitTemperature,
  purityAtCompleteness,
} from "../lib/metrics/operating.ts";

// Scores in descending order with labels T T F T F F (P = 3): the cuts give
// t=0.9 TP1 FP0, 0.8 TP2 FP0, 0.7 TP2 FP1, 0.6 TP3 FP1, 0.5 TP3 FP2, 0.4 TP3 FP3.
const scores = [0.5, 0.9, 0.7, 0.4, 0.8, 0.6];
const positive = [false, true, false, false, true, true];

Deno.test("purity at completeness and completeness at purity: hand-worked cuts, ties together", () => {
  assertEquals(purityAtCompleteness(scores, positive, 0.6), {
    purity: 1,
    completeness: 2 / 3,
    threshold: 0.8,
  });
  assertEquals(purityAtCompleteness(scores, positive, 0.9), {
    purity: 0.75,
    completeness: 1,
    threshold: 0.6,
  });
  assertEquals(completenessAtPurity(scores, positive, 0.97), {
    purity: 1,
    completeness: 2 / 3,
    threshold: 0.8,
  });
  assertEquals(completenessAtPurity(scores, positive, 0.7).completeness, 1);
  // Tied scores are cut together: one threshold, TP 1, FP 1.
  assertEquals(purityAtCompleteness([0.5, 0.5], [true, false], 0.5).purity, 0.5);
  // Nothing that pure: completeness 0.
  assertEquals(completenessAtPurity([0.9, 0.8], [false, true], 0.99).completeness, 0);
});

Deno.test("Brier score: hand-worked", () => {
  assertAllClose([brierScore([1, 0, 0.5], [true, true, false])], [1.25 / 3], 1e-12);
});

Deno.test("temperature scaling: T = 1 is the identity; the fitted T of an overconfident model is the hand-worked one", () => {
  const p = [0.7, 0.3, 0.2, 0.8];
  assertAllClose(Array.from(applyTemperature(p, 2, 1)), p, 1e-12);
  // Confidence 0.99 on every image, right on 80% of them: the NLL-optimal temperature makes the
  // confidence 0.8, i.e. (0.99/0.01)^(1/T) = 4, T = ln 99 / ln 4.
  const n = 50, labels: number[] = [], probs: number[] = [];
  for (let i = 0; i < n; i++) {
    labels.push(i % 5 === 0 ? 1 : 0);
    probs.push(0.99, 0.01);
  }
  const T = fitTemperature(labels, probs, 2);
  assertAllClose([T], [Math.log(99) / Math.log(4)], 1e-4);
  assertAllClose([applyTemperature(probs, 2, T)[0]], [0.8], 1e-5);
});

Deno.test("cluster bootstrap: resamples whole groups, reproducibly", () => {
  // Group A all right, group B all wrong: a replicate is AA (1), AB/BA (0.5) or BB (0).
  const groupOf = ["A", "A", "A", "B", "B", "B"];
  const right = [1, 1, 1, 0, 0, 0];
  const acc = (idx: number[]) => idx.reduce((s, i) => s + right[i], 0) / idx.length;
  const a = clusterBootstrap(groupOf, { acc }, 400, 3);
  assertEquals(a, clusterBootstrap(groupOf, { acc }, 400, 3));
  assertEquals(a.acc.value, 0.5);
  assertEquals([a.acc.lo, a.acc.hi], [0, 1]);
  // One group: every replicate is the data itself.
  const one = clusterBootstrap(["A", "A", "A"], { acc }, 50, 1);
  assertEquals([one.acc.lo, one.acc.value, one.acc.hi], [1, 1, 1]);
  // Within-group resampling would give a narrow interval here; the cluster bootstrap does not.
  assert(a.acc.hi - a.acc.lo === 1);
});
