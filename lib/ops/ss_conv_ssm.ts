/**
 * The SS-Conv-SSM block as one fused op (native/cpu/block.c), forward and backward: what
 * {@link import("../model/medmamba.ts").buildMedMamba}'s blocks run on the wasm backend when the native
 * library is loaded. The block written as tensor ops (medmamba.ts's `blockOps`) is the
 * reference it is tested against (tests/block_fused_test.ts) and the path everywhere else.
 *
 * As tensor ops a `cpu`-preset training step dispatched ~1,700 kernels, most of them the glue
 * around the native ones (channel split and concatenation, the shuffle, BatchNorm and ReLU
 * chains, SiLU gates, broadcasts, tf.grad's bookkeeping) on one thread; fused, a block is one
 * call forward and one backward, on every core.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { withArrays } from "../backends/io.ts";
import { activeNativeBlock, type NativeBlock } from "../backends/wasm/kernels.ts";
import type { ModelConfig } from "../model/config.ts";
import type { ParamStore } from "../model/params.ts";
import type { SS2DDims } from "../model/ss2d.ts";
import { dropPathMask, type ForwardContext } from "../model/layers.ts";

/** Kernel names: training forward (saves activations), eval forward, backward. */
export const BLOCK = "StarmambaBlock";
export const BLOCK_EVAL = "StarmambaBlockEval";
export const BLOCK_GRAD = "StarmambaBlockGrad";

/** Flag bits of the int table (block.c's F_*). */
const F_TRAIN = 1, F_PRE_BN = 2, F_RESIDUAL = 4, F_MASK = 8;

/**
 * The pointer table's inputs in block.c's order (P_*): slot name and the parameter it reads,
 * relative to the block's name (null: not a parameter).
 */
const INPUTS: [string, string | null][] = [
  ["x", null],
  ["mask", null],
  ["ln1_g", "ln_1.weight"],
  ["ln1_b", "ln_1.bias"],
  ["w_in", "self_attention.in_proj.weight"],
  ["w_dw", "self_attention.conv2d.weight"],
  ["b_dw", "self_attention.conv2d.bias"],
  ["w_x", "self_attention.x_proj_weight"],
  ["w_dt", "self_attention.dt_projs_weight"],
  ["dt_bias", "self_attention.dt_projs_bias"],
  ["a_log", "self_attention.A_logs"],
  ["d", "self_attention.Ds"],
  ["lno_g", "self_attention.out_norm.weight"],
  ["lno_b", "self_attention.out_norm.bias"],
  ["w_out", "self_attention.out_proj.weight"],
  ["bn0_g", "conv33conv33conv11.bn0.weight"],
  ["bn0_b", "conv33conv33conv11.bn0.bias"],
  ["bn0_rm", "conv33conv33conv11.bn0.running_mean"],
  ["bn0_rv", "conv33conv33conv11.bn0.running_var"],
  ["w1", "conv33conv33conv11.conv1.weight"],
  ["b1", "conv33conv33conv11.conv1.bias"],
  ["bn1_g", "conv33conv33conv11.bn1.weight"],
  ["bn1_b", "conv33conv33conv11.bn1.bias"],
  ["bn1_rm", "conv33conv33conv11.bn1.running_mean"],
  ["bn1_rv", "conv33conv33conv11.bn1.running_var"],
  ["w2", "conv33conv33conv11.conv2.weight"],
  ["b2", "conv33conv33conv11.conv2.bias"],
  ["bn2_g", "conv33conv33conv11.bn2.weight"],
  ["bn2_b", "conv33conv33conv11.bn2.bias"],
  ["bn2_rm", "conv33conv33conv11.bn2.running_mean"],
  ["bn2_rv", "conv33conv33conv11.bn2.running_var"],
  ["w3", "conv33conv33conv11.conv3.weight"],
  ["b3", "conv33conv33conv11.conv3.bias"],
];
const SLOTS = INPUTS.map(([s]) => s);
const RUNNING = new Set(["bn0_rm", "bn0_rv", "bn1_rm", "bn1_rv", "bn2_rm", "bn2_rv"]);
/** Inputs with a gradient, in block.c's G_* order: x, then every trainable parameter. */
const DIFFERENTIABLE = SLOTS.filter((s) => s !== "mask" && !RUNNING.has(s));
/** Activations the training forward saves for the backward (block.c's O_T1 … O_M). */
const SAVED = ["t1", "t2", "c", "xz", "v", "m"];
/** The new running statistics (O_RM0 … O_RV2), in the order of the RUNNING slots. */
const NEW_RUNNING = ["bn0_rm", "bn0_rv", "bn1_rm", "bn1_rv", "bn2_rm", "bn2_rv"];

