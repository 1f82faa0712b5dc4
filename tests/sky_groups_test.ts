import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { positionName, separationArcsec, skyGroups } from "../lib/data/sky_groups.ts";
import { skyGroupOf } from "../lib/data/splits.ts";

/** Tiny seeded LCG (Numerical Recipes constants), uniform in [0, 1); the product stays < 2^53. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/** A partition as "index of the first member of my group" per point, so key strings don't matter. */
function partition(keys: ArrayLike<string | number>): number[] {
  const first = new Map<string | number, number>();
  return Array.from({ length: keys.length }, (_, i) => {
    if (!first.has(keys[i])) first.set(keys[i], i);
    return first.get(keys[i])!;
  });
}

/** O(n²) reference: union every pair within the radius, return each point's root. */
function bruteForceGroups(ra: number[], dec: number[], radiusArcsec: number): number[] {
  const parent = ra.map((_, i) => i);
  const root = (i: number): number => parent[i] === i ? i : root(parent[i]);
  for (let i = 0; i < ra.length; i++) {
    for (let j = i + 1; j < ra.length; j++) {
      if (separationArcsec(ra[i], dec[i], ra[j], dec[j]) <= radiusArcsec) {
        parent[root(j)] = root(i);
      }
    }
  }
  return ra.map((_, i) => root(i));
}

/** Degrees from sexagesimal hours/degrees, as the ARIES frame names give them. */
const hms = (h: number, m: number, s: number): number => (h + m / 60 + s / 3600) * 15;
const dms = (d: number, m: number, s: number): number => d + m / 60 + s / 3600;

/**
 * Clusters straddling RA 0/360, clusters around both poles (|dec| > 89.9, the poles themselves
 * included), a clumped 1° patch, scattered points over the sphere and exact duplicates.
 */
function testSky(seed: number, radiusArcsec: number): { ra: number[]; dec: number[] } {
  const u = lcg(seed);
  const ra: number[] = [], dec: number[] = [];
  const add = (a: number, d: number): void => {
    ra.push(((a % 360) + 360) % 360);
    dec.push(Math.max(-90, Math.min(90, d)));
  };
  const spread = 4 * radiusArcsec / 3600; // degrees: clusters a few radii across
  for (let c = 0; c < 4; c++) {
    const d0 = -70 + 140 * u();
    const a0 = (u() - 0.5) * spread;
    for (let k = 0; k < 40; k++) {
      const d = d0 + (u() - 0.5) * spread;
      add(a0 + (u() - 0.5) * spread / Math.cos(d * Math.PI / 180), d);
    }
  }
  for (const sign of [1, -1]) {
    for (let k = 0; k < 60; k++) add(360 * u(), sign * (90 - 0.1 * u()));
    add(360 * u(), sign * 90);
    add(360 * u(), sign * 90);
  }
  for (let k = 0; k < 80; k++) add(150 + u(), 20 + u());
  for (let k = 0; k < 60; k++) add(360 * u(), Math.asin(2 * u() - 1) * 180 / Math.PI);
  add(359.9999999999, 10);
  add(0, 10);
  for (let k = 0; k < 10; k++) add(ra[k * 17], dec[k * 17]);
  return { ra, dec };
}

