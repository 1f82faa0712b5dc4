/**
 * Source-detection speed: starmamba's `detectSources` (lib/frames/detect.ts) against SEP
 * (bench/detect_sep.py, Debian's python3-sep) on the same generated frame, in one sitting.
 *
 *     deno run -A bench/detect_bench.ts [--size 4096] [--stars 5000] [--reps 3] [--no-sep]
 *
 * The frame (default 4096 × 4096, float32) is sky + gradient + Gaussian noise, `stars` Moffat stars
 * and a few hundred galaxies, two blank columns and one saturated star; it is written as FITS to a
 * temporary folder so SEP reads the same pixels. Each side runs its background and extraction
 * (thresh 1.5 × global RMS, SEP's defaults otherwise) `reps` times; medians are reported, and
 * starmamba / SEP. Machines shared with other work make timings noisy: compare within one sitting.
 * @module
 */
import { join } from "node:path";
import { measureBackground } from "../lib/frames/background.ts";
import { detectSources } from "../lib/frames/detect.ts";
import { writeFitsFloat32 } from "../lib/data/fits.ts";
import { type OptionSpec, parseArgs, runMain } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { rng } from "../lib/util/rng.ts";

/** Settings of the generated frame. */
export interface BenchFrameOptions {
  size: number;
  stars: number;
  seed: number;
}

/** A generated frame and what went into it. */
export interface BenchFrame {
  width: number;
  height: number;
  data: Float32Array;
  saturate: number;
}

/** Adds a Moffat (β = 3, FWHM 3 px) star of total `flux` at (cx, cy), pixel centres sampled. */
function addStar(img: Float32Array, size: number, cx: number, cy: number, flux: number): void {
  const beta = 3, fwhm = 3;
  const alpha = fwhm / (2 * Math.sqrt(Math.pow(2, 1 / beta) - 1));
  const norm = flux * (beta - 1) / (Math.PI * alpha * alpha);
  const r = Math.ceil(4 * fwhm + Math.sqrt(flux) / 40);
  for (let y = Math.max(0, Math.floor(cy - r)); y <= Math.min(size - 1, cy + r); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x <= Math.min(size - 1, cx + r); x++) {
      const d2 = ((x - cx) ** 2 + (y - cy) ** 2) / (alpha * alpha);
      img[y * size + x] += norm * Math.pow(1 + d2, -beta);
    }
  }
}

/** Adds an exponential disc galaxy (Sérsic n = 1) of total `flux`. */
function addGalaxy(
  img: Float32Array,
  size: number,
  g: { cx: number; cy: number; flux: number; re: number; q: number; theta: number },
): void {
  const b = 1.678; // Sérsic b₁
  const h = g.re / b; // scale length
  const peak = g.flux / (2 * Math.PI * h * h * g.q);
  const c = Math.cos(g.theta), s = Math.sin(g.theta);
  const r = Math.ceil(8 * g.re);
  for (let y = Math.max(0, Math.floor(g.cy - r)); y <= Math.min(size - 1, g.cy + r); y++) {
    for (let x = Math.max(0, Math.floor(g.cx - r)); x <= Math.min(size - 1, g.cx + r); x++) {
      const u = (x - g.cx) * c + (y - g.cy) * s, v = (-(x - g.cx) * s + (y - g.cy) * c) / g.q;
      img[y * size + x] += peak * Math.exp(-Math.sqrt(u * u + v * v) / h);
    }
  }
}

/**
 * Generates the bench frame: sky 1000 ADU with a gradient, `stars` stars (flux log-uniform in
 * [300, 3·10⁵]), stars/20 galaxies, noise σ² = 10² + signal/2, a saturated star clipped at
 * 30000, columns 1000–1001 blank (NaN). Deterministic in `seed`.
 */
export function makeBenchFrame(o: BenchFrameOptions): BenchFrame {
  const { size } = o;
  const r = rng(o.seed, "detect-bench");
  const signal = new Float32Array(size * size);
  for (let i = 0; i < o.stars; i++) {
    const flux = Math.exp(r.uniform(Math.log(300), Math.log(3e5)));
    addStar(signal, size, r.uniform(-2, size + 1), r.uniform(-2, size + 1), flux);
  }
  for (let i = 0; i < o.stars / 20; i++) {
    addGalaxy(signal, size, {
      cx: r.uniform(20, size - 20),
      cy: r.uniform(20, size - 20),
      flux: Math.exp(r.uniform(Math.log(5e3), Math.log(1e5))),
      re: r.uniform(2, 6),
      q: r.uniform(0.4, 1),
      theta: r.uniform(0, Math.PI),
    });
  }
  addStar(signal, size, size * 0.3 + 0.4, size * 0.6 + 0.3, 3e6);
  const saturate = 30000;
  const data = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const sky = 1000 + 0.02 * x + 0.01 * y;
      const v = sky + signal[i] + r.normal() * Math.sqrt(100 + (sky + signal[i]) / 2);
      data[i] = Math.min(Math.round(v), saturate);
    }
  }
  const blankCol = Math.min(1000, size - 2);
  for (let y = 0; y < size; y++) data[y * size + blankCol] = data[y * size + blankCol + 1] = NaN;
  return { width: size, height: size, data, saturate };
}

