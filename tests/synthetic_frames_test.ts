/**
 * Synthetic telescope frames of issue 32: the astropy-made fixtures (tests/fixtures/frames,
 * make_frames.py) read with openFitsFrame, their truth against our WCS and detector, and the
 * TypeScript generator lib/frames/synthetic.ts.
 */
import { join } from "node:path";
import { parse as parseCsv } from "csv-parse/sync";
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { type FitsFrame, openFitsFrame } from "../lib/frames/open.ts";
import { parseWcs, pixelToWorld, type Wcs, worldToPixel } from "../lib/frames/wcs.ts";
import { type DetectedSource, detectFrame, FLAG_SATURATED } from "../lib/frames/detect.ts";
import {
  syntheticFrame,
  type SyntheticFrameOptions,
  writeSyntheticFrame,
} from "../lib/frames/synthetic.ts";
import { separationArcsec } from "../lib/data/sky_groups.ts";
import { StarmambaError } from "../lib/util/errors.ts";

const DIR = join(import.meta.dirname!, "fixtures", "frames");

/** One row of a truth table (make_frames.py's docstring says what each column means). */
interface Truth {
  id: string;
  x: number;
  y: number;
  ra: number;
  dec: number;
  cls: string;
  flux: number;
  saturated: boolean;
  blank: boolean;
}

/** The fixture frames: file, HDU and what make_frames.py put in them. */
const FIXTURES = [
  {
    file: "field_a.fits.gz",
    truth: "truth_a.csv",
    hdu: 0,
    width: 400,
    height: 300,
    saturate: 40000,
    // Column 251 (300 px) + the block x 61-90, y 201-220 (30 × 20).
    blank: 300 + 600,
    blankColumn: 251,
    sipOrder: 2,
  },
  {
    file: "field_b.fits.gz",
    truth: "truth_b.csv",
    hdu: 1,
    width: 300,
    height: 300,
    saturate: 50000,
    // Column 101 (300 px) + the block x 201-240, y 31-55 (40 × 25).
    blank: 300 + 1000,
    blankColumn: 101,
    sipOrder: 3,
  },
];

function readCsv(name: string): Record<string, string>[] {
  return parseCsv(Deno.readTextFileSync(join(DIR, name)), { columns: true });
}

function readTruth(name: string): Truth[] {
  return readCsv(name).map((r) => ({
    id: r.id,
    x: Number(r.x),
    y: Number(r.y),
    ra: Number(r.ra),
    dec: Number(r.dec),
    cls: r.class,
    flux: Number(r.flux),
    saturated: r.saturated === "yes",
    blank: r.blank === "yes",
  }));
}

/** The whole frame as one array (row 0 = FITS y = 1). */
function readAll(frame: FitsFrame): Float32Array {
  return frame.readRows(0, frame.height).data;
}

/** Sources with no other truth source within `radius` px. */
function isolated<T extends { x: number; y: number }>(all: T[], radius: number): T[] {
  return all.filter((s) => all.every((o) => o === s || Math.hypot(o.x - s.x, o.y - s.y) > radius));
}

/** The detection nearest to (x, y), and its distance. */
function nearest(found: DetectedSource[], x: number, y: number): [DetectedSource, number] {
  let best = found[0], dist = Infinity;
  for (const d of found) {
    const r = Math.hypot(d.x - x, d.y - y);
    if (r < dist) [best, dist] = [d, r];
  }
  return [best, dist];
}

