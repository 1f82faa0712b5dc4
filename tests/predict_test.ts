import sharp from "sharp";
import { join } from "node:path";
import { assert, assertAllClose, assertEquals, assertRejects } from "../lib/util/assert.ts";
import { loadConfig } from "../lib/config/load.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { rebuildAdvice } from "../lib/results/provenance.ts";
import { parseCsv } from "../lib/results/write.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { rng } from "../lib/util/rng.ts";
import { listInputs, loadRun, predictFiles, predictionsCsv } from "../lib/experiment/predict.ts";
import { evaluateEnsemble, evaluateRun } from "../lib/experiment/evaluate.ts";
import { confidentErrors } from "../lib/results/errors.ts";
import { ROOT, TINY_RUN } from "./permissions.ts";

/** A 32×32 RGB cutout: a Gaussian blob (wide for galaxies, point-like for stars) on noise. */
async function writeCutout(path: string, galaxy: boolean, seed: number, size = 32) {
  const r = rng(seed, "cutout");
  const px = new Uint8Array(size * size * 3);
  const s = galaxy ? 5 : 1.2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d2 = (x - size / 2) ** 2 + (y - size / 2) ** 2;
      const v = Math.min(255, Math.round(20 + 200 * Math.exp(-d2 / (2 * s * s)) + 10 * r.next()));
      px.fill(v, 3 * (y * size + x), 3 * (y * size + x) + 3);
    }
  }
  await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path);
}

/** ImageFolder tree `<dir>/{galaxy,star}/*.png` with `n` images per class. */
async function writeFolder(dir: string, n: number, size = 32): Promise<void> {
  for (const cls of ["galaxy", "star"]) {
    Deno.mkdirSync(join(dir, cls), { recursive: true });
    for (let i = 0; i < n; i++) {
      await writeCutout(
        join(dir, cls, `${cls}_${i}.png`),
        cls === "galaxy",
        i + (cls === "star" ? 100 : 0),
        size,
      );
    }
  }
}

const work = Deno.makeTempDirSync();
const data = join(work, "data");
await writeFolder(data, 20);
const trained = await runExperiment(
  loadConfig(join(ROOT, "configs/quickstart.yaml"), [
    ...TINY_RUN,
    "data.source=folder",
    `data.root=${JSON.stringify(data)}`,
  ]),
  { projectRoot: work, quiet: true },
);

Deno.test("predict reproduces the run's own validation predictions from the image files", async () => {
  // predictions.csv was written by the trainer from the in-memory dataset; predict decodes the
  // PNGs again, rebuilds the network from model.json and must give the same probabilities.
  const rows = parseCsv(Deno.readTextFileSync(join(trained.runDir, "predictions.csv")));
  const head = rows[0];
  const iFile = head.indexOf("file"), iP = head.indexOf("p_galaxy");
  const val = rows.slice(1).filter((r) => r.length === head.length);
  assert(val.length >= 4, `validation rows: ${val.length}`);
  const run = await loadRun(trained.runDir);
  try {
    const files = val.map((r) => join(data, r[iFile]));
    const expected = val.map((r) => Number(r[iP]));
    for (const batch of [undefined, 3]) {
      const out = await predictFiles(run, files, { batch });
      assertEquals(out.map((o) => o.file), files);
      assertAllClose(out.map((o) => o.probs[0]), expected, 0, 1e-6, `batch ${batch}`);
    }
  } finally {
    run.model.params.dispose();
  }
});

