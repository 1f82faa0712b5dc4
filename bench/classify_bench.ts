/**
 * End-to-end classification speed (issue 32): sources per second from a FITS frame to a
 * catalogue with `classifyFrames` (lib/experiment/classify.ts, what `deno task classify` runs),
 * each stage's seconds, peak RSS, and the detection stage beside SEP's (bench/detect_sep.py,
 * Debian's python3-sep) on the same file, in the same sitting.
 *
 *     deno run -A bench/classify_bench.ts [--size 4096] [--stars 4000] [--galaxies 1000]
 *       [--rounds 3] [--model aries-cpu-ctx-s1] [--json PATH] [--no-sep]
 *
 * The frame is lib/frames/synthetic.ts's (Moffat stars, Sérsic galaxies, a TAN WCS, two blank
 * columns, SATURATE 30000), written to a temporary folder by a child process (not timed, and its
 * memory stays out of this process's peak RSS). Each round classifies it into a fresh folder
 * (catalog.csv/.fits/.json, .reg, .png) and then has SEP detect on it once (one server process,
 * the frame loaded and warmed up before the first round): ours and SEP alternate, so both see the
 * same load. Figures are medians over rounds; detect/SEP is the median of the per-round ratios.
 * The model is loaded once, before the rounds (load_s, not part of the end-to-end figure).
 *
 * Stage times come from classifyFrames' progress reports (see {@link stageSeconds}).
 * `deno task bench --classify` runs this in a child process and puts its figures into the bench
 * JSON (`classify.*`).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { classifyFrames, type ClassifyProgress } from "../lib/experiment/classify.ts";
import { type LoadedRun, loadRun } from "../lib/experiment/predict.ts";
import type { Network } from "../lib/model/network.ts";
import { nativeDefaultThreads } from "../lib/backends/wasm/native.ts";
import { type OptionSpec, parseArgs, runMain } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { writeJsonAtomic } from "../lib/util/fs.ts";
import { median, peakRssMiB } from "./measure.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SEP_SCRIPT = fileURLToPath(new URL("./detect_sep.py", import.meta.url));

/** Settings of one classify bench. */
export interface ClassifyBenchOptions {
  /** Frame width = height, px. */
  size: number;
  /** Moffat stars drawn. */
  stars: number;
  /** Sérsic galaxies drawn. */
  galaxies: number;
  /** Seed of the frame. */
  seed: number;
  /** Rounds of (ours, SEP); figures are medians over them. */
  rounds: number;
  /** A released model's name or a run folder (loadRun). */
  model: string;
  /** Cutouts per forward pass; undefined = the run's train.eval_batch_size. */
  batch?: number;
  /** The Python that runs bench/detect_sep.py; null = no SEP side. */
  python: string | null;
}

/** The published figure's settings: the frame of issue 32 and the cpu preset's released model. */
export const CLASSIFY_BENCH_DEFAULTS: ClassifyBenchOptions = {
  size: 4096,
  stars: 4000,
  galaxies: 1000,
  seed: 32,
  rounds: 3,
  model: "aries-cpu-ctx-s1",
  python: "/usr/bin/python3",
};

/** Seconds of each stage of one classifyFrames call on one frame. */
export interface StageSeconds {
  /** Call start to the frame's "reading" report: options, the decision rule, the output folder. */
  setup: number;
  /** Opening the FITS file and reading its pixels. */
  read: number;
  /** Detection (background, extraction) on the pixels already read. */
  detect: number;
  /**
   * Cutouts, the pipeline's preprocessing (field-context template) and each batch's input
   * (normalisation) and read-back: cutting → last batch, less the network.
   */
  cut: number;
  /** The network's forward passes, summed. */
  network: number;
  /** Rows (WCS), the frame's .reg and .png, catalog.csv/.fits/.json. */
  write: number;
  /** The whole call. */
  total: number;
}

/** One progress report with its time. */
interface Event {
  t: number;
  stage: ClassifyProgress["stage"];
  done: number;
  total: number;
}

/** SEP's timings of one run (bench/detect_sep.py --serve). */
export interface SepRun {
  background_ms: number;
  extract_ms: number;
  total_ms: number;
  sources: number;
}

