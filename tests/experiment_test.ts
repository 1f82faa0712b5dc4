import { assert, assertEquals } from "../lib/util/assert.ts";
import { loadConfig } from "../lib/config/load.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { join } from "node:path";
import { sha256Hex } from "../lib/util/fs.ts";
import { ROOT, TINY_RUN } from "./permissions.ts";

/** The tiny run over two epochs of three steps, checkpointed each epoch. */
const TINY = [
  ...TINY_RUN,
  "train.epochs=2",
  "train.batch_size=16",
  "train.eval_batch_size=32",
  "train.steps_per_epoch=3",
  "output.checkpoint_every=1",
];

function tinyConfig(extra: string[] = []) {
  return loadConfig(join(ROOT, "configs/quickstart.yaml"), [...TINY, ...extra]);
}

async function modelHash(runDir: string): Promise<string> {
  const meta = JSON.parse(Deno.readTextFileSync(join(runDir, "model", "model.json")));
  return await sha256Hex(
    Deno.readFileSync(join(runDir, "model", meta.weightsManifest[0].paths[0])),
  );
}

Deno.test("same config + same seed ⇒ bitwise-identical weights and metrics (default backend)", async () => {
  const root = Deno.makeTempDirSync();
  const a = await runExperiment(tinyConfig(), { projectRoot: root, quiet: true });
  const b = await runExperiment(tinyConfig(), { projectRoot: root, quiet: true });
  assert(a.runDir !== b.runDir, "each run gets its own version folder");
  assertEquals(await modelHash(a.runDir), await modelHash(b.runDir));
  const ra = a.result!, rb = b.result!;
  assertEquals(ra.best, rb.best);
  assertEquals(ra.last, rb.last);
  assertEquals(ra.config_hash, rb.config_hash);
  assertEquals((ra.environment as { backend: string }).backend, "wasm");
  const c = await runExperiment(tinyConfig(["seed=2"]), { projectRoot: root, quiet: true });
  assert((await modelHash(c.runDir)) !== (await modelHash(a.runDir)), "another seed differs");
  // the result folder is complete and indexed
  for (
    const f of [
      "result.json",
      "metrics.md",
      "metrics.csv",
      "history.csv",
      "split.json",
      "curves.svg",
      "roc.svg",
    ]
  ) {
    Deno.statSync(join(a.runDir, f));
  }
  const index = Deno.readTextFileSync(join(root, "scratch", "index.md"));
  assert(index.includes("quickstart/v1") && index.includes("quickstart/v3"), index);
});

for (const extra of [[], ["train.ema_decay=0.9"]]) {
  const label = extra.length ? ` (${extra.join(", ")})` : "";
  Deno.test(`a run stopped mid-epoch and resumed ends with exactly the uninterrupted weights and metrics${label}`, async () => {
    const root = Deno.makeTempDirSync();
    const full = await runExperiment(tinyConfig(extra), { projectRoot: root, quiet: true });
    let steps = 0;
    const part = await runExperiment(tinyConfig(extra), {
      projectRoot: root,
      quiet: true,
      shouldStop: () => ++steps === 4, // stop after the first step of epoch 2
    });
    assert(part.interrupted);
    const saved = JSON.parse(Deno.readTextFileSync(join(part.runDir, "state", "state.json")));
    const earlierWall = JSON.stringify(saved).match(/"wallSeconds":([0-9.e+-]+)/);
    assert(earlierWall && Number(earlierWall[1]) > 0, "the state carries the wall time so far");
    const resumed = await runExperiment(tinyConfig(extra), {
      projectRoot: root,
      quiet: true,
      resumeDir: part.runDir,
    });
    assert(!resumed.interrupted);
    assertEquals(resumed.runDir, part.runDir);
    assertEquals(resumed.result!.resumed_from, { epoch: 1, step: 1 });
    // The resumed run's wall time includes the first session's (up to its saved state).
    assert((resumed.result!.wall_seconds as number) > Number(earlierWall![1]));
    assertEquals(await modelHash(resumed.runDir), await modelHash(full.runDir));
    assertEquals(resumed.result!.best, full.result!.best);
    assertEquals(resumed.result!.last, full.result!.last);
    if (extra.length) {
      // The averaged model is a different model from the raw one.
      const raw = await runExperiment(tinyConfig(), { projectRoot: root, quiet: true });
      assert((await modelHash(raw.runDir)) !== (await modelHash(full.runDir)));
    }
  });
}

Deno.test("a run stopped after an epoch's last step resumes with the uninterrupted history (the epoch's lr included)", async () => {
  const root = Deno.makeTempDirSync();
  // Warm-up makes the learning rate change every step, so a wrong lr cannot match by chance.
  const extra = ["train.warmup_epochs=2"];
  const full = await runExperiment(tinyConfig(extra), { projectRoot: root, quiet: true });
  let steps = 0;
  const part = await runExperiment(tinyConfig(extra), {
    projectRoot: root,
    quiet: true,
    shouldStop: () => ++steps === 3, // the last of epoch 1's three steps, before its evaluation
  });
  assert(part.interrupted);
  const resumed = await runExperiment(tinyConfig(extra), {
    projectRoot: root,
    quiet: true,
    resumeDir: part.runDir,
  });
  assertEquals(resumed.result!.resumed_from, { epoch: 0, step: 3 });
  // Every column but the two timings (images_per_sec, seconds).
  const history = (runDir: string) =>
    Deno.readTextFileSync(join(runDir, "history.csv")).trim().split("\n").map((row) =>
      row.split(",").slice(0, 7).join(",")
    );
  assertEquals(history(resumed.runDir), history(full.runDir));
  assertEquals(await modelHash(resumed.runDir), await modelHash(full.runDir));
});

