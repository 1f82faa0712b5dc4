/**
 * A cross-validation's fold models scored on the locked test set (lib/results/test_scoring.ts,
 * `deno task evaluate --cv <sweep> --test`): the bootstrap over images and over sky groups
 * against a brute-force reference, figures hand-worked from a four-image CSV, the CSV → figures
 * reader against the writer's JSON, verify-results on an edited CSV, and a 2-fold CV on
 * synthetic cutouts scored end to end through the command (prior correction included).
 */
import sharp from "sharp";
import { join } from "node:path";
import { assert, assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { rng } from "../lib/util/rng.ts";
import { BinaryScorer, bootstrapFigures } from "../lib/metrics/bootstrap.ts";
import {
  clusterBootstrap,
  completenessAtPurity,
  purityAtCompleteness,
} from "../lib/metrics/operating.ts";
import { rocAuc } from "../lib/metrics/metrics.ts";
import {
  parseTestPredictions,
  testFigures,
  type TestPredictions,
  type TestScores,
  writeTestScoring,
} from "../lib/results/test_scoring.ts";
import { parseCsv } from "../lib/results/write.ts";
import { verifyResults } from "../lib/results/verify.ts";
import { sha256Hex } from "../lib/util/fs.ts";
import { assertOneLineError, ROOT, runScript } from "./permissions.ts";

// ---- brute-force statistics over an index list with repeats (the slow reference) ----

/** Every figure of the scores `p` on the images `idx` (repeats count), by brute force. */
function slowStats(p: number[], isGal: boolean[]): Record<string, (idx: number[]) => number> {
  const called = (i: number) => p[i] >= 0.5;
  return {
    accuracy: (idx) => idx.filter((i) => called(i) === isGal[i]).length / idx.length,
    balanced_accuracy: (idx) => {
      const g = idx.filter((i) => isGal[i]), s = idx.filter((i) => !isGal[i]);
      if (!g.length || !s.length) return NaN;
      return (g.filter(called).length / g.length + s.filter((i) => !called(i)).length / s.length) /
        2;
    },
    roc_auc: (idx) => {
      // Every (galaxy, star) pair: 1 if the galaxy scores higher, ½ for a tie.
      let u = 0, pairs = 0;
      for (const i of idx) {
        if (!isGal[i]) continue;
        for (const j of idx) {
          if (isGal[j]) continue;
          pairs++;
          u += p[i] > p[j] ? 1 : p[i] === p[j] ? 0.5 : 0;
        }
      }
      return pairs ? u / pairs : NaN;
    },
    purity_at_completeness: (idx) => {
      // Thresholds from the highest down; the first that finds 90% of the galaxies.
      const nGal = idx.filter((i) => isGal[i]).length;
      for (const t of [...new Set(idx.map((i) => p[i]))].sort((a, b) => b - a)) {
        const sel = idx.filter((i) => p[i] >= t);
        const tp = sel.filter((i) => isGal[i]).length;
        if (nGal > 0 && tp / nGal >= 0.9) return tp / sel.length;
      }
      return NaN;
    },
    completeness_at_purity: (idx) => {
      // Star score 1 − p; the largest share of stars found at purity ≥ 0.99.
      const q = (i: number) => 1 - p[i];
      const nStar = idx.filter((i) => !isGal[i]).length;
      let best = 0;
      for (const t of new Set(idx.map(q))) {
        const sel = idx.filter((i) => q(i) >= t);
        const tp = sel.filter((i) => !isGal[i]).length;
        if (tp / sel.length >= 0.99 && nStar > 0) best = Math.max(best, tp / nStar);
      }
      return best;
    },
  };
}

Deno.test("bootstrap intervals over images and over sky groups equal a brute-force reference drawing the same replicates", () => {
  const r = rng(5, "scores");
  const n = 70;
  // Scores on a coarse grid (ties), galaxies likelier at high p, six sky groups of unequal size.
  const p = Array.from({ length: n }, () => Math.round(r.next() * 20) / 20);
  const isGal = p.map((x) => r.next() < 0.15 + 0.7 * x);
  const groups = p.map((_, i) => `G${(i * i) % 6}`);
  const files = p.map((_, i) => `img${String(i).padStart(2, "0")}.png`);
  const score = new BinaryScorer(p, isGal);
  for (const keys of [files, groups]) {
    const want = clusterBootstrap(keys, slowStats(p, isGal), 150, 3);
    const got = bootstrapFigures(score, keys, 150, 3);
    for (const k of Object.keys(want) as (keyof typeof got)[]) {
      const w = want[k], g = got[k];
      assertAllClose(
        [g.value, g.lo, g.hi],
        [w.value, w.lo, w.hi],
        1e-12,
        1e-12,
        `${k} over ${keys[0]}`,
      );
    }
  }
  // The point values agree with the protocol's functions too.
  const f = score.figures();
  assertAllClose([f.roc_auc], [rocAuc(p, isGal)], 1e-15);
  assertAllClose([f.purity_at_completeness], [purityAtCompleteness(p, isGal, 0.9).purity], 1e-15);
  const q = p.map((x) => 1 - x), isStar = isGal.map((g) => !g);
  assertAllClose(
    [f.completeness_at_purity],
    [completenessAtPurity(q, isStar, 0.99).completeness],
    1e-15,
  );
});

/** Four images, two fold models (hand-worked in the test below). */
const FOUR: TestPredictions = {
  positive: "galaxy",
  negative: "star",
  files: ["galaxy/a.png", "galaxy/b.png", "star/c.png", "star/d.png"],
  groups: ["F1", "F1", "F2", "F2"],
  labels: ["galaxy", "galaxy", "star", "star"],
  models: [{ name: "fold0", p: [0.9, 0.4, 0.3, 0.6] }, { name: "fold1", p: [0.7, 0.8, 0.2, 0.1] }],
  uncorrected: null,
};

const PROVENANCE = {
  code: { commit: "0".repeat(40), dirty: false },
  test_set: { file: "test_set.json", sha256: "1".repeat(64) },
  models: [
    { name: "fold0", run: "runs/a", prior_correction: null },
    { name: "fold1", run: "runs/b", prior_correction: null },
  ],
};

Deno.test("test scoring, hand-worked on four images: accuracy, balanced, ROC-AUC, operating points, the ensemble column", async () => {
  const dir = Deno.makeTempDirSync();
  const [csvPath, jsonPath] = writeTestScoring(dir, FOUR, PROVENANCE, "four");
  const rows = parseCsv(Deno.readTextFileSync(csvPath));
  assertEquals(rows[0], [
    "file",
    "group",
    "label",
    "p_galaxy_fold0",
    "p_galaxy_fold1",
    "p_galaxy_ensemble",
  ]);
  assertAllClose(rows.slice(1).map((r) => Number(r[5])), [0.8, 0.6, 0.25, 0.35], 1e-15);
  const s = JSON.parse(Deno.readTextFileSync(jsonPath)) as TestScores;
  const m = s.figures.decided.models;
  // fold0 calls a and d galaxies: a right, b wrong, c right, d wrong.
  assertEquals(m.fold0.accuracy.value, 0.5);
  assertEquals(m.fold0.balanced_accuracy.value, 0.5);
  // Galaxy/star pairs (0.9 > 0.3, 0.9 > 0.6, 0.4 > 0.3, 0.4 < 0.6): 3 of 4.
  assertEquals(m.fold0.roc_auc.value, 0.75);
  // Both galaxies only from threshold 0.4: a, d, b called, purity 2/3.
  assertAllClose([m.fold0.purity_at_completeness.value], [2 / 3], 1e-15);
  // Star score 1 − p: c (0.7) alone is pure, then b (0.6) spoils it: completeness 1/2.
  assertEquals(m.fold0.completeness_at_purity.value, 0.5);
  assertEquals(m.fold1.accuracy.value, 1);
  assertEquals(m.ensemble.accuracy.value, 1);
  assertEquals(m.ensemble.roc_auc.value, 1);
  // The spread between the fold models: mean 0.75, std √(2·0.25²) = 0.3536.
  assertAllClose(
    [s.figures.decided.over_models.accuracy.mean!, s.figures.decided.over_models.accuracy.std!],
    [0.75, Math.sqrt(0.125)],
    1e-15,
  );
  assertEquals(s.figures.images, 4);
  assertEquals(s.figures.groups, 2);
  assertEquals(s.predictions.sha256, await sha256Hex(Deno.readFileSync(csvPath)));
  assert(s.rules.ensemble.includes("fixed"), s.rules.ensemble);
});

/** Random predictions of `n` images in `g` groups by `k` fold models, with an uncorrected set. */
function randomPredictions(n: number, g: number, k: number): TestPredictions {
  const r = rng(11, "test-predictions");
  const labels = Array.from({ length: n }, () => (r.next() < 0.25 ? "galaxy" : "star"));
  const column = () =>
    labels.map((l) => Math.min(1, Math.max(0, (l === "galaxy" ? 0.35 : 0) + r.next() * 0.65)));
  return {
    positive: "galaxy",
    negative: "star",
    files: labels.map((l, i) => `${l}/FLD${i % g}_${i}.png`),
    groups: labels.map((_, i) => `FLD${i % g}`),
    labels,
    models: Array.from({ length: k }, (_, j) => ({ name: `fold${j}`, p: column() })),
    uncorrected: Array.from({ length: k }, (_, j) => ({ name: `fold${j}`, p: column() })),
  };
}

Deno.test("the CSV → figures reader gives the writer's JSON, from the CSV alone", () => {
  const dir = Deno.makeTempDirSync();
  const t = randomPredictions(120, 5, 3);
  const [csvPath, jsonPath] = writeTestScoring(dir, t, {
    ...PROVENANCE,
    models: t.models.map((m) => ({ name: m.name, run: `runs/${m.name}`, prior_correction: null })),
  }, "random");
  const s = JSON.parse(Deno.readTextFileSync(jsonPath)) as TestScores;
  // A referee's path: only the CSV's text.
  const read = parseTestPredictions(Deno.readTextFileSync(csvPath), csvPath);
  assertEquals(read.files, t.files);
  assertEquals(read.models.map((m) => m.p), t.models.map((m) => m.p));
  assertEquals(read.uncorrected!.map((m) => m.p), t.uncorrected!.map((m) => m.p));
  assertEquals(s.figures, JSON.parse(JSON.stringify(testFigures(read))));
  // The ensemble's accuracy by hand from the CSV's own ensemble column.
  const rows = parseCsv(Deno.readTextFileSync(csvPath));
  const e = rows[0].indexOf("p_galaxy_ensemble");
  const right = rows.slice(1).filter((r) => (Number(r[e]) >= 0.5) === (r[2] === "galaxy")).length;
  assertEquals(s.figures.decided.models.ensemble.accuracy.value, right / 120);
  assertEquals(Object.keys(s.figures.uncorrected!.models), ["fold0", "fold1", "fold2", "ensemble"]);
  // Each interval holds its value.
  const a = s.figures.decided.models.fold0.accuracy;
  assert(a.images.lo <= a.value && a.value <= a.images.hi, JSON.stringify(a));
  assert(a.groups.lo <= a.value && a.value <= a.groups.hi, JSON.stringify(a));
  assert(Deno.readTextFileSync(join(dir, "test-scores.md")).includes("| ensemble |"));
});

Deno.test("verify-results recomputes a test scoring from its CSV: an edited test-predictions.csv is reported, exit 1", async () => {
  const dir = Deno.makeTempDirSync();
  const t = randomPredictions(60, 4, 2);
  const [csvPath] = writeTestScoring(dir, { ...t, uncorrected: null }, PROVENANCE, "edited");
  assertEquals((await verifyResults(dir)).problems, []);
  // One image's fold0 probability changed (the ensemble column kept consistent): new figures.
  const rows = parseCsv(Deno.readTextFileSync(csvPath));
  const i = rows.findIndex((r, j) => j > 0 && r[2] === "galaxy" && Number(r[3]) >= 0.5);
  rows[i][3] = "0.01";
  rows[i][5] = String((0.01 + Number(rows[i][4])) / 2);
  Deno.writeTextFileSync(csvPath, rows.map((r) => r.join(",")).join("\n") + "\n");
  const problems = (await verifyResults(dir)).problems;
  assert(problems.some((p) => p.includes("test-predictions.csv has sha256")), problems.join("\n"));
  assert(
    problems.some((p) => p.includes("figures.decided.models.fold0.accuracy")),
    problems.join("\n"),
  );
  const cli = runScript("experiments/verify_results.ts", [dir], { permissions: ["--allow-read"] });
  assertEquals(cli.code, 1, cli.stdout + cli.stderr);
  assert((cli.stdout + cli.stderr).includes("test-scores.json"), cli.stdout + cli.stderr);
  // An ensemble column that is not the folds' mean is named with its row.
  rows[i][5] = "0.99";
  Deno.writeTextFileSync(csvPath, rows.map((r) => r.join(",")).join("\n") + "\n");
  const again = (await verifyResults(dir)).problems;
  assert(again.some((p) => p.includes(`row ${i + 1}: p_galaxy_ensemble`)), again.join("\n"));
});

// ---- end to end: a 2-fold CV on synthetic cutouts, scored through the command ----

/** Eight sky fields, 2 galaxies and 5 stars in each (unbalanced, so the sampler shifts the prior). */
async function writeFields(dir: string): Promise<{ files: string[]; labels: number[] }> {
  const files: string[] = [], labels: number[] = [];
  for (const [c, cls] of ["galaxy", "star"].entries()) {
    Deno.mkdirSync(join(dir, cls), { recursive: true });
    for (let g = 0; g < 8; g++) {
      for (let i = 0; i < (c === 0 ? 2 : 5); i++) {
        const r = rng(100 * g + i + 50 * c, "cutout");
        const px = new Uint8Array(32 * 32 * 3), s = c === 0 ? 5 : 1.2;
        for (let y = 0; y < 32; y++) {
          for (let x = 0; x < 32; x++) {
            const v = 20 + 200 * Math.exp(-((x - 16) ** 2 + (y - 16) ** 2) / (2 * s * s));
            const o = 3 * (32 * y + x);
            px.fill(Math.min(255, Math.round(v + 10 * r.next())), o, o + 3);
          }
        }
        const f = `${cls}/FLD${g}-R01_${10 + i}_${20 + i}_3.png`;
        await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png()
          .toFile(join(dir, f));
        files.push(f);
        labels.push(c);
      }
    }
  }
  return { files, labels };
}

Deno.test("evaluate --cv <sweep> --test: a 2-fold CV on synthetic cutouts scored end to end, prior-corrected by default, published once", async () => {
  const { chooseTestSet } = await import("../lib/data/test_set.ts");
  const { loadSweep, runSweep } = await import("../lib/experiment/sweep.ts");
  const { evaluateRun } = await import("../lib/experiment/evaluate.ts");
  const { loadRun, predictFiles } = await import("../lib/experiment/predict.ts");
  const root = Deno.makeTempDirSync();
  const data = join(root, "data");
  const { files, labels } = await writeFields(data);
  const t = chooseTestSet(labels, files, ["galaxy", "star"], "fp", {
    fraction: 0.25,
    seed: 1,
    exclude: [],
  });
  const testPath = join(root, "test_set.json");
  Deno.writeTextFileSync(testPath, JSON.stringify(t));
  const file = join(root, "cv.yaml");
  Deno.writeTextFileSync(
    file,
    `name: cvtest\nbase: ${JSON.stringify(join(ROOT, "configs/quickstart.yaml"))}\nseeds: [1]\n` +
      `set: { data.source: folder, data.root: ${JSON.stringify(data)}, data.split: grouped, ` +
      `data.kfold: 2, data.fold: 0, data.test_set: ${JSON.stringify(testPath)}, ` +
      "train.keep: last, data.size: 32, model.dim: 8, model.depths: [1, 1, 1, 1], " +
      "model.patch_size: 2, train.epochs: 1, train.batch_size: 16, train.steps_per_epoch: 2 }\n" +
      "variants:\n  - { name: fold-1, set: { data.fold: 1 } }\n",
  );
  const { sweepDir } = await runSweep(loadSweep(file), { projectRoot: root, quiet: true });
  const cv = JSON.parse(Deno.readTextFileSync(join(sweepDir, "cv.json")));
  assert(cv.prior_corrected !== null, "sampler-trained folds on unbalanced data: corrected CV");

  const args = ["--cv", sweepDir, "--test", "--test-set", testPath];
  const run = runScript("experiments/evaluate.ts", args, { cwd: root });
  assertEquals(run.code, 0, run.stderr);
  assert(run.stdout.includes("| ensemble |"), run.stdout);
  const rows = parseCsv(Deno.readTextFileSync(join(sweepDir, "test-predictions.csv")));
  const head = rows[0];
  assertEquals(head, [
    "file",
    "group",
    "label",
    "p_galaxy_fold0",
    "p_galaxy_fold1",
    "p_galaxy_ensemble",
    "p_galaxy_fold0_uncorrected",
    "p_galaxy_fold1_uncorrected",
    "p_galaxy_ensemble_uncorrected",
  ]);
  assertEquals(rows.slice(1).map((r) => r[0]), t.files);
  assertEquals(rows.slice(1).map((r) => r[2]), t.files.map((f) => f.split("/")[0]));
  assertEquals([...new Set(rows.slice(1).map((r) => r[1]))].sort(), t.groups);
  // Each fold's column is its network's P(galaxy) moved by Bayes' rule from (½, ½) to its
  // training split's class shares (result.json), by hand.
  const s = JSON.parse(Deno.readTextFileSync(join(sweepDir, "test-scores.json"))) as TestScores;
  for (const [j, m] of s.models.entries()) {
    const r = JSON.parse(Deno.readTextFileSync(join(sweepDir, m.run, "result.json")));
    const { galaxy: ng, star: ns } = r.data.split.train_counts;
    assertEquals(m.prior_correction, {
      from: { galaxy: 0.5, star: 0.5 },
      to: { galaxy: ng / (ng + ns), star: ns / (ng + ns) },
    });
    for (const row of rows.slice(1)) {
      const raw = Number(row[6 + j]);
      assertAllClose([Number(row[3 + j])], [raw * ng / (raw * ng + (1 - raw) * ns)], 1e-6);
    }
  }
  assertEquals(s.test_set.sha256, await sha256Hex(Deno.readFileSync(testPath)));
  const csvText = Deno.readTextFileSync(join(sweepDir, "test-predictions.csv"));
  assertEquals(
    s.figures,
    JSON.parse(JSON.stringify(testFigures(parseTestPredictions(csvText, "")))),
  );
  assertEquals((await verifyResults(sweepDir)).problems, []);

  // Scored once: a second scoring is refused, and --cv needs --test.
  const again = runScript("experiments/evaluate.ts", args, { cwd: root });
  assertOneLineError(again, "test-predictions.csv exists", "scored on the test set already");
  assertOneLineError(
    runScript("experiments/evaluate.ts", ["--cv", sweepDir], { cwd: root }),
    "--test",
  );

  // --no-prior-correction (evaluateRun's priorCorrection: false): the network's own P.
  const fold0 = join(sweepDir, s.models[0].run);
  const plain = await evaluateRun(fold0, { tta: false, testSet: testPath, priorCorrection: false });
  assertEquals(plain.priorCorrection, undefined);
  assertEquals(Array.from(plain.probs), Array.from(plain.rawProbs));
  assertAllClose(
    Array.from({ length: plain.files.length }, (_, i) => plain.probs[2 * i]),
    rows.slice(1).map((r) => Number(r[6])),
    1e-7,
  );
  const fixed = await evaluateRun(fold0, { tta: false, testSet: testPath });
  assertEquals(fixed.priorCorrection, s.models[0].prior_correction!);
  assertEquals(fixed.uncorrectedMetrics!.accuracy, plain.metrics.accuracy);
  // predict applies the same correction by default, and not when switched off.
  const loaded = await loadRun(fold0);
  const paths = t.files.map((f) => join(data, f));
  const byDefault = await predictFiles(loaded, paths);
  const own = await predictFiles(loaded, paths, { priorCorrection: false });
  loaded.model.params.dispose();
  assertAllClose(byDefault.map((r) => r.probs[0]), rows.slice(1).map((r) => Number(r[3])), 1e-6);
  assertAllClose(own.map((r) => r.probs[0]), rows.slice(1).map((r) => Number(r[6])), 1e-6);
});
