/**
 * Pixel-level baselines that a network must beat: the majority class, and multinomial logistic
 * regression on raw standardised pixels (plain TypeScript, no tfjs, deterministic).
 * @module
 */
import type { Dataset } from "./types.ts";
import { type Rng, rng } from "../util/rng.ts";
import { StarmambaError } from "../util/errors.ts";

/** Options of {@link logisticBaseline}. */
export interface LogisticOptions {
  /** Passes over the training set (default 30). */
  epochs?: number;
  /**
   * SGD step size (default 0.5). Features are standardised and divided by √d, so a sample has
   * unit norm on average and this value does not depend on the image size.
   */
  lr?: number;
  /** L2 penalty λ/2·‖W‖² on the weights, not the biases (default 1e-3). */
  l2?: number;
  /** Seed of the `rng(seed, "logistic")` stream that orders the mini-batches (default 0). */
  seed?: number;
  /** Mini-batch size (default 32). */
  batchSize?: number;
}

/** Validation scores of a baseline. */
export interface BaselineScores {
  /** Fraction of validation images classified correctly. */
  accuracy: number;
  /** Mean per-class recall over the classes present in the validation set. */
  balancedAccuracy: number;
}

/**
 * Accuracy on a validation set of always predicting the majority class.
 * - `majorityBaseline(labels, trainIdx, valIdx)`: the class most frequent in training, scored on
 *   validation (the honest baseline; the experiment runner's form).
 * - `majorityBaseline(labels, valIdx)`: the validation set's own majority share (its best case).
 * Ties go to the lower class index.
 */
export function majorityBaseline(
  labels: ArrayLike<number>,
  idx: ArrayLike<number>,
  valIdx?: ArrayLike<number>,
): number {
  const ref = idx;
  const val = valIdx ?? idx;
  if (val.length === 0 || ref.length === 0) {
    throw new StarmambaError("majorityBaseline: the training or validation index set is empty");
  }
  const counts = new Map<number, number>();
  for (let i = 0; i < ref.length; i++) {
    const y = labels[ref[i]];
    counts.set(y, (counts.get(y) ?? 0) + 1);
  }
  let best = -1, bestCount = -1;
  for (const [y, c] of [...counts].sort((p, q) => p[0] - q[0])) {
    if (c > bestCount) [best, bestCount] = [y, c];
  }
  let hits = 0;
  for (let i = 0; i < val.length; i++) if (labels[val[i]] === best) hits++;
  return hits / val.length;
}

/**
 * Trains softmax (multinomial logistic) regression on the raw pixels of `train[trainIdx]` with
 * mini-batch SGD (momentum 0.9) and scores it on `val[valIdx]`. Pixels are standardised with the
 * training mean and standard deviation per feature; when every image has R = G = B only the first
 * channel is used (the other two add nothing but time).
 */
export function logisticBaseline(
  train: Dataset,
  trainIdx: ArrayLike<number>,
  val: Dataset,
  valIdx: ArrayLike<number>,
  opts: LogisticOptions = {},
): BaselineScores {
  const epochs = opts.epochs ?? 30;
  const lr = opts.lr ?? 0.5;
  const l2 = opts.l2 ?? 1e-3;
  const batchSize = opts.batchSize ?? 32;
  checkShapes(train, val, trainIdx, valIdx);
  const oneChannel = channelsEqual(train, trainIdx) && channelsEqual(val, valIdx);
  const xTrain = extractFeatures(train, trainIdx, oneChannel);
  const xVal = extractFeatures(val, valIdx, oneChannel);
  const d = xTrain.length / trainIdx.length;
  standardise(xTrain, xVal, d);
  const yTrain = Int32Array.from({ length: trainIdx.length }, (_, i) => train.labels[trainIdx[i]]);
  const yVal = Int32Array.from({ length: valIdx.length }, (_, i) => val.labels[valIdx[i]]);
  let k = Math.max(train.classNames.length, val.classNames.length, 2);
  for (const y of [...yTrain, ...yVal]) {
    if (!(y >= 0)) throw new StarmambaError(`logisticBaseline: label ${y} is not a class index`);
    k = Math.max(k, y + 1);
  }
  const r = rng(opts.seed ?? 0, "logistic");
  const model = fitSoftmax(xTrain, yTrain, d, k, { epochs, lr, l2, batchSize }, r);
  return score(predict(model, xVal, d, k), yVal, k);
}

/** Softmax regression weights: w is k × d, row per class. */
interface SoftmaxModel {
  w: Float64Array;
  b: Float64Array;
}

function checkShapes(
  train: Dataset,
  val: Dataset,
  trainIdx: ArrayLike<number>,
  valIdx: ArrayLike<number>,
): void {
  if (trainIdx.length === 0 || valIdx.length === 0) {
    throw new StarmambaError("logisticBaseline: the training or validation index set is empty");
  }
  if (
    train.height !== val.height || train.width !== val.width || train.channels !== val.channels
  ) {
    throw new StarmambaError(
      `logisticBaseline: training images are ${train.height}×${train.width}×${train.channels} ` +
        `but validation images are ${val.height}×${val.width}×${val.channels}; use one image size`,
    );
  }
}

/** True when every selected image has identical channels (grayscale stored as RGB). */
export function channelsEqual(ds: Dataset, idx: ArrayLike<number>): boolean {
  const c = ds.channels;
  if (c === 1) return true;
  const plane = ds.height * ds.width;
  for (let i = 0; i < idx.length; i++) {
    const base = idx[i] * plane * c;
    for (let p = base; p < base + plane * c; p += c) {
      for (let ch = 1; ch < c; ch++) if (ds.images[p + ch] !== ds.images[p]) return false;
    }
  }
  return true;
}

