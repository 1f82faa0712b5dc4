/**
 * predict on a field-context run: `--context frame|single` is explicit, `single` makes a
 * prediction a function of its own file, `frame` warns (once, naming them) about frames with
 * fewer than `--min-per-frame` cutouts and only then; the predicted class is the `predicted`
 * column in folder and catalogue mode alike.
 * @module
 */
import sharp from "sharp";
import { join } from "node:path";
import { assert, assertAllClose, assertEquals, assertRejects } from "../lib/util/assert.ts";
import { loadConfig } from "../lib/config/load.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { parseCsv } from "../lib/results/write.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { rng } from "../lib/util/rng.ts";
import {
  catalogPredictionsCsv,
  loadRun,
  MIN_FRAME_CUTOUTS,
  predictCatalog,
  predictFiles,
  type PredictionRow,
  predictionsCsv,
  smallFramesWarning,
} from "../lib/experiment/predict.ts";
import { ROOT, runScript } from "./permissions.ts";

const TINY = [
  "data.size=32",
  "model.dim=8",
  "model.depths=[1, 1, 1, 1]",
  "model.patch_size=2",
  "train.epochs=1",
  "train.steps_per_epoch=2",
  "augment.grayscale_p=0",
  "data.source=folder",
];

/** A 32×32 grey cutout: a Gaussian blob (wide for galaxies) on a frame-dependent sky. */
async function writeCutout(path: string, galaxy: boolean, seed: number, sky: number) {
  const r = rng(seed, "cutout");
  const size = 32, s = galaxy ? 5 : 1.2;
  const px = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d2 = (x - size / 2) ** 2 + (y - size / 2) ** 2;
      const v = Math.min(255, Math.round(sky + 180 * Math.exp(-d2 / (2 * s * s)) + 30 * r.next()));
      px.fill(v, 3 * (y * size + x), 3 * (y * size + x) + 3);
    }
  }
  await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path);
}

/** Frames FA (12 cutouts), FB (6) and FC (1), ARIES-style names `<frame>_<x>_<y>_<code>`. */
const FRAMES: [string, number, number][] = [["FA", 12, 20], ["FB", 6, 50], ["FC", 1, 35]];

const work = Deno.makeTempDirSync();
const data = join(work, "data");
const files: string[] = [];
for (const [frame, n, sky] of FRAMES) {
  for (let i = 0; i < n; i++) {
    const cls = i % 2 === 0 ? "galaxy" : "star";
    Deno.mkdirSync(join(data, cls), { recursive: true });
    const f = join(data, cls, `${frame}_${10 + i}_${20 + i}_${cls === "galaxy" ? 3 : 6}.png`);
    await writeCutout(f, cls === "galaxy", 7 * files.length + 1, sky);
    files.push(f);
  }
}
files.sort();
const train = (sets: string[]) =>
  runExperiment(
    loadConfig(join(ROOT, "configs/quickstart.yaml"), [
      ...TINY,
      `data.root=${JSON.stringify(data)}`,
      ...sets,
    ]),
    { projectRoot: work, quiet: true },
  );
const ctxRun = (await train(["data.field_context=true"])).runDir;
const plainRun = (await train([])).runDir;
/** A file of frame FA, the largest. */
const X = files.find((f) => f.includes("/FA_"))!;

const rowOf = (rows: PredictionRow[], file: string) => rows.find((r) => r.file === file)!;

Deno.test("predict context single: a cutout's probabilities depend on its file only, bit for bit", async () => {
  const run = await loadRun(ctxRun);
  try {
    // One image per forward pass, so that the network sees the same batch either way: what
    // differs between the calls is only the other files (a small network's kernels may round a
    // row differently in a larger batch, in the last bit; that is not the context).
    const alone = await predictFiles(run, [X], { context: "single", batch: 1 });
    const among = await predictFiles(run, files, { context: "single", batch: 1 });
    assertEquals(rowOf(among, X).probs, alone[0].probs);
    const batched = await predictFiles(run, files, { context: "single", batch: 8 });
    assertAllClose(rowOf(batched, X).probs, alone[0].probs, 0, 1e-6, "batch 8");
    // The premise: with the frame's template the company matters (FA's median is not X).
    const frameAll = await predictFiles(run, files, { context: "frame", warn: () => {} });
    const frameAlone = await predictFiles(run, [X], { context: "frame", batch: 1, warn: () => {} });
    assert(
      rowOf(frameAll, X).probs[0] !== frameAlone[0].probs[0],
      "frame context should depend on the other cutouts of the frame",
    );
    // A frame of one cutout takes its median from that cutout: the same as single.
    assertEquals(frameAlone[0].probs, alone[0].probs);
  } finally {
    run.model.params.dispose();
  }
});

