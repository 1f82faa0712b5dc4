/**
 * FITS reader and display stretches against astropy: the fixtures and expected.json come from
 * tests/fixtures/fits/make_fits.py (astropy.io.fits reads the pixels, astropy.visualization
 * computes the stretches), so these tests check starmamba against an independent reference.
 */
import { gzipSync } from "node:zlib";
import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { type FitsValue, readFits, writeFitsFloat32 } from "../lib/data/fits.ts";
import {
  applyStretch,
  percentileInterval,
  type StretchOptions,
  zscaleInterval,
} from "../lib/data/stretch.ts";
import { StarmambaError } from "../lib/util/errors.ts";

interface ExpectedImage {
  hdu: number;
  width: number;
  height: number;
  bitpix: number;
  blank: number;
  header: Record<string, FitsValue>;
  values: (number | null)[];
}

interface ExpectedStretch {
  options: StretchOptions;
  interval: [number, number];
  values: (number | null)[];
}

/** astropy ZScaleInterval's keyword arguments. */
interface ZscaleParams {
  contrast: number;
  n_samples: number;
  max_reject: number;
  min_npixels: number;
  krej: number;
  max_iterations: number;
}

interface Expected {
  files: Record<string, ExpectedImage>;
  stretch: { file: string } & Record<string, ExpectedStretch>;
  zscale64: {
    file: string;
    min: number;
    max: number;
    sum: number;
    zscale_default: [number, number];
    zscale_variants: { params: ZscaleParams; interval: [number, number] }[];
    percentile_99_5: [number, number];
    picks: number[];
    zscale_default_values_at_picks: (number | null)[];
  };
}

const fixture = (name: string): URL => new URL(`./fixtures/fits/${name}`, import.meta.url);
const readFixture = (name: string): Uint8Array => Deno.readFileSync(fixture(name));
const expected: Expected = JSON.parse(Deno.readTextFileSync(fixture("expected.json")));

const STRETCH_CASES = ["minmax", "linear_p99", "asinh_p99_5", "zscale"];

/** Checks NaN exactly where the reference has null, and the other values within tolerance. */
function assertMatches(
  actual: ArrayLike<number>,
  reference: (number | null)[],
  rtol: number,
  atol: number,
  label: string,
): void {
  assertEquals(actual.length, reference.length, `${label}: length`);
  const nanAt = (xs: ArrayLike<number | null>) =>
    Array.from(xs).flatMap((v, i) => (v === null || Number.isNaN(v) ? [i] : []));
  assertEquals(nanAt(actual), nanAt(reference), `${label}: NaN positions`);
  const keep = (_: unknown, i: number) => reference[i] !== null;
  const a = Array.from(actual).filter(keep);
  const e = reference.filter((v): v is number => v !== null);
  assertAllClose(a, e, rtol, atol, label);
}

Deno.test("readFits: every fixture HDU matches what astropy reads (values, blanks, header)", () => {
  assertEquals(Object.keys(expected.files).length, 7);
  for (const [key, want] of Object.entries(expected.files)) {
    const file = key.split("#")[0];
    const img = readFits(readFixture(file), { hdu: want.hdu, name: file });
    assertEquals(
      [img.width, img.height, img.bitpix, img.blank, img.hdu],
      [want.width, want.height, want.bitpix, want.blank, want.hdu],
      key,
    );
    assertMatches(img.data, want.values, 1e-12, 0, key);
    for (const [k, v] of Object.entries(want.header)) assertEquals(img.header[k], v, `${key} ${k}`);
  }
});

