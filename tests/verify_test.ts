import { join } from "node:path";
import { assert, assertEquals } from "../lib/util/assert.ts";
import { loadConfig } from "../lib/config/load.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { checkShape, verifyResults } from "../lib/results/verify.ts";
import { ROOT, TINY_RUN } from "./permissions.ts";

/** A fresh project root holding one finished tiny run; returns the root and the run folder. */
async function freshRun(): Promise<{ root: string; runDir: string }> {
  const root = Deno.makeTempDirSync();
  const s = await runExperiment(loadConfig(join(ROOT, "configs/quickstart.yaml"), [...TINY_RUN]), {
    projectRoot: root,
    quiet: true,
  });
  return { root, runDir: s.runDir };
}

function cli(dir: string): { code: number; out: string } {
  const o = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "experiments/verify_results.ts"), dir],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

const { root, runDir } = await freshRun();
const scratch = join(root, "scratch");

Deno.test("verify-results passes on a fresh run folder and fails after one flipped byte", async () => {
  const ok = await verifyResults(scratch);
  assertEquals(ok.checked, 1);
  assertEquals(ok.problems, []);
  const good = cli(scratch);
  assertEquals(good.code, 0, good.out);
  assert(good.out.includes("checked 1 result"), good.out);

  const md = join(runDir, "metrics.md");
  const bytes = Deno.readFileSync(md);
  const original = bytes.slice();
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  Deno.writeFileSync(md, bytes);
  try {
    const bad = await verifyResults(scratch);
    assertEquals(bad.problems.length, 1, bad.problems.join("\n"));
    assert(bad.problems[0].includes("metrics.md") && bad.problems[0].includes("sha256"));
    const r = cli(scratch);
    assertEquals(r.code, 1, r.out);
    assert(r.out.includes("metrics.md"), r.out);
  } finally {
    Deno.writeFileSync(md, original);
  }
  assertEquals((await verifyResults(scratch)).problems, []);
});

Deno.test("verify-results reports schema problems, an edited config and a missing file", async () => {
  const { root, runDir } = await freshRun();
  const path = join(runDir, "result.json");
  const r = JSON.parse(Deno.readTextFileSync(path));
  delete r.best;
  r.seed = "one";
  r.schema = "starmamba.result/0";
  r.config.train.epochs = 99;
  Deno.writeTextFileSync(path, JSON.stringify(r));
  Deno.removeSync(join(runDir, "history.csv"));
  // An unfinished run folder is a warning, not a failure.
  Deno.mkdirSync(join(root, "scratch", "quickstart", "v9"));
  Deno.writeTextFileSync(join(root, "scratch", "quickstart", "v9", "run.json"), "{}");
  const rep = await verifyResults(join(root, "scratch"));
  const text = rep.problems.join("\n");
  for (
    const want of [
      "best: missing",
      "seed: expected an integer",
      "schema: expected",
      "config_hash",
      "history.csv: listed in files but missing",
    ]
  ) {
    assert(text.includes(want), `expected "${want}" in:\n${text}`);
  }
  assertEquals(rep.problems.length, 5, text);
  assertEquals(rep.warnings.length, 1);
});

Deno.test("result shape checker: nested types, and NaN metrics (stored as null) only where allowed", () => {
  const shape = { a: { b: (v: unknown) => (v === 1 ? null : "expected 1") } };
  assertEquals(checkShape({ a: { b: 1 } }, shape), []);
  assertEquals(checkShape({ a: { b: 2 } }, shape), ["a.b: expected 1"]);
  assertEquals(checkShape({ a: 3 }, shape), ["a: expected a mapping, got number"]);
  assertEquals(checkShape({}, shape), ["a: missing"]);
  const r = JSON.parse(Deno.readTextFileSync(join(runDir, "result.json")));
  assertEquals(checkShape(r), []);
  r.best.metrics.rocAuc = null; // ROC-AUC is undefined when a class is absent
  assertEquals(checkShape(r), []);
  r.best.metrics.accuracy = null;
  assertEquals(checkShape(r), ["best.metrics.accuracy: expected a number, got null"]);
});

Deno.test("results/comparison.md is what deno task compare generates from the published runs", async () => {
  const { comparisonMarkdown } = await import("../lib/results/comparison.ts");
  const root = new URL("../results", import.meta.url).pathname;
  assertEquals(
    comparisonMarkdown(root),
    Deno.readTextFileSync(join(root, "comparison.md")),
    "results/comparison.md is stale: run `deno task compare`",
  );
});
