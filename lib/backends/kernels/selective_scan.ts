/**
 * Kernels of the SelectiveScan op (lib/ops/selective_scan.ts) for the cpu and wasm backends: raw
 * arrays of the tensors (lib/backends/io.ts) handed to the active scan kernel, which writes into
 * the backend's output buffers when it can.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { type ScanOptions, SELECTIVE_SCAN, SELECTIVE_SCAN_GRAD } from "../../ops/selective_scan.ts";
import { getScanKernel, isInto, type ScanInputs } from "../../ops/scan_kernel.ts";
import { type KernelArgs, type KernelSpec, withArrays } from "../io.ts";

type Infos = Record<string, tf.TensorInfo>;
const INPUT_NAMES = ["u", "delta", "A", "B", "C", "D", "deltaBias"] as const;

function scanInputs(inp: Infos, arrays: Float32Array[], attrs?: tf.NamedAttrMap): ScanInputs {
  const [batch, dim, len] = inp.u.shape;
  const [, groups, dstate] = inp.B.shape;
  const [u, delta, A, B, C, D, deltaBias] = arrays;
  const deltaSoftplus = Boolean((attrs as unknown as ScanOptions | undefined)?.deltaSoftplus);
  return { batch, dim, len, dstate, groups, u, delta, A, B, C, D, deltaBias, deltaSoftplus };
}

function forwardKernel(args: KernelArgs): tf.TensorInfo {
  const inp = args.inputs as Infos;
  const infos = INPUT_NAMES.map((n) => inp[n]);
  return withArrays(args.backend, infos, [inp.u.shape], (ins, [y]) => {
    const k = getScanKernel();
    const x = scanInputs(inp, ins, args.attrs);
    // Kernels that can write in place go straight into the backend's output buffer.
    if (isInto(k)) k.forwardInto(x, y);
    else y.set(k.forward(x));
  })[0];
}

function backwardKernel(args: KernelArgs): tf.TensorInfo[] {
  const inp = args.inputs as Infos;
  const infos = [...INPUT_NAMES.map((n) => inp[n]), inp.dy];
  const shapes = INPUT_NAMES.map((n) => inp[n].shape);
  return withArrays(args.backend, infos, shapes, (ins, outs) => {
    const k = getScanKernel();
    const x = scanInputs(inp, ins, args.attrs);
    if (isInto(k)) {
      const [du, ddelta, dA, dB, dC, dD, ddeltaBias] = outs;
      k.backwardInto(x, ins[7], { du, ddelta, dA, dB, dC, dD, ddeltaBias });
      return;
    }
    const g = k.backward(x, ins[7]);
    [g.du, g.ddelta, g.dA, g.dB, g.dC, g.dD, g.ddeltaBias].forEach((v, i) => v && outs[i].set(v));
  });
}

/** The op's forward and backward kernels. */
export const selectiveScanKernels: KernelSpec[] = [
  { kernelName: SELECTIVE_SCAN, kernelFunc: forwardKernel },
  { kernelName: SELECTIVE_SCAN_GRAD, kernelFunc: backwardKernel },
];
