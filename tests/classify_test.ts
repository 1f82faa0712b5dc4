/**
 * `deno task classify` (lib/experiment/classify.ts): a frame classified equals its cutout files
 * classified by predict (bit for bit, through the one pipeline, stretch and centre crop
 * included); a frame's probabilities do not depend on the other frames of the call; detection,
 * --sources, edges, operating points, bad input and the merge of shards. Frames are made here
 * (Gaussian stars, elliptical exponential galaxies, a blank patch, a TAN WCS) with
 * writeFitsFloat32, so the tests depend on no other fixture.
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "../lib/util/assert.ts";
import { readFits, writeFitsFloat32 } from "../lib/data/fits.ts";
import { detectFrame } from "../lib/frames/detect.ts";
import { openFitsFrame } from "../lib/frames/open.ts";
import { parseWcs, pixelToWorld } from "../lib/frames/wcs.ts";
import {
  classifyFrames,
  type ClassifyOptions,
  type ClassifyProgress,
  decisionRule,
  mergeCatalogs,
  outOfFold,
} from "../lib/experiment/classify.ts";
import { type LoadedRun, loadRun, predictFiles } from "../lib/experiment/predict.ts";
import { DISPLAY_STRETCH_NOTE } from "../lib/experiment/classify_stretch.ts";
import { parseCsv } from "../lib/results/write.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { assertOneLineError, runScript } from "./permissions.ts";

const WCS = {
  CTYPE1: "RA---TAN",
  CTYPE2: "DEC--TAN",
  CRPIX1: 100.5,
  CRPIX2: 80.5,
  CRVAL1: 150,
  CRVAL2: 2,
  CD1_1: -1e-4,
  CD1_2: 0,
  CD2_1: 0,
  CD2_2: 1e-4,
};

/** A source drawn into a frame: a star (round Gaussian) or a galaxy (elliptical exponential). */
interface Drawn {
  x: number;
  y: number;
  galaxy: boolean;
  amp: number;
}

/**
 * A 200 × 160 float32 frame: sky 100 with noise, the sources, a 4 × 4 blank (NaN) patch at FITS
 * (61..64, 41..44) and, unless `wcs` is false, a TAN WCS of 0.36″/pixel. Returns its path.
 */
function writeFrame(path: string, seed: number, sources: Drawn[], wcs = true): string {
  const W = 200, H = 160;
  let s = seed;
  const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647;
  const data = new Float32Array(W * H).map(() => 100 + 4 * (rnd() + rnd() + rnd() - 1.5));
  for (const g of sources) {
    for (let y = Math.max(1, Math.floor(g.y) - 25); y <= Math.min(H, g.y + 25); y++) {
      for (let x = Math.max(1, Math.floor(g.x) - 25); x <= Math.min(W, g.x + 25); x++) {
        const dx = x - g.x, dy = y - g.y;
        data[(y - 1) * W + x - 1] += g.galaxy
          ? g.amp * Math.exp(-Math.sqrt(dx * dx + (dy / 0.6) ** 2) / 2.5)
          : g.amp * Math.exp(-(dx * dx + dy * dy) / (2 * 1.4 ** 2));
      }
    }
  }
  for (let y = 41; y <= 44; y++) for (let x = 61; x <= 64; x++) data[(y - 1) * W + x - 1] = NaN;
  Deno.writeFileSync(path, writeFitsFloat32(W, H, data, wcs ? { ...WCS, SATURATE: 3000 } : {}));
  return path;
}

/** `n` sources at deterministic positions at least `margin` pixels inside the frame. */
function sourcesOf(seed: number, n: number, margin: number): Drawn[] {
  let s = seed;
  const rnd = () => (s = (s * 48271) % 2147483647) / 2147483647;
  return Array.from({ length: n }, (_, i) => ({
    x: margin + rnd() * (200 - 2 * margin),
    y: margin + rnd() * (160 - 2 * margin),
    galaxy: i % 3 === 0,
    amp: 300 + 1500 * rnd(),
  }));
}

const work = Deno.makeTempDirSync();
const A = writeFrame(join(work, "fieldA.fits"), 11, sourcesOf(3, 24, 36));
const B = writeFrame(join(work, "fieldB.fits"), 29, sourcesOf(7, 18, 36));
const base = await loadRun("aries-cpu-ctx-s1");
/** The released model with another data section (its network and weights unchanged). */
const withData = (over: Partial<LoadedRun["config"]["data"]>): LoadedRun => ({
  ...base,
  config: { ...base.config, data: { ...base.config.data, ...over } },
});
const quietly: ClassifyOptions = { warn: () => {} };

