/**
 * `deno task ablate <sweep> --jobs N`: the sweep's unfinished runs in N processes at once on this
 * machine, each with cores / N threads of native kernels. One run rarely keeps many cores busy
 * (and two runs each on every core thrash: docs/performance.md, "Two runs on the same cores"),
 * so on a machine with more cores than one run uses, a sweep finishes sooner this way. The
 * numbers do not change: a run's bits do not depend on its thread count.
 *
 * It reuses the SLURM array's pieces (lib/experiment/slurm.ts): the same job.json of unfinished
 * runs (under `<sweep>/local/`), each run started as `ablate --slurm-task <job.json> --index i`
 * (which resumes a run's saved state), and the same collection once all have finished.
 * @module
 */
import { join, relative } from "node:path";
import { REPO_ROOT } from "../registry/released.ts";
import { StarmambaError } from "../util/errors.ts";
import type { OpenedSweep, SweepOutcome } from "./sweep.ts";
import { collectSweep, type ManifestLine, writeSweepJob } from "./slurm.ts";

/** The permissions a task can need; each is passed on when this process holds it. */
const PERMISSIONS = ["read", "write", "env", "ffi", "run", "sys", "net"] as const;

/** `deno run` flags granting a task what this process was granted (`deno task ablate`'s). */
function inheritedPermissions(): string[] {
  return PERMISSIONS.filter((name) => Deno.permissions.querySync({ name }).state === "granted")
    .map((name) => `--allow-${name}`);
}

/** How {@link runSweepJobs} runs. */
export interface LocalJobsOptions {
  /** Runs at once (≥ 1). */
  jobs: number;
  /** Cores to share among them (default: OMP_NUM_THREADS, else the machine's). */
  cores?: number;
  /** Polled between events: true stops the tasks (each saves its state) and returns. */
  shouldStop?: () => boolean;
  /** No progress lines. */
  quiet?: boolean;
  /** How often the running runs' progress is printed (default every minute). */
  statusEveryMs?: number;
}

/** A task that ended without finishing its run (not by a stop that was asked for). */
export interface FailedTask {
  /** The run's key, `<variant>/seed<seed>`. */
  key: string;
  /** The task's exit code. */
  code: number;
  /** Its log file. */
  log: string;
}

/** What {@link runSweepJobs} did. */
export interface LocalJobsOutcome {
  /** The collected sweep (summary written) once every run has finished; else null. */
  outcome: SweepOutcome | null;
  /** Tasks started in this call. */
  started: number;
  /** Runs finished: in this call, or found finished before it. */
  finished: number;
  /** Stopped by shouldStop: the running tasks saved their state. */
  interrupted: boolean;
  /** Tasks that ended without finishing, each with its exit code and log. */
  failed: FailedTask[];
  /** The folder of job.json and logs/. */
  dir: string;
  /** Threads each task ran with. */
  threads: number;
}

/** A training progress line in a task's log (lib/train/progress.ts, not a terminal). */
const PROGRESS_LINE = /^epoch \d+\/\d+ \d+\/\d+ /;

/** "epoch 3/48, step 1200/3792, ETA 0:40:00" from a progress line; "starting" before one. */
export function briefProgress(line: string | null): string {
  const m = line === null ? null : /^(epoch \d+\/\d+) (\d+\/\d+).*ETA (\S+)/.exec(line);
  return m ? `${m[1]}, step ${m[2]}, ETA ${m[3]}` : "starting";
}

/** The cores a machine offers this process: OMP_NUM_THREADS when set, else the CPU count. */
export function availableCores(): number {
  const env = Number(Deno.env.get("OMP_NUM_THREADS"));
  if (Number.isInteger(env) && env > 0) return env;
  return Math.max(1, navigator.hardwareConcurrency ?? 1);
}

/** One running task: its line, its process and where its log goes. */
interface Running {
  line: ManifestLine;
  child: Deno.ChildProcess;
  log: string;
  /** Its latest progress line ("epoch 3/48 1200/3792 … ETA 0:40:00"), or null before one. */
  progress: string | null;
  done: Promise<Ended>;
}

