/**
 * `deno task predict --model <run dir> [--context frame|single] <files or folders…>
 * [--out file.csv]` — classifies images with a trained run's best model and writes
 * `file,p_<positive class>,predicted`.
 *
 * Images go through the run's data pipeline (lib/data/pipeline.ts), the same functions as its
 * validation images: decoded to [0, 1] and display-stretched as its source did, centre-cropped,
 * given field context, normalised with the run's augment.normalize_mean/std, and fed to the
 * network rebuilt from model/model.json with the run's backend and selective-scan kernel.
 * @module
 */
import sharp from "sharp";
import { extname, join, resolve } from "node:path";
import type { DataSection, ExperimentConfig } from "../config/schema.ts";
import { validateConfig } from "../config/load.ts";
import type { FieldContext } from "../data/context.ts";
import type { CatalogTable, Dataset } from "../data/types.ts";
import { FITS_PATTERN } from "../data/catalog.ts";
import { IMAGE_EXTENSIONS } from "../data/imagefolder.ts";
import { type ContextSource, preprocess } from "../data/pipeline.ts";
import { loadCatalogToPredict, readCutouts } from "../data/sources.ts";
import { openRuntime } from "../backends/runtime.ts";
import type { Network } from "../model/network.ts";
import { createNetwork, storedNetwork } from "../model/registry.ts";
import { loadTensors, type LoadTensorsOptions } from "../train/checkpoint.ts";
import { predict, type PredictSettings, predictSettings, predictWith } from "../train/predict.ts";
import { createOnnxSession } from "../interchange/onnx/runtime.ts";
import { inverseFrequencyWeights, shiftPrior } from "../train/loss.ts";
import { argmaxRows, resolvePositiveClass } from "../metrics/metrics.ts";
import { toCsv } from "../results/write.ts";
import { isImported, readRunRecord, type RunRecord } from "../results/run_record.ts";
import { rebuildAdvice } from "../results/provenance.ts";
import { modelFolderMismatch } from "../results/verify.ts";
import { shown } from "../results/manifest.ts";
import { priorCorrectionOf, priorCorrectionWeights } from "../results/prior.ts";
import { StarmambaError } from "../util/errors.ts";
import { exists } from "../util/fs.ts";
import { RELEASED, resolveModel } from "../registry/released.ts";

/** How many problems one error message lists before summarising the rest as a count. */
const MAX_LISTED = 20;

/**
 * The predicted class's column, in folder and catalogue mode alike (a catalogue's own `label`
 * column is the true class and is carried through unchanged; errors.csv names it the same way).
 */
export const PREDICTED_COLUMN = "predicted";

/** A trained run, ready to predict. */
export interface LoadedRun {
  /** The network rebuilt from model/model.json (arch and modelConfig), with the best weights assigned. */
  model: Network;
  /** The run's experiment config, as recorded in result.json. */
  config: ExperimentConfig;
  /** Class names in label order, as recorded in result.json. */
  classNames: string[];
  /** Index into classNames of the class whose probability is written. */
  positive: number;
  /** The run's record (result.json, read by readRunRecord). */
  result: RunRecord;
  /** The run folder, absolute (a released model's name resolved to its folder). */
  dir: string;
}

