/**
 * Reads 2-D FITS image cutouts (the format survey pipelines hand out) with no npm dependency:
 * primary or IMAGE-extension HDUs, BITPIX 8/16/32/64/-32/-64, BSCALE/BZERO scaling, BLANK,
 * NaN and ±Inf pixels, and whole-file gzip (`*.fits.gz`). Tile-compressed files (`*.fz`,
 * ZIMAGE) are not read. {@link readFitsHeader} reads an image HDU's header and layout without its
 * pixels, from bytes in memory or any {@link FitsBytes} source (lib/frames/open.ts reads telescope
 * frames through a file handle with it, rows at a time, with {@link decodeSamples}).
 * {@link writeFitsFloat32} writes the minimal primary-HDU file examples and tests need.
 * @module
 */
import { gunzipSync } from "node:zlib";
import { StarmambaError } from "../util/errors.ts";

/** A FITS header value: quoted strings, T/F, integers and reals (complex values stay text). */
export type FitsValue = string | number | boolean;

/** One 2-D image read from a FITS file by {@link readFits}. */
export interface FitsImage {
  /** NAXIS1: pixels per row. */
  width: number;
  /** NAXIS2: number of rows. */
  height: number;
  /**
   * Physical values (BZERO + BSCALE × stored) row-major, row 0 = FITS row 1 (NAXIS2 = 1, the
   * bottom of the image in DS9 convention). Blank pixels are NaN: the caller replaces them.
   */
  data: Float64Array;
  /** Pixels that were BLANK (integer BITPIX), NaN or ±Inf (float BITPIX). */
  blank: number;
  /** BITPIX of the stored data (8, 16, 32, 64, -32 or -64). */
  bitpix: number;
  /** The HDU's keyword = value cards; the first card wins when a keyword repeats. */
  header: Record<string, FitsValue>;
  /** Index of the HDU read: 0 = primary, 1 = first extension, … */
  hdu: number;
}

/** Options of {@link readFits} and {@link readFitsHeader}. */
export interface ReadFitsOptions {
  /** HDU to read: 0 = primary (default), 1 = first extension, … */
  hdu?: number;
  /** File name used in error messages. */
  name?: string;
  /**
   * The setting that chooses the HDU, as messages should name it: "data.fits_hdu" (default, the
   * config key) or a CLI flag such as "--hdu".
   */
  hduOption?: string;
}

/**
 * Random access to a FITS file's bytes: a file in memory ({@link readFits}) or read through a
 * file handle (lib/frames/open.ts), so a frame's header is found without reading its pixels.
 */
export interface FitsBytes {
  /** Size of the file in bytes. */
  readonly length: number;
  /** Up to `n` bytes from `offset`; fewer where the file ends. */
  read(offset: number, n: number): Uint8Array;
}

/** How stored samples become physical values: BITPIX, BSCALE, BZERO and integer BLANK. */
export interface FitsScaling {
  /** BITPIX of the stored data. */
  bitpix: number;
  /** BSCALE (default 1). */
  bscale: number;
  /** BZERO (default 0). */
  bzero: number;
  /** BLANK: the stored value of a missing pixel, for integer BITPIX only. */
  blank?: number;
}

/** One 2-D image HDU without its pixels, from {@link readFitsHeader}. */
export interface FitsImageHeader extends FitsScaling {
  /** NAXIS1: pixels per row. */
  width: number;
  /** NAXIS2: number of rows. */
  height: number;
  /** The HDU's keyword = value cards; the first card wins when a keyword repeats. */
  header: Record<string, FitsValue>;
  /** Index of the HDU: 0 = primary, 1 = first extension, … */
  hdu: number;
  /** Byte offset of the pixels (row 0 = FITS row 1) in the (uncompressed) file. */
  dataStart: number;
}

