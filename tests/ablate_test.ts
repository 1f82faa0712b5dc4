import { join } from "node:path";
import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { loadSweep, parseSweep, planSweep, runSweep } from "../lib/experiment/sweep.ts";
import type { SweepState, SweepSummary } from "../lib/results/sweep.ts";
import { parseCsv } from "../lib/results/write.ts";
import { meanStd } from "../lib/metrics/stats.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { toCsv } from "../lib/results/write.ts";
import { exists } from "../lib/util/fs.ts";
import { spawnScript, TASK_PERMISSIONS } from "./permissions.ts";
import { briefProgress } from "../lib/experiment/local_jobs.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const BASE = join(ROOT, "configs/quickstart.yaml");
const TINY_SET = `set:
  data.synthetic_n: 96
  data.size: 32
  model.dim: 8
  model.depths: [1, 1, 1, 1]
  model.patch_size: 2
  train.epochs: 1
  train.steps_per_epoch: 2
`;

function writeSweep(dir: string, body: string): string {
  const p = join(dir, "sweep.yaml");
  Deno.writeTextFileSync(p, body);
  return p;
}

/** Per-image correctness from predictions.csv, computed here independently of the module. */
function correctOf(runDir: string): boolean[] {
  const rows = Deno.readTextFileSync(join(runDir, "predictions.csv")).trim().split("\n");
  return rows.slice(1).map((line) => {
    const [, , label, pg, ps] = line.split(",");
    return (Number(pg) >= Number(ps) ? "galaxy" : "star") === label;
  });
}

Deno.test("sweep: runs every variant × seed, resumes after a stop, skips finished runs", async () => {
  const root = Deno.makeTempDirSync();
  const file = writeSweep(
    root,
    `name: tiny\nbase: ${JSON.stringify(BASE)}\nseeds: [1]\n${TINY_SET}` +
      "variants:\n  - { name: k1, set: { model.directions: 1 } }\n",
  );
  const spec = loadSweep(file);

  // Stop during the second run's first step, as Ctrl-C would.
  let steps = 0;
  const first = await runSweep(spec, {
    projectRoot: root,
    quiet: true,
    shouldStop: () => ++steps === 3,
  });
  assert(first.interrupted);
  assertEquals([first.executed, first.resumed, first.skipped], [2, 0, 0]);
  assertEquals(first.summary, null);
  const sweepDir = join(root, "scratch", "ablations", "tiny", "v1");
  assertEquals(first.sweepDir, sweepDir);
  const st1 = JSON.parse(Deno.readTextFileSync(join(sweepDir, "sweep.json"))) as SweepState;
  assertEquals(st1.runs["base/seed1"].status, "done");
  assertEquals(st1.runs["k1/seed1"].status, "running");

  const second = await runSweep(spec, { projectRoot: root, quiet: true });
  assert(!second.interrupted);
  assertEquals([second.executed, second.resumed, second.skipped], [0, 1, 1]);
  assertEquals(second.sweepDir, sweepDir, "same spec → same sweep version");
  const st2 = JSON.parse(Deno.readTextFileSync(join(sweepDir, "sweep.json"))) as SweepState;
  assertEquals(st2.runs["k1/seed1"].run_dir, st1.runs["k1/seed1"].run_dir, "resumed in place");

  const third = await runSweep(spec, { projectRoot: root, quiet: true });
  assertEquals([third.executed, third.resumed, third.skipped], [0, 0, 2]);
  assertEquals(third.written, [], "a complete sweep keeps its summary");

  // Summary: both variants, values traceable to the runs' own files.
  const s = JSON.parse(Deno.readTextFileSync(join(sweepDir, "summary.json"))) as SweepSummary;
  assertEquals(s.variants.map((v) => v.name), ["base", "k1"]);
  for (const v of s.variants) {
    const run = s.runs.find((r) => r.variant === v.name)!;
    const result = JSON.parse(Deno.readTextFileSync(join(sweepDir, run.run_dir, "result.json")));
    assertEquals(v.best.accuracy.mean, result.best.metrics.accuracy);
    assertEquals(v.last.balanced_accuracy.mean, result.last.metrics.balancedAccuracy);
    assertEquals(v.best.galaxy_recall.mean, result.best.metrics.perClass.galaxy.recall);
    assertEquals(v.best.accuracy.std, null, "one seed has no sample std");
    assertEquals(result.config.model.directions, v.name === "k1" ? 1 : 4);
    assertEquals(result.config.seed, 1);
  }
  const k1 = s.variants[1];
  const dirOf = (name: string) => join(sweepDir, s.runs.find((r) => r.variant === name)!.run_dir);
  const a = correctOf(dirOf("base")), b = correctOf(dirOf("k1"));
  const expB = a.filter((x, i) => x && !b[i]).length, expC = a.filter((x, i) => !x && b[i]).length;
  assertEquals([k1.mcnemar![0].b, k1.mcnemar![0].c], [expB, expC]);
  assertAllClose(
    [k1.delta_best!.accuracy.mean!],
    [(b.filter(Boolean).length - a.filter(Boolean).length) / a.length],
    0,
    1e-12,
  );

  // The other outputs exist, and every link in summary.md points at a file.
  const md = Deno.readTextFileSync(join(sweepDir, "summary.md"));
  const links = [...md.matchAll(/\]\((runs\/[^)]+)\)/g)].map((m) => m[1]);
  assertEquals(links.length, 2);
  for (const l of links) Deno.statSync(join(sweepDir, l));
  assert(Deno.readTextFileSync(join(sweepDir, "bars.svg")).startsWith("<svg"));
  const csv = parseCsv(Deno.readTextFileSync(join(sweepDir, "summary.csv")));
  assertEquals(csv[0], ["variant", "epoch_choice", "metric", "seed", "value"]);
  assert(csv.some((r) => r[0] === "k1" && r[2] === "mcnemar_p" && r[3] === "1"));
});

