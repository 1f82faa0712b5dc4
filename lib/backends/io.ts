/**
 * Raw-array access to tensors inside a custom kernel, for the cpu and wasm backends, and the
 * shape of a custom op's kernel as the backends' registration lists hold it.
 *
 * On wasm, inputs are read as views of the wasm heap (no copy) and outputs are allocated on the
 * heap first, so no heap growth can detach the views while a kernel runs. On cpu, readSync
 * returns the backing array itself.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

// deno-lint-ignore no-explicit-any
type AnyBackend = any;

/**
 * Runs `fn` on float32 views of `inputs` and of freshly allocated outputs of `outShapes`
 * (zero-filled unless `zero` is false, for kernels that write every element); returns the
 * output TensorInfos. `fn` must not call back into tfjs.
 */
export function withArrays(
  backend: unknown,
  inputs: tf.TensorInfo[],
  outShapes: number[][],
  fn: (ins: Float32Array[], outs: Float32Array[]) => void,
  zero = true,
): tf.TensorInfo[] {
  const be = backend as AnyBackend;
  if (typeof be.typedArrayFromHeap === "function") {
    const outInfos: tf.TensorInfo[] = outShapes.map((s) => be.makeOutput(s, "float32"));
    const ins = inputs.map((t) => be.typedArrayFromHeap(t) as Float32Array);
    const outs = outInfos.map((t) => be.typedArrayFromHeap(t) as Float32Array);
    if (zero) outs.forEach((o) => o.fill(0));
    fn(ins, outs);
    return outInfos;
  }
  const ins = inputs.map((t) => be.readSync(t.dataId) as Float32Array);
  const outs = outShapes.map((s) => new Float32Array(s.reduce((a, b) => a * b, 1)));
  fn(ins, outs);
  return outs.map((v, i) => be.makeTensorInfo(outShapes[i], "float32", v));
}

/**
 * Float32 views of `inputs` for a kernel that writes no tensors (the moving average): views of
 * the wasm heap on wasm (valid until the next tfjs allocation), readSync's arrays elsewhere.
 */
export function inputArrays(backend: unknown, inputs: tf.TensorInfo[]): Float32Array[] {
  const be = backend as AnyBackend;
  if (typeof be.typedArrayFromHeap === "function") {
    return inputs.map((t) => be.typedArrayFromHeap(t) as Float32Array);
  }
  return inputs.map((t) => be.readSync(t.dataId) as Float32Array);
}

/** What a kernel function receives (tfjs's kernel arguments). */
export type KernelArgs = {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
};

/** One kernel of a custom op, for any backend whose registration list includes it. */
export interface KernelSpec {
  /** The op's kernel name. */
  kernelName: string;
  /** The implementation. */
  kernelFunc: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];
}

/** Registers `specs` for `backendName`, skipping kernels it already has (idempotent). */
export function registerKernels(backendName: string, specs: KernelSpec[]): void {
  for (const s of specs) {
    if (tf.getKernel(s.kernelName, backendName)) continue;
    tf.registerKernel({
      kernelName: s.kernelName,
      backendName,
      kernelFunc: s.kernelFunc as never,
    });
  }
}
