import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { assert, assertEquals } from "../lib/util/assert.ts";
import { loadConfig } from "../lib/config/load.ts";
import { loadData, runExperiment } from "../lib/experiment/run.ts";
import {
  catalogPredictionsCsv,
  loadRun,
  predictCatalog,
  predictFiles,
  trainingClassWeights,
} from "../lib/experiment/predict.ts";
import { writeSyntheticSky } from "../lib/data/synthetic_sky.ts";
import { sha256Hex } from "../lib/util/fs.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** configs/own-sky.yaml at CI size: 60 cutouts of 32 px in 4 frames (2 fields), 1 short epoch. */
const SMALL = [
  "data.size=32",
  "model.dim=8",
  "model.depths=[1, 1, 1, 1]",
  "model.patch_size=2",
  "train.epochs=1",
  "train.batch_size=8",
  "train.eval_batch_size=16",
  "train.steps_per_epoch=2",
];

/** Writes the same synthetic sky as FITS and as PNG, each with its catalogue. */
async function skies(): Promise<{ dir: string; fits: string; png: string }> {
  const dir = await Deno.makeTempDir();
  const common = {
    n: 60,
    size: 32,
    seed: 3,
    galaxyFraction: 0.3,
    pixelScaleArcsec: 0.4,
    cutoutsPerFrame: 15,
  };
  const fits = await writeSyntheticSky(join(dir, "fits"), { ...common, format: "fits" });
  const png = await writeSyntheticSky(join(dir, "png"), { ...common, format: "png" });
  return { dir, fits: fits.catalog, png: png.catalog };
}

/** The weights file of a run's model. */
async function modelHash(runDir: string): Promise<string> {
  const meta = JSON.parse(Deno.readTextFileSync(join(runDir, "model", "model.json")));
  return await sha256Hex(
    Deno.readFileSync(join(runDir, "model", meta.weightsManifest[0].paths[0])),
  );
}

Deno.test("own cutouts end to end: FITS catalogue grouped by sky trains exactly as the PNG one, predict --catalog keeps the columns", async () => {
  const { dir, fits, png } = await skies();
  const cfg = (catalog: string) =>
    loadConfig(join(ROOT, "configs/own-sky.yaml"), [...SMALL, `data.catalog=${catalog}`]);
  // The same pixels either way (identity stretch; FITS rows flipped back to the top first).
  const a = await loadData(cfg(fits).config, cfg(fits).path, true);
  const b = await loadData(cfg(png).config, cfg(png).path, true);
  assertEquals(a.images, b.images);
  assertEquals(a.labels, b.labels);
  // group_by sky at the default radius (16 px × 0.4″): one group per field, its two frames joined.
  assertEquals(new Set(a.groups).size, 2);
  assertEquals(a.groups!.slice(0, 30).every((g) => g === a.groups![0]), true);
  assertEquals(new Set(a.frames).size, 4);

  const runA = await runExperiment(cfg(fits), { projectRoot: dir, quiet: true });
  const runB = await runExperiment(cfg(png), { projectRoot: dir, quiet: true });
  assertEquals(await modelHash(runA.runDir), await modelHash(runB.runDir));
  const result = runA.result as { data: { catalog: { groups: number; group_by: string } } };
  assertEquals([result.data.catalog.groups, result.data.catalog.group_by], [2, "sky"]);
  // Held out by whole fields: the validation frames are one field's two frames.
  const split = JSON.parse(await Deno.readTextFile(join(runA.runDir, "split.json")));
  const fieldOf = (f: string) => f.slice("cutouts/SKY".length, "cutouts/SKY000".length);
  const valFields = new Set((split.val as string[]).map(fieldOf));
  const trainFields = new Set((split.train as string[]).map(fieldOf));
  assertEquals(valFields.size, 1);
  assert(![...valFields].some((f) => trainFields.has(f)));

  const run = await loadRun(runA.runDir);
  const { rows, table } = await predictCatalog(run, fits);
  const csv = parseCsv(catalogPredictionsCsv(run, table, rows)) as string[][];
  assertEquals(csv[0], [
    "source_id",
    "path",
    "label",
    "frame",
    "ra",
    "dec",
    "p_galaxy",
    "predicted",
  ]);
  assertEquals(csv.length, 61);
  assertEquals(csv[5].slice(0, 4), [
    "SYN-000004",
    "cutouts/SKY000a_004.fits",
    table.rows[4][2],
    "SKY000a",
  ]);
  const p = Number(csv[5][6]);
  assert(p >= 0 && p <= 1 && csv[5][7] === (p > 0.5 ? "galaxy" : "star"));
  // The PNG catalogue classifies to the same probabilities.
  const fromPng = await predictCatalog(run, png);
  assertEquals(fromPng.rows.map((r) => r.probs), rows.map((r) => r.probs));
  // FITS files given to predict directly read as the catalogue's (frames then from the names
  // for both, the 60 files given together).
  const paths = table.rows.map((r) => r[1]);
  const noFrames = join(dir, "fits", "paths.csv");
  await Deno.writeTextFile(noFrames, `path\n${paths.join("\n")}\n`);
  const direct = await predictFiles(run, paths.map((p) => join(dir, "fits", p)));
  const listed = await predictCatalog(run, noFrames);
  assertEquals(direct.map((r) => r.probs), listed.rows.map((r) => r.probs));
  // Class weights for the decision rule come from the training split's counts (catalogue paths
  // carry no class folder): N / (K · count) from the split's own labels.
  const trainLabels = (split.train as string[]).map((f) => a.labels[a.files!.indexOf(f)]);
  const nGalaxy = trainLabels.filter((l) => l === 0).length, n = trainLabels.length;
  assertEquals(trainingClassWeights(run, runA.runDir, 1), [
    n / (2 * nGalaxy),
    n / (2 * (n - nGalaxy)),
  ]);
  run.model.params.dispose();
});
