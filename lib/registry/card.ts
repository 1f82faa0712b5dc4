/**
 * Model cards (models/<name>.md), generated from the result files so that no figure is typed by
 * hand: what the model is for, its data and split, its accuracy on both splits over the
 * recipe's seeds with the protocol of each number, what field context needs, its limitations,
 * and how to cite it. `deno task models --cards` writes them; a test checks they are current.
 * @module
 */
import { join } from "node:path";
import { meanStd } from "../metrics/stats.ts";
import { RECIPE_EVIDENCE, RELEASED, type ReleasedModel, REPO_ROOT } from "./released.ts";
import { describeReleased, type ModelRow } from "./describe.ts";
import type { NetworkShape } from "../model/network.ts";
import { networkEntry } from "../model/registry.ts";
import { ENSEMBLE, type TestScores } from "../results/test_scoring.ts";

type Obj = Record<string, unknown>;

/** The parts of a result.json a card uses. */
interface RunFacts {
  row: ModelRow;
  result: Obj;
  /** Evaluation files of the run under results/evaluations/, by suffix ("tta", "single"…). */
  evaluations: Record<string, Obj>;
}

/** Reads a JSON file under the repository root, or null when it is absent. */
function readJson(path: string): Obj | null {
  try {
    return JSON.parse(Deno.readTextFileSync(join(REPO_ROOT, path)));
  } catch {
    return null;
  }
}

/** The evaluation records results/evaluations/<experiment>-v<N>-<suffix>.json of a run. */
function evaluationsOf(run: string): Record<string, Obj> {
  const [, exp, version] = run.split("/");
  const out: Record<string, Obj> = {};
  for (const suffix of ["tta", "single", "single-tta", "onnx-tta"]) {
    const e = readJson(`results/evaluations/${exp}-${version}-${suffix}.json`);
    if (e) out[suffix] = e;
  }
  return out;
}

