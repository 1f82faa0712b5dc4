/**
 * `deno task ablate configs/ablations/<name>.yaml [options]` — runs an ablation sweep (every
 * variant × seed of a base config) and writes its summary; the thin CLI over
 * {@link runSweep}. Rerunning the same command resumes a killed or stopped sweep.
 * @module
 */
import { join, relative } from "node:path";
import { checkSeeds, loadSweep, openSweep, runSweep } from "../lib/experiment/sweep.ts";
import {
  collectSweep,
  queuedTasks,
  readJob,
  requeueIfTimeLimit,
  runSlurmTask,
  slurmDir,
  submitSlurm,
  writeSlurmJob,
} from "../lib/experiment/slurm.ts";
import {
  SLURM_CLI_OPTIONS,
  SLURM_CLI_USAGE,
  type SlurmOptions,
  slurmOptionsOf,
} from "../lib/experiment/slurm_array.ts";
import type { SweepOutcome } from "../lib/experiment/sweep.ts";
import { numberOption, parseArgs, runMain, stopOnSignals } from "../lib/util/cli.ts";
import { runSweepJobs } from "../lib/experiment/local_jobs.ts";
import { sweepJsonSchema } from "../lib/config/json_schema.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { shellWord } from "../lib/results/provenance.ts";

const USAGE = `usage: deno task ablate <sweep.yaml> [options]

Runs every variant × seed of an ablation sweep through the experiment runner and writes
<scratch|results>/ablations/<name>/v<N>/summary.{md,csv,json} and bars.svg: mean ± std over
seeds per variant, the paired difference from the implicit "base" variant, and McNemar's test
on the same validation images. Individual runs are ordinary result folders under
<sweep folder>/runs/. Rerun the same command to resume a stopped sweep: finished runs are
skipped, an interrupted run continues from its last saved step.

sweep file:
  name: directions                 # output folder name
  description: ...                 # optional
  base: ../quickstart.yaml         # experiment config, relative to the sweep file
  seeds: [1, 2, 3]
  set: { train.epochs: 2 }         # optional, applied to every run
  publish: false                   # optional: true = results/ (citable), false = scratch/
  variants:
    - { name: k1, set: { model.directions: 1 } }

options:
  --set key=value     extra override for every run (repeatable), e.g. --set train.epochs=1
  --seeds 1,2         use these seeds instead of the file's
  --publish           write to the citable results/ folder instead of scratch/
  --new               start a new sweep version even if a matching one exists
  --quiet             no progress output
  --jobs N            run N of the sweep's runs at once on this machine, each in its own
                      process with cores / N native threads (logs in <sweep folder>/local/logs/);
                      the same results as one at a time, sooner where one run leaves cores idle.
                      Ctrl-C stops every run after its current step, state saved; the same
                      command resumes

on a SLURM cluster (one job array, no scheduler of our own; see README "On a cluster"):
  --slurm             write <sweep folder>/slurm/{manifest.tsv,sweep.sbatch} for the runs not
                      yet finished and submit the array with sbatch; each task runs one run,
                      saves its state on SIGTERM and resumes when requeued. Run again once the
                      array has ended: it submits what is still missing, or collects
  --collect           write the summary when every run is there; else list what is missing,
                      each with its state in squeue and its log
${SLURM_CLI_USAGE}
  --json-schema       print the sweep file's JSON Schema (configs/ablations/schema.json)
  -h, --help          this help

example:
  deno task ablate configs/ablations/directions.yaml --seeds 1,2 --set train.epochs=2
  deno task ablate configs/ablations/cv-best-grouped-aries.yaml --jobs 2
  deno task ablate configs/ablations/directions.yaml --slurm --partition cpu --time 02:00:00
  deno task ablate configs/ablations/directions.yaml --collect`;

/** "1,2, 3" → [1, 2, 3] (validated like the sweep file's seeds). */
function parseSeeds(s: string): number[] {
  const parts = s.split(",").map((x) => x.trim()).filter((x) => x !== "");
  return checkSeeds(parts.map((x) => (/^\d+$/.test(x) ? Number(x) : x)), `--seeds ${s}`);
}

