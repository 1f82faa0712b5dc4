/**
 * Functional building blocks of the networks on NHWC tensors: MedMamba's, and the ConvNet's
 * (unpadded convolution, leaky ReLU, 2×2 max pooling, dropout). Each layer with parameters has an
 * `init*` function that adds them to a {@link ParamStore} under a prefix, and an apply function
 * that reads them back by name.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { constant, normal, type ParamStore, truncNormal, uniform } from "./params.ts";
import type { Rng } from "../util/rng.ts";
import {
  batchNormTrainOps,
  batchNormWith,
  fusedNorm,
  fusedNormAvailable,
  layerNormOps,
  NORM_EPS,
} from "../ops/norm.ts";
import { spaceToDepth, spaceToDepthAvailable, spaceToDepthOps } from "../ops/space_to_depth.ts";

/** Per-call state: training mode, the DropPath stream, and BatchNorm statistics to commit. */
export interface ForwardContext {
  /** Training mode: batch statistics in BatchNorm, DropPath active. */
  training: boolean;
  /** Stream for DropPath masks (required when training with drop_path_rate > 0). */
  rng?: Rng;
  /** Running-statistics updates collected during a training forward; the trainer commits them. */
  bnUpdates: { variable: tf.Variable; value: tf.Tensor }[];
}

/** A fresh evaluation context. */
export function evalContext(): ForwardContext {
  return { training: false, bnUpdates: [] };
}

const BN_MOMENTUM = 0.1;

/** Linear layer: weight [in, out] truncated-normal σ = 0.02, optional zero bias. */
export function initLinear(
  ps: ParamStore,
  name: string,
  fin: number,
  fout: number,
  bias: boolean,
  r: Rng,
): void {
  ps.add(`${name}.weight`, [fin, fout], truncNormal(fin * fout, 0.02, r));
  if (bias) ps.add(`${name}.bias`, [fout], constant(fout, 0));
}

/** y = x·W (+ b) over the last axis, any leading shape. */
export function linear(ps: ParamStore, name: string, x: tf.Tensor, bias: boolean): tf.Tensor {
  const w = ps.get(`${name}.weight`);
  const [fin, fout] = w.shape;
  const lead = x.shape.slice(0, -1);
  let y = tf.matMul(tf.reshape(x, [-1, fin]), w);
  if (bias) y = tf.add(y, ps.get(`${name}.bias`));
  return tf.reshape(y, [...lead, fout]);
}

/** LayerNorm over the last axis: γ = 1, β = 0. */
export function initLayerNorm(ps: ParamStore, name: string, dim: number): void {
  ps.add(`${name}.weight`, [dim], constant(dim, 1));
  ps.add(`${name}.bias`, [dim], constant(dim, 0));
}

/** LayerNorm over the last axis (one fused op on cpu and wasm). */
export function layerNorm(ps: ParamStore, name: string, x: tf.Tensor): tf.Tensor {
  const w = ps.get(`${name}.weight`), b = ps.get(`${name}.bias`);
  if (fusedNormAvailable()) return fusedNorm(x, w, b, "row", NORM_EPS).y;
  return layerNormOps(x, w, b);
}

/** BatchNorm2d (NHWC): γ, β trainable; running mean/var not. */
export function initBatchNorm(ps: ParamStore, name: string, dim: number): void {
  ps.add(`${name}.weight`, [dim], constant(dim, 1));
  ps.add(`${name}.bias`, [dim], constant(dim, 0));
  ps.add(`${name}.running_mean`, [dim], constant(dim, 0), false);
  ps.add(`${name}.running_var`, [dim], constant(dim, 1), false);
}

/**
 * BatchNorm2d on NHWC. Training: batch statistics, and the PyTorch running-stat update
 * (momentum 0.1, unbiased variance) is queued in ctx.bnUpdates.
 */
export function batchNorm(
  ps: ParamStore,
  name: string,
  x: tf.Tensor4D,
  ctx: ForwardContext,
): tf.Tensor4D {
  const gamma = ps.get(`${name}.weight`), beta = ps.get(`${name}.bias`);
  const rm = ps.get(`${name}.running_mean`), rv = ps.get(`${name}.running_var`);
  if (!ctx.training) return batchNormWith(x, rm, rv, gamma, beta);
  const { y, mean, variance } = fusedNormAvailable()
    ? fusedNorm(x, gamma, beta, "col", NORM_EPS)
    : batchNormTrainOps(x, gamma, beta);
  const n = x.size / x.shape[3];
  const unbiased = tf.mul(variance, n / Math.max(n - 1, 1));
  ctx.bnUpdates.push({
    variable: rm,
    value: tf.keep(tf.add(tf.mul(rm, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM))),
  });
  ctx.bnUpdates.push({
    variable: rv,
    value: tf.keep(tf.add(tf.mul(rv, 1 - BN_MOMENTUM), tf.mul(unbiased, BN_MOMENTUM))),
  });
  return y as tf.Tensor4D;
}

