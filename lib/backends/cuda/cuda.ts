/**
 * The CUDA selective-scan kernel (native/cuda/selective_scan.cu) as a {@link ScanKernel}:
 * builds the library with nvcc if needed, opens it with Deno.dlopen (needs --allow-ffi) and
 * checks that a GPU is visible.
 *
 * ```ts
 * const r = loadCudaKernel();
 * if (r.ok) setScanKernel(r.kernel); else console.error(`CUDA scan unavailable: ${r.reason}`);
 * ```
 * The kernels copy the host arrays to the GPU and back on every call (simplest correct path).
 * @module
 */
import type { ScanGrads, ScanInputs, ScanKernel } from "../../ops/scan_kernel.ts";
import { cString, CUDA_RC, cudaLastError, type CudaLibrary, openCudaLibrary } from "./library.ts";

export { CUDA_RC, CUDA_SYMBOLS, cudaLastError, type CudaLibrary } from "./library.ts";

/** Default bytes of dB/dC scratch per backward batch slice. */
export const DEFAULT_SCRATCH_BYTES = 256 * 2 ** 20;

/** A {@link ScanKernel} backed by the CUDA library. */
export interface CudaScanKernel extends ScanKernel {
  /** Device description, e.g. "NVIDIA H100 80GB HBM3 (sm_90)". */
  readonly device: string;
  /** True for the CPU-emulation build (tests only; name "cuda-emu"). */
  readonly emulated: boolean;
  /** The raw library, for device-buffer use (ss_cuda_alloc, ss_cuda_fwd_dev, ...). */
  readonly lib: CudaLibrary;
  /** Closes the library; the kernel must not be used afterwards. */
  close(): void;
}

/** Outcome of {@link loadCudaKernel}: a kernel, or why there is none. */
export type CudaLoadResult =
  | { ok: true; kernel: CudaScanKernel }
  | { ok: false; reason: string };

/** Options of {@link loadCudaKernel}. */
export interface LoadCudaOptions {
  /** Load the CPU-emulation build (libstarmamba_cuda_emu.so) instead of the GPU one. Tests only. */
  emulate?: boolean;
  /** Build (cached by source hash) before loading; default true. */
  build?: boolean;
  /** Open this library file instead of the default build output. */
  libPath?: string;
  /** Force the block shape [threads, itemsPerThread] (one of the compiled tiles); tests use it to
   * get several chunks from short sequences. Default: 32 × 4 (chunks of 128 steps). */
  tile?: [number, number];
  /** Bytes of dB/dC scratch the backward may use per batch slice (default
   * {@link DEFAULT_SCRATCH_BYTES}); tests use 1 to force one batch element per slice. */
  scratchBytes?: number;
}

function checkLength(name: string, arr: Float32Array | undefined, want: number): void {
  if (arr && arr.length !== want) {
    throw new Error(`cuda scan: ${name} has ${arr.length} elements, expected ${want}`);
  }
}

/** Checks every array against the shape, so the C side never reads out of bounds. */
function checkInputs(x: ScanInputs): void {
  const { batch, dim, len, dstate, groups } = x;
  for (const [k, v] of Object.entries({ batch, dim, len, dstate, groups })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`cuda scan: ${k}=${v} must be an integer >= 1`);
    }
  }
  checkLength("u", x.u, batch * dim * len);
  checkLength("delta", x.delta, batch * dim * len);
  checkLength("A", x.A, dim * dstate);
  checkLength("B", x.B, batch * groups * dstate * len);
  checkLength("C", x.C, batch * groups * dstate * len);
  checkLength("D", x.D, dim);
  checkLength("deltaBias", x.deltaBias, dim);
}

function makeKernel(lib: CudaLibrary, opts: LoadCudaOptions): CudaScanKernel {
  const s = lib.symbols;
  const emulated = s.ss_cuda_is_emulated() === 1;
  const device = cString(s.ss_cuda_device_name());
  const configure = (): void => {
    const [threads, items] = opts.tile ?? [0, 0];
    if (s.ss_cuda_set_tile(threads, items) !== CUDA_RC.ok) {
      throw new Error(`cuda scan: ${cudaLastError(lib)}`);
    }
    // Set on every call: the library's settings are per process, shared by every handle.
    s.ss_cuda_set_scratch_limit(BigInt(opts.scratchBytes ?? DEFAULT_SCRATCH_BYTES));
  };
  const check = (rc: number, what: string): void => {
    if (rc !== CUDA_RC.ok) {
      throw new Error(`cuda scan ${what} failed (code ${rc}): ${cudaLastError(lib)}`);
    }
  };
  return {
    name: emulated ? "cuda-emu" : "cuda",
    device,
    emulated,
    lib,
    forward(x: ScanInputs): Float32Array {
      checkInputs(x);
      configure();
      const y = new Float32Array(x.batch * x.dim * x.len);
      // deno-fmt-ignore
      const rc = s.ss_cuda_fwd(
        x.batch, x.dim, x.len, x.dstate, x.groups, x.deltaSoftplus ? 1 : 0,
        x.u, x.delta, x.A, x.B, x.C, x.D ?? null, x.deltaBias ?? null, y,
      );
      check(rc, "forward");
      return y;
    },
    backward(x: ScanInputs, dy: Float32Array): ScanGrads {
      checkInputs(x);
      checkLength("dy", dy, x.batch * x.dim * x.len);
      configure();
      const g: ScanGrads = {
        du: new Float32Array(x.u.length),
        ddelta: new Float32Array(x.delta.length),
        dA: new Float32Array(x.A.length),
        dB: new Float32Array(x.B.length),
        dC: new Float32Array(x.C.length),
      };
      // ScanGrads: dD / ddeltaBias present iff D / deltaBias were given.
      if (x.D) g.dD = new Float32Array(x.dim);
      if (x.deltaBias) g.ddeltaBias = new Float32Array(x.dim);
      // deno-fmt-ignore
      const rc = s.ss_cuda_bwd(
        x.batch, x.dim, x.len, x.dstate, x.groups, x.deltaSoftplus ? 1 : 0,
        x.u, x.delta, x.A, x.B, x.C, x.D ?? null, x.deltaBias ?? null, dy,
        g.du, g.ddelta, g.dA, g.dB, g.dC, g.dD ?? null, g.ddeltaBias ?? null,
      );
      check(rc, "backward");
      return g;
    },
    close(): void {
      lib.close();
    },
  };
}

