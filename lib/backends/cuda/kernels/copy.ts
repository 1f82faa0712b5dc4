/**
 * Kernels that move elements without arithmetic, all through one strided copy on the device
 * (native/cuda/backend/copy.cuh: y[yOff + Σ c·yStride] = x[xOff + Σ c·xStride] over an iteration
 * shape, rank ≤ 6): Transpose, Slice, SplitV, Concat, Pack, Unpack, Reverse, PadV2. Any dtype of
 * 4 bytes (float32, int32) or 1 byte (bool).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CudaBackend } from "../backend.ts";
import { filled } from "./fill.ts";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";

const MAX_RANK = 6;
const ELEM_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/** Row-major element strides of a contiguous tensor. */
export function contiguousStrides(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** One strided copy: iteration shape, strides and offsets (in elements) of both sides. */
export interface StridedCopy {
  shape: number[];
  xStrides: number[];
  xOffset: number;
  yStrides: number[];
  yOffset: number;
}

/** True when the device kernel can take a copy of this rank and dtype. */
function supported(rank: number, dtype: tf.DataType): boolean {
  return rank <= MAX_RANK && dtype in ELEM_BYTES;
}

/** Runs one strided copy from x's buffer into y's (adding into y when `accumulate`: float32). */
export function stridedCopy(
  backend: CudaBackend,
  x: tf.TensorInfo,
  y: tf.TensorInfo,
  c: StridedCopy,
  accumulate = false,
): void {
  if (tf.util.sizeFromShape(c.shape) === 0) return;
  const packed = BigInt64Array.from(
    [c.shape.length, ...c.shape, ...c.xStrides, ...c.yStrides, c.xOffset, c.yOffset].map(BigInt),
  );
  backend.check(
    backend.lib.symbols.smc_strided_copy(
      packed,
      backend.pointer(x),
      backend.pointer(y),
      ELEM_BYTES[x.dtype],
      accumulate ? 1 : 0,
    ),
    "strided copy",
  );
}

function transpose({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const x = inputs.x as tf.TensorInfo;
  if (!supported(x.shape.length, x.dtype)) return null;
  return transposed(backend, x, (attrs as { perm: number[] }).perm);
}

/** x with its axes permuted by `perm`, as a new contiguous tensor (rank ≤ 6, any dtype). */
export function transposed(backend: CudaBackend, x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
  const shape = perm.map((p) => x.shape[p]);
  const y = backend.makeTensorInfo(shape, x.dtype);
  const xs = contiguousStrides(x.shape);
  stridedCopy(backend, x, y, {
    shape,
    xStrides: perm.map((p) => xs[p]),
    xOffset: 0,
    yStrides: contiguousStrides(shape),
    yOffset: 0,
  });
  return y;
}

/** A box of x (begin, size) as a new contiguous tensor. */
function sliceOf(
  backend: CudaBackend,
  x: tf.TensorInfo,
  begin: number[],
  size: number[],
): tf.TensorInfo {
  const y = backend.makeTensorInfo(size, x.dtype);
  const xs = contiguousStrides(x.shape);
  stridedCopy(backend, x, y, {
    shape: size,
    xStrides: xs,
    xOffset: begin.reduce((acc, b, d) => acc + b * xs[d], 0),
    yStrides: contiguousStrides(size),
    yOffset: 0,
  });
  return y;
}

function slice({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const x = inputs.x as tf.TensorInfo;
  if (!supported(x.shape.length, x.dtype)) return null;
  const a = attrs as { begin: number | number[]; size?: number | number[] };
  const [begin, size] = tf.slice_util.parseSliceParams(x, a.begin, a.size);
  return sliceOf(backend, x, begin, size);
}

function splitV({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo[] | null {
  const x = inputs.x as tf.TensorInfo;
  if (!supported(x.shape.length, x.dtype)) return null;
  const a = attrs as { numOrSizeSplits: number | number[]; axis: number };
  const axis = tf.util.parseAxisParam(a.axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x, a.numOrSizeSplits, axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = x.shape.slice();
    size[axis] = s;
    const out = sliceOf(backend, x, begin.slice(), size);
    begin[axis] += s;
    return out;
  });
}

function concat({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const xs = (Array.isArray(inputs) ? inputs : Object.values(inputs)) as tf.TensorInfo[];
  const dtype = xs[0].dtype;
  if (xs.some((t) => t.dtype !== dtype) || !supported(xs[0].shape.length, dtype)) return null;
  const axis = tf.util.parseAxisParam((attrs as { axis: number }).axis, xs[0].shape)[0];
  const shape = tf.backend_util.computeOutShape(xs.map((t) => t.shape), axis);
  const y = backend.makeTensorInfo(shape, dtype);
  const ys = contiguousStrides(shape);
  let offset = 0;
  for (const x of xs) {
    stridedCopy(backend, x, y, {
      shape: x.shape,
      xStrides: contiguousStrides(x.shape),
      xOffset: 0,
      yStrides: ys,
      yOffset: offset * ys[axis],
    });
    offset += x.shape[axis];
  }
  return y;
}

function pack({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const xs = (Array.isArray(inputs) ? inputs : Object.values(inputs)) as tf.TensorInfo[];
  const dtype = xs[0].dtype;
  const rank = xs[0].shape.length + 1;
  if (xs.some((t) => t.dtype !== dtype) || !supported(rank, dtype)) return null;
  const axis = tf.util.parseAxisParam((attrs as { axis: number }).axis, new Array(rank).fill(1))[
    0
  ];
  const shape = xs[0].shape.slice();
  shape.splice(axis, 0, xs.length);
  const y = backend.makeTensorInfo(shape, dtype);
  const ys = contiguousStrides(shape);
  const inner = ys.filter((_, d) => d !== axis);
  xs.forEach((x, i) => {
    stridedCopy(backend, x, y, {
      shape: x.shape,
      xStrides: contiguousStrides(x.shape),
      xOffset: 0,
      yStrides: inner,
      yOffset: i * ys[axis],
    });
  });
  return y;
}

function unpack({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo[] | null {
  const x = inputs.value as tf.TensorInfo;
  if (!supported(x.shape.length, x.dtype)) return null;
  const axis = tf.util.parseAxisParam((attrs as { axis: number }).axis, x.shape)[0];
  const shape = x.shape.filter((_, d) => d !== axis);
  const xs = contiguousStrides(x.shape);
  return Array.from({ length: x.shape[axis] }, (_, i) => {
    const y = backend.makeTensorInfo(shape, x.dtype);
    stridedCopy(backend, x, y, {
      shape,
      xStrides: xs.filter((_, d) => d !== axis),
      xOffset: i * xs[axis],
      yStrides: contiguousStrides(shape),
      yOffset: 0,
    });
    return y;
  });
}

function reverse({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const x = inputs.x as tf.TensorInfo;
  if (!supported(x.shape.length, x.dtype)) return null;
  const dims = tf.util.parseAxisParam((attrs as { dims: number | number[] }).dims, x.shape);
  const xs = contiguousStrides(x.shape);
  let xOffset = 0;
  const xStrides = xs.map((s, d) => {
    if (!dims.includes(d)) return s;
    xOffset += (x.shape[d] - 1) * s; // walk this axis backwards from its last element
    return -s;
  });
  const y = backend.makeTensorInfo(x.shape, x.dtype);
  stridedCopy(backend, x, y, {
    shape: x.shape,
    xStrides,
    xOffset,
    yStrides: contiguousStrides(x.shape),
    yOffset: 0,
  });
  return y;
}

function padV2({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo | null {
  const x = inputs.x as tf.TensorInfo;
  if (!supported(x.shape.length, x.dtype)) return null;
  const { paddings, constantValue } = attrs as {
    paddings: [number, number][];
    constantValue: number;
  };
  const shape = x.shape.map((s, d) => paddings[d][0] + s + paddings[d][1]);
  const y = filled(backend, shape, x.dtype, constantValue);
  if (!y) return null;
  const ys = contiguousStrides(shape);
  stridedCopy(backend, x, y, {
    shape: x.shape,
    xStrides: contiguousStrides(x.shape),
    xOffset: 0,
    yStrides: ys,
    yOffset: paddings.reduce((acc, p, d) => acc + p[0] * ys[d], 0),
  });
  return y;
}

/** The copy kernels. */
export const copyKernels: CudaKernel[] = [
  { kernelName: "Transpose", kernelFunc: transpose },
  { kernelName: "Slice", kernelFunc: slice },
  { kernelName: "SplitV", kernelFunc: splitV },
  { kernelName: "Concat", kernelFunc: concat },
  { kernelName: "Pack", kernelFunc: pack },
  { kernelName: "Unpack", kernelFunc: unpack },
  { kernelName: "Reverse", kernelFunc: reverse },
  { kernelName: "PadV2", kernelFunc: padV2 },
];
