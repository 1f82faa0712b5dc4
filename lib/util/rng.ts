/**
 * The only source of randomness in starmamba. Every random draw (data order, augmentation,
 * synthetic images, weight initialisation, DropPath) comes from a stream derived here from the
 * experiment's one `seed`, so the same seed gives bitwise-identical runs.
 * @module
 */
import seedrandom from "seedrandom";

/** A seeded pseudo-random stream. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Serialisable state, for resuming. */
  state(): object;
}

/**
 * Creates an independent stream for `seed` and a purpose label, e.g. `rng(7, "augment")`.
 * Streams with different labels do not overlap in practice (ARC4 keyed by both).
 */
export function rng(seed: number, label = "", state?: object): Rng {
  // deno-lint-ignore no-explicit-any
  const prng: any = seedrandom(`${seed}:${label}`, (state ? { state } : { state: true }) as any);
  let spare: number | null = null;
  const next = (): number => prng.quick();
  return {
    next,
    normal(): number {
      if (spare !== null) {
        const s = spare;
        spare = null;
        return s;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    int: (n: number): number => Math.floor(next() * n),
    uniform: (lo: number, hi: number): number => lo + (hi - lo) * next(),
    state: (): object => prng.state(),
  };
}

/** In-place Fisher–Yates shuffle driven by `r`. */
export function shuffle<T>(items: T[], r: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/**
 * Seeds the global Math.random (tfjs initialisers without an explicit seed fall back to it).
 * Called once, at the start of a run, by the experiment runner; nothing else touches it.
 */
export function seedGlobal(seed: number): void {
  seedrandom(String(seed), { global: true });
}

/** Ziggurat layers of Marsaglia & Tsang (2000), 128 strips. */
const ZIG = buildZiggurat();

function buildZiggurat(): { kn: Int32Array; wn: Float64Array; fn: Float64Array } {
  const kn = new Int32Array(128), wn = new Float64Array(128), fn = new Float64Array(128);
  const m1 = 2147483648;
  let dn = 3.442619855899, tn = dn;
  const vn = 9.91256303526217e-3;
  const q = vn / Math.exp(-0.5 * dn * dn);
  kn[0] = Math.floor((dn / q) * m1);
  kn[1] = 0;
  wn[0] = q / m1;
  wn[127] = dn / m1;
  fn[0] = 1;
  fn[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = Math.floor((dn / tn) * m1);
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / m1;
  }
  return { kn, wn, fn };
}

/**
 * Standard normals from a mulberry32 stream through the ziggurat (Marsaglia & Tsang 2000):
 * ~99% of draws cost one 32-bit integer and a multiply. One ARC4 draw plus Box–Muller per
 * element would cost more than all the other augmentation ops together.
 */
export function normalStream(seed: number): () => number {
  let state = seed | 0;
  const next32 = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return t ^ (t >>> 14); // signed 32-bit
  };
  const uniform = (): number => ((next32() >>> 0) + 0.5) / 4294967296; // (0, 1)
  const { kn, wn, fn } = ZIG;
  const tail = (hz0: number, iz0: number): number => {
    let hz = hz0, iz = iz0;
    for (;;) {
      const x = hz * wn[iz];
      if (iz === 0) {
        // Base strip: sample the tail beyond r = 3.442620 (Marsaglia 1964).
        let xt = 0, yt = 0;
        do {
          xt = -Math.log(uniform()) * 0.2904764;
          yt = -Math.log(uniform());
        } while (yt + yt < xt * xt);
        return hz > 0 ? 3.44262 + xt : -3.44262 - xt;
      }
      if (fn[iz] + uniform() * (fn[iz - 1] - fn[iz]) < Math.exp(-0.5 * x * x)) return x;
      hz = next32();
      iz = hz & 127;
      if (Math.abs(hz) < kn[iz]) return hz * wn[iz];
    }
  };
  return (): number => {
    const hz = next32();
    const iz = hz & 127;
    return Math.abs(hz) < kn[iz] ? hz * wn[iz] : tail(hz, iz);
  };
}
