/**
 * A catalogue manifest (`data.source: catalog`): a CSV with one row per cutout — `path` and
 * `label`, optionally `frame`, `ra`, `dec` and any other columns — read into a {@link Dataset}.
 * Paths are relative to the catalogue's folder (or `data.root` when set); JPEG/PNG/TIFF/WebP decode as in an ImageFolder,
 * FITS cutouts (`.fits`, `.fit`, `.fts`, optionally gzipped) through lib/data/fits.ts with the
 * configured display stretch. Rows keep the catalogue's order, so a catalogue listing an
 * ImageFolder's files in its order gives the same dataset bit for bit.
 * @module
 */
import * as path from "node:path";
import { createHash } from "node:crypto";
import { parse as parseCsv } from "csv-parse/sync";
import type { BadFile, CatalogTable, Dataset } from "./types.ts";
import {
  compareCodeUnits,
  concurrency,
  decodeImage,
  type ImageFolderOptions,
  listImageFolder,
  manifestSha256,
  pool,
  toChannels,
} from "./imagefolder.ts";
import { cacheKey, type Decoded, defaultCacheDir, readCache, writeCache } from "./image_cache.ts";
import { readFits } from "./fits.ts";
import { applyStretch, type StretchOptions } from "./stretch.ts";
import { frameOf, skyGroupOf } from "./splits.ts";
import { skyGroups } from "./sky_groups.ts";
import { DEFAULT_CLASSES, type ExperimentConfig } from "../config/schema.ts";
import { StarmambaError } from "../util/errors.ts";

/** How a grouped split or fold keeps cutouts together (`data.group_by`). */
export type GroupBy = "name" | "frame" | "sky" | `column:${string}`;

/** Options of {@link loadCatalog}. */
export interface CatalogOptions extends Pick<ImageFolderOptions, "size" | "channels" | "resize"> {
  /** The catalogue CSV. */
  file: string;
  /** Folder the `path` column is relative to; default the catalogue's own folder. */
  base?: string;
  /** Bad rows stop the load with one message ("error") or are left out and listed ("skip"). */
  onBadFile: "error" | "skip";
  /** Every row needs a label (training, evaluation); false for prediction. */
  requireLabels: boolean;
  /** The classes labels must come from (a trained model's); default: the labels found, sorted. */
  classNames?: string[];
  /**
   * Without `classNames`: the class names labels may hold (`data.classes`), each of which must
   * label some row when labels are required; default {@link DEFAULT_CLASSES}.
   */
  classes?: readonly string[];
  /** FITS HDU holding the image (0 = primary). */
  fitsHdu: number;
  /** Per-cutout display stretch, applied before normalisation. */
  stretch: StretchOptions;
  /** How grouped splits keep cutouts together. */
  groupBy: GroupBy;
  /** Linking radius of `group_by: sky`; null: half the cutout's width at `pixelScaleArcsec`. */
  groupRadiusArcsec: number | null;
  /** Pixel scale of the cutouts (arcsec per pixel), for the default sky-grouping radius. */
  pixelScaleArcsec: number | null;
  /** Where decoded JPEG/PNG pixels are cached; default `<project>/.cache/data`. */
  cacheDir?: string;
  /** Called as images are decoded (done, total). */
  progress?: (done: number, total: number) => void;
}

/** What {@link loadCatalog} returns. */
export interface CatalogDataset extends Dataset {
  /** `path` column of each loaded row, as written. */
  files: string[];
  /** sha256 over the loaded files' bytes and paths and the catalogue file itself. */
  fingerprint: string;
  /** Paths of the rows left out under `on_bad_file: skip`. */
  skipped: string[];
  /** Every left-out row with why. */
  badFiles: BadFile[];
  /** Group key per image (see {@link GroupBy}). */
  groups: string[];
  /** All catalogue columns per loaded row. */
  table: CatalogTable;
  /** FITS pixels that were blank, NaN or ±Inf, replaced by the cutout's median (its local sky). */
  blank: { files: number; pixels: number };
  /** sha256 of the catalogue file. */
  catalogSha256: string;
}

/** File name endings read as FITS (compared case-insensitively). */
export const FITS_PATTERN: RegExp = /\.(fits|fit|fts)(\.gz)?$/i;

/** How many problems one message lists before summarising the rest as a count. */
const MAX_LISTED = 20;

/** One catalogue row after parsing: its line in the file and its fields by column. */
interface Row {
  line: number;
  values: string[];
}

