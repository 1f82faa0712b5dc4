/**
 * The FITS binary-table writer (lib/frames/bintable.ts) against astropy: tests/fixtures/bintable/
 * holds the fixture table (input.json), what astropy.table read from the writer's file
 * (read.json), and the same table written by astropy itself (astropy.fits, astropy_empty.fits);
 * make_fixture.py there made them, and also had STILTS (TOPCAT's table library) read the writer's
 * files (stilts*.csv) and fitsverify check them (fitsverify.txt). A small reader written here (cards, TFORMs, big-endian rows)
 * reads both the writer's bytes and astropy's file, so it is checked against astropy too.
 */
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { fitsTable, type TableColumn } from "../lib/frames/bintable.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { parse } from "csv-parse/sync";
import { readSpec, specColumns, specOptions } from "./fixtures/bintable/spec.ts";

type JsonCell = number | string | boolean | null;

interface AstropyTable {
  nrows: number;
  names: string[];
  dtypes: Record<string, string>;
  units: Record<string, string | null>;
  values: Record<string, JsonCell[]>;
}

const HERE = new URL("./fixtures/bintable/", import.meta.url);
const READ: { full: AstropyTable; empty: AstropyTable } = JSON.parse(
  Deno.readTextFileSync(new URL("read.json", HERE)),
);
const SPEC = readSpec();
const WRITER = fitsTable(specColumns(SPEC), specOptions(SPEC));
const WRITER_EMPTY = fitsTable(specColumns(SPEC, 0), specOptions(SPEC));
const ASTROPY = Deno.readFileSync(new URL("astropy.fits", HERE));
const ASTROPY_EMPTY = Deno.readFileSync(new URL("astropy_empty.fits", HERE));

// ---- an independent reader: just enough of FITS 4.0 §4 and §7.3 for these files ----

interface Hdu {
  /** [keyword, value text] of every card before END, in order (values parsed below). */
  cards: [string, CardValue][];
  get(key: string): CardValue | undefined;
  dataStart: number;
}

type CardValue = string | number | bigint | boolean;

/** Parses a value field: quoted string (quotes undoubled, trailing blanks dropped), T/F, number. */
function parseValue(field: string): CardValue {
  const body = field.trim();
  if (body.startsWith("'")) {
    const m = /^'((?:[^']|'')*)'/.exec(body)!;
    return m[1].replaceAll("''", "'").trimEnd();
  }
  const value = body.split("/")[0].trim();
  if (value === "T" || value === "F") return value === "T";
  // A 64-bit TNULL is beyond what a double holds exactly: keep it as a bigint.
  if (/^[+-]?\d+$/.test(value) && !Number.isSafeInteger(Number(value))) return BigInt(value);
  return Number(value);
}

function readHdu(file: Uint8Array, start: number): Hdu {
  const cards: [string, CardValue][] = [];
  for (let at = start;; at += 80) {
    const text = new TextDecoder("ascii").decode(file.subarray(at, at + 80));
    const key = text.slice(0, 8).trimEnd();
    if (key === "END") {
      const dataStart = Math.ceil((at + 80) / 2880) * 2880;
      return { cards, get: (k) => cards.find((c) => c[0] === k)?.[1], dataStart };
    }
    if (text.slice(8, 10) === "= ") cards.push([key, parseValue(text.slice(10))]);
  }
}