/** Options of {@link predictFiles}. */
export interface PredictOptions {
  /** Images per forward pass; default the run's train.eval_batch_size. */
  batch?: number;
  /** Resize mis-sized images; default: what the run's data.resize said. */
  resize?: boolean;
  /** Average over the 8 flips and quarter turns (test-time augmentation); default: the run's. */
  tta?: boolean;
  /** Called after each batch with (done, total). */
  progress?: (done: number, total: number) => void;
  /**
   * Per-class weights applied to the probabilities before the label is chosen
   * ({@link shiftPrior}; e.g. from {@link trainingClassWeights}); the written probabilities are
   * the weighted ones, so label = the class above 0.5 still holds for two classes.
   */
  classWeights?: number[];
  /**
   * Without {@link classWeights}: decide a run that trained with balanced classes under its
   * training split's prior (lib/results/prior.ts), the written probabilities the corrected
   * ones. Default true; false keeps the network's own probabilities.
   */
  priorCorrection?: boolean;
  /**
   * A serialised ONNX graph of the run's network (e.g. from `onnxModelOf`): when given,
   * onnxruntime computes the probabilities instead of starmamba, from the same images.
   */
  onnxModel?: Uint8Array;
  /**
   * Field-context runs (data.field_context) only: where each cutout's template comes from.
   * `"frame"` (the default, as trained): the median of the cutouts of its frame among those
   * classified in this call, so a prediction depends on the other cutouts of its frame given
   * with it — give every cutout of a frame together. `"single"`: the cutout alone (its own
   * median), so a prediction depends on that file only, at some cost in accuracy (the recipe's
   * model cards give it). Ignored by runs without field context, whose predictions never depend
   * on the other files.
   */
  context?: ContextSource;
  /**
   * With context `"frame"`: frames with fewer cutouts than this in the call are listed in one
   * warning; default {@link MIN_FRAME_CUTOUTS}.
   */
  minPerFrame?: number;
  /** Where that warning goes; default console.warn. */
  warn?: (message: string) => void;
  /** With context `"frame"`: called once with the number of cutouts of each frame given. */
  onFrames?: (counts: ReadonlyMap<string, number>) => void;
}

/** One classified image. */
export interface PredictionRow {
  /** The image's path, as given or as found under a given folder. */
  file: string;
  /** Probability of every class, in classNames order. */
  probs: number[];
  /** Most probable class (ties → first, as in the metrics): the CSV's `predicted` column. */
  predicted: string;
}

type Obj = Record<string, unknown>;

/** Parses a JSON file; a missing or malformed file is a {@link StarmambaError} naming it. */
export function readJsonFile(path: string): Obj {
  try {
    return JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    throw new StarmambaError(`cannot read ${path}: ${(e as Error).message}`);
  }
}

/** The recorded sha256 of the run's weight shard and how to rebuild it, for loadTensors. */
function weightChecks(dir: string, result: RunRecord): LoadTensorsOptions {
  const manifest = readJsonFile(join(dir, "model", "model.json")).weightsManifest as
    | { paths?: string[] }[]
    | undefined;
  const shard = `model/${manifest?.[0]?.paths?.[0] ?? ""}`;
  const sha: unknown = result.artifacts?.[shard];
  return {
    sha256: typeof sha === "string" ? sha : undefined,
    fix: rebuildAdvice(result, dir, shard),
  };
}

/**
 * Loads a run's best model: rebuilds the network model.json records (arch, default medmamba, and
 * modelConfig; lib/model/registry.ts) and assigns every parameter by name; sets up the run's backend and scan kernel first.
 *
 * @example Load a released model (or any run folder) and look at what it is
 * ```ts
 * import { loadRun } from "@starmamba/starmamba";
 * const run = await loadRun("aries-cpu-ctx-s1"); // or a folder, e.g. "scratch/quickstart/v1"
 * console.log(run.model.arch, run.classNames, run.config.data.size); // medmamba [galaxy, star] 64
 * console.log(run.model.params.countTrainable(), run.result.experiment, run.dir);
 * run.model.params.dispose(); // its weights live on the backend until disposed
 * ```
 */
