/**
 * The label audit of a cross-validation (issue 31): confident learning
 * (lib/metrics/confident_learning.ts) on the pooled out-of-fold predictions of one or more CV
 * sweeps, written as audit.csv (every image, suspects first), audit.json (thresholds, the
 * confident joint, counts flagged per class, and the figures on all images beside those on the
 * unflagged images) and audit.svg (each top suspect beside confident images of every class from
 * its own frame, so a "galaxy" that looks like the frame's saturated stars shows as one).
 *
 * Out-of-fold: each image's probabilities come from the fold run that held it out (cv.json lists
 * the folds), so no network judges an image it trained on. Several sweeps (networks): their
 * probabilities are averaged per image before the audit.
 * @module
 */
import sharp from "sharp";
import { Buffer } from "node:buffer";
import { dirname, join, resolve } from "node:path";
import { frameOf, skyGroupOf } from "../data/splits.ts";
import { dataSource } from "../data/sources.ts";
import { validateConfig } from "../config/load.ts";
import { computeMetrics } from "../metrics/metrics.ts";
import { type ProtocolMetrics, protocolMetrics } from "../metrics/operating.ts";
import {
  findLabelIssues,
  type LabelIssueFilter,
  type LabelIssues,
} from "../metrics/confident_learning.ts";
import { StarmambaError } from "../util/errors.ts";
import { exists, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";
import { parseCsv, readJsonRecord, toCsv } from "./write.ts";
import { recordIfPublished, shown } from "./manifest.ts";
import { readRunRecord } from "./run_record.ts";

/** The pooled out-of-fold predictions of one sweep, or the mean of several. */
export interface OutOfFold {
  /** The sweep folders, as given. */
  sweeps: string[];
  /** The fold run folders read (absolute). */
  runs: string[];
  /** Files relative to the data root ("galaxy/x.jpg"), one per image. */
  files: string[];
  /** Each file's group: the run's own (catalogue data), else the sky group of its name. */
  groups: string[];
  /** Given class index per image. */
  labels: number[];
  /** Row-major images × classes. */
  probs: Float64Array;
  classNames: string[];
}

const SWEEP_FIX = "give a cross-validation sweep folder, results/ablations/<name>/<version>, " +
  "whose sweep wrote cv.json (data.kfold)";

/** The fold runs cv.json lists (absolute paths). */
function foldRuns(sweepDir: string): string[] {
  if (!exists(sweepDir) || !Deno.statSync(sweepDir).isDirectory) {
    throw new StarmambaError(`${sweepDir}: no such folder; ${SWEEP_FIX}`);
  }
  const cvPath = join(sweepDir, "cv.json");
  if (!exists(cvPath)) {
    throw new StarmambaError(
      `${shown(sweepDir)}: not a cross-validation sweep (no cv.json); ${SWEEP_FIX}`,
    );
  }
  const folds = readJsonRecord(cvPath).folds;
  if (
    !Array.isArray(folds) || folds.length === 0 || folds.some((f) => typeof f?.run !== "string")
  ) {
    throw new StarmambaError(
      `${shown(cvPath)}: no folds list with a run folder each; rewrite it with deno task ablate`,
    );
  }
  return folds.map((f) => resolve(sweepDir, f.run as string));
}

/** What the folds' predictions.csv files add up to while they are read. */
interface Pooled {
  files: string[];
  groups: string[];
  labels: number[];
  probs: number[];
  classNames: string[];
}

/** Appends one fold run's predictions.csv to `into` (class names checked against it). */
function readFoldPredictions(runDir: string, into: Pooled): void {
  const path = join(runDir, "predictions.csv");
  if (!exists(path)) {
    throw new StarmambaError(
      `${shown(path)} is missing; the fold run did not finish (rerun the sweep)`,
    );
  }
  const rows = parseCsv(Deno.readTextFileSync(path));
  const head = rows[0] ?? [];
  const pCols = head.flatMap((h, j) => (h.startsWith("p_") ? [j] : []));
  const names = pCols.map((j) => head[j].slice(2));
  const iFile = head.indexOf("file"), iLabel = head.indexOf("label");
  const iGroup = head.indexOf("group");
  if (iFile < 0 || iLabel < 0 || names.length < 2) {
    throw new StarmambaError(
      `${shown(path)}: expected a header with file, label and p_<class> columns; restore it ` +
        "with git checkout",
    );
  }
  if (into.classNames.length === 0) into.classNames = names;
  if (names.join() !== into.classNames.join()) {
    throw new StarmambaError(
      `${shown(path)}: classes ${names.join(", ")} but the other folds have ` +
        into.classNames.join(", "),
    );
  }
  for (const [r, row] of rows.slice(1).entries()) {
    const label = names.indexOf(row[iLabel]);
    const p = pCols.map((j) => Number(row[j]));
    if (row.length !== head.length || label < 0 || p.some((x) => !Number.isFinite(x))) {
      throw new StarmambaError(
        `${shown(path)} row ${r + 2}: expected ${head.length} fields, a label of ` +
          `${names.join("/")} and numeric probabilities; restore it with git checkout`,
      );
    }
    into.files.push(row[iFile]);
    into.groups.push(iGroup >= 0 ? row[iGroup] : skyGroupOf(row[iFile]));
    into.labels.push(label);
    into.probs.push(...p);
  }
}

/**
 * The pooled out-of-fold predictions of the CV sweep in `sweepDir`: every fold run's
 * predictions.csv (cv.json lists the runs), each image held out once.
 */
export function readOutOfFold(sweepDir: string): OutOfFold {
  const runs = foldRuns(sweepDir);
  const acc: Pooled = { files: [], groups: [], labels: [], probs: [], classNames: [] };
  for (const run of runs) readFoldPredictions(run, acc);
  const oof: OutOfFold = { ...acc, sweeps: [sweepDir], runs, probs: Float64Array.from(acc.probs) };
  const seen = new Set<string>();
  for (const f of oof.files) {
    if (seen.has(f)) {
      throw new StarmambaError(
        `${shown(sweepDir)}: ${f} is held out by two folds; the runs are not one cross-validation`,
      );
    }
    seen.add(f);
  }
  return oof;
}

/**
 * The mean of several sweeps' out-of-fold probabilities per image (several networks judging
 * the same images). Every sweep must cover the same images with the same labels and classes.
 */
export function poolOutOfFold(sets: OutOfFold[]): OutOfFold {
  const [first, ...rest] = sets;
  if (rest.length === 0) return first;
  const k = first.classNames.length;
  const sum = Float64Array.from(first.probs);
  for (const s of rest) {
    const where = `${shown(s.sweeps[0])} against ${shown(first.sweeps[0])}`;
    if (s.classNames.join() !== first.classNames.join() || s.files.length !== first.files.length) {
      throw new StarmambaError(
        `${where}: different classes or image counts; pool only sweeps of the same images`,
      );
    }
    const at = new Map(s.files.map((f, i) => [f, i]));
    first.files.forEach((f, i) => {
      const j = at.get(f);
      if (j === undefined || s.labels[j] !== first.labels[i]) {
        throw new StarmambaError(
          `${where}: ${f} is ${
            j === undefined ? "missing" : "labelled differently"
          }; pool only sweeps of the same images`,
        );
      }
      for (let c = 0; c < k; c++) sum[i * k + c] += s.probs[j * k + c];
    });
  }
  return {
    ...first,
    sweeps: sets.flatMap((s) => s.sweeps),
    runs: sets.flatMap((s) => s.runs),
    probs: sum.map((x) => x / sets.length),
  };
}

/** One image of the audit. */
export interface AuditRow {
  /** 1 = the surest suspect; flagged images first, then by self-confidence ascending. */
  rank: number;
  file: string;
  frame: string;
  group: string;
  label: string;
  /** P per class, in class order. */
  probs: number[];
  /** P of the given label. */
  selfConfidence: number;
  /** The arg-max class. */
  predicted: string;
  /** For a flagged image, the most probable other class; "" otherwise. */
  suggested: string;
  flagged: boolean;
}

/** Accuracy and the protocol's figures of a set of images. */
export interface AuditFigures {
  n: number;
  accuracy: number;
  balanced_accuracy: number;
  roc_auc: number;
  /** Recall per given class. */
  recall: Record<string, number>;
  /** Counts [given][predicted]. */
  confusion: number[][];
  /** Operating points and bootstrap intervals (galaxy/star data only). */
  protocol: ProtocolMetrics | null;
}

/** What {@link auditLabels} returns. */
export interface Audit {
  oof: OutOfFold;
  issues: LabelIssues;
  /** Every image, in rank order. */
  rows: AuditRow[];
  /** On all images, with the given labels: the headline. */
  all: AuditFigures;
  /** On the images not flagged: beside the headline, never instead of it. */
  unflagged: AuditFigures;
}

/** The figures of the images `idx`. */
function figuresOn(oof: OutOfFold, idx: number[]): AuditFigures {
  const k = oof.classNames.length;
  const labels = idx.map((i) => oof.labels[i]);
  const probs = new Float64Array(idx.length * k);
  idx.forEach((i, r) => probs.set(oof.probs.subarray(i * k, i * k + k), r * k));
  const groups = idx.map((i) => oof.groups[i]);
  const m = computeMetrics(labels, probs, oof.classNames);
  const galaxyStar = k === 2 && oof.classNames.includes("galaxy") &&
    oof.classNames.includes("star");
  return {
    n: m.n,
    accuracy: m.accuracy,
    balanced_accuracy: m.balancedAccuracy,
    roc_auc: m.rocAuc,
    recall: Object.fromEntries(Object.entries(m.perClass).map(([c, v]) => [c, v.recall])),
    confusion: m.confusion,
    protocol: galaxyStar ? protocolMetrics(labels, probs, oof.classNames, groups) : null,
  };
}

/** The audit's rows: flagged first, then by self-confidence ascending, ties by file. */
function auditRows(oof: OutOfFold, issues: LabelIssues): AuditRow[] {
  const k = oof.classNames.length;
  const rows = oof.files.map((file, i): AuditRow => {
    const p = Array.from(oof.probs.subarray(i * k, i * k + k));
    const arg = p.indexOf(Math.max(...p));
    const others = p.map((x, c) => (c === oof.labels[i] ? -Infinity : x));
    return {
      rank: 0,
      file,
      frame: frameOf(file),
      group: oof.groups[i],
      label: oof.classNames[oof.labels[i]],
      probs: p,
      selfConfidence: p[oof.labels[i]],
      predicted: oof.classNames[arg],
      suggested: issues.flagged[i] ? oof.classNames[others.indexOf(Math.max(...others))] : "",
      flagged: issues.flagged[i],
    };
  });
  rows.sort((a, b) =>
    Number(b.flagged) - Number(a.flagged) || a.selfConfidence - b.selfConfidence ||
    (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)
  );
  rows.forEach((r, i) => (r.rank = i + 1));
  return rows;
}

/** Confident learning on `oof` with `filter`, its ranked rows and the figures both ways. */
export function auditLabels(oof: OutOfFold, filter: LabelIssueFilter): Audit {
  const issues = findLabelIssues(oof.labels, oof.probs, oof.classNames.length, filter);
  const all = oof.files.map((_, i) => i);
  return {
    oof,
    issues,
    rows: auditRows(oof, issues),
    all: figuresOn(oof, all),
    unflagged: figuresOn(oof, all.filter((i) => !issues.flagged[i])),
  };
}

/** audit.csv: one row per image in rank order. */
export function auditCsv(a: Audit): string {
  const names = a.oof.classNames;
  return toCsv([
    [
      "rank",
      "file",
      "frame",
      "group",
      "label",
      ...names.map((c) => `p_${c}`),
      "self_confidence",
      "predicted",
      "suggested",
      "flagged",
    ],
    ...a.rows.map((r) => [
      r.rank,
      r.file,
      r.frame,
      r.group,
      r.label,
      ...r.probs.map((p) => p.toFixed(6)),
      r.selfConfidence.toFixed(6),
      r.predicted,
      r.suggested,
      r.flagged ? 1 : 0,
    ]),
  ]);
}

/** Images and flagged images per group (sky group, or the catalogue's), by group key. */
function flaggedByGroup(a: Audit): Record<string, { images: number; flagged: number }> {
  const out: Record<string, { images: number; flagged: number }> = {};
  for (
    const r of [...a.rows].sort((x, y) => (x.group < y.group ? -1 : x.group > y.group ? 1 : 0))
  ) {
    const g = out[r.group] ??= { images: 0, flagged: 0 };
    g.images++;
    if (r.flagged) g.flagged++;
  }
  return out;
}

/** audit.json's object: the method, its intermediate quantities, counts and both figures. */
export function auditRecord(a: Audit, sheet: { file: string; top: number } | null): unknown {
  const names = a.oof.classNames;
  const perClass = (xs: number[]) => Object.fromEntries(names.map((c, i) => [c, xs[i]]));
  const flagged = a.issues.countsByFilter[a.issues.filter];
  return {
    schema: "starmamba.audit/1",
    method: {
      name: "confident learning (Northcutt, Jiang & Chuang, JAIR 70, 2021)",
      filter: a.issues.filter,
      thresholds_rule: "t_j = mean P(j) over the images labelled j",
      guard: "an image whose arg-max class is its given label is never flagged",
      ranking: "flagged first, then P(given label) ascending",
    },
    sweeps: a.oof.sweeps,
    pooled: a.oof.sweeps.length > 1
      ? `mean of the class probabilities of ${a.oof.sweeps.length} sweeps`
      : "the out-of-fold predictions of one sweep",
    n: a.oof.files.length,
    class_names: names,
    class_counts: perClass(a.issues.classCounts),
    thresholds: perClass(a.issues.thresholds),
    confident_joint: {
      rows: "given label",
      columns: "confident label",
      counts: a.issues.confidentJoint,
    },
    calibrated_joint: {
      rows: "given label",
      columns: "true label (estimated count)",
      counts: a.issues.calibratedJoint,
    },
    flagged: { total: flagged.reduce((s, x) => s + x, 0), per_class: perClass(flagged) },
    flagged_by_group: flaggedByGroup(a),
    flagged_by_rule: Object.fromEntries(
      Object.entries(a.issues.countsByFilter).map(([r, xs]) => [r, perClass(xs)]),
    ),
    figures: {
      all_images: { note: "with the given labels: the headline", ...a.all },
      unflagged_images: {
        note: "on unflagged images (not the headline): the flagged images are the networks' " +
          "confident disagreements, so removing them raises every figure by construction",
        ...a.unflagged,
      },
    },
    sheet,
  };
}

const esc = (s: string): string =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/**
 * A cutout as a data URI: its own bytes where it is a JPEG or PNG (about 2 KB for an ARIES
 * cutout, where errorSheetSvg's enlarged PNG takes about 14 KB: a sheet of 140 tiles stays near
 * half a megabyte), else its pixels as PNG. The sheet enlarges it with image-rendering: pixelated.
 */
async function cutoutUri(root: string, file: string): Promise<string> {
  const path = join(root, file);
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    throw new StarmambaError(
      `${path}: cannot read it for the audit sheet (${(e as Error).message.split("\n")[0]}); ` +
        "give --data <the data folder>, or --top 0 for no sheet",
    );
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    return `data:image/jpeg;base64,${encodeBase64(bytes)}`;
  }
  if (bytes[0] === 0x89 && bytes[1] === 0x50) return `data:image/png;base64,${encodeBase64(bytes)}`;
  try {
    const png = await sharp(bytes).png({ compressionLevel: 9 }).toBuffer();
    return `data:image/png;base64,${encodeBase64(png)}`;
  } catch (e) {
    throw new StarmambaError(`${path}: cannot decode it for the audit sheet (${e})`);
  }
}

