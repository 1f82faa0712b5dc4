/**
 * `deno task verify-results [dir]` — checks every result.json under `dir` (default results/):
 * its layout against the result schema ("starmamba.result/1": required fields and their
 * types), its config hash against its config, the sha256 of every file its `files` and
 * `artifacts` maps list (paths relative to the run folder), and its best/last metrics against
 * the files they summarise (metrics.csv, history.csv, predictions.csv); every cv.json against
 * its fold runs; every test-scores.json against its test-predictions.csv; and the folder's
 * checksum manifest (SHA256SUMS, lib/results/manifest.ts), required where the folder holds
 * published results. Prints each problem; exit code 1 if there is any, 0 when everything
 * checks out.
 * @module
 */
import { basename, dirname, isAbsolute, join, normalize, resolve } from "node:path";
import { configHash } from "../config/load.ts";
import { parseCsv } from "./write.ts";
import { RUN_RECORD_SCHEMA } from "./run_record.ts";
import { StarmambaError } from "../util/errors.ts";
import type { ExperimentConfig } from "../config/schema.ts";
import { exists, readJsonObject, sha256Hex } from "../util/fs.ts";
import {
  checkManifest,
  coveredFiles,
  findManifestRoot,
  MANIFEST,
  sha256File,
  shown,
} from "./manifest.ts";
import { checkCvSummary } from "./cv.ts";
import { checkTestScores, TEST_SCORES_FILE } from "./test_scoring.ts";

/** What {@link verifyResults} found. */
export interface VerifyReport {
  /** result.json files checked. */
  checked: number;
  /** One line per problem, each starting with the result.json path (relative to the cwd). */
  problems: string[];
  /** Not failures: e.g. run folders without result.json (unfinished or killed runs). */
  warnings: string[];
  /** The manifest that covers the folder (checked), or null when it has none. */
  manifest: { path: string; sha256: string; listed: number } | null;
}

type Obj = Record<string, unknown>;
type Check = (v: unknown) => string | null;

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "list";
  return typeof v;
}

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const HEX64 = /^[0-9a-f]{64}$/;

const str: Check = (v) => (typeof v === "string" ? null : `expected a string, got ${typeName(v)}`);
const bool: Check = (
  v,
) => (typeof v === "boolean" ? null : `expected true/false, got ${typeName(v)}`);
const int: Check = (
  v,
) => (Number.isInteger(v) ? null : `expected an integer, got ${JSON.stringify(v)}`);
const num: Check = (v) =>
  typeof v === "number" && Number.isFinite(v)
    ? null
    : `expected a number, got ${JSON.stringify(v)}`;
/** Numbers that may be undefined (NaN, which JSON stores as null): losses, ROC-AUC. */
const numOrNull: Check = (v) => (v === null ? null : num(v));
const obj: Check = (v) => (isObj(v) ? null : `expected a mapping, got ${typeName(v)}`);
const hex64: Check = (v) =>
  typeof v === "string" && HEX64.test(v)
    ? null
    : `expected a sha256 hex string, got ${JSON.stringify(v)}`;
const isoDate: Check = (v) =>
  typeof v === "string" && !Number.isNaN(Date.parse(v))
    ? null
    : `expected an ISO date, got ${JSON.stringify(v)}`;
const listOf = (c: Check): Check => (v) => {
  if (!Array.isArray(v)) return `expected a list, got ${typeName(v)}`;
  for (const [i, x] of v.entries()) {
    const e = c(x);
    if (e) return `[${i}]: ${e}`;
  }
  return null;
};
const mapOf = (c: Check): Check => (v) => {
  if (!isObj(v)) return `expected a mapping, got ${typeName(v)}`;
  for (const [k, x] of Object.entries(v)) {
    const e = c(x);
    if (e) return `.${k}: ${e}`;
  }
  return null;
};

/** A schema node: a check for a leaf, or a nested map of required keys. */
type Shape = Check | { [key: string]: Shape };

const METRICS: Shape = {
  accuracy: num,
  balancedAccuracy: num,
  perClass: obj,
  confusion: listOf(listOf(int)),
  rocAuc: numOrNull,
  prAuc: numOrNull,
  ece: num,
  n: int,
  positiveClass: str,
};
const EVALUATION: Shape = { epoch: int, loss: numOrNull, metrics: METRICS };

