/**
 * The parts of a SLURM job array that do not depend on what its tasks do: the `#SBATCH` lines
 * from {@link SlurmOptions} and a task line that execs a CLI of this repository with
 * `--slurm-task <job.json> --index "$SLURM_ARRAY_TASK_ID"`, and the command-line options that
 * set them. `deno task classify --slurm` writes its script here; `deno task ablate --slurm`
 * (lib/experiment/slurm.ts `sbatchScript`, experiments/ablate.ts `slurmOptions`) writes the same
 * lines with its own copy, which can become a call to {@link arraySbatch} and
 * {@link slurmOptionsOf}.
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { checkSlurmOptions, type SlurmOptions } from "./slurm.ts";
import { shellWord } from "../results/provenance.ts";
import { numberOption } from "../util/cli.ts";

/** What one job array runs. */
export interface ArrayJob {
  /** `--job-name`. */
  name: string;
  /** Comment lines under the shebang (what the array is, how it was written). */
  comment: string[];
  /** Array tasks: indices 0 … tasks − 1. */
  tasks: number;
  /** Folder of the task logs (`%A_%a.log`: job id, array index). */
  logs: string;
  /** Every task's working directory (`--chdir`): relative paths in the job mean the same there. */
  chdir: string;
  /** The CLI the tasks run, relative to the repository (e.g. `experiments/classify.ts`). */
  cli: string;
  /** The job file the CLI's `--slurm-task` reads. */
  jobFile: string;
}

/** The repository this module belongs to: the tasks run its code with its deno.json. */
const CODE_DIR: string = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

/** The permissions of every deno task (deno.json's task lines). */
const ALLOW = "--allow-read --allow-write --allow-env --allow-ffi --allow-run --allow-sys";

/**
 * The sbatch script of a job array: requeued when preempted, SIGTERM `signalSeconds` before the
 * time limit, the resources of `o`, and a task line that execs deno on `job.cli` (so deno itself
 * receives SLURM's signals).
 * @param job what the array runs.
 * @param o the `#SBATCH` settings (checked: a bad one is a StarmambaError).
 * @returns the script's text.
 * @example
 * ```ts
 * import { arraySbatch } from "./slurm_array.ts";
 * const text = arraySbatch({
 *   name: "starmamba-classify", comment: ["# two shards"], tasks: 2, logs: "/p/out/slurm/logs",
 *   chdir: "/p", cli: "experiments/classify.ts", jobFile: "/p/out/slurm/job.json",
 * }, { time: "01:00:00", maxParallel: 4 });
 * console.log(text.includes("#SBATCH --array=0-1%4")); // true
 * ```
 */
export function arraySbatch(job: ArrayJob, o: SlurmOptions): string {
  checkSlurmOptions(o);
  const lines = [
    "#!/bin/bash",
    ...job.comment,
    `#SBATCH --job-name=${shellWord(job.name)}`,
    `#SBATCH --array=0-${job.tasks - 1}${o.maxParallel ? `%${o.maxParallel}` : ""}`,
    `#SBATCH --output=${shellWord(join(job.logs, "%A_%a.log"))}`,
    "#SBATCH --open-mode=append",
    // Preempted or requeued tasks start again and resume (or skip what they finished).
    "#SBATCH --requeue",
    // SIGTERM to the task (the exec'd deno) before the time limit: it requeues itself.
    `#SBATCH --signal=B:TERM@${o.signalSeconds ?? 120}`,
    `#SBATCH --chdir=${shellWord(job.chdir)}`,
    `#SBATCH --cpus-per-task=${o.cpus ?? 2}`,
    "#SBATCH --ntasks=1",
  ];
  if (o.partition) lines.push(`#SBATCH --partition=${o.partition}`);
  if (o.time) lines.push(`#SBATCH --time=${o.time}`);
  if (o.gpus) lines.push(`#SBATCH --gpus-per-task=${o.gpus}`);
  if (o.memGiB) lines.push(`#SBATCH --mem=${Math.ceil(o.memGiB * 1024)}M`);
  if (o.account) lines.push(`#SBATCH --account=${o.account}`);
  lines.push(
    "",
    `echo "starmamba task $SLURM_ARRAY_TASK_ID of job $SLURM_ARRAY_JOB_ID on $(hostname)` +
      ` (start $((SLURM_RESTART_COUNT + 1))), $(date -u +%FT%TZ)"`,
    `exec ${shellWord(Deno.execPath())} run ${ALLOW} --config ${
      shellWord(join(CODE_DIR, "deno.json"))
    } \\`,
    `  ${shellWord(join(CODE_DIR, job.cli))} \\`,
    `  --slurm-task ${shellWord(job.jobFile)} --index "$SLURM_ARRAY_TASK_ID"`,
    "",
  );
  return lines.join("\n");
}

/**
 * The `#SBATCH` settings of a command line (`--partition`, `--time`, `--cpus`, `--gpus`,
 * `--mem` GiB, `--max-parallel`, `--account`), checked.
 * @throws {StarmambaError} naming the option that is not valid.
 */
export function slurmOptionsOf(values: Record<string, unknown>): SlurmOptions {
  const int = (name: string, min: number): number | undefined =>
    numberOption(name, values[name] as string | undefined, min, 1e6);
  const o: SlurmOptions = {
    partition: values.partition as string | undefined,
    time: values.time as string | undefined,
    cpus: int("cpus", 1),
    gpus: int("gpus", 0),
    memGiB: numberOption("mem", values.mem as string | undefined, 0.001, 1e6),
    maxParallel: int("max-parallel", 1),
    account: values.account as string | undefined,
  };
  checkSlurmOptions(o);
  return o;
}
