/**
 * Which display stretch `deno task classify` gives a frame's cutouts (`--stretch`). The stretch
 * is applied by the one pipeline's decode (lib/frames/cutouts.ts → lib/data: per cutout, before
 * the field context and the normalisation); this module only chooses its name.
 *
 * - A model trained on FITS cutouts with a stretch (data.stretch: asinh, zscale …) gets its own,
 *   unless `--stretch` is given (then a warning: it differs from training).
 * - A model trained on display images (data.stretch: identity: JPEG or PNG cutouts already in
 *   [0, 1], as the released ARIES models) learnt what a display stretch made of the sky. A frame
 *   already in [0, 1] is given as read; a frame of physical values (ADU, e/s) gets, by default,
 *   {@link DISPLAY_STRETCH}: zscale per cutout. That is an assumption, not a fact of the ARIES
 *   pipeline: measured on 300 ARIES JPEGs, every cutout spans 0…255 with a few pixels clipped at
 *   each end (median 7 pixels ≤ 2 and 18 pixels ≥ 253 per cutout; the sky's median ≈ 87/255) —
 *   what a per-cutout clipping stretch such as IRAF's zscale gives, not a min-max.
 *
 * Measured with aries-cpu-ctx-s1 on the two synthetic fixture frames (tests/fixtures/frames:
 * astropy Moffat/Gaussian stars and Sérsic galaxies at 0.5″/pixel — NOT ARIES frames, so this
 * says which stretch is sane, not how well ARIES frames are classified), sources detected,
 * catalogue rows matched to the truth within 2 px (145 of 149 truth sources; 23 galaxies, so
 * "everything a star" scores 122/145 = 84.1%). tests/classify_stretch_test.ts recomputes it:
 *
 *     stretch    accuracy          galaxy completeness   galaxy purity
 *     identity   116/145  80.0%    12/23                 12/30
 *     zscale     138/145  95.2%    17/23                 17/18
 *     asinh       93/145  64.1%    21/23                 21/71
 *     minmax      87/145  60.0%    21/23                 21/77
 *
 * (asinh and minmax here: the model's asinh_a 0.1 over the cutout's min…max, and a plain
 * min…max: both let the brightest pixel set the scale, which dims the sky and the wings that
 * tell a galaxy from a star.)
 * @module
 */
import type { StretchName } from "../data/stretch.ts";
import type { FramePixels } from "../frames/cutouts.ts";
import { StarmambaError } from "../util/errors.ts";

/** The stretches `--stretch` accepts (data.stretch's names). */
export const STRETCH_NAMES: readonly StretchName[] = [
  "identity",
  "linear",
  "minmax",
  "asinh",
  "zscale",
];

/** The default display stretch for a model trained on display images, on a physical frame. */
export const DISPLAY_STRETCH: StretchName = "zscale";

/** catalog.json's and --help's words for {@link DISPLAY_STRETCH}. */
export const DISPLAY_STRETCH_NOTE =
  "display stretch for a model trained on display images: zscale per cutout (assumed; ARIES " +
  "cutouts look like it)";

/** A frame whose finite values stay within this margin of [0, 1] is taken as a display image. */
const DISPLAY_MARGIN = 0.05;

/** How a call chooses each frame's stretch. */
export interface StretchPolicy {
  /** `--stretch`, or null. */
  given: StretchName | null;
  /** The model's data.stretch. */
  trained: StretchName;
  /** Set once the "identity on physical values" warning was given. */
  warned: boolean;
}

/**
 * The call's stretch policy; warns (once) when `--stretch` overrides a model trained with a
 * stretch of its own.
 * @throws {StarmambaError} for a name that is not a stretch.
 */
export function stretchPolicy(
  trained: StretchName,
  given: string | undefined,
  warn: (message: string) => void,
): StretchPolicy {
  if (given !== undefined && !STRETCH_NAMES.includes(given as StretchName)) {
    throw new StarmambaError(`--stretch ${given}: give one of ${STRETCH_NAMES.join(", ")}`);
  }
  const g = (given ?? null) as StretchName | null;
  if (g !== null && trained !== "identity" && g !== trained) {
    warn(
      `warning: --stretch ${g} differs from the stretch the model was trained with ` +
        `(data.stretch: ${trained}); its probabilities are calibrated for ${trained}`,
    );
  }
  return { given: g, trained, warned: false };
}

/**
 * The stretch of one frame's cutouts: `--stretch`, else the model's own, else — for a model
 * trained on display images and a frame of physical values — {@link DISPLAY_STRETCH}.
 * Warns once per call when a display-image model is given physical values as read.
 */
export function frameStretch(
  policy: StretchPolicy,
  path: string,
  pixels: FramePixels,
  warn: (message: string) => void,
): StretchName {
  const stretch = policy.given ?? policy.trained;
  if (stretch !== "identity" || policy.trained !== "identity") return stretch;
  const [lo, hi] = finiteRange(pixels.data);
  if (lo >= -DISPLAY_MARGIN && hi <= 1 + DISPLAY_MARGIN) return "identity";
  if (policy.given === null) return DISPLAY_STRETCH;
  if (!policy.warned) {
    policy.warned = true;
    warn(
      `warning: --stretch identity gives the model pixel values as read, but it learnt from ` +
        `display images in [0, 1] (data.stretch: identity, e.g. JPEG) and ${path} spans ` +
        `[${lo.toPrecision(4)}, ${hi.toPrecision(4)}]: its probabilities mean little; leave ` +
        `--stretch out for the ${DISPLAY_STRETCH} display stretch`,
    );
  }
  return "identity";
}

/** catalog.json's `stretch`: what was given, what the model learnt with, and the rule. */
export function stretchRecord(policy: StretchPolicy): Record<string, unknown> {
  const rule = policy.given !== null
    ? `given (--stretch ${policy.given})` +
      (policy.trained !== "identity" && policy.given !== policy.trained
        ? `; differs from the model's training stretch (${policy.trained})`
        : "")
    : policy.trained !== "identity"
    ? `the model's own (data.stretch: ${policy.trained})`
    : `frames already in [0, 1]: as read (identity); other frames: ${DISPLAY_STRETCH_NOTE}`;
  return { given: policy.given, trained: policy.trained, rule };
}

/** The smallest and largest finite value ([Infinity, -Infinity] when none is). */
function finiteRange(data: Float32Array): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of data) {
    if (v < lo) lo = v; // NaN compares false both ways: blank pixels are skipped
    if (v > hi) hi = v;
  }
  return [lo, hi];
}