const LN_EPS = 1e-5;
const BN_EPS = 1e-5;

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
type Infos = Record<string, tf.TensorInfo>;

interface BlockAttrs {
  flags: number;
  K: number;
  N: number;
  R: number;
}

function dimsTable(x: tf.TensorInfo, a: BlockAttrs): Int32Array {
  const [B, H, W, C] = x.shape;
  return Int32Array.from([B, H, W, C, a.K, a.N, a.R, a.flags]);
}

/** Output shapes of the saved activations for x (B, H, W, C). */
function savedShapes(x: tf.TensorInfo): number[][] {
  const [B, H, W, C] = x.shape, h = C / 2;
  return [[B, H, W, h], [B, H, W, h], [B, H, W, h], [B, H, W, 2 * C], [B, H, W, C], [
    B,
    H,
    W,
    C,
  ]];
}

function native(): NativeBlock {
  const n = activeNativeBlock();
  if (!n) throw new Error(`${BLOCK} needs the native library on the wasm backend`);
  return n;
}

/** Runs a block.c function on the present inputs (by slot), returning the new outputs. */
function call(
  args: KernelArgs,
  slots: string[],
  outShapes: (number[] | null)[],
  run: (dims: Int32Array, arrays: (Float32Array | null)[]) => void,
): tf.TensorInfo[] {
  const inp = args.inputs as Infos;
  const present = slots.filter((s) => inp[s] !== undefined);
  const wanted = outShapes.map((s, i) => [s, i] as const).filter(([s]) => s !== null);
  const dims = dimsTable(inp.x, args.attrs as unknown as BlockAttrs);
  return withArrays(
    args.backend,
    present.map((s) => inp[s]),
    wanted.map(([s]) => s as number[]),
    (ins, outs) => {
      const arrays: (Float32Array | null)[] = slots.map((s) => {
        const i = present.indexOf(s);
        return i < 0 ? null : ins[i];
      });
      const outArrays: (Float32Array | null)[] = outShapes.map(() => null);
      wanted.forEach(([, i], j) => (outArrays[i] = outs[j]));
      run(dims, [...arrays, ...outArrays]);
    },
    false,
  );
}

function forwardKernel(args: KernelArgs): tf.TensorInfo[] {
  const x = (args.inputs as Infos).x;
  const h = x.shape[3] / 2;
  const preBn = ((args.attrs as unknown as BlockAttrs).flags & F_PRE_BN) !== 0;
  const running = NEW_RUNNING.map((n) => (n.startsWith("bn0") && !preBn ? null : [h]));
  return call(
    args,
    SLOTS,
    [x.shape, ...savedShapes(x), ...running],
    (dims, arrays) => native().forward(dims, arrays, LN_EPS, BN_EPS),
  );
}

function evalKernel(args: KernelArgs): tf.TensorInfo[] {
  const x = (args.inputs as Infos).x;
  return call(args, SLOTS, [x.shape], (dims, arrays) => {
    native().forward(dims, arrays, LN_EPS, BN_EPS);
  });
}

function backwardKernel(args: KernelArgs): tf.TensorInfo[] {
  const inp = args.inputs as Infos;
  const preBn = ((args.attrs as unknown as BlockAttrs).flags & F_PRE_BN) !== 0;
  const grads = DIFFERENTIABLE.map((s) =>
    s.startsWith("bn0") && !preBn ? null : inp[s].shape as number[]
  );
  return call(
    args,
    [...SLOTS, "dy", ...SAVED],
    grads,
    (dims, arrays) => native().backward(dims, arrays, LN_EPS, BN_EPS),
  );
}

