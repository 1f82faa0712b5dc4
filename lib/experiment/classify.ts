/**
 * `deno task classify` (issue 32): from telescope frames to a star/galaxy catalogue — the flow.
 * Per frame, one at a time (never more than one frame's pixels in memory):
 *
 * 1. **sources** — detected as SEP does (lib/frames/detect.ts, its defaults, the header's
 *    SATURATE), or the rows of a `--sources` CSV (lib/frames/sources_csv.ts: x,y FITS pixels or
 *    ra,dec through the frame's WCS);
 * 2. **cutouts** — the model's data.size (before its centre crop, as its training files were)
 *    around each source, cut and decoded as FITS cutout files of the frame would be
 *    (lib/frames/cutouts.ts: where the stamp is cut, edge padding, blank pixels), with the
 *    display stretch {@link frameStretch} chooses (lib/experiment/classify_stretch.ts: the
 *    model's own, `--stretch`, or zscale for a model trained on display images);
 * 3. **probabilities** — predict's path from there on ({@link predictDataset}: centre crop,
 *    field context, normalisation, network, prior correction). A field-context model's template
 *    is the median stamp of the frame's own sources, all of them, so a source's probability
 *    depends on its frame alone, never on the other frames of the call;
 * 4. **rows** — one per source, the class at the operating point (lib/results/
 *    operating_point.ts), written with the frame's own `.reg` and `.png` while its pixels are in
 *    memory, and at the end catalog.csv/.fits/.json (lib/results/catalog_files.ts).
 *
 * A frame that cannot be classified (not a FITS image, a --sources row off the frame, ra,dec
 * without a WCS) is reported and left out; the other frames' rows are still written, and the
 * call ends with a {@link StarmambaError} naming each such frame. {@link classifyFrames} turns a
 * list of frames into one folder; a SLURM job array runs it on shards of the frames
 * (lib/experiment/classify_slurm.ts) and {@link mergeCatalogs} merges the shards' folders.
 * @module
 */
import { join, resolve } from "node:path";
import { type FitsFrame, openFitsFrame } from "../frames/open.ts";
import {
  type DetectedSource,
  detectSources,
  FLAG_BLANK,
  FLAG_BLENDED,
  FLAG_EDGE,
  FLAG_SATURATED,
} from "../frames/detect.ts";
import { measureBackground } from "../frames/background.ts";
import { pixelToWorld, type Wcs } from "../frames/wcs.ts";
import { backgroundAt, frameCutouts, type FramePixels, type Stamp } from "../frames/cutouts.ts";
import {
  readSourceTable,
  rowsOfFrame,
  type SourcePosition,
  sourcePositions,
  type SourceTable,
} from "../frames/sources_csv.ts";
import type { StretchName } from "../data/stretch.ts";
import {
  type CatalogHead,
  catalogHeader,
  type CatalogRow,
  classCounts,
  emptyFrameSummary,
  type FrameSummary,
  productNames,
  writeCatalog,
  writeFrameProducts,
} from "../results/catalog_files.ts";
import {
  type Decision,
  decisionRule as operatingPoint,
  type OutOfFold,
  outOfFold as outOfFoldAt,
  type OutOfFoldPlace,
  relativeTo,
} from "../results/operating_point.ts";
import { codeVersion } from "../results/provenance.ts";
import { RELEASED, REPO_ROOT } from "../registry/released.ts";
import { recipeCvSweep } from "../registry/card.ts";
import { StarmambaError } from "../util/errors.ts";
import {
  frameStretch,
  type StretchPolicy,
  stretchPolicy,
  stretchRecord,
} from "./classify_stretch.ts";
import { type LoadedRun, MIN_FRAME_CUTOUTS, predictDataset } from "./predict.ts";

export {
  CATALOG_COLUMNS,
  type CatalogRow,
  FLAG_LEGEND,
  type FrameSummary,
  mergeCatalogs,
} from "../results/catalog_files.ts";
export type {
  Decision,
  OperatingChoice,
  OutOfFold,
  OutOfFoldSource,
} from "../results/operating_point.ts";

