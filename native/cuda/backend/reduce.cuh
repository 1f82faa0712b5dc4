// Reductions of the cuda backend (Sum, Mean, Max, Min; lib/backends/cuda/kernels/reduce.ts) of a
// float32 tensor viewed as (outer, r, inner), reducing r:  y[o, j] = ⊕_k x[o, k, j].
//
// Deterministic: the order of every sum depends on the shape alone, never on the schedule.
//   inner = 1, r > 64: one block of 256 threads per row; thread t folds k = t, t+256, … in order,
//     then a shared-memory tree with fixed pairs (t with t + s, s = 128, 64, …).
//   inner = 1, r ≤ 64, and inner > 1 with enough outputs: one thread per output, k in order.
//   inner > 1 with few outputs and a long r (a bias gradient: r = batch·positions): r is cut
//     into P chunks (P from the shape), each folded in order into a scratch row, and the P
//     partials folded in order by a second kernel.
// Max/min propagate NaN as tfjs-backend-cpu does. Part of native/cuda/starmamba_cuda.cu.
#pragma once

namespace smc {

enum ReduceOp : int { kSum = 0, kMean, kMax, kMin, kReduceCount };

__device__ __forceinline__ float reduce_init(int op, float first) {
  return op == kSum || op == kMean ? 0.f : first;
}

__device__ __forceinline__ float reduce_fold(int op, float acc, float v) {
  if (op == kSum || op == kMean) return acc + v;
  if (op == kMax) return (isnan(v) || v > acc) ? v : acc;
  return (isnan(v) || v < acc) ? v : acc;
}

// One thread per output (o, j); folds k over [k0, k1) in order. `scale` multiplies the result
// (1/r for a mean's last pass, else 1).
__global__ void reduce_cols_kernel(int op, const float* x, float* y, int64_t outer, int64_t r,
                                   int64_t inner, int64_t k0, int64_t k1, float scale) {
  const size_t n = (size_t)outer * (size_t)inner;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    const size_t o = i / (size_t)inner, j = i % (size_t)inner;
    const float* p = x + o * (size_t)r * (size_t)inner + j;
    float acc = reduce_init(op, p[(size_t)k0 * (size_t)inner]);
    for (int64_t k = k0; k < k1; ++k) acc = reduce_fold(op, acc, p[(size_t)k * (size_t)inner]);
    y[i] = acc * scale;
  }
}

constexpr int kReduceThreads = 256;

// Index of the first largest (kMax) or smallest element along r, as tfjs-backend-cpu's ArgMax /
// ArgMin: start at k = 0 and move only on a strictly better value (NaN never wins after k = 0).
__global__ void arg_reduce_kernel(int largest, const float* x, int32_t* y, int64_t outer,
                                  int64_t r, int64_t inner) {
  const size_t n = (size_t)outer * (size_t)inner;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    const size_t o = i / (size_t)inner, j = i % (size_t)inner;
    const float* p = x + o * (size_t)r * (size_t)inner + j;
    float best = p[0];
    int32_t at = 0;
    for (int64_t k = 1; k < r; ++k) {
      const float v = p[(size_t)k * (size_t)inner];
      if (largest ? v > best : v < best) {
        best = v;
        at = (int32_t)k;
      }
    }
    y[i] = at;
  }
}

// One block per row (inner = 1), grid-stride over rows.
__global__ void reduce_rows_kernel(int op, const float* x, float* y, int64_t rows, int64_t r,
                                   float scale) {
  SS_SHARED(float, part, kReduceThreads);
  const int t = (int)threadIdx.x;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* p = x + (size_t)row * (size_t)r;
    float acc = reduce_init(op, p[0]);
    for (int64_t k = t; k < r; k += kReduceThreads) acc = reduce_fold(op, acc, p[k]);
    // Threads past the row's end hold the fold's identity (or the first element for max/min,
    // harmless to fold twice).
    part[t] = acc;
    __syncthreads();
    for (int s = kReduceThreads / 2; s > 0; s /= 2) {
      if (t < s) part[t] = reduce_fold(op, part[t], part[t + s]);
      __syncthreads();
    }
    if (t == 0) y[row] = part[0] * scale;
    __syncthreads();
  }
}

