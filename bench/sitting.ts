/**
 * One sitting of the bench: its options, its rounds (the peer, then starmamba, back to back) and
 * the medians over rounds that the tables print and the JSON records.
 * @module
 */
import { type PeakEstimate, scanFlops } from "./flops.ts";
import { median, type PresetResult, type ScanResult, type Timing } from "./measure.ts";
import type { PeerPreset, PeerScan, PeerStatus } from "./peer.ts";

/** The bench's settings after parsing and defaults. */
export interface BenchOptions {
  presets: string[];
  batch: number;
  steps: number;
  warmup: number;
  backend: string;
  kernel: "auto" | "native" | "loop";
  /** Native scan threads; null = the kernel's default. */
  threads: number | null;
  scan: boolean;
  scanBatch: number;
  scanReps: number;
  quick: boolean;
  peer: boolean;
  /** Rounds of (peer, starmamba); figures are medians over rounds. */
  rounds: number;
  out: string | null;
}

/** The scan kernel inside the model, and its thread count. */
export interface KernelInfo {
  name: string;
  threads: number | null;
  compiler: string | null;
  flags: string[] | null;
}

/** Peer figures and ratios, or why there are none. */
export interface PeerSection {
  status: PeerStatus;
  presets: Record<string, PeerPreset>;
  scan: PeerScan | null;
  errors: string[];
}

/** One round: the peer (when asked for), then starmamba, back to back. */
export interface Round {
  results: PresetResult[];
  scans: ScanResult[];
  peer: PeerSection | null;
  figures: Record<string, number>;
}

/** What one sitting measured, before it is written out. */
export interface Measured {
  backend: string;
  kinfo: KernelInfo;
  peak: PeakEstimate | null;
  env: Record<string, unknown>;
  /** Every round, in order. */
  rounds: Round[];
  /** Medians over rounds, in the shapes of one round (what the tables print). */
  results: PresetResult[];
  scans: ScanResult[];
  peer: PeerSection | null;
  /** Per figure, the median over rounds (ratios: the median of the per-round ratios). */
  figures: Record<string, number>;
  loadStart: number[] | null;
  loadEnd: number[] | null;
  seconds: number;
  /** On the cuda backend: the device, and per preset the kernels that ran on the host (calls
   * over all of its steps) and the peak device memory; null on other backends. */
  cuda: CudaSection | null;
}

/** What the bench records about the cuda backend. */
export interface CudaSection {
  /** The device, driver and runtime (lib/backends/cuda/backend.ts: CudaDeviceInfo). */
  device: unknown;
  /** Per preset: host-fallback calls per kernel name, and the peak bytes held by tensors. */
  presets: Record<string, { hostFallbacks: Record<string, number>; peakDeviceBytes: number }>;
}

/** A timing whose median is the median of the rounds' medians (min/max/samples: all rounds). */
export function medianTiming(ts: Timing[]): Timing {
  return {
    median: median(ts.map((t) => t.median)),
    min: Math.min(...ts.map((t) => t.min)),
    max: Math.max(...ts.map((t) => t.max)),
    samples: ts.flatMap((t) => t.samples),
  };
}

/** One preset's result with every timing replaced by its median over rounds. */
export function medianPreset(rs: PresetResult[], batch: number): PresetResult {
  const mode = (pick: (r: PresetResult) => PresetResult["train"], flops: number) => {
    const step = medianTiming(rs.map((r) => pick(r).step));
    const imagesPerSec = (batch * 1000) / step.median;
    return { step, imagesPerSec, gflops: (flops * imagesPerSec) / 1e9 };
  };
  const first = rs[0];
  return {
    ...first,
    train: mode((r) => r.train, first.flopsPerImage.train),
    infer: mode((r) => r.infer, first.flopsPerImage.forward),
    rssSampledMiB: Math.max(...rs.map((r) => r.rssSampledMiB)),
  };
}

export function medianScan(ss: ScanResult[]): ScanResult {
  const forwardMs = medianTiming(ss.map((s) => s.forwardMs));
  const { batch, dim, len, dstate } = ss[0].shape;
  return {
    ...ss[0],
    forwardMs,
    forwardBackwardMs: medianTiming(ss.map((s) => s.forwardBackwardMs)),
    forwardGflops: scanFlops(batch, dim, len, dstate) / (forwardMs.median * 1e6),
  };
}

export function medianPeer(ps: PeerSection[], batch: number): PeerSection {
  const presets: Record<string, PeerPreset> = {};
  for (const k of Object.keys(ps[0].presets)) {
    const all = ps.map((p) => p.presets[k]).filter((p) => p !== undefined);
    const trainMs = median(all.map((p) => p.trainStepMedianMs));
    const inferMs = median(all.map((p) => p.inferStepMedianMs));
    presets[k] = {
      ...all[0],
      trainStepMedianMs: trainMs,
      inferStepMedianMs: inferMs,
      trainImagesPerSec: (batch * 1000) / trainMs,
      inferImagesPerSec: (batch * 1000) / inferMs,
      trainImagesPerSecMean: median(all.map((p) => p.trainImagesPerSecMean)),
      inferImagesPerSecMean: median(all.map((p) => p.inferImagesPerSecMean)),
    };
  }
  const scans = ps.map((p) => p.scan).filter((s): s is PeerScan => s !== null);
  const scan = scans.length
    ? {
      ...scans[0],
      forwardMs: median(scans.map((s) => s.forwardMs)),
      forwardBackwardMs: median(scans.map((s) => s.forwardBackwardMs)),
    }
    : null;
  return { status: ps[0].status, presets, scan, errors: ps.flatMap((p) => p.errors) };
}

/** Per key, the median over the rounds that have it. */
export function medianFigures(rounds: Record<string, number>[]): Record<string, number> {
  const keys = [...new Set(rounds.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(
    keys.map((k) => [k, median(rounds.filter((r) => k in r).map((r) => r[k]))]),
  );
}
