// Elementwise kernels of the cuda backend: unary float32 maps, binary float32 maps with
// numpy/tfjs broadcasting (up to rank 6), comparisons into bool (one byte per element), casts.
// One thread per output element, grid-stride; no reductions, so every result is exact per
// element and independent of the schedule. Part of native/cuda/starmamba_cuda.cu.
//
// The maps follow tfjs-backend-cpu's definitions where they differ from the C library's
// (softplus's thresholds, NaN propagation of maximum/minimum, sign of 0), so that the cpu
// backend is a reference to rtol 1e-6 or better.
#pragma once

namespace smc {

// Unary ops; the numbers are the C ABI (lib/backends/cuda/kernels/elementwise.ts).
enum UnaryOp : int {
  kNeg = 0, kExp, kLog, kSqrt, kRsqrt, kSquare, kAbs, kRelu, kSigmoid, kTanh, kSoftplus,
  kLog1p, kReciprocal, kSign, kRelu6, kExpm1, kFloor, kCeil,
  // with parameters p0, p1:
  kStep, kLeakyRelu, kClip, kUnaryCount
};

// Binary ops (float32 → float32, then comparisons float32 → bool).
enum BinaryOp : int {
  kAdd = 0, kSub, kMul, kDiv, kMaximum, kMinimum, kPow, kSquaredDifference,
  kGreater, kGreaterEqual, kLess, kLessEqual, kEqual, kNotEqual, kBinaryCount
};
constexpr int kFirstComparison = kGreater;

constexpr int kMaxRank = 6;

// Output shape and the element strides of both inputs in it (0 along broadcast axes).
struct Broadcast {
  int rank;
  int shape[kMaxRank];
  int a_stride[kMaxRank];
  int b_stride[kMaxRank];
};

__device__ __forceinline__ float softplus_tfjs(float x) {
  // tfjs: threshold = log(float32 epsilon) + 2; exp(x) below -threshold... as its cpu kernel.
  const float threshold = -13.942385152878742f;  // logf(1.1920928955078125e-7f) + 2
  if (x > -threshold) return x;
  if (x < threshold) return expf(x);
  return logf(expf(x) + 1.f);
}

__device__ __forceinline__ float unary_map(int op, float x, float p0, float p1) {
  switch (op) {
    case kNeg: return -x;
    case kExp: return expf(x);
    case kLog: return logf(x);
    case kSqrt: return sqrtf(x);
    case kRsqrt: return 1.f / sqrtf(x);
    case kSquare: return x * x;
    case kAbs: return fabsf(x);
    case kRelu: return x < 0.f ? 0.f : x;
    case kSigmoid: return 1.f / (1.f + expf(-x));
    case kTanh: return tanhf(x);
    case kSoftplus: return softplus_tfjs(x);
    case kLog1p: return log1pf(x);
    case kReciprocal: return 1.f / x;
    case kSign: return x < 0.f ? -1.f : (x > 0.f ? 1.f : (x == 0.f ? 0.f : x));
    case kRelu6: return x < 0.f ? 0.f : (x > 6.f ? 6.f : x);
    case kExpm1: return expm1f(x);
    case kFloor: return floorf(x);
    case kCeil: return ceilf(x);
    // tfjs: step(x) = x > 0 ? 1 : alpha, NaN stays NaN (the gradient of relu)
    case kStep: return isnan(x) ? x : (x > 0.f ? 1.f : p0);
    case kLeakyRelu: return x < 0.f ? p0 * x : x;
    case kClip: return x < p0 ? p0 : (x > p1 ? p1 : x);
    default: return NAN;
  }
}

__device__ __forceinline__ float binary_map(int op, float a, float b) {
  switch (op) {
    case kAdd: return a + b;
    case kSub: return a - b;
    case kMul: return a * b;
    case kDiv: return a / b;
    case kMaximum: return (isnan(a) || isnan(b)) ? NAN : (a > b ? a : b);
    case kMinimum: return (isnan(a) || isnan(b)) ? NAN : (a < b ? a : b);
    case kPow: return powf(a, b);
    case kSquaredDifference: return (a - b) * (a - b);
    default: return NAN;
  }
}

__device__ __forceinline__ bool compare_map(int op, float a, float b) {
  switch (op) {
    case kGreater: return a > b;
    case kGreaterEqual: return a >= b;
    case kLess: return a < b;
    case kLessEqual: return a <= b;
    case kEqual: return a == b;
    default: return a != b;  // kNotEqual
  }
}

__global__ void unary_kernel(int op, const float* x, float* y, size_t n, float p0, float p1) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    y[i] = unary_map(op, x[i], p0, p1);
  }
}

// Element offsets of output element i in a and b.
__device__ __forceinline__ void broadcast_offsets(const Broadcast& bc, size_t i, size_t& ia,
                                                  size_t& ib) {
  ia = 0;
  ib = 0;
  for (int d = bc.rank - 1; d >= 0; --d) {
    const size_t c = i % (size_t)bc.shape[d];
    i /= (size_t)bc.shape[d];
    ia += c * (size_t)bc.a_stride[d];
    ib += c * (size_t)bc.b_stride[d];
  }
}

__global__ void binary_kernel(int op, Broadcast bc, const float* a, const float* b, float* y,
                              size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t ia, ib;
    broadcast_offsets(bc, i, ia, ib);
    y[i] = binary_map(op, a[ia], b[ib]);
  }
}