Deno.test("fixture frames open with openFitsFrame: size, HDU, blanks, SATURATE and a SIP WCS", () => {
  for (const f of FIXTURES) {
    using frame = openFitsFrame(join(DIR, f.file), { hdu: f.hdu });
    assertEquals([frame.width, frame.height, frame.bitpix], [f.width, f.height, -32]);
    assertEquals(frame.saturate, f.saturate);
    assert(frame.wcs?.sip, `${f.file}: a TAN-SIP WCS`);
    assertEquals(frame.wcs.projection, "TAN");
    const data = readAll(frame);
    let blank = 0, max = -Infinity, atSaturate = 0;
    for (const v of data) {
      if (Number.isNaN(v)) blank++;
      else {
        max = Math.max(max, v);
        if (v === f.saturate) atSaturate++;
      }
    }
    assertEquals(blank, f.blank, `${f.file}: blank pixels`);
    assertEquals(max, f.saturate, `${f.file}: clipped at SATURATE`);
    assert(atSaturate >= 10, `${f.file}: saturated cores (${atSaturate} px)`);
    for (let y = 0; y < f.height; y++) {
      assert(Number.isNaN(data[y * f.width + f.blankColumn - 1]), `column ${f.blankColumn} blank`);
    }
  }
  // The image of field_b is in extension 1: the empty primary HDU is refused, naming --hdu.
  const e = assertThrows(() => openFitsFrame(join(DIR, "field_b.fits.gz")), StarmambaError);
  assert(e.message.includes("--hdu 1"), e.message);
});

Deno.test("fixture truth: astropy's all_pix2world agrees with pixelToWorld to 1 mas on SIP frames", () => {
  for (const f of FIXTURES) {
    using frame = openFitsFrame(join(DIR, f.file), { hdu: f.hdu });
    const wcs = frame.wcs!;
    assertEquals(wcs.sip?.a.order, f.sipOrder);
    const noSip: Wcs = { ...wcs, sip: undefined };
    let worst = 0, worstPx = 0, sipShift = 0;
    for (const t of readTruth(f.truth)) {
      const [ra, dec] = pixelToWorld(wcs, t.x, t.y);
      worst = Math.max(worst, separationArcsec(ra, dec, t.ra, t.dec) * 1000);
      const [x, y] = worldToPixel(wcs, t.ra, t.dec);
      worstPx = Math.max(worstPx, Math.hypot(x - t.x, y - t.y));
      const [ra0, dec0] = pixelToWorld(noSip, t.x, t.y);
      sipShift = Math.max(sipShift, separationArcsec(ra0, dec0, t.ra, t.dec) * 1000);
    }
    assert(worst <= 1, `${f.file}: ${worst.toFixed(4)} mas from astropy`);
    assert(worstPx <= 1e-3, `${f.file}: world → pixel ${worstPx} px from the truth`);
    // The check can fail: the SIP terms move positions by far more than 1 mas (~0.1-0.3").
    assert(sipShift > 50, `${f.file}: SIP moves positions by ${sipShift.toFixed(1)} mas`);
  }
});

Deno.test("fixture sources.csv and sources_radec.csv list every truth source of both frames", () => {
  const pixels = readCsv("sources.csv"), world = readCsv("sources_radec.csv");
  assertEquals(Object.keys(pixels[0]), ["frame", "x", "y", "my_id"]);
  assertEquals(Object.keys(world[0]), ["frame", "ra", "dec", "my_id"]);
  const truth = FIXTURES.flatMap((f) => readTruth(f.truth).map((t) => ({ ...t, frame: f.file })));
  assertEquals(pixels.length, truth.length);
  assertEquals(world.length, truth.length);
  truth.forEach((t, i) => {
    assertEquals([pixels[i].frame, pixels[i].my_id], [t.frame, `src-${t.id}`]);
    assert(Math.hypot(Number(pixels[i].x) - t.x, Number(pixels[i].y) - t.y) < 1e-3);
    assertEquals([world[i].frame, world[i].my_id], [t.frame, `src-${t.id}`]);
    assert(separationArcsec(Number(world[i].ra), Number(world[i].dec), t.ra, t.dec) < 1e-3);
  });
});

