/**
 * The FITS world coordinate system of a telescope frame's two celestial axes: pixel ↔ (RA, Dec).
 *
 * Follows the standard's papers and their names: Greisen & Calabretta 2002 (Paper I: CRPIXi,
 * the linear transformation by CDi_j or PCi_j + CDELTi, CROTAi as the older alternative),
 * Calabretta & Greisen 2002 (Paper II: projection plane (x, y) → native spherical (φ, θ) by the
 * projection, then the rotation that puts the native pole at celestial (α_p, δ_p) with φ_p =
 * LONPOLE), and Shupe et al. 2005 (SIP: the polynomial distortion A/B applied to the pixel offsets
 * (u, v) before the linear transformation, AP/BP its approximate inverse). Projections: TAN
 * (gnomonic) and SIN (orthographic, with the generalised form's PV2_1 = ξ, PV2_2 = η), each with
 * or without "-SIP". Pixel coordinates are FITS's: 1-based, x = column (NAXIS1), y = row counting
 * up (NAXIS2), the centre of the first pixel is (1, 1). Angles are degrees.
 *
 * Where the standard lets a header leave things out, the defaults are Paper I/II's: PC = identity,
 * CDELT = 1, missing CDi_j = 0 once any is given, LONPOLE = 0 if δ0 ≥ θ0 else 180° (θ0 = 90° for
 * both projections). Precedence when several forms are present is wcslib's (as astropy reads them):
 * PCi_j, then CDi_j, then CROTAi of the latitude axis. Two deliberate refusals where wcslib would go on: a header with
 * no pixel scale at all (no CD, PC, CDELT: 1°/pixel by default, never a real frame) and a
 * singular CD matrix are errors rather than a WCS.
 * @module
 */
import { type FitsValue, numericCard } from "../data/fits.ts";
import { StarmambaError } from "../util/errors.ts";

/** The projections this module computes (the CTYPE code after the axis name). */
export const SUPPORTED_PROJECTIONS = ["TAN", "SIN"] as const;

/** A supported projection's three-letter code. */
export type ProjectionCode = (typeof SUPPORTED_PROJECTIONS)[number];

/** A 2×2 matrix as rows: m[i][j], i the world axis, j the pixel axis (as CDi_j, 1-based there). */
export type Matrix2 = [[number, number], [number, number]];

/** One SIP polynomial: Σ coef · u^p · v^q over its terms (Shupe et al. 2005, eq. 1-2). */
export interface SipPolynomial {
  /** A_ORDER (or B_ORDER, AP_ORDER, BP_ORDER): the largest p + q. */
  order: number;
  /** Non-zero terms as [p, q, coefficient] (from the keywords NAME_p_q). */
  terms: [number, number, number][];
}

/** SIP distortion: f = A, g = B on (u, v) = pixel − CRPIX; AP, BP the inverse when the header has it. */
export interface SipDistortion {
  /** f(u, v), added to u. */
  a: SipPolynomial;
  /** g(u, v), added to v. */
  b: SipPolynomial;
  /** The approximate inverse F(U, V) added to U (AP_p_q); absent when the header has none. */
  ap?: SipPolynomial;
  /** The approximate inverse G(U, V) added to V (BP_p_q). */
  bp?: SipPolynomial;
}

/** A parsed celestial WCS; build it with {@link parseWcs}. */
export interface Wcs {
  /** CTYPE1 and CTYPE2 as written (e.g. "RA---TAN-SIP"). */
  ctype: [string, string];
  /** The projection code. */
  projection: ProjectionCode;
  /** Which pixel axis carries the longitude (RA): 0 when CTYPE1 is RA, 1 when the axes are swapped. */
  lngAxis: 0 | 1;
  /** CRPIX1, CRPIX2: the reference pixel (1-based). */
  crpix: [number, number];
  /** CRVAL1, CRVAL2 in header order (degrees). */
  crval: [number, number];
  /** The linear transformation in degrees per pixel: CDi_j, or CDELTi × PCi_j, or from CROTAi. */
  cd: Matrix2;
  /** The inverse of `cd`. */
  cdInverse: Matrix2;
  /** Which header form gave `cd`. */
  linear: "CD" | "PC" | "CROTA";
  /** SIP distortion, when CTYPE ends in "-SIP". */
  sip?: SipDistortion;
  /** SIN's ξ = PVi_1 and η = PVi_2 (i the latitude axis); 0 for TAN and for plain SIN. */
  pv: [number, number];
  /** α_p: the native pole's right ascension (= the fiducial point's, for zenithal projections). */
  alphaP: number;
  /** δ_p: the native pole's declination. */
  deltaP: number;
  /** φ_p = LONPOLE: the native longitude of the celestial pole. */
  phiP: number;
  /** LATPOLE as given or defaulted (recorded; zenithal projections do not need it). */
  latpole: number;
  /** RADESYS (or RADECSYS) when given. */
  radesys?: string;
  /** EQUINOX (or EPOCH) when given. */
  equinox?: number;
}

