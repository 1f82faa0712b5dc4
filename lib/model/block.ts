/**
 * The SS-Conv-SSM block of a network through the fused op (lib/ops/ss_conv_ssm.ts): maps the
 * block's named parameters onto the op's slots, draws the DropPath mask as the tensor-op block
 * does, and queues the BatchNorm running updates in ctx.bnUpdates. medmamba.ts's `blockOps` is
 * the same block as tensor ops, the reference and the path where the fused op cannot run.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type BlockSlot, ssConvSsm, ssConvSsmAvailable } from "../ops/ss_conv_ssm.ts";
import type { ModelConfig } from "./config.ts";
import type { ParamStore } from "./params.ts";
import type { SS2DDims } from "./ss2d.ts";
import { dropPathMask, type ForwardContext } from "./layers.ts";

/** The parameter each slot reads, relative to the block's name (null: not a parameter). */
const PARAM_OF: Record<BlockSlot, string | null> = {
  x: null,
  mask: null,
  ln1_g: "ln_1.weight",
  ln1_b: "ln_1.bias",
  w_in: "self_attention.in_proj.weight",
  w_dw: "self_attention.conv2d.weight",
  b_dw: "self_attention.conv2d.bias",
  w_x: "self_attention.x_proj_weight",
  w_dt: "self_attention.dt_projs_weight",
  dt_bias: "self_attention.dt_projs_bias",
  a_log: "self_attention.A_logs",
  d: "self_attention.Ds",
  lno_g: "self_attention.out_norm.weight",
  lno_b: "self_attention.out_norm.bias",
  w_out: "self_attention.out_proj.weight",
  bn0_g: "conv33conv33conv11.bn0.weight",
  bn0_b: "conv33conv33conv11.bn0.bias",
  bn0_rm: "conv33conv33conv11.bn0.running_mean",
  bn0_rv: "conv33conv33conv11.bn0.running_var",
  w1: "conv33conv33conv11.conv1.weight",
  b1: "conv33conv33conv11.conv1.bias",
  bn1_g: "conv33conv33conv11.bn1.weight",
  bn1_b: "conv33conv33conv11.bn1.bias",
  bn1_rm: "conv33conv33conv11.bn1.running_mean",
  bn1_rv: "conv33conv33conv11.bn1.running_var",
  w2: "conv33conv33conv11.conv2.weight",
  b2: "conv33conv33conv11.conv2.bias",
  bn2_g: "conv33conv33conv11.bn2.weight",
  bn2_b: "conv33conv33conv11.bn2.bias",
  bn2_rm: "conv33conv33conv11.bn2.running_mean",
  bn2_rv: "conv33conv33conv11.bn2.running_var",
  w3: "conv33conv33conv11.conv3.weight",
  b3: "conv33conv33conv11.conv3.bias",
};

/**
 * Whether blocks of `cfg` can run fused now: the backend offers the op (wasm with the native
 * library). A half switched off (the branch ablations) passes its input through in the op too.
 */
export function fusedBlockAvailable(cfg: ModelConfig): boolean {
  return ssConvSsmAvailable() && (cfg.conv_branch || cfg.ssm_branch);
}

/**
 * One SS-Conv-SSM block through the fused op: the same maths, parameters, DropPath draws and
 * BatchNorm running updates as the tensor-op block. x (B, H, W, C).
 */
export function fusedBlock(
  ps: ParamStore,
  name: string,
  x: tf.Tensor4D,
  cfg: ModelConfig,
  dims: SS2DDims,
  dropRate: number,
  ctx: ForwardContext,
): tf.Tensor4D {
  const params: Partial<Record<BlockSlot, tf.Variable>> = {};
  for (const [slot, suffix] of Object.entries(PARAM_OF) as [BlockSlot, string | null][]) {
    if (suffix === null || (slot.startsWith("bn0") && !cfg.conv_pre_bn)) continue;
    const conv = suffix.startsWith("conv33conv33conv11.");
    if (conv ? !cfg.conv_branch : !cfg.ssm_branch) continue; // that half is off
    params[slot] = ps.get(`${name}.${suffix}`);
  }
  const { y, running } = ssConvSsm(x, params, {
    training: ctx.training,
    preBn: cfg.conv_pre_bn,
    residual: cfg.ssm_residual,
    convBranch: cfg.conv_branch,
    ssmBranch: cfg.ssm_branch,
    // DropPath sits in the SSM half: without it no mask is drawn (blockOps draws none either,
    // so the random streams stay aligned).
    mask: cfg.ssm_branch ? dropPathMask(x.shape[0], dropRate, ctx) : null,
    K: dims.K,
    N: dims.d_state,
    R: dims.dt_rank,
  });
  for (const [slot, value] of Object.entries(running) as [BlockSlot, tf.Tensor][]) {
    ctx.bnUpdates.push({ variable: params[slot]!, value });
  }
  return y;
}