Deno.test("predict on a folder: one CSV row per image, probabilities in [0, 1], argmax in the predicted column", async () => {
  const dir = join(work, "unlabelled");
  Deno.mkdirSync(join(dir, "nested"), { recursive: true });
  for (let i = 0; i < 5; i++) await writeCutout(join(dir, `a${i}.png`), i % 2 === 0, 500 + i);
  await writeCutout(join(dir, "nested", "b.png"), true, 600);
  Deno.writeTextFileSync(join(dir, "notes.txt"), "not an image");
  const files = listInputs([dir]);
  assertEquals(files.length, 6);
  const run = await loadRun(trained.runDir);
  try {
    const out = await predictFiles(run, files, { batch: 4 });
    const csv = parseCsv(predictionsCsv(run, out));
    assertEquals(csv[0], ["file", "p_galaxy", "predicted"]);
    assertEquals(csv.length, 7);
    for (const [file, p, predicted] of csv.slice(1)) {
      const x = Number(p);
      assert(x >= 0 && x <= 1, `${file}: p = ${p}`);
      assertEquals(predicted, x >= 0.5 ? "galaxy" : "star", `${file}: p = ${p}`);
    }
    // With class weights the rows are the plain rows re-weighted (p·w / Σ p·w), labelled by them.
    const w = [1.7, 0.6];
    const weighted = await predictFiles(run, files, { batch: 4, classWeights: w });
    out.forEach((r, i) => {
      const s = r.probs.map((p, c) => p * w[c]);
      const want = s.map((x) => x / (s[0] + s[1]));
      assertAllClose(weighted[i].probs, want, 1e-6);
      assertEquals(weighted[i].predicted, run.classNames[want[0] >= want[1] ? 0 : 1]);
    });
  } finally {
    run.model.params.dispose();
  }
});

Deno.test("predict: a corrupt file and a wrong-sized image are clear errors", async () => {
  const dir = Deno.makeTempDirSync();
  const bad = join(dir, "corrupt.png");
  Deno.writeFileSync(bad, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5]));
  const big = join(dir, "big.png");
  await writeCutout(big, true, 7, 40);
  const run = await loadRun(trained.runDir);
  try {
    await assertRejects(() => predictFiles(run, [bad]), StarmambaError, "corrupt.png");
    const e = await assertRejects(() => predictFiles(run, [big]), StarmambaError, "40x40");
    assert(e.message.includes("32x32") && e.message.includes("--resize"), e.message);
    const resized = await predictFiles(run, [big], { resize: true });
    assertEquals(resized.length, 1);
  } finally {
    run.model.params.dispose();
  }
  await assertRejects(
    async () => await loadRun(join(dir, "nothing")),
    StarmambaError,
    "no such folder",
  );
});

Deno.test("predict CLI: CSV file on success, exit code 2 and one message for a bad image", async () => {
  const dir = Deno.makeTempDirSync();
  await writeCutout(join(dir, "ok.png"), false, 11);
  const cli = (args: string[]) => {
    const o = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(ROOT, "experiments/predict.ts"), "--model", trained.runDir, ...args],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const dec = new TextDecoder();
    return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
  };
  const csvPath = join(dir, "p.csv");
  const ok = cli([join(dir, "ok.png"), "--out", csvPath, "--quiet"]);
  assertEquals(ok.code, 0, ok.err);
  assertEquals(parseCsv(Deno.readTextFileSync(csvPath)).length, 2);
  Deno.writeTextFileSync(join(dir, "broken.jpg"), "definitely not a jpeg");
  const bad = cli([dir, "--quiet"]);
  assertEquals(bad.code, 2, bad.err);
  assert(bad.err.includes("broken.jpg") && !/\n\s+at /.test(bad.err), bad.err);
  const power = cli([join(dir, "ok.png"), "--class-weight-power", "1.5", "--quiet"]);
  assertEquals(power.code, 2, power.err);
  assert(power.err.includes("--class-weight-power 1.5"), power.err);
  // The weights come from the run's split.json: p = 0 leaves the CSV as it was.
  const same = cli([join(dir, "ok.png"), "--class-weight-power", "0", "--quiet"]);
  assertEquals(same.code, 0, same.err);
  assertEquals(same.out, Deno.readTextFileSync(csvPath));
});