Deno.test("readFits: scaling conventions seen directly (uint16 BZERO, BLANK, gzip, cube)", () => {
  const u16 = readFits(readFixture("u16.fits"), { name: "u16.fits" });
  assertEquals([u16.header["BZERO"], u16.data[0], u16.data[1], u16.data[2]], [
    32768,
    0,
    65535,
    32768,
  ]);
  const i32 = readFits(readFixture("i32_blank.fits"), { name: "i32_blank.fits" });
  assertEquals([i32.header["BLANK"], i32.blank], [-2147483648, 2]);
  assert(Number.isNaN(i32.data[2 * 8 + 3]) && Number.isNaN(i32.data[5 * 8 + 0]));
  // The gzip fixture is decompressed, and a gzip of a plain fixture reads like the plain file.
  const plain = readFixture("u8.fits");
  assertEquals(
    readFits(new Uint8Array(gzipSync(plain))).data,
    readFits(plain).data,
  );
  const cube = readFits(readFixture("ext.fits"), { hdu: 3, name: "ext.fits" });
  assertEquals([cube.header["NAXIS"], cube.header["NAXIS3"], cube.width, cube.height], [
    3,
    1,
    4,
    3,
  ]);
});

Deno.test("applyStretch: minmax, linear, asinh and zscale equal astropy.visualization", () => {
  const img = readFits(readFixture(expected.stretch.file), { name: expected.stretch.file });
  for (const name of STRETCH_CASES) {
    const want = expected.stretch[name];
    assertMatches(applyStretch(img.data, want.options), want.values, 0, 1e-6, name);
  }
  const p99 = expected.stretch["linear_p99"];
  assertAllClose(percentileInterval(img.data, 99), p99.interval, 1e-12, 0, "percentile 99");
  const p995 = expected.stretch["asinh_p99_5"];
  assertAllClose(percentileInterval(img.data, 99.5), p995.interval, 1e-12, 0, "percentile 99.5");
  const zs = expected.stretch["zscale"];
  assertAllClose(zscaleInterval(img.data), zs.interval, 1e-9, 0, "zscale 8x6");
  // linear without a percentile is MinMaxInterval + LinearStretch.
  const minmax = expected.stretch["minmax"];
  const linearAll = applyStretch(img.data, { ...minmax.options, stretch: "linear" });
  assertMatches(linearAll, minmax.values, 0, 1e-6, "linear, percentile null");
});

Deno.test("zscaleInterval on 64×64 with blanks, stars and a gradient equals astropy", () => {
  const want = expected.zscale64;
  const img = readFits(readFixture(want.file), { name: want.file });
  assertEquals([img.width, img.height, img.blank], [64, 64, 5]);
  assertAllClose([img.data.reduce((s, v) => (Number.isNaN(v) ? s : s + v), 0)], [want.sum]);
  // The fit path ran in astropy (limits inside the data range), so sampling, fit and
  // rejection are all under test here.
  assert(want.min < want.zscale_default[0] && want.zscale_default[1] < want.max);
  assertAllClose(zscaleInterval(img.data), want.zscale_default, 1e-9, 0, "zscale default");
  // Truncated stride, stride 1, the min/max fallback, one iteration, contrast 0, minpix.
  assertEquals(want.zscale_variants.length, 5);
  for (const { params: p, interval } of want.zscale_variants) {
    const got = zscaleInterval(
      img.data,
      p.contrast,
      p.n_samples,
      p.max_reject,
      p.min_npixels,
      p.krej,
      p.max_iterations,
    );
    assertAllClose(got, interval, 1e-9, 0, `zscale ${JSON.stringify(p)}`);
  }
  assertAllClose(percentileInterval(img.data, 99.5), want.percentile_99_5, 1e-12, 0, "p99.5");
  const out = applyStretch(img.data, {
    stretch: "zscale",
    percentile: null,
    asinh_a: 0.1,
    zscale_contrast: 0.25,
    zscale_samples: 1000,
  });
  const picked = want.picks.map((i) => out[i]);
  assertMatches(picked, want.zscale_default_values_at_picks, 0, 1e-6, "zscale picks");
});

const OPTS: StretchOptions = {
  stretch: "linear",
  percentile: null,
  asinh_a: 0.1,
  zscale_contrast: 0.25,
  zscale_samples: 1000,
};