Deno.test("smallFramesWarning: none when every frame reaches the minimum; else one line naming each frame with its count", () => {
  const counts = new Map([["FA", 12], ["FB", 6], ["FC", 1]]);
  assertEquals(
    smallFramesWarning(counts, 6),
    "warning: 1 of 3 frame(s) have fewer than 6 cutouts in this call, so their templates (the " +
      "median of the frame's cutouts given) are poor and their predictions change with the " +
      "cutouts given beside them: FC (1); give every cutout of a frame in one call, or use " +
      "--context single (each cutout alone)",
  );
  const w = smallFramesWarning(counts, 13)!;
  assert(w.startsWith("warning: 3 of 3 frame(s) have fewer than 13 cutouts"), w);
  assert(w.includes(": FC (1), FB (6), FA (12); "), w); // fewest first
  assert(!w.includes("\n"), "one line");
  assertEquals(smallFramesWarning(counts, 1), null);
  // 25 small frames: 20 named, then a count of the rest.
  const many = new Map(Array.from({ length: 25 }, (_, i) => [`F${100 + i}`, 2] as const));
  const m = smallFramesWarning(many, 20)!;
  assert(m.includes("F119 (2), and 5 more;") && !m.includes("F120"), m);
});

Deno.test("predict context frame: one warning naming frame FC (1) under the minimum; no warning when every frame reaches it", async () => {
  const run = await loadRun(ctxRun);
  try {
    const warnings: string[] = [];
    let frames: ReadonlyMap<string, number> | null = null;
    const opts = {
      context: "frame" as const,
      warn: (m: string) => warnings.push(m),
      onFrames: (c: ReadonlyMap<string, number>) => frames = c,
    };
    await predictFiles(run, files, { ...opts, minPerFrame: 6 });
    assertEquals(warnings.length, 1);
    assert(warnings[0].includes("1 of 3 frame(s)") && warnings[0].includes(": FC (1); "));
    assertEquals(frames, new Map([["FA", 12], ["FB", 6], ["FC", 1]]));
    warnings.length = 0;
    await predictFiles(run, files, { ...opts, minPerFrame: 1 });
    assertEquals(warnings, []);
    await predictFiles(run, files.filter((f) => !f.includes("/FC_")), { ...opts, minPerFrame: 6 });
    assertEquals(warnings, []);
    // The default minimum: every frame here is smaller.
    await predictFiles(run, files, { context: "frame", warn: (m) => warnings.push(m) });
    assertEquals(warnings.length, 1);
    assert(warnings[0].includes(`fewer than ${MIN_FRAME_CUTOUTS} cutouts`), warnings[0]);
  } finally {
    run.model.params.dispose();
  }
});

Deno.test("predicted class column: `predicted` in folder and catalogue mode; a catalogue's label column is kept as the truth", async () => {
  const run = await loadRun(ctxRun);
  try {
    const rows = await predictFiles(run, files, { context: "single" });
    const folder = parseCsv(predictionsCsv(run, rows));
    assertEquals(folder[0], ["file", "p_galaxy", "predicted"]);
    const truth = (f: string) => f.includes("/galaxy/") ? "galaxy" : "star";
    // A catalogue of the same files, all in one frame by its frame column.
    const rel = files.map((f) => f.slice(data.length + 1));
    const catalog = join(data, "sources.csv");
    Deno.writeTextFileSync(
      catalog,
      ["path,label,frame", ...rel.map((p) => `${p},${truth(p)},ONE`)].join("\n") + "\n",
    );
    const single = await predictCatalog(run, catalog, { context: "single" });
    const csv = parseCsv(catalogPredictionsCsv(run, single.table, single.rows));
    assertEquals(csv[0], ["path", "label", "frame", "p_galaxy", "predicted"]);
    assertEquals(csv.slice(1).map((r) => r[1]), rel.map(truth));
    assertEquals(csv.slice(1).map((r) => r[4]), rows.map((r) => r.predicted));
    // Single context is the file's own whatever the mode.
    assertEquals(single.rows.map((r) => r.probs), rows.map((r) => r.probs));
    // Frame context reads frames from the frame column: one frame of all 19.
    let frames: ReadonlyMap<string, number> | null = null;
    await predictCatalog(run, catalog, {
      context: "frame",
      warn: () => {},
      onFrames: (c) => frames = c,
    });
    assertEquals(frames, new Map([["ONE", files.length]]));
    // A catalogue that already has a `predicted` column would get two: refused, naming it.
    const clash = join(data, "clash.csv");
    Deno.writeTextFileSync(clash, `path,predicted\n${rel[0]},star\n`);
    await assertRejects(
      () => predictCatalog(run, clash, { context: "single" }),
      StarmambaError,
      `clash.csv: has a "predicted" column`,
    );
  } finally {
    run.model.params.dispose();
  }
});