/** catalog.csv of a folder as rows of objects. */
function catalog(dir: string): Record<string, string>[] {
  const [head, ...rows] = parseCsv(Deno.readTextFileSync(join(dir, "catalog.csv")));
  return rows.map((r) => Object.fromEntries(head.map((h, j) => [h, r[j]])));
}

/** A sources CSV of positions (x, y) with a frame column and a name. */
function sourcesCsv(path: string, rows: [string, number, number, string][]): string {
  Deno.writeTextFileSync(path, "frame,x,y,name\n" + rows.map((r) => r.join(",")).join("\n"));
  return path;
}

/**
 * The cutout files of `frame` around `positions`, cut independently of lib/frames: the frame
 * read whole by readFits, a `size`-pixel square from column ⌈x − size/2⌉ and row ⌈y − size/2⌉
 * (astropy Cutout2D's rule, which tests/cutouts_test.ts checks), written as float32 FITS named
 * `<frame>_<i>_<i>_0.fits` so that predict's frame context groups them as one frame.
 */
function cutoutFiles(
  frame: string,
  positions: [number, number][],
  size: number,
): { files: string[]; blank: boolean[] } {
  const img = readFits(Deno.readFileSync(frame));
  const dir = Deno.makeTempDirSync({ dir: work });
  const stem = frame.split("/").pop()!.replace(".fits", "");
  const blank: boolean[] = [];
  const files = positions.map(([x, y], i) => {
    const x0 = Math.ceil(x - size / 2), y0 = Math.ceil(y - size / 2);
    assert(x0 >= 1 && y0 >= 1 && x0 + size - 1 <= img.width && y0 + size - 1 <= img.height);
    const px = new Float32Array(size * size);
    for (let r = 0; r < size; r++) {
      for (let c = 0; c < size; c++) {
        px[r * size + c] = img.data[(y0 - 1 + r) * img.width + x0 - 1 + c];
      }
    }
    blank.push(px.some((v) => Number.isNaN(v)));
    const f = join(dir, `${stem}_${i + 1}_${i + 1}_0.fits`);
    Deno.writeFileSync(f, writeFitsFloat32(size, size, px));
    return f;
  });
  return { files, blank };
}

/** Positions whose 72-pixel stamps lie inside frame A (no padding); some hold the blank patch. */
const INSIDE: [number, number][] = [
  [60.2, 50.7],
  [100, 80],
  [99.5, 80.5],
  [140.75, 70.3],
  [70, 40],
  [120.49, 110.51],
  [45.1, 120.9],
  [150.3, 45.6],
  [88.8, 99.9],
  [130, 120.2],
];

for (
  const [label, over] of [
    ["asinh stretch", { stretch: "asinh", stretch_percentile: 99.5 }],
    ["zscale stretch, 72-pixel cutouts centre-cropped to 64", {
      stretch: "zscale",
      size: 72,
      center_crop: 64,
    }],
  ] as [string, Partial<LoadedRun["config"]["data"]>][]
) {
  Deno.test(`classifying a frame equals predict --context frame on its cutout files, bit for bit (${label})`, async () => {
    const run = withData(over);
    const csv = sourcesCsv(
      join(work, `inside-${over.size ?? 64}.csv`),
      INSIDE.map(([x, y], i) => [A, x, y, `s${i}`]),
    );
    const out = join(work, `bits-${over.size ?? 64}-${over.stretch}`);
    await classifyFrames(run, [A], out, { ...quietly, sources: csv });
    const rows = catalog(out);
    const { files, blank } = cutoutFiles(A, INSIDE, run.config.data.size);
    assert(blank.some((b) => b) && blank.some((b) => !b));
    const want = await predictFiles(run, files, { context: "frame", warn: () => {} });
    assertEquals(rows.length, INSIDE.length);
    assertEquals(rows.map((r) => Number(r.p_galaxy)), want.map((w) => w.probs[0]));
    assertEquals(rows.map((r) => r.class), want.map((w) => w.predicted));
    assertEquals(rows.map((r) => [Number(r.x), Number(r.y)]), INSIDE);
    assertEquals(rows.map((r) => r.name), INSIDE.map((_, i) => `s${i}`));
    // Flagged blank: the stamps holding the blank patch (FITS 61..64, 41..44).
    assertEquals(rows.map((r) => (Number(r.flags) & 32) !== 0), blank);
    assertEquals(rows.map((r) => Number(r.flags) & 2), INSIDE.map(() => 0));
  });
}