/** One round: our call, then SEP's detection. */
export interface ClassifyRound {
  seconds: StageSeconds;
  /** Sources detected (classifyFrames' frame summary). */
  sources: number;
  /** Catalogue rows written. */
  rows: number;
  sources_per_s: number;
  sep: SepRun | null;
  /** detect / SEP's background + extraction. */
  detect_over_sep: number | null;
}

/** What the classify bench measured (the `classify` section of the bench JSON). */
export interface ClassifyBenchResult {
  schema: "starmamba-classify-bench/1";
  /** Sources per second, FITS file to catalogue, median over rounds (load_s excluded). */
  sources_per_s: number;
  /** Our detection stage, s (median). */
  detect_s: number;
  /** SEP's background + extraction on the same file, s (median); null with `sep.reason`. */
  sep_detect_s: number | null;
  /** Median of the per-round detect_s / sep_detect_s; null without SEP. */
  detect_over_sep: number | null;
  setup_s: number;
  read_s: number;
  cut_s: number;
  network_s: number;
  write_s: number;
  total_s: number;
  /** Loading the model (once per call, before any frame). */
  load_s: number;
  /** getrusage maxrss of the process after the rounds (the frame was written by a child). */
  peak_rss_mib: number;
  frame: {
    width: number;
    height: number;
    stars: number;
    galaxies: number;
    seed: number;
    blank_columns: number[];
    saturate: number;
    file_mib: number;
    /** Writing it (a child process; not part of any figure). */
    write_s: number;
  };
  /** Sources detected (the same every round: detection is deterministic). */
  sources_found: number;
  rows: number;
  /** Rows per class (the last round). */
  counts: Record<string, number>;
  /** The display stretch classify gave the cutouts (its default for this model and frame). */
  stretch: string | null;
  model: string;
  /** tfjs backend, native scan-kernel threads, the wasm backend's own threading, cores. */
  backend: string;
  threads: number | null;
  wasm_multithread: boolean | null;
  cores: number;
  /** Cutouts per forward pass (the option, else the run's train.eval_batch_size). */
  batch: number;
  sep: {
    available: boolean;
    version: string | null;
    /** Why there are no SEP figures. */
    reason: string | null;
    sources: number | null;
  };
  /** Warnings classifyFrames gave (each once). */
  warnings: string[];
  loadavg: { start: number[] | null; end: number[] | null };
  /** How the stage seconds were derived. */
  method: string;
  rounds: ClassifyRound[];
  options: ClassifyBenchOptions;
}

const METHOD = "stage seconds from the times of classifyFrames' progress reports and of the " +
  "network's forward passes (the loaded model's forward wrapped in a timer; the wasm backend " +
  "runs each op as it is called): read = reading→detecting; detect = detecting→cutting " +
  "(detectSources on the pixels read, plus, for a model trained on display images, one pass " +
  "over them for their range); network = the forward passes summed; cut = cutting→last batch less network " +
  "(cutouts with their display stretch, the pipeline's preprocessing, each batch's " +
  "normalisation and read-back); write = " +
  "last batch→return (rows, .reg, .png, catalog.csv/.fits/.json). SEP: sep.Background + back() " +
  "+ subtraction + sep.extract (thresh 1.5 × globalrms, SEP's defaults: our detection's " +
  "settings) after one warm-up in its server process; ours has no warm-up (the median over " +
  "rounds drops round 1's JIT). sources_per_s = sources ÷ total (model loading excluded: once " +
  "per call)";

/**
 * Each stage's seconds from one call's progress reports: `tStart`/`tEnd` bracket the call,
 * `events` are its reports (one frame) in order, `network` the seconds its forward passes took.
 * @throws {StarmambaError} when a stage's report is missing (classifyFrames' reports changed).
 */
export function stageSeconds(
  events: Event[],
  tStart: number,
  tEnd: number,
  network: number,
): StageSeconds {
  const first = (stage: Event["stage"]): Event => {
    const e = events.find((e) => e.stage === stage);
    if (!e) {
      throw new StarmambaError(
        `classifyFrames gave no "${stage}" progress report; update stageSeconds in ` +
          "bench/classify_bench.ts to its reports",
      );
    }
    return e;
  };
  const reading = first("reading"), detecting = first("detecting");
  // "cutting" comes once with no total (with --sources) and once with the sources' count.
  const cutting = events.find((e) => e.stage === "cutting" && e.total > 0) ?? first("cutting");
  const batches = events.filter((e) => e.stage === "classifying");
  const lastBatch = batches.length ? batches[batches.length - 1].t : cutting.t;
  const s = (a: number, b: number) => (b - a) / 1000;
  return {
    setup: s(tStart, reading.t),
    read: s(reading.t, detecting.t),
    detect: s(detecting.t, cutting.t),
    cut: s(cutting.t, lastBatch) - network,
    network,
    write: s(lastBatch, tEnd),
    total: s(tStart, tEnd),
  };
}

