/**
 * The ARIES cutouts described by a generated catalogue (path, label, frame from the file names)
 * train exactly as the ImageFolder does: the same pixels after field context, labels, grouped
 * split and folds outside the locked test set, and the same weights after a short run.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { assertEquals } from "../lib/util/assert.ts";
import { loadConfig } from "../lib/config/load.ts";
import { loadData, makeSplit, runExperiment } from "../lib/experiment/run.ts";
import { catalogOfImageFolder } from "../lib/data/catalog.ts";
import { toCsv } from "../lib/results/write.ts";
import { sha256Hex } from "../lib/util/fs.ts";
import { ARIES, HAVE_ARIES } from "./aries.ts";

const CONFIG = fileURLToPath(new URL("../configs/aries/best-grouped.yaml", import.meta.url));
/** A short run: 2 steps of a small network, enough to show the two datasets train alike. */
const SHORT = [
  "model.dim=8",
  "model.depths=[1, 1, 1, 1]",
  "train.epochs=1",
  "train.steps_per_epoch=2",
  "train.batch_size=16",
  "train.eval_batch_size=256",
  "output.publish=false",
];

async function modelHash(runDir: string): Promise<string> {
  const meta = JSON.parse(Deno.readTextFileSync(path.join(runDir, "model", "model.json")));
  return await sha256Hex(
    Deno.readFileSync(path.join(runDir, "model", meta.weightsManifest[0].paths[0])),
  );
}

Deno.test({
  name: "ARIES as a generated catalogue: same data, splits, folds and weights as the ImageFolder" +
    (HAVE_ARIES ? "" : ` [ignored: ARIES data not found at ${ARIES}]`),
  ignore: !HAVE_ARIES,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const csv = path.join(dir, "aries.csv");
    await Deno.writeTextFile(csv, toCsv(await catalogOfImageFolder(ARIES)));
    const folder = (extra: string[] = []) =>
      loadConfig(CONFIG, [`data.root=${ARIES}`, ...SHORT, ...extra]);
    const catalog = (extra: string[] = []) =>
      loadConfig(CONFIG, [
        `data.root=${ARIES}`,
        "data.source=catalog",
        `data.catalog=${csv}`,
        ...SHORT,
        ...extra,
      ]);
    const a = await loadData(folder().config, folder().path, true);
    const b = await loadData(catalog().config, catalog().path, true);
    assertEquals(b.n, 3986);
    assertEquals(b.files, a.files);
    assertEquals(b.labels, a.labels);
    assertEquals(b.images, a.images); // after field context: frames from the column = from names
    const cfgDir = path.dirname(CONFIG);
    for (const extra of [[], ["data.test_set=test_set.json", "data.kfold=5", "data.fold=3"]]) {
      assertEquals(
        makeSplit(catalog(extra).config, b, cfgDir),
        makeSplit(folder(extra).config, a, cfgDir),
      );
    }
    const root = path.join(dir, "runs");
    const ra = await runExperiment(folder(), { projectRoot: root, quiet: true });
    const rb = await runExperiment(catalog(), { projectRoot: root, quiet: true });
    assertEquals(await modelHash(rb.runDir), await modelHash(ra.runDir));
    const metrics = (r: typeof ra) => (r.result as { last: unknown }).last;
    assertEquals(metrics(rb), metrics(ra));
  },
});