/** Options of {@link classifyFrames}. */
export interface ClassifyOptions {
  /** A source list (lib/frames/sources_csv.ts) instead of detection. */
  sources?: string;
  /**
   * HDU holding each frame's image; by default the primary, or the first image extension when
   * the primary is empty (said once in a warning; catalog.json records each frame's).
   */
  hdu?: number;
  /**
   * The cutouts' display stretch (data.stretch's names). Default: the model's own; for a model
   * trained on display images (data.stretch: identity), zscale per cutout on frames whose
   * values are not already in [0, 1] (lib/experiment/classify_stretch.ts).
   */
  stretch?: "identity" | "linear" | "minmax" | "asinh" | "zscale";
  /** Call the positive class at p ≥ this (mutually exclusive with `purity`). */
  threshold?: number;
  /** Choose the threshold reaching this purity of the positive class ({@link decisionRule}). */
  purity?: number;
  /** Leave out sources whose cutout runs off the frame. */
  skipEdge?: boolean;
  /** Images per forward pass (default the run's train.eval_batch_size). */
  batch?: number;
  /** The model as the user named it, for catalog.json (default the run folder). */
  model?: string;
  /** Progress of each frame (stderr bars in the CLI). */
  progress?: (p: ClassifyProgress) => void;
  /** Warnings (default console.warn). */
  warn?: (message: string) => void;
}

/** One progress report of {@link classifyFrames}. */
export interface ClassifyProgress {
  /** The frame's index in the call (0-based). */
  frame: number;
  /** Frames in the call. */
  frames: number;
  /** The frame file as given. */
  name: string;
  /** What the frame is at. */
  stage: "reading" | "detecting" | "cutting" | "classifying" | "done" | "failed";
  /** Sources of this frame classified so far. */
  done: number;
  /** Sources of this frame to classify (0 before they are known). */
  total: number;
  /** Sources classified in all frames so far. */
  sources: number;
}

/** What {@link classifyFrames} wrote. */
export interface ClassifySummary {
  /** The output folder. */
  out: string;
  /** Files written in it. */
  files: string[];
  /** Catalogue rows. */
  rows: number;
  /** Every frame, failed ones with their `error`. */
  frames: FrameSummary[];
  /** The operating point. */
  decision: Decision;
  /** Rows per class over all frames. */
  counts: Record<string, number>;
  /** The stretch rule, as catalog.json records it. */
  stretch: Record<string, unknown>;
}

/** The class column of a stamp that could not be classified. */
const UNCLASSIFIED = "";
/** A frame's pixel scale this far from the model's (relative) is warned about. */
const SCALE_TOLERANCE = 0.1;

