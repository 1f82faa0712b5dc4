/**
 * The native CPU selective-scan kernel: native/cpu/selective_scan.c, compiled on first use with
 * gcc (or $CC) into native/build/<sha256>/libss.so and loaded with Deno.dlopen.
 *
 * The build is cached by a hash of the source, compiler, flags and (for -march=native) the CPU,
 * so editing the C file or moving to another machine rebuilds it. When there is no compiler or
 * no permission to use one, {@link loadNativeKernel} returns null and callers fall back to the
 * portable loop kernel.
 *
 * Needs --allow-ffi, --allow-read, --allow-env, and for the first build --allow-run and
 * --allow-write.
 * @module
 */
import type { Gemm, NativeAdam, NativeBlock, NativeConv, NativeEma, NativeNorm } from "./hooks.ts";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import type {
  ScanGrads,
  ScanInputs,
  ScanKernel,
  SS2DCoreArrays,
  SS2DCoreDims,
  SS2DCoreImpl,
} from "../../ops/scan_kernel.ts";
import { checkScanInputs } from "../../ops/scan_loop.ts";

/** What was compiled and loaded, for result files. */
export interface NativeKernelInfo {
  /** The compiler's first --version line, e.g. "gcc (Debian 12.2.0-14) 12.2.0". */
  compiler: string;
  /** Compiler flags used. */
  flags: string[];
  /** Absolute path of the loaded shared library. */
  path: string;
}

/**
 * The native kernel, plus variants that write into caller-provided arrays. Those avoid both a
 * copy and fresh allocations, whose first touch is expensive on some VMs (~3 ms per MB measured
 * in a Firecracker guest, far more than the scan itself).
 */
export interface NativeScanKernel extends ScanKernel, NativeConv {
  /** Like forward, writing y (batch·dim·len) into `y`. */
  forwardInto(x: ScanInputs, y: Float32Array): void;
  /** The fused SS2D core built into the same library. */
  readonly ss2d: SS2DCoreImpl;
  /** C (M,N) = op(A)·op(B), row-major (A is (M,K) or (K,M) if transA; B (K,N) or (N,K)). */
  gemm: Gemm;
  /** One Adam(W) update of many parameter arrays (each into its wo, mo, vo). */
  adamStep: NativeAdam;
  /** The fused LayerNorm ("row") / BatchNorm ("col") forward and backward. */
  norm: NativeNorm;
  /** The fused SS-Conv-SSM block, forward and backward. */
  block: NativeBlock;
  /** One moving-average update of many (shadow, weights) pairs. */
  ema: NativeEma;
  /**
   * Like backward, writing into `grads`' arrays; grads.dD must be present iff x.D is,
   * grads.ddeltaBias iff x.deltaBias is. Every element is overwritten.
   */
  backwardInto(x: ScanInputs, dy: Float32Array, grads: ScanGrads): void;
}

/** Options of {@link loadNativeKernel}. */
export interface NativeKernelOptions {
  /** OpenMP threads per call; default (or ≤ 0): OMP_NUM_THREADS, else one per core. */
  threads?: number;
  /** Don't print the one-line notice when the kernel is unavailable. */
  quiet?: boolean;
  /**
   * Build without -march=native (plain -O3 -fopenmp), i.e. the code path of a machine without
   * AVX-512. For tests; slower.
   */
  portable?: boolean;
}