/** Required fields of result.json (schema starmamba.result/1) and their types. */
export const RESULT_SHAPE: Shape = {
  schema: (
    v,
  ) => (v === RUN_RECORD_SCHEMA
    ? null
    : `expected "${RUN_RECORD_SCHEMA}", got ${JSON.stringify(v)}`),
  experiment: str,
  version: (v) =>
    typeof v === "string" && /^v\d+$/.test(v) ? null : `expected v<N>, got ${JSON.stringify(v)}`,
  description: str,
  created: isoDate,
  config: obj,
  config_hash: hex64,
  config_files: listOf(str),
  overrides: listOf(str),
  seed: int,
  code: { commit: str, dirty: bool },
  data: {
    source: str,
    n: int,
    image_shape: listOf(int),
    class_names: listOf(str),
    class_counts: mapOf(int),
    split: { kind: str, n_train: int, n_val: int },
  },
  environment: { backend: str, tfjs: str, deno: str },
  model: { config: obj, parameters: int },
  baselines: obj,
  protocol: str,
  history: listOf(obj),
  best: EVALUATION,
  last: EVALUATION,
  wall_seconds: num,
  train_seconds: num,
  files: mapOf(hex64),
  // The weight shards' sha256: what predict, evaluate and export check the weights against.
  artifacts: mapOf(hex64),
};

/** A model trained on every labelled image (data.split all) has no validation metrics. */
function isRelease(r: unknown): boolean {
  const split = isObj(r) && isObj(r.data) && isObj(r.data.split) ? r.data.split.kind : null;
  return split === "all";
}

const isNull: Check = (v) => (v === null ? null : `expected null, got ${typeName(v)}`);

/** result.json of a data.split: all run: no baselines, best or last (they need validation). */
const RELEASE_SHAPE: Shape = { ...RESULT_SHAPE, baselines: isNull, best: isNull, last: isNull };

/** Problems of `value` against `shape`, as "key.path: what is wrong". */
export function checkShape(value: unknown, shape: Shape = RESULT_SHAPE, path = ""): string[] {
  if (typeof shape === "function") {
    const e = shape(value);
    return e ? [`${path || "(top level)"}: ${e}`] : [];
  }
  if (!isObj(value)) {
    return [`${path || "(top level)"}: expected a mapping, got ${typeName(value)}`];
  }
  const out: string[] = [];
  for (const [k, s] of Object.entries(shape)) {
    const p = path ? `${path}.${k}` : k;
    if (!(k in value)) out.push(`${p}: missing`);
    else out.push(...checkShape(value[k], s, p));
  }
  return out;
}

/** Every result.json, cv.json and test-scores.json under `dir`, and run folders without result.json. */
function findResults(
  dir: string,
): { results: string[]; cvs: string[]; tests: string[]; unfinished: string[] } {
  const results: string[] = [], cvs: string[] = [], tests: string[] = [], unfinished: string[] = [];
  const walk = (d: string) => {
    const entries = [...Deno.readDirSync(d)].sort((a, b) => (a.name < b.name ? -1 : 1));
    const names = new Set(entries.map((e) => e.name));
    if (names.has("result.json")) results.push(join(d, "result.json"));
    else if (names.has("run.json")) unfinished.push(d);
    if (names.has("cv.json")) cvs.push(join(d, "cv.json"));
    if (names.has(TEST_SCORES_FILE)) tests.push(join(d, TEST_SCORES_FILE));
    for (const e of entries) if (e.isDirectory) walk(join(d, e.name));
  };
  walk(dir);
  return { results, cvs, tests, unfinished };
}

/** Equal as recorded numbers: both absent/NaN (JSON null), or equal up to rounding. */
function sameNumber(a: unknown, b: unknown): boolean {
  const x = a === null || a === undefined || a === "NaN" ? NaN : Number(a);
  const y = b === null || b === undefined || b === "NaN" ? NaN : Number(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y);
  return Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x));
}