/**
 * Conv k×k (stride 1, SAME) with bias, weight [k, k, in, out]: He normal, fan-out (as the
 * reference's kaiming_normal_(mode="fan_out")); bias uniform ±1/√fan_in (PyTorch's default).
 */
export function initConv(
  ps: ParamStore,
  name: string,
  k: number,
  cin: number,
  cout: number,
  r: Rng,
): void {
  initConvWeight(ps, name, k, cin, cout, r);
  ps.add(`${name}.bias`, [cout], uniform(cout, 1 / Math.sqrt(k * k * cin), r));
}

/** `<name>.weight` of a conv k×k, cin → cout, HWIO: He normal, fan-out (kaiming_normal_). */
export function initConvWeight(
  ps: ParamStore,
  name: string,
  k: number,
  cin: number,
  cout: number,
  r: Rng,
): void {
  ps.add(
    `${name}.weight`,
    [k, k, cin, cout],
    normal(k * k * cin * cout, Math.sqrt(2 / (k * k * cout)), r),
  );
}

/** Conv k×k, stride 1, SAME, with bias. 1×1 convs run as a matmul. */
export function conv(ps: ParamStore, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const w = ps.get(`${name}.weight`) as tf.Tensor4D;
  const b = ps.get(`${name}.bias`);
  if (w.shape[0] === 1) {
    const [n, h, wd, c] = x.shape;
    const y = tf.matMul(tf.reshape(x, [n * h * wd, c]), tf.reshape(w, [c, w.shape[3]]));
    return tf.reshape(tf.add(y, b), [n, h, wd, w.shape[3]]);
  }
  return tf.add(tf.conv2d(x, w, 1, "same"), b) as tf.Tensor4D;
}

/** Depthwise conv k×k with bias, weight [k, k, C, 1] (PyTorch groups = C). */
export function initDepthwise(ps: ParamStore, name: string, k: number, c: number, r: Rng): void {
  ps.add(`${name}.weight`, [k, k, c, 1], normal(k * k * c, Math.sqrt(2 / (k * k * c)), r));
  ps.add(`${name}.bias`, [c], uniform(c, 1 / Math.sqrt(k * k), r));
}

/** Depthwise conv, stride 1, SAME, with bias. */
export function depthwise(ps: ParamStore, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const w = ps.get(`${name}.weight`) as tf.Tensor4D;
  return tf.add(tf.depthwiseConv2d(x, w, 1, "same"), ps.get(`${name}.bias`)) as tf.Tensor4D;
}

/** SiLU(x) = x·σ(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * DropPath (stochastic depth): zero whole samples with probability p, scale the rest by
 * 1/(1−p). The mask comes from ctx.rng so runs are reproducible.
 */
export function dropPath(x: tf.Tensor4D, p: number, ctx: ForwardContext): tf.Tensor4D {
  const mask = dropPathMask(x.shape[0], p, ctx);
  if (!mask) return x;
  return tf.mul(x, tf.tensor4d(mask, [mask.length, 1, 1, 1]));
}

/**
 * DropPath's per-sample scales: 0 with probability p, else 1/(1 − p), drawn from ctx.rng in
 * sample order; null when inactive (eval, or p = 0: no draws).
 */
export function dropPathMask(batch: number, p: number, ctx: ForwardContext): Float32Array | null {
  if (!ctx.training || p <= 0) return null;
  if (!ctx.rng) throw new Error("dropPath in training needs ctx.rng");
  const mask = new Float32Array(batch);
  for (let i = 0; i < batch; i++) mask[i] = ctx.rng.next() < 1 - p ? 1 / (1 - p) : 0;
  return mask;
}

/**
 * Channel shuffle (ShuffleNet) with `groups` groups on the last axis: channel g·(C/G) + i
 * moves to i·G + g.
 */
export function channelShuffle(x: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const t = tf.transpose(tf.reshape(x, [b * h * w, groups, c / groups]), [0, 2, 1]);
  return tf.reshape(t, [b, h, w, c]);
}

/**
 * PatchEmbed: a k = s = p convolution to C channels, computed as space-to-depth + matmul (the
 * same maths; no strided-conv gradient needed), then LayerNorm. Weight [p, p, in, C].
 */
export function initPatchEmbed(
  ps: ParamStore,
  name: string,
  p: number,
  cin: number,
  dim: number,
  r: Rng,
): void {
  ps.add(
    `${name}.proj.weight`,
    [p, p, cin, dim],
    normal(p * p * cin * dim, Math.sqrt(2 / (p * p * dim)), r),
  );
  ps.add(`${name}.proj.bias`, [dim], uniform(dim, 1 / Math.sqrt(p * p * cin), r));
  initLayerNorm(ps, `${name}.norm`, dim);
}

