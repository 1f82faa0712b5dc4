// The fused LayerNorm / training-mode BatchNorm of lib/ops/norm.ts on the device, forward and
// backward, with float64 statistics as the cpu and wasm kernels. x is (R, C), C innermost.
//   mode row (LayerNorm): statistics per row — one thread per row, columns in order.
//   mode col (BatchNorm on NHWC): statistics per channel over R rows, and every parameter
//     gradient (sums over rows): rows cut into P chunks (P from the shape), one thread per
//     (chunk, channel) folding its rows in order into float64 partials, then one thread per
//     channel folding the P partials in order. Deterministic; no atomics.
// Part of native/cuda/starmamba_cuda.cu.
#pragma once

namespace smc {

// What a column pass sums per row r and channel c (two sums at once).
enum ColTerm : int {
  kTermX = 0,        // s0 = x
  kTermSqDev,        // s0 = (x − μ_c)²
  kTermRowGrads,     // s0 = dy·(x − μ_r)·rstd_r, s1 = dy     (LayerNorm dγ, dβ)
  kTermColGrads,     // s0 = dy·(x − μ_c)·rstd_c, s1 = dy     (BatchNorm dγ, dβ)
};

__global__ void norm_col_partials(int term, const float* x, const float* dy, const float* mean,
                                  const float* rstd, const double* mean_d, int64_t R, int C,
                                  int64_t chunk, int64_t P, double* s0, double* s1) {
  const size_t n = (size_t)P * C;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    const int64_t p = (int64_t)(i / C);
    const int c = (int)(i % C);
    const int64_t r0 = p * chunk, r1 = r0 + chunk < R ? r0 + chunk : R;
    double a = 0, b = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const size_t o = (size_t)r * C + c;
      const double xv = x[o];
      if (term == kTermX) {
        a += xv;
      } else if (term == kTermSqDev) {
        const double d = xv - mean_d[c];
        a += d * d;
      } else if (term == kTermRowGrads) {
        const double d = dy[o];
        a += d * ((xv - mean[r]) * rstd[r]);
        b += d;
      } else {
        const double d = dy[o];
        a += d * (xv - mean[c]) * rstd[c];
        b += d;
      }
    }
    s0[i] = a;
    if (s1) s1[i] = b;
  }
}

// Folds the P partials of each channel in order: out[c] = Σ_p part[p·C + c].
__global__ void norm_fold(const double* part, int64_t P, int C, double* out) {
  for (size_t c = blockIdx.x * (size_t)blockDim.x + threadIdx.x; c < (size_t)C;
       c += (size_t)gridDim.x * blockDim.x) {
    double a = 0;
    for (int64_t p = 0; p < P; ++p) a += part[(size_t)p * C + c];
    out[c] = a;
  }
}

__global__ void norm_row_forward(const float* x, const float* gamma, const float* beta,
                                 int64_t R, int C, float eps, float* y, float* mean,
                                 float* variance, float* rstd) {
  for (size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x; r < (size_t)R;
       r += (size_t)gridDim.x * blockDim.x) {
    const float* xr = x + r * C;
    double s = 0;
    for (int c = 0; c < C; ++c) s += xr[c];
    const double mu = s / C;
    double q = 0;
    for (int c = 0; c < C; ++c) {
      const double d = xr[c] - mu;
      q += d * d;
    }
    const double v = q / C, rs = 1 / sqrt(v + (double)eps);
    mean[r] = (float)mu;
    variance[r] = (float)v;
    rstd[r] = (float)rs;
    for (int c = 0; c < C; ++c) y[r * C + c] = (float)((xr[c] - mu) * rs * gamma[c] + beta[c]);
  }
}

// Per channel from Σx and Σ(x−μ)²: the statistics and the affine map y = x·scale + shift.
__global__ void norm_col_stats(const double* sum, const double* sq, const float* gamma,
                               const float* beta, int64_t R, int C, float eps, double* mean_d,
                               float* mean, float* variance, float* rstd, double* scale,
                               double* shift, int phase) {
  for (size_t c = blockIdx.x * (size_t)blockDim.x + threadIdx.x; c < (size_t)C;
       c += (size_t)gridDim.x * blockDim.x) {
    if (phase == 0) {
      mean_d[c] = sum[c] / (double)R;
      continue;
    }
    const double v = sq[c] / (double)R, rs = 1 / sqrt(v + (double)eps);
    mean[c] = (float)mean_d[c];
    variance[c] = (float)v;
    rstd[c] = (float)rs;
    scale[c] = rs * gamma[c];
    shift[c] = beta[c] - mean_d[c] * scale[c];
  }
}

