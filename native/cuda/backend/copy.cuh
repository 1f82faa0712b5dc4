// The strided copy behind every kernel that moves elements without arithmetic (Transpose, Slice,
// SplitV, Concat, Pack, Unpack, Reverse, PadV2; lib/backends/cuda/kernels/copy.ts):
//   y[y_off + Σ_d c_d·y_stride_d] = x[x_off + Σ_d c_d·x_stride_d]  for every c in the shape,
// rank ≤ 6, strides in elements and possibly negative (Reverse) or 0 (a broadcast source).
// One thread per element, 4-byte or 1-byte elements. Part of native/cuda/starmamba_cuda.cu.
#pragma once

namespace smc {

struct Strided {
  int rank;
  int64_t shape[kMaxRank];
  int64_t x_stride[kMaxRank];
  int64_t y_stride[kMaxRank];
  int64_t x_off, y_off;
};

template <typename T>
__global__ void strided_copy_kernel(Strided s, const T* x, T* y, size_t n, int accumulate) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t rest = i;
    int64_t ix = s.x_off, iy = s.y_off;
    for (int d = s.rank - 1; d >= 0; --d) {
      const int64_t c = (int64_t)(rest % (size_t)s.shape[d]);
      rest /= (size_t)s.shape[d];
      ix += c * s.x_stride[d];
      iy += c * s.y_stride[d];
    }
    y[iy] = accumulate ? (T)(y[iy] + x[ix]) : x[ix];
  }
}

}  // namespace smc

extern "C" {

/** Strided copy; `packed` = [rank, shape…, x strides…, y strides…, x_off, y_off] (int64),
 *  elem_bytes 4 or 1. accumulate = 1 adds into y instead (float32 only: elem_bytes 4 means
 *  float32 then); each y element must then be hit once per call. */
int smc_strided_copy(const int64_t* packed, const void* x, void* y, int elem_bytes,
                     int accumulate) {
  smc::Strided s;
  memset(&s, 0, sizeof s);
  s.rank = (int)packed[0];
  if (s.rank < 0 || s.rank > smc::kMaxRank) {
    smc::set_error("strided copy: rank %d outside 0..%d", s.rank, smc::kMaxRank);
    return smc::kErrInvalid;
  }
  size_t n = 1;
  for (int d = 0; d < s.rank; ++d) {
    s.shape[d] = packed[1 + d];
    s.x_stride[d] = packed[1 + s.rank + d];
    s.y_stride[d] = packed[1 + 2 * s.rank + d];
    if (s.shape[d] < 0) {
      smc::set_error("strided copy: negative extent %lld", (long long)s.shape[d]);
      return smc::kErrInvalid;
    }
    n *= (size_t)s.shape[d];
  }
  s.x_off = packed[1 + 3 * s.rank];
  s.y_off = packed[2 + 3 * s.rank];
  if (n == 0) return smc::kOk;
  const dim3 grid = smc::flat_grid(n), block(smc::kFlatThreads);
  if (accumulate && elem_bytes == 4) {
    return smc::launched(sm::launch_flat(smc::strided_copy_kernel<float>, grid, block, s,
                                         (const float*)x, (float*)y, n, 1),
                         "strided accumulate");
  }
  if (elem_bytes == 4 && !accumulate) {
    return smc::launched(sm::launch_flat(smc::strided_copy_kernel<uint32_t>, grid, block, s,
                                         (const uint32_t*)x, (uint32_t*)y, n, 0),
                         "strided copy");
  }
  if (elem_bytes == 1 && !accumulate) {
    return smc::launched(sm::launch_flat(smc::strided_copy_kernel<uint8_t>, grid, block, s,
                                         (const uint8_t*)x, (uint8_t*)y, n, 0),
                         "strided copy");
  }
  smc::set_error("strided copy: element size %d, accumulate %d (4 or 1; accumulate needs 4)",
                 elem_bytes, accumulate);
  return smc::kErrInvalid;
}

}  // extern "C"
