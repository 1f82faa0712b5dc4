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

/** Pixels whose columns are gathered together: neighbouring pixels share cache lines. */
const MEDIAN_TILE = 16;

/**
 * Pixel-wise median of the single-channel planes `members` of `images` (NHWC with `c` channels;
 * channel 0 is read). Even counts average the two middle values. The same values as sorting each
 * pixel's column (Float32Array's sort: −0 before +0, NaN last), found by selection instead: a
 * frame of 5,000 cutouts took 1.7 s to sort pixel by pixel, most of it cache misses.
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
  const floats = new Float32Array(MEDIAN_TILE * m);
  const keys = new Int32Array(floats.buffer);
  for (let p0 = 0; p0 < hw; p0 += MEDIAN_TILE) {
    const tile = Math.min(MEDIAN_TILE, hw - p0);
    for (let j = 0; j < m; j++) {
      const base = (members[j] * hw + p0) * c;
      for (let q = 0; q < tile; q++) floats[q * m + j] = images[base + q * c];
    }
    for (let q = 0; q < tile; q++) {
      out[p0 + q] = columnMedian(floats.subarray(q * m, (q + 1) * m), keys.subarray(q * m));
    }
  }
  return out;
}

/** The two middle values, back from int32 keys to floats. */
const PAIR = new Float32Array(2);
const PAIR_KEYS = new Int32Array(PAIR.buffer);

/** Median of `column` (reordered in place); `keys` views the same memory as int32. */
function columnMedian(column: Float32Array, keys: Int32Array): number {
  const m = column.length;
  if (column.some((v) => v !== v)) { // NaN: the sort's order (NaN last) decides
    column.sort();
    return m % 2 === 1 ? column[m >> 1] : (column[m / 2 - 1] + column[m / 2]) / 2;
  }
  // Float bits → int32 in the float order, −0 before +0 (an involution: applied twice, it gives
  // back the float's bits).
  for (let j = 0; j < m; j++) keys[j] ^= (keys[j] >> 31) & 0x7fffffff;
  const k = m >> 1;
  selectKth(keys, m, k);
  const upper = keys[k];
  let lower = upper;
  if (m % 2 === 0) {
    lower = keys[0];
    for (let j = 1; j < k; j++) if (keys[j] > lower) lower = keys[j];
  }
  PAIR_KEYS[0] = lower ^ ((lower >> 31) & 0x7fffffff);
  PAIR_KEYS[1] = upper ^ ((upper >> 31) & 0x7fffffff);
  return m % 2 === 1 ? PAIR[1] : (PAIR[0] + PAIR[1]) / 2;
}

/**
 * Hoare's selection on a[0, n): afterwards a[k] is the k-th smallest, everything before it is
 * ≤ a[k] and everything after ≥ a[k].
 */
function selectKth(a: Int32Array, n: number, k: number): void {
  let lo = 0, hi = n - 1;
  while (hi > lo) {
    const mid = (lo + hi) >> 1;
    // median of three as the pivot keeps sorted and constant columns linear
    const x = a[lo], y = a[mid], z = a[hi];
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : (x < z ? x : y < z ? z : y);
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
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
