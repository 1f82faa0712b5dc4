/**
 * Telescope frames (lib/frames/open.ts) and the header-only FITS read under them: files built
 * byte by byte here (cards, big-endian samples), so every expected value is worked by hand.
 */
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import {
  decodeSamples,
  type FitsBytes,
  type FitsValue,
  readFits,
  readFitsHeader,
  writeFitsFloat32,
} from "../lib/data/fits.ts";
import { type FitsFrame, openFitsFrame } from "../lib/frames/open.ts";
import { pixelToWorld } from "../lib/frames/wcs.ts";
import { separationArcsec } from "../lib/data/sky_groups.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { assertOneLineError } from "./permissions.ts";

/** One header card in fixed format: strings quoted, the rest right-justified to column 30. */
function card(key: string, value: FitsValue): string {
  const v = typeof value === "string"
    ? `'${value.padEnd(8)}'`
    : typeof value === "boolean"
    ? (value ? "T" : "F").padStart(20)
    : String(value).toUpperCase().padStart(20);
  return `${key.padEnd(8)}= ${v}`.padEnd(80);
}

/** One HDU: its cards (END added), padded to 2880, then `data` padded with zeros. */
function hduBytes(cards: [string, FitsValue][], data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const text = cards.map(([k, v]) => card(k, v)).join("") + "END".padEnd(80);
  const head = Math.ceil(text.length / 2880) * 2880;
  const out = new Uint8Array(head + Math.ceil(data.length / 2880) * 2880).fill(32, 0, head);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  out.set(data, head);
  return out;
}

/** Big-endian samples of a BITPIX. */
function samples(bitpix: number, values: number[]): Uint8Array {
  const size = Math.abs(bitpix) / 8;
  const view = new DataView(new ArrayBuffer(values.length * size));
  values.forEach((v, i) => {
    if (bitpix === 8) view.setUint8(i, v);
    else if (bitpix === 16) view.setInt16(2 * i, v, false);
    else if (bitpix === 32) view.setInt32(4 * i, v, false);
    else if (bitpix === -32) view.setFloat32(4 * i, v, false);
    else view.setFloat64(8 * i, v, false);
  });
  return new Uint8Array(view.buffer);
}

/** The mandatory cards of an image HDU. */
function imageCards(first: [string, FitsValue], bitpix: number, w: number, h: number) {
  return [first, ["BITPIX", bitpix], ["NAXIS", 2], ["NAXIS1", w], ["NAXIS2", h]] as [
    string,
    FitsValue,
  ][];
}

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** Writes `bytes` to a new temp file and returns its path. */
function tempFrame(dir: string, name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  Deno.writeFileSync(path, bytes);
  return path;
}

/** All rows of a frame read in bands of `band` rows, concatenated. */
function readAll(frame: FitsFrame, band: number): { data: number[]; blank: number } {
  const data: number[] = [];
  let blank = 0;
  for (let y = 0; y < frame.height; y += band) {
    const rows = frame.readRows(y, Math.min(frame.height, y + band));
    data.push(...rows.data.subarray(0, rows.rows * rows.width));
    blank += rows.blank;
  }
  return { data, blank };
}

