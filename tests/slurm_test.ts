/**
 * Sweeps through SLURM (lib/experiment/slurm.ts). The job files are checked everywhere; the two
 * cluster tests run on a real one-node SLURM (tests/slurm/start.sh, started by .ci/run) and are
 * ignored, with the reason, where none answers (tests/slurm_harness.ts).
 */
import { dirname, join, resolve } from "node:path";
import { assert, assertEquals } from "../lib/util/assert.ts";
import { loadSweep, openSweep, runSweep } from "../lib/experiment/sweep.ts";
import {
  collectSweep,
  runSlurmTask,
  slurmSeconds,
  writeSlurmJob,
} from "../lib/experiment/slurm.ts";
import { sha256Hex } from "../lib/util/fs.ts";
import { TASK_PERMISSIONS } from "./permissions.ts";
import { assertArrayScript, IGNORED, PROBLEM, sharedTempDir, waitForJob } from "./slurm_harness.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const BASE = join(ROOT, "configs/quickstart.yaml");
/** 4 runs (2 variants × 2 seeds) of a tiny network on 96 synthetic cutouts. */
const SWEEP = `name: tiny-slurm
base: ${JSON.stringify(BASE)}
seeds: [1, 2]
set:
  data.synthetic_n: 96
  data.size: 32
  model.dim: 8
  model.depths: [1, 1, 1, 1]
  model.patch_size: 2
  train.epochs: 1
  train.steps_per_epoch: 2
variants:
  - { name: k1, set: { model.directions: 1 } }
`;

/** A fresh project folder with the sweep file in it. */
function project(body = SWEEP): { root: string; file: string } {
  const root = sharedTempDir();
  const file = join(root, "sweep.yaml");
  Deno.writeTextFileSync(file, body);
  return { root, file };
}

/** Runs `deno task ablate` in `cwd` (the project root of the sweep). */
async function ablate(cwd: string, args: string[]): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...TASK_PERMISSIONS,
      "--config",
      join(ROOT, "deno.json"),
      join(ROOT, "experiments/ablate.ts"),
      ...args,
    ],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, out: text.decode(out.stdout) + text.decode(out.stderr) };
}

/** summary.json without the wall-clock figures (the only part allowed to differ). */
function summaryWithoutTimes(sweepDir: string): unknown {
  const drop = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(drop);
    if (v && typeof v === "object") {
      return Object.fromEntries(
        Object.entries(v).filter(([k]) => k !== "train_seconds").map(([k, x]) => [k, drop(x)]),
      );
    }
    return v;
  };
  return drop(JSON.parse(Deno.readTextFileSync(join(sweepDir, "summary.json"))));
}

async function weights(runDir: string): Promise<string> {
  const meta = JSON.parse(Deno.readTextFileSync(join(runDir, "model", "model.json")));
  return await sha256Hex(
    Deno.readFileSync(join(runDir, "model", meta.weightsManifest[0].paths[0])),
  );
}

Deno.test("--slurm job files: one manifest line per unfinished run, the array and its options; a finished run leaves the array", async () => {
  const { root, file } = project();
  const sw = openSweep(loadSweep(file), { projectRoot: root, quiet: true });
  const plan = writeSlurmJob(sw, { maxParallel: 2, time: "00:30:00", cpus: 1, memGiB: 2 });
  assertEquals(plan.tasks.map((t) => [t.index, t.key]), [
    [0, "base/seed1"],
    [1, "k1/seed1"],
    [2, "base/seed2"],
    [3, "k1/seed2"],
  ]);
  assertArrayScript(plan.script, [
    "#SBATCH --array=0-3%2",
    "#SBATCH --time=00:30:00",
    "#SBATCH --cpus-per-task=1",
    "#SBATCH --mem=2048M",
    `#SBATCH --chdir=${root}`,
  ]);
  const manifest = Deno.readTextFileSync(plan.manifest).trim().split("\n");
  assertEquals(manifest[0], "index\tname\trun_folder\toverrides");
  assertEquals(manifest[2].split("\t").slice(0, 3), [
    "1",
    "k1/seed1",
    "runs/tiny-slurm-k1-s1",
  ]);
  assert(JSON.parse(manifest[2].split("\t")[3]).includes("model.directions=1"));
  // Task 1 run here as a node would run it; the next plan leaves it out.
  const done = await runSlurmTask(join(plan.dir, "job.json"), 1);
  assert(!done.interrupted);
  // Started again (a requeue racing the end), the task returns its finished run, no second copy.
  const twice = await runSlurmTask(join(plan.dir, "job.json"), 1);
  assertEquals(resolve(twice.runDir), resolve(done.runDir));
  assertEquals(twice.result?.config_hash, done.result?.config_hash);
  const expDir = dirname(resolve(done.runDir));
  assertEquals([...Deno.readDirSync(expDir)].map((e) => e.name), ["v1"]);
  const again = writeSlurmJob(openSweep(loadSweep(file), { projectRoot: root, quiet: true }), {});
  assertEquals(again.tasks.map((t) => t.key), ["base/seed1", "base/seed2", "k1/seed2"]);
  assertEquals(again.finished, 1);
  assert(Deno.readTextFileSync(again.script).includes("#SBATCH --array=0-2\n"));
  // --collect before the array has run: the three missing runs, none submitted, no summary.
  const col = await collectSweep(openSweep(loadSweep(file), { projectRoot: root, quiet: true }));
  assertEquals(col.outcome, null);
  assertEquals(col.missing.map((m) => [m.key, m.state]), [
    ["base/seed1", "not submitted"],
    ["base/seed2", "not submitted"],
    ["k1/seed2", "not submitted"],
  ]);
  assertEquals([slurmSeconds("1-02:03:04"), slurmSeconds("03:04"), slurmSeconds("x")], [
    93784,
    184,
    null,
  ]);
});

