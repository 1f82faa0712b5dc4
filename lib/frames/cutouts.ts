/**
 * Stamps cut from a telescope frame around its sources, read as the FITS cutout files of that
 * frame would be: the pipeline's first step for a frame (lib/data/pipeline.ts), so a network
 * sees the same bytes whether it is given the frame or cutout files cut from it.
 *
 * **Where a stamp is cut.** A `size`-pixel stamp around a source at FITS pixel x (1-based, the
 * centre of the first pixel is 1) starts at pixel ⌈x − size/2⌉ ({@link stampStart}), on each
 * axis: astropy's `Cutout2D(data, (x − 1, y − 1), size)` (`overlap_slices` takes
 * ⌈pos − size/2⌉, 0-based) — the stamp whose centre lies nearest the source, at whole pixels (no
 * resampling, which would change the PSF's size in pixels). For an odd size the source's nearest
 * pixel is the central one. For an even size (64) the stamp's centre is a pixel corner: the
 * source lies within half a pixel of it, in the central 2 × 2 pixels; an integer position x
 * puts pixel x at index size/2 from the low edge (column 32 from the left, row 32 from the
 * bottom, i.e. row 31 from the top once flipped as cutout files are read). The ARIES cutouts
 * the released models learnt from were cut the same way: over the 3,044 star JPEGs the brightest
 * pixel (3 × 3 smoothed, searched in the central 16 × 16) sits at column 31.50 and row 31.46
 * from the top on average, in the central 2 × 2 pixels for 1,790 of them, about equally often
 * in each (491, 459, 421, 419): the source at the centre, not on a pixel.
 *
 * **Orientation and blank pixels.** A stamp is held as a FITS cutout file stores it (row 0 = its
 * lowest FITS row), written as a float32 FITS image in memory and decoded by lib/data's
 * `decodeFitsInto`, the one function FITS cutout files go through: flipped so row 0 is the top,
 * blank (NaN) pixels replaced by the median of the stamp's others (its local sky), the stretch of
 * the data section given per stamp (the run's own, or the display stretch `deno task classify`
 * chose for a model trained on display images), grey replicated to the channels. Frames are read as float32 (lib/frames/
 * open.ts), so a cutout file with the frame's float32 values gives the same bytes.
 *
 * **Edges.** Pixels of a stamp beyond the frame's border are filled with the local background
 * (the frame's background map at the source's pixel, clamped into the frame) and the stamp is
 * flagged `edge`; `skipEdge` leaves such sources out.
 * @module
 */
import type { DataSection } from "../config/schema.ts";
import type { Dataset } from "../data/types.ts";
import { decodeFitsInto, stretchOptions } from "../data/catalog.ts";
import { writeFitsFloat32 } from "../data/fits.ts";
import { type BackgroundMap, backgroundRow, rowScratch } from "./background.ts";

/** A frame's pixels in memory, row-major, row 0 = FITS y = 1 (as FitsFrame.readRows gives them). */
export interface FramePixels {
  /** `width × height` values; blank pixels NaN. */
  data: Float32Array;
  /** NAXIS1. */
  width: number;
  /** NAXIS2. */
  height: number;
}

/** Where one stamp was cut and what it holds. */
export interface Stamp {
  /** First column of the stamp (FITS, 1-based; < 1 when it runs off the frame). */
  x0: number;
  /** First row of the stamp (FITS, 1-based). */
  y0: number;
  /** It runs off the frame: those pixels hold the local background. */
  edge: boolean;
  /** Blank (NaN) frame pixels in it (replaced by the stamp's median when decoded). */
  blank: number;
  /** A pixel of the 3 × 3 around the source's pixel reaches the frame's saturation level. */
  saturated: boolean;
}

/** Options of {@link cutStamp}. */
export interface CutOptions {
  /** Stamp side in pixels (the model's data.size). */
  size: number;
  /** The local background at FITS pixel (x, y) inside the frame: fills pixels off the frame. */
  background: (x: number, y: number) => number;
  /** Saturation level (the header's SATURATE), when known. */
  saturate?: number;
}

/**
 * First pixel (FITS, 1-based) of a `size`-pixel stamp around a source at FITS coordinate `x`,
 * along one axis: ⌈x − size/2⌉, astropy Cutout2D's choice (see the module's description).
 */
export function stampStart(x: number, size: number): number {
  return Math.ceil(x - size / 2) + 0; // + 0: ⌈−0.5⌉ is −0, a pixel number is 0
}

/**
 * Cuts one stamp around FITS position (x, y) into `out` (size × size, row 0 = the stamp's lowest
 * FITS row, as a cutout file stores it).
 * @param frame the frame's pixels.
 * @param x FITS x of the source (column, 1-based).
 * @param y FITS y (row counting up, 1-based).
 * @param opts the size, the local background for pixels off the frame, the saturation level.
 * @param out receives size × size values.
 * @returns where it was cut and its flags.
 */