/**
 * Classifies the sources of telescope frames into `<outDir>/catalog.csv` (+ catalog.fits,
 * catalog.json, and per frame `<stem>.reg` and `<stem>.png`): the library behind
 * `deno task classify`. Frames are processed one at a time;
 * a frame that fails is left out and named in the error thrown at the end, after the other
 * frames' rows are written.
 * @param run a loaded run (loadRun): its data section decides the cutouts, its network the
 *   probabilities.
 * @param frames FITS frame files (each classified on its own: see the module's description).
 * @param outDir the output folder (created).
 * @param opts sources, HDU, stretch, operating point, edge handling, progress.
 * @returns what was written.
 * @throws {StarmambaError} for bad options or sources (before any frame), or after writing,
 *   naming every frame that could not be classified (exit 2 in the CLI).
 *
 * @example Classify a synthetic frame's sources with a released model
 * ```ts
 * import { join } from "node:path";
 * import { loadRun } from "@starmamba/starmamba";
 * import { classifyFrames } from "@starmamba/starmamba/experiment";
 * import { writeFitsFloat32 } from "@starmamba/starmamba/data";
 * // A 256×256 frame of sky (100 ADU) with one star (a 1.5-pixel Gaussian) at FITS (128.3, 97.6).
 * const dir = await Deno.makeTempDir();
 * const data = new Float32Array(256 * 256).map((_, i) => {
 *   const x = (i % 256) + 1, y = Math.floor(i / 256) + 1;
 *   return 100 + 800 * Math.exp(-((x - 128.3) ** 2 + (y - 97.6) ** 2) / (2 * 1.5 ** 2));
 * });
 * Deno.writeFileSync(join(dir, "frame.fits"), writeFitsFloat32(256, 256, data));
 * Deno.writeTextFileSync(join(dir, "sources.csv"), "x,y,name\n128.3,97.6,my-star\n");
 * const run = await loadRun("aries-cpu-ctx-s1");
 * const out = await classifyFrames(run, [join(dir, "frame.fits")], join(dir, "out"), {
 *   sources: join(dir, "sources.csv"),
 * });
 * // 1 row; the model learnt from display images, so the frame's cutouts were given zscale.
 * console.log(out.rows, out.counts, out.frames[0].stretch); // 1 { star: 1 } zscale
 * console.log(Deno.readTextFileSync(join(dir, "out", "catalog.csv")));
 * run.model.params.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function classifyFrames(
  run: LoadedRun,
  frames: string[],
  outDir: string,
  opts: ClassifyOptions = {},
): Promise<ClassifySummary> {
  const ctx = callContext(run, frames, outDir, opts);
  const rows: CatalogRow[] = [];
  const summaries: FrameSummary[] = [];
  for (const [i, path] of frames.entries()) {
    try {
      const out = await classifyFrame(ctx, path, i, rows.length);
      rows.push(...out.rows);
      summaries.push(out.summary);
    } catch (e) {
      if (!(e instanceof StarmambaError)) throw e;
      summaries.push({ ...emptyFrameSummary(path, opts.hdu ?? 0), error: e.message });
      report(ctx, i, path, "failed", 0, 0, rows.length);
    }
  }
  const head = catalogHead(ctx);
  const written = writeCatalog(outDir, head, ctx.columns, rows, summaries, ctx.products);
  const failed = summaries.filter((s) => s.error !== undefined);
  if (failed.length > 0) throw new StarmambaError(failedFramesLine(failed, rows.length, outDir));
  return {
    out: outDir,
    ...written,
    frames: summaries,
    decision: ctx.decision,
    stretch: head.stretch,
  };
}

/**
 * One line for the frames that failed: the first frame's problem, the others by name
 * (catalog.json has each reason), and where the other frames' `rows` are.
 */
export function failedFramesLine(failed: FrameSummary[], rows: number, outDir: string): string {
  const more = failed.length > 1
    ? ` (and ${failed.length - 1} more frame(s) not classified: ` +
      `${failed.slice(1).map((f) => f.file).join(", ")}; catalog.json says why)`
    : "";
  const written = rows > 0
    ? `; the other frames' ${rows} rows are in ${join(outDir, "catalog.csv")}`
    : "";
  return `${failed[0].error!.replace(/\.$/, "")}${more}${written}`;
}

/** What a call decides before any frame, from its options alone ({@link checkClassifyCall}). */
export interface CheckedCall {
  /** The --sources table, or null for detection. */
  table: SourceTable | null;
  /** The operating point. */
  decision: Decision;
  /** The catalogue's columns. */
  columns: string[];
  /** The stretch policy. */
  stretch: StretchPolicy;
}

/** Everything a call shares between its frames. */
interface CallContext extends CheckedCall {
  run: LoadedRun;
  frames: string[];
  opts: ClassifyOptions;
  warn: (message: string) => void;
  /** Set once the empty-primary message was given. */
  saidHdu: boolean;
  /** The output folder. */
  outDir: string;
  /** Per frame, the name of its own files (`<name>.reg`, `<name>.png`). */
  products: string[];
}

