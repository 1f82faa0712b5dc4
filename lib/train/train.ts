/**
 * The training loop: seeded data order (weighted sampler or shuffle), per-sample augmentation,
 * class-weighted cross-entropy, Adam/AdamW with warm-up + cosine, evaluation every epoch,
 * the best-validation checkpoint, an optional moving average of the weights (ema.ts), and
 * resumable state.
 *
 * Every random draw of step s in epoch e comes from streams keyed by (seed, e, s), so a run
 * resumed at any step boundary draws exactly what the uninterrupted run would have.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join, relative } from "node:path";
import type { Dataset } from "../data/types.ts";
import type { ExperimentConfig } from "../config/schema.ts";
import type { Network } from "../model/network.ts";
import { evalContext, type ForwardContext } from "../model/layers.ts";
import { type AugmentConfig, makeBatch } from "../data/augment.ts";
import { dihedral, DIHEDRAL_VIEWS } from "../data/geometric.ts";
import { StarmambaError } from "../util/errors.ts";
import { rng, shuffle } from "../util/rng.ts";
import { Adam, learningRate } from "./optim.ts";
import { crossEntropy, inverseFrequencyWeights, weightedSample } from "./loss.ts";
import { loadTensors, saveTensors } from "./checkpoint.ts";
import { Progress } from "./progress.ts";
import { WeightEma } from "./ema.ts";
import { computeMetrics, type Metrics } from "../metrics/metrics.ts";
import { exists } from "../util/fs.ts";

/** One row of the per-epoch history. */
export interface EpochRecord {
  /** Epoch number, from 1. */
  epoch: number;
  /** Learning rate of the epoch's last step. */
  lr: number;
  /** Mean training loss over the epoch's (augmented) batches, as computed during the steps. */
  trainLoss: number;
  /** Fraction of the epoch's training images classified correctly during the steps. */
  trainAcc: number;
  /** Mean cross-entropy on the validation images after the epoch. */
  valLoss: number;
  /** Validation accuracy after the epoch. */
  valAcc: number;
  /** Validation balanced accuracy (mean per-class recall) after the epoch. */
  valBalancedAcc: number;
  /** Training throughput over the epoch's steps (evaluation excluded). */
  imagesPerSec: number;
  /** Wall-clock seconds of the epoch: training steps plus evaluation. */
  seconds: number;
}

/** Predictions and metrics on the validation set at one epoch. */
export interface Evaluation {
  /** Epoch number, from 1. */
  epoch: number;
  /** Mean cross-entropy on the validation images. */
  loss: number;
  /** Softmax probabilities, row-major (validation image × class), in `valIdx` order. */
  probs: number[];
  /** Metrics computed from `probs`. */
  metrics: Metrics;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** One record per finished epoch. */
  history: EpochRecord[];
  /** Best validation accuracy over epochs (the reference protocol's number); null if interrupted before any epoch ended. */
  best: Evaluation | null;
  /** The last epoch; null if interrupted. */
  last: Evaluation | null;
  /** True if stopped early (state saved). */
  interrupted: boolean;
  /** Seconds spent in training steps (all sessions of a resumed run). */
  trainSeconds: number;
  /** Wall-clock seconds of the earlier sessions of a resumed run, up to their last saved state (0 if fresh). */
  earlierWallSeconds: number;
  /** Steps run in this session. */
  steps: number;
  /** Where a resumed run picked up (epoch and step of the saved state); null for a fresh run. */
  resumedFrom: { epoch: number; step: number } | null;
}

/** Inputs of {@link train}. */
export interface TrainOptions {
  /** The network to train, updated in place. */
  model: Network;
  /** The whole dataset; `trainIdx` and `valIdx` index into it. */
  data: Dataset;
  /** Indices of the training images. */
  trainIdx: number[];
  /** Indices of the validation images, evaluated after every epoch. */
  valIdx: number[];
  /** The experiment config (train, augment, seed and output settings are read). */
  config: ExperimentConfig;
  /** Run folder: best model in model/, resumable state in state/. */
  runDir: string;
  /** Continue from runDir/state if present. */
  resume?: boolean;
  /** Polled after each step; true = save state and return early. */
  shouldStop?: () => boolean;
  /** No progress output. */
  quiet?: boolean;
  /** performance.now() when this session of the run began; saved states add the time since. */
  sessionStart?: number;
}

