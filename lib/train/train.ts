/**
 * The training loop: seeded data order (weighted sampler or shuffle), per-sample augmentation,
 * class-weighted cross-entropy, Adam/AdamW with warm-up + cosine, evaluation every epoch,
 * the best-validation checkpoint, an optional moving average of the weights (ema.ts), and
 * resumable state (state.ts).
 *
 * {@link train} is the loop over epochs and steps and nothing else: `openLoop` sets a session
 * up (or restores one), `step` is one optimisation step, `betweenSteps` polls for a stop and
 * saves the state, `endOfEpoch` evaluates, keeps the model and writes the history row.
 *
 * Every random draw of step s in epoch e comes from streams keyed by (seed, e, s), so a run
 * resumed at any step boundary draws exactly what the uninterrupted run would have.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import type { AugmentSection, TrainSection } from "../config/schema.ts";
import type { Dataset } from "../data/types.ts";
import type { Normalisation } from "../data/pipeline.ts";
import { type AugmentConfig, makeBatch } from "../data/augment.ts";
import type { Network } from "../model/network.ts";
import type { ForwardContext } from "../model/layers.ts";
import type { StarmambaError } from "../util/errors.ts";
import { rng, shuffle } from "../util/rng.ts";
import { exists } from "../util/fs.ts";
import { computeMetrics, type Metrics } from "../metrics/metrics.ts";
import { Adam, learningRate } from "./optim.ts";
import { crossEntropy, inverseFrequencyWeights, weightedSample } from "./loss.ts";
import { saveTensors } from "./checkpoint.ts";
import { Progress } from "./progress.ts";
import { WeightEma } from "./ema.ts";
import { predict, type PredictSettings } from "./predict.ts";
import {
  allFinite,
  divergedError,
  emptySums,
  freshState,
  restoreState,
  type RunState,
  saveState,
  type StepPosition,
  weightsOf,
} from "./state.ts";

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

/**
 * The augment section's augmentation keys: the section less its normalisation, which is the
 * data pipeline's (lib/data/pipeline.ts `normalisation`) and reaches {@link train} on its own.
 */
export type AugmentSettings = Omit<AugmentSection, "normalize_mean" | "normalize_std">;

/**
 * Inputs of {@link train}: the network and its data, the config sections the loop reads (and no
 * others), where it writes, and how the session is driven.
 */
