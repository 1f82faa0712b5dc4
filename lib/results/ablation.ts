/**
 * Ablation sweeps: one YAML file names a base experiment config, the seeds, and the variants
 * (each a set of config overrides); every variant × seed is trained with
 * {@link runExperiment}, and the sweep is summarised as mean ± sample std over seeds, the
 * paired difference from the base, and McNemar's test on the same validation images.
 *
 * Layout (`<out>` is the base config's output.scratch_dir, or output.dir when published):
 *
 *     <out>/ablations/<name>/v<N>/
 *       sweep.json               state: spec, spec hash, (variant, seed) → run folder, status
 *       runs/<name>-<variant>-s<seed>/v<M>/   one ordinary result folder per run
 *       runs/index.md            index of those runs
 *       summary.md|csv|json      the comparison; bars.svg its chart
 *
 * A sweep version is reused while its spec hash (the resolved config hash of every run) is
 * unchanged, so rerunning a killed sweep resumes it: finished runs (result.json present) are
 * skipped and an interrupted run continues from its last saved step.
 * @module
 */
import YAML from "yaml";
import { dirname, join, relative, resolve } from "node:path";
import { createHash } from "node:crypto";
import {
  canonicalJson,
  editDistance,
  loadConfig,
  type LoadedConfig,
  parseOverride,
} from "../config/load.ts";
import { runExperiment, type RunSummary } from "../experiment/run.ts";
import { mcnemar, type McNemarResult, type Metrics } from "../metrics/metrics.ts";
import { barChartSvg, type BarRow } from "./plots.ts";
import { createVersionDir, toCsv, writeIndex } from "./write.ts";
import { parse as parseCsvText } from "csv-parse/sync";
import { StarmambaError } from "../util/errors.ts";
import { exists, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";

/** Version of the sweep.json / summary.json layout. */
export const SWEEP_SCHEMA = "starmamba.sweep/1";

/** Name of the implicit variant that applies no overrides. */
export const BASE_VARIANT = "base";

/** Config keys a sweep sets itself, so sweep files may not. */
const RESERVED_KEYS = ["seed", "experiment", "output.dir", "output.scratch_dir", "output.publish"];

/** Top-level keys of a sweep file. */
const SWEEP_KEYS = ["name", "description", "base", "seeds", "variants", "set", "publish"];

/** Names that become folder names: letters, digits, `_ . -`, not starting with `.` or `-`. */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** One variant: a name and the config overrides (dotted key → value) it applies. */
export interface SweepVariant {
  /** Variant name, used in run folder names ("base" for the implicit variant). */
  name: string;
  /** Flattened overrides, e.g. `{ "model.directions": 1 }`. */
  set: Record<string, unknown>;
}

/** A validated sweep file. */
export interface SweepSpec {
  /** Sweep name: the folder under `<out>/ablations/` and the prefix of its run names. */
  name: string;
  /** Free text recorded in sweep.json ("" when the file has none). */
  description: string;
  /** Absolute path of the sweep file. */
  file: string;
  /** Absolute path of the base experiment config. */
  base: string;
  /** Seeds every variant is trained with (distinct integers). */
  seeds: number[];
  /** Overrides applied to every run (before the variant's own). */
  set: Record<string, unknown>;
  /** The implicit "base" variant first, then the file's variants in order. */
  variants: SweepVariant[];
  /** Write under the base config's output.dir instead of output.scratch_dir. */
  publish: boolean;
}

/** One (variant, seed) run of a sweep, with its resolved config. */
export interface PlannedRun {
  variant: string;
  seed: number;
  /** `<variant>/seed<seed>`: the key of sweep.json's `runs`. */
  key: string;
  /** The overrides that define the run (shared set, variant set, seed). */
  overrides: string[];
  /** Config hash without the sweep's output-folder overrides. */
  hash: string;
}

/** What sweep.json records for one run. */
export interface RunEntry {
  variant: string;
  seed: number;
  overrides: string[];
  config_hash: string;
  /** Run folder relative to the sweep folder. */
  run_dir: string | null;
  status: "pending" | "running" | "done";
}

/** The sweep.json state file. */
export interface SweepState {
  schema: string;
  name: string;
  version: string;
  sweep_file: string;
  spec_hash: string;
  spec: Omit<SweepSpec, "file" | "base"> & { base: string };
  publish: boolean;
  runs: Record<string, RunEntry>;
}

/** Options of {@link runSweep}. */
export interface SweepOptions {
  /** Project root; output folders are relative to it. Default: cwd. */
  projectRoot?: string;
  /** Overrides the sweep file's `publish`. */
  publish?: boolean;
  /** Extra `key=value` overrides for every run (applied after the sweep's `set`). */
  set?: string[];
  /** Replaces the sweep file's seeds. */
  seeds?: number[];
  /** Start a new sweep version even if one with the same spec exists. */
  fresh?: boolean;
  /** No progress output (runs are quiet too). */
  quiet?: boolean;
  /** Polled after every training step; true = save state and stop. */
  shouldStop?: () => boolean;
}

/** What {@link runSweep} returns. */
export interface SweepOutcome {
  /** Absolute path of the sweep version folder, `<out>/ablations/<name>/v<N>`. */
  sweepDir: string;
  /** The sweep version used, e.g. "v1". */
  version: string;
  /** Runs started from scratch in this call (finished, or stopped if `interrupted`). */
  executed: number;
  /** Interrupted runs continued in this call (from their last saved step). */
  resumed: number;
  /** Runs already finished before this call. */
  skipped: number;
  /** True when `shouldStop` stopped a run; the sweep resumes on the next call. */
  interrupted: boolean;
  /** null while runs are missing (interrupted sweep). */
  summary: SweepSummary | null;
  /** Summary files written in this call (empty when an existing summary was kept). */
  written: string[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `{ model: { directions: 1 } }` and `{ "model.directions": 1 }` both → `{ "model.directions": 1 }`. */
function flattenSet(v: unknown, where: string, prefix = ""): Record<string, unknown> {
  if (!isObj(v)) {
    throw new StarmambaError(
      `${where} must be a mapping of config keys to values, e.g. {"model.directions": 1}`,
    );
  }
  const out: Record<string, unknown> = {};
  for (const [k, val] of Object.entries(v)) {
    const key = prefix ? `${prefix}.${k}` : k;
    // Config leaves are scalars or lists, so a mapping here can only mean nesting.
    if (isObj(val)) Object.assign(out, flattenSet(val, where, key));
    else {
      if (RESERVED_KEYS.includes(key)) {
        throw new StarmambaError(
          `${where}: key "${key}" is set by the sweep itself (seeds come from \`seeds\`, ` +
            "run folders from the sweep folder); remove it",
        );
      }
      out[key] = val;
    }
  }
  return out;
}

/** `{ "a.b": 1 }` → `["a.b=1"]`; values as JSON, which parseOverride reads back as YAML. */
export function toOverrides(set: Record<string, unknown>): string[] {
  return Object.entries(set).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
}

function checkName(v: unknown, where: string): string {
  if (typeof v !== "string" || !NAME_RE.test(v)) {
    throw new StarmambaError(
      `${where} must be a name of letters, digits, "_", "." or "-" (it becomes a folder name), ` +
        `got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/** Validates a parsed sweep file; `file` (absolute) names it in messages and anchors `base`. */
export function parseSweep(raw: unknown, file: string): SweepSpec {
  if (!isObj(raw)) throw new StarmambaError(`${file}: the top level must be a mapping of keys`);
  for (const k of Object.keys(raw)) {
    if (!SWEEP_KEYS.includes(k)) {
      const near = SWEEP_KEYS.reduce((a, b) => editDistance(k, a) <= editDistance(k, b) ? a : b);
      throw new StarmambaError(
        `${file}: unknown key "${k}" — did you mean "${near}"? ` +
          `(a sweep has: ${SWEEP_KEYS.join(", ")})`,
      );
    }
  }
  const name = checkName(raw.name, `${file}: key "name"`);
  const description = raw.description ?? "";
  if (typeof description !== "string") {
    throw new StarmambaError(`${file}: key "description" must be a string`);
  }
  if (typeof raw.base !== "string" || raw.base.trim() === "") {
    throw new StarmambaError(
      `${file}: key "base" must be the path of an experiment config, relative to the sweep ` +
        'file, e.g. base: "../quickstart.yaml"',
    );
  }
  const base = resolve(dirname(file), raw.base);
  if (!exists(base)) {
    throw new StarmambaError(
      `${file}: key "base": config ${base} not found (the path is relative to the sweep file)`,
    );
  }
  const seeds = checkSeeds(raw.seeds, `${file}: key "seeds"`);
  const set = raw.set === undefined ? {} : flattenSet(raw.set, `${file}: key "set"`);
  if (!Array.isArray(raw.variants) || raw.variants.length === 0) {
    throw new StarmambaError(
      `${file}: key "variants" must be a non-empty list of {name, set} entries, e.g. ` +
        '- { name: k1, set: { "model.directions": 1 } }',
    );
  }
  const variants: SweepVariant[] = [{ name: BASE_VARIANT, set: {} }];
  raw.variants.forEach((v: unknown, i: number) => {
    const where = `${file}: variants[${i}]`;
    if (!isObj(v)) throw new StarmambaError(`${where} must be a mapping with keys name and set`);
    for (const k of Object.keys(v)) {
      if (k !== "name" && k !== "set") {
        throw new StarmambaError(`${where}: unknown key "${k}" (a variant has name and set)`);
      }
    }
    const vname = checkName(v.name, `${where}: key "name"`);
    if (vname === BASE_VARIANT) {
      throw new StarmambaError(
        `${where}: the name "${BASE_VARIANT}" is reserved for the implicit variant without ` +
          "overrides; rename it",
      );
    }
    if (variants.some((w) => w.name === vname)) {
      throw new StarmambaError(`${where}: variant name "${vname}" is used twice`);
    }
    const vset = flattenSet(v.set, `${where} (${vname}): key "set"`);
    if (Object.keys(vset).length === 0) {
      throw new StarmambaError(
        `${where} (${vname}): key "set" is empty; a variant must change at least one key ` +
          `(the unchanged config is the implicit "${BASE_VARIANT}" variant)`,
      );
    }
    variants.push({ name: vname, set: vset });
  });
  const publish = raw.publish ?? false;
  if (typeof publish !== "boolean") {
    throw new StarmambaError(`${file}: key "publish" must be true or false`);
  }
  return { name, description, file, base, seeds, set, variants, publish };
}

/** A non-empty list of distinct seeds (integers in the config's seed range). */
export function checkSeeds(v: unknown, where: string): number[] {
  if (!Array.isArray(v) || v.length === 0) {
    throw new StarmambaError(`${where} must be a non-empty list of integers, e.g. [1, 2, 3]`);
  }
  for (const s of v) {
    if (!Number.isInteger(s) || s < 0 || s > 2 ** 31 - 1) {
      throw new StarmambaError(
        `${where}: ${JSON.stringify(s)} is not an integer seed in [0, 2^31 - 1]`,
      );
    }
  }
  if (new Set(v).size !== v.length) throw new StarmambaError(`${where}: seeds repeat`);
  return v as number[];
}

/** Reads and validates a sweep YAML file. */
export function loadSweep(path: string): SweepSpec {
  const file = resolve(path);
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new StarmambaError(
        `sweep file not found: ${path} (sweeps live in configs/ablations/)`,
      );
    }
    throw new StarmambaError(`cannot read sweep file ${path}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (e) {
    throw new StarmambaError(`${file}: invalid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  return parseSweep(raw, file);
}

/** Resolves every (variant, seed) config — so a bad key fails before anything trains. */
export function planSweep(
  spec: SweepSpec,
  extra: string[] = [],
): { runs: PlannedRun[]; specHash: string } {
  for (const o of extra) {
    parseOverride(o); // throws a clear message for a malformed override
    const key = o.slice(0, o.indexOf("="));
    if (RESERVED_KEYS.includes(key.trim())) {
      throw new StarmambaError(`--set ${o}: "${key}" is set by the sweep itself; remove it`);
    }
  }
  const shared = [...toOverrides(spec.set), ...extra];
  const runs: PlannedRun[] = [];
  for (const seed of spec.seeds) {
    for (const v of spec.variants) {
      const overrides = [...shared, ...toOverrides(v.set), `seed=${seed}`];
      let loaded: LoadedConfig;
      try {
        loaded = loadConfig(spec.base, overrides);
      } catch (e) {
        if (!(e instanceof StarmambaError)) throw e;
        throw new StarmambaError(`${spec.file}: variant "${v.name}": ${e.message}`);
      }
      runs.push({
        variant: v.name,
        seed,
        key: `${v.name}/seed${seed}`,
        overrides,
        hash: loaded.hash,
      });
    }
  }
  const specHash = createHash("sha256")
    .update(canonicalJson(runs.map((r) => [r.key, r.hash])))
    .digest("hex");
  return { runs, specHash };
}

/** The run's experiment name, which is also its folder under `runs/`. */
function runExperimentName(spec: SweepSpec, r: PlannedRun): string {
  return `${spec.name}-${r.variant}-s${r.seed}`;
}

/** Version folders `v<N>` of `dir`, newest first. */
function versionDirs(dir: string): string[] {
  if (!exists(dir)) return [];
  return [...Deno.readDirSync(dir)]
    .filter((e) => e.isDirectory && /^v\d+$/.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => Number(b.slice(1)) - Number(a.slice(1)));
}

function readJson(path: string): Obj | null {
  try {
    const v = JSON.parse(Deno.readTextFileSync(path));
    return isObj(v) ? v : null;
  } catch {
    return null;
  }
}

/** The newest version of this sweep with the same spec hash, or a new version folder. */
function openSweepDir(
  ablRoot: string,
  name: string,
  specHash: string,
  fresh: boolean,
): { dir: string; version: string; state: SweepState | null } {
  if (!fresh) {
    for (const v of versionDirs(join(ablRoot, name))) {
      const dir = join(ablRoot, name, v);
      const st = readJson(join(dir, "sweep.json")) as SweepState | null;
      if (st?.spec_hash === specHash) return { dir, version: v, state: st };
    }
  }
  const { dir, version } = createVersionDir(ablRoot, name);
  return { dir, version, state: null };
}

/**
 * Where a run stands on disk: a folder of `runsDir/<experiment>/` whose result.json has the
 * run's config hash (done), or whose run.json has it but no result.json yet (resumable).
 * The folder sweep.json recorded is preferred; a kill between result.json and sweep.json is
 * recovered by the scan.
 */
function findRun(
  sweepDir: string,
  expDir: string,
  hash: string,
  recorded: string | null,
): { done: string | null; partial: string | null } {
  const candidates = versionDirs(expDir).map((v) => join(expDir, v));
  if (recorded) candidates.unshift(resolve(sweepDir, recorded));
  let partial: string | null = null;
  for (const d of candidates) {
    const result = readJson(join(d, "result.json"));
    if (result) {
      if (result.config_hash === hash) return { done: d, partial: null };
      continue;
    }
    const run = readJson(join(d, "run.json"));
    if (!partial && run?.config_hash === hash) partial = d;
  }
  return { done: null, partial };
}

/**
 * Runs (or resumes) a sweep and, once every run has finished, writes its summary. See the
 * module comment for the folder layout and the resume rules.
 */
export async function runSweep(spec: SweepSpec, opts: SweepOptions = {}): Promise<SweepOutcome> {
  const root = resolve(opts.projectRoot ?? Deno.cwd());
  const log = (s: string) => opts.quiet || console.log(s);
  if (opts.seeds) spec = { ...spec, seeds: checkSeeds(opts.seeds, "--seeds") };
  const publish = opts.publish ?? spec.publish;
  const { runs, specHash } = planSweep(spec, opts.set ?? []);
  const baseCfg = loadConfig(spec.base, runs[0].overrides).config;
  const outRoot = resolve(root, publish ? baseCfg.output.dir : baseCfg.output.scratch_dir);
  const ablRoot = join(outRoot, "ablations");
  const opened = openSweepDir(ablRoot, spec.name, specHash, opts.fresh ?? false);
  const sweepDir = opened.dir;
  const runsDir = join(sweepDir, "runs");
  const runsRel = relative(root, runsDir);
  const state: SweepState = opened.state ?? {
    schema: SWEEP_SCHEMA,
    name: spec.name,
    version: opened.version,
    sweep_file: displayPath(root, spec.file),
    spec_hash: specHash,
    spec: {
      name: spec.name,
      description: spec.description,
      base: displayPath(root, spec.base),
      seeds: spec.seeds,
      set: { ...spec.set, ...Object.fromEntries((opts.set ?? []).map((o) => splitOverride(o))) },
      variants: spec.variants,
      publish,
    },
    publish,
    runs: {},
  };
  const saveState = () => writeJsonAtomic(join(sweepDir, "sweep.json"), state);
  log(
    `sweep ${spec.name} ${opened.version}: ${spec.variants.length} variants × ` +
      `${spec.seeds.length} seeds = ${runs.length} runs → ${relative(root, sweepDir) || "."}`,
  );

  let executed = 0, resumed = 0, skipped = 0, interrupted = false;
  for (const [i, r] of runs.entries()) {
    const experiment = runExperimentName(spec, r);
    const loaded = loadConfig(spec.base, [
      ...r.overrides,
      `experiment=${experiment}`,
      `output.dir=${JSON.stringify(runsRel)}`,
      `output.scratch_dir=${JSON.stringify(runsRel)}`,
      `output.publish=${publish}`,
    ]);
    const prev = state.runs[r.key];
    const found = findRun(sweepDir, join(runsDir, experiment), loaded.hash, prev?.run_dir ?? null);
    const entry: RunEntry = {
      variant: r.variant,
      seed: r.seed,
      overrides: r.overrides,
      config_hash: loaded.hash,
      run_dir: null,
      status: "pending",
    };
    const tag = `[${i + 1}/${runs.length}] ${r.variant}, seed ${r.seed}`;
    if (found.done) {
      state.runs[r.key] = { ...entry, run_dir: relative(sweepDir, found.done), status: "done" };
      saveState();
      skipped++;
      log(`${tag}: already finished (${relative(sweepDir, found.done)})`);
      continue;
    }
    log(`${tag}: ${found.partial ? "resuming " + relative(sweepDir, found.partial) : "training"}`);
    state.runs[r.key] = {
      ...entry,
      run_dir: found.partial ? relative(sweepDir, found.partial) : null,
      status: "running",
    };
    saveState();
    const summary: RunSummary = await runExperiment(loaded, {
      projectRoot: root,
      publish,
      quiet: opts.quiet,
      resumeDir: found.partial ?? undefined,
      shouldStop: opts.shouldStop,
    });
    if (found.partial) resumed++;
    else executed++;
    state.runs[r.key] = {
      ...entry,
      run_dir: relative(sweepDir, summary.runDir),
      status: summary.interrupted ? "running" : "done",
    };
    saveState();
    if (summary.interrupted) {
      interrupted = true;
      break;
    }
    const best = (summary.result?.best as { metrics: Metrics }).metrics;
    const last = (summary.result?.last as { metrics: Metrics }).metrics;
    log(
      `${tag}: accuracy ${best.accuracy.toFixed(4)} (best epoch), ${
        last.accuracy.toFixed(4)
      } (last epoch) — ${relative(sweepDir, summary.runDir)}`,
    );
  }
  const outcome: SweepOutcome = {
    sweepDir,
    version: opened.version,
    executed,
    resumed,
    skipped,
    interrupted,
    summary: null,
    written: [],
  };
  if (interrupted) return outcome;
  outcome.summary = summarizeSweep(sweepDir, state, runs.map((r) => r.key));
  // A complete sweep rerun changes nothing: keep its (possibly published) summary untouched.
  if (executed + resumed > 0 || !exists(join(sweepDir, "summary.json"))) {
    outcome.written = await writeSweepSummary(sweepDir, outcome.summary);
  }
  writeIndex(outRoot);
  return outcome;
}

/** `p` relative to the project root when inside it (portable records), else absolute. */
function displayPath(root: string, p: string): string {
  const rel = relative(root, p);
  return rel.startsWith("..") || rel === "" ? p : rel;
}

function splitOverride(o: string): [string, unknown] {
  const eq = o.indexOf("=");
  let v: unknown;
  try {
    v = YAML.parse(o.slice(eq + 1));
  } catch {
    v = o.slice(eq + 1);
  }
  return [o.slice(0, eq).trim(), v];
}

// ---------------------------------------------------------------------------------------------
// Summary

/** Mean and sample standard deviation (n − 1) of a metric over seeds; null where undefined. */
export interface Stat {
  /** Seeds with a finite value. */
  n: number;
  /** Mean; null for n = 0. */
  mean: number | null;
  /** Sample std; null for n < 2. */
  std: number | null;
}

/** Mean and sample std (n − 1 denominator) of the finite values of `xs`. */
export function meanStd(xs: number[]): Stat {
  const v = xs.filter((x) => Number.isFinite(x));
  const n = v.length;
  if (n === 0) return { n, mean: null, std: null };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { n, mean, std: null };
  const ss = v.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { n, mean, std: Math.sqrt(ss / (n - 1)) };
}

/** The summary metrics of one evaluation, keyed as in summary.json. */
export function pickMetrics(m: Metrics): Record<string, number> {
  const pos = m.positiveClass;
  const pc = m.perClass[pos];
  const num = (x: unknown) => (typeof x === "number" ? x : NaN); // JSON turns NaN into null
  return {
    accuracy: num(m.accuracy),
    balanced_accuracy: num(m.balancedAccuracy),
    [`${pos}_recall`]: num(pc?.recall),
    [`${pos}_precision`]: num(pc?.precision),
    roc_auc: num(m.rocAuc),
  };
}

/** One finished run as the summary reports it. */
export interface RunRecord {
  /** Variant name. */
  variant: string;
  /** Seed of the run. */
  seed: number;
  /** Run folder relative to the sweep folder. */
  run_dir: string;
  /** Epoch (from 1) with the best validation accuracy. */
  best_epoch: number;
  /** The last epoch trained. */
  last_epoch: number;
  /** Summary metrics ({@link pickMetrics}) at the best epoch. */
  best: Record<string, number>;
  /** Summary metrics ({@link pickMetrics}) at the last epoch. */
  last: Record<string, number>;
  /** Trainable parameters of the model. */
  parameters: number;
  /** Seconds spent in training steps. */
  train_seconds: number;
  /** Git commit the run was trained from ("unknown" if not recorded). */
  commit: string;
  /** Whether the working tree had uncommitted changes (true if not recorded). */
  dirty: boolean;
}

/** McNemar's test of one variant against base on one seed's validation images. */
export interface PairedTest extends McNemarResult {
  /** Seed, or "pooled" for all seeds' discordant pairs together. */
  seed: number | "pooled";
  /** Paired images. */
  n: number;
}

/** Per-variant aggregate. */
export interface VariantSummary {
  /** Variant name. */
  name: string;
  /** The variant's own overrides as `key=value` (empty for base). */
  overrides: string[];
  /** Seeds of the variant's runs. */
  seeds: number[];
  /** Each summary metric at the best epoch, over seeds. */
  best: Record<string, Stat>;
  /** Each summary metric at the last epoch, over seeds. */
  last: Record<string, Stat>;
  /** Per-seed (variant − base) differences, aggregated; null for base itself. */
  delta_best: Record<string, Stat> | null;
  /** As `delta_best`, at the last epoch. */
  delta_last: Record<string, Stat> | null;
  /** McNemar on best-epoch predictions vs base; null for base. */
  mcnemar: PairedTest[] | null;
  /** Why McNemar was not computed, if it was not (e.g. different validation images). */
  mcnemar_note: string | null;
  /** Trainable parameters, over seeds. */
  parameters: Stat;
  /** Seconds spent in training steps, over seeds. */
  train_seconds: Stat;
}

/** summary.json. */
export interface SweepSummary {
  /** Format tag, {@link SWEEP_SCHEMA}. */
  schema: string;
  /** Sweep name. */
  name: string;
  /** Sweep version, e.g. "v1". */
  version: string;
  /** Free text from the sweep file. */
  description: string;
  /** The sweep file, relative to the project root when inside it. */
  sweep_file: string;
  /** The base experiment config, relative to the project root when inside it. */
  base_config: string;
  /** sha256 of every run's (key, config hash): what decides whether a version is reused. */
  spec_hash: string;
  /** Seeds every variant was trained with. */
  seeds: number[];
  /** Overrides applied to every run, as `key=value`. */
  shared_overrides: string[];
  /** The class whose recall and precision are reported. */
  positive_class: string;
  /** Summary metric keys ({@link pickMetrics}), in report order. */
  metrics: string[];
  /** Distinct commits the runs were trained from, " (dirty)" marking uncommitted changes. */
  commits: string[];
  /** Per-variant aggregates, base first. */
  variants: VariantSummary[];
  /** Every run, in run order (by seed, then variant). */
  runs: RunRecord[];
}

/** Rows of an RFC 4180 CSV text (as toCsv writes), each a list of fields (csv-parse). */
export function parseCsv(text: string): string[][] {
  return parseCsvText(text, { relax_column_count: true }) as string[][];
}

/** Per-image identity and correctness from a run's predictions.csv (argmax, ties → first). */
export function readCorrectness(path: string): { ids: string[]; correct: boolean[] } {
  const rows = parseCsv(Deno.readTextFileSync(path));
  const head = rows[0] ?? [];
  const iLabel = head.indexOf("label");
  const probCols = head.flatMap((h, i) => (h.startsWith("p_") ? [i] : []));
  if (head[0] !== "index" || iLabel < 0 || probCols.length < 2) {
    throw new StarmambaError(
      `${path}: not a starmamba predictions.csv (expected columns index,file,label,p_<class>...)`,
    );
  }
  const ids: string[] = [], correct: boolean[] = [];
  for (const r of rows.slice(1)) {
    if (r.length < head.length) continue;
    let best = probCols[0];
    for (const c of probCols) if (Number(r[c]) > Number(r[best])) best = c;
    ids.push(`${r[0]}:${r[1]}`);
    correct.push(head[best].slice(2) === r[iLabel]);
  }
  return { ids, correct };
}

function sameIds(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Reads every run's result.json and predictions.csv and aggregates them per variant. */
export function summarizeSweep(
  sweepDir: string,
  state: SweepState,
  order: string[],
): SweepSummary {
  const records: RunRecord[] = [];
  const correctness = new Map<string, { ids: string[]; correct: boolean[] }>();
  let positive = "galaxy";
  for (const key of order) {
    const e = state.runs[key];
    if (!e?.run_dir || e.status !== "done") {
      throw new Error(`summarizeSweep: run ${key} has not finished`);
    }
    const dir = resolve(sweepDir, e.run_dir);
    const r = readJson(join(dir, "result.json"));
    if (!r) throw new StarmambaError(`${dir}/result.json is missing or unreadable`);
    const best = r.best as { epoch: number; metrics: Metrics };
    const last = r.last as { epoch: number; metrics: Metrics };
    positive = best.metrics.positiveClass;
    const code = (r.code ?? {}) as { commit?: string; dirty?: boolean };
    records.push({
      variant: e.variant,
      seed: e.seed,
      run_dir: e.run_dir,
      best_epoch: best.epoch,
      last_epoch: last.epoch,
      best: pickMetrics(best.metrics),
      last: pickMetrics(last.metrics),
      parameters: (r.model as { parameters: number }).parameters,
      train_seconds: r.train_seconds as number,
      commit: code.commit ?? "unknown",
      dirty: code.dirty ?? true,
    });
    correctness.set(key, readCorrectness(join(dir, "predictions.csv")));
  }
  const metricNames = Object.keys(records[0].best);
  const variantNames = [...new Set(records.map((r) => r.variant))];
  const spec = state.spec;
  const variants = variantNames.map((name): VariantSummary => {
    const own = records.filter((r) => r.variant === name);
    const agg = (which: "best" | "last") =>
      Object.fromEntries(metricNames.map((m) => [m, meanStd(own.map((r) => r[which][m]))]));
    const v: VariantSummary = {
      name,
      overrides: toOverrides(spec.variants.find((x) => x.name === name)?.set ?? {}),
      seeds: own.map((r) => r.seed),
      best: agg("best"),
      last: agg("last"),
      delta_best: null,
      delta_last: null,
      mcnemar: null,
      mcnemar_note: null,
      parameters: meanStd(own.map((r) => r.parameters)),
      train_seconds: meanStd(own.map((r) => r.train_seconds)),
    };
    if (name === BASE_VARIANT) return v;
    const pairs = own.flatMap((r) => {
      const b = records.find((x) => x.variant === BASE_VARIANT && x.seed === r.seed);
      return b ? [{ v: r, b }] : [];
    });
    const delta = (which: "best" | "last") =>
      Object.fromEntries(
        metricNames.map((m) => [m, meanStd(pairs.map((p) => p.v[which][m] - p.b[which][m]))]),
      );
    v.delta_best = delta("best");
    v.delta_last = delta("last");
    const tests: PairedTest[] = [];
    const pooledA: boolean[] = [], pooledB: boolean[] = [];
    for (const p of pairs) {
      const cb = correctness.get(`${BASE_VARIANT}/seed${p.b.seed}`)!;
      const cv = correctness.get(`${name}/seed${p.v.seed}`)!;
      if (!sameIds(cb.ids, cv.ids)) {
        v.mcnemar_note = `seed ${p.v.seed}: the validation images differ from base's ` +
          "(e.g. another split), so there is no paired test";
        tests.length = 0;
        break;
      }
      tests.push({ seed: p.v.seed, n: cb.ids.length, ...mcnemar(cb.correct, cv.correct) });
      pooledA.push(...cb.correct);
      pooledB.push(...cv.correct);
    }
    if (v.mcnemar_note === null && tests.length > 0) {
      if (tests.length > 1) {
        tests.push({ seed: "pooled", n: pooledA.length, ...mcnemar(pooledA, pooledB) });
      }
      v.mcnemar = tests;
    }
    return v;
  });
  return {
    schema: SWEEP_SCHEMA,
    name: state.name,
    version: state.version,
    description: spec.description,
    sweep_file: state.sweep_file,
    base_config: spec.base,
    spec_hash: state.spec_hash,
    seeds: spec.seeds,
    shared_overrides: toOverrides(spec.set),
    positive_class: positive,
    metrics: metricNames,
    commits: [...new Set(records.map((r) => `${r.commit}${r.dirty ? " (dirty)" : ""}`))],
    variants,
    runs: records,
  };
}

/** Human label of a summary metric key. */
function metricLabel(key: string): string {
  if (key === "roc_auc") return "ROC-AUC";
  return key.replace("_", " ");
}

function fmt(x: number | null, signed = false): string {
  if (x === null || !Number.isFinite(x)) return "n/a";
  return (signed && x >= 0 ? "+" : "") + x.toFixed(4);
}

function fmtStat(s: Stat, signed = false): string {
  if (s.mean === null) return "n/a";
  return s.std === null ? fmt(s.mean, signed) : `${fmt(s.mean, signed)} ± ${s.std.toFixed(4)}`;
}

function fmtSeconds(s: Stat): string {
  if (s.mean === null) return "n/a";
  return s.std === null ? s.mean.toFixed(1) : `${s.mean.toFixed(1)} ± ${s.std.toFixed(1)}`;
}

function fmtP(p: number): string {
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}

function code(s: string): string {
  return "`" + s.replaceAll("|", "\\|") + "`";
}

/** summary.md. */
export function sweepMarkdown(s: SweepSummary): string {
  const L: string[] = [];
  const seedsTxt = s.seeds.join(", ");
  L.push(`# Ablation ${s.name} ${s.version}`, "");
  if (s.description) L.push(s.description, "");
  L.push(
    `Base config ${code(s.base_config)}, sweep file ${code(s.sweep_file)}, seeds ${seedsTxt}, ` +
      `spec hash ${code(s.spec_hash.slice(0, 16))}.`,
    `Shared overrides: ${
      s.shared_overrides.length ? s.shared_overrides.map(code).join(", ") : "none"
    }. Code: ${s.commits.map(code).join(", ")}.`,
    "",
    `Every cell is the mean ± sample standard deviation (n − 1) over seeds on the validation ` +
      `set; "${s.positive_class}" is the positive class. Δ is the mean ± std over seeds of ` +
      `(variant − ${BASE_VARIANT}) on the same seed, so the split and data order are shared.`,
    "",
    "![bar chart of the variants](bars.svg)",
    "",
  );
  for (const which of ["best", "last"] as const) {
    L.push(
      which === "best"
        ? "## Best validation epoch (reference protocol; optimistic, it selects on validation)"
        : "## Last epoch (no selection on validation)",
      "",
      `| variant | overrides | ${s.metrics.map(metricLabel).join(" | ")} | Δ accuracy |`,
      `|---|---|${s.metrics.map(() => "---:").join("|")}|---:|`,
    );
    for (const v of s.variants) {
      const delta = which === "best" ? v.delta_best : v.delta_last;
      L.push(
        `| ${v.name} | ${v.overrides.map(code).join(" ") || "—"} | ${
          s.metrics.map((m) => fmtStat(v[which][m])).join(" | ")
        } | ${delta ? fmtStat(delta.accuracy, true) : "—"} |`,
      );
    }
    L.push("");
  }
  L.push(
    `## Paired test against ${BASE_VARIANT} (McNemar, best-epoch predictions)`,
    "",
    `b = images ${BASE_VARIANT} classifies correctly and the variant does not; c = the ` +
      "reverse. p is two-sided: exact binomial for b + c < 25, else continuity-corrected " +
      "chi-square. The pooled row adds the seeds' discordant pairs; the seeds share validation " +
      "images, so pooled p is optimistic. No correction for multiple comparisons.",
    "",
    "| variant | seed | n | b | c | p | test |",
    "|---|---|---:|---:|---:|---:|---|",
  );
  for (const v of s.variants) {
    if (v.name === BASE_VARIANT) continue;
    if (!v.mcnemar) {
      L.push(`| ${v.name} | — | | | | | ${v.mcnemar_note ?? "n/a"} |`);
      continue;
    }
    for (const t of v.mcnemar) {
      L.push(
        `| ${v.name} | ${t.seed} | ${t.n} | ${t.b} | ${t.c} | ${fmtP(t.pValue)} | ${t.method} |`,
      );
    }
  }
  L.push(
    "",
    "## Cost",
    "",
    "| variant | parameters | training seconds |",
    "|---|---:|---:|",
    ...s.variants.map((v) =>
      `| ${v.name} | ${v.parameters.mean?.toLocaleString("en-US") ?? "n/a"} | ${
        fmtSeconds(v.train_seconds)
      } |`
    ),
    "",
    "## Runs",
    "",
    "| variant | seed | run | best epoch | accuracy (best) | accuracy (last) | commit |",
    "|---|---:|---|---:|---:|---:|---|",
    ...s.runs.map((r) =>
      `| ${r.variant} | ${r.seed} | [${r.run_dir}](${r.run_dir}/metrics.md) | ${r.best_epoch} | ${
        fmt(r.best.accuracy)
      } | ${fmt(r.last.accuracy)} | ${r.commit.slice(0, 10)}${r.dirty ? " (dirty)" : ""} |`
    ),
    "",
  );
  return L.join("\n");
}

/**
 * summary.csv in long format, one value per row: per-run values (`seed` = the seed), aggregates
 * (`seed` = mean | std | n | delta_mean | delta_std), and McNemar counts (`metric` =
 * mcnemar_b | mcnemar_c | mcnemar_p, `seed` = the seed or pooled).
 */
export function sweepCsv(s: SweepSummary): string {
  const rows: (string | number)[][] = [["variant", "epoch_choice", "metric", "seed", "value"]];
  const num = (x: number | null) => (x === null ? "NaN" : x);
  for (const v of s.variants) {
    for (const which of ["best", "last"] as const) {
      for (const m of s.metrics) {
        for (const r of s.runs.filter((r) => r.variant === v.name)) {
          rows.push([v.name, which, m, r.seed, r[which][m]]);
        }
        const st = v[which][m];
        rows.push([v.name, which, m, "n", st.n], [v.name, which, m, "mean", num(st.mean)]);
        rows.push([v.name, which, m, "std", num(st.std)]);
        const d = (which === "best" ? v.delta_best : v.delta_last)?.[m];
        if (d) rows.push([v.name, which, m, "delta_mean", num(d.mean)]);
        if (d) rows.push([v.name, which, m, "delta_std", num(d.std)]);
      }
    }
    for (const t of v.mcnemar ?? []) {
      rows.push([v.name, "best", "mcnemar_b", t.seed, t.b]);
      rows.push([v.name, "best", "mcnemar_c", t.seed, t.c]);
      rows.push([v.name, "best", "mcnemar_p", t.seed, t.pValue]);
    }
  }
  return toCsv(rows);
}

/** The bars of bars.svg: best-epoch accuracy, then the headline metrics at the last epoch. */
export function sweepBars(s: SweepSummary): BarRow[] {
  const panels: [string, "best" | "last", string][] = [
    ["accuracy", "best", "accuracy (best epoch)"],
    ["accuracy", "last", "accuracy (last epoch)"],
    ["balanced_accuracy", "last", "balanced acc. (last)"],
    [`${s.positive_class}_recall`, "last", `${s.positive_class} recall (last)`],
    ["roc_auc", "last", "ROC-AUC (last)"],
  ];
  const rows: BarRow[] = [];
  for (const [key, which, label] of panels) {
    for (const v of s.variants) {
      const st = v[which][key];
      if (st?.mean === null || st === undefined) continue;
      rows.push({ variant: v.name, metric: label, mean: st.mean, std: st.std ?? 0 });
    }
  }
  return rows;
}

/** Writes summary.md, summary.csv, summary.json and bars.svg into `dir`; returns the names. */
export async function writeSweepSummary(dir: string, s: SweepSummary): Promise<string[]> {
  const files: Record<string, string> = {
    "summary.md": sweepMarkdown(s),
    "summary.csv": sweepCsv(s),
    "summary.json": JSON.stringify(s, null, 2) + "\n",
    "bars.svg": await barChartSvg(sweepBars(s)),
  };
  for (const [name, text] of Object.entries(files)) writeFileAtomic(join(dir, name), text);
  return Object.keys(files);
}
