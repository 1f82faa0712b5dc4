/**
 * What every network is to the rest of the code: a name, a config, named parameters and state,
 * and a forward pass in training or evaluation mode. The trainer, evaluation, prediction and the
 * model cards see only this; the registry (registry.ts) builds one by name.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { ExperimentConfig } from "../config/schema.ts";
import type { ForwardContext } from "./layers.ts";
import type { ParamStore } from "./params.ts";

/** The input and output of an image classifier: what the data decides in every network's config. */
export interface NetworkShape {
  /** Input channels. */
  in_channels: number;
  /** Output classes (logits per image). */
  num_classes: number;
  /** Input side in pixels (square images). */
  image_size: number;
}

/**
 * What rebuilds a network: its registry name and its config (plain JSON). model.json stores them
 * as `arch` and `modelConfig`; result.json as `model.arch` and `model.config`.
 */
export interface NetworkDescription<C extends NetworkShape = NetworkShape> {
  /** The name in the registry (the config key `model.arch`). */
  arch: string;
  /** The architecture's own config, the input and output shape included. */
  config: C;
}

/** A built network of any architecture. */
export interface Network<C extends NetworkShape = NetworkShape> {
  /** Its name in the registry. */
  readonly arch: string;
  /** Its config: with `arch`, all that rebuilds it ({@link describeNetwork}). */
  readonly config: C;
  /**
   * Every parameter by name, in canonical order: the trainable ones and the state that is not
   * trained (BatchNorm running statistics, `trainable: false`). Checkpoints and model.json use
   * these names.
   */
  readonly params: ParamStore;
  /**
   * x: (B, H, W, in_channels) normalised images → logits (B, num_classes). With
   * `ctx.training` the pass is the training one (DropPath draws from `ctx.rng`, BatchNorm uses
   * the batch and pushes its running-statistics updates to `ctx.bnUpdates` for the trainer to
   * commit); else evaluation (running statistics, nothing random).
   */
  forward(x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D;
}

/** What model.json records so the network can be rebuilt: its name and config. */
export function describeNetwork<C extends NetworkShape>(net: Network<C>): NetworkDescription<C> {
  return { arch: net.arch, config: net.config };
}

/**
 * One architecture in the registry (registry.ts's `NETWORKS`): how an experiment config becomes
 * its config, how it is built, and how the model cards name it. `C` is its config.
 */
export interface NetworkEntry<C extends NetworkShape = NetworkShape> {
  /** One line on what it is (listed by the error for an unknown `model.arch`). */
  doc: string;
  /**
   * Its config from an experiment's `model` section and the data's shape; a setting it cannot
   * build is a StarmambaError naming the config key.
   */
  configFor(model: ExperimentConfig["model"], shape: NetworkShape): C;
  /**
   * Builds the network with its initial weights drawn from `seed` (the same config and seed
   * give the same weights, bit for bit); checks `config` first, as it may come from a file.
   */
  create(config: C, seed: number): Network<C>;
  /** A short name for tables (`deno task models`), e.g. `MedMamba-T`. */
  label(config: C): string;
  /** The model card's line on the network: what it is, its shape and its size. */
  summary(config: C, parameters: number): string;
  /** The paper that defines the network, as a model card asks users to cite it. */
  paper: string;
}
