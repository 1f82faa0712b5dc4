/**
 * Chooses the selective-scan kernel for this process: the native C kernel when it builds and
 * loads (needs a C compiler and --allow-ffi), else the portable TypeScript loop. The second step
 * of openRuntime (runtime.ts), after the backend's; tests of the kernels call it alone.
 * @module
 */
import type { ScanKernel } from "../ops/scan_kernel.ts";
import { loopKernel } from "../ops/scan_loop.ts";
import { loadNativeKernel } from "./wasm/native.ts";
import { loadCudaKernel } from "./cuda/cuda.ts";
import { setScanKernel } from "../ops/scan_kernel.ts";
import { StarmambaError } from "../util/errors.ts";
import { setNativeHooks } from "./wasm/hooks.ts";

/**
 * Large wasm matmuls and stride-1 convolutions go to the native gemm (on every core, 5–8× the
 * single-thread XNNPACK kernels here) unless STARMAMBA_NATIVE_GEMM=0.
 */
function gemmWanted(): boolean {
  try {
    return Deno.env.get("STARMAMBA_NATIVE_GEMM") !== "0";
  } catch {
    return true;
  }
}

/** What `model.scan_kernel` may say. */
export type ScanKernelChoice = "auto" | "native" | "loop" | "cuda";

/**
 * Selects and activates a kernel: "auto" (native, else loop), "native" or "cuda" (required),
 * "loop". Loading the native library also sets the wasm backend's native hooks (wasm/hooks.ts).
 */
export function selectScanKernel(
  choice: ScanKernelChoice,
  opts: { threads?: number; quiet?: boolean } = {},
): ScanKernel {
  if (choice === "cuda") {
    const r = loadCudaKernel();
    if (!r.ok) {
      throw new StarmambaError(
        `model.scan_kernel is cuda but the CUDA kernel is unavailable: ${r.reason}. ` +
          "Use a machine with an NVIDIA GPU and the CUDA toolkit (deno task build:cuda), or set " +
          "model.scan_kernel: auto",
      );
    }
    setScanKernel(r.kernel);
    return r.kernel;
  }
  const native = choice === "loop"
    ? null
    : loadNativeKernel({ threads: opts.threads, quiet: opts.quiet || choice === "auto" });
  if (!native && choice === "native") {
    throw new StarmambaError(
      "model.scan_kernel is native but the C kernel could not be built or loaded: install gcc " +
        "(or set $CC) and run with --allow-ffi, or set model.scan_kernel: auto",
    );
  }
  // The native library also serves the wasm backend's matmuls, convolutions, normalisations and
  // Adam updates (on every core).
  const useGemm = native !== null && gemmWanted();
  setNativeHooks({
    gemm: useGemm ? native.gemm : null,
    conv: useGemm ? native : null,
    adam: native?.adamStep ?? null,
    norm: native?.norm ?? null,
    ema: native?.ema ?? null,
    // The fused block is built on the native gemm and convolutions.
    block: useGemm ? native.block : null,
  });
  const kernel: ScanKernel = native ?? loopKernel;
  setScanKernel(kernel);
  return kernel;
}
