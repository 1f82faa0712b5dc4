/**
 * The parts of a SLURM job array that do not depend on what its tasks do: the `#SBATCH` lines
 * from {@link SlurmOptions} and a task line that execs a CLI of this repository with
 * `--slurm-task <job.json> --index "$SLURM_ARRAY_TASK_ID"`, and the command-line options that
 * set them (their parse specs, their help lines and their reading). `deno task ablate --slurm`
 * (lib/experiment/slurm.ts) and `deno task classify --slurm` (lib/experiment/classify_slurm.ts)
 * both write their scripts with {@link arraySbatch} and read their flags with
 * {@link slurmOptionsOf}.
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { shellWord } from "../results/provenance.ts";
import { numberOption, type OptionSpec } from "../util/cli.ts";
import { StarmambaError } from "../util/errors.ts";

/** `#SBATCH` settings of the job array. */
export interface SlurmOptions {
  /** --partition. */
  partition?: string;
  /** --time, e.g. "02:00:00". */
  time?: string;
  /** --cpus-per-task (default 2). */
  cpus?: number;
  /** --gpus-per-task. */
  gpus?: number;
  /** --mem in GiB. */
  memGiB?: number;
  /** The `%K` of --array: at most K tasks at once. */
  maxParallel?: number;
  /** --account. */
  account?: string;
  /** Seconds before the time limit SLURM sends SIGTERM (--signal=B:TERM@N); default 120. */
  signalSeconds?: number;
}

/** A SLURM `--time` value: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS. */
const TIME_RE = /^(\d+-)?\d+(:\d{1,2}){0,2}$/;

/** Checks the options a user typed; a bad one is a {@link StarmambaError} naming it. */
export function checkSlurmOptions(o: SlurmOptions): void {
  if (o.time !== undefined && !TIME_RE.test(o.time)) {
    throw new StarmambaError(`--time ${o.time}: expected HH:MM:SS (or D-HH:MM:SS, or minutes)`);
  }
  const positive = (name: string, v: number | undefined) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) {
      throw new StarmambaError(`--${name} ${v}: expected a positive whole number`);
    }
  };
  positive("cpus", o.cpus);
  positive("max-parallel", o.maxParallel);
  if (o.gpus !== undefined && !(Number.isInteger(o.gpus) && o.gpus >= 0)) {
    throw new StarmambaError(`--gpus ${o.gpus}: expected a whole number`);
  }
  if (o.memGiB !== undefined && !(o.memGiB > 0)) {
    throw new StarmambaError(`--mem ${o.memGiB}: expected GiB, a positive number`);
  }
  for (const [name, v] of [["partition", o.partition], ["account", o.account]] as const) {
    if (v !== undefined && !/^[\w.,-]+$/.test(v)) {
      throw new StarmambaError(`--${name} ${v}: expected a SLURM name (letters, digits, _ . , -)`);
    }
  }
}

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
    // Preempted or requeued tasks start again and resume (a sweep's run from its saved state;
    // a classify task skips the shards it finished).
    "#SBATCH --requeue",
    // SIGTERM to the task (the exec'd deno) before the time limit: it saves and requeues itself.
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
    // exec: deno itself receives SLURM's signals (no shell in between to swallow them).
    `exec ${shellWord(Deno.execPath())} run ${ALLOW} --config ${
      shellWord(join(CODE_DIR, "deno.json"))
    } \\`,
    `  ${shellWord(join(CODE_DIR, job.cli))} \\`,
    `  --slurm-task ${shellWord(job.jobFile)} --index "$SLURM_ARRAY_TASK_ID"`,
    "",
  );
  return lines.join("\n");
}

/** The command-line flags of the `#SBATCH` settings, which {@link slurmOptionsOf} reads. */
export const SLURM_FLAGS: readonly string[] = [
  "partition",
  "time",
  "cpus",
  "gpus",
  "mem",
  "max-parallel",
  "account",
];

/**
 * The options every `--slurm` CLI takes besides its own: `--dry-run`, the `#SBATCH` flags
 * ({@link SLURM_FLAGS}) and `--slurm-task <job.json> --index <i>`, which the array's tasks run
 * (the task line of {@link arraySbatch}).
 */
export const SLURM_CLI_OPTIONS: OptionSpec = {
  "dry-run": { type: "boolean" },
  ...Object.fromEntries(SLURM_FLAGS.map((f) => [f, { type: "string" as const }])),
  "slurm-task": { type: "string" },
  index: { type: "string" },
};

/** The help lines of `--dry-run` and the `#SBATCH` flags, as both `--slurm` CLIs print them. */
export const SLURM_CLI_USAGE = `  --dry-run           with --slurm: write the job, do not submit it
  --partition P       --time HH:MM:SS   --cpus N (default 2)   --gpus N   --mem GiB
  --max-parallel K    at most K tasks at once (--array=0-(N-1)%K)
  --account A         sbatch's own options of the same names`;

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
