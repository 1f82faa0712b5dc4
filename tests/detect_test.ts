/**
 * Source detection (lib/frames/background.ts, lib/frames/detect.ts) against SEP: the frame and SEP's
 * output come from tests/fixtures/detect/make_fixture.py (Debian's python3-sep 1.2.1 ran
 * sep.Background and sep.extract on the frame), so these tests compare with an independent
 * implementation without needing SEP. Tiny frames check what can be worked by hand.
 */
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import { readFits } from "../lib/data/fits.ts";
import { backgroundImage, measureBackground } from "../lib/frames/background.ts";
import {
  type DetectedSource,
  detectFrame,
  type DetectOptions,
  detectSources,
  FLAG_BLANK,
  FLAG_BLENDED,
  FLAG_EDGE,
  FLAG_SATURATED,
} from "../lib/frames/detect.ts";
import { StarmambaError } from "../lib/util/errors.ts";

const FIXTURE = new URL("./fixtures/detect/", import.meta.url).pathname;

/** One SEP object as make_fixture.py saved it (x, y 0-based, SEP's convention). */
interface SepObject {
  x: number;
  y: number;
  flux: number;
  cflux: number;
  peak: number;
  npix: number;
  tnpix: number;
  xmin: number;
  xmax: number;
  ymin: number;
  ymax: number;
  a: number;
  b: number;
  flag: number;
}

interface SepFixture {
  sep_version: string;
  width: number;
  height: number;
  saturate: number;
  blank_pixels: number;
  background: {
    bw: number;
    bh: number;
    fw: number;
    fh: number;
    step: number;
    globalback: number;
    globalrms: number;
    back: number[];
    rms: number[];
  };
  extract: { thresh: number; minarea: number; runs: Record<string, { objects: SepObject[] }> };
}

const sep: SepFixture = JSON.parse(Deno.readTextFileSync(`${FIXTURE}sep.json`));
const image = readFits(Deno.readFileSync(`${FIXTURE}frame.fits.gz`), { name: "frame.fits.gz" });
const frame = Float32Array.from(image.data);
const W = image.width, H = image.height;

/** The options each SEP run in sep.json corresponds to. */
const RUNS: Record<string, DetectOptions> = {
  default: {},
  plain: { deblendCont: 1, clean: false },
  rmsmap: { rms: "map" },
};

/** Cached detections per run (with the segmentation map), so each runs once. */
const detections = new Map<string, ReturnType<typeof detectSources>>();
function detect(run: string): ReturnType<typeof detectSources> {
  let d = detections.get(run);
  if (!d) {
    d = detectSources(frame, W, H, {
      ...RUNS[run],
      thresh: sep.extract.thresh,
      minarea: sep.extract.minarea,
      saturate: sep.saturate,
      segmentation: true,
    });
    detections.set(run, d);
  }
  return d;
}

/**
 * Pairs SEP objects with ours: each SEP object with the nearest unpaired source of ours within
 * 1 px (ours are 1-based, SEP's 0-based). Returns, per SEP object, our index or −1.
 */
function match(ref: SepObject[], ours: DetectedSource[]): number[] {
  const used = new Uint8Array(ours.length);
  return ref.map((r) => {
    let best = -1, bestD = 1;
    ours.forEach((s, i) => {
      const d = Math.hypot(s.x - 1 - r.x, s.y - 1 - r.y);
      if (!used[i] && d < bestD) {
        bestD = d;
        best = i;
      }
    });
    if (best >= 0) used[best] = 1;
    return best;
  });
}

/** Is any pixel within `r` of SEP object o's bounding box blank? */
function nearBlank(o: SepObject, r: number): boolean {
  for (let y = Math.max(0, o.ymin - r); y <= Math.min(H - 1, o.ymax + r); y++) {
    for (let x = Math.max(0, o.xmin - r); x <= Math.min(W - 1, o.xmax + r); x++) {
      if (Number.isNaN(frame[y * W + x])) return true;
    }
  }
  return false;
}

