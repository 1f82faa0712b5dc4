/**
 * starmamba's CUDA library (native/cuda/starmamba_cuda.cu) as Deno sees it: the FFI signatures
 * of its C ABI — the selective scan (`ss_cuda_*`) and the `cuda` backend's runtime and kernels
 * (`smc_*`) — and one function that builds (cached), opens and checks it.
 * @module
 */
import { buildCudaSync, cudaLibPath } from "../../../native/cuda/build.ts";

const SHAPE = ["i32", "i32", "i32", "i32", "i32", "i32"] as const; // batch dim len dstate groups sp
const B7 = ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer", "buffer"] as const;
const P7 = ["pointer", "pointer", "pointer", "pointer", "pointer", "pointer", "pointer"] as const;

/** FFI signatures of the library's C ABI (see native/cuda/). */
export const CUDA_SYMBOLS = {
  ss_cuda_device_count: { parameters: [], result: "i32" },
  ss_cuda_last_error: { parameters: [], result: "pointer" },
  ss_cuda_device_name: { parameters: [], result: "pointer" },
  ss_cuda_is_emulated: { parameters: [], result: "i32" },
  ss_cuda_set_tile: { parameters: ["i32", "i32"], result: "i32" },
  ss_cuda_set_scratch_limit: { parameters: ["u64"], result: "void" },
  ss_cuda_emu_set_schedule: { parameters: ["i32", "u32"], result: "i32" },
  ss_cuda_alloc: { parameters: ["usize"], result: "pointer" },
  ss_cuda_free: { parameters: ["pointer"], result: "i32" },
  ss_cuda_memcpy_h2d: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  ss_cuda_memcpy_d2h: { parameters: ["buffer", "pointer", "usize"], result: "i32" },
  /** (shape, softplus, u, delta, A, B, C, D?, bias?, y) */
  ss_cuda_fwd: { parameters: [...SHAPE, ...B7, "buffer"], result: "i32" },
  ss_cuda_fwd_dev: { parameters: [...SHAPE, ...P7, "pointer"], result: "i32" },
  /** (shape, softplus, u, delta, A, B, C, D?, bias?, dy, du, ddelta, dA, dB, dC, dD?, dbias?) */
  ss_cuda_bwd: { parameters: [...SHAPE, ...B7, "buffer", ...B7], result: "i32" },
  ss_cuda_bwd_dev: { parameters: [...SHAPE, ...P7, "pointer", ...P7], result: "i32" },
  // The backend's runtime (native/cuda/backend/runtime.cuh)
  smc_alloc: { parameters: ["usize"], result: "pointer" },
  smc_free: { parameters: ["pointer"], result: "i32" },
  smc_empty_cache: { parameters: [], result: "i32" },
  smc_memory_stats: { parameters: ["buffer"], result: "void" },
  smc_reset_peak: { parameters: [], result: "void" },
  smc_upload: { parameters: ["pointer", "buffer", "usize"], result: "i32" },
  smc_download: { parameters: ["buffer", "pointer", "usize"], result: "i32" },
  smc_copy: { parameters: ["pointer", "pointer", "usize"], result: "i32" },
  smc_sync: { parameters: [], result: "i32" },
  smc_fill_f32: { parameters: ["pointer", "usize", "f32"], result: "i32" },
  smc_fill_i32: { parameters: ["pointer", "usize", "i32"], result: "i32" },
  smc_device_json: { parameters: [], result: "pointer" },
  // Elementwise kernels (native/cuda/backend/elementwise.cuh)
  smc_unary: {
    parameters: ["i32", "pointer", "pointer", "usize", "f32", "f32"],
    result: "i32",
  },
  smc_binary: {
    parameters: ["i32", "buffer", "pointer", "pointer", "pointer", "usize"],
    result: "i32",
  },
  smc_cast: { parameters: ["i32", "i32", "pointer", "pointer", "usize"], result: "i32" },
  smc_one_hot: {
    parameters: ["pointer", "usize", "i32", "f32", "f32", "pointer"],
    result: "i32",
  },
  /** (mode, R, C, eps, x, gamma, beta, y, mean, variance, rstd) */
  smc_norm_fwd: {
    parameters: [
      "i32",
      "i64",
      "i32",
      "f32",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
    ],
    result: "i32",
  },
  /** (mode, R, C, dy, x, gamma, mean, rstd, dx, dgamma, dbeta) */
  smc_norm_bwd: {
    parameters: [
      "i32",
      "i64",
      "i32",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
    ],
    result: "i32",
  },
  /** (B, H, W, C, k, x, filter, y) */
  smc_depthwise: {
    parameters: ["i32", "i32", "i32", "i32", "i32", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  // Data movement, reductions, matrix products, optimiser (native/cuda/backend/*.cuh)
  smc_strided_copy: { parameters: ["buffer", "pointer", "pointer", "i32", "i32"], result: "i32" },
  smc_reduce: { parameters: ["i32", "pointer", "pointer", "i64", "i64", "i64"], result: "i32" },
  smc_arg_reduce: {
    parameters: ["i32", "pointer", "pointer", "i64", "i64", "i64"],
    result: "i32",
  },
  smc_gemm_select: { parameters: ["i32"], result: "i32" },
  /** (batch, m, n, k, A, strideA, transA, B, strideB, transB, C) */
  smc_gemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "pointer",
      "i64",
      "i32",
      "pointer",
      "i64",
      "i32",
      "pointer",
    ],
    result: "i32",
  },
  /** (scalars[9], w, g, m, v, w', m', v', n) */
  smc_adam: {
    parameters: [
      "buffer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "usize",
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened library. */
export type CudaLibrary = Deno.DynamicLibrary<typeof CUDA_SYMBOLS>;

/** Return codes of the C ABI. */
export const CUDA_RC = { ok: 0, invalid: 1, cudaError: 2, noDevice: 3 } as const;

/** Reads a C string returned by the library ("" for null). */
export function cString(p: Deno.PointerValue): string {
  return p === null ? "" : Deno.UnsafePointerView.getCString(p);
}

/** The library's last error message (per calling thread). */
export function cudaLastError(lib: CudaLibrary): string {
  return cString(lib.symbols.ss_cuda_last_error());
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Options of {@link openCudaLibrary}. */
export interface OpenCudaOptions {
  /** Open the CPU-emulation build (libstarmamba_cuda_emu.so). Tests only. */
  emulate?: boolean;
  /** Build (cached by source hash) before opening; default true. */
  build?: boolean;
  /** Open this library file instead of the default build output. */
  libPath?: string;
}

/** Outcome of {@link openCudaLibrary}: the library with a visible device, or why not. */
export type CudaOpenResult =
  | { ok: true; lib: CudaLibrary; emulated: boolean }
  | { ok: false; reason: string };

/**
 * Builds (if needed) and opens the library and checks that a GPU is visible (always true for
 * the emulation build). Never throws for a missing toolchain or GPU: the reason comes back,
 * e.g. "nvcc not found ...", "no GPU visible: ss_cuda_device_count() = 0 (...)".
 */
export function openCudaLibrary(opts: OpenCudaOptions = {}): CudaOpenResult {
  const emulate = opts.emulate ?? false;
  let libPath = opts.libPath ?? cudaLibPath(emulate);
  if (!opts.libPath && opts.build !== false) {
    try {
      libPath = buildCudaSync({ emulate, quiet: true }).libPath ?? libPath;
    } catch (e) {
      return { ok: false, reason: errorMessage(e) };
    }
  }
  let lib: CudaLibrary;
  try {
    lib = Deno.dlopen(libPath, CUDA_SYMBOLS);
  } catch (e) {
    return { ok: false, reason: `cannot open ${libPath}: ${errorMessage(e)}` };
  }
  const n = lib.symbols.ss_cuda_device_count();
  if (n <= 0) {
    const why = cudaLastError(lib).replace(/^no GPU visible: /, "");
    lib.close();
    return { ok: false, reason: `no GPU visible: ss_cuda_device_count() = ${n} (${why})` };
  }
  return { ok: true, lib, emulated: lib.symbols.ss_cuda_is_emulated() === 1 };
}