type Scored = { epoch: number; metrics: Obj & { confusion: number[][]; perClass: Obj } };

/** The fix every cross-check problem names. */
const EDITED = "one of the two was edited after the run (git checkout restores a published one)";

/** result.json's best/last against metrics.csv (every n, accuracy and confusion cell). */
function againstMetricsCsv(runDir: string, evals: [string, Scored][]): string[] {
  const path = join(runDir, "metrics.csv");
  if (!exists(path)) return []; // the files map reports a missing file
  const rows = parseCsv(Deno.readTextFileSync(path));
  const csv = new Map(rows.slice(1).map((r) => [`${r[0]}|${r[1]}|${r[2]}`, r[3]]));
  const out: string[] = [];
  for (const [which, e] of evals) {
    const m = e.metrics;
    const names = Object.keys(m.perClass);
    const want: [string, unknown][] = [
      ["n|", m.n],
      ["accuracy|", m.accuracy],
      ["balanced_accuracy|", m.balancedAccuracy],
      ...m.confusion.flatMap((row, t) =>
        row.map((c, p) => [`confusion|true=${names[t]};pred=${names[p]}`, c] as [string, unknown])
      ),
    ];
    for (const [key, v] of want) {
      const got = csv.get(`${which}|${key}`);
      if (got === undefined || !sameNumber(got, v)) {
        const label = key.replace(/\|$/, "").replace("|", " ");
        out.push(
          `metrics.csv has ${which} ${label} ${got ?? "(no row)"} but result.json ` +
            `${JSON.stringify(v)}: ${EDITED}`,
        );
      }
    }
  }
  return out;
}

/** result.json's best/last accuracy against history.csv's val_acc of the same epochs. */
function againstHistory(runDir: string, evals: [string, Scored][]): string[] {
  const path = join(runDir, "history.csv");
  if (!exists(path)) return [];
  const rows = parseCsv(Deno.readTextFileSync(path));
  const iEpoch = rows[0]?.indexOf("epoch") ?? -1, iAcc = rows[0]?.indexOf("val_acc") ?? -1;
  if (iEpoch < 0 || iAcc < 0) return ["history.csv: no epoch or val_acc column"];
  const acc = new Map(rows.slice(1).map((r) => [Number(r[iEpoch]), r[iAcc]]));
  const out: string[] = [];
  for (const [which, e] of evals) {
    const got = acc.get(e.epoch);
    if (got === undefined || !sameNumber(got, e.metrics.accuracy)) {
      out.push(
        `history.csv has val_acc ${got ?? "(no row)"} at epoch ${e.epoch} (${which}) but ` +
          `result.json ${which} accuracy ${e.metrics.accuracy}: ${EDITED}`,
      );
    }
  }
  return out;
}

/**
 * result.json's best metrics against predictions.csv, the best epoch's probabilities of every
 * validation image: n, the confusion matrix and accuracy recomputed from the rows (the label is
 * the most probable class, ties to the first, as the metrics decide).
 */
function againstPredictions(runDir: string, classNames: string[], best: Scored): string[] {
  const path = join(runDir, "predictions.csv");
  if (!exists(path)) return [];
  const rows = parseCsv(Deno.readTextFileSync(path));
  const head = rows[0] ?? [];
  const cols = classNames.map((c) => head.indexOf(`p_${c}`));
  const iLabel = head.indexOf("label");
  if (iLabel < 0 || cols.some((j) => j < 0)) {
    return [`predictions.csv: expected the columns label, ${classNames.map((c) => `p_${c}`)}`];
  }
  const k = classNames.length;
  const conf = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (const [i, row] of rows.slice(1).entries()) {
    const t = classNames.indexOf(row[iLabel]);
    const p = cols.map((j) => Number(row[j]));
    if (t < 0 || p.some(Number.isNaN)) {
      return [`predictions.csv row ${i + 2}: unknown label or a probability that is not a number`];
    }
    conf[t][p.indexOf(Math.max(...p))]++;
  }
  const n = rows.length - 1;
  const correct = conf.reduce((s, r, i) => s + r[i], 0);
  const m = best.metrics;
  if (
    n !== m.n || JSON.stringify(conf) !== JSON.stringify(m.confusion) ||
    !sameNumber(correct / n, m.accuracy)
  ) {
    return [
      `predictions.csv gives best accuracy ${correct / n} (${correct} of ${n}, confusion ` +
      `${JSON.stringify(conf)}) but result.json says ${m.accuracy} (n ${m.n}, confusion ` +
      `${JSON.stringify(m.confusion)}): ${EDITED}`,
    ];
  }
  return [];
}

