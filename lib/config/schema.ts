/**
 * The experiment config schema: every key, its type, range, default and meaning. The loader
 * validates YAML against it; `--help` and docs are generated from the same table.
 * @module
 */

/** Type and constraints of one config key. */
export interface FieldSpec {
  /**
   * Value type; "int[]" and "number[]" are lists; "any" is kept as written for the caller to
   * check (a sweep's free mapping of overrides, its list of variants).
   */
  type: "int" | "number" | "bool" | "string" | "enum" | "int[]" | "number[]" | "string[]" | "any";
  /** Value used when the key is absent. */
  default: unknown;
  /** Meaning of the key, shown by `--help` and in the docs. */
  doc: string;
  /** Inclusive lower bound of a number (of each element for lists). */
  min?: number;
  /** Inclusive upper bound of a number (of each element for lists). */
  max?: number;
  /** Allowed values for enums. */
  values?: readonly (string | number)[];
  /** An explicit null is allowed (and kept). */
  nullable?: boolean;
  /** Exact length for arrays. */
  length?: number;
  /**
   * Added after results were published: the key is left out of the config hash while it holds
   * its default, so those results keep their hash (and sweeps still find their finished runs).
   */
  hashOnlyIfSet?: boolean;
}

/** A section of the config: a map of keys to field specs or nested sections. */
export type SectionSpec = { [key: string]: FieldSpec | SectionSpec };

/** True if `s` is a leaf field spec rather than a section. */
export function isField(s: FieldSpec | SectionSpec): s is FieldSpec {
  return typeof (s as FieldSpec).type === "string" && "doc" in s;
}

/** The classes a catalogue's labels come from unless `data.classes` lists others. */
export const DEFAULT_CLASSES: readonly string[] = Object.freeze(["galaxy", "star"]);