/** A row that cannot be used, with its line number. */
interface RowProblem {
  line: number;
  file: string;
  reason: string;
  /** Rows with bad content stop the load always; unreadable images only under "error". */
  fatal: boolean;
}

/** A CSV whose first line names the columns: the names (trimmed) and every later row. */
export interface CsvTable {
  /** The header's column names, trimmed. */
  columns: string[];
  /** The rows after the header: each one's fields and the file line it ends on. */
  rows: { line: number; values: string[] }[];
}

/**
 * Parses a CSV whose first line names the columns (a UTF-8 BOM and blank lines are skipped;
 * rows may have another number of fields than the header, for the caller to judge).
 * @param text the file's text.
 * @param where what names the file in messages: its path, or e.g. `--sources <path>`.
 * @param empty what an empty file is called in the message, e.g. "empty catalogue".
 * @throws {StarmambaError} `<where>: not a valid CSV (…)`, or `<where>: <empty>; the first line
 *   must name the columns`.
 * @example
 * ```ts
 * import { readCsvTable } from "./catalog.ts";
 * const t = readCsvTable("path,label\na.png,star\n", "cat.csv", "empty catalogue");
 * console.log(t.columns, t.rows[0]); // ["path", "label"] { line: 2, values: ["a.png", "star"] }
 * ```
 */
export function readCsvTable(text: string, where: string, empty: string): CsvTable {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parseCsv(text, {
      bom: true,
      skip_empty_lines: true,
      info: true,
      relax_column_count: true,
    }) as unknown as {
      record: string[];
      info: { lines: number };
    }[];
  } catch (e) {
    throw new StarmambaError(`${where}: not a valid CSV (${(e as Error).message})`);
  }
  if (records.length === 0) {
    throw new StarmambaError(`${where}: ${empty}; the first line must name the columns`);
  }
  return {
    columns: records[0].record.map((c) => c.trim()),
    rows: records.slice(1).map((r) => ({ line: r.info.lines, values: r.record })),
  };
}

/** Parses the catalogue's columns and rows; a malformed CSV is a {@link StarmambaError}. */
export function parseCatalog(text: string, file: string): { columns: string[]; rows: Row[] } {
  const { columns, rows } = readCsvTable(text, file, "empty catalogue");
  const dup = columns.find((c, i) => columns.indexOf(c) !== i);
  if (dup !== undefined) throw new StarmambaError(`${file}: column "${dup}" appears twice`);
  if (!columns.includes("path")) {
    throw new StarmambaError(
      `${file}: no "path" column (found: ${columns.join(", ")}). The catalogue needs a header ` +
        `line with at least "path" (image file relative to the catalogue) and "label" ` +
        `(class name); "frame", "ra" and "dec" (degrees) are optional.`,
    );
  }
  return { columns, rows };
}

/** Reads a catalogue and its images into a {@link CatalogDataset} (see {@link CatalogOptions}). */
export async function loadCatalog(opts: CatalogOptions): Promise<CatalogDataset> {
  const file = path.resolve(opts.file);
  const bytes = await readCatalogFile(file);
  const { columns, rows } = parseCatalog(decodeUtf8(bytes, file), file);
  checkColumns(columns, opts, file);
  const problems: RowProblem[] = [];
  const labelled = checkRows(rows, columns, opts, problems);
  const allowed = opts.classNames ?? opts.classes ?? DEFAULT_CLASSES;
  for (const r of labelled) {
    if (r.label !== "" && !allowed.includes(r.label)) {
      problems.push({
        line: r.row.line,
        file: r.path,
        reason: unknownLabel(r.label, allowed, opts.classNames !== undefined),
        fatal: true,
      });
    }
  }
  stopOnProblems(file, problems.filter((p) => p.fatal), opts);
  const classNames = opts.classNames ?? [...new Set(labelled.map((r) => r.label))]
    .filter((l) => l !== "").sort(compareCodeUnits);
  if (opts.requireLabels && opts.classNames === undefined) checkClasses(classNames, allowed, file);

  // Every row's content is valid from here on; only its image can still fail.
  const base = path.resolve(opts.base ?? path.dirname(file));
  const decoded = await decodeRows(labelled, base, opts, problems);
  stopOnProblems(file, problems.filter((p) => p.fatal || opts.onBadFile === "error"), opts);

  const keep = labelled.map((_, i) => i).filter((i) => decoded.usable[i]);
  const kept = keep.map((i) => labelled[i]);
  const per = opts.size * opts.size * opts.channels;
  const images = new Float32Array(kept.length * per);
  keep.forEach((i, k) => images.set(decoded.images.subarray(i * per, (i + 1) * per), per * k));
  const files = kept.map((r) => r.path);
  const frameCol = columns.indexOf("frame");
  const frames = frameCol >= 0 ? kept.map((r) => r.row.values[frameCol].trim()) : undefined;
  const catalogSha256 = createHash("sha256").update(bytes).digest("hex");
  const manifest = manifestSha256(files, keep.map((i) => decoded.hashes[i]));
  const skippedRows = problems.sort((a, b) => a.line - b.line);
  return {
    images,
    labels: Int32Array.from(kept, (r) => r.label === "" ? -1 : classNames.indexOf(r.label)),
    n: kept.length,
    height: opts.size,
    width: opts.size,
    channels: opts.channels,
    classNames,
    files,
    frames,
    groups: groupKeys(kept, columns, frames, opts, file),
    table: { columns, rows: kept.map((r) => r.row.values) },
    fingerprint: createHash("sha256").update(`${manifest}\n${catalogSha256}\n`).digest("hex"),
    skipped: skippedRows.map((p) => p.file),
    badFiles: skippedRows.map((p) => ({
      file: p.file,
      reason: `line ${p.line}: ${p.reason}`,
      kind: "corrupt" as const,
    })),
    blank: decoded.blank,
    catalogSha256,
  };
}