/** Cross-checks of a result.json whose best and last have the schema's shape. */
function crossCheck(runDir: string, r: Obj): string[] {
  if (checkShape(r.best, EVALUATION).length || checkShape(r.last, EVALUATION).length) return [];
  const best = r.best as Scored, last = r.last as Scored;
  const classNames = isObj(r.data) && Array.isArray(r.data.class_names)
    ? r.data.class_names as string[]
    : [];
  const evals: [string, Scored][] = [["best", best], ["last", last]];
  return [
    ...againstMetricsCsv(runDir, evals),
    ...againstHistory(runDir, evals),
    ...againstPredictions(runDir, classNames, best),
  ];
}

/**
 * Whether model/model.json matches result.json, as predict, evaluate and export need it: its
 * sha256 is the recorded one (`files`, or `artifacts` for an imported model) and its weight
 * shard is listed in `artifacts` (the shard's own sha256 is checked where it is read). Returns
 * what does not match, or null.
 */
export function modelFolderMismatch(
  runDir: string,
  r: { files?: unknown; artifacts?: unknown },
): string | null {
  const files = isObj(r.files) ? r.files : {}, artifacts = isObj(r.artifacts) ? r.artifacts : {};
  const want = files["model/model.json"] ?? artifacts["model/model.json"];
  if (typeof want !== "string") return "result.json records no sha256 of model/model.json";
  const jsonPath = join(runDir, "model", "model.json");
  if (!exists(jsonPath)) return "model/model.json is missing";
  const got = sha256File(jsonPath);
  if (got !== want) {
    return `model/model.json has sha256 ${got.slice(0, 12)}…, result.json records ${
      want.slice(0, 12)
    }…`;
  }
  return unlistedShard(runDir, artifacts);
}

/** The first weight shard model/model.json names that `artifacts` does not list, as a problem. */
function unlistedShard(runDir: string, artifacts: Obj): string | null {
  const json = readJsonObject(join(runDir, "model", "model.json"));
  const groups = json?.weightsManifest as { paths?: unknown }[] | undefined;
  for (
    const p of Array.isArray(groups)
      ? groups.flatMap((g) => Array.isArray(g?.paths) ? g.paths : [])
      : []
  ) {
    if (typeof artifacts[`model/${p}`] !== "string") {
      return `its weight shard model/${p} is not in result.json's artifacts`;
    }
  }
  return null;
}

