/**
 * The one data pipeline, from a config's data section to what the network sees. Training,
 * evaluation, prediction and lock-test all go through it; only where the images come from
 * differs:
 *
 * 1. **decode and stretch** — a source (lib/data/sources.ts: `data.source` by name, or predict's
 *    files and catalogues) decodes each cutout to [0, 1] with the display stretch (`data.stretch`;
 *    per cutout, from a FITS file's physical values);
 * 2. **centre crop** — `data.center_crop`;
 * 3. **field context** — `data.field_context`: channels (cutout, its frame's median, their
 *    difference), the frame's template taken from the cutouts of its frame (`context: "frame"`,
 *    as trained) or from the cutout alone (`"single"`);
 * 4. **normalisation** — per batch, `(x − augment.normalize_mean) / augment.normalize_std` in
 *    `makeBatch` (lib/data/augment.ts), after the augmentation in training and alone in
 *    evaluation and prediction; {@link normalisation} is the one place its two constants are
 *    read from a config.
 *
 * {@link preprocess} is steps 2 and 3, in that order; {@link loadData} is steps 1–3 for a
 * config. tests/pipeline_test.ts checks that predict feeds the network the same bytes as
 * training's evaluation for the same images.
 * @module
 */
import { dirname } from "node:path";
import type { AugmentSection, DataSection, ExperimentConfig } from "../config/schema.ts";
import type { Dataset } from "./types.ts";
import { centerCrop } from "./crop.ts";
import { type FieldContext, withFieldContext } from "./context.ts";
import { dataSource } from "./sources.ts";

/**
 * Where a field-context template comes from: the cutout's frame (as trained), or the cutout
 * alone (`single`: its own median is itself — what a user classifying one image gets).
 */
export type ContextSource = "frame" | "single";

/** Options of {@link preprocess}. */
export interface PreprocessOptions {
  /** Field-context runs: where each template comes from; default `"frame"`. */
  context?: ContextSource;
}

/** What {@link preprocess} returns. */
export interface Preprocessed {
  /** The images as the network takes them before normalisation. */
  dataset: Dataset;
  /** With `data.field_context`: the frames the templates came from; else null. */
  context: FieldContext | null;
}

/** Step 4's constants: every pixel of every channel becomes `(x − mean) / std`. */
export interface Normalisation {
  /** Subtracted from every pixel. */
  mean: number;
  /** Divides every pixel after the mean is subtracted (> 0). */
  std: number;
}

/**
 * Step 4's constants from a config (`augment.normalize_mean`, `augment.normalize_std`): what
 * training's batches, evaluation and prediction all normalise with.
 */
export function normalisation(
  augment: Pick<AugmentSection, "normalize_mean" | "normalize_std">,
): Normalisation {
  return { mean: augment.normalize_mean, std: augment.normalize_std };
}

/** Frame key for `context: "single"`: every cutout its own frame. */
const ownFrame = (file: string): string => file;

/**
 * Steps 2 and 3 of the pipeline on decoded, stretched images: the centre crop
 * (`d.center_crop`), then the field context (`d.field_context`, templates from `opts.context`;
 * frames from the dataset's own frames, else the file names).
 */
export function preprocess(
  d: Pick<DataSection, "center_crop" | "field_context">,
  ds: Dataset,
  opts: PreprocessOptions = {},
): Preprocessed {
  const cropped = d.center_crop === null ? ds : centerCrop(ds, d.center_crop);
  if (!d.field_context) return { dataset: cropped, context: null };
  const single = (opts.context ?? "frame") === "single";
  const ctx = withFieldContext(cropped, single ? ownFrame : undefined);
  return { dataset: ctx.dataset, context: ctx };
}

/** Progress lines while decoding: every quarter, and the end. */
function decodeProgress(): (done: number, total: number) => void {
  let lastPct = -1;
  return (done, total) => {
    const pct = Math.floor((100 * done) / total);
    if (pct >= lastPct + 25 || done === total) {
      lastPct = pct;
      console.log(`decoding images: ${done}/${total}`);
    }
  };
}

/**
 * Loads the data a config names through the pipeline (steps 1–3): its source, centre-cropped if
 * `data.center_crop` says so and with its frame's context channels if `data.field_context` does
 * (`context: "single"`: every cutout its own frame). Relative paths start at the folder of
 * `configPath`.
 */
export async function loadData(
  cfg: Pick<ExperimentConfig, "data">,
  configPath: string,
  quiet = false,
  context: ContextSource = "frame",
): Promise<Dataset> {
  const raw = await dataSource(cfg.data).load(cfg.data, {
    configDir: dirname(configPath),
    progress: quiet ? undefined : decodeProgress(),
  });
  const { dataset, context: ctx } = preprocess(cfg.data, raw, { context });
  if (ctx && !quiet) {
    console.log(
      `field context: ${ctx.frames} frames, the smallest with ${ctx.smallestFrame} cutouts`,
    );
  }
  return dataset;
}
