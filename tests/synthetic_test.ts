import {
  DEFAULT_SYNTHETIC,
  gamma,
  generateSynthetic,
  sersicB,
  type SyntheticOptions,
} from "../lib/data/synthetic.ts";
import { logisticBaseline, majorityBaseline, score } from "../lib/data/logistic.ts";
import type { Dataset } from "../lib/data/types.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { rng } from "../lib/util/rng.ts";
import { assert, assertAllClose, assertEquals, assertThrows } from "../lib/util/assert.ts";

/** Bitwise equality of two float arrays (fast, and NaN-safe). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

const range = (lo: number, hi: number): number[] =>
  Array.from({ length: hi - lo }, (_, i) => lo + i);

Deno.test("same options give bitwise-identical data; other seeds differ", () => {
  const opts = { n: 120, size: 32, channels: 3 as const, galaxyFraction: 0.25, seed: 7 };
  const a = generateSynthetic(opts);
  const b = generateSynthetic({ ...opts });
  assert(sameBits(a.images, b.images), "images differ between two identical calls");
  assertEquals([...a.labels], [...b.labels]);
  assertEquals(a.fingerprint, b.fingerprint);
  const c = generateSynthetic({ ...opts, seed: 8 });
  assert(!sameBits(a.images, c.images), "a different seed gave the same images");
  assert(a.fingerprint !== c.fingerprint);
});

Deno.test("exact class counts, shuffled order, names and files", () => {
  for (const [n, f] of [[101, 0.25], [40, 0], [40, 1], [7, 0.5]] as const) {
    const ds = generateSynthetic({ n, size: 16, channels: 1, galaxyFraction: f, seed: 1 });
    const galaxies = [...ds.labels].filter((y) => y === 0).length;
    assertEquals(galaxies, Math.round(n * f), `n=${n} f=${f}`);
    assertEquals(ds.labels.length, n);
  }
  const ds = generateSynthetic({ n: 200, size: 16, channels: 1, galaxyFraction: 0.25, seed: 2 });
  assertEquals(ds.classNames, ["galaxy", "star"]);
  // Shuffled: the 50 galaxies are not simply the first 50 images.
  assert([...ds.labels].slice(0, 50).some((y) => y === 1));
  assertEquals(ds.files?.length, 200);
  assertEquals(ds.files?.[3], `synthetic/000003_${ds.classNames[ds.labels[3]]}`);
  assert(ds.files?.every((f) => /^synthetic\/\d{6}_(galaxy|star)$/.test(f)));
});

Deno.test("shape, value range, and channels = 3 replicates the channels = 1 plane", () => {
  const base = { n: 30, size: 24, galaxyFraction: 0.5, seed: 3 };
  const one = generateSynthetic({ ...base, channels: 1 });
  const three = generateSynthetic({ ...base, channels: 3 });
  for (const [ds, c] of [[one, 1], [three, 3]] as const) {
    assertEquals([ds.n, ds.height, ds.width, ds.channels], [30, 24, 24, c]);
    assertEquals(ds.images.length, 30 * 24 * 24 * c);
    assert(ds.images.every((v) => v >= 0 && v <= 1), "values outside [0, 1]");
  }
  for (let p = 0; p < one.images.length; p++) {
    for (let q = 0; q < 3; q++) {
      if (three.images[p * 3 + q] !== one.images[p]) throw new Error(`pixel ${p} channel ${q}`);
    }
  }
  assertEquals([...three.labels], [...one.labels]);
  // Not degenerate: real dynamic range in every image.
  for (let i = 0; i < one.n; i++) {
    const img = one.images.subarray(i * 576, (i + 1) * 576);
    assert(Math.max(...img) - Math.min(...img) > 0.05, `image ${i} is flat`);
  }
});

Deno.test("fingerprint is sha256 of 'synthetic:' + canonical JSON of the options", async () => {
  const opts: SyntheticOptions = { seed: 5, n: 10, size: 16, channels: 1, galaxyFraction: 0.3 };
  const ds = generateSynthetic(opts);
  const canonical = 'synthetic:{"channels":1,"galaxyFraction":0.3,"n":10,"seed":5,"size":16}';
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical));
  const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  assertEquals(ds.fingerprint, hex);
  // Defaults are filled in before hashing.
  const partial = generateSynthetic({ n: 10, seed: 5, size: 16 });
  const full = generateSynthetic({ ...DEFAULT_SYNTHETIC, n: 10, seed: 5, size: 16 });
  assertEquals(partial.fingerprint, full.fingerprint);
});

Deno.test("invalid options raise StarmambaError naming the key", () => {
  assertThrows(() => generateSynthetic({ n: 0, seed: 1 }), StarmambaError, '"n"');
  assertThrows(() => generateSynthetic({ n: 5, size: 4 }), StarmambaError, '"size"');
  assertThrows(
    // deno-lint-ignore no-explicit-any
    () => generateSynthetic({ n: 5, channels: 2 as any }),
    StarmambaError,
    '"channels"',
  );
  assertThrows(
    () => generateSynthetic({ n: 5, galaxyFraction: 1.5 }),
    StarmambaError,
    "galaxyFraction",
  );
  assertThrows(() => generateSynthetic({ n: 5, seed: 0.5 }), StarmambaError, '"seed"');
});

Deno.test("Sérsic helpers: b_n halves the light, Γ matches known values", () => {
  assertAllClose([gamma(1), gamma(5), gamma(0.5), gamma(2.5)], [
    1,
    24,
    Math.sqrt(Math.PI),
    1.329340388179137,
  ], 1e-12);
  // Exact b_n: n = 0.5 → ln 2 (a Gaussian), n = 1 → 1.678347, n = 4 → 7.669249; the
  // asymptotic series is good to 0.2% at n = 0.5 and better for larger n.
  assertAllClose([sersicB(0.5)], [Math.LN2], 3e-3);
  assertAllClose([sersicB(1), sersicB(4)], [1.678347, 7.669249], 1e-4);
  // Independent check: ∫₀^{R_e} of an n = 2 profile holds half the light (midpoint rule).
  const n = 2, b = sersicB(n);
  const light = (rMax: number) => {
    let s = 0;
    const steps = 200_000;
    for (let i = 0; i < steps; i++) {
      const r = (i + 0.5) * rMax / steps;
      s += r * Math.exp(-b * Math.pow(r, 1 / n)) * rMax / steps;
    }
    return s;
  };
  assertAllClose([light(1) / light(400)], [0.5], 2e-3);
});

/** Light-weighted radius of the central source above the image's median (sky) level. */
function centralRadius(ds: Dataset, i: number): number {
  const s = ds.height, plane = s * s, c = ds.channels;
  const px = Array.from({ length: plane }, (_, p) => ds.images[(i * plane + p) * c]);
  const sorted = [...px].sort((a, b) => a - b);
  const sky = sorted[plane >> 1];
  // Noise σ from the median absolute deviation; count only light clearly above the noise.
  const mad = px.map((v) => Math.abs(v - sky)).sort((a, b) => a - b)[plane >> 1];
  const floor = sky + 3 * 1.4826 * mad;
  let w = 0, wr = 0;
  const mid = (s - 1) / 2;
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const r = Math.hypot(x - mid, y - mid);
      if (r > s / 5) continue; // ignore neighbours
      const v = Math.max(0, px[y * s + x] - floor);
      w += v;
      wr += v * r;
    }
  }
  return wr / Math.max(w, 1e-9);
}

