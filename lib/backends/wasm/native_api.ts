/**
 * The native library's C functions as Deno sees them (the symbol table) and as the backend calls
 * them (typed wrappers that check shapes, pass arrays without copies, and turn a nonzero return
 * code into an error). Building and loading the library is native.ts.
 * @module
 */
import type {
  ConvDims,
  Gemm,
  NativeAdam,
  NativeBlock,
  NativeConv,
  NativeEma,
  NativeNorm,
} from "./hooks.ts";
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
export interface NativeScanKernel extends ScanKernel, Required<NativeConv> {
  /** The library behind it: compiler, flags, path. */
  readonly info: NativeKernelInfo;
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

const I32 = "i32" as const;
const BUF = "buffer" as const;
const F32 = "f32" as const;
const SHAPE = [I32, I32, I32, I32, I32] as const; // batch, dim, len, dstate, groups
const INPUTS = [BUF, BUF, BUF, BUF, BUF, BUF, BUF, I32] as const; // u … deltaBias, softplus

/** Every C function the library exports, with its Deno FFI signature. */
export const SYMBOLS = {
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
  // B, H, W, Ci, Co, k, stride, x, w, y, nthreads
  sm_conv2d_strided: {
    parameters: [I32, I32, I32, I32, I32, I32, I32, BUF, BUF, BUF, I32],
    result: I32,
  },
  // B, H, W, Ci, Co, k, stride, x, dy, dw, nthreads
  sm_conv2d_strided_filter_grad: {
    parameters: [I32, I32, I32, I32, I32, I32, I32, BUF, BUF, BUF, I32],
    result: I32,
  },
  // B, H, W, Ci, Co, k, stride, dy, w, dx, nthreads
  sm_conv2d_strided_input_grad: {
    parameters: [I32, I32, I32, I32, I32, I32, I32, BUF, BUF, BUF, I32],
    result: I32,
  },
  // n, alpha, x, y, nthreads
  sm_leaky_relu: { parameters: [I32, F32, BUF, BUF, I32], result: I32 },
  // n, alpha, x, dy, dx, nthreads
  sm_leaky_relu_grad: { parameters: [I32, F32, BUF, BUF, BUF, I32], result: I32 },
  // k, ci, co, swap, w, out, nthreads
  sm_flip_filter: { parameters: [I32, I32, I32, I32, BUF, BUF, I32], result: I32 },
  // B, H, W, C, Ho, Wo, fh, fw, sh, sw, pad top, pad left, x, dy, dx, nthreads
  sm_max_pool_grad: {
    parameters: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, BUF, BUF, BUF, I32],
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

function nullable(a: Float32Array | undefined): Float32Array | null {
  return a === undefined ? null : a;
}

/** Throws when a native entry point returned non-zero: `native <what> failed (code rc)`. */
function check(rc: number, what: string): void {
  if (rc !== 0) throw new Error(`native ${what} failed (code ${rc})`);
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

/**
 * The library as a scan kernel carrying every other native entry point; `threads` per call,
 * `info` what was built.
 */
export function wrapLibrary(lib: Lib, threads: number, info: NativeKernelInfo): NativeScanKernel {
  const s = lib.symbols;
  /** One of the strided convolutions: (B, H, W, Ci, Co, k, stride, a, b, out, threads). */
  const s_conv = (
    stride: number,
    name:
      | "sm_conv2d_strided"
      | "sm_conv2d_strided_filter_grad"
      | "sm_conv2d_strided_input_grad",
    d: ConvDims,
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
  ): number => s[name](d.batch, d.height, d.width, d.inC, d.outC, d.k, stride, a, b, out, threads);
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
    check(rc, "selective scan forward");
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
    check(rc, "selective scan backward");
  };
  const dimsArgs = (d: SS2DCoreDims) => [d.B, d.H, d.W, d.di, d.K, d.N, d.R] as const;
  const arrays = (a: SS2DCoreArrays) => [a.xc, a.Wx, a.Wdt, a.bias, a.A, a.D] as const;
  const ss2d: SS2DCoreImpl = {
    forwardInto(d, a, y) {
      const rc = s.ss2d_fwd(...dimsArgs(d), ...arrays(a), threads, y);
      check(rc, "SS2D forward");
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
      check(rc, "SS2D backward");
    },
  };
  const block: NativeBlock = {
    forward(dims, arrays, lnEps, bnEps) {
      const rc = s.sm_block_fwd(dims, pointerTable(arrays), lnEps, bnEps, threads);
      check(rc, "block forward");
    },
    backward(dims, arrays, lnEps, bnEps) {
      const rc = s.sm_block_bwd(dims, pointerTable(arrays), lnEps, bnEps, threads);
      check(rc, "block backward");
    },
  };
  const ema: NativeEma = (pairs, d) => {
    const sizes = Int32Array.from(pairs, ([sh]) => sh.length);
    const rc = s.sm_ema_multi(pairs.length, sizes, pointerTable(pairs.flat()), d, threads);
    check(rc, "moving average");
  };
  return {
    name: "native",
    info,
    ss2d,
    block,
    ema,
    gemm(M, N, K, A, transA, B, transB, C) {
      const rc = s.sm_gemm(M, N, K, A, transA ? 1 : 0, B, transB ? 1 : 0, C, threads);
      check(rc, "gemm");
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
      check(rc, "Adam step");
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
        check(rc, "norm forward");
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
        check(rc, "norm backward");
      },
    },
    conv2dSame(d, x, w, y) {
      const rc = s.sm_conv2d_same(d.batch, d.height, d.width, d.inC, d.outC, d.k, x, w, y, threads);
      check(rc, "conv2d");
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
      check(rc, "conv2d filter gradient");
    },
    conv2dStrided(d, s, x, w, y) {
      const rc = s_conv(s, "sm_conv2d_strided", d, x, w, y);
      check(rc, "strided conv2d");
    },
    conv2dStridedFilterGrad(d, s, x, dy, dw) {
      const rc = s_conv(s, "sm_conv2d_strided_filter_grad", d, x, dy, dw);
      check(rc, "strided conv2d filter gradient");
    },
    conv2dStridedInputGrad(d, s, dy, w, dx) {
      const rc = s_conv(s, "sm_conv2d_strided_input_grad", d, dy, w, dx);
      check(rc, "strided conv2d input gradient");
    },
    leakyRelu(alpha, x, y) {
      const rc = s.sm_leaky_relu(x.length, alpha, x, y, threads);
      check(rc, "leaky ReLU");
    },
    leakyReluGrad(alpha, x, dy, dx) {
      const rc = s.sm_leaky_relu_grad(x.length, alpha, x, dy, dx, threads);
      check(rc, "leaky ReLU gradient");
    },
    flipFilter(k, ci, co, swap, w, out) {
      const rc = s.sm_flip_filter(k, ci, co, swap ? 1 : 0, w, out, threads);
      check(rc, "filter flip");
    },
    maxPoolGrad(g, x, dy, dx) {
      const rc = s.sm_max_pool_grad(
        g.batch,
        g.height,
        g.width,
        g.channels,
        g.outHeight,
        g.outWidth,
        g.filterHeight,
        g.filterWidth,
        g.strideHeight,
        g.strideWidth,
        g.padTop,
        g.padLeft,
        x,
        dy,
        dx,
        threads,
      );
      check(rc, "max-pool gradient");
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
