import {
  type AugmentConfig,
  type AugmentParams,
  augmentSample,
  makeBatch,
  NO_AUGMENT,
  REFERENCE_AUGMENT,
  sampleAugmentParams,
  validateAugment,
} from "../lib/data/augment.ts";
import {
  CROP_RATIO,
  hflip,
  resizedCrop,
  rot90,
  rotate,
  sampleCropBox,
  vflip,
} from "../lib/data/geometric.ts";
import { adjustBrightness, adjustContrast, toGrayscale } from "../lib/data/photometric.ts";
import type { Dataset } from "../lib/data/types.ts";
import { normalStream, rng } from "../lib/util/rng.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";

/** 2 × 3 image [[1, 2, 3], [4, 5, 6]]. */
const SMALL = Float32Array.from([1, 2, 3, 4, 5, 6]);

function randomImage(h: number, w: number, c: number, seed: number): Float32Array {
  const r = rng(seed, "test-image");
  return Float32Array.from({ length: h * w * c }, () => r.next());
}

/** Replicates a plane into c channels (R = G = B). */
function replicate(plane: Float32Array, c: number): Float32Array {
  const out = new Float32Array(plane.length * c);
  for (let i = 0; i < plane.length; i++) for (let q = 0; q < c; q++) out[i * c + q] = plane[i];
  return out;
}

function dataset(images: Float32Array, n: number, h: number, w: number, c: number): Dataset {
  return {
    images,
    labels: new Int32Array(n),
    n,
    height: h,
    width: w,
    channels: c,
    classNames: ["galaxy", "star"],
  };
}

/**
 * Independent reference for rotate(): torchvision's recipe written out literally — bilinear
 * grid_sample with zero padding applied to the image and to an all-ones mask, then image · mask.
 */
function referenceRotate(src: Float32Array, h: number, w: number, c: number, deg: number) {
  const sample = (img: (y: number, x: number, q: number) => number, sx: number, sy: number) => {
    const x0 = Math.floor(sx), y0 = Math.floor(sy);
    return (q: number) => {
      let v = 0;
      for (
        const [yy, xx, wt] of [
          [y0, x0, (1 - (sx - x0)) * (1 - (sy - y0))],
          [y0, x0 + 1, (sx - x0) * (1 - (sy - y0))],
          [y0 + 1, x0, (1 - (sx - x0)) * (sy - y0)],
          [y0 + 1, x0 + 1, (sx - x0) * (sy - y0)],
        ]
      ) {
        if (yy >= 0 && yy < h && xx >= 0 && xx < w) v += wt * img(yy, xx, q);
      }
      return v;
    };
  };
  const t = (deg * Math.PI) / 180;
  const out = new Float32Array(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // Output pixel centre relative to the image centre, in a y-up frame; rotate back by −t.
      const X = x - (w - 1) / 2, Y = (h - 1) / 2 - y;
      const XS = Math.cos(t) * X + Math.sin(t) * Y, YS = -Math.sin(t) * X + Math.cos(t) * Y;
      const sx = XS + (w - 1) / 2, sy = (h - 1) / 2 - YS;
      const v = sample((yy, xx, q) => src[(yy * w + xx) * c + q], sx, sy);
      const m = sample(() => 1, sx, sy)(0);
      for (let q = 0; q < c; q++) out[(y * w + x) * c + q] = v(q) * m;
    }
  }
  return out;
}

Deno.test("hflip / vflip on a hand-worked 2×3 image", () => {
  assertEquals([...hflip(SMALL, 2, 3, 1)], [3, 2, 1, 6, 5, 4]);
  assertEquals([...vflip(SMALL, 2, 3, 1)], [4, 5, 6, 1, 2, 3]);
  // Two channels per pixel move together.
  const two = Float32Array.from([1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60]);
  assertEquals([...hflip(two, 2, 3, 2)], [3, 30, 2, 20, 1, 10, 6, 60, 5, 50, 4, 40]);
  assertEquals([...vflip(two, 2, 3, 2)], [4, 40, 5, 50, 6, 60, 1, 10, 2, 20, 3, 30]);
});

