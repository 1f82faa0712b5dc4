/**
 * The prior correction a run's decisions get by default (issue 31): a run that balanced its
 * classes in training (train.class_balance sampler or loss, class_weight_power p > 0) learnt
 * the posterior under the balanced prior, and its arg-max calls the rarer class far too often;
 * Bayes' rule with the training split's class counts (result.json data.split.train_counts)
 * gives the posterior under the training data's prior back (lib/metrics/prior.ts). Evaluate,
 * predict and the cross-validation summary apply it unless told not to
 * (`--no-prior-correction`) and record it as `prior_correction: { from, to }`.
 * @module
 */
import { balancedTrainingPrior, type ClassBalance, priorWeights } from "../metrics/prior.ts";
import { isImported, type RunRecord } from "./run_record.ts";

/** The recorded correction: the prior the network learnt under, and the one it decides under. */
export interface PriorCorrection {
  /** Class → the balanced prior training imposed (∝ count^(1 − class_weight_power)). */
  from: Record<string, number>;
  /** Class → its share of the run's training split. */
  to: Record<string, number>;
}

/**
 * The correction of a trained run that balanced its classes, from its record; null for a run
 * that kept the data's prior, an imported checkpoint (its training is unknown), a record
 * without training counts, or classes already balanced (the identity).
 */
export function priorCorrectionOf(r: RunRecord): PriorCorrection | null {
  if (isImported(r)) return exportedPriorCorrection(r.imported.metadata, r.data.class_names);
  const names = r.data?.class_names;
  const counts = r.data?.split?.train_counts;
  if (!names || !counts || names.some((c) => !Number.isFinite(counts[c]))) return null;
  // Records written before class_weight_power existed trained at its default, 1.
  const t = r.config.train as { class_balance?: ClassBalance; class_weight_power?: number };
  const shift = balancedTrainingPrior(
    names.map((c) => counts[c]),
    t.class_balance ?? "sampler",
    t.class_weight_power ?? 1,
  );
  if (!shift) return null;
  const byName = (v: number[]) => Object.fromEntries(names.map((c, j) => [c, v[j]]));
  return { from: byName(shift.from), to: byName(shift.to) };
}

/**
 * The safetensors metadata key under which `deno task export` carries a run's correction, so
 * that the imported model decides as the run did (the import knows nothing else of training).
 */
export const PRIOR_CORRECTION_METADATA = "starmamba.prior_correction";

/**
 * The correction an exported file carries ({@link PRIOR_CORRECTION_METADATA}); null when it
 * carries none (a checkpoint of other code, or a run that kept the data's prior) or one that
 * does not name exactly `classNames` with positive priors.
 */
export function exportedPriorCorrection(
  metadata: Record<string, string>,
  classNames: string[],
): PriorCorrection | null {
  const text = metadata[PRIOR_CORRECTION_METADATA];
  if (text === undefined) return null;
  let c: PriorCorrection;
  try {
    c = JSON.parse(text);
  } catch {
    return null;
  }
  const ok = (m: unknown) =>
    typeof m === "object" && m !== null &&
    Object.keys(m).length === classNames.length &&
    classNames.every((n) => {
      const v = (m as Record<string, unknown>)[n];
      return typeof v === "number" && v > 0 && v < 1;
    });
  return ok(c?.from) && ok(c?.to) ? { from: c.from, to: c.to } : null;
}

/** The per-class factors to / from of a correction, in `classNames` order. */
export function priorCorrectionWeights(c: PriorCorrection, classNames: string[]): number[] {
  return priorWeights({
    from: classNames.map((n) => c.from[n]),
    to: classNames.map((n) => c.to[n]),
  });
}
