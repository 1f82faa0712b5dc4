/**
 * SS2D, the 2-D selective-scan module of VMamba used in MedMamba's SSM branch.
 *
 *   in_proj (d_model → 2·d_inner) → split x, z
 *   x → depthwise conv 3×3 → SiLU → cross-scan into K sequences (B, K, d_inner, L)
 *   per direction: x_proj (d_inner → dt_rank + 2N) → delta, B, C; dt_proj (dt_rank → d_inner)
 *   selective scan (A = −exp(A_log), D, delta bias, softplus) → cross-merge
 *   → LayerNorm → · SiLU(z) → out_proj (d_inner → d_model)
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { initDepthwise, initLayerNorm, initLinear, layerNorm, linear, silu } from "./layers.ts";
import { depthwise } from "./layers.ts";
import type { ParamStore } from "./params.ts";
import { uniform } from "./params.ts";
import type { Rng } from "../util/rng.ts";
import { fusedSS2D, ss2dCore, ss2dCoreReference } from "../ops/ss2d_core.ts";

/** Sizes of one SS2D module. */
export interface SS2DDims {
  /** Channels in and out of the module. */
  d_model: number;
  /** Channels of the expanded x and z branches (2·d_model). */
  d_inner: number;
  /** Rank of the low-rank delta projection (x_proj → dt_proj). */
  dt_rank: number;
  /** SSM state size N per channel (length of B and C). */
  d_state: number;
  /** Scan directions: 1, 2 or 4. */
  K: number;
}

/** d_inner = 2·d_model, dt_rank = ⌈d_model/16⌉ (VMamba defaults). */
export function ss2dDims(dModel: number, dState: number, K: number): SS2DDims {
  return {
    d_model: dModel,
    d_inner: 2 * dModel,
    dt_rank: Math.ceil(dModel / 16),
    d_state: dState,
    K,
  };
}

/** Adds the parameters of one SS2D module under `name`. */
export function initSS2D(ps: ParamStore, name: string, dims: SS2DDims, r: Rng): void {
  const { d_model: dm, d_inner: di, dt_rank: R, d_state: N, K } = dims;
  initLinear(ps, `${name}.in_proj`, dm, 2 * di, false, r);
  initDepthwise(ps, `${name}.conv2d`, 3, di, r);
  ps.add(
    `${name}.x_proj_weight`,
    [K, R + 2 * N, di],
    uniform(K * (R + 2 * N) * di, 1 / Math.sqrt(di), r),
  );
  ps.add(`${name}.dt_projs_weight`, [K, di, R], uniform(K * di * R, R ** -0.5, r));
  // Mamba's dt init: dt log-uniform in [1e-3, 0.1] (floored at 1e-4), bias = softplus⁻¹(dt).
  const bias = new Float32Array(K * di);
  for (let i = 0; i < bias.length; i++) {
    const dt = Math.max(Math.exp(r.uniform(Math.log(1e-3), Math.log(0.1))), 1e-4);
    bias[i] = dt + Math.log(-Math.expm1(-dt));
  }
  ps.add(`${name}.dt_projs_bias`, [K, di], bias);
  // S4D-real: A_log[n] = log(n + 1), one copy per channel and direction.
  const aLog = new Float32Array(K * di * N);
  for (let i = 0; i < aLog.length; i++) aLog[i] = Math.log((i % N) + 1);
  ps.add(`${name}.A_logs`, [K * di, N], aLog);
  ps.add(`${name}.Ds`, [K * di], new Float32Array(K * di).fill(1));
  initLayerNorm(ps, `${name}.out_norm`, di);
  initLinear(ps, `${name}.out_proj`, di, dm, false, r);
}

/**
 * SS2D forward: (B, H, W, d_model) → (B, H, W, d_model). The core (cross-scan … cross-merge)
 * runs as one fused native op when the native kernel is active, else as separate tfjs ops;
 * `fused: false` forces the latter (the reference the fused op is tested against).
 */
export function ss2d(
  ps: ParamStore,
  name: string,
  x: tf.Tensor4D,
  dims: SS2DDims,
  opts: { fused?: boolean } = {},
): tf.Tensor4D {
  const { d_inner: di } = dims;
  const xz = linear(ps, `${name}.in_proj`, x, false);
  const [xp, z] = tf.split(xz, 2, 3) as tf.Tensor4D[];
  const xc = silu(depthwise(ps, `${name}.conv2d`, xp)) as tf.Tensor4D;
  const A = tf.neg(tf.exp(ps.get(`${name}.A_logs`))) as tf.Tensor2D;
  const bias = tf.reshape(ps.get(`${name}.dt_projs_bias`), [dims.K * di]) as tf.Tensor1D;
  const D = ps.get(`${name}.Ds`) as tf.Tensor1D;
  const Wx = ps.get(`${name}.x_proj_weight`) as tf.Tensor3D;
  const Wdt = ps.get(`${name}.dt_projs_weight`) as tf.Tensor3D;
  const merged = (opts.fused ?? true) && fusedSS2D()
    ? ss2dCore(xc, Wx, Wdt, bias, A, D)
    : ss2dCoreReference(xc, Wx, Wdt, bias, A, D, dims);
  const gated = tf.mul(layerNorm(ps, `${name}.out_norm`, merged), silu(z));
  return linear(ps, `${name}.out_proj`, gated, false) as tf.Tensor4D;
}