const ABI_VERSION = 1;
const SOURCE_URL = new URL("../../../native/cpu/selective_scan.c", import.meta.url);
/** Compiled into the same library: the fused SS2D core, which calls ss_fwd / ss_bwd. */
const SS2D_URL = new URL("../../../native/cpu/ss2d_core.c", import.meta.url);
/** Also compiled in: a multi-threaded SGEMM that serves the wasm backend's BatchMatMul. */
const GEMM_URL = new URL("../../../native/cpu/gemm.c", import.meta.url);
/** And stride-1 SAME convolutions (forward and filter gradient) on top of the gemm. */
const CONV_URL = new URL("../../../native/cpu/conv.c", import.meta.url);
/** And the fused LayerNorm / BatchNorm, forward and backward. */
const NORM_URL = new URL("../../../native/cpu/norm.c", import.meta.url);
/** And the fused Adam(W) step. */
const ADAM_URL = new URL("../../../native/cpu/adam.c", import.meta.url);
/** And the moving average of the weights. */
const EMA_URL = new URL("../../../native/cpu/ema.c", import.meta.url);
/** And the fused SS-Conv-SSM block, built on all of the above. */
const BLOCK_URL = new URL("../../../native/cpu/block.c", import.meta.url);
/** Headers the sources include: part of the cache key, not compiled on their own. */
const HEADER_URLS = ["transpose16.h", "vmath.h"].map((h) =>
  new URL(`../../../native/cpu/${h}`, import.meta.url)
);
const BUILD_URL = new URL("../../../native/build/", import.meta.url);
/**
 * -z nodelete: the library (and with it libgomp) stays mapped when Deno closes it, e.g. when a
 * test module's isolate ends. OpenMP workers keep spinning for a few milliseconds after each
 * parallel region; unmapping their code under them crashed Deno with SIGSEGV. (The old cure,
 * OMP_WAIT_POLICY=passive, made the workers sleep between kernels: up to 2× slower training.)
 */
const BASE_FLAGS = ["-O3", "-fopenmp", "-fPIC", "-shared", "-std=gnu11", "-Wl,-z,nodelete"];

const I32 = "i32" as const;
const BUF = "buffer" as const;
const F32 = "f32" as const;
const SHAPE = [I32, I32, I32, I32, I32] as const; // batch, dim, len, dstate, groups
const INPUTS = [BUF, BUF, BUF, BUF, BUF, BUF, BUF, I32] as const; // u … deltaBias, softplus

const SYMBOLS = {
  ss_version: { parameters: [], result: I32 },
  ss_default_threads: { parameters: [], result: I32 },
  ss_fwd: { parameters: [...SHAPE, ...INPUTS, I32, BUF], result: I32 },
  ss_bwd: {
    parameters: [...SHAPE, ...INPUTS, BUF, I32, BUF, BUF, BUF, BUF, BUF, BUF, BUF],
    result: I32,
  },
  // B, H, W, di, K, N, R, xc, Wx, Wdt, bias, A, D, nthreads, y
  ss2d_fwd: {
    parameters: [I32, I32, I32, I32, I32, I32, I32, BUF, BUF, BUF, BUF, BUF, BUF, I32, BUF],
    result: I32,
  },
  // M, N, K, A, transA, B, transB, C, nthreads
  sm_gemm: { parameters: [I32, I32, I32, BUF, I32, BUF, I32, BUF, I32], result: I32 },
  // count, sizes (Int32Array), pointer table (7 per tensor), lr, beta1, beta2, 1 − beta1,
  // 1 − beta2, eps, wd, c1, c2, nthreads
  sm_adam_multi: {
    parameters: [I32, BUF, BUF, F32, F32, F32, F32, F32, F32, F32, F32, F32, I32],
    result: I32,
  },
  // R, C, colMode, eps, x, gamma, beta, y, mean, var, rstd, nthreads
  sm_norm_fwd: {
    parameters: [I32, I32, I32, F32, BUF, BUF, BUF, BUF, BUF, BUF, BUF, I32],
    result: I32,
  },
  // R, C, colMode, dy, x, gamma, mean, rstd, dx, dgamma, dbeta, nthreads
  sm_norm_bwd: {
    parameters: [I32, I32, I32, BUF, BUF, BUF, BUF, BUF, BUF, BUF, BUF, I32],
    result: I32,
  },
  // B, H, W, Ci, Co, k, x, w, y, nthreads
  sm_conv2d_same: { parameters: [I32, I32, I32, I32, I32, I32, BUF, BUF, BUF, I32], result: I32 },
  // B, H, W, Ci, Co, k, x, dy, dw, nthreads
  sm_conv2d_same_filter_grad: {
    parameters: [I32, I32, I32, I32, I32, I32, BUF, BUF, BUF, I32],
    result: I32,
  },
  // count, sizes (Int32Array), pointer table (shadow, weights per tensor), decay, nthreads
  sm_ema_multi: { parameters: [I32, BUF, BUF, "f64", I32], result: I32 },
  // dims (Int32Array), pointer table (BigUint64Array), ln eps, bn eps, nthreads
  sm_block_fwd: { parameters: [BUF, BUF, F32, F32, I32], result: I32 },
  sm_block_bwd: { parameters: [BUF, BUF, F32, F32, I32], result: I32 },
  // … , dy, nthreads, dxc, dWx, dWdt, dbias, dA, dD
  ss2d_bwd: {
    parameters: [
      ...[I32, I32, I32, I32, I32, I32, I32, BUF, BUF, BUF, BUF, BUF, BUF],
      ...[BUF, I32, BUF, BUF, BUF, BUF, BUF, BUF],
    ],
    result: I32,
  },
} as const;

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>;

