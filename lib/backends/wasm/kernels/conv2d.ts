/**
 * Conv2D (stride 1, SAME, odd square filters, NHWC, float32) for the wasm backend through the
 * native implicit-im2col gemm (native/cpu/conv.c) on every core, else the stock XNNPACK kernel;
 * and the one-kernel filter gradient the Conv2D gradient uses when it can
 * (lib/ops/grads.ts's CONV_FILTER_GRAD); and the strided convolution ResNet-18 runs natively when
 * it can (lib/model/resnet.ts's convStrided: forward, filter and input gradients); and the filter
 * flip of the input gradient on every core (else the shared TypeScript loop).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, withArrays } from "../../io.ts";
import type { Override } from "../register.ts";
import { CONV_FILTER_GRAD, FLIP_FILTER, flipFilterInto } from "../../../ops/grads.ts";
import { activeNativeConv, type ConvDims, type NativeConv } from "../hooks.ts";
import type { KernelSpec } from "../../io.ts";
import {
  CONV_STRIDED,
  CONV_STRIDED_FILTER_GRAD,
  CONV_STRIDED_INPUT_GRAD,
} from "../../../model/resnet.ts";

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

/** Conv2D: native when the convolution is one it takes, else stock. */
export const conv2d: Override = {
  kernelName: "Conv2D",
  wrap: (origConv) => (args: KernelArgs) => {
    const native = activeNativeConv();
    const x = args.inputs.x as tf.TensorInfo, f = args.inputs.filter as tf.TensorInfo;
    const d = native ? sameConvDims(x, f, args.attrs as unknown as ConvAttrs) : null;
    if (!d || !native) return origConv(args as never) as tf.TensorInfo;
    return withArrays(args.backend, [x, f], [[d.batch, d.height, d.width, d.outC]], (
      [xv, fv],
      [yv],
    ) => native.conv2dSame(d, xv, fv, yv))[0];
  },
};

function filterGradKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo, dy = args.inputs.dy as tf.TensorInfo;
  const k = (args.attrs as unknown as { k: number }).k;
  const [batch, height, width, inC] = x.shape, outC = dy.shape[3];
  const native = activeNativeConv();
  if (!native) throw new Error(`${CONV_FILTER_GRAD} needs the native library`);
  const d = { batch, height, width, inC, outC, k };
  return withArrays(
    args.backend,
    [x, dy],
    [[k, k, inC, outC]],
    ([xv, dyv], [dw]) => native.conv2dSameFilterGrad(d, xv, dyv, dw),
  )[0];
}

/** The Conv2D filter gradient in one kernel (x, dy → dW). */
export const convFilterGradKernels: KernelSpec[] = [
  { kernelName: CONV_FILTER_GRAD, kernelFunc: filterGradKernel },
];

/** The native convolutions with the strided entry points, or an error naming `what`. */
function stridedNative(what: string): Required<NativeConv> {
  const n = activeNativeConv();
  if (!n?.conv2dStrided || !n.conv2dStridedFilterGrad || !n.conv2dStridedInputGrad) {
    throw new Error(`${what} needs the native library's strided convolutions`);
  }
  return n as Required<NativeConv>;
}

/** An output side of a stride-`s` convolution with padding (k − 1)/2 (PyTorch's floor). */
const outSide = (side: number, s: number): number => Math.floor((side - 1) / s) + 1;

/** Every output element is written by the native kernels: no zero fill first. */
const NO_ZERO = false;

/** x (B,H,W,Ci), filter (k,k,Ci,Co), attrs {stride} → y (B,Ho,Wo,Co). */
function stridedKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo, f = args.inputs.filter as tf.TensorInfo;
  const { stride } = args.attrs as unknown as { stride: number };
  const native = stridedNative(CONV_STRIDED);
  const [batch, height, width, inC] = x.shape, [k, , , outC] = f.shape;
  const d: ConvDims = { batch, height, width, inC, outC, k };
  const out = [batch, outSide(height, stride), outSide(width, stride), outC];
  return withArrays(
    args.backend,
    [x, f],
    [out],
    ([xv, fv], [yv]) => native.conv2dStrided(d, stride, xv, fv, yv),
    NO_ZERO,
  )[0];
}

/** x (B,H,W,Ci), dy (B,Ho,Wo,Co), attrs {k, stride} → dW (k,k,Ci,Co). */
function stridedFilterGradKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo, dy = args.inputs.dy as tf.TensorInfo;
  const { k, stride } = args.attrs as unknown as { k: number; stride: number };
  const native = stridedNative(CONV_STRIDED_FILTER_GRAD);
  const [batch, height, width, inC] = x.shape, outC = dy.shape[3];
  const d: ConvDims = { batch, height, width, inC, outC, k };
  return withArrays(
    args.backend,
    [x, dy],
    [[k, k, inC, outC]],
    ([xv, dyv], [dw]) => native.conv2dStridedFilterGrad(d, stride, xv, dyv, dw),
    NO_ZERO,
  )[0];
}

/** dy (B,Ho,Wo,Co), filter (k,k,Ci,Co), attrs {stride, height, width} → dx (B,H,W,Ci). */
function stridedInputGradKernel(args: KernelArgs): tf.TensorInfo {
  const dy = args.inputs.dy as tf.TensorInfo, f = args.inputs.filter as tf.TensorInfo;
  const { stride, height, width } = args.attrs as unknown as {
    stride: number;
    height: number;
    width: number;
  };
  const native = stridedNative(CONV_STRIDED_INPUT_GRAD);
  const [k, , inC, outC] = f.shape, batch = dy.shape[0];
  const d: ConvDims = { batch, height, width, inC, outC, k };
  return withArrays(
    args.backend,
    [dy, f],
    [[batch, height, width, inC]],
    ([dyv, fv], [dx]) => native.conv2dStridedInputGrad(d, stride, dyv, fv, dx),
    NO_ZERO,
  )[0];
}

/** The strided convolution and its two gradients (lib/model/resnet.ts's convStrided). */
export const convStridedKernels: KernelSpec[] = [
  { kernelName: CONV_STRIDED, kernelFunc: stridedKernel },
  { kernelName: CONV_STRIDED_FILTER_GRAD, kernelFunc: stridedFilterGradKernel },
  { kernelName: CONV_STRIDED_INPUT_GRAD, kernelFunc: stridedInputGradKernel },
];

/** FLIP_FILTER (x: a [k, k, ci, co] filter; attrs {swap}): native, else the TypeScript loop. */
function flipFilterKernel(args: KernelArgs): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const [k, , ci, co] = x.shape;
  const swap = (args.attrs as unknown as { swap: boolean }).swap;
  const native = activeNativeConv();
  return withArrays(args.backend, [x], [swap ? [k, k, co, ci] : [k, k, ci, co]], ([w], [out]) => {
    if (native?.flipFilter) native.flipFilter(k, ci, co, swap, w, out);
    else flipFilterInto(w, out, k, ci, co, swap);
  }, NO_ZERO)[0];
}

/** The filter flip on wasm, in place of the shared kernel (lib/backends/kernels/conv_grads.ts). */
export const flipFilterKernels: KernelSpec[] = [
  { kernelName: FLIP_FILTER, kernelFunc: flipFilterKernel },
];
