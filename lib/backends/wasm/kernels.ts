/**
 * Faster replacements for tfjs-backend-wasm's Slice and SplitV, which run as generic
 * per-element JS loops (a 1 MB slice along the first axis took ~7 ms). Ours copy whole
 * contiguous runs with TypedArray.set. float32 only; other dtypes go to the original kernel.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { withArrays } from "../io.ts";

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

/**
 * Copies the box `begin`/`size` of `x` (shape `shape`) into `out`, row-major. Exported for tests.
 */
export function sliceInto(
  x: Float32Array,
  shape: number[],
  begin: number[],
  size: number[],
  out: Float32Array,
): void {
  const r = shape.length;
  if (r > 1 && shape.slice(0, -1).every((d, i) => begin[i] === 0 && size[i] === d)) {
    // Last-axis slice (channel splits): one tight loop over rows.
    const w = shape[r - 1], n = size[r - 1], b0 = begin[r - 1];
    const rows = x.length / w;
    for (let row = 0, src = b0, dst = 0; row < rows; row++, src += w, dst += n) {
      for (let j = 0; j < n; j++) out[dst + j] = x[src + j];
    }
    return;
  }
  // Merge trailing axes that are taken whole into one contiguous run.
  let inner = r - 1;
  let run = size[r - 1];
  while (inner > 0 && size[inner] === shape[inner] && begin[inner] === 0) {
    inner--;
    run *= size[inner];
  }
  const strides = new Array(r).fill(1);
  for (let i = r - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  const outer = size.slice(0, inner);
  const nOuter = outer.reduce((a, b) => a * b, 1);
  const idx = new Array(inner).fill(0);
  let base0 = 0;
  for (let i = 0; i <= inner; i++) base0 += begin[i] * strides[i];
  for (let o = 0, dst = 0; o < nOuter; o++, dst += run) {
    let src = base0;
    for (let i = 0; i < inner; i++) src += idx[i] * strides[i];
    if (run >= 64) out.set(x.subarray(src, src + run), dst);
    else for (let j = 0; j < run; j++) out[dst + j] = x[src + j];
    for (let i = inner - 1; i >= 0; i--) {
      if (++idx[i] < outer[i]) break;
      idx[i] = 0;
    }
  }
}

function normalise(shape: number[], begin: number[] | number, size: number[] | number) {
  const b = typeof begin === "number" ? [begin] : [...begin];
  const s = typeof size === "number" ? [size] : [...size];
  while (b.length < shape.length) b.push(0);
  while (s.length < shape.length) s.push(-1);
  return { begin: b, size: s.map((v, i) => (v === -1 ? shape[i] - b[i] : v)) };
}

// deno-lint-ignore no-explicit-any
type WasmBackend = any;

/** `k` while the wasm backend is active (the native hooks serve only its heap), else null. */
function onWasm<T>(k: T | null): T | null {
  return k !== null && tf.getBackend() === "wasm" ? k : null;
}

/** A native matrix multiply: C (M,N) = op(A)·op(B), row-major. */
export type Gemm = (
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  transA: boolean,
  B: Float32Array,
  transB: boolean,
  C: Float32Array,
) => void;

let nativeGemm: Gemm | null = null;

/**
 * Routes the wasm backend's BatchMatMul to a native multi-threaded matmul (set by the scan
 * kernel selection when the native library loads), or back to XNNPACK with null.
 */
export function setNativeGemm(g: Gemm | null): void {
  nativeGemm = g;
}

/** Scalars of one Adam(W) update (c1, c2: bias corrections 1 − β₁ᵗ, 1 − β₂ᵗ). */
export interface AdamScalars {
  /** Learning rate of this step. */
  lr: number;
  /** First-moment decay rate β₁. */
  beta1: number;
  /** Second-moment decay rate β₂. */
  beta2: number;
  /** Added to √(v/c2) in the denominator. */
  eps: number;
  /** Decoupled (AdamW) weight decay; the step subtracts lr·weightDecay·w, 0 for plain Adam. */
  weightDecay: number;
  /** First-moment bias correction 1 − β₁ᵗ. */
  c1: number;
  /** Second-moment bias correction 1 − β₂ᵗ. */
  c2: number;
}

/** The arrays of one tensor's Adam(W) update: inputs w, g, m, v; outputs wo, mo, vo. */
export interface AdamArrays {
  w: Float32Array;
  g: Float32Array;
  m: Float32Array;
  v: Float32Array;
  wo: Float32Array;
  mo: Float32Array;
  vo: Float32Array;
}

/** A native Adam(W) update of many tensors at once (one optimiser step of a network). */
export type NativeAdam = (tensors: AdamArrays[], s: AdamScalars) => void;

let nativeAdam: NativeAdam | null = null;

/** Sets (or clears) the native Adam update the optimiser's kernel uses on wasm. */
export function setNativeAdam(a: NativeAdam | null): void {
  nativeAdam = a;
}

/** The native Adam update when one is set and the wasm backend is active, else null. */
export function activeNativeAdam(): NativeAdam | null {
  return onWasm(nativeAdam);
}

/**
 * Native fused normalisation (see lib/ops/norm.ts for the maths and the TypeScript version):
 * x is (x.length / C, C); mode "row" = LayerNorm, "col" = training-mode BatchNorm.
 */
export interface NativeNorm {
  /** y and the per-group mean, biased variance and 1/√(var + eps). */
  forward(
    C: number,
    mode: "row" | "col",
    eps: number,
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    rstd: Float32Array,
  ): void;
  /** dx, dγ, dβ from dy and the saved statistics. */
  backward(
    C: number,
    mode: "row" | "col",
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    dx: Float32Array,
    dgamma: Float32Array,
    dbeta: Float32Array,
  ): void;
}

let nativeNorm: NativeNorm | null = null;

/** Sets (or clears) the native normalisation the fused norm kernels use on wasm. */
export function setNativeNorm(n: NativeNorm | null): void {
  nativeNorm = n;
}

/** The native normalisation when one is set and the wasm backend is active, else null. */
export function activeNativeNorm(): NativeNorm | null {
  return onWasm(nativeNorm);
}

/** A native moving-average update: shadow = d·shadow + (1 − d)·weights, for each pair. */
export type NativeEma = (pairs: [Float32Array, Float32Array][], d: number) => void;

let nativeEma: NativeEma | null = null;

/** Sets (or clears) the native moving-average update. */
export function setNativeEma(e: NativeEma | null): void {
  nativeEma = e;
}

/**
 * The native moving-average update and zero-copy views of `tensors` on the wasm heap, when the
 * native library is set and the wasm backend is active; else null. The views are valid until the
 * next tfjs allocation (a heap growth detaches them): use them at once.
 */
export function nativeEmaWithViews(
  tensors: tf.Tensor[],
): { ema: NativeEma; views: Float32Array[] } | null {
  const ema = onWasm(nativeEma);
  if (!ema || tensors.some((t) => t.dtype !== "float32")) return null;
  const be = tf.backend() as WasmBackend;
  return { ema, views: tensors.map((t) => be.typedArrayFromHeap(t) as Float32Array) };
}

/**
 * The fused SS-Conv-SSM block (native/cpu/block.c): `dims` is its int table, `arrays` its
 * pointer table (null for absent arrays), in the orders documented there and mirrored in
 * lib/ops/ss_conv_ssm.ts.
 */
export interface NativeBlock {
  /** Forward (training: also the saved activations and new running statistics). */
  forward(dims: Int32Array, arrays: (Float32Array | null)[], lnEps: number, bnEps: number): void;
  /** Backward: the gradients of every input. */
  backward(dims: Int32Array, arrays: (Float32Array | null)[], lnEps: number, bnEps: number): void;
}

let nativeBlock: NativeBlock | null = null;

/** Sets (or clears) the native fused block. */
export function setNativeBlock(b: NativeBlock | null): void {
  nativeBlock = b;
}

/** The native fused block when one is set and the wasm backend is active, else null. */
export function activeNativeBlock(): NativeBlock | null {
  return onWasm(nativeBlock);
}

/** Sizes of a stride-1 SAME convolution (NHWC input, k×k×inC×outC filter). */
export interface ConvDims {
  /** Batch size. */
  batch: number;
  /** Input (and output) height. */
  height: number;
  /** Input (and output) width. */
  width: number;
  /** Input channels. */
  inC: number;
  /** Output channels. */
  outC: number;
  /** Filter side (k × k). */
  k: number;
}

/** Native stride-1 SAME convolutions: forward and filter gradient. */
export interface NativeConv {
  /** y (B,H,W,Co) = x (B,H,W,Ci) convolved with w (k,k,Ci,Co): stride 1, SAME, NHWC. */
  conv2dSame(d: ConvDims, x: Float32Array, w: Float32Array, y: Float32Array): void;
  /** dW (k,k,Ci,Co) of {@link NativeConv.conv2dSame} given x and dy (B,H,W,Co). */
  conv2dSameFilterGrad(d: ConvDims, x: Float32Array, dy: Float32Array, dw: Float32Array): void;
}

let nativeConv: NativeConv | null = null;

/**
 * Routes the wasm backend's stride-1 SAME Conv2D (and, through {@link CONV_FILTER_GRAD}, its
 * filter gradient) to native im2col + gemm, or back to XNNPACK with null.
 */
export function setNativeConv(c: NativeConv | null): void {
  nativeConv = c;
}

/** Kernel name of the native Conv2D filter gradient (wasm only, while a native conv is set). */
export const CONV_FILTER_GRAD = "StarmambaConv2DFilterGrad";

/** Whether {@link CONV_FILTER_GRAD} can run on the active backend now. */
export function nativeConvFilterGradActive(): boolean {
  return onWasm(nativeConv) !== null;
}

interface ConvAttrs {
  strides: number | number[];
  pad: string | number;
  dilations?: number | number[];
  dataFormat?: string;
}

const ones = (v: number | number[] | undefined): boolean =>
  v == null || (Array.isArray(v) ? v.every((d) => d === 1) : v === 1);

/** The convolution's sizes when it is one the native kernel takes, else null. */
function sameConvDims(x: tf.TensorInfo, f: tf.TensorInfo, attrs: ConvAttrs): ConvDims | null {
  const [kh, kw, ci, co] = f.shape;
  if (x.dtype !== "float32" || f.dtype !== "float32" || x.shape.length !== 4) return null;
  if ((attrs.dataFormat ?? "NHWC") !== "NHWC" || !ones(attrs.strides) || !ones(attrs.dilations)) {
    return null;
  }
  if (kh !== kw || kh % 2 !== 1 || x.shape[3] !== ci) return null;
  if (!(attrs.pad === "same" || (kh === 1 && attrs.pad === "valid"))) return null;
  const [batch, height, width] = x.shape;
  return { batch, height, width, inC: ci, outC: co, k: kh };
}

/**
 * Whether a transposed BatchMatMul is as fast as a plain one on the active backend: true except
 * on wasm without the native gemm (whose XNNPACK path runs transposed matmuls ~7× slower).
 */
export function transposedMatMulFast(): boolean {
  return tf.getBackend() !== "wasm" || onWasm(nativeGemm) !== null;
}

/** Below this many multiply-adds the FFI call costs more than it saves. */
const NATIVE_GEMM_MIN_MACS = 1 << 16;

/** Collapses leading (batch) axes: [batch, rows, cols]; rank 2 has batch 1. */
function asBatched(shape: number[]): [number, number, number] {
  const r = shape.length;
  return [shape.slice(0, r - 2).reduce((a, b) => a * b, 1), shape[r - 2], shape[r - 1]];
}

/**
 * BatchMatMul through the native gemm, zero-copy on the wasm heap. tf.matMul hands the kernel
 * its inputs at their own rank (2 for plain matrices), so any rank ≥ 2 is taken, with the
 * batch axes broadcast only when one side has batch 1.
 */
function batchMatMulNative(g: Gemm, args: KernelArgs): tf.TensorInfo | null {
  const a = args.inputs.a as tf.TensorInfo, b = args.inputs.b as tf.TensorInfo;
  if (a.shape.length < 2 || b.shape.length < 2 || a.dtype !== "float32") return null;
  if (b.dtype !== "float32") return null;
  const { transposeA, transposeB } = args.attrs as unknown as {
    transposeA: boolean;
    transposeB: boolean;
  };
  const [na, a1, a2] = asBatched(a.shape), [nb, b1, b2] = asBatched(b.shape);
  const M = transposeA ? a2 : a1, K = transposeA ? a1 : a2, N = transposeB ? b1 : b2;
  const n = Math.max(na, nb);
  if ((na !== nb && na !== 1 && nb !== 1) || M * N * K < NATIVE_GEMM_MIN_MACS) return null;
  // Leading axes broadcast (one side is all ones, or both are equal): pad left, take the max.
  const la = a.shape.slice(0, -2), lb = b.shape.slice(0, -2);
  const r = Math.max(la.length, lb.length);
  const pad = (l: number[]) => [...new Array(r - l.length).fill(1), ...l];
  const pa = pad(la), pb = pad(lb);
  if (na === nb && pa.some((d, i) => d !== pb[i])) return null;
  const outShape = [...pa.map((d, i) => Math.max(d, pb[i])), M, N];
  return withArrays(args.backend, [a, b], [outShape], ([av, bv], [cv]) => {
    for (let i = 0; i < n; i++) {
      const ai = na === 1 ? 0 : i, bi = nb === 1 ? 0 : i;
      g(
        M,
        N,
        K,
        av.subarray(ai * a1 * a2, (ai + 1) * a1 * a2),
        transposeA,
        bv.subarray(bi * b1 * b2, (bi + 1) * b1 * b2),
        transposeB,
        cv.subarray(i * M * N, (i + 1) * M * N),
      );
    }
  })[0];
}

/**
 * BatchMatMul with batch > 1 runs a naive loop in tfjs-backend-wasm (≈40× slower than its
 * XNNPACK path for a single matrix). Run the original kernel once per batch entry instead.
 */
function batchedViaSingles(orig: tf.KernelFunc, args: KernelArgs): tf.TensorInfo {
  const be = args.backend as WasmBackend;
  const a = args.inputs.a as tf.TensorInfo, b = args.inputs.b as tf.TensorInfo;
  const na = a.shape[0], nb = b.shape[0], n = Math.max(na, nb);
  const piece = (t: tf.TensorInfo, i: number): tf.TensorInfo => {
    const per = t.shape[1] * t.shape[2];
    const src = be.readSync(t.dataId, i * per, (i + 1) * per) as Float32Array;
    return be.makeOutput([1, t.shape[1], t.shape[2]], "float32", undefined, src);
  };
  const parts: Float32Array[] = [];
  let shape: number[] = [];
  for (let i = 0; i < n; i++) {
    const ai = piece(a, na === 1 ? 0 : i), bi = piece(b, nb === 1 ? 0 : i);
    const oi = orig(
      { inputs: { a: ai, b: bi }, backend: be, attrs: args.attrs } as never,
    ) as tf.TensorInfo;
    parts.push(be.readSync(oi.dataId) as Float32Array);
    shape = oi.shape;
    be.disposeData(ai.dataId);
    be.disposeData(bi.dataId);
    be.disposeData(oi.dataId);
  }
  const per = shape[1] * shape[2];
  const all = new Float32Array(n * per);
  parts.forEach((p, i) => all.set(p, i * per));
  return be.makeOutput([n, shape[1], shape[2]], "float32", undefined, all);
}

/**
 * Concatenates float32 arrays along `axis`: each input contributes a run of
 * (its size on axis) × (inner size) elements per outer index. Exported for tests.
 */
export function concatInto(
  parts: Float32Array[],
  shapes: number[][],
  axis: number,
  out: Float32Array,
): void {
  const inner = shapes[0].slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = shapes[0].slice(0, axis).reduce((a, b) => a * b, 1);
  const runs = shapes.map((sh) => sh[axis] * inner);
  const total = runs.reduce((a, b) => a + b, 0);
  for (let o = 0; o < outer; o++) {
    let dst = o * total;
    for (let j = 0; j < parts.length; j++) {
      const run = runs[j], src = o * run, p = parts[j];
      if (run >= 64) out.set(p.subarray(src, src + run), dst);
      else for (let i = 0; i < run; i++) out[dst + i] = p[src + i];
      dst += run;
    }
  }
}

/**
 * Column sums of x viewed as (rows, cols): out[c] = Σ_r x[r·cols + c], rows in order (float32
 * accumulation, like the stock kernel). Exported for tests.
 */
export function sumLeadingInto(
  x: Float32Array,
  rows: number,
  cols: number,
  out: Float32Array,
): void {
  out.fill(0);
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    for (let c = 0; c < cols; c++) out[c] += x[o + c];
  }
}