/**
 * Checks a call's options and reads what every frame needs (the source list, the operating
 * point, the columns, the stretch), writing nothing: what `--slurm` checks before it submits.
 * @throws {StarmambaError} for no frames, a frame given twice, a bad source list (or one
 *   without a frame column for several frames), a bad operating point or stretch.
 */
export function checkClassifyCall(
  run: LoadedRun,
  frames: string[],
  opts: ClassifyOptions,
): CheckedCall {
  if (frames.length === 0) {
    throw new StarmambaError("no frames given: pass one or more FITS frame files");
  }
  const dup = frames.find((f, i) => frames.indexOf(f) !== i);
  if (dup !== undefined) throw new StarmambaError(`${dup}: given twice; give each frame once`);
  const table = opts.sources === undefined ? null : readSourceTable(opts.sources);
  // No frame column with several frames is refused here, before any frame is read.
  if (table) { for (const f of frames) rowsOfFrame(table, f, frames); }
  const decision = decisionRule(run, opts);
  const pColumn = `p_${run.classNames[run.positive]}`;
  // FITS column names are unique ignoring case: a --sources "X" clashes with x too.
  const own = catalogHeader(pColumn, []).map((c) => c.toLowerCase());
  const carried = (table?.carried ?? []).map((j) => table!.columns[j]).map((c) =>
    own.includes(c.toLowerCase()) ? `sources_${c}` : c
  );
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const stretch = stretchPolicy(run.config.data.stretch, opts.stretch, warn);
  return { table, decision, columns: catalogHeader(pColumn, carried), stretch };
}

/** The call's context: its checked options, the output folder created. */
function callContext(
  run: LoadedRun,
  frames: string[],
  outDir: string,
  opts: ClassifyOptions,
): CallContext {
  const checked = checkClassifyCall(run, frames, opts);
  Deno.mkdirSync(outDir, { recursive: true });
  return {
    ...checked,
    run,
    frames,
    opts,
    warn: opts.warn ?? ((m) => console.warn(m)),
    saidHdu: false,
    outDir,
    products: productNames(frames),
  };
}

/** Sends a progress report. */
function report(
  ctx: CallContext,
  frame: number,
  name: string,
  stage: ClassifyProgress["stage"],
  done: number,
  total: number,
  sources: number,
): void {
  ctx.opts.progress?.({ frame, frames: ctx.frames.length, name, stage, done, total, sources });
}

/** The sources of one frame: their positions and, when detected, the detections. */
interface FrameSources {
  positions: SourcePosition[];
  detected: DetectedSource[] | null;
  /** The --sources rows' carried values, one list per position. */
  carried: string[][];
  /** The local background at a FITS pixel (the detection's map, or measured when first asked). */
  background: (x: number, y: number) => number;
}

/** What a frame's classification leaves: its rows and its catalog.json record. */
interface FrameResult {
  rows: CatalogRow[];
  summary: FrameSummary;
}

/**
 * One frame: its pixels read once, its sources, their stamps through the pipeline, its rows.
 * The pixels are dropped when the function returns; nothing of the frame stays but its rows.
 */
