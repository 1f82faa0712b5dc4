/**
 * The `train:` section (optimiser, schedule, class balance, EMA, batch sizes), owned by lib/train.
 * Declared under lib/config because imports flow config → train.
 * @module
 */
import type { SectionSpec } from "../spec.ts";

/** Optimiser, schedule and class balance. */
export const TRAIN_SECTION = {
  epochs: { type: "int", default: 10, min: 1, max: 10000, doc: "training epochs" },
  batch_size: { type: "int", default: 32, min: 1, max: 4096, doc: "images per step" },
  eval_batch_size: {
    type: "int",
    default: 64,
    min: 1,
    max: 4096,
    doc: "images per evaluation step",
  },
  tta: {
    type: "bool",
    default: false,
    doc: "evaluate on the 8 flips and quarter turns of each image and average the " +
      "probabilities (test-time augmentation; square images)",
  },
  optimizer: {
    type: "enum",
    default: "adam",
    values: ["adam", "adamw"],
    doc: "Adam or AdamW (decoupled weight decay)",
  },
  lr: { type: "number", default: 5e-5, min: 0, max: 10, doc: "peak learning rate" },
  weight_decay: { type: "number", default: 0, min: 0, max: 1, doc: "AdamW decay" },
  schedule: {
    type: "enum",
    default: "constant",
    values: ["constant", "cosine"],
    doc: "LR schedule after warm-up",
  },
  warmup_epochs: { type: "number", default: 0, min: 0, max: 1000, doc: "linear warm-up length" },
  min_lr: { type: "number", default: 0, min: 0, max: 10, doc: "cosine floor" },
  class_balance: {
    type: "enum",
    default: "sampler",
    values: ["sampler", "loss", "none"],
    doc: "weighted sampler (reference), weighted loss, or none",
  },
  class_weight_power: {
    type: "number",
    default: 1,
    min: 0,
    max: 1,
    doc: "exponent p of the class weights (N/count)^p used by class_balance sampler or loss: " +
      "1 balances the classes fully (reference), 0 is no balancing, 0.5 half-way in log odds",
    hashOnlyIfSet: true,
  },
  label_smoothing: { type: "number", default: 0, min: 0, max: 0.5, doc: "label smoothing" },
  ema_decay: {
    type: "number",
    default: null,
    nullable: true,
    min: 0,
    max: 0.99999,
    doc: "evaluate and save an exponential moving average of the weights with this decay " +
      "(e.g. 0.998; null = the raw weights)",
    hashOnlyIfSet: true,
  },
  keep: {
    type: "enum",
    default: "best",
    values: ["best", "last"],
    hashOnlyIfSet: true,
    doc: "which epoch's weights the run keeps: best (highest validation accuracy: chosen on " +
      "the images that score it) or last (nothing chosen; cross-validation folds use it)",
  },
  steps_per_epoch: {
    type: "int",
    default: null,
    nullable: true,
    min: 1,
    max: 1000000,
    doc: "cap steps per epoch (default: one pass)",
  },
  workers: {
    type: "int",
    default: 1,
    min: 1,
    max: 1,
    doc: "data-parallel worker processes: only 1 (the native kernels already use every core; " +
      "see train.threads)",
  },
  threads: {
    type: "int",
    default: 0,
    min: 0,
    max: 256,
    doc: "threads of the native kernels (matmuls, convolutions, SS2D, Adam); 0 = " +
      "OMP_NUM_THREADS or one per core. Results are bitwise the same for any value. Runs that " +
      "share a machine: cores / runs each (oversubscribed, two runs on 2 cores did half the " +
      "work of one; docs/performance.md)",
  },
} as const satisfies SectionSpec;
