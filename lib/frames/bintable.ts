/**
 * A catalogue as a FITS binary table (FITS Standard 4.0 §7.3): an empty primary HDU followed by
 * one BINTABLE extension, the layout astropy.table and TOPCAT read. {@link fitsTable} writes it
 * in memory; `deno task classify` writes `catalog.fits` with it.
 *
 * Column types (TFORMn): `L` logical, `J` 32-bit and `K` 64-bit two's-complement integers,
 * `E` and `D` IEEE 754 single and double precision, `nA` ASCII strings of n characters (n = the
 * column's longest string, at least 1). Everything is big-endian; the header is 80-character
 * cards padded with spaces to a 2880-byte block, the data unit is padded with zero bytes.
 * Missing values are the standard's: NaN for `E`/`D`, TNULLn (the type's smallest value, which
 * is therefore reserved) for `J`/`K`, the byte 0x00 for `L`, and the empty string for `A`.
 * @module
 */
import { StarmambaError } from "../util/errors.ts";

/** TFORMn letters {@link fitsTable} writes (see the module documentation). */
export type TableColumnType = "D" | "E" | "J" | "K" | "L" | "A";

/** One cell: a number or bigint (numeric columns), boolean (`L`), string (`A`); null = missing. */
export type TableValue = number | bigint | boolean | string | null | undefined;

/** One column of a {@link fitsTable}. */
export interface TableColumn {
  /** TTYPEn: printable ASCII, 1–68 characters, unique ignoring case (§7.3.2). */
  name: string;
  /** TFORMn letter: D, E (floats), J, K (integers), L (logical), A (string). */
  type: TableColumnType;
  /** TUNITn, e.g. "deg" or "pix" (printable ASCII, ≤ 68 characters); omitted when absent. */
  unit?: string;
  /**
   * One value per row, every column the same length. D/E: numbers (null or NaN = missing);
   * J: integers in (−2³¹, 2³¹); K: safe integers or bigints in (−2⁶³, 2⁶³); L: booleans;
   * A: printable ASCII strings. null/undefined is a missing value in every type.
   */
  values: ArrayLike<TableValue>;
}

/** A header card value: quoted string, T/F, or a finite number. */
export type HeaderValue = string | number | boolean;

/** An extra extension header card: keyword (1–8 of A–Z 0–9 - _), value, optional comment. */
export type HeaderCard = [key: string, value: HeaderValue, comment?: string];

/** Options of {@link fitsTable}. */
export interface FitsTableOptions {
  /** EXTNAME of the table HDU (e.g. "CATALOG"); none when omitted. */
  extname?: string;
  /**
   * Extra cards for the table's header (ORIGIN, DATE, the model's name …); COMMENT and HISTORY
   * take their text as the value. Structural and column keywords are the writer's and refused.
   */
  header?: HeaderCard[];
}

/** FITS logical record: headers and data units are whole multiples of it. */
const BLOCK = 2880;
/** Header card length. */
const CARD = 80;
/** Longest string value a single card holds (columns 11–80 less the two quotes). */
const MAX_STRING = 68;
const TYPES: readonly TableColumnType[] = ["D", "E", "J", "K", "L", "A"];
/** TNULLn of the integer types: their smallest value, so the rest of the range stays usable. */
const NULL_J = -2147483648;
const NULL_K = -9223372036854775808n;
const MAX_K = 9223372036854775807n;
/** Keywords the writer sets itself (§7.3.1 mandatory ones, per-column ones, EXTNAME). */
const RESERVED =
  /^(SIMPLE|XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|EXTEND|EXTNAME|THEAP|END|(TTYPE|TFORM|TUNIT|TNULL|TSCAL|TZERO|TDISP|TDIM)\d+)$/;

/** How one column sits in a row: its TFORM, byte width, TNULL, and how a value is stored. */
interface Layout {
  tform: string;
  width: number;
  tnull?: number | bigint;
  write(view: DataView, at: number, value: TableValue, row: number): void;
}

