/**
 * Times the selective-scan kernels on raw arrays: the native kernel at an SS2D-sized shape
 * (batch 32, dim 4×384, len 256, dstate 16, groups 4), the loop kernel at a smaller one, and
 * where a GPU is visible the CUDA kernel at the SS2D shape (host API with its copies, and on
 * device buffers alone) plus a longer sequence.
 * Prints the median (and min, telling on a shared machine) of several runs after warm-up.
 *
 * deno run --allow-read --allow-write --allow-env --allow-ffi --allow-run --allow-sys \
 *   bench/scan_bench.ts [--threads 2] [--reps 7]
 * @module
 */
import {
  cudaLastError,
  type CudaScanKernel,
  deviceScan,
  loadCudaKernel,
} from "../lib/backends/cuda/cuda.ts";
import type { ScanGrads, ScanInputs } from "../lib/ops/scan_kernel.ts";
import { loopKernel } from "../lib/ops/scan_loop.ts";
import { loadNativeKernel, type NativeScanKernel } from "../lib/backends/wasm/native.ts";
import { rng } from "../lib/util/rng.ts";

interface Shape {
  batch: number;
  dim: number;
  len: number;
  dstate: number;
  groups: number;
}

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  if (!Number.isFinite(v) || v < 1) throw new Error(`--${name} must be a positive number`);
  return v;
}

function fill(n: number, lo: number, hi: number, r: ReturnType<typeof rng>): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r.next();
  return a;
}

/** SS2D-like inputs: softplus(delta + bias), A = −(1…dstate) scaled, D and bias present. */
function inputs(s: Shape): { x: ScanInputs; dy: Float32Array } {
  const r = rng(0, "scan-bench");
  const nu = s.batch * s.dim * s.len, nbc = s.batch * s.groups * s.dstate * s.len;
  const A = new Float32Array(s.dim * s.dstate);
  for (let i = 0; i < A.length; i++) A[i] = -((i % s.dstate) + 1) * (0.5 + r.next());
  const x: ScanInputs = {
    ...s,
    u: fill(nu, -1, 1, r),
    delta: fill(nu, -4, 1, r),
    A,
    B: fill(nbc, -1, 1, r),
    C: fill(nbc, -1, 1, r),
    D: fill(s.dim, -1, 1, r),
    deltaBias: fill(s.dim, -0.5, 0.5, r),
    deltaSoftplus: true,
  };
  return { x, dy: fill(nu, -1, 1, r) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Forward and backward of one kernel, either allocating outputs or reusing preallocated ones. */
interface Step {
  forward(x: ScanInputs): void;
  backward(x: ScanInputs, dy: Float32Array): void;
}

/** The native kernel writing into the same output arrays every call. */
function intoStep(k: NativeScanKernel, s: Shape): Step {
  const n = s.batch * s.dim * s.len, nbc = s.batch * s.groups * s.dstate * s.len;
  const y = new Float32Array(n);
  const g: ScanGrads = {
    du: new Float32Array(n),
    ddelta: new Float32Array(n),
    dA: new Float32Array(s.dim * s.dstate),
    dB: new Float32Array(nbc),
    dC: new Float32Array(nbc),
    dD: new Float32Array(s.dim),
    ddeltaBias: new Float32Array(s.dim),
  };
  return {
    forward: (x) => k.forwardInto(x, y),
    backward: (x, dy) => k.backwardInto(x, dy, g),
  };
}

/** [median, min] ms of forward alone and of forward + backward. */
type Timing = { fwd: [number, number]; both: [number, number] };

function time(k: Step, s: Shape, reps: number, warmup: number): Timing {
  const { x, dy } = inputs(s);
  const fwd: number[] = [], both: number[] = [];
  for (let i = 0; i < warmup + reps; i++) {
    const t0 = performance.now();
    k.forward(x);
    const t1 = performance.now();
    k.backward(x, dy);
    const t2 = performance.now();
    if (i >= warmup) {
      fwd.push(t1 - t0);
      both.push(t2 - t0);
    }
  }
  return {
    fwd: [median(fwd), Math.min(...fwd)],
    both: [median(both), Math.min(...both)],
  };
}

function report(name: string, s: Shape, t: Timing): void {
  const updates = s.batch * s.dim * s.len * s.dstate;
  const ms = ([med, min]: [number, number]) =>
    `${med.toFixed(1).padStart(6)} ms (min ${min.toFixed(1)})`;
  console.log(
    `${name.padEnd(22)} ${s.batch}x${s.dim}x${s.len} N${s.dstate} G${s.groups}  ` +
      `forward ${ms(t.fwd)}  forward+backward ${ms(t.both)}  ` +
      `${(t.fwd[0] * 1e6 / updates).toFixed(2)} ns/state update fwd`,
  );
}

/** The CUDA kernel on device buffers allocated once: kernel time without host copies. */
function cudaDeviceStep(k: CudaScanKernel, s: Shape): Step & { free(): void } {
  const { x, dy } = inputs(s);
  const dev = deviceScan(k.lib, x, dy);
  const check = (rc: number, what: string) => {
    if (rc !== 0) throw new Error(`cuda ${what}: ${cudaLastError(k.lib)}`);
  };
  return {
    forward: () => check(dev.forward(), "forward"),
    backward: () => check(dev.backward(), "backward"),
    free: dev.free,
  };
}

const threads = arg("threads", 2), reps = arg("reps", 7);
const big: Shape = { batch: 32, dim: 1536, len: 256, dstate: 16, groups: 4 };
const small: Shape = { batch: 2, dim: 96, len: 64, dstate: 16, groups: 4 };

const native = loadNativeKernel({ threads });
if (native) {
  const info = native.info;
  console.log(`native: ${info.compiler}, ${info.flags.join(" ")}, ${threads} threads`);
  // compute time, outputs reused; then the ScanKernel API, which allocates fresh outputs each
  // call (their first touch can cost more than the scan on VMs that back memory lazily)
  report("native (into buffers)", big, time(intoStep(native, big), big, reps, 2));
  report("native (fresh outputs)", big, time(native, big, reps, 2));
}
const cuda = loadCudaKernel();
if (cuda.ok) {
  console.log(`cuda: ${cuda.kernel.device}`);
  report("cuda (host API)", big, time(cuda.kernel, big, reps, 2));
  for (const s of [big, { ...big, len: 4096, batch: 2 }]) {
    const dev = cudaDeviceStep(cuda.kernel, s);
    try {
      report("cuda (device buffers)", s, time(dev, s, reps, 2));
    } finally {
      dev.free();
    }
  }
} else {
  console.log(`cuda: not timed (${cuda.reason})`);
}
report("loop", small, time(loopKernel, small, Math.max(3, Math.min(reps, 5)), 1));
