/**
 * The files of a source catalogue (`deno task classify`, lib/experiment/classify.ts): what is
 * written, never how the rows were found.
 *
 *     catalog.csv    one row per source, {@link CATALOG_COLUMNS} then the carried --sources columns
 *     catalog.fits   the same as a FITS BINTABLE (lib/frames/bintable.ts; astropy, TOPCAT)
 *     catalog.json   the model, the operating point, the stretch, the frames, the code's commit
 *     <name>.reg     per frame: DS9 circles coloured by class, the probability as text
 *     <name>.png     per frame: a zscale preview with the sources circled by class
 *
 * {@link mergeCatalogs} merges folders written on shards of the frames (one `--slurm` task
 * each) into the folder one call over all the frames would have written.
 * @module
 */
import { join, resolve } from "node:path";
import { FLAG_BLANK, FLAG_BLENDED, FLAG_EDGE, FLAG_SATURATED } from "../frames/detect.ts";
import { fitsTable, type TableColumn } from "../frames/bintable.ts";
import { ds9Regions } from "../frames/regions.ts";
import { framePreview } from "../frames/preview.ts";
import type { FramePixels } from "../frames/cutouts.ts";
import { frameStem } from "../frames/sources_csv.ts";
import type { Decision } from "./operating_point.ts";
import { parseCsv, toCsv } from "./write.ts";
import { StarmambaError } from "../util/errors.ts";
import { exists, writeFileAtomic, writeJsonAtomic } from "../util/fs.ts";

/**
 * The catalogue's own columns, in order; `p_<positive class>` is `p_galaxy` for the galaxy/star
 * models. The `--sources` columns other than the positions and frame follow them.
 */
export const CATALOG_COLUMNS = [
  "frame", // the frame file as given
  "id", // 1-based, in detection (or --sources row) order within the frame
  "x", // FITS pixel x (1-based, X_IMAGE): the detected barycentre or the --sources position
  "y", // FITS pixel y (Y_IMAGE)
  "ra", // degrees (ICRS/FK5 as the WCS says), empty without a WCS
  "dec",
  "flux", // detection's FLUX_ISO (SEP flux), empty for --sources positions
  "flags", // bit field, FLAG_LEGEND
  "p", // p_<positive class>: its probability (after the prior correction, as predict writes)
  "class", // the class at the operating point; empty when the stamp was wholly blank
] as const;

/** What each bit of the `flags` column means (the bits are detect.ts's, as SEP's where shared). */
export const FLAG_LEGEND: Record<string, string> = {
  [FLAG_BLENDED]: "blended: deblended from a larger segment by the detection (SEP OBJ_MERGED)",
  [FLAG_EDGE]: "edge: the cutout runs off the frame; those pixels hold the local background",
  [FLAG_SATURATED]: "saturated: a pixel of the source (detection) or of the 3×3 around its " +
    "pixel reaches the header's SATURATE",
  [FLAG_BLANK]: "blank: blank (NaN) pixels in the cutout, replaced by its median as FITS " +
    "cutouts are, or touching the detected source",
};

/** One catalogue row. */
export interface CatalogRow {
  /** The frame file as given. */
  frame: string;
  /** 1-based, in detection (or --sources row) order within the frame. */
  id: number;
  /** FITS pixel x (1-based, as X_IMAGE). */
  x: number;
  /** FITS pixel y (1-based, as Y_IMAGE). */
  y: number;
  /** Right ascension (degrees); null without a WCS. */
  ra: number | null;
  /** Declination (degrees); null without a WCS. */
  dec: number | null;
  /** Detection's FLUX_ISO (SEP flux); null for --sources positions. */
  flux: number | null;
  /** Bit field, {@link FLAG_LEGEND}. */
  flags: number;
  /** Probability of the positive class; null for a wholly blank stamp (not classified). */
  p: number | null;
  /** The class at the operating point; "" when not classified. */
  cls: string;
  /** The --sources row's carried columns. */
  carried: string[];
}

/** One frame of catalog.json. */
export interface FrameSummary {
  /** The frame file as given. */
  file: string;
  /** The HDU read (the one asked for, or the first image extension behind an empty primary). */
  hdu: number;
  /** NAXIS1 (0 when the frame could not be read). */
  width: number;
  /** NAXIS2. */
  height: number;
  /** Whether its header has a celestial WCS (then the rows have ra, dec). */
  wcs: boolean;
  /** From the WCS: √|det CD| in arcsec per pixel; null without one. */
  pixel_scale_arcsec: number | null;
  /** The display stretch its cutouts were given (data.stretch's names); null when not read. */
  stretch: string | null;
  /** Detected or listed sources. */
  sources: number;
  /** Rows written (sources less skipped edge ones). */
  rows: number;
  /** Sources left out by skipEdge. */
  skipped_edge: number;
  /** Stamps whose every pixel was blank: written, not classified. */
  all_blank: number;
  /** Rows per class. */
  counts: Record<string, number>;
  /** Why the frame was left out (then nothing else is known of it but `file`). */
  error?: string;
}

