// Batched matrix product of the cuda backend (BatchMatMul; lib/backends/cuda/kernels/matmul.ts):
//   C[b] = op(A[b]) · op(B[b]),  op = identity or transpose,  A[b] at A + b·stride_a (stride 0:
//   one matrix broadcast over the batch), C contiguous (batch, m, n).
//
// Two implementations with the same summation order (k ascending from 0, one float accumulator
// per output), so they give the same bits on the CPU; on the GPU nvcc may contract the
// multiply-add into an FMA, which changes the last bit but is itself repeatable:
//   tiled: 16×16 output tiles, A and B staged through shared memory in 16-wide k slices (the GPU
//     default);
//   reference: one thread per output, no shared memory — the "small reference gemm" that stands
//     in for cuBLAS under emulation, where it is far cheaper to run.
// smc_gemm_select forces one (tests run the tiled kernel under emulation too).
// Part of native/cuda/starmamba_cuda.cu.
#pragma once

namespace smc {

constexpr int kGemmTile = 16;
static int g_gemm_impl = 0;  // 0 auto, 1 reference, 2 tiled

__device__ __forceinline__ float load_a(const float* a, int ta, int m, int k, int row, int kk) {
  return ta ? a[(size_t)kk * m + row] : a[(size_t)row * k + kk];
}

__device__ __forceinline__ float load_b(const float* b, int tb, int k, int n, int kk, int col) {
  return tb ? b[(size_t)col * k + kk] : b[(size_t)kk * n + col];
}

__global__ void gemm_reference_kernel(int batch, int m, int n, int k, const float* A,
                                      int64_t stride_a, int ta, const float* B, int64_t stride_b,
                                      int tb, float* C) {
  const size_t total = (size_t)batch * m * n;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    const size_t bi = i / ((size_t)m * n), rc = i % ((size_t)m * n);
    const int row = (int)(rc / n), col = (int)(rc % n);
    const float* a = A + bi * stride_a;
    const float* b = B + bi * stride_b;
    float acc = 0.f;
    for (int kk = 0; kk < k; ++kk) acc += load_a(a, ta, m, k, row, kk) * load_b(b, tb, k, n, kk, col);
    C[i] = acc;
  }
}

__global__ void gemm_tiled_kernel(int m, int n, int k, const float* A, int64_t stride_a, int ta,
                                  const float* B, int64_t stride_b, int tb, float* C) {
  SS_SHARED(float, As, kGemmTile * kGemmTile);
  SS_SHARED(float, Bs, kGemmTile * kGemmTile);
  const int tx = (int)threadIdx.x, ty = (int)threadIdx.y;
  const int row = (int)blockIdx.y * kGemmTile + ty, col = (int)blockIdx.x * kGemmTile + tx;
  const float* a = A + (size_t)blockIdx.z * stride_a;
  const float* b = B + (size_t)blockIdx.z * stride_b;
  float acc = 0.f;
  for (int k0 = 0; k0 < k; k0 += kGemmTile) {
    const int ka = k0 + tx, kb = k0 + ty;
    As[ty * kGemmTile + tx] = (row < m && ka < k) ? load_a(a, ta, m, k, row, ka) : 0.f;
    Bs[ty * kGemmTile + tx] = (kb < k && col < n) ? load_b(b, tb, k, n, kb, col) : 0.f;
    __syncthreads();
    // Only the k < K part of the slice: padding would add 0·x, which is not a no-op for NaN/inf
    // and would make the two implementations differ.
    const int kmax = k - k0 < kGemmTile ? k - k0 : kGemmTile;
    for (int kk = 0; kk < kmax; ++kk) acc += As[ty * kGemmTile + kk] * Bs[kk * kGemmTile + tx];
    __syncthreads();
  }
  if (row < m && col < n) C[(size_t)blockIdx.z * m * n + (size_t)row * n + col] = acc;
}

}  // namespace smc

extern "C" {

/** Chooses the gemm: 0 automatic (GPU: tiled; emulation: reference), 1 reference, 2 tiled. */
int smc_gemm_select(int impl) {
  if (impl < 0 || impl > 2) {
    smc::set_error("gemm implementation %d (0 auto, 1 reference, 2 tiled)", impl);
    return smc::kErrInvalid;
  }
  smc::g_gemm_impl = impl;
  return smc::kOk;
}

/** C (batch, m, n) = op(A) · op(B) per batch element; A is (m, k), or (k, m) when ta; B is
 *  (k, n), or (n, k) when tb; stride 0 broadcasts one matrix over the batch. */
int smc_gemm(int batch, int m, int n, int k, const float* A, int64_t stride_a, int ta,
             const float* B, int64_t stride_b, int tb, float* C) {
  using namespace smc;
  if (batch < 0 || m < 0 || n < 0 || k < 0 || batch > 65535) {
    set_error("gemm: batch %d, m %d, n %d, k %d (batch at most 65535)", batch, m, n, k);
    return kErrInvalid;
  }
  if ((size_t)batch * m * n == 0) return kOk;
#ifdef SS_CUDA_EMULATE
  const bool tiled = g_gemm_impl == 2;
#else
  const bool tiled = g_gemm_impl != 1;
#endif
  if (!tiled) {
    return launched(sm::launch_flat(gemm_reference_kernel, flat_grid((size_t)batch * m * n),
                                    dim3(kFlatThreads), batch, m, n, k, A, stride_a, ta, B,
                                    stride_b, tb, C),
                    "gemm (reference)");
  }
  const dim3 grid((unsigned)((n + kGemmTile - 1) / kGemmTile),
                  (unsigned)((m + kGemmTile - 1) / kGemmTile), (unsigned)batch);
  return launched(sm::launch(gemm_tiled_kernel, grid, dim3(kGemmTile, kGemmTile), m, n, k, A,
                             stride_a, ta, B, stride_b, tb, C),
                  "gemm (tiled)");
}

}  // extern "C"
