/**
 * A run's record, `result.json`: its one type ({@link RunRecord}), its one writer
 * ({@link writeRunRecord}) and its one reader ({@link readRunRecord}).
 *
 * The file is versioned by {@link RUN_RECORD_SCHEMA}. The reader accepts every file of that
 * schema as published, including those written before a field was added: such a field gets the
 * value a run of that time implied (`model.arch` "medmamba", `resumed_from` null), so no reader
 * of a record has to know the record's history. A field whose absence cannot be defaulted that
 * way needs the next schema version, and the reader then learns to read both. The checker,
 * `deno task verify-results` (lib/results/verify.ts), checks the raw file instead: it must see
 * what is written, not what is implied.
 *
 * Two writers make records: the runner (lib/experiment/run.ts, through
 * lib/results/run_files.ts) for a trained run, and import (lib/experiment/interchange.ts) for a
 * checkpoint trained elsewhere, whose record holds no data, training or metrics.
 * @module
 */
import { join } from "node:path";
import type { ExperimentConfig } from "../config/schema.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { NetworkShape } from "../model/network.ts";
import { MEDMAMBA_ARCH } from "../model/medmamba.ts";
import type { RuntimeEnvironment } from "../backends/runtime.ts";
import type { Environment } from "./provenance.ts";
import { recordRunFolder, shown } from "./manifest.ts";
import { readJsonRecord } from "./write.ts";
import { StarmambaError } from "../util/errors.ts";
import { writeJsonAtomic } from "../util/fs.ts";

/** Version of the result.json layout, its `schema` field. */
export const RUN_RECORD_SCHEMA = "starmamba.result/1";

/** The record's file name in a run folder; its presence marks a finished run. */
export const RUN_RECORD_FILE = "result.json";

/**
 * The experiment config as the run recorded it: every section, each with the keys that existed
 * when the run was made (a key added later is absent; validateConfig fills its default, as
 * loadRun does).
 */
export type RecordedConfig = {
  [S in keyof ExperimentConfig]: ExperimentConfig[S] extends object ? Partial<ExperimentConfig[S]>
    : ExperimentConfig[S];
};

/** One epoch of a run's history (the training's epoch record, as written). */
export interface HistoryRecord {
  /** Epoch number, from 1. */
  epoch: number;
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Mean training loss over the epoch's batches. */
  trainLoss: number;
  /** Fraction of the epoch's training images classified correctly during the steps. */
  trainAcc: number;
  /** Mean cross-entropy on the validation images after the epoch (null: none). */
  valLoss: number | null;
  /** Validation accuracy after the epoch (null: no validation images). */
  valAcc: number | null;
  /** Validation balanced accuracy after the epoch (null: no validation images). */
  valBalancedAcc: number | null;
  /** Training throughput. */
  imagesPerSec: number;
  /** Seconds the epoch took. */
  seconds: number;
}

/** The model of one epoch scored on the validation images. */
export interface EvaluationRecord {
  /** Epoch number, from 1. */
  epoch: number;
  /** Mean cross-entropy on the validation images (null where it was NaN: JSON has no NaN). */
  loss: number | null;
  /** Its metrics (numbers that were NaN, e.g. an undefined ROC-AUC, are null in the file). */
  metrics: Metrics;
}

/** What a trained run's record says about its data. */
export interface DataRecord {
  /** data.source: synthetic, folder or catalog. */
  source: string;
  /** sha256 fingerprint of the images (evaluate checks the data against it). */
  fingerprint: string;
  /** Images loaded. */
  n: number;
  /** [height, width, channels]. */
  image_shape: number[];
  /** Class names in label order. */
  class_names: string[];
  /** Images per class. */
  class_counts: Record<string, number>;
  /** Files skipped under data.on_bad_file: skip. */
  skipped: string[];
  /** Their number. */
  skipped_count: number;
  /** A catalogue source's file, sha256, grouping, stretch and replaced FITS pixels. */
  catalog?: {
    file: string | null;
    sha256: string | undefined;
    group_by: string;
    groups: number;
    stretch: {
      stretch: string;
      percentile: number | null;
      asinh_a: number;
      zscale_contrast: number;
      zscale_samples: number;
    };
    blank_pixels_replaced: { files: number; pixels: number } | undefined;
  };
  /** The split's kind, sizes and class counts; the file lists are in split.json. */
  split: {
    kind: string;
    n_train: number;
    n_val: number;
    train_counts: Record<string, number>;
    val_counts: Record<string, number>;
    file: string;
  };
}

