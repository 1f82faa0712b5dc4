/**
 * The run folder: one immutable folder per run version, `<output root>/<experiment>/v<N>/`. A run
 * opens it first with run.json (its config, so an interrupted run can be resumed with the same
 * one), writes its files into it, and its record (result.json, lib/results/run_record.ts) last;
 * `<output root>/index.md` lists every finished version.
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import type { LoadedConfig } from "../config/load.ts";
import type { ExperimentConfig } from "../config/schema.ts";
import { recordIfPublished } from "./manifest.ts";
import { readRunRecord, RUN_RECORD_FILE } from "./run_record.ts";
import { StarmambaError } from "../util/errors.ts";
import { checkOutputDir, exists, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";

/** A run folder: a new version under `outRoot`, or the interrupted run being resumed. */
export interface RunFolder {
  /** The folder, absolute. */
  runDir: string;
  /** Its version, e.g. "v2". */
  version: string;
  /** The output root it lies under (output.dir when published, else output.scratch_dir). */
  outRoot: string;
}

/** Where a run writes: whether it publishes, and the run folder it resumes, if any. */
export interface RunFolderOptions {
  /** Write to output.dir (citable results) instead of output.scratch_dir; default the config's. */
  publish?: boolean;
  /** Resume the run in this folder (created by an earlier, interrupted call). */
  resumeDir?: string;
}

/**
 * Creates the next free version folder `<root>/<experiment>/v<N>` and returns its path.
 * mkdir without `recursive` fails if the folder exists, so two concurrent runs never share one.
 */
export function createVersionDir(
  root: string,
  experiment: string,
): { dir: string; version: string } {
  const base = join(root, experiment);
  Deno.mkdirSync(base, { recursive: true });
  for (let n = 1;; n++) {
    const dir = join(base, `v${n}`);
    if (exists(dir)) continue;
    try {
      Deno.mkdirSync(dir);
      return { dir, version: `v${n}` };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

/** Whether the run publishes: the option when given, else the config's output.publish. */
export function publishes(cfg: ExperimentConfig, opts: RunFolderOptions): boolean {
  return opts.publish ?? cfg.output.publish;
}

/** The output root a new run's folder goes under: output.dir when published, else scratch_dir. */
export function outputRoot(cfg: ExperimentConfig, root: string, opts: RunFolderOptions): string {
  return resolve(root, publishes(cfg, opts) ? cfg.output.dir : cfg.output.scratch_dir);
}

/**
 * Checks, before the data loads, that the run's folder can be written: the output root of a new
 * run, or the run folder being resumed.
 */
export function checkOutputRoot(cfg: ExperimentConfig, root: string, opts: RunFolderOptions): void {
  if (opts.resumeDir) return checkOutputDir(opts.resumeDir, "--resume");
  checkOutputDir(
    outputRoot(cfg, root, opts),
    publishes(cfg, opts) ? "output.dir" : "output.scratch_dir",
  );
}

/**
 * The run folder `path` lies in when that run can be resumed (run.json there, no result.json
 * yet); null otherwise. A CLI uses it to say how to continue after a full disk.
 */
export function resumableRunOf(path: string): string | null {
  for (let d = dirname(resolve(path)); d !== dirname(d); d = dirname(d)) {
    if (exists(join(d, "run.json"))) return exists(join(d, RUN_RECORD_FILE)) ? null : d;
  }
  return null;
}

/**
 * Opens the run folder: a new version under the output root, with run.json (the resolved
 * config, its hash, files and overrides, relative to the project `root`), or the interrupted run
 * `opts.resumeDir`, after checking it was started with the same config and has not finished.
 */
export function openRunFolder(
  loaded: LoadedConfig,
  root: string,
  opts: RunFolderOptions,
): RunFolder {
  const cfg = loaded.config;
  const outRoot = outputRoot(cfg, root, opts);
  if (opts.resumeDir) return reopenRunFolder(loaded, opts.resumeDir, outRoot);
  const { dir: runDir, version } = createVersionDir(outRoot, cfg.experiment);
  writeJsonAtomic(join(runDir, "run.json"), {
    experiment: cfg.experiment,
    version,
    config: cfg,
    config_hash: loaded.hash,
    config_files: loaded.files.map((f) => relative(root, f)),
    overrides: loaded.overrides,
    started: new Date().toISOString(),
  });
  return { runDir, version, outRoot };
}

/** The interrupted run in `resumeDir`, checked against the config it is resumed with. */
function reopenRunFolder(loaded: LoadedConfig, resumeDir: string, outRoot: string): RunFolder {
  const runDir = resolve(resumeDir);
  const runJson = join(runDir, "run.json");
  if (!exists(runJson)) {
    throw new StarmambaError(
      `--resume ${resumeDir}: no run.json there; pass the folder printed when the run started`,
    );
  }
  const saved = JSON.parse(Deno.readTextFileSync(runJson));
  if (saved.config_hash !== loaded.hash) {
    throw new StarmambaError(
      `--resume ${resumeDir}: that run used a different config (hash ${
        String(saved.config_hash).slice(0, 12)
      } ≠ ` +
        `${loaded.hash.slice(0, 12)}); pass the same config file and --set overrides`,
    );
  }
  if (exists(join(runDir, RUN_RECORD_FILE))) {
    throw new StarmambaError(
      `--resume ${resumeDir}: that run already finished (result.json exists)`,
    );
  }
  return { runDir, version: saved.version, outRoot };
}

/** One row of index.md. */
interface IndexRow {
  path: string;
  experiment: string;
  version: string;
  created: string;
  accBest: number;
  accLast: number;
  seed: number;
  commit: string;
}

/** The index row of the run folder `dir` (under `root`), or null where no record reads. */
function indexRow(root: string, dir: string): IndexRow | null {
  try {
    const r = readRunRecord(dir);
    const scored = r.imported ? null : r;
    return {
      path: relative(root, dir),
      experiment: r.experiment,
      version: r.version,
      created: r.created,
      accBest: scored?.best?.metrics?.accuracy ?? NaN,
      accLast: scored?.last?.metrics?.accuracy ?? NaN,
      seed: r.seed,
      commit: String(r.code?.commit ?? "").slice(0, 10),
    };
  } catch {
    return null; // not a record this version reads; verify-results reports it
  }
}

/** Regenerates `<root>/index.md` from every result.json under `root`. */
export function writeIndex(root: string): void {
  const rows: IndexRow[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      if (e.isDirectory) walk(join(dir, e.name));
      else if (e.name === RUN_RECORD_FILE) {
        const row = indexRow(root, dir);
        if (row) rows.push(row);
      }
    }
  };
  if (!exists(root)) return;
  walk(root);
  rows.sort((a, b) => a.path.localeCompare(b.path, undefined, { numeric: true }));
  const lines = [
    "# Results index",
    "",
    "Every run version, generated from the result.json files (do not edit by hand).",
    "",
    "| run | experiment | version | seed | val acc (best epoch) | val acc (last epoch) | commit | created |",
    "|---|---|---|---|---|---|---|---|",
    ...rows.map((r) =>
      `| [${r.path}](${r.path}/metrics.md) | ${r.experiment} | ${r.version} | ${r.seed} | ${
        pctOrDash(r.accBest)
      } | ${pctOrDash(r.accLast)} | ${r.commit} | ${r.created} |`
    ),
    "",
  ];
  writeFileAtomic(join(root, "index.md"), lines.join("\n"));
  // A published folder's index is one of its files: keep its manifest entry current.
  recordIfPublished([join(root, "index.md")]);
}

/** "92.97%", or "—" for a run without validation metrics (data.split: all). */
function pctOrDash(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : "—";
}
