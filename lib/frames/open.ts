/**
 * Telescope frames: a whole FITS image (2k×2k and up) read as a header first, then rows on
 * demand, so a detector can stream a frame in bands and a hundred frames run in the memory of
 * one band. {@link openFitsFrame} reads the header (and its WCS, lib/frames/wcs.ts) through a file
 * handle without touching the pixels; {@link FitsFrame.readRows} reads and converts a band of
 * rows (BSCALE/BZERO; BLANK, NaN and ±Inf blank and counted, as cutouts are). A gzip-compressed
 * frame (`.fits.gz`) cannot be read by rows: it is decompressed into memory once, so it costs its
 * uncompressed size while open. Tile-compressed images (`.fz`) are refused with how to convert.
 *
 * Conventions: rows are numbered from 0 in arrays (array row r = FITS y = r + 1, the bottom row
 * of the image in DS9's view); FITS pixel coordinates, which the WCS uses, are 1-based with x the
 * column and y the row counting up, so array element (column c, row r) sits at FITS (c + 1, r + 1).
 * @module
 */
import { gunzipSync } from "node:zlib";
import {
  decodeSamples,
  type FitsBytes,
  type FitsImageHeader,
  type FitsValue,
  readFitsHeader,
} from "../data/fits.ts";
import { hasCelestialWcs, parseWcs, type Wcs } from "./wcs.ts";
import { StarmambaError } from "../util/errors.ts";

/** Options of {@link openFitsFrame}. */
export interface OpenFrameOptions {
  /** HDU holding the image: 0 = primary (default), 1 = first extension, … (the CLI's `--hdu N`). */
  hdu?: number;
  /**
   * Read the WCS (default true): a header with celestial CTYPEs gets `wcs`, and a WCS that cannot
   * be read is an error; false leaves `wcs` undefined whatever the header says.
   */
  wcs?: boolean;
  /** Name in error messages (default: the path, with "[hdu N]" for an extension). */
  name?: string;
  /** The setting that chooses the HDU, as messages name it (default "--hdu"). */
  hduOption?: string;
  /**
   * With no `hdu` given, what an empty primary HDU (NAXIS = 0, as many archives write frames)
   * means: `"refuse"` (the default: an error naming the image HDUs and `hduOption`) or
   * `"first-image"`: read the first image extension instead (the frame's `hdu` says which).
   */
  emptyPrimary?: "refuse" | "first-image";
}

/** A band of rows read by {@link FitsFrame.readRows}. */
export interface FrameRows {
  /** First row of the band (0-based: row 0 is FITS y = 1, the bottom of the image). */
  y0: number;
  /** Rows in the band. */
  rows: number;
  /** Pixels per row (the frame's width). */
  width: number;
  /**
   * Physical values (BZERO + BSCALE × stored), row-major, `rows × width`; element
   * `(y − y0) · width + x` is array column x, row y (FITS pixel (x + 1, y + 1)). Blank pixels
   * are NaN. The array may be longer than the band when the caller passed a larger buffer.
   */
  data: Float32Array;
  /** Pixels of the band that were BLANK, NaN or ±Inf (NaN in `data`). */
  blank: number;
}

/** An open frame: header and WCS at once, pixels on demand. Close it (or `using` it) when done. */
export interface FitsFrame {
  /** The file's path. */
  path: string;
  /** The name used in error messages. */
  name: string;
  /** The HDU read (0 = primary). */
  hdu: number;
  /** NAXIS1: pixels per row. */
  width: number;
  /** NAXIS2: number of rows. */
  height: number;
  /** BITPIX of the stored data. */
  bitpix: number;
  /** The HDU's keyword = value cards. */
  header: Record<string, FitsValue>;
  /** The celestial WCS, when the header has one (and `wcs` was not turned off). */
  wcs?: Wcs;
  /**
   * The saturation level in physical units (SATURATE, else SATLEVEL), when the header gives
   * one: pixels at or above it are saturated.
   */
  saturate?: number;
  /**
   * Reads rows `y0` ≤ row < `y1` (0-based, counting up from FITS y = 1) as physical values.
   * @param y0 first row, 0 ≤ y0 < y1.
   * @param y1 one past the last row, ≤ height.
   * @param out a buffer to reuse (at least `(y1 − y0) × width` long); a new one when absent.
   * @returns the band; its `data` is `out` when given.
   * @throws {StarmambaError} for a row range outside the image, a buffer too short, or a read
   *   error (the file changed or went away).
   */
  readRows(y0: number, y1: number, out?: Float32Array): FrameRows;
  /** Releases the file handle; further reads throw. Idempotent. */
  close(): void;
  /** Same as {@link FitsFrame.close}, for `using frame = openFitsFrame(…)`. */
  [Symbol.dispose](): void;
}

