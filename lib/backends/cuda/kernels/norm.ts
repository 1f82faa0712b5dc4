/**
 * The fused LayerNorm / BatchNorm (lib/ops/norm.ts) on the device, forward and backward, with
 * float64 statistics in a fixed order (native/cuda/backend/norm.cuh).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { NORM, NORM_GRAD, type NormAttrs } from "../../../ops/norm.ts";
import type { CudaKernel, CudaKernelArgs } from "./types.ts";

/** (rows, channels) of x viewed as a matrix with channels innermost. */
function dims(x: tf.TensorInfo): [number, number] {
  const C = x.shape[x.shape.length - 1];
  return [x.shape.reduce((a, b) => a * b, 1) / C, C];
}

function forward({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo[] | null {
  const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
  if ([x, gamma, beta].some((t) => t.dtype !== "float32")) return null;
  const { mode, eps } = attrs as unknown as NormAttrs;
  const [R, C] = dims(x);
  const G = mode === "row" ? R : C;
  const y = backend.makeTensorInfo(x.shape, "float32");
  const [mean, variance, rstd] = [0, 1, 2].map(() => backend.makeTensorInfo([G], "float32"));
  const p = backend.pointer.bind(backend);
  backend.check(
    backend.lib.symbols.smc_norm_fwd(
      mode === "row" ? 0 : 1,
      BigInt(R),
      C,
      eps,
      p(x),
      p(gamma),
      p(beta),
      p(y),
      p(mean),
      p(variance),
      p(rstd),
    ),
    "norm forward",
  );
  return [y, mean, variance, rstd];
}

function backward({ inputs, backend, attrs }: CudaKernelArgs): tf.TensorInfo[] | null {
  const { dy, x, gamma, mean, rstd } = inputs as Record<string, tf.TensorInfo>;
  if ([dy, x, gamma, mean, rstd].some((t) => t.dtype !== "float32")) return null;
  const { mode } = attrs as unknown as NormAttrs;
  const [R, C] = dims(x);
  const dx = backend.makeTensorInfo(x.shape, "float32");
  const [dgamma, dbeta] = [0, 1].map(() => backend.makeTensorInfo([C], "float32"));
  const p = backend.pointer.bind(backend);
  backend.check(
    backend.lib.symbols.smc_norm_bwd(
      mode === "row" ? 0 : 1,
      BigInt(R),
      C,
      p(dy),
      p(x),
      p(gamma),
      p(mean),
      p(rstd),
      p(dx),
      p(dgamma),
      p(dbeta),
    ),
    "norm backward",
  );
  return [dx, dgamma, dbeta];
}

/** The fused norm's forward and backward. */
export const normKernels: CudaKernel[] = [
  { kernelName: NORM, kernelFunc: forward },
  { kernelName: NORM_GRAD, kernelFunc: backward },
];
