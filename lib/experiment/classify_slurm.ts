/**
 * `deno task classify --slurm` / `--collect`: the frames of a call sharded over a SLURM job array
 * (the machinery of `deno task ablate --slurm`, lib/experiment/slurm.ts: sbatch, squeue, the
 * requeue at the time limit). Shard k holds frames k·N … k·N + N − 1 (`--frames-per-task N`) and
 * its task classifies them with the call's options into `<out>/shards/<k>/`, exactly as one
 * call on those frames would; `--collect` merges the shards with {@link mergeCatalogs} into
 * `<out>/`, the folder one call over every frame writes (a source's probability depends on its
 * frame alone, so sharding changes no row).
 *
 *     <out>/slurm/job.json         model, frames, options, shards, this array's tasks, job ids
 *     <out>/slurm/manifest.tsv     index, shard, folder, frames (JSON)
 *     <out>/slurm/classify.sbatch  #SBATCH --array=0-(T-1)%K … exec deno … --slurm-task
 *     <out>/slurm/logs/<job>_<index>.log
 *     <out>/shards/<k>/            catalog.csv/.fits/.json and each frame's .reg/.png
 *
 * A shard is finished when its catalog.json lists its frames (written last, atomically); a
 * task started again after that (a requeue racing the end, a resubmitted array) skips it, and
 * `--slurm` again submits only the unfinished shards. A task stopped part-way classifies its
 * shard again from the start: a shard is a few frames, minutes at most.
 * @module
 */
import { join, relative, resolve } from "node:path";
import {
  type ManifestLine,
  queuedTasks,
  requeueIfTimeLimit,
  type SlurmOptions,
  submitSlurm,
} from "./slurm.ts";
import { arraySbatch } from "./slurm_array.ts";
import { classifyFrames, type ClassifyOptions, failedFramesLine } from "./classify.ts";
import { loadRun } from "./predict.ts";
import { type FrameSummary, mergeCatalogs } from "../results/catalog_files.ts";
import { StarmambaError } from "../util/errors.ts";
import { exists, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";

/** The options of the call every shard repeats (what a job file can hold). */
export type ShardOptions = Pick<
  ClassifyOptions,
  "sources" | "hdu" | "stretch" | "threshold" | "purity" | "skipEdge" | "batch"
>;

/** What `--slurm` shards: the call as typed. */
export interface ClassifyCall {
  /** The model as given (a released name or a run folder). */
  model: string;
  /** The frames as given (relative to `root`, where every task starts). */
  frames: string[];
  /** The output folder. */
  out: string;
  /** The options every shard is classified with. */
  options: ShardOptions;
  /** Frames per array task (default 1). */
  framesPerTask?: number;
  /** The tasks' working directory (default the current one). */
  root?: string;
}

/** `<out>/slurm/job.json`. */
export interface ClassifyJob {
  /** Format of this file. */
  schema: "starmamba.classify-job/1";
  /** The tasks' working directory. */
  root: string;
  /** The output folder, absolute. */
  out: string;
  /** The model as given. */
  model: string;
  /** Every frame, as given. */
  frames: string[];
  /** The options of every shard. */
  options: ShardOptions;
  /** Frames per shard. */
  frames_per_task: number;
  /** Shard k's frames. */
  shards: string[][];
  /** The latest array: its task `index` classifies shard `shard`. */
  tasks: { index: number; shard: number }[];
  /** Every submission, oldest first (job ids for squeue and the logs). */
  submissions: { job_id: string; submitted: string; tasks: number }[];
}

/** What {@link writeClassifyJob} wrote. */
export interface ClassifyPlan {
  /** `<out>/slurm`. */
  dir: string;
  /** The sbatch script. */
  script: string;
  /** manifest.tsv. */
  manifest: string;
  /** The job as written. */
  job: ClassifyJob;
  /** Shards already finished (left out of the array). */
  finished: number;
}

/** `<out>/slurm`. */
export function classifySlurmDir(out: string): string {
  return join(out, "slurm");
}

/** Shard k's folder. */
export function shardDir(out: string, k: number): string {
  return join(out, "shards", String(k));
}

/** Whether shard k has finished: its catalog.json lists exactly its frames. */
export function shardFinished(job: Pick<ClassifyJob, "out" | "shards">, k: number): boolean {
  const file = join(shardDir(job.out, k), "catalog.json");
  if (!exists(file)) return false;
  try {
    const frames = (JSON.parse(Deno.readTextFileSync(file)).frames as FrameSummary[]).map((f) =>
      f.file
    );
    return JSON.stringify(frames) === JSON.stringify(job.shards[k]);
  } catch {
    return false; // unreadable: classified again
  }
}

/** `<out>/slurm/job.json`, or null when absent or unreadable. */
export function readClassifyJob(out: string): ClassifyJob | null {
  return readJobFile(join(classifySlurmDir(out), "job.json"));
}

/** A classify job file, or null when absent, unreadable or of another kind. */
function readJobFile(file: string): ClassifyJob | null {
  try {
    const job = JSON.parse(Deno.readTextFileSync(file));
    return job?.schema === "starmamba.classify-job/1" ? job as ClassifyJob : null;
  } catch {
    return null;
  }
}

/**
 * Writes job.json, manifest.tsv and classify.sbatch for the call's unfinished shards (a folder
 * that already holds a job of this call keeps its submissions and finished shards).
 * @throws {StarmambaError} when `<out>` holds a job of other frames, model or options, or for a
 *   bad `--frames-per-task` or SLURM option.
 */
export function writeClassifyJob(call: ClassifyCall, o: SlurmOptions): ClassifyPlan {
  const n = call.framesPerTask ?? 1;
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new StarmambaError(`--frames-per-task ${n}: give a whole number ≥ 1`);
  }
  const out = resolve(call.out);
  const shards: string[][] = [];
  for (let i = 0; i < call.frames.length; i += n) shards.push(call.frames.slice(i, i + n));
  const previous = readClassifyJob(out);
  const job: ClassifyJob = {
    schema: "starmamba.classify-job/1",
    root: resolve(call.root ?? Deno.cwd()),
    out,
    model: call.model,
    frames: call.frames,
    options: withoutUndefined(call.options),
    frames_per_task: n,
    shards,
    tasks: [],
    submissions: previous?.submissions ?? [],
  };
  if (previous && sameCall(previous) !== sameCall(job)) {
    throw new StarmambaError(
      `${join(classifySlurmDir(out), "job.json")} is a job of other frames, model, options or ` +
        "working folder; give another --out (or remove that folder) to classify these",
    );
  }
  const todo = shards.map((_, k) => k).filter((k) => !shardFinished(job, k));
  job.tasks = todo.map((shard, index) => ({ index, shard }));
  return writeJobFiles(job, o, shards.length - todo.length);
}

