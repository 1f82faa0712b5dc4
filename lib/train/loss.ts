/**
 * Class balance and the loss: weighted cross-entropy with optional label smoothing, and the
 * weighted sampler of the reference recipe.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../util/rng.ts";
import { reweightPosterior } from "../metrics/prior.ts";

/**
 * Per-class weights (N / (K · count_k))^power over the training labels: inverse frequency at
 * power 1, all ones at 0. A power between moves the classifier's prior part of the way (weights
 * multiply the odds, so 0.5 is half-way in log odds).
 */
export function inverseFrequencyWeights(
  labels: ArrayLike<number>,
  numClasses: number,
  power = 1,
): number[] {
  const counts = new Array(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts.map((c) => (c > 0 ? Math.pow(labels.length / (numClasses * c), power) : 0));
}

/**
 * Softmax cross-entropy, mean over the batch weighted like PyTorch's
 * `CrossEntropyLoss(weight=w)`: Σ w_y·ℓ / Σ w_y. `classWeights` null = unweighted.
 */
export function crossEntropy(
  logits: tf.Tensor2D,
  labels: Int32Array,
  classWeights: number[] | null,
  labelSmoothing = 0,
): tf.Scalar {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const onehot = tf.cast(tf.oneHot(tf.tensor1d(labels, "int32"), k), "float32");
    const target = labelSmoothing > 0
      ? tf.add(tf.mul(onehot, 1 - labelSmoothing), labelSmoothing / k)
      : onehot;
    const logp = tf.logSoftmax(logits);
    const nll = tf.neg(tf.sum(tf.mul(target, logp), 1));
    if (!classWeights) return tf.mean(nll) as tf.Scalar;
    const w = Float32Array.from(labels, (y) => classWeights[y]);
    const wt = tf.tensor1d(w);
    return tf.div(tf.sum(tf.mul(nll, wt)), tf.sum(wt)) as tf.Scalar;
  });
}

/**
 * The reference's WeightedRandomSampler: `n` draws with replacement, each index picked with
 * probability ∝ 1/count^power of its class: at power 1 classes are seen equally often, at 0 at
 * their natural frequency.
 */
export function weightedSample(
  labels: ArrayLike<number>,
  indices: number[],
  n: number,
  r: Rng,
  power = 1,
): number[] {
  const counts = new Map<number, number>();
  for (const i of indices) counts.set(labels[i], (counts.get(labels[i]) ?? 0) + 1);
  const cum = new Float64Array(indices.length);
  let s = 0;
  indices.forEach((i, j) => (cum[j] = s += 1 / Math.pow(counts.get(labels[i])!, power)));
  const out: number[] = [];
  for (let t = 0; t < n; t++) {
    const x = r.next() * s;
    let lo = 0, hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid] > x) hi = mid;
      else lo = mid + 1;
    }
    out.push(indices[lo]);
  }
  return out;
}

/**
 * The class posterior under re-weighted priors: p'_c = p_c·w_c / Σ_j p_j·w_j per row of `probs`
 * (row-major n × k). With the weights of {@link inverseFrequencyWeights} at power p this is the
 * decision-time counterpart of training with those loss weights (Bayes' rule for a population
 * whose classes occur ∝ count^(1−p)): it moves the decision threshold and leaves the ranking, so
 * a binary ROC-AUC, unchanged. The prior correction of a run that trained balanced is the
 * same arithmetic with the weights of lib/metrics/prior.ts balancedTrainingPrior.
 */
export function shiftPrior(probs: ArrayLike<number>, k: number, weights: number[]): Float32Array {
  if (weights.length !== k) {
    throw new RangeError(`shiftPrior: ${weights.length} weights for ${k} classes`);
  }
  // One implementation of the arithmetic (lib/metrics/prior.ts), rounded to float32 once.
  return Float32Array.from(reweightPosterior(probs, k, weights));
}