/** Runs `deno task predict` with the tasks' permissions, in a temp dir. */
const cli = (args: string[]) =>
  runScript("experiments/predict.ts", args, {
    cwd: work,
    flags: [`--config=${join(ROOT, "deno.json")}`],
  });

const warningLines = (err: string) => err.split("\n").filter((l) => l.startsWith("warning:"));

Deno.test("predict CLI: a field-context run needs --context (exit 2, one line saying what each choice means)", () => {
  const r = cli(["--model", ctxRun, data]);
  assertEquals(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assertEquals(lines.length, 1, r.stderr);
  for (const part of ["uses field context", "--context frame", "--context single", "20 per"]) {
    assert(lines[0].includes(part), `${part}: ${r.stderr}`);
  }
  const bad = cli(["--model", ctxRun, "--context", "frames", data]);
  assertEquals(bad.code, 2, bad.stderr);
  assert(bad.stderr.includes("--context frames: choose frame or single"), bad.stderr);
  const min = cli(["--model", ctxRun, "--context", "single", "--min-per-frame", "5", data]);
  assertEquals(min.code, 2, min.stderr);
  assert(min.stderr.includes("goes with --context frame"), min.stderr);
});

Deno.test("predict CLI --context frame: the warning lists FC (1) only when under --min-per-frame; the summary names the context", () => {
  const out = join(work, "p.csv");
  const under = cli(["--model", ctxRun, "--context", "frame", "--min-per-frame", "6", data]);
  assertEquals(under.code, 0, under.stderr);
  const w = warningLines(under.stderr);
  assertEquals(w.length, 1, under.stderr);
  assert(w[0].includes(": FC (1); ") && !w[0].includes("FB"), w[0]);
  assert(under.stderr.includes(`predicted ${files.length} images (`), under.stderr);
  assert(under.stderr.includes("context frame: 3 frame(s)"), under.stderr);
  assertEquals(parseCsv(under.stdout)[0], ["file", "p_galaxy", "predicted"]);
  const fine = cli([
    "--model",
    ctxRun,
    "--context",
    "frame",
    "--min-per-frame",
    "1",
    data,
    "--out",
    out,
  ]);
  assertEquals(fine.code, 0, fine.stderr);
  assertEquals(warningLines(fine.stderr), [], fine.stderr);
  assert(!/warn/i.test(fine.stderr), fine.stderr);
  assert(fine.stderr.includes(`wrote ${files.length} predictions to ${out} (`), fine.stderr);
  assertEquals(Deno.readTextFileSync(out), under.stdout);
  const single = cli(["--model", ctxRun, "--context", "single", X]);
  assertEquals(single.code, 0, single.stderr);
  assertEquals(warningLines(single.stderr), []);
  assert(single.stderr.includes("context single: each cutout alone"), single.stderr);
});

Deno.test("predict CLI, a run without field context: --context is not needed, and either value changes nothing", () => {
  const none = cli(["--model", plainRun, data, "--quiet"]);
  assertEquals(none.code, 0, none.stderr);
  assertEquals(parseCsv(none.stdout)[0], ["file", "p_galaxy", "predicted"]);
  for (const c of ["single", "frame"]) {
    const r = cli(["--model", plainRun, "--context", c, data]);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, none.stdout, c);
    assertEquals(warningLines(r.stderr), [], r.stderr);
    assert(r.stderr.includes("no field context"), r.stderr);
  }
});
