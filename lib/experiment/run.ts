/**
 * The experiment runner: resolved config → seeds → backend and scan kernel → data and split →
 * baselines → network → training → a versioned result folder. `deno task experiment` is a thin
 * shell over {@link runExperiment}.
 * @module
 */
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import type { LoadedConfig } from "../config/load.ts";
import {
  type ExperimentConfig,
  type FieldSpec,
  SCHEMA,
  type SectionSpec,
} from "../config/schema.ts";
import { seedGlobal } from "../util/rng.ts";
import { openRuntime } from "../backends/runtime.ts";
import type { Dataset } from "../data/types.ts";
import { loadData } from "../data/pipeline.ts";
import { groupedSplit, kfoldSplits, randomSplit, skyGroupOf, type Split } from "../data/splits.ts";
import { type CatalogDataset, stretchOptions } from "../data/catalog.ts";
import { partitionByTestSet, readTestSet } from "../data/test_set.ts";
import { logisticBaseline, majorityBaseline } from "../data/logistic.ts";
import type { NetworkDescription } from "../model/network.ts";
import { createNetwork, networkEntry, networkFor } from "../model/registry.ts";
import { type Evaluation, train, type TrainResult } from "../train/train.ts";
import { type CodeVersion, codeVersion, environment } from "../results/provenance.ts";
import {
  checksumFiles,
  createVersionDir,
  metricsCsv,
  metricsMarkdown,
  toCsv,
  writeFiles,
  writeIndex,
  writeResultJson,
} from "../results/write.ts";
import { renderRunPlots } from "../results/run_plots.ts";
import { publishRoot, recordRunFolder } from "../results/manifest.ts";
import { StarmambaError } from "../util/errors.ts";
import { checkOutputDir, exists, writeJsonAtomic } from "../util/fs.ts";

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
  /** The result.json content; null if interrupted. */
  result: Record<string, unknown> | null;
}

// The data pipeline (sources, crop, field context) lives in lib/data/pipeline.ts; these are
// re-exported where callers have always found them.
export { type ContextSource, loadData } from "../data/pipeline.ts";

/**
 * What result.json records about a catalogue source: the catalogue's sha256, the grouping, the
 * stretch and the FITS pixels replaced (nothing for other sources, so their results keep their
 * shape).
 */
function catalogRecord(cfg: ExperimentConfig, ds: Dataset): Record<string, unknown> {
  if (cfg.data.source !== "catalog") return {};
  const c = ds as Partial<CatalogDataset>;
  return {
    catalog: {
      file: cfg.data.catalog,
      sha256: c.catalogSha256,
      group_by: cfg.data.group_by,
      groups: new Set(ds.groups ?? []).size,
      stretch: stretchOptions(cfg.data),
      blank_pixels_replaced: c.blank,
    },
  };
}

/**
 * The train/validation split a config asks for. With `data.test_set` (resolved against
 * `configDir`) the locked test images are taken out first: the split is made on the rest.
 */
export function makeSplit(cfg: ExperimentConfig, ds: Dataset, configDir = "."): Split {
  if (!cfg.data.test_set) return splitOf(cfg, ds);
  if (!ds.files) {
    throw new StarmambaError("data.test_set needs images loaded from a folder (file names)");
  }
  const path = isAbsolute(cfg.data.test_set)
    ? cfg.data.test_set
    : join(configDir, cfg.data.test_set);
  const { rest } = partitionByTestSet(ds.files, readTestSet(path), path, ds.groups);
  const sub: Dataset = {
    ...ds,
    n: rest.length,
    labels: Int32Array.from(rest, (i) => ds.labels[i]),
    files: rest.map((i) => ds.files![i]),
    groups: ds.groups && rest.map((i) => ds.groups![i]),
  };
  const s = splitOf(cfg, sub);
  return { train: s.train.map((j) => rest[j]), val: s.val.map((j) => rest[j]) };
}

/** The split of `ds` itself (no test set). Uses labels and files only. */
function splitOf(cfg: ExperimentConfig, ds: Dataset): Split {
  if (cfg.data.kfold > 1) return foldOf(cfg, ds);
  if (cfg.data.split === "all") {
    // A release model: every labelled image trains; nothing is held out to choose an epoch on.
    return { train: [...Array(ds.n).keys()], val: [] };
  }
  if (cfg.data.split === "grouped") {
    const g = groupNames(cfg, ds);
    return groupedSplit(ds.labels, g.names, cfg.data.val_fraction, cfg.seed, g.key);
  }
  return randomSplit(ds.labels, cfg.data.val_fraction, cfg.seed);
}

