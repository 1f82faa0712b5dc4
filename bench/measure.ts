/**
 * The measurements behind bench/bench.ts: training and inference throughput of a preset on
 * random data, the selective-scan kernels alone, and memory.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import process from "node:process";
import { createNetwork } from "../lib/model/registry.ts";
import { evalContext, type ForwardContext } from "../lib/model/layers.ts";
import { Adam } from "../lib/train/optim.ts";
import { crossEntropy } from "../lib/train/loss.ts";
import type { ScanGrads, ScanInputs, ScanKernel } from "../lib/ops/scan_kernel.ts";
import type { NativeScanKernel } from "../lib/backends/wasm/native.ts";
import { rng } from "../lib/util/rng.ts";
import { type FlopCount, scanFlops } from "./flops.ts";
import { benchNetwork } from "./networks.ts";

/** Summary of repeated timings, milliseconds. */
export interface Timing {
  median: number;
  min: number;
  max: number;
  /** Every timed sample, in order. */
  samples: number[];
}

/** Throughput of one mode (training step or inference forward). */
export interface ModeResult {
  step: Timing;
  /** batch / median step time. */
  imagesPerSec: number;
  /** FLOPs/image × images/s (training counts 3× forward). */
  gflops: number;
}

/** Everything measured for one network ("preset": the name on the command line). */
export interface PresetResult {
  preset: string;
  /** The network's registry name (medmamba, convnet, resnet18) and what it is, in words. */
  arch: string;
  label: string;
  params: number;
  flopsPerImage: FlopCount;
  train: ModeResult;
  infer: ModeResult;
  /** Largest Deno.memoryUsage().rss seen between steps of this preset, MiB. */
  rssSampledMiB: number;
  /**
   * The process's peak RSS (getrusage maxrss) when this preset finished, MiB. Cumulative over
   * the run: presets run smallest first, so each figure is that preset's peak.
   */
  peakRssMiB: number;
  /** Loss of the first and last training step (a sanity check that training ran). */
  loss: { first: number; last: number };
}

/** Called after every timed unit of work, for the progress line. */
export type Tick = (label: string) => void;

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function summarize(samples: number[]): Timing {
  return {
    median: median(samples),
    min: Math.min(...samples),
    max: Math.max(...samples),
    samples,
  };
}

/** Peak resident set size of this process so far (getrusage), MiB. */
export function peakRssMiB(): number {
  // Deno refuses /proc/self/status without --allow-all; getrusage's maxrss (KiB) is VmHWM.
  return process.resourceUsage().maxRSS / 1024;
}

/** Current resident set size, MiB. */
export function rssMiB(): number {
  return Deno.memoryUsage().rss / 2 ** 20;
}

/** Runs `fn` warmup + steps times; returns the timed samples (ms) and tracks RSS. */
function timeSteps(
  fn: () => void,
  warmup: number,
  steps: number,
  onStep: (timed: boolean) => void,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    fn();
    const dt = performance.now() - t0;
    if (i >= warmup) out.push(dt);
    onStep(i >= warmup);
  }
  return out;
}

/** Options of {@link benchPreset}. */
export interface PresetOptions {
  preset: string;
  batch: number;
  warmup: number;
  steps: number;
  tick: Tick;
}

/**
 * Trains and evaluates the network `preset` names (bench/networks.ts) on one random 3×64×64
 * batch: inference (eval forward) first, then full training steps (forward, cross-entropy,
 * backward, Adam, BatchNorm commits; dropout and DropPath drawn from the step's stream) as in
 * lib/train/train.ts. The active backend and scan kernel must already be set up.
 */
export function benchPreset(o: PresetOptions): PresetResult {
  const net = benchNetwork(o.preset);
  const model = createNetwork(net.description, 0);
  const vars = model.params.trainable();
  const opt = new Adam(vars);
  const r = rng(0, `bench:${o.preset}`);
  const n = o.batch * 64 * 64 * 3;
  const pixels = new Float32Array(n);
  for (let i = 0; i < n; i++) pixels[i] = r.normal();
  const x = tf.tensor4d(pixels, [o.batch, 64, 64, 3]);
  const labels = Int32Array.from({ length: o.batch }, () => r.int(2));
  let rssMax = rssMiB();
  const sample = () => (rssMax = Math.max(rssMax, rssMiB()));

  const infer = () =>
    tf.tidy(() => {
      model.forward(x, evalContext()).dataSync();
    });
  const losses: number[] = [];
  let step = 0;
  const trainStep = () => {
    const ctx: ForwardContext = {
      training: true,
      rng: rng(0, `bench:droppath:${step++}`),
      bnUpdates: [],
    };
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () => crossEntropy(model.forward(x, ctx), labels, null),
        vars,
      );
      opt.step(vars.map((v) => grads[v.name]), 1e-3);
      for (const u of ctx.bnUpdates) {
        u.variable.assign(u.value);
        u.value.dispose();
      }
      return value.dataSync()[0];
    });
    losses.push(loss);
  };

  const flops = net.flops;
  const mode = (samples: number[], flopsImg: number): ModeResult => {
    const step = summarize(samples);
    const imagesPerSec = (o.batch * 1000) / step.median;
    return { step, imagesPerSec, gflops: (flopsImg * imagesPerSec) / 1e9 };
  };
  try {
    const inferMs = timeSteps(infer, o.warmup, o.steps, (timed) => {
      sample();
      o.tick(`${o.preset} inference${timed ? "" : " (warm-up)"}`);
    });
    const trainMs = timeSteps(trainStep, o.warmup, o.steps, (timed) => {
      sample();
      o.tick(`${o.preset} training${timed ? "" : " (warm-up)"}`);
    });
    return {
      preset: o.preset,
      arch: net.description.arch,
      label: net.label,
      params: model.params.countTrainable(),
      flopsPerImage: flops,
      train: mode(trainMs, flops.train),
      infer: mode(inferMs, flops.forward),
      rssSampledMiB: rssMax,
      peakRssMiB: peakRssMiB(),
      loss: { first: losses[0], last: losses[losses.length - 1] },
    };
  } finally {
    x.dispose();
    opt.dispose();
    model.params.dispose();
  }
}

