/**
 * Classified sources as a DS9 region file (SAOImage DS9 region format 4.1): one circle per
 * source, coloured by class, its probability as the label, and its class as a DS9 tag so the
 * classes can be selected or hidden by group in DS9 (Region → Groups). `deno task classify`
 * writes `<frame>.reg` with {@link ds9Regions}; the preview PNG (preview.ts) uses the same
 * colours ({@link classColor}).
 *
 * Colours are from Okabe & Ito's palette, which stays distinct under the common colour-vision
 * deficiencies: galaxies orange, stars sky blue; any other class gets one of the remaining
 * palette colours, chosen from its name so it is the same in every frame.
 * @module
 */
import { StarmambaError } from "../util/errors.ts";

/** Default class colours (Okabe–Ito orange and sky blue). */
export const CLASS_COLORS: Readonly<Record<string, string>> = {
  galaxy: "#E69F00",
  star: "#56B4E9",
};

/** Okabe–Ito colours left for other classes (bluish green, yellow, blue, vermillion, purple). */
const OTHER_COLORS = ["#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"];

/** One source to mark. */
export interface RegionSource {
  /** FITS 1-based pixel x (system "image") or right ascension in degrees (system "fk5"). */
  x: number;
  /** FITS 1-based pixel y (system "image") or declination in degrees (system "fk5"). */
  y: number;
  /** Circle radius: pixels (system "image") or arcseconds (system "fk5"). */
  radius: number;
  /** Class name, e.g. "galaxy" or "star"; letters, digits, "_", "-", "." only. */
  cls: string;
  /** The probability shown as the label (classify passes p_galaxy), in [0, 1]. */
  p: number;
  /** Shown before the probability, e.g. the source id (no braces or line breaks). */
  label?: string;
}

/** Options of {@link ds9Regions}. */
export interface RegionOptions {
  /** "image": x, y in FITS pixels; "fk5": x, y = RA, Dec in degrees (ICRS/J2000). */
  system: "image" | "fk5";
  /** Colours by class, "#rrggbb", overriding {@link CLASS_COLORS}. */
  colors?: Record<string, string>;
}

/** The first lines of every file: DS9 4.1's own header and global properties. */
const HEADER = [
  "# Region file format: DS9 version 4.1",
  'global color=green dashlist=8 3 width=1 font="helvetica 10 normal roman" select=1 ' +
  "highlite=1 dash=0 fixed=0 edit=1 move=1 delete=1 include=1 source=1",
];

/**
 * Writes a DS9 region file marking `sources`: the header, a comment naming the class colours,
 * the coordinate system, then one `circle(x,y,r) # color=… text={…} tag={class}` line each.
 * Image coordinates are written to 0.001 px, sky coordinates to 1e-7° (0.36 mas), a sky radius
 * in arcseconds (`"`); the probability with 2 decimals.
 * @param sources the sources (FITS 1-based pixels, or RA/Dec in degrees for "fk5").
 * @param opts the coordinate system and optional colours by class.
 * @returns the file's text, ending with a newline.
 * @throws {StarmambaError} naming the source (1-based) for a non-finite position, a radius ≤ 0,
 *   a probability outside [0, 1], or a class or label DS9 could not parse; or a bad colour.
 * @example
 * ```ts
 * const text = ds9Regions(
 *   [{ x: 101.5, y: 240.25, radius: 6, cls: "galaxy", p: 0.87, label: "17" }],
 *   { system: "image" },
 * );
 * // …
 * // image
 * // circle(101.500,240.250,6.000) # color=#E69F00 text={17 0.87} tag={galaxy}
 * ```
 */
export function ds9Regions(sources: readonly RegionSource[], opts: RegionOptions): string {
  if (opts.system !== "image" && opts.system !== "fk5") {
    throw new StarmambaError(`DS9 regions: unknown system "${opts.system}"; use image or fk5.`);
  }
  const classes = [...new Set(sources.map((s) => s.cls))].sort();
  const lines = [...HEADER];
  if (classes.length > 0) {
    const legend = classes.map((c) => `${c}=${classColor(c, opts.colors)}`).join(" ");
    lines.push(`# colour by class: ${legend}`);
  }
  lines.push(opts.system);
  sources.forEach((s, i) => lines.push(regionLine(s, i, opts)));
  return lines.join("\n") + "\n";
}

/**
 * The colour of class `cls`: `colors[cls]`, else {@link CLASS_COLORS}, else an Okabe–Ito colour
 * picked from the name (the same for the same name everywhere).
 * @throws {StarmambaError} when the colour given for `cls` is not "#rrggbb".
 */
export function classColor(cls: string, colors?: Record<string, string>): string {
  const given = colors?.[cls];
  if (given !== undefined) {
    if (!/^#[0-9a-fA-F]{6}$/.test(given)) {
      throw new StarmambaError(
        `colour of class "${cls}" must be "#rrggbb" (e.g. "#E69F00"), got "${given}".`,
      );
    }
    return given;
  }
  if (Object.hasOwn(CLASS_COLORS, cls)) return CLASS_COLORS[cls];
  let hash = 0;
  for (let i = 0; i < cls.length; i++) hash = (hash * 31 + cls.charCodeAt(i)) >>> 0;
  return OTHER_COLORS[hash % OTHER_COLORS.length];
}

/** One `circle(...) # ...` line, after checking the source. */
function regionLine(s: RegionSource, index: number, opts: RegionOptions): string {
  const where = `DS9 regions: source ${index + 1}`;
  if (!Number.isFinite(s.x) || !Number.isFinite(s.y)) {
    throw new StarmambaError(`${where}: position (${s.x}, ${s.y}) is not finite.`);
  }
  if (!(s.radius > 0 && Number.isFinite(s.radius))) {
    throw new StarmambaError(`${where}: radius must be > 0, got ${s.radius}.`);
  }
  if (!(s.p >= 0 && s.p <= 1)) {
    throw new StarmambaError(`${where}: probability must be in [0, 1], got ${s.p}.`);
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(s.cls)) {
    throw new StarmambaError(
      `${where}: class "${s.cls}" must be letters, digits, "_", "-" or "." (a DS9 tag).`,
    );
  }
  if (opts.system === "fk5" && Math.abs(s.y) > 90) {
    throw new StarmambaError(`${where}: declination ${s.y} is outside [-90, 90] degrees.`);
  }
  const label = s.label ?? "";
  if (!/^[\x20-\x7e]*$/.test(label) || /[{}]/.test(label)) {
    throw new StarmambaError(
      `${where}: label "${s.label}" must be printable ASCII without braces (DS9 text={…}).`,
    );
  }
  const sky = opts.system === "fk5";
  const [x, y] = sky ? [s.x.toFixed(7), s.y.toFixed(7)] : [s.x.toFixed(3), s.y.toFixed(3)];
  const r = sky ? `${s.radius.toFixed(3)}"` : s.radius.toFixed(3);
  const text = label === "" ? p2(s.p) : `${label} ${p2(s.p)}`;
  return `circle(${x},${y},${r}) # color=${classColor(s.cls, opts.colors)} text={${text}} ` +
    `tag={${s.cls}}`;
}

/** A probability with 2 decimals. */
function p2(p: number): string {
  return p.toFixed(2);
}