/**
 * What a grouped split or fold groups by: the dataset's own group keys (a catalogue's
 * `data.group_by`, or frames) as they are, else the sky groups of ARIES-style file names.
 */
function groupNames(
  cfg: ExperimentConfig,
  ds: Dataset,
): { names: string[]; key: ((name: string) => string) | undefined } {
  if (ds.groups) return { names: ds.groups, key: (g: string) => g };
  if (!ds.files || cfg.data.source === "synthetic") {
    throw new StarmambaError(
      "data.split: grouped needs real cutouts with sky positions in their file names; " +
        "the synthetic sky has none — use data.split: random",
    );
  }
  return { names: ds.files, key: undefined };
}

/** Fold data.fold of data.kfold-fold cross-validation (grouped by sky with data.split: grouped). */
function foldOf(cfg: ExperimentConfig, ds: Dataset): Split {
  const { kfold: k, fold, split } = cfg.data;
  if (fold === null || fold >= k) {
    throw new StarmambaError(
      `data.kfold is ${k}: set data.fold to the held-out fold, 0 to ${k - 1} ` +
        "(one run per fold; their summary gives mean ± std over folds)",
    );
  }
  if (split === "all") {
    throw new StarmambaError("data.kfold needs data.split random or grouped, not all");
  }
  const grouped = split === "grouped";
  if (!grouped) return kfoldSplits(ds.labels, ds.files ?? null, k, cfg.seed, false)[fold];
  const g = groupNames(cfg, ds);
  return kfoldSplits(ds.labels, g.names, k, cfg.seed, true, g.key)[fold];
}

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

function classCounts(ds: Dataset, idx: number[]): Record<string, number> {
  const c: Record<string, number> = Object.fromEntries(ds.classNames.map((n) => [n, 0]));
  for (const i of idx) c[ds.classNames[ds.labels[i]]]++;
  return c;
}

