/**
 * Sky groups from a user's own catalogue: cutouts whose RA/Dec (degrees, ICRS) lie within a
 * radius of each other are linked, transitively (friends-of-friends, i.e. single linkage), so
 * overlapping cutouts from different frames of one patch of sky always share a group and a
 * grouped split can never put them on both sides. This is the positional counterpart of the
 * name-based `skyGroupOf` in splits.ts, for data whose file names carry no field.
 *
 * Cost is about O(n log n) for realistic catalogues: points are binned into declination bands
 * one radius high, each band cut into RA cells at least as wide as the RA reach of the radius
 * (scaled by 1 / cos dec, a single cell where the reach covers a pole), and only points in
 * neighbouring bands and cells are compared; a union-find merges the linked pairs.
 * @module
 */
import { StarmambaError } from "../util/errors.ts";

/** Degrees to radians. */
const RAD_PER_DEG = Math.PI / 180;
/** Arcseconds in a degree. */
const ARCSEC_PER_DEG = 3600;
/**
 * Padding of the radius used for binning only (the link test uses the exact radius): relative
 * 1e-9 and absolute 1e-7″ cover the rounding of dec + 90, RA / cell width and the trigonometry,
 * so the neighbour search never misses a pair the exact test would accept.
 */
const PAD_REL = 1e-9;
/** Absolute part of the binning pad, in degrees (1e-7 arcsec). */
const PAD_ABS_DEG = 1e-7 / ARCSEC_PER_DEG;
/**
 * Slack, in units of the last printed digit, added before truncating a position name, so that
 * 44 s given as 232.68333… degrees (43.99999999 s after floating-point division) prints 44.0.
 */
const NAME_SLACK = 1e-6;

/**
 * Great-circle separation in arcseconds between (ra1, dec1) and (ra2, dec2), all in degrees.
 * Uses the Vincenty form atan2(|a × b|, a · b), which keeps full relative precision at tiny
 * separations (where the cosine formula loses it) and near 180° (where haversine's asin does).
 */
export function separationArcsec(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const d1 = dec1 * RAD_PER_DEG, d2 = dec2 * RAD_PER_DEG;
  const dRa = (ra2 - ra1) * RAD_PER_DEG;
  const sinD1 = Math.sin(d1), cosD1 = poleCos(dec1, d1);
  const sinD2 = Math.sin(d2), cosD2 = poleCos(dec2, d2);
  const sinDRa = Math.sin(dRa), cosDRa = Math.cos(dRa);
  const x = cosD2 * sinDRa;
  const y = cosD1 * sinD2 - sinD1 * cosD2 * cosDRa;
  const cross = Math.sqrt(x * x + y * y);
  const dot = sinD1 * sinD2 + cosD1 * cosD2 * cosDRa;
  return Math.atan2(cross, dot) / RAD_PER_DEG * ARCSEC_PER_DEG;
}

/**
 * IAU-style position name `Jhhmmss.s±ddmmss` for (ra, dec) in degrees, e.g. (232.6834,
 * 23.1706) → "J153044.0+231014". Both parts are truncated, not rounded, as IAU designations
 * are (a slack of 1e-6 of the last digit absorbs floating-point error in values meant to be
 * exact). An RA within that slack of 360° wraps to 000000.0. The sign is that of dec, so a
 * source just south of the equator is "-000000".
 * @throws {RangeError} if ra is outside [0, 360) or dec outside [-90, 90] (or either is NaN).
 */
export function positionName(ra: number, dec: number): string {
  if (!(ra >= 0 && ra < 360)) throw new RangeError(`ra ${ra} is outside [0, 360)`);
  if (!(dec >= -90 && dec <= 90)) throw new RangeError(`dec ${dec} is outside [-90, 90]`);
  // RA in tenths of a second of time: 360° = 24 h = 864 000 tenths.
  const tenths = Math.floor(ra / 15 * 36000 + NAME_SLACK) % 864000;
  const raSec = Math.floor(tenths / 10);
  const raPart = sexagesimal(raSec) + "." + (tenths % 10);
  const decSec = Math.floor(Math.abs(dec) * ARCSEC_PER_DEG + NAME_SLACK);
  return `J${raPart}${dec < 0 ? "-" : "+"}${sexagesimal(decSec)}`;
}

/**
 * One group key per cutout: cutouts linked by a chain of separations ≤ `radiusArcsec` (each
 * step measured by {@link separationArcsec}) share a key, and no two groups share one.
 *
 * Key rule (independent of input order, a function of the member set only): the
 * {@link positionName} of the group's southernmost member, the one with the smallest
 * (dec, ra) pair. Truncated names can coincide for distinct groups closer than ~1.5″ (only
 * possible with radii that small); the groups sharing a name are then ordered by that
 * representative (dec, ra) and all but the first get "-2", "-3", … appended.
 *
 * @param ra right ascension of each cutout, degrees in [0, 360).
 * @param dec declination of each cutout, degrees in [-90, 90].
 * @param radiusArcsec linking length in arcseconds, finite and > 0.
 * @returns the key of each cutout, in input order.
 * @throws {StarmambaError} on a length mismatch, a bad radius, or a non-finite or
 * out-of-range coordinate, naming the 1-based row ("row 17: dec 95 is outside [-90, 90]").
 */
