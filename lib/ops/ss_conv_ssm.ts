/**
 * MedMamba's SS-Conv-SSM block as one fused op (native/cpu/block.c), forward and backward: the
 * channel split, both halves (conv: [BN] → Conv3×3 → BN → ReLU → Conv3×3 → BN → ReLU → Conv1×1 →
 * ReLU; SSM: LN → SS2D → DropPath [+ input]), the channel shuffle and the residual. Its reference
 * is the same block as tensor ops, `blockOps` in lib/model/medmamba.ts (built from the model's
 * layers, hence there): tests/block_fused_test.ts compares every output and gradient. The kernels
 * are lib/backends/wasm/kernels/ss_conv_ssm.ts (wasm with the native library only); lib/model/
 * block.ts maps a network's parameters onto the op's slots.
 *
 * As tensor ops a `cpu`-preset training step dispatched ~1,700 kernels, most of them the glue
 * around the native ones (channel split and concatenation, the shuffle, BatchNorm and ReLU
 * chains, SiLU gates, broadcasts, tf.grad's bookkeeping) on one thread; fused, a block is one
 * call forward and one backward, on every core.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { capabilities } from "./capabilities.ts";

/** Kernel names: training forward (saves activations), eval forward, backward. */
export const BLOCK = "StarmambaBlock";
/** The eval forward (running BatchNorm statistics, nothing saved; no gradient). */
export const BLOCK_EVAL = "StarmambaBlockEval";
/** The backward: gradients of x and of every trainable input. */
export const BLOCK_GRAD = "StarmambaBlockGrad";

/** Flag bits of the op's int table (block.c's F_*). */
export const BLOCK_FLAGS = {
  train: 1,
  preBn: 2,
  residual: 4,
  mask: 8,
  /** The conv half off (model.conv_branch false): c = left, its slots absent. */
  noConv: 16,
  /** The SSM half off (model.ssm_branch false): s = right, its slots absent. */
  noSsm: 32,
} as const;

/**
 * The op's inputs in block.c's pointer-table order (P_*): the block input, the DropPath mask,
 * then the SSM half's and the conv half's parameters (γ/β of norms, weights, biases, BatchNorm
 * running statistics).
 */
export const BLOCK_SLOTS = [
  "x",
  "mask",
  "ln1_g",
  "ln1_b",
  "w_in",
  "w_dw",
  "b_dw",
  "w_x",
  "w_dt",
  "dt_bias",
  "a_log",
  "d",
  "lno_g",
  "lno_b",
  "w_out",
  "bn0_g",
  "bn0_b",
  "bn0_rm",
  "bn0_rv",
  "w1",
  "b1",
  "bn1_g",
  "bn1_b",
  "bn1_rm",
  "bn1_rv",
  "w2",
  "b2",
  "bn2_g",
  "bn2_b",
  "bn2_rm",
  "bn2_rv",
  "w3",
  "b3",
] as const;

/** One input slot of the op. */
export type BlockSlot = typeof BLOCK_SLOTS[number];

/** BatchNorm running statistics: inputs of the eval forward, outputs (updated) of training. */
export const BLOCK_RUNNING = ["bn0_rm", "bn0_rv", "bn1_rm", "bn1_rv", "bn2_rm", "bn2_rv"] as const;
/** Inputs with a gradient, in block.c's G_* order: x, then every trainable parameter. */
export const BLOCK_DIFFERENTIABLE = BLOCK_SLOTS.filter((s) =>
  s !== "mask" && !(BLOCK_RUNNING as readonly string[]).includes(s)
);
/** Activations the training forward saves for the backward (block.c's O_T1 … O_M). */
export const BLOCK_SAVED = ["t1", "t2", "c", "xz", "v", "m"] as const;
/** Those of the conv half (the rest are the SSM half's). */
const CONV_SAVED: readonly string[] = ["t1", "t2", "c"];

/** The saved activations of a block with these halves on, in {@link BLOCK_SAVED}'s order. */
export function savedOf(convBranch: boolean, ssmBranch: boolean): string[] {
  return BLOCK_SAVED.filter((s) => CONV_SAVED.includes(s) ? convBranch : ssmBranch);
}

