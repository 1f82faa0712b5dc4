/**
 * Chooses the selective-scan kernel for this process: the native C kernel when it builds and
 * loads (needs a C compiler and --allow-ffi), else the portable TypeScript loop.
 * @module
 */
import type { ScanKernel } from "./kernel.ts";
import { loopKernel } from "./loop.ts";
import { loadNativeKernel } from "./native.ts";
import { loadCudaKernel } from "./cuda.ts";
import { setScanKernel } from "./op.ts";
import { StarmambaError } from "../util/errors.ts";
import { setNativeGemm } from "../backend/fast_kernels.ts";

/**
 * STARMAMBA_NATIVE_GEMM=1 routes large wasm matmuls to the native gemm. Off by default: on the
 * 2-core machine it measured no faster than XNNPACK (bench, 2026-11-25), so the default path
 * stays the simpler one.
 */
function gemmWanted(): boolean {
  try {
    return Deno.env.get("STARMAMBA_NATIVE_GEMM") === "1";
  } catch {
    return false;
  }
}

/**
 * Selects and activates a kernel: "auto" (native, else loop), "native" or "cuda" (required),
 * "loop".
 */
export function selectScanKernel(
  choice: "auto" | "native" | "loop" | "cuda",
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
  let kernel: ScanKernel | null = null;
  if (choice !== "loop") {
    kernel = loadNativeKernel({ threads: opts.threads, quiet: opts.quiet || choice === "auto" });
    if (!kernel && choice === "native") {
      throw new StarmambaError(
        "model.scan_kernel is native but the C kernel could not be built or loaded: install gcc " +
          "(or set $CC) and run with --allow-ffi, or set model.scan_kernel: auto",
      );
    }
  }
  const native = kernel as { gemm?: (...a: never[]) => void } | null;
  // The native library also serves the wasm backend's matmuls (on every core).
  setNativeGemm(native?.gemm && gemmWanted() ? (native.gemm.bind(native) as never) : null);
  kernel ??= loopKernel;
  setScanKernel(kernel);
  return kernel;
}