/** The model as catalog.json records it. */
export interface CatalogModel {
  /** The model as the user named it. */
  given: string;
  /** Its run folder (relative to the repository when inside it). */
  dir: string;
  /** The run's experiment name. */
  experiment: string;
  /** Its network. */
  arch: string;
  /** Class names in label order. */
  classes: string[];
  /** Its data keys that decide the cutouts. */
  size: number;
  center_crop: number | null;
  /** The stretch it was trained with (the cutouts' may differ: catalog.json's `stretch`). */
  stretch: string;
  field_context: boolean;
  pixel_scale_arcsec: number | null;
}

/** What catalog.json says beside the rows: everything the call decided before any frame. */
export interface CatalogHead {
  /** The model. */
  model: CatalogModel;
  /** The operating point and how it was chosen. */
  decision: Decision;
  /** Where the positions came from. */
  positions: Record<string, string>;
  /** Whether edge sources were left out. */
  skip_edge: boolean;
  /** The cutouts' display stretch: given, the model's, or the default for display-image models. */
  stretch: Record<string, unknown>;
  /** What the pixel-scale check compares. */
  pixel_scale_check: string;
  /** The code's version (lib/results/provenance.ts codeVersion). */
  code: unknown;
}

/** What {@link writeCatalog} wrote. */
export interface CatalogWritten {
  /** Files written in the folder. */
  files: string[];
  /** Catalogue rows. */
  rows: number;
  /** Rows per class over all frames. */
  counts: Record<string, number>;
}

/** A frame's summary before anything is known of its sources (a frame that failed keeps it). */
export function emptyFrameSummary(file: string, hdu: number): FrameSummary {
  return {
    file,
    hdu,
    width: 0,
    height: 0,
    wcs: false,
    pixel_scale_arcsec: null,
    stretch: null,
    sources: 0,
    rows: 0,
    skipped_edge: 0,
    all_blank: 0,
    counts: {},
  };
}

/** Rows per class (`unclassified` for wholly blank stamps). */
export function classCounts(rows: CatalogRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of rows) {
    counts[r.cls || "unclassified"] = (counts[r.cls || "unclassified"] ?? 0) + 1;
  }
  return counts;
}

/** The catalogue's header: its own columns (`p` as `pColumn`), then the carried ones. */
export function catalogHeader(pColumn: string, carried: string[]): string[] {
  return [...CATALOG_COLUMNS.map((c) => c === "p" ? pColumn : c), ...carried];
}

/**
 * Writes catalog.csv, catalog.fits and catalog.json into `outDir` (created).
 * @param outDir the output folder.
 * @param head what catalog.json says of the call.
 * @param columns the CSV header ({@link catalogHeader}).
 * @param rows every row, frames in call order.
 * @param frames every frame's summary, failed ones with their `error`.
 * @param products each frame's name for its own files (`<name>.reg`, `<name>.png`).
 * @returns the files written, the rows and the counts per class.
 */
export function writeCatalog(
  outDir: string,
  head: CatalogHead,
  columns: string[],
  rows: CatalogRow[],
  frames: FrameSummary[],
  products: string[],
): CatalogWritten {
  Deno.mkdirSync(outDir, { recursive: true });
  writeFileAtomic(join(outDir, "catalog.csv"), toCsv([columns, ...rows.map(csvFields)]));
  writeFileAtomic(join(outDir, "catalog.fits"), catalogFits(columns, rows, head.model.given));
  const counts: Record<string, number> = {};
  for (const f of frames) {
    for (const [c, n] of Object.entries(f.counts)) counts[c] = (counts[c] ?? 0) + n;
  }
  const { code, ...said } = head;
  writeJsonAtomic(join(outDir, "catalog.json"), {
    schema: "starmamba.catalog/1",
    created: new Date().toISOString(),
    ...said,
    columns,
    flags: FLAG_LEGEND,
    rows: rows.length,
    counts,
    frames,
    code,
  });
  const own = frames.flatMap((f, i) => f.error ? [] : [`${products[i]}.reg`, `${products[i]}.png`]);
  return {
    files: ["catalog.csv", "catalog.fits", "catalog.json", ...own],
    rows: rows.length,
    counts,
  };
}

