/**
 * The config's TypeScript types. GENERATED from the declaration in lib/config/schema.ts and
 * lib/config/sections/ by lib/config/typescript.ts: do not edit; regenerate with
 * `deno run lib/config/typescript.ts > lib/config/types.ts`.
 * @module
 */

/** The resolved, validated config: every key, defaults filled in. */
export interface ExperimentConfig {
  /** name; results go to results/<experiment>/<version>/. Default `"experiment"`. */
  experiment: string;
  /** free text recorded in the result. Default `""`. */
  description: string;
  /** seeds data order, augmentation, init and DropPath. Default `1`; range [0, 2147483647]. */
  seed: number;
  /**
   * tfjs backend (cuda: starmamba's GPU backend, needs an NVIDIA GPU and nvcc). Default `"wasm"`.
   */
  backend: "wasm" | "cpu" | "cuda" | "webgpu" | "tensorflow" | "tensorflow-gpu";
  /** Data source, size and split (read by lib/data). */
  data: {
    /**
     * built-in synthetic sky, an ImageFolder on disk (<root>/<class>/<image>), or a catalogue CSV
     * (data.catalog) listing each cutout's path, label, frame, ra, dec. Default `"synthetic"`.
     */
    source: "synthetic" | "folder" | "catalog";
    /**
     * with data.source: catalog, the CSV relative to the config: columns path (image or FITS file
     * relative to the CSV or data.root), label, optional frame, ra, dec (degrees); other columns
     * are carried through to predictions.csv. Default `null`.
     */
    catalog: string | null;
    /**
     * with data.source: catalog, the class names its label column may hold (case-sensitive): a
     * label outside them stops the load with its line, and each must label some rows; list your own
     * for other classes (label order: sorted by name, as an ImageFolder's class folders). Default
     * `["galaxy","star"]`.
     */
    classes: string[];
    /**
     * what grouped splits and folds keep together: name (sky groups from ARIES-style file names),
     * frame, sky (cutouts within data.group_radius_arcsec of each other, transitively; needs
     * ra/dec), or column:<name> (a catalogue column). Default `"name"`.
     */
    group_by: string;
    /**
     * linking radius of group_by: sky (null: half a cutout's width at data.pixel_scale_arcsec).
     * Default `null`; range [0.001, 36000].
     */
    group_radius_arcsec: number | null;
    /**
     * pixel scale of the cutouts in arcsec, for the default sky-grouping radius. Default `null`;
     * range [0.001, 3600].
     */
    pixel_scale_arcsec: number | null;
    /** FITS cutouts: the HDU holding the image (0 = primary). Default `0`; range [0, 1000]. */
    fits_hdu: number;
    /**
     * per-cutout display stretch to [0, 1] before normalisation, as astropy defines them: identity
     * (values as read; JPEG/PNG are already in [0, 1]), minmax, linear (data.stretch_percentile
     * clip), asinh (data.asinh_a), zscale (IRAF). Default `"identity"`.
     */
    stretch: "identity" | "linear" | "minmax" | "asinh" | "zscale";
    /**
     * linear and asinh: the central percentile kept (astropy PercentileInterval; null = min to
     * max). Default `null`; range [50, 100].
     */
    stretch_percentile: number | null;
    /**
     * asinh softening a: asinh(x / a) / asinh(1 / a) (astropy AsinhStretch). Default `0.1`; range
     * [0.0001, 10].
     */
    asinh_a: number;
    /** zscale contrast (astropy ZScaleInterval). Default `0.25`; range [0.001, 10]. */
    zscale_contrast: number;
    /**
     * zscale: number of pixels sampled (astropy ZScaleInterval n_samples). Default `1000`; range
     * [10, 1000000].
     */
    zscale_samples: number;
    /**
     * ImageFolder root, relative to the config file (else $STARMAMBA_DATA); with data.source:
     * catalog, the folder the catalogue's paths start from (default: its own). Default `null`.
     */
    root: string | null;
    /** image side in pixels (multiple of 32). Default `64`; range [32, 1024]. */
    size: number;
    /**
     * keep only the central N×N pixels (multiple of 32; null = the whole image). Default `null`;
     * range [32, 1024].
     */
    center_crop: number | null;
    /**
     * channels = (cutout, median of all cutouts of its frame, their difference): the frame's PSF
     * template beside each cutout (needs channels 3 and frame_x_y_code file names). Default
     * `false`.
     */
    field_context: boolean;
    /** input channels. Default `3`. */
    channels: 1 | 3;
    /** images not of data.size: resize or reject. Default `"reject"`. */
    resize: "resize" | "reject";
    /** unreadable/stray/mis-sized files: stop, or skip and record. Default `"error"`. */
    on_bad_file: "error" | "skip";
    /** number of synthetic images. Default `2000`; range [20, 1000000]. */
    synthetic_n: number;
    /**
     * seed of the synthetic sky (fixed across training seeds). Default `1`; range [0, 2147483647].
     */
    synthetic_seed: number;
    /** synthetic class ratio. Default `0.25`; range [0.01, 0.99]. */
    galaxy_fraction: number;
    /**
     * random stratified split, grouped by sky position, or all: train on every labelled image with
     * no validation (a release model: the last weights are kept, EMA if on). Default `"random"`.
     */
    split: "random" | "grouped" | "all";
    /** validation share. Default `0.2`; range [0.05, 0.5]. */
    val_fraction: number;
    /**
     * locked test set file (deno task lock-test), relative to the config: its images are left out
     * of every split and fold; only `deno task evaluate --test` scores them. Default `null`.
     */
    test_set: string | null;
    /**
     * k > 1: this run is fold data.fold of k-fold cross-validation (grouped by sky position with
     * data.split: grouped); its validation images are the held-out fold. Default `0`; range [0,
     * 20].
     */
    kfold: number;
    /**
     * with data.kfold > 1: which fold (0-based) this run holds out. Default `null`; range [0, 19].
     */
    fold: number | null;
  };
  /** Network architecture, preset and switches (read by lib/model). */
  model: {
    /**
     * the network, by name: medmamba (lib/model/registry.ts lists every one). Default `"medmamba"`.
     */
    arch: string;
    /** cpu (C=32, 2-2-2-2), tiny = MedMamba-T, small, base. Default `"cpu"`. */
    preset: "cpu" | "tiny" | "small" | "base";
    /** override the preset's C. Default `null`; range [2, 1024]. */
    dim: number | null;
    /** override the preset's depths. Default `null`; range [1, 64]. */
    depths: [number, number, number, number] | null;
    /** PatchEmbed kernel = stride. Default `4`; range [1, 16]. */
    patch_size: number;
    /** SSM state size N. Default `16`; range [1, 64]. */
    d_state: number;
    /** scan directions K. Default `4`. */
    directions: 1 | 2 | 4;
    /** final DropPath rate. Default `0.1`; range [0, 0.9]. */
    drop_path_rate: number;
    /** conv half of each block. Default `true`. */
    conv_branch: boolean;
    /** SSM half of each block. Default `true`. */
    ssm_branch: boolean;
    /** leading BN of the conv half (official code). Default `true`. */
    conv_pre_bn: boolean;
    /** residual around the SSM half (paper text). Default `false`. */
    ssm_residual: boolean;
    /** LayerNorm before pooling (paper text). Default `false`. */
    head_norm: boolean;
    /**
     * resnet18's stem: small = conv 3×3 stride 1, no max-pool (64 px → 8×8 at layer4); imagenet =
     * torchvision's conv 7×7 stride 2 + max-pool (64 px → 2×2). Default `"small"`.
     */
    stem: "small" | "imagenet";
    /** selective-scan kernel: native C if it builds, else the TS loop. Default `"auto"`. */
    scan_kernel: "auto" | "native" | "loop";
  };
  /** Optimiser, schedule and class balance (read by lib/train). */
  train: {
    /** training epochs. Default `10`; range [1, 10000]. */
    epochs: number;
    /** images per step. Default `32`; range [1, 4096]. */
    batch_size: number;
    /** images per evaluation step. Default `64`; range [1, 4096]. */
    eval_batch_size: number;
    /**
     * evaluate on the 8 flips and quarter turns of each image and average the probabilities
     * (test-time augmentation; square images). Default `false`.
     */
    tta: boolean;
    /** Adam or AdamW (decoupled weight decay). Default `"adam"`. */
    optimizer: "adam" | "adamw";
    /** peak learning rate. Default `0.00005`; range [0, 10]. */
    lr: number;
    /** AdamW decay. Default `0`; range [0, 1]. */
    weight_decay: number;
    /** LR schedule after warm-up. Default `"constant"`. */
    schedule: "constant" | "cosine";
    /** linear warm-up length. Default `0`; range [0, 1000]. */
    warmup_epochs: number;
    /** cosine floor. Default `0`; range [0, 10]. */
    min_lr: number;
    /** weighted sampler (reference), weighted loss, or none. Default `"sampler"`. */
    class_balance: "sampler" | "loss" | "none";
    /**
     * exponent p of the class weights (N/count)^p used by class_balance sampler or loss: 1 balances
     * the classes fully (reference), 0 is no balancing, 0.5 half-way in log odds. Default `1`;
     * range [0, 1].
     */
    class_weight_power: number;
    /** label smoothing. Default `0`; range [0, 0.5]. */
    label_smoothing: number;
    /**
     * evaluate and save an exponential moving average of the weights with this decay (e.g. 0.998;
     * null = the raw weights). Default `null`; range [0, 0.99999].
     */
    ema_decay: number | null;
    /**
     * which epoch's weights the run keeps: best (highest validation accuracy: chosen on the images
     * that score it) or last (nothing chosen; cross-validation folds use it). Default `"best"`.
     */
    keep: "best" | "last";
    /** cap steps per epoch (default: one pass). Default `null`; range [1, 1000000]. */
    steps_per_epoch: number | null;
    /**
     * data-parallel worker processes: only 1 (the native kernels already use every core; see
     * train.threads). Default `1`; range [1, 1].
     */
    workers: number;
    /**
     * threads of the native kernels (matmuls, convolutions, SS2D, Adam); 0 = OMP_NUM_THREADS or one
     * per core. Results are bitwise the same for any value. Runs that share a machine: cores / runs
     * each (oversubscribed, two runs on 2 cores did half the work of one; docs/performance.md).
     * Default `0`; range [0, 256].
     */
    threads: number;
  };
  /** Per-sample augmentation and normalisation (read by lib/data's augmentation). */
  augment: {
    /** master switch. Default `true`. */
    enabled: boolean;
    /** horizontal flip p = 0.5. Default `true`. */
    hflip: boolean;
    /** vertical flip p = 0.5. Default `false`. */
    vflip: boolean;
    /** random multiples of 90°. Default `false`. */
    rot90: boolean;
    /** random rotation ±deg. Default `15`; range [0, 180]. */
    rotate_deg: number;
    /** RandomResizedCrop scale range (null = off). Default `[0.8,1]`; range [0.01, 1]. */
    crop_scale: [number, number] | null;
    /** brightness jitter. Default `0.2`; range [0, 1]. */
    brightness: number;
    /** contrast jitter. Default `0.2`; range [0, 1]. */
    contrast: number;
    /** random grayscale probability. Default `0.1`; range [0, 1]. */
    grayscale_p: number;
    /** Gaussian noise σ after normalisation. Default `0.1`; range [0, 2]. */
    noise_std: number;
    /** normalisation mean. Default `0.5`; range [-10, 10]. */
    normalize_mean: number;
    /** normalisation std. Default `0.5`; range [0.000001, 10]. */
    normalize_std: number;
  };
  /** Where results go and how often state is saved (read by the runner). */
  output: {
    /** published results folder (relative to the project). Default `"results"`. */
    dir: string;
    /** unpublished runs go here (git-ignored). Default `"scratch"`. */
    scratch_dir: string;
    /** write to output.dir (citable) instead of scratch. Default `false`. */
    publish: boolean;
    /** save resumable state every N steps. Default `50`; range [1, 1000000]. */
    checkpoint_every: number;
  };
}

/** The `data:` section of the config. Data source, size and split (read by lib/data). */
export type DataSection = ExperimentConfig["data"];

/**
 * The `model:` section of the config. Network architecture, preset and switches (read by
 * lib/model).
 */
export type ModelSection = ExperimentConfig["model"];

/**
 * The `train:` section of the config. Optimiser, schedule and class balance (read by lib/train).
 */
export type TrainSection = ExperimentConfig["train"];

/**
 * The `augment:` section of the config. Per-sample augmentation and normalisation (read by
 * lib/data's augmentation).
 */
export type AugmentSection = ExperimentConfig["augment"];

/**
 * The `output:` section of the config. Where results go and how often state is saved (read by the
 * runner).
 */
export type OutputSection = ExperimentConfig["output"];
