/**
 * Kernels the `cuda` backend has not ported yet run on the host: the inputs are copied from the
 * device into a private instance of tfjs's cpu backend, the cpu backend's kernel runs, and its
 * outputs are uploaded. Correct (the cpu backend is the reference) but slow, so each kernel name
 * warns once on stderr and every call is counted: `deno task bench` prints the counters, and
 * the backend is done when a step of any preset counts none.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import type { CudaBackend } from "./backend.ts";

/**
 * The host fallback's state, one object per process as the kernels registered for "cuda" are:
 * the cpu backend that runs them (created on first use), calls per kernel name, the names
 * already warned about, and whether to warn.
 */
const fallback: {
  host: MathBackendCPU | null;
  counts: Map<string, number>;
  warned: Set<string>;
  quiet: boolean;
} = { host: null, counts: new Map(), warned: new Set(), quiet: false };

/** The cpu backend instance that runs fallen-back kernels (not the registered "cpu" backend). */
function hostBackend(): MathBackendCPU {
  if (!fallback.host) {
    fallback.host = new MathBackendCPU();
    // Silence its banner recommending tfjs-node.
    (fallback.host as unknown as { firstUse: boolean }).firstUse = false;
  }
  return fallback.host;
}

/** Host-fallback calls per kernel name since the start or the last reset. */
export function fallbackCounts(): Record<string, number> {
  return Object.fromEntries([...fallback.counts.entries()].sort((a, b) => b[1] - a[1]));
}

/** Zeroes the counters (a bench counts one step). */
export function resetFallbackCounts(): void {
  fallback.counts.clear();
}

/** Turns the one-line warnings off (tests that fall back on purpose) or on. */
export function setFallbackQuiet(q: boolean): void {
  fallback.quiet = q;
}

/** tfjs's kernel arguments. */
interface Args {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

/**
 * A kernel function for `cuda` that runs `hostKernel` (a cpu-backend kernel function) on copies
 * of the inputs. `kernelName` names it in the warning and the counters.
 */
export function hostFallback(
  kernelName: string,
  hostKernel: tf.KernelFunc,
): (args: Args) => tf.TensorInfo | tf.TensorInfo[] {
  return ({ inputs, backend, attrs }: Args) => {
    const cuda = backend as CudaBackend;
    fallback.counts.set(kernelName, (fallback.counts.get(kernelName) ?? 0) + 1);
    if (!fallback.warned.has(kernelName) && !fallback.quiet) {
      fallback.warned.add(kernelName);
      console.error(
        `warning: cuda backend: kernel ${kernelName} is not ported yet and runs on the host ` +
          "(copies to and from the device; counted in `deno task bench`)",
      );
    }
    const cpu = hostBackend();
    const hostIds: tf.DataId[] = [];
    // Concat, AddN and Pack take their inputs as an array: keep its shape.
    const hostInputs = (Array.isArray(inputs) ? [] : {}) as tf.NamedTensorInfoMap;
    for (const [name, info] of Object.entries(inputs)) {
      if (!info) continue;
      const dataId = cpu.write(cuda.readSync(info.dataId), info.shape, info.dtype);
      hostIds.push(dataId);
      hostInputs[name] = { dataId, shape: info.shape, dtype: info.dtype };
    }
    try {
      const out = hostKernel({ inputs: hostInputs, backend: cpu, attrs: attrs ?? {} });
      const outs = Array.isArray(out) ? out : [out];
      const result = outs.map((o) => cuda.makeTensorInfo(o.shape, o.dtype, cpu.readSync(o.dataId)));
      for (const o of outs) hostIds.push(o.dataId);
      return Array.isArray(out) ? result : result[0];
    } finally {
      for (const id of new Set(hostIds)) cpu.disposeData(id, true);
    }
  };
}
