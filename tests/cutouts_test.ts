/**
 * Stamps cut from a frame (lib/frames/cutouts.ts) and the --sources list (lib/frames/
 * sources_csv.ts). Where a stamp is cut is checked against astropy's Cutout2D
 * (tests/fixtures/cutouts/make_cutout2d.py wrote the reference stamps once); orientation, blank
 * pixels and edge padding against values worked by hand.
 */
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { validateConfig } from "../lib/config/load.ts";
import type { DataSection } from "../lib/config/schema.ts";
import { measureBackground, rowScratch } from "../lib/frames/background.ts";
import { backgroundRow } from "../lib/frames/background.ts";
import {
  backgroundAt,
  cutStamp,
  frameCutouts,
  type FramePixels,
  stampStart,
} from "../lib/frames/cutouts.ts";
import {
  namesFrame,
  readSourceTable,
  rowsOfFrame,
  sourcePositions,
} from "../lib/frames/sources_csv.ts";
import { parseWcs, pixelToWorld } from "../lib/frames/wcs.ts";
import { StarmambaError } from "../lib/util/errors.ts";

const FIXTURE = new URL("./fixtures/cutouts/cutout2d.json", import.meta.url).pathname;

interface Cutout2dFixture {
  width: number;
  height: number;
  fill: number;
  stamps: { x: number; y: number; size: number; start: [number, number]; data: number[][] }[];
}

/** The fixture's frame: pixel at 0-based (row j, column i) = 100 j + i. */
function indexFrame(width: number, height: number): FramePixels {
  const data = new Float32Array(width * height);
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) data[j * width + i] = 100 * j + i;
  }
  return { data, width, height };
}

/** A data section at its defaults with a given size, channels and stretch. */
function dataSection(over: Partial<DataSection>): DataSection {
  const cfg = validateConfig({ data: { source: "synthetic" } }, "test");
  return { ...cfg.data, ...over };
}

Deno.test("stampStart and cutStamp cut where astropy's Cutout2D cuts (even and odd sizes, off the frame too)", () => {
  const fx = JSON.parse(Deno.readTextFileSync(FIXTURE)) as Cutout2dFixture;
  const frame = indexFrame(fx.width, fx.height);
  assertEquals(fx.stamps.length, 48);
  for (const s of fx.stamps) {
    const what = `(${s.x}, ${s.y}) size ${s.size}`;
    assertEquals([stampStart(s.x, s.size), stampStart(s.y, s.size)], s.start, what);
    const out = new Float32Array(s.size * s.size);
    const stamp = cutStamp(frame, s.x, s.y, { size: s.size, background: () => fx.fill }, out);
    assertEquals(Array.from(out), s.data.flat(), what);
    const off = s.data.flat().includes(fx.fill);
    assertEquals(stamp.edge, off, `${what}: edge flag`);
    assertEquals([stamp.x0, stamp.y0], s.start, what);
  }
});

Deno.test("an even stamp puts an integer position at index size/2 from the low edge; a half-pixel position in the central 2×2", () => {
  // Worked by hand from ⌈x − size/2⌉: x = 40 → start 8, so pixel 40 is index 32 of 64.
  assertEquals(stampStart(40, 64), 8);
  assertEquals(40 - stampStart(40, 64), 32);
  // A source between pixels 39 and 40 (x = 39.5): the stamp's centre is on it exactly.
  assertEquals(39.5 - stampStart(39.5, 64), 31.5);
  // Odd sizes: the nearest pixel is the central one (index 32 of 65); .5 rounds down.
  assertEquals(40.4 - stampStart(40.4, 65), 32.4);
  assertEquals(stampStart(40.5, 65), 8); // pixel 40 at index 32, the source at 32.5
});

Deno.test("frameCutouts decodes stamps as FITS cutout files are read: flipped to top-first, blanks → the stamp's median", () => {
  // A 20 × 12 frame of value 10 with one pixel 50 at FITS (9, 7) and one NaN at FITS (8, 5).
  const width = 20, height = 12, size = 6;
  const data = new Float32Array(width * height).fill(10);
  data[(7 - 1) * width + (9 - 1)] = 50;
  data[(5 - 1) * width + (8 - 1)] = NaN;
  const frame = { data, width, height };
  const d = dataSection({ size, channels: 1, stretch: "identity" });
  const cut = frameCutouts(frame, [{ x: 9, y: 7 }], {
    data: d,
    background: () => 0,
    names: ["a"],
    frame: "F",
    classNames: ["galaxy", "star"],
  });
  // Stamp: FITS columns 6..11, rows 4..9 (⌈9 − 3⌉ = 6, ⌈7 − 3⌉ = 4).
  assertEquals([cut.stamps[0].x0, cut.stamps[0].y0], [6, 4]);
  assertEquals(cut.stamps[0].blank, 1);
  assertEquals(cut.stamps[0].edge, false);
  const img = cut.dataset.images;
  // Row 0 of the image is the stamp's top FITS row (9): FITS row y is image row 9 − y.
  assertEquals(img[(9 - 7) * size + (9 - 6)], 50);
  // The blank pixel (FITS (8, 5)) holds the median of the other 35 pixels: 10.
  assertEquals(img[(9 - 5) * size + (8 - 6)], 10);
  assertEquals(cut.dataset.files, ["a"]);
  assertEquals(cut.dataset.frames, ["F"]);
});

