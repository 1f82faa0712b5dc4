/**
 * Field context: give the network the frame a cutout came from. Whether a compact source is a
 * star or a small galaxy depends on the seeing of its frame — a star in a bad-seeing frame looks
 * like a compact galaxy in a good one — and a single 64×64 cutout rarely holds a reference star.
 * Every cutout is centred on a source and three in four sources are stars, so the pixel-wise
 * median of all cutouts of one frame is a template of that frame's point-spread function (and its
 * sky level and display stretch). The ARIES cutouts store the same grey image in R, G and B, so
 * two channels are free to carry it: channel 0 the cutout, 1 the frame's median cutout, 2 their
 * difference (0.5 + (cutout − median) / 2, kept in [0, 1]).
 *
 * Only pixels are used, never labels, and the template of a validation frame comes from that
 * frame's own cutouts: a user classifying a new field has all of its cutouts at hand too.
 * @module
 */
import type { Dataset } from "./types.ts";
import { StarmambaError } from "../util/errors.ts";
import { frameOf } from "./splits.ts";

/** A dataset with field context, and the frames its templates came from. */
export interface FieldContext {
  /** The dataset with channels (cutout, frame median, 0.5 + difference / 2). */
  dataset: Dataset;
  /** How many frames. */
  frames: number;
  /** Cutouts in the smallest frame. */
  smallestFrame: number;
  /** Cutouts per frame, by frame key, in order of first appearance. */
  frameCounts: Map<string, number>;
}

/**
 * Pixel-wise median of the single-channel planes `members` of `images` (NHWC with `c` channels;
 * channel 0 is read). Even counts average the two middle values.
 */
export function medianPlane(
  images: Float32Array,
  members: readonly number[],
  h: number,
  w: number,
  c: number,
): Float32Array {
  const hw = h * w, m = members.length;
  if (m === 0) throw new RangeError("medianPlane: no images");
  const out = new Float32Array(hw);
  const column = new Float32Array(m);
  for (let p = 0; p < hw; p++) {
    for (let j = 0; j < m; j++) column[j] = images[(members[j] * hw + p) * c];
    column.sort();
    out[p] = m % 2 === 1 ? column[m >> 1] : (column[m / 2 - 1] + column[m / 2]) / 2;
  }
  return out;
}

/**
 * `ds` with channels (cutout, frame median, 0.5 + (cutout − median) / 2); frames by `frameKey`
 * of the file names when given, else the dataset's own frames (a catalogue's `frame` column),
 * else {@link frameOf} of the file names. Needs 3 channels and the file names. Returns the
 * number of cutouts in the smallest frame and in every frame too: with only a handful the median
 * is no template.
 */
export function withFieldContext(
  ds: Dataset,
  frameKey?: (file: string) => string,
): FieldContext {
  if (ds.channels !== 3) {
    throw new StarmambaError(
      `data.field_context needs data.channels: 3 (the cutout, its frame's median and their ` +
        `difference), got ${ds.channels}`,
    );
  }
  if (!ds.files || ds.files.length !== ds.n) {
    throw new StarmambaError(
      "data.field_context needs file names to find each cutout's frame; use data.source: folder",
    );
  }
  const { height: h, width: w, n } = ds;
  const hw = h * w;
  const byFrame = new Map<string, number[]>();
  const frames = ds.frames;
  ds.files.forEach((f, i) => {
    const key = frameKey ? frameKey(f) : frames ? frames[i] : frameOf(f);
    const list = byFrame.get(key);
    if (list) list.push(i);
    else byFrame.set(key, [i]);
  });
  const images = new Float32Array(n * hw * 3);
  let smallest = Infinity;
  for (const members of byFrame.values()) {
    smallest = Math.min(smallest, members.length);
    const med = medianPlane(ds.images, members, h, w, 3);
    for (const i of members) {
      for (let p = 0; p < hw; p++) {
        const x = ds.images[(i * hw + p) * 3];
        const o = (i * hw + p) * 3;
        images[o] = x;
        images[o + 1] = med[p];
        images[o + 2] = 0.5 + (x - med[p]) / 2;
      }
    }
  }
  const frameCounts = new Map([...byFrame].map(([k, members]) => [k, members.length]));
  return {
    dataset: { ...ds, images },
    frames: byFrame.size,
    smallestFrame: smallest,
    frameCounts,
  };
}