export interface TrainOptions {
  /** The network to train, updated in place. */
  model: Network;
  /** The whole dataset; `trainIdx` and `valIdx` index into it. */
  data: Dataset;
  /** Indices of the training images. */
  trainIdx: number[];
  /** Indices of the validation images, evaluated after every epoch. */
  valIdx: number[];
  /** The config's `train` section: epochs, batches, optimiser, schedule, class balance, EMA, keep, tta. */
  train: TrainSection;
  /** The config's `augment` section: the per-sample augmentation of every training batch. */
  augment: AugmentSettings;
  /** The data pipeline's normalisation of every batch, training and evaluation alike. */
  normalisation: Normalisation;
  /** The run's seed: keys the data order, augmentation and DropPath streams. */
  seed: number;
  /** Save resumable state every this many steps (`output.checkpoint_every`). */
  checkpointEvery: number;
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

/** The augmentation the section asks for, or null when `augment.enabled` is false. */
export function augmentation(a: AugmentSettings): AugmentConfig | null {
  if (!a.enabled) return null;
  return {
    hflip: a.hflip,
    vflip: a.vflip,
    rot90: a.rot90,
    rotate_deg: a.rotate_deg,
    crop_scale: a.crop_scale,
    brightness: a.brightness,
    contrast: a.contrast,
    grayscale_p: a.grayscale_p,
    noise_std: a.noise_std,
  };
}

/** The epoch's sample order: weighted draws (sampler) or a shuffle, keyed by (seed, epoch). */
export function epochOrder(
  ds: Dataset,
  trainIdx: number[],
  t: TrainSection,
  seed: number,
  epoch: number,
): number[] {
  const r = rng(seed, `order:${epoch}`);
  if (t.class_balance === "sampler") {
    return weightedSample(ds.labels, trainIdx, trainIdx.length, r, t.class_weight_power);
  }
  return shuffle([...trainIdx], r);
}

/** Steps in one epoch (a trailing batch of one is dropped: BatchNorm needs ≥ 2). */
export function stepsPerEpoch(nTrain: number, t: TrainSection): number {
  const bs = t.batch_size;
  let steps = Math.floor(nTrain / bs) + (nTrain % bs >= 2 ? 1 : 0);
  if (t.steps_per_epoch) steps = Math.min(steps, t.steps_per_epoch);
  return Math.max(steps, 1);
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

/** One session of the loop: what {@link openLoop} sets up and the steps and epoch ends share. */
interface Loop {
  /** The caller's inputs. */
  readonly o: TrainOptions;
  /** The trainable variables, in the optimiser's order. */
  readonly vars: tf.Variable[];
  /** Adam or AdamW over `vars`. */
  readonly opt: Adam;
  /** The moving average of the weights (`train.ema_decay`), or null. */
  readonly ema: WeightEma | null;
  /** Per-class loss weights (`train.class_balance: loss`), or null. */
  readonly classWeights: number[] | null;
  /** The per-sample augmentation, or null when it is off. */
  readonly augment: AugmentConfig | null;
  /** How the validation images are scored. */
  readonly scoring: PredictSettings;
  /** Steps in every epoch. */
  readonly steps: number;
  /** Where training stands; the loop advances it. */
  readonly st: RunState;
  /** Where a resumed run picked up; null for a fresh run. */
  readonly resumedFrom: StepPosition | null;
  /** Wall-clock seconds of the earlier sessions, up to their last save (0 if fresh). */
  readonly earlierWall: number;
  /** performance.now() when this session began. */
  readonly sessionStart: number;
  /** The progress bar (or log lines). */
  readonly progress: Progress;
  /** The state on disk (step 0: an epoch boundary); a divergence error says what it holds. */
  saved: StepPosition | null;
  /** Steps run in this session. */
  stepsRun: number;
  /** True once Adam's moments are freed. */
  optFreed: boolean;
}

/** Per-class loss weights over the training labels (`train.class_balance: loss`), else null. */
function lossWeights(o: TrainOptions): number[] | null {
  if (o.train.class_balance !== "loss") return null;
  const labels = Int32Array.from(o.trainIdx, (i) => o.data.labels[i]);
  return inverseFrequencyWeights(labels, o.data.classNames.length, o.train.class_weight_power);
}

/** Sets a session up: optimiser, moving average, class weights; the saved state on resume. */
function openLoop(o: TrainOptions): Loop {
  const t = o.train;
  const vars = o.model.params.trainable();
  const opt = new Adam(vars, { weightDecay: t.optimizer === "adamw" ? t.weight_decay : 0 });
  const ema = t.ema_decay === null ? null : new WeightEma(o.model.params, t.ema_decay);
  const resuming = Boolean(o.resume) && exists(join(o.runDir, "state", "state.json"));
  const st = resuming ? restoreState(o.runDir, o.model, opt, ema) : freshState();
  const resumedFrom = resuming ? { epoch: st.epoch, step: st.step } : null;
  if (resumedFrom && !o.quiet) console.log(`resuming at epoch ${st.epoch + 1}, step ${st.step}`);
  const steps = stepsPerEpoch(o.trainIdx.length, t);
  return {
    o,
    vars,
    opt,
    ema,
    classWeights: lossWeights(o),
    augment: augmentation(o.augment),
    scoring: { batchSize: t.eval_batch_size, tta: t.tta, normalisation: o.normalisation },
    steps,
    st,
    resumedFrom,
    // Wall time of a resumed run = the earlier sessions (up to their last save) + this one.
    earlierWall: st.wallSeconds ?? 0,
    sessionStart: o.sessionStart ?? performance.now(),
    progress: new Progress(t.epochs * steps, 10, o.quiet),
    saved: resumedFrom,
    stepsRun: 0,
    optFreed: false,
  };
}

/** Wall-clock seconds of the run so far, earlier sessions included. */
function wallNow(loop: Loop): number {
  return loop.earlierWall + (performance.now() - loop.sessionStart) / 1000;
}

/** Ends the progress line and frees Adam's moments (once). */
function close(loop: Loop): void {
  loop.progress.finish();
  if (!loop.optFreed) loop.opt.dispose();
  loop.optFreed = true;
}

/** Closes the session and returns the divergence error for `what` at `at`. */
function diverged(loop: Loop, what: string, at: StepPosition): StarmambaError {
  close(loop);
  return divergedError(what, at, loop.o.train, loop.o.runDir, loop.saved);
}

/** Saves `state` as position `at`, unless the weights or Adam's moments stopped being finite. */
async function save(loop: Loop, state: RunState, at: StepPosition): Promise<void> {
  const { o, opt } = loop;
  if (!allFinite([...weightsOf(o.model), ...Object.values(opt.stateTensors())])) {
    throw diverged(loop, "weights not finite", at);
  }
  await saveState(o.runDir, o.model, opt, loop.ema, state);
  loop.saved = at;
}

/** The learning rate of step `s` of the current epoch (warm-up, then constant or cosine). */
function stepLr(loop: Loop, s: number): number {
  const t = loop.o.train;
  return learningRate(loop.st.epoch + s / loop.steps, {
    lr: t.lr,
    epochs: t.epochs,
    warmup: t.warmup_epochs,
    schedule: t.schedule,
    minLr: t.min_lr,
  });
}

/** The current step's batch of images `idx`: augmented (stream keyed by epoch and step), normalised. */
function trainBatch(loop: Loop, idx: number[]): tf.Tensor4D {
  const { o, st } = loop;
  const x = makeBatch(o.data, idx, {
    augment: loop.augment,
    mean: o.normalisation.mean,
    std: o.normalisation.std,
    rng: rng(o.seed, `augment:${st.epoch}:${st.step}`),
  });
  return tf.tensor4d(x, [idx.length, o.data.height, o.data.width, o.data.channels]);
}

/**
 * Forward, loss, backward and the updates (Adam, the BatchNorm statistics, the moving average)
 * for the batch `idx`; returns its loss and how many of it the network classified correctly.
 */
function optimise(
  loop: Loop,
  idx: number[],
  labels: Int32Array,
  lr: number,
): { loss: number; correct: number } {
  const { o, st, vars } = loop;
  const ctx: ForwardContext = {
    training: true,
    rng: rng(o.seed, `droppath:${st.epoch}:${st.step}`),
    bnUpdates: [],
  };
  return tf.tidy(() => {
    const x = trainBatch(loop, idx);
    let logits: tf.Tensor2D | null = null;
    const { value, grads } = tf.variableGrads(() => {
      logits = tf.keep(o.model.forward(x, ctx));
      return crossEntropy(logits, labels, loop.classWeights, o.train.label_smoothing);
    }, vars);
    loop.opt.step(vars.map((v) => grads[v.name]), lr);
    for (const u of ctx.bnUpdates) {
      u.variable.assign(u.value);
      u.value.dispose();
    }
    loop.ema?.update();
    const pred = tf.argMax(logits!, 1).dataSync();
    let correct = 0;
    for (let i = 0; i < idx.length; i++) correct += pred[i] === labels[i] ? 1 : 0;
    return { loss: value.dataSync()[0], correct };
  });
}

/**
 * One optimisation step, step `st.step` of epoch `st.epoch` over the images `order` gives it:
 * {@link optimise} on the batch, the loss checked for divergence, the epoch's running sums and
 * the progress line updated.
 */
function step(loop: Loop, order: number[]): void {
  const { o, st } = loop;
  const t0 = performance.now();
  const bs = o.train.batch_size;
  const idx = order.slice(st.step * bs, (st.step + 1) * bs);
  const labels = Int32Array.from(idx, (i) => o.data.labels[i]);
  const { loss, correct } = optimise(loop, idx, labels, stepLr(loop, st.step));
  // The loss is read back for the progress line anyway: checking it costs no device read.
  if (!Number.isFinite(loss)) {
    throw diverged(loop, `loss ${loss}`, { epoch: st.epoch, step: st.step + 1 });
  }
  const dt = (performance.now() - t0) / 1000;
  st.acc.loss += loss * idx.length;
  st.acc.correct += correct;
  st.acc.seen += idx.length;
  st.acc.seconds += dt;
  st.trainSeconds += dt;
  loop.stepsRun++;
  loop.progress.update(
    st.epoch * loop.steps + st.step + 1,
    `epoch ${st.epoch + 1}/${o.train.epochs}`,
    {
      loss: (st.acc.loss / st.acc.seen).toFixed(4),
      acc: (st.acc.correct / st.acc.seen).toFixed(3),
      "img/s": (st.acc.seen / st.acc.seconds).toFixed(1),
    },
  );
}

/**
 * After a step: yields to the event loop (so a Ctrl-C's listener runs), polls `shouldStop`, and
 * saves the state every `checkpointEvery` steps and before stopping. True = stop now.
 */
async function betweenSteps(loop: Loop): Promise<boolean> {
  const { o, st } = loop;
  await new Promise((r) => setTimeout(r, 0));
  const stop = o.shouldStop?.() ?? false;
  if (stop || (st.step + 1) % o.checkpointEvery === 0) {
    const at = { epoch: st.epoch, step: st.step + 1 };
    await save(loop, { ...st, ...at, wallSeconds: wallNow(loop) }, at);
  }
  return stop;
}

/** Thrown by {@link evaluate} when a probability is not finite; reported as a divergence. */
class NonFinite extends Error {}

/** Predictions and metrics of the validation images after epoch `epoch`. */
function evaluate(loop: Loop, epoch: number): Evaluation {
  const { model, data: ds, valIdx } = loop.o;
  const { probs, loss } = predict(model, ds, valIdx, loop.scoring);
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

/** {@link evaluate} on the moving-average weights when the run keeps them; NaN output = diverged. */
async function evaluateOrStop(loop: Loop, epoch: number): Promise<Evaluation> {
  const run = () => evaluate(loop, epoch);
  try {
    return await (loop.ema ? loop.ema.withAveraged(run) : Promise.resolve(run()));
  } catch (e) {
    if (e instanceof NonFinite) throw diverged(loop, e.message, { epoch, step: 0 });
    throw e;
  }
}

/** Saves the weights (the moving average when the run keeps one) as the run's model. */
function saveWeights(loop: Loop, meta: Record<string, unknown>): Promise<void> {
  const { o, ema } = loop;
  const write = () =>
    saveModel(o.model, join(o.runDir, "model"), {
      ...meta,
      ...(ema ? { emaDecay: ema.decay } : {}),
    });
  return ema ? ema.withAveraged(write) : write();
}

/**
 * Keeps epoch `epoch`'s weights as the run's model when `train.keep` says so: the best
 * validation accuracy so far, or every epoch (`last`, and runs without validation images).
 */
async function keepModel(loop: Loop, ev: Evaluation | null, epoch: number): Promise<void> {
  const { st } = loop;
  if (!ev) {
    // data.split: all — no validation: the model is the weights after this epoch.
    return saveWeights(loop, { epoch, weights: "last epoch (no validation images)" });
  }
  // train.keep: last — every epoch replaces the kept model, so nothing is chosen on the
  // validation images ("best" then names the last epoch).
  if (!st.best || loop.o.train.keep === "last" || ev.metrics.accuracy > st.best.metrics.accuracy) {
    st.best = ev;
    await saveWeights(loop, { epoch: ev.epoch, valAccuracy: ev.metrics.accuracy });
  }
}

/** The history row of the epoch just trained: its steps' sums, `ev` (if any), `seconds`. */
function epochRecord(loop: Loop, ev: Evaluation | null, seconds: number): EpochRecord {
  const { st } = loop;
  return {
    epoch: st.epoch + 1,
    lr: stepLr(loop, loop.steps - 1),
    trainLoss: st.acc.loss / st.acc.seen,
    trainAcc: st.acc.correct / st.acc.seen,
    valLoss: ev ? ev.loss : NaN,
    valAcc: ev ? ev.metrics.accuracy : NaN,
    valBalancedAcc: ev ? ev.metrics.balancedAccuracy : NaN,
    imagesPerSec: st.acc.seen / st.acc.seconds,
    seconds,
  };
}

/** The log line of a finished epoch. */
function epochLine(rec: EpochRecord, epochs: number, validated: boolean): string {
  const val = validated
    ? `val loss ${rec.valLoss.toFixed(4)} acc ${rec.valAcc.toFixed(4)} bal ${
      rec.valBalancedAcc.toFixed(4)
    }  `
    : "";
  return `epoch ${rec.epoch}/${epochs}  train loss ${rec.trainLoss.toFixed(4)} acc ${
    rec.trainAcc.toFixed(3)
  }  ${val}${rec.imagesPerSec.toFixed(1)} img/s`;
}

/**
 * What follows an epoch's last step: the weights checked, the validation images evaluated, the
 * kept model saved, the history row added and logged, the state saved at the epoch boundary.
 * Returns the evaluation (null without validation images).
 */
async function endOfEpoch(loop: Loop): Promise<Evaluation | null> {
  const { o, st } = loop;
  const next = { epoch: st.epoch + 1, step: 0 };
  // The epoch's last update is checked before the weights are evaluated or saved as a model.
  if (!allFinite(weightsOf(o.model))) throw diverged(loop, "weights not finite", next);
  const e0 = performance.now();
  const ev = o.valIdx.length === 0 ? null : await evaluateOrStop(loop, next.epoch);
  const rec = epochRecord(loop, ev, st.acc.seconds + (performance.now() - e0) / 1000);
  await keepModel(loop, ev, next.epoch);
  st.history.push(rec);
  loop.progress.log(epochLine(rec, o.train.epochs, ev !== null));
  // State at the epoch boundary: the next epoch starts at step 0.
  await save(loop, { ...st, wallSeconds: wallNow(loop), ...next, acc: emptySums() }, next);
  return ev;
}

/**
 * Ends the session: closes it and returns the result (a run resumed after its final epoch had
 * nothing left to train: its last epoch is evaluated again to report it).
 */
async function finish(
  loop: Loop,
  last: Evaluation | null,
  interrupted: boolean,
): Promise<TrainResult> {
  const { o, st } = loop;
  close(loop);
  if (!interrupted && !last && st.history.length === o.train.epochs && st.best) {
    last = await evaluateOrStop(loop, o.train.epochs);
  }
  return {
    history: st.history,
    best: st.best,
    last,
    interrupted,
    trainSeconds: st.trainSeconds,
    earlierWallSeconds: loop.earlierWall,
    steps: loop.stepsRun,
    resumedFrom: loop.resumedFrom,
  };
}

/** Trains `o.model` as `o.train` says; see the module comment for the guarantees. */
export async function train(o: TrainOptions): Promise<TrainResult> {
  const loop = openLoop(o);
  const st = loop.st;
  let last: Evaluation | null = null;
  for (; st.epoch < o.train.epochs; st.epoch++, st.step = 0, st.acc = emptySums()) {
    const order = epochOrder(o.data, o.trainIdx, o.train, o.seed, st.epoch);
    for (; st.step < loop.steps; st.step++) {
      step(loop, order);
      if (await betweenSteps(loop)) return finish(loop, null, true);
    }
    last = (await endOfEpoch(loop)) ?? last;
  }
  return finish(loop, last, false);
}
