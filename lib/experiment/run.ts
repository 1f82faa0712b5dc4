/**
 * The experiment runner: resolved config → seeds → backend and scan kernel → data and split →
 * baselines → network → training → a versioned result folder. `deno task experiment` is a thin
 * shell over {@link runExperiment}.
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
import { setupBackend } from "../backends/setup.ts";
import { selectScanKernel } from "../backends/select.ts";
import { nativeDefaultThreads } from "../backends/wasm/native.ts";
import type { Dataset } from "../data/types.ts";
import { generateSynthetic } from "../data/synthetic.ts";
import { loadImageFolder, resolveDataRoot } from "../data/imagefolder.ts";
import { centerCrop } from "../data/crop.ts";
import { withFieldContext } from "../data/context.ts";
import { groupedSplit, randomSplit, type Split } from "../data/splits.ts";
import { logisticBaseline, majorityBaseline } from "../data/logistic.ts";
import { type ModelConfig, modelConfig } from "../model/config.ts";
import { buildMedMamba } from "../model/medmamba.ts";
import { train, type TrainResult } from "../train/train.ts";
import { codeVersion, environment } from "../results/provenance.ts";
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
import { StarmambaError } from "../util/errors.ts";
import { exists, writeJsonAtomic } from "../util/fs.ts";

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

/**
 * Loads the data a config names, centre-cropped if `data.center_crop` says so and with its
 * frame's context channels if `data.field_context` does.
 */
export async function loadData(
  cfg: ExperimentConfig,
  configPath: string,
  quiet = false,
): Promise<Dataset> {
  const full = await loadFullImages(cfg, configPath, quiet);
  const crop = cfg.data.center_crop;
  const ds = crop === null ? full : centerCrop(full, crop);
  if (!cfg.data.field_context) return ds;
  const ctx = withFieldContext(ds);
  if (!quiet) {
    console.log(
      `field context: ${ctx.frames} frames, the smallest with ${ctx.smallestFrame} cutouts`,
    );
  }
  return ctx.dataset;
}

async function loadFullImages(
  cfg: ExperimentConfig,
  configPath: string,
  quiet: boolean,
): Promise<Dataset> {
  const d = cfg.data;
  if (d.source === "synthetic") {
    return generateSynthetic({
      n: d.synthetic_n,
      size: d.size,
      channels: d.channels,
      galaxyFraction: d.galaxy_fraction,
      seed: d.synthetic_seed,
    });
  }
  const root = resolveDataRoot(d.root ?? undefined, dirname(configPath));
  let lastPct = -1;
  return await loadImageFolder({
    root,
    size: d.size,
    channels: d.channels,
    resize: d.resize,
    onBadFile: d.on_bad_file,
    progress: quiet ? undefined : (done, total) => {
      const pct = Math.floor((100 * done) / total);
      if (pct >= lastPct + 25 || done === total) {
        lastPct = pct;
        console.log(`decoding images: ${done}/${total}`);
      }
    },
  });
}

/** The train/validation split a config asks for. */
export function makeSplit(cfg: ExperimentConfig, ds: Dataset): Split {
  if (cfg.data.split === "grouped") {
    if (!ds.files || cfg.data.source === "synthetic") {
      throw new StarmambaError(
        "data.split: grouped needs real cutouts with sky positions in their file names; " +
          "the synthetic sky has none — use data.split: random",
      );
    }
    return groupedSplit(ds.labels, ds.files, cfg.data.val_fraction, cfg.seed);
  }
  return randomSplit(ds.labels, cfg.data.val_fraction, cfg.seed);
}