/** A {@link FitsBytes} source over an open file, plus closing it. */
interface FileSource extends FitsBytes {
  close(): void;
}

/**
 * Opens a FITS frame: reads its header (and WCS) now, its pixels only when asked, by rows.
 * @param path the frame's file (`.fits`, `.fit`, `.fts`, or the same gzipped).
 * @param opts the `hdu` (default 0), whether to read the `wcs` (default true), a `name` for
 *   messages, the `hduOption` they name, and whether an `emptyPrimary` (with no `hdu`) means
 *   the first image extension.
 * @returns the open frame.
 * @throws {StarmambaError} when the file is missing or unreadable, is not FITS, the HDU is not a
 *   2-D image (a tile-compressed one included), or the WCS cannot be read; a message names the
 *   file, and for a file with an empty primary HDU says which `--hdu` holds the image.
 */
export function openFitsFrame(path: string, opts: OpenFrameOptions = {}): FitsFrame {
  const hduIndex = opts.hdu ?? 0;
  const named = (hdu: number) => opts.name ?? (hdu === 0 ? path : `${path} [hdu ${hdu}]`);
  const source = openSource(path, named(hduIndex));
  try {
    const hduOption = opts.hduOption ?? "--hdu";
    const image = opts.hdu === undefined && opts.emptyPrimary === "first-image"
      ? firstImageHeader(source, named(0), hduOption)
      : readFitsHeader(source, { hdu: hduIndex, name: named(hduIndex), hduOption });
    const name = named(image.hdu);
    const wcs = opts.wcs !== false && hasCelestialWcs(image.header)
      ? parseWcs(image.header, name)
      : undefined;
    return frameOf(path, name, source, image, wcs);
  } catch (e) {
    source.close();
    throw e;
  }
}

/** Extensions tried for an image behind an empty primary HDU (archives put it in the first). */
const MAX_EXTENSIONS = 64;

/**
 * The primary HDU's image header or, when the primary is empty, the first image extension's
 * among the first {@link MAX_EXTENSIONS}; otherwise the primary's own refusal (which lists the
 * file's image HDUs).
 */
function firstImageHeader(source: FitsBytes, name: string, hduOption: string): FitsImageHeader {
  try {
    return readFitsHeader(source, { hdu: 0, name, hduOption });
  } catch (e) {
    if (!(e instanceof StarmambaError) || !primaryIsEmpty(source)) throw e;
    for (let k = 1; k <= MAX_EXTENSIONS; k++) {
      try {
        return readFitsHeader(source, { hdu: k, name, hduOption });
      } catch {
        // Not an image (a table, a missing HDU): the next one.
      }
    }
    throw e;
  }
}

/**
 * Whether the primary header says NAXIS = 0. The FITS standard (4.0, §4.4.1.1) fixes the first
 * three cards of a primary header as SIMPLE, BITPIX, NAXIS, so NAXIS is the card at byte 160.
 */
function primaryIsEmpty(source: FitsBytes): boolean {
  const card = new TextDecoder("latin1").decode(source.read(160, 80));
  return /^NAXIS {3}=\s*0(\s|\/|$)/.test(card);
}

/** The frame object over an open source and its parsed header. */
function frameOf(
  path: string,
  name: string,
  source: FileSource,
  image: FitsImageHeader,
  wcs: Wcs | undefined,
): FitsFrame {
  const { width, height, bitpix, header } = image;
  let open = true;
  const close = () => {
    if (open) source.close();
    open = false;
  };
  const frame: FitsFrame = {
    path,
    name,
    hdu: image.hdu,
    width,
    height,
    bitpix,
    header,
    readRows(y0: number, y1: number, out?: Float32Array): FrameRows {
      if (!open) {
        throw new StarmambaError(`${name}: the frame was closed; open it again to read rows.`);
      }
      return readBand(source, image, name, y0, y1, out);
    },
    close,
    [Symbol.dispose]: close,
  };
  if (wcs) frame.wcs = wcs;
  const saturate = saturationLevel(header);
  if (saturate !== undefined) frame.saturate = saturate;
  return frame;
}