Deno.test("predict CLI: a missing, truncated or altered weight shard exits 2 naming the file and how to rebuild it", async () => {
  const img = join(Deno.makeTempDirSync(), "ok.png");
  await writeCutout(img, false, 12);
  const copy = (): { run: string; shard: string } => {
    const run = join(Deno.makeTempDirSync(), "v1");
    new Deno.Command("cp", { args: ["-r", trained.runDir, run] }).outputSync();
    const shard = [...Deno.readDirSync(join(run, "model"))].find((e) => e.name.endsWith(".bin"))!;
    return { run, shard: join(run, "model", shard.name) };
  };
  const cli = (run: string) => {
    const o = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(ROOT, "experiments/predict.ts"), "--model", run, img, "--quiet"],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    return { code: o.code, err: new TextDecoder().decode(o.stderr) };
  };
  const cases: [string, (shard: string) => void, string][] = [
    ["missing", (f) => Deno.removeSync(f), "is missing"],
    ["truncated", (f) => Deno.truncateSync(f, 1000), "truncated or damaged"],
    ["altered", (f) => {
      const b = Deno.readFileSync(f);
      b[b.length - 1] ^= 1; // same length, one bit off: only the checksum can tell
      Deno.writeFileSync(f, b);
    }, "is not the recorded"],
  ];
  for (const [name, damage, msg] of cases) {
    const { run, shard } = copy();
    damage(shard);
    const r = cli(run);
    assertEquals(r.code, 2, `${name}: ${r.err}`);
    assert(r.err.includes(shard) && r.err.includes(msg), `${name}: ${r.err}`);
    assert(r.err.includes("rerun"), `${name}: no advice: ${r.err}`);
    assert(!/\n\s+at /.test(r.err), `${name}: stack trace: ${r.err}`);
  }
});

Deno.test("rebuildAdvice: the worktree, the exact experiment command with its overrides, and where the shard goes", () => {
  const text = rebuildAdvice(
    {
      experiment: "improved-x",
      code: { commit: "23e644ca2bf308f2be55ffa105e46918cd7dc343", dirty: false },
      config_files: ["configs/base.yaml", "configs/improved-x.yaml"],
      overrides: ["seed=2", "data.root=my data"],
    },
    "/p/results/improved-x/v3",
    "model/model.abc.bin",
  );
  const lines = text.split("\n");
  assertEquals(
    lines[1],
    "  git worktree add ../starmamba-23e644ca 23e644ca && cd ../starmamba-23e644ca",
  );
  assertEquals(
    lines[2],
    "  deno task experiment configs/improved-x.yaml --set seed=2 --set 'data.root=my data'",
  );
  assertEquals(
    lines[3],
    "  cp scratch/improved-x/v<N>/model/model.*.bin /p/results/improved-x/v3/model/model.abc.bin",
  );
  // A config that published its runs wrote them under its output.dir, not scratch/.
  const published = rebuildAdvice(
    {
      experiment: "improved-x",
      code: { commit: "23e644ca2bf308f2be55ffa105e46918cd7dc343", dirty: false },
      config_files: ["configs/improved-x.yaml"],
      overrides: [],
      config: { output: { dir: "results", scratch_dir: "scratch", publish: true } },
    },
    "/p/results/improved-x/v3",
    "model/model.abc.bin",
  );
  assertEquals(
    published.split("\n")[3],
    "  cp results/improved-x/v<N>/model/model.*.bin /p/results/improved-x/v3/model/model.abc.bin",
  );
});

