/**
 * Frame previews (lib/frames/preview.ts): the PNG decoded back to raw pixels with sharp, checked
 * for FITS orientation (row 1 at the bottom), class-coloured circles at the sources, the blank
 * colour on NaN pixels, zscale and asinh grey levels as lib/data/stretch.ts's intervals give
 * them, block-mean reduction of a long frame, and band-by-band accumulation.
 */
import sharp from "sharp";
import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";
import {
  BLANK_COLOR,
  framePreview,
  previewAccumulator,
  type PreviewSource,
} from "../lib/frames/preview.ts";
import { CLASS_COLORS } from "../lib/frames/regions.ts";
import { percentileInterval, zscaleInterval } from "../lib/data/stretch.ts";
import { StarmambaError } from "../lib/util/errors.ts";

const W = 40, H = 30, R = 5;
const SOURCES: PreviewSource[] = [
  { x: 14, y: 10, cls: "galaxy", p: 0.9 },
  { x: 30, y: 21, cls: "star", p: 0.1 },
];

/** FITS (x, y) → index into a row-major array whose row 0 is FITS y = 1. */
const at = (x: number, y: number) => (y - 1) * W + (x - 1);

/** A small frame: a smooth sky with a ripple, a bright pixel at FITS (3, 2), blank pixels. */
function testFrame(): Float32Array {
  const f = new Float32Array(W * H);
  for (let y = 1; y <= H; y++) {
    for (let x = 1; x <= W; x++) f[at(x, y)] = 100 + 0.5 * x + 0.3 * y + 4 * Math.sin(x * y);
  }
  f[at(3, 2)] = 5000;
  // Blank: FITS column x = 38 over the whole height, and the pixel (20, 28).
  for (let y = 1; y <= H; y++) f[at(38, y)] = NaN;
  f[at(20, 28)] = NaN;
  return f;
}

/** The PNG decoded to RGB; pixel(col, row) counts rows from the top of the picture. */
async function decode(png: Uint8Array) {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({
    resolveWithObject: true,
  });
  assertEquals(info.channels, 3);
  const pixel = (col: number, row: number) =>
    Array.from(data.subarray(3 * (row * info.width + col), 3 * (row * info.width + col) + 3));
  return { width: info.width, height: info.height, pixel };
}

const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/** The picture pixel (column, row from the top) showing FITS pixel (x, y) at factor 1. */
const picture = (x: number, y: number): [number, number] => [x - 1, H - y];

/** True when FITS pixel (x, y) is near a circle (drawn over the grey). */
function nearCircle(x: number, y: number): boolean {
  return SOURCES.some((s) => Math.abs(Math.hypot(x - s.x, y - s.y) - R) < 1.6);
}

Deno.test("preview: FITS orientation — a bright pixel at FITS (3, 2) is at the bottom left", async () => {
  const png = await framePreview(testFrame(), W, H, [], { stretch: "zscale", legend: false });
  const img = await decode(png);
  assertEquals([img.width, img.height], [W, H]);
  // FITS (3, 2) = 3rd column, 2nd row from the bottom: picture column 2, row H − 2.
  assertEquals(img.pixel(2, H - 2), [255, 255, 255]);
  let brightest = [-1, -1, -1];
  for (let row = 0; row < H; row++) {
    for (let col = 0; col < W; col++) {
      if (col === 2 && row === H - 2) continue;
      const v = img.pixel(col, row);
      if (v[0] === v[1] && v[1] === v[2] && v[0] > brightest[0]) brightest = [v[0], col, row];
    }
  }
  // Everything else is the sky, well below the bright pixel's white; in particular the
  // mirrored position (picture row 1, where a top-down picture would put it) is not white.
  assert(img.pixel(2, 1)[0] < 255, `mirrored pixel ${img.pixel(2, 1)}`);
  assert(brightest[0] < 255, `another white pixel at ${brightest.slice(1)}`);
});

