/**
 * Prediction over a dataset: class probabilities for chosen images, in batches, normalised as
 * the data pipeline says (lib/data/pipeline.ts `normalisation`), optionally averaged over the 8
 * dihedral views (test-time augmentation). The training loop's evaluation, `deno task evaluate`
 * and `deno task predict` all come through here, so they see the same input tensors.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ExperimentConfig } from "../config/schema.ts";
import type { Dataset } from "../data/types.ts";
import type { Network } from "../model/network.ts";
import { evalContext } from "../model/layers.ts";
import { makeBatch } from "../data/augment.ts";
import { type Normalisation, normalisation } from "../data/pipeline.ts";
import { dihedral, DIHEDRAL_VIEWS } from "../data/geometric.ts";
import { StarmambaError } from "../util/errors.ts";
import { crossEntropy } from "./loss.ts";

/** What prediction reads: batch size, test-time views and the pipeline's normalisation. */
export interface PredictSettings {
  /** Images per forward pass (`train.eval_batch_size`). */
  batchSize: number;
  /** Average over the 8 flips and quarter turns of each image (`train.tta`; square images). */
  tta: boolean;
  /** The data pipeline's normalisation (lib/data/pipeline.ts). */
  normalisation: Normalisation;
}

/** A config's {@link PredictSettings}: `train.eval_batch_size`, `train.tta`, its normalisation. */
export function predictSettings(cfg: Pick<ExperimentConfig, "train" | "augment">): PredictSettings {
  return {
    batchSize: cfg.train.eval_batch_size,
    tta: cfg.train.tta,
    normalisation: normalisation(cfg.augment),
  };
}

/** Images `idx` of `ds` as one normalised NHWC batch (no augmentation). */
function evalBatch(ds: Dataset, idx: number[], norm: Normalisation): Float32Array {
  return makeBatch(ds, idx, { augment: null, mean: norm.mean, std: norm.std });
}

/** The batch shape of `n` images of `ds`. */
function batchShape(ds: Dataset, n: number): [number, number, number, number] {
  return [n, ds.height, ds.width, ds.channels];
}

/** Views per image under `s`: 8 with test-time augmentation (square images only), else 1. */
function viewCount(ds: Dataset, s: PredictSettings): number {
  const views = s.tta ? DIHEDRAL_VIEWS : 1;
  if (views > 1 && ds.height !== ds.width) {
    throw new StarmambaError(
      `train.tta needs square images (got ${ds.height}×${ds.width}); set train.tta: false`,
    );
  }
  return views;
}

/**
 * Softmax probabilities (row-major n × k) and mean loss of `model` on `idx`. With `s.tta` the
 * probabilities are the mean over the 8 dihedral views of each image (the sky has no up), and
 * the loss is the cross-entropy of that mean.
 */
export function predict(
  model: Network,
  ds: Dataset,
  idx: number[],
  s: PredictSettings,
): { probs: Float32Array; loss: number } {
  const k = model.config.num_classes;
  const probs = new Float32Array(idx.length * k);
  const views = viewCount(ds, s);
  let lossSum = 0;
  for (let i = 0; i < idx.length; i += s.batchSize) {
    const part = idx.slice(i, i + s.batchSize);
    if (views === 1) {
      const labels = Int32Array.from(part, (j) => ds.labels[j]);
      tf.tidy(() => {
        const x = tf.tensor4d(evalBatch(ds, part, s.normalisation), batchShape(ds, part.length));
        const logits = model.forward(x, evalContext());
        probs.set(tf.softmax(logits).dataSync() as Float32Array, i * k);
        lossSum += crossEntropy(logits, labels, null).dataSync()[0] * part.length;
      });
      continue;
    }
    const sum = new Float32Array(part.length * k);
    for (const xv of testViews(ds, part, s.normalisation, views)) {
      const p = tf.tidy(() =>
        tf.softmax(model.forward(tf.tensor4d(xv, batchShape(ds, part.length)), evalContext()))
          .dataSync() as Float32Array
      );
      for (let q = 0; q < p.length; q++) sum[q] += p[q] / views;
    }
    probs.set(sum, i * k);
    for (const [j, row] of part.entries()) {
      lossSum -= Math.log(Math.max(sum[j * k + ds.labels[row]], 1e-12));
    }
  }
  return { probs, loss: lossSum / Math.max(idx.length, 1) };
}

/**
 * The test-time views of the images `part`, normalised as in evaluation: the batch itself, then
 * (views > 1) its dihedral transforms 1 … views − 1, each written into one reused buffer.
 */
function* testViews(
  ds: Dataset,
  part: number[],
  norm: Normalisation,
  views: number,
): Generator<Float32Array> {
  const x = evalBatch(ds, part, norm);
  yield x;
  const per = ds.height * ds.width * ds.channels;
  const view = new Float32Array(x.length);
  for (let t = 1; t < views; t++) {
    for (let j = 0; j < part.length; j++) {
      const at = (a: Float32Array) => a.subarray(j * per, (j + 1) * per);
      dihedral(at(x), ds.height, ds.channels, t, at(view));
    }
    yield view;
  }
}

/**
 * Class probabilities of a batch of normalised NHWC images (row-major n × classes), from any
 * runtime: starmamba's forward pass, or another engine such as onnxruntime.
 */
export type ProbsFn = (
  x: Float32Array,
  shape: [number, number, number, number],
) => Float32Array | Promise<Float32Array>;

/**
 * {@link predict}'s batching, normalisation and test-time views with the probabilities coming
 * from `probsOf` (awaited, so an asynchronous runtime fits); no loss. The same images and
 * views reach `probsOf` as predict's forward pass gets, so two runtimes can be compared.
 */
export async function predictWith(
  probsOf: ProbsFn,
  k: number,
  ds: Dataset,
  idx: number[],
  s: PredictSettings,
): Promise<Float32Array> {
  const probs = new Float32Array(idx.length * k);
  const views = s.tta ? DIHEDRAL_VIEWS : 1;
  for (let i = 0; i < idx.length; i += s.batchSize) {
    const part = idx.slice(i, i + s.batchSize);
    const sum = new Float32Array(part.length * k);
    for (const xv of testViews(ds, part, s.normalisation, views)) {
      const p = await probsOf(xv, batchShape(ds, part.length));
      for (let q = 0; q < p.length; q++) sum[q] += p[q] / views;
    }
    probs.set(sum, i * k);
  }
  return probs;
}
