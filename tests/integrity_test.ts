/**
 * A run folder is used only as it was recorded: predict, evaluate and export refuse a model
 * folder whose network description or weights do not match result.json; a damaged resume state
 * is refused instead of resumed into NaN; and compare/models name a truncated result.json
 * instead of printing a stack trace. Every refusal is exit 2 and one line.
 */
import sharp from "sharp";
import { join, relative } from "node:path";
import { assert, assertEquals, assertRejects, assertThrows } from "../lib/util/assert.ts";
import { loadConfig } from "../lib/config/load.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { evaluateRun } from "../lib/experiment/evaluate.ts";
import { loadTensors } from "../lib/train/checkpoint.ts";
import { describeReleased } from "../lib/registry/describe.ts";
import { REPO_ROOT } from "../lib/registry/released.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { assertOneLineError, ROOT, runScript, TINY_RUN } from "./permissions.ts";

function copyDir(from: string): string {
  const to = join(Deno.makeTempDirSync(), "v1");
  new Deno.Command("cp", { args: ["-r", from, to] }).outputSync();
  return to;
}

function shardOf(runDir: string, sub = "model"): string {
  const e = [...Deno.readDirSync(join(runDir, sub))].find((e) => e.name.endsWith(".bin"))!;
  return join(runDir, sub, e.name);
}

function flipByte(path: string): void {
  const b = Deno.readFileSync(path);
  b[b.length - 1] ^= 1; // same length: only a checksum can tell
  Deno.writeFileSync(path, b);
}

const work = Deno.makeTempDirSync();
const cfg = (seed: number) =>
  loadConfig(join(ROOT, "configs/quickstart.yaml"), [...TINY_RUN, `seed=${seed}`]);
const runA = (await runExperiment(cfg(1), { projectRoot: work, quiet: true })).runDir;
const runB = (await runExperiment(cfg(2), { projectRoot: work, quiet: true })).runDir;
const image = join(work, "cutout.png");
await sharp(new Uint8Array(32 * 32 * 3).fill(90), { raw: { width: 32, height: 32, channels: 3 } })
  .png().toFile(image);

const MISMATCH = "weights do not match result.json";
const FIX = "restore the folder from git or retrain";

Deno.test("predict, export and evaluate refuse a swapped model/ folder: exit 2, one line", async () => {
  const run = copyDir(runA);
  Deno.removeSync(join(run, "model"), { recursive: true });
  new Deno.Command("cp", { args: ["-r", join(runB, "model"), join(run, "model")] }).outputSync();
  assertOneLineError(
    runScript("experiments/predict.ts", ["--model", run, image, "--quiet"]),
    MISMATCH,
    "model/model.json has sha256",
    FIX,
  );
  const out = join(Deno.makeTempDirSync(), "m.safetensors");
  assertOneLineError(runScript("experiments/export.ts", ["--model", run, "--out", out]), MISMATCH);
  await assertRejects(() => evaluateRun(run, { tta: false }), StarmambaError, MISMATCH);
});

Deno.test("a flipped weight byte with result.json's artifacts deleted is refused, not predicted", () => {
  const run = copyDir(runA);
  const path = join(run, "result.json");
  const r = JSON.parse(Deno.readTextFileSync(path));
  delete r.artifacts;
  Deno.writeTextFileSync(path, JSON.stringify(r, null, 2));
  flipByte(shardOf(run));
  assertOneLineError(
    runScript("experiments/predict.ts", ["--model", run, image, "--quiet"]),
    MISMATCH,
    "is not in result.json's artifacts",
  );
  // The untouched run still predicts.
  assertEquals(runScript("experiments/predict.ts", ["--model", runA, image, "--quiet"]).code, 0);
});

Deno.test("weights files carry their shard's sha256; a flipped byte is refused when read back", () => {
  const run = copyDir(runA);
  const meta = JSON.parse(Deno.readTextFileSync(join(run, "model", "model.json")));
  assert(/^[0-9a-f]{64}$/.test(meta.shardSha256), JSON.stringify(meta).slice(0, 200));
  flipByte(shardOf(run));
  assertThrows(
    () => loadTensors(join(run, "model"), "model"),
    StarmambaError,
    "model.json records",
  );
});

Deno.test("a damaged resume state: exit 2 naming the shard and saying to start again without --resume", async () => {
  const root = Deno.makeTempDirSync();
  const cfgPath = join(root, "tiny.yaml");
  Deno.writeTextFileSync(
    cfgPath,
    `extends: ${join(ROOT, "configs/quickstart.yaml")}\nexperiment: stopped\n` +
      "data:\n  synthetic_n: 96\n  size: 32\nmodel:\n  dim: 8\n  depths: [1, 1, 1, 1]\n" +
      "  patch_size: 2\ntrain:\n  epochs: 2\n  batch_size: 16\n  steps_per_epoch: 3\n" +
      "output:\n  checkpoint_every: 1\n",
  );
  let steps = 0;
  const part = await runExperiment(loadConfig(cfgPath), {
    projectRoot: root,
    quiet: true,
    shouldStop: () => ++steps === 2,
  });
  assert(part.interrupted);
  const shard = shardOf(part.runDir, "state");
  flipByte(shard);
  const r = runScript("experiments/experiment.ts", [cfgPath, "--resume", part.runDir, "--quiet"], {
    cwd: root,
  });
  assertOneLineError(r, relative(root, shard).split("/").pop()!, "without --resume");
  assert(!Deno.readDirSync(part.runDir).some((e) => e.name === "result.json"), "nothing finished");
});

Deno.test("compare and models: a truncated result.json is exit 2 / an error naming the file and the fix", () => {
  const results = join(Deno.makeTempDirSync(), "results");
  const run = join(results, "improved-cpu", "v1");
  Deno.mkdirSync(run, { recursive: true });
  const text = Deno.readTextFileSync(join(ROOT, "results/improved-cpu/v1/result.json"));
  Deno.writeTextFileSync(join(run, "result.json"), text.slice(0, 300));
  assertOneLineError(
    runScript("experiments/compare.ts", ["--results", results]),
    join(run, "result.json"),
    "not valid JSON",
    "git checkout --",
  );
  // deno task models reads the released runs through describeReleased.
  const model = copyDir(runA);
  Deno.writeTextFileSync(join(model, "result.json"), '{\n  "schema": "starm');
  const m = { name: "x", run: relative(REPO_ROOT, model), title: "", recipe: "", rebuilt: "" };
  assertThrows(() => describeReleased(m), StarmambaError, "git checkout --");
});