/** starmamba's detection timings (milliseconds, medians over reps). */
export interface DetectTiming {
  backgroundMs: number;
  /** Detection after the background: filtering, segments, deblending, measurement, cleaning. */
  extractMs: number;
  totalMs: number;
  sources: number;
  reps: number;
}

/** Median of a non-empty list. */
function median(xs: number[]): number {
  const a = [...xs].sort((p, q) => p - q);
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

/**
 * Times `detectSources` on a frame: background alone, then background + extraction, `reps`
 * times each after one warm-up run; returns the medians (extract = total − background).
 */
export function benchDetect(frame: BenchFrame, reps = 3): DetectTiming {
  const { data, width, height } = frame;
  detectSources(data, width, height, { saturate: frame.saturate }); // warm-up (JIT)
  const bg: number[] = [], total: number[] = [];
  let sources = 0;
  for (let i = 0; i < reps; i++) {
    let t = performance.now();
    measureBackground(data, width, height);
    bg.push(performance.now() - t);
    t = performance.now();
    sources = detectSources(data, width, height, { saturate: frame.saturate }).sources.length;
    total.push(performance.now() - t);
  }
  const backgroundMs = median(bg), totalMs = median(total);
  return { backgroundMs, extractMs: totalMs - backgroundMs, totalMs, sources, reps };
}

/** SEP's timings as bench/detect_sep.py prints them. */
export interface SepTiming {
  sep_version: string;
  background_ms: number;
  extract_ms: number;
  total_ms: number;
  sources: number;
  reps: number;
}

/** Runs bench/detect_sep.py on `fits`; null (with the reason on stderr) when SEP is missing. */
export function benchSep(
  fits: string,
  reps: number,
  python = "/usr/bin/python3",
): SepTiming | null {
  const script = new URL("./detect_sep.py", import.meta.url).pathname;
  let out: Deno.CommandOutput;
  try {
    out = new Deno.Command(python, { args: [script, fits, "--reps", String(reps)] }).outputSync();
  } catch (e) {
    console.error(`SEP timing skipped: ${python} not found (${(e as Error).message})`);
    return null;
  }
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop();
    console.error(`SEP timing skipped: ${err} (install Debian's python3-sep and python3-astropy)`);
    return null;
  }
  return JSON.parse(new TextDecoder().decode(out.stdout)) as SepTiming;
}

const OPTIONS: OptionSpec = {
  size: { type: "string" },
  stars: { type: "string" },
  reps: { type: "string" },
  seed: { type: "string" },
  python: { type: "string" },
  "no-sep": { type: "boolean" },
};

const USAGE = `usage: deno run -A bench/detect_bench.ts [--size 4096] [--stars 5000] [--reps 3]
       [--seed 1] [--python /usr/bin/python3] [--no-sep]
Times source detection (background + extraction) in starmamba and in SEP on one generated frame.`;

/** Reads a positive-integer option. */
function intOption(values: Record<string, unknown>, name: string, dflt: number): number {
  const v = values[name] === undefined ? dflt : Number(values[name]);
  if (!Number.isInteger(v) || v < 1) {
    throw new StarmambaError(`--${name} ${values[name]}: give a positive integer`);
  }
  return v;
}

async function main(): Promise<number> {
  const { values } = parseArgs(Deno.args, OPTIONS, USAGE);
  const size = intOption(values, "size", 4096);
  const stars = intOption(values, "stars", 5000);
  const reps = intOption(values, "reps", 3);
  const seed = intOption(values, "seed", 1);
  const frame = makeBenchFrame({ size, stars, seed });
  const dir = await Deno.makeTempDir({ prefix: "starmamba-detect-bench-" });
  try {
    const fits = join(dir, "frame.fits");
    await Deno.writeFile(fits, writeFitsFloat32(size, size, frame.data));
    const sep = values["no-sep"]
      ? null
      : benchSep(fits, reps, (values.python as string | undefined) ?? "/usr/bin/python3");
    const ours = benchDetect(frame, reps);
    const row = (name: string, bg: number, ex: number, tot: number, n: number): string =>
      `${name.padEnd(10)} ${bg.toFixed(0).padStart(8)} ${ex.toFixed(0).padStart(8)} ` +
      `${tot.toFixed(0).padStart(8)} ${String(n).padStart(8)}`;
    console.log(`frame ${size}×${size}, ${stars} stars generated, medians of ${reps} runs (ms)`);
    console.log(
      `${"".padEnd(10)} ${"backgr.".padStart(8)} ${"extract".padStart(8)} ` +
        `${"total".padStart(8)} ${"sources".padStart(8)}`,
    );
    console.log(row("starmamba", ours.backgroundMs, ours.extractMs, ours.totalMs, ours.sources));
    if (sep) {
      console.log(
        row(`SEP ${sep.sep_version}`, sep.background_ms, sep.extract_ms, sep.total_ms, sep.sources),
      );
      console.log(
        `starmamba / SEP: background ${(ours.backgroundMs / sep.background_ms).toFixed(2)}×, ` +
          `extract ${(ours.extractMs / sep.extract_ms).toFixed(2)}×, ` +
          `total ${(ours.totalMs / sep.total_ms).toFixed(2)}×`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return 0;
}

if (import.meta.main) await runMain(main);
