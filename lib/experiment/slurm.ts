/**
 * Sweeps on a SLURM cluster, without a scheduler of our own: `deno task ablate <sweep> --slurm`
 * writes the unfinished runs of a sweep as one job array — `slurm/manifest.tsv` (one line per
 * run: array index, name, run folder, overrides) and `slurm/sweep.sbatch`, whose task `i` runs
 * line `i` through the same runner as `deno task experiment` — and submits it with sbatch.
 * A task stopped by SIGTERM (preemption, `scontrol requeue`, or `--signal` before its time
 * limit) saves its state like Ctrl-C and, started again, resumes from it, so it ends with the
 * weights of an uninterrupted run. `--collect` writes the summary, the same one a local sweep
 * writes, once every run is there.
 *
 *     <sweep>/slurm/job.json        base config, project root, overrides per index, job ids
 *     <sweep>/slurm/manifest.tsv    index, name, run folder, overrides (JSON)
 *     <sweep>/slurm/sweep.sbatch    #SBATCH --array=0-(N-1)%K … exec deno … --slurm-task
 *     <sweep>/slurm/logs/<job>_<index>.log
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import { loadConfig } from "../config/load.ts";
import { runExperiment, type RunSummary } from "./run.ts";
import {
  findRun,
  finishSweep,
  locateRun,
  type OpenedSweep,
  recordLocated,
  runOverrides,
  saveSweepState,
  type SweepOutcome,
} from "./sweep.ts";
import { arraySbatch, checkSlurmOptions, type SlurmOptions } from "./slurm_array.ts";
import { readRunRecord } from "../results/run_record.ts";
import { StarmambaError } from "../util/errors.ts";
import { exists, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";

// The #SBATCH settings and their check live with the generic job array; callers of this module
// (deno task ablate, classify_slurm.ts, mod.ts) keep importing them from here.
export { checkSlurmOptions, type SlurmOptions };

/** One task of the array: a run of the sweep. */
export interface ManifestLine {
  /** SLURM_ARRAY_TASK_ID of the task. */
  index: number;
  /** The run's key in sweep.json, `<variant>/seed<seed>`. */
  key: string;
  /** The run's experiment folder under the sweep's `runs/`, relative to the sweep folder. */
  runFolder: string;
  /** The `--set` overrides of `deno task experiment <base>` that make the run. */
  overrides: string[];
}

/** slurm/job.json: what a task needs to run its line. */
export interface SlurmJob {
  /** Format of this file. */
  schema: 1;
  /** Project root (the tasks' working directory). */
  root: string;
  /** The sweep version folder. */
  sweep_dir: string;
  /** The base experiment config, absolute. */
  base: string;
  /** The array's tasks. */
  tasks: ManifestLine[];
  /** Job ids of every submission of this sweep, oldest first. */
  submissions: { job_id: string; submitted: string; tasks: number }[];
}

/** What {@link writeSlurmJob} wrote. */
export interface SlurmPlan {
  /** The sweep's slurm/ folder. */
  dir: string;
  /** slurm/sweep.sbatch. */
  script: string;
  /** slurm/manifest.tsv. */
  manifest: string;
  /** The tasks (unfinished runs); empty when every run has finished. */
  tasks: ManifestLine[];
  /** Runs already finished (left out of the array). */
  finished: number;
}

/** The slurm/ folder of a sweep. */
export function slurmDir(sweepDir: string): string {
  return join(sweepDir, "slurm");
}

/** What {@link writeSweepJob} wrote: job.json and manifest.tsv of a sweep's unfinished runs. */
export interface SweepJobFile {
  /** job.json. */
  jobFile: string;
  /** manifest.tsv. */
  manifest: string;
  /** The tasks (unfinished runs); empty when every run has finished. */
  tasks: ManifestLine[];
  /** Runs already finished (left out). */
  finished: number;
}

/**
 * Writes `dir`/job.json and `dir`/manifest.tsv for the sweep's unfinished runs (finished ones
 * are left out, as a local sweep skips them) and records where each run is in sweep.json: what
 * both an array task (`--slurm-task <job.json> --index i`) and `ablate --jobs` run line by line.
 */
export function writeSweepJob(sw: OpenedSweep, dir: string): SweepJobFile {
  Deno.mkdirSync(join(dir, "logs"), { recursive: true });
  const tasks: ManifestLine[] = [];
  let finished = 0;
  for (const r of sw.runs) {
    const found = locateRun(sw, r);
    const runDir = found.done ?? found.partial;
    recordLocated(sw, r, found);
    if (found.done) {
      finished++;
      continue;
    }
    tasks.push({
      index: tasks.length,
      key: r.key,
      runFolder: runDir
        ? relative(sw.sweepDir, runDir)
        : relative(sw.sweepDir, join(sw.sweepDir, "runs", found.loaded.config.experiment)),
      overrides: runOverrides(sw, r),
    });
  }
  saveSweepState(sw);
  const jobFile = join(dir, "job.json");
  const previous = readJob(jobFile);
  const job: SlurmJob = {
    schema: 1,
    root: sw.root,
    sweep_dir: sw.sweepDir,
    base: resolve(sw.spec.base),
    tasks,
    submissions: previous?.submissions ?? [],
  };
  writeJsonAtomic(jobFile, job);
  const manifest = join(dir, "manifest.tsv");
  writeFileAtomic(
    manifest,
    [
      "index\tname\trun_folder\toverrides",
      ...tasks.map((t) => `${t.index}\t${t.key}\t${t.runFolder}\t${JSON.stringify(t.overrides)}`),
    ].join("\n") + "\n",
  );
  return { jobFile, manifest, tasks, finished };
}