Deno.test("applyStretch: hand-worked cases, constant cutout, NaN and infinities", () => {
  assertEquals(percentileInterval([5, 1, 4, 2, 3], 50), [2, 4]);
  // Index (5 − 1) · 0.0025 = 0.01 → 1 + 0.01 · (2 − 1).
  assertAllClose(percentileInterval([1, 2, 3, 4, 5], 99.5), [1.01, 4.99], 1e-12, 0);
  assertEquals(Array.from(applyStretch([2, 4, 6], { ...OPTS, stretch: "minmax" })), [0, 0.5, 1]);
  const asinh = applyStretch([0, 1, 2], { ...OPTS, stretch: "asinh", asinh_a: 0.5 });
  assertAllClose(asinh, [0, Math.asinh(1) / Math.asinh(2), 1], 0, 1e-7);
  // A constant cutout is not divided by zero: everything maps to 0, for every stretch.
  for (const stretch of ["minmax", "linear", "asinh", "zscale"] as const) {
    assertEquals(Array.from(applyStretch([7, 7, 7, 7], { ...OPTS, stretch })), [0, 0, 0, 0]);
  }
  const mixed = applyStretch([NaN, 0, Infinity, 10, -Infinity], OPTS);
  assertEquals(Array.from(mixed), [NaN, 0, 1, 1, 0]);
  assertEquals(Array.from(applyStretch([NaN, NaN], OPTS)), [NaN, NaN]);
  assertEquals(zscaleInterval([NaN]), [NaN, NaN]);
  assertEquals(Array.from(applyStretch([0.25, 3, -1], { ...OPTS, stretch: "identity" })), [
    0.25,
    3,
    -1,
  ]);
  // out may be the input itself.
  const inPlace = Float32Array.from([1, 3, 5]);
  assert(applyStretch(inPlace, { ...OPTS, stretch: "minmax" }, inPlace) === inPlace);
  assertEquals(Array.from(inPlace), [0, 0.5, 1]);
});

Deno.test("applyStretch: bad options are StarmambaErrors that name the option", () => {
  const bad: [Partial<StretchOptions>, string][] = [
    [{ stretch: "log" as StretchOptions["stretch"] }, "Unknown stretch"],
    [{ percentile: 0 }, "percentile"],
    [{ percentile: 101 }, "percentile"],
    [{ stretch: "asinh", asinh_a: 0 }, "asinh_a"],
    [{ stretch: "asinh", asinh_a: 1.5 }, "asinh_a"],
    [{ stretch: "zscale", zscale_samples: 0 }, "zscale_samples"],
    [{ stretch: "zscale", zscale_contrast: NaN }, "zscale_contrast"],
  ];
  for (const [opts, msg] of bad) {
    assertThrows(() => applyStretch([1, 2], { ...OPTS, ...opts }), StarmambaError, msg);
  }
});

Deno.test("writeFitsFloat32 → readFits round trip keeps values, NaN and header cards", () => {
  const values = [0, -1.5, 1e30, NaN, 3.25, -7e-20, 65535, 0.1];
  const header = { OBJECT: "NGC 1300's bar", EXPTIME: 120, GAIN: 2.5e-7, FLIPPED: true };
  const bytes = writeFitsFloat32(4, 2, values, header);
  assertEquals(bytes.length % 2880, 0);
  const img = readFits(bytes, { name: "roundtrip.fits" });
  assertEquals([img.width, img.height, img.bitpix, img.blank, img.hdu], [4, 2, -32, 1, 0]);
  assertEquals(Array.from(img.data), values.map(Math.fround));
  for (const [k, v] of Object.entries(header)) assertEquals(img.header[k], v, k);
  assertThrows(() => writeFitsFloat32(3, 3, values), StarmambaError, "9 expected");
  assertThrows(() => writeFitsFloat32(4, 2, values, { BITPIX: 16 }), StarmambaError, "BITPIX");
  assertThrows(() => writeFitsFloat32(4, 2, values, { "bad key": 1 }), StarmambaError, "bad key");
});

