/**
 * The experiment runner: one run as a recipe of named steps ({@link runExperiment}). Check the
 * config and the output folder; open the runtime (backend and scan kernel); load the data through
 * the one pipeline (lib/data/pipeline.ts) and split it; describe the network from the registry
 * (lib/model/registry.ts); open the run folder (lib/results/run_folder.ts); score the baselines;
 * train; write the run's files and its record (lib/results/run_files.ts, run_record.ts).
 * `deno task experiment` is a thin shell over it.
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import type { LoadedConfig } from "../config/load.ts";
import {
  type ExperimentConfig,
  type FieldSpec,
  SCHEMA,
  type SectionSpec,
} from "../config/schema.ts";
import { seedGlobal } from "../util/rng.ts";
import { openRuntime, type Runtime } from "../backends/runtime.ts";
import type { Dataset } from "../data/types.ts";
import { loadData, normalisation } from "../data/pipeline.ts";
import type { Split } from "../data/splits.ts";
import { logisticBaseline, majorityBaseline } from "../data/logistic.ts";
import type { NetworkDescription } from "../model/network.ts";
import { createNetwork, networkEntry, networkFor } from "../model/registry.ts";
import { train, type TrainResult } from "../train/train.ts";
import { type CodeVersion, codeVersion, environment } from "../results/provenance.ts";
import { checksumFiles } from "../results/write.ts";
import {
  checkOutputRoot,
  openRunFolder,
  publishes,
  type RunFolder,
  writeIndex,
} from "../results/run_folder.ts";
import {
  type Baselines,
  type FinishedRun,
  modelShards,
  runRecordOf,
  writeRunFiles,
  writeSplit,
} from "../results/run_files.ts";
import { type TrainedRunRecord, writeRunRecord } from "../results/run_record.ts";
import { publishRoot } from "../results/manifest.ts";
import { StarmambaError } from "../util/errors.ts";
import { makeSplit } from "./split.ts";

/** Options of {@link runExperiment}. */
export interface RunOptions {
  /** Project root; output folders are relative to it. Default: cwd. */
  projectRoot?: string;
  /** Resume the run in this folder (created by an earlier, interrupted call). */
  resumeDir?: string;
  /** Write to output.dir (citable results) instead of the scratch folder. */
  publish?: boolean;
  /** No progress output. */
  quiet?: boolean;
  /** Polled after every step; true = save state and stop (Ctrl-C). */
  shouldStop?: () => boolean;
}

/** What {@link runExperiment} returns. */
export interface RunSummary {
  /** The run folder. */
  runDir: string;
  /** True if stopped before the end (state saved for --resume). */
  interrupted: boolean;
  /** The run's record as written to result.json; null if interrupted. */
  result: TrainedRunRecord | null;
}

// The data pipeline (sources, crop, field context) lives in lib/data/pipeline.ts, the split in
// ./split.ts and the run folder in lib/results/run_folder.ts; these are re-exported where
// callers have always found them.
export { type ContextSource, loadData } from "../data/pipeline.ts";
export { makeSplit } from "./split.ts";
export { resumableRunOf } from "../results/run_folder.ts";

/**
 * The network an experiment config and its data imply: model.arch and its config, with the
 * input (channels, side) and the classes from the data.
 */
export function networkForData(cfg: ExperimentConfig, ds: Dataset): NetworkDescription {
  return networkFor(cfg.model, {
    in_channels: ds.channels,
    num_classes: ds.classNames.length,
    image_size: ds.height,
  });
}

/**
 * Folders runs write into (this config's and the default ones, where a sweep's runs keep their
 * index and summaries): changes there are results, not code.
 */
function outputFolders(cfg: ExperimentConfig): string[] {
  const out = SCHEMA.output as SectionSpec;
  const defaults = [out.dir, out.scratch_dir].map((f) => String((f as FieldSpec).default));
  return [...new Set([cfg.output.dir, cfg.output.scratch_dir, ...defaults])];
}

/** Stops early on a config whose keys contradict each other in a way the schema cannot see. */
function checkConsistency(loaded: LoadedConfig): void {
  const cfg = loaded.config;
  // An unknown network is named now, before the data loads.
  networkEntry(cfg.model.arch, `${loaded.path}: model.arch`);
  if (cfg.data.field_context && cfg.augment.enabled && cfg.augment.grayscale_p > 0) {
    throw new StarmambaError(
      `${loaded.path}: data.field_context puts the frame's template in channels 1 and 2, and ` +
        `augment.grayscale_p = ${cfg.augment.grayscale_p} would mix it into the cutout; ` +
        "set augment.grayscale_p: 0",
    );
  }
}

/** The baselines on the validation images; null without any (data.split: all). */
function baselines(cfg: ExperimentConfig, ds: Dataset, split: Split): Baselines | null {
  if (split.val.length === 0) return null;
  return {
    majority: majorityBaseline(ds.labels, split.train, split.val),
    logistic: logisticBaseline(ds, split.train, ds, split.val, { seed: cfg.seed }),
  };
}

/** The progress line on the data: size, split and baselines. */
function dataLine(ds: Dataset, split: Split, base: Baselines | null): string {
  return `data: ${ds.n} images ${ds.height}×${ds.width}×${ds.channels}, train ${split.train.length}, ` +
    (base
      ? `val ${split.val.length}; baselines on val: majority ${
        (100 * base.majority).toFixed(2)
      }%, logistic regression on pixels ${(100 * base.logistic.accuracy).toFixed(2)}%`
      : "no validation images (data.split: all): the last epoch's weights are the model");
}