/** FITS files are a sequence of 2880-byte blocks. */
const BLOCK = 2880;
/** Header cards are 80 ASCII characters. */
const CARD = 80;
/** The BITPIX values the FITS standard defines. */
const BITPIXES: readonly number[] = [8, 16, 32, 64, -32, -64];

/** One parsed header and where its data unit lies. */
interface Hdu {
  index: number;
  header: Record<string, FitsValue>;
  /** Byte offset of the data unit. */
  dataStart: number;
  /** Bytes of the data unit without its padding. */
  dataBytes: number;
  /** "primary" or the XTENSION value ("IMAGE", "BINTABLE", …). */
  kind: string;
}

/**
 * Reads one 2-D image from the bytes of a FITS file (gzip-compressed or not).
 *
 * Accepts NAXIS = 2, or NAXIS = 3 with NAXIS3 = 1. Values are converted to physical units with
 * BSCALE/BZERO; BLANK (integer data) and NaN or ±Inf (float data) pixels are NaN in `data` and
 * counted in `blank`.
 * @param bytes the file's bytes; a gzip stream (magic 1f 8b) is gunzipped first.
 * @param opts `hdu` to read (default 0, the primary) and the file `name` for error messages.
 * @returns the image, its header and how many pixels were blank.
 * @throws {StarmambaError} when the bytes are not FITS, are truncated, lack END, use an
 *   unsupported BITPIX, when the HDU does not exist or holds no 2-D image.
 */
export function readFits(bytes: Uint8Array, opts: ReadFitsOptions = {}): FitsImage {
  const name = opts.name ?? "FITS data";
  const file = memoryBytes(maybeGunzip(bytes, name));
  const image = readFitsHeader(file, opts);
  const n = image.width * image.height;
  const raw = file.read(image.dataStart, (n * Math.abs(image.bitpix)) / 8);
  const data = new Float64Array(n);
  const blank = decodeSamples(raw, image, data);
  const { width, height, bitpix, header, hdu } = image;
  return { width, height, data, blank, bitpix, header, hdu };
}

/**
 * Reads the header and layout of one 2-D image HDU without converting its pixels: the WCS and
 * the size of a frame are known before (and without) reading its data.
 * @param bytes the file's bytes (a gzip stream is gunzipped first), or a {@link FitsBytes}
 *   source (read as is: a file handle cannot be gunzipped in place).
 * @param opts `hdu` to read (default 0, the primary), the file `name` and `hduOption` for
 *   error messages.
 * @returns the image's size, scaling, header and where its pixels start.
 * @throws {StarmambaError} as {@link readFits} does, also when the pixels run past the file's end.
 */
export function readFitsHeader(
  bytes: Uint8Array | FitsBytes,
  opts: ReadFitsOptions = {},
): FitsImageHeader {
  const name = opts.name ?? "FITS data";
  const option = opts.hduOption ?? "data.fits_hdu";
  const want = opts.hdu ?? 0;
  if (!Number.isInteger(want) || want < 0) {
    throw new StarmambaError(
      `${name}: HDU index ${want} is not valid; ${option} must be 0 (primary) or a positive ` +
        "integer (1 = first extension).",
    );
  }
  const file = bytes instanceof Uint8Array ? memoryBytes(maybeGunzip(bytes, name)) : bytes;
  checkSimple(file, name);
  const hdu = findHdu(file, want, name, option);
  return imageHeader(file, hdu, name, option);
}

/** A file held in memory as a {@link FitsBytes} source (reads are views, not copies). */
function memoryBytes(file: Uint8Array): FitsBytes {
  return {
    length: file.length,
    read: (offset, n) => file.subarray(offset, Math.min(file.length, offset + n)),
  };
}

/** "Set data.fits_hdu: 1" for a config key, "Pass --hdu 1" for a CLI flag. */
function chooseHdu(option: string, index: number | string): string {
  return option.startsWith("--") ? `Pass ${option} ${index}` : `Set ${option}: ${index}`;
}

