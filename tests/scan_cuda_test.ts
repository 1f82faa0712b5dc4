/**
 * Tests of the CUDA selective scan (native/cuda/selective_scan.cu, lib/backends/cuda/cuda.ts).
 *
 * - "cuda build": the .cu compiles with nvcc; compile errors and a missing nvcc are reported.
 * - "cuda GPU": the kernels on a real GPU against the float64 references (tests/scan_harness.ts)
 *   with mamba_ssm's tolerances. Without a visible GPU these are IGNORED (never passed), with
 *   a short label in the test name and the whole reason printed by the test named WHY_IGNORED.
 * - "cuda no-GPU": without a GPU the library loads and says so instead of crashing.
 * - "cuda-emu": the same .cu compiled for the CPU with -DSS_CUDA_EMULATE (one fiber per CUDA
 *   thread, barrier-divergence checks, NaN-poisoned memory, reversed / shuffled thread order to
 *   expose missing barriers). This checks the kernel logic on machines without a GPU; it is not
 *   a GPU run (different compiler, no real concurrency or memory model).
 */
import { buildCudaSync, cudaLibPath, findCxx, findNvcc } from "../native/cuda/build.ts";
import {
  CUDA_RC,
  CUDA_SYMBOLS,
  type CudaLoadResult,
  type CudaScanKernel,
  deviceScan,
  loadCudaKernel,
} from "../lib/backends/cuda/cuda.ts";
import type { ScanGrads } from "../lib/ops/scan_kernel.ts";
import { assert, assertEquals, assertThrows } from "../lib/util/assert.ts";
import {
  caseName,
  checkKernelAgainstReference,
  makeCaseInputs,
  type ScanCase,
} from "./scan_harness.ts";

const nvcc = findNvcc();
const cxx = findCxx();
const gpu: CudaLoadResult = loadCudaKernel();
const emu: CudaLoadResult = cxx
  ? loadCudaKernel({ emulate: true })
  : { ok: false, reason: "no C++ compiler (g++/c++/clang++) for the emulation build" };

/** The always-running test that prints every reason for an ignored test here, whole. */
const WHY_IGNORED = "cuda: why ignored (each reason in full)";

/**
 * " [ignored: <label>]" for a test name. The label is short and fixed ("no usable GPU"): a
 * reason (the driver's or nvcc's message) can be long or span lines, and a name is no place to
 * cut it; {@link ignoreReport} prints it whole once.
 */
function ignoredBecause(label: string): string {
  return ` [ignored: ${label}; full reason under "cuda: why ignored"]`;
}

/** One line per missing part, "<label>: <the reason, whole>" (a null reason: not missing). */
function ignoreReport(parts: readonly (readonly [string, string | null])[]): string[] {
  return parts.filter(([, reason]) => reason !== null).map(([label, reason]) =>
    `${label}: ${reason}`
  );
}

const GPU_LABEL = "no usable GPU";
const EMU_LABEL = "no CPU emulation build";
const NVCC_LABEL = "nvcc not found";
const MISSING: readonly (readonly [string, string | null])[] = [
  [GPU_LABEL, gpu.ok ? null : gpu.reason],
  [EMU_LABEL, emu.ok ? null : emu.reason],
  [NVCC_LABEL, nvcc ? null : "no $NVCC, nvcc on PATH or /usr/local/cuda/bin/nvcc"],
];

const GPU_SUFFIX = gpu.ok ? ` on ${gpu.kernel.device}` : ignoredBecause(GPU_LABEL);
const EMU_SUFFIX = emu.ok ? "" : ignoredBecause(EMU_LABEL);
const NVCC_SUFFIX = nvcc ? "" : ignoredBecause(NVCC_LABEL);

Deno.test(WHY_IGNORED, () => {
  const lines = ignoreReport(MISSING);
  console.log(lines.length ? lines.join("\n") : "none: GPU, emulation build and nvcc all present");
});