/** Base64 of bytes. */
function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

/** The `per` surest unflagged, correctly predicted images of each class per frame. */
function confidentByFrame(a: Audit, per: number): Map<string, AuditRow[][]> {
  const out = new Map<string, AuditRow[][]>();
  const names = a.oof.classNames;
  const sure = a.rows.filter((r) => !r.flagged && r.predicted === r.label)
    .sort((x, y) => y.selfConfidence - x.selfConfidence || (x.file < y.file ? -1 : 1));
  for (const r of sure) {
    const byClass = out.get(r.frame) ?? names.map(() => []);
    out.set(r.frame, byClass);
    const c = byClass[names.indexOf(r.label)];
    if (c.length < per) c.push(r);
  }
  return out;
}

/** Layout of the audit sheet, in pixels. */
const SHEET = { tile: 96, pad: 8, gap: 16, caption: 30, rowTitle: 20, head: 62, font: 11 };

/** One tile: the image at (x, y), its probability line and its shortened file name. */
async function tileSvg(
  r: AuditRow,
  caption: string,
  x: number,
  y: number,
  root: string,
): Promise<string> {
  const { tile, font } = SHEET;
  const name = r.file.split("/").pop() ?? r.file;
  const short = name.length > 20 ? `${name.slice(0, 9)}…${name.slice(-10)}` : name;
  return [
    `<image x="${x}" y="${y}" width="${tile}" height="${tile}" ` +
    `style="image-rendering:pixelated" href="${await cutoutUri(root, r.file)}"/>`,
    `<text x="${x}" y="${y + tile + 13}" font-size="${font}">${esc(caption)}</text>`,
    `<text x="${x}" y="${y + tile + 25}" font-size="8" fill="#555">${esc(short)}</text>`,
  ].join("\n");
}