/** Whole-file gzip is common for survey cutouts; anything else is passed through. */
function maybeGunzip(bytes: Uint8Array, name: string): Uint8Array {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    return new Uint8Array(gunzipSync(bytes));
  } catch (e) {
    throw new StarmambaError(
      `${name}: starts like a gzip file but does not decompress (${(e as Error).message}); ` +
        "the download is probably incomplete: fetch the file again.",
    );
  }
}

/** A FITS file must open with the SIMPLE = T card; checking it first gives the clearest error. */
function checkSimple(file: FitsBytes, name: string): void {
  const first = file.length >= CARD ? cardText(file.read(0, CARD), 0) : "";
  if (!first.startsWith("SIMPLE  =")) {
    throw new StarmambaError(
      `${name}: not a FITS file (it does not start with a "SIMPLE  =" card; ` +
        `${file.length} bytes). Check that the file is a FITS image and not, e.g., a JPEG ` +
        "or an HTML error page saved under a .fits name.",
    );
  }
}

/** Walks the HDUs up to `want`; explains what the file holds when `want` is not there. */
function findHdu(file: FitsBytes, want: number, name: string, option: string): Hdu {
  const seen: Hdu[] = [];
  let offset = 0;
  while (startsHdu(file, offset, seen.length)) {
    const hdu = parseHdu(file, offset, seen.length, name);
    if (hdu.index === want) return hdu;
    seen.push(hdu);
    offset = hdu.dataStart + padded(hdu.dataBytes);
  }
  const rest = file.length - offset;
  throw new StarmambaError(
    `${name}: HDU ${want} does not exist; the file has ${seen.length} HDU(s): ` +
      `${seen.map(describeHdu).join("; ")}` +
      (rest > 0 ? ` (then ${rest} bytes that do not start an HDU)` : "") +
      `. Set ${option} to one of the image HDUs.`,
  );
}

/**
 * Whether an HDU starts at `offset`: the primary always does (checked by checkSimple); an
 * extension's first card must be XTENSION. Checking the first card (not just "an XTENSION card
 * somewhere") matters: headers may span blocks, so a reader that lost its place (e.g. by
 * ignoring PCOUNT) could otherwise resynchronise on a later header and read the wrong HDU.
 */
function startsHdu(file: FitsBytes, offset: number, index: number): boolean {
  if (index === 0) return true;
  return offset + CARD <= file.length &&
    cardText(file.read(offset, CARD), 0).startsWith("XTENSION=");
}

/** Parses the header at `offset` and sizes its data unit. */
function parseHdu(file: FitsBytes, offset: number, index: number, name: string): Hdu {
  const { header, end } = parseHeader(file, offset, index, name);
  const kind = index === 0 ? "primary" : String(header["XTENSION"]).trim();
  const dataBytes = dataUnitBytes(header, index, name);
  return { index, header, dataStart: end, dataBytes, kind };
}

/**
 * Reads 80-character cards from `offset` up to END, a 2880-byte block per read (a file handle
 * is read in blocks, not cards); returns the cards and the data offset.
 */
function parseHeader(
  file: FitsBytes,
  offset: number,
  index: number,
  name: string,
): { header: Record<string, FitsValue>; end: number } {
  const header: Record<string, FitsValue> = {};
  let block: Uint8Array = new Uint8Array(0);
  let blockStart = offset;
  for (let at = offset; at + CARD <= file.length; at += CARD) {
    if (at + CARD > blockStart + block.length) {
      blockStart = at;
      block = file.read(at, BLOCK);
    }
    const card = cardText(block, at - blockStart);
    const keyword = card.slice(0, 8).trimEnd();
    if (keyword === "END") {
      // The data unit starts at the next block boundary after the END card.
      return { header, end: offset + padded(at + CARD - offset) };
    }
    // Only "KEYWORD= value" cards carry values; COMMENT, HISTORY and blank cards do not.
    if (card.slice(8, 10) !== "= " || keyword === "" || Object.hasOwn(header, keyword)) continue;
    header[keyword] = parseValue(card.slice(10));
  }
  throw new StarmambaError(
    `${name}: the header of HDU ${index} has no END card before the end of the file ` +
      `(${file.length} bytes); the file is truncated or not FITS. Download or export it again.`,
  );
}