await runMain(async () => {
  const { values, positionals } = parseArgs(
    Deno.args,
    {
      set: { type: "string", multiple: true },
      seeds: { type: "string" },
      publish: { type: "boolean" },
      new: { type: "boolean" },
      quiet: { type: "boolean" },
      jobs: { type: "string" },
      slurm: { type: "boolean" },
      collect: { type: "boolean" },
      ...SLURM_CLI_OPTIONS,
    },
    USAGE,
    { "json-schema": () => JSON.stringify(sweepJsonSchema(), null, 2) },
  );
  if (values["slurm-task"] !== undefined) {
    return await slurmTask(values["slurm-task"] as string, values.index as string | undefined);
  }
  if (positionals.length !== 1) {
    throw new StarmambaError(
      `expected exactly one sweep file, got ${positionals.length}\n\n${USAGE}`,
    );
  }
  const spec = loadSweep(positionals[0]);
  const sweepOptions = {
    set: (values.set as string[] | undefined) ?? [],
    seeds: values.seeds ? parseSeeds(values.seeds as string) : undefined,
    publish: values.publish ? true : undefined,
    fresh: Boolean(values.new),
    quiet: Boolean(values.quiet),
  };
  // Every option is checked before openSweep, which creates the sweep's version folder: a
  // refused option must not leave an empty folder behind.
  if (values["dry-run"] && !values.slurm) throw new StarmambaError("--dry-run goes with --slurm");
  const jobs = numberOption("jobs", values.jobs, 1, 1024);
  if (jobs !== undefined && !Number.isInteger(jobs)) {
    throw new StarmambaError(`--jobs ${values.jobs}: give a whole number of runs at once`);
  }
  if (jobs !== undefined && (values.slurm || values.collect)) {
    throw new StarmambaError("--jobs runs on this machine: give it or --slurm/--collect, not both");
  }
  if (values.slurm || values.collect) {
    if (values.slurm && values.collect) {
      throw new StarmambaError("give --slurm (submit) or --collect (summarise), not both");
    }
    const slurm = values.slurm ? slurmOptionsOf(values) : null;
    const sw = openSweep(spec, sweepOptions);
    if (!slurm) return await collect(sw);
    // What names this sweep again for --collect: the file and the options that shape it.
    const collectArgs = [
      positionals[0],
      ...sweepOptions.set.flatMap((x) => ["--set", x]),
      ...(values.seeds ? ["--seeds", values.seeds as string] : []),
      ...(values.publish ? ["--publish"] : []),
    ];
    return await submit(sw, slurm, Boolean(values["dry-run"]), collectArgs);
  }

  if (jobs !== undefined && jobs > 1) return await runJobs(openSweep(spec, sweepOptions), jobs);
  const stop = stopOnSignals();
  const out = await runSweep(spec, { ...sweepOptions, shouldStop: stop.requested });
  stop.dispose();
  const dir = relative(Deno.cwd(), out.sweepDir) || ".";
  if (out.interrupted) {
    console.log(`\nstopped; progress saved in ${dir}/sweep.json`);
    console.log(`resume with the same command: deno task ablate ${Deno.args.join(" ")}`);
    return stop.exitCode();
  }
  console.log(
    `\n${out.executed} runs trained, ${out.resumed} resumed, ${out.skipped} already finished`,
  );
  printSummary(out);
  return 0;
});

/** The summary table a finished sweep prints. */
function printSummary(out: SweepOutcome): void {
  const dir = relative(Deno.cwd(), out.sweepDir) || ".";
  const s = out.summary!;
  if (out.written.length === 0) console.log("sweep was already complete; summary unchanged");
  console.log(`summary: ${dir}/summary.md  (chart: ${dir}/bars.svg)\n`);
  console.log("variant          accuracy best        accuracy last        Δ acc last vs base");
  const fmt = (m: number | null, sd: number | null, signed = false) =>
    m === null
      ? "n/a"
      : `${signed && m >= 0 ? "+" : ""}${m.toFixed(4)}${sd === null ? "" : ` ± ${sd.toFixed(4)}`}`;
  for (const v of s.variants) {
    const d = v.delta_last?.accuracy;
    console.log(
      `${v.name.padEnd(16)} ${fmt(v.best.accuracy.mean, v.best.accuracy.std).padEnd(20)} ${
        fmt(v.last.accuracy.mean, v.last.accuracy.std).padEnd(20)
      } ${d ? fmt(d.mean, d.std, true) : "—"}`,
    );
  }
}

/**
 * --slurm: submits the unfinished runs as one array — unless the last array is still queued
 * (then says how to follow it) or nothing is left (then collects).
 */