/** The machine and runtime a run (last) ran on. */
export type RunEnvironment = Environment & Partial<RuntimeEnvironment>;

/** The fields every record has, trained or imported. */
export interface RunRecordBase {
  /** {@link RUN_RECORD_SCHEMA}. */
  schema: string;
  /** The experiment's name (config `experiment`; "imported" for an import). */
  experiment: string;
  /** The run folder's version, e.g. "v2". */
  version: string;
  /** Config `description`. */
  description: string;
  /** When the record was written (ISO 8601). */
  created: string;
  /** The resolved config. */
  config: RecordedConfig;
  /** Its hash (lib/config/load.ts configHash). */
  config_hash: string;
  /** The config files, the run's own last, relative to the project root. */
  config_files: string[];
  /** The `--set` overrides, in order. */
  overrides: string[];
  /** Config `seed`. */
  seed: number;
  /** The commit the run was made at, and whether the tree had uncommitted changes. */
  code: { commit: string; dirty: boolean };
  /** The machine and runtime. */
  environment: RunEnvironment;
  /** The network: its registry name, its config and its trainable parameters. */
  model: { arch: string; config: NetworkShape; parameters: number };
  /** sha256 of large files kept out of git (the weight shards), by path in the run folder. */
  artifacts: Record<string, string>;
}

/** The record of a run trained by the runner (lib/experiment/run.ts). */
export interface TrainedRunRecord extends RunRecordBase {
  /** Absent: only an imported checkpoint's record has it. */
  imported?: undefined;
  /** The data, its classes and its split. */
  data: DataRecord;
  /** Majority-class and logistic-regression accuracy on the validation images; null without. */
  baselines: {
    majority_accuracy: number;
    logistic_regression: { accuracy: number; balancedAccuracy: number };
  } | null;
  /** Which epochs `best` and `last` are, in words. */
  protocol: string;
  /** One row per epoch. */
  history: HistoryRecord[];
  /** The epoch whose weights were kept (train.keep); null without validation images. */
  best: EvaluationRecord | null;
  /** The last epoch; null without validation images. */
  last: EvaluationRecord | null;
  /** Where a resumed run picked up (null: not resumed, or written before it was recorded). */
  resumed_from: { epoch: number; step: number } | null;
  /** Wall-clock seconds, every session of a resumed run included. */
  wall_seconds: number;
  /** Seconds spent in training steps. */
  train_seconds: number;
  /** sha256 of every file of the run folder the record summarises, by path. */
  files: Record<string, string>;
}

/** The record of a checkpoint imported from elsewhere (deno task import): no data, no metrics. */
export interface ImportedRunRecord extends RunRecordBase {
  /** The checkpoint file, its sha256 and the metadata it carried. */
  imported: { file: string; sha256: string; metadata: Record<string, string> };
  /** The class names in label order, all an import knows of the data. */
  data: { class_names: string[] };
}

/** result.json: a trained run's record, or an imported checkpoint's. */
export type RunRecord = TrainedRunRecord | ImportedRunRecord;

/** A record before it is written: {@link writeRunRecord} puts the schema first. */
export type NewRunRecord<R extends RunRecord = RunRecord> = Omit<R, "schema">;

/** Options of {@link writeRunRecord}. */
export interface WriteRunRecordOptions {
  /**
   * Where the run folder's files are recorded when no checksum manifest lies above it: a
   * published run's manifest root (lib/results/manifest.ts publishRoot); null (the default) for
   * scratch output, which no manifest covers.
   */
  manifestRoot?: string | null;
}

