/**
 * The `cuda` tfjs backend: a KernelBackend whose tensors live in GPU memory (buffers from the
 * library's caching allocator, native/cuda/backend/runtime.cuh). Tensors are copied to the host
 * only when read (read/readSync: metrics, checkpoints, predictions, and kernels not ported yet —
 * see fallback.ts); new tensors from host values (a batch, a parameter's initial value) are
 * uploaded once by `write`.
 *
 * Registered with tf.registerBackend as "cuda" by ./register.ts; kernels come from its
 * registration list. String tensors (never used by the network) stay on the host.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { cString, CUDA_RC, cudaLastError, type CudaLibrary } from "./library.ts";

/** Bytes per element of each dtype on the device. */
const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/** tfjs's values type of a backend. */
type Values = tf.backend_util.BackendValues;

/** One tensor's storage. */
interface Entry {
  /** Device buffer (null for empty tensors and strings). */
  ptr: Deno.PointerValue;
  /** Number of elements. */
  size: number;
  dtype: tf.DataType;
  /** How many TensorInfos share this buffer (reshape shares it). */
  refCount: number;
  /** Host values of a string tensor. */
  strings?: Values;
}

/** The device, its driver and runtime, as `smc_device_json` reports them. */
export interface CudaDeviceInfo {
  /** e.g. "NVIDIA H200", or "CPU emulation of the CUDA kernels". */
  name: string;
  /** True for the CPU-emulation build (tests). */
  emulated: boolean;
  /** e.g. "9.0"; null under emulation. */
  compute_capability: string | null;
  /** CUDA driver API version, e.g. "13.0"; null under emulation. */
  driver: string | null;
  /** CUDA runtime version the library was built with, e.g. "13.0"; null under emulation. */
  runtime: string | null;
  /** Total device memory; null under emulation. */
  memory_bytes: number | null;
}

/** Device memory counters of the caching allocator, in bytes. */
export interface CudaMemoryStats {
  /** Held by live tensors (rounded to the allocator's size classes). */
  inUse: number;
  /** Most ever held by live tensors since the start or the last resetPeak. */
  peak: number;
  /** Taken from the device: live plus cached free buffers. */
  reserved: number;
  /** cudaMalloc calls so far (each is slow: the cache exists to keep this small). */
  deviceMallocs: number;
}

/** The KernelBackend of `backend: cuda`. */
export class CudaBackend extends tf.KernelBackend {
  /** The opened library (its kernels are called by ./kernels/). */
  readonly lib: CudaLibrary;
  /** What the device is. */
  readonly device: CudaDeviceInfo;
  private readonly data: tf.DataStorage<Entry>;

  /** Wraps an opened library (./library.ts: openCudaLibrary). */
  constructor(lib: CudaLibrary) {
    super();
    this.lib = lib;
    this.device = JSON.parse(cString(lib.symbols.smc_device_json()) || "{}") as CudaDeviceInfo;
    this.data = new tf.DataStorage(this, tf.engine());
  }

  /** Throws with the library's message when a C call failed. */
  check(rc: number, what: string): void {
    if (rc !== CUDA_RC.ok) throw new Error(`cuda backend: ${what}: ${cudaLastError(this.lib)}`);
  }

  private allocate(size: number, dtype: tf.DataType): Deno.PointerValue {
    if (size === 0) return null;
    const bytes = size * (BYTES[dtype] ?? 0);
    if (bytes === 0) throw new Error(`cuda backend: dtype ${dtype} is not supported on the device`);
    const p = this.lib.symbols.smc_alloc(BigInt(bytes));
    if (p === null) throw new Error(`cuda backend: ${cudaLastError(this.lib)}`);
    return p;
  }

  /** Uploads host values into an entry's buffer (converted to the dtype's typed array). */
  private upload(e: Entry, values: Values): void {
    if (e.ptr === null) return;
    const typed = toTyped(values, e.dtype);
    this.check(
      this.lib.symbols.smc_upload(e.ptr, typed as BufferSource, BigInt(typed.byteLength)),
      "upload",
    );
  }

  /** A new buffer of `size` elements (contents undefined) with refCount 1; returns its id. */
  private store(size: number, dtype: tf.DataType, values: Values | null): tf.DataId {
    const dataId = {};
    const e: Entry = { ptr: null, size, dtype, refCount: 1 };
    if (dtype === "string") e.strings = values ?? [];
    else e.ptr = this.allocate(size, dtype);
    if (values !== null && dtype !== "string") this.upload(e, values);
    this.data.set(dataId, e);
    return dataId;
  }

  /** tfjs: stores host values, returns a new data id. */
  override write(values: Values, shape: number[], dtype: tf.DataType): tf.DataId {
    return this.store(tf.util.sizeFromShape(shape), dtype, values);
  }

  /** tfjs: stores host values under an existing id (moving a tensor from another backend). */
  override move(
    dataId: tf.DataId,
    values: Values,
    shape: number[],
    dtype: tf.DataType,
    refCount: number,
  ): void {
    const id = this.store(tf.util.sizeFromShape(shape), dtype, values);
    const e = this.data.get(id);
    this.data.delete(id);
    e.refCount = refCount;
    this.data.set(dataId, e);
  }