Deno.test("cuda: an ignored test's reason is printed whole, however long; its name stays short", () => {
  const detail = "(cudaGetDeviceCount returned 35: driver 12.2 older than runtime 12.8) ";
  const reason = "CUDA driver version is insufficient for CUDA runtime version " +
    detail.repeat(3) + "— update the NVIDIA driver or build against an older CUDA toolkit";
  assertEquals(ignoreReport([[GPU_LABEL, reason], [EMU_LABEL, null]]), [`${GPU_LABEL}: ${reason}`]);
  const name = `cuda GPU: several chunks${ignoredBecause(GPU_LABEL)}`;
  assert(!name.includes("CUDA driver") && name.length < 160, name);
});

function gpuKernel(): CudaScanKernel {
  if (!gpu.ok) throw new Error(gpu.reason);
  return gpu.kernel;
}

function emuKernel(): CudaScanKernel {
  if (!emu.ok) throw new Error(emu.reason);
  return emu.kernel;
}

// ---------------------------------------------------------------------------------------------
// Cases. Every len × dstate of the brief, with groups, softplus, D and bias varied across them.
// ---------------------------------------------------------------------------------------------
const LENS = [1, 255, 256, 1024];
const DSTATES = [1, 4, 16, 64];

function gridCases(batch: number, dim: number, maxWork = Infinity): ScanCase[] {
  const out: ScanCase[] = [];
  LENS.forEach((len, i) =>
    DSTATES.forEach((dstate, j) => {
      const k = i * DSTATES.length + j;
      const c: ScanCase = {
        batch,
        dim,
        len,
        dstate,
        groups: [1, 2, dim][k % 3],
        deltaSoftplus: k % 4 !== 3,
        withD: k % 5 !== 4,
        withBias: k % 3 !== 2,
        seed: 100 + k,
      };
      if (batch * dim * len * dstate <= maxWork) out.push(c);
    })
  );
  return out;
}

const LARGE_DELTA: ScanCase[] = LENS.map((len, i) => ({
  batch: 2,
  dim: 4,
  len,
  dstate: 16,
  groups: 2,
  delta: "large",
  seed: 200 + i,
}));

/** Many chunks with the automatic tile (128 steps), and several with every forced tile. */
const MULTI_CHUNK: ScanCase[] = [
  { batch: 2, dim: 4, len: 2500, dstate: 16, groups: 1, seed: 300 },
  { batch: 1, dim: 8, len: 4096, dstate: 4, groups: 4, delta: "large", seed: 301 },
];

/** Runs forward and backward and returns every output, for bitwise comparisons. */
function allOutputs(k: CudaScanKernel, c: ScanCase): Float32Array[] {
  const { x, dy } = makeCaseInputs(c);
  const g: ScanGrads = k.backward(x, dy);
  const grads = [g.du, g.ddelta, g.dA, g.dB, g.dC, g.dD, g.ddeltaBias];
  return [k.forward(x), ...grads.filter((a): a is Float32Array => a !== undefined)];
}

function assertBitwiseEqual(a: Float32Array[], b: Float32Array[], label: string): void {
  assertEquals(a.length, b.length, label);
  a.forEach((arr, i) => {
    const u = new Uint32Array(arr.buffer, arr.byteOffset, arr.length);
    const v = new Uint32Array(b[i].buffer, b[i].byteOffset, b[i].length);
    const j = u.findIndex((bits, k) => bits !== v[k]);
    assert(j < 0, `${label}: output #${i} differs at [${j}]: ${arr[j]} vs ${b[i][j]}`);
  });
}

// ---------------------------------------------------------------------------------------------
// Build
// ---------------------------------------------------------------------------------------------
Deno.test({
  name: `cuda build: starmamba_cuda.cu compiles with nvcc (sm_80, sm_90, compute_90)${NVCC_SUFFIX}`,
  ignore: !nvcc,
  fn() {
    // Cached by source hash: a no-op when the top-level loadCudaKernel() just built it.
    const r = buildCudaSync({ quiet: true });
    assertEquals(r.libPath, cudaLibPath());
    assert(Deno.statSync(cudaLibPath()).size > 0);
    assert(r.command.some((a) => a.includes("code=sm_80")), r.command.join(" "));
  },
});