export async function loadRun(runDir: string, quiet = true): Promise<LoadedRun> {
  const dir = resolve(resolveModel(runDir));
  if (!exists(dir)) {
    throw new StarmambaError(
      `--model ${runDir}: no such folder, nor a released model; pass a run folder (e.g. ` +
        `scratch/quickstart/v1) or one of ${RELEASED.map((m) => m.name).join(", ")} ` +
        "(deno task models lists them)",
    );
  }
  if (!exists(join(dir, "model", "model.json"))) {
    throw new StarmambaError(
      `--model ${runDir}: no trained model there (model/model.json is missing); pass the run ` +
        "folder printed by deno task experiment",
    );
  }
  const resultPath = join(dir, "result.json");
  if (!exists(resultPath)) {
    throw new StarmambaError(
      `--model ${runDir}: result.json is missing, so the run has not finished and its class ` +
        "names are not recorded; let it finish (or resume it with deno task experiment --resume)",
    );
  }
  const result = readRunRecord(dir);
  // A model folder that is not the one result.json records (swapped, edited, or with its
  // checksums deleted) would predict with numbers nobody published: refuse it.
  const mismatch = modelFolderMismatch(dir, result);
  if (mismatch) {
    throw new StarmambaError(
      `${shown(join(dir, "model"))}: weights do not match result.json (${mismatch}): restore the ` +
        "folder from git or retrain",
    );
  }
  // Validating fills the defaults of keys added after the run was written (e.g. data.center_crop).
  const config = validateConfig(result.config, `${resultPath} (config)`);
  const classNames = result.data.class_names;
  // The run's train.threads belonged to the machine it trained on: use this one's default.
  await openRuntime(config, { quiet, threads: 0 });

  const { tensors, meta } = loadTensors(join(dir, "model"), "model", weightChecks(dir, result));
  const modelJson = join(dir, "model", "model.json");
  let model: Network;
  try {
    model = createNetwork(storedNetwork(meta, modelJson), 0);
  } catch (e) {
    Object.values(tensors).forEach((t) => t.dispose());
    throw e;
  }
  const mcfg = model.config;
  try {
    for (const p of model.params.params.values()) {
      const t = tensors[p.name];
      if (!t || t.shape.join() !== p.variable.shape.join()) {
        throw new StarmambaError(
          `${join(dir, "model", "model.json")}: weight "${p.name}" is ${
            t ? `[${t.shape}]` : "missing"
          } but the stored modelConfig needs [${p.variable.shape}]; the model folder is ` +
            "damaged or from another version — retrain, or check it with deno task verify-results",
        );
      }
      p.variable.assign(t);
    }
  } catch (e) {
    model.params.dispose();
    throw e;
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
  if (classNames.length !== mcfg.num_classes) {
    throw new StarmambaError(
      `${resultPath}: ${classNames.length} class names but the model has ${mcfg.num_classes} outputs`,
    );
  }
  return { model, config, classNames, positive: resolvePositiveClass(classNames), result, dir };
}

/** An image file predict reads: JPEG/PNG/TIFF/WebP, or FITS (optionally gzipped). */
function isCutoutFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase()) || FITS_PATTERN.test(name);
}

/** Image and FITS files under `dir` (recursive, hidden entries skipped), sorted by path. */
function walkImages(dir: string): string[] {
  const out: string[] = [];
  const entries = [...Deno.readDirSync(dir)].sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    if (e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    let isDir = e.isDirectory;
    if (e.isSymlink) isDir = exists(p) && Deno.statSync(p).isDirectory;
    if (isDir) out.push(...walkImages(p));
    else if (isCutoutFile(e.name)) out.push(p);
  }
  return out;
}

/** Expands files and folders into the list of images to classify, in argument order. */
export function listInputs(inputs: string[]): string[] {
  const files: string[] = [];
  for (const input of inputs) {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(input);
    } catch {
      throw new StarmambaError(`${input}: no such file or folder`);
    }
    if (!info.isDirectory) {
      files.push(input);
      continue;
    }
    const found = walkImages(input);
    if (found.length === 0) {
      throw new StarmambaError(
        `${input}: no image files in this folder (looked for ${
          IMAGE_EXTENSIONS.join(" ")
        } .fits .fit .fts)`,
      );
    }
    files.push(...found);
  }
  if (files.length === 0) {
    throw new StarmambaError(
      "no images given: pass image files or folders after --model <run dir>",
    );
  }
  return files;
}