/**
 * Writes job.json, manifest.tsv and sweep.sbatch for the sweep's unfinished runs
 * ({@link writeSweepJob}) under its slurm/ folder.
 */
export function writeSlurmJob(sw: OpenedSweep, o: SlurmOptions): SlurmPlan {
  checkSlurmOptions(o);
  const dir = slurmDir(sw.sweepDir);
  const { jobFile, manifest, tasks, finished } = writeSweepJob(sw, dir);
  const script = join(dir, "sweep.sbatch");
  writeFileAtomic(script, sbatchScript(sw, o, tasks.length, jobFile));
  return { dir, script, manifest, tasks, finished };
}

/** The sbatch script: one array task per manifest line, each exec'ing the task runner. */
function sbatchScript(sw: OpenedSweep, o: SlurmOptions, n: number, jobFile: string): string {
  return arraySbatch({
    name: `starmamba-${sw.spec.name}`,
    comment: [
      `# starmamba sweep ${sw.spec.name} ${sw.version}: ${n} run(s), one per array task; task i`,
      "# runs line i of manifest.tsv. Written by deno task ablate --slurm; submit with sbatch.",
    ],
    tasks: n,
    logs: join(slurmDir(sw.sweepDir), "logs"),
    chdir: sw.root,
    cli: "experiments/ablate.ts",
    jobFile,
  }, o);
}

/** job.json, or null when absent or unreadable. */
export function readJob(file: string): SlurmJob | null {
  try {
    return JSON.parse(Deno.readTextFileSync(file)) as SlurmJob;
  } catch {
    return null;
  }
}

/** Output of a command, or a clear error when it is not installed. */
async function command(
  name: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const out = await new Deno.Command(name, { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new StarmambaError(
        `${name} is not on PATH: --slurm needs the SLURM client commands (sbatch, squeue, ` +
          `scontrol) of a cluster's login node; locally, --dry-run writes the job without them`,
      );
    }
    throw e;
  }
}

/** Submits the plan's script with sbatch; returns the job id. sbatch's refusal is passed on. */
export async function submitSlurm(plan: SlurmPlan): Promise<string> {
  const out = await command("sbatch", ["--parsable", plan.script]);
  if (out.code !== 0) {
    throw new StarmambaError(
      `sbatch refused ${plan.script}:\n${out.stderr.trim() || out.stdout.trim()}\nHow to fix: ` +
        "adjust --partition, --time, --cpus, --mem, --gpus or --account to what the cluster allows " +
        "(sinfo lists partitions and limits).",
    );
  }
  const jobId = out.stdout.trim().split(";")[0];
  const jobFile = join(plan.dir, "job.json");
  const job = readJob(jobFile)!;
  job.submissions.push({
    job_id: jobId,
    submitted: new Date().toISOString(),
    tasks: plan.tasks.length,
  });
  writeJsonAtomic(jobFile, job);
  return jobId;
}

/** Array indices of the job still queued or running (squeue), index → state. */
export async function queuedTasks(jobId: string): Promise<Map<number, string>> {
  const out = await command("squeue", ["-h", "-r", "-j", jobId, "-o", "%K %T"]);
  const states = new Map<number, string>();
  if (out.code !== 0) return states; // an ended job is no longer known to squeue
  for (const line of out.stdout.split("\n")) {
    const [index, state] = line.trim().split(/\s+/);
    if (index && state && /^\d+$/.test(index)) states.set(Number(index), state);
  }
  return states;
}

/**
 * Runs task `index` of a submitted sweep (called by sweep.sbatch on the node): its manifest
 * line through the experiment runner, resuming its own saved state when it has one. SIGTERM
 * saves the state and stops; when the time limit is what is coming, the task requeues itself.
 */