/**
 * Sum / Mean over leading axes (BatchNorm statistics, bias gradients) without the full transpose
 * the stock wasm kernels make to bring the reduced axes last. Other reductions: null.
 */
function reduceLeading(args: KernelArgs, mean: boolean): tf.TensorInfo | null {
  const x = args.inputs.x as tf.TensorInfo;
  const r = x.shape.length;
  if (x.dtype !== "float32" || r < 2) return null;
  const a = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
  // axis null means every axis; parseAxisParam also wraps negative axes
  const axes = [...new Set(tf.util.parseAxisParam(a.axis, x.shape))].sort((p, q) => p - q);
  const j = axes.length;
  if (j === 0 || j === r || axes.some((v, i) => v !== i)) return null;
  const rows = x.shape.slice(0, j).reduce((p, q) => p * q, 1);
  const cols = x.shape.slice(j).reduce((p, q) => p * q, 1);
  if (rows === 0 || cols === 0) return null;
  const outShape = a.keepDims ? x.shape.map((d, i) => (i < j ? 1 : d)) : x.shape.slice(j);
  return withArrays(args.backend, [x], [outShape], ([xv], [ov]) => {
    sumLeadingInto(xv, rows, cols, ov);
    if (mean) { for (let c = 0; c < cols; c++) ov[c] /= rows; }
  })[0];
}