Deno.test("rot90 turns counter-clockwise like np.rot90", () => {
  // np.rot90([[1,2,3],[4,5,6]], k) for k = 1, 2, 3.
  assertEquals([...rot90(SMALL, 2, 3, 1, 1)], [3, 6, 2, 5, 1, 4]);
  assertEquals([...rot90(SMALL, 2, 3, 1, 2)], [6, 5, 4, 3, 2, 1]);
  assertEquals([...rot90(SMALL, 2, 3, 1, 3)], [4, 1, 5, 2, 6, 3]);
  assertEquals([...rot90(SMALL, 2, 3, 1, 0)], [...SMALL]);
  assertEquals([...rot90(SMALL, 2, 3, 1, -1)], [...rot90(SMALL, 2, 3, 1, 3)]);
  const two = Float32Array.from([1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60]);
  assertEquals([...rot90(two, 2, 3, 2, 1)], [3, 30, 6, 60, 2, 20, 5, 50, 1, 10, 4, 40]);
  // Four quarter turns of a square image are the identity.
  const img = randomImage(5, 5, 3, 1);
  let cur: Float32Array = img;
  for (let i = 0; i < 4; i++) cur = rot90(cur, 5, 5, 3, 1);
  assertEquals([...cur], [...img]);
});

Deno.test("rotate: 0° is the identity, quarter turns match rot90", () => {
  const img = randomImage(8, 8, 3, 2);
  assertEquals([...rotate(img, 8, 8, 3, 0)], [...img]);
  assertAllClose(rotate(img, 8, 8, 3, 90), rot90(img, 8, 8, 3, 1), 0, 1e-5, "90°");
  assertAllClose(rotate(img, 8, 8, 3, 180), rot90(img, 8, 8, 3, 2), 0, 1e-5, "180°");
  assertAllClose(rotate(img, 8, 8, 3, -90), rot90(img, 8, 8, 3, 3), 0, 1e-5, "−90°");
  // Odd size: the centre pixel is a fixed point.
  const odd = randomImage(7, 7, 1, 3);
  assertAllClose([rotate(odd, 7, 7, 1, 37)[24]], [odd[24]], 0, 1e-6, "centre");
});

Deno.test("rotate matches torchvision's grid_sample + fill-mask recipe", () => {
  const img = randomImage(5, 6, 2, 4);
  for (const deg of [13, -30, 45, 170]) {
    assertAllClose(
      rotate(img, 5, 6, 2, deg),
      referenceRotate(img, 5, 6, 2, deg),
      0,
      1e-5,
      `${deg}°`,
    );
  }
  // Fill 0: a constant image keeps its centre and darkens where the corners rotate out.
  const ones = new Float32Array(9 * 9).fill(1);
  const rot = rotate(ones, 9, 9, 1, 30);
  assertAllClose([rot[40]], [1], 0, 1e-6);
  assert(rot[0] < 0.5, `corner ${rot[0]} should be mostly fill`);
});

Deno.test("resizedCrop: full box is the identity; bilinear matches hand-worked values", () => {
  const img = randomImage(6, 6, 3, 5);
  const box = sampleCropBox(6, 6, [1, 1], [1, 1], rng(1, "t"));
  assertEquals(box, { top: 0, left: 0, height: 6, width: 6 });
  assertEquals([...resizedCrop(img, 6, 6, 3, box, 6, 6)], [...img]);
  // F.interpolate([[0,1],[2,3]], size=4, mode="bilinear", align_corners=False).
  const full2 = { top: 0, left: 0, height: 2, width: 2 };
  const up = resizedCrop(Float32Array.from([0, 1, 2, 3]), 2, 2, 1, full2, 4, 4);
  // deno-fmt-ignore
  const expected = [
    0,   0.25, 0.75, 1,
    0.5, 0.75, 1.25, 1.5,
    1.5, 1.75, 2.25, 2.5,
    2,   2.25, 2.75, 3,
  ];
  assertAllClose(up, expected, 0, 1e-6);
  // A crop from the middle: the 2×2 block at (1, 2) of a 4×4 ramp, kept at 2×2.
  const ramp = Float32Array.from({ length: 16 }, (_, i) => i);
  const mid = resizedCrop(ramp, 4, 4, 1, { top: 1, left: 2, height: 2, width: 2 }, 2, 2);
  assertEquals([...mid], [6, 7, 10, 11]);
});

Deno.test("sampleCropBox stays inside the image with the requested area and aspect", () => {
  const r = rng(3, "crop");
  for (let i = 0; i < 500; i++) {
    const b = sampleCropBox(64, 64, [0.8, 1.0], CROP_RATIO, r);
    assert(b.top >= 0 && b.left >= 0 && b.top + b.height <= 64 && b.left + b.width <= 64);
    const area = b.height * b.width / (64 * 64);
    assert(area > 0.75 && area <= 1, `area ${area}`);
    const aspect = b.width / b.height;
    assert(aspect > 0.7 && aspect < 1.4, `aspect ${aspect}`);
  }
});