Deno.test("openFitsFrame: every BITPIX with BSCALE/BZERO and BLANK, read in bands, is the hand-worked physical value", () => {
  const dir = Deno.makeTempDirSync();
  // Per BITPIX: scaling cards, stored samples (3 columns × 4 rows), physical values, blanks.
  // deno-fmt-ignore
  const cases: [number, [string, FitsValue][], number[], number[], number][] = [
    [8, [["BZERO", -128]], [0, 1, 255, 128, 7, 9, 10, 11, 12, 13, 14, 15],
      [-128, -127, 127, 0, -121, -119, -118, -117, -116, -115, -114, -113], 0],
    [16, [["BSCALE", 2], ["BZERO", 32768], ["BLANK", -1]], [-32768, 0, -1, 32767, 1, 2, 3, 4, -1, 6, 7, 8],
      [-32768, 32768, NaN, 98302, 32770, 32772, 32774, 32776, NaN, 32780, 32782, 32784], 2],
    [32, [["BSCALE", 0.5], ["BZERO", -100], ["BLANK", -2147483648]],
      [10, -2147483648, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120],
      [-95, NaN, -85, -80, -75, -70, -65, -60, -55, -50, -45, -40], 1],
    [-32, [], [1.5, NaN, Infinity, -Infinity, 0, -0.25, 3, 4, 5, 6, 7, 8],
      [1.5, NaN, NaN, NaN, 0, -0.25, 3, 4, 5, 6, 7, 8], 3],
    // A float64 pixel beyond float32's range cannot be held in a Float32Array band: blank.
    [-64, [["BZERO", 1]], [0.5, 1e300, 2, 3, 4, 5, 6, 7, 8, 9, 10, NaN],
      [1.5, NaN, 3, 4, 5, 6, 7, 8, 9, 10, 11, NaN], 2],
  ];
  for (const [bitpix, scale, stored, want, blanks] of cases) {
    const bytes = hduBytes(
      [...imageCards(["SIMPLE", true], bitpix, 3, 4), ...scale],
      samples(bitpix, stored),
    );
    const path = tempFrame(dir, `b${bitpix}.fits`, bytes);
    using frame = openFitsFrame(path);
    assertEquals([frame.width, frame.height, frame.bitpix, frame.hdu], [3, 4, bitpix, 0]);
    for (const band of [1, 3, 4]) {
      const all = readAll(frame, band);
      assertEquals(all.data, want, `BITPIX ${bitpix}, bands of ${band}`);
      assertEquals(all.blank, blanks, `BITPIX ${bitpix} blanks`);
    }
    // Row 2 alone (0-based, FITS y = 3): elements 6..8.
    const row = frame.readRows(2, 3);
    assertEquals([row.y0, row.rows, row.width], [2, 1, 3]);
    assertEquals(Array.from(row.data), want.slice(6, 9));
  }
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("openFitsFrame --hdu: the image extension with its WCS and SATURATE; an empty primary says which --hdu", () => {
  const dir = Deno.makeTempDirSync();
  const wcsCards: [string, FitsValue][] = [
    ["CTYPE1", "RA---TAN"],
    ["CTYPE2", "DEC--TAN"],
    ["CRPIX1", 2],
    ["CRPIX2", 1.5],
    ["CRVAL1", 150],
    ["CRVAL2", 2.5],
    ["CD1_1", -1e-4],
    ["CD1_2", 0],
    ["CD2_1", 0],
    ["CD2_2", 1e-4],
  ];
  const bytes = concat(
    hduBytes([["SIMPLE", true], ["BITPIX", 8], ["NAXIS", 0], ["EXTEND", true]]),
    hduBytes(
      [
        ...imageCards(["XTENSION", "IMAGE"], -32, 3, 2),
        ["PCOUNT", 0],
        ["GCOUNT", 1],
        ["SATURATE", 60000],
        ...wcsCards,
      ],
      samples(-32, [1, 2, 3, 4, 5, 6]),
    ),
  );
  const path = tempFrame(dir, "ext.fits", bytes);
  const err = assertThrows(() => openFitsFrame(path), StarmambaError, "Pass --hdu 1");
  assert(err.message.includes(path) && !err.message.includes("\n"), err.message);
  using frame = openFitsFrame(path, { hdu: 1 });
  assertEquals([frame.hdu, frame.width, frame.height, frame.saturate], [1, 3, 2, 60000]);
  assertEquals(frame.name, `${path} [hdu 1]`);
  assert(frame.wcs !== undefined);
  // CRPIX is the reference pixel: FITS (2, 1.5) is CRVAL exactly.
  assertEquals(pixelToWorld(frame.wcs, 2, 1.5), [150, 2.5]);
  assertEquals(Array.from(frame.readRows(1, 2).data), [4, 5, 6]);
  // wcs: false leaves the WCS out; a header without celestial CTYPEs has none either.
  using noWcsCards = openFitsFrame(path, { hdu: 1, wcs: false });
  assertEquals(noWcsCards.wcs, undefined);
  const plain = tempFrame(dir, "plain.fits", writeFitsFloat32(2, 2, [1, 2, 3, 4], { GAIN: 2 }));
  using noWcs = openFitsFrame(plain);
  assertEquals([noWcs.wcs, noWcs.saturate, noWcs.header["GAIN"]], [undefined, undefined, 2]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("openFitsFrame: a TAN-SIP header written into a FITS file gives astropy's positions (1 mas)", () => {
  const fixture = JSON.parse(
    Deno.readTextFileSync(new URL("./fixtures/wcs/cases.json", import.meta.url)),
  );
  const c = fixture.cases["tan_sip_inv"];
  const dir = Deno.makeTempDirSync();
  const path = tempFrame(
    dir,
    "sip.fits.gz",
    gzipSync(writeFitsFloat32(4, 4, new Array(16).fill(0), c.header)),
  );
  using frame = openFitsFrame(path);
  assert(frame.wcs?.sip?.ap !== undefined, "AP/BP read from the file");
  c.pixels.forEach(([x, y]: [number, number], i: number) => {
    const [ra, dec] = pixelToWorld(frame.wcs!, x, y);
    const off = separationArcsec(ra, dec, c.world[i][0], c.world[i][1]);
    assert(off <= 1e-3, `#${i}: ${off} arcsec`);
  });
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("readFitsHeader: header, size and WCS without reading the pixels (three blocks of a 1000×1000 frame)", () => {
  const bytes = writeFitsFloat32(1000, 1000, new Float32Array(1_000_000), {
    CTYPE1: "RA---TAN",
    CTYPE2: "DEC--TAN",
  });
  let read = 0;
  const spy: FitsBytes = {
    length: bytes.length,
    read: (offset, n) => {
      read += n;
      return bytes.subarray(offset, offset + n);
    },
  };
  const head = readFitsHeader(spy, { name: "big.fits" });
  assertEquals([head.width, head.height, head.bitpix, head.dataStart], [1000, 1000, -32, 2880]);
  assertEquals(head.header["CTYPE1"], "RA---TAN");
  // The SIMPLE check and the header block; the 4 MB data unit is never read.
  assert(read <= 3 * 2880, `${read} bytes read for a header`);
  // The same from plain bytes, and readFits still reads the pixels.
  assertEquals(readFitsHeader(bytes).dataStart, 2880);
  assertEquals(readFits(bytes).data.length, 1_000_000);
});

Deno.test("openFitsFrame streams: a 1 GiB frame opens and reads a band without loading the file", () => {
  const dir = Deno.makeTempDirSync();
  const side = 16384;
  const header = hduBytes(imageCards(["SIMPLE", true], -32, side, side));
  const path = join(dir, "huge.fits");
  Deno.writeFileSync(path, header);
  // A sparse file: the data unit reads as zeros and takes no disk.
  Deno.truncateSync(path, header.length + side * side * 4);
  const before = Deno.memoryUsage().rss;
  using frame = openFitsFrame(path);
  const band = frame.readRows(8000, 8016);
  assertEquals([band.rows, band.data.length, band.blank, band.data[12345]], [16, 16 * side, 0, 0]);
  const grown = Deno.memoryUsage().rss - before;
  assert(grown < 256 * 1024 * 1024, `rss grew by ${grown} bytes for a 1 GiB frame`);
  // Reusing one buffer for every band keeps a hundred frames' streaming in one band's memory.
  const buffer = new Float32Array(16 * side);
  assert(frame.readRows(0, 16, buffer).data === buffer);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("openFitsFrame: a hundred frames streamed in turn through one buffer leave no file open", () => {
  const dir = Deno.makeTempDirSync();
  const values = Array.from({ length: 64 * 48 }, (_, i) => i % 97);
  const path = tempFrame(dir, "f.fits", writeFitsFloat32(64, 48, values));
  // Count the handles openFitsFrame opens and closes (the process's own descriptors are not
  // readable under the test permissions, and other tests' come and go).
  const realOpen = Deno.openSync;
  let open = 0;
  Deno.openSync = (p: string | URL, o?: Deno.OpenOptions) => {
    const f = realOpen(p, o);
    open++;
    const close = f.close.bind(f);
    f.close = () => {
      open--;
      close();
    };
    return f;
  };
  const openFiles = () => open;
  const before = openFiles();
  assertEquals(before, 0);
  const buffer = new Float32Array(16 * 64);
  let sum = 0;
  for (let k = 0; k < 100; k++) {
    using frame = openFitsFrame(path);
    for (let y = 0; y < frame.height; y += 16) {
      const band = frame.readRows(y, y + 16, buffer);
      for (let i = 0; i < band.rows * band.width; i++) sum += band.data[i];
    }
  }
  assertEquals(sum, 100 * values.reduce((a, b) => a + b, 0));
  assertEquals(openFiles(), before);
  // A refused open closes its handle too.
  for (let k = 0; k < 10; k++) assertThrows(() => openFitsFrame(path, { hdu: 2 }), StarmambaError);
  assertEquals(openFiles(), before);
  Deno.openSync = realOpen;
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("openFitsFrame: refusals are one line naming the file (tile-compressed, bad rows, closed, missing)", () => {
  const dir = Deno.makeTempDirSync();
  const fz = concat(
    hduBytes([["SIMPLE", true], ["BITPIX", 8], ["NAXIS", 0], ["EXTEND", true]]),
    hduBytes([
      ["XTENSION", "BINTABLE"],
      ["BITPIX", 8],
      ["NAXIS", 2],
      ["NAXIS1", 8],
      ["NAXIS2", 1],
      ["PCOUNT", 0],
      ["GCOUNT", 1],
      ["TFIELDS", 1],
      ["ZIMAGE", true],
      ["ZBITPIX", -32],
      ["ZNAXIS", 2],
    ], new Uint8Array(8)),
  );
  const fzPath = tempFrame(dir, "frame.fits.fz", fz);
  const path = tempFrame(dir, "ok.fits", writeFitsFloat32(2, 3, [1, 2, 3, 4, 5, 6]));
  const frame = openFitsFrame(path);
  const cases: [string, () => unknown, string, string][] = [
    ["fz", () => openFitsFrame(fzPath, { hdu: 1 }), "tile-compressed", fzPath],
    ["hdu -1", () => openFitsFrame(path, { hdu: -1 }), "--hdu must be 0", path],
    ["hdu 3", () => openFitsFrame(path, { hdu: 3 }), "HDU 3 does not exist", path],
    ["missing", () => openFitsFrame(join(dir, "nope.fits")), "cannot open", "nope.fits"],
    ["rows past", () => frame.readRows(2, 4), "0 ≤ y0 < y1 ≤ 3", path],
    ["rows empty", () => frame.readRows(1, 1), "rows 1..1", path],
    ["buffer", () => frame.readRows(0, 2, new Float32Array(3)), "4 are needed", path],
    [
      "closed",
      () => {
        frame.close();
        frame.close();
        return frame.readRows(0, 1);
      },
      "closed",
      path,
    ],
  ];
  for (const [label, f, what, where] of cases) {
    const err = assertThrows(f, StarmambaError, what);
    assert(err.message.includes(where) && !err.message.includes("\n"), `${label}: ${err.message}`);
  }
  // The same tile-compressed file through readFits (the cutout path) gets the same advice.
  assertThrows(() => readFits(fz, { hdu: 1, name: "c.fz" }), StarmambaError, "funpack");
  // A bad WCS in a frame is refused, not dropped.
  const tpv = tempFrame(
    dir,
    "tpv.fits",
    writeFitsFloat32(2, 2, [1, 2, 3, 4], {
      CTYPE1: "RA---TPV",
      CTYPE2: "DEC--TPV",
    }),
  );
  assertThrows(() => openFitsFrame(tpv), StarmambaError, "TPV projection");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("openFitsFrame under runMain: an unsupported projection is exit 2 and one error line", () => {
  const dir = Deno.makeTempDirSync();
  const frame = tempFrame(
    dir,
    "tpv.fits",
    writeFitsFloat32(2, 2, [1, 2, 3, 4], {
      CTYPE1: "RA---TPV",
      CTYPE2: "DEC--TPV",
    }),
  );
  const script = join(dir, "open.ts");
  const lib = (p: string) => new URL(`../lib/${p}`, import.meta.url).href;
  Deno.writeTextFileSync(
    script,
    `import { runMain } from "${lib("util/cli.ts")}";\n` +
      `import { openFitsFrame } from "${lib("frames/open.ts")}";\n` +
      `await runMain(async () => { openFitsFrame(Deno.args[0]); });\n`,
  );
  const o = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", script, frame],
    env: { NO_COLOR: "1" },
    stderr: "piped",
    stdout: "piped",
  }).outputSync();
  const r = { code: o.code, stderr: new TextDecoder().decode(o.stderr) };
  assertOneLineError(r, "tpv.fits", "TPV projection", "TAN, SIN, TAN-SIP, SIN-SIP");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("decodeSamples: stored samples into part of a buffer, BLANK only for integer data", () => {
  const out = new Float64Array(5).fill(-1);
  const blank = decodeSamples(
    samples(16, [3, 7, -5]),
    {
      bitpix: 16,
      bscale: 10,
      bzero: 1,
      blank: 7,
    },
    out,
    2,
  );
  assertEquals([blank, Array.from(out)], [1, [-1, -1, 31, NaN, -49]]);
});
