/**
 * The source list `deno task classify --sources <csv>` reads instead of detecting: one row per
 * source, its position as `x,y` (FITS pixel coordinates: 1-based, the centre of the first pixel
 * is (1, 1), as Source Extractor's X_IMAGE/Y_IMAGE) or as `ra,dec` (degrees, turned into pixels
 * with the frame's WCS), an optional `frame` column naming the frame file of each row (its file
 * name, its stem without .fits/.fit/.fts[.gz], or the path as given on the command line), and
 * any other columns, which the catalogue carries through unchanged.
 *
 * Column names are matched without regard to case; Source Extractor's X_IMAGE, Y_IMAGE,
 * ALPHA_J2000 and DELTA_J2000 are read as x, y, ra and dec. When both pixel and sky positions are
 * given, the pixels are used (they need no WCS) and ra, dec are carried through as other columns.
 *
 * The file's shape (header, field counts) is checked when it is read ({@link readSourceTable});
 * a row's numbers and whether it lies on its frame are checked per frame
 * ({@link sourcePositions}), so that a bad row stops its own frame only and the other frames'
 * rows can still be written.
 * @module
 */
import { basename } from "node:path";
import { readCsvTable } from "../data/catalog.ts";
import { type Wcs, worldToPixel } from "./wcs.ts";
import { StarmambaError } from "../util/errors.ts";

/** Names each position column is recognised by (lower case). */
const ALIASES = {
  x: ["x", "x_image"],
  y: ["y", "y_image"],
  ra: ["ra", "alpha_j2000"],
  dec: ["dec", "delta_j2000"],
  frame: ["frame"],
} as const;

/** One row of a source list. */
export interface SourceRow {
  /** Its line in the CSV (1 = the header). */
  line: number;
  /** Every field as written, in the table's column order. */
  values: string[];
  /** The `frame` field (trimmed), when the table has that column. */
  frame?: string;
}

/** A source list read by {@link readSourceTable}. */
export interface SourceTable {
  /** The CSV file, as given. */
  file: string;
  /** Its columns as written. */
  columns: string[];
  /** Whether positions are pixels (`x,y`) or sky coordinates (`ra,dec`). */
  positions: "xy" | "radec";
  /** Indices of the two position columns (x and y, or ra and dec). */
  positionColumns: [number, number];
  /** Index of the frame column, or -1. */
  frameColumn: number;
  /** Indices of the columns carried through to the catalogue (all but positions and frame). */
  carried: number[];
  /** The rows, in file order. */
  rows: SourceRow[];
}

/** Where a frame's sources go: what {@link sourcePositions} needs of an open frame. */
export interface FrameGeometry {
  /** The frame's name in messages. */
  name: string;
  /** NAXIS1. */
  width: number;
  /** NAXIS2. */
  height: number;
  /** Its celestial WCS, when it has one. */
  wcs?: Wcs;
}

/** A source's position on its frame (FITS 1-based pixels), and the sky position when given. */
export interface SourcePosition {
  /** FITS x (column, 1-based). */
  x: number;
  /** FITS y (row counting up, 1-based). */
  y: number;
  /** The row's right ascension (degrees), when the table gives sky positions. */
  ra?: number;
  /** The row's declination (degrees), when the table gives sky positions. */
  dec?: number;
}

/**
 * Reads a source list and checks its shape: a header naming x and y (or ra and dec), every row
 * with as many fields as the header.
 * @param file the CSV.
 * @returns the table; its rows' values are checked later, per frame.
 * @throws {StarmambaError} naming the file (and line) for an unreadable file, a malformed CSV,
 *   no position columns, a repeated column, or a row with the wrong number of fields.
 */
export function readSourceTable(file: string): SourceTable {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    throw new StarmambaError(`--sources ${file}: cannot read it (${(e as Error).message})`);
  }
  const { columns, rows: records } = readCsvTable(text, `--sources ${file}`, "empty");
  const dup = columns.find((c, i) => columns.findIndex((d) => sameName(c, d)) !== i);
  if (dup !== undefined) {
    throw new StarmambaError(`--sources ${file}: column "${dup}" appears twice; rename one`);
  }
  const layout = positionLayout(columns, file);
  const rows: SourceRow[] = [];
  for (const r of records) {
    if (r.values.length !== columns.length) {
      throw new StarmambaError(
        `--sources ${file}: line ${r.line} has ${r.values.length} fields, the header ` +
          `${columns.length}; fix that line`,
      );
    }
    const row: SourceRow = { line: r.line, values: r.values };
    if (layout.frameColumn >= 0) row.frame = r.values[layout.frameColumn].trim();
    rows.push(row);
  }
  return { file, columns, rows, ...layout };
}