const D2R = Math.PI / 180;
const R2D = 180 / Math.PI;
/** Newton on the SIP polynomials stops when the step is below this (pixels). */
const SIP_TOLERANCE = 1e-10;
const SIP_MAX_ITERATIONS = 50;

/**
 * Whether a header declares celestial axes (CTYPE1 or CTYPE2 names RA, DEC or another celestial
 * longitude or latitude such as GLON): the frames whose WCS {@link parseWcs} should read, so that
 * one it cannot compute (galactic axes, say) is refused by name rather than passed over.
 * @param header the HDU's keyword = value cards.
 * @returns true when CTYPE1 or CTYPE2 starts with "RA--", "DEC-", "xLON" or "xLAT".
 */
export function hasCelestialWcs(header: Record<string, FitsValue>): boolean {
  return [header["CTYPE1"], header["CTYPE2"]].some((c) =>
    typeof c === "string" && /^(RA--|DEC-|[A-Z]LON|[A-Z]LAT)/.test(c.toUpperCase())
  );
}

/**
 * Reads the celestial WCS of a 2-D image from its header.
 * @param header the HDU's keyword = value cards (as {@link readFits} returns them).
 * @param name the file (and HDU) for error messages.
 * @returns the parsed WCS, ready for {@link pixelToWorld} and {@link worldToPixel}.
 * @throws {StarmambaError} one line naming the file and keyword: an unsupported projection, a
 *   missing or non-numeric keyword, a unit other than deg, a header without a pixel scale, a
 *   singular CD matrix, SIP keywords that do not add up.
 */
export function parseWcs(header: Record<string, FitsValue>, name: string): Wcs {
  const ctype: [string, string] = [
    stringKey(header, "CTYPE1", name),
    stringKey(header, "CTYPE2", name),
  ];
  const { projection, lngAxis, sip: hasSip } = parseCtypes(ctype, name);
  for (const i of [1, 2]) checkUnit(header, i, name);
  const crpix: [number, number] = [numKey(header, "CRPIX1", name), numKey(header, "CRPIX2", name)];
  const crval: [number, number] = [numKey(header, "CRVAL1", name), numKey(header, "CRVAL2", name)];
  const { cd, linear } = linearTransform(header, lngAxis, name);
  const cdInverse = invert(cd, name, linear);
  const latAxisNumber = 2 - lngAxis;
  const pv: [number, number] = projection === "SIN"
    ? [
      optionalNum(header, `PV${latAxisNumber}_1`, 0, name),
      optionalNum(header, `PV${latAxisNumber}_2`, 0, name),
    ]
    : [0, 0];
  const alpha0 = crval[lngAxis];
  const delta0 = crval[1 - lngAxis];
  if (Math.abs(delta0) > 90) {
    const key = `CRVAL${latAxisNumber}`;
    throw new StarmambaError(
      `${name}: ${key} = ${delta0} is a declination beyond ±90°; fix the header's WCS.`,
    );
  }
  // Zenithal projections have their fiducial point at the native pole (φ0, θ0) = (0, 90°), so
  // the celestial coordinates of the native pole are the reference values themselves (Paper II
  // §2.4), and LONPOLE's default is 0 only when δ0 reaches θ0.
  const phiP = optionalNum(header, "LONPOLE", delta0 >= 90 ? 0 : 180, name);
  const latpole = optionalNum(header, "LATPOLE", 90, name);
  const wcs: Wcs = {
    ctype,
    projection,
    lngAxis,
    crpix,
    crval,
    cd,
    cdInverse,
    linear,
    pv,
    alphaP: alpha0,
    deltaP: delta0,
    phiP,
    latpole,
  };
  if (hasSip) wcs.sip = parseSip(header, name);
  const radesys = header["RADESYS"] ?? header["RADECSYS"];
  if (typeof radesys === "string") wcs.radesys = radesys;
  const equinox = header["EQUINOX"] ?? header["EPOCH"];
  if (typeof equinox === "number") wcs.equinox = equinox;
  return wcs;
}