/** A selective-scan problem size. */
export interface ScanShape {
  batch: number;
  dim: number;
  len: number;
  dstate: number;
  groups: number;
}

/** Timings of one kernel at one shape. */
export interface ScanResult {
  kernel: string;
  /** "d1536" (bench/scan_bench.ts's shape), "tiny-stage1" (MedMamba-T's first stage), "small". */
  label: string;
  shape: ScanShape;
  threads: number | null;
  forwardMs: Timing;
  forwardBackwardMs: Timing;
  /** 9·B·D·L·N / median forward time. */
  forwardGflops: number;
}

/** SS2D-like scan inputs (softplus delta with bias, negative A, D present) and an upstream dy. */
export function scanInputs(s: ScanShape): { x: ScanInputs; dy: Float32Array } {
  const r = rng(0, "bench:scan");
  const fill = (n: number, lo: number, hi: number): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r.next();
    return a;
  };
  const nu = s.batch * s.dim * s.len, nbc = s.batch * s.groups * s.dstate * s.len;
  const A = new Float32Array(s.dim * s.dstate);
  for (let i = 0; i < A.length; i++) A[i] = -((i % s.dstate) + 1);
  const x: ScanInputs = {
    ...s,
    u: fill(nu, -1, 1),
    delta: fill(nu, -4, 1),
    A,
    B: fill(nbc, -1, 1),
    C: fill(nbc, -1, 1),
    D: fill(s.dim, -1, 1),
    deltaBias: fill(s.dim, -0.5, 0.5),
    deltaSoftplus: true,
  };
  return { x, dy: fill(nu, -1, 1) };
}

/** Forward and backward of a kernel on fixed inputs. */
interface ScanStep {
  forward(): void;
  backward(): void;
}

function isNative(k: ScanKernel): k is NativeScanKernel {
  return typeof (k as Partial<NativeScanKernel>).forwardInto === "function";
}

/** The native kernel writes into reused buffers (as the tfjs op does); others allocate. */
function scanStep(k: ScanKernel, x: ScanInputs, dy: Float32Array): ScanStep {
  if (!isNative(k)) return { forward: () => k.forward(x), backward: () => k.backward(x, dy) };
  const n = x.batch * x.dim * x.len, nbc = x.batch * x.groups * x.dstate * x.len;
  const y = new Float32Array(n);
  const g: ScanGrads = {
    du: new Float32Array(n),
    ddelta: new Float32Array(n),
    dA: new Float32Array(x.dim * x.dstate),
    dB: new Float32Array(nbc),
    dC: new Float32Array(nbc),
    dD: new Float32Array(x.dim),
    ddeltaBias: new Float32Array(x.dim),
  };
  return { forward: () => k.forwardInto(x, y), backward: () => k.backwardInto(x, dy, g) };
}

/** Options of {@link benchScan}. */
export interface ScanBenchOptions {
  kernel: ScanKernel;
  label: string;
  shape: ScanShape;
  threads: number | null;
  warmup: number;
  reps: number;
  tick: Tick;
}

/** Times forward alone and forward + backward of one kernel (median of `reps` after warm-up). */
export function benchScan(o: ScanBenchOptions): ScanResult {
  const { x, dy } = scanInputs(o.shape);
  const s = scanStep(o.kernel, x, dy);
  const fwd: number[] = [], both: number[] = [];
  for (let i = 0; i < o.warmup + o.reps; i++) {
    const t0 = performance.now();
    s.forward();
    const t1 = performance.now();
    s.backward();
    const t2 = performance.now();
    if (i >= o.warmup) {
      fwd.push(t1 - t0);
      both.push(t2 - t0);
    }
    o.tick(`scan ${o.kernel.name} ${o.label}${i < o.warmup ? " (warm-up)" : ""}`);
  }
  const forwardMs = summarize(fwd);
  const { batch, dim, len, dstate } = o.shape;
  return {
    kernel: o.kernel.name,
    label: o.label,
    shape: o.shape,
    threads: o.threads,
    forwardMs,
    forwardBackwardMs: summarize(both),
    forwardGflops: scanFlops(batch, dim, len, dstate) / (forwardMs.median * 1e6),
  };
}
