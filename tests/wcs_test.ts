/**
 * The FITS WCS (lib/frames/wcs.ts) against astropy.wcs: tests/fixtures/wcs/cases.json holds
 * thirteen headers (TAN with CD, PC + CDELT, CROTA2, LONPOLE; SIN plain and generalised; TAN-SIP
 * with and without AP/BP; the pole; RA 0/360; swapped axes, with CD and with CROTA1) and what astropy computes at 50 pixels each
 * (written by make_fixture.py there; astropy is not needed to run these tests).
 */
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import type { FitsValue } from "../lib/data/fits.ts";
import { separationArcsec } from "../lib/data/sky_groups.ts";
import {
  hasCelestialWcs,
  parseWcs,
  pixelToWorld,
  SUPPORTED_PROJECTIONS,
  type Wcs,
  worldToPixel,
} from "../lib/frames/wcs.ts";
import { StarmambaError } from "../lib/util/errors.ts";

interface Case {
  header: Record<string, FitsValue>;
  pixels: [number, number][];
  world: [number, number][];
  world2pix: [number, number][];
}

const fixture: { astropy: string; cases: Record<string, Case> } = JSON.parse(
  Deno.readTextFileSync(new URL("./fixtures/wcs/cases.json", import.meta.url)),
);
const CASES = Object.entries(fixture.cases);
/** 1 milliarcsecond, in arcseconds. */
const MAS = 1e-3;
const PIXEL_TOLERANCE = 1e-3;

/** The largest of `f` over a case's points. */
function worst(n: number, f: (i: number) => number): number {
  let m = 0;
  for (let i = 0; i < n; i++) m = Math.max(m, f(i));
  return m;
}

Deno.test("wcs fixture: thirteen cases of 50 points, from astropy", () => {
  assertEquals(CASES.length, 13);
  for (const [name, c] of CASES) {
    assertEquals([c.pixels.length, c.world.length, c.world2pix.length], [50, 50, 50], name);
  }
});

Deno.test("pixelToWorld: every fixture case within 1 mas of astropy's all_pix2world", () => {
  for (const [name, c] of CASES) {
    const wcs = parseWcs(c.header, name);
    const err = worst(c.pixels.length, (i) => {
      const [ra, dec] = pixelToWorld(wcs, ...c.pixels[i]);
      assert(ra >= 0 && ra < 360, `${name} #${i}: RA ${ra} outside [0, 360)`);
      return separationArcsec(ra, dec, ...c.world[i]);
    });
    assert(err <= MAS, `${name}: ${err} arcsec from astropy (limit ${MAS})`);
  }
});

Deno.test("worldToPixel: every fixture case within 1e-3 px of astropy's all_world2pix", () => {
  for (const [name, c] of CASES) {
    const wcs = parseWcs(c.header, name);
    const err = worst(c.world.length, (i) => {
      const [x, y] = worldToPixel(wcs, ...c.world[i]);
      return Math.hypot(x - c.world2pix[i][0], y - c.world2pix[i][1]);
    });
    assert(err <= PIXEL_TOLERANCE, `${name}: ${err} px from astropy (limit ${PIXEL_TOLERANCE})`);
  }
});

Deno.test("pixel → world → pixel returns within 1e-3 px (SIP inverted with and without AP/BP)", () => {
  for (const [name, c] of CASES) {
    const wcs = parseWcs(c.header, name);
    const err = worst(c.pixels.length, (i) => {
      const [px, py] = c.pixels[i];
      const [x, y] = worldToPixel(wcs, ...pixelToWorld(wcs, px, py));
      return Math.hypot(x - px, y - py);
    });
    assert(err <= PIXEL_TOLERANCE, `${name}: round trip off by ${err} px`);
  }
});