/** The table extension's columns as astropy's JSON spells them (see make_fixture.py). */
function readTable(file: Uint8Array): { hdu: Hdu; names: string[]; values: JsonCell[][] } {
  const primary = readHdu(file, 0);
  const hdu = readHdu(file, primary.dataStart);
  const rowBytes = hdu.get("NAXIS1") as number, rows = hdu.get("NAXIS2") as number;
  const view = new DataView(file.buffer, file.byteOffset + hdu.dataStart);
  const names: string[] = [], values: JsonCell[][] = [];
  let offset = 0;
  for (let n = 1; n <= (hdu.get("TFIELDS") as number); n++) {
    const [, repeat, code] = /^(\d*)([LJKEDA])$/.exec(String(hdu.get(`TFORM${n}`)))!;
    const tnull = hdu.get(`TNULL${n}`);
    const column: JsonCell[] = [];
    for (let r = 0; r < rows; r++) {
      column.push(readCell(view, r * rowBytes + offset, code, Number(repeat || 1), tnull));
    }
    names.push(String(hdu.get(`TTYPE${n}`)));
    values.push(column);
    offset += { L: 1, J: 4, K: 8, E: 4, D: 8, A: Number(repeat || 1) }[code]!;
  }
  return { hdu, names, values };
}

function readCell(
  view: DataView,
  at: number,
  code: string,
  width: number,
  tnull: unknown,
): JsonCell {
  switch (code) {
    case "L": {
      const b = view.getUint8(at);
      return b === 0 ? null : b === 0x54;
    }
    case "J": {
      const v = view.getInt32(at, false);
      return v === tnull ? null : v;
    }
    case "K": {
      const v = view.getBigInt64(at, false);
      if (v === tnull || (typeof tnull === "number" && v === BigInt(tnull))) return null;
      return v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : String(v);
    }
    case "E":
    case "D": {
      const v = code === "E" ? view.getFloat32(at, false) : view.getFloat64(at, false);
      return Number.isFinite(v) ? v : String(v);
    }
    default: {
      let s = "";
      for (let i = 0; i < width && view.getUint8(at + i) !== 0; i++) {
        s += String.fromCharCode(view.getUint8(at + i));
      }
      return s;
    }
  }
}

/** numpy's dtype for a TFORM, as astropy reads it. */
function dtypeOf(tform: string): string {
  const m = /^(\d*)([LJKEDA])$/.exec(tform)!;
  const map: Record<string, string> = { L: "|b1", J: ">i4", K: ">i8", E: ">f4", D: ">f8" };
  return m[2] === "A" ? `|S${m[1] || 1}` : map[m[2]];
}

// ---- (a) the writer's bytes hold what astropy read from them ----

for (
  const [label, bytes, expected] of [
    ["7 rows", WRITER, READ.full],
    ["0 rows", WRITER_EMPTY, READ.empty],
  ] as const
) {
  Deno.test(`bintable: the writer's ${label} read back as astropy.table read them`, () => {
    const { hdu, names, values } = readTable(bytes);
    assertEquals(names, expected.names);
    assertEquals(hdu.get("NAXIS2"), expected.nrows);
    names.forEach((name, i) => {
      const n = i + 1;
      assertEquals(dtypeOf(String(hdu.get(`TFORM${n}`))), expected.dtypes[name], name);
      assertEquals(hdu.get(`TUNIT${n}`) ?? null, expected.units[name], name);
      // astropy has no missing logical: it reads the standard's null byte 0x00 as False.
      const got = values[i].map((v) => expected.dtypes[name] === "|b1" && v === null ? false : v);
      assertEquals(got, expected.values[name], name);
    });
  });
}

Deno.test("bintable: the missing logical is the byte 0x00 and NaN floats are NaN", () => {
  const { values, names } = readTable(WRITER);
  assertEquals(values[names.indexOf("saturated")][3], null);
  assertEquals(values[names.indexOf("flux")].filter((v) => v === "NaN").length, 2);
  // -0.0 survives (deepStrictEqual tells -0 from 0).
  assert(Object.is(values[names.indexOf("ra")][1], -0));
});

Deno.test("bintable: the test's reader reads astropy's own file as astropy read the writer's", () => {
  const { names, values } = readTable(ASTROPY);
  const expected = structuredClone(READ.full.values);
  // astropy drops a string's trailing blanks when it writes; the writer keeps them.
  expected["NAME"][6] = "tail";
  assertEquals(names, READ.full.names);
  names.forEach((name, i) => assertEquals(values[i], expected[name], name));
});

