/**
 * Kernels of the fused SS-Conv-SSM block (lib/ops/ss_conv_ssm.ts) for the wasm backend: the
 * present inputs' arrays (by slot) and fresh outputs go to native/cpu/block.c through its pointer
 * table (null for absent slots: bn0 without its flag, the slots of a half that is off).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import {
  BLOCK,
  BLOCK_DIFFERENTIABLE,
  BLOCK_EVAL,
  BLOCK_FLAGS,
  BLOCK_GRAD,
  BLOCK_RUNNING,
  BLOCK_SAVED,
  BLOCK_SLOTS,
  type BlockAttrs,
  savedOf,
} from "../../../ops/ss_conv_ssm.ts";
import { NORM_EPS } from "../../../ops/norm.ts";
import { activeNativeBlock, type NativeBlock } from "../hooks.ts";
import { type KernelArgs, type KernelSpec, withArrays } from "../../io.ts";

type Infos = Record<string, tf.TensorInfo>;

function dimsTable(x: tf.TensorInfo, a: BlockAttrs): Int32Array {
  const [B, H, W, C] = x.shape;
  return Int32Array.from([B, H, W, C, a.K, a.N, a.R, a.flags]);
}

/** Output shapes of the saved activations for x (B, H, W, C); null: a half that is off. */
function savedShapes(x: tf.TensorInfo, flags: number): (number[] | null)[] {
  const [B, H, W, C] = x.shape, h = C / 2;
  const shapes = [[B, H, W, h], [B, H, W, h], [B, H, W, h], [B, H, W, 2 * C], [B, H, W, C], [
    B,
    H,
    W,
    C,
  ]];
  const present = savedOf((flags & BLOCK_FLAGS.noConv) === 0, (flags & BLOCK_FLAGS.noSsm) === 0);
  return BLOCK_SAVED.map((s, i) => (present.includes(s) ? shapes[i] : null));
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
  const flags = (args.attrs as unknown as BlockAttrs).flags;
  const preBn = (flags & BLOCK_FLAGS.preBn) !== 0, conv = (flags & BLOCK_FLAGS.noConv) === 0;
  const running = BLOCK_RUNNING.map((n) => (!conv || (n.startsWith("bn0") && !preBn) ? null : [h]));
  return call(
    args,
    [...BLOCK_SLOTS],
    [x.shape, ...savedShapes(x, flags), ...running],
    (dims, arrays) => native().forward(dims, arrays, NORM_EPS, NORM_EPS),
  );
}

function evalKernel(args: KernelArgs): tf.TensorInfo[] {
  const x = (args.inputs as Infos).x;
  return call(args, [...BLOCK_SLOTS], [x.shape], (dims, arrays) => {
    native().forward(dims, arrays, NORM_EPS, NORM_EPS);
  });
}

function backwardKernel(args: KernelArgs): tf.TensorInfo[] {
  const inp = args.inputs as Infos;
  // An absent parameter (bn0 without preBn, a half that is off) has no gradient output.
  const grads = BLOCK_DIFFERENTIABLE.map((s) => (inp[s] === undefined ? null : inp[s].shape));
  return call(
    args,
    [...BLOCK_SLOTS, "dy", ...BLOCK_SAVED],
    grads,
    (dims, arrays) => native().backward(dims, arrays, NORM_EPS, NORM_EPS),
  );
}

/** The training forward, the eval forward and the backward. */
export const ssConvSsmKernels: KernelSpec[] = [
  { kernelName: BLOCK, kernelFunc: forwardKernel },
  { kernelName: BLOCK_EVAL, kernelFunc: evalKernel },
  { kernelName: BLOCK_GRAD, kernelFunc: backwardKernel },
];