/**
 * audit.svg: the `top` first-ranked flagged images, one row each: the suspect, then the `per`
 * surest unflagged, correctly predicted images of each class from the same frame, images read
 * from `root`. The bytes depend only on the inputs.
 */
export async function auditSheetSvg(
  a: Audit,
  root: string,
  opts: { top: number; per?: number },
): Promise<string> {
  const per = opts.per ?? 3, names = a.oof.classNames;
  const { tile, pad, gap, caption, rowTitle, head, font } = SHEET;
  const suspects = a.rows.filter((r) => r.flagged).slice(0, opts.top);
  const context = confidentByFrame(a, per);
  const cell = tile + pad, groupW = per * cell;
  const groupX = (c: number) => pad + cell + gap + c * (groupW + gap);
  const width = Math.max(groupX(names.length), 760), rowH = rowTitle + tile + caption + pad;
  const pOf = (r: AuditRow, c: string) => `P(${c}) ${r.probs[names.indexOf(c)].toFixed(2)}`;
  const parts: string[] = [];
  for (const [s, sus] of suspects.entries()) {
    const y = head + s * rowH;
    parts.push(
      `<text x="${pad}" y="${y + 14}" font-size="12">${
        esc(`#${sus.rank} ${sus.file} (frame ${sus.frame}): given ${sus.label}`)
      }</text>`,
      await tileSvg(sus, `→ ${pOf(sus, sus.suggested)}`, pad, y + rowTitle, root),
    );
    for (const [c, cls] of names.entries()) {
      for (const [j, r] of (context.get(sus.frame)?.[c] ?? []).entries()) {
        parts.push(await tileSvg(r, pOf(r, cls), groupX(c) + j * cell, y + rowTitle, root));
      }
    }
  }
  const flagged = a.issues.countsByFilter[a.issues.filter].reduce((s, n) => s + n, 0);
  const height = head + suspects.length * rowH + pad;
  const title = `Label audit (confident learning, ${a.issues.filter}): ${flagged} of ` +
    `${a.oof.files.length} images flagged; the ${suspects.length} surest suspects`;
  const heads = [
    `<text x="${pad}" y="${head - 10}" font-size="${font}">suspect</text>`,
    ...names.map((c, i) =>
      `<text x="${groupX(i)}" y="${head - 10}" font-size="${font}">` +
      `${esc(`surest ${c} images of its frame`)}</text>`
    ),
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${pad}" y="20" font-size="13">${esc(title)}</text>`,
    ...heads,
    ...parts,
    "</svg>",
  ].join("\n") + "\n";
}

