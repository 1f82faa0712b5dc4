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
