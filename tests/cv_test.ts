/**
 * Cross-validation as a sweep (lib/results/cv.ts): a sweep whose runs are the folds of one
 * k-fold CV gets cv.md/cv.json — every image held out once, per-fold metrics, mean ± std over
 * folds computed here independently, pooled out-of-fold protocol figures.
 */
import sharp from "sharp";
import { join } from "node:path";
import { assert, assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { loadSweep, runSweep } from "../lib/experiment/sweep.ts";
import { rng } from "../lib/util/rng.ts";
import type { CvSummary } from "../lib/results/cv.ts";
import { catalogOfImageFolder } from "../lib/data/catalog.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** Eight sky fields × 4 cutouts per class: point-like stars, wide galaxies, on noise. */
async function writeFields(dir: string): Promise<number> {
  let n = 0;
  for (const cls of ["galaxy", "star"]) {
    Deno.mkdirSync(join(dir, cls), { recursive: true });
    for (let g = 0; g < 8; g++) {
      for (let i = 0; i < 4; i++) {
        const r = rng(100 * g + i + (cls === "star" ? 50 : 0), "cutout");
        const px = new Uint8Array(32 * 32 * 3), s = cls === "galaxy" ? 5 : 1.2;
        for (let y = 0; y < 32; y++) {
          for (let x = 0; x < 32; x++) {
            const v = 20 + 200 * Math.exp(-((x - 16) ** 2 + (y - 16) ** 2) / (2 * s * s));
            px.fill(
              Math.min(255, Math.round(v + 10 * r.next())),
              3 * (32 * y + x),
              3 * (32 * y + x) + 3,
            );
          }
        }
        await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png()
          .toFile(join(dir, cls, `FLD${g}-R01_${10 + i}_${20 + i}_3.png`));
        n++;
      }
    }
  }
  return n;
}

Deno.test("a sweep of the folds of a grouped 3-fold CV writes cv.json: each image held out once, mean ± std over folds, pooled figures", async () => {
  const root = Deno.makeTempDirSync();
  const data = join(root, "data");
  const n = await writeFields(data);
  const file = join(root, "cv.yaml");
  Deno.writeTextFileSync(
    file,
    `name: cv\nbase: ${JSON.stringify(join(ROOT, "configs/quickstart.yaml"))}\nseeds: [1]\n` +
      `set: { data.source: folder, data.root: ${JSON.stringify(data)}, data.split: grouped, ` +
      "data.kfold: 3, data.fold: 0, train.keep: last, data.size: 32, model.dim: 8, " +
      "model.depths: [1, 1, 1, 1], model.patch_size: 2, train.epochs: 2, train.batch_size: 16, " +
      "train.steps_per_epoch: 2 }\n" +
      "variants:\n  - { name: fold-1, set: { data.fold: 1 } }\n  - { name: fold-2, set: { data.fold: 2 } }\n",
  );
  const out = await runSweep(loadSweep(file), { projectRoot: root, quiet: true });
  assert(out.written.some((f) => f.endsWith("cv.json")), out.written.join(", "));
  const cv = JSON.parse(Deno.readTextFileSync(join(out.sweepDir, "cv.json"))) as CvSummary;
  assertEquals(cv.k, 3);
  assertEquals(cv.folds.map((f) => f.fold), [0, 1, 2]);
  assertEquals(cv.pooled_n, n, "every image held out exactly once");
  assertEquals(cv.folds.reduce((s, f) => s + f.n, 0), n);
  assert(cv.nothing_chosen, "train.keep: last on every fold");
  assert(cv.folds.every((f) => f.epoch === 2), "the last epoch kept");
  const acc = cv.folds.map((f) => f.accuracy);
  const mean = acc.reduce((a, b) => a + b, 0) / 3;
  const std = Math.sqrt(acc.reduce((a, b) => a + (b - mean) ** 2, 0) / 2);
  assertAllClose([cv.over_folds.accuracy.mean!, cv.over_folds.accuracy.std!], [mean, std], 1e-12);
  assertEquals(cv.pooled!.groups, 8);
  // The pooled accuracy is the image-weighted mean of the folds'.
  const pooled = cv.folds.reduce((s, f) => s + f.accuracy * f.n, 0) / n;
  assertAllClose([cv.pooled!.intervals.accuracy.value], [pooled], 1e-9);
  assert(Deno.readTextFileSync(join(out.sweepDir, "cv.md")).includes("nothing was chosen"));
  // Folds are named by folders relative to the sweep (a published cv.md works in any clone).
  const written = JSON.parse(Deno.readTextFileSync(join(out.sweepDir, "cv.json")));
  assert(written.folds.every((f: { run: string }) => f.run.startsWith("runs/")), written.folds);
});

Deno.test("a catalogue CV grouped by a column: predictions.csv carries the groups, cv.json's cluster bootstrap counts them, not the names' fields", async () => {
  const root = Deno.makeTempDirSync();
  const data = join(root, "data");
  const n = await writeFields(data);
  // Fields FLD0..FLD7 paired into 4 tiles: the names say 8 groups, the catalogue 4.
  const rows = (await catalogOfImageFolder(data)).slice(1);
  const tile = (p: string) => `tile${Math.floor(Number(/FLD(\d)/.exec(p)![1]) / 2)}`;
  Deno.writeTextFileSync(
    join(data, "sources.csv"),
    ["path,label,tile", ...rows.map(([p, label]) => `${p},${label},${tile(p)}`)].join("\n") + "\n",
  );
  const file = join(root, "cv.yaml");
  Deno.writeTextFileSync(
    file,
    `name: cvcat\nbase: ${JSON.stringify(join(ROOT, "configs/quickstart.yaml"))}\nseeds: [1]\n` +
      `set: { data.source: catalog, data.catalog: ${JSON.stringify(join(data, "sources.csv"))}, ` +
      "data.group_by: 'column:tile', data.split: grouped, data.kfold: 2, data.fold: 0, " +
      "train.keep: last, data.size: 32, model.dim: 8, model.depths: [1, 1, 1, 1], " +
      "model.patch_size: 2, train.epochs: 1, train.batch_size: 16, train.steps_per_epoch: 1 }\n" +
      "variants:\n  - { name: fold-1, set: { data.fold: 1 } }\n",
  );
  const out = await runSweep(loadSweep(file), { projectRoot: root, quiet: true });
  const cv = JSON.parse(Deno.readTextFileSync(join(out.sweepDir, "cv.json"))) as CvSummary;
  assertEquals(cv.pooled_n, n);
  assertEquals(cv.pooled!.groups, 4, "the catalogue's tiles, not the 8 fields of the names");
  const csv = Deno.readTextFileSync(join(out.sweepDir, cv.folds[0].run, "predictions.csv"));
  const [head, first] = csv.split("\n");
  assertEquals(head.split(",").at(-1), "group");
  assertEquals(first.split(",").at(-1), tile(first.split(",")[1]));
});

Deno.test("comparison.md leads with published cross-validations and their locked-test scores", async () => {
  const { comparisonMarkdown } = await import("../lib/results/comparison.ts");
  const root = Deno.makeTempDirSync();
  const dir = join(root, "ablations", "cv-best-grouped-aries", "v1");
  Deno.mkdirSync(dir, { recursive: true });
  Deno.mkdirSync(join(root, "evaluations"));
  const point = (purity: number) => ({ purity, completeness: 0.9, threshold: 0.4 });
  const interval = (value: number, lo: number, hi: number) => ({ value, lo, hi, replicates: 1000 });
  const cv = {
    k: 5,
    folds: [],
    over_folds: {
      accuracy: { mean: 0.91, std: 0.02, n: 5 },
      balanced_accuracy: { mean: 0.85, std: 0.03, n: 5 },
      roc_auc: { mean: 0.95, std: 0.01, n: 5 },
    },
    pooled_n: 3190,
    pooled: {
      galaxy_purity_at_completeness: { "0.8": point(0.8), "0.9": point(0.7), "0.96": point(0.6) },
      star_completeness_at_purity: {},
      brier: 0.07,
      ece: 0.02,
      temperature: null,
      ece_scaled: null,
      intervals: {
        accuracy: interval(0.912, 0.89, 0.93),
        balanced_accuracy: interval(0.85, 0.8, 0.9),
        roc_auc: interval(0.951, 0.93, 0.97),
      },
      groups: 19,
    },
    nothing_chosen: true,
  };
  Deno.writeTextFileSync(join(dir, "cv.json"), JSON.stringify(cv));
  for (const [k, acc] of [[0, 0.9], [1, 0.92]]) {
    Deno.writeTextFileSync(
      join(root, "evaluations", `test-cv-best-grouped-fold${k}.json`),
      JSON.stringify({ metrics: { accuracy: acc, balancedAccuracy: 0.8, rocAuc: 0.9 } }),
    );
  }
  const md = comparisonMarkdown(root);
  const lines = md.split("\n");
  assertEquals(lines[0], "# ARIES: starmamba beside the reference study");
  assertEquals(lines[2], "## Unseen sky fields: grouped cross-validation and the locked test set");
  const row = lines.find((l) => l.startsWith("| [cv-best-grouped-aries]"));
  // Test accuracy: mean of 0.90 and 0.92 = 91.00, sample std 1.41 (points).
  assertEquals(
    row,
    "| [cv-best-grouped-aries](ablations/cv-best-grouped-aries/v1/cv.md) | 0 of 5 | 91.00 ± 2.00 | " +
      "85.00 ± 3.00 | 0.9500 ± 0.0100 | 91.20 [89.00, 93.00] | 0.9510 [0.9300, 0.9700] | 70.00 | " +
      "91.00 ± 1.41 (2 of 5) |",
  );
  assert(md.includes("\n## The reference protocol: best epoch on a validation split\n"));
});