/**
 * Where the images are: `given` (--data), else the first fold run's data folder resolved as
 * the run resolved it (its data.root against its top config file), else STARMAMBA_DATA.
 */
export function auditDataRoot(oof: OutOfFold, given?: string): string {
  if (given) return resolve(given);
  const r = readRunRecord(oof.runs[0], "trained");
  const files = r.config_files ?? [];
  const configDir = files.length ? dirname(resolve(files[files.length - 1])) : Deno.cwd();
  // The record keeps the config as resolved; validation fills in defaults of later versions.
  const data = validateConfig(r.config as Record<string, unknown>, join(oof.runs[0], "result.json"))
    .data;
  const root = dataSource(data).root(data, configDir);
  if (!root) {
    throw new StarmambaError(
      `${shown(oof.runs[0])}: trained on data.source ${data.source}, no image folder; ` +
        "give --data <folder of the images>",
    );
  }
  return root;
}

/**
 * Writes audit.csv, audit.json and (with `sheet`) audit.svg into `outDir`, records them in the
 * checksum manifest above it (if any) and returns their paths.
 */
export async function writeAudit(
  outDir: string,
  a: Audit,
  sheet: { root: string; top: number } | null,
): Promise<string[]> {
  Deno.mkdirSync(outDir, { recursive: true });
  const csv = join(outDir, "audit.csv"), json = join(outDir, "audit.json");
  const svg = join(outDir, "audit.svg");
  const written = [csv, json];
  if (sheet) {
    writeFileAtomic(svg, await auditSheetSvg(a, sheet.root, { top: sheet.top }));
    written.push(svg);
  }
  writeFileAtomic(csv, auditCsv(a));
  writeJsonAtomic(json, auditRecord(a, sheet ? { file: "audit.svg", top: sheet.top } : null));
  recordIfPublished(written);
  return written;
}
