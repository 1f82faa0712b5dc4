/**
 * The SelectiveScan op: one tfjs kernel name, dispatched to the active {@link ScanKernel}
 * (portable TS loop, native C, or CUDA) on the cpu and wasm backends, with a registered
 * gradient that calls the kernel's fused backward once for all seven inputs.
 *
 * Models call {@link selectiveScan}; which kernel runs is chosen once per process with
 * {@link setScanKernel} (the experiment runner does this from the config), so models never
 * change when a faster kernel lands.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ScanGrads, ScanInputs, ScanKernel } from "./scan_kernel.ts";
import { withArrays } from "../backends/io.ts";

/** Kernel name of the forward scan. */
export const SELECTIVE_SCAN = "StarmambaSelectiveScan";
/** Kernel name of the fused backward (seven outputs). */
export const SELECTIVE_SCAN_GRAD = "StarmambaSelectiveScanGrad";

/** Options of {@link selectiveScan}. */
export interface ScanOptions {
  /** Apply softplus to delta (+ deltaBias), as SS2D does. */
  deltaSoftplus?: boolean;
}

let active: ScanKernel | null = null;

/** Selects the kernel that runs SelectiveScan in this process. */
export function setScanKernel(kernel: ScanKernel): void {
  active = kernel;
}

/** The kernel that currently runs SelectiveScan. */
export function getScanKernel(): ScanKernel {
  if (!active) throw new Error("no selective-scan kernel selected: call setScanKernel first");
  return active;
}

/** A kernel that can also write into caller-provided arrays (the native one). */
interface IntoKernel extends ScanKernel {
  forwardInto(x: ScanInputs, y: Float32Array): void;
  backwardInto(x: ScanInputs, dy: Float32Array, grads: ScanGrads): void;
}

function isInto(k: ScanKernel): k is IntoKernel {
  return typeof (k as Partial<IntoKernel>).forwardInto === "function" &&
    typeof (k as Partial<IntoKernel>).backwardInto === "function";
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
type Infos = Record<string, tf.TensorInfo>;

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

const INPUT_NAMES = ["u", "delta", "A", "B", "C", "D", "deltaBias"] as const;
const registered = new Set<string>();

/** Registers SelectiveScan for `backendName` (cpu, wasm, ...) and its gradient (idempotent). */
export function registerScanOp(backendName: string): void {
  if (registered.has(backendName)) return;
  registered.add(backendName);
  tf.registerKernel({
    kernelName: SELECTIVE_SCAN,
    backendName,
    kernelFunc: forwardKernel as never,
  });
  tf.registerKernel({
    kernelName: SELECTIVE_SCAN_GRAD,
    backendName,
    kernelFunc: backwardKernel as never,
  });
  if (registered.size > 1) return;
  tf.registerGradient({
    kernelName: SELECTIVE_SCAN,
    inputsToSave: [...INPUT_NAMES],
    gradFunc: (dy, saved, attrs) => {
      const inputs: tf.NamedTensorMap = { dy: dy as tf.Tensor };
      INPUT_NAMES.forEach((name, i) => (inputs[name] = saved[i]));
      // One fused backward for all seven gradients; each closure picks its output.
      const grads = tf.engine().runKernel(SELECTIVE_SCAN_GRAD, inputs, attrs) as tf.Tensor[];
      const out: Record<string, () => tf.Tensor> = {};
      INPUT_NAMES.forEach((name, i) => (out[name] = () => grads[i]));
      return out;
    },
  });
}

/**
 * Selective scan with the signature of mamba_ssm's `selective_scan_fn`.
 * u, delta (batch, dim, L); A (dim, N); B, C (batch, groups, N, L); D, deltaBias (dim).
 * Returns y (batch, dim, L). Differentiable in every input.
 */
export function selectiveScan(
  u: tf.Tensor3D,
  delta: tf.Tensor3D,
  A: tf.Tensor2D,
  B: tf.Tensor4D,
  C: tf.Tensor4D,
  D?: tf.Tensor1D | null,
  deltaBias?: tf.Tensor1D | null,
  opts: ScanOptions = {},
): tf.Tensor3D {
  return tf.tidy(() => {
    const dim = u.shape[1];
    const inputs: tf.NamedTensorMap = {
      u,
      delta,
      A,
      B,
      C,
      D: D ?? tf.zeros([dim]),
      deltaBias: deltaBias ?? tf.zeros([dim]),
    };
    return tf.engine().runKernel(SELECTIVE_SCAN, inputs, {
      deltaSoftplus: Boolean(opts.deltaSoftplus),
    } as never) as tf.Tensor3D;
  });
}
