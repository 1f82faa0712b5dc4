// The CUDA library of starmamba, one translation unit (so no relocatable device code is needed):
// the selective scan (selective_scan.cu, its own C ABI ss_cuda_*) and the kernels of the `cuda`
// tfjs backend (backend/, C ABI smc_*; lib/backends/cuda/ loads them with Deno.dlopen).
//
// Built two ways by native/cuda/build.ts: nvcc → native/build/cuda/libstarmamba_cuda.so for the
// GPU; the host C++ compiler with -DSS_CUDA_EMULATE → libstarmamba_cuda_emu.so, the same
// kernels on the CPU under the emulator of emulate.h, for tests on machines without a GPU.
#include "selective_scan.cu"
#include "backend/runtime.cuh"
#include "backend/elementwise.cuh"
#include "backend/copy.cuh"
#include "backend/reduce.cuh"
#include "backend/gemm.cuh"
#include "backend/adam.cuh"
#include "backend/norm.cuh"
#include "backend/conv.cuh"
