/**
 * One runtime: the compute setup of a process in one call. {@link openRuntime} reads what it
 * needs from a config (`backend`, `model.scan_kernel`, `train.threads`), activates the backend
 * with starmamba's kernels (setup.ts), then chooses the selective-scan kernel and loads the
 * native library (select.ts) — in that order, because the kernels the backend registers read the
 * native hooks the second step sets. It returns a {@link Runtime}: what was chosen, and what a
 * result file records about it.
 *
 * The state a runtime sets lives in one object per layer that reads it: the capabilities and
 * the scan kernel in lib/ops/capabilities.ts (the ops read them), the native hooks in
 * wasm/hooks.ts (the wasm kernels call them). openRuntime is the only writer in the programs;
 * {@link Runtime.close} empties both. tfjs has one active backend per process, so there is one
 * runtime at a time: opening another replaces it.
 * @module
 */
import type { ScanKernel } from "../ops/scan_kernel.ts";
import { resetRuntimeView } from "../ops/capabilities.ts";
import { setupBackend } from "./setup.ts";
import { type ScanKernelChoice, selectScanKernel } from "./select.ts";
import { nativeDefaultThreads, type NativeKernelInfo } from "./wasm/native.ts";
import type { NativeScanKernel } from "./wasm/native_api.ts";
import { NO_NATIVE_HOOKS, setNativeHooks } from "./wasm/hooks.ts";
import { cudaBackend } from "./cuda/register.ts";

/** The keys of a config a runtime reads (an ExperimentConfig has them). */
export interface RuntimeConfig {
  /** Backend name (key: backend), one of BACKENDS. */
  backend: string;
  /** model.scan_kernel: "auto" (native, else loop; on the cuda backend the device scan), "native", "loop". */
  model: { scan_kernel: ScanKernelChoice };
  /** train.threads: the native kernels' threads, 0 = OMP_NUM_THREADS or one per core. */
  train?: { threads?: number } | null;
}

/** Options of {@link openRuntime}. */
export interface RuntimeOptions {
  /** Don't print the one-line notice when the native library is unavailable. */
  quiet?: boolean;
  /**
   * Native threads instead of the config's train.threads (0 = this machine's default). A run's
   * thread count belongs to the machine it trained on: predict and evaluate pass 0.
   */
  threads?: number;
}

/** What result.json's `environment` records about the runtime. */
export interface RuntimeEnvironment {
  /** The scan kernel's name ("native", "loop", "cuda (device buffers)" on the cuda backend). */
  scan_kernel: string;
  /** Threads of the native kernels, null when the native library does not run. */
  native_threads: number | null;
}

/** The compute setup of this process, as {@link openRuntime} chose it. */
export interface Runtime {
  /** tfjs's name of the active backend ("wasm", "cpu", "cuda", "webgpu", "tensorflow"). */
  readonly backend: string;
  /** The selective-scan kernel the host ops run on. */
  readonly scanKernel: ScanKernel;
  /** The scan kernel as logs and results name it: on cuda the scan runs on device buffers. */
  readonly scanKernelName: string;
  /** Compiler, flags and path of the native library, null when it is not loaded. */
  readonly native: NativeKernelInfo | null;
  /** Threads of the native kernels, null when the native library does not run. */
  readonly nativeThreads: number | null;
  /** The GPU (or "CPU emulation …") on the cuda backend, else null. */
  readonly device: string | null;
  /** The fields result.json's `environment` records about the runtime. */
  environment(): RuntimeEnvironment;
  /**
   * Ends the runtime: no native hooks, no scan kernel, default capabilities (the backend stays
   * registered; tfjs cannot unregister one). Idempotent; a no-op once another runtime is open.
   */
  close(): void;
}

/** The runtime open now (its close() clears the shared state only while it is the one). */
const open: { current: Runtime | null } = { current: null };

/**
 * Sets up the compute runtime from a config: activates `cfg.backend` with starmamba's kernels,
 * then chooses the selective-scan kernel (`cfg.model.scan_kernel`) on `cfg.train.threads`
 * threads. Throws a StarmambaError (exit 2) when the backend or a required kernel is missing.
 *
 * @example Run a network on the backend and kernel a config names
 * ```ts
 * import { loadConfig, openRuntime } from "@starmamba/starmamba";
 * const runtime = await openRuntime(loadConfig("configs/quickstart.yaml").config, { quiet: true });
 * console.log(runtime.backend, runtime.scanKernelName, runtime.nativeThreads);
 * ```
 */
export async function openRuntime(
  cfg: RuntimeConfig,
  opts: RuntimeOptions = {},
): Promise<Runtime> {
  const backend = await setupBackend(cfg.backend);
  const threads = opts.threads ?? cfg.train?.threads ?? 0;
  const scanKernel = selectScanKernel(cfg.model.scan_kernel, { threads, quiet: opts.quiet });
  const isNative = scanKernel.name === "native";
  // On the cuda backend the scan runs on the device (the host kernel serves no op there).
  const scanKernelName = backend === "cuda" ? "cuda (device buffers)" : scanKernel.name;
  // Threads change the wall time, never the numbers (the native kernels are bitwise the same).
  const nativeThreads = isNative ? threads || nativeDefaultThreads() : null;
  const runtime: Runtime = {
    backend,
    scanKernel,
    scanKernelName,
    native: isNative ? (scanKernel as NativeScanKernel).info : null,
    nativeThreads,
    device: backend === "cuda" ? cudaBackend().device.name : null,
    environment: () => ({ scan_kernel: scanKernelName, native_threads: nativeThreads }),
    close(): void {
      if (open.current !== runtime) return;
      open.current = null;
      setNativeHooks(NO_NATIVE_HOOKS);
      resetRuntimeView();
    },
  };
  open.current = runtime;
  return runtime;
}