/**
 * Builds (if needed) and opens the CUDA library and returns a kernel when a GPU is visible.
 * Never throws for an unavailable GPU or toolchain: the reason comes back instead, e.g.
 * "nvcc not found ...", "no GPU visible: ss_cuda_device_count() = 0 (...)".
 */
export function loadCudaKernel(opts: LoadCudaOptions = {}): CudaLoadResult {
  const r = openCudaLibrary(opts);
  return r.ok ? { ok: true, kernel: makeKernel(r.lib, opts) } : r;
}

/** Seven device pointers, in the C ABI's order. */
type Ptr7 = readonly [
  Deno.PointerValue,
  Deno.PointerValue,
  Deno.PointerValue,
  Deno.PointerValue,
  Deno.PointerValue,
  Deno.PointerValue,
  Deno.PointerValue,
];

/** One scan's arrays on the GPU, for the device-buffer API (no host copies per call). */
export interface DeviceScan {
  /** batch, dim, len, dstate, groups, softplus: the leading arguments of the `_dev` calls. */
  readonly shape: readonly [number, number, number, number, number, number];
  /** u, delta, A, B, C, D, delta_bias, copied from the host (D and delta_bias null if absent). */
  readonly inputs: Ptr7;
  /** dy, copied from the host. */
  readonly dy: Deno.PointerValue;
  /** y, written by {@link DeviceScan.forward}. */
  readonly y: Deno.PointerValue;
  /** du, ddelta, dA, dB, dC, dD, ddelta_bias, written by {@link DeviceScan.backward}. */
  readonly grads: Ptr7;
  /** ss_cuda_fwd_dev on these buffers; returns the C return code. */
  forward(): number;
  /** ss_cuda_bwd_dev on these buffers; returns the C return code. */
  backward(): number;
  /** Copies n floats at a device pointer back to the host. */
  read(p: Deno.PointerValue, n: number): Float32Array;
  /** Frees every buffer; the object must not be used afterwards. */
  free(): void;
}

/**
 * Copies a scan's inputs (and the output gradient dy) to the GPU and allocates its outputs, for
 * callers that keep tensors on the device (benchmarks, tests of the device-buffer API).
 */
export function deviceScan(lib: CudaLibrary, x: ScanInputs, dy: Float32Array): DeviceScan {
  checkInputs(x);
  const s = lib.symbols;
  const bufs: Deno.PointerObject[] = [];
  const free = () => bufs.splice(0).forEach((p) => s.ss_cuda_free(p));
  const alloc = (n: number, init?: Float32Array): Deno.PointerObject => {
    const p = s.ss_cuda_alloc(BigInt(n * 4));
    if (p === null) throw new Error(`cuda: alloc of ${n} floats failed: ${cudaLastError(lib)}`);
    bufs.push(p);
    if (init && s.ss_cuda_memcpy_h2d(p, init, BigInt(n * 4)) !== CUDA_RC.ok) {
      throw new Error(`cuda: host-to-device copy failed: ${cudaLastError(lib)}`);
    }
    return p;
  };
  try {
    const nu = x.u.length, na = x.A.length, nbc = x.B.length;
    const opt = (a: Float32Array | undefined) => (a ? alloc(x.dim, a) : null);
    const inputs: Ptr7 = [
      alloc(nu, x.u),
      alloc(nu, x.delta),
      alloc(na, x.A),
      alloc(nbc, x.B),
      alloc(nbc, x.C),
      opt(x.D),
      opt(x.deltaBias),
    ];
    const dyDev = alloc(nu, dy), y = alloc(nu);
    const grads: Ptr7 = [
      alloc(nu),
      alloc(nu),
      alloc(na),
      alloc(nbc),
      alloc(nbc),
      x.D ? alloc(x.dim) : null,
      x.deltaBias ? alloc(x.dim) : null,
    ];
    const shape = [x.batch, x.dim, x.len, x.dstate, x.groups, x.deltaSoftplus ? 1 : 0] as const;
    return {
      shape,
      inputs,
      dy: dyDev,
      y,
      grads,
      forward: () => s.ss_cuda_fwd_dev(...shape, ...inputs, y),
      backward: () => s.ss_cuda_bwd_dev(...shape, ...inputs, dyDev, ...grads),
      read(p: Deno.PointerValue, n: number): Float32Array {
        const out = new Float32Array(n);
        if (s.ss_cuda_memcpy_d2h(out, p, BigInt(n * 4)) !== CUDA_RC.ok) {
          throw new Error(`cuda: device-to-host copy failed: ${cudaLastError(lib)}`);
        }
        return out;
      },
      free,
    };
  } catch (e) {
    free();
    throw e;
  }
}