Deno.test("--stretch: a display-image model (identity) on a physical frame gets zscale by default, equal to --stretch zscale and to predict on zscaled cutout files", async () => {
  const csv = sourcesCsv(
    join(work, "inside-st.csv"),
    INSIDE.map(([x, y], i) => [A, x, y, `s${i}`]),
  );
  const warnings: string[] = [];
  const opts = { sources: csv, warn: (m: string) => warnings.push(m) };
  const byDefault = join(work, "st-default"), given = join(work, "st-zscale");
  assertEquals(base.config.data.stretch, "identity");
  const s = await classifyFrames(base, [A], byDefault, opts);
  await classifyFrames(base, [A], given, { ...opts, stretch: "zscale" });
  assertEquals(warnings.filter((w) => w.includes("stretch")), []);
  assertEquals(catalog(byDefault), catalog(given));
  assertEquals(s.frames[0].stretch, "zscale");
  const json = JSON.parse(Deno.readTextFileSync(join(byDefault, "catalog.json")));
  assertEquals([json.stretch.given, json.stretch.trained], [null, "identity"]);
  assert(
    json.stretch.rule.includes(
      "display stretch for a model trained on display images: zscale per cutout (assumed; " +
        "ARIES cutouts look like it)",
    ),
    json.stretch.rule,
  );
  assertEquals(json.frames[0].stretch, "zscale");
  // Independently: predict on FITS cutout files of the frame, the run's stretch set to zscale.
  const { files } = cutoutFiles(A, INSIDE, 64);
  const want = await predictFiles(withData({ stretch: "zscale" }), files, {
    context: "frame",
    warn: () => {},
  });
  assertEquals(catalog(byDefault).map((r) => Number(r.p_galaxy)), want.map((w) => w.probs[0]));
});

Deno.test("--stretch identity reproduces the old behaviour: raw counts as predict reads the cutout files, one warning with the frame's range", async () => {
  const csv = sourcesCsv(
    join(work, "inside-id.csv"),
    INSIDE.map(([x, y], i) => [A, x, y, `s${i}`]),
  );
  const warnings: string[] = [];
  const out = join(work, "st-identity");
  const s = await classifyFrames(base, [A, B], out, {
    sources: csv,
    stretch: "identity",
    warn: (m) => warnings.push(m),
  });
  assertEquals(s.frames.map((f) => f.stretch), ["identity", "identity"]);
  // One stretch warning for the call (frame A's range), however many frames.
  const said = warnings.filter((w) => w.includes("stretch"));
  assertEquals(said.length, 1);
  assert(said[0].includes(A) && said[0].includes("--stretch identity"), said[0]);
  const { files } = cutoutFiles(A, INSIDE, 64);
  const want = await predictFiles(base, files, { context: "frame", warn: () => {} });
  assertEquals(catalog(out).map((r) => Number(r.p_galaxy)), want.map((w) => w.probs[0]));
});

