/**
 * Issue 31's comparison is fair by construction: each network's cross-validation sweep runs the
 * recommended recipe's folds, seed, schedule and data pipeline, and differs from
 * cv-best-grouped-aries.yaml in the network alone.
 */
import { join } from "node:path";
import { assertEquals } from "../lib/util/assert.ts";
import { loadSweep, planSweep } from "../lib/experiment/sweep.ts";
import { loadConfig } from "../lib/config/load.ts";
import type { ExperimentConfig } from "../lib/config/schema.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const sweep = (name: string) => join(ROOT, "configs/ablations", `cv-${name}-grouped-aries.yaml`);

/** Each planned run's config, by variant. */
function plannedConfigs(name: string): Map<string, ExperimentConfig> {
  const spec = loadSweep(sweep(name));
  return new Map(
    planSweep(spec).runs.map((r) => [r.variant, loadConfig(spec.base, r.overrides).config]),
  );
}

/** A config without what may differ between the networks' sweeps: names and the model section. */
function recipe(c: ExperimentConfig): unknown {
  const { experiment: _e, description: _d, model: _m, ...rest } = c;
  return rest;
}

const SWEEPS: [string, (m: ExperimentConfig["model"]) => void][] = [
  ["convnet", (m) => assertEquals(m.arch, "convnet")],
  ["resnet18", (m) => assertEquals([m.arch, m.stem], ["resnet18", "imagenet"])],
  [
    "conv-only",
    (m) => assertEquals([m.arch, m.ssm_branch, m.conv_branch], ["medmamba", false, true]),
  ],
  [
    "ssm-only",
    (m) => assertEquals([m.arch, m.ssm_branch, m.conv_branch], ["medmamba", true, false]),
  ],
];

Deno.test("each network's CV sweep is cv-best-grouped's folds, seed and recipe, with only the network changed", () => {
  const best = plannedConfigs("best");
  assertEquals([...best.keys()], ["base", "fold-1", "fold-2", "fold-3", "fold-4"]);
  for (const [name, network] of SWEEPS) {
    const runs = plannedConfigs(name);
    assertEquals([...runs.keys()], [...best.keys()], name);
    for (const [variant, cfg] of runs) {
      const ref = best.get(variant)!;
      assertEquals(recipe(cfg), recipe(ref), `${name} ${variant}`);
      assertEquals(cfg.train.keep, "last");
      assertEquals(cfg.train.epochs, 48);
      assertEquals(cfg.data.kfold, 5);
      network(cfg.model);
      if (cfg.model.arch === "medmamba") {
        // The branch switches: MedMamba's preset and every other model key as the reference's.
        const { ssm_branch: _s, conv_branch: _c, ...rest } = cfg.model;
        const { ssm_branch: _s2, conv_branch: _c2, ...refRest } = ref.model;
        assertEquals(rest, refRest, `${name} ${variant}`);
      }
    }
  }
});