Deno.test("background: SEP's background and RMS over the fixture frame, at every 8th pixel, to 2e-4 σ", () => {
  const b = sep.background;
  const map = measureBackground(frame, W, H, { bw: b.bw, bh: b.bh, fw: b.fw, fh: b.fh });
  // One box (x 128–191, y 256–319) is over half blank: filled from its neighbours, as SEP does.
  assertEquals(map.badBoxes, 1);
  assert(
    Math.abs(map.globalBack - b.globalback) < 1e-3,
    `globalback ${map.globalBack} vs ${b.globalback}`,
  );
  assert(
    Math.abs(map.globalRms - b.globalrms) < 1e-4,
    `globalrms ${map.globalRms} vs ${b.globalrms}`,
  );
  const back = backgroundImage(map), rms = backgroundImage(map, "rms");
  const tol = 2e-4 * b.globalrms;
  let k = 0, worstBack = 0, worstRms = 0;
  for (let y = 0; y < H; y += b.step) {
    for (let x = 0; x < W; x += b.step, k++) {
      worstBack = Math.max(worstBack, Math.abs(back[y * W + x] - b.back[k]));
      worstRms = Math.max(worstRms, Math.abs(rms[y * W + x] - b.rms[k]));
    }
  }
  assertEquals(k, b.back.length);
  assert(
    worstBack < tol,
    `background differs from SEP's by up to ${worstBack} ADU (tolerance ${tol})`,
  );
  assert(worstRms < tol, `RMS differs from SEP's by up to ${worstRms} ADU (tolerance ${tol})`);
});

for (const run of Object.keys(RUNS)) {
  Deno.test(`detect (${run}): the same sources as SEP to ≥ 98% both ways, matched within 1 px`, () => {
    const ref = sep.extract.runs[run].objects;
    const ours = detect(run).sources;
    const pairs = match(ref, ours);
    const matched = pairs.filter((i) => i >= 0).length;
    // The issue asks for 95%; on this frame SEP's and ours differ only where a source touches
    // the blank columns (SEP lets masked pixels join a segment) or a CLEAN decision is marginal.
    const recall = matched / ref.length, precision = matched / ours.length;
    assert(recall >= 0.98, `${run}: ${matched} of SEP's ${ref.length} sources found (${recall})`);
    assert(
      precision >= 0.98,
      `${run}: ${matched} of our ${ours.length} sources are SEP's (${precision})`,
    );
  });
}

Deno.test("detect: centroids within 0.1 px of SEP's, same pixels and flux, on isolated sources", () => {
  for (const run of Object.keys(RUNS)) {
    const ref = sep.extract.runs[run].objects;
    const ours = detect(run).sources;
    const pairs = match(ref, ours);
    let isolated = 0;
    ref.forEach((r, k) => {
      const alone = ref.every((o) => o === r || Math.hypot(o.x - r.x, o.y - r.y) > 15);
      if (r.flag !== 0 || !alone || nearBlank(r, 2)) return;
      // (Whether each is found at all is the test above: one marginal CLEAN decision differs.)
      if (pairs[k] < 0) return;
      isolated++;
      const s = ours[pairs[k]];
      const d = Math.hypot(s.x - 1 - r.x, s.y - 1 - r.y);
      assert(
        d <= 0.1,
        `${run}: centroid (${s.x - 1}, ${s.y - 1}) is ${d} px from SEP's (${r.x}, ${r.y})`,
      );
      assertEquals(s.npix, r.npix, `${run}: npix at (${r.x}, ${r.y})`);
      assert(
        Math.abs(s.flux - r.flux) <= 1e-3 * Math.abs(r.flux) + 1e-2,
        `${run}: flux ${s.flux} vs ${r.flux}`,
      );
      assertEquals([s.xmin - 1, s.xmax - 1, s.ymin - 1, s.ymax - 1], [
        r.xmin,
        r.xmax,
        r.ymin,
        r.ymax,
      ]);
    });
    assert(isolated >= 100, `${run}: only ${isolated} isolated sources to compare`);
  }
});

