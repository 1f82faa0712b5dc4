/**
 * BatchMatMul for the wasm backend: through the native multi-threaded gemm when the library is
 * loaded (zero-copy on the wasm heap; XNNPACK runs one thread with 128-bit vectors), else the
 * stock kernel, once per batch entry when batched (its batched path is a naive loop, ~40× slower
 * than XNNPACK on one matrix).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type KernelArgs, withArrays } from "../../io.ts";
import type { Override } from "../register.ts";
import { activeNativeGemm, type Gemm } from "../hooks.ts";

// deno-lint-ignore no-explicit-any
type WasmBackend = any;

/** Below this many multiply-adds the FFI call costs more than it saves. */
const NATIVE_GEMM_MIN_MACS = 1 << 16;

/** Collapses leading (batch) axes: [batch, rows, cols]; rank 2 has batch 1. */
function asBatched(shape: number[]): [number, number, number] {
  const r = shape.length;
  return [shape.slice(0, r - 2).reduce((a, b) => a * b, 1), shape[r - 2], shape[r - 1]];
}

/**
 * BatchMatMul through the native gemm, zero-copy on the wasm heap. tf.matMul hands the kernel
 * its inputs at their own rank (2 for plain matrices), so any rank ≥ 2 is taken, with the
 * batch axes broadcast only when one side has batch 1.
 */
function batchMatMulNative(g: Gemm, args: KernelArgs): tf.TensorInfo | null {
  const a = args.inputs.a as tf.TensorInfo, b = args.inputs.b as tf.TensorInfo;
  if (a.shape.length < 2 || b.shape.length < 2 || a.dtype !== "float32") return null;
  if (b.dtype !== "float32") return null;
  const { transposeA, transposeB } = args.attrs as unknown as {
    transposeA: boolean;
    transposeB: boolean;
  };
  const [na, a1, a2] = asBatched(a.shape), [nb, b1, b2] = asBatched(b.shape);
  const M = transposeA ? a2 : a1, K = transposeA ? a1 : a2, N = transposeB ? b1 : b2;
  const n = Math.max(na, nb);
  if ((na !== nb && na !== 1 && nb !== 1) || M * N * K < NATIVE_GEMM_MIN_MACS) return null;
  // Leading axes broadcast (one side is all ones, or both are equal): pad left, take the max.
  const la = a.shape.slice(0, -2), lb = b.shape.slice(0, -2);
  const r = Math.max(la.length, lb.length);
  const pad = (l: number[]) => [...new Array(r - l.length).fill(1), ...l];
  const pa = pad(la), pb = pad(lb);
  if (na === nb && pa.some((d, i) => d !== pb[i])) return null;
  const outShape = [...pa.map((d, i) => Math.max(d, pb[i])), M, N];
  return withArrays(args.backend, [a, b], [outShape], ([av, bv], [cv]) => {
    for (let i = 0; i < n; i++) {
      const ai = na === 1 ? 0 : i, bi = nb === 1 ? 0 : i;
      g(
        M,
        N,
        K,
        av.subarray(ai * a1 * a2, (ai + 1) * a1 * a2),
        transposeA,
        bv.subarray(bi * b1 * b2, (bi + 1) * b1 * b2),
        transposeB,
        cv.subarray(i * M * N, (i + 1) * M * N),
      );
    }
  })[0];
}

/**
 * BatchMatMul with batch > 1 runs a naive loop in tfjs-backend-wasm (≈40× slower than its
 * XNNPACK path for a single matrix). Run the original kernel once per batch entry instead.
 */
function batchedViaSingles(orig: tf.KernelFunc, args: KernelArgs): tf.TensorInfo {
  const be = args.backend as WasmBackend;
  const a = args.inputs.a as tf.TensorInfo, b = args.inputs.b as tf.TensorInfo;
  const na = a.shape[0], nb = b.shape[0], n = Math.max(na, nb);
  const piece = (t: tf.TensorInfo, i: number): tf.TensorInfo => {
    const per = t.shape[1] * t.shape[2];
    const src = be.readSync(t.dataId, i * per, (i + 1) * per) as Float32Array;
    return be.makeOutput([1, t.shape[1], t.shape[2]], "float32", undefined, src);
  };
  const parts: Float32Array[] = [];
  let shape: number[] = [];
  for (let i = 0; i < n; i++) {
    const ai = piece(a, na === 1 ? 0 : i), bi = piece(b, nb === 1 ? 0 : i);
    const oi = orig(
      { inputs: { a: ai, b: bi }, backend: be, attrs: args.attrs } as never,
    ) as tf.TensorInfo;
    parts.push(be.readSync(oi.dataId) as Float32Array);
    shape = oi.shape;
    be.disposeData(ai.dataId);
    be.disposeData(bi.dataId);
    be.disposeData(oi.dataId);
  }
  const per = shape[1] * shape[2];
  const all = new Float32Array(n * per);
  parts.forEach((p, i) => all.set(p, i * per));
  return be.makeOutput([n, shape[1], shape[2]], "float32", undefined, all);
}

/** BatchMatMul: native gemm, else stock (one matrix at a time when batched). */
export const batchMatMul: Override = {
  kernelName: "BatchMatMul",
  wrap: (origBmm) => (args: KernelArgs) => {
    const gemm = activeNativeGemm();
    const viaNative = gemm ? batchMatMulNative(gemm, args) : null;
    if (viaNative) return viaNative;
    const a = args.inputs.a as tf.TensorInfo, b = args.inputs.b as tf.TensorInfo;
    const batched = a.shape.length === 3 && b.shape.length === 3 &&
      Math.max(a.shape[0], b.shape[0]) > 1;
    return batched ? batchedViaSingles(origBmm, args) : origBmm(args as never) as tf.TensorInfo;
  },
};