/** The parts of a job that must match for a folder to continue it. */
function sameCall(j: ClassifyJob): string {
  return JSON.stringify([j.root, j.model, j.frames, j.options, j.frames_per_task]);
}

/** The options without the keys left undefined (so job.json compares as written). */
function withoutUndefined(o: ShardOptions): ShardOptions {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as ShardOptions;
}

/** job.json, manifest.tsv and the sbatch script of a job. */
function writeJobFiles(job: ClassifyJob, o: SlurmOptions, finished: number): ClassifyPlan {
  const dir = classifySlurmDir(job.out);
  Deno.mkdirSync(join(dir, "logs"), { recursive: true });
  const jobFile = join(dir, "job.json");
  writeJsonAtomic(jobFile, job);
  const manifest = join(dir, "manifest.tsv");
  writeFileAtomic(
    manifest,
    [
      "index\tshard\tfolder\tframes",
      ...job.tasks.map((t) =>
        `${t.index}\t${t.shard}\t${relative(job.out, shardDir(job.out, t.shard))}\t` +
        JSON.stringify(job.shards[t.shard])
      ),
    ].join("\n") + "\n",
  );
  const script = join(dir, "classify.sbatch");
  if (job.tasks.length > 0) {
    const text = arraySbatch({
      name: "starmamba-classify",
      comment: [
        `# starmamba classify: ${job.frames.length} frame(s) in ${job.shards.length} shard(s) ` +
        `of ${job.frames_per_task}; task i classifies the shard of manifest.tsv's line i into`,
        `# ${job.out}/shards/<shard>/. Written by deno task classify --slurm; submit with sbatch.`,
      ],
      tasks: job.tasks.length,
      logs: join(dir, "logs"),
      chdir: job.root,
      cli: "experiments/classify.ts",
      jobFile,
    }, o);
    writeFileAtomic(script, text);
  }
  return { dir, script, manifest, job, finished };
}

/**
 * Submits a plan's array with sbatch (lib/experiment/slurm.ts submitSlurm: the job id is added
 * to job.json's submissions); returns the job id.
 */
export async function submitClassifyJob(plan: ClassifyPlan): Promise<string> {
  // submitSlurm reads only the folder, the script and how many tasks there are.
  const tasks: ManifestLine[] = plan.job.tasks.map((t) => ({
    index: t.index,
    key: `shard ${t.shard}`,
    runFolder: relative(plan.job.out, shardDir(plan.job.out, t.shard)),
    overrides: [],
  }));
  return await submitSlurm({ ...plan, tasks });
}