Deno.test("mean ± sample std (n − 1) against hand-worked values", () => {
  const s = meanStd([1, 2, 3, 4]);
  assertEquals(s.n, 4);
  assertEquals(s.mean, 2.5);
  assertAllClose([s.std!], [Math.sqrt(5 / 3)], 0, 1e-15);
  assertEquals(meanStd([0.5, NaN]), { n: 1, mean: 0.5, std: null });
  assertEquals(meanStd([]), { n: 0, mean: null, std: null });
});

Deno.test("sweep file validation names the bad key", () => {
  const file = join(ROOT, "configs/ablations/x.yaml");
  const ok = {
    name: "t",
    base: "../quickstart.yaml",
    seeds: [1],
    variants: [{ name: "a", set: { "model.d_state": 4 } }],
  };
  assertEquals(parseSweep(ok, file).variants.map((v) => v.name), ["base", "a"]);
  const nested = parseSweep(
    { ...ok, variants: [{ name: "a", set: { model: { d_state: 4 } } }] },
    file,
  );
  assertEquals(nested.variants[1].set, { "model.d_state": 4 });
  const cases: [object, string][] = [
    [{ ...ok, seedz: [1] }, 'unknown key "seedz" — did you mean "seeds"'],
    [{ ...ok, base: "../nope.yaml" }, 'key "base"'],
    [{ ...ok, seeds: [] }, 'key "seeds"'],
    [{ ...ok, seeds: [1, 1] }, "seeds repeat"],
    [{ ...ok, name: "a b" }, 'key "name"'],
    [{ ...ok, variants: [{ name: "base", set: { "model.d_state": 4 } }] }, "reserved"],
    [{ ...ok, variants: [{ name: "a", set: {} }] }, 'key "set" is empty'],
    [{ ...ok, variants: [{ name: "a", set: { seed: 3 } }] }, 'key "seed" is set by the sweep'],
    [{ ...ok, variants: [{ name: "a", sett: {} }] }, 'unknown key "sett"'],
    [{ ...ok, publish: "yes" }, 'key "publish"'],
  ];
  for (const [raw, msg] of cases) assertThrows(() => parseSweep(raw, file), StarmambaError, msg);
  // A bad config key in a variant fails at planning, before anything trains.
  const bad = parseSweep({ ...ok, variants: [{ name: "a", set: { "model.d_stat": 4 } }] }, file);
  assertThrows(() => planSweep(bad), StarmambaError, 'variant "a"');
});