interface Loaded {
  lib: Lib;
  info: NativeKernelInfo;
}

/** Loaded libraries by build flavour, or why loading failed (so the notice prints once). */
const loaded = new Map<string, Loaded | { error: string }>();
let lastInfo: NativeKernelInfo | null = null;
let lastError: string | null = null;

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

/** First line of `cc --version`, or null when there is no such compiler. */
function compilerVersion(cc: string): string | null {
  try {
    const out = new Deno.Command(cc, { args: ["--version"], stdout: "piped", stderr: "null" })
      .outputSync();
    if (!out.success) return null;
    return new TextDecoder().decode(out.stdout).split("\n")[0].trim();
  } catch {
    return null;
  }
}

/** CPU model and feature flags, part of the cache key of -march=native builds. */
function cpuSignature(): string {
  // Deno guards /proc reads behind --allow-all; `cat` needs only --allow-run, which building
  // needs anyway.
  let text = "";
  try {
    text = Deno.readTextFileSync("/proc/cpuinfo");
  } catch {
    try {
      const out = new Deno.Command("cat", {
        args: ["/proc/cpuinfo"],
        stdout: "piped",
        stderr: "null",
      })
        .outputSync();
      if (out.success) text = new TextDecoder().decode(out.stdout);
    } catch { /* not Linux, or no permission */ }
  }
  if (!text) return `${Deno.build.target}|unknown-cpu`;
  const line = (key: string): string =>
    text.split("\n").find((l) => l.startsWith(key))?.trim() ?? "";
  return `${line("model name")}|${line("flags")}`;
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Compiles to a temp file and renames it into place, so a concurrent reader never sees half a
 * library. Returns null on success, else the compiler's first error line. */
function compile(cc: string, flags: string[], src: string[], out: string): string | null {
  const dir = out.slice(0, out.lastIndexOf("/"));
  Deno.mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    const res = new Deno.Command(cc, {
      args: [...flags, "-o", tmp, ...src, "-lm"],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!res.success) {
      const err = new TextDecoder().decode(res.stderr).split("\n").find((l) => l.includes("error"));
      return err?.trim() ?? `${cc} exited with code ${res.code}`;
    }
    Deno.renameSync(tmp, out);
    return null;
  } finally {
    try {
      Deno.removeSync(tmp);
    } catch { /* renamed or never written */ }
  }
}

/** Builds (if needed) and dlopens one flavour; throws an Error whose message is the notice. */
function buildAndOpen(portable: boolean): Loaded {
  if (!granted({ name: "ffi" })) throw new Error("needs --allow-ffi");
  if (SOURCE_URL.protocol !== "file:") throw new Error(`source is not a local file: ${SOURCE_URL}`);
  const src = fileURLToPath(SOURCE_URL);
  const buildDir = fileURLToPath(BUILD_URL);
  if (!granted({ name: "read", path: src })) throw new Error("needs --allow-read");
  if (!granted({ name: "env" })) throw new Error("needs --allow-env (to read $CC)");
  const cc = Deno.env.get("CC") || "gcc";
  if (!granted({ name: "run", command: cc })) throw new Error(`needs --allow-run for ${cc}`);
  const version = compilerVersion(cc);
  if (version === null) throw new Error(`no C compiler (${cc} --version failed; set $CC)`);
  const sources = [
    src,
    ...[SS2D_URL, GEMM_URL, CONV_URL, NORM_URL, ADAM_URL, EMA_URL, BLOCK_URL].map((u) =>
      fileURLToPath(u)
    ),
  ];
  const headers = HEADER_URLS.map((u) => fileURLToPath(u));
  const source = [...sources, ...headers].map((f) => Deno.readTextFileSync(f)).join("\0");
  const candidates = portable ? [BASE_FLAGS] : [[...BASE_FLAGS, "-march=native"], BASE_FLAGS];
  let lastFailure = "";
  for (const flags of candidates) {
    const native = flags.includes("-march=native") ? cpuSignature() : "";
    const key = [source, cc, version, flags.join(" "), native].join("\0");
    const path = `${buildDir}${sha256Hex(key)}/libss.so`;
    if (!exists(path)) {
      if (!granted({ name: "write", path: buildDir })) {
        throw new Error("needs --allow-write to build native/build/");
      }
      const failure = compile(cc, flags, sources, path);
      if (failure !== null) {
        lastFailure = `${cc} ${flags.join(" ")}: ${failure}`;
        continue;
      }
    }
    const lib = Deno.dlopen(path, SYMBOLS);
    const abi = lib.symbols.ss_version();
    if (abi !== ABI_VERSION) {
      lib.close();
      throw new Error(`${path} has ABI ${abi}, expected ${ABI_VERSION}`);
    }
    return { lib, info: { compiler: version, flags, path } };
  }
  throw new Error(`compilation failed: ${lastFailure}`);
}

function nullable(a: Float32Array | undefined): Float32Array | null {
  return a === undefined ? null : a;
}

function checkOut(name: string, arr: Float32Array | undefined, expected: number): void {
  if (!(arr instanceof Float32Array) || arr.length !== expected) {
    throw new Error(`native selective scan: output ${name} must be a Float32Array(${expected})`);
  }
}

function checkGrads(x: ScanInputs, g: ScanGrads): void {
  const n = x.batch * x.dim * x.len, nbc = x.batch * x.groups * x.dstate * x.len;
  checkOut("du", g.du, n);
  checkOut("ddelta", g.ddelta, n);
  checkOut("dA", g.dA, x.dim * x.dstate);
  checkOut("dB", g.dB, nbc);
  checkOut("dC", g.dC, nbc);
  if (x.D || g.dD) checkOut("dD", x.D ? g.dD : undefined, x.dim);
  if (x.deltaBias || g.ddeltaBias) {
    checkOut("ddeltaBias", x.deltaBias ? g.ddeltaBias : undefined, x.dim);
  }
}

/** The addresses of `arrays` (0 for null), for C functions that take a pointer table. */
function pointerTable(arrays: (Float32Array | null)[]): BigUint64Array {
  const t = new BigUint64Array(arrays.length);
  arrays.forEach((a, i) => {
    t[i] = a === null ? 0n : BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a)));
  });
  return t;
}