Deno.test("--stretch: a frame already in [0, 1] is read as is; a FITS-trained model keeps its own stretch unless given, then a warning", async () => {
  // Frame A divided by its largest value: the same sky as a display image in [0, 1].
  const img = readFits(Deno.readFileSync(A));
  const top = img.data.reduce((m, v) => (v > m ? v : m), -Infinity);
  const unit = join(work, "unit.fits");
  Deno.writeFileSync(
    unit,
    writeFitsFloat32(img.width, img.height, Float32Array.from(img.data, (v) => v / top)),
  );
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  const csv = sourcesCsv(join(work, "unit.csv"), [[unit, 100, 80, "a"], [unit, 60.2, 50.7, "b"]]);
  const a = join(work, "st-unit"), b = join(work, "st-unit-id");
  assertEquals(
    (await classifyFrames(base, [unit], a, { sources: csv, warn })).frames[0].stretch,
    "identity",
  );
  await classifyFrames(base, [unit], b, { sources: csv, warn, stretch: "identity" });
  assertEquals(catalog(a), catalog(b));
  assertEquals(warnings.filter((w) => w.includes("stretch")), []);
  // A model trained with asinh keeps asinh; --stretch zscale is used, with a warning, and gives
  // what the display-image model gives with zscale (same network, only the stretch differs).
  const inside = sourcesCsv(
    join(work, "inside-own.csv"),
    INSIDE.map(([x, y], i) => [A, x, y, `s${i}`]),
  );
  const asinh = withData({ stretch: "asinh" });
  const own = await classifyFrames(asinh, [A], join(work, "st-own"), {
    ...quietly,
    sources: inside,
  });
  assertEquals(own.frames[0].stretch, "asinh");
  const zs = { sources: inside, stretch: "zscale" as const };
  const other = await classifyFrames(asinh, [A], join(work, "st-other"), { ...zs, warn });
  assertEquals(other.frames[0].stretch, "zscale");
  const said = warnings.filter((w) => w.includes("stretch"));
  assertEquals(said.length, 1);
  assert(said[0].includes("differs") && said[0].includes("asinh"), said[0]);
  await classifyFrames(base, [A], join(work, "st-same"), { ...zs, ...quietly });
  assertEquals(catalog(join(work, "st-other")), catalog(join(work, "st-same")));
  assert(
    catalog(join(work, "st-own")).some((r, i) =>
      r.p_galaxy !== catalog(join(work, "st-same"))[i].p_galaxy
    ),
  );
  await assertRejects(
    () => classifyFrames(base, [A], join(work, "st-bad"), { stretch: "log" as "zscale" }),
    StarmambaError,
    "--stretch log",
  );
});

Deno.test("a frame's probabilities depend on that frame alone: A and B together equal A alone and B alone", async () => {
  const both = join(work, "ab"), a = join(work, "a"), b = join(work, "b");
  const seen: ClassifyProgress[] = [];
  await classifyFrames(base, [A, B], both, { ...quietly, progress: (p) => seen.push(p) });
  await classifyFrames(base, [A], a, quietly);
  await classifyFrames(base, [B], b, quietly);
  const ab = catalog(both);
  assert(ab.length > 30, `${ab.length} rows`);
  assertEquals(ab, [...catalog(a), ...catalog(b)]);
  // Progress: each frame ends "done" with its index, the running total counts both.
  const done = seen.filter((p) => p.stage === "done");
  assertEquals(done.map((p) => [p.frame, p.frames, p.name]), [[0, 2, A], [1, 2, B]]);
  assertEquals(done[1].sources, ab.length);
  // Merging the two shards gives the two-frame catalogue.
  const merged = join(work, "merged");
  assertEquals(mergeCatalogs([a, b], merged), { rows: ab.length, frames: 2 });
  assertEquals(catalog(merged), ab);
  const json = JSON.parse(Deno.readTextFileSync(join(merged, "catalog.json")));
  const one = JSON.parse(Deno.readTextFileSync(join(both, "catalog.json")));
  for (const k of ["created", "code"]) delete json[k], delete one[k];
  assertEquals(json.merged_from, [a, b]);
  delete json.merged_from;
  assertEquals(json, one);
  // Every other file byte for byte: the FITS table (from the CSV's numbers), regions, previews.
  for (const f of ["catalog.fits", "fieldA.png", "fieldA.reg", "fieldB.png", "fieldB.reg"]) {
    assertEquals(Deno.readFileSync(join(merged, f)), Deno.readFileSync(join(both, f)), f);
  }
  // Shards that disagree on the operating point are not merged.
  const t = join(work, "b-thr");
  await classifyFrames(base, [B], t, { ...quietly, threshold: 0.3 });
  assertThrows(() => mergeCatalogs([a, t], join(work, "m2")), StarmambaError, "another decision");
  // Beside the CSV: the FITS table, and per frame its DS9 regions (a circle per source) and PNG.
  for (const dir of [both, merged]) {
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(names, [
      "catalog.csv",
      "catalog.fits",
      "catalog.json",
      "fieldA.png",
      "fieldA.reg",
      "fieldB.png",
      "fieldB.reg",
    ]);
    const fits = Deno.readFileSync(join(dir, "catalog.fits"));
    assertEquals(new TextDecoder().decode(fits.subarray(0, 9)), "SIMPLE  =");
    assertEquals(fits.length % 2880, 0);
  }
  const reg = Deno.readTextFileSync(join(both, "fieldB.reg")).split("\n");
  assertEquals(reg.filter((l) => l.startsWith("circle(")).length, catalog(b).length);
});