export function skyGroups(
  ra: ArrayLike<number>,
  dec: ArrayLike<number>,
  radiusArcsec: number,
): string[] {
  checkInputs(ra, dec, radiusArcsec);
  const parent = linkNeighbours(ra, dec, radiusArcsec);
  return groupKeys(ra, dec, parent);
}

/**
 * cos dec, exactly 0 at dec = ±90 (Math.cos(π/2) is 6e-17), so that every RA at a pole is the
 * same point, 0″ apart, rather than 2e-11″.
 */
function poleCos(decDeg: number, decRad: number): number {
  return Math.abs(decDeg) === 90 ? 0 : Math.cos(decRad);
}

/** Zero-padded "hhmmss" / "ddmmss" from a whole number of seconds. */
function sexagesimal(totalSec: number): string {
  const two = (v: number): string => String(v).padStart(2, "0");
  return two(Math.floor(totalSec / 3600)) + two(Math.floor(totalSec / 60) % 60) +
    two(totalSec % 60);
}

/** Throws a StarmambaError naming the first bad input; rows are 1-based for the user. */
function checkInputs(ra: ArrayLike<number>, dec: ArrayLike<number>, radiusArcsec: number): void {
  if (ra.length !== dec.length) {
    throw new StarmambaError(
      `${ra.length} RA values but ${dec.length} Dec values; every row needs both.`,
    );
  }
  if (!(Number.isFinite(radiusArcsec) && radiusArcsec > 0)) {
    throw new StarmambaError(
      `Invalid sky-group radius ${radiusArcsec} arcsec: expected a finite number > 0.`,
    );
  }
  for (let i = 0; i < ra.length; i++) {
    const row = i + 1;
    if (!Number.isFinite(ra[i])) throw new StarmambaError(`row ${row}: ra ${ra[i]} is not finite`);
    if (!Number.isFinite(dec[i])) {
      throw new StarmambaError(`row ${row}: dec ${dec[i]} is not finite`);
    }
    if (!(ra[i] >= 0 && ra[i] < 360)) {
      throw new StarmambaError(`row ${row}: ra ${ra[i]} is outside [0, 360)`);
    }
    if (!(dec[i] >= -90 && dec[i] <= 90)) {
      throw new StarmambaError(`row ${row}: dec ${dec[i]} is outside [-90, 90]`);
    }
  }
}

/** A declination band of the search grid: its RA cells and the points in each. */
interface Band {
  /** Number of RA cells; they tile [0, 360) exactly, so the wrap at 0/360 is a modulo. */
  numCells: number;
  /** Cell width in degrees (360 / numCells). */
  cellWidth: number;
  /** Point indices by cell index; only occupied cells are present. */
  cells: Map<number, number[]>;
}

/**
 * Half-width in RA (degrees) of the region within `rDeg` of a point at declination `decDeg`:
 * asin(sin r / cos dec) where the circle misses the poles; 180 (all RA) where it covers one.
 */
function raReach(decDeg: number, rDeg: number): number {
  if (Math.abs(decDeg) + rDeg >= 90) return 180;
  const s = Math.sin(rDeg * RAD_PER_DEG) / Math.cos(decDeg * RAD_PER_DEG);
  return s >= 1 ? 180 : Math.asin(s) / RAD_PER_DEG;
}

/** Index of the declination band holding `decDeg` (bands `height` degrees high from −90). */
function bandOf(decDeg: number, height: number): number {
  return Math.floor((decDeg + 90) / height);
}

/**
 * An empty band whose cells are at least as wide as the RA reach of any point in it or in its
 * neighbours (|dec| up to one band beyond its polar edge), so a query spans at most 3 cells.
 */
function newBand(b: number, height: number, rDeg: number): Band {
  const lo = b * height - 90, hi = lo + height;
  const edge = Math.min(90, Math.max(Math.abs(lo), Math.abs(hi)) + height);
  const reach = raReach(edge, rDeg);
  // The cap keeps cell indices exact integers even for a micro-arcsecond radius.
  const numCells = reach >= 180 ? 1 : Math.max(1, Math.min(2 ** 40, Math.floor(360 / reach)));
  return { numCells, cellWidth: 360 / numCells, cells: new Map() };
}

/** RA cell of `raDeg` in `band`; clamped because 359.999…/width can round up to numCells. */
function cellOf(raDeg: number, band: Band): number {
  return Math.min(band.numCells - 1, Math.floor(raDeg / band.cellWidth));
}

/** Bins every point into its band and RA cell. */
function buildGrid(
  ra: ArrayLike<number>,
  dec: ArrayLike<number>,
  height: number,
  rDeg: number,
): Map<number, Band> {
  const bands = new Map<number, Band>();
  for (let i = 0; i < ra.length; i++) {
    const b = bandOf(dec[i], height);
    let band = bands.get(b);
    if (!band) bands.set(b, band = newBand(b, height, rDeg));
    const c = cellOf(ra[i], band);
    const list = band.cells.get(c);
    if (list) list.push(i);
    else band.cells.set(c, [i]);
  }
  return bands;
}

