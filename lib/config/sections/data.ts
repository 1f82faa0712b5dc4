/**
 * The `data:` section (source, size, split, FITS stretch, catalogue grouping), owned by lib/data:
 * its loaders, splits and preprocessing read these keys. Declared here, under lib/config, because
 * the loader validates and hashes every section and imports flow config → data, never back.
 * @module
 */
import type { SectionSpec } from "../spec.ts";

/** The classes a catalogue's labels come from unless `data.classes` lists others. */
export const DEFAULT_CLASSES: readonly string[] = Object.freeze(["galaxy", "star"]);

/** Data source, size and split. */
export const DATA_SECTION = {
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
} as const satisfies SectionSpec;