/** The op's attributes (the int table after the shape). */
export interface BlockAttrs {
  /** {@link BLOCK_FLAGS} bits. */
  flags: number;
  /** Scan directions. */
  K: number;
  /** State size. */
  N: number;
  /** dt_rank. */
  R: number;
}

/** Switches and sizes of one call of {@link ssConvSsm}. */
export interface BlockOptions {
  /** Training mode: batch statistics, activations saved, DropPath mask applied. */
  training: boolean;
  /** The conv half's leading BatchNorm (bn0 slots present). */
  preBn: boolean;
  /** The SSM half adds its input back. */
  residual: boolean;
  /** The conv half on (else it passes its input through; its slots absent). */
  convBranch: boolean;
  /** The SSM half on (else it passes its input through; its slots absent, no mask). */
  ssmBranch: boolean;
  /** DropPath scale per sample (training only), or null. */
  mask: Float32Array | null;
  /** Scan directions of the SS2D core. */
  K: number;
  /** State size of the SS2D core. */
  N: number;
  /** dt_rank of the SS2D core. */
  R: number;
}

/** Whether the fused block can run on the active backend now. */
export function ssConvSsmAvailable(): boolean {
  return capabilities().ssConvSsm();
}

/**
 * One SS-Conv-SSM block: x (B, H, W, C) and its parameters by slot (bn0 slots only with
 * `preBn`) → the block's output, and in training the BatchNorm running statistics after this
 * batch (by slot, kept: the caller commits and disposes them). Differentiable in x and every
 * trainable parameter in training mode; the eval forward has no gradient.
 */
export function ssConvSsm(
  x: tf.Tensor4D,
  params: Partial<Record<BlockSlot, tf.Tensor>>,
  o: BlockOptions,
): { y: tf.Tensor4D; running: Partial<Record<BlockSlot, tf.Tensor>> } {
  const F = BLOCK_FLAGS;
  const attrs: BlockAttrs = {
    flags: (o.training ? F.train : 0) | (o.preBn ? F.preBn : 0) | (o.residual ? F.residual : 0) |
      (o.mask ? F.mask : 0) | (o.convBranch ? 0 : F.noConv) | (o.ssmBranch ? 0 : F.noSsm),
    K: o.K,
    N: o.N,
    R: o.R,
  };
  if (!o.training) {
    const out = tf.engine().runKernel(BLOCK_EVAL, { x, ...params }, attrs as never);
    return { y: (Array.isArray(out) ? out[0] : out) as tf.Tensor4D, running: {} };
  }
  const maskT = o.mask ? tf.tensor1d(o.mask) : null;
  const diff = BLOCK_DIFFERENTIABLE.filter((s) => s === "x" || params[s] !== undefined);
  const newRunning: tf.Tensor[] = [];
  const savedNames = savedOf(o.convBranch, o.ssmBranch);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const ins: tf.NamedTensorMap = { ...params } as tf.NamedTensorMap;
    diff.forEach((s, i) => (ins[s] = args[i] as tf.Tensor));
    if (maskT) ins.mask = maskT;
    const outs = tf.engine().runKernel(BLOCK, ins, attrs as never) as tf.Tensor[];
    const [y, ...rest] = outs;
    const saved = rest.slice(0, savedNames.length);
    newRunning.push(...rest.slice(savedNames.length).map((t) => tf.keep(t)));
    // Only saved tensors outlive the tidy that tf.grad runs the forward in: the block's input
    // (usually an intermediate) and the mask must be saved too.
    save([...saved, ins.x as tf.Tensor, ...(maskT ? [maskT] : [])]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, kept: tf.Tensor[]) => {
        const gin: tf.NamedTensorMap = { ...ins, dy };
        savedNames.forEach((s, i) => (gin[s] = kept[i]));
        gin.x = kept[savedNames.length];
        if (maskT) gin.mask = kept[savedNames.length + 1];
        return tf.engine().runKernel(BLOCK_GRAD, gin, attrs as never) as tf.Tensor[];
      },
    };
  });
  const y = f(...diff.map((s) => (s === "x" ? x : params[s]!))) as tf.Tensor4D;
  const running: Partial<Record<BlockSlot, tf.Tensor>> = {};
  BLOCK_RUNNING.filter((s) => o.convBranch && (o.preBn || !s.startsWith("bn0")))
    .forEach((s, i) => (running[s] = newRunning[i]));
  return { y, running };
}