/** Header-only check of every file (cheap), so all problems are reported before predicting. */
async function checkImages(
  files: string[],
  size: number,
  resize: boolean,
): Promise<void> {
  const problems: string[] = [];
  let wrongSize = false;
  for (const f of files) {
    if (FITS_PATTERN.test(f)) continue; // read in full when decoded; problems are reported then
    try {
      const m = await sharp(f).metadata();
      if (!m.channels || m.channels > 4) {
        problems.push(
          `${f}: has ${m.channels ?? "no"} channels; the model reads grey or RGB(A) images ` +
            "(1 to 4 channels) — convert it to grey or RGB",
        );
      } else if (!resize && (m.width !== size || m.height !== size)) {
        wrongSize = true;
        problems.push(`${f}: is ${m.width}x${m.height}, the model takes ${size}x${size}`);
      }
    } catch (e) {
      problems.push(`${f}: not a readable image (${oneLine((e as Error).message)})`);
    }
  }
  if (problems.length === 0) return;
  const lines = problems.slice(0, MAX_LISTED).map((p) => `  ${p}`);
  if (problems.length > MAX_LISTED) lines.push(`  ... and ${problems.length - MAX_LISTED} more`);
  const fix = wrongSize
    ? ` How to fix: resize the images to ${size}x${size}, or pass --resize to resize them ` +
      "bilinearly as data.resize: resize does in training."
    : " How to fix: replace or remove these files.";
  throw new StarmambaError(
    `${problems.length} image(s) cannot be classified:\n${lines.join("\n")}\n${fix}`,
  );
}