/** PatchEmbed forward: (B, H, W, in) → (B, H/p, W/p, C). */
export function patchEmbed(ps: ParamStore, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const w = ps.get(`${name}.proj.weight`);
  const [p, , cin, dim] = w.shape;
  const [b, h, wd] = x.shape;
  const hp = h / p, wp = wd / p;
  // (B, hp, p, wp, p·cin) → (B, hp, wp, p, p·cin): patch pixels in (row, col, channel) order
  const cols = tf.transpose(tf.reshape(x, [b * hp, p, wp, p * cin]), [0, 2, 1, 3]);
  let y = tf.matMul(
    tf.reshape(cols, [b * hp * wp, p * p * cin]),
    tf.reshape(w, [p * p * cin, dim]),
  );
  y = tf.add(y, ps.get(`${name}.proj.bias`));
  return layerNorm(ps, `${name}.norm`, tf.reshape(y, [b, hp, wp, dim])) as tf.Tensor4D;
}

/** PatchMerging: LayerNorm(4C) then Linear(4C → 2C, no bias). */
export function initPatchMerging(ps: ParamStore, name: string, dim: number, r: Rng): void {
  initLayerNorm(ps, `${name}.norm`, 4 * dim);
  initLinear(ps, `${name}.reduction`, 4 * dim, 2 * dim, false, r);
}

/**
 * PatchMerging forward: concatenates the 2×2 neighbourhood in the order
 * x[0::2,0::2], x[1::2,0::2], x[0::2,1::2], x[1::2,1::2] (as VMamba), halving H and W.
 */
export function patchMerging(ps: ParamStore, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const cat = spaceToDepthAvailable() ? spaceToDepth(x) : spaceToDepthOps(x);
  const y = layerNorm(ps, `${name}.norm`, cat);
  return linear(ps, `${name}.reduction`, y, false) as tf.Tensor4D;
}

/**
 * Conv k×k, stride 1, VALID (no padding), with bias: (B, H, W, in) → (B, H−k+1, W−k+1, out).
 * Computed as the SAME convolution cropped by (k−1)/2 on each side — the same numbers, since
 * every output of the crop sees no padding — because the SAME convolution is the one with a
 * native kernel and a registered gradient on every backend (lib/ops/grads.ts).
 */
export function convValid(ps: ParamStore, name: string, x: tf.Tensor4D): tf.Tensor4D {
  const k = ps.get(`${name}.weight`).shape[0];
  const p = (k - 1) / 2;
  const [b, h, w] = x.shape;
  const y = conv(ps, name, x);
  if (p === 0) return y;
  return tf.slice(y, [0, p, p, 0], [b, h - 2 * p, w - 2 * p, y.shape[3]]);
}

/** Leaky ReLU: x for x ≥ 0, `slope`·x below (Maas et al. 2013). */
export function leakyRelu(x: tf.Tensor, slope: number): tf.Tensor {
  return tf.leakyRelu(x, slope);
}

/**
 * Max pooling over 2×2 windows with stride 2 and no padding; an odd last row or column is
 * dropped (floor: Lasagne's `ignore_border=True`, PyTorch's `MaxPool2d(2)`). tfjs's MaxPool; its
 * gradient routes each window's gradient to the window's first maximum in row-major order (as
 * TensorFlow and PyTorch do) on every backend: on wasm through starmamba's MaxPoolGrad
 * (lib/backends/wasm/kernels/max_pool_grad.ts), tfjs-backend-wasm 4.22's own being wrong on some
 * shapes.
 */
export function maxPool2x2(x: tf.Tensor4D): tf.Tensor4D {
  return tf.maxPool(x, 2, 2, "valid");
}

/**
 * Dropout (Hinton et al. 2012) in training: each element is zeroed with probability p and the
 * rest scaled by 1/(1 − p) (so evaluation is the identity). The mask is drawn from ctx.rng, one
 * draw per element in row-major order, so a run's seed fixes it; no draws when inactive.
 */
export function dropout(x: tf.Tensor, p: number, ctx: ForwardContext): tf.Tensor {
  if (!ctx.training || p <= 0) return x;
  if (!ctx.rng) throw new Error("dropout in training needs ctx.rng");
  const mask = new Float32Array(x.size);
  const keep = 1 / (1 - p);
  for (let i = 0; i < mask.length; i++) mask[i] = ctx.rng.next() < 1 - p ? keep : 0;
  return tf.mul(x, tf.tensor(mask, x.shape));
}
