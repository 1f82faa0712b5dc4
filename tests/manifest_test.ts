/**
 * The checksum manifest of a published folder (lib/results/manifest.ts) and what
 * `deno task verify-results` does with it: every file covered, an edited, added or deleted file
 * reported, result.json cross-checked against the files it summarises, `artifacts` required;
 * and the writers (a published run, a published sweep, compare) keep it current.
 */
import { join } from "node:path";
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import {
  formatManifest,
  MANIFEST,
  parseManifest,
  readManifest,
  recordInManifest,
  sealManifest,
} from "../lib/results/manifest.ts";
import { verifyResults } from "../lib/results/verify.ts";
import { checkCvSummary } from "../lib/results/cv.ts";
import { loadConfig } from "../lib/config/load.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { loadSweep, runSweep } from "../lib/experiment/sweep.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { ROOT, runScript, TINY_RUN } from "./permissions.ts";

/** sha256 of bytes, computed here with WebCrypto (independent of the module's node:crypto). */
async function sha(bytes: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A temp project whose results/ holds a copy of one published run (its weights left out). */
function publishedCopy(run = "improved-cpu/v1"): { cwd: string; results: string; runDir: string } {
  const cwd = Deno.makeTempDirSync();
  const results = join(cwd, "results");
  const runDir = join(results, run);
  Deno.mkdirSync(join(runDir, ".."), { recursive: true });
  new Deno.Command("cp", { args: ["-r", join(ROOT, "results", run), runDir] }).outputSync();
  return { cwd, results, runDir };
}

/** `deno run experiments/verify_results.ts …` in `cwd` (write access only with --seal). */
function verifyCli(cwd: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const permissions = args.includes("--seal")
    ? ["--allow-read", "--allow-write"]
    : ["--allow-read"];
  return runScript("experiments/verify_results.ts", args, { cwd, permissions });
}

Deno.test("manifest: sha256sum's format, sorted; entries recorded, updated and dropped; weights, state and temp files exempt", async () => {
  const root = Deno.makeTempDirSync();
  const put = (rel: string, text: string) => {
    Deno.mkdirSync(join(root, rel, ".."), { recursive: true });
    Deno.writeTextFileSync(join(root, rel), text);
  };
  put("b/result.json", "{}\n");
  put("a.md", "# a\n");
  put("b/model/model.abc.bin", "weights");
  put("b/state/state.json", "{}");
  put("b/x.json.123.tmp", "half");
  recordInManifest(
    root,
    ["a.md", "b/result.json", "b/model/model.abc.bin", "b/state/state.json"]
      .map((f) => join(root, f)),
  );
  const text = Deno.readTextFileSync(join(root, MANIFEST));
  const enc = new TextEncoder();
  assertEquals(
    text,
    `${await sha(enc.encode("# a\n"))}  a.md\n${await sha(enc.encode("{}\n"))}  b/result.json\n`,
  );
  assertEquals(formatManifest(parseManifest(text, "x")), text);
  // sha256sum -c reads it as it is
  const check = new Deno.Command("sha256sum", { args: ["-c", MANIFEST], cwd: root }).outputSync();
  assertEquals(check.code, 0, new TextDecoder().decode(check.stderr));
  put("a.md", "# a, edited\n");
  Deno.removeSync(join(root, "b/result.json"));
  recordInManifest(root, [join(root, "a.md"), join(root, "b/result.json")]);
  assertEquals(
    [...readManifest(root)!.entries()],
    [["a.md", await sha(enc.encode("# a, edited\n"))]],
  );
  assertThrows(() => parseManifest("nonsense line\n", "SUMS"), StarmambaError, "line 1");
  assertThrows(() => recordInManifest(root, ["/elsewhere/x.md"]), StarmambaError, "not inside");
});

Deno.test("verify-results: a published file edited (one digit), added or deleted is a problem; seal writes the manifest and prints its sha256", async () => {
  const { cwd, results, runDir } = publishedCopy();
  // A folder of published runs without a manifest is a problem.
  const none = verifyCli(cwd, ["results"]);
  assertEquals(none.code, 1, none.stdout);
  assert(none.stdout.includes(`no ${MANIFEST}`), none.stdout);
  // --seal needs write access and says how to get it.
  const ro = runScript("experiments/verify_results.ts", ["--seal", "results"], {
    cwd,
    permissions: ["--allow-read"],
  });
  assertEquals(ro.code, 2);
  assert(ro.stderr.includes("--allow-write"));

  const seal = verifyCli(cwd, ["--seal", "results"]);
  assertEquals(seal.code, 0, seal.stdout + seal.stderr);
  const pin = await sha(Deno.readFileSync(join(results, MANIFEST)));
  assert(seal.stdout.includes(`sha256 ${pin}`), seal.stdout);
  assertEquals(readManifest(results)!.size, 13); // the run's files; not the shard (absent anyway)
  const ok = verifyCli(cwd, ["results"]);
  assertEquals(ok.code, 0, ok.stdout);
  assert(ok.stdout.includes(`sha256 ${pin}`), ok.stdout);

  // The issue's edit: 92.97% → 93.97% style, one digit of the best accuracy in result.json.
  const resultPath = join(runDir, "result.json");
  const original = Deno.readTextFileSync(resultPath);
  const r = JSON.parse(original);
  const acc = String(r.best.metrics.accuracy); // 0.8845671267252195
  const edited = original.replace(
    `"accuracy": ${acc}`,
    `"accuracy": ${acc.replace("0.88", "0.89")}`,
  );
  assert(edited !== original);
  Deno.writeTextFileSync(resultPath, edited);
  const bad = verifyCli(cwd, ["results"]);
  assertEquals(bad.code, 1, bad.stdout);
  for (
    const want of [
      `${MANIFEST} records`,
      "metrics.csv has best accuracy",
      "predictions.csv",
      "history.csv",
    ]
  ) {
    assert(bad.stdout.includes(want), `expected "${want}" in:\n${bad.stdout}`);
  }
  // Sealing over the edit is refused: the manifest is there to show exactly this.
  const reseal = verifyCli(cwd, ["--seal", "results"]);
  assertEquals(reseal.code, 2, reseal.stdout);
  assertEquals(reseal.stderr.trim().split("\n").length, 1, reseal.stderr);
  // Even with a forged manifest (sha256sum run again) the cross-checks still fail.
  sealManifest(results, true);
  const forged = await verifyResults(results);
  assert(forged.problems.length >= 3, forged.problems.join("\n"));
  assert(forged.problems.every((p) => !p.includes(MANIFEST)), forged.problems.join("\n"));
  Deno.writeTextFileSync(resultPath, original);
  sealManifest(results, true);
  assertEquals((await verifyResults(results)).problems, []);

  // An added file, and a deleted one.
  Deno.writeTextFileSync(join(runDir, "extra.csv"), "x\n");
  Deno.removeSync(join(runDir, "roc.svg"));
  const rep = await verifyResults(results);
  const text = rep.problems.join("\n");
  assert(text.includes("extra.csv: not listed"), text);
  assert(/roc\.svg: listed in \S+ but missing/.test(text), text);
  // Subfolders are checked against the manifest above them.
  const sub = await verifyResults(join(results, "improved-cpu"));
  assert(sub.problems.some((p) => p.includes("extra.csv")), sub.problems.join("\n"));
  assertEquals(sub.manifest?.path, join(results, MANIFEST));
});

Deno.test("verify-results: artifacts are required, and must list the shard model.json names", async () => {
  const { results, runDir } = publishedCopy();
  const path = join(runDir, "result.json");
  const r = JSON.parse(Deno.readTextFileSync(path));
  delete r.artifacts;
  Deno.writeTextFileSync(path, JSON.stringify(r, null, 2));
  assert((await verifyResults(results)).problems.some((p) => p.includes("artifacts: missing")));
  r.artifacts = {};
  Deno.writeTextFileSync(path, JSON.stringify(r, null, 2));
  const rep = await verifyResults(results);
  assert(
    rep.problems.some((p) => p.includes("is not in result.json's artifacts")),
    rep.problems.join("\n"),
  );
});

Deno.test("cv.json is checked against the fold runs it summarises", () => {
  const { runDir } = publishedCopy("ablations/cv-best-grouped-aries/v1");
  const cvPath = join(runDir, "cv.json");
  assertEquals(checkCvSummary(cvPath), []);
  const cv = JSON.parse(Deno.readTextFileSync(cvPath));
  cv.folds[2].accuracy += 0.01;
  cv.over_folds.accuracy.mean += 0.002;
  Deno.writeTextFileSync(cvPath, JSON.stringify(cv));
  const problems = checkCvSummary(cvPath);
  assertEquals(problems.length, 2, problems.join("\n"));
  assert(problems[0].startsWith("fold 2 accuracy"), problems[0]);
  assert(problems[1].startsWith("over_folds.accuracy"), problems[1]);
});

Deno.test("writers keep the manifest current: a published run, a published sweep, compare", async () => {
  const root = Deno.makeTempDirSync();
  const results = join(root, "results");
  const run = await runExperiment(
    loadConfig(join(ROOT, "configs/quickstart.yaml"), [...TINY_RUN]),
    {
      projectRoot: root,
      quiet: true,
      publish: true,
    },
  );
  const m = readManifest(results)!;
  assert(m.has("quickstart/v1/result.json") && m.has("index.md"), [...m.keys()].join(" "));
  assert(![...m.keys()].some((k) => k.endsWith(".bin")), "weights are covered by artifacts");
  assertEquals((await verifyResults(results)).problems, []);

  const sweepFile = join(root, "sweep.yaml");
  Deno.writeTextFileSync(
    sweepFile,
    `name: tiny\nbase: ${JSON.stringify(join(ROOT, "configs/quickstart.yaml"))}\nseeds: [1]\n` +
      `set:\n${TINY_RUN.map((s) => `  ${s.replace("=", ": ")}`).join("\n")}\n` +
      "variants:\n  - { name: k1, set: { model.directions: 1 } }\n",
  );
  const sweep = await runSweep(loadSweep(sweepFile), {
    projectRoot: root,
    quiet: true,
    publish: true,
  });
  assert(!sweep.interrupted);
  const rep = await verifyResults(results);
  assertEquals(rep.problems, []);
  assert(readManifest(results)!.has("ablations/tiny/v1/summary.json"));

  const compare = runScript("experiments/compare.ts", ["--results", results]);
  assertEquals(compare.code, 0, compare.stderr);
  assert(readManifest(results)!.has("comparison.md"));
  assertEquals((await verifyResults(results)).problems, []);
  assert(run.runDir.startsWith(results));
});

Deno.test("evaluate --out and --errors into a published folder record their files in its manifest", async () => {
  const { default: sharp } = await import("sharp");
  const root = Deno.makeTempDirSync();
  const data = join(root, "data");
  for (const [c, cls] of ["galaxy", "star"].entries()) {
    Deno.mkdirSync(join(data, cls), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const px = new Uint8Array(32 * 32 * 3).map((_, j) => (j * (7 + i) + 50 * c) % 251);
      await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png()
        .toFile(join(data, cls, `${cls}_${i}.png`));
    }
  }
  const run = await runExperiment(
    loadConfig(join(ROOT, "configs/quickstart.yaml"), [
      ...TINY_RUN,
      "data.source=folder",
      `data.root=${JSON.stringify(data)}`,
    ]),
    { projectRoot: root, quiet: true, publish: true },
  );
  const results = join(root, "results");
  const out = join(results, "evaluations", "quickstart-v1.json");
  const o = runScript(
    "experiments/evaluate.ts",
    ["--model", run.runDir, "--out", out, "--errors", out.replace(".json", "-errors.svg")],
    { cwd: root },
  );
  assertEquals(o.code, 0, o.stderr);
  const m = readManifest(results)!;
  for (const f of ["quickstart-v1.json", "quickstart-v1-errors.svg", "quickstart-v1-errors.csv"]) {
    assert(m.has(`evaluations/${f}`), `${f} not recorded: ${[...m.keys()].join(" ")}`);
  }
  assertEquals((await verifyResults(results)).problems, []);
});