/** Wraps `model.forward` in a timer (the bench's own copy of the loaded run; nothing else sees it). */
function timeForward(model: Network): { reset(): void; seconds(): number } {
  const forward = model.forward.bind(model);
  let ms = 0;
  model.forward = (x, ctx) => {
    const t = performance.now();
    try {
      return forward(x, ctx);
    } finally {
      ms += performance.now() - t;
    }
  };
  return { reset: () => (ms = 0), seconds: () => ms / 1000 };
}

/** A line reader over a child's stdout. */
class Lines {
  private buf = "";
  private readonly reader: ReadableStreamDefaultReader<string>;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  }
  /** The next line, or null at the end of the stream. */
  async next(): Promise<string | null> {
    while (!this.buf.includes("\n")) {
      const { value, done } = await this.reader.read();
      if (done) {
        const rest = this.buf;
        this.buf = "";
        return rest === "" ? null : rest;
      }
      this.buf += value;
    }
    const i = this.buf.indexOf("\n");
    const line = this.buf.slice(0, i);
    this.buf = this.buf.slice(i + 1);
    return line;
  }
}

/** SEP in a server process (bench/detect_sep.py --serve): the frame loaded once, one run per ask. */
interface SepServer {
  version: string;
  run(): Promise<SepRun>;
  close(): Promise<void>;
}