/** SATURATE (the common keyword), else SATLEVEL; only a finite number counts. */
function saturationLevel(header: Record<string, FitsValue>): number | undefined {
  for (const key of ["SATURATE", "SATLEVEL"]) {
    const v = header[key];
    if (typeof v === "number" && Number.isFinite(v)) return v;
  }
  return undefined;
}

/** Reads and converts one band of rows. */
function readBand(
  source: FitsBytes,
  image: FitsImageHeader,
  name: string,
  y0: number,
  y1: number,
  out: Float32Array | undefined,
): FrameRows {
  const { width, height } = image;
  if (!Number.isInteger(y0) || !Number.isInteger(y1) || y0 < 0 || y1 <= y0 || y1 > height) {
    throw new StarmambaError(
      `${name}: rows ${y0}..${y1} are not a band of this ${width}×${height} frame; ` +
        `readRows needs integers 0 ≤ y0 < y1 ≤ ${height}.`,
    );
  }
  const rows = y1 - y0;
  const n = rows * width;
  if (out && out.length < n) {
    throw new StarmambaError(
      `${name}: the buffer for rows ${y0}..${y1} holds ${out.length} values, ${n} are needed.`,
    );
  }
  const data = out ?? new Float32Array(n);
  const sampleBytes = Math.abs(image.bitpix) / 8;
  const raw = source.read(image.dataStart + y0 * width * sampleBytes, n * sampleBytes);
  if (raw.length < n * sampleBytes) {
    throw new StarmambaError(
      `${name}: rows ${y0}..${y1} run past the end of the file (it was truncated or changed ` +
        "after it was opened); copy the frame again.",
    );
  }
  const blank = decodeSamples(raw, image, data);
  return { y0, rows, width, data, blank };
}

/**
 * The file as a {@link FitsBytes} source: read through the handle by seek + read; a gzip stream
 * (magic 1f 8b) is decompressed into memory once, since it cannot be read at an offset.
 */
function openSource(path: string, name: string): FileSource {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (e) {
    throw new StarmambaError(
      `${name}: cannot open the frame (${(e as Error).message}); check the path.`,
    );
  }
  try {
    const length = file.statSync().size;
    const magic = readAt(file, 0, 2, name);
    if (magic.length === 2 && magic[0] === 0x1f && magic[1] === 0x8b) {
      const bytes = gunzipFrame(readAt(file, 0, length, name), name);
      file.close();
      return {
        length: bytes.length,
        read: (offset, n) => bytes.subarray(offset, Math.min(bytes.length, offset + n)),
        close: () => {},
      };
    }
    return {
      length,
      read: (offset, n) => readAt(file, offset, Math.max(0, Math.min(n, length - offset)), name),
      close: () => file.close(),
    };
  } catch (e) {
    file.close();
    throw e;
  }
}

/** Up to `n` bytes at `offset` (fewer only at the end of the file). */
function readAt(file: Deno.FsFile, offset: number, n: number, name: string): Uint8Array {
  const buf = new Uint8Array(n);
  try {
    file.seekSync(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < n) {
      const k = file.readSync(buf.subarray(got));
      if (k === null || k === 0) break;
      got += k;
    }
    return got === n ? buf : buf.subarray(0, got);
  } catch (e) {
    throw new StarmambaError(
      `${name}: reading the frame failed at byte ${offset} (${(e as Error).message}); check ` +
        "the file and the disk.",
      1,
    );
  }
}

/** Whole-file gzip, decompressed (the one way to read it at an offset). */
function gunzipFrame(bytes: Uint8Array, name: string): Uint8Array {
  try {
    return new Uint8Array(gunzipSync(bytes));
  } catch (e) {
    throw new StarmambaError(
      `${name}: starts like a gzip file but does not decompress (${(e as Error).message}); ` +
        "the copy is probably incomplete: fetch the frame again.",
    );
  }
}