Deno.test("detection: the rows are detectFrame's sources (FITS pixels), ra/dec from the WCS, flux and flags", async () => {
  const out = join(work, "detect");
  await classifyFrames(base, [A], out, quietly);
  const rows = catalog(out);
  using frame = openFitsFrame(A);
  const det = detectFrame(frame).sources;
  assertEquals(rows.length, det.length);
  const wcs = parseWcs(WCS, "A");
  for (const [i, r] of rows.entries()) {
    const s = det[i];
    assertEquals([r.frame, Number(r.id)], [A, i + 1]);
    assert(Math.abs(Number(r.x) - s.x) <= 5e-5 && Math.abs(Number(r.y) - s.y) <= 5e-5);
    const [ra, dec] = pixelToWorld(wcs, s.x, s.y);
    assert(Math.abs(Number(r.ra) - ra) <= 5e-9 && Math.abs(Number(r.dec) - dec) <= 5e-9);
    assert(Math.abs(Number(r.flux) / s.flux - 1) < 1e-6, `${r.flux} vs ${s.flux}`);
    assertEquals(Number(r.flags) & 1, s.flags & 1); // blended as detected
  }
  const json = JSON.parse(Deno.readTextFileSync(join(out, "catalog.json")));
  assertEquals(json.positions.from, "detection");
  assert(Math.abs(json.frames[0].pixel_scale_arcsec - 0.36) < 1e-9);
  assertEquals(json.decision.rule, "model");
  assertEquals(json.rows, rows.length);
});

Deno.test("edges: a source near the border is padded and flagged 2; --skip-edge leaves it out; a clashing --sources column is renamed", async () => {
  const csv = join(work, "edge.csv");
  Deno.writeTextFileSync(csv, "x,y,flux,name\n3.5,80,12,edge\n100,80,13,middle\n");
  const kept = join(work, "edge-kept"), skipped = join(work, "edge-skipped");
  await classifyFrames(base, [A], kept, { ...quietly, sources: csv });
  await classifyFrames(base, [A], skipped, { ...quietly, sources: csv, skipEdge: true });
  const k = catalog(kept), s = catalog(skipped);
  assertEquals(k.map((r) => [r.id, Number(r.flags) & 2, r.name, r.sources_flux, r.flux]), [
    ["1", 2, "edge", "12", ""],
    ["2", 0, "middle", "13", ""],
  ]);
  assertEquals(s.map((r) => r.name), ["middle"]);
  assertEquals(s[0].id, "2");
});

Deno.test("--threshold sets the class by p_galaxy; --purity takes the smallest threshold reaching that purity on the out-of-fold predictions", async () => {
  const out = join(work, "thr");
  await classifyFrames(base, [A], out, { ...quietly, threshold: 0.3 });
  for (const r of catalog(out)) {
    assertEquals(r.class, Number(r.p_galaxy) >= 0.3 ? "galaxy" : "star", JSON.stringify(r));
  }
  // aries-cpu-ctx-s1's recipe has a grouped CV sweep: its pooled out-of-fold predictions.
  const d = decisionRule(base, { purity: 0.9 });
  assertEquals(d.operating?.source.kind, "cv-pooled-out-of-fold");
  assertEquals(d.operating?.source.n, 3190);
  const oof = outOfFold(base);
  const purityAt = (t: number) => {
    let tp = 0, fp = 0;
    oof.scores.forEach((s, i) => s >= t && (oof.positive[i] ? tp++ : fp++));
    return tp / (tp + fp);
  };
  const t = d.threshold!;
  assert(purityAt(t) >= 0.9, `purity ${purityAt(t)} at ${t}`);
  // Every lower threshold is less pure (checked by counting, not by the library).
  const lower = [...new Set(oof.scores.filter((s) => s < t))];
  assert(lower.every((s) => purityAt(s) < 0.9));
  // A run without a CV sweep uses its own validation predictions.
  const tiny = { ...base, dir: join(base.dir, "../../improved-tiny/v1") } as LoadedRun;
  assertEquals(outOfFold(tiny).source.kind, "run-validation");
  assertEquals(outOfFold(tiny).source.path, "results/improved-tiny/v1/predictions.csv");
  await assertRejects(
    () => classifyFrames(base, [A], out, { threshold: 0.3, purity: 0.9 }),
    StarmambaError,
    "not both",
  );
});