/** A number as the CSV writes it (`fixed` decimals when given), empty when null or not finite. */
function num(v: number | null, fixed?: number): string | number {
  if (v === null || !Number.isFinite(v)) return "";
  return fixed === undefined ? v : Number(v.toFixed(fixed));
}

/** One row's CSV fields. */
function csvFields(r: CatalogRow): (string | number)[] {
  return [
    r.frame,
    r.id,
    num(r.x, 4),
    num(r.y, 4),
    num(r.ra, 8),
    num(r.dec, 8),
    r.flux === null ? "" : Number(r.flux.toPrecision(7)),
    r.flags,
    num(r.p),
    r.cls,
    ...r.carried,
  ];
}

/**
 * catalog.fits: the rows as a BINTABLE named CATALOG, the model in its header. The numbers are
 * catalog.csv's (x, y to 1e-4 px, ra, dec to 1e-8°, flux to 7 digits), so the two files agree
 * and shards merged from their CSVs give the FITS file of one call.
 */
function catalogFits(columns: string[], rows: CatalogRow[], model: string): Uint8Array {
  const asWritten = rows.map((r) => rowOfCsv(csvFields(r).map(String), columns.length));
  return fitsTable(tableColumns(columns, asWritten), {
    extname: "CATALOG",
    header: [["ORIGIN", "starmamba"], ["MODEL", ascii(model).slice(0, 60)]],
  });
}

/** The catalogue as FITS binary-table columns (catalog.fits; astropy.table and TOPCAT read it). */
function tableColumns(header: string[], rows: CatalogRow[]): TableColumn[] {
  const col = (
    i: number,
    type: TableColumn["type"],
    values: TableColumn["values"],
    unit?: string,
  ) => ({ name: header[i], type, values, ...(unit ? { unit } : {}) });
  return [
    col(0, "A", rows.map((r) => ascii(r.frame))),
    col(1, "J", rows.map((r) => r.id)),
    col(2, "D", rows.map((r) => r.x), "pix"),
    col(3, "D", rows.map((r) => r.y), "pix"),
    col(4, "D", rows.map((r) => r.ra), "deg"),
    col(5, "D", rows.map((r) => r.dec), "deg"),
    col(6, "D", rows.map((r) => r.flux)),
    col(7, "J", rows.map((r) => r.flags)),
    col(8, "D", rows.map((r) => r.p)),
    col(9, "A", rows.map((r) => r.cls)),
    ...header.slice(CATALOG_COLUMNS.length).map((_, k) =>
      col(CATALOG_COLUMNS.length + k, "A", rows.map((r) => ascii(r.carried[k])))
    ),
  ];
}

/** Text as FITS strings hold it: printable ASCII, anything else as "?". */
function ascii(s: string): string {
  return s.replace(/[^ -~]/g, "?");
}

/**
 * Each frame's name for its own files: the file's stem, with `-<n>` (its 1-based place in the
 * call) where two frames of the call share a stem.
 */
export function productNames(frames: string[]): string[] {
  const stems = frames.map(frameStem);
  return stems.map((s, i) => stems.indexOf(s) === stems.lastIndexOf(s) ? s : `${s}-${i + 1}`);
}

/**
 * A frame's own files, while its pixels are in memory: `<base>.reg` (DS9 circles coloured by
 * class, the probability as text; FITS pixel coordinates) and `<base>.png` (the frame, zscale,
 * its sources circled by class). Unclassified (wholly blank) sources are left off both.
 * @param base the path without its extension (`<out>/<name>`).
 * @param pixels the frame's pixels.
 * @param rows the frame's rows.
 * @param radius the circles' radius in pixels.
 */
export async function writeFrameProducts(
  base: string,
  pixels: FramePixels,
  rows: CatalogRow[],
  radius: number,
): Promise<void> {
  const classified = rows.filter((r) => r.p !== null);
  const regions = classified.map((r) => ({
    x: r.x,
    y: r.y,
    radius,
    cls: r.cls,
    p: r.p!,
    label: String(r.id),
  }));
  writeFileAtomic(`${base}.reg`, ds9Regions(regions, { system: "image" }));
  const marks = classified.map((r) => ({ x: r.x, y: r.y, cls: r.cls, p: r.p! }));
  const png = await framePreview(pixels.data, pixels.width, pixels.height, marks, {
    stretch: "zscale",
    radius,
  });
  writeFileAtomic(`${base}.png`, png);
}

