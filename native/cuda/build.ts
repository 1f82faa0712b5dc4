/**
 * Builds starmamba's CUDA library native/build/cuda/libstarmamba_cuda.so (the selective scan and
 * the `cuda` backend's kernels, one translation unit: native/cuda/starmamba_cuda.cu) with nvcc,
 * cached by a hash of every source file in native/cuda/, the command and the compiler version.
 *
 * ```
 * deno run --allow-read --allow-write --allow-run --allow-env native/cuda/build.ts [--check] [--emulate] [--force]
 * ```
 * `--check` only compiles (no link, nothing cached) and exits non-zero on a compile error; CI
 * uses it to catch syntax and type errors on machines without a GPU. `--emulate` builds
 * libstarmamba_cuda_emu.so instead: the same kernels compiled by the host C++ compiler with
 * -DSS_CUDA_EMULATE, run on the CPU (emulate.h: one fiber per CUDA thread) so the kernel logic
 * can be tested without a GPU.
 *
 * Exit codes: 0 built (or up to date), 1 compile error, 2 compiler missing.
 * @module
 */
import { createHash } from "node:crypto";
import { StarmambaError } from "../../lib/util/errors.ts";

/** Options of {@link buildCuda}. */
export interface BuildCudaOptions {
  /** Compile only (object file into a temp dir), to catch errors; produces no library. */
  check?: boolean;
  /** Build the CPU-emulation library with the host C++ compiler instead of nvcc. */
  emulate?: boolean;
  /** Rebuild even if the cached library matches. */
  force?: boolean;
  /** Print nothing (the CLI prints the command and warnings). */
  quiet?: boolean;
  /** Compile this file instead of native/cuda/starmamba_cuda.cu; only with `check` (tests). */
  sourcePath?: string;
}

/** What {@link buildCuda} did. */
export interface BuildCudaResult {
  /** The library (null for `check`). */
  libPath: string | null;
  /** True when the cached library was up to date and nothing ran. */
  cached: boolean;
  /** The compiler command line that ran (or would have run, when cached). */
  command: string[];
  /** Wall-clock seconds of the compile (0 when cached). */
  seconds: number;
  /** Compiler warning lines (empty when cached). */
  warnings: string[];
  /** GPU architectures requested but not supported by this nvcc, skipped. */
  skippedArchs: string[];
}

/** Target GPU code: SASS for Ampere (sm_80) and Hopper (sm_90), plus compute_90 PTX that the
 * driver JIT-compiles for newer GPUs. CUDA 13 supports compute_75 and up; older toolkits that
 * lack an arch get it skipped (reported in {@link BuildCudaResult.skippedArchs}). */
export const CUDA_TARGETS: readonly { arch: string; code: string }[] = [
  { arch: "compute_80", code: "sm_80" },
  { arch: "compute_90", code: "sm_90" },
  { arch: "compute_90", code: "compute_90" },
];

const ROOT = new URL("../../", import.meta.url);
const SOURCE = new URL("native/cuda/starmamba_cuda.cu", ROOT);
const SOURCE_DIR = new URL("native/cuda/", ROOT);
const OUT_DIR = new URL("native/build/cuda/", ROOT);

const INSTALL_HINT = "install the CUDA toolkit (https://developer.nvidia.com/cuda-downloads; " +
  "on Debian/Ubuntu `apt-get install nvidia-cuda-toolkit`, or NVIDIA's cuda-toolkit-13 " +
  "package), make sure nvcc is on PATH or /usr/local/cuda/bin/nvcc exists, or set NVCC to " +
  "its path";

/** Absolute path of the built library: libstarmamba_cuda.so, or libstarmamba_cuda_emu.so for
 * emulation. */
export function cudaLibPath(emulate = false): string {
  return new URL(emulate ? "libstarmamba_cuda_emu.so" : "libstarmamba_cuda.so", OUT_DIR).pathname;
}

/** The text of every source file under native/cuda/ (.cu, .cuh, .h), sorted by path: what the
 * cache key covers, since the library's file includes the others. */
function sourcesText(dir: string): string {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const path = `${d}/${e.name}`;
      if (e.isDirectory) walk(path);
      else if (/\.(cu|cuh|h)$/.test(e.name)) files.push(path);
    }
  };
  walk(dir.replace(/\/$/, ""));
  files.sort();
  return files.map((f) => `== ${f.slice(dir.length)}\n${Deno.readTextFileSync(f)}`).join("\n");
}