/** What one array task did. */
export interface ShardOutcome {
  /** The shard. */
  shard: number;
  /** Its folder. */
  dir: string;
  /** It had finished before this task started (nothing was done). */
  skipped: boolean;
}

/**
 * Runs array task `index` of the job file `<out>/slurm/job.json` (called by classify.sbatch on a
 * node): its shard's frames classified
 * into `<out>/shards/<k>/` with the call's options, unless the shard has finished. SIGTERM
 * before the time limit puts the task back in the queue (it starts the shard again).
 * @throws {StarmambaError} for an unreadable job file or an index not in it; a shard's failed
 *   frames are thrown after its folder is written (as one call does), so the task's exit
 *   status shows them.
 */
export async function runClassifyTask(jobFile: string, index: number): Promise<ShardOutcome> {
  const job = readJobFile(jobFile);
  if (job === null) {
    throw new StarmambaError(
      `${jobFile} cannot be read on ${Deno.hostname()}: the output folder must be on a ` +
        "filesystem the compute nodes share with the login node (not /tmp)",
    );
  }
  const task = job.tasks.find((t) => t.index === index);
  if (!task) throw new StarmambaError(`${jobFile}: no task ${index} in this job`);
  const dir = shardDir(job.out, task.shard);
  if (shardFinished(job, task.shard)) {
    console.log(`shard ${task.shard}: already finished in ${dir}`);
    return { shard: task.shard, dir, skipped: true };
  }
  const onTerm = () => {
    console.log(`shard ${task.shard}: SIGTERM; it starts again from its first frame`);
    requeueIfTimeLimit().finally(() => Deno.exit(143));
  };
  Deno.addSignalListener("SIGTERM", onTerm);
  const run = await loadRun(job.model, true);
  try {
    console.log(`shard ${task.shard}: ${job.shards[task.shard].join(", ")}`);
    await classifyFrames(run, job.shards[task.shard], dir, {
      ...job.options,
      model: job.model,
      warn: (m) => console.log(m),
    });
    console.log(`shard ${task.shard}: finished in ${dir}`);
    return { shard: task.shard, dir, skipped: false };
  } finally {
    Deno.removeSignalListener("SIGTERM", onTerm);
    run.model.params.dispose();
  }
}

/** What {@link collectClassify} merged. */
export interface Collected {
  /** Catalogue rows. */
  rows: number;
  /** Frames (failed ones included, with their `error` in catalog.json). */
  frames: number;
  /** Shards merged. */
  shards: number;
}

/**
 * `--collect <out>`: merges every shard's folder into `<out>/` once all have finished.
 * @throws {StarmambaError} one line naming the unfinished shards (with squeue's state and the
 *   log of each), or after merging, the frames that could not be classified (as one call does).
 */
export async function collectClassify(out: string): Promise<Collected> {
  const job = readClassifyJob(out);
  if (job === null) {
    throw new StarmambaError(
      `${out}: no classify job in it (slurm/job.json); start one with deno task classify ` +
        "<frames>… --model <name> --out <dir> --slurm",
    );
  }
  const missing = job.shards.map((_, k) => k).filter((k) => !shardFinished(job, k));
  if (missing.length > 0) throw new StarmambaError(await missingLine(job, missing));
  const dirs = job.shards.map((_, k) => shardDir(job.out, k));
  const merged = mergeCatalogs(dirs, job.out);
  const frames: FrameSummary[] = JSON.parse(
    Deno.readTextFileSync(join(job.out, "catalog.json")),
  ).frames;
  const failed = frames.filter((f) => f.error !== undefined);
  if (failed.length > 0) {
    throw new StarmambaError(failedFramesLine(failed, merged.rows, job.out));
  }
  return { ...merged, shards: dirs.length };
}

/** One line: which shards are missing, each with squeue's state and its log. */
async function missingLine(job: ClassifyJob, missing: number[]): Promise<string> {
  const last = job.submissions.at(-1);
  const queued = last
    ? await queuedTasks(last.job_id).catch(() => new Map<number, string>())
    : new Map<number, string>();
  const each = missing.map((k) => {
    const task = job.tasks.find((t) => t.shard === k);
    if (!task || !last) return `shards/${k} (not submitted)`;
    const log = join(classifySlurmDir(job.out), "logs", `${last.job_id}_${task.index}.log`);
    const state = queued.get(task.index) ?? "ended";
    return `shards/${k} (${state}${exists(log) ? `, log ${log}` : ""})`;
  });
  return `${missing.length} of ${job.shards.length} shard(s) of ${job.out} not finished: ` +
    `${each.join(", ")}; wait for the array, or run the same --slurm command again to submit ` +
    "the unfinished ones";
}
