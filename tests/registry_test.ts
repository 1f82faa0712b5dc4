/**
 * The released models: every name resolves to a published run, committed weights are the
 * published ones (sha256 against result.json), `deno task models` lists them, and a name that
 * is neither released nor a folder is one clear error.
 */
import { join } from "node:path";
import { createHash } from "node:crypto";
import { assert, assertEquals, assertRejects } from "../lib/util/assert.ts";
import { RELEASED, REPO_ROOT, resolveModel } from "../lib/registry/released.ts";
import { describeReleased, modelsTable } from "../lib/registry/describe.ts";
import { modelCards } from "../lib/registry/card.ts";
import { loadRun } from "../lib/experiment/predict.ts";
import { StarmambaError } from "../lib/util/errors.ts";

Deno.test("released names are unique, resolve to published runs, and their facts read", () => {
  assertEquals(new Set(RELEASED.map((m) => m.name)).size, RELEASED.length);
  for (const m of RELEASED) {
    assertEquals(resolveModel(m.name), join(REPO_ROOT, m.run));
    assert(/^[a-z0-9-]+$/.test(m.name), m.name);
    const row = describeReleased(m);
    // A release model (split all) has no held-out images, so no accuracy of its own.
    if (row.split.startsWith("all ")) assert(Number.isNaN(row.lastAccuracy), m.name);
    else assert(row.lastAccuracy > 0.5 && row.lastAccuracy <= 1, `${m.name} ${row.lastAccuracy}`);
    assert(/^[0-9a-f]{64}$/.test(row.sha256), `${m.name}: no sha256 recorded for ${row.shard}`);
    // A model said to be rebuilt must have its weights in the repository.
    if (m.rebuilt) assert(row.bytes !== null, `${m.name} says rebuilt but ${row.shard} is absent`);
  }
  assertEquals(resolveModel("scratch/quickstart/v1"), "scratch/quickstart/v1");
});

Deno.test("committed weights are the published ones: sha256 equals result.json's", () => {
  for (const m of RELEASED) {
    const row = describeReleased(m);
    if (row.bytes === null) continue;
    const sha = createHash("sha256").update(Deno.readFileSync(join(REPO_ROOT, m.run, row.shard)))
      .digest("hex");
    assertEquals(sha, row.sha256, `${m.name}: ${row.shard}`);
  }
});

Deno.test("--model with an unknown name: one error listing the released names", async () => {
  const e = await assertRejects(() => loadRun("aries-no-such-model"), StarmambaError);
  for (const m of RELEASED) assert(e.message.includes(m.name), e.message);
});

Deno.test("deno task models lists every released model; --json parses", () => {
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", join(REPO_ROOT, "experiments/models.ts"), ...args],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
  const table = run([]);
  assertEquals(table.code, 0);
  const text = new TextDecoder().decode(table.stdout);
  for (const m of RELEASED) assert(text.includes(m.name), text);
  const rows = JSON.parse(new TextDecoder().decode(run(["--json"]).stdout));
  assertEquals(rows.map((r: { name: string }) => r.name), RELEASED.map((m) => m.name));
});

Deno.test("model cards on disk are the ones the result files give (deno task models --cards)", () => {
  for (const [path, text] of modelCards()) {
    let disk = "";
    try {
      disk = Deno.readTextFileSync(join(REPO_ROOT, path));
    } catch { /* missing: reported below */ }
    assertEquals(disk, text, `${path} is stale: run deno task models --cards`);
    // Every accuracy in a card states its protocol (a release model's card quotes only the
    // recipe's cross-validation and test set, whose protocol chooses nothing on them either).
    assert(/nothing\s+chosen on the (validation images|images that score it)/.test(text), path);
  }
});

/** The lines of a card's `## <heading>` section, up to the next section. */
function section(card: string, heading: string): string {
  const start = card.indexOf(`\n## ${heading}\n`);
  if (start < 0) return "";
  const end = card.indexOf("\n## ", start + 1);
  return card.slice(start, end < 0 ? undefined : end);
}