Deno.test("frameCutouts stretches each stamp with the run's stretch and replicates grey to 3 channels", () => {
  const width = 16, height = 16, size = 4;
  const data = new Float32Array(width * height).map((_, i) => i);
  const d = dataSection({ size, channels: 3, stretch: "minmax" });
  const cut = frameCutouts({ data, width, height }, [{ x: 8, y: 8 }], {
    data: d,
    background: () => 0,
    names: ["a"],
    frame: "F",
    classNames: ["galaxy", "star"],
  });
  // Stamp columns 6..9, rows 6..9: values (r − 1)·16 + (c − 1), min 85 (r 6, c 6), max 136.
  const img = cut.dataset.images;
  const top = (r: number, c: number, ch: number) => img[((9 - r) * size + (c - 6)) * 3 + ch];
  assertEquals(top(6, 6, 0), 0);
  assertEquals(top(9, 9, 0), 1);
  assert(Math.abs(top(8, 7, 0) - (7 * 16 + 6 - 85) / 51) < 1e-6);
  assertEquals([top(8, 7, 1), top(8, 7, 2)], [top(8, 7, 0), top(8, 7, 0)]);
});

Deno.test("an edge stamp is padded with the background map's value at the source's pixel and flagged; skipEdge leaves it out", () => {
  // A sky with a gradient along x, so the background map differs from place to place.
  const width = 96, height = 80, size = 16;
  const data = new Float32Array(width * height).map((_, i) => 100 + (i % width) * 0.5);
  const frame = { data, width, height };
  const map = measureBackground(data, width, height, { bw: 16, bh: 16 });
  const at = backgroundAt(map);
  // The value the map gives at FITS (2, 40): row 39 (0-based) interpolated, column 1.
  const row = new Float32Array(width);
  backgroundRow(map, 39, row, "back", rowScratch(map));
  assertEquals(at(2, 40), row[1]);
  const out = new Float32Array(size * size);
  const s = cutStamp(frame, 2.3, 40, { size, background: at }, out);
  assert(s.edge);
  // Columns −6..9: the first 7 (FITS −6..0) are off the frame and hold the background at (2, 40).
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const fx = s.x0 + c, fy = s.y0 + r;
      const want = fx < 1 ? row[1] : data[(fy - 1) * width + fx - 1];
      assertEquals(out[r * size + c], want, `(${c}, ${r})`);
    }
  }
  const d = dataSection({ size, channels: 1, stretch: "identity" });
  const opts = { data: d, background: at, names: ["e", "c"], frame: "F", classNames: ["g", "s"] };
  const both = frameCutouts(frame, [{ x: 2.3, y: 40 }, { x: 48, y: 40 }], opts);
  assertEquals(both.kept, [0, 1]);
  const central = frameCutouts(frame, [{ x: 2.3, y: 40 }, { x: 48, y: 40 }], {
    ...opts,
    skipEdge: true,
  });
  assertEquals(central.kept, [1]);
  assertEquals(central.dataset.files, ["c"]);
  assertEquals(central.dataset.n, 1);
});

Deno.test("saturation: flagged when the 3×3 around the source's pixel reaches SATURATE; wholly blank stamps are left out", () => {
  const width = 30, height = 30, size = 4;
  const data = new Float32Array(width * height).fill(1);
  data[(10 - 1) * width + (11 - 1)] = 900; // FITS (11, 10), beside the source at (10, 10)
  for (let y = 20; y <= 26; y++) for (let x = 20; x <= 26; x++) data[(y - 1) * width + x - 1] = NaN;
  const frame = { data, width, height };
  const out = new Float32Array(size * size);
  assert(cutStamp(frame, 10.2, 9.8, { size, background: () => 0, saturate: 900 }, out).saturated);
  assert(!cutStamp(frame, 10.2, 9.8, { size, background: () => 0, saturate: 901 }, out).saturated);
  assert(!cutStamp(frame, 13.6, 10, { size, background: () => 0, saturate: 900 }, out).saturated);
  const d = dataSection({ size, channels: 1, stretch: "identity" });
  const cut = frameCutouts(frame, [{ x: 23, y: 23 }, { x: 10, y: 10 }], {
    data: d,
    background: () => 0,
    names: ["blank", "ok"],
    frame: "F",
    classNames: ["g", "s"],
  });
  assertEquals(cut.allBlank, [0]);
  assertEquals(cut.kept, [1]);
});

