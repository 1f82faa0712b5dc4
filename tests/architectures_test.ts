/**
 * The architecture table (lib/results/architectures.ts, issue 31): two small cross-validations
 * published in a temp results folder by lib/results/cv.ts's and test_scoring.ts's own writers
 * (so the shapes cannot drift), their rows and their comparison against hand-worked values
 * (per-fold differences, operating points, McNemar's b and c), a sweep not run yet, the refusal
 * when two sweeps' images or folds differ, the bench file chosen, and the real results/: the
 * MedMamba `cpu` row is cv-best-grouped's cv.json.
 */
import { join } from "node:path";
import { exists } from "../lib/util/fs.ts";
import { assert, assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { computeMetrics } from "../lib/metrics/metrics.ts";
import { BinaryScorer, bootstrapCounts } from "../lib/metrics/bootstrap.ts";
import { quantile } from "../lib/metrics/operating.ts";
import { type CvSummary, summarizeCv, writeCvSummary } from "../lib/results/cv.ts";
import { writeTestScoring } from "../lib/results/test_scoring.ts";
import { parseCsv, toCsv } from "../lib/results/write.ts";
import { skyGroupOf } from "../lib/data/splits.ts";
import {
  architectureIntervals,
  type ArchitectureNetwork,
  ARCHITECTURES,
  architecturesMarkdown,
  type ArchitectureSources,
  type ArchitectureTable,
  architectureTable,
  benchRow,
  readBenchFiles,
  writeArchitectures,
  writeArchitecturesFigure,
} from "../lib/results/architectures.ts";
import type { NetworkDescription } from "../lib/model/network.ts";
import { benchNetwork } from "../bench/networks.ts";
import { assertOneLineError, ROOT, runScript } from "./permissions.ts";

const CLASSES = ["galaxy", "star"];

/** One image of a fake fold: file, sky group, label, P(galaxy). */
type Img = [file: string, group: string, label: "galaxy" | "star", pGalaxy: number];

/** The network the fake runs record (and the stub bench describes). */
const FAKE_NET: NetworkDescription = {
  arch: "medmamba",
  config: { in_channels: 3, num_classes: 2, image_size: 64 },
};

/**
 * A fold run as the runner leaves it for cv.ts: predictions.csv (the kept model's held-out
 * predictions) and a result.json with the fields summarizeCv reads, its metrics computed from
 * those predictions.
 */
function writeFoldRun(dir: string, fold: number, k: number, imgs: Img[], balance = "none"): void {
  Deno.mkdirSync(dir, { recursive: true });
  const probs = imgs.flatMap(([, , , p]) => [p, 1 - p]);
  const labels = imgs.map(([, , l]) => CLASSES.indexOf(l));
  Deno.writeTextFileSync(
    join(dir, "predictions.csv"),
    toCsv([
      ["index", "file", "group", "label", "p_galaxy", "p_star"],
      ...imgs.map(([f, g, l, p], i) => [i, f, g, l, p, 1 - p]),
    ]),
  );
  const record = {
    schema: "starmamba.result/1",
    experiment: `fold-${fold}`,
    version: "v1",
    config: {
      data: { kfold: k, fold },
      train: { keep: "last", class_balance: balance, class_weight_power: 1 },
    },
    data: { class_names: CLASSES, split: { train_counts: { galaxy: 10, star: 30 } } },
    model: { arch: FAKE_NET.arch, config: FAKE_NET.config, parameters: 1000 },
    best: { epoch: 3, loss: 0.1, metrics: computeMetrics(labels, probs, CLASSES) },
  };
  Deno.writeTextFileSync(join(dir, "result.json"), JSON.stringify(record));
}

/** A published cross-validation: its fold runs and cv.json/cv.md by cv.ts's own writer. */
function publishSweep(results: string, sweep: string, folds: Img[][], balance = "none"): string {
  const dir = join(results, "ablations", sweep, "v1");
  const runs = folds.map((imgs, fold) => {
    const run = join(dir, "runs", `${sweep}-fold-${fold}-s1`, "v1");
    writeFoldRun(run, fold, folds.length, imgs, balance);
    return run;
  });
  writeCvSummary(dir, summarizeCv(runs)!, sweep);
  return dir;
}

/** A test scoring of a sweep by test_scoring.ts's own writer: two fold columns. */
function publishTest(sweepDir: string, fold0: number[], fold1: number[]): void {
  writeTestScoring(sweepDir, {
    positive: "galaxy",
    negative: "star",
    files: ["test/t0.jpg", "test/t1.jpg", "test/t2.jpg", "test/t3.jpg"],
    groups: ["T1", "T1", "T2", "T2"],
    labels: ["galaxy", "galaxy", "star", "star"],
    models: [{ name: "fold0", p: fold0 }, { name: "fold1", p: fold1 }],
    uncorrected: null,
  }, {
    code: { commit: "0".repeat(40), dirty: false },
    test_set: { file: "test_set.json", sha256: "0".repeat(64) },
    models: [0, 1].map((k) => ({
      name: `fold${k}`,
      run: `runs/fold-${k}`,
      prior_correction: null,
    })),
  }, sweepDir);
}

// Reference A. Fold 0: f1 (galaxy at 0.4) wrong, accuracy 3/4. Fold 1: f6 (star at 0.6) wrong,
// accuracy 3/4.
const A: Img[][] = [
  [["g/f0.jpg", "G1", "galaxy", 0.9], ["g/f1.jpg", "G1", "galaxy", 0.4], [
    "s/f2.jpg",
    "G2",
    "star",
    0.2,
  ], ["s/f3.jpg", "G2", "star", 0.1]],
  [["g/f4.jpg", "G3", "galaxy", 0.55], ["s/f5.jpg", "G3", "star", 0.3], [
    "s/f6.jpg",
    "G4",
    "star",
    0.6,
  ], ["s/f7.jpg", "G4", "star", 0.2]],
];
// Network B on the same folds. Fold 0: f2 (star at 0.7) wrong, 3/4. Fold 1: all right, 4/4.
const B: Img[][] = [
  [["g/f0.jpg", "G1", "galaxy", 0.7], ["g/f1.jpg", "G1", "galaxy", 0.6], [
    "s/f2.jpg",
    "G2",
    "star",
    0.7,
  ], ["s/f3.jpg", "G2", "star", 0.3]],
  [["g/f4.jpg", "G3", "galaxy", 0.9], ["s/f5.jpg", "G3", "star", 0.1], [
    "s/f6.jpg",
    "G4",
    "star",
    0.2,
  ], ["s/f7.jpg", "G4", "star", 0.1]],
];

/** Three networks: A (reference) and B published, C not. */
const NETWORKS: ArchitectureNetwork[] = [
  { key: "a", label: "Net A", sweep: "cv-a", bench: "cpu" },
  { key: "b", label: "Net B", sweep: "cv-b", bench: "convnet" },
  { key: "c", label: "Net C", sweep: "cv-c", bench: "resnet18" },
];

/** Sources that build nothing: FLOPs by name, parameters counted by a stub that logs its calls. */
function stubSources(benchDir: string | null, counted: string[] = []): ArchitectureSources {
  return {
    benchDir,
    networks: NETWORKS,
    benchOnly: [],
    network: (name) => ({
      description: FAKE_NET,
      forwardFlops: { cpu: 2e9, convnet: 3e9 }[name] ?? 5e8,
    }),
    countParams: (d) => {
      counted.push(d.arch);
      return 4242;
    },
  };
}

/** A temp results folder with A and B published and both scored on the test set. */
function fakeResults(): string {
  const results = Deno.makeTempDirSync({ prefix: "architectures-" });
  const a = publishSweep(results, "cv-a", A), b = publishSweep(results, "cv-b", B);
  // Ensembles: A (0.8, 0.3, 0.4, 0.6) → right, wrong, right, wrong; B (0.6, 0.7, 0.6, 0.3) →
  // right, right, wrong, right.
  publishTest(a, [0.9, 0.2, 0.6, 0.7], [0.7, 0.4, 0.2, 0.5]);
  publishTest(b, [0.6, 0.8, 0.7, 0.2], [0.6, 0.6, 0.5, 0.4]);
  return results;
}

Deno.test("architecture table, hand-worked: fold operating points, paired differences, McNemar b/c out of fold and on the test set", () => {
  const results = fakeResults();
  const counted: string[] = [];
  const t = architectureTable(results, stubSources(null, counted));
  const [a, b, c] = t.networks;
  const cv = JSON.parse(
    Deno.readTextFileSync(join(results, "ablations/cv-a/v1/cv.json")),
  ) as CvSummary;
  // cv.json's own figures where it has them.
  assertEquals(a.cv!.over_folds.accuracy, cv.over_folds.accuracy);
  assertEquals(a.cv!.folds.map((f) => f.accuracy), [0.75, 0.75]);
  assertEquals(a.cv!.pooled.accuracy, cv.pooled!.intervals.accuracy);
  // Galaxy purity at completeness 0.9. Fold 0: both galaxies from threshold 0.4 down, no star
  // above it: 1. Fold 1: f4 (0.55) only under the star f6 (0.6): 1/2. Mean 0.75, std 0.25·√2.
  assertEquals(a.cv!.folds.map((f) => f.purity_at_completeness), [1, 0.5]);
  assertAllClose([a.cv!.over_folds.purity_at_completeness.std!], [0.25 * Math.SQRT2], 1e-12);
  // Star completeness at purity 0.99 (star score 1 − p). Fold 0: both stars above both
  // galaxies: 1. Fold 1: f7, f5 pure (2 of 3), then the galaxy f4 (0.45) spoils it: 2/3.
  assertAllClose(a.cv!.folds.map((f) => f.completeness_at_purity), [1, 2 / 3], 1e-12);
  // Pooled: all three galaxies from 0.4 down, with one star (f6 0.6) above: 3/4.
  assertEquals(a.cv!.pooled.purity_at_completeness.value, 0.75);
  assertEquals(
    a.cv!.pooled.purity_at_completeness.value,
    cv.pooled!.galaxy_purity_at_completeness["0.9"].purity,
  );
  // Published runs give their parameters; only the unpublished C is counted.
  assertEquals([a.params, a.params_source.endsWith("result.json"), c.params], [1000, true, 4242]);
  assertEquals(counted, ["medmamba"]);
  assertEquals([a.forward_gflop, b.forward_gflop, a.network_note], [2, 3, null]);
  // B − A per fold: 3/4 − 3/4 = 0, 4/4 − 3/4 = 1/4; mean 1/8, std √2/8.
  const cmp = t.comparisons.find((x) => x.key === "b")!;
  assertEquals(cmp.refused, null);
  assertEquals(cmp.folds, [{ fold: 0, difference: 0 }, { fold: 1, difference: 0.25 }]);
  assertAllClose([cmp.accuracy_difference!.mean!, cmp.accuracy_difference!.std!], [
    0.125,
    Math.SQRT2 / 8,
  ], 1e-12);
  // b (B right, A wrong): f1, f6; c (B wrong, A right): f2. Exact p = 2·(1 + 3)/2³ = 1.
  assertEquals(cmp.mcnemar_oof, { b: 2, c: 1, statistic: 0, pValue: 1, method: "exact", n: 8 });
  // Test ensembles: b = t1, t3 (B right, A wrong), c = t2.
  assertEquals([cmp.mcnemar_test!.b, cmp.mcnemar_test!.c, cmp.mcnemar_test!.n], [2, 1, 4]);
  // The test row is test-scores.json's ensemble: A right on t0 and t2.
  assertEquals(a.test!.ensemble.accuracy.value, 0.5);
  assertEquals(b.test!.ensemble.accuracy.value, 0.75);
  assertEquals([a.test_command, c.published, c.cv, c.test], [null, false, null, null]);
  assertEquals(t.comparisons.map((x) => x.key), ["b"], "C is not run: nothing to compare");
});

Deno.test("the pooled operating points' intervals are cv.ts's bootstrap: the same draws, counted by BinaryScorer", () => {
  const results = fakeResults();
  const t = architectureTable(results, stubSources(null));
  const pooled = A.flat();
  const groups = pooled.map(([, g]) => g);
  const score = new BinaryScorer(
    pooled.map(([, , , p]) => p),
    pooled.map(([, , l]) => l === "galaxy"),
  );
  // An independent path: bootstrapCounts replays clusterBootstrap's draws (seed 1, 1000) as
  // counts, and BinaryScorer computes each figure from the counts.
  const draws: Record<string, number[]> = {
    purity_at_completeness: [],
    completeness_at_purity: [],
  };
  for (const w of bootstrapCounts(groups, 1000, 1)) {
    const f = score.figures(w);
    for (const k of Object.keys(draws)) {
      const v = f[k as keyof typeof f];
      if (Number.isFinite(v)) draws[k].push(v);
    }
  }
  for (const k of ["purity_at_completeness", "completeness_at_purity"] as const) {
    const s = draws[k].sort((x, y) => x - y);
    const got = t.networks[0].cv!.pooled[k];
    assertAllClose([got.lo, got.hi], [quantile(s, 0.025), quantile(s, 0.975)], 1e-12);
  }
});

Deno.test("a sweep not published is a row saying 'not run yet' with the command that runs it", () => {
  const results = fakeResults();
  const t = architectureTable(results, stubSources(null));
  const md = architecturesMarkdown(t);
  const cmd = "`deno task ablate configs/ablations/cv-c.yaml --publish`";
  // In the CV tables, the test table and the comparison.
  assertEquals(
    md.split("\n").filter((l) => l.startsWith(`| Net C | not run yet: ${cmd}`)).length,
    4,
  );
  assert(
    md.includes(
      "| Net B | +12.5 ± 17.7 | +0.0, +25.0 | 2 / 1 of 8, p = 1.0 | 2 / 1 of 4, p = 1.0 |",
    ),
    md,
  );
  // Written beside the results, the JSON is the table.
  const [mdPath, jsonPath] = writeArchitectures(results, t);
  assertEquals(Deno.readTextFileSync(mdPath), md);
  assertEquals(JSON.parse(Deno.readTextFileSync(jsonPath)), JSON.parse(JSON.stringify(t)));
  // A published sweep without its test scoring names the command that scores it.
  Deno.removeSync(join(results, "ablations/cv-b/v1/test-scores.json"));
  Deno.removeSync(join(results, "ablations/cv-b/v1/test-predictions.csv"));
  const u = architectureTable(results, stubSources(null));
  assertEquals(
    u.networks[1].test_command,
    "deno task evaluate --cv results/ablations/cv-b/v1 --test",
  );
  assertEquals(u.comparisons[0].mcnemar_test, null);
  assert(architecturesMarkdown(u).includes("| Net B | not scored yet: `deno task evaluate --cv"));
});

/** The comparison of B against A in a results folder where B's folds are `folds`. */
function refusalOf(folds: Img[][]): string | null {
  const results = Deno.makeTempDirSync({ prefix: "architectures-" });
  publishSweep(results, "cv-a", A);
  publishSweep(results, "cv-b", folds);
  const t: ArchitectureTable = architectureTable(results, stubSources(null));
  return t.comparisons[0].refused;
}

Deno.test("architectures.svg plots the tables' own intervals, in percent; a network not run has none", async () => {
  const results = fakeResults();
  const t = architectureTable(results, stubSources(null));
  const rows = architectureIntervals(t);
  const [a, b] = t.networks;
  const oof = "out of fold (cross-validation), over sky groups";
  const test = "locked test set (fold models' mean), over images";
  const pick = (row: string, series: string, panel: string) =>
    rows.filter((r) => r.row === row && r.series === series && r.panel === panel);
  for (const [net, label] of [[a, "Net A"], [b, "Net B"]] as const) {
    const i = net.cv!.pooled.accuracy, e = net.test!.ensemble.balanced_accuracy;
    assertEquals(pick(label, oof, "accuracy %").map((r) => [r.value, r.lo, r.hi]), [
      [100 * i.value, 100 * i.lo, 100 * i.hi],
    ]);
    assertEquals(pick(label, test, "balanced accuracy %").map((r) => [r.value, r.lo, r.hi]), [
      [100 * e.value, 100 * e.images.lo, 100 * e.images.hi],
    ]);
  }
  // Two networks × two estimates × two figures; Net C (not run) draws nothing.
  assertEquals(rows.length, 8);
  assert(!rows.some((r) => r.row === "Net C"));
  const svg = Deno.readTextFileSync(await writeArchitecturesFigure(results, t));
  for (
    const text of ["Net A", "Net B", oof, "locked test set (fold models", "balanced accuracy %"]
  ) {
    assert(svg.includes(text), `${text} missing from the figure`);
  }
  assert(!svg.includes("Net C"));
  assert(architecturesMarkdown(t).includes("](architectures.svg)"));
});

Deno.test("two sweeps on other images or other folds are refused with one line, the table kept", () => {
  const renamed = B.map((f) =>
    f.map(([file, ...rest]): Img => [file.replace("f7", "f9"), ...rest])
  );
  const other = refusalOf(renamed)!;
  assert(other.includes("the image sets differ, 1 only in the first (e.g. s/f9.jpg)"), other);
  assertEquals(other.split("\n").length, 1);
  // f3 and f4 swap folds: the same images, other folds.
  const swapped: Img[][] = [[...B[0].slice(0, 3), B[1][0]], [B[0][3], ...B[1].slice(1)]];
  const folds = refusalOf(swapped)!;
  assert(/is held out by fold \d in the first and fold \d in the second/.test(folds), folds);
  assertEquals(refusalOf(B), null);
});

Deno.test("a sweep trained with balanced classes is decided with cv.json's prior correction", () => {
  const results = Deno.makeTempDirSync({ prefix: "architectures-" });
  publishSweep(results, "cv-a", A, "sampler");
  const cv = JSON.parse(
    Deno.readTextFileSync(join(results, "ablations/cv-a/v1/cv.json")),
  ) as CvSummary;
  const row = architectureTable(results, stubSources(null)).networks[0];
  assert(row.cv!.prior_corrected && cv.prior_corrected);
  assertEquals(row.cv!.over_folds.accuracy, cv.prior_corrected.over_folds.accuracy);
  assertEquals(row.cv!.pooled.accuracy, cv.prior_corrected.pooled!.intervals.accuracy);
  assertEquals(
    row.cv!.pooled.purity_at_completeness.value,
    cv.prior_corrected.pooled!.galaxy_purity_at_completeness["0.9"].purity,
  );
});

Deno.test("speeds come from the newest bench JSON that measured the network, PyTorch from the same file", () => {
  const dir = Deno.makeTempDirSync({ prefix: "bench-" });
  const bench = (file: string, createdAt: string, figures: Record<string, number>) =>
    Deno.writeTextFileSync(
      join(dir, file),
      JSON.stringify({ schema: "starmamba-bench/2", createdAt, figures }),
    );
  bench("old.json", "2026-12-01T00:00:00Z", {
    "convnet.train.images_per_s": 10,
    "convnet.infer.images_per_s": 40,
    "peer.convnet.train.images_per_s": 5,
    "peer.convnet.infer.images_per_s": 20,
  });
  // Three rounds: the bench's ratio is the median of the per-round ones, not 30 ÷ 10.
  bench("rounds.json", "2026-11-30T00:00:00Z", {
    "resnet18.train.images_per_s": 30,
    "resnet18.infer.images_per_s": 90,
    "peer.resnet18.train.images_per_s": 10,
    "peer.resnet18.infer.images_per_s": 30,
    "ratio.resnet18.train": 2.5,
    "ratio.resnet18.infer": 3.25,
  });
  bench("new.json", "2026-12-05T00:00:00Z", {
    "convnet.train.images_per_s": 12,
    "convnet.infer.images_per_s": 44,
  });
  bench("newest-other.json", "2026-12-07T00:00:00Z", {
    "cpu.train.images_per_s": 1,
    "cpu.infer.images_per_s": 2,
  });
  // An A/B sitting's figures are not headline numbers.
  Deno.writeTextFileSync(
    join(dir, "sitting.json"),
    JSON.stringify({ schema: "starmamba.bench-sitting/1", figures: {} }),
  );
  const files = readBenchFiles(dir);
  assertEquals(files.map((f) => f.file), [
    "newest-other.json",
    "new.json",
    "old.json",
    "rounds.json",
  ]);
  assertEquals(benchRow(files, "convnet"), {
    file: "new.json",
    train: 12,
    infer: 44,
    peer_train: null,
    peer_infer: null,
    ratio_train: null,
    ratio_infer: null,
  });
  assertEquals(benchRow(files, "resnet18")?.ratio_train, 2.5);
  assertEquals(benchRow(files, "mamba"), null);
  const md = architecturesMarkdown(architectureTable(fakeResults(), stubSources(dir)));
  assert(
    md.includes(
      "| Net B | cv-b | 0.00 M | 3.000 | 12.0 (PyTorch —) | 44.0 (PyTorch —) | new.json |",
    ),
    md,
  );
  // The bench's own ratio (2.50×), not the ratio of the medians (3.00×).
  assert(
    md.includes("| 30.0 (PyTorch 10.0, 2.50×) | 90.0 (PyTorch 30.0, 3.25×) | rounds.json |"),
    md,
  );
});

Deno.test("a bench-only network gets a row in the networks table (counted, with its speeds) and none in the CV, test or paired sections, nor the figure", () => {
  const dir = Deno.makeTempDirSync({ prefix: "bench-only-" });
  Deno.writeTextFileSync(
    join(dir, "b.json"),
    JSON.stringify({
      schema: "starmamba-bench/2",
      createdAt: "2026-12-07T00:00:00Z",
      figures: {
        "tiny.train.images_per_s": 35,
        "tiny.infer.images_per_s": 125,
        "peer.tiny.train.images_per_s": 20,
        "peer.tiny.infer.images_per_s": 50,
      },
    }),
  );
  const counted: string[] = [];
  const t = architectureTable(fakeResults(), {
    ...stubSources(dir, counted),
    benchOnly: [{ key: "t", label: "Net T", bench: "tiny", why: "not cross-validated" }],
  });
  assertEquals(t.bench_only.map((r) => [r.key, r.params, r.forward_gflop]), [["t", 4242, 0.5]]);
  assertEquals(counted.length, 2); // C (unpublished) and T: both counted, A and B read
  const md = architecturesMarkdown(t);
  assert(
    md.includes(
      "| Net T | not cross-validated | 0.00 M | 0.500 | 35.0 (PyTorch 20.0, 1.75×) | " +
        "125.0 (PyTorch 50.0, 2.50×) | b.json |",
    ),
    md,
  );
  assertEquals(md.split("Net T").length - 1, 1);
  assert(!architectureIntervals(t).some((r) => r.row === "Net T"));
  assert(!t.comparisons.some((c) => c.key === "t"));
});

Deno.test("on the real results/: the MedMamba cpu row is the newest cv-best-grouped cv.json (v2)", () => {
  const results = join(ROOT, "results");
  const t = architectureTable(results, {
    benchDir: join(ROOT, "bench/results"),
    networks: [ARCHITECTURES[0]],
    benchOnly: [],
    network: (name) => {
      const b = benchNetwork(name);
      return { description: b.description, forwardFlops: b.flops.forward };
    },
    countParams: () => {
      throw new Error("a published network's parameters come from its result.json");
    },
  });
  const row = t.networks[0];
  const cv = JSON.parse(
    Deno.readTextFileSync(join(results, "ablations/cv-best-grouped-aries/v2/cv.json")),
  ) as CvSummary;
  // v1 stays published beside it; the table takes the newest version with a cv.json.
  assertEquals(row.cv!.dir, "ablations/cv-best-grouped-aries/v2");
  for (const k of ["accuracy", "balanced_accuracy", "roc_auc"] as const) {
    assertEquals(row.cv!.over_folds[k], cv.over_folds[k], k);
    assertEquals(row.cv!.pooled[k], cv.pooled!.intervals[k], k);
    assertEquals(row.cv!.folds.map((f) => f[k]), cv.folds.map((f) => f[k]), k);
  }
  assertEquals(
    row.cv!.pooled.purity_at_completeness.value,
    cv.pooled!.galaxy_purity_at_completeness["0.9"].purity,
  );
  assertEquals(
    row.cv!.pooled.completeness_at_purity.value,
    cv.pooled!.star_completeness_at_purity["0.99"].completeness,
  );
  assertEquals([row.cv!.pooled_n, row.cv!.groups, row.params, row.network_note], [
    3190,
    19,
    1516290,
    null,
  ]);
  // Per fold, against a brute-force threshold sweep made once in Python (csv module: for each
  // distinct P(galaxy), descending, the first with galaxy completeness ≥ 0.9 gives the purity;
  // for each distinct P(star), the largest star completeness with star purity ≥ 0.99).
  assertAllClose(row.cv!.folds.map((f) => f.purity_at_completeness), [
    0.7236842105263158,
    0.7621621621621621,
    0.5811320754716981,
    0.5054945054945055,
    0.5324675324675324,
  ], 1e-12);
  assertAllClose(row.cv!.folds.map((f) => f.completeness_at_purity), [
    0.07628865979381444,
    0.7321428571428571,
    0.41260162601626016,
    0.42616033755274263,
    0.4573804573804574,
  ], 1e-12);
  // Its interval from cv.ts's draws (seed 1, 1000), replayed as counts by bootstrapCounts and
  // scored by BinaryScorer from the folds' predictions.csv read here.
  const rows = cv.folds.flatMap((f) => {
    const csv = parseCsv(
      Deno.readTextFileSync(
        join(results, "ablations/cv-best-grouped-aries/v2", f.run, "predictions.csv"),
      ),
    );
    const h = csv[0];
    return csv.slice(1).filter((r) => r.length === h.length).map((r) => ({
      group: skyGroupOf(r[h.indexOf("file")]),
      p: Number(r[h.indexOf("p_galaxy")]),
      galaxy: r[h.indexOf("label")] === "galaxy",
    }));
  });
  const score = new BinaryScorer(rows.map((r) => r.p), rows.map((r) => r.galaxy));
  const draws = [...bootstrapCounts(rows.map((r) => r.group), 1000, 1)]
    .map((w) => score.figures(w).purity_at_completeness).filter(Number.isFinite)
    .sort((x, y) => x - y);
  const i = row.cv!.pooled.purity_at_completeness;
  assertAllClose([i.lo, i.hi], [quantile(draws, 0.025), quantile(draws, 0.975)], 1e-12);
});

Deno.test("deno task compare (read and write permissions only) writes architectures.md and .json; a damaged cv.json or a missing --results folder is one line", () => {
  const results = Deno.makeTempDirSync({ prefix: "compare-" });
  const perms = ["--allow-read", "--allow-write"]; // the compare task's, deno.json
  const r = runScript("experiments/compare.ts", [
    "--results",
    results,
    "--bench",
    join(results, "none"),
  ], {
    permissions: perms,
  });
  assertEquals(r.code, 0, r.stderr);
  const md = Deno.readTextFileSync(join(results, "architectures.md"));
  const t = JSON.parse(
    Deno.readTextFileSync(join(results, "architectures.json")),
  ) as ArchitectureTable;
  assertEquals(t.networks.map((n) => n.published), [false, false, false, false, false]);
  // Nothing published: parameters counted from the built networks (the cpu preset's 1,516,290).
  assertEquals(t.networks[0].params, 1516290);
  assert(
    md.includes(
      "| MedMamba `cpu` preset | not run yet: `deno task ablate configs/ablations/cv-best-grouped-aries.yaml --publish`",
    ),
    md,
  );
  assert(md.includes("sweep is not published yet"), md);
  // A sweep under way: its sweep.json lists 5 folds, 2 of them published with a result.json.
  const convnet = join(results, "ablations/cv-convnet-grouped-aries/v1");
  const runs: Record<string, { run_dir: string | null }> = {};
  // sweep.json lists a run once it has begun: here 3 of the spec's 5 (base, fold-1 … fold-4).
  const variants = ["base", "fold-1", "fold-2", "fold-3", "fold-4"];
  variants.slice(0, 3).forEach((v, k) => {
    runs[`${v}/seed1`] = { run_dir: `runs/${v}/v1` };
    Deno.mkdirSync(join(convnet, `runs/${v}/v1`), { recursive: true });
    if (k < 2) Deno.writeTextFileSync(join(convnet, `runs/${v}/v1/result.json`), "{}");
  });
  const spec = { variants: variants.map((name) => ({ name })), seeds: [1] };
  Deno.writeTextFileSync(join(convnet, "sweep.json"), JSON.stringify({ spec, runs }));
  assertEquals(
    runScript("experiments/compare.ts", ["--results", results, "--bench", join(results, "none")], {
      permissions: perms,
    }).code,
    0,
  );
  const under = Deno.readTextFileSync(join(results, "architectures.md"));
  assert(
    under.includes(
      "| ConvNet (Kim & Brunner 2017) | running: 2 of 5 folds published; " +
        "`deno task ablate configs/ablations/cv-convnet-grouped-aries.yaml --publish` resumes it |",
    ),
    under,
  );
  Deno.mkdirSync(join(results, "ablations/cv-best-grouped-aries/v1"), { recursive: true });
  Deno.writeTextFileSync(join(results, "ablations/cv-best-grouped-aries/v1/cv.json"), "{");
  assertOneLineError(
    runScript("experiments/compare.ts", ["--results", results], { permissions: perms }),
    "cv.json: not valid JSON",
  );
  // A mistyped results folder is refused, not created and filled with empty reports.
  const missing = join(results, "no-such-folder");
  assertOneLineError(
    runScript("experiments/compare.ts", ["--results", missing], { permissions: perms }),
    `--results ${missing}: no such folder`,
  );
  assertEquals(exists(missing), false);
});