/** Splits CTYPE1/2 into the axis names, the projection and "-SIP"; refuses anything else. */
function parseCtypes(
  ctype: [string, string],
  name: string,
): { projection: ProjectionCode; lngAxis: 0 | 1; sip: boolean } {
  const parts = ctype.map((c) => /^(RA|DEC)-*-([A-Z0-9]{3})(-SIP)?\s*$/i.exec(c.trim()));
  const [p1, p2] = parts;
  if (!p1 || !p2) {
    const bad = p1 ? ctype[1] : ctype[0];
    throw new StarmambaError(
      `${name}: CTYPE${p1 ? 2 : 1} = '${bad}' is not a celestial axis starmamba reads; ` +
        `supported: 'RA---xxx' and 'DEC--xxx' with xxx one of ${supportedList()} ` +
        "(optionally followed by -SIP).",
    );
  }
  const names = [p1[1].toUpperCase(), p2[1].toUpperCase()];
  if (names[0] === names[1]) {
    throw new StarmambaError(
      `${name}: CTYPE1 and CTYPE2 are both ${names[0]} ('${ctype[0]}', '${ctype[1]}'); ` +
        "one axis must be RA and the other DEC. Fix the header's WCS.",
    );
  }
  const codes = [p1[2].toUpperCase(), p2[2].toUpperCase()];
  for (const [i, code] of codes.entries()) {
    if (!(SUPPORTED_PROJECTIONS as readonly string[]).includes(code)) {
      throw new StarmambaError(
        `${name}: CTYPE${i + 1} = '${ctype[i]}' uses the ${code} projection, which starmamba ` +
          `does not compute; supported projections: ${supportedList()}. Re-fit the frame's ` +
          "astrometry with one of them (e.g. astrometry.net writes TAN-SIP).",
      );
    }
  }
  if (codes[0] !== codes[1] || Boolean(p1[3]) !== Boolean(p2[3])) {
    throw new StarmambaError(
      `${name}: CTYPE1 = '${ctype[0]}' and CTYPE2 = '${ctype[1]}' name different projections; ` +
        "both celestial axes must use the same one. Fix the header's WCS.",
    );
  }
  return {
    projection: codes[0] as ProjectionCode,
    lngAxis: names[0] === "RA" ? 0 : 1,
    sip: Boolean(p1[3]),
  };
}

/** "TAN, SIN, TAN-SIP, SIN-SIP" for messages. */
function supportedList(): string {
  return [...SUPPORTED_PROJECTIONS, ...SUPPORTED_PROJECTIONS.map((p) => `${p}-SIP`)].join(", ");
}

/** Celestial axes are in degrees; a CUNITi that says otherwise is refused, not guessed. */
function checkUnit(header: Record<string, FitsValue>, i: number, name: string): void {
  const unit = header[`CUNIT${i}`];
  if (unit === undefined || (typeof unit === "string" && /^\s*(deg)?\s*$/i.test(unit))) return;
  throw new StarmambaError(
    `${name}: CUNIT${i} = '${unit}'; starmamba reads celestial axes in degrees only ` +
      `(CUNIT${i} = 'deg' or absent). Convert CRVAL/CDELT/CD to degrees.`,
  );
}

/**
 * The linear transformation (Paper I §2.1.2): PCi_j × CDELTi when any PC is given, else CDi_j
 * when any CD is given (missing elements 0), else CDELTi with the latitude axis's CROTAi (the
 * AIPS convention; CROTA2 when DEC is the second axis), else CDELTi alone (PC = identity).
 */