Deno.test("detectFrame finds ≥ 95% of the clean isolated truth sources; bright stars within 0.5 px", () => {
  for (const f of FIXTURES) {
    using frame = openFitsFrame(join(DIR, f.file), { hdu: f.hdu });
    const found = detectFrame(frame).sources;
    const truth = readTruth(f.truth);
    const saturated = truth.filter((t) => t.saturated);
    // Clean: not saturated, no blank pixel near, clear of the saturated stars' wide wings.
    const clean = isolated(truth, 10).filter((t) =>
      !t.saturated && !t.blank &&
      saturated.every((s) => Math.hypot(s.x - t.x, s.y - t.y) > 25)
    );
    assert(clean.length >= 0.6 * truth.length, `${f.file}: ${clean.length} clean sources`);
    const hits = clean.filter((t) => nearest(found, t.x, t.y)[1] <= (t.cls === "star" ? 1.5 : 3));
    assert(
      hits.length >= 0.95 * clean.length,
      `${f.file}: ${hits.length} of ${clean.length} clean sources found`,
    );
    const bright = clean.filter((t) =>
      t.cls === "star" && t.flux >= 2e4 && t.x > 5 && t.y > 5 && t.x < f.width - 4 &&
      t.y < f.height - 4
    );
    assert(bright.length >= 10, `${f.file}: ${bright.length} bright isolated stars`);
    const errors = bright.map((t) => nearest(found, t.x, t.y)[1]).sort((p, q) => p - q);
    bright.forEach((t, i) => {
      const dist = nearest(found, t.x, t.y)[1];
      assert(dist <= 0.5, `${f.file} ${t.id} (${i}): centroid ${dist.toFixed(3)} px off`);
    });
    // Noise alone moves these centroids by a few hundredths of a pixel.
    const median = errors[errors.length >> 1];
    assert(median < 0.05, `${f.file}: median centroid error ${median.toFixed(3)} px`);
    for (const t of saturated) {
      const [d, dist] = nearest(found, t.x, t.y);
      assert(dist <= 3 && (d.flags & FLAG_SATURATED) !== 0, `${f.file} ${t.id}: saturated`);
    }
  }
});

const SMALL: SyntheticFrameOptions = {
  width: 320,
  height: 240,
  nStars: 60,
  nGalaxies: 15,
  seed: 7,
  saturate: 30000,
  blankColumns: [50],
};

Deno.test("syntheticFrame: size, TAN WCS of the pixel scale, blank column, clipping, truth", () => {
  const frame = syntheticFrame({ ...SMALL, pixelScaleArcsec: 0.4 });
  assertEquals(frame.pixels.length, 320 * 240);
  assertEquals(frame.truth.filter((t) => t.cls === "star").length, 60);
  assertEquals(frame.truth.filter((t) => t.cls === "galaxy").length, 15);
  for (const t of frame.truth) assert(t.x >= 0.5 && t.x <= 320.5 && t.y >= 0.5 && t.y <= 240.5);
  const wcs = parseWcs(frame.header, "synthetic");
  assertEquals([wcs.projection, frame.header.SATURATE], ["TAN", 30000]);
  // Pixel scale from the CD matrix: √|det CD| = 0.4"/px; the centre pixel is CRVAL.
  const det = Math.abs(wcs.cd[0][0] * wcs.cd[1][1] - wcs.cd[0][1] * wcs.cd[1][0]);
  assert(Math.abs(Math.sqrt(det) * 3600 - 0.4) < 1e-12);
  const [ra, dec] = pixelToWorld(wcs, 160.5, 120.5);
  assert(separationArcsec(ra, dec, wcs.crval[0], wcs.crval[1]) < 1e-9);
  let max = -Infinity;
  for (let i = 0; i < frame.pixels.length; i++) {
    const v = frame.pixels[i];
    assertEquals(Number.isNaN(v), i % 320 === 49, `pixel ${i}: NaN exactly in column 50`);
    if (!Number.isNaN(v)) max = Math.max(max, v);
  }
  assertEquals(max, 30000);
});