async function classifyFrame(
  ctx: CallContext,
  path: string,
  index: number,
  before: number,
): Promise<FrameResult> {
  const { run } = ctx;
  report(ctx, index, path, "reading", 0, 0, before);
  const frame = openFrame(ctx, path);
  let pixels: FramePixels;
  try {
    checkPixelScale(ctx, frame);
    pixels = readFrame(frame);
  } finally {
    frame.close();
  }
  report(ctx, index, path, ctx.table ? "cutting" : "detecting", 0, 0, before);
  const src = frameSources(ctx, frame, pixels);
  const stretch = frameStretch(ctx.stretch, path, pixels, ctx.warn);
  report(ctx, index, path, "cutting", 0, src.positions.length, before);
  const cut = frameCutouts(pixels, src.positions, {
    data: { ...run.config.data, stretch, channels: run.model.config.in_channels as 1 | 3 },
    background: src.background,
    saturate: frame.saturate,
    skipEdge: ctx.opts.skipEdge,
    names: src.positions.map((_, i) => `${path}#${i + 1}`),
    frame: path,
    classNames: run.classNames,
  });
  warnFewSources(ctx, path, cut.kept.length);
  const predictions = await predictDataset(run, cut.dataset, {
    batch: ctx.opts.batch,
    context: "frame",
    minPerFrame: 1, // classify warns itself, in its own words (warnFewSources)
    progress: (done, total) => report(ctx, index, path, "classifying", done, total, before + done),
  });
  const probs = new Map(cut.kept.map((i, j) => [i, predictions[j].probs[run.positive]]));
  const predicted = new Map(cut.kept.map((i, j) => [i, predictions[j].predicted]));
  const rows = frameRows(ctx, frame, src, cut.stamps, probs, predicted);
  const radius = Math.max(3, (run.config.data.center_crop ?? run.config.data.size) / 8);
  await writeFrameProducts(join(ctx.outDir, ctx.products[index]), pixels, rows, radius);
  report(ctx, index, path, "done", cut.kept.length, cut.kept.length, before + rows.length);
  return { rows, summary: frameSummary(ctx, frame, src, cut.stamps, rows, stretch) };
}

/**
 * Opens a frame: the HDU given, or — none given — the primary, or the first image extension
 * when the primary is empty (said once per call on the warning channel, stderr in the CLI).
 */
function openFrame(ctx: CallContext, path: string): FitsFrame {
  const hdu = ctx.opts.hdu;
  const frame = openFitsFrame(path, { hdu, name: path, emptyPrimary: "first-image" });
  if (hdu === undefined && frame.hdu !== 0 && !ctx.saidHdu) {
    ctx.saidHdu = true;
    const ext = typeof frame.header["EXTNAME"] === "string"
      ? ` (EXTNAME ${frame.header["EXTNAME"]})`
      : "";
    ctx.warn(
      `${path}: the primary HDU is empty; reading the image in HDU ${frame.hdu}${ext}, as for ` +
        "every such frame of this call (catalog.json records each frame's HDU; --hdu N " +
        "chooses another)",
    );
  }
  return frame;
}

/** Every row of a frame, read in bands into one float32 array (one frame's pixels). */
function readFrame(frame: FitsFrame): FramePixels {
  const { width, height } = frame;
  const data = new Float32Array(width * height);
  const band = Math.max(1, Math.floor((1 << 20) / width));
  for (let y0 = 0; y0 < height; y0 += band) {
    const y1 = Math.min(height, y0 + band);
    frame.readRows(y0, y1, data.subarray(y0 * width, y1 * width));
  }
  return { data, width, height };
}

/**
 * A frame's sources: its --sources rows, or detection with SEP's defaults on the pixels already
 * read (what detectFrame does — its `saturate` from the header — without reading the frame a
 * second time).
 */
function frameSources(ctx: CallContext, frame: FitsFrame, pixels: FramePixels): FrameSources {
  const { data, width, height } = pixels;
  if (ctx.table) {
    const rows = rowsOfFrame(ctx.table, frame.path, ctx.frames);
    const positions = sourcePositions(ctx.table, rows, frame);
    let bg: ((x: number, y: number) => number) | undefined;
    return {
      positions,
      detected: null,
      carried: rows.map((r) => ctx.table!.carried.map((j) => r.values[j])),
      // Measured only when a stamp needs padding: a list of central sources never pays for it.
      background: (x, y) => (bg ??= backgroundAt(measureBackground(data, width, height)))(x, y),
    };
  }
  const det = detectSources(data, width, height, { saturate: frame.saturate });
  return {
    positions: det.sources.map((s) => ({ x: s.x, y: s.y })),
    detected: det.sources,
    carried: det.sources.map(() => []),
    background: backgroundAt(det.background),
  };
}

