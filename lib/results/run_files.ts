/**
 * The files of a finished run, written from what the runner (lib/experiment/run.ts) produced:
 * split.json, metrics.md, metrics.csv, history.csv, predictions.csv and the plots, each with its
 * sha256; and the run's record (result.json's content, {@link runRecordOf}) with those sums.
 * @module
 */
import { join, relative } from "node:path";
import type { LoadedConfig } from "../config/load.ts";
import type { ExperimentConfig } from "../config/schema.ts";
import type { Dataset } from "../data/types.ts";
import { skyGroupOf, type Split } from "../data/splits.ts";
import { type CatalogDataset, stretchOptions } from "../data/catalog.ts";
import type { BaselineScores } from "../data/logistic.ts";
import type { NetworkDescription } from "../model/network.ts";
import type { RuntimeEnvironment } from "../backends/runtime.ts";
import type { Evaluation, TrainResult } from "../train/train.ts";
import type { CodeVersion, Environment } from "./provenance.ts";
import type { DataRecord, NewRunRecord, TrainedRunRecord } from "./run_record.ts";
import type { RunFolder } from "./run_folder.ts";
import { checksumFiles, metricsCsv, metricsMarkdown, toCsv, writeFiles } from "./write.ts";
import { renderRunPlots } from "./run_plots.ts";
import { writeJsonAtomic } from "../util/fs.ts";

/** Accuracy of always answering the majority class, and of logistic regression on pixels. */
export interface Baselines {
  majority: number;
  logistic: BaselineScores;
}

/** Everything a finished run's files and record are written from. */
export interface FinishedRun {
  loaded: LoadedConfig;
  /** The project root: config files are recorded relative to it. */
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
  result: Pick<TrainResult, "history" | "trainSeconds" | "resumedFrom">;
  /** Null for data.split: all. */
  best: Evaluation | null;
  /** Null for data.split: all. */
  last: Evaluation | null;
  env: Environment & RuntimeEnvironment;
  threads: number | null;
  wallSeconds: number;
}

/** split.json: the exact file lists of both sides. */
export function writeSplit(runDir: string, cfg: ExperimentConfig, ds: Dataset, split: Split): void {
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

/** history.csv: one row per epoch. */
function historyCsv(history: FinishedRun["result"]["history"]): string {
  return toCsv([
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
    ...history.map((h) => [
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
}

/**
 * predictions.csv: the best epoch's probabilities of every validation image. A `group` column
 * only where the data's own groups (a catalogue's data.group_by) are not the sky groups of the
 * file names, which cv.md's cluster bootstrap falls back to: ARIES runs, from a folder or from
 * its catalogue, keep the columns they always had.
 */
function predictionsCsv(ds: Dataset, split: Split, best: Evaluation): string {
  const ownGroups = ds.groups?.some((g, i) => g !== skyGroupOf(ds.files?.[i] ?? ""))
    ? ds.groups
    : undefined;
  const k = ds.classNames.length;
  return toCsv([
    [
      "index",
      "file",
      "label",
      ...ds.classNames.map((c) => `p_${c}`),
      ...(ownGroups ? ["group"] : []),
    ],
    ...split.val.map((i, j) => [
      i,
      ds.files?.[i] ?? "",
      ds.classNames[ds.labels[i]],
      ...best.probs.slice(j * k, (j + 1) * k),
      ...(ownGroups ? [ownGroups[i]] : []),
    ]),
  ]);
}

/** metrics.md|csv, history.csv, predictions.csv and the plots; returns every file's checksum. */
export async function writeRunFiles(r: FinishedRun): Promise<Record<string, string>> {
  const { ds, split, best, last, result, folder } = r;
  const title = `${r.loaded.config.experiment} ${folder.version}`;
  const checksums = () =>
    checksumFiles(folder.runDir, ["split.json", "run.json", "model/model.json"]);
  if (!best || !last) {
    // data.split: all — nothing to score: the history and a note on what the model is.
    return {
      ...(await writeFiles(folder.runDir, {
        "metrics.md": releaseMarkdown(title, metricsPreamble(r)),
        "history.csv": historyCsv(result.history),
      })),
      ...(await checksums()),
    };
  }
  const plots = await renderRunPlots(
    result.history,
    split.val.map((i) => ds.labels[i]),
    best.probs,
    ds.classNames,
    best.metrics.confusion,
  );
  return {
    ...(await writeFiles(folder.runDir, {
      "metrics.md": metricsMarkdown(title, best, last, metricsPreamble(r)),
      "metrics.csv": metricsCsv(best.metrics, last.metrics),
      "history.csv": historyCsv(result.history),
      "predictions.csv": predictionsCsv(ds, split, best),
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

/** The weight shards model/model.json points to, relative to the run folder. */
export function modelShards(runDir: string): string[] {
  const meta = JSON.parse(Deno.readTextFileSync(join(runDir, "model", "model.json")));
  return meta.weightsManifest.flatMap((g: { paths: string[] }) => g.paths.map((p) => `model/${p}`));
}

function classCounts(ds: Dataset, idx: number[]): Record<string, number> {
  const c: Record<string, number> = Object.fromEntries(ds.classNames.map((n) => [n, 0]));
  for (const i of idx) c[ds.classNames[ds.labels[i]]]++;
  return c;
}

/**
 * What the record says about a catalogue source: the catalogue's sha256, the grouping, the
 * stretch and the FITS pixels replaced (nothing for other sources, so their records keep their
 * shape).
 */
function catalogRecord(cfg: ExperimentConfig, ds: Dataset): Pick<DataRecord, "catalog"> {
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

/** The record's `data`: source, fingerprint, classes, the split's sizes and counts. */
function dataRecord(cfg: ExperimentConfig, ds: Dataset, split: Split): DataRecord {
  return {
    source: cfg.data.source,
    fingerprint: ds.fingerprint!,
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
  };
}

/**
 * The record of a finished run (written by writeRunRecord, lib/results/run_record.ts), with the
 * checksums of its files and of its weight shards (`artifacts`). The order of the fields here is
 * the order in result.json.
 */
export function runRecordOf(
  r: FinishedRun,
  files: Record<string, string>,
  artifacts: Record<string, string>,
): NewRunRecord<TrainedRunRecord> {
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
    data: dataRecord(cfg, ds, split),
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
