/**
 * Builds and loads the native CPU library (native/cpu/*.c: the selective scan, the SS2D core,
 * gemm, convolutions, the max-pooling gradient, norms, Adam, the weight average, the fused block), compiled on first use
 * with gcc (or $CC) into native/build/<sha256>/libss.so and opened with Deno.dlopen. What its
 * functions look like to the backend: native_api.ts.
 *
 * The build is cached by a hash of the source, compiler, flags and (for -march=native) the CPU,
 * so editing the C file or moving to another machine rebuilds it. When there is no compiler or
 * no permission to use one, {@link loadNativeKernel} returns null and callers fall back to the
 * portable loop kernel.
 *
 * Needs --allow-ffi, --allow-read, --allow-env, and for the first build --allow-run and
 * --allow-write.
 * @module
 */
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import {
  type NativeKernelInfo,
  type NativeScanKernel,
  SYMBOLS,
  wrapLibrary,
} from "./native_api.ts";

export type { NativeKernelInfo, NativeScanKernel };

/** Options of {@link loadNativeKernel}. */
export interface NativeKernelOptions {
  /** OpenMP threads per call; default (or ≤ 0): OMP_NUM_THREADS, else one per core. */
  threads?: number;
  /** Don't print the one-line notice when the kernel is unavailable. */
  quiet?: boolean;
  /**
   * Build without -march=native (plain -O3 -fopenmp), i.e. the code path of a machine without
   * AVX-512. For tests; slower.
   */
  portable?: boolean;
}

const ABI_VERSION = 1;
const SOURCE_URL = new URL("../../../native/cpu/selective_scan.c", import.meta.url);
/** Compiled into the same library: the fused SS2D core, which calls ss_fwd / ss_bwd. */
const SS2D_URL = new URL("../../../native/cpu/ss2d_core.c", import.meta.url);
/** Also compiled in: a multi-threaded SGEMM that serves the wasm backend's BatchMatMul. */
const GEMM_URL = new URL("../../../native/cpu/gemm.c", import.meta.url);
/** And stride-1 SAME convolutions (forward and filter gradient) on top of the gemm. */
const CONV_URL = new URL("../../../native/cpu/conv.c", import.meta.url);
/** And the max-pooling gradient (the CNNs' pooling layers). */
const POOL_URL = new URL("../../../native/cpu/pool.c", import.meta.url);
/** And the fused LayerNorm / BatchNorm, forward and backward. */
const NORM_URL = new URL("../../../native/cpu/norm.c", import.meta.url);
/** And the fused Adam(W) step. */
const ADAM_URL = new URL("../../../native/cpu/adam.c", import.meta.url);
/** And the moving average of the weights. */
const EMA_URL = new URL("../../../native/cpu/ema.c", import.meta.url);
/** And the fused SS-Conv-SSM block, built on all of the above. */
const BLOCK_URL = new URL("../../../native/cpu/block.c", import.meta.url);
/** The folder of all of the above: every file in it (headers and scan_lanes.inc, which the
 * sources include, too) is part of the cache key. */
const CPU_DIR_URL = new URL("../../../native/cpu/", import.meta.url);
const BUILD_URL = new URL("../../../native/build/", import.meta.url);
/**
 * -z nodelete: the library (and with it libgomp) stays mapped when Deno closes it, e.g. when a
 * test module's isolate ends. OpenMP workers keep spinning for a few milliseconds after each
 * parallel region; unmapping their code under them crashed Deno with SIGSEGV. (The old cure,
 * OMP_WAIT_POLICY=passive, made the workers sleep between kernels: up to 2× slower training.)
 */
const BASE_FLAGS = ["-O3", "-fopenmp", "-fPIC", "-shared", "-std=gnu11", "-Wl,-z,nodelete"];

type Lib = Deno.DynamicLibrary<typeof SYMBOLS>;

interface Loaded {
  lib: Lib;
  info: NativeKernelInfo;
}

/**
 * Loaded libraries by build flavour, or why loading failed (so the notice prints once). A cache
 * of what dlopen holds for the whole process anyway; which library serves the kernels is the
 * runtime's choice (the kernel it gets carries its `info`).
 */
const loaded = new Map<string, Loaded | { error: string }>();

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return false;
  }
}

/** First line of `cc --version`, or null when there is no such compiler. */
function compilerVersion(cc: string): string | null {
  try {
    const out = new Deno.Command(cc, { args: ["--version"], stdout: "piped", stderr: "null" })
      .outputSync();
    if (!out.success) return null;
    return new TextDecoder().decode(out.stdout).split("\n")[0].trim();
  } catch {
    return null;
  }
}

/** Every file of native/cpu in name order, each name before its text: a change to any source,
 * header or included template makes a new build. */
function cpuFolderText(): string {
  const dir = fileURLToPath(CPU_DIR_URL);
  const names = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name).sort();
  return names.map((n) => `${n}\0${Deno.readTextFileSync(join(dir, n))}`).join("\0");
}