Deno.test("brightness, contrast, grayscale follow torchvision's formulas", () => {
  assertAllClose(adjustBrightness(Float32Array.from([0, 0.25, 0.8]), 1.5), [0, 0.375, 1]);
  // Mean 0.5, factor 2: 2x − 0.5, clamped.
  assertAllClose(adjustContrast(Float32Array.from([0, 0.5, 1]), 1, 2), [0, 0.5, 1]);
  assertAllClose(adjustContrast(Float32Array.from([0.25, 0.5, 0.75]), 1, 0.5), [0.375, 0.5, 0.625]);
  // RGB mean gray level: pixels (1,0,0) and (0,0,1) → (0.2989 + 0.114) / 2.
  const m = (0.2989 + 0.114) / 2;
  assertAllClose(
    adjustContrast(Float32Array.from([1, 0, 0, 0, 0, 1]), 3, 0),
    [m, m, m, m, m, m],
  );
  assertAllClose(toGrayscale(Float32Array.from([1, 0, 0, 0, 1, 0.5]), 3), [
    0.2989,
    0.2989,
    0.2989,
    0.587 + 0.057,
    0.587 + 0.057,
    0.587 + 0.057,
  ]);
  // One channel: no-op.
  assertEquals([...toGrayscale(Float32Array.from([0.3, 0.7]), 1)], [
    ...Float32Array.from([0.3, 0.7]),
  ]);
});

Deno.test("makeBatch without augmentation only normalises (and clamps)", () => {
  const images = Float32Array.from([0, 0.5, 1, 0.25, 1.2, -0.1, 0.75, 0.5]);
  const ds = dataset(images, 2, 2, 2, 1);
  const out = makeBatch(ds, [1, 0], { augment: null, mean: 0.5, std: 0.25 });
  assertAllClose(out, [2, -2, 1, 0, -2, 0, 2, -1]);
  const none = makeBatch(ds, [1, 0], {
    augment: NO_AUGMENT,
    mean: 0.5,
    std: 0.25,
    rng: rng(1, "a"),
  });
  assertEquals([...none], [...out]);
  assertThrows(() => makeBatch(ds, [2], { augment: null, mean: 0, std: 1 }), RangeError);
  assertThrows(() => makeBatch(ds, [0], { augment: null, mean: 0, std: 0 }), StarmambaError);
});

Deno.test("makeBatch is deterministic given the seed, and seeds differ", () => {
  const n = 6, s = 16;
  const ds = dataset(randomImage(n * s, s, 3, 6), n, s, s, 3);
  const cfg: AugmentConfig = { ...REFERENCE_AUGMENT, vflip: true, rot90: true };
  const a = makeBatch(ds, [0, 1, 2, 5], { augment: cfg, mean: 0.5, std: 0.5, rng: rng(9, "aug") });
  const b = makeBatch(ds, [0, 1, 2, 5], { augment: cfg, mean: 0.5, std: 0.5, rng: rng(9, "aug") });
  const c = makeBatch(ds, [0, 1, 2, 5], { augment: cfg, mean: 0.5, std: 0.5, rng: rng(10, "aug") });
  assertEquals([...a], [...b]);
  assert(a.some((v, i) => v !== c[i]), "different seeds should give different batches");
  assert(a.every(Number.isFinite));
});

