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