/** Bytes of a FITS file with the given header cards (END added) and `dataBytes` zero bytes. */
function fitsFile(cards: [string, string][], dataBytes: number): Uint8Array {
  const text = cards.map(([k, v]) => `${k.padEnd(8)}= ${v.padStart(20)}`.padEnd(80)).join("") +
    "END".padEnd(80);
  const head = Math.ceil(text.length / 2880) * 2880;
  const out = new Uint8Array(head + Math.ceil(dataBytes / 2880) * 2880).fill(32, 0, head);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

Deno.test("readFits: every malformed input is a StarmambaError naming the file and the fault", () => {
  const good = writeFitsFloat32(4, 3, new Float32Array(12).fill(1));
  const noEnd = good.slice();
  const endAt = new TextDecoder().decode(good.subarray(0, 2880)).indexOf("END     ");
  noEnd.fill(32, endAt, endAt + 3);
  const cases: [string, Uint8Array, number, string][] = [
    ["truncated", good.slice(0, 2880 + 20), 0, "truncated"],
    ["no END", noEnd, 0, "no END card"],
    ["header cut", good.slice(0, 300), 0, "no END card"],
    ["BITPIX 12", fitsFile([["SIMPLE", "T"], ["BITPIX", "12"], ["NAXIS", "0"]], 0), 0, "BITPIX"],
    ["not FITS", new TextEncoder().encode("<html>404 Not Found</html>".padEnd(3000)), 0, "not a"],
    ["empty", new Uint8Array(0), 0, "not a FITS file"],
    ["hdu 5", readFixture("ext.fits"), 5, "4 HDU"],
    ["empty primary", readFixture("ext.fits"), 0, "data.fits_hdu: 1"],
    ["table", readFixture("ext.fits"), 2, "BINTABLE"],
    ["negative hdu", good, -1, "data.fits_hdu"],
    ["bad gzip", gzipSync(good).subarray(0, 40), 0, "gzip"],
    [
      "real cube",
      fitsFile([["SIMPLE", "T"], ["BITPIX", "8"], ["NAXIS", "3"], ["NAXIS1", "4"], [
        "NAXIS2",
        "3",
      ], ["NAXIS3", "2"]], 24),
      0,
      "NAXIS = 3",
    ],
    [
      "1-D",
      fitsFile([["SIMPLE", "T"], ["BITPIX", "8"], ["NAXIS", "1"], ["NAXIS1", "4"]], 4),
      0,
      "2-D",
    ],
  ];
  for (const [label, bytes, hdu, what] of cases) {
    const name = `bad-${label.replaceAll(" ", "_")}.fits`;
    const err = assertThrows(() => readFits(bytes, { hdu, name }), StarmambaError, what);
    assert(err.message.includes(name), `${label}: message does not name the file: ${err.message}`);
  }
});

Deno.test("readFits: a file cut anywhere gives a StarmambaError, never a RangeError", () => {
  for (const file of ["ext.fits", "zscale64.fits"]) {
    const bytes = readFixture(file);
    for (let cut = 0; cut < bytes.length; cut += 97) {
      for (const hdu of [0, 1, 3]) {
        try {
          readFits(bytes.subarray(0, cut), { hdu, name: file });
        } catch (e) {
          assert(e instanceof StarmambaError, `${file} cut at ${cut}, hdu ${hdu}: ${e}`);
        }
      }
    }
  }
});

Deno.test("readFits: ±Inf pixels are blank like NaN (NaN in data, counted), in -64 and -32 files", () => {
  // A 3×2 BITPIX -64 image written byte by byte: 1, +Inf, 2, -Inf, NaN, 4.
  const bytes = fitsFile(
    [["SIMPLE", "T"], ["BITPIX", "-64"], ["NAXIS", "2"], ["NAXIS1", "3"], ["NAXIS2", "2"]],
    48,
  );
  const view = new DataView(bytes.buffer, 2880);
  [1, Infinity, 2, -Infinity, NaN, 4].forEach((v, i) => view.setFloat64(8 * i, v, false));
  const img = readFits(bytes, { name: "inf64.fits" });
  assertEquals(img.blank, 3);
  assertEquals(Array.from(img.data), [1, NaN, 2, NaN, NaN, 4]);
  const f32 = readFits(writeFitsFloat32(2, 2, [Infinity, 0.5, -Infinity, 0.25]));
  assertEquals([f32.blank, Array.from(f32.data)], [2, [NaN, 0.5, NaN, 0.25]]);
});
