/**
 * The label audit (issue 31): confident learning (lib/metrics/confident_learning.ts) against
 * small matrices worked by hand from the paper's definitions (Northcutt, Jiang & Chuang 2021,
 * §3.1 Eq. 1–2, §3.2), and `deno task audit-labels` on a tiny hand-made cross-validation sweep.
 */
import sharp from "sharp";
import { join } from "node:path";
import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";
import {
  calibrateJoint,
  confidentClasses,
  confidentJoint,
  findLabelIssues,
  LABEL_ISSUE_FILTERS,
  perClassThresholds,
} from "../lib/metrics/confident_learning.ts";
import { poolOutOfFold, readOutOfFold } from "../lib/results/audit.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { assertOneLineError, runScript } from "./permissions.ts";
import { parseCsv } from "../lib/results/write.ts";

// Three classes A, B, C; rows are p(A), p(B), p(C).
//   t_A = (0.8 + 0.6 + 0.05 + 0.02) / 4 = 0.3675, t_B = (0.35 + 0.36) / 2 = 0.355,
//   t_C = (0.7 + 0.5) / 2 = 0.6.
//   a1, a2: only p(A) ≥ t_A → (A, A).  a3: p(B) 0.41 ≥ t_B, p(C) 0.54 < t_C → (A, B), although
//   its arg-max is C.  a4: p(B) 0.36 ≥ t_B and p(C) 0.62 ≥ t_C → the larger, (A, C).
//   b1: p(A) 0.4 ≥ t_A, p(B) 0.35 < t_B → (B, A).  b2 → (B, B).  c1 → (C, C).
//   c2: 0.3 < t_A, 0.2 < t_B, 0.5 < t_C → counted nowhere.
const LABELS3 = [0, 0, 0, 0, 1, 1, 2, 2];
const PROBS3 = [
  [0.8, 0.1, 0.1],
  [0.6, 0.2, 0.2],
  [0.05, 0.41, 0.54],
  [0.02, 0.36, 0.62],
  [0.4, 0.35, 0.25],
  [0.28, 0.36, 0.36],
  [0.1, 0.2, 0.7],
  [0.3, 0.2, 0.5],
].flat();

Deno.test("confident joint of three classes, worked by hand: thresholds, argmax among classes above threshold (Eq. 1), calibration (Eq. 2)", () => {
  const t = perClassThresholds(LABELS3, PROBS3, 3);
  assertAllClose(t, [0.3675, 0.355, 0.6], 1e-12);
  const conf = confidentClasses(PROBS3, 3, t);
  assertEquals(Array.from(conf), [0, 0, 1, 2, 0, 1, 2, -1]);
  const c = confidentJoint(LABELS3, conf, 3);
  assertEquals(c, [[2, 1, 1], [1, 1, 0], [0, 0, 1]]);
  // Row C counts one image of two: rescaled to the class's 2 images.
  assertEquals(calibrateJoint(c, [4, 2, 2]), [[2, 1, 1], [1, 1, 0], [0, 0, 2]]);
  // Every rule flags a3, a4 (labelled A) and b1 (labelled B): PBNR takes 1 per off-diagonal
  // cell by margin, PBC the 2 (A) and 1 (B) lowest self-confidences; c2 (p(C) 0.5, the lowest
  // of C) is not flagged, as row C estimates no noise.
  for (const rule of LABEL_ISSUE_FILTERS) {
    const r = findLabelIssues(LABELS3, PROBS3, 3, rule);
    assertEquals(r.flagged.flatMap((f, i) => (f ? [i] : [])), [2, 3, 4], rule);
    assertEquals(r.countsByFilter[rule], [2, 1, 0], rule);
  }
});

// Galaxy (0) / star (1), p(galaxy) per image.
//   Galaxies 0.9 0.8 0.7 0.4 0.2 0.1: t_g = 3.1/6 = 0.5167; stars p(star) 0.95 0.9 0.85 0.8
//   0.55 0.45 0.1: t_s = 4.6/7 = 0.6571. Confident joint [[3, 2], [2, 4]] (galaxy 0.4 and star
//   0.55 reach neither threshold); calibrated rows × 6/5 and × 7/6: [[3.6, 2.4], [2.33, 4.67]],
//   so round(2.4) = 2 galaxies (p(galaxy) 0.2, 0.1) and round(2.33) = 2 stars (p(star) 0.45,
//   0.1) are flagged.
const P_GALAXY = [0.9, 0.8, 0.7, 0.4, 0.2, 0.1, 0.05, 0.1, 0.15, 0.2, 0.45, 0.55, 0.9];
const LABELS2 = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1];
const PROBS2 = P_GALAXY.flatMap((p) => [p, 1 - p]);