Deno.test("detect: flags — blended and edge as SEP's, saturated, blank neighbours", () => {
  const ref = sep.extract.runs.default.objects;
  const { sources: ours, segmentation } = detect("default");
  const pairs = match(ref, ours);
  // Deblended (SEP's OBJ_MERGED) and edge (OBJ_TRUNC) agree on ≥ 90% of SEP's flagged sources and
  // are rare among its unflagged ones (a deblended pair's leftover pixels are shared out
  // differently, so a few edge and blend decisions differ).
  for (const [bit, ours_bit] of [[1, FLAG_BLENDED], [2, FLAG_EDGE]]) {
    const flagged = ref.map((r, k) => [r, pairs[k]] as const).filter(([r, i]) =>
      r.flag & bit && i >= 0
    );
    const agree = flagged.filter(([, i]) => ours[i].flags & ours_bit).length;
    assert(
      flagged.length >= 10 && agree >= 0.9 * flagged.length,
      `flag ${bit}: ${agree}/${flagged.length}`,
    );
    const unflagged = ref.map((r, k) => [r, pairs[k]] as const).filter(([r, i]) =>
      !(r.flag & bit) && i >= 0
    );
    const extra = unflagged.filter(([, i]) => ours[i].flags & ours_bit).length;
    assert(extra <= 0.02 * unflagged.length, `flag ${bit}: ${extra} of ${unflagged.length} extra`);
  }
  // Saturated: exactly the sources with a pixel at SATURATE (the bright star at (248.3, 152.6)).
  const seg = segmentation!;
  const saturatedLabels = new Set<number>();
  for (let i = 0; i < frame.length; i++) {
    if (frame[i] >= sep.saturate && seg[i]) saturatedLabels.add(seg[i]);
  }
  const flaggedSat = new Set(ours.flatMap((s, i) => (s.flags & FLAG_SATURATED ? [i + 1] : [])));
  assertEquals(flaggedSat, saturatedLabels);
  assert(
    ours.some((s) => s.flags & FLAG_SATURATED && Math.hypot(s.x - 248.3, s.y - 152.6) < 1),
    "the clipped star is flagged saturated",
  );
  // Blank: exactly the sources with a blank pixel among their pixels' 8 neighbours.
  const touching = new Set<number>();
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const label = seg[y * W + x];
      if (!label) continue;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const qx = x + dx, qy = y + dy;
          if (qx >= 0 && qy >= 0 && qx < W && qy < H && Number.isNaN(frame[qy * W + qx])) {
            touching.add(label);
          }
        }
      }
    }
  }
  assert(touching.size >= 3, `${touching.size} sources touch blank pixels`);
  assertEquals(new Set(ours.flatMap((s, i) => (s.flags & FLAG_BLANK ? [i + 1] : []))), touching);
});

Deno.test("detect: blank (NaN) pixels are never part of a source, and are counted", () => {
  for (const run of Object.keys(RUNS)) {
    const { segmentation, blankPixels } = detect(run);
    assertEquals(blankPixels, sep.blank_pixels);
    for (let i = 0; i < frame.length; i++) {
      if (Number.isNaN(frame[i])) {
        assertEquals(segmentation![i], 0, `${run}: blank pixel ${i} in a source`);
      }
    }
  }
  // A bright star centred on a blank 3 × 3 patch: its ring is found, the patch is not.
  const { data, width, height } = tiny(21, 21, [[10, 10, 1000, 2]]);
  const mask = new Uint8Array(data.length);
  for (let y = 9; y <= 11; y++) for (let x = 9; x <= 11; x++) mask[y * width + x] = 1;
  const d = detectSources(data, width, height, { ...HAND, mask, segmentation: true });
  assertEquals(d.sources.length, 1);
  assertEquals(d.blankPixels, 9);
  for (let y = 9; y <= 11; y++) {
    for (let x = 9; x <= 11; x++) assertEquals(d.segmentation![y * width + x], 0);
  }
  assert(d.sources[0].flags & FLAG_BLANK);
});

/** Detection settings for hand-worked frames: no filter, σ = 1, threshold 1.5, no deblending. */
const HAND: DetectOptions = {
  filterKernel: null,
  rms: 1,
  deblendCont: 1,
  clean: false,
  background: { bw: 64, bh: 64 },
};

/**
 * A zero frame with Gaussian blobs [x, y, peak, σ] (0-based centres). A frame of zeros has
 * background 0 exactly (SEP's estimate on a constant), so pixels above 1.5 are "on".
 */
function tiny(
  width: number,
  height: number,
  blobs: number[][],
): { data: Float32Array; width: number; height: number } {
  const data = new Float32Array(width * height);
  for (const [cx, cy, peak, s] of blobs) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const v = peak * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s));
        if (v > 0.5) data[y * width + x] += Math.round(v);
      }
    }
  }
  return { data, width, height };
}

