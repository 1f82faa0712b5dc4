/**
 * Concat for the wasm backend: whole contiguous runs per input with TypedArray.set (the stock
 * kernel copies element by element in JS). float32 only.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, withArrays } from "../../io.ts";
import type { Override } from "../register.ts";

/**
 * Concatenates float32 arrays along `axis`: each input contributes a run of
 * (its size on axis) × (inner size) elements per outer index. Exported for tests.
 */
export function concatInto(
  parts: Float32Array[],
  shapes: number[][],
  axis: number,
  out: Float32Array,
): void {
  const inner = shapes[0].slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = shapes[0].slice(0, axis).reduce((a, b) => a * b, 1);
  const runs = shapes.map((sh) => sh[axis] * inner);
  const total = runs.reduce((a, b) => a + b, 0);
  for (let o = 0; o < outer; o++) {
    let dst = o * total;
    for (let j = 0; j < parts.length; j++) {
      const run = runs[j], src = o * run, p = parts[j];
      if (run >= 64) out.set(p.subarray(src, src + run), dst);
      else for (let i = 0; i < run; i++) out[dst + i] = p[src + i];
      dst += run;
    }
  }
}

/** Concat: contiguous runs (float32, no empty inputs). */
export const concat: Override = {
  kernelName: "Concat",
  wrap: (origConcat) => (args: KernelArgs) => {
    const xs = Object.values(args.inputs) as tf.TensorInfo[];
    const rank = xs[0]?.shape.length ?? 0;
    if (
      xs.length < 2 || rank === 0 ||
      xs.some((x) => x.dtype !== "float32" || x.shape.some((d) => d === 0))
    ) {
      return origConcat(args as never) as tf.TensorInfo;
    }
    const a = (args.attrs as unknown as { axis: number | number[] }).axis;
    const axis = ((Array.isArray(a) ? a[0] : a) + rank) % rank;
    const outShape = xs[0].shape.map((d, i) =>
      i === axis ? xs.reduce((s, x) => s + x.shape[axis], 0) : d
    );
    return withArrays(args.backend, xs, [outShape], (ins, [out]) => {
      concatInto(ins, xs.map((x) => x.shape), axis, out);
    })[0];
  },
};
