/**
 * `deno task classify <frame.fits>… --model <name|run> --out <dir>` — from telescope frames to a
 * star/galaxy catalogue (lib/experiment/classify.ts): sources detected or listed, cut and
 * classified through the model's own pipeline, one row per source in `<dir>/catalog.csv`;
 * `--slurm` shards the frames over a job array and `--collect` merges the shards
 * (lib/experiment/classify_slurm.ts).
 * @module
 */
import {
  checkClassifyCall,
  classifyFrames,
  type ClassifyProgress,
} from "../lib/experiment/classify.ts";
import {
  collectClassify,
  readClassifyJob,
  runClassifyTask,
  type ShardOptions,
  submitClassifyJob,
  writeClassifyJob,
} from "../lib/experiment/classify_slurm.ts";
import { queuedTasks } from "../lib/experiment/slurm.ts";
import {
  SLURM_CLI_OPTIONS,
  SLURM_CLI_USAGE,
  SLURM_FLAGS,
  slurmOptionsOf,
} from "../lib/experiment/slurm_array.ts";
import { type LoadedRun, loadRun } from "../lib/experiment/predict.ts";
import { shellWord } from "../lib/results/provenance.ts";
import { numberOption, parseArgs, runMain } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { checkOutputDir, exists } from "../lib/util/fs.ts";

const USAGE =
  `usage: deno task classify <frame.fits>... --model <name|run dir> --out <dir> [options]
       deno task classify <frame.fits>... --model <name|run dir> --out <dir> --slurm [options]
       deno task classify --collect <dir>

Finds the sources of telescope frames (FITS images, .fits/.fit/.fts, gzipped too), cuts the
model's cutout around each as its training cutouts were cut, classifies them with the model's
own stretch, field context and normalisation, and writes into <dir>:
  catalog.csv, catalog.fits  one row per source (the FITS file a BINTABLE for astropy, TOPCAT)
  catalog.json               the model, the operating point and how it was chosen, the
                             stretch, the frames, the code's commit
  <frame>.reg, <frame>.png   per frame: DS9 regions (circles coloured by class, the probability
                             as text) and a zscale preview with the sources circled by class
Frames are read one at a time.

A field-context model reads each cutout beside the median cutout of its frame's sources (all
of them): a source's probability depends on its frame alone, never on the other frames given.

catalog.csv columns: frame, id, x, y (FITS pixels, 1-based, as X_IMAGE/Y_IMAGE), ra, dec
(degrees, when the frame has a WCS), flux (detection's FLUX_ISO), flags (bits: 1 blended,
2 edge: the cutout runs off the frame and is padded with the local background, 16 saturated,
32 blank pixels in the cutout), p_<positive class> (e.g. p_galaxy), class, then every other
column of --sources (renamed sources_<name> where a name is taken).

options:
  --model <name|dir>  a released model (deno task models) or a run folder
  --out <dir>         the output folder (created)
  --sources <csv>     classify these positions instead of detecting: columns x,y (FITS pixels,
                      1-based) or ra,dec (degrees; the frame needs a WCS), optional frame (the
                      frame file's name or stem; needed with several frames), any others
                      carried through. A row off its frame stops that frame (exit 2 at the end;
                      the other frames are still written)
  --hdu <N>           the HDU holding each frame's image (default: the primary, or the first
                      image extension when the primary is empty, said on standard error)
  --stretch <S>       the cutouts' display stretch: identity, linear, minmax, asinh or zscale.
                      Default: the model's own (data.stretch); for a model trained on display
                      images (data.stretch identity: JPEG cutouts, as the released ARIES
                      models), on a frame not already in [0, 1]: the display stretch for a
                      model trained on display images: zscale per cutout (assumed; ARIES
                      cutouts look like it). --stretch identity feeds such a model the frame's
                      values as read. Given for a model trained with a stretch of its own, it
                      warns (not what the model learnt)
  --threshold <T>     class = the positive class (galaxy) where p >= T
  --purity <P>        the smallest threshold whose galaxy purity is >= P on the model's
                      published out-of-fold predictions (its CV sweep, pooled, or its own
                      validation predictions; catalog.json says which)
                      (default, neither: the model's own decision rule, as deno task predict)
  --skip-edge         leave out sources whose cutout runs off the frame (default: keep them,
                      padded with the local background and flagged)
  --batch <N>         cutouts per forward pass (default: the run's train.eval_batch_size)
  --quiet             no progress bars or summary on standard error
  -h, --help          this help

on a SLURM cluster (one job array, as deno task ablate --slurm):
  --slurm             shard the frames over a job array: <dir>/slurm/{job.json,manifest.tsv,
                      classify.sbatch}, submitted with sbatch. Task k classifies its frames
                      with the options above into <dir>/shards/<k>/; a finished shard is
                      skipped when its task is requeued. Run the same command again once the
                      array has ended: it submits the unfinished shards, or collects
  --frames-per-task N frames per array task (default 1)
${SLURM_CLI_USAGE}
  --collect <dir>     merge <dir>/shards/*/ into <dir>/ (catalog.csv/.fits/.json, each frame's
                      .reg/.png); refused, naming them, while shards are missing

examples:
  deno task classify night1/*.fits --model aries-cpu-ctx-release --out catalogue/
  deno task classify field.fits --model scratch/own-sky/v1 --sources sextractor.csv \\
    --purity 0.9 --out catalogue/
  deno task classify night1/*.fits --model aries-cpu-ctx-release --out /project/cat \\
    --slurm --frames-per-task 4 --partition cpu --time 01:00:00
  deno task classify --collect /project/cat`;