/** Path of the source file the library is built from. */
export function cudaSourcePath(): string {
  return SOURCE.pathname;
}

interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[]): RunOutput {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs `cmd --version`; null when the program does not exist or fails. */
function versionOf(cmd: string): string | null {
  try {
    const out = run(cmd, ["--version"]);
    return out.code === 0 ? out.stdout.trim() : null;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) {
      return null;
    }
    throw e;
  }
}

/** A working compiler: its command and `--version` text. */
export interface Compiler {
  command: string;
  version: string;
}

/**
 * Finds nvcc: $NVCC, then `nvcc` on PATH, then /usr/local/cuda/bin/nvcc. Null when none runs.
 */
export function findNvcc(): Compiler | null {
  const env = Deno.env.get("NVCC");
  const candidates = env ? [env] : ["nvcc", "/usr/local/cuda/bin/nvcc"];
  for (const c of candidates) {
    const v = versionOf(c);
    if (v !== null) return { command: c, version: v };
  }
  return null;
}

/** Finds the host C++ compiler for the emulation build: $CXX, then g++, c++, clang++. */
export function findCxx(): Compiler | null {
  const env = Deno.env.get("CXX");
  for (const c of env ? [env] : ["g++", "c++", "clang++"]) {
    const v = versionOf(c);
    if (v !== null) return { command: c, version: v };
  }
  return null;
}

/** The -gencode flags this nvcc supports, and the targets it does not. */
function gencodeFlags(nvcc: string): { flags: string[]; skipped: string[] } {
  let supported: Set<string> | null = null;
  try {
    const out = run(nvcc, ["--list-gpu-arch"]);
    if (out.code === 0) supported = new Set(out.stdout.split(/\s+/).filter((s) => s));
  } catch {
    // older nvcc without --list-gpu-arch: request every target and let nvcc decide
  }
  const flags: string[] = [];
  const skipped: string[] = [];
  for (const t of CUDA_TARGETS) {
    if (supported && !supported.has(t.arch)) {
      skipped.push(t.code);
      continue;
    }
    flags.push("-gencode", `arch=${t.arch},code=${t.code}`);
  }
  if (flags.length === 0) {
    throw new StarmambaError(
      `nvcc (${nvcc}) supports none of the target GPU architectures ` +
        `${CUDA_TARGETS.map((t) => t.code).join(", ")}: ${INSTALL_HINT} (CUDA 12 or newer).`,
    );
  }
  return { flags, skipped };
}

function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function readTextOrNull(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

function warningLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => /warning/i.test(l));
}

/** The compiler and its arguments; `out` is the output file, `compileOnly` adds -c. */
function compileCommand(
  src: string,
  emulate: boolean,
  out: string,
  compileOnly: boolean,
): { compiler: Compiler; args: string[]; skipped: string[] } {
  const link = compileOnly ? ["-c"] : ["-shared"];
  if (emulate) {
    const cxx = findCxx();
    if (!cxx) {
      throw new StarmambaError(
        "no C++ compiler found for the CUDA emulation build (tried $CXX, g++, c++, clang++): " +
          "install one (e.g. `apt-get install g++`) or set CXX to its path.",
      );
    }
    const args = ["-std=c++17", "-O2", "-Wall", "-Wextra", "-fPIC", ...link, "-DSS_CUDA_EMULATE"];
    return { compiler: cxx, args: [...args, "-x", "c++", src, "-o", out], skipped: [] };
  }
  const nvcc = findNvcc();
  if (!nvcc) {
    throw new StarmambaError(
      "nvcc not found (tried " +
        (Deno.env.get("NVCC") ?? "nvcc on PATH, /usr/local/cuda/bin/nvcc") +
        `), needed to build the CUDA selective scan (${src}): ${INSTALL_HINT}.`,
    );
  }
  const { flags, skipped } = gencodeFlags(nvcc.command);
  const args = [
    "-O3",
    "-std=c++17",
    "-Xcompiler",
    "-fPIC",
    "-Xcompiler",
    "-Wall",
    ...link,
    ...flags,
    src,
    "-o",
    out,
  ];
  return { compiler: nvcc, args, skipped };
}