/** Builds the network from the seed and trains it (the model's memory is freed after). */
async function buildAndTrain(
  cfg: ExperimentConfig,
  net: NetworkDescription,
  ds: Dataset,
  split: Split,
  folder: RunFolder,
  opts: RunOptions,
  sessionStart: number,
  log: (s: string) => void,
): Promise<{ result: TrainResult; parameters: number }> {
  const model = createNetwork(net, cfg.seed);
  const parameters = model.params.countTrainable();
  const label = networkEntry(net.arch).label(net.config);
  log(`model: ${label} (model.arch ${net.arch}), ${parameters.toLocaleString("en-US")} parameters`);
  try {
    const result = await train({
      model,
      data: ds,
      trainIdx: split.train,
      valIdx: split.val,
      train: cfg.train,
      augment: cfg.augment,
      normalisation: normalisation(cfg.augment),
      seed: cfg.seed,
      checkpointEvery: cfg.output.checkpoint_every,
      runDir: folder.runDir,
      resume: Boolean(opts.resumeDir),
      shouldStop: opts.shouldStop,
      quiet: opts.quiet,
      sessionStart,
    });
    return { result, parameters };
  } finally {
    model.params.dispose();
  }
}

/**
 * Writes a finished run's files, then its record (result.json, last: its presence marks the run
 * finished) with the folder's checksum manifest, drops the resumable state and updates the
 * output root's index. Returns the record as written.
 */
async function writeRecord(r: FinishedRun, publish: boolean): Promise<TrainedRunRecord> {
  const { runDir, outRoot } = r.folder;
  const files = await writeRunFiles(r);
  // Weight shards are large: checksummed here but kept out of git (see .gitignore); a rerun of
  // the config and seed at the recorded commit rebuilds them bit for bit.
  const artifacts = await checksumFiles(runDir, modelShards(runDir));
  // A published run's files go into its folder's checksum manifest (results/SHA256SUMS).
  const record = writeRunRecord<TrainedRunRecord>(runDir, runRecordOf(r, files, artifacts), {
    manifestRoot: publish ? publishRoot(r.root, outRoot) : null,
  });
  // The resumable state is only needed until the run is complete.
  Deno.removeSync(join(runDir, "state"), { recursive: true });
  writeIndex(outRoot);
  return record;
}

/** Whether training ran to the end (a release run has no best or last: nothing to score). */
function trainedToTheEnd(result: TrainResult, split: Split): boolean {
  const release = split.val.length === 0;
  return !result.interrupted && (release || (result.best !== null && result.last !== null));
}

/** The machine and runtime a run records. */
function runEnvironment(runtime: Runtime): FinishedRun["env"] {
  return { ...environment(), ...runtime.environment() };
}

/**
 * Runs one experiment end to end, as the named steps of one run (see the module comment).
 * The data load before the run folder opens, so a config whose data cannot load leaves no
 * folder behind.
 *
 * @example Train for two steps on the synthetic sky, into a temporary folder
 * ```ts
 * import { loadConfig, runExperiment } from "@starmamba/starmamba";
 * const root = await Deno.makeTempDir(); // output folders are relative to projectRoot
 * const loaded = loadConfig("configs/quickstart.yaml", [
 *   "data.synthetic_n=96",
 *   "model.dim=8",
 *   "train.epochs=1",
 *   "train.steps_per_epoch=2",
 * ]);
 * const { runDir, result } = await runExperiment(loaded, { projectRoot: root, quiet: true });
 * // <root>/scratch/quickstart/v1 medmamba 0.7368… (result.json's record, as written)
 * console.log(runDir, result?.model.arch, result?.best?.metrics.accuracy);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function runExperiment(
  loaded: LoadedConfig,
  opts: RunOptions = {},
): Promise<RunSummary> {
  const t0 = performance.now();
  const cfg = loaded.config;
  const root = resolve(opts.projectRoot ?? Deno.cwd());
  const log = (s: string) => opts.quiet || console.log(s);
  checkConsistency(loaded);
  checkOutputRoot(cfg, root, opts);
  // Read the commit now: the tree may change while a long run trains.
  const code: CodeVersion = codeVersion(root, outputFolders(cfg));

  seedGlobal(cfg.seed);
  const runtime = await openRuntime(cfg, { quiet: opts.quiet });
  log(`backend ${runtime.backend}, selective-scan kernel ${runtime.scanKernelName}`);
  const ds = await loadData(cfg, loaded.path, opts.quiet);
  const split = makeSplit(cfg, ds, dirname(loaded.path));
  const net = networkForData(cfg, ds);
  const folder = openRunFolder(loaded, root, opts);
  log(`run folder: ${relative(root, folder.runDir) || "."}`);
  writeSplit(folder.runDir, cfg, ds, split);
  const base = baselines(cfg, ds, split);
  log(dataLine(ds, split, base));

  const { result, parameters } = await buildAndTrain(cfg, net, ds, split, folder, opts, t0, log);
  if (!trainedToTheEnd(result, split)) {
    return { runDir: folder.runDir, interrupted: true, result: null };
  }
  const record = await writeRecord({
    loaded,
    root,
    code,
    folder,
    ds,
    split,
    net,
    parameters,
    base,
    result,
    best: result.best,
    last: result.last,
    env: runEnvironment(runtime),
    threads: runtime.nativeThreads,
    // A resumed run counts its earlier sessions too (up to their last saved state).
    wallSeconds: result.earlierWallSeconds + (performance.now() - t0) / 1000,
  }, publishes(cfg, opts));
  return { runDir: folder.runDir, interrupted: false, result: record };
}