async function readCatalogFile(file: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(file);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "not found" : (e as Error).message;
    throw new StarmambaError(
      `Catalogue ${file}: ${why}. Set data.catalog to a CSV relative to the config file.`,
    );
  }
}

/**
 * The catalogue's text. A file in another encoding (Latin-1 from an old spreadsheet, UTF-16 from
 * Excel's "Unicode text") would decode to replacement characters and turn a label such as
 * "étoile" into a new class; it is refused with its first bad line and the conversion command.
 */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    // Found below: the first line that does not decode on its own.
  }
  const utf16 = bytes.length >= 2 &&
    ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff));
  const from = utf16 ? "utf-16" : "latin1";
  let line = 1, start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0x0a) continue;
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, i));
    } catch {
      break;
    }
    line++;
    start = i + 1;
  }
  throw new StarmambaError(
    `${file}: line ${line} is not UTF-8 text; convert the catalogue, e.g. ` +
      `iconv -f ${from} -t utf-8 ${JSON.stringify(file)} > sources-utf8.csv, and point ` +
      "data.catalog at the converted file",
  );
}

/** Why a label is refused: the allowed classes, a case-only near miss, and where to add one. */
function unknownLabel(label: string, allowed: readonly string[], model: boolean): string {
  const same = allowed.find((c) => c.toLowerCase() === label.toLowerCase());
  const hint = same !== undefined
    ? ` (did you mean ${same}? labels are case-sensitive)`
    : model
    ? ""
    : ` (a catalogue's classes are data.classes: list ${label} there to train it as a class)`;
  return `label "${label}" is not one of the classes ${allowed.join(", ")}${hint}`;
}

/** Training needs two classes or more, and every listed class among the labels. */
function checkClasses(found: string[], allowed: readonly string[], file: string): void {
  if (found.length < 2) {
    throw new StarmambaError(
      `${file}: the "label" column holds ${found.length} class(es) ` +
        `(${found.join(", ") || "none"}); a classifier needs at least 2`,
    );
  }
  const missing = allowed.filter((c) => !found.includes(c));
  if (missing.length > 0) {
    throw new StarmambaError(
      `${file}: no row is labelled ${missing.join(", ")}, which data.classes lists ` +
        `(${allowed.join(", ")}); remove ${missing.length > 1 ? "them" : "it"} from ` +
        "data.classes or add rows with that label",
    );
  }
}

/** Columns the options need must be there: label for training, ra/dec for sky groups. */
function checkColumns(columns: string[], opts: CatalogOptions, file: string): void {
  const need = (name: string, why: string): void => {
    if (!columns.includes(name)) {
      throw new StarmambaError(
        `${file}: no "${name}" column (found: ${columns.join(", ")}); ${why}`,
      );
    }
  };
  if (opts.requireLabels) need("label", "training and evaluation need a class name per row");
  if (columns.includes("ra") !== columns.includes("dec")) {
    need(columns.includes("ra") ? "dec" : "ra", "positions need both ra and dec (degrees)");
  }
  if (opts.groupBy === "sky") {
    need("ra", "data.group_by: sky links cutouts by their ra and dec (degrees)");
  } else if (opts.groupBy.startsWith("column:")) {
    need(opts.groupBy.slice("column:".length), `data.group_by is ${opts.groupBy}`);
  }
}