/** The augmentation settings of a config, or null when disabled. */
export function augmentFromConfig(cfg: ExperimentConfig): AugmentConfig | null {
  // The config's augment section is AugmentConfig plus the switch and the normalisation.
  const { enabled, normalize_mean: _mean, normalize_std: _std, ...augment } = cfg.augment;
  return enabled ? augment : null;
}

/** Images for `idx` as an NHWC tensor (normalised; augmented when `augment` is given). */
function batchTensor(
  ds: Dataset,
  idx: number[],
  cfg: ExperimentConfig,
  augment: AugmentConfig | null,
  seedKey?: string,
): tf.Tensor4D {
  const x = makeBatch(ds, idx, {
    augment,
    mean: cfg.augment.normalize_mean,
    std: cfg.augment.normalize_std,
    rng: seedKey ? rng(cfg.seed, seedKey) : undefined,
  });
  return tf.tensor4d(x, [idx.length, ds.height, ds.width, ds.channels]);
}

/**
 * Softmax probabilities (row-major n × k) and mean loss of `model` on `idx`. With
 * `cfg.train.tta` the probabilities are the mean over the 8 dihedral views of each image (the
 * sky has no up), and the loss is the cross-entropy of that mean.
 */
export function predict(
  model: Network,
  ds: Dataset,
  idx: number[],
  cfg: ExperimentConfig,
): { probs: Float32Array; loss: number } {
  const k = model.config.num_classes;
  const probs = new Float32Array(idx.length * k);
  const views = cfg.train.tta ? DIHEDRAL_VIEWS : 1;
  if (views > 1 && ds.height !== ds.width) {
    throw new StarmambaError(
      `train.tta needs square images (got ${ds.height}×${ds.width}); set train.tta: false`,
    );
  }
  let lossSum = 0;
  const bs = cfg.train.eval_batch_size;
  if (views === 1) {
    for (let i = 0; i < idx.length; i += bs) {
      const part = idx.slice(i, i + bs);
      const labels = Int32Array.from(part, (j) => ds.labels[j]);
      tf.tidy(() => {
        const logits = model.forward(batchTensor(ds, part, cfg, null), evalContext());
        probs.set(tf.softmax(logits).dataSync() as Float32Array, i * k);
        lossSum += crossEntropy(logits, labels, null).dataSync()[0] * part.length;
      });
    }
    return { probs, loss: lossSum / Math.max(idx.length, 1) };
  }
  for (let i = 0; i < idx.length; i += bs) {
    const part = idx.slice(i, i + bs);
    const shape: [number, number, number, number] = [part.length, ds.height, ds.width, ds.channels];
    const sum = new Float32Array(part.length * k);
    for (const xv of testViews(ds, part, cfg, views)) {
      const p = tf.tidy(() =>
        tf.softmax(model.forward(tf.tensor4d(xv, shape), evalContext())).dataSync() as Float32Array
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
  cfg: ExperimentConfig,
  views: number,
): Generator<Float32Array> {
  const x = makeBatch(ds, part, {
    augment: null,
    mean: cfg.augment.normalize_mean,
    std: cfg.augment.normalize_std,
  });
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
  cfg: ExperimentConfig,
): Promise<Float32Array> {
  const probs = new Float32Array(idx.length * k);
  const views = cfg.train.tta ? DIHEDRAL_VIEWS : 1;
  const bs = cfg.train.eval_batch_size;
  for (let i = 0; i < idx.length; i += bs) {
    const part = idx.slice(i, i + bs);
    const shape: [number, number, number, number] = [part.length, ds.height, ds.width, ds.channels];
    const sum = new Float32Array(part.length * k);
    for (const xv of testViews(ds, part, cfg, views)) {
      const p = await probsOf(xv, shape);
      for (let q = 0; q < p.length; q++) sum[q] += p[q] / views;
    }
    probs.set(sum, i * k);
  }
  return probs;
}

function evaluate(
  model: Network,
  ds: Dataset,
  valIdx: number[],
  cfg: ExperimentConfig,
  epoch: number,
): Evaluation {
  const { probs, loss } = predict(model, ds, valIdx, cfg);
  // Overflowing activations give NaN probabilities even from finite weights: the caller turns
  // this into the divergence message (the metrics would refuse them with a stack trace).
  if (!probs.every(Number.isFinite)) throw new NonFinite("validation probabilities NaN");
  const labels = Int32Array.from(valIdx, (j) => ds.labels[j]);
  return {
    epoch,
    loss,
    probs: Array.from(probs),
    metrics: computeMetrics(labels, probs, ds.classNames),
  };
}

/** The epoch's sample order: weighted draws (sampler) or a shuffle, keyed by (seed, epoch). */
export function epochOrder(
  ds: Dataset,
  trainIdx: number[],
  cfg: ExperimentConfig,
  epoch: number,
): number[] {
  const r = rng(cfg.seed, `order:${epoch}`);
  if (cfg.train.class_balance === "sampler") {
    return weightedSample(ds.labels, trainIdx, trainIdx.length, r, cfg.train.class_weight_power);
  }
  return shuffle([...trainIdx], r);
}

/** Steps in one epoch (a trailing batch of one is dropped: BatchNorm needs ≥ 2). */
export function stepsPerEpoch(nTrain: number, cfg: ExperimentConfig): number {
  const bs = cfg.train.batch_size;
  let steps = Math.floor(nTrain / bs) + (nTrain % bs >= 2 ? 1 : 0);
  if (cfg.train.steps_per_epoch) steps = Math.min(steps, cfg.train.steps_per_epoch);
  return Math.max(steps, 1);
}

/** Thrown inside the loop when a number stopped being finite; {@link train} reports it. */
class NonFinite extends Error {}

/**
 * True when every element of `tensors` is finite, with one read back: x·0 is 0 for a finite x
 * and NaN for NaN and ±Inf, so the sum of all of them is 0 exactly when all are finite.
 */
function allFinite(tensors: tf.Tensor[]): boolean {
  // Chained adds, not addN: these kernels run on the device on every backend (cuda included).
  const sum = tf.tidy(() =>
    tensors.reduce<tf.Tensor>((acc, t) => tf.add(acc, tf.sum(tf.mul(t, 0))), tf.scalar(0))
  );
  const ok = sum.dataSync()[0] === 0;
  sum.dispose();
  return ok;
}

/** A position in training: `step` steps of epoch `epoch` (from 0) are done. */
interface StepPosition {
  epoch: number;
  step: number;
}

/** "after epoch 2" (an epoch boundary) or "at epoch 3, step 5" (1-based, as the progress shows). */
function positionText(p: StepPosition): string {
  return p.step === 0 ? `after epoch ${p.epoch}` : `at epoch ${p.epoch + 1}, step ${p.step}`;
}

/**
 * The one-line error a diverged run ends with: where, what, the settings to change, and what is
 * left on disk. The state on disk is never overwritten with non-finite weights; resuming it
 * with the same config would repeat the same steps, hence "start a new run".
 */
function divergedError(
  what: string,
  at: StepPosition,
  cfg: ExperimentConfig,
  runDir: string,
  saved: StepPosition | null,
): StarmambaError {
  const t = cfg.train;
  const warmup = t.warmup_epochs === 0
    ? "add train.warmup_epochs (now 0)"
    : `lengthen train.warmup_epochs (now ${t.warmup_epochs})`;
  const state = join(relative(Deno.cwd(), runDir) || ".", "state");
  const kept = saved
    ? `${state} keeps the last state saved before it (${positionText(saved)})`
    : "no state had been saved yet";
  return new StarmambaError(
    `training diverged ${positionText(at)} (${what}): lower train.lr (now ${t.lr}) or ` +
      `${warmup} and start a new run; ${kept}`,
  );
}

interface RunState {
  epoch: number;
  step: number;
  /** One record per finished epoch. */
  history: EpochRecord[];
  best: Evaluation | null;
  acc: { loss: number; correct: number; seen: number; seconds: number };
  adamT: number;
  /** Seconds spent in training steps (all sessions of a resumed run). */
  trainSeconds: number;
  /** Wall-clock seconds of all sessions up to this save (absent in states of older versions). */
  wallSeconds?: number;
}

async function saveState(
  dir: string,
  model: Network,
  opt: Adam,
  ema: WeightEma | null,
  st: RunState,
): Promise<void> {
  const averaged = ema?.stateTensors() ?? {};
  const tensors: Record<string, tf.Tensor> = { ...opt.stateTensors(), ...averaged };
  for (const p of model.params.params.values()) tensors[p.name] = p.variable;
  const meta = { ...st, adamT: opt.t, ...(ema ? { emaUpdates: ema.updates } : {}) };
  try {
    await saveTensors(join(dir, "state"), "state", tensors, { state: meta });
  } finally {
    Object.values(averaged).forEach((t) => t.dispose());
  }
}

function restoreState(dir: string, model: Network, opt: Adam, ema: WeightEma | null): RunState {
  const { tensors, meta } = loadTensors(join(dir, "state"), "state");
  for (const p of model.params.params.values()) p.variable.assign(tensors[p.name]);
  const st = meta.state as RunState & { emaUpdates?: number };
  opt.restore(tensors, st.adamT);
  ema?.restore(tensors, st.emaUpdates ?? 0);
  Object.values(tensors).forEach((t) => t.dispose());
  return st;
}

/** Saves the model's parameters (including BN statistics) to `<dir>/model.json|bin`. */
export async function saveModel(
  model: Network,
  dir: string,
  meta: Record<string, unknown>,
): Promise<void> {
  const tensors: Record<string, tf.Tensor> = {};
  for (const p of model.params.params.values()) tensors[p.name] = p.variable;
  // arch + modelConfig: what createNetwork needs to rebuild it (lib/model/registry.ts).
  await saveTensors(dir, "model", tensors, {
    arch: model.arch,
    modelConfig: model.config,
    ...meta,
  });
}

/** {@link evaluate} with the moving-average weights when the run keeps them. */
function evaluateWeights(
  model: Network,
  ema: WeightEma | null,
  ds: Dataset,
  idx: number[],
  cfg: ExperimentConfig,
  epoch: number,
): Promise<Evaluation> {
  const run = () => evaluate(model, ds, idx, cfg, epoch);
  return ema ? ema.withAveraged(run) : Promise.resolve(run());
}

/** Trains `model` as the config says; see the module comment for the guarantees. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const { model, data: ds, trainIdx, valIdx, config: cfg } = o;
  const t = cfg.train;
  const vars = model.params.trainable();
  const opt = new Adam(vars, { weightDecay: t.optimizer === "adamw" ? t.weight_decay : 0 });
  const classWeights = t.class_balance === "loss"
    ? inverseFrequencyWeights(
      Int32Array.from(trainIdx, (i) => ds.labels[i]),
      ds.classNames.length,
      t.class_weight_power,
    )
    : null;
  const augment = augmentFromConfig(cfg);
  const steps = stepsPerEpoch(trainIdx.length, cfg);

  let st: RunState = {
    epoch: 0,
    step: 0,
    history: [],
    best: null,
    acc: { loss: 0, correct: 0, seen: 0, seconds: 0 },
    adamT: 0,
    trainSeconds: 0,
  };
  const ema = t.ema_decay === null ? null : new WeightEma(model.params, t.ema_decay);
  let resumedFrom: TrainResult["resumedFrom"] = null;
  if (o.resume && exists(join(o.runDir, "state", "state.json"))) {
    st = restoreState(o.runDir, model, opt, ema);
    resumedFrom = { epoch: st.epoch, step: st.step };
    if (!o.quiet) console.log(`resuming at epoch ${st.epoch + 1}, step ${st.step}`);
  }
  // Wall time of a resumed run = the earlier sessions (up to their last save) + this one.
  const earlierWall = st.wallSeconds ?? 0;
  const sessionStart = o.sessionStart ?? performance.now();
  const wallNow = () => earlierWall + (performance.now() - sessionStart) / 1000;

  const progress = new Progress(t.epochs * steps, 10, o.quiet);
  let interrupted = false;
  let last: Evaluation | null = null;
  let totalSteps = 0;
  // The state on disk (step 0: an epoch boundary); a divergence error says what it holds.
  let saved: StepPosition | null = resumedFrom;
  let optDisposed = false;
  const disposeOpt = () => {
    if (!optDisposed) opt.dispose();
    optDisposed = true;
  };
  const diverged = (what: string, at: StepPosition): StarmambaError => {
    progress.finish();
    disposeOpt();
    return divergedError(what, at, cfg, o.runDir, saved);
  };
  /** Saves the state at `at`, unless its weights or moments are no longer finite. */
  const save = async (state: RunState, at: StepPosition): Promise<void> => {
    const weights = [...model.params.params.values()].map((p) => p.variable as tf.Tensor);
    if (!allFinite([...weights, ...Object.values(opt.stateTensors())])) {
      throw diverged("weights not finite", at);
    }
    await saveState(o.runDir, model, opt, ema, state);
    saved = at;
  };
  /** evaluateWeights, with non-finite validation output reported as a divergence. */
  const evaluateOrStop = async (epoch: number): Promise<Evaluation> => {
    try {
      return await evaluateWeights(model, ema, ds, valIdx, cfg, epoch);
    } catch (e) {
      if (e instanceof NonFinite) throw diverged(e.message, { epoch, step: 0 });
      throw e;
    }
  };

  for (
    ;
    st.epoch < t.epochs;
    st.epoch++, st.step = 0, st.acc = { loss: 0, correct: 0, seen: 0, seconds: 0 }
  ) {
    const order = epochOrder(ds, trainIdx, cfg, st.epoch);
    let lr = 0;
    for (; st.step < steps; st.step++) {
      const t0 = performance.now();
      const idx = order.slice(st.step * t.batch_size, (st.step + 1) * t.batch_size);
      lr = learningRate(st.epoch + st.step / steps, {
        lr: t.lr,
        epochs: t.epochs,
        warmup: t.warmup_epochs,
        schedule: t.schedule,
        minLr: t.min_lr,
      });
      const labels = Int32Array.from(idx, (i) => ds.labels[i]);
      const ctx: ForwardContext = {
        training: true,
        rng: rng(cfg.seed, `droppath:${st.epoch}:${st.step}`),
        bnUpdates: [],
      };
      const stepKey = `augment:${st.epoch}:${st.step}`;
      const { lossValue, correct } = tf.tidy(() => {
        const x = batchTensor(ds, idx, cfg, augment, stepKey);
        let logits: tf.Tensor2D | null = null;
        const { value, grads } = tf.variableGrads(() => {
          logits = tf.keep(model.forward(x, ctx));
          return crossEntropy(logits, labels, classWeights, t.label_smoothing);
        }, vars);
        opt.step(vars.map((v) => grads[v.name]), lr);
        for (const u of ctx.bnUpdates) {
          u.variable.assign(u.value);
          u.value.dispose();
        }
        ema?.update();
        const pred = tf.argMax(logits!, 1).dataSync();
        let c = 0;
        for (let i = 0; i < idx.length; i++) c += pred[i] === labels[i] ? 1 : 0;
        return { lossValue: value.dataSync()[0], correct: c };
      });
      // The loss is read back for the progress line anyway: checking it costs no device read.
      if (!Number.isFinite(lossValue)) {
        throw diverged(`loss ${lossValue}`, { epoch: st.epoch, step: st.step + 1 });
      }
      const dt = (performance.now() - t0) / 1000;
      st.acc.loss += lossValue * idx.length;
      st.acc.correct += correct;
      st.acc.seen += idx.length;
      st.acc.seconds += dt;
      st.trainSeconds += dt;
      totalSteps++;
      progress.update(st.epoch * steps + st.step + 1, `epoch ${st.epoch + 1}/${t.epochs}`, {
        loss: (st.acc.loss / st.acc.seen).toFixed(4),
        acc: (st.acc.correct / st.acc.seen).toFixed(3),
        "img/s": (st.acc.seen / st.acc.seconds).toFixed(1),
      });
      // Yield to the event loop so a Ctrl-C (SIGINT listener) can be seen between steps.
      await new Promise((r) => setTimeout(r, 0));
      const stop = o.shouldStop?.() ?? false;
      if (stop || (st.step + 1) % cfg.output.checkpoint_every === 0) {
        st.step++;
        st.wallSeconds = wallNow();
        await save(st, { epoch: st.epoch, step: st.step });
        st.step--;
      }
      if (stop) {
        interrupted = true;
        break;
      }
    }
    if (interrupted) break;
    // The epoch's last update is checked before the weights are evaluated or saved as a model.
    const weights = [...model.params.params.values()].map((p) => p.variable as tf.Tensor);
    if (!allFinite(weights)) throw diverged("weights not finite", { epoch: st.epoch + 1, step: 0 });
    const e0 = performance.now();
    const rec: EpochRecord = {
      epoch: st.epoch + 1,
      lr,
      trainLoss: st.acc.loss / st.acc.seen,
      trainAcc: st.acc.correct / st.acc.seen,
      valLoss: NaN,
      valAcc: NaN,
      valBalancedAcc: NaN,
      imagesPerSec: st.acc.seen / st.acc.seconds,
      seconds: 0,
    };
    const saveWeights = (meta: Record<string, unknown>) => {
      const save = () =>
        saveModel(model, join(o.runDir, "model"), {
          ...meta,
          ...(ema ? { emaDecay: ema.decay } : {}),
        });
      return ema ? ema.withAveraged(save) : save();
    };
    if (valIdx.length === 0) {
      // data.split: all — no validation: the model is the weights after this epoch.
      rec.seconds = st.acc.seconds + (performance.now() - e0) / 1000;
      await saveWeights({ epoch: rec.epoch, weights: "last epoch (no validation images)" });
    } else {
      const ev = await evaluateOrStop(st.epoch + 1);
      last = ev;
      rec.valLoss = ev.loss;
      rec.valAcc = ev.metrics.accuracy;
      rec.valBalancedAcc = ev.metrics.balancedAccuracy;
      rec.seconds = st.acc.seconds + (performance.now() - e0) / 1000;
      // train.keep: last — every epoch replaces the kept model, so nothing is chosen on the
      // validation images ("best" then names the last epoch).
      if (!st.best || cfg.train.keep === "last" || ev.metrics.accuracy > st.best.metrics.accuracy) {
        st.best = ev;
        await saveWeights({ epoch: ev.epoch, valAccuracy: ev.metrics.accuracy });
      }
    }
    st.history.push(rec);
    progress.log(
      `epoch ${rec.epoch}/${t.epochs}  train loss ${rec.trainLoss.toFixed(4)} acc ${
        rec.trainAcc.toFixed(3)
      }  ` +
        (valIdx.length === 0
          ? ""
          : `val loss ${rec.valLoss.toFixed(4)} acc ${rec.valAcc.toFixed(4)} bal ${
            rec.valBalancedAcc.toFixed(4)
          }  `) +
        `${rec.imagesPerSec.toFixed(1)} img/s`,
    );
    // State at the epoch boundary: the next epoch starts at step 0.
    await save({
      ...st,
      wallSeconds: wallNow(),
      epoch: st.epoch + 1,
      step: 0,
      acc: { loss: 0, correct: 0, seen: 0, seconds: 0 },
    }, { epoch: st.epoch + 1, step: 0 });
  }
  progress.finish();
  disposeOpt();
  if (!last && st.history.length === t.epochs && st.best) {
    // Resumed after the final epoch finished: re-evaluate to report the last epoch.
    last = await evaluateOrStop(t.epochs);
  }
  return {
    history: st.history,
    best: st.best,
    last: interrupted ? null : last,
    interrupted,
    trainSeconds: st.trainSeconds,
    earlierWallSeconds: earlierWall,
    steps: totalSteps,
    resumedFrom,
  };
}