Deno.test("the one-plane fast path equals the per-channel ops bitwise", () => {
  const h = 12, w = 12, c = 3;
  const plane = randomImage(h, w, 1, 7);
  const rgb = replicate(plane, c);
  const cfg: AugmentConfig = {
    ...REFERENCE_AUGMENT,
    vflip: true,
    rot90: true,
    grayscale_p: 0.5,
    noise_std: 0,
  };
  const r = rng(11, "aug");
  for (let trial = 0; trial < 20; trial++) {
    const p: AugmentParams = sampleAugmentParams(cfg, h, w, r);
    const fast = Float32Array.from(augmentSample(rgb, h, w, c, p));
    // Reference: the primitives chained on the full RGB image.
    let ref: Float32Array = Float32Array.from(rgb);
    if (p.hflip) ref = hflip(ref, h, w, c);
    if (p.vflip) ref = vflip(ref, h, w, c);
    ref = rot90(ref, h, w, c, p.k);
    if (p.angle !== null) ref = rotate(ref, h, w, c, p.angle);
    if (p.crop) ref = resizedCrop(ref, h, w, c, p.crop, h, w);
    if (p.brightness !== null) adjustBrightness(ref, p.brightness);
    if (p.contrast !== null) adjustContrast(ref, c, p.contrast);
    if (p.grayscale) toGrayscale(ref, c);
    ref = ref.map((v) => Math.min(1, Math.max(0, v)));
    assertEquals([...fast], [...ref], `trial ${trial}`);
  }
  // And an image with distinct channels goes through the general path unchanged.
  const distinct = randomImage(h, w, c, 8);
  const p = sampleAugmentParams(cfg, h, w, rng(12, "aug"));
  const once = Float32Array.from(augmentSample(distinct, h, w, c, p));
  let ref: Float32Array = Float32Array.from(distinct);
  if (p.hflip) ref = hflip(ref, h, w, c);
  if (p.vflip) ref = vflip(ref, h, w, c);
  ref = rot90(ref, h, w, c, p.k);
  if (p.angle !== null) ref = rotate(ref, h, w, c, p.angle);
  if (p.crop) ref = resizedCrop(ref, h, w, c, p.crop, h, w);
  if (p.brightness !== null) adjustBrightness(ref, p.brightness);
  if (p.contrast !== null) adjustContrast(ref, c, p.contrast);
  if (p.grayscale) toGrayscale(ref, c);
  assertEquals([...once], [...ref.map((v) => Math.min(1, Math.max(0, v)))]);
});

Deno.test("noise is added after normalisation with the configured std", () => {
  const s = 64;
  const ds = dataset(randomImage(s, s, 3, 13), 1, s, s, 3);
  const base = { ...NO_AUGMENT, hflip: true };
  const clean = makeBatch(ds, [0], { augment: base, mean: 0.3, std: 0.2, rng: rng(1, "n") });
  const noisy = makeBatch(ds, [0], {
    augment: { ...base, noise_std: 0.1 },
    mean: 0.3,
    std: 0.2,
    rng: rng(1, "n"),
  });
  let s1 = 0, s2 = 0;
  for (let i = 0; i < clean.length; i++) {
    const d = noisy[i] - clean[i];
    s1 += d;
    s2 += d * d;
  }
  const mean = s1 / clean.length, sd = Math.sqrt(s2 / clean.length - mean * mean);
  assert(Math.abs(mean) < 0.005, `noise mean ${mean}`);
  assert(Math.abs(sd - 0.1) < 0.003, `noise sd ${sd}`);
});

Deno.test("normalStream draws standard normals", () => {
  const g = normalStream(42);
  const n = 200_000;
  let s1 = 0, s2 = 0, s4 = 0, beyond2 = 0, beyond3 = 0;
  for (let i = 0; i < n; i++) {
    const x = g();
    s1 += x;
    s2 += x * x;
    s4 += x ** 4;
    if (Math.abs(x) > 2) beyond2++;
    if (Math.abs(x) > 3.5) beyond3++;
  }
  assert(Math.abs(s1 / n) < 0.01, `mean ${s1 / n}`);
  assert(Math.abs(s2 / n - 1) < 0.015, `variance ${s2 / n}`);
  assert(Math.abs(s4 / n - 3) < 0.08, `4th moment ${s4 / n}`);
  // P(|x| > 2) = 0.0455; P(|x| > 3.5) = 4.65e-4 (exercises the tail sampler).
  assert(Math.abs(beyond2 / n - 0.0455) < 0.002, `P(|x|>2) ${beyond2 / n}`);
  assert(Math.abs(beyond3 / n - 4.65e-4) < 1.5e-4, `P(|x|>3.5) ${beyond3 / n}`);
  const a = normalStream(42), b = normalStream(42);
  const first = Array.from({ length: 5 }, () => a());
  assertEquals(first, Array.from({ length: 5 }, () => b()));
  assert(first[0] !== normalStream(43)());
});

Deno.test("validateAugment rejects out-of-range settings by key", () => {
  validateAugment(REFERENCE_AUGMENT);
  validateAugment(NO_AUGMENT);
  assertThrows(
    () => validateAugment({ ...REFERENCE_AUGMENT, crop_scale: [0.9, 0.5] }),
    StarmambaError,
    "augment.crop_scale",
  );
  assertThrows(
    () => validateAugment({ ...REFERENCE_AUGMENT, grayscale_p: 2 }),
    StarmambaError,
    "augment.grayscale_p",
  );
  assertThrows(
    () => validateAugment({ ...REFERENCE_AUGMENT, noise_std: -1 }),
    StarmambaError,
    "augment.noise_std",
  );
});