// Chunks for the two-pass column reduction: enough that outputs × chunks fills the device,
// each chunk at least 64 long. A function of the shape only.
inline int64_t reduce_chunks(int64_t outputs, int64_t r) {
  if (outputs >= 8192 || r < 256) return 1;
  int64_t p = (8192 + outputs - 1) / outputs;
  const int64_t max_p = r / 64;
  return p < max_p ? p : max_p;
}

}  // namespace smc

extern "C" {

/** y[o, j] = op over k of x[o, k, j] for x viewed as (outer, r, inner); op 0 sum, 1 mean,
 *  2 max, 3 min. r ≥ 1. */
int smc_reduce(int op, const float* x, float* y, int64_t outer, int64_t r, int64_t inner) {
  using namespace smc;
  if (op < 0 || op >= kReduceCount || outer < 0 || r < 1 || inner < 1) {
    set_error("reduce: op %d, outer %lld, r %lld, inner %lld", op, (long long)outer,
              (long long)r, (long long)inner);
    return kErrInvalid;
  }
  const int64_t outputs = outer * inner;
  if (outputs == 0) return kOk;
  const float scale = op == kMean ? 1.f / (float)r : 1.f;
  if (inner == 1 && r > 64) {
    const unsigned blocks = (unsigned)(outer < 65535 ? outer : 65535);
    return launched(sm::launch(reduce_rows_kernel, dim3(blocks), dim3(kReduceThreads), op, x, y,
                               outer, r, scale),
                    "reduce (rows)");
  }
  const int64_t chunks = reduce_chunks(outputs, r);
  if (chunks <= 1) {
    return launched(sm::launch_flat(reduce_cols_kernel, flat_grid((size_t)outputs),
                                    dim3(kFlatThreads), op, x, y, outer, r, inner, (int64_t)0, r,
                                    scale),
                    "reduce (columns)");
  }
  // Two passes: partials (chunks, outer, inner), then their fold in chunk order.
  float* part = (float*)allocator().alloc((size_t)(chunks * outputs) * sizeof(float));
  if (!part) return kErrCuda;
  const int64_t len = (r + chunks - 1) / chunks;
  int rc = kOk;
  for (int64_t c = 0; c < chunks && rc == kOk; ++c) {
    const int64_t k0 = c * len, k1 = k0 + len < r ? k0 + len : r;
    rc = launched(sm::launch_flat(reduce_cols_kernel, flat_grid((size_t)outputs),
                                  dim3(kFlatThreads), op == kMean ? (int)kSum : op, x,
                                  part + c * outputs, outer, r, inner, k0, k1, 1.f),
                  "reduce (partials)");
  }
  // The partials as (1, chunks, outputs): fold over chunks, in order.
  if (rc == kOk) {
    rc = launched(sm::launch_flat(reduce_cols_kernel, flat_grid((size_t)outputs),
                                  dim3(kFlatThreads), op == kMean ? (int)kSum : op, part, y,
                                  (int64_t)1, chunks, outputs, (int64_t)0, chunks, scale),
                  "reduce (fold partials)");
  }
  allocator().release(part);
  return rc;
}

/** y[o, j] (int32) = index along r of the largest (largest = 1) or smallest element. */
int smc_arg_reduce(int largest, const float* x, int32_t* y, int64_t outer, int64_t r,
                   int64_t inner) {
  using namespace smc;
  if (outer < 0 || r < 1 || inner < 1) {
    set_error("arg reduce: outer %lld, r %lld, inner %lld", (long long)outer, (long long)r,
              (long long)inner);
    return kErrInvalid;
  }
  const size_t n = (size_t)(outer * inner);
  if (n == 0) return kOk;
  return launched(sm::launch_flat(arg_reduce_kernel, flat_grid(n), dim3(kFlatThreads), largest,
                                  x, y, outer, r, inner),
                  "arg reduce");
}

}  // extern "C"