Deno.test("evaluate: reproduces the run's best-epoch metrics; another data folder is refused", async () => {
  const result = JSON.parse(Deno.readTextFileSync(join(trained.runDir, "result.json")));
  const ev = await evaluateRun(trained.runDir, { tta: false, dataRoot: data });
  assertEquals(ev.metrics.n, result.best.metrics.n);
  assertEquals(ev.metrics.confusion, result.best.metrics.confusion);
  assertAllClose([ev.metrics.rocAuc], [result.best.metrics.rocAuc], 0, 1e-9, "ROC-AUC");
  // Per-image: the same files, labels and probabilities as the run's own predictions.csv.
  const [head, ...saved] = parseCsv(Deno.readTextFileSync(join(trained.runDir, "predictions.csv")))
    .filter((r) => r.length > 1);
  const col = (name: string) => saved.map((r) => r[head.indexOf(name)]);
  assertEquals(ev.files, col("file"));
  assertEquals(ev.labels.map((l) => ev.classNames[l]), col("label"));
  const perClass = ev.classNames.map((c) => col(`p_${c}`).map(Number));
  const expected = saved.flatMap((_, i) => perClass.map((p) => p[i]));
  assertAllClose(Array.from(ev.probs), expected, 0, 1e-7, "probabilities");
  // The error table lists exactly the off-diagonal of the confusion matrix.
  const wrong = confidentErrors(ev.files, ev.labels, ev.probs, ev.classNames);
  const cm = ev.metrics.confusion;
  assertEquals(
    wrong.length,
    cm.flat().reduce((a, b) => a + b, 0) - cm.reduce((a, r, i) => a + r[i], 0),
  );
  const tta = await evaluateRun(trained.runDir, { tta: true, dataRoot: data });
  assertEquals(tta.metrics.n, ev.metrics.n);
  // A re-weighted decision: weights from the training split's class counts (split.json, read
  // here independently), the same ranking, and labels = the weighted arg-max of the old probs.
  const split = JSON.parse(Deno.readTextFileSync(join(trained.runDir, "split.json")));
  const k = ev.classNames.length;
  const counts = ev.classNames.map((c) =>
    split.train.filter((f: string) => f.split("/")[0] === c).length
  );
  const shifted = await evaluateRun(trained.runDir, {
    tta: false,
    dataRoot: data,
    classWeightPower: 0.5,
  });
  const want = counts.map((c) => Math.sqrt(split.train.length / (k * c)));
  assertAllClose(ev.classNames.map((c) => shifted.decision!.weights[c]), want, 1e-12);
  assertAllClose([shifted.metrics.rocAuc], [ev.metrics.rocAuc], 1e-6, 0, "ROC-AUC kept");
  const hits = ev.labels.filter((y, i) => {
    const scores = want.map((w, c) => w * ev.probs[i * k + c]);
    return scores.indexOf(Math.max(...scores)) === y;
  }).length;
  assertEquals(shifted.metrics.accuracy, hits / ev.labels.length);
  const other = join(work, "other");
  await writeFolder(other, 3);
  await assertRejects(
    () => evaluateRun(trained.runDir, { tta: false, dataRoot: other }),
    StarmambaError,
    "fingerprint",
  );
});

Deno.test("evaluate an ensemble: the image-by-image mean of its members, decided as one; another split is refused", async () => {
  const folderRun = (sets: string[]) =>
    runExperiment(
      loadConfig(join(ROOT, "configs/quickstart.yaml"), [
        ...TINY_RUN,
        "data.source=folder",
        `data.root=${JSON.stringify(data)}`,
        ...sets,
      ]),
      { projectRoot: work, quiet: true },
    );
  // Same seed and data, another network: the same split, other probabilities.
  const wider = await folderRun(["model.dim=12"]);
  const opts = { tta: false, dataRoot: data, classWeightPower: 0.5 };
  const a = await evaluateRun(trained.runDir, opts);
  const b = await evaluateRun(wider.runDir, opts);
  assert(a.rawProbs.some((p, i) => Math.abs(p - b.rawProbs[i]) > 1e-4), "members differ");
  const ens = await evaluateEnsemble([trained.runDir, wider.runDir], opts);
  const mean = Array.from(a.rawProbs, (p, i) => (p + b.rawProbs[i]) / 2);
  assertAllClose(Array.from(ens.rawProbs), mean, 0, 1e-7, "mean probabilities");
  assertEquals(ens.members.map((m) => m.metrics), [a.metrics, b.metrics]);
  // The decision by hand: the class-weighted arg-max of the mean, weights from split.json.
  const k = a.classNames.length;
  const w = a.classNames.map((c) => a.decision!.weights[c]);
  const hits = a.labels.filter((y, i) => {
    const scores = w.map((wc, c) => wc * mean[i * k + c]);
    return scores.indexOf(Math.max(...scores)) === y;
  }).length;
  assertEquals(ens.metrics.accuracy, hits / a.labels.length);
  assertEquals(ens.files, a.files);
  // A run with itself is the run.
  const self = await evaluateEnsemble([trained.runDir, trained.runDir], opts);
  assertEquals(self.metrics, a.metrics);
  // Another seed validates on other images: refused, naming the cause.
  const reseeded = await folderRun(["seed=2"]);
  await assertRejects(
    () => evaluateEnsemble([trained.runDir, reseeded.runDir], opts),
    StarmambaError,
    "different images",
  );
  await assertRejects(() => evaluateEnsemble([trained.runDir], opts), StarmambaError, "two");
});