/** Starts SEP's server on `fits`; a string (why) when Python or SEP is missing. */
async function startSep(python: string, fits: string): Promise<SepServer | string> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(python, {
      args: [SEP_SCRIPT, fits, "--serve"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    return `${python} could not start (${(e as Error).message}); install python3 with ` +
      "Debian's python3-sep and python3-astropy";
  }
  const stderr = new Response(child.stderr).text();
  const lines = new Lines(child.stdout);
  const writer = child.stdin.getWriter();
  const first = await lines.next();
  const ready = first === null ? null : (JSON.parse(first) as { ready?: string }).ready;
  if (ready === undefined || ready === null) {
    await writer.close().catch(() => {});
    await child.status;
    const err = (await stderr).trim().split("\n").pop() ?? "no output";
    return `bench/detect_sep.py did not start: ${err} (install Debian's python3-sep and ` +
      "python3-astropy)";
  }
  return {
    version: ready,
    async run(): Promise<SepRun> {
      await writer.write(new TextEncoder().encode("run\n"));
      const line = await lines.next();
      if (line === null) {
        throw new StarmambaError(`bench/detect_sep.py stopped: ${(await stderr).trim()}`);
      }
      return JSON.parse(line) as SepRun;
    },
    async close(): Promise<void> {
      await writer.close();
      await child.status;
      await stderr;
    },
  };
}

/** The frame's blank columns: two, a quarter of the way across (FITS 1-based). */
function blankColumns(size: number): number[] {
  const c = Math.max(1, Math.floor(size / 4));
  return size > 2 ? [c, c + 1] : [];
}

const SATURATE = 30000;

/**
 * Writes the bench frame with lib/frames/synthetic.ts in a child process (`deno eval`), so its
 * arrays never count in this process's peak RSS. Returns the seconds it took.
 */
async function writeFrame(path: string, o: ClassifyBenchOptions): Promise<number> {
  const opts = {
    width: o.size,
    height: o.size,
    nStars: o.stars,
    nGalaxies: o.galaxies,
    seed: o.seed,
    saturate: SATURATE,
    blankColumns: blankColumns(o.size),
  };
  const module = new URL("../lib/frames/synthetic.ts", import.meta.url).href;
  const code = `import { writeSyntheticFrame } from ${JSON.stringify(module)};\n` +
    `writeSyntheticFrame(${JSON.stringify(path)}, ${JSON.stringify(opts)});`;
  const t = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new StarmambaError(
      `writing the bench frame failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return (performance.now() - t) / 1000;
}

function loadavg(): number[] | null {
  try {
    return Deno.loadavg();
  } catch {
    return null;
  }
}

/** Median of the non-null values; null when there are none. */
function medianOrNull(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? median(v) : null;
}

/** One classifyFrames call: its round's figures, its class counts and the stretch it chose. */
type ClassifyOnce = Omit<ClassifyRound, "sep" | "detect_over_sep"> & {
  counts: Record<string, number>;
  stretch: string | null;
};

/** One classifyFrames call, timed stage by stage. */
async function classifyOnce(
  run: LoadedRun,
  forward: { reset(): void; seconds(): number },
  fits: string,
  out: string,
  o: ClassifyBenchOptions,
  warnings: Set<string>,
): Promise<ClassifyOnce> {
  const events: Event[] = [];
  forward.reset();
  const tStart = performance.now();
  const s = await classifyFrames(run, [fits], out, {
    model: o.model,
    batch: o.batch,
    progress: (p) =>
      events.push({ t: performance.now(), stage: p.stage, done: p.done, total: p.total }),
    warn: (m) => warnings.add(m),
  });
  const seconds = stageSeconds(events, tStart, performance.now(), forward.seconds());
  const sources = s.frames[0].sources;
  return {
    seconds,
    sources,
    rows: s.rows,
    sources_per_s: sources / seconds.total,
    counts: s.counts,
    stretch: s.frames[0].stretch,
  };
}

/**
 * Runs the classify bench: writes the frame, loads the model, then `rounds` × (classifyFrames,
 * SEP's detection); returns the medians and every round.
 * @example
 * ```ts
 * import { benchClassify, CLASSIFY_BENCH_DEFAULTS } from "./classify_bench.ts";
 * const small = { size: 512, stars: 80, galaxies: 20, rounds: 1 };
 * const r = await benchClassify({ ...CLASSIFY_BENCH_DEFAULTS, ...small });
 * console.log(r.sources_per_s, r.detect_over_sep);
 * ```
 */
export async function benchClassify(
  o: ClassifyBenchOptions,
  say: (m: string) => void = (m) => console.error(m),
): Promise<ClassifyBenchResult> {
  const loadStart = loadavg();
  const dir = await Deno.makeTempDir({ prefix: "starmamba-classify-bench-" });
  let sep: SepServer | string = "not asked for (--no-sep)";
  try {
    const fits = join(dir, "frame.fits");
    say(`writing a ${o.size}×${o.size} frame (${o.stars} stars, ${o.galaxies} galaxies) …`);
    const frameWrite = await writeFrame(fits, o);
    if (o.python !== null) sep = await startSep(o.python, fits);
    if (typeof sep === "string") say(`SEP figures skipped: ${sep}`);
    const t = performance.now();
    const run = await loadRun(o.model, true);
    const load = (performance.now() - t) / 1000;
    const forward = timeForward(run.model);
    const warnings = new Set<string>();
    const rounds: ClassifyRound[] = [];
    let counts: Record<string, number> = {}, stretch: string | null = null;
    try {
      for (let r = 1; r <= o.rounds; r++) {
        const out = join(dir, `out-${r}`);
        const ours = await classifyOnce(run, forward, fits, out, o, warnings);
        ({ counts, stretch } = ours);
        await Deno.remove(out, { recursive: true });
        const sepRun = typeof sep === "string" ? null : await sep.run();
        const ratio = sepRun ? ours.seconds.detect / (sepRun.total_ms / 1000) : null;
        const { counts: _c, stretch: _s, ...round } = ours;
        rounds.push({ ...round, sep: sepRun, detect_over_sep: ratio });
        say(
          `round ${r}/${o.rounds}: ${ours.sources} sources in ${ours.seconds.total.toFixed(2)} s ` +
            `(${ours.sources_per_s.toFixed(0)}/s), detect ${ours.seconds.detect.toFixed(2)} s` +
            (sepRun ? `, SEP ${(sepRun.total_ms / 1000).toFixed(2)} s` : ""),
        );
      }
    } finally {
      run.model.params.dispose();
    }
    const stage = (k: keyof StageSeconds) => medianOrNull(rounds.map((r) => r.seconds[k]));
    const backend = tf.getBackend();
    const wasmMt = backend === "wasm"
      ? Boolean(await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"))
      : null;
    const sepOk = typeof sep !== "string";
    return {
      schema: "starmamba-classify-bench/1",
      sources_per_s: median(rounds.map((r) => r.sources_per_s)),
      detect_s: stage("detect")!,
      sep_detect_s: sepOk ? median(rounds.map((r) => r.sep!.total_ms / 1000)) : null,
      detect_over_sep: medianOrNull(rounds.map((r) => r.detect_over_sep)),
      setup_s: stage("setup")!,
      read_s: stage("read")!,
      cut_s: stage("cut")!,
      network_s: stage("network")!,
      write_s: stage("write")!,
      total_s: stage("total")!,
      load_s: load,
      peak_rss_mib: peakRssMiB(),
      frame: {
        width: o.size,
        height: o.size,
        stars: o.stars,
        galaxies: o.galaxies,
        seed: o.seed,
        blank_columns: blankColumns(o.size),
        saturate: SATURATE,
        file_mib: Deno.statSync(fits).size / 2 ** 20,
        write_s: frameWrite,
      },
      sources_found: rounds[rounds.length - 1].sources,
      rows: rounds[rounds.length - 1].rows,
      counts,
      stretch,
      model: o.model,
      backend,
      threads: nativeDefaultThreads(),
      wasm_multithread: wasmMt,
      cores: navigator.hardwareConcurrency,
      batch: o.batch ?? run.config.train.eval_batch_size,
      sep: {
        available: sepOk,
        version: typeof sep === "string" ? null : sep.version,
        reason: typeof sep === "string" ? sep : null,
        sources: sepOk ? rounds[rounds.length - 1].sep!.sources : null,
      },
      warnings: [...warnings],
      loadavg: { start: loadStart, end: loadavg() },
      method: METHOD,
      rounds,
      options: o,
    };
  } finally {
    if (typeof sep !== "string") await sep.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The flat figures `deno task bench --compare` matches on (`classify.*`); null figures (no SEP)
 * are left out.
 */
export function classifyFigures(r: ClassifyBenchResult): Record<string, number> {
  const f: Record<string, number | null> = {
    "classify.sources_per_s": r.sources_per_s,
    "classify.detect_s": r.detect_s,
    "classify.sep_detect_s": r.sep_detect_s,
    "classify.detect_over_sep": r.detect_over_sep,
    "classify.read_s": r.read_s,
    "classify.cut_s": r.cut_s,
    "classify.network_s": r.network_s,
    "classify.write_s": r.write_s,
    "classify.total_s": r.total_s,
    "classify.load_s": r.load_s,
    "classify.peak_rss_mib": r.peak_rss_mib,
    "classify.sources_found": r.sources_found,
  };
  return Object.fromEntries(
    Object.entries(f).filter((e): e is [string, number] => e[1] !== null),
  );
}

/** The bench's lines about the classify figure. */
export function classifyReport(r: ClassifyBenchResult): string {
  const f = (v: number | null, d = 2) => (v === null ? "—" : v.toFixed(d));
  const sep = r.sep.available
    ? `SEP ${r.sep.version} detection ${f(r.sep_detect_s)} s (${r.sep.sources} sources); ` +
      `ours / SEP ${f(r.detect_over_sep)}× (target ≤ 2)`
    : `SEP: no figures (${r.sep.reason})`;
  return [
    `classify end to end: ${r.frame.width}×${r.frame.height} frame, ` +
    `${r.frame.stars + r.frame.galaxies} sources drawn, ${r.sources_found} found; model ` +
    `${r.model} on ${r.backend} (${r.threads ?? "?"} scan threads, ${r.cores} cores); ` +
    `medians of ${r.rounds.length} round(s)`,
    `  ${f(r.sources_per_s, 0)} sources/s (target ≥ 500): total ${f(r.total_s)} s = setup ` +
    `${f(r.setup_s)} + read ${f(r.read_s)} + detect ${f(r.detect_s)} + cut ${f(r.cut_s)} + ` +
    `network ${f(r.network_s)} + write ${f(r.write_s)}; model load ${f(r.load_s)} s; peak RSS ` +
    `${f(r.peak_rss_mib, 0)} MiB`,
    `  ${sep}`,
  ].join("\n");
}

/** Settings of `deno task bench --classify --quick`: a smoke test, not the published figure. */
export const CLASSIFY_QUICK_ARGS = [
  "--size",
  "1024",
  "--stars",
  "240",
  "--galaxies",
  "60",
  "--rounds",
  "1",
];

/**
 * Runs this bench in a child process (its own peak RSS and runtime; what `deno task bench
 * --classify` does) with `args`, its progress on this process's stderr; returns its result.
 * @throws {StarmambaError} when the child fails.
 */
export async function runClassifyBenchChild(args: string[]): Promise<ClassifyBenchResult> {
  const dir = await Deno.makeTempDir({ prefix: "starmamba-classify-bench-json-" });
  try {
    const json = join(dir, "classify.json");
    const perms = ["read", "write", "env", "ffi", "run", "sys"].map((p) => `--allow-${p}`);
    const script = fileURLToPath(import.meta.url);
    const status = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...perms, script, ...args, "--json", json],
      cwd: ROOT,
      stdout: "null", // its report: the bench prints it after its own tables
      stderr: "inherit",
    }).spawn().status;
    if (!status.success) {
      throw new StarmambaError(
        `bench/classify_bench.ts ${args.join(" ")} failed (exit ${status.code}); run it alone ` +
          "to see why",
      );
    }
    return JSON.parse(Deno.readTextFileSync(json)) as ClassifyBenchResult;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const OPTIONS: OptionSpec = {
  size: { type: "string" },
  stars: { type: "string" },
  galaxies: { type: "string" },
  seed: { type: "string" },
  rounds: { type: "string" },
  model: { type: "string" },
  batch: { type: "string" },
  python: { type: "string" },
  "no-sep": { type: "boolean" },
  json: { type: "string" },
};

const USAGE = `usage: deno run -A bench/classify_bench.ts [options]

Sources per second from a FITS frame to a catalogue (classifyFrames, as deno task classify),
each stage's seconds and peak RSS, and the detection stage beside SEP's on the same file:
the two alternate, one round each at a time; figures are medians over rounds.

options:
  --size N        frame width = height (default 4096)
  --stars N       Moffat stars drawn (default 4000)
  --galaxies N    Sérsic galaxies drawn (default 1000)
  --seed N        the frame's seed (default 32)
  --rounds N      rounds of (ours, SEP) (default 3)
  --model NAME    released model or run folder (default aries-cpu-ctx-s1, the cpu preset)
  --batch N       cutouts per forward pass (default: the run's train.eval_batch_size)
  --python PATH   runs bench/detect_sep.py (default /usr/bin/python3; needs python3-sep)
  --no-sep        skip SEP (its figures are null)
  --json PATH     also write the result as JSON
  -h, --help      this text

deno task bench --classify runs this with the defaults and adds classify.* to the bench JSON.`;

/** A positive-integer option. */
function intOption(values: Record<string, unknown>, name: string, dflt: number, min = 1): number {
  const v = values[name] === undefined ? dflt : Number(values[name]);
  if (!Number.isInteger(v) || v < min) {
    throw new StarmambaError(`--${name} ${values[name]}: give a whole number ≥ ${min}`);
  }
  return v;
}

/** The options from the command line. */
export function classifyBenchOptions(values: Record<string, unknown>): ClassifyBenchOptions {
  const d = CLASSIFY_BENCH_DEFAULTS;
  return {
    size: intOption(values, "size", d.size, 16),
    stars: intOption(values, "stars", d.stars, 0),
    galaxies: intOption(values, "galaxies", d.galaxies, 0),
    seed: intOption(values, "seed", d.seed, 0),
    rounds: intOption(values, "rounds", d.rounds),
    model: (values.model as string | undefined) ?? d.model,
    batch: values.batch === undefined ? undefined : intOption(values, "batch", 0),
    python: values["no-sep"] ? null : (values.python as string | undefined) ?? d.python,
  };
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs(Deno.args, OPTIONS, USAGE);
  if (positionals.length) {
    throw new StarmambaError(`unexpected argument "${positionals[0]}"\n\n${USAGE}`);
  }
  const r = await benchClassify(classifyBenchOptions(values));
  for (const w of r.warnings) console.error(w);
  console.log(classifyReport(r));
  if (values.json !== undefined) {
    writeJsonAtomic(values.json as string, r);
    console.log(`wrote ${values.json}`);
  }
  return 0;
}

if (import.meta.main) await runMain(main);
