/**
 * `deno task bench`: training and inference images/s of networks (MedMamba presets, halved
 * MedMamba blocks, the ConvNet, ResNet-18: bench/networks.ts) on random 3×64×64 data, the selective-scan kernels alone, peak memory, analytic FLOPs and achieved GFLOP/s
 * beside an estimate of the machine's peak; optionally the PyTorch peer in the same sitting.
 * Prints tables and writes bench/results/<YYYY-MM-DD>-<short commit>.json.
 *
 *   deno task bench [--presets cpu,tiny,convnet,resnet18] [--batch 32] [--steps N] [--warmup N] [--quick] [--peer]
 *     [--classify]
 *   deno task bench --compare a.json b.json
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { openRuntime, type Runtime } from "../lib/backends/runtime.ts";
import { loopKernel } from "../lib/ops/scan_loop.ts";
import { loadNativeKernel, nativeDefaultThreads } from "../lib/backends/wasm/native.ts";
import type { ScanKernel } from "../lib/ops/scan_kernel.ts";
import { type CodeVersion, codeVersion, environment } from "../lib/results/provenance.ts";
import { writeJsonAtomic } from "../lib/util/fs.ts";
import { type OptionSpec, parseArgs, runMain } from "../lib/util/cli.ts";
import { StarmambaError } from "../lib/util/errors.ts";
import { Progress } from "../lib/train/progress.ts";
import { estimatePeak, type PeakEstimate } from "./flops.ts";
import { benchNetwork } from "./networks.ts";
import {
  benchPreset,
  benchScan,
  type PresetResult,
  type ScanResult,
  type ScanShape,
  type Tick,
} from "./measure.ts";
import { cudaBackend } from "../lib/backends/cuda/register.ts";
import { fallbackCounts, resetFallbackCounts } from "../lib/backends/cuda/fallback.ts";
import {
  OPENMP_VARIABLE,
  type PeerPreset,
  peerStatus,
  runPeerModel,
  runPeerScan,
  runPeerScript,
} from "./peer.ts";
import { compareTable, printReport, readResult, settingsDiff } from "./report.ts";
import {
  CLASSIFY_QUICK_ARGS,
  type ClassifyBenchResult,
  classifyFigures,
  classifyReport,
  runClassifyBenchChild,
} from "./classify_bench.ts";
import {
  type BenchOptions,
  type CudaSection,
  type KernelInfo,
  type Measured,
  medianFigures,
  medianPeer,
  medianPreset,
  medianScan,
  type PeerSection,
  type Round,
} from "./sitting.ts";

const USAGE = `Usage: deno task bench [options]
       deno task bench --compare a.json b.json

Measures, on random 3×64×64 data, training images/s (forward, loss, backward, Adam) and
inference images/s (eval forward) per network, the selective scan alone per kernel, peak RSS,
analytic FLOPs/image and achieved GFLOP/s beside an estimated machine peak. Writes
bench/results/<YYYY-MM-DD>-<short commit>.json.

Options:
  --presets LIST     comma-separated networks (default cpu,tiny; cpu alone skips MedMamba-T):
                     MedMamba presets (cpu, tiny, small, base), one with only the conv or
                     only the SS2D half of each block (cpu-conv-only, cpu-ssm-only, …),
                     convnet (Kim & Brunner 2017), resnet18 (small stem), resnet18-imagenet
  --batch N          batch size (default 32)
  --steps N          timed steps per measurement; the median is reported (default 5, --quick 2)
  --warmup N         untimed warm-up steps first (default 2, --quick 1)
  --backend NAME     tfjs backend (default wasm)
  --kernel NAME      scan kernel inside the model: auto|native|loop (default auto)
  --threads N        native scan kernel threads (default: OMP_NUM_THREADS, else all cores)
  --scan-batch N     batch of the scan-alone shapes (default 32)
  --scan-reps N      timed reps of the scan alone (default 5, --quick 2)
  --skip-scan        don't time the scan alone
  --quick            fewer steps and reps, for smoke tests
  --peer             also run the PyTorch equivalents and record ratios: ../shared/peer's
                     MedMamba for the presets, bench/peer_cnn.py for the others (its ConvNet,
                     torchvision's resnet18 with the same stem, MedMamba halved); each runs in
                     its own environment (none of this process's OMP_*/KMP_*/GOMP_*)
  --rounds N         alternate peer and starmamba N times; figures are medians over rounds
                     and each ratio the median of its per-round ratios (default 1)
  --classify         also the end-to-end figure of deno task classify (bench/classify_bench.ts,
                     in a child process, first): sources/s from a 4096×4096 FITS frame with
                     5,000 sources to its catalogue, each stage's seconds, peak RSS, and the
                     detection beside SEP's on the same file (alternating, 3 rounds, medians;
                     SEP's figures null, with the reason, without python3-sep); --quick: a
                     1024×1024 frame with 300 sources, 1 round (a smoke test). Figures classify.*
  --out PATH         write the JSON here instead of bench/results/
  --compare          with two result files: print the ratios between their figures
  -h, --help         this text`;

const OPTIONS: OptionSpec = {
  presets: { type: "string" },
  batch: { type: "string" },
  steps: { type: "string" },
  warmup: { type: "string" },
  backend: { type: "string" },
  kernel: { type: "string" },
  threads: { type: "string" },
  "scan-batch": { type: "string" },
  "scan-reps": { type: "string" },
  "skip-scan": { type: "boolean" },
  quick: { type: "boolean" },
  peer: { type: "boolean" },
  rounds: { type: "string" },
  out: { type: "string" },
  compare: { type: "boolean" },
  classify: { type: "boolean" },
};

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const PEER_DIR = join(ROOT, "..", "shared", "peer");

function intOption(v: unknown, name: string, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new StarmambaError(`--${name} must be an integer ≥ ${min} (got "${v}")`);
  }
  return n;
}

/** Parses the command line into options (exported for tests). */
export function benchOptions(values: Record<string, unknown>): BenchOptions {
  const quick = Boolean(values.quick);
  const presets = String(values.presets ?? "cpu,tiny").split(",").map((s) => s.trim())
    .filter(Boolean);
  if (presets.length === 0) throw new StarmambaError("--presets needs at least one preset");
  presets.forEach((p) => benchNetwork(p)); // unknown names fail here, listing the choices
  const kernel = String(values.kernel ?? "auto");
  if (!["auto", "native", "loop"].includes(kernel)) {
    throw new StarmambaError(`--kernel must be auto, native or loop (got "${kernel}")`);
  }
  return {
    presets,
    batch: intOption(values.batch, "batch", 32, 2), // BatchNorm needs 2
    steps: intOption(values.steps, "steps", quick ? 2 : 5, 1),
    warmup: intOption(values.warmup, "warmup", quick ? 1 : 2, 0),
    backend: String(values.backend ?? "wasm"),
    kernel: kernel as BenchOptions["kernel"],
    threads: values.threads === undefined ? null : intOption(values.threads, "threads", 0, 1),
    scan: !values["skip-scan"],
    scanBatch: intOption(values["scan-batch"], "scan-batch", 32, 1),
    scanReps: intOption(values["scan-reps"], "scan-reps", quick ? 2 : 5, 1),
    quick,
    peer: Boolean(values.peer),
    rounds: intOption(values.rounds, "rounds", 1, 1),
    out: values.out === undefined ? null : String(values.out),
  };
}

function kernelInfo(r: Runtime): KernelInfo {
  const name = r.scanKernel.name;
  if (name !== "native") return { name, threads: 1, compiler: null, flags: null };
  return {
    name,
    threads: r.nativeThreads,
    compiler: r.native?.compiler ?? null,
    flags: r.native?.flags ?? null,
  };
}

/** /proc/cpuinfo's text, or "" off Linux. */
function readCpuinfo(): string {
  try {
    return Deno.readTextFileSync("/proc/cpuinfo");
  } catch {
    // Deno wants --allow-all to read /proc/cpuinfo itself; a child process only needs --allow-run.
    try {
      const r = new Deno.Command("cat", {
        args: ["/proc/cpuinfo"],
        stdout: "piped",
        stderr: "null",
      })
        .outputSync();
      return r.success ? new TextDecoder().decode(r.stdout) : "";
    } catch {
      return "";
    }
  }
}

function loadavg(): number[] | null {
  try {
    return Deno.loadavg();
  } catch {
    return null;
  }
}

/** Scan shapes per kernel: scan_bench.ts's shape and MedMamba-T's stage 1 for native. */
function scanPlan(o: BenchOptions): { kernel: ScanKernel; label: string; shape: ScanShape }[] {
  const plan: { kernel: ScanKernel; label: string; shape: ScanShape }[] = [];
  const native = loadNativeKernel({ threads: o.threads ?? 0, quiet: true });
  const base = { len: 256, dstate: 16, groups: 4 };
  if (native) {
    // bench/scan_bench.ts's shape: four times the channels of MedMamba-T's first stage
    plan.push({
      kernel: native,
      label: "d1536",
      shape: { batch: o.scanBatch, dim: 1536, ...base },
    });
    // SS2D of MedMamba-T's first stage: K·d_inner = 4·96; the peer's scan-alone shape
    plan.push({
      kernel: native,
      label: "tiny-stage1",
      shape: { batch: o.scanBatch, dim: 384, ...base },
    });
  }
  // The TypeScript loop is ~100× slower: a small shape only.
  plan.push({ kernel: loopKernel, label: "small", shape: { ...base, batch: 2, dim: 96, len: 64 } });
  return plan;
}

/** The PyTorch equivalent of network `name` (bench/networks.ts), timed. */
function runPeerNetwork(name: string, o: BenchOptions): PeerPreset {
  const spec = benchNetwork(name).peer;
  return spec.kind === "medmamba"
    ? { ...runPeerModel(PEER_DIR, spec.preset, o), preset: name }
    : runPeerScript(BENCH_DIR, PEER_DIR, name, spec.args, o);
}

/** Runs the peer's benchmarks one after another (never beside ours: 2 cores). */
function runPeer(o: BenchOptions, say: (msg: string) => void): PeerSection {
  const status = peerStatus(PEER_DIR);
  const out: PeerSection = { status, presets: {}, scan: null, errors: [] };
  if (!status.available) return out;
  for (const p of o.presets) {
    say(`running the PyTorch peer: ${p} …`);
    try {
      out.presets[p] = runPeerNetwork(p, o);
    } catch (e) {
      out.errors.push((e as Error).message);
    }
  }
  if (o.scan) {
    say("running the PyTorch peer: scan alone …");
    try {
      out.scan = runPeerScan(PEER_DIR, { batch: o.scanBatch, reps: o.scanReps });
    } catch (e) {
      out.errors.push((e as Error).message);
    }
  }
  return out;
}

/** Flat headline figures, the keys --compare matches on. */
function figuresOf(
  presets: PresetResult[],
  scans: ScanResult[],
  peer: PeerSection | null,
  peak: PeakEstimate | null,
): Record<string, number> {
  const f: Record<string, number> = {};
  for (const r of presets) {
    const k = r.preset;
    f[`${k}.train.images_per_s`] = r.train.imagesPerSec;
    f[`${k}.train.step_ms`] = r.train.step.median;
    f[`${k}.train.gflop_per_s`] = r.train.gflops;
    f[`${k}.infer.images_per_s`] = r.infer.imagesPerSec;
    f[`${k}.infer.step_ms`] = r.infer.step.median;
    f[`${k}.infer.gflop_per_s`] = r.infer.gflops;
    f[`${k}.forward_gflop_per_image`] = r.flopsPerImage.forward / 1e9;
    f[`${k}.peak_rss_mib`] = r.peakRssMiB;
  }
  for (const s of scans) {
    f[`scan.${s.kernel}.${s.label}.fwd_ms`] = s.forwardMs.median;
    f[`scan.${s.kernel}.${s.label}.fwd_bwd_ms`] = s.forwardBackwardMs.median;
  }
  if (peak) f["machine.peak_gflop_per_s_estimate"] = peak.gflops;
  if (!peer) return f;
  for (const [k, p] of Object.entries(peer.presets)) {
    const ours = presets.find((r) => r.preset === k)!;
    f[`peer.${k}.train.images_per_s`] = p.trainImagesPerSec;
    f[`peer.${k}.infer.images_per_s`] = p.inferImagesPerSec;
    f[`ratio.${k}.train`] = ours.train.imagesPerSec / p.trainImagesPerSec;
    f[`ratio.${k}.infer`] = ours.infer.imagesPerSec / p.inferImagesPerSec;
  }
  const ourScan = scans.find((s) => s.kernel === "native" && s.label === "tiny-stage1");
  if (peer.scan) {
    f["peer.scan.fwd_ms"] = peer.scan.forwardMs;
    f["peer.scan.fwd_bwd_ms"] = peer.scan.forwardBackwardMs;
    if (ourScan) {
      f["ratio.scan.fwd"] = peer.scan.forwardMs / ourScan.forwardMs.median;
      f["ratio.scan.fwd_bwd"] = peer.scan.forwardBackwardMs / ourScan.forwardBackwardMs.median;
    }
  }
  return f;
}

function defaultOutPath(commit: string): string {
  const date = new Date().toISOString().slice(0, 10);
  const short = commit === "unknown" ? "unknown" : commit.slice(0, 7);
  return join(BENCH_DIR, "results", `${date}-${short}.json`);
}

async function wasmInfo(): Promise<Record<string, unknown>> {
  if (tf.getBackend() !== "wasm") return {};
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  return {
    tfjsBackendWasm: wasm.version_wasm,
    wasmSimd: await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"),
    wasmMultithread: await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT"),
  };
}

/** The OpenMP variables of this process (recorded; the peer never sees them). */
function openmpVariables(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => OPENMP_VARIABLE.test(k)),
  );
}

async function measure(o: BenchOptions): Promise<Measured> {
  const t0 = performance.now();
  const loadStart = loadavg();
  const runtime = await openRuntime(
    { backend: o.backend, model: { scan_kernel: o.kernel } },
    { threads: o.threads ?? 0 },
  );
  const backend = runtime.backend;
  const kinfo = kernelInfo(runtime);
  const peak = estimatePeak(readCpuinfo());
  const env = { ...environment(), ...(await wasmInfo()), openmp: openmpVariables() };

  // Smallest preset first, so the cumulative peak RSS after each is that preset's own peak.
  const presets = [...o.presets].sort((a, b) =>
    benchNetwork(a).flops.forward - benchNetwork(b).flops.forward
  );
  const plan = o.scan ? scanPlan(o) : [];
  const scanWarmup = o.quick ? 1 : 2;
  const repsOf = (k: ScanKernel) => (k.name === "loop" ? Math.min(3, o.scanReps) : o.scanReps);
  const total = o.rounds * (presets.length * 2 * (o.warmup + o.steps) +
    plan.reduce((s, p) => s + scanWarmup + repsOf(p.kernel), 0));
  console.log(
    `starmamba bench: backend ${backend}, scan kernel ${kinfo.name}` +
      `${kinfo.name === "native" ? ` (${kinfo.threads} threads)` : ""}, batch ${o.batch}, ` +
      `${o.warmup} warm-up + ${o.steps} timed steps, presets ${presets.join(",")}` +
      (o.rounds > 1 ? `, ${o.rounds} rounds` : ""),
  );
  if (loadStart && loadStart[0] >= 0.8) {
    console.log(
      `note: load average ${loadStart[0].toFixed(2)} at start: other processes are competing ` +
        "for the CPU, so these timings are pessimistic",
    );
  }
  if (Deno.env.get("OMP_WAIT_POLICY")?.toLowerCase() === "passive") {
    console.log(
      "note: OMP_WAIT_POLICY=passive is set: the native kernels' threads sleep between " +
        "kernels, which slowed training by 10% to 2× here; unset it for representative figures",
    );
  }
  const since = () => `${((performance.now() - t0) / 1000).toFixed(0)}s`;
  const progress = new Progress(total, 10);
  let done = 0;
  const tick: Tick = (label) => {
    done++;
    progress.update(done, label, { elapsed: since() });
  };
  const rounds: Round[] = [];
  const cuda: CudaSection | null = backend === "cuda"
    ? { device: cudaBackend().device, presets: {} }
    : null;
  for (let round = 1; round <= o.rounds; round++) {
    const tag = o.rounds > 1 ? `round ${round}/${o.rounds}: ` : "";
    // The peer runs first: a child's getrusage maxrss starts at its parent's RSS at spawn
    // (Linux carries the high-water mark across exec), which is small only before our presets.
    const peer = o.peer ? runPeer(o, (m) => progress.log(`${tag}${m} (elapsed ${since()})`)) : null;
    const results = presets.map((p) => {
      if (cuda) {
        resetFallbackCounts();
        cudaBackend().resetPeak();
      }
      const r = benchPreset({ preset: p, batch: o.batch, warmup: o.warmup, steps: o.steps, tick });
      if (cuda) {
        cuda.presets[p] = {
          hostFallbacks: fallbackCounts(),
          peakDeviceBytes: cudaBackend().memoryStats().peak,
        };
      }
      return r;
    });
    const scans = plan.map((p) =>
      benchScan({
        ...p,
        threads: p.kernel.name === "native" ? (o.threads ?? nativeDefaultThreads()) : 1,
        warmup: scanWarmup,
        reps: repsOf(p.kernel),
        tick,
      })
    );
    for (const [k, p] of Object.entries(peer?.presets ?? {})) {
      const ours = results.find((r) => r.preset === k)!;
      p.paramsMatch = p.params === null ? null : p.params === ours.params;
    }
    rounds.push({ results, scans, peer, figures: figuresOf(results, scans, peer, peak) });
  }
  progress.finish();
  // Peak RSS is cumulative over the process: the first round's figure is each preset's own.
  const results = presets.map((_, i) => ({
    ...medianPreset(rounds.map((r) => r.results[i]), o.batch),
    peakRssMiB: rounds[0].results[i].peakRssMiB,
  }));
  const figures = medianFigures(rounds.map((r) => r.figures));
  for (const r of results) figures[`${r.preset}.peak_rss_mib`] = r.peakRssMiB;
  return {
    backend,
    kinfo,
    peak,
    env,
    rounds,
    results,
    scans: plan.map((_, i) => medianScan(rounds.map((r) => r.scans[i]))),
    peer: o.peer ? medianPeer(rounds.map((r) => r.peer!), o.batch) : null,
    figures,
    loadStart,
    loadEnd: loadavg(),
    seconds: (performance.now() - t0) / 1000,
    cuda,
  };
}

/** The result file's contents. */
function resultRecord(o: BenchOptions, argv: string[], code: CodeVersion, m: Measured): object {
  return {
    schema: "starmamba-bench/2",
    createdAt: new Date().toISOString(),
    code,
    command: { argv, options: o },
    environment: {
      ...m.env,
      cpuMHz: m.peak ? m.peak.ghz * 1000 : null,
      loadavgStart: m.loadStart,
      loadavgEnd: m.loadEnd,
    },
    backend: m.backend,
    scanKernel: m.kinfo,
    settings: {
      data: "random normal 64×64×3 (NHWC), labels uniform over 2 classes",
      timing: "median of the timed steps after warm-up; images/s = batch ÷ median step",
      train: "forward, cross-entropy, backward (tf.variableGrads), Adam lr 1e-3, BN commits " +
        "(dropout and DropPath on, drawn from the step's stream)",
      infer: "eval forward (running BN statistics), logits read back",
      flops: "analytic: matmuls + convs (2 per multiply-add, at each layer's true output size) " +
        "+ scan 9·B·D·L·N; train = 3× forward",
      peakRss: "getrusage maxrss after each preset in round 1 (cumulative; presets run smallest " +
        "first)",
      peer: "MedMamba presets: bench.sh --official (the variant our defaults build); other " +
        "networks: bench/peer_cnn.py (its ConvNet, torchvision's resnet18 with our stem, the " +
        "shared MedMamba with a block half off) in bench.sh's environment; our batch/warm-up/" +
        "steps, in this process's environment without its OMP_*/KMP_*/GOMP_* variables (see " +
        "peer.presets.*.environment); images/s from its median step; its scan-alone figures " +
        "are means of its reps",
      rounds: "each round runs the peer, then starmamba; top-level figures are medians over " +
        "rounds, ratios the median of the per-round ratios; every round is in `rounds`",
    },
    peak: m.peak,
    presets: Object.fromEntries(m.results.map((r) => [r.preset, r])),
    scan: m.scans,
    peer: m.peer,
    figures: m.figures,
    cuda: m.cuda,
    rounds: m.rounds,
    wallSeconds: m.seconds,
  };
}

async function bench(o: BenchOptions, argv: string[], classify: boolean): Promise<number> {
  const code = codeVersion(ROOT);
  // First, while this process is small: a child's getrusage maxrss starts at its parent's RSS.
  const cls: ClassifyBenchResult | null = classify
    ? await runClassifyBenchChild(o.quick ? CLASSIFY_QUICK_ARGS : [])
    : null;
  const m = await measure(o);
  if (cls) Object.assign(m.figures, classifyFigures(cls));
  const out = o.out ?? defaultOutPath(code.commit);
  writeJsonAtomic(out, { ...resultRecord(o, argv, code, m), classify: cls });
  printReport(o, m);
  if (m.cuda) printCuda(m.cuda);
  if (cls) console.log(`\n${classifyReport(cls)}`);
  console.log(`wrote ${out}`);
  return 0;
}

/** The cuda backend's counters: kernels still run on the host, and peak device memory. */
function printCuda(c: CudaSection): void {
  console.log(`\ncuda device: ${JSON.stringify(c.device)}`);
  for (const [preset, p] of Object.entries(c.presets)) {
    const host = Object.entries(p.hostFallbacks).map(([k, n]) => `${k} ×${n}`).join(", ");
    console.log(
      `${preset}: peak device memory ${(p.peakDeviceBytes / 2 ** 20).toFixed(1)} MiB; kernels ` +
        `run on the host (calls over all steps): ${host || "none"}`,
    );
  }
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs(Deno.args, OPTIONS, USAGE);
  if (values.compare) {
    if (positionals.length !== 2) {
      throw new StarmambaError(`--compare needs exactly two result files\n\n${USAGE}`);
    }
    const [a, b] = positionals.map(readResult);
    console.log(compareTable(a.figures, b.figures, [positionals[0], positionals[1]]));
    const diff = settingsDiff(a, b);
    if (diff.length) {
      console.log(
        `\na and b differ in (commit aside, these change the figures too):\n  ${diff.join("\n  ")}`,
      );
    }
    return 0;
  }
  if (positionals.length) {
    throw new StarmambaError(`unexpected argument "${positionals[0]}"\n\n${USAGE}`);
  }
  return await bench(benchOptions(values), Deno.args, Boolean(values.classify));
}

if (import.meta.main) await runMain(main);