Deno.test("preview: circles in the class colours around each source", async () => {
  const png = await framePreview(testFrame(), W, H, SOURCES, {
    stretch: "zscale",
    radius: R,
    legend: false,
  });
  const img = await decode(png);
  for (const s of SOURCES) {
    const colour = rgb(CLASS_COLORS[s.cls]);
    // The four points of the circle on the axes through the source.
    for (const [dx, dy] of [[R, 0], [-R, 0], [0, R], [0, -R]]) {
      const [col, row] = picture(s.x + dx, s.y + dy);
      assertEquals(img.pixel(col, row), colour, `${s.cls} at FITS (${s.x + dx}, ${s.y + dy})`);
    }
    // The centre is not painted.
    const [col, row] = picture(s.x, s.y);
    assert(img.pixel(col, row)[0] === img.pixel(col, row)[2], `centre of ${s.cls} is grey`);
  }
});

Deno.test("preview: NaN pixels have the blank colour", async () => {
  const png = await framePreview(testFrame(), W, H, [], { stretch: "asinh", legend: false });
  const img = await decode(png);
  for (let y = 1; y <= H; y++) assertEquals(img.pixel(...picture(38, y)), rgb(BLANK_COLOR));
  assertEquals(img.pixel(...picture(20, 28)), rgb(BLANK_COLOR));
  assert(img.pixel(...picture(37, 5))[0] === img.pixel(...picture(37, 5))[1]);
});

Deno.test("preview: zscale grey levels are those of zscaleInterval's limits", async () => {
  const frame = testFrame();
  const png = await framePreview(frame, W, H, SOURCES, {
    stretch: "zscale",
    radius: R,
    legend: false,
  });
  const img = await decode(png);
  // Sampled in array order (FITS row 1 first), as the preview passes the image to the stretch.
  const [vmin, vmax] = zscaleInterval(frame);
  // Not the min/max: the bright pixel lies far above vmax.
  assert(vmin > 90 && vmax < 1000, `zscale limits ${vmin}, ${vmax}`);
  let checked = 0, clipped = 0;
  for (let y = 1; y <= H; y++) {
    for (let x = 1; x <= W; x++) {
      const v = frame[at(x, y)];
      if (Number.isNaN(v) || nearCircle(x, y)) continue;
      const t = Math.min(Math.max((v - vmin) / (vmax - vmin), 0), 1);
      if (t === 0 || t === 1) clipped++;
      assertEquals(img.pixel(...picture(x, y)), Array(3).fill(Math.round(255 * t)), `(${x}, ${y})`);
      checked++;
    }
  }
  assert(checked > 900 && clipped < checked / 2, `${checked} checked, ${clipped} clipped`);
});

Deno.test("preview: asinh grey levels are PercentileInterval + AsinhStretch", async () => {
  const frame = testFrame();
  const opts = { stretch: "asinh", percentile: 99, asinhA: 0.2, legend: false } as const;
  const img = await decode(await framePreview(frame, W, H, [], opts));
  const [vmin, vmax] = percentileInterval(frame, 99);
  for (const [x, y] of [[1, 1], [10, 20], [25, 7], [40, 30], [3, 2]]) {
    const t = Math.min(Math.max((frame[at(x, y)] - vmin) / (vmax - vmin), 0), 1);
    const want = Math.round(255 * Math.asinh(t / 0.2) / Math.asinh(1 / 0.2));
    assertEquals(img.pixel(...picture(x, y)), [want, want, want], `(${x}, ${y})`);
  }
});