function makeKernel(lib: Lib, threads: number): NativeScanKernel {
  const s = lib.symbols;
  const shape = (x: ScanInputs) => [x.batch, x.dim, x.len, x.dstate, x.groups] as const;
  const inputs = (x: ScanInputs) =>
    [
      x.u,
      x.delta,
      x.A,
      x.B,
      x.C,
      nullable(x.D),
      nullable(x.deltaBias),
      x.deltaSoftplus ? 1 : 0,
    ] as const;
  const forwardInto = (x: ScanInputs, y: Float32Array): void => {
    checkScanInputs(x);
    checkOut("y", y, x.batch * x.dim * x.len);
    const rc = s.ss_fwd(...shape(x), ...inputs(x), threads, y);
    if (rc !== 0) throw new Error(`native selective scan forward failed (code ${rc})`);
  };
  const backwardInto = (x: ScanInputs, dy: Float32Array, g: ScanGrads): void => {
    checkScanInputs(x, dy);
    checkGrads(x, g);
    const rc = s.ss_bwd(
      ...shape(x),
      ...inputs(x),
      dy,
      threads,
      g.du,
      g.ddelta,
      g.dA,
      g.dB,
      g.dC,
      nullable(g.dD),
      nullable(g.ddeltaBias),
    );
    if (rc !== 0) throw new Error(`native selective scan backward failed (code ${rc})`);
  };
  const dimsArgs = (d: SS2DCoreDims) => [d.B, d.H, d.W, d.di, d.K, d.N, d.R] as const;
  const arrays = (a: SS2DCoreArrays) => [a.xc, a.Wx, a.Wdt, a.bias, a.A, a.D] as const;
  const ss2d: SS2DCoreImpl = {
    forwardInto(d, a, y) {
      const rc = s.ss2d_fwd(...dimsArgs(d), ...arrays(a), threads, y);
      if (rc !== 0) throw new Error(`native SS2D forward failed (code ${rc})`);
    },
    backwardInto(d, a, dy, o) {
      const rc = s.ss2d_bwd(
        ...dimsArgs(d),
        ...arrays(a),
        dy,
        threads,
        o.dxc,
        o.dWx,
        o.dWdt,
        o.dbias,
        o.dA,
        o.dD,
      );
      if (rc !== 0) throw new Error(`native SS2D backward failed (code ${rc})`);
    },
  };
  const block: NativeBlock = {
    forward(dims, arrays, lnEps, bnEps) {
      const rc = s.sm_block_fwd(dims, pointerTable(arrays), lnEps, bnEps, threads);
      if (rc !== 0) throw new Error(`native block forward failed (code ${rc})`);
    },
    backward(dims, arrays, lnEps, bnEps) {
      const rc = s.sm_block_bwd(dims, pointerTable(arrays), lnEps, bnEps, threads);
      if (rc !== 0) throw new Error(`native block backward failed (code ${rc})`);
    },
  };
  const ema: NativeEma = (pairs, d) => {
    const sizes = Int32Array.from(pairs, ([sh]) => sh.length);
    const rc = s.sm_ema_multi(pairs.length, sizes, pointerTable(pairs.flat()), d, threads);
    if (rc !== 0) throw new Error(`native moving average failed (code ${rc})`);
  };
  return {
    name: "native",
    ss2d,
    block,
    ema,
    gemm(M, N, K, A, transA, B, transB, C) {
      const rc = s.sm_gemm(M, N, K, A, transA ? 1 : 0, B, transB ? 1 : 0, C, threads);
      if (rc !== 0) throw new Error(`native gemm failed (code ${rc})`);
    },
    adamStep(tensors, c) {
      const sizes = Int32Array.from(tensors, (t) => t.w.length);
      const ptrs = pointerTable(tensors.flatMap((t) => [t.w, t.g, t.m, t.v, t.wo, t.mo, t.vo]));
      const rc = s.sm_adam_multi(
        tensors.length,
        sizes,
        ptrs,
        c.lr,
        c.beta1,
        c.beta2,
        1 - c.beta1,
        1 - c.beta2,
        c.eps,
        c.weightDecay,
        c.c1,
        c.c2,
        threads,
      );
      if (rc !== 0) throw new Error(`native Adam step failed (code ${rc})`);
    },
    norm: {
      forward(C, mode, eps, x, gamma, beta, y, mean, variance, rstd) {
        const rc = s.sm_norm_fwd(
          x.length / C,
          C,
          mode === "col" ? 1 : 0,
          eps,
          x,
          gamma,
          beta,
          y,
          mean,
          variance,
          rstd,
          threads,
        );
        if (rc !== 0) throw new Error(`native norm forward failed (code ${rc})`);
      },
      backward(C, mode, dy, x, gamma, mean, rstd, dx, dgamma, dbeta) {
        const rc = s.sm_norm_bwd(
          x.length / C,
          C,
          mode === "col" ? 1 : 0,
          dy,
          x,
          gamma,
          mean,
          rstd,
          dx,
          dgamma,
          dbeta,
          threads,
        );
        if (rc !== 0) throw new Error(`native norm backward failed (code ${rc})`);
      },
    },
    conv2dSame(d, x, w, y) {
      const rc = s.sm_conv2d_same(d.batch, d.height, d.width, d.inC, d.outC, d.k, x, w, y, threads);
      if (rc !== 0) throw new Error(`native conv2d failed (code ${rc})`);
    },
    conv2dSameFilterGrad(d, x, dy, dw) {
      const rc = s.sm_conv2d_same_filter_grad(
        d.batch,
        d.height,
        d.width,
        d.inC,
        d.outC,
        d.k,
        x,
        dy,
        dw,
        threads,
      );
      if (rc !== 0) throw new Error(`native conv2d filter gradient failed (code ${rc})`);
    },
    forward(x: ScanInputs): Float32Array {
      checkScanInputs(x); // before allocating, so a bad shape gets a clear message
      const y = new Float32Array(x.batch * x.dim * x.len);
      forwardInto(x, y);
      return y;
    },
    backward(x: ScanInputs, dy: Float32Array): ScanGrads {
      checkScanInputs(x, dy);
      const n = x.batch * x.dim * x.len, nbc = x.batch * x.groups * x.dstate * x.len;
      const g: ScanGrads = {
        du: new Float32Array(n),
        ddelta: new Float32Array(n),
        dA: new Float32Array(x.dim * x.dstate),
        dB: new Float32Array(nbc),
        dC: new Float32Array(nbc),
      };
      if (x.D) g.dD = new Float32Array(x.dim);
      if (x.deltaBias) g.ddeltaBias = new Float32Array(x.dim);
      backwardInto(x, dy, g);
      return g;
    },
    forwardInto,
    backwardInto,
  };
}