/**
 * Writes a FITS file holding an empty primary HDU and one BINTABLE extension with `columns`.
 * @param columns the table's columns, in order; all of the same length (0 rows is allowed).
 * @param opts EXTNAME and extra header cards of the table HDU.
 * @returns the whole file (header and data in 2880-byte blocks).
 * @throws {StarmambaError} naming the column (and row) for unequal lengths, an unknown type, a
 *   bad or duplicate name, a value of the wrong kind or range, or a non-ASCII string.
 * @example
 * ```ts
 * const bytes = fitsTable([
 *   { name: "id", type: "J", values: [1, 2] },
 *   { name: "ra", type: "D", unit: "deg", values: [150.1, 150.2] },
 *   { name: "class", type: "A", values: ["galaxy", "star"] },
 * ], { extname: "CATALOG" });
 * // bytes.length === 3 * 2880: primary header, table header, data
 * // writeFileAtomic("catalog.fits", bytes); then astropy: Table.read("catalog.fits")
 * ```
 */
export function fitsTable(columns: TableColumn[], opts: FitsTableOptions = {}): Uint8Array {
  const rows = checkColumns(columns);
  const layouts = columns.map(columnLayout);
  const rowBytes = layouts.reduce((sum, l) => sum + l.width, 0);
  const primary = headerBytes([
    card("SIMPLE", true, "conforms to FITS standard"),
    card("BITPIX", 8, "array data type"),
    card("NAXIS", 0, "number of array dimensions"),
    card("EXTEND", true),
  ]);
  const table = headerBytes(tableCards(columns, layouts, rowBytes, rows, opts));
  const data = new Uint8Array(padded(rowBytes * rows)); // zero padding, as §3.3.2 asks
  const view = new DataView(data.buffer);
  for (let c = 0, offset = 0; c < columns.length; offset += layouts[c].width, c++) {
    const { values } = columns[c];
    for (let r = 0; r < rows; r++) layouts[c].write(view, r * rowBytes + offset, values[r], r);
  }
  const out = new Uint8Array(primary.length + table.length + data.length);
  out.set(primary, 0);
  out.set(table, primary.length);
  out.set(data, primary.length + table.length);
  return out;
}

/** Checks names, types and lengths; returns the row count. */
function checkColumns(columns: TableColumn[]): number {
  if (columns.length === 0) throw new StarmambaError("FITS table: no columns to write.");
  const seen = new Map<string, string>();
  for (const col of columns) {
    checkAscii(col.name, `FITS table column name "${col.name}"`, 1);
    const key = col.name.trim().toUpperCase();
    if (seen.has(key)) {
      throw new StarmambaError(
        `FITS table column "${col.name}": the name repeats "${seen.get(key)}" (TTYPE names are ` +
          "compared ignoring case); rename one of them.",
      );
    }
    seen.set(key, col.name);
    if (!TYPES.includes(col.type)) {
      throw new StarmambaError(
        `FITS table column "${col.name}": unknown type "${col.type}"; use one of ` +
          `${TYPES.join(", ")}.`,
      );
    }
    if (col.unit !== undefined) checkAscii(col.unit, `FITS table column "${col.name}": unit`, 0);
  }
  const rows = columns[0].values.length;
  const other = columns.find((c) => c.values.length !== rows);
  if (other !== undefined) {
    throw new StarmambaError(
      `FITS table column "${other.name}": ${other.values.length} values, but column ` +
        `"${columns[0].name}" has ${rows}; every column needs one value per row.`,
    );
  }
  return rows;
}

/** Refuses text a header card cannot hold: non-printable-ASCII, too long or too short. */
function checkAscii(text: string, what: string, minLength: number): void {
  if (typeof text !== "string" || !/^[\x20-\x7e]*$/.test(text)) {
    throw new StarmambaError(`${what} must be printable ASCII (0x20-0x7E), got ${show(text)}.`);
  }
  if (text.trim().length < minLength || quoted(text).length - 2 > MAX_STRING) {
    throw new StarmambaError(
      `${what} must be ${minLength}-${MAX_STRING} characters (one FITS header card holds ` +
        `${MAX_STRING}), got ${text.length}: ${show(text)}.`,
    );
  }
}