Deno.test("two classes worked by hand: calibration scales the noise counts, prune by noise rate flags round(Q̃[i][j]) per cell", () => {
  const r = findLabelIssues(LABELS2, PROBS2, 2);
  assertAllClose(r.thresholds, [3.1 / 6, 4.6 / 7], 1e-12);
  assertEquals(r.confidentJoint, [[3, 2], [2, 4]]);
  assertAllClose(r.calibratedJoint.flat(), [3.6, 2.4, 7 / 3, 14 / 3], 1e-12);
  assertEquals(r.flagged.flatMap((f, i) => (f ? [i] : [])), [4, 5, 11, 12]);
  assertEquals(r.countsByFilter.prune_by_noise_rate, [2, 2]);
  assertEquals(r.countsByFilter.prune_by_class, [2, 2]);
  assertEquals(r.countsByFilter.confident_joint, [2, 2]);
});

Deno.test("an image the networks put in its given class is never flagged, though Q̃ asks for more", () => {
  // Galaxies 0.5/0.5 (t_g 0.5); stars p(star) 0.9 0.7 0.55 0.55 0.3 (t_s 0.6). C = [[2, 0],
  // [1, 2]], row star × 5/3: Q̃[star][galaxy] = 5/3 → 2 by margin: the 0.3 star and a 0.55 star,
  // but the 0.55 star's arg-max is star, so only one is flagged (by every rule).
  const pg = [0.5, 0.5, 0.1, 0.3, 0.45, 0.45, 0.7];
  const labels = [0, 0, 1, 1, 1, 1, 1];
  const r = findLabelIssues(labels, pg.flatMap((p) => [p, 1 - p]), 2);
  assertAllClose([r.calibratedJoint[1][0]], [5 / 3], 1e-12);
  assertEquals(r.flagged.flatMap((f, i) => (f ? [i] : [])), [6]);
  for (const rule of LABEL_ISSUE_FILTERS) assertEquals(r.countsByFilter[rule], [0, 1], rule);
});

Deno.test("an image exactly at its class's mean counts, though the mean rounds above it", () => {
  // (0.1 + 0.1 + 0.1) / 3 = 0.10000000000000002 in floating point.
  const probs = [0.1, 0.9, 0.1, 0.9, 0.1, 0.9];
  const t = perClassThresholds([0, 0, 0], probs, 2);
  assert(t[0] > 0.1 && Number.isNaN(t[1]), String(t));
  assertEquals(Array.from(confidentClasses(probs, 2, t)), [0, 0, 0]);
});

// ---------------------------------------------------------------------------------------------
// A hand-made cross-validation sweep of the 13 images above: two folds, two frames.

/** The 13 images: file (frame A or B), label, p(galaxy). */
const IMAGES = P_GALAXY.map((p, i) => {
  const label = LABELS2[i] === 0 ? "galaxy" : "star";
  const j = LABELS2[i] === 0 ? i : i - 6;
  const frame = j % 2 === 0 ? "FLDA" : "FLDB";
  return {
    file: `${label}/${frame}-R01_${10 + j}_${20 + j}_${label === "galaxy" ? 3 : 6}.png`,
    label,
    p,
  };
});

/**
 * Writes a sweep folder with cv.json and two fold runs' predictions.csv; returns its path.
 * p(star) is written rounded, so 1 − 0.9 is the 0.1 the ranking below is worked with.
 */
function writeSweep(dir: string, pg: (i: number) => number = (i) => IMAGES[i].p): string {
  const folds = [[0, 1, 2, 6, 7, 8, 9], [3, 4, 5, 10, 11, 12]];
  for (const [f, idx] of folds.entries()) {
    const run = join(dir, "runs", `fold-${f}`, "v1");
    Deno.mkdirSync(run, { recursive: true });
    const rows = idx.map((i) =>
      `${i},${IMAGES[i].file},${IMAGES[i].label},${pg(i)},${(1 - pg(i)).toFixed(10)}`
    );
    Deno.writeTextFileSync(
      join(run, "predictions.csv"),
      ["index,file,label,p_galaxy,p_star", ...rows].join("\n") + "\n",
    );
  }
  Deno.writeTextFileSync(
    join(dir, "cv.json"),
    JSON.stringify({ k: 2, folds: folds.map((_, f) => ({ fold: f, run: `runs/fold-${f}/v1` })) }),
  );
  return dir;
}

/** The images of {@link IMAGES} as 8×8 PNGs under `root`. */
async function writeImages(root: string): Promise<void> {
  for (const [i, im] of IMAGES.entries()) {
    Deno.mkdirSync(join(root, im.label), { recursive: true });
    const px = new Uint8Array(64).fill(10 * i);
    await sharp(px, { raw: { width: 8, height: 8, channels: 1 } }).png()
      .toFile(join(root, im.file));
  }
}