/** The weight shards model/model.json points to, relative to the run folder. */
function modelShards(runDir: string): string[] {
  const meta = JSON.parse(Deno.readTextFileSync(join(runDir, "model", "model.json")));
  return meta.weightsManifest.flatMap((g: { paths: string[] }) => g.paths.map((p) => `model/${p}`));
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

/**
 * Checks, before the data loads, that the run's folder can be written: the output root of a new
 * run (output.dir when published, else output.scratch_dir), or the run folder being resumed.
 */
function checkOutputRoot(cfg: ExperimentConfig, root: string, opts: RunOptions): void {
  if (opts.resumeDir) return checkOutputDir(opts.resumeDir, "--resume");
  const publish = opts.publish ?? cfg.output.publish;
  const dir = resolve(root, publish ? cfg.output.dir : cfg.output.scratch_dir);
  checkOutputDir(dir, publish ? "output.dir" : "output.scratch_dir");
}

/**
 * The run folder `path` lies in when that run can be resumed (run.json there, no result.json
 * yet); null otherwise. A CLI uses it to say how to continue after a full disk.
 */
export function resumableRunOf(path: string): string | null {
  for (let d = dirname(resolve(path)); d !== dirname(d); d = dirname(d)) {
    if (exists(join(d, "run.json"))) return exists(join(d, "result.json")) ? null : d;
  }
  return null;
}

/** A run folder: a new version under `outRoot`, or the interrupted run being resumed. */
interface RunFolder {
  runDir: string;
  version: string;
  outRoot: string;
}

/** Opens the run folder (writing run.json for a new one; checking the config of a resumed one). */
function openRunFolder(
  loaded: LoadedConfig,
  root: string,
  opts: RunOptions,
): RunFolder {
  const cfg = loaded.config;
  const publish = opts.publish ?? cfg.output.publish;
  const outRoot = resolve(root, publish ? cfg.output.dir : cfg.output.scratch_dir);
  if (!opts.resumeDir) {
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
  const runDir = resolve(opts.resumeDir);
  const runJson = join(runDir, "run.json");
  if (!exists(runJson)) {
    throw new StarmambaError(
      `--resume ${opts.resumeDir}: no run.json there; pass the folder printed when the run started`,
    );
  }
  const saved = JSON.parse(Deno.readTextFileSync(runJson));
  if (saved.config_hash !== loaded.hash) {
    throw new StarmambaError(
      `--resume ${opts.resumeDir}: that run used a different config (hash ${
        String(saved.config_hash).slice(0, 12)
      } ≠ ` +
        `${loaded.hash.slice(0, 12)}); pass the same config file and --set overrides`,
    );
  }
  if (exists(join(runDir, "result.json"))) {
    throw new StarmambaError(
      `--resume ${opts.resumeDir}: that run already finished (result.json exists)`,
    );
  }
  return { runDir, version: saved.version, outRoot };
}

/** split.json: the exact file lists of both sides. */
function writeSplit(runDir: string, cfg: ExperimentConfig, ds: Dataset, split: Split): void {
  writeJsonAtomic(join(runDir, "split.json"), {
    kind: cfg.data.split,
    seed: cfg.seed,
    val_fraction: cfg.data.val_fraction,
    // Cross-validation folds say which; the keys are absent otherwise (older files stay as they were).
    ...(cfg.data.kfold > 1 ? { kfold: cfg.data.kfold, fold: cfg.data.fold } : {}),
    ...(cfg.data.test_set ? { test_set: cfg.data.test_set } : {}),
    train: split.train.map((i) => ds.files?.[i] ?? i),
    val: split.val.map((i) => ds.files?.[i] ?? i),
  });
}

/** Accuracy of always answering the majority class, and of logistic regression on pixels. */
interface Baselines {
  majority: number;
  logistic: ReturnType<typeof logisticBaseline>;
}

function baselines(cfg: ExperimentConfig, ds: Dataset, split: Split): Baselines {
  return {
    majority: majorityBaseline(ds.labels, split.train, split.val),
    logistic: logisticBaseline(ds, split.train, ds, split.val, { seed: cfg.seed }),
  };
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
      config: cfg,
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

/** Everything a finished run's files are written from. */
interface FinishedRun {
  loaded: LoadedConfig;
  root: string;
  code: CodeVersion;
  folder: RunFolder;
  ds: Dataset;
  split: Split;
  /** The network trained: model.arch and its config. */
  net: NetworkDescription;
  parameters: number;
  /** Null for data.split: all (no validation images). */
  base: Baselines | null;
  result: TrainResult;
  /** Null for data.split: all. */
  best: Evaluation | null;
  /** Null for data.split: all. */
  last: Evaluation | null;
  env: Record<string, unknown> & { cpu: string; cores: number; backend: string };
  threads: number | null;
  wallSeconds: number;
}

/** The run's Markdown header lines: code, machine, config, split, baselines, plots. */
function metricsPreamble(r: FinishedRun): string {
  const { code, env, threads, result, loaded, split, ds, base } = r;
  const cfg = loaded.config;
  return [
    `Code \`${code.commit.slice(0, 10)}\`${code.dirty ? " (with uncommitted changes)" : ""}; ` +
    `wall time ${r.wallSeconds.toFixed(0)} s (training ${result.trainSeconds.toFixed(0)} s) on ` +
    `${env.cpu} (${env.cores} cores${threads ? `, ${threads} native threads` : ""}), ` +
    `backend ${env.backend}, scan kernel ${env.scan_kernel}.`,
    `Config hash \`${loaded.hash.slice(0, 16)}\`, seed ${cfg.seed}, ${cfg.data.split} split ` +
    `(${split.train.length} train / ${split.val.length} val), data fingerprint \`${
      String(ds.fingerprint).slice(0, 16)
    }\`.`,
    base
      ? `Baselines on the same validation images: majority class ${
        (100 * base.majority).toFixed(2)
      }%, logistic regression on pixels ${(100 * base.logistic.accuracy).toFixed(2)}%.`
      : "No validation images (data.split: all).",
    "",
    base
      ? "Plots: [training curves](curves.svg), [ROC](roc.svg), [PR](pr.svg), " +
        "[confusion matrix](confusion.svg), [reliability](reliability.svg)."
      : "",
  ].join("\n");
}

/** metrics.md|csv, history.csv, predictions.csv and the plots; returns every file's checksum. */
async function writeRunFiles(r: FinishedRun): Promise<Record<string, string>> {
  const { ds, split, best, last, result, folder } = r;
  const cfg = r.loaded.config;
  const historyCsv = toCsv([
    [
      "epoch",
      "lr",
      "train_loss",
      "train_acc",
      "val_loss",
      "val_acc",
      "val_balanced_acc",
      "images_per_sec",
      "seconds",
    ],
    ...result.history.map((
      h,
    ) => [
      h.epoch,
      h.lr,
      h.trainLoss,
      h.trainAcc,
      h.valLoss,
      h.valAcc,
      h.valBalancedAcc,
      h.imagesPerSec,
      h.seconds,
    ]),
  ]);
  const checksums = () =>
    checksumFiles(folder.runDir, ["split.json", "run.json", "model/model.json"]);
  if (!best || !last) {
    // data.split: all — nothing to score: the history and a note on what the model is.
    return {
      ...(await writeFiles(folder.runDir, {
        "metrics.md": releaseMarkdown(`${cfg.experiment} ${folder.version}`, metricsPreamble(r)),
        "history.csv": historyCsv,
      })),
      ...(await checksums()),
    };
  }
  const ownGroups = ds.groups?.some((g, i) => g !== skyGroupOf(ds.files?.[i] ?? ""))
    ? ds.groups
    : undefined;
  const plots = await renderRunPlots(
    result.history,
    split.val.map((i) => ds.labels[i]),
    best.probs,
    ds.classNames,
    best.metrics.confusion,
  );
  return {
    ...(await writeFiles(folder.runDir, {
      "metrics.md": metricsMarkdown(
        `${cfg.experiment} ${folder.version}`,
        best,
        last,
        metricsPreamble(r),
      ),
      "metrics.csv": metricsCsv(best.metrics, last.metrics),
      "history.csv": historyCsv,
      // A `group` column only where the data's own groups (a catalogue's data.group_by) are not
      // the sky groups of the file names, which cv.md's cluster bootstrap falls back to: ARIES
      // runs, from a folder or from its catalogue, keep the columns they always had.
      "predictions.csv": toCsv([
        [
          "index",
          "file",
          "label",
          ...ds.classNames.map((c) => `p_${c}`),
          ...(ownGroups ? ["group"] : []),
        ],
        ...split.val.map((
          i,
          j,
        ) => [
          i,
          ds.files?.[i] ?? "",
          ds.classNames[ds.labels[i]],
          ...best.probs.slice(j * ds.classNames.length, (j + 1) * ds.classNames.length),
          ...(ownGroups ? [ownGroups[i]] : []),
        ]),
      ]),
      ...plots,
    })),
    ...(await checksums()),
  };
}

/** metrics.md of a model trained on every labelled image: what it is and how to judge it. */
function releaseMarkdown(title: string, preamble: string): string {
  return [
    `# ${title}`,
    "",
    preamble,
    "",
    "Trained on every labelled image with the recipe's fixed schedule; no image was held out,",
    "so nothing here was chosen on validation and there is no accuracy to report. The model is",
    "the weights after the last epoch (the moving average when train.ema_decay is set). Its",
    "expected accuracy is that of the same recipe on the grouped split (new sky fields), from",
    "the published runs.",
    "",
  ].join("\n");
}

/** result.json's content (its schema: lib/results/verify.ts). */
function resultRecord(
  r: FinishedRun,
  files: Record<string, string>,
  artifacts: Record<string, string>,
): Record<string, unknown> {
  const { loaded, ds, split, result, best, last, base } = r;
  const cfg = loaded.config;
  return {
    experiment: cfg.experiment,
    version: r.folder.version,
    description: cfg.description,
    created: new Date().toISOString(),
    config: cfg,
    config_hash: loaded.hash,
    config_files: loaded.files.map((f) => relative(r.root, f)),
    overrides: loaded.overrides,
    seed: cfg.seed,
    code: r.code,
    data: {
      source: cfg.data.source,
      fingerprint: ds.fingerprint,
      n: ds.n,
      image_shape: [ds.height, ds.width, ds.channels],
      class_names: ds.classNames,
      class_counts: classCounts(ds, [...Array(ds.n).keys()]),
      skipped: ds.skipped ?? [],
      skipped_count: ds.skipped?.length ?? 0,
      ...catalogRecord(cfg, ds),
      split: {
        kind: cfg.data.split,
        n_train: split.train.length,
        n_val: split.val.length,
        train_counts: classCounts(ds, split.train),
        val_counts: classCounts(ds, split.val),
        file: "split.json",
      },
    },
    environment: r.env,
    model: { arch: r.net.arch, config: r.net.config, parameters: r.parameters },
    baselines: base
      ? { majority_accuracy: base.majority, logistic_regression: base.logistic }
      : null,
    protocol: best
      ? "best = epoch with the highest validation accuracy (the reference study's protocol; " +
        "optimistic because it selects on validation); last = final epoch"
      : "release: trained on every labelled image (data.split all), no validation; the model " +
        "is the last epoch's weights (EMA if train.ema_decay); best and last are null",
    history: result.history,
    best: best ? { epoch: best.epoch, loss: best.loss, metrics: best.metrics } : null,
    last: last ? { epoch: last.epoch, loss: last.loss, metrics: last.metrics } : null,
    resumed_from: result.resumedFrom,
    wall_seconds: r.wallSeconds,
    train_seconds: result.trainSeconds,
    files,
    artifacts,
  };
}

/**
 * Runs one experiment end to end (see the module comment): check the config, set up the backend
 * and scan kernel, load the data and split it, open the run folder, train, write the result.
 */
export async function runExperiment(
  loaded: LoadedConfig,
  opts: RunOptions = {},
): Promise<RunSummary> {
  const t0 = performance.now();
  const cfg = loaded.config;
  checkConsistency(loaded);
  checkOutputRoot(cfg, resolve(opts.projectRoot ?? Deno.cwd()), opts);
  const root = resolve(opts.projectRoot ?? Deno.cwd());
  // Read the commit now: the tree may change while a long run trains.
  const code = codeVersion(root, outputFolders(cfg));
  const log = (s: string) => opts.quiet || console.log(s);

  seedGlobal(cfg.seed);
  const runtime = await openRuntime(cfg, { quiet: opts.quiet });
  log(`backend ${runtime.backend}, selective-scan kernel ${runtime.scanKernelName}`);

  const ds = await loadData(cfg, loaded.path, opts.quiet);
  const split = makeSplit(cfg, ds, dirname(loaded.path));
  const net = networkForData(cfg, ds);
  const folder = openRunFolder(loaded, root, opts);
  log(`run folder: ${relative(root, folder.runDir) || "."}`);
  writeSplit(folder.runDir, cfg, ds, split);
  const base = split.val.length ? baselines(cfg, ds, split) : null;
  log(
    `data: ${ds.n} images ${ds.height}×${ds.width}×${ds.channels}, train ${split.train.length}, ` +
      (base
        ? `val ${split.val.length}; baselines on val: majority ${
          (100 * base.majority).toFixed(2)
        }%, logistic regression on pixels ${(100 * base.logistic.accuracy).toFixed(2)}%`
        : "no validation images (data.split: all): the last epoch's weights are the model"),
  );

  const { result, parameters } = await buildAndTrain(cfg, net, ds, split, folder, opts, t0, log);
  const release = split.val.length === 0;
  if (result.interrupted || (!release && (!result.best || !result.last))) {
    return { runDir: folder.runDir, interrupted: true, result: null };
  }

  const finished: FinishedRun = {
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
    env: { ...environment(), ...runtime.environment() },
    threads: runtime.nativeThreads,
    // A resumed run counts its earlier sessions too (up to their last saved state).
    wallSeconds: result.earlierWallSeconds + (performance.now() - t0) / 1000,
  };
  const files = await writeRunFiles(finished);
  // Weight shards are large: checksummed here but kept out of git (see .gitignore); a rerun of
  // the config and seed at the recorded commit rebuilds them bit for bit.
  const artifacts = await checksumFiles(folder.runDir, modelShards(folder.runDir));
  const resultJson = resultRecord(finished, files, artifacts);
  writeResultJson(folder.runDir, resultJson);
  // The resumable state is only needed until the run is complete.
  Deno.removeSync(join(folder.runDir, "state"), { recursive: true });
  // A published run's files go into its folder's checksum manifest (results/SHA256SUMS).
  const published = opts.publish ?? cfg.output.publish;
  recordRunFolder(folder.runDir, published ? publishRoot(root, folder.outRoot) : null);
  writeIndex(folder.outRoot);
  return { runDir: folder.runDir, interrupted: false, result: resultJson };
}