Deno.test("a CLI run killed with SIGKILL mid-epoch resumes to exactly the uninterrupted result", async () => {
  const root = Deno.makeTempDirSync();
  const cfgPath = join(root, "tiny.yaml");
  Deno.writeTextFileSync(
    cfgPath,
    `extends: ${join(ROOT, "configs/quickstart.yaml")}\nexperiment: killed\n` +
      "data:\n  synthetic_n: 160\n  size: 32\nmodel:\n  dim: 16\n  depths: [1, 1, 1, 1]\n  patch_size: 2\n" +
      "train:\n  epochs: 2\n  batch_size: 32\n  steps_per_epoch: 4\noutput:\n  checkpoint_every: 1\n",
  );
  const cli = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(ROOT, "experiments/experiment.ts"), cfgPath, "--quiet", ...args],
      cwd: root,
      stdout: "null",
      stderr: "piped",
    });
  // uninterrupted reference
  const ref = await cli([]).output();
  assertEquals(ref.code, 0, new TextDecoder().decode(ref.stderr));
  // killed run: SIGKILL as soon as the first step's state is on disk
  const child = cli([]).spawn();
  const stateJson = join(root, "scratch", "killed", "v2", "state", "state.json");
  for (let i = 0; i < 3000 && !(await Deno.stat(stateJson).then(() => true, () => false)); i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill("SIGKILL");
  const st = await child.status;
  assert(!st.success, "the run should have been killed before finishing");
  const resumed = await cli(["--resume", join(root, "scratch", "killed", "v2")]).output();
  assertEquals(resumed.code, 0, new TextDecoder().decode(resumed.stderr));
  const a = JSON.parse(Deno.readTextFileSync(join(root, "scratch", "killed", "v1", "result.json")));
  const b = JSON.parse(Deno.readTextFileSync(join(root, "scratch", "killed", "v2", "result.json")));
  assertEquals(b.best, a.best);
  assertEquals(b.last, a.last);
  assertEquals(
    await modelHash(join(root, "scratch", "killed", "v2")),
    await modelHash(join(root, "scratch", "killed", "v1")),
  );
});

Deno.test("data.split all: every image trains, the last epoch's weights are the model, no metrics", async () => {
  const { verifyResult } = await import("../lib/results/verify.ts");
  const { loadRun } = await import("../lib/experiment/predict.ts");
  const { makeSplit } = await import("../lib/experiment/run.ts");
  const root = Deno.makeTempDirSync();
  const cfg = tinyConfig(["data.split=all"]);
  const split = makeSplit(
    cfg.config,
    {
      n: 5,
      labels: new Int32Array([0, 1, 0, 1, 1]),
    } as unknown as Parameters<typeof makeSplit>[1],
  );
  assertEquals(split, { train: [0, 1, 2, 3, 4], val: [] });
  const a = await runExperiment(cfg, { projectRoot: root, quiet: true });
  const b = await runExperiment(tinyConfig(["data.split=all"]), { projectRoot: root, quiet: true });
  const r = a.result!;
  assertEquals([r.best, r.last, r.baselines], [null, null, null]);
  assertEquals((r.data as { split: { n_train: number; n_val: number } }).split.n_val, 0);
  assertEquals((r.data as { split: { n_train: number } }).split.n_train, 96);
  assertEquals(Object.keys(r.files as object).sort(), [
    "history.csv",
    "metrics.md",
    "model/model.json",
    "run.json",
    "split.json",
  ]);
  const meta = JSON.parse(Deno.readTextFileSync(join(a.runDir, "model", "model.json")));
  assertEquals(meta.epoch, 2, "the model is the last epoch's");
  assertEquals(await modelHash(a.runDir), await modelHash(b.runDir));
  assertEquals(await verifyResult(join(a.runDir, "result.json")), []);
  const index = Deno.readTextFileSync(join(a.runDir, "..", "..", "index.md"));
  assert(index.includes("| — | — |"), index);
  const run = await loadRun(a.runDir);
  run.model.params.dispose();
  // A release result with metrics in it is not a valid release result.
  const bad = join(a.runDir, "result.json");
  const text = JSON.parse(Deno.readTextFileSync(bad));
  Deno.writeTextFileSync(bad, JSON.stringify({ ...text, best: { epoch: 1 } }));
  assert((await verifyResult(bad)).some((p) => p.startsWith("best: expected null")));
});

Deno.test("train.keep last: the kept model and the 'best' record are the last epoch's, whatever validation says", async () => {
  const root = Deno.makeTempDirSync();
  const a = await runExperiment(tinyConfig(["train.keep=last", "train.epochs=3"]), {
    projectRoot: root,
    quiet: true,
  });
  const r = a.result!;
  const best = r.best as { epoch: number; metrics: { accuracy: number } };
  const last = r.last as { epoch: number; metrics: { accuracy: number } };
  assertEquals(best.epoch, 3);
  assertEquals(best.metrics.accuracy, last.metrics.accuracy);
  const meta = JSON.parse(Deno.readTextFileSync(join(a.runDir, "model", "model.json")));
  assertEquals(meta.epoch, 3, "the kept weights are the last epoch's");
});