__global__ void compare_kernel(int op, Broadcast bc, const float* a, const float* b, uint8_t* y,
                               size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    size_t ia, ib;
    broadcast_offsets(bc, i, ia, ib);
    y[i] = compare_map(op, a[ia], b[ib]) ? 1 : 0;
  }
}

// dtype codes of the C ABI: 0 float32, 1 int32, 2 bool (uint8).
__global__ void cast_kernel(int from, int to, const void* x, void* y, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    float v;  // int32 values beyond 2^24 round as tfjs's Float32Array.from does
    if (from == 0) v = ((const float*)x)[i];
    else if (from == 1) v = (float)((const int32_t*)x)[i];
    else v = ((const uint8_t*)x)[i] ? 1.f : 0.f;
    if (to == 0) {
      ((float*)y)[i] = from == 1 ? (float)((const int32_t*)x)[i] : v;
    } else if (to == 1) {
      // Int32Array.from truncates toward zero (NaN → 0).
      ((int32_t*)y)[i] = from == 1 ? ((const int32_t*)x)[i] : (isnan(v) ? 0 : (int32_t)truncf(v));
    } else {
      ((uint8_t*)y)[i] = from == 1 ? (((const int32_t*)x)[i] != 0) : (v != 0.f);
    }
  }
}

__global__ void one_hot_kernel(const int32_t* idx, size_t n, int depth, float on, float off,
                               float* y) {
  const size_t total = n * (size_t)depth;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
       i += (size_t)gridDim.x * blockDim.x) {
    y[i] = idx[i / depth] == (int32_t)(i % depth) ? on : off;
  }
}

inline int check_broadcast(const Broadcast& bc) {
  if (bc.rank < 0 || bc.rank > kMaxRank) {
    set_error("broadcast rank %d outside 0..%d", bc.rank, kMaxRank);
    return kErrInvalid;
  }
  return kOk;
}

// Reads a Broadcast from the int32 array of the C ABI: rank, shape[rank], a_stride[rank],
// b_stride[rank].
inline Broadcast read_broadcast(const int32_t* packed) {
  Broadcast bc;
  memset(&bc, 0, sizeof bc);
  bc.rank = packed[0];
  for (int d = 0; d < bc.rank && d < kMaxRank; ++d) {
    bc.shape[d] = packed[1 + d];
    bc.a_stride[d] = packed[1 + bc.rank + d];
    bc.b_stride[d] = packed[1 + 2 * bc.rank + d];
  }
  return bc;
}

}  // namespace smc

extern "C" {

/** y = op(x) elementwise over n float32 values (UnaryOp numbers); p0, p1 are the parameters of
 *  Step (alpha), LeakyRelu (alpha) and Clip (min, max). */
int smc_unary(int op, const float* x, float* y, size_t n, float p0, float p1) {
  if (op < 0 || op >= smc::kUnaryCount) {
    smc::set_error("unknown unary op %d", op);
    return smc::kErrInvalid;
  }
  return smc::launched(sm::launch_flat(smc::unary_kernel, smc::flat_grid(n),
                                       dim3(smc::kFlatThreads), op, x, y, n, p0, p1),
                       "unary kernel");
}

/** y = a op b with broadcasting; `packed` = [rank, shape…, a strides…, b strides…] (int32).
 *  Arithmetic ops write float32, comparisons (op >= kGreater) bool bytes. */
int smc_binary(int op, const int32_t* packed, const float* a, const float* b, void* y, size_t n) {
  if (op < 0 || op >= smc::kBinaryCount) {
    smc::set_error("unknown binary op %d", op);
    return smc::kErrInvalid;
  }
  const smc::Broadcast bc = smc::read_broadcast(packed);
  if (int rc = smc::check_broadcast(bc)) return rc;
  const dim3 grid = smc::flat_grid(n), block(smc::kFlatThreads);
  if (op >= smc::kFirstComparison) {
    return smc::launched(
        sm::launch_flat(smc::compare_kernel, grid, block, op, bc, a, b, (uint8_t*)y, n),
        "compare kernel");
  }
  return smc::launched(sm::launch_flat(smc::binary_kernel, grid, block, op, bc, a, b, (float*)y, n),
                       "binary kernel");
}

/** y = cast(x) for n elements; dtypes 0 float32, 1 int32, 2 bool. */
int smc_cast(int from, int to, const void* x, void* y, size_t n) {
  if (from < 0 || from > 2 || to < 0 || to > 2) {
    smc::set_error("cast: unknown dtype code %d → %d", from, to);
    return smc::kErrInvalid;
  }
  return smc::launched(sm::launch_flat(smc::cast_kernel, smc::flat_grid(n),
                                       dim3(smc::kFlatThreads), from, to, x, y, n),
                       "cast kernel");
}

/** y (n, depth) float32 = 1-hot of int32 indices: `on` at column idx[i], `off` elsewhere. */
int smc_one_hot(const int32_t* idx, size_t n, int depth, float on, float off, float* y) {
  const size_t total = n * (size_t)depth;
  if (total == 0) return smc::kOk;
  return smc::launched(sm::launch_flat(smc::one_hot_kernel, smc::flat_grid(total),
                                       dim3(smc::kFlatThreads), idx, n, depth, on, off, y),
                       "one-hot");
}

}  // extern "C"
