/**
 * The `augment:` section (per-sample augmentation and normalisation), owned by lib/data's
 * augmentation pipeline (lib/data/augment.ts). Declared under lib/config because imports flow
 * config → data.
 * @module
 */
import type { SectionSpec } from "../spec.ts";

/** Per-sample augmentation and normalisation. */
export const AUGMENT_SECTION = {
  enabled: { type: "bool", default: true, doc: "master switch" },
  hflip: { type: "bool", default: true, doc: "horizontal flip p = 0.5" },
  vflip: { type: "bool", default: false, doc: "vertical flip p = 0.5" },
  rot90: { type: "bool", default: false, doc: "random multiples of 90°" },
  rotate_deg: { type: "number", default: 15, min: 0, max: 180, doc: "random rotation ±deg" },
  crop_scale: {
    type: "number[]",
    default: [0.8, 1.0],
    nullable: true,
    length: 2,
    min: 0.01,
    max: 1,
    doc: "RandomResizedCrop scale range (null = off)",
  },
  brightness: { type: "number", default: 0.2, min: 0, max: 1, doc: "brightness jitter" },
  contrast: { type: "number", default: 0.2, min: 0, max: 1, doc: "contrast jitter" },
  grayscale_p: {
    type: "number",
    default: 0.1,
    min: 0,
    max: 1,
    doc: "random grayscale probability",
  },
  noise_std: {
    type: "number",
    default: 0.1,
    min: 0,
    max: 2,
    doc: "Gaussian noise σ after normalisation",
  },
  normalize_mean: { type: "number", default: 0.5, min: -10, max: 10, doc: "normalisation mean" },
  normalize_std: { type: "number", default: 0.5, min: 1e-6, max: 10, doc: "normalisation std" },
} as const satisfies SectionSpec;
