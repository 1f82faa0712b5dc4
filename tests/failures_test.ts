/**
 * How commands fail: training that diverges, output paths that cannot be written (a folder
 * given for a file, a read-only folder, a full disk). Each is checked through the real CLI:
 * its exit code (2 for input, 1 for the environment) and its one-line message.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../lib/util/assert.ts";
import { resumableRunOf } from "../lib/experiment/run.ts";
import { exists } from "../lib/util/fs.ts";
import { ROOT, runScript, spawnScript, TASK_PERMISSIONS } from "./permissions.ts";

/** Runs an experiments/ script in `cwd` with the tasks' permissions (or others given). */
const cli = (script: string, args: string[], cwd: string, permissions = TASK_PERMISSIONS) =>
  runScript(`experiments/${script}`, args, { cwd, permissions });

/** The stderr of a refused command: exactly one `error: ` line, no stack trace. */
function oneLine(err: string): string {
  const lines = err.trim().split("\n");
  assertEquals(lines.length, 1, err);
  assert(lines[0].startsWith("error: "), err);
  return lines[0];
}

/**
 * Every float32 value of a weights file written by saveTensors (model.json / state.json and its
 * shard), decoded here from the manifest without the module's reader.
 */
function storedValues(dir: string, stem: string): Float32Array[] {
  const meta = JSON.parse(Deno.readTextFileSync(join(dir, `${stem}.json`)));
  const group = meta.weightsManifest[0];
  const bytes = Deno.readFileSync(join(dir, group.paths[0]));
  const out: Float32Array[] = [];
  let at = 0;
  for (const w of group.weights as { shape: number[]; dtype: string }[]) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    assertEquals(w.dtype, "float32");
    out.push(new Float32Array(bytes.slice(at, at + 4 * n).buffer));
    at += 4 * n;
  }
  assertEquals(at, bytes.length, "the manifest covers the shard");
  return out;
}

/** A learning rate of 10 with no warm-up: Adam moves each weight by ~10 a step, and the loss
 * overflows within the first epoch (batches of 8, a state saved every 2 steps). */
const DIVERGING = [
  join(ROOT, "configs/quickstart.yaml"),
  "--set",
  "train.lr=10",
  "--set",
  "train.warmup_epochs=0",
  "--set",
  "train.schedule=constant",
  "--set",
  "train.epochs=1",
  "--set",
  "data.synthetic_n=200",
  "--set",
  "train.batch_size=8",
  "--set",
  "output.checkpoint_every=2",
  "--quiet",
];

const DIVERGED_RE = new RegExp(
  "^error: training diverged at epoch 1, step (\\d+) \\(loss (NaN|-?Infinity)\\): lower " +
    "train\\.lr \\(now 10\\) or add train\\.warmup_epochs \\(now 0\\) and start a new run; " +
    "scratch/quickstart/v1/state keeps the last state saved before it \\(at epoch 1, step " +
    "(\\d+)\\)$",
);