export async function runSlurmTask(jobFile: string, index: number): Promise<RunSummary> {
  const job = readJob(jobFile);
  if (job === null) {
    throw new StarmambaError(
      `${jobFile} cannot be read on ${Deno.hostname()}: the sweep folder must be on a filesystem ` +
        "the compute nodes share with the login node (your home or project space, not /tmp)",
    );
  }
  const line = job.tasks.find((t) => t.index === index);
  if (!line) throw new StarmambaError(`${jobFile}: no task ${index} in this job`);
  const loaded = loadConfig(job.base, line.overrides);
  // The manifest names the run's experiment folder, or the vN it had already started in.
  const folder = resolve(job.sweep_dir, line.runFolder);
  const started = /\/v\d+$/.test(folder);
  const found = findRun(
    job.sweep_dir,
    started ? dirname(folder) : folder,
    loaded.hash,
    started ? folder : null,
  );
  if (found.done) {
    // Started again after it had finished (a requeue racing the end, a resubmitted array):
    // the run is there, training it again would only make a second copy.
    console.log(`${line.key}: already finished in ${relative(job.root, found.done)}`);
    return {
      runDir: found.done,
      interrupted: false,
      result: readRunRecord(found.done, "trained"),
    };
  }
  const partial = found.partial;
  let stop = false;
  const onTerm = () => {
    stop = true;
  };
  // SIGINT too: a task of `ablate --jobs` shares the terminal's process group with its parent,
  // so Ctrl-C reaches it directly; it saves its state as on SIGTERM.
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onTerm);
  try {
    console.log(
      `${line.key}: ${partial ? `resuming ${relative(job.root, partial)}` : "training"}`,
    );
    // Not quiet: the log gets the data and model lines and, as it is no terminal, a progress
    // line every 10 s (what `squeue` users and `ablate --jobs` follow a run by).
    const summary = await runExperiment(loaded, {
      projectRoot: job.root,
      resumeDir: partial ?? undefined,
      shouldStop: () => stop,
    });
    console.log(
      `${line.key}: ${summary.interrupted ? "stopped by a signal, state saved" : "finished"} in ${
        relative(job.root, summary.runDir)
      }`,
    );
    return summary;
  } finally {
    Deno.removeSignalListener("SIGTERM", onTerm);
    Deno.removeSignalListener("SIGINT", onTerm);
  }
}

/**
 * Whether the running task should requeue itself after SIGTERM: only when its time limit is
 * near (squeue's time left within twice the signal margin), so a scancel stays a cancel.
 */
export async function requeueIfTimeLimit(signalSeconds = 120): Promise<boolean> {
  const jobId = Deno.env.get("SLURM_JOB_ID");
  if (!jobId) return false;
  const left = await command("squeue", ["-h", "-j", jobId, "-o", "%L"]).catch(() => null);
  const seconds = left && left.code === 0 ? slurmSeconds(left.stdout.trim()) : null;
  if (seconds === null || seconds > 2 * signalSeconds) return false;
  const r = await command("scontrol", ["requeue", jobId]).catch(() => null);
  return r !== null && r.code === 0;
}

/** Seconds of a SLURM duration ("1-02:03:04", "03:04", "INVALID" → null). */
export function slurmSeconds(s: string): number | null {
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(s);
  if (!m) return null;
  return ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3])) * 60 + Number(m[4]);
}

/** One run that has not finished, for `--collect`'s report. */
export interface MissingRun {
  /** `<variant>/seed<seed>`. */
  key: string;
  /** squeue's state (PENDING, RUNNING, …), "ended" when the task ended without a result, or
   * "not submitted". */
  state: string;
  /** Its log file from the latest submission; none when it never started (or the nodes do not
   * see the sweep folder). */
  logs: string[];
}

/**
 * Collects a sweep run through SLURM: finds every run's folder; once all have finished, writes
 * the summary exactly as a local sweep does; otherwise returns what is missing, with squeue's
 * state and each task's log.
 */
export async function collectSweep(
  sw: OpenedSweep,
): Promise<{ outcome: SweepOutcome | null; missing: MissingRun[] }> {
  const job = readJob(join(slurmDir(sw.sweepDir), "job.json"));
  const last = job?.submissions.at(-1);
  const queued = last ? await queuedTasks(last.job_id).catch(() => new Map()) : new Map();
  const missing: MissingRun[] = [];
  let changed = false;
  for (const r of sw.runs) {
    const found = locateRun(sw, r);
    if (recordLocated(sw, r, found) !== "done" && found.done) changed = true;
    if (found.done) continue;
    const task = job?.tasks.find((t) => t.key === r.key);
    // Indices are those of the latest submission (job.json is rewritten by each).
    const logs = task && last
      ? [join(slurmDir(sw.sweepDir), "logs", `${last.job_id}_${task.index}.log`)].filter(exists)
      : [];
    missing.push({
      key: r.key,
      state: !task || !last ? "not submitted" : queued.get(task.index) ?? "ended",
      logs,
    });
  }
  saveSweepState(sw);
  if (missing.length > 0) return { outcome: null, missing };
  const outcome: SweepOutcome = {
    sweepDir: sw.sweepDir,
    version: sw.version,
    executed: 0,
    resumed: 0,
    skipped: sw.runs.length,
    interrupted: false,
    summary: null,
    written: [],
  };
  return { outcome: await finishSweep(sw, outcome, changed), missing };
}