/** CPU model and feature flags, part of the cache key of -march=native builds. */
function cpuSignature(): string {
  // Deno guards /proc reads behind --allow-all; `cat` needs only --allow-run, which building
  // needs anyway.
  let text = "";
  try {
    text = Deno.readTextFileSync("/proc/cpuinfo");
  } catch {
    try {
      const out = new Deno.Command("cat", {
        args: ["/proc/cpuinfo"],
        stdout: "piped",
        stderr: "null",
      })
        .outputSync();
      if (out.success) text = new TextDecoder().decode(out.stdout);
    } catch { /* not Linux, or no permission */ }
  }
  if (!text) return `${Deno.build.target}|unknown-cpu`;
  const line = (key: string): string =>
    text.split("\n").find((l) => l.startsWith(key))?.trim() ?? "";
  return `${line("model name")}|${line("flags")}`;
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Compiles to a temp file and renames it into place, so a concurrent reader never sees half a
 * library. Returns null on success, else the compiler's first error line. */
function compile(cc: string, flags: string[], src: string[], out: string): string | null {
  const dir = out.slice(0, out.lastIndexOf("/"));
  Deno.mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    const res = new Deno.Command(cc, {
      args: [...flags, "-o", tmp, ...src, "-lm"],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!res.success) {
      const err = new TextDecoder().decode(res.stderr).split("\n").find((l) => l.includes("error"));
      return err?.trim() ?? `${cc} exited with code ${res.code}`;
    }
    Deno.renameSync(tmp, out);
    return null;
  } finally {
    try {
      Deno.removeSync(tmp);
    } catch { /* renamed or never written */ }
  }
}

/** Builds (if needed) and dlopens one flavour; throws an Error whose message is the notice. */
function buildAndOpen(portable: boolean): Loaded {
  if (!granted({ name: "ffi" })) throw new Error("needs --allow-ffi");
  if (SOURCE_URL.protocol !== "file:") throw new Error(`source is not a local file: ${SOURCE_URL}`);
  const src = fileURLToPath(SOURCE_URL);
  const buildDir = fileURLToPath(BUILD_URL);
  if (!granted({ name: "read", path: fileURLToPath(CPU_DIR_URL) })) {
    throw new Error("needs --allow-read (of native/cpu/)");
  }
  if (!granted({ name: "env" })) throw new Error("needs --allow-env (to read $CC)");
  const cc = Deno.env.get("CC") || "gcc";
  if (!granted({ name: "run", command: cc })) throw new Error(`needs --allow-run for ${cc}`);
  const version = compilerVersion(cc);
  if (version === null) throw new Error(`no C compiler (${cc} --version failed; set $CC)`);
  const sources = [
    src,
    ...[SS2D_URL, GEMM_URL, CONV_URL, POOL_URL, NORM_URL, ADAM_URL, EMA_URL, BLOCK_URL].map((u) =>
      fileURLToPath(u)
    ),
  ];
  const source = cpuFolderText();
  const candidates = portable ? [BASE_FLAGS] : [[...BASE_FLAGS, "-march=native"], BASE_FLAGS];
  let lastFailure = "";
  for (const flags of candidates) {
    const native = flags.includes("-march=native") ? cpuSignature() : "";
    const key = [source, cc, version, flags.join(" "), native].join("\0");
    const path = `${buildDir}${sha256Hex(key)}/libss.so`;
    if (!exists(path)) {
      if (!granted({ name: "write", path: buildDir })) {
        throw new Error("needs --allow-write to build native/build/");
      }
      const failure = compile(cc, flags, sources, path);
      if (failure !== null) {
        lastFailure = `${cc} ${flags.join(" ")}: ${failure}`;
        continue;
      }
    }
    const lib = Deno.dlopen(path, SYMBOLS);
    const abi = lib.symbols.ss_version();
    if (abi !== ABI_VERSION) {
      lib.close();
      throw new Error(`${path} has ABI ${abi}, expected ${ABI_VERSION}`);
    }
    return { lib, info: { compiler: version, flags, path } };
  }
  throw new Error(`compilation failed: ${lastFailure}`);
}

/**
 * Builds (first time) and loads the native kernel. Returns null, after printing one notice line
 * to stderr unless `quiet`, when it cannot: no compiler, a failed build, or missing permissions.
 * Calls are synchronous; arrays are passed to C without copies.
 */
export function loadNativeKernel(opts: NativeKernelOptions = {}): NativeScanKernel | null {
  const flavour = opts.portable ? "portable" : "native";
  let entry = loaded.get(flavour);
  if (entry === undefined) {
    try {
      entry = buildAndOpen(Boolean(opts.portable));
    } catch (e) {
      entry = { error: (e as Error).message };
      if (!opts.quiet) {
        console.error(`starmamba: native scan kernel unavailable (${entry.error}); using loop`);
      }
    }
    loaded.set(flavour, entry);
  }
  if ("error" in entry) return null;
  const threads = Math.max(0, Math.floor(opts.threads ?? 0));
  return wrapLibrary(entry.lib, threads, entry.info);
}

/**
 * Why {@link loadNativeKernel} returned null for this flavour (`portable` as given to it), or
 * null if it loaded or was not tried.
 */
export function nativeKernelError(opts: { portable?: boolean } = {}): string | null {
  const entry = loaded.get(opts.portable ? "portable" : "native");
  return entry && "error" in entry ? entry.error : null;
}

/** Threads the native kernel uses when none are given (OMP_NUM_THREADS or the core count). */
export function nativeDefaultThreads(): number | null {
  for (const entry of loaded.values()) {
    if ("lib" in entry) return entry.lib.symbols.ss_default_threads();
  }
  return null;
}