Deno.test("training that diverges stops at that step with one line; the last finite state stays on disk and resumes to the same stop", () => {
  const dir = Deno.makeTempDirSync();
  const first = cli("experiment.ts", DIVERGING, dir);
  assertEquals(first.code, 2, first.stderr);
  const m = DIVERGED_RE.exec(oneLine(first.stderr));
  assert(m, `unexpected message: ${first.stderr}`);
  const [stopStep, savedStep] = [Number(m![1]), Number(m![3])];
  // The kept state is the last save (every 2 steps) before the step that diverged.
  assert(savedStep % 2 === 0 && savedStep < stopStep && stopStep - savedStep <= 2, m![0]);
  const runDir = join(dir, "scratch", "quickstart", "v1");
  const state = JSON.parse(Deno.readTextFileSync(join(runDir, "state", "state.json"))).state;
  assertEquals([state.epoch, state.step], [0, savedStep]);
  for (const values of storedValues(join(runDir, "state"), "state")) {
    assert(values.every(Number.isFinite), "the kept state holds only finite numbers");
  }
  assert(!exists(join(runDir, "result.json")), "no result for a run that did not finish");
  // The folder is an interrupted run: --resume continues from the kept state, to the same step.
  const again = cli("experiment.ts", [...DIVERGING, "--resume", "scratch/quickstart/v1"], dir);
  assertEquals(again.code, 2, again.stderr);
  assertEquals(oneLine(again.stderr), m![0]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("an output path that is a folder (or a file for a folder) is refused before any work, naming the option", () => {
  const dir = Deno.makeTempDirSync();
  const file = join(dir, "f.txt");
  Deno.writeTextFileSync(file, "x");
  // The models and images do not exist: the output check must come first to be seen.
  const cases: [string, string[], string][] = [
    ["predict.ts", ["--model", "no/such/run", "--out", dir, "a.png"], `--out ${dir} is a folder`],
    ["export.ts", ["--model", "no/such/run", "--out", dir], `--out ${dir} is a folder`],
    ["evaluate.ts", ["--model", "no/such/run", "--out", dir], `--out ${dir} is a folder`],
    [
      "evaluate.ts",
      ["--model", "no/such/run", "--errors", join(file, "e.svg")],
      `--errors ${join(file, "e.svg")}: ${file} is a file, not a folder`,
    ],
    ["catalog.ts", ["from-folder", "no/such/folder", "--out", dir], `--out ${dir} is a folder`],
    [
      "import.ts",
      ["no/such.safetensors", "--config", join(ROOT, "configs/quickstart.yaml"), "--out", file],
      `--out ${file} is a file, not a folder`,
    ],
  ];
  for (const [script, args, text] of cases) {
    const r = cli(script, args, dir);
    assertEquals(r.code, 2, `${script} ${args.join(" ")}: ${r.stderr}`);
    assert(oneLine(r.stderr).includes(text), `${script}: expected "${text}" in ${r.stderr}`);
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("a full disk (an output linked to /dev/full) is exit 1 with one line naming the file; without --allow-all Deno's refusal is one line too", () => {
  const dir = Deno.makeTempDirSync();
  for (const cls of ["galaxy", "star"]) {
    Deno.mkdirSync(join(dir, "data", cls), { recursive: true });
    Deno.writeFileSync(join(dir, "data", cls, `${cls}1.png`), new Uint8Array([0]));
  }
  // Through a link, so a version that replaced the output by rename could only replace the link.
  const out = join(dir, "catalog.csv");
  Deno.symlinkSync("/dev/full", out);
  const args = ["from-folder", join(dir, "data"), "--out", out];
  // Deno writes a device only with --allow-all.
  const full = cli("catalog.ts", args, dir, ["--allow-all"]);
  assertEquals(full.code, 1, full.stderr);
  assertEquals(oneLine(full.stderr), `error: disk full writing ${out}: free space and rerun`);
  const tasks = cli("catalog.ts", args, dir);
  assertEquals(tasks.code, 2, tasks.stderr);
  assert(
    oneLine(tasks.stderr).startsWith(`error: cannot write ${out}: Requires all access`),
    tasks.stderr,
  );
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["catalog.csv", "data"]);
  assert(Deno.lstatSync(out).isSymlink, "the output is still the link");
  Deno.removeSync(dir, { recursive: true });
});

/** Root writes through permission bits, so a chmod-ed folder is read-only only for others. */
const ROOT_USER = Deno.uid() === 0;

Deno.test({
  name: "a read-only output folder stops the run before the data loads, naming the key and folder" +
    (ROOT_USER ? " [ignored: running as root, which writes through permission bits]" : ""),
  ignore: ROOT_USER,
  fn: () => {
    const dir = Deno.makeTempDirSync();
    const ro = join(dir, "ro");
    Deno.mkdirSync(ro);
    Deno.chmodSync(ro, 0o555);
    try {
      const r = cli(
        "experiment.ts",
        [join(ROOT, "configs/quickstart.yaml"), "--set", `output.scratch_dir=${ro}/scratch`],
        dir,
      );
      assertEquals(r.code, 2, r.stderr);
      assertEquals(
        oneLine(r.stderr),
        `error: output.scratch_dir ${ro}/scratch: cannot write in ${ro} (permission denied); ` +
          "choose a folder you can write to, or fix its permissions",
      );
      assertEquals([...Deno.readDirSync(ro)], []);
    } finally {
      Deno.chmodSync(ro, 0o755);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("resumableRunOf: the run folder above a file while the run is unfinished; null once result.json exists or outside runs", () => {
  const dir = Deno.makeTempDirSync();
  const run = join(dir, "scratch", "exp", "v1");
  Deno.mkdirSync(join(run, "state"), { recursive: true });
  Deno.writeTextFileSync(join(run, "run.json"), "{}");
  assertEquals(resumableRunOf(join(run, "state", "state.abc.bin")), run);
  assertEquals(resumableRunOf(join(run, "metrics.md")), run);
  assertEquals(resumableRunOf(join(dir, "scratch", "index.md")), null);
  Deno.writeTextFileSync(join(run, "result.json"), "{}");
  assertEquals(resumableRunOf(join(run, "state", "state.abc.bin")), null);
  Deno.removeSync(dir, { recursive: true });
});

/** A short run (4 epochs of 400 synthetic cutouts) that saves state only when it stops. */
const QUICK = [
  join(ROOT, "configs/quickstart.yaml"),
  "--set",
  "train.epochs=4",
  "--set",
  "data.synthetic_n=400",
  "--set",
  "train.batch_size=8",
  "--set",
  "output.checkpoint_every=100000",
];

/** The model shard's bytes of a finished run folder. */
function modelBytes(runDir: string): Uint8Array {
  const meta = JSON.parse(Deno.readTextFileSync(join(runDir, "model", "model.json")));
  return Deno.readFileSync(join(runDir, "model", meta.weightsManifest[0].paths[0]));
}

Deno.test("SIGTERM (timeout, docker stop, systemd) stops training after the step, saves the state, exits 143; resuming gives the uninterrupted run's weights bit for bit", async () => {
  const dir = Deno.makeTempDirSync();
  const run = spawnScript("experiments/experiment.ts", QUICK, dir);
  // Signal once the run has printed its model line: the listener is set by then, and the
  // 200 steps that follow take longer than the signal takes to arrive.
  await run.readUntil((out) => /^model: /m.test(out));
  run.child.kill("SIGTERM");
  const { code, out, err } = await run.finish();
  assertEquals(code, 143, `${out}\n${err}`);
  assert(err.includes("SIGTERM: stopping after the current step"), err);
  assert(out.includes("stopped; state saved in scratch/quickstart/v1/state"), out);
  const m = /resume with: deno task experiment (.*)/.exec(out);
  assert(m, out);
  const runDir = join(dir, "scratch", "quickstart", "v1");
  assert(!exists(join(runDir, "result.json")), "stopped before the end");
  const state = JSON.parse(Deno.readTextFileSync(join(runDir, "state", "state.json"))).state;
  assert(state.epoch < 3, JSON.stringify(state));
  // The printed command resumes it; a second run in its own folder is never interrupted.
  const resumeArgs = m![1].split(" ");
  assertEquals(resumeArgs[0], QUICK[0]);
  const resumed = cli("experiment.ts", [...resumeArgs, "--quiet"], dir);
  assertEquals(resumed.code, 0, resumed.stderr);
  const whole = Deno.makeTempDirSync();
  assertEquals(cli("experiment.ts", [...QUICK, "--quiet"], whole).code, 0);
  assertEquals(modelBytes(runDir), modelBytes(join(whole, "scratch", "quickstart", "v1")));
  Deno.removeSync(dir, { recursive: true });
  Deno.removeSync(whole, { recursive: true });
});
