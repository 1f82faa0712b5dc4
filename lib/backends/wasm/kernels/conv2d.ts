/**
 * Conv2D (stride 1, SAME, odd square filters, NHWC, float32) for the wasm backend through the
 * native implicit-im2col gemm (native/cpu/conv.c) on every core, else the stock XNNPACK kernel;
 * and the one-kernel filter gradient the Conv2D gradient uses when it can
 * (lib/ops/grads.ts's CONV_FILTER_GRAD).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, withArrays } from "../../io.ts";
import type { Override } from "../register.ts";
import { CONV_FILTER_GRAD } from "../../../ops/grads.ts";
import { activeNativeConv, type ConvDims } from "../hooks.ts";
import type { KernelSpec } from "../../io.ts";

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