/** The 80 bytes at `at` as text (FITS headers are ASCII; Latin-1 keeps every byte visible). */
function cardText(file: Uint8Array, at: number): string {
  return String.fromCharCode(...file.subarray(at, at + CARD));
}

/** Parses the value field (columns 11-80) of a card: string, logical, number, or raw text. */
function parseValue(field: string): FitsValue {
  const text = field.trimStart();
  if (text.startsWith("'")) return parseString(text);
  // Outside strings a "/" starts the comment.
  const slash = text.indexOf("/");
  const token = (slash >= 0 ? text.slice(0, slash) : text).trim();
  if (token === "T") return true;
  if (token === "F") return false;
  // FITS reals may use D for the exponent (Fortran double precision).
  const numeric = token.replace(/[dD]/, "E");
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(numeric)) return Number(numeric);
  return token;
}

/** A quoted FITS string: '' inside is one quote; trailing blanks are not significant. */
function parseString(text: string): string {
  let out = "";
  for (let i = 1; i < text.length; i++) {
    if (text[i] !== "'") {
      out += text[i];
    } else if (text[i + 1] === "'") {
      out += "'";
      i++;
    } else {
      break;
    }
  }
  return out.trimEnd();
}

/** Bytes of the data unit: |BITPIX|/8 × GCOUNT × (PCOUNT + ΠNAXISn), without padding. */
function dataUnitBytes(header: Record<string, FitsValue>, index: number, name: string): number {
  const bitpix = header["BITPIX"];
  if (typeof bitpix !== "number" || !BITPIXES.includes(bitpix)) {
    throw new StarmambaError(
      `${name}: HDU ${index} has BITPIX = ${
        bitpix ?? "(missing)"
      }; FITS allows only 8, 16, 32, 64, -32 and -64. The file is corrupt or not standard FITS; ` +
        "re-export it (e.g. with astropy: fits.writeto).",
    );
  }
  const naxis = intCard(header, "NAXIS", index, name);
  if (naxis === 0) return 0;
  let count = 1;
  for (let k = 1; k <= naxis; k++) {
    const n = intCard(header, `NAXIS${k}`, index, name);
    // Random groups (primary, GROUPS = T) put 0 in NAXIS1; it is not a factor of the size.
    if (k === 1 && n === 0 && header["GROUPS"] === true) continue;
    count *= n;
  }
  // PCOUNT (e.g. a binary table's heap) and GCOUNT default to 0 and 1 when absent.
  const pcount = optionalInt(header, "PCOUNT", 0);
  const gcount = optionalInt(header, "GCOUNT", 1);
  return (Math.abs(bitpix) / 8) * gcount * (pcount + count);
}

/** A mandatory non-negative integer card. */
function intCard(
  header: Record<string, FitsValue>,
  key: string,
  index: number,
  name: string,
): number {
  const v = header[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new StarmambaError(
      `${name}: HDU ${index} has ${key} = ${v ?? "(missing)"}, expected a non-negative integer; ` +
        "the header is corrupt or not standard FITS. Re-export the file.",
    );
  }
  return v;
}

/** An optional integer card, `fallback` when absent or not an integer. */
function optionalInt(header: Record<string, FitsValue>, key: string, fallback: number): number {
  const v = header[key];
  return typeof v === "number" && Number.isInteger(v) ? v : fallback;
}