Deno.test("spec hash: same sweep → same hash; any changed override → new hash", () => {
  const file = join(ROOT, "configs/ablations/x.yaml");
  const raw = {
    name: "t",
    base: "../quickstart.yaml",
    seeds: [1, 2],
    variants: [{ name: "a", set: { "model.d_state": 4 } }],
  };
  const h = planSweep(parseSweep(raw, file)).specHash;
  assertEquals(planSweep(parseSweep(raw, file)).specHash, h);
  assert(planSweep(parseSweep(raw, file), ["train.epochs=1"]).specHash !== h);
  assert(planSweep(parseSweep({ ...raw, seeds: [1, 3] }, file)).specHash !== h);
  const plan = planSweep(parseSweep(raw, file));
  assertEquals(plan.runs.map((r) => r.key), ["base/seed1", "a/seed1", "base/seed2", "a/seed2"]);
});

Deno.test("every shipped sweep file is valid and resolves all its configs", () => {
  const dir = join(ROOT, "configs/ablations");
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".yaml"));
  assert(names.length >= 13, names.join(", "));
  for (const n of names) {
    const spec = loadSweep(join(dir, n));
    assertEquals(`${spec.name}.yaml`, n, "name matches the file");
    planSweep(spec);
  }
});

Deno.test("ablate CLI: a bad sweep file is exit code 2 with one message", () => {
  const dir = Deno.makeTempDirSync();
  const file = writeSweep(dir, "name: t\nbase: nope.yaml\nseeds: [1]\nvariants: []\n");
  const o = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "experiments/ablate.ts"), file],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const err = new TextDecoder().decode(o.stderr);
  assertEquals(o.code, 2, err);
  assert(err.includes('key "base"') && !/\n\s+at /.test(err), err);
});