function linearTransform(
  header: Record<string, FitsValue>,
  lngAxis: 0 | 1,
  name: string,
): { cd: Matrix2; linear: Wcs["linear"] } {
  const keys = (prefix: string) => [`${prefix}1_1`, `${prefix}1_2`, `${prefix}2_1`, `${prefix}2_2`];
  const has = (k: string) => header[k] !== undefined;
  const anyPc = keys("PC").some(has);
  const anyCd = keys("CD").some(has);
  const anyCdelt = has("CDELT1") || has("CDELT2");
  if (!anyPc && !anyCd && !anyCdelt) {
    throw new StarmambaError(
      `${name}: the WCS has no pixel scale (no CDi_j, PCi_j or CDELTi card); ` +
        "add CD1_1 … CD2_2 (degrees per pixel), e.g. by re-running the astrometric fit.",
    );
  }
  const cdelt = [
    optionalNum(header, "CDELT1", 1, name),
    optionalNum(header, "CDELT2", 1, name),
  ];
  if (anyPc || !anyCd) {
    const pc = anyPc
      ? matrixFrom(header, "PC", [1, 0, 0, 1], name)
      : crotaMatrix(header, cdelt, lngAxis, name);
    const cd: Matrix2 = [
      [cdelt[0] * pc[0][0], cdelt[0] * pc[0][1]],
      [cdelt[1] * pc[1][0], cdelt[1] * pc[1][1]],
    ];
    const crota = header[`CROTA${2 - lngAxis}`] !== undefined;
    return { cd, linear: anyPc || !crota ? "PC" : "CROTA" };
  }
  return { cd: matrixFrom(header, "CD", [0, 0, 0, 0], name), linear: "CD" };
}

/** PREFIXi_j cards as a matrix, each missing element its default. */
function matrixFrom(
  header: Record<string, FitsValue>,
  prefix: string,
  defaults: [number, number, number, number],
  name: string,
): Matrix2 {
  const at = (i: number, j: number) =>
    optionalNum(header, `${prefix}${i}_${j}`, defaults[2 * (i - 1) + (j - 1)], name);
  return [[at(1, 1), at(1, 2)], [at(2, 1), at(2, 2)]];
}

/**
 * The PC matrix of CDELTi + CROTAi (Paper II §6.1, eq. 189): the rotation ρ is the latitude
 * axis's CROTA (a CROTA on the longitude axis means nothing, as in wcslib); the identity
 * without it. With l the longitude axis and b the latitude axis: PC_ll = PC_bb = cos ρ,
 * PC_lb = −sin ρ · CDELT_b / CDELT_l, PC_bl = sin ρ · CDELT_l / CDELT_b.
 */
function crotaMatrix(
  header: Record<string, FitsValue>,
  cdelt: number[],
  lngAxis: 0 | 1,
  name: string,
): Matrix2 {
  const l = lngAxis;
  const b = 1 - lngAxis;
  const rho = optionalNum(header, `CROTA${b + 1}`, 0, name) * D2R;
  const pc: Matrix2 = [[Math.cos(rho), 0], [0, Math.cos(rho)]];
  pc[l][b] = -Math.sin(rho) * cdelt[b] / cdelt[l];
  pc[b][l] = Math.sin(rho) * cdelt[l] / cdelt[b];
  return pc;
}

/** The inverse of a 2×2 matrix; a (near-)singular one is an error naming where it came from. */
function invert(m: Matrix2, name: string, linear: Wcs["linear"]): Matrix2 {
  const det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
  const scale = Math.max(...m.flat().map(Math.abs));
  if (!Number.isFinite(det) || scale === 0 || Math.abs(det) <= 1e-12 * scale * scale) {
    const what = linear === "CD" ? "CD matrix (CD1_1 CD1_2 CD2_1 CD2_2)" : "CDELTi × PCi_j matrix";
    throw new StarmambaError(
      `${name}: the WCS ${what} = [${m.flat().join(", ")}] is singular (determinant ${det}); ` +
        "pixels cannot be mapped back from the sky. Fix the header's WCS.",
    );
  }
  return [
    [m[1][1] / det, -m[0][1] / det],
    [-m[1][0] / det, m[0][0] / det],
  ];
}