/** Rounds a byte count up to whole 2880-byte blocks. */
function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/** "1: IMAGE 64×64" style summary used in error messages. */
function describeHdu(hdu: Hdu): string {
  const naxis = Number(hdu.header["NAXIS"] ?? 0);
  const dims: FitsValue[] = [];
  for (let k = 1; k <= naxis; k++) dims.push(hdu.header[`NAXIS${k}`]);
  const shape = naxis === 0 ? "no data" : dims.join("×");
  return `${hdu.index}: ${hdu.kind} ${shape}`;
}

/** Checks that `hdu` holds a 2-D image whose pixels are all in the file; its size and scaling. */
function imageHeader(file: FitsBytes, hdu: Hdu, name: string, option: string): FitsImageHeader {
  const { width, height } = imageShape(file, hdu, name, option);
  const bitpix = hdu.header["BITPIX"] as number;
  const n = width * height;
  const need = (n * Math.abs(bitpix)) / 8;
  // The final block's padding is sometimes missing in files cut by hand; the pixels must be there.
  if (hdu.dataStart + need > file.length) {
    throw new StarmambaError(
      `${name}: HDU ${hdu.index} is truncated: its ${width}×${height} BITPIX ${bitpix} image ` +
        `needs ${need} bytes from byte ${hdu.dataStart} but the file has ${file.length} bytes. ` +
        "Download or export the file again.",
    );
  }
  const notNumber = (v: FitsValue | undefined, key: string) =>
    `${name}: HDU ${hdu.index} has ${key} = ${v}, expected a number; fix or remove the card.`;
  const bscale = numericCard(hdu.header, "BSCALE", 1, notNumber);
  const bzero = numericCard(hdu.header, "BZERO", 0, notNumber);
  const blankCard = hdu.header["BLANK"];
  const image: FitsImageHeader = {
    width,
    height,
    bitpix,
    bscale,
    bzero,
    header: hdu.header,
    hdu: hdu.index,
    dataStart: hdu.dataStart,
  };
  // BLANK only has meaning for integer data; float data marks missing pixels with NaN.
  if (bitpix > 0 && typeof blankCard === "number") image.blank = blankCard;
  return image;
}

/**
 * Converts stored big-endian samples to physical values (BZERO + BSCALE × stored). BLANK
 * (integer data), NaN and ±Inf become NaN and are counted; so is a value too large for `out`
 * (a float64 pixel beyond float32's range read into a Float32Array).
 * @param raw the stored bytes: a whole number of samples.
 * @param scaling BITPIX, BSCALE, BZERO and BLANK of the HDU.
 * @param out receives `raw.length / (|BITPIX| / 8)` values from `outOffset`.
 * @param outOffset where in `out` the first value goes (default 0).
 * @returns how many of the values are blank (NaN).
 */
export function decodeSamples(
  raw: Uint8Array,
  scaling: FitsScaling,
  out: Float64Array | Float32Array,
  outOffset = 0,
): number {
  const { bitpix, bscale, bzero, blank: blankValue } = scaling;
  const n = raw.length / (Math.abs(bitpix) / 8);
  const read = sampleReader(new DataView(raw.buffer, raw.byteOffset, raw.length), bitpix);
  let blank = 0;
  for (let i = 0; i < n; i++) {
    const stored = read(i);
    // ±Inf is no measurement either (a saturated or divided-by-zero pixel): left in, it would
    // set a min/max stretch's range, so it is blank like NaN (and counted).
    const at = outOffset + i;
    out[at] = stored === blankValue ? NaN : bzero + bscale * stored;
    if (!Number.isFinite(out[at])) {
      out[at] = NaN;
      blank++;
    }
  }
  return blank;
}