/** A row with its path and label read out. */
interface LabelledRow {
  row: Row;
  path: string;
  label: string;
}

/** Row-level checks (column count, empty path, duplicate path, label, ra/dec) into `problems`. */
function checkRows(
  rows: Row[],
  columns: string[],
  opts: CatalogOptions,
  problems: RowProblem[],
): LabelledRow[] {
  const iPath = columns.indexOf("path"), iLabel = columns.indexOf("label");
  const iRa = columns.indexOf("ra"), iDec = columns.indexOf("dec");
  const seen = new Map<string, number>();
  const out: LabelledRow[] = [];
  const bad = (row: Row, file: string, reason: string): void => {
    problems.push({ line: row.line, file, reason, fatal: true });
  };
  for (const row of rows) {
    if (row.values.length !== columns.length) {
      bad(row, "", `${row.values.length} fields, the header has ${columns.length}`);
      continue;
    }
    const p = row.values[iPath].trim();
    const label = iLabel >= 0 ? row.values[iLabel].trim() : "";
    if (p === "") bad(row, p, "empty path");
    else if (seen.has(p)) bad(row, p, `duplicate path (also on line ${seen.get(p)})`);
    else seen.set(p, row.line);
    if (opts.requireLabels && label === "") bad(row, p, "no label");
    if (iRa >= 0) {
      const ra = Number(row.values[iRa]), dec = Number(row.values[iDec]);
      if (row.values[iRa].trim() === "" || !(ra >= 0 && ra < 360)) {
        bad(row, p, `ra ${JSON.stringify(row.values[iRa])} is not a number in [0, 360) degrees`);
      }
      if (row.values[iDec].trim() === "" || !(dec >= -90 && dec <= 90)) {
        bad(row, p, `dec ${JSON.stringify(row.values[iDec])} is not a number in [-90, 90] degrees`);
      }
    }
    out.push({ row, path: p, label });
  }
  return out;
}

/** Throws one message listing `problems` (the first {@link MAX_LISTED}) with how to fix them. */
function stopOnProblems(file: string, problems: RowProblem[], opts: CatalogOptions): void {
  if (problems.length === 0) return;
  const sorted = [...problems].sort((a, b) => a.line - b.line);
  const lines = sorted.slice(0, MAX_LISTED).map((p) =>
    `  line ${p.line}${p.file ? ` (${p.file})` : ""}: ${p.reason}`
  );
  if (sorted.length > MAX_LISTED) lines.push(`  ... and ${sorted.length - MAX_LISTED} more`);
  const onlyImages = sorted.every((p) => !p.fatal);
  const fix = onlyImages && opts.onBadFile === "error"
    ? "replace the unreadable images or remove their rows (in training, data.on_bad_file: " +
      "skip leaves them out)"
    : "correct these rows of the catalogue";
  if (sorted.length === 1) {
    // One bad row: one line, as every other user error.
    throw new StarmambaError(`Catalogue ${file}: ${lines[0].trim()}; how to fix: ${fix}.`);
  }
  throw new StarmambaError(
    `Catalogue ${file} has ${sorted.length} problem(s):\n${lines.join("\n")}\nHow to fix: ${fix}.`,
  );
}

/** Decoded pixels of `rows` (in order), which decoded, and their files' sha256. */
interface DecodedRows {
  images: Float32Array;
  usable: boolean[];
  hashes: string[];
  blank: { files: number; pixels: number };
}

/**
 * Reads and decodes every row's image. JPEG/PNG-only catalogues use the decode cache (keyed by
 * the files' bytes and the settings); FITS are parsed every time (fast, and the blank-pixel
 * counts must be recorded).
 */