Deno.test("parseWcs: defaults and the keywords it records (LONPOLE, linear form, RADESYS, axes)", () => {
  const parsed = (name: string): Wcs => parseWcs(fixture.cases[name].header, name);
  // LONPOLE defaults to 180° unless δ0 = θ0 = 90° (Paper II §2.4); a given one is kept.
  assertEquals(parsed("tan_cd").phiP, 180);
  assertEquals(parsed("pole_exact").phiP, 0);
  assertEquals(parsed("tan_lonpole").phiP, 160);
  assertEquals(
    ["tan_cd", "tan_pc", "tan_crota"].map((n) => parsed(n).linear),
    ["CD", "PC", "CROTA"],
  );
  const pc = parsed("tan_pc");
  assertEquals([pc.radesys, pc.equinox, pc.projection, pc.lngAxis], ["ICRS", 2000, "TAN", 0]);
  assertEquals(parsed("swapped").lngAxis, 1);
  assertEquals(parsed("sin_pv").pv, [0.08, -0.05]);
  const sip = parsed("tan_sip");
  assertEquals([sip.sip?.a.order, sip.sip?.a.terms.length, sip.sip?.ap], [3, 7, undefined]);
  assertEquals(parsed("tan_sip_inv").sip?.ap?.order, 4);
  assertEquals(hasCelestialWcs({ CTYPE1: "RA---TAN", CTYPE2: "DEC--TAN" }), true);
  assertEquals(hasCelestialWcs({ CTYPE1: "LINEAR", NAXIS: 2 }), false);
  assertEquals(hasCelestialWcs({ CTYPE1: "GLON-TAN", CTYPE2: "GLAT-TAN" }), true);
});

Deno.test("pixelToWorld: hand-worked TAN and SIN at the equator, and the PC/CDELT defaults", () => {
  // CRVAL (0, 0), 1 arcsec per pixel; 3600 px along −x is a plane offset of x = +1°.
  const header = {
    CTYPE1: "RA---TAN",
    CTYPE2: "DEC--TAN",
    CRPIX1: 100,
    CRPIX2: 100,
    CRVAL1: 0,
    CRVAL2: 0,
    CDELT1: -1 / 3600,
    CDELT2: 1 / 3600,
  };
  const tan = parseWcs(header, "hand.fits");
  // TAN at the equator: tan(α) = x in radians; with x = −1° (pixel +3600 in x, CDELT1 < 0) RA
  // is 360° − atan(π/180).
  const [ra, dec] = pixelToWorld(tan, 3700, 100);
  const want = 360 - Math.atan(Math.PI / 180) * 180 / Math.PI;
  assert(Math.abs(ra - want) < 1e-12 && Math.abs(dec) < 1e-12, `${ra}, ${dec} vs ${want}, 0`);
  // Along y: tan(δ) = y in radians.
  const [, decUp] = pixelToWorld(tan, 100, 3700);
  assert(Math.abs(decUp - Math.atan(Math.PI / 180) * 180 / Math.PI) < 1e-12, `${decUp}`);
  // SIN: sin(δ) = y in radians.
  const sin = parseWcs({ ...header, CTYPE1: "RA---SIN", CTYPE2: "DEC--SIN" }, "hand.fits");
  const [, decSin] = pixelToWorld(sin, 100, 3700);
  assert(Math.abs(decSin - Math.asin(Math.PI / 180) * 180 / Math.PI) < 1e-12, `${decSin}`);
  // SIN beyond its disc (R > 1 radian) has no sky; TAN's far hemisphere has no pixel.
  assertEquals(pixelToWorld(sin, 100, 100 + 3600 * 58), [NaN, NaN]);
  assertEquals(worldToPixel(tan, 180, 0), [NaN, NaN]);
  // PC alone: CDELT defaults to 1 (degrees per pixel), PC1_2 rotates.
  const { CDELT1: _c1, CDELT2: _c2, ...noCdelt } = header;
  const pcOnly = parseWcs({ ...noCdelt, PC1_1: 1 }, "pc");
  assertEquals(pcOnly.cd, [[1, 0], [0, 1]]);
});

Deno.test("worldToPixel: AP/BP are only a starting point, so poor AP/BP still give the exact pixel", () => {
  const c = fixture.cases["tan_sip_inv"];
  const zeroed: Record<string, FitsValue> = { ...c.header };
  for (const k of Object.keys(zeroed)) if (/^[AB]P_\d_\d$/.test(k)) zeroed[k] = 0;
  const wcs = parseWcs(zeroed, "zeroed");
  for (let i = 0; i < c.world.length; i++) {
    const [x, y] = worldToPixel(wcs, ...c.world[i]);
    const off = Math.hypot(x - c.world2pix[i][0], y - c.world2pix[i][1]);
    assert(off <= PIXEL_TOLERANCE, `#${i}: ${off} px`);
  }
});

