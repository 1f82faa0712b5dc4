/**
 * MedMamba (Yue & Li, 2024) on VMamba's SS2D, as functional tfjs code.
 *
 *   PatchEmbed → 4 stages of SS-Conv-SSM blocks (dims C, 2C, 4C, 8C; PatchMerging between)
 *   → [LayerNorm if head_norm] → global average pool → Linear head
 *
 * SS-Conv-SSM block on x (B, H, W, C): split channels in half;
 *   conv half: [BN] → Conv3×3 → BN → ReLU → Conv3×3 → BN → ReLU → Conv1×1 → ReLU
 *   SSM half:  LayerNorm → SS2D → DropPath  [+ input if ssm_residual]
 *   out = channel_shuffle(concat(conv, ssm), 2) + x
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ModelConfig } from "./config.ts";
import { medmambaConfigFor, validateModelConfig } from "./config.ts";
import type { Network, NetworkEntry } from "./network.ts";
import {
  batchNorm,
  channelShuffle,
  conv,
  dropPath,
  type ForwardContext,
  initBatchNorm,
  initConv,
  initLayerNorm,
  initLinear,
  initPatchEmbed,
  initPatchMerging,
  layerNorm,
  linear,
  patchEmbed,
  patchMerging,
} from "./layers.ts";
import { ParamStore } from "./params.ts";
import { initSS2D, ss2d, type SS2DDims, ss2dDims } from "./ss2d.ts";
import { fusedBlock, fusedBlockAvailable } from "./block.ts";
import { rng } from "../util/rng.ts";
import { StarmambaError } from "../util/errors.ts";

/** A built MedMamba: a {@link Network} whose config is a {@link ModelConfig}. */
export type MedMamba = Network<ModelConfig>;

/** MedMamba's name in the network registry (lib/model/registry.ts) and in model.json. */
export const MEDMAMBA_ARCH = "medmamba";

/** Channels per stage: C, 2C, 4C, 8C. */
export function stageDims(cfg: ModelConfig): number[] {
  return cfg.depths.map((_, i) => cfg.dim * 2 ** i);
}

/** DropPath rate of every block, rising linearly from 0 to drop_path_rate. */
export function dropPathRates(cfg: ModelConfig): number[] {
  const n = cfg.depths.reduce((a, b) => a + b, 0);
  return [...Array(n).keys()].map((i) => (n === 1 ? 0 : (cfg.drop_path_rate * i) / (n - 1)));
}

function initBlock(
  ps: ParamStore,
  name: string,
  dim: number,
  cfg: ModelConfig,
  r: ReturnType<typeof rng>,
): void {
  const half = dim / 2;
  if (cfg.ssm_branch) {
    initLayerNorm(ps, `${name}.ln_1`, half);
    initSS2D(ps, `${name}.self_attention`, ss2dDims(half, cfg.d_state, cfg.directions), r);
  }
  if (cfg.conv_branch) {
    const c = `${name}.conv33conv33conv11`;
    if (cfg.conv_pre_bn) initBatchNorm(ps, `${c}.bn0`, half);
    initConv(ps, `${c}.conv1`, 3, half, half, r);
    initBatchNorm(ps, `${c}.bn1`, half);
    initConv(ps, `${c}.conv2`, 3, half, half, r);
    initBatchNorm(ps, `${c}.bn2`, half);
    initConv(ps, `${c}.conv3`, 1, half, half, r);
  }
}

function convHalf(
  ps: ParamStore,
  c: string,
  x: tf.Tensor4D,
  cfg: ModelConfig,
  ctx: ForwardContext,
): tf.Tensor4D {
  let y = cfg.conv_pre_bn ? batchNorm(ps, `${c}.bn0`, x, ctx) : x;
  y = tf.relu(batchNorm(ps, `${c}.bn1`, conv(ps, `${c}.conv1`, y), ctx));
  y = tf.relu(batchNorm(ps, `${c}.bn2`, conv(ps, `${c}.conv2`, y), ctx));
  return tf.relu(conv(ps, `${c}.conv3`, y));
}

/**
 * One SS-Conv-SSM block: the fused native op where it can run (lib/model/block.ts), else
 * {@link blockOps}.
 */
function block(
  ps: ParamStore,
  name: string,
  x: tf.Tensor4D,
  cfg: ModelConfig,
  dims: SS2DDims,
  dropRate: number,
  ctx: ForwardContext,
): tf.Tensor4D {
  return fusedBlockAvailable(cfg)
    ? fusedBlock(ps, name, x, cfg, dims, dropRate, ctx)
    : blockOps(ps, name, x, cfg, dims, dropRate, ctx);
}

