/**
 * The released models: named, trained networks whose weights are in the repository (like timm's
 * `create_model('name', pretrained=True)`, but the name resolves to a published run folder
 * under results/, so every figure about a model is the one its result.json records). Anything
 * that takes `--model <run dir>` takes a released name too.
 * @module
 */
import { isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One released model. */
export interface ReleasedModel {
  /** The name users type: `--model <name>`. */
  name: string;
  /** The run folder holding it, relative to the repository root. */
  run: string;
  /** One line on what it is. */
  title: string;
  /** Models sharing a recipe (config but seed and split) are summarised together in cards. */
  recipe: string;
  /**
   * How its weights were checked: rebuilt by rerunning the run's config and seed at its recorded
   * commit, the new shard's sha256 equal to result.json's. Empty while not yet rebuilt.
   */
  rebuilt: string;
}

/** The repository root (two folders above this file). */
export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

/**
 * How a release's weights were checked: retrained at its recorded commit on `date`, with what
 * the setting added (`extra`), the shard's sha256 compared with result.json's.
 */
function rebuiltOn(date: string, extra = ""): string {
  return `${date}: retrained from its config and seed at its recorded commit (a clean worktree, ` +
    `2-core AMD EPYC, wasm backend${extra}); the new shard's sha256 equals result.json's`;
}

/** The weights committed on 2026-12-03. */
const REBUILT_2026_12_03 = rebuiltOn("2026-12-03");

/** The ResNet-18 release's weights (issue 31): its first training ran on one thread, so this too. */
const REBUILT_2026_12_07 = rebuiltOn("2026-12-07", ", one thread as the first");

/**
 * The released models, best recipe first.
 *
 * @example List them, and load one by name
 * ```ts
 * import { loadRun, RELEASED } from "@starmamba/starmamba";
 * for (const m of RELEASED) console.log(m.name, m.run, m.title); // what deno task models lists
 * const run = await loadRun(RELEASED[0].name); // aries-cpu-ctx-s1: its run folder's best model
 * console.log(run.classNames, run.result.experiment);
 * run.model.params.dispose();
 * ```
 */
export const RELEASED: readonly ReleasedModel[] = [
  {
    name: "aries-cpu-ctx-s1",
    run: "results/improved-cpu-context-ema-shape/v2",
    recipe: "cpu-ctx",
    title: "cpu preset, field context, EMA, shape augmentation; ARIES random split, seed 1",
    rebuilt: REBUILT_2026_12_03,
  },
  {
    name: "aries-cpu-ctx-s2",
    run: "results/improved-cpu-context-ema-shape/v3",
    recipe: "cpu-ctx",
    title: "cpu preset, field context, EMA, shape augmentation; ARIES random split, seed 2",
    rebuilt: REBUILT_2026_12_03,
  },
  {
    name: "aries-cpu-ctx-s3",
    run: "results/improved-cpu-context-ema-shape/v1",
    recipe: "cpu-ctx",
    title: "cpu preset, field context, EMA, shape augmentation; ARIES random split, seed 3",
    rebuilt: REBUILT_2026_12_03,
  },
  {
    name: "aries-cpu-ctx-grouped-s1",
    run: "results/improved-grouped-context-ema-shape/v1",
    recipe: "cpu-ctx",
    title: "the same recipe on the grouped split (no frame in both train and validation), seed 1",
    rebuilt: REBUILT_2026_12_03,
  },
  {
    name: "aries-cpu-ctx-release",
    run: "results/release-cpu-context-ema-shape/v1",
    recipe: "cpu-ctx",
    title: "the same recipe trained on every labelled ARIES cutout (no validation), seed 1",
    rebuilt: REBUILT_2026_12_03,
  },
  {
    name: "aries-resnet18-ctx-release",
    run: "results/release-resnet18-context-ema-shape/v1",
    recipe: "resnet18-ctx",
    title: "ResNet-18 (torchvision's layout and ImageNet stem) in the cpu preset's recipe (field " +
      "context, EMA, shape augmentation), trained on every labelled ARIES cutout (no validation), " +
      "seed 1",
    rebuilt: REBUILT_2026_12_07,
  },
  {
    name: "aries-medmamba-t-s1",
    run: "results/improved-tiny/v1",
    recipe: "medmamba-t",
    title: "MedMamba-T (the paper's tiny network), no field context; ARIES random split, seed 1",
    rebuilt: REBUILT_2026_12_03,
  },
];

/**
 * Where a recipe's accuracy on new sky fields is measured under the honest protocol
 * (results/README.md): its grouped cross-validation (cv.json of the sweep), its fold models
 * scored once on the locked test set, and the same fold models given each cutout's context from
 * itself alone. Paths are relative to the repository root.
 */
export interface NewFieldEvidence {
  /** The sweep's cv.json (pooled out-of-fold figures over sky groups, and over folds). */
  cv: string;
  /** The same sweep's test-scores.json: its fold models and their ensemble, scored once. */
  lockedTest: string;
  /**
   * `deno task evaluate --context single --out` of each fold model of the same sweep on its own
   * held-out fold, in fold order: pooled, what a cutout classified alone gets on new fields.
   */
  alone: string[];
}

/** The per-fold evaluation files of a sweep's `k` fold models with `--context single`. */
function aloneFiles(sweep: string, version: string, k = 5): string[] {
  return Array.from(
    { length: k },
    (_, fold) => `results/evaluations/${sweep}-${version}-fold-${fold}-single.json`,
  );
}

/** The recipes with such evidence (a released model's `recipe` → files). */
export const RECIPE_EVIDENCE: Record<string, NewFieldEvidence> = {
  // v2, not v1: v1's test figures are aggregates without per-image predictions and its fold
  // weights cannot be rebuilt on this host (results/README.md); v2 is the same recipe retrained,
  // its test-predictions.csv published, so every figure the card quotes can be recomputed.
  "cpu-ctx": {
    cv: "results/ablations/cv-best-grouped-aries/v2/cv.json",
    lockedTest: "results/ablations/cv-best-grouped-aries/v2/test-scores.json",
    alone: aloneFiles("cv-best-grouped-aries", "v2"),
  },
  // The same protocol with only the network changed (issue 31): ResNet-18's grouped CV.
  "resnet18-ctx": {
    cv: "results/ablations/cv-resnet18-grouped-aries/v1/cv.json",
    lockedTest: "results/ablations/cv-resnet18-grouped-aries/v1/test-scores.json",
    alone: aloneFiles("cv-resnet18-grouped-aries", "v1"),
  },
};

/** The released model called `name`, or undefined. */
export function releasedModel(name: string): ReleasedModel | undefined {
  return RELEASED.find((m) => m.name === name);
}

/**
 * The run folder `--model` means: a released name becomes its folder (absolute, so it works
 * from any working directory); anything else is taken as a folder path as given.
 */
export function resolveModel(nameOrDir: string): string {
  const m = releasedModel(nameOrDir);
  if (m) return join(REPO_ROOT, m.run);
  return nameOrDir;
}

/** Whether `s` looks like a model name rather than a path (no separator, not absolute). */
export function looksLikeName(s: string): boolean {
  return !isAbsolute(s) && !s.includes("/") && !s.includes("\\") && !s.startsWith(".");
}
