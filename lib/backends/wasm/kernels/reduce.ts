/**
 * Sum and Mean over leading axes for the wasm backend (BatchNorm statistics, bias gradients)
 * without the full transpose the stock kernels make to bring the reduced axes last.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, withArrays } from "../../io.ts";
import type { Override } from "../register.ts";

/**
 * Column sums of x viewed as (rows, cols): out[c] = Σ_r x[r·cols + c], rows in order (float32
 * accumulation, like the stock kernel). Exported for tests.
 */
export function sumLeadingInto(
  x: Float32Array,
  rows: number,
  cols: number,
  out: Float32Array,
): void {
  out.fill(0);
  for (let r = 0, o = 0; r < rows; r++, o += cols) {
    for (let c = 0; c < cols; c++) out[c] += x[o + c];
  }
}

/**
 * Sum / Mean over leading axes (BatchNorm statistics, bias gradients) without the full transpose
 * the stock wasm kernels make to bring the reduced axes last. Other reductions: null.
 */
function reduceLeading(args: KernelArgs, mean: boolean): tf.TensorInfo | null {
  const x = args.inputs.x as tf.TensorInfo;
  const r = x.shape.length;
  if (x.dtype !== "float32" || r < 2) return null;
  const a = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
  // axis null means every axis; parseAxisParam also wraps negative axes
  const axes = [...new Set(tf.util.parseAxisParam(a.axis, x.shape))].sort((p, q) => p - q);
  const j = axes.length;
  if (j === 0 || j === r || axes.some((v, i) => v !== i)) return null;
  const rows = x.shape.slice(0, j).reduce((p, q) => p * q, 1);
  const cols = x.shape.slice(j).reduce((p, q) => p * q, 1);
  if (rows === 0 || cols === 0) return null;
  const outShape = a.keepDims ? x.shape.map((d, i) => (i < j ? 1 : d)) : x.shape.slice(j);
  return withArrays(args.backend, [x], [outShape], ([xv], [ov]) => {
    sumLeadingInto(xv, rows, cols, ov);
    if (mean) { for (let c = 0; c < cols; c++) ov[c] /= rows; }
  })[0];
}

/** Sum: leading axes natively in TypeScript, else stock. */
export const sum: Override = {
  kernelName: "Sum",
  wrap: (orig) => (args: KernelArgs) =>
    reduceLeading(args, false) ?? orig(args as never) as tf.TensorInfo,
};

/** Mean: leading axes natively in TypeScript, else stock. */
export const mean: Override = {
  kernelName: "Mean",
  wrap: (orig) => (args: KernelArgs) =>
    reduceLeading(args, true) ?? orig(args as never) as tf.TensorInfo,
};