export function cutStamp(
  frame: FramePixels,
  x: number,
  y: number,
  opts: CutOptions,
  out: Float32Array,
): Stamp {
  const { size } = opts;
  const { data, width, height } = frame;
  const x0 = stampStart(x, size), y0 = stampStart(y, size);
  const edge = x0 < 1 || y0 < 1 || x0 + size - 1 > width || y0 + size - 1 > height;
  const cx = Math.min(width, Math.max(1, Math.round(x)));
  const cy = Math.min(height, Math.max(1, Math.round(y)));
  const fill = edge ? opts.background(cx, cy) : NaN;
  let blank = 0;
  for (let r = 0; r < size; r++) {
    const fy = y0 + r; // FITS row
    for (let c = 0; c < size; c++) {
      const fx = x0 + c;
      const inside = fx >= 1 && fx <= width && fy >= 1 && fy <= height;
      const v = inside ? data[(fy - 1) * width + fx - 1] : fill;
      if (v !== v) blank++;
      out[r * size + c] = v;
    }
  }
  return { x0, y0, edge, blank, saturated: saturatedAt(frame, cx, cy, opts.saturate) };
}

/** Whether a pixel of the 3 × 3 around FITS (cx, cy) reaches `saturate`. */
function saturatedAt(frame: FramePixels, cx: number, cy: number, saturate?: number): boolean {
  if (saturate === undefined) return false;
  for (let fy = Math.max(1, cy - 1); fy <= Math.min(frame.height, cy + 1); fy++) {
    for (let fx = Math.max(1, cx - 1); fx <= Math.min(frame.width, cx + 1); fx++) {
      if (frame.data[(fy - 1) * frame.width + fx - 1] >= saturate) return true;
    }
  }
  return false;
}

/**
 * The background map's value at a FITS pixel, rows interpolated once and kept (only stamps at
 * an edge ask, a few rows per frame).
 * @param map the frame's background (lib/frames/background.ts).
 * @returns (x, y) → the background at FITS pixel (x, y), 1-based, inside the frame.
 */
export function backgroundAt(map: BackgroundMap): (x: number, y: number) => number {
  const rows = new Map<number, Float32Array>();
  let scratch: ReturnType<typeof rowScratch> | undefined;
  return (x, y) => {
    let row = rows.get(y);
    if (!row) {
      scratch ??= rowScratch(map);
      row = new Float32Array(map.width);
      backgroundRow(map, y - 1, row, "back", scratch);
      rows.set(y, row);
    }
    return row[x - 1];
  };
}

/** Options of {@link frameCutouts}. */
export interface FrameCutoutOptions {
  /**
   * The model's data section with its input channels: `size` (before `center_crop`, as its
   * training files were), `channels` and the stretch keys (`stretch` as the caller chose it).
   */
  data: DataSection;
  /** The local background at a FITS pixel inside the frame ({@link backgroundAt}). */
  background: (x: number, y: number) => number;
  /** Saturation level, when known. */
  saturate?: number;
  /** Leave out sources whose stamp runs off the frame. */
  skipEdge?: boolean;
  /** One name per position: the dataset's `files` (unique). */
  names: string[];
  /** The frame key of every stamp (the dataset's `frames`): their field context's frame. */
  frame: string;
  /** The run's class names (the dataset's; its labels are all 0). */
  classNames: string[];
}

/** What {@link frameCutouts} returns. */
export interface FrameCutouts {
  /** The kept stamps decoded and stretched (step 1 of the pipeline), NHWC. */
  dataset: Dataset;
  /** Every position's stamp, in input order. */
  stamps: Stamp[];
  /** Indices (into the positions) of the stamps in `dataset`, in order. */
  kept: number[];
  /** Positions left out because every pixel of their stamp was blank. */
  allBlank: number[];
}

/**
 * Cuts a stamp around every position and decodes the kept ones as FITS cutout files of the
 * frame (see the module's description): the images a run's pipeline takes next.
 * @param frame the frame's pixels.
 * @param positions FITS 1-based positions of the sources.
 * @param opts the run's data section, the background, the saturation level, whether to skip
 *   edge stamps, and the names and frame key of the dataset.
 * @returns the dataset, every stamp, which were kept and which were wholly blank.
 */
export function frameCutouts(
  frame: FramePixels,
  positions: readonly { x: number; y: number }[],
  opts: FrameCutoutOptions,
): FrameCutouts {
  const d = opts.data, size = d.size;
  const per = size * size * d.channels;
  const images = new Float32Array(positions.length * per);
  const stamp = new Float32Array(size * size);
  const decode = { size, channels: d.channels, fitsHdu: 0, stretch: stretchOptions(d) };
  const counter = { files: 0, pixels: 0 };
  const stamps: Stamp[] = [], kept: number[] = [], allBlank: number[] = [];
  for (const [i, p] of positions.entries()) {
    const s = cutStamp(frame, p.x, p.y, { size, ...opts }, stamp);
    stamps.push(s);
    if (s.edge && opts.skipEdge) continue;
    const at = kept.length * per;
    const bytes = writeFitsFloat32(size, size, stamp);
    const why = decodeFitsInto(
      bytes,
      opts.names[i],
      decode,
      images.subarray(at, at + per),
      counter,
    );
    if (why === null) kept.push(i);
    else allBlank.push(i); // the one failure a well-formed stamp can have: every pixel blank
  }
  const n = kept.length;
  const dataset: Dataset = {
    images: n === positions.length ? images : images.slice(0, n * per),
    labels: new Int32Array(n),
    n,
    height: size,
    width: size,
    channels: d.channels,
    classNames: opts.classNames,
    files: kept.map((i) => opts.names[i]),
    frames: kept.map(() => opts.frame),
  };
  return { dataset, stamps, kept, allBlank };
}