Deno.test("preview: a 5000×30 frame is reduced by block means, keeping its aspect", async () => {
  const w = 5000, h = 30;
  const frame = new Float32Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) frame[y * w + x] = x + 1000 * y;
  frame[0] = NaN; // block (0, 0) then averages its 8 other pixels
  const acc = previewAccumulator(w, h, 2048);
  acc.add(0, frame, h);
  // f = ⌈5000 / 2048⌉ = 3: 1667 × 10; the last column of blocks holds columns 4998 and 4999.
  assertEquals([acc.factor, acc.previewWidth, acc.previewHeight], [3, 1667, 10]);
  const image = acc.image();
  const block = (i: number, j: number) => image[j * 1667 + i];
  assertAllClose([block(5, 0), block(1666, 0), block(7, 9)], [
    16 + 1000,
    4998.5 + 1000,
    22 + 28000,
  ]);
  // x + 1000 y over x, y in 0…2 sums to 9 + 9000; the NaN at (0, 0) held 0.
  assertAllClose([block(0, 0)], [9009 / 8]);
  const img = await decode(
    await framePreview(frame, w, h, [{ x: 2500, y: 15, cls: "star", p: 0.2 }], {
      stretch: "asinh",
    }),
  );
  assertEquals([img.width, img.height], [1667, 10]);
  assert(Math.max(img.width, img.height) <= 2048);
  assert(Math.abs(img.width / img.height - w / h) < w / h * 0.01);
});

Deno.test("preview: bands added one by one give the whole frame's image", () => {
  const frame = testFrame();
  const whole = previewAccumulator(W, H, 16);
  whole.add(0, frame);
  const banded = previewAccumulator(W, H, 16);
  // Bands of 7 rows, out of order, each in a larger buffer as readRows may return.
  for (const y0 of [21, 0, 14, 7, 28]) {
    const rows = Math.min(7, H - y0);
    const buffer = new Float32Array(7 * W + 5).fill(-1);
    buffer.set(frame.subarray(y0 * W, (y0 + rows) * W));
    banded.add(y0, buffer, rows);
  }
  assertEquals(whole.factor, 3);
  // Summed in another order: equal to rounding.
  assertAllClose(banded.image(), whole.image(), 1e-6, 0);
  assertThrows(() => banded.add(3, frame.subarray(0, W), 1), Error, "added twice");
  assertThrows(() => banded.add(29, frame.subarray(0, 2 * W), 2), Error, "does not fit");
});

Deno.test("preview: the legend shows the class colours on a dark box", async () => {
  const w = 600, h = 400;
  const frame = new Float32Array(w * h).map((_, i) => 100 + (i % 7));
  const sources = [...SOURCES, { x: 300, y: 200, cls: "galaxy", p: 0.5 }];
  const img = await decode(await framePreview(frame, w, h, sources, { stretch: "zscale" }));
  const plain = await decode(
    await framePreview(frame, w, h, sources, { stretch: "zscale", legend: false }),
  );
  // Near each class colour somewhere in the legend box (top-left, ~10 px per line).
  const near = (c: number[], t: number[]) => c.every((v, k) => Math.abs(v - t[k]) < 40);
  for (const cls of ["galaxy", "star"]) {
    let found = false;
    for (let row = 4; row < 40 && !found; row++) {
      for (let col = 4; col < 40 && !found; col++) {
        found = near(img.pixel(col, row), rgb(CLASS_COLORS[cls]));
      }
    }
    assert(found, `no ${cls} swatch in the legend`);
  }
  assert(img.pixel(6, 6)[0] < plain.pixel(6, 6)[0], "legend box darkens the picture");
});

Deno.test("preview: bad options are StarmambaErrors", async () => {
  assertThrows(() => previewAccumulator(0, 10), StarmambaError, "width");
  assertThrows(() => previewAccumulator(10, 10, 1.5), StarmambaError, "maxSide");
  const frame = new Float32Array(100).fill(1);
  for (
    const [opts, word] of [
      [{ stretch: "log" }, "stretch"],
      [{ stretch: "zscale", colors: { star: "blue" } }, '"star"'],
    ] as const
  ) {
    let error: unknown;
    try {
      await framePreview(frame, 10, 10, [{ x: 5, y: 5, cls: "star", p: 1 }], opts as never);
    } catch (e) {
      error = e;
    }
    assert(error instanceof StarmambaError && error.message.includes(word), String(error));
  }
});