Deno.test("the release card's accuracy on new sky fields is the grouped CV and the locked test set, with intervals and sources — not one grouped split's 91.71%", () => {
  const card = modelCards().get("models/aries-cpu-ctx-release.md")!;
  const expected = section(card, "Expected accuracy on new sky fields");
  // The retrained sweep (v2) and its one test scoring (results/README.md, 2026-12-07): pooled
  // out-of-fold 2867 of 3190 right, 89.9% [87.3, 92.6] over 19 sky groups, 89.90 ± 2.28% over
  // folds; the test ensemble 90.1% [88.1, 92.1] over images — 717 of 796 right, recounted in
  // Python from the mean of test-predictions.csv's five fold columns at 0.5; one cutout alone
  // (--context single) 558 + 575 + 565 + 493 + 499 = 2690 of 668 + 660 + 663 + 627 + 572 = 3190
  // right over the five folds' own evaluations (84.3%), summed in Python from their confusions.
  for (
    const fact of [
      "**89.9%**",
      "[87.3, 92.6]",
      "19 sky groups",
      "89.90 ± 2.28%",
      "**90.1%**",
      "[88.1, 92.1]",
      "89.7 ± 0.4%",
      "**84.3%**",
      "3190 cutouts",
      "results/ablations/cv-best-grouped-aries/v2/cv.json",
      "results/ablations/cv-best-grouped-aries/v2/test-scores.json",
      "results/evaluations/cv-best-grouped-aries-v2-fold-0-single.json",
      "results/evaluations/cv-best-grouped-aries-v2-fold-4-single.json",
    ]
  ) assert(expected.includes(fact), `missing ${fact} in:\n${expected}`);
  assert(!expected.includes("91.71"), expected);
  // v1's test figure is an aggregate nobody can recompute (no per-image predictions).
  assert(!expected.includes("90.15 ± 0.26%"), expected);
  const evaluation = section(card, "Evaluation");
  for (const line of evaluation.split("\n").filter((l) => l.includes("new sky fields"))) {
    assert(!line.includes("91.71"), `one grouped split promised as the expectation: ${line}`);
  }
});

Deno.test("cards of field-context models call predict with --context frame and --context single; others without", () => {
  for (const [path, text] of modelCards()) {
    const predicts = text.split("\n").filter((l) => l.startsWith("deno task predict "));
    const ctx = text.includes("field context, pixels");
    if (ctx) {
      assert(predicts.some((l) => l.includes("--context frame")), path);
      assert(predicts.some((l) => l.includes("--context single")), path);
      assert(text.includes("`single` for isolated cutouts"), path);
    } else {
      assert(predicts.length > 0 && predicts.every((l) => !l.includes("--context")), path);
    }
  }
});

Deno.test("deno task models gives each recipe's accuracy on new sky fields: its grouped CV out of fold", () => {
  const rows = RELEASED.map(describeReleased);
  const byName = new Map(rows.map((r) => [r.name, r]));
  // cv-best-grouped-aries v2: 2867 of the 3190 out-of-fold images right (counted in Python from
  // the folds' predictions.csv), whatever split the released run itself trained on.
  for (const name of ["aries-cpu-ctx-s1", "aries-cpu-ctx-release"]) {
    assertEquals(byName.get(name)!.newFields, 2867 / 3190);
  }
  // MedMamba-T's recipe has no grouped cross-validation.
  assertEquals(byName.get("aries-medmamba-t-s1")!.newFields, null);
  const table = modelsTable(rows);
  const release = table.split("\n").find((l) => l.startsWith("aries-cpu-ctx-release "))!;
  assert(release.includes("89.87%"), release);
  assert(table.includes("new fields†: the recipe's grouped 5-fold cross-validation"), table);
});