/** The whole schema. Defaults are the official MedMamba recipe where one exists. */
export const SCHEMA: SectionSpec = {
  experiment: {
    type: "string",
    default: "experiment",
    doc: "name; results go to results/<experiment>/<version>/",
  },
  description: { type: "string", default: "", doc: "free text recorded in the result" },
  seed: {
    type: "int",
    default: 1,
    min: 0,
    max: 2 ** 31 - 1,
    doc: "seeds data order, augmentation, init and DropPath",
  },
  backend: {
    type: "enum",
    default: "wasm",
    values: ["wasm", "cpu", "cuda", "webgpu", "tensorflow", "tensorflow-gpu"],
    doc: "tfjs backend (cuda: starmamba's GPU backend, needs an NVIDIA GPU and nvcc)",
  },
  /** Data source, size and split. */
  data: {
    source: {
      type: "enum",
      default: "synthetic",
      values: ["synthetic", "folder", "catalog"],
      doc: "built-in synthetic sky, an ImageFolder on disk (<root>/<class>/<image>), or a " +
        "catalogue CSV (data.catalog) listing each cutout's path, label, frame, ra, dec",
    },
    catalog: {
      type: "string",
      default: null,
      nullable: true,
      hashOnlyIfSet: true,
      doc: "with data.source: catalog, the CSV relative to the config: columns path (image or " +
        "FITS file relative to the CSV or data.root), label, optional frame, ra, dec (degrees); other " +
        "columns are carried through to predictions.csv",
    },
    classes: {
      type: "string[]",
      default: [...DEFAULT_CLASSES],
      hashOnlyIfSet: true,
      doc: "with data.source: catalog, the class names its label column may hold (case-" +
        "sensitive): a label outside them stops the load with its line, and each must label " +
        "some rows; list your own for other classes (label order: sorted by name, as an " +
        "ImageFolder's class folders)",
    },
    group_by: {
      type: "string",
      default: "name",
      hashOnlyIfSet: true,
      doc: "what grouped splits and folds keep together: name (sky groups from ARIES-style " +
        "file names), frame, sky (cutouts within data.group_radius_arcsec of each other, " +
        "transitively; needs ra/dec), or column:<name> (a catalogue column)",
    },
    group_radius_arcsec: {
      type: "number",
      default: null,
      nullable: true,
      min: 0.001,
      max: 36000,
      hashOnlyIfSet: true,
      doc: "linking radius of group_by: sky (null: half a cutout's width at " +
        "data.pixel_scale_arcsec)",
    },
    pixel_scale_arcsec: {
      type: "number",
      default: null,
      nullable: true,
      min: 0.001,
      max: 3600,
      hashOnlyIfSet: true,
      doc: "pixel scale of the cutouts in arcsec, for the default sky-grouping radius",
    },
    fits_hdu: {
      type: "int",
      default: 0,
      min: 0,
      max: 1000,
      hashOnlyIfSet: true,
      doc: "FITS cutouts: the HDU holding the image (0 = primary)",
    },
    stretch: {
      type: "enum",
      default: "identity",
      values: ["identity", "linear", "minmax", "asinh", "zscale"],
      hashOnlyIfSet: true,
      doc: "per-cutout display stretch to [0, 1] before normalisation, as astropy defines " +
        "them: identity (values as read; JPEG/PNG are already in [0, 1]), minmax, linear " +
        "(data.stretch_percentile clip), asinh (data.asinh_a), zscale (IRAF)",
    },
    stretch_percentile: {
      type: "number",
      default: null,
      nullable: true,
      min: 50,
      max: 100,
      hashOnlyIfSet: true,
      doc: "linear and asinh: the central percentile kept (astropy PercentileInterval; " +
        "null = min to max)",
    },
    asinh_a: {
      type: "number",
      default: 0.1,
      min: 0.0001,
      max: 10,
      hashOnlyIfSet: true,
      doc: "asinh softening a: asinh(x / a) / asinh(1 / a) (astropy AsinhStretch)",
    },
    zscale_contrast: {
      type: "number",
      default: 0.25,
      min: 0.001,
      max: 10,
      hashOnlyIfSet: true,
      doc: "zscale contrast (astropy ZScaleInterval)",
    },
    zscale_samples: {
      type: "int",
      default: 1000,
      min: 10,
      max: 1000000,
      hashOnlyIfSet: true,
      doc: "zscale: number of pixels sampled (astropy ZScaleInterval n_samples)",
    },
    root: {
      type: "string",
      default: null,
      nullable: true,
      doc: "ImageFolder root, relative to the config file (else $STARMAMBA_DATA); with " +
        "data.source: catalog, the folder the catalogue's paths start from (default: its own)",
    },
    size: {
      type: "int",
      default: 64,
      min: 32,
      max: 1024,
      doc: "image side in pixels (multiple of 32)",
    },
    center_crop: {
      type: "int",
      default: null,
      nullable: true,
      min: 32,
      max: 1024,
      doc: "keep only the central N×N pixels (multiple of 32; null = the whole image)",
      hashOnlyIfSet: true,
    },
    field_context: {
      type: "bool",
      default: false,
      doc: "channels = (cutout, median of all cutouts of its frame, their difference): the " +
        "frame's PSF template beside each cutout (needs channels 3 and frame_x_y_code file names)",
      hashOnlyIfSet: true,
    },
    channels: { type: "enum", default: 3, values: [1, 3], doc: "input channels" },
    resize: {
      type: "enum",
      default: "reject",
      values: ["resize", "reject"],
      doc: "images not of data.size: resize or reject",
    },
    on_bad_file: {
      type: "enum",
      default: "error",
      values: ["error", "skip"],
      doc: "unreadable/stray/mis-sized files: stop, or skip and record",
    },
    synthetic_n: {
      type: "int",
      default: 2000,
      min: 20,
      max: 1000000,
      doc: "number of synthetic images",
    },
    synthetic_seed: {
      type: "int",
      default: 1,
      min: 0,
      max: 2 ** 31 - 1,
      doc: "seed of the synthetic sky (fixed across training seeds)",
    },
    galaxy_fraction: {
      type: "number",
      default: 0.25,
      min: 0.01,
      max: 0.99,
      doc: "synthetic class ratio",
    },
    split: {
      type: "enum",
      default: "random",
      values: ["random", "grouped", "all"],
      doc: "random stratified split, grouped by sky position, or all: train on every labelled " +
        "image with no validation (a release model: the last weights are kept, EMA if on)",
    },
    val_fraction: { type: "number", default: 0.2, min: 0.05, max: 0.5, doc: "validation share" },
    test_set: {
      type: "string",
      default: null,
      nullable: true,
      hashOnlyIfSet: true,
      doc: "locked test set file (deno task lock-test), relative to the config: its images are " +
        "left out of every split and fold; only `deno task evaluate --test` scores them",
    },
    kfold: {
      type: "int",
      default: 0,
      min: 0,
      max: 20,
      doc: "k > 1: this run is fold data.fold of k-fold cross-validation (grouped by sky " +
        "position with data.split: grouped); its validation images are the held-out fold",
    },
    fold: {
      type: "int",
      default: null,
      nullable: true,
      min: 0,
      max: 19,
      hashOnlyIfSet: true,
      doc: "with data.kfold > 1: which fold (0-based) this run holds out",
    },
  },
  /** Network preset and switches. */
  model: {
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
    scan_kernel: {
      type: "enum",
      default: "auto",
      values: ["auto", "native", "loop"],
      doc: "selective-scan kernel: native C if it builds, else the TS loop",
    },
  },
  /** Optimiser, schedule and class balance. */
  train: {
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
        "OMP_NUM_THREADS or one per core. Results are bitwise the same for any value",
    },
  },
  /** Per-sample augmentation and normalisation. */
  augment: {
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
  },
  output: {
    dir: {
      type: "string",
      default: "results",
      doc: "published results folder (relative to the project)",
    },
    scratch_dir: {
      type: "string",
      default: "scratch",
      doc: "unpublished runs go here (git-ignored)",
    },
    publish: {
      type: "bool",
      default: false,
      doc: "write to output.dir (citable) instead of scratch",
    },
    checkpoint_every: {
      type: "int",
      default: 50,
      min: 1,
      max: 1000000,
      doc: "save resumable state every N steps",
    },
  },
};