/** The network config implied by an experiment config and its data. */
export function modelConfigFor(cfg: ExperimentConfig, ds: Dataset): ModelConfig {
  const m = cfg.model;
  const over: Partial<ModelConfig> = {
    patch_size: m.patch_size,
    d_state: m.d_state,
    directions: m.directions,
    drop_path_rate: m.drop_path_rate,
    conv_branch: m.conv_branch,
    ssm_branch: m.ssm_branch,
    conv_pre_bn: m.conv_pre_bn,
    ssm_residual: m.ssm_residual,
    head_norm: m.head_norm,
    in_channels: ds.channels,
    num_classes: ds.classNames.length,
    image_size: ds.height,
  };
  if (m.dim !== null) over.dim = m.dim;
  if (m.depths !== null) over.depths = m.depths;
  return modelConfig(m.preset, over);
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

/** Runs one experiment end to end; see the module comment. */
export async function runExperiment(
  loaded: LoadedConfig,
  opts: RunOptions = {},
): Promise<RunSummary> {
  const t0 = performance.now();
  const cfg = loaded.config;
  if (cfg.data.field_context && cfg.augment.enabled && cfg.augment.grayscale_p > 0) {
    throw new StarmambaError(
      `${loaded.path}: data.field_context puts the frame's template in channels 1 and 2, and ` +
        `augment.grayscale_p = ${cfg.augment.grayscale_p} would mix it into the cutout; ` +
        "set augment.grayscale_p: 0",
    );
  }
  const root = resolve(opts.projectRoot ?? Deno.cwd());
  // Read the commit now: the tree may change while a long run trains.
  const code = codeVersion(root, outputFolders(cfg));
  const log = (s: string) => opts.quiet || console.log(s);

  seedGlobal(cfg.seed);
  const backend = await setupBackend(cfg.backend);
  const kernel = selectScanKernel(cfg.model.scan_kernel, {
    quiet: opts.quiet,
    threads: cfg.train.threads,
  });
  log(`backend ${backend}, selective-scan kernel ${kernel.name}`);

  const ds = await loadData(cfg, loaded.path, opts.quiet);
  const split = makeSplit(cfg, ds);
  const mcfg = modelConfigFor(cfg, ds);

  // Run folder: a new version, or the one being resumed (whose config must match).
  let runDir: string, version: string;
  const publish = opts.publish ?? cfg.output.publish;
  const outRoot = resolve(root, publish ? cfg.output.dir : cfg.output.scratch_dir);
  if (opts.resumeDir) {
    runDir = resolve(opts.resumeDir);
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
    version = saved.version;
  } else {
    ({ dir: runDir, version } = createVersionDir(outRoot, cfg.experiment));
    writeJsonAtomic(join(runDir, "run.json"), {
      experiment: cfg.experiment,
      version,
      config: cfg,
      config_hash: loaded.hash,
      config_files: loaded.files.map((f) => relative(root, f)),
      overrides: loaded.overrides,
      started: new Date().toISOString(),
    });
  }
  log(`run folder: ${relative(root, runDir) || "."}`);
  writeJsonAtomic(join(runDir, "split.json"), {
    kind: cfg.data.split,
    seed: cfg.seed,
    val_fraction: cfg.data.val_fraction,
    train: split.train.map((i) => ds.files?.[i] ?? i),
    val: split.val.map((i) => ds.files?.[i] ?? i),
  });

  const majority = majorityBaseline(ds.labels, split.train, split.val);
  const logistic = logisticBaseline(ds, split.train, ds, split.val, { seed: cfg.seed });
  log(
    `data: ${ds.n} images ${ds.height}×${ds.width}×${ds.channels}, train ${split.train.length}, ` +
      `val ${split.val.length}; baselines on val: majority ${(100 * majority).toFixed(2)}%, ` +
      `logistic regression on pixels ${(100 * logistic.accuracy).toFixed(2)}%`,
  );

  const model = buildMedMamba(mcfg, cfg.seed);
  const nParams = model.params.countTrainable();
  log(`model: MedMamba preset ${mcfg.preset}, ${nParams.toLocaleString("en-US")} parameters`);

  let result: TrainResult;
  try {
    result = await train({
      model,
      data: ds,
      trainIdx: split.train,
      valIdx: split.val,
      config: cfg,
      runDir,
      resume: Boolean(opts.resumeDir),
      shouldStop: opts.shouldStop,
      quiet: opts.quiet,
      sessionStart: t0,
    });
  } finally {
    model.params.dispose();
  }
  if (result.interrupted || !result.best || !result.last) {
    return { runDir, interrupted: true, result: null };
  }

  const best = result.best, last = result.last;
  const valLabels = split.val.map((i) => ds.labels[i]);
  const title = `${cfg.experiment} ${version}`;
  // Threads change the wall time, never the numbers (the native kernels are bitwise the same).
  const threads = kernel.name === "native" ? cfg.train.threads || nativeDefaultThreads() : null;
  const env = { ...environment(), scan_kernel: kernel.name, native_threads: threads };
  // A resumed run counts its earlier sessions too (up to their last saved state).
  const wallSeconds = result.earlierWallSeconds + (performance.now() - t0) / 1000;
  const extra = [
    `Code \`${code.commit.slice(0, 10)}\`${code.dirty ? " (with uncommitted changes)" : ""}; ` +
    `wall time ${wallSeconds.toFixed(0)} s (training ${result.trainSeconds.toFixed(0)} s) on ` +
    `${env.cpu} (${env.cores} cores${threads ? `, ${threads} native threads` : ""}), ` +
    `backend ${env.backend}, scan kernel ${env.scan_kernel}.`,
    `Config hash \`${loaded.hash.slice(0, 16)}\`, seed ${cfg.seed}, ${cfg.data.split} split ` +
    `(${split.train.length} train / ${split.val.length} val), data fingerprint \`${
      String(ds.fingerprint).slice(0, 16)
    }\`.`,
    `Baselines on the same validation images: majority class ${(100 * majority).toFixed(2)}%, ` +
    `logistic regression on pixels ${(100 * logistic.accuracy).toFixed(2)}%.`,
    "",
    "Plots: [training curves](curves.svg), [ROC](roc.svg), [PR](pr.svg), " +
    "[confusion matrix](confusion.svg), [reliability](reliability.svg).",
  ].join("\n");
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
  const plots = await renderRunPlots(
    result.history,
    valLabels,
    best.probs,
    ds.classNames,
    best.metrics.confusion,
  );
  const sums = {
    ...(await writeFiles(runDir, {
      "metrics.md": metricsMarkdown(title, best, last, extra),
      "metrics.csv": metricsCsv(best.metrics, last.metrics),
      "history.csv": historyCsv,
      "predictions.csv": toCsv([
        ["index", "file", "label", ...ds.classNames.map((c) => `p_${c}`)],
        ...split.val.map((
          i,
          j,
        ) => [
          i,
          ds.files?.[i] ?? "",
          ds.classNames[ds.labels[i]],
          ...best.probs.slice(j * ds.classNames.length, (j + 1) * ds.classNames.length),
        ]),
      ]),
      ...plots,
    })),
    ...(await checksumFiles(runDir, [
      "split.json",
      "run.json",
      "model/model.json",
    ])),
  };
  // Weight shards are large: checksummed here but kept out of git (see .gitignore); a rerun of
  // the config and seed at the recorded commit rebuilds them bit for bit.
  const artifacts = await checksumFiles(runDir, modelShards(runDir));
  const resultJson: Record<string, unknown> = {
    experiment: cfg.experiment,
    version,
    description: cfg.description,
    created: new Date().toISOString(),
    config: cfg,
    config_hash: loaded.hash,
    config_files: loaded.files.map((f) => relative(root, f)),
    overrides: loaded.overrides,
    seed: cfg.seed,
    code,
    data: {
      source: cfg.data.source,
      fingerprint: ds.fingerprint,
      n: ds.n,
      image_shape: [ds.height, ds.width, ds.channels],
      class_names: ds.classNames,
      class_counts: classCounts(ds, [...Array(ds.n).keys()]),
      skipped: ds.skipped ?? [],
      skipped_count: ds.skipped?.length ?? 0,
      split: {
        kind: cfg.data.split,
        n_train: split.train.length,
        n_val: split.val.length,
        train_counts: classCounts(ds, split.train),
        val_counts: classCounts(ds, split.val),
        file: "split.json",
      },
    },
    environment: env,
    model: { config: mcfg, parameters: nParams },
    baselines: { majority_accuracy: majority, logistic_regression: logistic },
    protocol:
      "best = epoch with the highest validation accuracy (the reference study's protocol; " +
      "optimistic because it selects on validation); last = final epoch",
    history: result.history,
    best: { epoch: best.epoch, loss: best.loss, metrics: best.metrics },
    last: { epoch: last.epoch, loss: last.loss, metrics: last.metrics },
    resumed_from: result.resumedFrom,
    wall_seconds: wallSeconds,
    train_seconds: result.trainSeconds,
    files: sums,
    artifacts,
  };
  writeResultJson(runDir, resultJson);
  // The resumable state is only needed until the run is complete.
  Deno.removeSync(join(runDir, "state"), { recursive: true });
  writeIndex(outRoot);
  return { runDir, interrupted: false, result: resultJson };
}