async function submit(
  sw: ReturnType<typeof openSweep>,
  o: SlurmOptions,
  dryRun: boolean,
  collectArgs: string[],
): Promise<number> {
  const dir = relative(Deno.cwd(), sw.sweepDir) || ".";
  const job = (readJob(join(slurmDir(sw.sweepDir), "job.json"))?.submissions ?? [])
    .map((x) => x.job_id);
  if (!dryRun && job.length > 0) {
    const queued = await queuedTasks(job.at(-1)!);
    if (queued.size > 0) {
      console.log(
        `job ${job.at(-1)} still has ${queued.size} task(s) queued or running; follow it with ` +
          `squeue -j ${job.at(-1)} (logs in ${dir}/slurm/logs/), then run this again or --collect`,
      );
      return 0;
    }
  }
  const plan = writeSlurmJob(sw, o);
  if (plan.tasks.length === 0) {
    console.log(`every run of ${dir} has finished (${plan.finished}); collecting`);
    return await collect(sw);
  }
  console.log(
    `${plan.tasks.length} run(s) to do, ${plan.finished} already finished: ` +
      `${relative(Deno.cwd(), plan.manifest)}, ${relative(Deno.cwd(), plan.script)}`,
  );
  if (dryRun) {
    console.log(`not submitted (--dry-run); submit with: sbatch ${plan.script}`);
    return 0;
  }
  const id = await submitSlurm(plan);
  console.log(`submitted job array ${id} (${plan.tasks.length} tasks)`);
  console.log(`follow:  squeue -j ${id}    logs: ${dir}/slurm/logs/${id}_<index>.log`);
  console.log(
    `collect: deno task ablate ${collectArgs.map(shellWord).join(" ")} --collect  ` +
      "(or this command again)",
  );
  return 0;
}

/** --jobs N: the runs N at a time in child processes, then the summary. */
async function runJobs(sw: ReturnType<typeof openSweep>, jobs: number): Promise<number> {
  const stop = stopOnSignals();
  const r = await runSweepJobs(sw, { jobs, shouldStop: stop.requested });
  stop.dispose();
  const dir = relative(Deno.cwd(), sw.sweepDir) || ".";
  if (r.interrupted) {
    console.log(`\nstopped; each run's state is saved in ${dir}/runs/`);
    console.log(`resume with the same command: deno task ablate ${Deno.args.join(" ")}`);
    return stop.exitCode();
  }
  if (r.failed.length > 0) {
    console.log(`\n${r.failed.length} run(s) ended without finishing:`);
    for (const f of r.failed) {
      console.log(`  ${f.key}: exit code ${f.code}, log ${relative(Deno.cwd(), f.log)}`);
    }
    console.log("the same command resumes them (finished runs are skipped)");
    return 1;
  }
  console.log(
    `\nall ${sw.runs.length} runs finished (${r.started} in this call, ${r.threads} threads each)`,
  );
  printSummary(r.outcome!);
  return 0;
}

/** --collect: the summary when complete; else what is missing and where its log is. */
async function collect(sw: ReturnType<typeof openSweep>): Promise<number> {
  const { outcome, missing } = await collectSweep(sw);
  if (outcome) {
    console.log(`all ${sw.runs.length} runs finished`);
    if (outcome.written.length === 0) console.log("summary unchanged");
    printSummary(outcome);
    return 0;
  }
  const dir = relative(Deno.cwd(), sw.sweepDir) || ".";
  console.log(`${missing.length} of ${sw.runs.length} runs not finished in ${dir}:`);
  for (const m of missing) {
    const log = m.logs.length ? relative(Deno.cwd(), m.logs[0]) : "no log";
    const hint = m.state === "ended" && m.logs.length === 0
      ? " — the task never wrote its log: the sweep folder must be on a filesystem the " +
        "compute nodes share"
      : "";
    console.log(`  ${m.key}: ${m.state} (${log})${hint}`);
  }
  console.log("ended tasks are submitted again by the same --slurm command");
  return 1;
}

/** --slurm-task job.json --index i: one array task (run by sweep.sbatch on a node). */
async function slurmTask(jobFile: string, index: string | undefined): Promise<number> {
  if (index === undefined || !/^\d+$/.test(index)) {
    throw new StarmambaError(`--slurm-task needs --index <array task id>, got ${index}`);
  }
  const summary = await runSlurmTask(jobFile, Number(index));
  if (!summary.interrupted) return 0;
  // SIGTERM: preempted or requeued (SLURM starts the task again), or the time limit is near
  // (then the task puts itself back in the queue).
  if (await requeueIfTimeLimit()) console.log("time limit near: requeued this task");
  return 143;
}