Deno.test("galaxies are more extended than stars (the classes mean what they say)", () => {
  const ds = generateSynthetic({ n: 400, size: 64, channels: 1, galaxyFraction: 0.5, seed: 4 });
  const radii: number[][] = [[], []];
  for (let i = 0; i < ds.n; i++) radii[ds.labels[i]].push(centralRadius(ds, i));
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
  const [g, s] = [median(radii[0]), median(radii[1])];
  console.log(`median central radius: galaxies ${g.toFixed(2)} px, stars ${s.toFixed(2)} px`);
  assert(g > s * 1.4, `median radius: galaxies ${g.toFixed(2)} vs stars ${s.toFixed(2)}`);
});

Deno.test("majorityBaseline and score on hand-worked labels", () => {
  const labels = [0, 1, 1, 1, 0, 1, 0, 0, 0];
  // Validation = indices 0..3: class 1 is 3 of 4.
  assertEquals(majorityBaseline(labels, [0, 1, 2, 3]), 0.75);
  // Majority of the training part (4..8: class 0, 4 of 5) applied to the validation part.
  assertEquals(majorityBaseline(labels, [4, 5, 6, 7, 8], [0, 1, 2, 3]), 0.25);
  const s = score([0, 0, 1, 1, 1], [0, 1, 1, 1, 1], 2);
  assertAllClose([s.accuracy, s.balancedAccuracy], [0.8, (1 + 0.75) / 2]);
});

Deno.test("logistic baseline learns a linearly separable toy problem", () => {
  // Class 1 images are brighter in the left half; a linear model must get this right.
  const n = 200, s = 8, c = 3;
  const r = rng(1, "toy");
  const images = new Float32Array(n * s * s * c);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % 2;
    for (let p = 0; p < s * s; p++) {
      const left = p % s < s / 2;
      const v = 0.4 + 0.1 * r.normal() + (labels[i] === 1 && left ? 0.15 : 0);
      for (let q = 0; q < c; q++) images[(i * s * s + p) * c + q] = v;
    }
  }
  const ds: Dataset = {
    images,
    labels,
    n,
    height: s,
    width: s,
    channels: c,
    classNames: ["galaxy", "star"],
  };
  const res = logisticBaseline(ds, range(0, 150), ds, range(150, 200), { epochs: 20 });
  assert(res.accuracy >= 0.96, `toy accuracy ${res.accuracy}`);
  const again = logisticBaseline(ds, range(0, 150), ds, range(150, 200), { epochs: 20 });
  assertEquals(again, res);
});

Deno.test("learnable but not trivial: logistic beats the majority, stays < 0.97", () => {
  const ds = generateSynthetic({ n: 2000, size: 64, channels: 3, galaxyFraction: 0.25, seed: 1 });
  const train = range(0, 1600), val = range(1600, 2000);
  const majority = majorityBaseline(ds.labels, train, val);
  const logistic = logisticBaseline(ds, train, ds, val, { seed: 0 });
  console.log(
    `synthetic 64×64: majority ${majority.toFixed(4)}, logistic ${
      logistic.accuracy.toFixed(4)
    } (balanced ${logistic.balancedAccuracy.toFixed(4)})`,
  );
  assert(logistic.accuracy >= majority + 0.03, `logistic ${logistic.accuracy} vs ${majority}`);
  assert(logistic.balancedAccuracy >= 0.6, `balanced ${logistic.balancedAccuracy}`);
  assert(logistic.accuracy < 0.97, `logistic ${logistic.accuracy} is too good`);
});