Deno.test("a centre-cropped run: model input 32×32 from 64×64 files; predict and evaluate crop alike", async () => {
  const big = join(work, "data64");
  await writeFolder(big, 12, 64);
  const cropped = await runExperiment(
    loadConfig(join(ROOT, "configs/quickstart.yaml"), [
      ...TINY_RUN,
      "data.size=64",
      "data.center_crop=32",
      "data.source=folder",
      `data.root=${JSON.stringify(big)}`,
    ]),
    { projectRoot: work, quiet: true },
  );
  const result = JSON.parse(Deno.readTextFileSync(join(cropped.runDir, "result.json")));
  assertEquals(result.config.data.center_crop, 32);
  const rows = parseCsv(Deno.readTextFileSync(join(cropped.runDir, "predictions.csv")));
  const head = rows[0];
  const iFile = head.indexOf("file"), iP = head.indexOf("p_galaxy");
  const val = rows.slice(1).filter((r) => r.length === head.length);
  const run = await loadRun(cropped.runDir);
  try {
    assertEquals(run.model.config.image_size, 32);
    const out = await predictFiles(run, val.map((r) => join(big, r[iFile])));
    assertAllClose(out.map((o) => o.probs[0]), val.map((r) => Number(r[iP])), 0, 1e-6);
  } finally {
    run.model.params.dispose();
  }
  const ev = await evaluateRun(cropped.runDir, { tta: false, dataRoot: big });
  assertEquals(ev.metrics.confusion, result.best.metrics.confusion);
});

Deno.test("a field-context run: predict on the same files rebuilds each frame's template and reproduces the run", async () => {
  const framed = join(work, "framed");
  for (const [cls, code] of [["galaxy", 3], ["star", 6]] as const) {
    Deno.mkdirSync(join(framed, cls), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const name = `F${i % 2}_${10 * i}_${7 * i}_${code}.png`;
      await writeCutout(join(framed, cls, name), cls === "galaxy", 300 + i + code * 20);
    }
  }
  const ctx = await runExperiment(
    loadConfig(join(ROOT, "configs/quickstart.yaml"), [
      ...TINY_RUN,
      "data.field_context=true",
      "augment.grayscale_p=0",
      "data.source=folder",
      `data.root=${JSON.stringify(framed)}`,
    ]),
    { projectRoot: work, quiet: true },
  );
  const result = JSON.parse(Deno.readTextFileSync(join(ctx.runDir, "result.json")));
  assertEquals(result.config.data.field_context, true);
  const [head, ...saved] = parseCsv(Deno.readTextFileSync(join(ctx.runDir, "predictions.csv")))
    .filter((r) => r.length > 1);
  const expected = new Map(
    saved.map((r) => [r[head.indexOf("file")], Number(r[head.indexOf("p_galaxy")])]),
  );
  const all = listInputs([framed]);
  const run = await loadRun(ctx.runDir);
  try {
    const out = await predictFiles(run, all, { batch: 5, context: "frame" });
    const val = out.filter((o) => expected.has(o.file.slice(framed.length + 1)));
    assertEquals(val.length, expected.size);
    assertAllClose(
      val.map((o) => o.probs[0]),
      val.map((o) => expected.get(o.file.slice(framed.length + 1))!),
      0,
      1e-6,
    );
  } finally {
    run.model.params.dispose();
  }
  const ev = await evaluateRun(ctx.runDir, { tta: false, dataRoot: framed });
  assertEquals(ev.metrics.confusion, result.best.metrics.confusion);
  // Grayscale augmentation would mix the context channels into the cutout: refused up front.
  await assertRejects(
    () =>
      runExperiment(
        loadConfig(join(ROOT, "configs/quickstart.yaml"), [
          ...TINY_RUN,
          "data.field_context=true",
          "data.source=folder",
          `data.root=${JSON.stringify(framed)}`,
        ]),
        { projectRoot: work, quiet: true },
      ),
    StarmambaError,
    "grayscale_p",
  );
});