/** One shard folder's catalogue as read back by {@link mergeCatalogs}. */
interface ShardCatalog {
  dir: string;
  rows: string[][];
  record: Record<string, unknown> & { frames: FrameSummary[]; counts: Record<string, number> };
}

/**
 * Merges catalogue folders written on shards of the frames (one `--slurm` task each) into
 * `outDir`: the rows in the order of `dirs`, the frames and counts summed, the per-frame files
 * copied — the folder one call over all the frames writes, but for catalog.json's `created`,
 * `code` and its `merged_from`. The folders must agree on the columns, the operating point and
 * the stretch.
 * @throws {StarmambaError} naming the folder that is missing its files or disagrees.
 */
export function mergeCatalogs(dirs: string[], outDir: string): { rows: number; frames: number } {
  if (dirs.length === 0) throw new StarmambaError("no catalogue folders to merge");
  const shards = dirs.map(readShard);
  const [first] = shards;
  for (const s of shards.slice(1)) {
    if (s.rows[0].join() !== first.rows[0].join()) {
      throw new StarmambaError(`${s.dir}: catalog.csv has other columns than ${first.dir}'s`);
    }
    for (const key of ["decision", "stretch"]) {
      if (JSON.stringify(s.record[key]) !== JSON.stringify(first.record[key])) {
        throw new StarmambaError(`${s.dir}: another ${key} than ${first.dir}'s`);
      }
    }
  }
  const header = first.rows[0];
  const body = shards.flatMap((s) => s.rows.slice(1));
  const frames = shards.flatMap((s) => s.record.frames);
  const counts: Record<string, number> = {};
  for (const s of shards) {
    for (const [c, n] of Object.entries(s.record.counts)) counts[c] = (counts[c] ?? 0) + n;
  }
  Deno.mkdirSync(outDir, { recursive: true });
  copyFrameProducts(dirs, outDir);
  writeFileAtomic(join(outDir, "catalog.csv"), toCsv([header, ...body]));
  const model = (first.record.model as { given?: string } | undefined)?.given ?? "";
  const rows = body.map((r) => rowOfCsv(r, header.length));
  writeFileAtomic(join(outDir, "catalog.fits"), catalogFits(header, rows, model));
  const merged = { ...first.record, rows: body.length, counts, frames, merged_from: dirs };
  writeJsonAtomic(join(outDir, "catalog.json"), merged);
  return { rows: body.length, frames: frames.length };
}

/** A shard folder's catalog.csv and catalog.json. */
function readShard(dir: string): ShardCatalog {
  const csvPath = join(dir, "catalog.csv"), jsonPath = join(dir, "catalog.json");
  if (!exists(csvPath) || !exists(jsonPath)) {
    throw new StarmambaError(`${dir}: no catalog.csv and catalog.json; classify that shard first`);
  }
  return {
    dir,
    rows: parseCsv(Deno.readTextFileSync(csvPath)),
    record: JSON.parse(Deno.readTextFileSync(jsonPath)),
  };
}

/** A catalog.csv row back as a {@link CatalogRow} (empty numbers are null). */
function rowOfCsv(r: string[], width: number): CatalogRow {
  const n = (v: string) => (v === "" ? null : Number(v));
  return {
    frame: r[0],
    id: Number(r[1]),
    x: Number(r[2]),
    y: Number(r[3]),
    ra: n(r[4]),
    dec: n(r[5]),
    flux: n(r[6]),
    flags: Number(r[7]),
    p: n(r[8]),
    cls: r[9],
    carried: r.slice(CATALOG_COLUMNS.length, width),
  };
}

/** Copies the shards' per-frame files (.reg, .png) into `outDir`; two of one name are refused. */
function copyFrameProducts(dirs: string[], outDir: string): void {
  const from = new Map<string, string>();
  for (const dir of dirs) {
    for (const e of Deno.readDirSync(dir)) {
      if (!e.isFile || !/\.(reg|png)$/.test(e.name)) continue;
      const other = from.get(e.name);
      if (other !== undefined) {
        throw new StarmambaError(
          `${join(dir, e.name)}: ${other} has a file of that name too (two frames of one ` +
            "stem in different shards); rename one frame",
        );
      }
      from.set(e.name, dir);
    }
  }
  for (const [name, dir] of from) {
    if (resolve(dir) !== resolve(outDir)) Deno.copyFileSync(join(dir, name), join(outDir, name));
  }
}
