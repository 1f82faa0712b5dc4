/**
 * The in-memory dataset every loader produces and every consumer (splits, augmentation, training)
 * reads.
 * @module
 */

/** Images as float32 in [0, 1], NHWC, with integer class labels. */
export interface Dataset {
  /** n × height × width × channels, row-major (NHWC), values in [0, 1]. */
  images: Float32Array;
  /** Class index per image, into {@link Dataset.classNames}. */
  labels: Int32Array;
  /** Number of images. */
  n: number;
  /** Image height in pixels. */
  height: number;
  /** Image width in pixels. */
  width: number;
  /** Channels per pixel (1 or 3). */
  channels: number;
  /** Class names sorted by name (ImageFolder convention): ["galaxy", "star"]. */
  classNames: string[];
  /** Source path per image relative to the data root, when loaded from disk. */
  files?: string[];
  /** sha256 fingerprint of the data (paths + bytes, or generator parameters). */
  fingerprint?: string;
  /** Files skipped as unreadable / wrong size under `on_bad_file: skip`. */
  skipped?: string[];
  /**
   * Frame (exposure) of each image, when the source says so (a catalogue's `frame` column); else
   * field context and `group_by: frame` read frames from ARIES-style file names.
   */
  frames?: string[];
  /**
   * Group key of each image for grouped splits and folds (a catalogue's `data.group_by`); else
   * the sky group parsed from ARIES-style file names.
   */
  groups?: string[];
  /** The catalogue's own columns per image, carried through to predictions.csv. */
  table?: CatalogTable;
}

/** A catalogue's columns, one row per image in dataset order (all values as written). */
export interface CatalogTable {
  /** Column names in the catalogue's order. */
  columns: string[];
  /** rows[i][j]: image i's value in column j. */
  rows: string[][];
}

/** A file that could not be used, and why. */
export interface BadFile {
  /** Path relative to the data root, with "/" separators (a class folder ends in "/"). */
  file: string;
  /** Human-readable reason. */
  reason: string;
  /** Category, which decides the "how to fix" advice. */
  kind: "stray" | "corrupt" | "size" | "empty";
}