/** The rows of a frame (edge stamps left out under skipEdge). */
function frameRows(
  ctx: CallContext,
  frame: FitsFrame,
  src: FrameSources,
  stamps: Stamp[],
  probs: Map<number, number>,
  predicted: Map<number, string>,
): CatalogRow[] {
  const rows: CatalogRow[] = [];
  for (const [i, p] of src.positions.entries()) {
    if (stamps[i].edge && ctx.opts.skipEdge) continue;
    const det = src.detected?.[i];
    const [ra, dec] = p.ra !== undefined
      ? [p.ra, p.dec!]
      : frame.wcs
      ? pixelToWorld(frame.wcs, p.x, p.y)
      : [null, null];
    const prob = probs.get(i) ?? null;
    rows.push({
      frame: frame.path,
      id: i + 1,
      x: p.x,
      y: p.y,
      ra,
      dec,
      flux: det ? det.flux : null,
      flags: rowFlags(stamps[i], det),
      p: prob,
      cls: prob === null ? UNCLASSIFIED : classAt(ctx, prob, predicted.get(i)!),
      carried: src.carried[i],
    });
  }
  return rows;
}

/** The flags of a row: the detection's blended/saturated/blank, the stamp's edge/blank/saturated. */
function rowFlags(stamp: Stamp, det: DetectedSource | undefined): number {
  let flags = det ? det.flags & (FLAG_BLENDED | FLAG_SATURATED | FLAG_BLANK) : 0;
  if (stamp.edge) flags |= FLAG_EDGE;
  if (stamp.blank > 0) flags |= FLAG_BLANK;
  if (stamp.saturated) flags |= FLAG_SATURATED;
  return flags;
}

/** The class at the call's operating point. */
function classAt(ctx: CallContext, p: number, predicted: string): string {
  const { decision, run } = ctx;
  if (decision.threshold === null) return predicted;
  return p >= decision.threshold ? decision.positive : run.classNames[1 - run.positive];
}

/** catalog.json's record of one frame. */
function frameSummary(
  ctx: CallContext,
  frame: FitsFrame,
  src: FrameSources,
  stamps: Stamp[],
  rows: CatalogRow[],
  stretch: StretchName,
): FrameSummary {
  return {
    ...emptyFrameSummary(frame.path, frame.hdu),
    width: frame.width,
    height: frame.height,
    wcs: frame.wcs !== undefined,
    pixel_scale_arcsec: pixelScale(frame),
    stretch,
    sources: src.positions.length,
    rows: rows.length,
    skipped_edge: ctx.opts.skipEdge ? stamps.filter((s) => s.edge).length : 0,
    all_blank: rows.filter((r) => r.p === null).length,
    counts: classCounts(rows),
  };
}

/** The frame's pixel scale from its WCS: √|det CD| in arcsec per pixel; null without a WCS. */
function pixelScale(frame: { wcs?: Wcs }): number | null {
  if (!frame.wcs) return null;
  const [[a, b], [c, d]] = frame.wcs.cd;
  return 3600 * Math.sqrt(Math.abs(a * d - b * c));
}

/**
 * Warns when a frame's pixel scale differs from the model's training scale by more than 10%
 * (the model's data.pixel_scale_arcsec; the released ARIES models record none, so for them —
 * and for frames without a WCS — there is nothing to compare and no warning).
 */
function checkPixelScale(ctx: CallContext, frame: FitsFrame): void {
  const want = ctx.run.config.data.pixel_scale_arcsec;
  const have = pixelScale(frame);
  if (want === null || have === null) return;
  if (Math.abs(have / want - 1) <= SCALE_TOLERANCE) return;
  ctx.warn(
    `warning: ${frame.path} has ${have.toPrecision(3)}″/pixel (its WCS), the model was trained ` +
      `on ${want}″/pixel (data.pixel_scale_arcsec): sources look ${
        have > want ? "smaller" : "larger"
      } in pixels than it learnt, so stars and galaxies may be confused; resample the frame ` +
      "or use a model trained at this scale",
  );
}