/** The options of every mode. */
const OPTIONS = {
  model: { type: "string" },
  out: { type: "string" },
  sources: { type: "string" },
  hdu: { type: "string" },
  stretch: { type: "string" },
  threshold: { type: "string" },
  purity: { type: "string" },
  "skip-edge": { type: "boolean" },
  batch: { type: "string" },
  quiet: { type: "boolean" },
  slurm: { type: "boolean" },
  "frames-per-task": { type: "string" },
  collect: { type: "string" },
  ...SLURM_CLI_OPTIONS,
} as const;

/** Parsed command-line values. */
type Values = Record<string, unknown>;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs(Deno.args, OPTIONS, USAGE);
  if (values["slurm-task"] !== undefined) return await slurmTask(values);
  if (values.collect !== undefined) {
    if (values.slurm || positionals.length > 0) {
      throw new StarmambaError("--collect <dir> takes no frames and no --slurm: it merges <dir>");
    }
    return await collect(values.collect as string, values);
  }
  if (!values.model) throw new StarmambaError(`--model <name|run dir> is required\n\n${USAGE}`);
  if (!values.out) throw new StarmambaError(`--out <dir> is required\n\n${USAGE}`);
  if (positionals.length === 0) {
    throw new StarmambaError(`give at least one FITS frame\n\n${USAGE}`);
  }
  if (!values.slurm) {
    const only = ["frames-per-task", "dry-run", ...SLURM_FLAGS].find((f) =>
      values[f] !== undefined
    );
    if (only) throw new StarmambaError(`--${only} goes with --slurm`);
  }
  const options = shardOptions(values);
  const out = values.out as string;
  checkOutputDir(out, "--out"); // before the model loads
  const quiet = Boolean(values.quiet);
  const run = await loadRun(values.model as string, quiet);
  try {
    if (values.slurm) return await submit(run, positionals, options, values);
    return await classifyHere(run, positionals, options, values);
  } finally {
    run.model.params.dispose();
  }
}

/** The options every frame (and every shard) is classified with, checked. */
function shardOptions(values: Values): ShardOptions {
  return {
    sources: values.sources as string | undefined,
    hdu: wholeNumber("hdu", values.hdu, 0),
    stretch: values.stretch as ShardOptions["stretch"],
    threshold: numberOption("threshold", values.threshold as string | undefined, 0, 1),
    purity: numberOption("purity", values.purity as string | undefined, 0, 1),
    skipEdge: values["skip-edge"] ? true : undefined,
    batch: wholeNumber("batch", values.batch, 1),
  };
}

/** The frames classified in this process, with progress bars. */
async function classifyHere(
  run: LoadedRun,
  frames: string[],
  options: ShardOptions,
  values: Values,
): Promise<number> {
  const quiet = Boolean(values.quiet);
  const out = values.out as string;
  const bar = new FrameBars(quiet);
  try {
    const s = await classifyFrames(run, frames, out, {
      ...options,
      model: values.model as string,
      progress: (p) => bar.update(p),
      warn: (m) => bar.log(m),
    });
    bar.finish();
    if (!quiet) {
      const counts = Object.entries(s.counts).map(([c, n]) => `${n} ${c}`).join(", ");
      const stretches = [...new Set(s.frames.map((f) => f.stretch).filter((x) => x !== null))];
      const assumed = s.stretch.given === null && s.stretch.trained === "identity" &&
        stretches.includes("zscale");
      console.error(
        `wrote ${s.rows} rows of ${s.frames.length} frame(s) to ${out}/catalog.csv ` +
          `(${counts || "no sources"}; class by ${s.decision.how}; cutout stretch ` +
          `${stretches.join(", ") || "—"}${
            assumed ? ": the assumed display stretch of a model trained on display images" : ""
          })`,
      );
    }
  } finally {
    bar.finish();
  }
  return 0;
}

/**
 * --slurm: checks the call, writes the job for the unfinished shards and submits it — unless
 * the last array is still queued (then says how to follow it) or every shard has finished
 * (then collects).
 */