/**
 * Writes `record` as `<dir>/result.json` (schema first, then the record's fields in its order),
 * atomically, and records the run folder's files in the checksum manifest that covers it, if
 * any. Written last: the file's presence marks a finished run. Returns the record as written.
 */
export function writeRunRecord<R extends RunRecord>(
  dir: string,
  record: NewRunRecord<R>,
  opts: WriteRunRecordOptions = {},
): R {
  const written = { schema: RUN_RECORD_SCHEMA, ...record } as R;
  writeJsonAtomic(join(dir, RUN_RECORD_FILE), written);
  recordRunFolder(dir, opts.manifestRoot ?? null);
  return written;
}

/** The fix every refusal of the reader names. */
const FIX = "restore it with git checkout, or check the folder with deno task verify-results";

/** The first field a record cannot do without that `r` lacks or has of another type, or null. */
function missingField(r: Record<string, unknown>): string | null {
  const isObj = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  const data = r.data as Record<string, unknown> | undefined;
  const checks: [string, boolean][] = [
    ["experiment", typeof r.experiment === "string"],
    ["version", typeof r.version === "string"],
    ["config", isObj(r.config)],
    ["data", isObj(r.data)],
    ["data.class_names", Array.isArray(data?.class_names)],
    ["model", isObj(r.model)],
  ];
  return checks.find(([, ok]) => !ok)?.[0] ?? null;
}

/** `r` with the fields added after schema /1 was first written filled as runs then implied. */
function withDefaults(r: Record<string, unknown>): RunRecord {
  const model = r.model as Record<string, unknown>;
  // model.arch (issue 30): every run before it was MedMamba. Kept first, as runs write it.
  const out: Record<string, unknown> = { ...r, model: { arch: MEDMAMBA_ARCH, ...model } };
  // resumed_from: absent in the first published runs, which were not resumed.
  if (!r.imported && !("resumed_from" in r)) out.resumed_from = null;
  return out as unknown as RunRecord;
}

/**
 * Reads `<dir>/result.json`. A missing, truncated or otherwise unreadable file, one of another
 * schema, or one without the fields every record has is a {@link StarmambaError} naming the
 * file and the fix. Fields added to the schema after a file was written are defaulted (see the
 * module comment). With `"trained"`, an imported checkpoint's record is refused too.
 */
export function readRunRecord(dir: string): RunRecord;
/** As above, refusing an imported checkpoint's record: a trained run's. */
export function readRunRecord(dir: string, want: "trained"): TrainedRunRecord;
export function readRunRecord(dir: string, want?: "trained"): RunRecord {
  const path = join(dir, RUN_RECORD_FILE);
  const r = readJsonRecord(path);
  if (r.schema !== RUN_RECORD_SCHEMA) {
    const newer = typeof r.schema === "string" && r.schema.startsWith("starmamba.result/");
    throw new StarmambaError(
      newer
        ? `${shown(path)}: schema ${r.schema}, written by a newer starmamba than this one ` +
          `(which reads ${RUN_RECORD_SCHEMA}); update starmamba to read it`
        : `${shown(path)}: not a starmamba run record (schema ${JSON.stringify(r.schema)}, ` +
          `expected "${RUN_RECORD_SCHEMA}"); ${FIX}`,
    );
  }
  const missing = missingField(r);
  if (missing) {
    throw new StarmambaError(`${shown(path)}: no valid ${missing}, the file is damaged; ${FIX}`);
  }
  const record = withDefaults(r);
  if (want === "trained" && record.imported) {
    throw new StarmambaError(
      `${shown(path)}: the record of a checkpoint imported from ${record.imported.file}, which ` +
        "has no data, history or metrics; pass a run folder written by deno task experiment",
    );
  }
  return record;
}

/** Whether a record is an imported checkpoint's (no data, training or metrics). */
export function isImported(r: RunRecord): r is ImportedRunRecord {
  return r.imported !== undefined;
}
