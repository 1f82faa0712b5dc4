/**
 * The fused SS2D core as one tfjs op: cross-scan → per-direction x_proj and dt_proj →
 * selective scan → cross-merge, forward and backward in native code
 * (native/cpu/ss2d_core.c). Used by the model whenever the active scan kernel carries it (the
 * native kernel); otherwise SS2D runs as separate tfjs ops (lib/model/ss2d.ts), which is also
 * the reference this op is tested against.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { withArrays } from "../backends/io.ts";
import { getScanKernel } from "./selective_scan.ts";
import type { NativeSS2D, SS2DCoreDims } from "../backends/wasm/native.ts";

/** Kernel name of the fused forward. */
export const SS2D_CORE = "StarmambaSS2DCore";
/** Kernel name of the fused backward (six outputs). */
export const SS2D_CORE_GRAD = "StarmambaSS2DCoreGrad";

const INPUTS = ["xc", "Wx", "Wdt", "bias", "A", "D"] as const;

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };
type Infos = Record<string, tf.TensorInfo>;

/** The fused core of the active scan kernel, or null if it has none. */
export function fusedSS2D(): NativeSS2D | null {
  try {
    return (getScanKernel() as { ss2d?: NativeSS2D }).ss2d ?? null;
  } catch {
    return null;
  }
}

function dimsOf(inp: Infos): SS2DCoreDims {
  const [B, H, W, di] = inp.xc.shape;
  const [K, C2] = inp.Wx.shape;
  const R = inp.Wdt.shape[2];
  return { B, H, W, di, K, N: (C2 - R) / 2, R };
}

function forwardKernel(args: KernelArgs): tf.TensorInfo {
  const inp = args.inputs as Infos;
  const core = fusedSS2D();
  if (!core) throw new Error("SS2D core op needs the native scan kernel");
  return withArrays(args.backend, INPUTS.map((n) => inp[n]), [inp.xc.shape], (ins, [y]) => {
    const [xc, Wx, Wdt, bias, A, D] = ins;
    core.forwardInto(dimsOf(inp), { xc, Wx, Wdt, bias, A, D }, y);
  })[0];
}

function backwardKernel(args: KernelArgs): tf.TensorInfo[] {
  const inp = args.inputs as Infos;
  const core = fusedSS2D();
  if (!core) throw new Error("SS2D core op needs the native scan kernel");
  const infos = [...INPUTS.map((n) => inp[n]), inp.dy];
  return withArrays(args.backend, infos, INPUTS.map((n) => inp[n].shape), (ins, outs) => {
    const [xc, Wx, Wdt, bias, A, D, dy] = ins;
    const [dxc, dWx, dWdt, dbias, dA, dD] = outs;
    core.backwardInto(dimsOf(inp), { xc, Wx, Wdt, bias, A, D }, dy, {
      dxc,
      dWx,
      dWdt,
      dbias,
      dA,
      dD,
    });
  });
}

const registered = new Set<string>();

/** Registers the fused op for a backend, and its gradient (idempotent). */
export function registerSS2DCore(backendName: string): void {
  if (registered.has(backendName)) return;
  registered.add(backendName);
  tf.registerKernel({ kernelName: SS2D_CORE, backendName, kernelFunc: forwardKernel as never });
  tf.registerKernel({
    kernelName: SS2D_CORE_GRAD,
    backendName,
    kernelFunc: backwardKernel as never,
  });
  if (registered.size > 1) return;
  tf.registerGradient({
    kernelName: SS2D_CORE,
    inputsToSave: [...INPUTS],
    gradFunc: (dy, saved) => {
      const inputs: tf.NamedTensorMap = { dy: dy as tf.Tensor };
      INPUTS.forEach((n, i) => (inputs[n] = saved[i]));
      const g = tf.engine().runKernel(SS2D_CORE_GRAD, inputs) as tf.Tensor[];
      const out: Record<string, () => tf.Tensor> = {};
      INPUTS.forEach((n, i) => (out[n] = () => g[i]));
      return out;
    },
  });
}

/**
 * Fused SS2D core. xc (B,H,W,d_inner) after the depthwise conv and SiLU; Wx (K, dt_rank + 2N,
 * d_inner); Wdt (K, d_inner, dt_rank); bias (K·d_inner); A (K·d_inner, N) = −exp(A_log);
 * D (K·d_inner). Returns the cross-merged scan output (B,H,W,d_inner), before out_norm.
 */
export function ss2dCore(
  xc: tf.Tensor4D,
  Wx: tf.Tensor3D,
  Wdt: tf.Tensor3D,
  bias: tf.Tensor1D,
  A: tf.Tensor2D,
  D: tf.Tensor1D,
): tf.Tensor4D {
  return tf.engine().runKernel(SS2D_CORE, { xc, Wx, Wdt, bias, A, D }) as tf.Tensor4D;
}