async function submit(
  run: LoadedRun,
  frames: string[],
  options: ShardOptions,
  values: Values,
): Promise<number> {
  const slurm = slurmOptionsOf(values);
  checkClassifyCall(run, frames, { ...options, warn: (m) => console.error(m) });
  const missing = frames.find((f) => !exists(f));
  if (missing) throw new StarmambaError(`${missing}: no such frame; check the path`);
  const out = values.out as string;
  const last = readClassifyJob(out)?.submissions.at(-1)?.job_id;
  if (!values["dry-run"] && last) {
    const queued = await queuedTasks(last);
    if (queued.size > 0) {
      console.log(
        `job ${last} still has ${queued.size} task(s) queued or running; follow it with ` +
          `squeue -j ${last} (logs in ${out}/slurm/logs/), then run this again or --collect`,
      );
      return 0;
    }
  }
  const perTask = wholeNumber("frames-per-task", values["frames-per-task"], 1);
  const plan = writeClassifyJob(
    { model: values.model as string, frames, out, options, framesPerTask: perTask },
    slurm,
  );
  if (plan.job.tasks.length === 0) {
    console.log(`every shard of ${out} has finished (${plan.finished}); collecting`);
    return await collect(out, values);
  }
  console.log(
    `${plan.job.tasks.length} shard(s) to do, ${plan.finished} already finished: ` +
      `${plan.manifest}, ${plan.script}`,
  );
  if (values["dry-run"]) {
    console.log(`not submitted (--dry-run); submit with: sbatch ${plan.script}`);
    return 0;
  }
  const id = await submitClassifyJob(plan);
  console.log(`submitted job array ${id} (${plan.job.tasks.length} tasks)`);
  console.log(`follow:  squeue -j ${id}    logs: ${out}/slurm/logs/${id}_<index>.log`);
  console.log(`collect: deno task classify --collect ${shellWord(out)}  (or this command again)`);
  return 0;
}

/** --collect <dir>: the shards merged into <dir>. */
async function collect(out: string, values: Values): Promise<number> {
  const c = await collectClassify(out);
  if (!values.quiet) {
    console.error(
      `merged ${c.shards} shard(s): ${c.rows} rows of ${c.frames} frame(s) in ${out}/catalog.csv`,
    );
  }
  return 0;
}

/** --slurm-task <job.json> --index i: one array task (run by classify.sbatch on a node). */
async function slurmTask(values: Values): Promise<number> {
  const index = values.index as string | undefined;
  if (index === undefined || !/^\d+$/.test(index)) {
    throw new StarmambaError(`--slurm-task needs --index <array task id>, got ${index}`);
  }
  await runClassifyTask(values["slurm-task"] as string, Number(index));
  return 0;
}

/** An integer option ≥ `min`, or undefined when not given. */
function wholeNumber(name: string, value: unknown, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new StarmambaError(`--${name} ${value}: give a whole number ≥ ${min}`);
  }
  return n;
}

/**
 * Progress on standard error: on a terminal one line redrawn (this frame's bar, then all
 * frames'), otherwise a line per finished frame.
 */
class FrameBars {
  private readonly tty: boolean;
  private readonly start = performance.now();
  private readonly enc = new TextEncoder();
  private drawn = false;

  constructor(private readonly quiet: boolean) {
    this.tty = !quiet && Deno.stderr.isTerminal();
  }

  update(p: ClassifyProgress): void {
    if (this.quiet) return;
    const rate = p.sources / Math.max(1e-3, (performance.now() - this.start) / 1000);
    const all = `all ${bar(p.frame + (p.stage === "done" ? 1 : 0), p.frames)} ` +
      `${p.frame + 1}/${p.frames} frames, ${p.sources} sources (${rate.toFixed(0)}/s)`;
    if (this.tty) {
      const mine = p.total > 0 ? `${bar(p.done, p.total)} ${p.done}/${p.total}` : "";
      this.draw(`${p.name} ${p.stage} ${mine}  ${all}`);
    } else if (p.stage === "done" || p.stage === "failed") {
      console.error(
        `${p.name}: ${p.stage === "done" ? `${p.total} classified` : "failed"}; ${all}`,
      );
    }
  }

  /** A line (a warning) that does not break the bar. */
  log(message: string): void {
    if (this.tty && this.drawn) Deno.stderr.writeSync(this.enc.encode("\r\x1b[2K"));
    console.error(message);
    this.drawn = false;
  }

  finish(): void {
    if (this.tty && this.drawn) Deno.stderr.writeSync(this.enc.encode("\n"));
    this.drawn = false;
  }

  private draw(line: string): void {
    let cols = 120;
    try {
      cols = Deno.consoleSize().columns;
    } catch { /* not a console: keep 120 */ }
    Deno.stderr.writeSync(this.enc.encode(`\r${line.slice(0, cols - 1).padEnd(cols - 1)}`));
    this.drawn = true;
  }
}

/** A 20-character bar of done/total. */
function bar(done: number, total: number): string {
  const fill = Math.round((20 * done) / Math.max(total, 1));
  return "█".repeat(fill) + "░".repeat(20 - fill);
}

if (import.meta.main) await runMain(main);