/** The SIP keywords: A_ORDER and B_ORDER are required; AP/BP are read when AP_ORDER is given. */
function parseSip(header: Record<string, FitsValue>, name: string): SipDistortion {
  const sip: SipDistortion = {
    a: sipPolynomial(header, "A", name, true)!,
    b: sipPolynomial(header, "B", name, true)!,
  };
  const ap = sipPolynomial(header, "AP", name, false);
  const bp = sipPolynomial(header, "BP", name, false);
  if (Boolean(ap) !== Boolean(bp)) {
    throw new StarmambaError(
      `${name}: the SIP inverse has ${
        ap ? "AP_ORDER but no BP_ORDER" : "BP_ORDER but no AP_ORDER"
      }; ` +
        "give both (or neither: the inverse is then solved from A and B).",
    );
  }
  if (ap && bp) {
    sip.ap = ap;
    sip.bp = bp;
  }
  return sip;
}

/** NAME_ORDER and the NAME_p_q terms with p + q ≤ order. */
function sipPolynomial(
  header: Record<string, FitsValue>,
  prefix: string,
  name: string,
  required: boolean,
): SipPolynomial | undefined {
  const key = `${prefix}_ORDER`;
  const order = header[key];
  if (order === undefined && !required) return undefined;
  if (typeof order !== "number" || !Number.isInteger(order) || order < 0 || order > 9) {
    throw new StarmambaError(
      `${name}: CTYPE ends in -SIP but ${key} = ${order ?? "(missing)"}; SIP needs ` +
        `${key} as an integer 0-9. Fix the header or remove -SIP from CTYPE1/CTYPE2.`,
    );
  }
  const terms: [number, number, number][] = [];
  for (let p = 0; p <= order; p++) {
    for (let q = 0; p + q <= order; q++) {
      const c = optionalNum(header, `${prefix}_${p}_${q}`, 0, name);
      if (c !== 0) terms.push([p, q, c]);
    }
  }
  return { order, terms };
}

/** A string card that must be present. */
function stringKey(header: Record<string, FitsValue>, key: string, name: string): string {
  const v = header[key];
  if (typeof v !== "string") {
    throw new StarmambaError(
      `${name}: the WCS needs ${key} (a string such as 'RA---TAN' / 'DEC--TAN'), found ` +
        `${v === undefined ? "none" : String(v)}. Add it or fit the frame's astrometry.`,
    );
  }
  return v;
}

/** A numeric card that must be present. */
function numKey(header: Record<string, FitsValue>, key: string, name: string): number {
  return numericCard(
    header,
    key,
    undefined,
    (v) =>
      `${name}: the WCS needs ${key} as a number, found ${v === undefined ? "none" : `'${v}'`}; ` +
      "add it or fit the frame's astrometry.",
  );
}

/** A numeric card with a default; present but not a number is an error. */
function optionalNum(
  header: Record<string, FitsValue>,
  key: string,
  fallback: number,
  name: string,
): number {
  return numericCard(
    header,
    key,
    fallback,
    (v) => `${name}: WCS card ${key} = '${v}' is not a number; fix or remove it.`,
  );
}

/** Σ coef · u^p · v^q. */
function evalSip(poly: SipPolynomial, u: number, v: number): number {
  let sum = 0;
  for (const [p, q, c] of poly.terms) sum += c * u ** p * v ** q;
  return sum;
}

/** ∂/∂u and ∂/∂v of a SIP polynomial. */
function sipGradient(poly: SipPolynomial, u: number, v: number): [number, number] {
  let du = 0;
  let dv = 0;
  for (const [p, q, c] of poly.terms) {
    if (p > 0) du += c * p * u ** (p - 1) * v ** q;
    if (q > 0) dv += c * q * u ** p * v ** (q - 1);
  }
  return [du, dv];
}

/**
 * Pixel → world: (x, y) FITS pixel (1-based, x the column) → (RA, Dec) in degrees, RA in
 * [0, 360). SIP (when present) acts on (u, v) = pixel − CRPIX, then the linear transformation
 * gives the projection plane (x, y) of Paper II, the projection native (φ, θ), the rotation
 * (α, δ).
 * @param wcs from {@link parseWcs}.
 * @param px FITS x (column, 1-based).
 * @param py FITS y (row counting up, 1-based).
 * @returns [RA, Dec] in degrees; [NaN, NaN] where the projection has no sky (SIN beyond its disc).
 */