/** The resolved, validated config. */
export interface ExperimentConfig {
  /** Name; results go to <output>/<experiment>/v<N>/. */
  experiment: string;
  /** Free text recorded in the result. */
  description: string;
  /** The one seed of the run. */
  seed: number;
  /** tfjs backend. */
  backend: string;
  /** Data source, size and split. */
  data: {
    source: "synthetic" | "folder" | "catalog";
    root: string | null;
    /** With source catalog: the catalogue CSV, relative to the config. */
    catalog: string | null;
    /** With source catalog: the class names its labels may hold. */
    classes: string[];
    /** name | frame | sky | column:<name> (see lib/data/catalog.ts GroupBy). */
    group_by: string;
    group_radius_arcsec: number | null;
    pixel_scale_arcsec: number | null;
    fits_hdu: number;
    stretch: "identity" | "linear" | "minmax" | "asinh" | "zscale";
    stretch_percentile: number | null;
    asinh_a: number;
    zscale_contrast: number;
    zscale_samples: number;
    size: number;
    center_crop: number | null;
    field_context: boolean;
    channels: 1 | 3;
    resize: "resize" | "reject";
    on_bad_file: "error" | "skip";
    synthetic_n: number;
    synthetic_seed: number;
    galaxy_fraction: number;
    split: "random" | "grouped" | "all";
    /** Locked test set file, relative to the config (null: none). */
    test_set: string | null;
    val_fraction: number;
    kfold: number;
    /** With kfold > 1: the held-out fold (0-based). */
    fold: number | null;
  };
  /** Network preset and switches. */
  model: {
    /** The network's name in the registry (lib/model/registry.ts). */
    arch: string;
    preset: string;
    dim: number | null;
    depths: number[] | null;
    patch_size: number;
    d_state: number;
    directions: 1 | 2 | 4;
    drop_path_rate: number;
    conv_branch: boolean;
    ssm_branch: boolean;
    conv_pre_bn: boolean;
    ssm_residual: boolean;
    head_norm: boolean;
    scan_kernel: "auto" | "native" | "loop" | "cuda";
  };
  /** Optimiser, schedule and class balance. */
  train: {
    epochs: number;
    batch_size: number;
    eval_batch_size: number;
    tta: boolean;
    optimizer: "adam" | "adamw";
    lr: number;
    weight_decay: number;
    schedule: "constant" | "cosine";
    warmup_epochs: number;
    min_lr: number;
    class_balance: "sampler" | "loss" | "none";
    class_weight_power: number;
    label_smoothing: number;
    ema_decay: number | null;
    /** Which epoch's weights the run keeps: the best on validation, or the last. */
    keep: "best" | "last";
    steps_per_epoch: number | null;
    workers: number;
    threads: number;
  };
  /** Per-sample augmentation and normalisation. */
  augment: {
    enabled: boolean;
    hflip: boolean;
    vflip: boolean;
    rot90: boolean;
    rotate_deg: number;
    crop_scale: [number, number] | null;
    brightness: number;
    contrast: number;
    grayscale_p: number;
    noise_std: number;
    normalize_mean: number;
    normalize_std: number;
  };
  /** Where results go and how often state is saved. */
  output: { dir: string; scratch_dir: string; publish: boolean; checkpoint_every: number };
}