/** The cards of the BINTABLE header: mandatory ones in the standard's order, columns, extras. */
function tableCards(
  columns: TableColumn[],
  layouts: Layout[],
  rowBytes: number,
  rows: number,
  opts: FitsTableOptions,
): string[] {
  const cards = [
    card("XTENSION", "BINTABLE", "binary table extension"),
    card("BITPIX", 8, "array data type"),
    card("NAXIS", 2, "number of array dimensions"),
    card("NAXIS1", rowBytes, "length of dimension 1"),
    card("NAXIS2", rows, "length of dimension 2"),
    card("PCOUNT", 0, "number of group parameters"),
    card("GCOUNT", 1, "number of groups"),
    card("TFIELDS", columns.length, "number of table fields"),
  ];
  columns.forEach((col, i) => {
    const n = i + 1;
    cards.push(card(`TTYPE${n}`, col.name), card(`TFORM${n}`, layouts[i].tform));
    const tnull = layouts[i].tnull;
    // A 64-bit TNULL does not fit a double: the card is written from the bigint's digits.
    if (tnull !== undefined) cards.push(card(`TNULL${n}`, tnull));
    if (col.unit !== undefined && col.unit !== "") cards.push(card(`TUNIT${n}`, col.unit));
  });
  if (opts.extname !== undefined) {
    checkAscii(opts.extname, "FITS table EXTNAME", 1);
    cards.push(card("EXTNAME", opts.extname, "extension name"));
  }
  for (const [key, value, comment] of opts.header ?? []) {
    if (RESERVED.test(key)) {
      throw new StarmambaError(`FITS table header card ${key} is set by the writer; drop it.`);
    }
    cards.push(card(key, value, comment));
  }
  return cards;
}

/** The TFORM, width and value encoder of one column. */
function columnLayout(col: TableColumn): Layout {
  const name = col.name;
  switch (col.type) {
    case "D":
      return { tform: "D", width: 8, write: (v, at, x, r) => v.setFloat64(at, real(x, name, r)) };
    case "E":
      return { tform: "E", width: 4, write: (v, at, x, r) => v.setFloat32(at, real(x, name, r)) };
    case "J":
      return {
        tform: "J",
        width: 4,
        tnull: NULL_J,
        write: (v, at, x, r) => v.setInt32(at, int32(x, name, r)),
      };
    case "K":
      return {
        tform: "K",
        width: 8,
        tnull: NULL_K,
        write: (v, at, x, r) => v.setBigInt64(at, int64(x, name, r)),
      };
    case "L":
      return { tform: "L", width: 1, write: (v, at, x, r) => v.setUint8(at, logical(x, name, r)) };
    default: {
      const width = stringWidth(col);
      return { tform: `${width}A`, width, write: (v, at, x) => writeAscii(v, at, x as string) };
    }
  }
}

/** A float cell: null/undefined → NaN (the standard's missing float). */
function real(x: TableValue, name: string, row: number): number {
  if (x === null || x === undefined) return NaN;
  if (typeof x !== "number") throw badValue(name, row, x, "a number");
  return x;
}

/** A J cell: an integer in (−2³¹, 2³¹); null/undefined/NaN → TNULL. */
function int32(x: TableValue, name: string, row: number): number {
  if (x === null || x === undefined || (typeof x === "number" && Number.isNaN(x))) return NULL_J;
  const n = typeof x === "bigint" ? Number(x) : x;
  if (typeof n !== "number" || !Number.isInteger(n) || n <= NULL_J || n > 2147483647) {
    throw badValue(name, row, x, `an integer from ${NULL_J + 1} to 2147483647 (type J)`);
  }
  return n;
}

/** A K cell: a safe integer or a bigint in (−2⁶³, 2⁶³); null/undefined/NaN → TNULL. */
function int64(x: TableValue, name: string, row: number): bigint {
  if (x === null || x === undefined || (typeof x === "number" && Number.isNaN(x))) return NULL_K;
  // Beyond 2⁵³ a number has already lost digits: ask for a bigint rather than store a guess.
  if (typeof x === "number" && Number.isSafeInteger(x)) return BigInt(x);
  if (typeof x === "bigint" && x > NULL_K && x <= MAX_K) return x;
  throw badValue(name, row, x, "a safe integer or a bigint within 64 bits (type K)");
}

/** An L cell: 'T', 'F', or 0x00 for a missing value (§7.3.3.1). */
function logical(x: TableValue, name: string, row: number): number {
  if (x === null || x === undefined) return 0;
  if (typeof x !== "boolean") throw badValue(name, row, x, "true or false (type L)");
  return x ? 0x54 : 0x46;
}

