/**
 * The `model:` section (architecture, preset and switches), owned by lib/model: its registry and
 * presets read these keys. Declared under lib/config because imports flow config → model.
 * @module
 */
import type { SectionSpec } from "../spec.ts";

/** Network preset and switches. */
export const MODEL_SECTION = {
  arch: {
    type: "string",
    default: "medmamba",
    doc: "the network, by name: medmamba (lib/model/registry.ts lists every one)",
    hashOnlyIfSet: true,
  },
  preset: {
    type: "enum",
    default: "cpu",
    values: ["cpu", "tiny", "small", "base"],
    doc: "cpu (C=32, 2-2-2-2), tiny = MedMamba-T, small, base",
  },
  dim: {
    type: "int",
    default: null,
    nullable: true,
    min: 2,
    max: 1024,
    doc: "override the preset's C",
  },
  depths: {
    type: "int[]",
    default: null,
    nullable: true,
    length: 4,
    min: 1,
    max: 64,
    doc: "override the preset's depths",
  },
  patch_size: { type: "int", default: 4, min: 1, max: 16, doc: "PatchEmbed kernel = stride" },
  d_state: { type: "int", default: 16, min: 1, max: 64, doc: "SSM state size N" },
  directions: { type: "enum", default: 4, values: [1, 2, 4], doc: "scan directions K" },
  drop_path_rate: { type: "number", default: 0.1, min: 0, max: 0.9, doc: "final DropPath rate" },
  conv_branch: { type: "bool", default: true, doc: "conv half of each block" },
  ssm_branch: { type: "bool", default: true, doc: "SSM half of each block" },
  conv_pre_bn: {
    type: "bool",
    default: true,
    doc: "leading BN of the conv half (official code)",
  },
  ssm_residual: {
    type: "bool",
    default: false,
    doc: "residual around the SSM half (paper text)",
  },
  head_norm: { type: "bool", default: false, doc: "LayerNorm before pooling (paper text)" },
  stem: {
    type: "enum",
    default: "small",
    values: ["small", "imagenet"],
    doc: "resnet18's stem: small = conv 3×3 stride 1, no max-pool (64 px → 8×8 at layer4); " +
      "imagenet = torchvision's conv 7×7 stride 2 + max-pool (64 px → 2×2)",
    hashOnlyIfSet: true,
  },
  scan_kernel: {
    type: "enum",
    default: "auto",
    values: ["auto", "native", "loop"],
    doc: "selective-scan kernel: native C if it builds, else the TS loop",
  },
} as const satisfies SectionSpec;