Deno.test("audit-labels on a CV sweep: audit.csv ranked (flagged first, then P(given) ascending), audit.json counts and figures, a sheet of each suspect beside its own frame", async () => {
  const tmp = Deno.makeTempDirSync();
  const sweep = writeSweep(join(tmp, "sweep"));
  await writeImages(join(tmp, "data"));
  const r = runScript("experiments/audit_labels.ts", [sweep, "--data", join(tmp, "data")], {
    cwd: tmp,
  });
  assertEquals(r.code, 0, r.stderr);
  assert(r.stdout.includes("flagged 4 of 13 images (galaxy 2, star 2)"), r.stdout);
  const out = join(sweep, "audit");
  const csv = parseCsv(Deno.readTextFileSync(join(out, "audit.csv")));
  assertEquals(csv[0].slice(0, 5), ["rank", "file", "frame", "group", "label"]);
  // Flagged: galaxy 0.1 and star 0.1 (tie: by file), galaxy 0.2, star 0.45; then the rest,
  // first the galaxy at 0.4 (its arg-max is star, but Q̃ asks for 2 galaxies: not flagged).
  const order = [5, 12, 4, 11, 3, 10, 2, 1, 9, 8, 0, 7, 6];
  assertEquals(csv.slice(1).map((row) => row[1]), order.map((i) => IMAGES[i].file));
  assertEquals(csv.slice(1).map((row) => row.at(-1)), order.map((_, j) => (j < 4 ? "1" : "0")));
  assertEquals(csv[1].slice(2, 5), ["FLDB-R01", "FLDB", "galaxy"]);
  assertEquals(csv[1].at(-2), "star", "the suggested label");
  const a = JSON.parse(Deno.readTextFileSync(join(out, "audit.json")));
  assertEquals(a.flagged, { total: 4, per_class: { galaxy: 2, star: 2 } });
  assertEquals(a.confident_joint.counts, [[3, 2], [2, 4]]);
  // Arg-max right on 3 galaxies and 5 stars; of the 9 unflagged, all but the galaxy at 0.4.
  assertAllClose([a.figures.all_images.accuracy], [8 / 13], 1e-12);
  assertEquals(a.figures.unflagged_images.n, 9);
  assertAllClose([a.figures.unflagged_images.accuracy], [8 / 9], 1e-12);
  assert(a.figures.unflagged_images.note.startsWith("on unflagged images (not the headline)"));
  // The sheet: row 1 is the FLDB galaxy at 0.1, beside FLDB's sure galaxies (not the one at 0.4,
  // predicted star) then its sure stars.
  const svg = Deno.readTextFileSync(join(out, "audit.svg"));
  const row1 = svg.slice(svg.indexOf("#1 "), svg.indexOf("#2 "));
  const names = [...row1.matchAll(/fill="#555">([^<]+)</g)].map((m) => m[1]);
  assertEquals(names, [5, 1, 7, 9].map((i) => IMAGES[i].file.split("/")[1]));
  // Tiles are the data folder's own bytes.
  const uri = /href="data:image\/png;base64,([^"]+)"/.exec(row1)![1];
  const bytes = Deno.readFileSync(join(tmp, "data", IMAGES[5].file));
  assertEquals(atob(uri), String.fromCharCode(...bytes));
});

Deno.test("several sweeps pool by the mean probability per image; a sweep of other images is refused", () => {
  const tmp = Deno.makeTempDirSync();
  const a = readOutOfFold(writeSweep(join(tmp, "a")));
  const b = readOutOfFold(writeSweep(join(tmp, "b"), () => 0.3));
  const pooled = poolOutOfFold([a, b]);
  const i = pooled.files.indexOf(IMAGES[0].file);
  assertAllClose([pooled.probs[2 * i]], [(0.9 + 0.3) / 2], 1e-12);
  assertEquals(pooled.sweeps.length, 2);
  const c = readOutOfFold(writeSweep(join(tmp, "c")));
  c.files[0] = "galaxy/OTHER-R01_1_1_3.png";
  assertThrows(() => poolOutOfFold([a, c]), StarmambaError, "is missing");
});

Deno.test("audit-labels refuses a folder that is not a CV sweep, a bad --filter and several sweeps without --out, in one line (exit 2)", () => {
  const tmp = Deno.makeTempDirSync();
  assertOneLineError(runScript("experiments/audit_labels.ts", [tmp], { cwd: tmp }), "no cv.json");
  assertOneLineError(
    runScript("experiments/audit_labels.ts", [join(tmp, "nope")], { cwd: tmp }),
    "no such folder",
  );
  const sweep = writeSweep(join(tmp, "s"));
  assertOneLineError(
    runScript("experiments/audit_labels.ts", [sweep, "--filter", "loose"], { cwd: tmp }),
    "--filter loose",
  );
  assertOneLineError(
    runScript("experiments/audit_labels.ts", [sweep, sweep], { cwd: tmp }),
    "--out",
  );
  Deno.writeTextFileSync(join(sweep, "runs/fold-1/v1/predictions.csv"), "index,file\n1,x.png\n");
  assertOneLineError(
    runScript("experiments/audit_labels.ts", [sweep, "--top", "0"], { cwd: tmp }),
    "predictions.csv",
  );
});