// ---- (b) the header and data units agree with astropy's file ----

Deno.test("bintable: the primary header is astropy's, byte for byte", () => {
  assertEquals(WRITER.subarray(0, 2880), ASTROPY.subarray(0, 2880));
});

for (
  const [label, ours, theirs] of [
    ["7 rows", WRITER, ASTROPY],
    ["0 rows", WRITER_EMPTY, ASTROPY_EMPTY],
  ] as const
) {
  Deno.test(`bintable: the ${label} table header has astropy's keywords, in its order`, () => {
    const a = readTable(ours).hdu.cards, b = readTable(theirs).hdu.cards;
    // The mandatory keywords open the header in this order (§7.3.1).
    const mandatory = ["XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT"];
    assertEquals(a.slice(0, 8).map((c) => c[0]), [...mandatory, "TFIELDS"]);
    assertEquals(a, b);
    assertEquals(ours.length, theirs.length);
  });
}

Deno.test("bintable: the data unit is astropy's but for the two cells astropy cannot write", () => {
  const start = readTable(WRITER).hdu.dataStart;
  const differ: number[] = [];
  for (let i = start; i < WRITER.length; i++) if (WRITER[i] !== ASTROPY[i]) differ.push(i - start);
  const rowBytes = 42;
  // Row 4 "saturated" (offset 32): 0x00 here, 'F' in astropy's; row 7 "NAME" (offset 33):
  // "tail  " here, "tail" + NULs in astropy's.
  assertEquals(differ, [3 * rowBytes + 32, 6 * rowBytes + 33 + 4, 6 * rowBytes + 33 + 5]);
});

Deno.test("bintable: blocks of 2880 bytes, header padded with blanks, data with zeros", () => {
  assertEquals(WRITER.length % 2880, 0);
  assertEquals(WRITER_EMPTY.length, 2 * 2880); // no data block for 0 rows
  const hdu = readTable(WRITER).hdu;
  const endAt = hdu.dataStart - 2880 + 80 * (hdu.cards.length + 1);
  assert(WRITER.subarray(endAt, hdu.dataStart).every((b) => b === 0x20));
  assert(WRITER.subarray(hdu.dataStart + 7 * 42).every((b) => b === 0));
});

Deno.test("bintable: header cards in fixed format, hand-worked", () => {
  const bytes = fitsTable([{ name: "x", type: "D", values: [1] }], {
    header: [["QUOTE", "it's"], ["SMALL", 1e-7, "a real"], ["BIG", 1.5e300], ["NEG", -3]],
  });
  const text = new TextDecoder().decode(bytes.subarray(2880, 5760));
  const card = (k: string) => text.match(new RegExp(`${k.padEnd(8)}=.{71}`))![0];
  assertEquals(card("QUOTE"), "QUOTE   = 'it''s   '".padEnd(80));
  assertEquals(card("SMALL"), `SMALL   = ${"1.0E-7".padStart(20)} / a real`.padEnd(80));
  assertEquals(card("BIG"), `BIG     = ${"1.5E+300".padStart(20)}`.padEnd(80));
  assertEquals(card("NEG"), `NEG     = ${"-3".padStart(20)}`.padEnd(80));
  assertEquals(card("TFORM1"), "TFORM1  = 'D       '".padEnd(80));
});

// ---- TOPCAT's reading: STILTS (the same STIL library) wrote the writer's tables as CSV ----

/** A cell as STILTS writes it to CSV: nulls (TNULL, NaN, the 0x00 logical) empty. */
function stiltsCell(v: JsonCell, tform: string): string | number {
  if (v === null || v === "NaN") return "";
  if (typeof v === "boolean") return String(v);
  // STIL prints a float32 with float32's shortest digits; compare as float32.
  if (tform === "E" && typeof v === "number") return v;
  // STIL drops a string's trailing blanks, as astropy does when it writes.
  return typeof v === "string" && tform.endsWith("A") ? v.trimEnd() : String(v);
}

