/**
 * What `deno task models` shows of a released model, read from its run folder's result.json and
 * model/model.json: the network, its input, the split it was validated on, its accuracy with the
 * protocol that produced the number, and whether its weights are present.
 * @module
 */
import { join } from "node:path";
import { RECIPE_EVIDENCE, type ReleasedModel, REPO_ROOT } from "./released.ts";
import { readJsonRecord } from "../results/write.ts";
import { readRunRecord, RUN_RECORD_FILE } from "../results/run_record.ts";
import { networkEntry } from "../model/registry.ts";

/** One row of `deno task models`. */
export interface ModelRow {
  /** Registry name. */
  name: string;
  /** One line on what it is. */
  title: string;
  /** Run folder, relative to the repository root. */
  run: string;
  /** The network's registry name (result.json's model.arch; runs without one are MedMamba). */
  arch: string;
  /** The network's short name, e.g. `MedMamba-T` (its registry entry's label). */
  network: string;
  /** MedMamba's preset (MedMamba-T is `tiny`); absent for networks without presets. */
  preset?: string;
  /** Trainable parameters. */
  parameters: number;
  /** Input, e.g. `64×64×3, field context`. */
  input: string;
  /** `random` or `grouped`, with train/validation sizes. */
  split: string;
  /** Validation accuracy of the last epoch (fixed schedule, nothing selected on validation). */
  lastAccuracy: number;
  /** Validation accuracy of the saved weights' epoch, chosen on the same images (optimistic). */
  bestAccuracy: number;
  /**
   * The recipe's accuracy on sky fields its models never saw: its grouped cross-validation's
   * pooled out-of-fold accuracy (RECIPE_EVIDENCE's cv.json), or null without one.
   */
  newFields: number | null;
  /** The epoch the saved weights are from, and the number of epochs. */
  savedEpoch: number;
  /** Epochs trained. */
  epochs: number;
  /** Seed of the run. */
  seed: number;
  /** Commit the run was trained at. */
  commit: string;
  /** Weight shard, relative to the run folder. */
  shard: string;
  /** Bytes of the shard on disk, or null when it is missing. */
  bytes: number | null;
  /** sha256 of the shard recorded in result.json. */
  sha256: string;
  /** How the weights were checked (see ReleasedModel.rebuilt). */
  rebuilt: string;
}

/** Reads the facts of a released model from its run folder. */
export function describeReleased(m: ReleasedModel): ModelRow {
  const dir = join(REPO_ROOT, m.run);
  // A truncated or damaged file is one line naming it and the fix, not a stack trace; a run
  // recorded before model.arch reads as MedMamba (readRunRecord).
  const r = readRunRecord(dir, "trained");
  const manifest = readJsonRecord(join(dir, "model", "model.json"));
  const shard = `model/${(manifest.weightsManifest as { paths: string[] }[])[0].paths[0]}`;
  const { config: cfg, data, model, best, last } = r;
  const arch = model.arch;
  const entry = networkEntry(
    arch,
    join(m.run, RUN_RECORD_FILE),
    "this version of starmamba cannot build it",
  );
  const preset = (model.config as { preset?: string }).preset;
  // A release model (data.split: all) has no validation metrics: NaN, shown as "—".
  let bytes: number | null = null;
  try {
    bytes = Deno.statSync(join(dir, shard)).size;
  } catch { /* missing: reported as such */ }
  const [h, w, c] = data.image_shape;
  return {
    name: m.name,
    title: m.title,
    run: m.run,
    arch,
    network: entry.label(model.config),
    preset,
    parameters: model.parameters,
    input: `${h}×${w}×${c}${cfg.data.field_context ? ", field context" : ""}`,
    split: `${data.split.kind} ${data.split.n_train}/${data.split.n_val}`,
    lastAccuracy: last?.metrics.accuracy ?? NaN,
    bestAccuracy: best?.metrics.accuracy ?? NaN,
    newFields: recipeOutOfFold(m.recipe),
    savedEpoch: (manifest.epoch as number | undefined) ?? best?.epoch ?? NaN,
    epochs: cfg.train.epochs ?? last?.epoch ?? NaN,
    seed: r.seed,
    commit: r.code.commit,
    shard,
    bytes,
    sha256: r.artifacts[shard],
    rebuilt: m.rebuilt,
  };
}

/** The pooled out-of-fold accuracy of the recipe's grouped cross-validation, or null. */
function recipeOutOfFold(recipe: string): number | null {
  const ev = RECIPE_EVIDENCE[recipe];
  if (!ev) return null;
  const cv = readJsonRecord(join(REPO_ROOT, ev.cv)) as {
    pooled: { intervals: { accuracy: { value: number } } };
  };
  return cv.pooled.intervals.accuracy.value;
}

/** The rows as an aligned text table (the default output of `deno task models`). */
export function modelsTable(rows: ModelRow[]): string {
  const pct = (x: number) => Number.isFinite(x) ? `${(100 * x).toFixed(2)}%` : "—";
  const head = [
    "name",
    "network",
    "params",
    "input",
    "split train/val",
    "acc last",
    "acc saved*",
    "new fields†",
    "weights",
  ];
  const body = rows.map((r) => [
    r.name,
    r.network,
    `${(r.parameters / 1e6).toFixed(2)} M`,
    r.input,
    r.split,
    pct(r.lastAccuracy),
    Number.isFinite(r.bestAccuracy)
      ? `${pct(r.bestAccuracy)} @${r.savedEpoch}/${r.epochs}`
      : `— @${r.savedEpoch}/${r.epochs}`,
    r.newFields === null ? "—" : pct(r.newFields),
    r.bytes === null ? "missing" : `${(r.bytes / 2 ** 20).toFixed(1)} MiB`,
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i])).join("  ").trimEnd();
  return [
    line(head),
    ...body.map(line),
    "",
    "acc last: validation accuracy after the last epoch of a fixed schedule (nothing chosen on",
    "the validation images). acc saved*: accuracy of the saved weights, whose epoch was chosen on",
    "those same images (optimistic; the reference study's protocol). One seed per row; the model",
    "cards (models/<name>.md) give mean ± std over seeds and both splits. — : trained on every",
    "labelled image (split all), nothing held out; its card gives the recipe's expected accuracy.",
    "new fields†: the recipe's grouped 5-fold cross-validation, pooled out of fold (sky fields",
    "its models never saw, last epoch, nothing chosen); the card adds the locked test set.",
  ].join("\n");
}