/** A minimal valid TAN header to break one card at a time. */
const GOOD: Record<string, FitsValue> = {
  CTYPE1: "RA---TAN",
  CTYPE2: "DEC--TAN",
  CRPIX1: 10,
  CRPIX2: 10,
  CRVAL1: 20,
  CRVAL2: 30,
  CD1_1: -1e-4,
  CD1_2: 0,
  CD2_1: 0,
  CD2_2: 1e-4,
};

Deno.test("parseWcs: each bad header is one line (exit 2) naming the file, the key and the fix", () => {
  const without = (key: string) => {
    const h = { ...GOOD };
    delete h[key];
    return h;
  };
  const cases: [string, Record<string, FitsValue>, string[]][] = [
    ["ZEA", { ...GOOD, CTYPE1: "RA---ZEA", CTYPE2: "DEC--ZEA" }, [
      "ZEA projection",
      "TAN, SIN, TAN-SIP, SIN-SIP",
    ]],
    ["TPV", { ...GOOD, CTYPE1: "RA---TPV", CTYPE2: "DEC--TPV" }, ["TPV projection", "TAN"]],
    ["galactic", { ...GOOD, CTYPE1: "GLON-TAN" }, ["CTYPE1 = 'GLON-TAN'", "supported"]],
    ["mixed", { ...GOOD, CTYPE2: "DEC--SIN" }, ["different projections"]],
    ["two RA", { ...GOOD, CTYPE2: "RA---TAN" }, ["both RA"]],
    ["no CTYPE2", without("CTYPE2"), ["CTYPE2"]],
    ["no CRVAL2", without("CRVAL2"), ["CRVAL2", "none"]],
    ["no CRPIX1", without("CRPIX1"), ["CRPIX1"]],
    ["text CRPIX", { ...GOOD, CRPIX1: "ten" }, ["CRPIX1", "'ten'"]],
    ["singular", { ...GOOD, CD2_1: -1e-4, CD2_2: 0, CD1_1: -1e-4 }, ["singular", "CD matrix"]],
    ["CD2_2 missing", without("CD2_2"), ["singular"]],
    ["no scale", Object.fromEntries(Object.entries(GOOD).filter(([k]) => !k.startsWith("CD"))), [
      "no pixel scale",
    ]],
    ["arcsec", { ...GOOD, CUNIT1: "arcsec" }, ["CUNIT1 = 'arcsec'", "degrees"]],
    ["SIP without order", { ...GOOD, CTYPE1: "RA---TAN-SIP", CTYPE2: "DEC--TAN-SIP" }, [
      "A_ORDER = (missing)",
    ]],
    ["AP only", {
      ...GOOD,
      CTYPE1: "RA---TAN-SIP",
      CTYPE2: "DEC--TAN-SIP",
      A_ORDER: 2,
      B_ORDER: 2,
      AP_ORDER: 2,
    }, ["AP_ORDER but no BP_ORDER"]],
    ["dec 95", { ...GOOD, CRVAL2: 95 }, ["CRVAL2 = 95"]],
    ["bad PV", { ...GOOD, CTYPE1: "RA---SIN", CTYPE2: "DEC--SIN", PV2_1: "x" }, ["PV2_1"]],
  ];
  for (const [label, header, parts] of cases) {
    const err = assertThrows(() => parseWcs(header, "frame.fits"), StarmambaError, parts[0]);
    assert(err instanceof StarmambaError && err.exitCode === 2, label);
    for (const part of ["frame.fits", ...parts]) {
      assert(err.message.includes(part), `${label}: "${part}" missing from: ${err.message}`);
    }
    assert(!err.message.includes("\n"), `${label}: more than one line`);
  }
  assertEquals([...SUPPORTED_PROJECTIONS], ["TAN", "SIN"]);
});