Deno.test("bad input: a frame with a source off it, a file that is not FITS, ra,dec without a WCS — named; the other frames still written", async () => {
  const noWcs = writeFrame(join(work, "nowcs.fits"), 5, sourcesOf(9, 5, 36), false);
  const junk = join(work, "junk.fits");
  Deno.writeTextFileSync(junk, "<html>not a frame</html>");
  const csv = join(work, "bad.csv");
  const [ra, dec] = pixelToWorld(parseWcs(WCS, "A"), 90, 90);
  Deno.writeTextFileSync(
    csv,
    `frame,ra,dec\nfieldA,${ra},${dec}\nfieldB.fits,150.5,2.0\nnowcs,${ra},${dec}\n`,
  );
  const out = join(work, "bad");
  const e = await assertRejects(
    () => classifyFrames(base, [A, B, noWcs, junk], out, { ...quietly, sources: csv }),
    StarmambaError,
  );
  assert(!e.message.includes("\n"), e.message);
  assert(e.message.includes("line 3") && e.message.includes(B), e.message);
  assert(e.message.includes(`${noWcs}, ${junk}`), e.message);
  const rows = catalog(out);
  assertEquals(rows.map((r) => r.frame), [A]);
  assert(Math.abs(Number(rows[0].x) - 90) < 1e-6 && Math.abs(Number(rows[0].y) - 90) < 1e-6);
  const frames = JSON.parse(Deno.readTextFileSync(join(out, "catalog.json"))).frames;
  assertEquals(frames.map((f: { error?: string }) => f.error === undefined), [
    true,
    false,
    false,
    false,
  ]);
  assert(frames[2].error.includes("no celestial WCS") && frames[3].error.includes("not a FITS"));
});

Deno.test("a frame at another pixel scale than the model's warns with both numbers", async () => {
  const warnings: string[] = [];
  const out = join(work, "scale");
  const csv = sourcesCsv(join(work, "one.csv"), [[A, 100, 80, "a"]]);
  const opts = { sources: csv, warn: (m: string) => warnings.push(m) };
  await classifyFrames(withData({ pixel_scale_arcsec: 0.37 }), [A], out, opts);
  assertEquals(warnings.filter((w) => w.includes("″/pixel")), []);
  await classifyFrames(withData({ pixel_scale_arcsec: 0.6 }), [A], out, opts);
  const w = warnings.find((w) => w.includes("″/pixel"));
  assert(w && w.includes("0.360″/pixel") && w.includes("0.6″/pixel"), w);
});

Deno.test("deno task classify: --help lists every option; a bad frame is one line, exit 2", () => {
  const help = runScript("experiments/classify.ts", ["--help"]);
  assertEquals(help.code, 0);
  for (
    const flag of [
      "--model",
      "--out",
      "--sources",
      "--hdu",
      "--purity",
      "--threshold",
      "--skip-edge",
      "--quiet",
      "--stretch",
      "--slurm",
      "--frames-per-task",
      "--collect",
      "--dry-run",
    ]
  ) {
    assert(help.stdout.includes(flag), flag);
  }
  // The display-stretch default is stated in those words.
  assert(help.stdout.replace(/\s+/g, " ").includes(DISPLAY_STRETCH_NOTE), help.stdout);
  const junk = join(work, "junk2.fits");
  Deno.writeTextFileSync(junk, "not fits");
  const r = runScript("experiments/classify.ts", [
    junk,
    "--model",
    "aries-cpu-ctx-s1",
    "--out",
    join(work, "cli"),
    "--quiet",
  ]);
  assertOneLineError(r, junk, "not a FITS file");
  const t = runScript("experiments/classify.ts", [
    A,
    "--model",
    "x",
    "--out",
    work,
    "--purity",
    "2",
  ]);
  assertOneLineError(t, "--purity 2");
});

Deno.test({
  name: "classify test teardown",
  fn: async () => {
    base.model.params.dispose();
    await Deno.remove(work, { recursive: true });
  },
});