/** A zero frame with the listed pixels [x, y] set to `v`. */
function pixels(width: number, height: number, list: number[][], v = 10): Float32Array {
  const data = new Float32Array(width * height);
  for (const [x, y] of list) data[y * width + x] = v;
  return data;
}

Deno.test("detect by hand: a 3-pixel blob is under minarea 5; with minarea 3 it is one source", () => {
  const data = pixels(16, 12, [[5, 5], [6, 5], [7, 5]]);
  assertEquals(detectSources(data, 16, 12, HAND).sources.length, 0);
  const [s] = detectSources(data, 16, 12, { ...HAND, minarea: 3 }).sources;
  assertEquals([s.npix, s.x, s.y, s.flux], [3, 7, 6, 30]); // FITS 1-based: column 6 → x 7
});

Deno.test("detect by hand: two blobs touching only diagonally are one 8-connected source", () => {
  // 2 × 2 and 2 × 2 squares meeting corner to corner at (4, 4)–(5, 5).
  const data = pixels(12, 12, [[3, 3], [4, 3], [3, 4], [4, 4], [5, 5], [6, 5], [5, 6], [6, 6]]);
  const found = detectSources(data, 12, 12, { ...HAND, minarea: 4 }).sources;
  assertEquals(found.length, 1);
  assertEquals([found[0].npix, found[0].x, found[0].y], [8, 5.5, 5.5]);
  // One pixel apart (no contact): two sources.
  const apart = pixels(12, 12, [[2, 3], [3, 3], [2, 4], [3, 4], [5, 5], [6, 5], [5, 6], [6, 6]]);
  assertEquals(detectSources(apart, 12, 12, { ...HAND, minarea: 4 }).sources.length, 2);
});

Deno.test("detect by hand: barycentre, peak, bounding box and edge flag in FITS 1-based pixels", () => {
  // A plus sign centred on column 10, row 7 (0-based), brighter in the middle.
  const data = pixels(20, 15, [[10, 7], [9, 7], [11, 7], [10, 6], [10, 8]], 10);
  data[7 * 20 + 10] = 30;
  data[7 * 20 + 11] = 20; // pulls x right: (9·10 + 10·(30 + 10 + 10) + 11·20) / 80 = 10.125
  const [s] = detectSources(data, 20, 15, HAND).sources;
  assertEquals([s.x, s.y, s.peak, s.xpeak, s.ypeak, s.flux, s.npix], [11.125, 8, 30, 11, 8, 80, 5]);
  assertEquals([s.xmin, s.xmax, s.ymin, s.ymax, s.flags], [10, 12, 7, 9, 0]);
  // Touching the border → FLAG_EDGE; two pixels in with edgeMargin 2 → FLAG_EDGE too.
  const border = pixels(20, 15, [[0, 5], [1, 5], [0, 6], [1, 6], [0, 7]]);
  assertEquals(detectSources(border, 20, 15, HAND).sources[0].flags, FLAG_EDGE);
  const inside = pixels(20, 15, [[2, 5], [3, 5], [2, 6], [3, 6], [2, 7]]);
  assertEquals(detectSources(inside, 20, 15, HAND).sources[0].flags, 0);
  assertEquals(
    detectSources(inside, 20, 15, { ...HAND, edgeMargin: 2 }).sources[0].flags,
    FLAG_EDGE,
  );
  // Saturated: a pixel at `saturate` (before background subtraction).
  assertEquals(
    detectSources(data, 20, 15, { ...HAND, saturate: 30 }).sources[0].flags,
    FLAG_SATURATED,
  );
  assertEquals(detectSources(data, 20, 15, { ...HAND, saturate: 31 }).sources[0].flags, 0);
});