function facts(m: ReleasedModel): RunFacts {
  return {
    row: describeReleased(m),
    result: readJson(join(m.run, "result.json"))!,
    evaluations: evaluationsOf(m.run),
  };
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** "92.18 ± 0.48% (3 seeds)" or "91.71% (1 seed)". */
function stat(xs: number[]): string {
  const s = meanStd(xs);
  if (s.mean === null) return "—";
  const sd = s.std === null ? "" : ` ± ${(100 * s.std).toFixed(2)}`;
  return `${(100 * s.mean).toFixed(2)}${sd}% (${s.n} seed${s.n === 1 ? "" : "s"})`;
}

function accuracy(r: Obj, which: "best" | "last"): number {
  return ((r[which] as Obj).metrics as { accuracy: number }).accuracy;
}

function evalAccuracy(e: Obj | undefined): number {
  return e ? (e.metrics as { accuracy: number }).accuracy : NaN;
}

/** The released models trained with the same recipe as `m` (same config files but the split). */
function recipeRuns(m: ReleasedModel): RunFacts[] {
  return RELEASED.filter((o) => o.recipe === m.recipe).map(facts);
}

/**
 * The evaluation table over the recipe's released runs, one line per split, with its notes; no
 * lines when no released run of the recipe has a validation split (a release model alone).
 */
function evaluationSection(runs: RunFacts[], ctx: boolean): string[] {
  const table = evaluationTable(runs);
  if (table.length === 2) return [];
  return [
    "The recipe over its released runs (validation accuracy, mean ± sample std over seeds):",
    "",
    ...table,
    "",
    "last epoch: after a fixed schedule, nothing chosen on the validation images. *saved weights:",
    "the epoch with the best validation accuracy, chosen on the images that score it (the",
    "reference study's protocol; optimistic). TTA: the mean over 8 flips and quarter turns.",
    ctx
      ? "†one image alone: each cutout's field-context template from the cutout itself."
      : "†one image alone: the same as the other columns (no field context).",
    "",
  ];
}

/** The evaluation table's lines over the recipe's released runs: one row per split. */
function evaluationTable(runs: RunFacts[]): string[] {
  const lines = [
    "| split | seeds | last epoch | saved weights* | saved weights, TTA* | one image alone† |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
  ];
  for (const kind of ["random", "grouped"]) {
    const rs = runs.filter((r) => r.row.split.startsWith(kind));
    if (rs.length === 0) continue;
    lines.push(
      `| ${kind} (${rs[0].row.split.split(" ")[1]} train/val) | ${
        rs.map((r) => r.row.seed).join(", ")
      } | ${stat(rs.map((r) => accuracy(r.result, "last")))} | ${
        stat(rs.map((r) => accuracy(r.result, "best")))
      } | ${stat(rs.map((r) => evalAccuracy(r.evaluations.tta)))} | ${
        stat(rs.map((r) => evalAccuracy(r.evaluations.single)))
      } |`,
    );
  }
  return lines;
}

/** The recipe's grouped-split last-epoch accuracy: the expected accuracy of a release model. */
function expectedAccuracy(runs: RunFacts[]): string {
  const grouped = runs.filter((r) => r.row.split.startsWith("grouped"));
  return grouped.length
    ? `${stat(grouped.map((r) => accuracy(r.result, "last")))}, grouped split`
    : "no grouped-split run of this recipe is released";
}

/**
 * The CV sweep (its cv.json, relative to the repository root) whose pooled out-of-fold
 * predictions speak for a released recipe, or null when the recipe has none: what
 * `deno task classify --purity` chooses its threshold on.
 */
export function recipeCvSweep(recipe: string): string | null {
  return RECIPE_EVIDENCE[recipe]?.cv ?? null;
}

/** A bootstrap interval as result files record it. */
interface Interval {
  value: number;
  lo: number;
  hi: number;
}

const pct1 = (x: number) => (100 * x).toFixed(1);

/** Reads a file the card quotes; a missing one is an error naming it (cards never guess). */
function mustRead(path: string): Obj {
  const o = readJson(path);
  if (o === null) throw new Error(`model card: ${path} is missing or not JSON`);
  return o;
}

/** A field-context recipe's accuracy with each cutout alone on new fields, as measured. */
interface SingleAccuracy {
  /** Pooled over the folds: correct / scored. */
  accuracy: number;
  n: number;
  /** The first and last evaluation file (the folds' names differ only in their number). */
  files: string[];
  folds: number;
}

/**
 * The out-of-fold accuracy of `recipe`'s cross-validation with each cutout's template taken from
 * itself alone, pooled over its fold models' evaluations, or null without evidence. Each file
 * must score a run its cv.json lists, on that run's held-out fold, with `--context single`.
 */
function singleAccuracy(recipe: string): SingleAccuracy | null {
  const ev = RECIPE_EVIDENCE[recipe];
  if (!ev) return null;
  const sweepDir = ev.cv.slice(0, ev.cv.lastIndexOf("/"));
  const cv = mustRead(ev.cv) as { folds: { run: string }[] };
  let correct = 0;
  let n = 0;
  ev.alone.forEach((file, fold) => {
    const e = mustRead(file) as {
      run: string;
      context: string;
      metrics: { accuracy: number; n: number };
    };
    const expected = `${sweepDir}/${cv.folds[fold]?.run}`;
    if (e.run !== expected || e.context !== "single") {
      throw new Error(
        `model card: ${file} scores ${e.run} (context ${e.context}), not fold ${fold} of ` +
          `${ev.cv} (${expected}) with --context single`,
      );
    }
    correct += Math.round(e.metrics.accuracy * e.metrics.n);
    n += e.metrics.n;
  });
  return {
    accuracy: correct / n,
    n,
    files: [ev.alone[0], ev.alone.at(-1)!],
    folds: ev.alone.length,
  };
}

/**
 * "## Expected accuracy on new sky fields": the recipe's grouped cross-validation (pooled, with
 * its bootstrap interval over sky groups, and over folds) and its locked test set (the fold
 * models' ensemble with its intervals over images and fields, beside the fold models' spread),
 * each naming the file it comes from.
 * Empty when the recipe has no such evidence.
 */
function newFieldSection(recipe: string, ctx: boolean): string[] {
  const ev = RECIPE_EVIDENCE[recipe];
  if (!ev) return [];
  const cv = mustRead(ev.cv) as {
    k: number;
    pooled_n: number;
    pooled: { intervals: { accuracy: Interval }; groups: number };
    over_folds: { accuracy: { mean: number; std: number } };
  };
  const pooled = cv.pooled.intervals.accuracy;
  const scores = mustRead(ev.lockedTest) as unknown as TestScores;
  const figures = scores.figures;
  const ensemble = figures.decided.models[ENSEMBLE].accuracy;
  const overModels = figures.decided.over_models.accuracy;
  const single = singleAccuracy(recipe);
  return [
    "## Expected accuracy on new sky fields",
    "",
    "Measured on sky fields never seen in training, with runs of this recipe; the first two",
    "under the honest protocol of results/README.md (each model at its last epoch, nothing",
    "chosen on the images that score it).",
    "",
    `- grouped ${cv.k}-fold cross-validation on the ${cv.pooled_n} cutouts outside the locked test set: **${
      pct1(pooled.value)
    }%** pooled out-of-fold, 95% interval [${pct1(pooled.lo)}, ${
      pct1(pooled.hi)
    }] by a bootstrap over ${cv.pooled.groups} sky groups; ${
      (100 * cv.over_folds.accuracy.mean).toFixed(2)
    } ± ${(100 * cv.over_folds.accuracy.std).toFixed(2)}% over the folds (\`${ev.cv}\`)`,
    `- locked test set (${figures.images} cutouts in ${figures.groups} fields, scored once), the mean ` +
    `of the ${overModels.n} fold models' probabilities as one model: **${
      pct1(ensemble.value)
    }%**, 95% interval [${pct1(ensemble.images.lo)}, ${
      pct1(ensemble.images.hi)
    }] by a bootstrap over its images ([${pct1(ensemble.groups.lo)}, ${
      pct1(ensemble.groups.hi)
    }] over its ${figures.groups} fields); the fold models alone ${
      (100 * (overModels.mean ?? NaN)).toFixed(1)
    } ± ${
      (100 * (overModels.std ?? NaN)).toFixed(1)
    }% (their spread, not an uncertainty; \`${ev.lockedTest}\`, recomputable from its ` +
    `\`${scores.predictions.file}\`)`,
    ...(ctx && single
      ? [
        `- a cutout classified alone (\`--context single\`, its template from itself): **${
          pct1(single.accuracy)
        }%** out of fold, the same ${single.folds} fold models each on its own held-out fold ` +
        `(${single.n} cutouts; \`${single.files[0]}\` … \`${single.files[1]}\`)`,
      ]
      : []),
    "",
  ];
}

/** The card's example commands: predict (with --context for a field-context model) and export. */
function usageLines(m: ReleasedModel, ctx: boolean): string[] {
  const single = singleAccuracy(m.recipe);
  const predict = ctx
    ? [
      `deno task predict --model ${m.name} --context frame cutouts/ --out predictions.csv`,
      `deno task predict --model ${m.name} --context single cutout.jpg --out predictions.csv`,
    ]
    : [`deno task predict --model ${m.name} cutouts/ --out predictions.csv`];
  return [
    "```sh",
    ...predict,
    `deno task export --model ${m.name} --format safetensors --out ${m.name}.safetensors  # or onnx`,
    "```",
    "",
    ...(ctx
      ? [
        "`--context` is required for this field-context model: `frame` when every cutout of a",
        "frame is in the call (as trained), `single` for isolated cutouts, each classified from",
        `itself alone (${
          single ? `about ${pct1(single.accuracy)}% on new fields` : "lower accuracy"
        }).`,
        "",
      ]
      : []),
  ];
}

/** The Markdown model card of a released model. */
export function modelCard(m: ReleasedModel): string {
  const f = facts(m);
  const runs = recipeRuns(m);
  const { row, result } = f;
  const cfg = result.config as { data: Obj; train: Obj; augment: Obj; model: Obj };
  const data = result.data as {
    n: number;
    class_counts: Record<string, number>;
    split: {
      kind: string;
      train_counts: Record<string, number>;
      val_counts: Record<string, number>;
    };
    fingerprint: string;
  };
  const mc = (result.model as { config: NetworkShape }).config;
  const scored = result.best !== null;
  const best = scored
    ? (result.best as { metrics: { perClass: Record<string, { recall: number }>; n: number } })
      .metrics
    : null;
  const ctx = Boolean(cfg.data.field_context);
  const counts = (c: Record<string, number>) =>
    Object.entries(c).map(([k, v]) => `${v} ${k}`).join(", ");
  const weights = row.bytes === null
    ? `not in this checkout (${row.shard}); predict prints the commands that rebuild it`
    : `\`${m.run}/${row.shard}\`, ${(row.bytes / 2 ** 20).toFixed(1)} MiB float32`;
  const single = f.evaluations.single;
  const frameTta = f.evaluations.tta;
  const contextSection = ctx && !scored
    ? [
      "## Field context: give it every cutout of a frame",
      "",
      "The network reads the cutout, the pixel-wise median of all cutouts of its frame and their",
      "difference; `deno task predict --context frame` builds the templates from the files it is",
      "given, grouped by the frame in their names, so pass all cutouts of a frame in one call.",
      "`--context single` takes each cutout's template from itself: what one image alone gets.",
      "",
    ]
    : ctx
    ? [
      "## Field context: give it every cutout of a frame",
      "",
      "The network reads three channels: the cutout, the pixel-wise median of all cutouts of its",
      "frame (a template of the frame's point-spread function, sky and stretch), and their",
      "difference. `deno task predict` builds the templates from the files it is given, grouping",
      "them by the frame in their names (`<frame>_<x>_<y>_<code>.jpg`, as ARIES names them) with",
      "`--context frame`, so pass all cutouts of a frame in one call; it warns when a frame has",
      "fewer than 20. `--context single` takes each cutout's template from itself.",
      "",
      single
        ? `Measured on this run's ${
          (single.metrics as { n: number }).n
        } validation images: with each cutout's template taken from the cutout alone (what one image by itself gets; \`deno task evaluate --context single\`) the accuracy is ${
          pct(evalAccuracy(single))
        }, against ${pct(accuracy(result, "best"))} with the frame's template${
          frameTta ? ` (${pct(evalAccuracy(frameTta))} with TTA)` : ""
        }.`
        : "The accuracy with one image alone is not measured for this run yet " +
          "(`deno task evaluate --model " + m.name + " --context single`).",
      "",
    ]
    : [];
  return [
    `# ${m.name}`,
    "",
    m.title + ".",
    "",
    "| | |",
    "| --- | --- |",
    `| network | ${networkEntry(row.arch).summary(mc, row.parameters)} |`,
    `| input | ${row.input}, pixels / 255 normalised with mean ${cfg.augment.normalize_mean}, std ${cfg.augment.normalize_std} |`,
    `| classes | ${
      (result.data as { class_names: string[] }).class_names.join(", ")
    } (probability of each; the label is the larger) |`,
    `| weights | ${weights}; sha256 \`${row.sha256}\`; epoch ${row.savedEpoch} of ${row.epochs} ${
      scored ? "(the epoch is chosen on the validation images)" : "(the last; nothing chosen)"
    } |`,
    `| trained | commit \`${row.commit}\`, seed ${row.seed}, ${
      (result.config_files as string[]).at(-1)
    }, ${String(cfg.train.epochs)} epochs, ${cfg.train.optimizer}, EMA ${
      cfg.train.ema_decay ?? "off"
    } |`,
    `| rebuilt | ${m.rebuilt || "not yet checked by a rebuild at its commit"} |`,
    "",
    "## Intended use",
    "",
    "Star/galaxy classification of 64×64 cutouts centred on one source, of the kind the ARIES",
    "data set has (optical CCD frames, JPEG, the same grey image in R, G and B). Use it to rerun",
    "and compare with the published results, or as a baseline on similar cutouts after checking",
    "it on labelled images of your own: it has seen one survey only.",
    "",
    ...usageLines(m, ctx),
    "## Training data and split",
    "",
    `ARIES cutouts (${data.n}: ${counts(data.class_counts)}; data fingerprint \`${
      data.fingerprint.slice(0, 16)
    }…\`), split ${data.split.kind}: training ${counts(data.split.train_counts)}, validation ${
      counts(data.split.val_counts)
    }. ${
      data.split.kind === "all"
        ? "Every labelled image trains (a release model); nothing is held out."
        : data.split.kind === "grouped"
        ? "No sky field has cutouts on both sides (the honest estimate for new fields)."
        : "Cutouts of one frame fall on both sides, so validation is easier than a new field " +
          "(the grouped split measures that)."
    }`,
    "",
    "## Evaluation",
    "",
    best
      ? `This run: last epoch ${
        pct(accuracy(result, "last"))
      }; saved weights (epoch ${row.savedEpoch}) ${pct(accuracy(result, "best"))}*; galaxy recall ${
        pct(best.perClass.galaxy?.recall ?? NaN)
      }, star recall ${pct(best.perClass.star?.recall ?? NaN)}* (validation images, ${best.n}).`
      : RECIPE_EVIDENCE[m.recipe]
      ? "This model was trained on every labelled image, so none is left to score it: expect " +
        "the recipe's accuracy on new sky fields (next section)."
      : "This model was trained on every labelled image, so none is left to score it. Expect " +
        `the recipe's accuracy on new sky fields: ${expectedAccuracy(runs)} (last epoch).`,
    "",
    ...evaluationSection(runs, ctx),
    ...newFieldSection(m.recipe, ctx),
    ...contextSection,
    "## Limitations",
    "",
    "- One survey, ~800 validation images per split: a 1-point difference is within the seed-to-seed spread.",
    `- Galaxies are the minority class (${
      data.class_counts.galaxy ?? "?"
    } of ${data.n}); their recall is the weak side.`,
    scored
      ? "- The saved weights' epoch was chosen on validation; the last-epoch figures are the unselected ones."
      : "- Its accuracy is an expectation from runs of the same recipe, not a measurement of these weights.",
    "- Not tested on other instruments, pixel scales, cutout sizes or non-centred sources.",
    "",
    "## How to cite",
    "",
    `Cite the software (CITATION.cff), ${
      networkEntry(row.arch).paper
    } and the ARIES data set, and this model as \`${m.run}\` at commit \`${row.commit}\` (weights sha256 \`${row.sha256}\`).`,
    "",
  ].join("\n");
}

/** Every card: path under the repository root → Markdown. */
export function modelCards(): Map<string, string> {
  return new Map(RELEASED.map((m) => [`models/${m.name}.md`, modelCard(m)]));
}
