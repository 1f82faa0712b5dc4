/**
 * The Bayes prior correction of a classifier trained on re-balanced classes. A network trained
 * with the weighted sampler (each class drawn ∝ count^(1−p), p = train.class_weight_power) or
 * with loss weights (N / (K·count))^p learns the posterior of a population whose class prior is
 * π_learnt ∝ count^(1−p) (uniform at p = 1), not the training data's π_train ∝ count. Bayes'
 * rule gives the posterior under π_train back: p'_c ∝ p_c · π_train,c / π_learnt,c (Saerens et
 * al. 2002, "Adjusting the outputs of a classifier to new a priori probabilities"). It moves
 * the decision threshold and keeps the ranking, so a binary ROC-AUC does not change.
 * @module
 */

/** How a run balanced its classes in training (config train.class_balance). */
export type ClassBalance = "sampler" | "loss" | "none";

/** The priors of a correction, per class in label order, each summing to 1. */
export interface PriorShift {
  /** The prior the network learnt under (the balanced one the sampler or the loss imposed). */
  from: number[];
  /** The prior to decide under: the training split's class shares. */
  to: number[];
}

/**
 * The correction for a run that trained with `balance` at power `power` on `counts` training
 * images per class; null when training kept the data's prior (balance none, power 0) or the
 * two priors are equal (classes already balanced), where the correction is the identity.
 */
export function balancedTrainingPrior(
  counts: readonly number[],
  balance: ClassBalance,
  power: number,
): PriorShift | null {
  if (balance === "none" || !(power > 0)) return null;
  const n = counts.reduce((a, b) => a + b, 0);
  if (!(n > 0)) return null;
  const to = counts.map((c) => c / n);
  // Sampler: draws ∝ count · count^−p. Loss: weight (N/(K·count))^p times count. Both ∝ count^(1−p).
  const learnt = counts.map((c) => (c > 0 ? Math.pow(c, 1 - power) : 0));
  const z = learnt.reduce((a, b) => a + b, 0);
  const from = learnt.map((x) => x / z);
  if (from.every((f, c) => Math.abs(f - to[c]) <= 1e-12)) return null;
  return { from, to };
}

/** The per-class factors π_to / π_from of a {@link PriorShift} (0 for a class never seen). */
export function priorWeights(shift: PriorShift): number[] {
  return shift.to.map((t, c) => (shift.from[c] > 0 ? t / shift.from[c] : 0));
}

/**
 * Row probabilities (row-major n × k) re-weighted per class: p'_c = p_c·w_c / Σ_j p_j·w_j, in
 * double precision; a row whose weighted sum is 0 becomes uniform.
 */
export function reweightPosterior(
  probs: ArrayLike<number>,
  k: number,
  weights: readonly number[],
): Float64Array {
  if (weights.length !== k) {
    throw new RangeError(`reweightPosterior: ${weights.length} weights for ${k} classes`);
  }
  const n = Math.floor(probs.length / k);
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let c = 0; c < k; c++) sum += probs[i * k + c] * weights[c];
    for (let c = 0; c < k; c++) {
      out[i * k + c] = sum > 0 ? (probs[i * k + c] * weights[c]) / sum : 1 / k;
    }
  }
  return out;
}
