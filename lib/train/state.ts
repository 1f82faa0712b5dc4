/**
 * The training loop's resumable state (runDir/state: weights, Adam's moments, the moving
 * average, where the run stands and its history so far), the check that keeps non-finite
 * weights off the disk, and the one-line error a diverged run ends with.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join, relative } from "node:path";
import type { TrainSection } from "../config/schema.ts";
import type { Network } from "../model/network.ts";
import { StarmambaError } from "../util/errors.ts";
import type { Adam } from "./optim.ts";
import type { WeightEma } from "./ema.ts";
import { loadTensors, saveTensors } from "./checkpoint.ts";
import type { EpochRecord, Evaluation } from "./train.ts";

/** A position in training: `step` steps of epoch `epoch` (from 0) are done. */
export interface StepPosition {
  /** Finished epochs. */
  epoch: number;
  /** Finished steps of the next epoch (0: an epoch boundary). */
  step: number;
}

/** The running sums of the epoch's steps (the history row's training columns). */
export interface EpochSums {
  /** Sum of the batches' loss × their size. */
  loss: number;
  /** Images classified correctly during the steps. */
  correct: number;
  /** Images seen. */
  seen: number;
  /** Seconds spent in the steps. */
  seconds: number;
}

/** Where training stands: what state/state.json holds besides the tensors. */
export interface RunState extends StepPosition {
  /** One record per finished epoch. */
  history: EpochRecord[];
  /** The kept epoch's evaluation (train.keep), null before the first. */
  best: Evaluation | null;
  /** The current epoch's running sums. */
  acc: EpochSums;
  /** Adam's step count. */
  adamT: number;
  /** Seconds spent in training steps (all sessions of a resumed run). */
  trainSeconds: number;
  /** Wall-clock seconds of all sessions up to this save (absent in states of older versions). */
  wallSeconds?: number;
}

/** Running sums of an epoch before its first step. */
export function emptySums(): EpochSums {
  return { loss: 0, correct: 0, seen: 0, seconds: 0 };
}

/** The state of a run before its first step. */
export function freshState(): RunState {
  return {
    epoch: 0,
    step: 0,
    history: [],
    best: null,
    acc: emptySums(),
    adamT: 0,
    trainSeconds: 0,
  };
}

/** The network's parameters (trainable weights and BatchNorm statistics) as tensors. */
export function weightsOf(model: Network): tf.Tensor[] {
  return [...model.params.params.values()].map((p) => p.variable as tf.Tensor);
}

/**
 * True when every element of `tensors` is finite, with one read back: x·0 is 0 for a finite x
 * and NaN for NaN and ±Inf, so the sum of all of them is 0 exactly when all are finite.
 */
export function allFinite(tensors: tf.Tensor[]): boolean {
  // Chained adds, not addN: these kernels run on the device on every backend (cuda included).
  const sum = tf.tidy(() =>
    tensors.reduce<tf.Tensor>((acc, t) => tf.add(acc, tf.sum(tf.mul(t, 0))), tf.scalar(0))
  );
  const ok = sum.dataSync()[0] === 0;
  sum.dispose();
  return ok;
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
export function divergedError(
  what: string,
  at: StepPosition,
  t: TrainSection,
  runDir: string,
  saved: StepPosition | null,
): StarmambaError {
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

/** Writes `st` with the weights, Adam's moments and the moving average to `dir`/state. */
export async function saveState(
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

/** Loads `dir`/state into the model, the optimiser and the moving average; returns where it stood. */
export function restoreState(
  dir: string,
  model: Network,
  opt: Adam,
  ema: WeightEma | null,
): RunState {
  const { tensors, meta } = loadTensors(join(dir, "state"), "state");
  for (const p of model.params.params.values()) p.variable.assign(tensors[p.name]);
  const st = meta.state as RunState & { emaUpdates?: number };
  opt.restore(tensors, st.adamT);
  ema?.restore(tensors, st.emaUpdates ?? 0);
  Object.values(tensors).forEach((t) => t.dispose());
  return st;
}