__global__ void norm_col_apply(const float* x, const double* scale, const double* shift,
                               size_t n, int C, float* y) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    const int c = (int)(i % C);
    y[i] = (float)(x[i] * scale[c] + shift[c]);
  }
}

__global__ void norm_row_dx(const float* dy, const float* x, const float* gamma,
                            const float* mean, const float* rstd, int64_t R, int C, float* dx) {
  for (size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x; r < (size_t)R;
       r += (size_t)gridDim.x * blockDim.x) {
    const double mu = mean[r], rs = rstd[r];
    double sg = 0, sgx = 0;
    for (int c = 0; c < C; ++c) {
      const size_t o = r * C + c;
      const double xh = (x[o] - mu) * rs, g = (double)dy[o] * gamma[c];
      sg += g;
      sgx += g * xh;
    }
    const double mg = sg / C, mgx = sgx / C;
    for (int c = 0; c < C; ++c) {
      const size_t o = r * C + c;
      const double xh = (x[o] - mu) * rs;
      dx[o] = (float)(rs * ((double)dy[o] * gamma[c] - mg - xh * mgx));
    }
  }
}

__global__ void norm_col_dx(const float* dy, const float* x, const float* gamma,
                            const float* mean, const float* rstd, const double* dg,
                            const double* db, int64_t R, size_t n, int C, float* dx) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    const int c = (int)(i % C);
    const double a = (double)rstd[c] * gamma[c];
    const double b = ((double)gamma[c] * db[c]) / (double)R;
    const double k = ((double)gamma[c] * dg[c]) / (double)R;
    const double xh = ((double)x[i] - mean[c]) * rstd[c];
    dx[i] = (float)(a * dy[i] - rstd[c] * (b + xh * k));
  }
}

__global__ void zero_d(double* a, double* b, int C) {
  for (size_t c = blockIdx.x * (size_t)blockDim.x + threadIdx.x; c < (size_t)C;
       c += (size_t)gridDim.x * blockDim.x) {
    a[c] = 0;
    b[c] = 0;
  }
}

__global__ void to_float(const double* a, float* out, int C) {
  for (size_t c = blockIdx.x * (size_t)blockDim.x + threadIdx.x; c < (size_t)C;
       c += (size_t)gridDim.x * blockDim.x) {
    out[c] = (float)a[c];
  }
}

// Scratch of float64 arrays from the caching allocator, returned on scope exit.
struct Scratch {
  std::vector<void*> bufs;
  double* get(size_t n) {
    void* p = allocator().alloc((n ? n : 1) * sizeof(double));
    if (p) bufs.push_back(p);
    return (double*)p;
  }
  ~Scratch() {
    for (void* p : bufs) allocator().release(p);
  }
};

// Runs a column pass: s0 (and s1) per channel, folded over P chunks.
inline int col_sums(int term, const float* x, const float* dy, const float* mean,
                    const float* rstd, const double* mean_d, int64_t R, int C, Scratch& sc,
                    double* out0, double* out1) {
  const int64_t P = reduce_chunks(C, R), chunk = (R + P - 1) / P;
  double* p0 = sc.get((size_t)(P * C));
  double* p1 = out1 ? sc.get((size_t)(P * C)) : nullptr;
  if (!p0 || (out1 && !p1)) return kErrCuda;
  if (int rc = launched(sm::launch_flat(norm_col_partials, flat_grid((size_t)(P * C)),
                                        dim3(kFlatThreads), term, x, dy, mean, rstd, mean_d, R,
                                        C, chunk, P, p0, p1),
                        "norm column partials")) {
    return rc;
  }
  if (int rc = launched(sm::launch_flat(norm_fold, flat_grid((size_t)C), dim3(kFlatThreads),
                                        (const double*)p0, P, C, out0),
                        "norm fold")) {
    return rc;
  }
  if (!out1) return kOk;
  return launched(sm::launch_flat(norm_fold, flat_grid((size_t)C), dim3(kFlatThreads),
                                  (const double*)p1, P, C, out1),
                  "norm fold");
}

}  // namespace smc