/** Fisher–Yates permutation of 0..n-1 from the LCG. */
function permutation(n: number, seed: number): number[] {
  const u = lcg(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

Deno.test("separationArcsec: hand-worked separations, tiny to antipodal", () => {
  const sep = separationArcsec;
  // 1° along the equator and 1.5° along a meridian.
  assertAllClose([sep(0, 0, 1, 0), sep(1, 0, 0, 0)], [3600, 3600], 1e-12, 0);
  assertAllClose([sep(10, 20, 10, 21.5), sep(250, -40, 250, -41.5)], [5400, 5400], 1e-12, 0);
  // Across the RA wrap: 0.02° on the equator, either way round.
  assertAllClose([sep(359.99, 0, 0.01, 0), sep(0.01, 0, 359.99, 0)], [72, 72], 1e-9, 0);
  // Near the pole: 0.01° from it on opposite meridians is 0.02° across it; on meridians 90°
  // apart it is 2 asin(sin 0.01° · sin 45°) ≈ √2 · 36″.
  assertAllClose([sep(0, 89.99, 180, 89.99)], [72], 1e-9, 0);
  const quarter = 2 * Math.asin(Math.sin(0.01 * Math.PI / 180) * Math.SQRT1_2) * 180 / Math.PI;
  assertAllClose([sep(90, -89.99, 0, -89.99)], [quarter * 3600], 1e-9, 0);
  // Any RA at the pole is the same point.
  assertEquals(sep(10, 90, 250, 90), 0);
  // Antipodal: 180° exactly, on the equator and off it.
  assertAllClose(
    [sep(0, 0, 180, 0), sep(10, 30, 190, -30), sep(0, 90, 77, -90)],
    [
      648000,
      648000,
      648000,
    ],
    1e-12,
    0,
  );
  // Tiny separations keep their relative precision (the cosine formula would give 0 here).
  assertAllClose([sep(10, 10, 10, 10 + 1e-9)], [3.6e-6], 1e-6, 0);
  assertAllClose([sep(123.456, -45, 123.456 + 1e-9 / Math.cos(Math.PI / 4), -45)], [3.6e-6], 1e-6);
  assertEquals(sep(123.4, 56.7, 123.4, 56.7), 0);
});

Deno.test("positionName: truncated IAU J-names", () => {
  assertEquals(positionName(hms(15, 30, 44), dms(23, 10, 14)), "J153044.0+231014");
  // Truncated, not rounded: 44.99 s → 44.9, 14.9″ → 14.
  assertEquals(positionName(hms(15, 30, 44.99), dms(23, 10, 14.9)), "J153044.9+231014");
  assertEquals(positionName(0, 0), "J000000.0+000000");
  assertEquals(positionName(0.5, -0.5), "J000200.0-003000");
  assertEquals(positionName(hms(23, 59, 59.99), -90), "J235959.9-900000");
  assertEquals(positionName(180, 90), "J120000.0+900000");
  assertThrows(() => positionName(360, 0), RangeError);
  assertThrows(() => positionName(0, -90.5), RangeError);
});

Deno.test("skyGroups: same partition as an O(n²) union-find over random skies", () => {
  for (const radius of [2, 30, 120, 1800, 7200, 400000]) {
    for (const seed of [1, 2, 3]) {
      const { ra, dec } = testSky(seed * 1000 + radius, radius);
      const keys = skyGroups(ra, dec, radius);
      const want = partition(bruteForceGroups(ra, dec, radius));
      assertEquals(partition(keys), want, `radius ${radius}″, seed ${seed}`);
      // Not degenerate: some points linked, and (below the whole-sky radius) several groups.
      const groups = new Set(want).size;
      assert(groups < ra.length, `radius ${radius}″: nothing linked`);
      assert(radius > 648000 / 2 || groups > 10, `radius ${radius}″: only ${groups} groups`);
    }
  }
});

/** 40 points `spacing` degrees apart along the equator across RA 0/360, or over the pole. */
function chain(overPole: boolean, spacing: number): { ra: number[]; dec: number[] } {
  const ra: number[] = [], dec: number[] = [];
  for (let k = 0; k < 40; k++) {
    if (overPole) {
      const d = 89.8 + k * spacing; // past 90 the chain runs down the opposite meridian
      ra.push(d <= 90 ? 10 : 190);
      dec.push(d <= 90 ? d : 180 - d);
    } else {
      ra.push((359.9 + k * spacing) % 360);
      dec.push(0);
    }
  }
  return { ra, dec };
}

Deno.test("skyGroups: chains 0.9 radius apart are one group, 1.1 radius apart stay single", () => {
  const radius = 36; // 0.01°
  for (const overPole of [false, true]) {
    const { ra, dec } = chain(overPole, 0.9 * radius / 3600);
    assert(separationArcsec(ra[0], dec[0], ra[39], dec[39]) > 30 * radius);
    assertEquals(new Set(skyGroups(ra, dec, radius)).size, 1);
    const wide = chain(overPole, 1.1 * radius / 3600);
    assertEquals(new Set(skyGroups(wide.ra, wide.dec, radius)).size, 40);
  }
});

Deno.test("skyGroups: keys follow the member set, not the input order", () => {
  const radius = 30;
  const { ra, dec } = testSky(77, radius);
  const keys = skyGroups(ra, dec, radius);
  for (const seed of [5, 6, 7]) {
    const p = permutation(ra.length, seed);
    const shuffled = skyGroups(p.map((i) => ra[i]), p.map((i) => dec[i]), radius);
    assertEquals(shuffled, p.map((i) => keys[i]), `shuffle seed ${seed}`);
  }
  // The key is the name of the member with the smallest (dec, ra).
  const byKey = new Map<string, number[]>();
  keys.forEach((k, i) => byKey.set(k, [...(byKey.get(k) ?? []), i]));
  for (const [key, members] of byKey) {
    const south = members.reduce((a, b) =>
      dec[b] < dec[a] || dec[b] === dec[a] && ra[b] < ra[a] ? b : a
    );
    assertEquals(key.replace(/(\d{6})-\d+$/, "$1"), positionName(ra[south], dec[south]));
  }
});

Deno.test("skyGroups: groups whose names collide get -2, -3 in (dec, ra) order of their names' members", () => {
  // Three points 0.3″ apart in dec: one truncated name, three groups at a 0.1″ radius.
  const dec = [20 + 0.6 / 3600, 20, 20 + 0.3 / 3600, 21];
  const ra = [10, 10, 10, 10];
  const keys = skyGroups(ra, dec, 0.1);
  assertEquals(keys, [
    "J004000.0+200000-3",
    "J004000.0+200000",
    "J004000.0+200000-2",
    "J004000.0+210000",
  ]);
  assertEquals(skyGroups([...ra].reverse(), [...dec].reverse(), 0.1), [...keys].reverse());
  // At a 0.5″ radius they chain into one group named after the southernmost.
  assertEquals(skyGroups(ra, dec, 0.5), [...Array(3).fill("J004000.0+200000"), keys[3]]);
});

Deno.test("skyGroups: ARIES-like frames reproduce the name-based field keys", () => {
  // Frames named by truncated J2000 coordinates; two frames of J1530+2310 (~10′ apart) and of
  // J1612+5118 (~7′ apart), one of J1603+3002. The ARIES file names put cutouts at pixels
  // 32..2015, i.e. 2048×2048-pixel frames; at 0.5″/pixel a frame is 1024″ (~17′) across.
  const frames: [string, number, number][] = [
    ["J1530p2310_r_01", hms(15, 30, 0), dms(23, 10, 0)],
    ["J153044p231014_001_001", hms(15, 30, 44), dms(23, 10, 14)],
    ["j1612p5118_r_01", hms(16, 12, 0), dms(51, 18, 0)],
    ["J161245p511816_001_010", hms(16, 12, 45), dms(51, 18, 16)],
    ["J1603p3002_001_010", hms(16, 3, 0), dms(30, 2, 0)],
  ];
  const framePixels = 2048, arcsecPerPixel = 0.5;
  const frameArcsec = framePixels * arcsecPerPixel;
  assertAllClose([separationArcsec(frames[0][1], frames[0][2], frames[1][1], frames[1][2])], [
    607,
  ], 0.01);
  const u = lcg(2310);
  const ra: number[] = [], dec: number[] = [], files: string[] = [];
  for (const [frame, ra0, dec0] of frames) {
    for (let k = 0; k < 150; k++) {
      const x = Math.floor(32 + 1984 * u()), y = Math.floor(32 + 1984 * u());
      // Tangent-plane offsets from the frame centre; RA offsets widen by 1 / cos dec.
      const dDec = (y - framePixels / 2) * arcsecPerPixel / 3600;
      const dRa = (x - framePixels / 2) * arcsecPerPixel / 3600 / Math.cos(dec0 * Math.PI / 180);
      ra.push(ra0 + dRa);
      dec.push(dec0 + dDec);
      files.push(`${frame}_${x}_${y}_${k % 2 ? 3 : 6}.jpg`);
    }
  }
  const keys = skyGroups(ra, dec, frameArcsec);
  const fieldKeys = files.map(skyGroupOf);
  assertEquals([...new Set(fieldKeys)], ["J1530+2310", "J1612+5118", "J1603+3002"]);
  assertEquals(partition(keys), partition(fieldKeys));
  // Overlapping frames also merge through chains of cutouts at a radius well below the frame size.
  assertEquals(partition(skyGroups(ra, dec, frameArcsec / 4)), partition(fieldKeys));
});

Deno.test("skyGroups: bad input throws StarmambaError naming the 1-based row", () => {
  const ra = Array.from({ length: 20 }, (_, i) => 10 + i);
  const dec = ra.map(() => 5);
  const withValue = (v: number[], i: number, x: number): number[] =>
    v.map((y, k) => k === i ? x : y);
  const bad = (r: number[], d: number[], msg: string, radius = 10): void => {
    assertThrows(() => skyGroups(r, d, radius), StarmambaError, msg);
  };
  bad(ra, withValue(dec, 16, 95), "row 17: dec 95 is outside [-90, 90]");
  bad(ra, withValue(dec, 0, -90.001), "row 1: dec -90.001 is outside [-90, 90]");
  bad(withValue(ra, 19, 360), dec, "row 20: ra 360 is outside [0, 360)");
  bad(withValue(ra, 2, -1), dec, "row 3: ra -1 is outside [0, 360)");
  bad(withValue(ra, 4, NaN), dec, "row 5: ra NaN is not finite");
  bad(ra, withValue(dec, 5, Infinity), "row 6: dec Infinity is not finite");
  bad(ra, dec.slice(1), "20 RA values but 19 Dec values");
  for (const radius of [0, -3, NaN, Infinity]) bad(ra, dec, `radius ${radius} arcsec`, radius);
  assertEquals(skyGroups([], [], 1), []);
  assertEquals(skyGroups(new Float64Array([0]), new Float32Array([-90]), 1), ["J000000.0-900000"]);
});