function oneLine(message: string): string {
  const text = [...new Set(message.split("\n").map((l) => l.trim()).filter(Boolean))].join("; ");
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/**
 * The class weights (N / (K·count))^power of a run's training split, counted from the class
 * folders of the files in its split.json, in class-name order. Warns when the run balanced its
 * classes in training already: the weights would then count twice.
 */
export function trainingClassWeights(run: LoadedRun, runDir: string, power: number): number[] {
  const classNames = run.classNames;
  if (run.config.train.class_balance !== "none" && power > 0) {
    console.warn(
      `warning: ${runDir} was trained with class_balance ${run.config.train.class_balance}; ` +
        "class weights at decision time come on top of that",
    );
  }
  const splitPath = join(run.dir, "split.json");
  if (!exists(splitPath)) {
    throw new StarmambaError(
      `${splitPath} is missing: class weights need the run's training split (ImageFolder runs ` +
        "write it)",
    );
  }
  const train = (readJsonFile(splitPath) as { train?: string[] }).train ?? [];
  let labels = train.map((f) => classNames.indexOf(f.split("/")[0]));
  if (labels.length === 0 || labels.some((l) => l < 0)) {
    // A catalogue's paths need not start with a class folder: its result.json has the
    // training split's class counts (the same numbers, counted when the run was made).
    labels = labelsFromCounts(run.result, classNames) ?? [];
  }
  if (labels.length === 0) {
    throw new StarmambaError(
      `${splitPath}: its training files must start with a class folder (${classNames.join(", ")})` +
        ", or result.json must record data.split.train_counts",
    );
  }
  return inverseFrequencyWeights(labels, classNames.length, power);
}

/** Class indices with the multiplicities result.json's data.split.train_counts records. */
function labelsFromCounts(result: RunRecord, classNames: string[]): number[] | null {
  const counts = isImported(result) ? undefined : result.data.split?.train_counts;
  if (!counts || classNames.some((c) => !Number.isInteger(counts[c]))) return null;
  return classNames.flatMap((c, j) => new Array<number>(counts[c]).fill(j));
}

/**
 * Classifies `files` with a loaded run; rows in the order of `files`. A field-context run
 * (data.field_context) takes each cutout's template from `opts.context`: with `"frame"` (the
 * default) from the cutouts of its frame among `files` — pass all cutouts of a frame in one
 * call — with `"single"` from the cutout alone.
 *
 * @example Classify cutouts, each judged by itself
 * ```ts
 * import { join } from "node:path";
 * import { loadRun, predictFiles } from "@starmamba/starmamba";
 * import { DEFAULT_SKY, writeSyntheticSky } from "@starmamba/starmamba/data";
 * // Cutouts to classify: the synthetic sky's (64×64 FITS files, as the released models need).
 * const dir = await Deno.makeTempDir();
 * await writeSyntheticSky(dir, { ...DEFAULT_SKY, n: 3 });
 * const files = ["000", "001", "002"].map((i) => join(dir, "cutouts", `SKY000a_${i}.fits`));
 * const run = await loadRun("aries-cpu-ctx-s1");
 * for (const r of await predictFiles(run, files, { context: "single" })) {
 *   console.log(r.file, r.predicted, r.probs); // probs in run.classNames order
 * }
 * run.model.params.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function predictFiles(
  run: LoadedRun,
  files: string[],
  opts: PredictOptions = {},
): Promise<PredictionRow[]> {
  const d = inputSection(run);
  await checkImages(files, d.size, opts.resize ?? d.resize === "resize");
  // Frame context needs every cutout of a frame at once (their median is the template), so the
  // files are read together; otherwise one batch at a time keeps memory flat, and a single
  // cutout's template is built from that cutout alone, inside its batch.
  if (d.field_context && (opts.context ?? "frame") === "frame") {
    const whole = await predictionInputs(run, files, opts);
    return await classifyBatches(run, files, opts, (i, part) => ({
      ds: whole,
      idx: part.map((_, j) => i + j),
    }));
  }
  return await classifyBatches(run, files, opts, async (_i, part) => ({
    ds: await predictionInputs(run, part, opts),
    idx: [...part.keys()],
  }));
}

/**
 * Classifies images already through the pipeline's first step — decoded and stretched at the
 * run's data.size with its input channels, such as a telescope frame's stamps
 * (lib/frames/cutouts.ts) — by the rest of {@link predictFiles}' path: centre crop, field
 * context (`opts.context`; frames from `raw.frames`, else the names in `raw.files`),
 * normalisation, the network, the prior correction. Rows in dataset order, `file` from
 * `raw.files`.
 */
export async function predictDataset(
  run: LoadedRun,
  raw: Dataset,
  opts: PredictOptions = {},
): Promise<PredictionRow[]> {
  const files = raw.files ?? [];
  if (raw.n === 0) return [];
  const prepared = preprocessed(inputSection(run), raw, opts);
  return await classifyBatches(run, files, opts, (i, part) => ({
    ds: prepared,
    idx: part.map((_, j) => i + j),
  }));
}

/** The run's data section with the network's input channels (the same number in every run). */
function inputSection(run: Pick<LoadedRun, "config" | "model">): DataSection {
  return { ...run.config.data, channels: run.model.config.in_channels as 1 | 3 };
}

/**
 * The images {@link predictFiles} gives the network for `files`, before the per-batch
 * normalisation: decoded and stretched as the run's data source did (readCutouts), then the
 * run's preprocess (centre crop, field context from `opts.context`) — the pipeline of
 * lib/data/pipeline.ts that training and evaluation ran. With frame context its frames are
 * reported (`opts.onFrames`, the small-frames warning). The files are not checked first, as
 * predictFiles checks them.
 */
export async function predictionInputs(
  run: Pick<LoadedRun, "config" | "model" | "classNames">,
  files: string[],
  opts: PredictOptions = {},
): Promise<Dataset> {
  const d = inputSection(run);
  const resize = opts.resize ?? d.resize === "resize";
  const raw = await readCutouts(d, files, { resize, classNames: run.classNames });
  return preprocessed(d, raw, opts);
}

/**
 * The pipeline's preprocess with `opts.context`; a `"frame"` context reports its frames (to
 * `opts.onFrames`, and those under `opts.minPerFrame` in one warning).
 */
function preprocessed(d: DataSection, raw: Dataset, opts: PredictOptions): Dataset {
  const { dataset, context } = preprocess(d, raw, { context: opts.context });
  if (context !== null && (opts.context ?? "frame") === "frame") reportFrames(context, opts);
  return dataset;
}

/**
 * Fewer cutouts of a frame than this make a poor template, and `context: "frame"` warns. The
 * released models learnt from ARIES templates of 51–492 cutouts (24 of its 27 frames; the other
 * three have 1–3). Measured with aries-cpu-ctx-s1 (no TTA) on ARIES' largest frame,
 * J1603p3002_001_010 (492 cutouts, most in its training split), classified in calls of n of its
 * cutouts: labels unlike the whole frame's 70 (n = 1), 46 (5), 39 (10), 20 (20), 16 (50), 9
 * (100); accuracy 81.1%, 86.4%, 89.0%, 91.7%, 92.5%, 92.7% against 92.5% with all 492. From 20
 * on a call is within about a point of the whole frame; below it accuracy falls towards the
 * single-cutout figure.
 */
export const MIN_FRAME_CUTOUTS = 20;

/**
 * Reports the frames of a `"frame"` call: to `opts.onFrames`, and those with fewer than
 * `opts.minPerFrame` cutouts in one warning.
 */
function reportFrames(ctx: FieldContext, opts: PredictOptions): void {
  opts.onFrames?.(ctx.frameCounts);
  const warning = smallFramesWarning(ctx.frameCounts, opts.minPerFrame ?? MIN_FRAME_CUTOUTS);
  if (warning !== null) (opts.warn ?? console.warn)(warning);
}

/**
 * The one-line warning about frames with fewer than `min` cutouts (fewest first, at most
 * {@link MAX_LISTED} named, then a count of the rest), or null when every frame has enough.
 */
export function smallFramesWarning(
  counts: ReadonlyMap<string, number>,
  min: number,
): string | null {
  const small = [...counts].filter(([, c]) => c < min)
    .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (small.length === 0) return null;
  const named = small.slice(0, MAX_LISTED).map(([f, c]) => `${f} (${c})`);
  if (small.length > MAX_LISTED) named.push(`and ${small.length - MAX_LISTED} more`);
  return `warning: ${small.length} of ${counts.size} frame(s) have fewer than ${min} cutouts ` +
    `in this call, so their templates (the median of the frame's cutouts given) are poor and ` +
    `their predictions change with the cutouts given beside them: ${named.join(", ")}; give ` +
    "every cutout of a frame in one call, or use --context single (each cutout alone)";
}

/** The images of one batch: a dataset and the indices in it. */
type BatchSource = (
  start: number,
  part: string[],
) => { ds: Dataset; idx: number[] } | Promise<{ ds: Dataset; idx: number[] }>;

/**
 * Classifies `files` batch by batch, the images of each batch from `source`, through starmamba
 * or onnxruntime, normalised exactly as the run's evaluation did.
 */
async function classifyBatches(
  run: LoadedRun,
  files: string[],
  opts: PredictOptions,
  source: BatchSource,
): Promise<PredictionRow[]> {
  const batch = opts.batch ?? run.config.train.eval_batch_size;
  // The run's evaluation settings (its normalisation above all) with this call's batch and views;
  // predict()'s loss needs labels, unused here.
  const settings: PredictSettings = {
    ...predictSettings(run.config),
    batchSize: batch,
    tta: opts.tta ?? run.config.train.tta,
  };
  const k = run.classNames.length;
  const prior = opts.priorCorrection === false ? null : priorCorrectionOf(run.result);
  const weights = opts.classWeights ??
    (prior ? priorCorrectionWeights(prior, run.classNames) : undefined);
  const onnx = opts.onnxModel ? await createOnnxSession(opts.onnxModel, "the ONNX model") : null;
  const probsOf = (ds: Dataset, idx: number[]) =>
    onnx
      ? predictWith(onnx.probs, k, ds, idx, settings)
      : Promise.resolve(predict(run.model, ds, idx, settings).probs);
  const rows: PredictionRow[] = [];
  for (let i = 0; i < files.length; i += batch) {
    const part = files.slice(i, i + batch);
    const { ds, idx } = await source(i, part);
    const raw = await probsOf(ds, idx);
    const probs = weights ? shiftPrior(raw, k, weights) : raw;
    const preds = argmaxRows(probs, k);
    for (const [j, f] of part.entries()) {
      const p = Array.from(probs.subarray(j * k, (j + 1) * k));
      rows.push({ file: f, probs: p, predicted: run.classNames[preds[j]] });
    }
    opts.progress?.(rows.length, files.length);
  }
  await onnx?.release();
  return rows;
}

/**
 * Classifies the cutouts a catalogue lists (see lib/data/catalog.ts): read, FITS-decoded and
 * stretched with the run's data settings, centre-cropped and given field context as in
 * {@link predictFiles} (`opts.context`; frames from the `frame` column, else the file names).
 * Labels, when present, must be among the run's classes; they are carried through, not used.
 * Returns the rows (in catalogue order) and the catalogue's columns for
 * {@link catalogPredictionsCsv}.
 *
 * @example Classify a catalogue's cutouts, each with its frame's median as context
 * ```ts
 * import { loadRun } from "@starmamba/starmamba";
 * import { catalogPredictionsCsv, predictCatalog } from "@starmamba/starmamba/experiment";
 * import { DEFAULT_SKY, writeSyntheticSky } from "@starmamba/starmamba/data";
 * // A catalogue (path, label, frame, ra, dec) of 40 FITS cutouts, all of one frame.
 * const dir = await Deno.makeTempDir();
 * const sky = await writeSyntheticSky(dir, { ...DEFAULT_SKY, n: 40 });
 * const run = await loadRun("aries-cpu-ctx-s1");
 * const { rows, table } = await predictCatalog(run, sky.catalog, { context: "frame" });
 * // The catalogue's columns, then p_galaxy and predicted: what deno task predict --catalog writes.
 * console.log(catalogPredictionsCsv(run, table, rows).split("\n").slice(0, 3).join("\n"));
 * run.model.params.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function predictCatalog(
  run: LoadedRun,
  catalog: string,
  opts: PredictOptions = {},
): Promise<{ rows: PredictionRow[]; table: CatalogTable }> {
  const d = inputSection(run);
  const ds = await loadCatalogToPredict(
    d,
    catalog,
    run.classNames,
    opts.resize ?? d.resize === "resize",
  );
  checkOwnColumns(ds.table, catalog);
  const prepared = preprocessed(d, ds, opts);
  const rows = await classifyBatches(run, ds.files, opts, (i, part) => ({
    ds: prepared,
    idx: part.map((_, j) => i + j),
  }));
  return { rows, table: ds.table };
}

/** A catalogue must not have the column predict adds: the output would hold two of that name. */
function checkOwnColumns(table: CatalogTable, catalog: string): void {
  if (!table.columns.includes(PREDICTED_COLUMN)) return;
  throw new StarmambaError(
    `${catalog}: has a "${PREDICTED_COLUMN}" column, the name of the column predict adds; ` +
      "rename that column (e.g. to previous_predicted)",
  );
}

/**
 * The catalogue's own columns, unchanged (a `label` column stays the true class), then
 * `p_<positive class>` and `predicted`, the predicted class, as in {@link predictionsCsv}.
 */
export function catalogPredictionsCsv(
  run: LoadedRun,
  table: CatalogTable,
  rows: PredictionRow[],
): string {
  const pos = run.positive;
  checkOwnColumns(table, "the catalogue");
  return toCsv([
    [...table.columns, `p_${run.classNames[pos]}`, PREDICTED_COLUMN],
    ...rows.map((r, i) => [...table.rows[i], r.probs[pos], r.predicted]),
  ]);
}

/** The CSV: `file,p_<positive class>,predicted`. */
export function predictionsCsv(run: LoadedRun, rows: PredictionRow[]): string {
  const pos = run.positive;
  return toCsv([
    ["file", `p_${run.classNames[pos]}`, PREDICTED_COLUMN],
    ...rows.map((r) => [r.file, r.probs[pos], r.predicted]),
  ]);
}
