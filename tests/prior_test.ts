/**
 * The Bayes prior correction of a run that trained with balanced classes (lib/metrics/prior.ts,
 * lib/results/prior.ts): hand-worked values, when it applies, and the reference recipe's
 * cross-validation recomputed from its published out-of-fold predictions (issue 31: 62.9%
 * uncorrected, 79.3% with the correction from the training counts alone).
 */
import { join, relative, resolve } from "node:path";
import { assert, assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { balancedTrainingPrior, priorWeights, reweightPosterior } from "../lib/metrics/prior.ts";
import { priorCorrectionOf } from "../lib/results/prior.ts";
import { checkCvSummary, type CvSummary, summarizeCv } from "../lib/results/cv.ts";
import { parseCsv } from "../lib/results/write.ts";
import { shiftPrior } from "../lib/train/loss.ts";
import type { RunRecord } from "../lib/results/run_record.ts";
import { ROOT } from "./permissions.ts";

Deno.test("prior correction, hand-worked: 1 galaxy to 3 stars, sampler at power 1 and 0.5, loss alike", () => {
  // Power 1: the sampler shows both classes equally often, so the network learnt the prior
  // (1/2, 1/2); the data's is (1/4, 3/4). Weights to/from = (1/2, 3/2).
  const s1 = balancedTrainingPrior([100, 300], "sampler", 1)!;
  assertAllClose(s1.from, [0.5, 0.5], 1e-15);
  assertAllClose(s1.to, [0.25, 0.75], 1e-15);
  assertAllClose(priorWeights(s1), [0.5, 1.5], 1e-15);
  // P = (0.6, 0.4) → (0.6·0.5, 0.4·1.5) / 0.9 = (1/3, 2/3): the decision flips to star.
  assertAllClose(
    Array.from(reweightPosterior([0.6, 0.4], 2, priorWeights(s1))),
    [1 / 3, 2 / 3],
    1e-15,
  );
  // Power 0.5: draws ∝ count^0.5, prior (1, √3)/(1 + √3); weights ∝ (1, √3).
  const s5 = balancedTrainingPrior([100, 300], "sampler", 0.5)!;
  assertAllClose(s5.from, [1 / (1 + Math.sqrt(3)), Math.sqrt(3) / (1 + Math.sqrt(3))], 1e-15);
  const w5 = priorWeights(s5);
  assertAllClose([w5[1] / w5[0]], [Math.sqrt(3)], 1e-12);
  const p5 = 0.6 / (0.6 + 0.4 * Math.sqrt(3)); // 0.4641
  assertAllClose([reweightPosterior([0.6, 0.4], 2, w5)[0]], [p5], 1e-12);
  // Loss weights (N/(K·count))^p give the same learnt prior: count·w ∝ count^(1−p).
  assertEquals(balancedTrainingPrior([100, 300], "loss", 0.5), s5);
  // shiftPrior (float32, the decision-time rule of evaluate/predict) is the same arithmetic.
  assertAllClose(Array.from(shiftPrior([0.6, 0.4], 2, priorWeights(s1))), [1 / 3, 2 / 3], 1e-7);
});

Deno.test("prior correction: none for class_balance none, power 0, or classes already balanced", () => {
  assertEquals(balancedTrainingPrior([100, 300], "none", 1), null);
  assertEquals(balancedTrainingPrior([100, 300], "sampler", 0), null);
  assertEquals(balancedTrainingPrior([200, 200], "sampler", 1), null);
  // From a run's record: its class_balance, class_weight_power and training counts.
  const record = (train: Record<string, unknown>) =>
    ({
      config: { train },
      data: {
        class_names: ["galaxy", "star"],
        split: { train_counts: { galaxy: 571, star: 1951 } },
      },
    }) as unknown as RunRecord;
  const c = priorCorrectionOf(record({ class_balance: "sampler", class_weight_power: 1 }))!;
  assertEquals(c.from, { galaxy: 0.5, star: 0.5 });
  assertAllClose([c.to.galaxy, c.to.star], [571 / 2522, 1951 / 2522], 1e-15);
  // A record written before class_weight_power existed trained at its default, 1.
  assertEquals(priorCorrectionOf(record({ class_balance: "sampler" })), c);
  assertEquals(priorCorrectionOf(record({ class_balance: "none", class_weight_power: 1 })), null);
});

const REFERENCE = join(ROOT, "results/ablations/cv-reference-grouped-aries/v1");

/** Fold runs of a published sweep, from its cv.json. */
function foldRuns(dir: string): string[] {
  const cv = JSON.parse(Deno.readTextFileSync(join(dir, "cv.json"))) as CvSummary;
  return cv.folds.map((f) => resolve(dir, f.run));
}

Deno.test("the reference recipe's CV, recomputed from its out-of-fold predictions: 62.9% → 79.3% with the prior correction", () => {
  // Independently of the library: each fold's predictions.csv decided as p_galaxy·n_galaxy vs
  // p_star·n_star with its result.json's training counts (the prior (1/2, 1/2) → the counts').
  let right = 0, rightRaw = 0, n = 0;
  const perFold: number[] = [];
  for (const dir of foldRuns(REFERENCE)) {
    const r = JSON.parse(Deno.readTextFileSync(join(dir, "result.json")));
    assertEquals(r.config.train.class_balance, "sampler");
    const { galaxy, star } = r.data.split.train_counts;
    const rows = parseCsv(Deno.readTextFileSync(join(dir, "predictions.csv")));
    const h = rows[0];
    let foldRight = 0;
    for (const row of rows.slice(1)) {
      const pg = Number(row[h.indexOf("p_galaxy")]), ps = Number(row[h.indexOf("p_star")]);
      const label = row[h.indexOf("label")];
      const call = pg * galaxy >= ps * star ? "galaxy" : "star";
      if (call === label) foldRight++;
      if ((pg >= ps ? "galaxy" : "star") === label) rightRaw++;
    }
    right += foldRight;
    n += rows.length - 1;
    perFold.push(foldRight / (rows.length - 1));
  }
  assertEquals(n, 3190);
  assertAllClose([rightRaw / n], [0.6298], 5e-5); // the published pooled 63.0%
  assertAllClose([right / n], [0.7934], 5e-5);
  const s = summarizeCv(foldRuns(REFERENCE))!;
  const c = s.prior_corrected!;
  assert(c !== null, "a sampler-trained CV gets the corrected figures");
  assertAllClose([c.pooled!.intervals.accuracy.value], [right / n], 1e-12);
  assertAllClose(c.folds.map((f) => f.accuracy), perFold, 1e-12);
  const mean = perFold.reduce((a, b) => a + b, 0) / perFold.length;
  assertAllClose([c.over_folds.accuracy.mean!], [mean], 1e-12);
  assertAllClose([s.over_folds.accuracy.mean!], [0.6291], 5e-5); // the uncorrected 62.9%
  // ROC-AUC of each fold: the ranking is unchanged.
  assertAllClose(c.folds.map((f) => f.roc_auc), s.folds.map((f) => f.roc_auc), 1e-9);
  // The best recipe trained on the data's prior: nothing to correct.
  const best = join(ROOT, "results/ablations/cv-best-grouped-aries/v1");
  assertEquals(summarizeCv(foldRuns(best))!.prior_corrected, null);
});

Deno.test("the published cv.json of both sweeps records the prior-corrected figures, and verify checks them", () => {
  for (const name of ["cv-reference-grouped-aries", "cv-best-grouped-aries"]) {
    const dir = join(ROOT, "results/ablations", name, "v1");
    const written = JSON.parse(Deno.readTextFileSync(join(dir, "cv.json")));
    assert("prior_corrected" in written, `${name}/v1/cv.json has prior_corrected`);
    const s = summarizeCv(foldRuns(dir))!;
    for (const f of s.folds) f.run = relative(dir, f.run);
    assertEquals(written, JSON.parse(JSON.stringify({ schema: "starmamba.cv/1", ...s })));
    assertEquals(checkCvSummary(join(dir, "cv.json")), []);
  }
  // An edited corrected figure is reported.
  const tmp = Deno.makeTempDirSync();
  const cv = JSON.parse(Deno.readTextFileSync(join(REFERENCE, "cv.json")));
  for (const f of cv.folds) f.run = join(REFERENCE, f.run);
  cv.prior_corrected.folds[2].accuracy += 0.01;
  Deno.writeTextFileSync(join(tmp, "cv.json"), JSON.stringify(cv));
  const problems = checkCvSummary(join(tmp, "cv.json"));
  assert(problems.some((p) => p.includes("prior_corrected fold 2 accuracy")), problems.join("\n"));
});
