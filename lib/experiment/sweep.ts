/**
 * Ablation sweeps: one YAML file names a base experiment config, the seeds, and the variants
 * (each a set of config overrides); every variant × seed is trained with
 * {@link runExperiment}, and the sweep is summarised (lib/results/sweep.ts) as mean ± sample std
 * over seeds, the paired difference from the base, and McNemar's test on the same validation
 * images.
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
  loadConfig,
  type LoadedConfig,
  parseOverride,
  validateAgainst,
} from "../config/load.ts";
import { SWEEP_SPEC } from "../config/sweep_schema.ts";
import { runExperiment, type RunSummary } from "./run.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { createVersionDir, writeIndex } from "../results/run_folder.ts";
import { readRunRecord, RUN_RECORD_FILE } from "../results/run_record.ts";
import {
  BASE_VARIANT,
  type PlannedRun,
  type RunEntry,
  summarizeSweep,
  SWEEP_SCHEMA,
  type SweepSpec,
  type SweepState,
  type SweepSummary,
  type SweepVariant,
  toOverrides,
} from "../results/sweep.ts";
import { writeSweepSummary } from "../results/sweep_report.ts";
import { summarizeCv, writeCvSummary } from "../results/cv.ts";
import { StarmambaError } from "../util/errors.ts";
import { exists, readJsonObject as readJson, writeJsonAtomic } from "../util/fs.ts";

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Config keys a sweep sets itself, so sweep files may not. */
const RESERVED_KEYS = ["seed", "experiment", "output.dir", "output.scratch_dir", "output.publish"];

