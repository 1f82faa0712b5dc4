/**
 * What the SLURM tests share (tests/slurm_test.ts, tests/classify_slurm_test.ts): whether a
 * cluster answers — the one-node SLURM of tests/slurm/start.sh, started by .ci/run — so that the
 * cluster tests are ignored, with the reason, where none does; {@link waitForJob} to wait out a
 * submitted array; {@link sharedTempDir}, a fresh folder the compute nodes can read; and
 * {@link assertArrayScript} for the sbatch script of a job array.
 * @module
 */
import { assert } from "../lib/util/assert.ts";

/** Why no cluster answers (null when one does): sinfo must list a usable node. */
export function clusterProblem(): string | null {
  try {
    const out = new Deno.Command("sinfo", { args: ["-h", "-o", "%T"], stdout: "piped" })
      .outputSync();
    const states = new TextDecoder().decode(out.stdout).trim();
    if (out.code !== 0) return "sinfo failed (is slurmctld running? tests/slurm/start.sh)";
    if (!/idle|mixed|allocated/.test(states)) return `no usable node (sinfo: ${states || "none"})`;
    return null;
  } catch {
    return Deno.env.get("STARMAMBA_SLURM_UNAVAILABLE") ??
      "no SLURM here (sinfo not on PATH; tests/slurm/start.sh starts a one-node cluster)";
  }
}

/** Why the cluster tests are ignored here, or null when a cluster answers. */
export const PROBLEM: string | null = clusterProblem();

/** The suffix of a cluster test's name: the reason it is ignored, or nothing. */
export const IGNORED: string = PROBLEM ? ` [ignored: ${PROBLEM}]` : "";

/** A fresh folder, on the nodes' shared filesystem where the CI names one (STARMAMBA_SHARED_TMP). */
export function sharedTempDir(): string {
  return Deno.makeTempDirSync({ dir: Deno.env.get("STARMAMBA_SHARED_TMP") ?? undefined });
}

/** Polls until squeue no longer lists the job; past the deadline, throws with the queue. */
export async function waitForJob(jobId: string, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const out = new Deno.Command("squeue", { args: ["-h", "-j", jobId], stdout: "piped" })
      .outputSync();
    if (new TextDecoder().decode(out.stdout).trim() === "") return;
    await new Promise((r) => setTimeout(r, 2000));
  }
  // Say why: a job left by an earlier cluster holding the node shows up here
  // (.ci/run starts the cluster with --fresh so that none is).
  const queue = new Deno.Command("squeue", {
    args: ["-o", "%.12i %.9T %.20r %.10M %j"],
    stdout: "piped",
  }).outputSync();
  throw new Error(
    `job ${jobId} still queued after ${seconds} s; the queue:\n` +
      new TextDecoder().decode(queue.stdout),
  );
}

/**
 * Asserts that the sbatch script `file` holds the lines of every job array (requeued when
 * preempted, SIGTERM 120 s before the time limit) and each of `lines`.
 */
export function assertArrayScript(file: string, lines: readonly string[]): void {
  const script = Deno.readTextFileSync(file);
  for (const line of ["#SBATCH --requeue", "#SBATCH --signal=B:TERM@120", ...lines]) {
    assert(script.includes(line), `${line} missing from\n${script}`);
  }
}