async function decodeRows(
  rows: LabelledRow[],
  dir: string,
  opts: CatalogOptions,
  problems: RowProblem[],
): Promise<DecodedRows> {
  const per = opts.size * opts.size * opts.channels;
  const n = rows.length;
  const out: DecodedRows = {
    images: new Float32Array(n * per),
    usable: new Array<boolean>(n).fill(true),
    hashes: new Array<string>(n).fill(""),
    blank: { files: 0, pixels: 0 },
  };
  const fail = (i: number, reason: string): void => {
    out.usable[i] = false;
    problems.push({ line: rows[i].row.line, file: rows[i].path, reason, fatal: false });
  };
  const contents = new Array<Uint8Array | null>(n).fill(null);
  await pool(n, concurrency(), async (i) => {
    try {
      contents[i] = await Deno.readFile(path.resolve(dir, rows[i].path));
      out.hashes[i] = createHash("sha256").update(contents[i]!).digest("hex");
    } catch (e) {
      fail(i, `unreadable (${(e as Error).message})`);
    }
  });
  const anyFits = rows.some((r) => FITS_PATTERN.test(r.path));
  const settings = { size: opts.size, channels: opts.channels, resize: opts.resize };
  const key = cacheKey(manifestSha256(rows.map((r) => r.path), out.hashes), {
    ...settings,
    stretch: opts.stretch,
    catalog: true,
  });
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const names = rows.map((r) => r.path);
  const cached = anyFits || out.usable.includes(false)
    ? null
    : await readCache(cacheDir, key, names, per);
  if (cached !== null && cached.failed.length === 0) {
    out.images.set(cached.images);
    opts.progress?.(n, n);
    return out;
  }
  let done = 0;
  await pool(n, concurrency(), async (i) => {
    if (out.usable[i]) {
      const target = out.images.subarray(i * per, (i + 1) * per);
      const file = {
        path: path.resolve(dir, rows[i].path),
        name: rows[i].path,
        bytes: contents[i]!,
      };
      const why = await decodeCutout(file, opts, target, out.blank);
      if (why !== null) fail(i, why);
    }
    contents[i] = null;
    opts.progress?.(++done, n);
  });
  if (!anyFits && !out.usable.includes(false)) {
    const decoded: Decoded = { images: out.images, failed: [] };
    writeCache(cacheDir, key, decoded, n, per);
  }
  return out;
}

/** What decoding one cutout reads from the data section: its size, channels, FITS HDU, stretch. */
export type CutoutOptions = Pick<
  CatalogOptions,
  "size" | "channels" | "resize" | "fitsHdu" | "stretch"
>;

/** One cutout file: where to read it, the name its messages give, its bytes if already read. */
export interface CutoutFile {
  /** The file to read (absolute, or relative to the working directory). */
  path: string;
  /** The name a reason gives (a FITS reader's message names it). */
  name: string;
  /** The file's bytes, when the caller has read them already (to hash them). */
  bytes?: Uint8Array;
}

/**
 * Decodes one cutout into `target` (size × size × channels, [0, 1]) with the display stretch:
 * FITS through {@link decodeFitsInto} (stretched from its physical values), JPEG/PNG/TIFF/WebP
 * through the ImageFolder loader's decodeImage and then stretched unless the stretch is the
 * identity. The one decode step of every path that reads cutouts file by file: a catalogue's
 * rows and predict's files. Returns why the file cannot be used, or null.
 */
export async function decodeCutout(
  file: CutoutFile,
  opts: CutoutOptions,
  target: Float32Array,
  blank: { files: number; pixels: number },
): Promise<string | null> {
  if (FITS_PATTERN.test(file.name)) {
    let bytes = file.bytes;
    try {
      bytes ??= await Deno.readFile(file.path);
    } catch (e) {
      return `cannot read it (${(e as Error).message})`;
    }
    return decodeFitsInto(bytes, file.name, opts, target, blank);
  }
  const r = await decodeImage(file.path, opts, target);
  if (r !== null) return r.reason;
  if (opts.stretch.stretch !== "identity") applyStretch(target, opts.stretch, target);
  return null;
}

/**
 * A FITS cutout into `target` (size × size × channels): physical values, flipped so row 0 is
 * the top (FITS stores the bottom row first, as DS9 displays it), blank/NaN/±Inf pixels
 * replaced by the median of the others (the local sky) and counted in `blank`, stretched, grey
 * replicated to the channels. Returns why it cannot be used, or null. Predict reads FITS files through it too.
 */