/** Width of an A column: its longest string, at least 1; refuses anything but printable ASCII. */
function stringWidth(col: TableColumn): number {
  let width = 1;
  for (let r = 0; r < col.values.length; r++) {
    const x = col.values[r];
    if (x === null || x === undefined) continue;
    if (typeof x !== "string") throw badValue(col.name, r, x, "a string (type A)");
    if (!/^[\x20-\x7e]*$/.test(x)) {
      throw badValue(col.name, r, x, "printable ASCII text (0x20-0x7E; FITS strings are ASCII)");
    }
    width = Math.max(width, x.length);
  }
  return width;
}

/** Writes a string's characters; the rest of the field stays 0x00, which ends it (§7.3.3.1). */
function writeAscii(view: DataView, at: number, x: string | null | undefined): void {
  if (x === null || x === undefined) return;
  for (let i = 0; i < x.length; i++) view.setUint8(at + i, x.charCodeAt(i));
}

function badValue(name: string, row: number, x: TableValue, want: string): StarmambaError {
  return new StarmambaError(
    `FITS table column "${name}", row ${row + 1}: ${show(x)} is not ${want}.`,
  );
}

/** A value as messages quote it (strings in quotes, bigints with their n). */
function show(x: unknown): string {
  if (typeof x === "string") return JSON.stringify(x.length > 40 ? x.slice(0, 40) + "…" : x);
  return typeof x === "bigint" ? `${x}n` : String(x);
}

/** Header cards + END, padded with spaces to whole blocks. */
function headerBytes(cards: string[]): Uint8Array {
  const text = [...cards, "END".padEnd(CARD)].join("");
  const out = new Uint8Array(padded(text.length)).fill(0x20);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** Bytes rounded up to whole 2880-byte blocks. */
function padded(bytes: number): number {
  return Math.ceil(bytes / BLOCK) * BLOCK;
}

/**
 * One 80-character card in fixed format (§4.2): keyword in columns 1–8, "= " in 9–10, strings
 * quoted from column 11, numbers and logicals right-justified to column 30, then " / comment"
 * (cut to fit). COMMENT and HISTORY carry their text from column 9.
 */
function card(key: string, value: HeaderValue | bigint, comment?: string): string {
  if (!/^[A-Z0-9_-]{1,8}$/.test(key)) {
    throw new StarmambaError(
      `FITS table header keyword "${key}" must be 1-8 characters of A-Z, 0-9, "-", "_".`,
    );
  }
  if (key === "COMMENT" || key === "HISTORY") {
    checkAscii(String(value), `FITS table header ${key}`, 0);
    return `${key.padEnd(8)}${String(value).slice(0, CARD - 8)}`.padEnd(CARD);
  }
  const text = `${key.padEnd(8)}= ${formatValue(key, value)}`;
  if (comment === undefined || comment === "") return text.padEnd(CARD);
  checkAscii(comment, `FITS table header card ${key}: comment`, 0);
  // Comments start after column 30 even behind a short string, as astropy and CFITSIO align them.
  return `${text.padEnd(30)} / ${comment}`.slice(0, CARD).padEnd(CARD);
}

/** A value field: quoted string, T/F or a number right-justified in 20 columns. */
function formatValue(key: string, value: HeaderValue | bigint): string {
  if (typeof value === "string") {
    checkAscii(value, `FITS table header card ${key}`, 0);
    return quoted(value);
  }
  if (typeof value === "boolean") return (value ? "T" : "F").padStart(20);
  if (typeof value === "bigint") return String(value).padStart(20);
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new StarmambaError(
      `FITS table header card ${key} = ${show(value)}: a value must be a string, a boolean or ` +
        "a finite number.",
    );
  }
  return formatNumber(value).padStart(20);
}

/** A string value: quotes doubled, at least 8 characters between the quotes (§4.2.1.1). */
function quoted(text: string): string {
  return `'${text.replaceAll("'", "''").padEnd(8)}'`;
}

/** Integers as digits; reals with a decimal point and an upper-case E, within 20 characters. */
function formatNumber(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e20) return String(x);
  let s = String(x).toUpperCase();
  if (s.length > 20) s = x.toExponential(12).toUpperCase();
  const [mantissa, exponent] = s.split("E");
  // "1E-7" → "1.0E-7": a point marks the value as real for readers that type by its form.
  const point = mantissa.includes(".") ? mantissa : `${mantissa}.0`;
  return exponent === undefined ? point : `${point}E${exponent}`;
}
