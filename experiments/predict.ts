/**
 * `deno task predict --model <name|run dir> [--context frame|single] <files or folders…>
 * [--out file.csv]` — classifies images with a trained run's best model and writes
 * `file,p_<positive class>,predicted` (`--context` is required for a field-context model).
 *
 * Images go through the same path as the run's validation images: decoded with sharp to [0, 1]
 * (grey replicated to RGB, or RGB reduced to luma, like the ImageFolder loader), normalised
 * with the run's augment.normalize_mean/std, and fed to the network rebuilt from
 * model/model.json with the run's backend and selective-scan kernel.
 * @module
 */
import {
  catalogPredictionsCsv,
  listInputs,
  loadRun,
  MIN_FRAME_CUTOUTS,
  predictCatalog,
  predictFiles,
  type PredictionRow,
  predictionsCsv,
  type PredictOptions,
  trainingClassWeights,
} from "../lib/experiment/predict.ts";
import { onnxModelOf } from "../lib/experiment/interchange.ts";
import type { ContextSource } from "../lib/experiment/run.ts";
import { numberOption, parseArgs, runMain } from "../lib/util/cli.ts";
import { IMAGE_EXTENSIONS } from "../lib/data/imagefolder.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { checkOutputFile, writeFileAtomic } from "../lib/util/fs.ts";

const USAGE = `usage: deno task predict --model <name|run dir> <files or folders...> [options]
       deno task predict --model <name|run dir> --catalog <sources.csv> [options]

Classifies images with the best model of a finished run and writes CSV rows
file,p_<positive class>,predicted (predicted = the most probable class). Folders are
searched recursively for ${IMAGE_EXTENSIONS.join(" ")} files and FITS (.fits .fit .fts,
gzipped too; read with the run's data.fits_hdu and data.stretch).

A run trained with data.field_context (the released aries-cpu-ctx-* models) reads each
cutout beside a template of its frame, and needs --context to say where that comes from:
  --context frame     the median of the cutouts of its frame given in this call (frames from
                      the <frame>_<x>_<y>_<code> file names, or a catalogue's frame column):
                      as trained, the most accurate; give every cutout of a frame in one call,
                      at least --min-per-frame of them. A prediction then depends on the other
                      cutouts of its frame in the call
  --context single    the cutout alone: a prediction depends on that file only, whatever else
                      is in the call, at lower accuracy (the model card gives both)
For a run without field context predictions never depend on the other files; --context
is not needed, and either value is accepted and changes nothing.

With --catalog, the cutouts (images or FITS) are the rows of a catalogue CSV (column path,
relative to the CSV; optional label, frame, ra, dec and any others), read with the run's
data settings (FITS HDU, stretch); the output is the catalogue's columns, unchanged (a label
column stays the true class), plus p_<positive class> and predicted.

options:
  --model <name|dir>  a released model (deno task models) or a run folder printed by
                      deno task experiment (holds model/model.json)
  --catalog <csv>     classify the cutouts a catalogue lists (see above)
  --context <c>       frame or single: where a field-context run's templates come from (see
                      above); required for such a run
  --min-per-frame <N> with --context frame: warn (one line listing them) about frames with
                      fewer than N cutouts in the call (default ${MIN_FRAME_CUTOUTS}); such a frame still
                      takes its template from the cutouts given (one cutout: itself, as
                      --context single)
  --out <file.csv>    write the CSV here (default: standard output)
  --batch <N>         images per forward pass (default: the run's train.eval_batch_size)
  --resize            resize images of another size to the model's (bilinear); default: only
                      if the run itself used data.resize: resize
  --tta               average each image's 8 flips and quarter turns (test-time augmentation);
                      default: what the run used (train.tta)
  --class-weight-power <p>
                      weight the probabilities by the class weights (N/count)^p of the run's
                      training split before labelling (0 ≤ p ≤ 1; 1 balances the classes): the
                      decision rule of deno task evaluate --class-weight-power p; the CSV then
                      holds the weighted probabilities
  --runtime <r>       starmamba (default) or onnx: the same images through onnxruntime, running
                      the run's network exported as one ONNX graph (built in memory, or the
                      file given with --onnx)
  --onnx <file>       with --runtime onnx: a graph from deno task export --format onnx
  --quiet             no progress output, no summary line (on standard error: the count of
                      each predicted class and the context used)
  -h, --help          this help

example:
  deno task predict --model scratch/quickstart/v1 cutouts/ --out predictions.csv
  deno task predict --model aries-cpu-ctx-release --context frame cutouts/ --out p.csv
  deno task predict --model scratch/own-sky/v1 --context frame --catalog sources.csv \\
    --out predictions.csv`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs(Deno.args, {
    model: { type: "string" },
    out: { type: "string" },
    batch: { type: "string" },
    resize: { type: "boolean" },
    tta: { type: "boolean" },
    "class-weight-power": { type: "string" },
    quiet: { type: "boolean" },
    runtime: { type: "string" },
    onnx: { type: "string" },
    catalog: { type: "string" },
    context: { type: "string" },
    "min-per-frame": { type: "string" },
  }, USAGE);
  if (!values.model) throw new StarmambaError(`--model <name|run dir> is required\n\n${USAGE}`);
  const runtime = (values.runtime as string | undefined) ?? "starmamba";
  if (runtime !== "starmamba" && runtime !== "onnx") {
    throw new StarmambaError(`--runtime ${runtime}: choose starmamba or onnx`);
  }
  if (values.onnx && runtime !== "onnx") {
    throw new StarmambaError("--onnx <file> goes with --runtime onnx");
  }

  const catalog = values.catalog as string | undefined;
  if (catalog !== undefined && positionals.length > 0) {
    throw new StarmambaError(
      `give either --catalog or image files and folders, not both (got ${positionals.join(" ")})`,
    );
  }
  if (catalog === undefined && positionals.length === 0) {
    throw new StarmambaError(`give at least one image file or folder, or --catalog\n\n${USAGE}`);
  }
  let batch: number | undefined;
  if (values.batch !== undefined) {
    batch = Number(values.batch);
    if (!Number.isInteger(batch) || batch < 1) {
      throw new StarmambaError(`--batch ${values.batch}: expected a positive integer, e.g. 64`);
    }
  }
  const power = numberOption("class-weight-power", values["class-weight-power"], 0, 1);
  const { context, minPerFrame } = contextOptions(values.context, values["min-per-frame"]);
  const quiet = Boolean(values.quiet);
  if (values.out) checkOutputFile(values.out as string, "--out"); // before the model loads
  const files = catalog === undefined ? listInputs(positionals) : [];
  const run = await loadRun(values.model as string, quiet);
  if (run.config.data.field_context && context === undefined) {
    throw new StarmambaError(contextRequired(values.model as string, minPerFrame));
  }
  let frames = 0;
  const onnxModel = runtime !== "onnx"
    ? undefined
    : values.onnx
    ? readOnnxFile(values.onnx as string)
    : onnxModelOf(run);
  const classWeights = power === undefined
    ? undefined
    : trainingClassWeights(run, values.model as string, power);
  let lastPct = -1;
  const t0 = performance.now();
  const options: PredictOptions = {
    batch,
    resize: values.resize ? true : undefined,
    tta: values.tta ? true : undefined,
    classWeights,
    onnxModel,
    context,
    minPerFrame,
    onFrames: (counts) => frames = counts.size,
    progress: quiet ? undefined : (done, total) => {
      const pct = Math.floor((100 * done) / total);
      if (
        total > (batch ?? run.config.train.eval_batch_size) &&
        (pct >= lastPct + 10 || done === total)
      ) {
        lastPct = pct;
        const rate = done / ((performance.now() - t0) / 1000);
        console.error(`predicting: ${done}/${total} images (${rate.toFixed(0)} img/s)`);
      }
    },
  };
  let rows: PredictionRow[], csv: string;
  if (catalog === undefined) {
    rows = await predictFiles(run, files, options);
    csv = predictionsCsv(run, rows);
  } else {
    const out = await predictCatalog(run, catalog, options);
    rows = out.rows;
    csv = catalogPredictionsCsv(run, out.table, rows);
  }
  run.model.params.dispose();
  if (values.out) writeFileAtomic(values.out as string, csv);
  else await Deno.stdout.write(new TextEncoder().encode(csv));
  if (!quiet) {
    const counts = run.classNames.map((c) =>
      `${rows.filter((r) => r.predicted === c).length} ${c}`
    );
    const ctx = !run.config.data.field_context
      ? "no field context"
      : context === "single"
      ? "context single: each cutout alone"
      : `context frame: ${frames} frame(s), templates from the cutouts given`;
    console.error(
      `${
        values.out
          ? `wrote ${rows.length} predictions to ${values.out}`
          : `predicted ${rows.length} image${rows.length === 1 ? "" : "s"}`
      } ` +
        `(${counts.join(", ")}; ${ctx})`,
    );
  }
  return 0;
}

