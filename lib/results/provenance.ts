/**
 * What produced a number: code commit, runtime versions, hardware. Recorded in every result.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import os from "node:os";
import { isAbsolute, join, normalize } from "node:path";

/** Git commit of the working tree and whether it had uncommitted changes. */
export interface CodeVersion {
  commit: string;
  dirty: boolean;
}

/**
 * Reads the git commit of `dir` ("unknown" outside a git checkout or without git). `outputs`
 * (folders relative to `dir`, e.g. results/ and scratch/) are left out of the dirty check: a
 * run updates results/index.md itself, which must not mark the next run as built from changed
 * code.
 */
export function codeVersion(dir: string, outputs: string[] = []): CodeVersion {
  const run = (args: string[]): string | null => {
    try {
      const out = new Deno.Command("git", { args, cwd: dir, stdout: "piped", stderr: "null" })
        .outputSync();
      return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
    } catch {
      return null;
    }
  };
  const commit = run(["rev-parse", "HEAD"]);
  if (!commit) return { commit: "unknown", dirty: true };
  const exclude = outputs
    .filter((o) => o && !isAbsolute(o) && !normalize(o).startsWith(".."))
    .map((o) => `:(exclude)${normalize(o)}`);
  const status = run(["status", "--porcelain", "--untracked-files=no", "--", ".", ...exclude]) ??
    "";
  return { commit, dirty: status.length > 0 };
}

/** Runtime and hardware description. */
export interface Environment {
  /** tfjs's active backend. */
  backend: string;
  /** tfjs-core's version. */
  tfjs: string;
  /** Deno's version. */
  deno: string;
  /** V8's version. */
  v8: string;
  /** TypeScript's version (Deno's). */
  typescript: string;
  /** Operating system and architecture, e.g. "linux x86_64". */
  os: string;
  /** The CPU's model name. */
  cpu: string;
  /** Logical CPU cores. */
  cores: number;
  /** Memory, rounded to GiB. */
  memoryGiB: number;
  /** On the cuda backend: the GPU, its compute capability, driver and CUDA runtime versions
   * (lib/backends/cuda/backend.ts, CudaDeviceInfo). Absent on other backends. */
  gpu?: Record<string, unknown>;
  /** Under SLURM: the node, job id and array index the run (last) ran as. */
  slurm?: SlurmTask;
}

/** Where a run ran inside a SLURM job. */
export interface SlurmTask {
  /** SLURMD_NODENAME. */
  node: string;
  /** SLURM_JOB_ID (this task's own job id). */
  job_id: string;
  /** SLURM_ARRAY_JOB_ID, when the job is an array. */
  array_job_id: string | null;
  /** SLURM_ARRAY_TASK_ID, when the job is an array. */
  array_task_id: string | null;
  /** SLURM_RESTART_COUNT: how often the task was requeued before this start. */
  restart_count: number;
}

/** The SLURM task this process runs as, from the variables slurmd sets; null outside SLURM. */
export function slurmTask(): SlurmTask | null {
  const env = (name: string): string | null => {
    try {
      return Deno.env.get(name) ?? null;
    } catch {
      return null;
    }
  };
  const job = env("SLURM_JOB_ID");
  if (job === null) return null;
  return {
    node: env("SLURMD_NODENAME") ?? env("HOSTNAME") ?? "unknown",
    job_id: job,
    array_job_id: env("SLURM_ARRAY_JOB_ID"),
    array_task_id: env("SLURM_ARRAY_TASK_ID"),
    restart_count: Number(env("SLURM_RESTART_COUNT") ?? "0"),
  };
}

/** Describes the current process's runtime and machine. */
export function environment(): Environment {
  const cpus = os.cpus();
  return {
    backend: tf.getBackend(),
    tfjs: tf.version_core,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    os: `${Deno.build.os} ${Deno.build.arch}`,
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    // The cuda backend describes its device (duck-typed: results sit above the backends but
    // need not load the CUDA library to ask).
    ...gpuOf(tf.backend() as unknown as { device?: Record<string, unknown> }),
    ...slurmOf(slurmTask()),
  };
}

function slurmOf(task: SlurmTask | null): { slurm?: SlurmTask } {
  return task ? { slurm: task } : {};
}

function gpuOf(backend: { device?: Record<string, unknown> }): { gpu?: Record<string, unknown> } {
  return tf.getBackend() === "cuda" && backend.device ? { gpu: backend.device } : {};
}

/** Quotes a shell word when it needs it. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** What {@link rebuildAdvice} reads of a run's record (result.json): any of it may be absent. */
export interface RecordedRun {
  experiment?: string;
  code?: { commit?: string; dirty?: boolean };
  config_files?: string[];
  overrides?: string[];
  config?: { output?: { dir?: string; scratch_dir?: string; publish?: boolean } };
}

/**
 * How to rebuild the weights of a recorded run (a result.json object): rerun its config and
 * overrides at its commit, which gives the same bits on the same kind of CPU, and put the shard
 * where model.json expects it. `runDir` is the run folder (absolute: the commands leave it),
 * `shard` the file's path relative to it.
 */
export function rebuildAdvice(result: RecordedRun, runDir: string, shard: string): string {
  const code = result.code;
  const files = result.config_files;
  const overrides = result.overrides ?? [];
  const experiment = String(result.experiment ?? "<experiment>");
  if (!code?.commit || code.commit === "unknown" || !files?.length) {
    return "To get the weights back, rerun the run's config with the same seed and overrides.";
  }
  const short = code.commit.slice(0, 8);
  // Where that commit's run writes: the published folder if the config publishes, else scratch.
  const output = result.config?.output ?? {};
  const outDir = output.publish ? output.dir ?? "results" : output.scratch_dir ?? "scratch";
  const args = [files[files.length - 1], ...overrides.flatMap((o) => ["--set", o])];
  const run = `deno task experiment ${args.map(shellWord).join(" ")}`;
  return [
    `To rebuild the weights, rerun the run at its commit${
      code.dirty ? " (it was recorded from uncommitted changes, so the bits may differ)" : ""
    }; on the same kind of CPU the shard comes out bit for bit the same:`,
    `  git worktree add ../starmamba-${short} ${short} && cd ../starmamba-${short}`,
    `  ${run}`,
    `  cp ${outDir}/${experiment}/v<N>/model/model.*.bin ${shellWord(join(runDir, shard))}`,
    "(the sha256 recorded in result.json `artifacts` must match; deno task verify-results checks it)",
  ].join("\n");
}