/** Checks one result.json; returns its problems (without the path prefix). */
export async function verifyResult(resultPath: string): Promise<string[]> {
  let r: unknown;
  try {
    r = JSON.parse(Deno.readTextFileSync(resultPath));
  } catch (e) {
    return [`not readable JSON (${(e as Error).message.split("\n")[0]})`];
  }
  const problems = checkShape(r, isRelease(r) ? RELEASE_SHAPE : RESULT_SHAPE);
  if (!isObj(r)) return problems;
  const runDir = dirname(resultPath);
  if (typeof r.version === "string" && basename(runDir) !== r.version) {
    problems.push(`version is ${r.version} but the folder is named ${basename(runDir)}`);
  }
  if (isObj(r.config) && typeof r.config_hash === "string") {
    const h = configHash(r.config as unknown as ExperimentConfig);
    if (h !== r.config_hash) {
      problems.push(
        `config_hash ${r.config_hash.slice(0, 12)}… does not match the recorded config ` +
          `(${h.slice(0, 12)}…): the config was edited after the run`,
      );
    }
    if (Number.isInteger(r.seed) && (r.config as Obj).seed !== r.seed) {
      problems.push(`seed ${r.seed} differs from config.seed ${(r.config as Obj).seed}`);
    }
  }
  // `files` must all be present; `artifacts` (large binaries such as model weights, kept out
  // of git) are checked only where present.
  const groups: [string, unknown, boolean][] = [["files", r.files, true], [
    "artifacts",
    r.artifacts,
    false,
  ]];
  for (const [key, map, required] of groups) {
    if (!isObj(map)) continue;
    for (const [name, want] of Object.entries(map)) {
      const rel = normalize(name);
      if (isAbsolute(name) || rel.startsWith("..")) {
        problems.push(`${key}: "${name}" is not a path inside the run folder`);
        continue;
      }
      const p = join(runDir, rel);
      if (!exists(p)) {
        if (required) problems.push(`${name}: listed in files but missing`);
        continue;
      }
      const got = await sha256Hex(Deno.readFileSync(p));
      if (typeof want === "string" && got !== want) {
        problems.push(
          `${name}: sha256 mismatch (recorded ${want.slice(0, 12)}…, file ${got.slice(0, 12)}…)` +
            " — the file changed after the run was recorded",
        );
      }
    }
  }
  // A shard missing from `artifacts` would go unchecked by predict: an unsigned model.
  const unlisted = isObj(r.artifacts) ? unlistedShard(runDir, r.artifacts) : null;
  if (unlisted) problems.push(`model/: ${unlisted}`);
  problems.push(...crossCheck(runDir, r));
  return problems;
}

/** Options of {@link verifyResults}. */
export interface VerifyOptions {
  /** The folder must have a manifest even without published runs (e.g. models/). */
  requireManifest?: boolean;
}

/**
 * Checks every result.json under `dir`, and its manifest; see {@link VerifyReport}.
 *
 * @example Check the published runs of one recipe (deno task verify-results checks them all)
 * ```ts
 * import { verifyResults } from "@starmamba/starmamba";
 * const report = await verifyResults("results/improved-cpu-context-ema-shape");
 * console.log(report.checked, report.problems); // 3 [] (three runs, no problem)
 * console.log(report.manifest?.path); // …/results/SHA256SUMS, the manifest that covers them
 * ```
 */
export async function verifyResults(dir: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const root = resolve(dir);
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(root);
  } catch {
    throw new StarmambaError(`${dir}: no such folder (pass a results folder, e.g. results/)`);
  }
  if (!info.isDirectory) {
    throw new StarmambaError(`${dir} is a file; pass the folder that holds the result folders`);
  }
  const { results, cvs, tests, unfinished } = findResults(root);
  const problems: string[] = [];
  for (const path of results) {
    for (const p of await verifyResult(path)) problems.push(`${shown(path)}: ${p}`);
  }
  for (const path of cvs) {
    for (const p of checkCvSummary(path)) problems.push(`${shown(path)}: ${p}`);
  }
  // A test scoring's figures, recomputed from its test-predictions.csv alone.
  for (const path of tests) {
    for (const p of checkTestScores(path)) problems.push(`${shown(path)}: ${p}`);
  }
  const warnings = unfinished.map((d) =>
    `${shown(d)}: run folder without result.json (unfinished or killed run; not a result)`
  );
  const manifestRoot = findManifestRoot(root);
  let manifest: VerifyReport["manifest"] = null;
  if (manifestRoot) {
    const m = checkManifest(manifestRoot, root);
    problems.push(...m.problems);
    manifest = { path: m.path, sha256: m.sha256, listed: m.listed };
  } else if (
    coveredFiles(root).files.length > 0 &&
    (opts.requireManifest || basename(root) === "results" || results.some(isPublished))
  ) {
    problems.push(
      `${shown(root)}: no ${MANIFEST}, yet it holds published files; restore a deleted one ` +
        `with git checkout -- ${shown(join(root, MANIFEST))}, or write a new folder's with ` +
        `deno task seal-results ${shown(root)}`,
    );
  }
  return { checked: results.length, problems, warnings, manifest };
}

/** Whether a result.json says its run was published (config output.publish). */
function isPublished(resultPath: string): boolean {
  const r = readJsonObject(resultPath);
  const output = isObj(r?.config) ? (r.config as Obj).output : null;
  return isObj(output) && output.publish === true;
}