Deno.test("bintable: STILTS (TOPCAT's reader) read the writer's tables as this reader does", () => {
  for (const [bytes, file] of [[WRITER, "stilts.csv"], [WRITER_EMPTY, "stilts_empty.csv"]]) {
    const csv = parse(Deno.readTextFileSync(new URL(file as string, HERE))) as string[][];
    const { hdu, names, values } = readTable(bytes as Uint8Array);
    assertEquals(csv[0], names);
    assertEquals(csv.length - 1, hdu.get("NAXIS2"));
    names.forEach((name, i) => {
      const tform = String(hdu.get(`TFORM${i + 1}`));
      values[i].forEach((v, r) => {
        const want = stiltsCell(v, tform), got = csv[r + 1][i];
        const same = typeof want === "number"
          ? Math.fround(Number(got)) === want
          : got === want || (tform === "D" && Number(got) === Number(want));
        assert(same, `${name} row ${r + 1}: STILTS ${got}, reader ${want}`);
      });
    });
  }
  assertEquals(
    Deno.readTextFileSync(new URL("fitsverify.txt", HERE)).split("\n").slice(2, 4),
    ["verification OK: writer.fits", "verification OK: writer_empty.fits"],
  );
});

// ---- (c) bad input: one StarmambaError naming the column ----

function throwsNaming(columns: TableColumn[], ...words: string[]): void {
  const e = assertThrows(() => fitsTable(columns), StarmambaError);
  for (const w of words) assert(e.message.includes(w), `"${w}" missing from: ${e.message}`);
}

Deno.test("bintable: bad input is a StarmambaError naming the column", () => {
  const ok: TableColumn = { name: "id", type: "J", values: [1, 2] };
  throwsNaming([ok, { name: "flux", type: "E", values: [1] }], '"flux"', "1 values", "2");
  throwsNaming([{ name: "mag", type: "X" as "E", values: [1] }], '"mag"', "unknown type");
  throwsNaming([{ name: "obj", type: "A", values: ["ok", "Mön"] }], '"obj"', "row 2", "ASCII");
  throwsNaming([{ name: "n".repeat(69), type: "D", values: [] }], "nnnn", "1-68");
  throwsNaming(
    [{ name: "Flux", type: "D", values: [] }, { name: "FLUX", type: "D", values: [] }],
    '"FLUX"',
    "repeats",
  );
  throwsNaming([{ name: "n", type: "J", values: [2.5] }], '"n"', "row 1", "integer");
  throwsNaming([{ name: "n", type: "J", values: [-2147483648] }], '"n"', "integer");
  throwsNaming([{ name: "k", type: "K", values: [2 ** 60] }], '"k"', "bigint");
  throwsNaming([{ name: "b", type: "L", values: [1] }], '"b"', "true or false");
  throwsNaming([{ name: "f", type: "D", values: ["1"] }], '"f"', "a number");
  throwsNaming([{ name: "é", type: "D", values: [] }], "é", "ASCII");
  throwsNaming([], "no columns");
  assertThrows(
    () => fitsTable([ok], { header: [["TTYPE1", "x"]] }),
    StarmambaError,
    "set by the writer",
  );
  assertThrows(() => fitsTable([ok], { header: [["PCUT", NaN]] }), StarmambaError, "finite");
  assertThrows(() => fitsTable([ok], { header: [["lower", 1]] }), StarmambaError, "A-Z");
});

Deno.test("bintable: 68-character names and bigint extremes are written", () => {
  const name = "n".repeat(68);
  const { names, values } = readTable(
    fitsTable([{ name, type: "K", values: [-(2n ** 63n) + 1n, 2n ** 63n - 1n, null] }]),
  );
  assertEquals(names, [name]);
  assertEquals(values[0], ["-9223372036854775807", "9223372036854775807", null]);
});