/** Width and height of an image HDU; errors say how to reach the image when this HDU is not. */
function imageShape(
  file: FitsBytes,
  hdu: Hdu,
  name: string,
  option: string,
): { width: number; height: number } {
  if (hdu.kind === "BINTABLE" && hdu.header["ZIMAGE"] === true) {
    // fpack / Rice tile compression stores the image as a binary table of compressed tiles.
    throw new StarmambaError(
      `${name}: HDU ${hdu.index} is a tile-compressed image (ZIMAGE = T, as fpack's .fz files ` +
        "are), which starmamba does not read; decompress it first (funpack, or astropy: " +
        "fits.open(f)[i].data written with fits.writeto) and pass the plain FITS file.",
    );
  }
  if (hdu.kind !== "primary" && hdu.kind !== "IMAGE") {
    throw new StarmambaError(
      `${name}: HDU ${hdu.index} is a ${hdu.kind} extension, not an image. ` +
        `${suggestImageHdu(file, name, option)}`,
    );
  }
  const naxis = hdu.header["NAXIS"] as number;
  if (naxis === 0) {
    throw new StarmambaError(
      `${name}: HDU ${hdu.index} has no data (NAXIS = 0); files from many archives keep an ` +
        `empty primary HDU and put the image in an extension. ` +
        suggestImageHdu(file, name, option),
    );
  }
  const dims: number[] = [];
  for (let k = 1; k <= naxis; k++) dims.push(hdu.header[`NAXIS${k}`] as number);
  const flat = naxis === 2 || (naxis === 3 && dims[2] === 1);
  if (!flat || dims[0] === 0 || dims[1] === 0) {
    throw new StarmambaError(
      `${name}: HDU ${hdu.index} is ${dims.join("×")} (NAXIS = ${naxis}); starmamba reads 2-D ` +
        "images (NAXIS = 2, or NAXIS = 3 with NAXIS3 = 1). Save one plane of the cube as its " +
        "own 2-D image.",
    );
  }
  return { width: dims[0], height: dims[1] };
}

/** "Set data.fits_hdu: N" for the first HDU holding a 2-D image, when the file has one. */
function suggestImageHdu(file: FitsBytes, name: string, option: string): string {
  const images: number[] = [];
  try {
    for (let offset = 0, index = 0; startsHdu(file, offset, index); index++) {
      const hdu = parseHdu(file, offset, index, name);
      const naxis = hdu.header["NAXIS"];
      if ((hdu.kind === "primary" || hdu.kind === "IMAGE") && naxis !== 0) images.push(index);
      offset = hdu.dataStart + padded(hdu.dataBytes);
    }
  } catch {
    // A damaged later HDU only limits the suggestion; the caller's error is the real problem.
  }
  if (images.length === 0) return "No HDU in this file holds an image.";
  return `${chooseHdu(option, images[0])} (image HDU(s) in this file: ${images.join(", ")}).`;
}

/**
 * The finite number a header card holds: `fallback` when the card is absent (absent with no
 * fallback, or present but not a finite number, is a {@link StarmambaError} with the message
 * `problem` words from the value and the key for the caller, which knows what the card is for).
 * @example
 * ```ts
 * import { numericCard } from "./fits.ts";
 * const bzero = numericCard({ BZERO: 32768 }, "BZERO", 0, (v) => `BZERO = ${v}: not a number`);
 * console.log(bzero); // 32768
 * ```
 */
export function numericCard(
  header: Record<string, FitsValue>,
  key: string,
  fallback: number | undefined,
  problem: (v: FitsValue | undefined, key: string) => string,
): number {
  const v = header[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new StarmambaError(problem(v, key));
  return v;
}

/** Reader of the i-th stored (unscaled) big-endian sample for a BITPIX. */
function sampleReader(view: DataView, bitpix: number): (i: number) => number {
  switch (bitpix) {
    case 8:
      return (i) => view.getUint8(i);
    case 16:
      return (i) => view.getInt16(2 * i, false);
    case 32:
      return (i) => view.getInt32(4 * i, false);
    case 64:
      // Exact up to 2^53, which covers every realistic pixel value (and BLANK compares as such).
      return (i) => Number(view.getBigInt64(8 * i, false));
    case -32:
      return (i) => view.getFloat32(4 * i, false);
    default:
      return (i) => view.getFloat64(8 * i, false);
  }
}

/** Keywords {@link writeFitsFloat32} writes itself, or that would change what the data mean. */
const RESERVED = /^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|END|BSCALE|BZERO|BLANK|XTENSION|PCOUNT|GCOUNT)$/;

