/**
 * What an ablation sweep records and reports (the runner is lib/experiment/sweep.ts): the sweep
 * file's resolved spec and the state file (sweep.json), and, once every run has finished, the
 * comparison — mean ± sample std over seeds per variant, the paired difference from the base and
 * McNemar's test on the same validation images. sweep_report.ts writes that comparison as
 * summary.md, summary.csv, summary.json and a bar chart.
 * @module
 */
import { join, resolve } from "node:path";
import type { Metrics } from "../metrics/metrics.ts";
import { mcnemar, type McNemarResult, meanStd, type Stat } from "../metrics/stats.ts";
import { parseCsv } from "./write.ts";
import { StarmambaError } from "../util/errors.ts";
import { readRunRecord } from "./run_record.ts";

/** Version of the sweep.json / summary.json layout. */
export const SWEEP_SCHEMA = "starmamba.sweep/1";

/** Name of the implicit variant that applies no overrides. */
export const BASE_VARIANT = "base";

/** `{ "a.b": 1 }` → `["a.b=1"]`; values as JSON, which parseOverride reads back as YAML. */
export function toOverrides(set: Record<string, unknown>): string[] {
  return Object.entries(set).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
}

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
  /** Variant name. */
  variant: string;
  /** Seed of the run. */
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
  /** Variant name. */
  variant: string;
  /** Seed of the run. */
  seed: number;
  /** The overrides that define the run. */
  overrides: string[];
  /** Its resolved config's hash (finds its result folder again). */
  config_hash: string;
  /** Run folder relative to the sweep folder. */
  run_dir: string | null;
  /** Whether it has not started, is under way (resumable) or has finished. */
  status: "pending" | "running" | "done";
}

/** The sweep.json state file. */
export interface SweepState {
  /** {@link SWEEP_SCHEMA}. */
  schema: string;
  /** The sweep's name. */
  name: string;
  /** Its version folder, e.g. "v1". */
  version: string;
  /** The sweep file, relative to the project root when inside it. */
  sweep_file: string;
  /** Hash of every run's resolved config: a sweep version is reused while it is unchanged. */
  spec_hash: string;
  /** The resolved spec (base relative to the project root when inside it). */
  spec: Omit<SweepSpec, "file" | "base"> & { base: string };
  /** Whether runs go under output.dir (citable). */
  publish: boolean;
  /** Each run by its key `<variant>/seed<seed>`. */
  runs: Record<string, RunEntry>;
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

/** One finished run as the summary reports it (summary.json's `runs`). */
export interface SweepRun {
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
  runs: SweepRun[];
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
  const records: SweepRun[] = [];
  const correctness = new Map<string, { ids: string[]; correct: boolean[] }>();
  let positive = "galaxy";
  for (const key of order) {
    const e = state.runs[key];
    if (!e?.run_dir || e.status !== "done") {
      throw new Error(`summarizeSweep: run ${key} has not finished`);
    }
    const dir = resolve(sweepDir, e.run_dir);
    const r = readRunRecord(dir, "trained");
    const { best, last } = r;
    if (!best || !last) {
      throw new StarmambaError(
        `${dir}/result.json: no validation metrics (data.split: all); a sweep compares runs ` +
          "scored on validation images",
      );
    }
    positive = best.metrics.positiveClass;
    const code: { commit?: string; dirty?: boolean } = r.code ?? {};
    records.push({
      variant: e.variant,
      seed: e.seed,
      run_dir: e.run_dir,
      best_epoch: best.epoch,
      last_epoch: last.epoch,
      best: pickMetrics(best.metrics),
      last: pickMetrics(last.metrics),
      parameters: r.model.parameters,
      train_seconds: r.train_seconds,
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