const registered = new Set<string>();

/** Registers the fused block's kernels for a backend (idempotent). */
export function registerBlockOp(backendName: string): void {
  if (registered.has(backendName)) return;
  registered.add(backendName);
  for (
    const [kernelName, kernelFunc] of [
      [BLOCK, forwardKernel],
      [BLOCK_EVAL, evalKernel],
      [BLOCK_GRAD, backwardKernel],
    ] as const
  ) {
    tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as never });
  }
}

/**
 * Whether blocks of `cfg` can run fused now: the native library is loaded, the wasm backend is
 * active, and both halves of the block are on (the ablations that switch one off use the
 * tensor ops).
 */
export function fusedBlockAvailable(cfg: ModelConfig): boolean {
  return activeNativeBlock() !== null && cfg.conv_branch && cfg.ssm_branch &&
    tf.getKernel(BLOCK, tf.getBackend()) !== undefined;
}

/**
 * One SS-Conv-SSM block through the fused op: the same maths, parameters, DropPath draws and
 * BatchNorm running updates (queued in ctx.bnUpdates) as the tensor-op block. x (B, H, W, C).
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
  const mask = dropPathMask(x.shape[0], dropRate, ctx);
  const attrs: BlockAttrs = {
    flags: (ctx.training ? F_TRAIN : 0) | (cfg.conv_pre_bn ? F_PRE_BN : 0) |
      (cfg.ssm_residual ? F_RESIDUAL : 0) | (mask ? F_MASK : 0),
    K: dims.K,
    N: dims.d_state,
    R: dims.dt_rank,
  };
  const params: Record<string, tf.Tensor> = {};
  for (const [slot, suffix] of INPUTS) {
    if (suffix === null || (slot.startsWith("bn0") && !cfg.conv_pre_bn)) continue;
    params[slot] = ps.get(`${name}.${suffix}`);
  }
  if (!ctx.training) {
    const out = tf.engine().runKernel(BLOCK_EVAL, { x, ...params }, attrs as never);
    return (Array.isArray(out) ? out[0] : out) as tf.Tensor4D;
  }
  const maskT = mask ? tf.tensor1d(mask) : null;
  const diff = DIFFERENTIABLE.filter((s) => s === "x" || params[s] !== undefined);
  const running: tf.Tensor[] = [];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const ins: tf.NamedTensorMap = { ...params };
    diff.forEach((s, i) => (ins[s] = args[i] as tf.Tensor));
    if (maskT) ins.mask = maskT;
    const outs = tf.engine().runKernel(BLOCK, ins, attrs as never) as tf.Tensor[];
    const [y, ...rest] = outs;
    const saved = rest.slice(0, SAVED.length);
    running.push(...rest.slice(SAVED.length).map((t) => tf.keep(t)));
    // Only saved tensors outlive the tidy that tf.grad runs the forward in: the block's input
    // (usually an intermediate) and the mask must be saved too.
    save([...saved, ins.x as tf.Tensor, ...(maskT ? [maskT] : [])]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, kept: tf.Tensor[]) => {
        const gin: tf.NamedTensorMap = { ...ins, dy };
        SAVED.forEach((s, i) => (gin[s] = kept[i]));
        gin.x = kept[SAVED.length];
        if (maskT) gin.mask = kept[SAVED.length + 1];
        return tf.engine().runKernel(BLOCK_GRAD, gin, attrs as never) as tf.Tensor[];
      },
    };
  });
  const y = f(...diff.map((s) => (s === "x" ? x : params[s]))) as tf.Tensor4D;
  const slots = NEW_RUNNING.filter((s) => cfg.conv_pre_bn || !s.startsWith("bn0"));
  slots.forEach((s, i) => {
    ctx.bnUpdates.push({ variable: params[s] as tf.Variable, value: running[i] });
  });
  return y;
}