export function decodeFitsInto(
  bytes: Uint8Array,
  name: string,
  opts: Pick<CatalogOptions, "size" | "channels" | "fitsHdu" | "stretch">,
  target: Float32Array,
  blank: { files: number; pixels: number },
): string | null {
  let img;
  try {
    img = readFits(bytes, { hdu: opts.fitsHdu, name });
  } catch (e) {
    return (e as Error).message;
  }
  if (img.width !== opts.size || img.height !== opts.size) {
    // Resampling would change the apparent size of the PSF in pixels, the very thing that tells
    // a star from a galaxy; cropping keeps the pixel scale.
    const crop = img.width === img.height && img.width > opts.size
      ? `; to keep their central ${opts.size}x${opts.size}, set data.size: ${img.width} and ` +
        `data.center_crop: ${opts.size}`
      : "";
    return `is ${img.width}x${img.height}, expected ${opts.size}x${opts.size} ` +
      `(FITS cutouts are not resampled, which would change the PSF's size in pixels: cut them ` +
      `to data.size${crop})`;
  }
  const s = opts.size;
  const top = new Float64Array(s * s);
  for (let y = 0; y < s; y++) top.set(img.data.subarray((s - 1 - y) * s, (s - y) * s), y * s);
  if (img.blank > 0) {
    const finite = [...top].filter(Number.isFinite).sort((a, b) => a - b);
    if (finite.length === 0) return "every pixel is blank, NaN or infinite";
    const m = finite.length;
    const sky = m % 2 === 1 ? finite[m >> 1] : (finite[m / 2 - 1] + finite[m / 2]) / 2;
    for (let p = 0; p < top.length; p++) if (!Number.isFinite(top[p])) top[p] = sky;
    blank.files++;
    blank.pixels += img.blank;
  }
  const plane = applyStretch(top, opts.stretch);
  toChannels(plane, 1, opts.channels, 1, target);
  return null;
}

/** Group key per row under `opts.groupBy`. */
function groupKeys(
  rows: LabelledRow[],
  columns: string[],
  frames: string[] | undefined,
  opts: CatalogOptions,
  file: string,
): string[] {
  const g = opts.groupBy;
  if (g === "name") return rows.map((r) => skyGroupOf(r.path));
  if (g === "frame") return frames ?? rows.map((r) => frameOf(r.path));
  if (g === "sky") {
    const radius = opts.groupRadiusArcsec ??
      (opts.pixelScaleArcsec === null ? null : (opts.size / 2) * opts.pixelScaleArcsec);
    if (radius === null) {
      throw new StarmambaError(
        "data.group_by: sky needs a linking radius: set data.group_radius_arcsec, or " +
          "data.pixel_scale_arcsec (the radius is then half a cutout's width)",
      );
    }
    const iRa = columns.indexOf("ra"), iDec = columns.indexOf("dec");
    try {
      return skyGroups(
        rows.map((r) => Number(r.row.values[iRa])),
        rows.map((r) => Number(r.row.values[iDec])),
        radius,
      );
    } catch (e) {
      throw e instanceof StarmambaError ? new StarmambaError(`${file}: ${e.message}`) : e;
    }
  }
  const c = columns.indexOf(g.slice("column:".length));
  const empty = rows.find((r) => r.row.values[c].trim() === "");
  if (empty) {
    throw new StarmambaError(
      `${file}: line ${empty.row.line} (${empty.path}) has no value in column ` +
        `"${columns[c]}", which data.group_by names; every row needs a group`,
    );
  }
  return rows.map((r) => r.row.values[c].trim());
}

/** Parses `data.group_by`; a bad value is a {@link StarmambaError} saying what is allowed. */
export function parseGroupBy(value: string): GroupBy {
  if (value === "name" || value === "frame" || value === "sky") return value;
  if (value.startsWith("column:") && value.length > "column:".length) {
    return value as GroupBy;
  }
  throw new StarmambaError(
    `Invalid data.group_by: ${JSON.stringify(value)}; expected name (sky groups from ` +
      `ARIES-style file names), frame, sky (linked by ra/dec within data.group_radius_arcsec) ` +
      `or column:<name> (a catalogue column)`,
  );
}

/**
 * The rows (header first) of a catalogue of an ImageFolder (`root/<class>/<image>`): columns path (relative to `root`),
 * label (the class folder) and frame (from ARIES-style names, {@link frameOf}), rows in the
 * ImageFolder loader's order — so training from it reproduces a run on the folder bit for bit.
 */
export async function catalogOfImageFolder(root: string): Promise<string[][]> {
  const { candidates } = await listImageFolder(path.resolve(root));
  return [
    ["path", "label", "frame"],
    ...candidates.map((f) => [f, f.slice(0, f.indexOf("/")), frameOf(f)]),
  ];
}

/** The display stretch a config's data section asks for. */
export function stretchOptions(d: ExperimentConfig["data"]): StretchOptions {
  return {
    stretch: d.stretch,
    percentile: d.stretch_percentile,
    asinh_a: d.asinh_a,
    zscale_contrast: d.zscale_contrast,
    zscale_samples: d.zscale_samples,
  };
}