Deno.test("evaluate --test: a run trained with data.test_set is scored on the locked set (calibration from its validation images); a run that saw the set is refused", async () => {
  const { chooseTestSet } = await import("../lib/data/test_set.ts");
  const { protocolMetrics } = await import("../lib/metrics/operating.ts");
  const { skyGroupOf } = await import("../lib/data/splits.ts");
  // Eight sky fields, five cutouts of each class in each.
  const dir = join(work, "fields");
  const files: string[] = [], labels: number[] = [];
  for (const cls of ["galaxy", "star"]) {
    Deno.mkdirSync(join(dir, cls), { recursive: true });
    for (let g = 0; g < 8; g++) {
      for (let i = 0; i < 5; i++) {
        const f = `${cls}/FLD${g}-R01_${10 + i}_${20 + i}_3.png`;
        await writeCutout(
          join(dir, f),
          cls === "galaxy",
          1000 + 10 * g + i + (cls === "star" ? 500 : 0),
        );
        files.push(f);
        labels.push(cls === "galaxy" ? 0 : 1);
      }
    }
  }
  const t = chooseTestSet(Int32Array.from(labels), files, ["galaxy", "star"], "fp", {
    fraction: 0.25,
    seed: 1,
    exclude: [],
  });
  const testPath = join(work, "test_set.json");
  Deno.writeTextFileSync(testPath, JSON.stringify(t));
  const run = await runExperiment(
    loadConfig(join(ROOT, "configs/quickstart.yaml"), [
      ...TINY_RUN,
      "data.source=folder",
      "data.split=grouped",
      `data.root=${JSON.stringify(dir)}`,
      `data.test_set=${JSON.stringify(testPath)}`,
    ]),
    { projectRoot: work, quiet: true },
  );
  const ev = await evaluateRun(run.runDir, { tta: false, testSet: testPath });
  assertEquals(ev.scoredOn, "test");
  assertEquals(ev.files, t.files);
  assertEquals(ev.metrics.n, t.files.length);
  const split = JSON.parse(Deno.readTextFileSync(join(run.runDir, "split.json")));
  assertEquals(
    ev.test!.calib.labels.length,
    split.val.length,
    "calibrated on the validation images",
  );
  const p = protocolMetrics(
    ev.labels,
    ev.probs,
    ev.classNames,
    ev.files.map(skyGroupOf),
    ev.test!.calib,
  );
  assert(p.temperature !== null && p.temperature > 0, `temperature ${p.temperature}`);
  assertEquals(p.groups, t.groups.length);
  // The first run of this file trained on a random split of other files: its split holds none of
  // these, but a run that did see test images is refused.
  const seen = JSON.parse(Deno.readTextFileSync(join(run.runDir, "split.json")));
  seen.train.push(t.files[0]);
  Deno.writeTextFileSync(join(run.runDir, "split.json"), JSON.stringify(seen));
  await assertRejects(
    () => evaluateRun(run.runDir, { tta: false, testSet: testPath }),
    StarmambaError,
    "images of the locked test set",
  );
});
