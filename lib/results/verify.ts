/**
 * `deno task verify-results [dir]` — checks every result.json under `dir` (default results/):
 * its layout against the result schema ("starmamba.result/1": required fields and their
 * types), its config hash against its config, and the sha256 of every file its `files` map
 * lists (paths relative to the run folder). Prints each problem; exit code 1 if there is any,
 * 0 when every result checks out.
 * @module
 */
import { basename, dirname, isAbsolute, join, normalize, relative, resolve } from "node:path";
import { configHash } from "../config/load.ts";
import { RESULT_SCHEMA } from "./write.ts";
import { StarmambaError } from "../util/errors.ts";
import type { ExperimentConfig } from "../config/schema.ts";
import { exists, sha256Hex } from "../util/fs.ts";

/** What {@link verifyResults} found. */
export interface VerifyReport {
  /** result.json files checked. */
  checked: number;
  /** One line per problem, each starting with the result.json path (relative to the cwd). */
  problems: string[];
  /** Not failures: e.g. run folders without result.json (unfinished or killed runs). */
  warnings: string[];
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
  ) => (v === RESULT_SCHEMA ? null : `expected "${RESULT_SCHEMA}", got ${JSON.stringify(v)}`),
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

/** Every result.json under `dir`, and run folders (with run.json) that have none. */
function findResults(dir: string): { results: string[]; unfinished: string[] } {
  const results: string[] = [], unfinished: string[] = [];
  const walk = (d: string) => {
    const entries = [...Deno.readDirSync(d)].sort((a, b) => (a.name < b.name ? -1 : 1));
    const names = new Set(entries.map((e) => e.name));
    if (names.has("result.json")) results.push(join(d, "result.json"));
    else if (names.has("run.json")) unfinished.push(d);
    for (const e of entries) if (e.isDirectory) walk(join(d, e.name));
  };
  walk(dir);
  return { results, unfinished };
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
  return problems;
}

/** Checks every result.json under `dir`; see {@link VerifyReport}. */
export async function verifyResults(dir: string): Promise<VerifyReport> {
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
  const { results, unfinished } = findResults(root);
  const show = (p: string) => relative(Deno.cwd(), p) || ".";
  const problems: string[] = [];
  for (const path of results) {
    for (const p of await verifyResult(path)) problems.push(`${show(path)}: ${p}`);
  }
  const warnings = unfinished.map((d) =>
    `${show(d)}: run folder without result.json (unfinished or killed run; not a result)`
  );
  return { checked: results.length, problems, warnings };
}
