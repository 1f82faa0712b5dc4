/**
 * Slice and SplitV for the wasm backend: tfjs-backend-wasm runs them as generic per-element JS
 * loops (a 1 MB slice along the first axis took ~7 ms); these copy whole contiguous runs with
 * TypedArray.set. float32 only; other dtypes go to the stock kernel.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, withArrays } from "../../io.ts";
import type { Override } from "../register.ts";

/**
 * Copies the box `begin`/`size` of `x` (shape `shape`) into `out`, row-major. Exported for tests.
 */
export function sliceInto(
  x: Float32Array,
  shape: number[],
  begin: number[],
  size: number[],
  out: Float32Array,
): void {
  const r = shape.length;
  if (r > 1 && shape.slice(0, -1).every((d, i) => begin[i] === 0 && size[i] === d)) {
    // Last-axis slice (channel splits): one tight loop over rows.
    const w = shape[r - 1], n = size[r - 1], b0 = begin[r - 1];
    const rows = x.length / w;
    for (let row = 0, src = b0, dst = 0; row < rows; row++, src += w, dst += n) {
      for (let j = 0; j < n; j++) out[dst + j] = x[src + j];
    }
    return;
  }
  // Merge trailing axes that are taken whole into one contiguous run.
  let inner = r - 1;
  let run = size[r - 1];
  while (inner > 0 && size[inner] === shape[inner] && begin[inner] === 0) {
    inner--;
    run *= size[inner];
  }
  const strides = new Array(r).fill(1);
  for (let i = r - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  const outer = size.slice(0, inner);
  const nOuter = outer.reduce((a, b) => a * b, 1);
  const idx = new Array(inner).fill(0);
  let base0 = 0;
  for (let i = 0; i <= inner; i++) base0 += begin[i] * strides[i];
  for (let o = 0, dst = 0; o < nOuter; o++, dst += run) {
    let src = base0;
    for (let i = 0; i < inner; i++) src += idx[i] * strides[i];
    if (run >= 64) out.set(x.subarray(src, src + run), dst);
    else for (let j = 0; j < run; j++) out[dst + j] = x[src + j];
    for (let i = inner - 1; i >= 0; i--) {
      if (++idx[i] < outer[i]) break;
      idx[i] = 0;
    }
  }
}

function normalise(shape: number[], begin: number[] | number, size: number[] | number) {
  const b = typeof begin === "number" ? [begin] : [...begin];
  const s = typeof size === "number" ? [size] : [...size];
  while (b.length < shape.length) b.push(0);
  while (s.length < shape.length) s.push(-1);
  return { begin: b, size: s.map((v, i) => (v === -1 ? shape[i] - b[i] : v)) };
}

/** Slice: contiguous runs (float32). */
export const slice: Override = {
  kernelName: "Slice",
  wrap: (origSlice) => (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype !== "float32") return origSlice(args as never);
    const a = args.attrs as unknown as { begin: number[] | number; size: number[] | number };
    const { begin, size } = normalise(x.shape, a.begin, a.size);
    if (size.some((v) => v === 0)) return origSlice(args as never);
    return withArrays(
      args.backend,
      [x],
      [size],
      ([xv], [ov]) => sliceInto(xv, x.shape, begin, size, ov),
    )[0];
  },
};

/** SplitV: every part by contiguous runs (float32). */
export const splitV: Override = {
  kernelName: "SplitV",
  wrap: (origSplit) => (args: KernelArgs) => {
    const x = args.inputs.x as tf.TensorInfo;
    if (x.dtype !== "float32") return origSplit(args as never);
    const a = args.attrs as unknown as {
      numOrSizeSplits: number[] | number;
      axis: number | number[];
    };
    const axis = ((Array.isArray(a.axis) ? a.axis[0] : a.axis) + x.shape.length) % x.shape.length;
    const sizes = typeof a.numOrSizeSplits === "number"
      ? new Array(a.numOrSizeSplits).fill(x.shape[axis] / a.numOrSizeSplits)
      : a.numOrSizeSplits.map((s, _, all) =>
        s === -1 ? x.shape[axis] - all.filter((v) => v !== -1).reduce((p, q) => p + q, 0) : s
      );
    if (sizes.some((v) => v === 0)) return origSplit(args as never);
    const shapes = sizes.map((s) => x.shape.map((d, i) => (i === axis ? s : d)));
    return withArrays(args.backend, [x], shapes, ([xv], outs) => {
      let off = 0;
      sizes.forEach((s, j) => {
        const begin = x.shape.map((_, i) => (i === axis ? off : 0));
        sliceInto(xv, x.shape, begin, shapes[j], outs[j]);
        off += s;
      });
    });
  },
};