/** One SS-Conv-SSM block as tensor ops: the reference of the fused op. */
export function blockOps(
  ps: ParamStore,
  name: string,
  x: tf.Tensor4D,
  cfg: ModelConfig,
  dims: SS2DDims,
  dropRate: number,
  ctx: ForwardContext,
): tf.Tensor4D {
  const [left, right] = tf.split(x, 2, 3) as tf.Tensor4D[];
  let s = right;
  if (cfg.ssm_branch) {
    const y = ss2d(
      ps,
      `${name}.self_attention`,
      layerNorm(ps, `${name}.ln_1`, right) as tf.Tensor4D,
      dims,
    );
    s = dropPath(y, dropRate, ctx);
    if (cfg.ssm_residual) s = tf.add(right, s);
  }
  const c = cfg.conv_branch ? convHalf(ps, `${name}.conv33conv33conv11`, left, cfg, ctx) : left;
  return tf.add(channelShuffle(tf.concat([c, s], 3), 2), x);
}

/**
 * Builds a MedMamba network with parameters drawn from `seed` (stream "init").
 * The same config and seed give bitwise-identical initial weights on every backend.
 */
export function buildMedMamba(cfg: ModelConfig, seed: number): MedMamba {
  validateModelConfig(cfg);
  const r = rng(seed, "init");
  const ps = new ParamStore();
  const dims = stageDims(cfg);
  initPatchEmbed(ps, "patch_embed", cfg.patch_size, cfg.in_channels, cfg.dim, r);
  cfg.depths.forEach((depth, i) => {
    for (let j = 0; j < depth; j++) initBlock(ps, `layers.${i}.blocks.${j}`, dims[i], cfg, r);
    if (i < cfg.depths.length - 1) initPatchMerging(ps, `layers.${i}.downsample`, dims[i], r);
  });
  const last = dims[dims.length - 1];
  if (cfg.head_norm) initLayerNorm(ps, "norm", last);
  initLinear(ps, "head", last, cfg.num_classes, true, r);

  const rates = dropPathRates(cfg);
  const ssDims = dims.map((d) => ss2dDims(d / 2, cfg.d_state, cfg.directions));

  const forward = (x: tf.Tensor4D, ctx: ForwardContext): tf.Tensor2D => {
    const [, h, w, c] = x.shape;
    if (h !== cfg.image_size || w !== cfg.image_size || c !== cfg.in_channels) {
      throw new StarmambaError(
        `input images are ${h}×${w}×${c} but the model expects ` +
          `${cfg.image_size}×${cfg.image_size}×${cfg.in_channels} (model.image_size / ` +
          `model.in_channels, data.size / data.channels must agree)`,
      );
    }
    let y = patchEmbed(ps, "patch_embed", x);
    let k = 0;
    cfg.depths.forEach((depth, i) => {
      for (let j = 0; j < depth; j++, k++) {
        y = block(ps, `layers.${i}.blocks.${j}`, y, cfg, ssDims[i], rates[k], ctx);
      }
      if (i < cfg.depths.length - 1) y = patchMerging(ps, `layers.${i}.downsample`, y);
    });
    if (cfg.head_norm) y = layerNorm(ps, "norm", y) as tf.Tensor4D;
    const pooled = tf.mean(y, [1, 2]);
    return linear(ps, "head", pooled, true) as tf.Tensor2D;
  };
  return { arch: MEDMAMBA_ARCH, config: cfg, params: ps, forward };
}

/** True when the block is the official code's (the variant notes of an export are empty). */
function officialBlock(cfg: ModelConfig): boolean {
  return cfg.directions === 4 && cfg.conv_pre_bn && !cfg.ssm_residual && !cfg.head_norm;
}

/** MedMamba in the network registry: every preset and switch of the `model` section. */
export const MEDMAMBA_ENTRY: NetworkEntry<ModelConfig> = {
  doc: "MedMamba (SS-Conv-SSM blocks: a conv half beside VMamba's SS2D); model.preset and " +
    "the switches of the model section",
  configFor: medmambaConfigFor,
  create: buildMedMamba,
  label: (cfg) => (cfg.preset === "tiny" ? "MedMamba-T" : cfg.preset),
  paper: "the MedMamba paper (Yue & Li 2024, arXiv:2403.03849)",
  summary: (cfg, parameters) =>
    `MedMamba, \`${cfg.preset}\` preset (C = ${cfg.dim}, depths ${cfg.depths.join("-")}), ` +
    `${parameters.toLocaleString("en")} parameters; ${
      officialBlock(cfg)
        ? "the official code's block"
        : "a variant of the official block (see `deno task export` metadata)"
    }`,
};
