/**
 * The native library's entry points as the wasm backend's kernels call them ("hooks"): one
 * object per process, {@link NativeHooks}, filled when the runtime loads the library
 * (openRuntime → selectScanKernel, lib/backends/select.ts) and emptied by the runtime's close().
 * The kernels read it while the wasm backend is active (the library works on the wasm heap only).
 * Each hook is null when the library is not loaded, and the kernels fall back to XNNPACK or
 * TypeScript.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { AdamScalars } from "../../ops/adam.ts";
import type { PoolGeometry } from "./kernels/max_pool_grad.ts";

export type { AdamScalars };

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

/** A native moving-average update: shadow = d·shadow + (1 − d)·weights, for each pair. */
export type NativeEma = (pairs: [Float32Array, Float32Array][], d: number) => void;

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

/**
 * Native convolutions: stride-1 SAME forward and filter gradient; and (the library has them; a
 * test's stand-in may not) strided ones with PyTorch's padding (k − 1)/2, where `d` gives the
 * input's sides and the output's are ⌊(side − 1)/stride⌋ + 1.
 */
export interface NativeConv {
  /** y (B,H,W,Co) = x (B,H,W,Ci) convolved with w (k,k,Ci,Co): stride 1, SAME, NHWC. */
  conv2dSame(d: ConvDims, x: Float32Array, w: Float32Array, y: Float32Array): void;
  /** dW (k,k,Ci,Co) of {@link NativeConv.conv2dSame} given x and dy (B,H,W,Co). */
  conv2dSameFilterGrad(d: ConvDims, x: Float32Array, dy: Float32Array, dw: Float32Array): void;
  /** y (B,Ho,Wo,Co) = x (B,H,W,Ci) convolved with w (k,k,Ci,Co) at `stride`, padding (k − 1)/2. */
  conv2dStrided?(
    d: ConvDims,
    stride: number,
    x: Float32Array,
    w: Float32Array,
    y: Float32Array,
  ): void;
  /** dW (k,k,Ci,Co) of {@link NativeConv.conv2dStrided} given x and dy (B,Ho,Wo,Co). */
  conv2dStridedFilterGrad?(
    d: ConvDims,
    stride: number,
    x: Float32Array,
    dy: Float32Array,
    dw: Float32Array,
  ): void;
  /** dx (B,H,W,Ci) of {@link NativeConv.conv2dStrided} given dy (B,Ho,Wo,Co) and w. */
  conv2dStridedInputGrad?(
    d: ConvDims,
    stride: number,
    dy: Float32Array,
    w: Float32Array,
    dx: Float32Array,
  ): void;
  /**
   * The stride-1 input gradient's filter flip (lib/ops/grads.ts's FLIP_FILTER): out[kh, kw] =
   * w[k − 1 − kh, k − 1 − kw], each (ci, co) plane transposed to (co, ci) when `swap`.
   */
  flipFilter?(
    k: number,
    ci: number,
    co: number,
    swap: boolean,
    w: Float32Array,
    out: Float32Array,
  ): void;
  /**
   * The CNNs' pooling gradient beside their convolutions: dx (x's shape) of a max pooling of
   * geometry `g`, each dy to its window's first maximum (native/cpu/pool.c).
   */
  maxPoolGrad?(g: PoolGeometry, x: Float32Array, dy: Float32Array, dx: Float32Array): void;
  /** The CNNs' activation: y = x < 0 ? α·x : x in float32, on every core. */
  leakyRelu?(alpha: number, x: Float32Array, y: Float32Array): void;
  /** Its gradient as tfjs-core's: dx = x > 0 ? dy : α·dy in float32, on every core. */
  leakyReluGrad?(alpha: number, x: Float32Array, dy: Float32Array, dx: Float32Array): void;
}

/** Every native entry point the wasm backend's kernels may call; null where none is loaded. */
export interface NativeHooks {
  /** BatchMatMul's multi-threaded matmul (else XNNPACK). */
  gemm: Gemm | null;
  /** Stride-1 SAME Conv2D and its filter gradient (else XNNPACK / im2col in TypeScript). */
  conv: NativeConv | null;
  /** The optimiser's Adam update of every tensor at once (else the TypeScript loop). */
  adam: NativeAdam | null;
  /** The fused LayerNorm / BatchNorm (else the TypeScript loops). */
  norm: NativeNorm | null;
  /** The moving average of the weights (else the TypeScript loop). */
  ema: NativeEma | null;
  /** The fused SS-Conv-SSM block (else the model composes it from ops). */
  block: NativeBlock | null;
}

/** No native library: every kernel on its fallback. */
export const NO_NATIVE_HOOKS: Readonly<NativeHooks> = {
  gemm: null,
  conv: null,
  adam: null,
  norm: null,
  ema: null,
  block: null,
};

/** The one set of hooks of this process (its fields change; the object does not). */
const hooks: NativeHooks = { ...NO_NATIVE_HOOKS };

/**
 * Sets the hooks named in `h` (the others stay): the runtime sets all of them at once when it
 * loads the native library; tests swap one (e.g. `{ gemm: null }` for the XNNPACK path).
 */
export function setNativeHooks(h: Partial<NativeHooks>): void {
  Object.assign(hooks, h);
}

/** The hooks as set now, whatever the active backend (for the runtime's record and tests). */
export function nativeHooks(): Readonly<NativeHooks> {
  return hooks;
}

/** The native gemm while it is set and the wasm backend is active, else null. */
export function activeNativeGemm(): Gemm | null {
  return onWasm(hooks.gemm);
}

/** The native convolutions while they are set and the wasm backend is active, else null. */
export function activeNativeConv(): NativeConv | null {
  return onWasm(hooks.conv);
}

/** The native Adam update when one is set and the wasm backend is active, else null. */
export function activeNativeAdam(): NativeAdam | null {
  return onWasm(hooks.adam);
}

/** The native normalisation when one is set and the wasm backend is active, else null. */
export function activeNativeNorm(): NativeNorm | null {
  return onWasm(hooks.norm);
}

/** The native moving-average update when one is set and the wasm backend is active, else null. */
export function activeNativeEma(): NativeEma | null {
  return onWasm(hooks.ema);
}

/** The native fused block when one is set and the wasm backend is active, else null. */
export function activeNativeBlock(): NativeBlock | null {
  return onWasm(hooks.block);
}