extern "C" {

/** Forward of the fused norm; mode 0 row, 1 col. mean/variance/rstd have R (row) or C (col)
 *  entries. */
int smc_norm_fwd(int mode, int64_t R, int C, float eps, const float* x, const float* gamma,
                 const float* beta, float* y, float* mean, float* variance, float* rstd) {
  using namespace smc;
  if (R < 0 || C < 1 || mode < 0 || mode > 1) {
    set_error("norm: mode %d, R %lld, C %d", mode, (long long)R, C);
    return kErrInvalid;
  }
  if (mode == 0) {
    if (R == 0) return kOk;
    return launched(sm::launch_flat(norm_row_forward, flat_grid((size_t)R), dim3(kFlatThreads),
                                    x, gamma, beta, R, C, eps, y, mean, variance, rstd),
                    "layer norm");
  }
  Scratch sc;
  double *sum = sc.get(C), *sq = sc.get(C), *mean_d = sc.get(C), *scale = sc.get(C),
         *shift = sc.get(C);
  if (!sum || !sq || !mean_d || !scale || !shift) return kErrCuda;
  const dim3 g = flat_grid((size_t)C), b(kFlatThreads);
  if (int rc = col_sums(kTermX, x, nullptr, nullptr, nullptr, nullptr, R, C, sc, sum, nullptr)) {
    return rc;
  }
  if (int rc = launched(sm::launch_flat(norm_col_stats, g, b, (const double*)sum,
                                        (const double*)sq, gamma, beta, R, C, eps, mean_d, mean,
                                        variance, rstd, scale, shift, 0),
                        "batch norm mean")) {
    return rc;
  }
  if (int rc = col_sums(kTermSqDev, x, nullptr, nullptr, nullptr, mean_d, R, C, sc, sq, nullptr)) {
    return rc;
  }
  if (int rc = launched(sm::launch_flat(norm_col_stats, g, b, (const double*)sum,
                                        (const double*)sq, gamma, beta, R, C, eps, mean_d, mean,
                                        variance, rstd, scale, shift, 1),
                        "batch norm statistics")) {
    return rc;
  }
  const size_t n = (size_t)R * C;
  if (n == 0) return kOk;
  return launched(sm::launch_flat(norm_col_apply, flat_grid(n), b, x, (const double*)scale,
                                  (const double*)shift, n, C, y),
                  "batch norm apply");
}

/** Backward of the fused norm: dx, dγ, dβ. */
int smc_norm_bwd(int mode, int64_t R, int C, const float* dy, const float* x, const float* gamma,
                 const float* mean, const float* rstd, float* dx, float* dgamma, float* dbeta) {
  using namespace smc;
  if (R < 0 || C < 1 || mode < 0 || mode > 1) {
    set_error("norm backward: mode %d, R %lld, C %d", mode, (long long)R, C);
    return kErrInvalid;
  }
  Scratch sc;
  double *dg = sc.get(C), *db = sc.get(C);
  if (!dg || !db) return kErrCuda;
  const int term = mode == 0 ? kTermRowGrads : kTermColGrads;
  if (R > 0) {
    if (int rc = col_sums(term, x, dy, mean, rstd, nullptr, R, C, sc, dg, db)) return rc;
  } else {
    // No rows: the sums are empty.
    if (int rc = launched(sm::launch_flat(zero_d, flat_grid((size_t)C), dim3(kFlatThreads), dg,
                                          db, C),
                          "norm zero")) {
      return rc;
    }
  }
  const size_t n = (size_t)R * C;
  if (n > 0) {
    int rc;
    if (mode == 0) {
      rc = launched(sm::launch_flat(norm_row_dx, flat_grid((size_t)R), dim3(kFlatThreads), dy, x,
                                    gamma, mean, rstd, R, C, dx),
                    "layer norm dx");
    } else {
      rc = launched(sm::launch_flat(norm_col_dx, flat_grid(n), dim3(kFlatThreads), dy, x, gamma,
                                    mean, rstd, (const double*)dg, (const double*)db, R, n, C, dx),
                    "batch norm dx");
    }
    if (rc) return rc;
  }
  const dim3 g = flat_grid((size_t)C), b(kFlatThreads);
  if (int rc = launched(sm::launch_flat(to_float, g, b, (const double*)dg, dgamma, C), "dγ")) {
    return rc;
  }
  return launched(sm::launch_flat(to_float, g, b, (const double*)db, dbeta, C), "dβ");
}

}  // extern "C"
