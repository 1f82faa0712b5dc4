/**
 * `deno task experiment configs/baseline.yaml` is the command this package is cited by: the file
 * must exist, be the seed study's reference recipe, and train.
 * @module
 */
import { assert, assertEquals } from "../lib/util/assert.ts";
import { loadConfig } from "../lib/config/load.ts";
import { join, resolve } from "node:path";
import { TASK_PERMISSIONS } from "./permissions.ts";
import { ARIES, HAVE_ARIES } from "./aries.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const BASELINE = join(ROOT, "configs/baseline.yaml");
/** Where configs/baseline.yaml's data.root points: the ARIES folder beside the clone (CI). */
const BESIDE = resolve(ROOT, "../shared/data/aries");
const HAVE_BESIDE = (() => {
  try {
    return Deno.statSync(join(BESIDE, "star")).isDirectory;
  } catch {
    return false;
  }
})();

/** MedMamba-T's parameter count at 3×64×64, 2 classes (docs/architecture.md, tests/model_test.ts). */
const MEDMAMBA_T_PARAMS = 14_454_146;

/** Nested keys of an object as dotted paths with their JSON values. */
function flatten(o: Record<string, unknown>, prefix = ""): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(o)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      for (const [kk, vv] of flatten(v as Record<string, unknown>, `${prefix}${k}.`)) {
        out.set(kk, vv);
      }
    } else out.set(`${prefix}${k}`, JSON.stringify(v));
  }
  return out;
}

Deno.test("configs/baseline.yaml is the seed study's recipe: MedMamba-T, Adam 5e-5, batch 32, sampler, random split", () => {
  const { config, files } = loadConfig(BASELINE);
  assertEquals(files[files.length - 1], resolve(BASELINE));
  assertEquals(config.experiment, "baseline");
  assertEquals(config.model.preset, "tiny");
  assertEquals(config.train.optimizer, "adam");
  assertEquals(config.train.lr, 5e-5);
  assertEquals(config.train.batch_size, 32);
  assertEquals(config.train.class_balance, "sampler");
  assertEquals(config.data.split, "random");
  assertEquals(config.data.source, "folder");
  assertEquals(config.data.size, 64);
  assertEquals(config.data.channels, 3);
  // data.root is read relative to configs/: the ARIES folder beside the clone (the CI layout)
  assertEquals(resolve(ROOT, "configs", config.data.root!), BESIDE);
});

Deno.test("configs/baseline.yaml resolves to the config recorded by results/baseline/v1 (every key it recorded)", () => {
  const { config } = loadConfig(BASELINE);
  const recorded = JSON.parse(
    Deno.readTextFileSync(join(ROOT, "results/baseline/v1/result.json")),
  ).config as Record<string, unknown>;
  const now = flatten(config as unknown as Record<string, unknown>);
  const differing = [...flatten(recorded)].filter(([k, v]) => now.get(k) !== v)
    .map(([k, v]) => `${k}: recorded ${v}, now ${now.get(k)}`);
  assertEquals(differing, []);
});

Deno.test(
  "deno task experiment configs/baseline.yaml trains (one step of MedMamba-T" +
    (HAVE_BESIDE
      ? " on ARIES, as configured)"
      : HAVE_ARIES
      ? ` on ARIES at ${ARIES})`
      : `; no ARIES at ${BESIDE} or ${ARIES}, so on the synthetic sky)`),
  async () => {
    const cwd = Deno.makeTempDirSync();
    // One step, every image in training (no validation pass): the recipe's model, optimizer and
    // sampler run once, on the config's own data.root where that folder exists.
    const data = HAVE_BESIDE
      ? []
      : HAVE_ARIES
      ? ["--set", `data.root=${ARIES}`]
      : ["--set", "data.source=synthetic", "--set", "data.synthetic_n=64"];
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...TASK_PERMISSIONS,
        join(ROOT, "experiments/experiment.ts"),
        BASELINE,
        "--quiet",
        ...[
          "--set",
          "train.epochs=1",
          "--set",
          "train.steps_per_epoch=1",
          "--set",
          "data.split=all",
        ],
        ...data,
      ],
      cwd,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, stderr);
    // output.publish: true in the recipe, so the run lands under results/ (of the temp cwd)
    const result = JSON.parse(
      Deno.readTextFileSync(join(cwd, "results/baseline/v1/result.json")),
    );
    assertEquals(result.model.parameters, MEDMAMBA_T_PARAMS);
    assertEquals(result.history.length, 1);
    assert(Number.isFinite(result.history[0].trainLoss), JSON.stringify(result.history[0]));
    if (HAVE_BESIDE || HAVE_ARIES) {
      assertEquals(result.data.class_counts, { galaxy: 942, star: 3044 });
    }
    Deno.removeSync(cwd, { recursive: true });
  },
);