/** Case-insensitive column name comparison. */
function sameName(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** The index of the column known by one of `names`, or -1. */
function findColumn(columns: string[], names: readonly string[]): number {
  return columns.findIndex((c) => names.includes(c.toLowerCase()));
}

/** Which columns hold the positions and the frame, and which are carried through. */
function positionLayout(
  columns: string[],
  file: string,
): Pick<SourceTable, "positions" | "positionColumns" | "frameColumn" | "carried"> {
  const x = findColumn(columns, ALIASES.x), y = findColumn(columns, ALIASES.y);
  const ra = findColumn(columns, ALIASES.ra), dec = findColumn(columns, ALIASES.dec);
  const frameColumn = findColumn(columns, ALIASES.frame);
  let positions: "xy" | "radec", positionColumns: [number, number];
  if (x >= 0 && y >= 0) [positions, positionColumns] = ["xy", [x, y]];
  else if (ra >= 0 && dec >= 0) [positions, positionColumns] = ["radec", [ra, dec]];
  else {
    throw new StarmambaError(
      `--sources ${file}: no position columns (found: ${columns.join(", ")}); give x,y (FITS ` +
        "pixels, 1-based, as X_IMAGE/Y_IMAGE) or ra,dec (degrees; the frame needs a WCS)",
    );
  }
  const used = new Set([...positionColumns, frameColumn]);
  const carried = columns.map((_, j) => j).filter((j) => !used.has(j));
  return { positions, positionColumns, frameColumn, carried };
}

/** A frame file's stem: its name without .fits/.fit/.fts (and .gz). */
export function frameStem(path: string): string {
  return basename(path).replace(/\.(fits|fit|fts)(\.gz)?$/i, "");
}

/** Whether a `frame` field names the frame file `path` (path as given, file name or stem). */
export function namesFrame(value: string, path: string): boolean {
  return value === path || value === basename(path) || value === frameStem(path);
}

/**
 * The rows of `table` that belong to the frame `path`: those whose frame column names it, or
 * every row when the table has no frame column (then only one frame may be given).
 * @param table the source list.
 * @param path the frame file as given on the command line.
 * @param frames all frame files of the call (to refuse a list without frames for several).
 * @throws {StarmambaError} when several frames are given and the table has no frame column.
 */
export function rowsOfFrame(table: SourceTable, path: string, frames: string[]): SourceRow[] {
  if (table.frameColumn < 0) {
    if (frames.length > 1) {
      throw new StarmambaError(
        `--sources ${table.file}: ${frames.length} frames given but the list has no frame ` +
          "column; add one naming each row's frame file (its name or stem), or give one frame",
      );
    }
    return table.rows;
  }
  return table.rows.filter((r) => namesFrame(r.frame ?? "", path));
}

/**
 * The pixel positions of `rows` on `frame`: x,y as given, or ra,dec through the frame's WCS
 * ({@link worldToPixel}, FITS 1-based as astropy's origin = 1).
 * @param table the source list the rows come from.
 * @param rows rows of this frame ({@link rowsOfFrame}).
 * @param frame the frame's name, size and WCS.
 * @returns one position per row.
 * @throws {StarmambaError} one line naming the CSV line and the frame: a position that is not a
 *   number, ra,dec for a frame without a WCS, or a source outside the frame (beyond its pixels'
 *   outer edges, 0.5 … NAXIS + 0.5).
 */
export function sourcePositions(
  table: SourceTable,
  rows: SourceRow[],
  frame: FrameGeometry,
): SourcePosition[] {
  if (table.positions === "radec" && !frame.wcs && rows.length > 0) {
    throw new StarmambaError(
      `--sources ${table.file}: gives ra,dec but ${frame.name} has no celestial WCS in its ` +
        "header; give x,y (FITS pixels) for this frame, or add its WCS (e.g. astrometry.net)",
    );
  }
  return rows.map((row) => {
    const p = rowPosition(table, row, frame);
    const inside = p.x >= 0.5 && p.x <= frame.width + 0.5 && p.y >= 0.5 &&
      p.y <= frame.height + 0.5;
    if (!inside) {
      throw new StarmambaError(
        `--sources ${table.file}: line ${row.line} puts its source at pixel ` +
          `(${p.x.toFixed(2)}, ${p.y.toFixed(2)}), outside ${frame.name} (${frame.width}×` +
          `${frame.height}; FITS pixels run from 0.5 to NAXIS + 0.5); check the row's frame ` +
          "and position (x,y are 1-based FITS pixels)",
      );
    }
    return p;
  });
}

/** One row's position: its numbers checked, sky positions projected. */
function rowPosition(table: SourceTable, row: SourceRow, frame: FrameGeometry): SourcePosition {
  const [i, j] = table.positionColumns;
  const a = Number(row.values[i].trim()), b = Number(row.values[j].trim());
  const names = `${table.columns[i]},${table.columns[j]}`;
  const bad = (why: string) =>
    new StarmambaError(`--sources ${table.file}: line ${row.line}: ${names} ${why}`);
  if (row.values[i].trim() === "" || row.values[j].trim() === "" || !isFinite(a + b)) {
    throw bad(`= ${row.values[i]},${row.values[j]} are not numbers; fix the row`);
  }
  if (table.positions === "xy") return { x: a, y: b };
  if (!(a >= 0 && a < 360 && b >= -90 && b <= 90)) {
    throw bad(`= ${a},${b} are not degrees (ra in [0, 360), dec in [-90, 90])`);
  }
  const [px, py] = worldToPixel(frame.wcs!, a, b);
  if (!Number.isFinite(px + py)) {
    throw bad(
      `= ${a},${b} is on the far side of ${frame.name}'s projection, nowhere on the frame; ` +
        "check the row's frame",
    );
  }
  return { x: px, y: py, ra: a, dec: b };
}