/**
 * Runs a sweep's unfinished runs `o.jobs` at a time, each a child process with
 * ⌊cores / jobs⌋ (at least 1) native threads and its output in
 * `<sweep>/local/logs/<variant>-seed<seed>.log`;
 * collects the sweep when all have finished.
 *
 * @example Two runs of a sweep at once (the quickstart's sky, two steps each)
 * ```ts
 * import { loadSweep, openSweep } from "./sweep.ts";
 * import { runSweepJobs } from "./local_jobs.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/s.yaml`, [
 *   "name: two",
 *   `base: ${Deno.cwd()}/configs/quickstart.yaml`,
 *   "seeds: [1]",
 *   "set: { data.synthetic_n: 96, data.size: 32, model.dim: 8, train.epochs: 1,",
 *   "       train.steps_per_epoch: 2 }",
 *   "variants: [{ name: k2, set: { model.directions: 2 } }]",
 * ].join("\n"));
 * const sw = openSweep(loadSweep(`${dir}/s.yaml`), { quiet: true, projectRoot: dir });
 * const r = await runSweepJobs(sw, { jobs: 2, quiet: true });
 * console.log(r.finished, r.outcome !== null); // 2 true
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function runSweepJobs(
  sw: OpenedSweep,
  o: LocalJobsOptions,
): Promise<LocalJobsOutcome> {
  if (!Number.isInteger(o.jobs) || o.jobs < 1) {
    throw new StarmambaError(`--jobs ${o.jobs}: give a whole number of runs at once, 1 or more`);
  }
  const log = (s: string) => o.quiet || console.log(s);
  const dir = join(sw.sweepDir, "local");
  const { jobFile, tasks, finished: before } = writeSweepJob(sw, dir);
  // Cores shared among the runs that start now (fewer than --jobs when fewer are left).
  const parallel = Math.max(1, Math.min(o.jobs, tasks.length));
  const threads = Math.max(1, Math.floor((o.cores ?? availableCores()) / parallel));
  const total = tasks.length + before;
  log(
    `${tasks.length} run(s) to do, ${before} already finished; ${parallel} at a time, ` +
      `${threads} thread(s) each; logs in ${shown(join(dir, "logs"))}/`,
  );
  const spawn: TaskSpawn = {
    root: sw.root,
    jobFile,
    logs: join(dir, "logs"),
    threads,
    permissions: inheritedPermissions(),
  };
  const queue = [...tasks];
  const running = new Map<number, Running>();
  const failed: FailedTask[] = [];
  let finished = before, stopping = false;
  const fill = () => {
    while (!stopping && running.size < o.jobs && queue.length > 0) {
      const t = startTask(queue.shift()!, spawn);
      log(`${t.line.key}: started (${shown(t.log)})`);
      running.set(t.line.index, t);
    }
  };
  fill();
  let lastStatus = performance.now();
  while (running.size > 0) {
    if (performance.now() - lastStatus >= (o.statusEveryMs ?? 60_000)) {
      lastStatus = performance.now();
      for (const t of running.values()) log(`  ${t.line.key}: ${briefProgress(t.progress)}`);
    }
    const ended = await nextEnded(running);
    if (!stopping && o.shouldStop?.()) {
      stopping = true;
      log("stopping: each running task saves its state after its current step…");
      for (const t of running.values()) stopTask(t);
    }
    if (ended === null) continue;
    running.delete(ended.line.index);
    if (ended.code === 0) {
      finished++;
      log(`[${finished}/${total}] ${ended.line.key}: finished`);
    } else if (!(stopping && (ended.code === 143 || ended.code === 130))) {
      failed.push({ key: ended.line.key, code: ended.code, log: ended.log });
      log(`${ended.line.key}: ended with exit code ${ended.code} (${shown(ended.log)})`);
    }
    fill();
  }
  const complete = !stopping && failed.length === 0 && finished === total;
  const outcome = complete ? (await collectSweep(sw)).outcome : null;
  const started = tasks.length - queue.length;
  return { outcome, started, finished, interrupted: stopping, failed, dir, threads };
}

/** A path as the user sees it: relative to the working directory. */
const shown = (p: string): string => relative(Deno.cwd(), p) || ".";

/** What every task of one call is started with. */
interface TaskSpawn {
  root: string;
  jobFile: string;
  logs: string;
  threads: number;
  permissions: string[];
}

/** How a task ended. */
interface Ended {
  line: ManifestLine;
  code: number;
  log: string;
}

/**
 * Starts the task of `line`: `ablate --slurm-task <job.json> --index i` with `s.threads` native
 * threads, its stdout and stderr appended to `<variant>-seed<seed>.log` as they come, the latest
 * progress line (stdout's, whole lines only) kept for the status lines.
 */
function startTask(line: ManifestLine, s: TaskSpawn): Running {
  const log = join(s.logs, `${line.key.replace("/", "-")}.log`);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...s.permissions,
      join(REPO_ROOT, "experiments/ablate.ts"),
      "--slurm-task",
      s.jobFile,
      "--index",
      String(line.index),
    ],
    cwd: s.root,
    env: { OMP_NUM_THREADS: String(s.threads), NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const file = Deno.openSync(log, { append: true, create: true });
  const task = { line, child, log, progress: null as string | null };
  const toLog = (watch: boolean) => {
    const dec = new TextDecoder();
    let partial = "";
    return new WritableStream<Uint8Array>({
      write: (chunk) => {
        file.writeSync(chunk);
        if (!watch) return;
        const lines = (partial + dec.decode(chunk, { stream: true })).split("\n");
        partial = lines.pop()!;
        const last = lines.reverse().find((l) => PROGRESS_LINE.test(l));
        if (last) task.progress = last.trim();
      },
    });
  };
  const copied = Promise.all([child.stdout.pipeTo(toLog(true)), child.stderr.pipeTo(toLog(false))]);
  const done = (async (): Promise<Ended> => {
    const { code } = await child.status;
    await copied;
    file.close();
    return { line, code, log };
  })();
  return Object.assign(task, { done });
}

/** The next task to end, or null after half a second (to look at the stop flag again). */
async function nextEnded(running: Map<number, Running>): Promise<Ended | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = new Promise<null>((r) => (timer = setTimeout(() => r(null), 500)));
  const ended = await Promise.race([...[...running.values()].map((t) => t.done), tick]);
  clearTimeout(timer);
  return ended;
}

/** Asks a task to save its state and stop (it may have ended already). */
function stopTask(t: Running): void {
  try {
    t.child.kill("SIGTERM");
  } catch { /* it has just ended */ }
}
