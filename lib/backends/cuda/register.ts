/**
 * The `cuda` backend's registration: the tfjs backend factory and one list of the kernels it runs
 * on the device (one file each under kernels/). Every other kernel the cpu backend has —
 * tfjs's own and starmamba's custom ops — is registered as a host fallback (fallback.ts), so
 * any model runs from the first day and the list grows kernel by kernel.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { StarmambaError } from "../../util/errors.ts";
import { CudaBackend } from "./backend.ts";
import { openCudaLibrary } from "./library.ts";
import { hostFallback } from "./fallback.ts";
import type { Capabilities } from "../../ops/capabilities.ts";
import type { CudaKernel, CudaKernelArgs } from "./kernels/types.ts";
import { elementwiseKernels } from "./kernels/elementwise.ts";
import { castKernels } from "./kernels/cast.ts";
import { reshapeKernels } from "./kernels/reshape.ts";
import { fillKernels } from "./kernels/fill.ts";
import { selectiveScanKernels } from "./kernels/selective_scan.ts";
import { copyKernels } from "./kernels/copy.ts";
import { reduceKernels } from "./kernels/reduce.ts";
import { matMulKernels } from "./kernels/matmul.ts";
import { normKernels } from "./kernels/norm.ts";
import { convKernels } from "./kernels/conv.ts";
import { spaceToDepthKernels } from "./kernels/space_to_depth.ts";
import { crossScanKernels } from "./kernels/cross_scan.ts";
import { adamKernels } from "./kernels/adam.ts";
import { emaKernels } from "./kernels/ema.ts";

/** The cuda backend's own kernels: on the device, but for the moving average (it reads back). */
export const CUDA_KERNELS: CudaKernel[] = [
  ...elementwiseKernels,
  ...castKernels,
  ...reshapeKernels,
  ...fillKernels,
  ...selectiveScanKernels,
  ...copyKernels,
  ...reduceKernels,
  ...matMulKernels,
  ...normKernels,
  ...convKernels,
  ...spaceToDepthKernels,
  ...crossScanKernels,
  // The optimiser's ops: Adam on the device; the moving average reads the weights back.
  ...adamKernels,
  ...emaKernels,
];

/** Set STARMAMBA_CUDA_EMULATE=1 to run the backend on the CPU emulation build (tests only). */
export const CUDA_EMULATE_ENV = "STARMAMBA_CUDA_EMULATE";

function emulationRequested(): boolean {
  try {
    return Deno.env.get(CUDA_EMULATE_ENV) === "1";
  } catch {
    return false;
  }
}

/**
 * Which library the "cuda" backend factory was registered with: an idempotence guard (tfjs's
 * backend registry is per process and a second registration of the name is refused), not state
 * of a runtime.
 */
let registeredWith: string | null = null;

/** The active backend as a CudaBackend (after {@link registerCudaBackend}). */
export function cudaBackend(): CudaBackend {
  return tf.findBackend("cuda") as CudaBackend;
}

/**
 * Opens the library (GPU build, or the emulation build when STARMAMBA_CUDA_EMULATE=1), registers
 * the "cuda" backend and its kernels. Call after the cpu backend's kernels are registered (their
 * list is what falls back). Throws a StarmambaError (exit 2) naming what is missing when there is
 * no GPU, driver or nvcc: a run that asked for cuda never falls back to the CPU silently.
 */
export function registerCudaBackend(): void {
  const emulate = emulationRequested();
  const want = emulate ? "emulated" : "gpu";
  if (registeredWith === want) return;
  if (registeredWith !== null) {
    throw new Error(`the cuda backend is already registered (${registeredWith}) in this process`);
  }
  const r = openCudaLibrary({ emulate });
  if (!r.ok) {
    throw new StarmambaError(
      `backend "cuda" needs an NVIDIA GPU with its driver and the CUDA toolkit (nvcc): ` +
        `${r.reason}. Install what is missing (https://developer.nvidia.com/cuda-downloads), ` +
        "or choose another backend (key: backend, e.g. wasm).",
    );
  }
  const lib = r.lib;
  // Priority -1: never chosen by tfjs on its own, only when a config asks for it.
  tf.registerBackend("cuda", () => new CudaBackend(lib), -1);
  const ported = new Map(CUDA_KERNELS.map((k) => [k.kernelName, k]));
  for (const k of tf.getKernelsForBackend("cpu")) {
    if (tf.getKernel(k.kernelName, "cuda")) continue;
    const fallback = hostFallback(k.kernelName, k.kernelFunc);
    const device = ported.get(k.kernelName);
    const kernelFunc = device
      ? (args: CudaKernelArgs) => device.kernelFunc(args) ?? fallback(args)
      : fallback;
    tf.registerKernel({
      kernelName: k.kernelName,
      backendName: "cuda",
      kernelFunc: kernelFunc as never,
    });
  }
  for (const k of CUDA_KERNELS) {
    if (tf.getKernel(k.kernelName, "cuda")) continue;
    tf.registerKernel({
      kernelName: k.kernelName,
      backendName: "cuda",
      kernelFunc: ((args: CudaKernelArgs) => {
        const out = k.kernelFunc(args);
        if (!out) {
          throw new Error(`cuda backend: ${k.kernelName} has no host fallback for these inputs`);
        }
        return out;
      }) as never,
    });
  }
  registeredWith = want;
}

/** What cuda does, as the ops ask it (installed when the runtime activates cuda). */
export const CUDA_CAPABILITIES: Partial<Capabilities> = {
  // The fused SS2D core is native C on the host: on cuda the model composes it from device ops
  // (cross-scan, gemms, the selective scan, cross-merge).
  fusedSS2DCore: () => tf.getBackend() !== "cuda",
};