/** Installs the replacements for the wasm backend (idempotent). */
export function installFastKernels(): void {
  const slice = tf.getKernel("Slice", "wasm");
  const split = tf.getKernel("SplitV", "wasm");
  if (!slice || !split || (slice as unknown as { starmamba?: boolean }).starmamba) return;
  const origSlice = slice.kernelFunc, origSplit = split.kernelFunc;
  tf.unregisterKernel("Slice", "wasm");
  tf.unregisterKernel("SplitV", "wasm");
  const fastSlice = (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype !== "float32") return origSlice(args as never);
    const a = args.attrs as unknown as { begin: number[] | number; size: number[] | number };
    const { begin, size } = normalise(x.shape, a.begin, a.size);
    if (size.some((v) => v === 0)) return origSlice(args as never);
    return withArrays(
      args.backend,
      [x],
      [size],
      ([xv], [ov]) => sliceInto(xv, x.shape, begin, size, ov),
    )[0];
  };
  const fastSplit = (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype !== "float32") return origSplit(args as never);
    const a = args.attrs as unknown as {
      numOrSizeSplits: number[] | number;
      axis: number | number[];
    };
    const axis = ((Array.isArray(a.axis) ? a.axis[0] : a.axis) + x.shape.length) % x.shape.length;
    const sizes = typeof a.numOrSizeSplits === "number"
      ? new Array(a.numOrSizeSplits).fill(x.shape[axis] / a.numOrSizeSplits)
      : a.numOrSizeSplits.map((s, _, all) =>
        s === -1 ? x.shape[axis] - all.filter((v) => v !== -1).reduce((p, q) => p + q, 0) : s
      );
    if (sizes.some((v) => v === 0)) return origSplit(args as never);
    const shapes = sizes.map((s) => x.shape.map((d, i) => (i === axis ? s : d)));
    return withArrays(args.backend, [x], shapes, ([xv], outs) => {
      let off = 0;
      sizes.forEach((s, j) => {
        const begin = x.shape.map((_, i) => (i === axis ? off : 0));
        sliceInto(xv, x.shape, begin, shapes[j], outs[j]);
        off += s;
      });
    });
  };
  const bmm = tf.getKernel("BatchMatMul", "wasm")!;
  const origBmm = bmm.kernelFunc, setupBmm = bmm.setupFunc;
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel({
    kernelName: "BatchMatMul",
    backendName: "wasm",
    setupFunc: setupBmm,
    kernelFunc: ((args: KernelArgs) => {
      const viaNative = nativeGemm ? batchMatMulNative(nativeGemm, args) : null;
      if (viaNative) return viaNative;
      const a = args.inputs.a as tf.TensorInfo, b = args.inputs.b as tf.TensorInfo;
      const batched = a.shape.length === 3 && b.shape.length === 3 &&
        Math.max(a.shape[0], b.shape[0]) > 1;
      return batched ? batchedViaSingles(origBmm, args) : origBmm(args as never);
    }) as never,
  });
  const concat = tf.getKernel("Concat", "wasm")!;
  const origConcat = concat.kernelFunc;
  tf.unregisterKernel("Concat", "wasm");
  tf.registerKernel({
    kernelName: "Concat",
    backendName: "wasm",
    kernelFunc: ((args: KernelArgs) => {
      const xs = Object.values(args.inputs) as tf.TensorInfo[];
      const rank = xs[0]?.shape.length ?? 0;
      if (
        xs.length < 2 || rank === 0 ||
        xs.some((x) => x.dtype !== "float32" || x.shape.some((d) => d === 0))
      ) {
        return origConcat(args as never);
      }
      const a = (args.attrs as unknown as { axis: number | number[] }).axis;
      const axis = ((Array.isArray(a) ? a[0] : a) + rank) % rank;
      const outShape = xs[0].shape.map((
        d,
        i,
      ) => (i === axis ? xs.reduce((s, x) => s + x.shape[axis], 0) : d));
      return withArrays(args.backend, xs, [outShape], (ins, [out]) => {
        concatInto(ins, xs.map((x) => x.shape), axis, out);
      })[0];
    }) as never,
  });
  const conv = tf.getKernel("Conv2D", "wasm")!;
  const origConv = conv.kernelFunc, setupConv = conv.setupFunc;
  tf.unregisterKernel("Conv2D", "wasm");
  tf.registerKernel({
    kernelName: "Conv2D",
    backendName: "wasm",
    setupFunc: setupConv,
    kernelFunc: ((args: KernelArgs) => {
      const x = args.inputs.x as tf.TensorInfo, f = args.inputs.filter as tf.TensorInfo;
      const d = nativeConv ? sameConvDims(x, f, args.attrs as unknown as ConvAttrs) : null;
      if (!d || !nativeConv) return origConv(args as never);
      const c = nativeConv;
      return withArrays(args.backend, [x, f], [[d.batch, d.height, d.width, d.outC]], (
        [xv, fv],
        [yv],
      ) => c.conv2dSame(d, xv, fv, yv))[0];
    }) as never,
  });
  tf.registerKernel({
    kernelName: CONV_FILTER_GRAD,
    backendName: "wasm",
    kernelFunc: ((args: KernelArgs) => {
      const x = args.inputs.x as tf.TensorInfo, dy = args.inputs.dy as tf.TensorInfo;
      const k = (args.attrs as unknown as { k: number }).k;
      const [batch, height, width, inC] = x.shape, outC = dy.shape[3];
      if (!nativeConv) throw new Error(`${CONV_FILTER_GRAD} needs the native library`);
      const c = nativeConv, d = { batch, height, width, inC, outC, k };
      return withArrays(
        args.backend,
        [x, dy],
        [[k, k, inC, outC]],
        ([xv, dyv], [dw]) => c.conv2dSameFilterGrad(d, xv, dyv, dw),
      )[0];
    }) as never,
  });
  for (const name of ["Sum", "Mean"]) {
    const k = tf.getKernel(name, "wasm")!;
    const orig = k.kernelFunc;
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel({
      kernelName: name,
      backendName: "wasm",
      setupFunc: k.setupFunc,
      kernelFunc: ((args: KernelArgs) =>
        reduceLeading(args, name === "Mean") ?? orig(args as never)) as never,
    });
  }
  // The stock wasm Identity copies its input; tf.grad clones every tensor it saves for the
  // backward pass, so share the buffer instead (as the cpu backend and wasm's Reshape do).
  tf.unregisterKernel("Identity", "wasm");
  tf.registerKernel({
    kernelName: "Identity",
    backendName: "wasm",
    kernelFunc: ((args: KernelArgs) => {
      const x = args.inputs.x as tf.TensorInfo;
      (args.backend as WasmBackend).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    }) as never,
  });
  tf.registerKernel({ kernelName: "Slice", backendName: "wasm", kernelFunc: fastSlice as never });
  tf.registerKernel({ kernelName: "SplitV", backendName: "wasm", kernelFunc: fastSplit as never });
  (tf.getKernel("Slice", "wasm") as unknown as { starmamba?: boolean }).starmamba = true;
}