  /**
   * A TensorInfo for a new buffer: with `values` uploaded, or uninitialised (kernels write it).
   */
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: Values | string[]): tf.TensorInfo {
    const size = tf.util.sizeFromShape(shape);
    const dataId = this.store(size, dtype, (values as Values | undefined) ?? null);
    return { dataId, shape, dtype };
  }

  /** The device pointer of a tensor (null for an empty one). Kernels use it. */
  pointer(info: tf.TensorInfo | tf.DataId): Deno.PointerValue {
    const id = "dataId" in (info as tf.TensorInfo) ? (info as tf.TensorInfo).dataId : info;
    return this.entry(id as tf.DataId).ptr;
  }

  private entry(dataId: tf.DataId): Entry {
    const e = this.data.get(dataId);
    if (!e) throw new Error("cuda backend: unknown tensor (disposed, or from another backend)");
    return e;
  }

  /** tfjs: copies a tensor's values to the host (waits for the kernels that write it). */
  override readSync(dataId: tf.DataId): Values {
    const e = this.entry(dataId);
    if (e.dtype === "string") return e.strings ?? [];
    const out = newTyped(e.dtype, e.size);
    if (e.ptr !== null) {
      this.check(
        this.lib.symbols.smc_download(out as BufferSource, e.ptr, BigInt(out.byteLength)),
        "download",
      );
    }
    return out;
  }

  /** tfjs: as readSync (the copy waits for the device). */
  override read(dataId: tf.DataId): Promise<Values> {
    try {
      return Promise.resolve(this.readSync(dataId));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** tfjs: drops one reference; frees the buffer (back to the cache) at the last one. */
  override disposeData(dataId: tf.DataId, force = false): boolean {
    const e = this.data.get(dataId);
    if (!e) return true;
    e.refCount--;
    if (e.refCount > 0 && !force) return false;
    if (e.ptr !== null) this.check(this.lib.symbols.smc_free(e.ptr), "free");
    this.data.delete(dataId);
    return true;
  }

  /** tfjs: one more TensorInfo shares this buffer. */
  override incRef(dataId: tf.DataId): void {
    const e = this.data.get(dataId);
    if (e) e.refCount++;
  }

  /** tfjs: how many TensorInfos share this buffer. */
  override refCount(dataId: tf.DataId): number {
    return this.data.get(dataId)?.refCount ?? 0;
  }

  /** tfjs: live buffers. */
  override numDataIds(): number {
    return this.data.numDataIds();
  }

  /** tfjs: memory as tf.memory() reports it, with the allocator's counters. */
  override memory(): { unreliable: boolean; reasons?: string[] } & CudaMemoryStats {
    return { unreliable: false, ...this.memoryStats() };
  }

  /** The caching allocator's counters. */
  memoryStats(): CudaMemoryStats {
    const out = new BigUint64Array(4);
    this.lib.symbols.smc_memory_stats(out);
    const [inUse, peak, reserved, deviceMallocs] = Array.from(out, Number);
    return { inUse, peak, reserved, deviceMallocs };
  }

  /** Restarts the peak counter at the bytes in use now. */
  resetPeak(): void {
    this.lib.symbols.smc_reset_peak();
  }

  /** Waits for all queued device work. */
  sync(): void {
    this.check(this.lib.symbols.smc_sync(), "synchronise");
  }

  /** tfjs: wall time of `f` including the device work it queued. */
  override time(f: () => void): Promise<tf.BackendTimingInfo> {
    const t0 = performance.now();
    f();
    this.sync();
    return Promise.resolve({ kernelMs: performance.now() - t0 });
  }

  /** tfjs: float32 everywhere. */
  override floatPrecision(): 32 {
    return 32;
  }

  /** tfjs: the float32 epsilon tfjs uses. */
  override epsilon(): number {
    return 1e-7;
  }

  /** tfjs: frees every buffer and the cache. */
  override dispose(): void {
    this.sync();
    this.lib.symbols.smc_empty_cache();
  }
}

/** The typed array tfjs uses for a dtype. */
function newTyped(dtype: tf.DataType, size: number): Float32Array | Int32Array | Uint8Array {
  if (dtype === "int32") return new Int32Array(size);
  if (dtype === "bool") return new Uint8Array(size);
  return new Float32Array(size);
}

/** Host values as the dtype's typed array (a copy only when the type differs). */
function toTyped(values: Values, dtype: tf.DataType): Float32Array | Int32Array | Uint8Array {
  if (dtype === "float32") {
    return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
  }
  if (dtype === "int32") {
    return values instanceof Int32Array ? values : Int32Array.from(values as ArrayLike<number>);
  }
  if (dtype === "bool") {
    return values instanceof Uint8Array ? values : Uint8Array.from(values as ArrayLike<number>);
  }
  throw new Error(`cuda backend: dtype ${dtype} is not supported on the device`);
}