/**
 * Writes a single-HDU FITS file: a BITPIX = -32 (big-endian float32) primary image with
 * NAXIS1 = `width`, NAXIS2 = `height`; `data` is row-major with row 0 = FITS row 1, as
 * {@link readFits} returns it. NaN values are written as NaN (FITS's blank for float data).
 * @param width pixels per row (NAXIS1).
 * @param height number of rows (NAXIS2).
 * @param data `width × height` values.
 * @param header extra cards: keywords of up to 8 characters A-Z, 0-9, "-", "_"; strings of
 *   printable ASCII up to 68 characters; finite numbers; booleans.
 * @returns the file's bytes (a multiple of 2880).
 * @throws {StarmambaError} for a bad shape, a data length that does not match it, or a header
 *   card that FITS cannot hold or that this writer sets itself (SIMPLE, BITPIX, NAXISn, …).
 */
export function writeFitsFloat32(
  width: number,
  height: number,
  data: ArrayLike<number>,
  header: Record<string, FitsValue> = {},
): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new StarmambaError(
      `writeFitsFloat32: width and height must be positive integers, ` +
        `got ${width}×${height}.`,
    );
  }
  if (data.length !== width * height) {
    throw new StarmambaError(
      `writeFitsFloat32: ${data.length} values for a ${width}×${height} image ` +
        `(${width * height} expected).`,
    );
  }
  const cards = [
    formatCard("SIMPLE", true),
    formatCard("BITPIX", -32),
    formatCard("NAXIS", 2),
    formatCard("NAXIS1", width),
    formatCard("NAXIS2", height),
  ];
  for (const [key, value] of Object.entries(header)) {
    if (RESERVED.test(key)) {
      throw new StarmambaError(`writeFitsFloat32: header card ${key} is set by the writer.`);
    }
    cards.push(formatCard(key, value));
  }
  cards.push("END".padEnd(CARD));
  const headerBytes = padded(cards.length * CARD);
  const out = new Uint8Array(headerBytes + padded(4 * width * height));
  // Header padding is ASCII blanks; data padding stays zero, as the standard asks.
  out.fill(0x20, 0, headerBytes);
  const text = cards.join("");
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  const view = new DataView(out.buffer, headerBytes);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], false);
  return out;
}

/** One 80-character "KEYWORD = value" card in FITS fixed format. */
function formatCard(key: string, value: FitsValue): string {
  if (!/^[A-Z0-9_-]{1,8}$/.test(key)) {
    throw new StarmambaError(
      `writeFitsFloat32: header keyword "${key}" must be 1-8 characters of A-Z, 0-9, "-", "_".`,
    );
  }
  return `${key.padEnd(8)}= ${formatValue(key, value)}`.padEnd(CARD);
}

/** Fixed-format value: logicals and numbers right-justified to column 30, strings quoted. */
function formatValue(key: string, value: FitsValue): string {
  if (typeof value === "boolean") return (value ? "T" : "F").padStart(20);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new StarmambaError(`writeFitsFloat32: header card ${key} = ${value} is not finite.`);
    }
    // JavaScript writes exponents as "e+21"; FITS wants an upper-case E.
    return String(value).toUpperCase().padStart(20);
  }
  if (!/^[ -~]*$/.test(value) || value.replaceAll("'", "''").length > 68) {
    throw new StarmambaError(
      `writeFitsFloat32: header card ${key} must be printable ASCII of at most 68 characters ` +
        "(quotes count twice).",
    );
  }
  // Strings are at least 8 characters inside the quotes (FITS fixed format).
  return `'${value.replaceAll("'", "''").padEnd(8)}'`;
}