Deno.test({
  name: `cuda build: a compile error is reported with nvcc's message${NVCC_SUFFIX}`,
  ignore: !nvcc,
  fn() {
    const dir = Deno.makeTempDirSync();
    try {
      const src = `${dir}/broken.cu`;
      Deno.writeTextFileSync(src, "__global__ void k(float* x) { x[threadIdx.x] = undeclared; }\n");
      const err = assertThrows(() => buildCudaSync({ check: true, quiet: true, sourcePath: src }));
      assert(err.message.includes("undeclared"), err.message);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("cuda build: build.ts --check exits 2 with install advice when nvcc is missing", () => {
  const out = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-run",
      "--allow-env",
      "build.ts",
      "--check",
    ],
    cwd: new URL("../native/cuda/", import.meta.url).pathname,
    env: { NVCC: "/nonexistent/nvcc" },
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 2, stderr);
  assert(stderr.includes("nvcc not found") && stderr.includes("install the CUDA toolkit"), stderr);
});

Deno.test({
  name: `cuda build: the emulation build compiles without warnings${EMU_SUFFIX}`,
  ignore: !emu.ok,
  fn() {
    const r = buildCudaSync({ emulate: true, check: true, quiet: true });
    assertEquals(r.warnings, []);
  },
});

// ---------------------------------------------------------------------------------------------
// GPU (ignored without one)
// ---------------------------------------------------------------------------------------------
for (const len of LENS) {
  Deno.test({
    name:
      `cuda GPU: fwd + all grads vs float64 reference, len ${len}, dstate 1/4/16/64${GPU_SUFFIX}`,
    ignore: !gpu.ok,
    fn() {
      checkKernelAgainstReference(gpuKernel(), gridCases(2, 8).filter((c) => c.len === len));
    },
  });
}

Deno.test({
  name: `cuda GPU: large delta (softplus identity branch, exp(ΔA) underflow)${GPU_SUFFIX}`,
  ignore: !gpu.ok,
  fn() {
    checkKernelAgainstReference(gpuKernel(), LARGE_DELTA);
  },
});

Deno.test({
  name: `cuda GPU: several chunks (len 2500, 4096)${GPU_SUFFIX}`,
  ignore: !gpu.ok,
  fn() {
    checkKernelAgainstReference(gpuKernel(), MULTI_CHUNK);
  },
});

Deno.test({
  name: `cuda GPU: every tile forced, dB/dC scratch sliced per batch element${GPU_SUFFIX}`,
  ignore: !gpu.ok,
  fn() {
    const cases: ScanCase[] = [
      { batch: 3, dim: 4, len: 700, dstate: 8, groups: 2, seed: 400 },
      { batch: 2, dim: 4, len: 129, dstate: 64, groups: 1, seed: 401 },
      { batch: 2, dim: 8, len: 1100, dstate: 1, groups: 2, seed: 402 },
    ];
    for (const tile of [[32, 4], [32, 8], [64, 8], [128, 8]] as [number, number][]) {
      const r = loadCudaKernel({ build: false, tile, scratchBytes: 1 });
      if (!r.ok) throw new Error(r.reason);
      try {
        checkKernelAgainstReference(r.kernel, cases);
      } finally {
        r.kernel.close();
      }
    }
  },
});

Deno.test({
  name: `cuda GPU: results are bitwise deterministic across runs${GPU_SUFFIX}`,
  ignore: !gpu.ok,
  fn() {
    const c: ScanCase = { batch: 4, dim: 16, len: 1500, dstate: 16, groups: 2, seed: 500 };
    assertBitwiseEqual(allOutputs(gpuKernel(), c), allOutputs(gpuKernel(), c), caseName(c));
  },
});

Deno.test({
  name: `cuda GPU: device-buffer API matches the host API${GPU_SUFFIX}`,
  ignore: !gpu.ok,
  fn() {
    deviceApiMatchesHostApi(gpuKernel());
  },
});

// ---------------------------------------------------------------------------------------------
// No GPU: the GPU library must say so, not crash
// ---------------------------------------------------------------------------------------------
const NO_GPU_APPLIES = !!nvcc && !gpu.ok && gpu.reason.startsWith("no GPU visible");
Deno.test({
  name: "cuda no-GPU: ss_cuda_device_count() = 0 and calls fail with code 3 and a message" +
    (NO_GPU_APPLIES ? "" : gpu.ok ? " [ignored: a GPU is visible]" : ignoredBecause(GPU_LABEL)),
  ignore: !NO_GPU_APPLIES,
  fn() {
    assert(!gpu.ok && gpu.reason.includes("ss_cuda_device_count() = 0"), JSON.stringify(gpu));
    const lib = Deno.dlopen(cudaLibPath(), CUDA_SYMBOLS);
    try {
      const s = lib.symbols;
      assertEquals(s.ss_cuda_device_count(), 0);
      assertEquals(s.ss_cuda_is_emulated(), 0);
      const { x } = makeCaseInputs({ batch: 1, dim: 2, len: 8, dstate: 2, groups: 1 });
      const y = new Float32Array(16);
      // deno-fmt-ignore
      const rc = s.ss_cuda_fwd(1, 2, 8, 2, 1, 1, x.u, x.delta, x.A, x.B, x.C, x.D!, x.deltaBias!, y);
      assertEquals(rc, CUDA_RC.noDevice);
      const msg = Deno.UnsafePointerView.getCString(s.ss_cuda_last_error()!);
      assert(msg.startsWith("no GPU visible"), msg);
      assertEquals(s.ss_cuda_alloc(1024n), null);
    } finally {
      lib.close();
    }
  },
});

// ---------------------------------------------------------------------------------------------
// CPU emulation of the .cu (kernel logic without a GPU)
// ---------------------------------------------------------------------------------------------
// The GPU tests' cases, unchanged: the emulator runs them in a few seconds.
Deno.test({
  name: `cuda-emu: fwd + all grads vs float64 reference, len 1/255/256/1024 × dstate 1/4/16/64` +
    EMU_SUFFIX,
  ignore: !emu.ok,
  fn() {
    const k = emuKernel();
    assertEquals(k.lib.symbols.ss_cuda_emu_set_schedule(0, 1), 0);
    checkKernelAgainstReference(k, gridCases(2, 8));
  },
});

Deno.test({
  name: `cuda-emu: large delta and several chunks (len 2500, 4096)${EMU_SUFFIX}`,
  ignore: !emu.ok,
  fn() {
    const k = emuKernel();
    assertEquals(k.lib.symbols.ss_cuda_emu_set_schedule(0, 1), 0);
    checkKernelAgainstReference(k, [...LARGE_DELTA, ...MULTI_CHUNK]);
  },
});

Deno.test({
  name: `cuda-emu: every tile, reversed and shuffled thread order, batch slices: correct and ` +
    `bitwise identical${EMU_SUFFIX}`,
  ignore: !emu.ok,
  fn() {
    // A missing __syncthreads usually goes unnoticed in thread order but changes the result
    // when warps run far ahead of each other in reverse or shuffled order. Races on the
    // chunk-to-chunk carries need dstate 1 (otherwise the next state's barrier hides them)
    // and several chunks at every tile (len > 1024).
    const cases: ScanCase[] = [
      { batch: 2, dim: 4, len: 1100, dstate: 1, groups: 2, seed: 700 },
      { batch: 1, dim: 2, len: 300, dstate: 3, groups: 1, withD: false, delta: "large", seed: 701 },
    ];
    for (const tile of [[32, 4], [32, 8], [64, 8], [128, 8]] as [number, number][]) {
      const r = loadCudaKernel({ emulate: true, build: false, tile, scratchBytes: 1 });
      if (!r.ok) throw new Error(r.reason);
      const s = r.kernel.lib.symbols;
      try {
        assertEquals(s.ss_cuda_emu_set_schedule(0, 1), 0);
        checkKernelAgainstReference(r.kernel, cases);
        const inOrder = cases.map((c) => allOutputs(r.kernel, c));
        for (const [mode, seed] of [[1, 1], [2, 17], [2, 99]]) {
          assertEquals(s.ss_cuda_emu_set_schedule(mode, seed), 0);
          cases.forEach((c, i) =>
            assertBitwiseEqual(
              allOutputs(r.kernel, c),
              inOrder[i],
              `tile ${tile} schedule ${mode}/${seed} ${caseName(c)}`,
            )
          );
        }
      } finally {
        s.ss_cuda_emu_set_schedule(0, 1);
        r.kernel.close();
      }
    }
  },
});

/** ss_cuda_alloc / memcpy / fwd_dev / bwd_dev give the same bits as ss_cuda_fwd / ss_cuda_bwd. */
function deviceApiMatchesHostApi(k: CudaScanKernel): void {
  const c: ScanCase = { batch: 2, dim: 4, len: 100, dstate: 4, groups: 2, seed: 800 };
  const { x, dy } = makeCaseInputs(c);
  // The library's tile is per process; the host API sets it per call, so match it here.
  assertEquals(k.lib.symbols.ss_cuda_set_tile(0, 0), CUDA_RC.ok);
  const dev = deviceScan(k.lib, x, dy);
  try {
    assertEquals(dev.forward(), CUDA_RC.ok);
    assertEquals(dev.backward(), CUDA_RC.ok);
    const nu = x.u.length, na = x.A.length, nbc = x.B.length;
    const sizes = [nu, nu, na, nbc, nbc, x.dim, x.dim];
    const g = k.backward(x, dy);
    assertBitwiseEqual(
      [dev.read(dev.y, nu), ...dev.grads.map((p, i) => dev.read(p, sizes[i]))],
      [k.forward(x), g.du, g.ddelta, g.dA, g.dB, g.dC, g.dD!, g.ddeltaBias!],
      "device API vs host API",
    );
  } finally {
    dev.free();
  }
}

Deno.test({
  name: `cuda-emu: device-buffer API matches the host API${EMU_SUFFIX}`,
  ignore: !emu.ok,
  fn() {
    deviceApiMatchesHostApi(emuKernel());
  },
});

Deno.test({
  name: `cuda-emu: invalid shapes are rejected with code 1 and a message${EMU_SUFFIX}`,
  ignore: !emu.ok,
  fn() {
    const k = emuKernel();
    const s = k.lib.symbols;
    const err = () => Deno.UnsafePointerView.getCString(s.ss_cuda_last_error()!);
    const { x } = makeCaseInputs({ batch: 1, dim: 2, len: 4, dstate: 2, groups: 1 });
    const y = new Float32Array(8);
    const fwd = (dstate: number, groups: number) =>
      s.ss_cuda_fwd(1, 2, 4, dstate, groups, 1, x.u, x.delta, x.A, x.B, x.C, null, null, y);
    assertEquals(fwd(65, 1), CUDA_RC.invalid);
    assert(err().includes("dstate=65"), err());
    assertEquals(fwd(2, 3), CUDA_RC.invalid);
    assert(err().includes("not a multiple of groups=3"), err());
    assertEquals(s.ss_cuda_set_tile(48, 4), CUDA_RC.invalid);
    assertEquals(s.ss_cuda_set_tile(0, 0), CUDA_RC.ok);
    // The TS wrapper checks lengths before any native call.
    assertThrows(() => k.forward({ ...x, u: new Float32Array(3) }), Error, "u has 3 elements");
  },
});

Deno.test({
  name: `cuda-emu: dD / ddeltaBias present iff D / deltaBias given${EMU_SUFFIX}`,
  ignore: !emu.ok,
  fn() {
    const k = emuKernel();
    const base: ScanCase = { batch: 1, dim: 2, len: 10, dstate: 2, groups: 1 };
    for (const [withD, withBias] of [[true, true], [false, true], [true, false], [false, false]]) {
      const { x, dy } = makeCaseInputs({ ...base, withD, withBias });
      const g = k.backward(x, dy);
      assertEquals("dD" in g, withD);
      assertEquals("ddeltaBias" in g, withBias);
    }
  },
});

globalThis.addEventListener("unload", () => {
  if (gpu.ok) gpu.kernel.close();
  if (emu.ok) emu.kernel.close();
});