/** Writes a CSV to a temp file. */
function csvFile(text: string): string {
  const p = Deno.makeTempFileSync({ suffix: ".csv" });
  Deno.writeTextFileSync(p, text);
  return p;
}

const TAN = {
  CTYPE1: "RA---TAN",
  CTYPE2: "DEC--TAN",
  CRPIX1: 50.5,
  CRPIX2: 40.25,
  CRVAL1: 150,
  CRVAL2: 2,
  CD1_1: -1e-4,
  CD1_2: 0,
  CD2_1: 0,
  CD2_2: 1e-4,
};

Deno.test("--sources: x,y as given, ra,dec through the WCS, frame column by file name or stem, other columns carried", () => {
  const f = csvFile(
    "Frame,X_IMAGE,Y_IMAGE,name,mag\n" +
      "a.fits,10.5,20,s1,17.1\nb.fits.gz,3,4,s2,18\na,30,40.25,s3,19\n",
  );
  const t = readSourceTable(f);
  assertEquals(t.positions, "xy");
  assertEquals(t.carried.map((j) => t.columns[j]), ["name", "mag"]);
  const frames = ["data/a.fits", "data/b.fits.gz"];
  const a = rowsOfFrame(t, "data/a.fits", frames);
  assertEquals(a.map((r) => r.line), [2, 4]);
  assert(namesFrame("b", "data/b.fits.gz") && namesFrame("data/b.fits.gz", "data/b.fits.gz"));
  const geo = { name: "data/a.fits", width: 100, height: 80 };
  assertEquals(sourcePositions(t, a, geo), [{ x: 10.5, y: 20 }, { x: 30, y: 40.25 }]);

  const wcs = parseWcs(TAN, "tan");
  const [ra, dec] = pixelToWorld(wcs, 12.25, 33.5);
  const sky = readSourceTable(csvFile(`ra,dec,id\n150,2,1\n${ra},${dec},2\n`));
  assertEquals(sky.positions, "radec");
  const p = sourcePositions(sky, sky.rows, { ...geo, wcs });
  // CRVAL sits on CRPIX exactly; the other position comes back to its pixel.
  assertEquals([p[0].x, p[0].y], [50.5, 40.25]);
  assert(Math.abs(p[1].x - 12.25) < 1e-6 && Math.abs(p[1].y - 33.5) < 1e-6);
  assertEquals([p[1].ra, p[1].dec], [ra, dec]);
});

Deno.test("--sources: a row off its frame, ra,dec without a WCS, no frame column for several frames: one line naming file and line", () => {
  const t = readSourceTable(csvFile("x,y\n10,10\n0.4,10\n"));
  const geo = { name: "f.fits", width: 100, height: 80 };
  const off = assertThrows(() => sourcePositions(t, t.rows, geo), StarmambaError, "line 3");
  assert(off.message.includes("outside f.fits") && !off.message.includes("\n"), off.message);
  // The outer edge of the last pixel is still on the frame.
  const edge = readSourceTable(csvFile("x,y\n100.5,0.5\n"));
  assertEquals(sourcePositions(edge, edge.rows, geo), [{ x: 100.5, y: 0.5 }]);
  const sky = readSourceTable(csvFile("ra,dec\n150,2\n"));
  assertThrows(() => sourcePositions(sky, sky.rows, geo), StarmambaError, "no celestial WCS");
  assertThrows(() => rowsOfFrame(t, "a.fits", ["a.fits", "b.fits"]), StarmambaError, "no frame");
  const bad = readSourceTable(csvFile("x,y\n10,abc\n"));
  assertThrows(() => sourcePositions(bad, bad.rows, geo), StarmambaError, "line 2");
  assertThrows(() => readSourceTable(csvFile("a,b\n1,2\n")), StarmambaError, "no position");
  assertThrows(() => readSourceTable(csvFile("x,y\n1,2,3\n")), StarmambaError, "line 2");
});