Deno.test("detect by hand: SEP's default 3 × 3 kernel and a non-separable one, normalised by Σ|k|", () => {
  // One pixel of 16 at (5, 5): the default kernel spreads it as [1 2 1; 2 4 2; 1 2 1]; above 1.5
  // are the centre (4) and its four sides (2).
  const one = pixels(11, 11, [[5, 5]], 16);
  const [a] = detectSources(one, 11, 11, { ...HAND, filterKernel: undefined }).sources;
  assertEquals([a.npix, a.cflux, a.cpeak, a.flux, a.x, a.y], [5, 12, 4, 16, 6, 6]);
  // A plus-shaped kernel (not an outer product): 10 becomes 2 on the plus, 0 elsewhere.
  const plus = { width: 3, height: 3, values: [0, 1, 0, 1, 1, 1, 0, 1, 0] };
  const ten = pixels(11, 11, [[5, 5]], 10);
  const [b] = detectSources(ten, 11, 11, { ...HAND, filterKernel: plus }).sources;
  assertEquals([b.npix, b.cflux, b.cpeak, b.flux], [5, 10, 2, 10]);
});

Deno.test("detect by hand: two overlapping stars are deblended into two, each at its own peak", () => {
  // Peaks 200 and 120 at (12, 12) and (21, 13), σ 1.5: joined above the threshold of 1.5.
  const { data, width, height } = tiny(34, 26, [[12, 12, 200, 1.5], [21, 13, 120, 1.5]]);
  const single = detectSources(data, width, height, HAND).sources;
  assertEquals(single.length, 1);
  const split = detectSources(data, width, height, { ...HAND, deblendCont: 0.005 }).sources;
  assertEquals(split.length, 2);
  const [a, b] = [...split].sort((p, q) => p.x - q.x);
  assert(Math.hypot(a.x - 13, a.y - 13) < 0.05, `first star at (${a.x}, ${a.y})`);
  assert(Math.hypot(b.x - 22, b.y - 14) < 0.05, `second star at (${b.x}, ${b.y})`);
  assert(a.flags & FLAG_BLENDED && b.flags & FLAG_BLENDED);
  // Every pixel of the segment goes to one of them.
  assertEquals(a.npix + b.npix, single[0].npix);
  assert(Math.abs(a.flux + b.flux - single[0].flux) < 1e-6);
  // A bump under deblendCont of the total flux stays part of the bright star.
  const faint = tiny(34, 26, [[12, 12, 200, 1.5], [18, 12, 4, 1.0]]);
  assertEquals(
    detectSources(faint.data, 34, 26, { ...HAND, deblendCont: 0.005 }).sources.length,
    1,
  );
});

Deno.test("detect: an open FITS frame (openFitsFrame's shape) gives what the pixel array gives", () => {
  // A stand-in with FitsFrame's readRows; SATURATE comes from the frame.
  let reads = 0;
  const fake = {
    width: W,
    height: H,
    saturate: sep.saturate,
    readRows(y0: number, y1: number, out?: Float32Array) {
      reads++;
      const data = out ?? new Float32Array((y1 - y0) * W);
      data.set(frame.subarray(y0 * W, y1 * W));
      return { data };
    },
  };
  const viaFrame = detectFrame(fake, { deblendCont: 1, clean: false });
  const direct = detectSources(frame, W, H, {
    deblendCont: 1,
    clean: false,
    saturate: sep.saturate,
  });
  assert(reads >= 2, "rows are read in bands");
  assertEquals(viaFrame.sources, direct.sources);
});

Deno.test("detect: bad options and sizes are one-line errors naming the option", () => {
  const data = new Float32Array(12);
  const cases: [() => unknown, string][] = [
    [() => detectSources(data, 4, 3, { thresh: 0 }), "thresh = 0"],
    [() => detectSources(data, 4, 3, { minarea: 2.5 }), "minarea = 2.5"],
    [() => detectSources(data, 4, 3, { deblendCont: 2 }), "deblendCont = 2"],
    [
      () => detectSources(data, 4, 3, { filterKernel: { width: 2, height: 2, values: [1, 1, 1] } }),
      "filterKernel",
    ],
    [() => detectSources(data, 4, 3, { rms: -1 }), "rms = -1"],
    [() => detectSources(data, 5, 3), "not width × height = 5 × 3"],
    [() => detectSources(data, 4, 3, { mask: new Uint8Array(3) }), "the mask has 3 pixels"],
    [() => measureBackground(data, 4, 3, { bw: 0 }), "bw = 0"],
  ];
  for (const [fn, text] of cases) {
    const e = assertThrows(fn, StarmambaError, text);
    assert(!e.message.includes("\n"), e.message);
  }
});