Deno.test({
  name: "a sweep through SLURM gives the local sweep's summary; tasks record node, job and index" +
    IGNORED,
  ignore: PROBLEM !== null,
  fn: async () => {
    const { root, file } = project();
    const sub = await ablate(root, [file, "--slurm", "--cpus", "1"]);
    assertEquals(sub.code, 0, sub.out);
    const jobId = /submitted job array (\d+)/.exec(sub.out)?.[1];
    assert(jobId, sub.out);
    await waitForJob(jobId!, 600);
    const col = await ablate(root, [file, "--collect"]);
    assertEquals(col.code, 0, col.out);
    const sweepDir = join(root, "scratch", "ablations", "tiny-slurm", "v1");
    const local = project();
    const out = await runSweep(loadSweep(local.file), { projectRoot: local.root, quiet: true });
    assertEquals(summaryWithoutTimes(sweepDir), summaryWithoutTimes(out.sweepDir));
    const result = JSON.parse(
      Deno.readTextFileSync(join(sweepDir, "runs", "tiny-slurm-k1-s2", "v1", "result.json")),
    );
    const slurm = result.environment.slurm;
    assertEquals([slurm.array_job_id, slurm.array_task_id], [jobId, "3"]);
    assert(slurm.node.length > 0);
  },
});

Deno.test({
  name:
    "a task requeued mid-run saves on SIGTERM, resumes, and ends with the uninterrupted weights" +
    IGNORED,
  ignore: PROBLEM !== null,
  fn: async () => {
    const body = SWEEP.replace("seeds: [1, 2]", "seeds: [1]")
      .replace("train.epochs: 1", "train.epochs: 3")
      .replace("train.steps_per_epoch: 2", "train.steps_per_epoch: 12");
    const { root, file } = project(body);
    const sub = await ablate(root, [file, "--slurm", "--cpus", "1"]);
    assertEquals(sub.code, 0, sub.out);
    const jobId = /submitted job array (\d+)/.exec(sub.out)![1];
    const sweepDir = join(root, "scratch", "ablations", "tiny-slurm", "v1");
    const runDir = join(sweepDir, "runs", "tiny-slurm-base-s1", "v1");
    // Requeue once the run has trained a few steps (its state file exists after the first save).
    const deadline = Date.now() + 300_000;
    while (!exists(join(runDir, "run.json")) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
    }
    await new Promise((r) => setTimeout(r, 3000));
    const rq = new Deno.Command("scontrol", { args: ["requeue", `${jobId}_0`] }).outputSync();
    assertEquals(rq.code, 0, new TextDecoder().decode(rq.stderr));
    await waitForJob(jobId, 600);
    const log = Deno.readTextFileSync(join(sweepDir, "slurm", "logs", `${jobId}_0.log`));
    assert(/stopped by a signal, state saved/.test(log), log);
    assert(/resuming/.test(log), log);
    const result = JSON.parse(Deno.readTextFileSync(join(runDir, "result.json")));
    assert(result.environment.slurm.restart_count >= 1);
    const local = project(body);
    const out = await runSweep(loadSweep(local.file), { projectRoot: local.root, quiet: true });
    const localRun = join(out.sweepDir, "runs", "tiny-slurm-base-s1", "v1");
    assertEquals(await weights(runDir), await weights(localRun));
  },
});

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}