export function pixelToWorld(wcs: Wcs, px: number, py: number): [number, number] {
  let u = px - wcs.crpix[0];
  let v = py - wcs.crpix[1];
  if (wcs.sip) {
    const f = evalSip(wcs.sip.a, u, v);
    const g = evalSip(wcs.sip.b, u, v);
    u += f;
    v += g;
  }
  const w0 = wcs.cd[0][0] * u + wcs.cd[0][1] * v;
  const w1 = wcs.cd[1][0] * u + wcs.cd[1][1] * v;
  const [x, y] = wcs.lngAxis === 0 ? [w0, w1] : [w1, w0];
  const native = deproject(wcs, x, y);
  if (!native) return [NaN, NaN];
  return nativeToCelestial(wcs, native);
}

/**
 * World → pixel: (RA, Dec) in degrees → FITS pixel (x, y), 1-based. The inverse projection and
 * linear transformation are exact; SIP is inverted by Newton's method on A/B to 1e-10 pixel,
 * starting from AP/BP when the header has them (so their fit accuracy does not limit ours).
 * @param wcs from {@link parseWcs}.
 * @param ra right ascension (degrees, any turn).
 * @param dec declination (degrees).
 * @returns [x, y]; [NaN, NaN] for a position the projection cannot show (the far hemisphere of
 *   TAN or SIN) or where the SIP distortion has no inverse.
 */
export function worldToPixel(wcs: Wcs, ra: number, dec: number): [number, number] {
  const plane = project(wcs, celestialToNative(wcs, ra, dec));
  if (!plane) return [NaN, NaN];
  const [x, y] = plane;
  const [w0, w1] = wcs.lngAxis === 0 ? [x, y] : [y, x];
  const m = wcs.cdInverse;
  const uu = m[0][0] * w0 + m[0][1] * w1;
  const vv = m[1][0] * w0 + m[1][1] * w1;
  const [u, v] = wcs.sip ? undistort(wcs.sip, uu, vv) : [uu, vv];
  return [u + wcs.crpix[0], v + wcs.crpix[1]];
}

/** Solves (u + f(u, v), v + g(u, v)) = (U, V) for (u, v) by Newton's method. */
function undistort(sip: SipDistortion, U: number, V: number): [number, number] {
  let u = U;
  let v = V;
  if (sip.ap && sip.bp) {
    u = U + evalSip(sip.ap, U, V);
    v = V + evalSip(sip.bp, U, V);
  }
  for (let it = 0; it < SIP_MAX_ITERATIONS; it++) {
    const ru = u + evalSip(sip.a, u, v) - U;
    const rv = v + evalSip(sip.b, u, v) - V;
    const [fu, fv] = sipGradient(sip.a, u, v);
    const [gu, gv] = sipGradient(sip.b, u, v);
    const j00 = 1 + fu;
    const j11 = 1 + gv;
    const det = j00 * j11 - fv * gu;
    if (det === 0 || !Number.isFinite(det)) break;
    const du = (j11 * ru - fv * rv) / det;
    const dv = (j00 * rv - gu * ru) / det;
    u -= du;
    v -= dv;
    if (Math.hypot(du, dv) <= SIP_TOLERANCE) return [u, v];
  }
  return [NaN, NaN];
}

/**
 * A native spherical position (Paper II's (φ, θ)) as φ in radians and θ by its sine and cosine:
 * near the reference point θ → 90°, and sin/cos computed from the plane coordinates keep the
 * precision that θ itself, rounded to 90° − ε, would lose.
 */
interface Native {
  phi: number;
  sinTheta: number;
  cosTheta: number;
}

/** Projection plane (x, y) in degrees → native (φ, θ) (Paper II §5.1); undefined off the projection. */
function deproject(wcs: Wcs, x: number, y: number): Native | undefined {
  const X = x * D2R;
  const Y = y * D2R;
  if (wcs.projection === "TAN") {
    // Paper II eq. 14-15, 54: φ = arg(−y, x), tan θ = 180°/(π R_θ) = 1/R in radians.
    const r = Math.hypot(X, Y);
    const norm = Math.hypot(1, r);
    return { phi: r === 0 ? 0 : Math.atan2(X, -Y), sinTheta: 1 / norm, cosTheta: r / norm };
  }
  return deprojectSin(wcs.pv[0], wcs.pv[1], X, Y);
}

/**
 * SIN's inverse (Paper II eq. 38-41): sin θ from a quadratic, the root nearer θ = 90°, then φ.
 * X, Y are the plane coordinates in radians.
 */
