/**
 * Model configuration and the preset registry (in the manner of timm's model registry).
 * @module
 */
import { StarmambaError } from "../util/errors.ts";
import type { ExperimentConfig } from "../config/schema.ts";
import type { NetworkShape } from "./network.ts";

/** Everything that defines a MedMamba network's shape. */
export interface ModelConfig {
  /** Preset name the config started from (informational). */
  preset: string;
  /** Embedding dim C of stage 1; stage i has C·2^i channels. */
  dim: number;
  /** Number of SS-Conv-SSM blocks per stage. */
  depths: number[];
  /** Patch size of the PatchEmbed convolution (kernel = stride). */
  patch_size: number;
  /** Input channels (1 or 3). */
  in_channels: number;
  /** Output classes. */
  num_classes: number;
  /** Input side in pixels (a multiple of 32). */
  image_size: number;
  /** SSM state size N. */
  d_state: number;
  /** Scan directions K: 1 (row-major), 2 (+ reversed), 4 (+ column-major, both reversed). */
  directions: 1 | 2 | 4;
  /** Final DropPath rate; rates rise linearly from 0 over all blocks. */
  drop_path_rate: number;
  /** Conv half of each block on (off: that half passes through unchanged). */
  conv_branch: boolean;
  /** SSM half of each block on (off: that half passes through unchanged). */
  ssm_branch: boolean;
  /** Leading BatchNorm of the conv half (official code: on). */
  conv_pre_bn: boolean;
  /** Residual around LN → SS2D → DropPath (paper text: on; official code: off). */
  ssm_residual: boolean;
  /** LayerNorm before global pooling (paper text: on; official code: off). */
  head_norm: boolean;
}

/** Presets: MedMamba-T/S/B as in the paper, and `cpu`, a small net for CPU experiments. */
export const PRESETS: Record<string, { dim: number; depths: number[] }> = {
  cpu: { dim: 32, depths: [2, 2, 2, 2] },
  tiny: { dim: 96, depths: [2, 2, 4, 2] },
  small: { dim: 96, depths: [2, 2, 8, 2] },
  base: { dim: 128, depths: [2, 2, 12, 2] },
};

/** Defaults of the official MedMamba code (the variant that produced the published result). */
export const MODEL_DEFAULTS: Omit<ModelConfig, "preset" | "dim" | "depths"> = {
  patch_size: 4,
  in_channels: 3,
  num_classes: 2,
  image_size: 64,
  d_state: 16,
  directions: 4,
  drop_path_rate: 0.1,
  conv_branch: true,
  ssm_branch: true,
  conv_pre_bn: true,
  ssm_residual: false,
  head_norm: false,
};

/** Builds a full ModelConfig from a preset name plus overrides, validating it. */
export function modelConfig(preset: string, overrides: Partial<ModelConfig> = {}): ModelConfig {
  const p = PRESETS[preset];
  if (!p) {
    throw new StarmambaError(
      `unknown model preset "${preset}": choose one of ${Object.keys(PRESETS).join(", ")}`,
    );
  }
  const cfg: ModelConfig = { preset, ...MODEL_DEFAULTS, ...p, ...overrides };
  validateModelConfig(cfg);
  return cfg;
}

/** The MedMamba settings an experiment config's model section gives (the data's are added apart). */
export function modelOverrides(m: ExperimentConfig["model"]): Partial<ModelConfig> {
  const over: Partial<ModelConfig> = {
    patch_size: m.patch_size,
    d_state: m.d_state,
    directions: m.directions,
    drop_path_rate: m.drop_path_rate,
    conv_branch: m.conv_branch,
    ssm_branch: m.ssm_branch,
    conv_pre_bn: m.conv_pre_bn,
    ssm_residual: m.ssm_residual,
    head_norm: m.head_norm,
  };
  if (m.dim !== null) over.dim = m.dim;
  if (m.depths !== null) over.depths = m.depths;
  return over;
}

/** MedMamba's config from an experiment's model section and the data's shape, validated. */
export function medmambaConfigFor(m: ExperimentConfig["model"], shape: NetworkShape): ModelConfig {
  return modelConfig(m.preset, {
    ...modelOverrides(m),
    in_channels: shape.in_channels,
    num_classes: shape.num_classes,
    image_size: shape.image_size,
  });
}

/** Throws a StarmambaError naming the offending key if the config can't build a network. */
export function validateModelConfig(cfg: ModelConfig): void {
  const stride = cfg.patch_size * 2 ** (cfg.depths.length - 1);
  const mult = Math.max(32, stride);
  if (cfg.image_size % mult !== 0) {
    throw new StarmambaError(
      `model.image_size ${cfg.image_size} is not a multiple of ${mult} (patch ${cfg.patch_size} ` +
        `× 2^${cfg.depths.length - 1} merges): use e.g. ${
          Math.max(mult, Math.round(cfg.image_size / mult) * mult)
        }`,
    );
  }
  if (![1, 2, 4].includes(cfg.directions)) {
    throw new StarmambaError(`model.directions must be 1, 2 or 4 (got ${cfg.directions})`);
  }
  if (cfg.dim % 2 !== 0) throw new StarmambaError(`model.dim must be even (got ${cfg.dim})`);
  if (!cfg.conv_branch && !cfg.ssm_branch) {
    throw new StarmambaError("model.conv_branch and model.ssm_branch can't both be off");
  }
}
