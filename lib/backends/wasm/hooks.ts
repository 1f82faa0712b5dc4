/**
 * The native library's entry points as the wasm backend's kernels call them ("hooks"): set by
 * lib/backends/select.ts when the library loads (native.ts), read by the kernels while the wasm
 * backend is active (the library works on the wasm heap only). Each hook is null when the
 * library is not loaded, and the kernels fall back to XNNPACK or TypeScript.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

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
 * Routes the wasm backend's stride-1 SAME Conv2D (and its filter gradient) to the native
 * convolutions, or back to XNNPACK with null.
 */
export function setNativeConv(c: NativeConv | null): void {
  nativeConv = c;
}

/** The native gemm while it is set and the wasm backend is active, else null. */
export function activeNativeGemm(): Gemm | null {
  return onWasm(nativeGemm);
}

/** The native convolutions while they are set and the wasm backend is active, else null. */
export function activeNativeConv(): NativeConv | null {
  return onWasm(nativeConv);
}