/** --context and --min-per-frame, checked; context undefined when not given. */
function contextOptions(
  contextArg: unknown,
  minArg: unknown,
): { context?: ContextSource; minPerFrame?: number } {
  const context = contextArg as string | undefined;
  if (context !== undefined && context !== "frame" && context !== "single") {
    throw new StarmambaError(`--context ${context}: choose frame or single`);
  }
  if (minArg === undefined) return { context };
  const min = Number(minArg);
  if (!Number.isInteger(min) || min < 1) {
    throw new StarmambaError(`--min-per-frame ${minArg}: give a whole number ≥ 1, e.g. 20`);
  }
  if (context !== "frame") {
    throw new StarmambaError(
      `--min-per-frame ${minArg} goes with --context frame (it counts the cutouts of a frame)`,
    );
  }
  return { context, minPerFrame: min };
}

/** The one-line error for a field-context run called without --context. */
function contextRequired(model: string, minPerFrame: number | undefined): string {
  return `--model ${model} uses field context (data.field_context: each cutout is read beside ` +
    "a template of its frame): pass --context frame (the template is the median of the " +
    "cutouts of its frame given in this call, as trained: give every cutout of a frame " +
    `together, at least ${minPerFrame ?? MIN_FRAME_CUTOUTS} per frame) or --context single ` +
    "(each cutout alone: the same result whatever else is given, lower accuracy)";
}

/** The bytes of an ONNX file; a missing one is a clear error. */
function readOnnxFile(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    throw new StarmambaError(`--onnx ${path}: cannot read it (${(e as Error).message})`);
  }
}

if (import.meta.main) await runMain(main);