/**
 * Builds (or, with `check`, only compiles) the CUDA library. Returns immediately when the
 * cached library was built from the same source, command and compiler version.
 * @throws StarmambaError when the compiler is missing (message says how to install it);
 *   Error with the compiler's output on a compile error.
 */
export function buildCudaSync(opts: BuildCudaOptions = {}): BuildCudaResult {
  const emulate = opts.emulate ?? false;
  const log = opts.quiet ? () => {} : (s: string) => console.error(s);
  if (opts.sourcePath && !opts.check) {
    throw new Error(
      "buildCuda: sourcePath is only allowed with check (it must not replace the library)",
    );
  }
  const src = opts.sourcePath ?? cudaSourcePath();
  const libPath = cudaLibPath(emulate);
  let out = libPath;
  let tmpDir: string | null = null;
  if (opts.check) {
    tmpDir = Deno.makeTempDirSync({ prefix: "ss_cuda_check_" });
    out = `${tmpDir}/starmamba_cuda.o`;
  } else {
    Deno.mkdirSync(OUT_DIR, { recursive: true });
    // Build into a temp name then rename, so a process that has the old library open and a
    // concurrent build never see a half-written file.
    out = `${libPath}.${Deno.pid}.tmp`;
  }
  try {
    const { compiler, args, skipped } = compileCommand(src, emulate, out, opts.check ?? false);
    const source = opts.sourcePath ? Deno.readTextFileSync(src) : sourcesText(SOURCE_DIR.pathname);
    const stampPath = `${libPath}.stamp`;
    const key = sha256Hex(
      JSON.stringify({
        source,
        args: args.map((a) => a === out ? "<out>" : a),
        v: compiler.version,
      }),
    );
    const finalCommand = [compiler.command, ...args.map((a) => a === out ? libPath : a)];
    if (
      !opts.check && !opts.force && readTextOrNull(stampPath) === key &&
      exists(libPath)
    ) {
      return {
        libPath,
        cached: true,
        command: finalCommand,
        seconds: 0,
        warnings: [],
        skippedArchs: skipped,
      };
    }
    log(`$ ${[compiler.command, ...args].join(" ")}`);
    const t0 = performance.now();
    const res = run(compiler.command, args);
    const seconds = (performance.now() - t0) / 1000;
    if (res.code !== 0) {
      throw new Error(
        `compiling ${src} failed (exit ${res.code}):\n${res.stderr}${res.stdout}`,
      );
    }
    const warnings = warningLines(res.stderr + res.stdout);
    if (!opts.check) {
      Deno.renameSync(out, libPath);
      Deno.writeTextFileSync(stampPath, key);
    }
    return {
      libPath: opts.check ? null : libPath,
      cached: false,
      command: opts.check ? [compiler.command, ...args] : finalCommand,
      seconds,
      warnings,
      skippedArchs: skipped,
    };
  } finally {
    if (tmpDir) Deno.removeSync(tmpDir, { recursive: true });
    else removeIfPresent(out);
  }
}

/**
 * Async form of {@link buildCudaSync} (same options, result and errors), for callers that
 * prefer a promise.
 */
export function buildCuda(opts: BuildCudaOptions = {}): Promise<BuildCudaResult> {
  try {
    return Promise.resolve(buildCudaSync(opts));
  } catch (e) {
    return Promise.reject(e);
  }
}

function removeIfPresent(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

async function main(argv: string[]): Promise<number> {
  const known = new Set(["--check", "--emulate", "--force"]);
  const bad = argv.filter((a) => !known.has(a));
  if (bad.length) {
    console.error(
      `unknown argument(s) ${bad.join(" ")}; usage: build.ts [--check] [--emulate] [--force]`,
    );
    return 2;
  }
  try {
    const r = await buildCuda({
      check: argv.includes("--check"),
      emulate: argv.includes("--emulate"),
      force: argv.includes("--force"),
    });
    for (const w of r.warnings) console.error(w);
    if (r.skippedArchs.length) {
      console.error(`note: this nvcc does not support ${r.skippedArchs.join(", ")}; skipped`);
    }
    const what = r.libPath ?? "compile check passed";
    console.error(r.cached ? `${what} (up to date)` : `${what} (${r.seconds.toFixed(1)} s)`);
    return 0;
  } catch (e) {
    if (e instanceof StarmambaError) {
      console.error(`error: ${e.message}`);
      return e.exitCode;
    }
    console.error(e instanceof Error ? e.message : String(e));
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
