/**
 * Training: the loop, prediction over a dataset, checkpoints, Adam/AdamW and the learning-rate
 * schedule, the moving average of the weights.
 * @module
 */
export {
  type AugmentSettings,
  type EpochRecord,
  type Evaluation,
  saveModel,
  train,
  type TrainOptions,
  type TrainResult,
} from "./train.ts";
export { predict, type PredictSettings, predictSettings } from "./predict.ts";
export { loadTensors, saveTensors } from "./checkpoint.ts";
export type { LoadTensorsOptions } from "./checkpoint.ts";
export { EMA_PREFIX, emaDecayAt, WeightEma } from "./ema.ts";
export { Adam, type AdamOptions, type AdamScalars, learningRate } from "./optim.ts";
// Types the signatures above use
export type { AugmentSection, ExperimentConfig, TrainSection } from "../config/schema.ts";
export type { Normalisation } from "../data/pipeline.ts";
export type { MedMamba } from "../model/medmamba.ts";
export type { Network, NetworkShape } from "../model/network.ts";
export type { Metrics } from "../metrics/metrics.ts";
export type { CatalogTable, Dataset } from "../data/types.ts";
export type { ModelConfig } from "../model/config.ts";
export type { Param, ParamStore } from "../model/params.ts";
export type { Rng } from "../util/rng.ts";
export type { ForwardContext } from "../model/layers.ts";
export type { ClassMetrics } from "../metrics/metrics.ts";
export type * from "../util/tensor_types.ts";