Deno.test("ablate --slurm: a refused option is exit 2 with one line and leaves no sweep folder", () => {
  const dir = Deno.makeTempDirSync();
  const file = writeSweep(
    dir,
    `name: refused\nbase: ${JSON.stringify(BASE)}\nseeds: [1]\n${TINY_SET}` +
      "variants:\n  - { name: k1, set: { model.directions: 1 } }\n",
  );
  const ablate = (...args: string[]) => {
    const o = new Deno.Command(Deno.execPath(), {
      args: ["run", ...TASK_PERMISSIONS, join(ROOT, "experiments/ablate.ts"), file, ...args],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    return { code: o.code, err: new TextDecoder().decode(o.stderr) };
  };
  const sweepRoot = join(dir, "scratch", "ablations", "refused");
  for (
    const [args, msg] of [
      [["--time", "soon"], "--time soon: expected HH:MM:SS"],
      [["--cpus", "0"], "--cpus 0: give a number from 1"],
      [["--partition", "a b"], "--partition a b: expected a SLURM name"],
      [["--mem", "0"], "--mem 0: give a number from"],
    ] as const
  ) {
    const r = ablate("--slurm", "--dry-run", ...args);
    assertEquals(r.code, 2, r.err);
    assertEquals(r.err.trim().split("\n").length, 1, r.err);
    assert(r.err.includes(msg), `expected "${msg}" in: ${r.err}`);
    assert(!exists(sweepRoot), `refused ${args.join(" ")} left ${sweepRoot} behind`);
  }
  const noSlurm = ablate("--dry-run");
  assertEquals(noSlurm.code, 2, noSlurm.err);
  assert(noSlurm.err.includes("--dry-run goes with --slurm"), noSlurm.err);
  assert(!exists(sweepRoot), "--dry-run without --slurm left a folder");
  // Accepted options: the job is written into the first version folder (no gaps left before it).
  const ok = ablate("--slurm", "--dry-run", "--time", "00:10:00");
  assertEquals(ok.code, 0, ok.err);
  assertEquals([...Deno.readDirSync(sweepRoot)].map((e) => e.name), ["v1"]);
  assert(exists(join(sweepRoot, "v1", "slurm", "sweep.sbatch")));
});

Deno.test("CSV: toCsv output reads back through parseCsv (quotes, commas, newlines in fields)", () => {
  const rows = [
    ["index", "file", "label"],
    ["0", 'a "quoted", name.jpg', "star"],
    ["1", "two\nlines", "galaxy"],
    ["2", "", "star"],
  ];
  const text = toCsv(rows);
  assertEquals(text.split("\n")[1], '0,"a ""quoted"", name.jpg",star');
  assertEquals(parseCsv(text), rows);
  assertEquals(parseCsv("a,b\r\nc,d\r\n"), [["a", "b"], ["c", "d"]]);
});

/** Each run's model shard of a finished sweep folder, by run key (sweep.json's run_dir). */
function shardsOf(sweepDir: string): Map<string, Uint8Array> {
  const state = JSON.parse(Deno.readTextFileSync(join(sweepDir, "sweep.json"))) as SweepState;
  const out = new Map<string, Uint8Array>();
  for (const [key, r] of Object.entries(state.runs)) {
    const model = join(sweepDir, r.run_dir!, "model");
    const meta = JSON.parse(Deno.readTextFileSync(join(model, "model.json")));
    out.set(key, Deno.readFileSync(join(model, meta.weightsManifest[0].paths[0])));
  }
  return out;
}

Deno.test("ablate --jobs 2: two runs at once in child processes, one thread each; the same weights bit for bit and the same summary as one at a time", () => {
  const body = (name: string) =>
    `name: ${name}\nbase: ${JSON.stringify(BASE)}\nseeds: [1, 2]\n${TINY_SET}` +
    "variants:\n  - { name: k1, set: { model.directions: 1 } }\n";
  const ablate = (dir: string, ...args: string[]) => {
    const o = new Deno.Command(Deno.execPath(), {
      args: ["run", ...TASK_PERMISSIONS, join(ROOT, "experiments/ablate.ts"), ...args],
      cwd: dir,
      env: { NO_COLOR: "1", OMP_NUM_THREADS: "2" },
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    const dec = new TextDecoder();
    return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
  };
  const seqDir = Deno.makeTempDirSync(), jobsDir = Deno.makeTempDirSync();
  const seq = ablate(seqDir, writeSweep(seqDir, body("pair")));
  assertEquals(seq.code, 0, seq.err);
  const par = ablate(jobsDir, writeSweep(jobsDir, body("pair")), "--jobs", "2");
  assertEquals(par.code, 0, par.err);
  assert(
    par.out.includes("4 run(s) to do, 0 already finished; 2 at a time, 1 thread(s) each"),
    par.out,
  );
  assert(par.out.includes("all 4 runs finished (4 in this call, 1 threads each)"), par.out);
  const a = join(seqDir, "scratch/ablations/pair/v1"),
    b = join(jobsDir, "scratch/ablations/pair/v1");
  const [sa, sb] = [shardsOf(a), shardsOf(b)];
  assertEquals([...sb.keys()].sort(), [...sa.keys()].sort());
  for (const [k, bytes] of sa) assertEquals(sb.get(k), bytes, `${k}: weights differ`);
  // Each task logged to its own file; the summaries agree.
  assertEquals([...Deno.readDirSync(join(b, "local/logs"))].map((e) => e.name).sort(), [
    "base-seed1.log",
    "base-seed2.log",
    "k1-seed1.log",
    "k1-seed2.log",
  ]);
  const figures = (d: string) =>
    (JSON.parse(Deno.readTextFileSync(join(d, "summary.json"))) as SweepSummary).variants.map((
      v,
    ) => ({ name: v.name, best: v.best, last: v.last, mcnemar: v.mcnemar }));
  assertEquals(figures(b), figures(a));
  // Run again: nothing to do, the summary stands.
  const again = ablate(jobsDir, join(jobsDir, "sweep.yaml"), "--jobs", "2");
  assertEquals(again.code, 0, again.err);
  assert(again.out.includes("0 run(s) to do, 4 already finished"), again.out);
  // Refused: not a whole number, with --slurm.
  for (
    const [args, msg] of [
      [["--jobs", "0"], "--jobs 0: give a number from 1"],
      [["--jobs", "1.5"], "--jobs 1.5: give a whole number"],
      [["--jobs", "2", "--collect"], "give it or --slurm/--collect, not both"],
    ] as const
  ) {
    const r = ablate(jobsDir, join(jobsDir, "sweep.yaml"), ...args);
    assertEquals(r.code, 2, r.err);
    assert(r.err.includes(msg), `expected "${msg}" in: ${r.err}`);
  }
  Deno.removeSync(seqDir, { recursive: true });
  Deno.removeSync(jobsDir, { recursive: true });
});

Deno.test("ablate --jobs: SIGTERM stops every running run after its step, state saved, exit 143; the same command finishes them", async () => {
  const dir = Deno.makeTempDirSync();
  const file = writeSweep(
    dir,
    `name: stop\nbase: ${JSON.stringify(BASE)}\nseeds: [1]\n` +
      // 40 epochs of 3 steps (the 77 training images' whole epoch: steps_per_epoch only caps):
      // long enough that neither run ends between the first being ready and the signal.
      TINY_SET.replace("train.epochs: 1", "train.epochs: 40")
        .replace("train.steps_per_epoch: 2", "train.steps_per_epoch: 3") +
      "  output.checkpoint_every: 100000\n" +
      "variants:\n  - { name: k1, set: { model.directions: 1 } }\n",
  );
  const run = spawnScript("experiments/ablate.ts", [file, "--jobs", "2"], dir);
  // Signal once both runs have started (each then trains 120 steps, seconds even on a fast CPU).
  await run.readUntil((out) => (out.match(/: started/g) ?? []).length >= 2);
  // Each task logs "<key>: training" once its SIGTERM listener is set (before that a signal
  // ends it with nothing trained, hence nothing to lose, but also no state to check here).
  const logs = join(dir, "scratch/ablations/stop/v1/local/logs");
  const ready = (f: string) =>
    exists(join(logs, f)) && /: training/.test(Deno.readTextFileSync(join(logs, f)));
  for (let i = 0; i < 600 && !(ready("base-seed1.log") && ready("k1-seed1.log")); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  run.child.kill("SIGTERM");
  const { code, out, err } = await run.finish();
  assertEquals(code, 143, `${out}\n${err}`);
  assert(out.includes("resume with the same command"), out);
  const runs = join(dir, "scratch/ablations/stop/v1/runs");
  for (const run of ["stop-base-s1", "stop-k1-s1"]) {
    assert(exists(join(runs, run, "v1", "state", "state.json")), `${run}: no saved state\n${out}`);
    assert(!exists(join(runs, run, "v1", "result.json")), `${run} finished before the signal`);
  }
  const again = new Deno.Command(Deno.execPath(), {
    args: ["run", ...TASK_PERMISSIONS, join(ROOT, "experiments/ablate.ts"), file, "--jobs", "2"],
    cwd: dir,
    env: { NO_COLOR: "1" },
  }).outputSync();
  assertEquals(again.code, 0, new TextDecoder().decode(again.stderr));
  for (const run of ["stop-base-s1", "stop-k1-s1"]) {
    assert(exists(join(runs, run, "v1", "result.json")), `${run} not finished on resume`);
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("ablate --jobs status: a task's latest progress line, briefly (lib/train/progress.ts's non-terminal line)", () => {
  assertEquals(
    briefProgress("epoch 15/48 1122/3792  loss 0.2992  acc 0.881  img/s 22.5  ETA 1:24:06"),
    "epoch 15/48, step 1122/3792, ETA 1:24:06",
  );
  assertEquals(briefProgress(null), "starting");
  assertEquals(briefProgress("epoch 15/48  train loss 0.2866 acc 0.885"), "starting");
});