/**
 * Builds (first time) and loads the native kernel. Returns null, after printing one notice line
 * to stderr unless `quiet`, when it cannot: no compiler, a failed build, or missing permissions.
 * Calls are synchronous; arrays are passed to C without copies.
 */
export function loadNativeKernel(opts: NativeKernelOptions = {}): NativeScanKernel | null {
  const flavour = opts.portable ? "portable" : "native";
  let entry = loaded.get(flavour);
  if (entry === undefined) {
    try {
      entry = buildAndOpen(Boolean(opts.portable));
    } catch (e) {
      entry = { error: (e as Error).message };
      if (!opts.quiet) {
        console.error(`starmamba: native scan kernel unavailable (${entry.error}); using loop`);
      }
    }
    loaded.set(flavour, entry);
  }
  if ("error" in entry) {
    lastError = entry.error;
    return null;
  }
  lastError = null;
  lastInfo = entry.info;
  const threads = Math.max(0, Math.floor(opts.threads ?? 0));
  return makeKernel(entry.lib, threads);
}

/** Compiler, flags and path of the most recently loaded native library, or null if none. */
export function nativeKernelInfo(): NativeKernelInfo | null {
  return lastInfo;
}

/** Why the last {@link loadNativeKernel} call returned null, or null if it did not. */
export function nativeKernelError(): string | null {
  return lastError;
}

/** Threads the native kernel uses when none are given (OMP_NUM_THREADS or the core count). */
export function nativeDefaultThreads(): number | null {
  for (const entry of loaded.values()) {
    if ("lib" in entry) return entry.lib.symbols.ss_default_threads();
  }
  return null;
}