/**
 * Calls `visit` with each occupied cell of `band` that may hold a point within `reach` degrees
 * of RA `raDeg`, wrapping at 0/360. Walks the occupied cells instead of the range when that is
 * shorter (a near-polar query can span many cells of a sparsely filled band).
 */
function forCellsInReach(
  band: Band,
  raDeg: number,
  reach: number,
  visit: (members: number[]) => void,
): void {
  const first = Math.floor((raDeg - reach) / band.cellWidth);
  const last = Math.floor((raDeg + reach) / band.cellWidth);
  const span = last - first + 1;
  const mod = (c: number): number => ((c % band.numCells) + band.numCells) % band.numCells;
  if (reach >= 180 || span >= band.numCells) {
    for (const members of band.cells.values()) visit(members);
  } else if (span > band.cells.size) {
    for (const [c, members] of band.cells) if (mod(c - first) < span) visit(members);
  } else {
    for (let c = first; c <= last; c++) {
      const members = band.cells.get(mod(c));
      if (members) visit(members);
    }
  }
}

/** Root of `i` with path compression: every node on the walk is re-pointed at the root. */
function find(parent: Int32Array, i: number): number {
  let root = i;
  while (parent[root] !== root) root = parent[root];
  while (parent[i] !== root) {
    const next = parent[i];
    parent[i] = root;
    i = next;
  }
  return root;
}

/** Merges the sets of roots `a` and `b` (union by size keeps the trees shallow); new root. */
function union(parent: Int32Array, size: Int32Array, a: number, b: number): number {
  if (size[a] < size[b]) [a, b] = [b, a];
  parent[b] = a;
  size[a] += size[b];
  return a;
}

/**
 * Union-find parent array after linking every pair within the radius. Each pair is tested once
 * (from its lower index: both ends' searches are complete, so the lower one finds it), and a
 * pair already in one set is skipped before any trigonometry, which keeps dense frames cheap.
 */
function linkNeighbours(
  ra: ArrayLike<number>,
  dec: ArrayLike<number>,
  radiusArcsec: number,
): Int32Array {
  const n = ra.length;
  const parent = new Int32Array(n).map((_, i) => i);
  const size = new Int32Array(n).fill(1);
  const rDeg = radiusArcsec / ARCSEC_PER_DEG;
  const padded = rDeg * (1 + PAD_REL) + PAD_ABS_DEG;
  const bands = buildGrid(ra, dec, padded, padded);
  for (let p = 0; p < n; p++) {
    const b = bandOf(dec[p], padded);
    const reach = Math.min(180, raReach(dec[p], padded) * (1 + PAD_REL) + PAD_ABS_DEG);
    let rootP = find(parent, p);
    const tryLink = (members: number[]): void => {
      for (const q of members) {
        if (q <= p) continue;
        const rootQ = find(parent, q);
        if (rootQ === rootP) continue;
        if (separationArcsec(ra[p], dec[p], ra[q], dec[q]) <= radiusArcsec) {
          rootP = union(parent, size, rootP, rootQ);
        }
      }
    };
    for (let nb = b - 1; nb <= b + 1; nb++) {
      const band = bands.get(nb);
      if (band) forCellsInReach(band, ra[p], reach, tryLink);
    }
  }
  return parent;
}

/** True if point i comes before point j in (dec, ra) order, the key rule's representative. */
function southOf(ra: ArrayLike<number>, dec: ArrayLike<number>, i: number, j: number): boolean {
  return dec[i] < dec[j] || (dec[i] === dec[j] && ra[i] < ra[j]);
}

/** Key per point from the union-find roots, by the rule documented on {@link skyGroups}. */
function groupKeys(ra: ArrayLike<number>, dec: ArrayLike<number>, parent: Int32Array): string[] {
  const n = ra.length;
  // Representative (smallest (dec, ra)) of each root's group.
  const rep = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const root = find(parent, i);
    const cur = rep.get(root);
    if (cur === undefined || southOf(ra, dec, i, cur)) rep.set(root, i);
  }
  // Distinct groups have distinct representative positions (equal positions are 0″ apart and
  // so linked), hence sorting by (dec, ra) orders colliding names the same for any input order.
  const roots = [...rep.keys()].sort((a, b) => {
    const i = rep.get(a)!, j = rep.get(b)!;
    return southOf(ra, dec, i, j) ? -1 : southOf(ra, dec, j, i) ? 1 : 0;
  });
  const keyOfRoot = new Map<number, string>();
  const uses = new Map<string, number>();
  for (const root of roots) {
    const i = rep.get(root)!;
    const name = positionName(ra[i], dec[i]);
    const count = (uses.get(name) ?? 0) + 1;
    uses.set(name, count);
    keyOfRoot.set(root, count === 1 ? name : `${name}-${count}`);
  }
  return Array.from({ length: n }, (_, i) => keyOfRoot.get(find(parent, i))!);
}