/** Names that become folder names: letters, digits, `_ . -`, not starting with `.` or `-`. */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

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
export function parseSweep(input: unknown, file: string): SweepSpec {
  if (!isObj(input)) throw new StarmambaError(`${file}: the top level must be a mapping of keys`);
  const raw = validateAgainst(input, SWEEP_SPEC, file);
  const name = checkName(raw.name, `${file}: key "name"`);
  const description = raw.description as string;
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
  const set = flattenSet(raw.set, `${file}: key "set"`);
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
  return { name, description, file, base, seeds, set, variants, publish: raw.publish as boolean };
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
export function findRun(
  sweepDir: string,
  expDir: string,
  hash: string,
  recorded: string | null,
): { done: string | null; partial: string | null } {
  const candidates = versionDirs(expDir).map((v) => join(expDir, v));
  if (recorded) candidates.unshift(resolve(sweepDir, recorded));
  let partial: string | null = null;
  for (const d of candidates) {
    // A damaged result.json is an error naming it (readRunRecord), not a run to train again.
    if (exists(join(d, RUN_RECORD_FILE))) {
      if (readRunRecord(d).config_hash === hash) return { done: d, partial: null };
      continue;
    }
    const run = readJson(join(d, "run.json"));
    if (!partial && run?.config_hash === hash) partial = d;
  }
  return { done: null, partial };
}

/** A sweep opened for work: its plan, folder and state (see {@link openSweep}). */
export interface OpenedSweep {
  /** The sweep spec (seeds replaced by the options' when given). */
  spec: SweepSpec;
  /** Project root, absolute. */
  root: string;
  /** Whether the sweep writes to the citable results folder. */
  publish: boolean;
  /** Every (variant, seed) run in order. */
  runs: PlannedRun[];
  /** The sweep version folder, absolute. */
  sweepDir: string;
  /** Its version, e.g. "v1". */
  version: string;
  /** The output root the sweep lives under (results/ or scratch/). */
  outRoot: string;
  /** sweep.json's content. */
  state: SweepState;
}

/**
 * Plans a sweep and opens its version folder (the newest with the same spec hash, else a new
 * one), with sweep.json's state; nothing trains.
 */
export function openSweep(spec: SweepSpec, opts: SweepOptions = {}): OpenedSweep {
  const root = resolve(opts.projectRoot ?? Deno.cwd());
  if (opts.seeds) spec = { ...spec, seeds: checkSeeds(opts.seeds, "--seeds") };
  const publish = opts.publish ?? spec.publish;
  const { runs, specHash } = planSweep(spec, opts.set ?? []);
  const baseCfg = loadConfig(spec.base, runs[0].overrides).config;
  const outRoot = resolve(root, publish ? baseCfg.output.dir : baseCfg.output.scratch_dir);
  const opened = openSweepDir(join(outRoot, "ablations"), spec.name, specHash, opts.fresh ?? false);
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
  return {
    spec,
    root,
    publish,
    runs,
    sweepDir: opened.dir,
    version: opened.version,
    outRoot,
    state,
  };
}

/** Writes sweep.json (atomically). */
export function saveSweepState(sw: OpenedSweep): void {
  writeJsonAtomic(join(sw.sweepDir, "sweep.json"), sw.state);
}

/**
 * The overrides that make run `r` of the sweep a `deno task experiment` of the base config:
 * the run's own, then its experiment name and output folders under `<sweep>/runs/`.
 */
export function runOverrides(sw: OpenedSweep, r: PlannedRun): string[] {
  const runsRel = relative(sw.root, join(sw.sweepDir, "runs"));
  return [
    ...r.overrides,
    `experiment=${runExperimentName(sw.spec, r)}`,
    `output.dir=${JSON.stringify(runsRel)}`,
    `output.scratch_dir=${JSON.stringify(runsRel)}`,
    `output.publish=${sw.publish}`,
  ];
}

/** Where run `r` stands on disk (finished folder, resumable folder, or neither). */
export function locateRun(
  sw: OpenedSweep,
  r: PlannedRun,
): { loaded: LoadedConfig; done: string | null; partial: string | null } {
  const loaded = loadConfig(sw.spec.base, runOverrides(sw, r));
  const expDir = join(sw.sweepDir, "runs", runExperimentName(sw.spec, r));
  const prev = sw.state.runs[r.key];
  return { loaded, ...findRun(sw.sweepDir, expDir, loaded.hash, prev?.run_dir ?? null) };
}

/**
 * Records in sweep.json's state where run `r` stands on disk (`found` from {@link locateRun}):
 * done, running (a resumable folder) or pending. Returns the previous status.
 */
export function recordLocated(
  sw: OpenedSweep,
  r: PlannedRun,
  found: { loaded: LoadedConfig; done: string | null; partial: string | null },
): RunEntry["status"] | undefined {
  const prev = sw.state.runs[r.key]?.status;
  const runDir = found.done ?? found.partial;
  sw.state.runs[r.key] = {
    ...entryOf(r, found.loaded.hash),
    run_dir: runDir ? relative(sw.sweepDir, runDir) : null,
    status: found.done ? "done" : found.partial ? "running" : "pending",
  };
  return prev;
}

/** sweep.json's entry of run `r` (without folder and status). */
function entryOf(r: PlannedRun, hash: string): RunEntry {
  return {
    variant: r.variant,
    seed: r.seed,
    overrides: r.overrides,
    config_hash: hash,
    run_dir: null,
    status: "pending",
  };
}

/**
 * Runs (or resumes) a sweep and, once every run has finished, writes its summary. See the
 * module comment for the folder layout and the resume rules.
 */
export async function runSweep(spec: SweepSpec, opts: SweepOptions = {}): Promise<SweepOutcome> {
  const log = (s: string) => opts.quiet || console.log(s);
  const sw = openSweep(spec, opts);
  const { root, runs, sweepDir, state } = sw;
  log(
    `sweep ${sw.spec.name} ${sw.version}: ${sw.spec.variants.length} variants × ` +
      `${sw.spec.seeds.length} seeds = ${runs.length} runs → ${relative(root, sweepDir) || "."}`,
  );

  let executed = 0, resumed = 0, skipped = 0, interrupted = false;
  for (const [i, r] of runs.entries()) {
    const found = locateRun(sw, r);
    const entry = entryOf(r, found.loaded.hash);
    const tag = `[${i + 1}/${runs.length}] ${r.variant}, seed ${r.seed}`;
    if (found.done) {
      state.runs[r.key] = { ...entry, run_dir: relative(sweepDir, found.done), status: "done" };
      saveSweepState(sw);
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
    saveSweepState(sw);
    const summary: RunSummary = await runExperiment(found.loaded, {
      projectRoot: root,
      publish: sw.publish,
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
    saveSweepState(sw);
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
    version: sw.version,
    executed,
    resumed,
    skipped,
    interrupted,
    summary: null,
    written: [],
  };
  if (interrupted) return outcome;
  return await finishSweep(sw, outcome, executed + resumed > 0);
}

/**
 * Writes the summary of a sweep whose runs have all finished (and cv.md/json when they are the
 * folds of one cross-validation) — unless nothing changed and a summary exists, which is then
 * kept untouched — and the output root's index.
 */
export async function finishSweep(
  sw: OpenedSweep,
  outcome: SweepOutcome,
  changed: boolean,
): Promise<SweepOutcome> {
  const { runs, sweepDir, state } = sw;
  outcome.summary = summarizeSweep(sweepDir, state, runs.map((r) => r.key));
  // A complete sweep rerun changes nothing: keep its (possibly published) summary untouched.
  if (changed || !exists(join(sweepDir, "summary.json"))) {
    outcome.written = await writeSweepSummary(sweepDir, outcome.summary);
    // A sweep whose runs are the folds of one cross-validation (one seed) also gets cv.md/json.
    const runDirs = runs.map((r) => resolve(sweepDir, state.runs[r.key].run_dir!));
    const cv = new Set(runs.map((r) => r.seed)).size === 1 ? summarizeCv(runDirs) : null;
    // Run folders relative to the sweep folder, so a published cv.md links wherever it is cloned.
    for (const f of cv?.folds ?? []) f.run = relative(sweepDir, f.run);
    if (cv) outcome.written.push(...writeCvSummary(sweepDir, cv, state.name));
  }
  writeIndex(sw.outRoot);
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