function deprojectSin(xi: number, eta: number, X: number, Y: number): Native | undefined {
  let sinTheta: number;
  if (xi === 0 && eta === 0) {
    const r2 = X * X + Y * Y;
    if (r2 > 1) return undefined;
    // cos θ = R, the orthographic projection's radius.
    sinTheta = Math.sqrt(1 - r2);
  } else {
    const a = xi * xi + eta * eta + 1;
    const b = xi * (X - xi) + eta * (Y - eta);
    const c = (X - xi) ** 2 + (Y - eta) ** 2 - 1;
    const disc = b * b - a * c;
    if (disc < 0) return undefined;
    const roots = [(-b + Math.sqrt(disc)) / a, (-b - Math.sqrt(disc)) / a];
    const valid = roots.filter((s) => Math.abs(s) <= 1 + 1e-13);
    if (valid.length === 0) return undefined;
    sinTheta = Math.min(1, Math.max(...valid));
  }
  const k = 1 - sinTheta;
  const xs = X - xi * k;
  const ys = Y - eta * k;
  const phi = xs === 0 && ys === 0 ? 0 : Math.atan2(xs, -ys);
  return { phi, sinTheta, cosTheta: Math.hypot(xs, ys) };
}

/** Native (φ, θ) → projection plane (x, y) in degrees; undefined where the projection has no image. */
function project(wcs: Wcs, n: Native): [number, number] | undefined {
  const sinPhi = Math.sin(n.phi);
  const cosPhi = Math.cos(n.phi);
  if (wcs.projection === "TAN") {
    // Paper II eq. 54: R_θ = (180°/π) cot θ; the hemisphere θ ≤ 0 does not project.
    if (n.sinTheta <= 0) return undefined;
    const r = R2D * n.cosTheta / n.sinTheta;
    return [r * sinPhi, -r * cosPhi];
  }
  // SIN (Paper II eq. 36-37): only the near hemisphere is shown.
  if (n.sinTheta < 0) return undefined;
  const [xi, eta] = wcs.pv;
  return [
    R2D * (n.cosTheta * sinPhi + xi * (1 - n.sinTheta)),
    R2D * (-n.cosTheta * cosPhi + eta * (1 - n.sinTheta)),
  ];
}

/**
 * Native (φ, θ) → celestial (α, δ) in degrees (Paper II eq. 2), as a rotated unit vector so δ
 * near the poles keeps full precision (atan2 rather than asin).
 */
function nativeToCelestial(wcs: Wcs, n: Native): [number, number] {
  const dphi = n.phi - wcs.phiP * D2R;
  const dp = wcs.deltaP * D2R;
  const X = n.sinTheta * Math.cos(dp) - n.cosTheta * Math.sin(dp) * Math.cos(dphi);
  const Y = -n.cosTheta * Math.sin(dphi);
  const Z = n.sinTheta * Math.sin(dp) + n.cosTheta * Math.cos(dp) * Math.cos(dphi);
  const alpha = wcs.alphaP + Math.atan2(Y, X) * R2D;
  return [normalizeDegrees(alpha), Math.atan2(Z, Math.hypot(X, Y)) * R2D];
}

/** Celestial (α, δ) in degrees → native (φ, θ) (Paper II eq. 5), the inverse rotation. */
function celestialToNative(wcs: Wcs, alpha: number, delta: number): Native {
  const da = (alpha - wcs.alphaP) * D2R;
  const d = delta * D2R;
  const dp = wcs.deltaP * D2R;
  const sinD = Math.sin(d);
  const cosD = Math.cos(d);
  const X = sinD * Math.cos(dp) - cosD * Math.sin(dp) * Math.cos(da);
  const Y = -cosD * Math.sin(da);
  const Z = sinD * Math.sin(dp) + cosD * Math.cos(dp) * Math.cos(da);
  const norm = Math.hypot(X, Y, Z);
  return {
    phi: wcs.phiP * D2R + Math.atan2(Y, X),
    sinTheta: Z / norm,
    cosTheta: Math.hypot(X, Y) / norm,
  };
}

/** An angle in [0, 360). */
function normalizeDegrees(a: number): number {
  const r = a % 360;
  return r < 0 ? r + 360 : r === 360 ? 0 : r;
}
