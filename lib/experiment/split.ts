/**
 * The train/validation split of a run: random, grouped by sky field (or by the data's own
 * groups), one fold of a k-fold cross-validation, or every image (a release model), with a locked
 * test set taken out first.
 * @module
 */
import { isAbsolute, join } from "node:path";
import type { ExperimentConfig } from "../config/schema.ts";
import type { Dataset } from "../data/types.ts";
import { groupedSplit, kfoldSplits, randomSplit, type Split } from "../data/splits.ts";
import { partitionByTestSet, readTestSet } from "../data/test_set.ts";
import { StarmambaError } from "../util/errors.ts";

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