/** Copies the selected images into a dense n × d matrix (first channel only if `oneChannel`). */
function extractFeatures(ds: Dataset, idx: ArrayLike<number>, oneChannel: boolean): Float32Array {
  const plane = ds.height * ds.width;
  const c = ds.channels;
  const d = oneChannel ? plane : plane * c;
  const x = new Float32Array(idx.length * d);
  for (let i = 0; i < idx.length; i++) {
    const base = idx[i] * plane * c;
    if (!oneChannel) x.set(ds.images.subarray(base, base + d), i * d);
    else for (let p = 0; p < plane; p++) x[i * d + p] = ds.images[base + p * c];
  }
  return x;
}

/**
 * (x − μ) / (σ√d) per feature with the training statistics, in place on both matrices. The √d
 * keeps logits O(1) at initialisation-scale weights for any image size.
 */
function standardise(xTrain: Float32Array, xVal: Float32Array, d: number): void {
  const n = xTrain.length / d;
  const mean = new Float64Array(d);
  const sq = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const v = xTrain[i * d + j];
      mean[j] += v;
      sq[j] += v * v;
    }
  }
  const scale = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    mean[j] /= n;
    const variance = Math.max(sq[j] / n - mean[j] * mean[j], 0);
    // Constant features (e.g. saturated corners) carry nothing; keep them at 0, not ±∞.
    scale[j] = variance > 1e-12 ? 1 / (Math.sqrt(variance) * Math.sqrt(d)) : 0;
  }
  for (const x of [xTrain, xVal]) {
    for (let i = 0; i < x.length; i += d) {
      for (let j = 0; j < d; j++) x[i + j] = (x[i + j] - mean[j]) * scale[j];
    }
  }
}

/** Mini-batch SGD with momentum on the mean cross-entropy plus λ/2·‖W‖². */
function fitSoftmax(
  x: Float32Array,
  y: Int32Array,
  d: number,
  k: number,
  o: { epochs: number; lr: number; l2: number; batchSize: number },
  r: Rng,
): SoftmaxModel {
  const n = y.length;
  const w = new Float64Array(k * d), b = new Float64Array(k);
  const vw = new Float64Array(k * d), vb = new Float64Array(k);
  const gw = new Float64Array(k * d), gb = new Float64Array(k);
  const p = new Float64Array(k);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const momentum = 0.9;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) {
      const j = r.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let start = 0; start < n; start += o.batchSize) {
      const end = Math.min(n, start + o.batchSize);
      gw.fill(0);
      gb.fill(0);
      for (let t = start; t < end; t++) {
        const row = order[t] * d;
        softmaxRow(w, b, x, row, d, k, p);
        p[y[order[t]]] -= 1; // ∂CE/∂logits = p − onehot(y)
        for (let c = 0; c < k; c++) {
          const g = p[c];
          gb[c] += g;
          const wo = c * d;
          for (let j = 0; j < d; j++) gw[wo + j] += g * x[row + j];
        }
      }
      const inv = 1 / (end - start);
      for (let j = 0; j < k * d; j++) {
        vw[j] = momentum * vw[j] + gw[j] * inv + o.l2 * w[j];
        w[j] -= o.lr * vw[j];
      }
      for (let c = 0; c < k; c++) {
        vb[c] = momentum * vb[c] + gb[c] * inv;
        b[c] -= o.lr * vb[c];
      }
    }
  }
  return { w, b };
}

/** Class probabilities of sample row `row` into `p`. */
function softmaxRow(
  w: Float64Array,
  b: Float64Array,
  x: Float32Array,
  row: number,
  d: number,
  k: number,
  p: Float64Array,
): void {
  let max = -Infinity;
  for (let c = 0; c < k; c++) {
    let z = b[c];
    const wo = c * d;
    for (let j = 0; j < d; j++) z += w[wo + j] * x[row + j];
    p[c] = z;
    if (z > max) max = z;
  }
  let total = 0;
  for (let c = 0; c < k; c++) {
    p[c] = Math.exp(p[c] - max);
    total += p[c];
  }
  for (let c = 0; c < k; c++) p[c] /= total;
}

/** Arg-max class of each row. */
function predict(m: SoftmaxModel, x: Float32Array, d: number, k: number): Int32Array {
  const n = x.length / d;
  const out = new Int32Array(n);
  const p = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    softmaxRow(m.w, m.b, x, i * d, d, k, p);
    let best = 0;
    for (let c = 1; c < k; c++) if (p[c] > p[best]) best = c;
    out[i] = best;
  }
  return out;
}

/** Accuracy and balanced accuracy (mean recall over classes present in `truth`). */
export function score(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  k: number,
): BaselineScores {
  const hits = new Float64Array(k), totals = new Float64Array(k);
  let correct = 0;
  for (let i = 0; i < truth.length; i++) {
    totals[truth[i]]++;
    if (pred[i] === truth[i]) {
      hits[truth[i]]++;
      correct++;
    }
  }
  let recallSum = 0, present = 0;
  for (let c = 0; c < k; c++) {
    if (totals[c] > 0) {
      recallSum += hits[c] / totals[c];
      present++;
    }
  }
  return { accuracy: correct / truth.length, balancedAccuracy: recallSum / present };
}
