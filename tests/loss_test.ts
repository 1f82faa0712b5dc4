import * as tf from "@tensorflow/tfjs-core";
import { assert, assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import {
  crossEntropy,
  inverseFrequencyWeights,
  shiftPrior,
  weightedSample,
} from "../lib/train/loss.ts";
import { rng } from "../lib/util/rng.ts";

await setupBackend("wasm");

// 8 labels: six of class 0, two of class 1 (N = 8, K = 2).
const labels = Int32Array.from([0, 0, 1, 0, 0, 1, 0, 0]);

Deno.test("class weights: (N / (K·count))^power, hand-worked", () => {
  // power 1: 8/(2·6) = 2/3, 8/(2·2) = 2.
  assertAllClose(inverseFrequencyWeights(labels, 2), [2 / 3, 2], 1e-12);
  // power 0.5: √(2/3), √2 — the odds ratio between the classes is √3 instead of 3.
  assertAllClose(inverseFrequencyWeights(labels, 2, 0.5), [Math.sqrt(2 / 3), Math.SQRT2], 1e-12);
  assertEquals(inverseFrequencyWeights(labels, 2, 0), [1, 1]);
  // A class absent from the labels gets weight 0 at any power.
  assertEquals(inverseFrequencyWeights(labels, 3, 0.5)[2], 0);
});

Deno.test("weighted sampler: class frequencies follow count^(1-power)", () => {
  const idx = [...labels.keys()];
  const n = 40000;
  // Expected share of class 1: count·count^-p over the sum → power 1: 1/2; 0.5: √2/(√6+√2);
  // 0: 2/8.
  const cases: [number, number][] = [[1, 0.5], [0.5, Math.SQRT2 / (Math.sqrt(6) + Math.SQRT2)], [
    0,
    0.25,
  ]];
  for (const [power, expected] of cases) {
    const draws = weightedSample(labels, idx, n, rng(7, `sampler-${power}`), power);
    const share = draws.filter((i) => labels[i] === 1).length / n;
    // 5 standard errors of a binomial share at n = 40000 is < 0.0125.
    assert(Math.abs(share - expected) < 0.0125, `power ${power}: share ${share} vs ${expected}`);
  }
});

Deno.test("weighted sampler at power 1 draws exactly what the default draws", () => {
  const idx = [...labels.keys()];
  assertEquals(
    weightedSample(labels, idx, 100, rng(3, "s"), 1),
    weightedSample(labels, idx, 100, rng(3, "s")),
  );
});

Deno.test("weighted cross-entropy: Σ w·nll / Σ w, hand-worked", () => {
  // Logits (0, 0): nll = ln 2 for either label, so any weights give ln 2.
  // Logits (ln 3, 0) → p = (3/4, 1/4): nll(label 0) = ln(4/3), nll(label 1) = ln 4.
  const logits = tf.tensor2d([[Math.log(3), 0], [Math.log(3), 0]]);
  const w = [0.5, 2];
  const got = crossEntropy(logits, Int32Array.from([0, 1]), w).dataSync()[0];
  const want = (0.5 * Math.log(4 / 3) + 2 * Math.log(4)) / 2.5;
  assertAllClose([got], [want], 1e-5);
  const even = crossEntropy(tf.zeros([2, 2]), Int32Array.from([0, 1]), w).dataSync()[0];
  assertAllClose([even], [Math.LN2], 1e-6);
});

Deno.test("shiftPrior: p·w renormalised per row, hand-worked; weights of 1 change nothing", () => {
  // Row (0.5, 0.5) with weights (1, 3) → (1/4, 3/4); row (0.9, 0.1) → (0.9, 0.3)/1.2 = (0.75, 0.25).
  const got = shiftPrior([0.5, 0.5, 0.9, 0.1], 2, [1, 3]);
  assertAllClose(Array.from(got), [0.25, 0.75, 0.75, 0.25], 1e-7);
  assertAllClose(Array.from(shiftPrior([0.2, 0.8], 2, [1, 1])), [0.2, 0.8], 1e-7);
  // Binary: the shifted P(class 1) is a monotone function of the old one (ranking kept).
  const ps = [0.05, 0.3, 0.5, 0.7, 0.99];
  const shifted = ps.map((p) => shiftPrior([1 - p, p], 2, [0.8, 1.5])[1]);
  for (let i = 1; i < ps.length; i++) assert(shifted[i] > shifted[i - 1]);
});