Deno.test("syntheticFrame: the flux peaks at the truth positions (no half- or one-pixel shift)", () => {
  const frame = syntheticFrame({ ...SMALL, saturate: undefined, blankColumns: [] });
  const { width, height, pixels } = frame;
  const at = (x: number, y: number) => pixels[y * width + x];
  const checked = isolated(frame.truth, 12).filter((t) =>
    t.flux >= 3e4 && t.x > 8 && t.y > 8 && t.x < width - 8 && t.y < height - 8
  );
  assert(checked.length >= 10, `${checked.length} sources checked`);
  for (const t of checked) {
    // The brightest pixel within 4 px is the one holding the centre (0-based: round(x − 1)).
    const cx = Math.round(t.x - 1), cy = Math.round(t.y - 1);
    let peak = [cx, cy];
    for (let y = cy - 4; y <= cy + 4; y++) {
      for (let x = cx - 4; x <= cx + 4; x++) if (at(x, y) > at(peak[0], peak[1])) peak = [x, y];
    }
    assert(Math.max(Math.abs(peak[0] - cx), Math.abs(peak[1] - cy)) <= 1, `${t.cls} peak`);
    // First moments over a 7 × 7 box above the local sky: the centre to 0.25 px.
    const sky = at(cx - 7, cy - 7);
    let sum = 0, sx = 0, sy = 0;
    for (let y = cy - 3; y <= cy + 3; y++) {
      for (let x = cx - 3; x <= cx + 3; x++) {
        const v = at(x, y) - sky;
        [sum, sx, sy] = [sum + v, sx + v * (x + 1), sy + v * (y + 1)];
      }
    }
    const err = Math.hypot(sx / sum - t.x, sy / sum - t.y);
    assert(err < 0.25, `${t.cls} at (${t.x}, ${t.y}): centroid ${err.toFixed(3)} px off`);
  }
});

Deno.test("writeSyntheticFrame: same seed → same bytes, another seed differs; read back and detected", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const a = join(dir, "a.fits"), b = join(dir, "b.fits"), c = join(dir, "c.fits.gz");
    const { truth } = writeSyntheticFrame(a, SMALL);
    writeSyntheticFrame(b, SMALL);
    writeSyntheticFrame(c, { ...SMALL, seed: 8 });
    assertEquals(Deno.readFileSync(a), Deno.readFileSync(b));
    using other = openFitsFrame(c);
    using frame = openFitsFrame(a);
    assert(other.wcs && frame.wcs);
    assert(other.wcs.crval[0] !== frame.wcs.crval[0], "another seed, another field");
    assertEquals([frame.width, frame.height, frame.saturate], [320, 240, 30000]);
    const found = detectFrame(frame).sources;
    const clean = isolated(truth, 10).filter((t) => Math.abs(t.x - 50) > 8);
    const hits = clean.filter((t) => nearest(found, t.x, t.y)[1] <= 2);
    assert(hits.length >= 0.95 * clean.length, `${hits.length} of ${clean.length} found`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("writeSyntheticFrame: a 4096 × 4096 frame with 5,000 sources (the bench's), read back", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = join(dir, "big.fits");
    const opts = { width: 4096, height: 4096, nStars: 4000, nGalaxies: 1000, seed: 32 };
    const { truth, pixels } = writeSyntheticFrame(path, { ...opts, saturate: 30000 });
    assertEquals(truth.length, 5000);
    assertEquals(Deno.statSync(path).size, 2880 * Math.ceil((2880 + 4 * 4096 * 4096) / 2880));
    using frame = openFitsFrame(path);
    assertEquals([frame.width, frame.height, frame.saturate], [4096, 4096, 30000]);
    // A band from the middle of the file is the array written.
    const band = frame.readRows(2000, 2064).data;
    assertEquals(band, pixels.subarray(2000 * 4096, 2064 * 4096));
    assertEquals(band.some((v) => !Number.isFinite(v)), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("syntheticFrame: bad options are one-line errors", () => {
  const cases: [Partial<SyntheticFrameOptions>, string][] = [
    [{ width: 0 }, "width"],
    [{ nStars: -1 }, "nStars"],
    [{ fwhm: 0 }, "fwhm"],
    [{ blankColumns: [321] }, "blank column 321"],
    [{ saturate: 10 }, "saturate"],
  ];
  for (const [bad, word] of cases) {
    const e = assertThrows(() => syntheticFrame({ ...SMALL, ...bad }), StarmambaError);
    assert(e.message.includes(word) && !e.message.includes("\n"), e.message);
  }
});