/** Warns when a field-context model's template comes from few sources. */
function warnFewSources(ctx: CallContext, path: string, n: number): void {
  if (!ctx.run.config.data.field_context || n >= MIN_FRAME_CUTOUTS || n === 0) return;
  ctx.warn(
    `warning: ${path} has ${n} source(s) to classify; the field-context template (their median ` +
      `cutout) is poor below ${MIN_FRAME_CUTOUTS}, so expect lower accuracy on this frame`,
  );
}

/** catalog.json's account of the call: the model, the rule, the positions, the stretch. */
function catalogHead(ctx: CallContext): CatalogHead {
  const { run } = ctx;
  const d = run.config.data;
  return {
    model: {
      given: ctx.opts.model ?? run.dir,
      dir: relativeTo(REPO_ROOT, run.dir),
      experiment: run.result.experiment,
      arch: run.model.arch,
      classes: run.classNames,
      size: d.size,
      center_crop: d.center_crop,
      stretch: d.stretch,
      field_context: d.field_context,
      pixel_scale_arcsec: d.pixel_scale_arcsec,
    },
    decision: ctx.decision,
    positions: ctx.table
      ? { from: "sources", file: ctx.table.file, kind: ctx.table.positions }
      : { from: "detection", how: "lib/frames/detect.ts with SEP's defaults" },
    skip_edge: ctx.opts.skipEdge ?? false,
    stretch: {
      ...stretchRecord(ctx.stretch),
      parameters: {
        percentile: d.stretch_percentile,
        asinh_a: d.asinh_a,
        zscale_contrast: d.zscale_contrast,
        zscale_samples: d.zscale_samples,
      },
    },
    pixel_scale_check: d.pixel_scale_arcsec === null
      ? "skipped: the model records no training pixel scale (data.pixel_scale_arcsec)"
      : `frames warned when more than ${
        100 * SCALE_TOLERANCE
      }% from ${d.pixel_scale_arcsec}″/pixel`,
    code: codeVersion(REPO_ROOT, ["results", "scratch"]),
  };
}

/**
 * Where a run's out-of-fold predictions are: for a released model whose recipe has a CV sweep
 * (lib/registry/card.ts), that sweep's cv.json; else the run's own predictions.csv.
 */
function outOfFoldPlace(run: LoadedRun): OutOfFoldPlace {
  const released = RELEASED.find((m) => resolve(REPO_ROOT, m.run) === resolve(run.dir));
  const cv = released ? recipeCvSweep(released.recipe) : null;
  return { cv: cv === null ? null : join(REPO_ROOT, cv), root: REPO_ROOT };
}

/**
 * The rule that turns probabilities into the class column: the model's own (default), a
 * threshold on p_<positive> (`threshold`), or the smallest threshold whose purity of the
 * positive class reaches `purity` on the model's published out-of-fold predictions
 * ({@link outOfFold}); lib/results/operating_point.ts.
 * @throws {StarmambaError} for both options at once, values outside (0, 1), a model of other
 *   than two classes, or a purity that no threshold reaches.
 */
export function decisionRule(run: LoadedRun, opts: ClassifyOptions): Decision {
  return operatingPoint(run, opts, outOfFoldPlace(run));
}

/**
 * The model's published out-of-fold predictions: for a released model whose recipe has a CV
 * sweep, that sweep's pooled fold predictions (each image predicted by the fold that held it
 * out); otherwise the run's own validation predictions.csv. Each with its run's prior
 * correction, so the scores are on the scale classify writes.
 * @throws {StarmambaError} when the run has neither.
 */
export function outOfFold(run: LoadedRun): OutOfFold {
  return outOfFoldAt(run, outOfFoldPlace(run));
}
