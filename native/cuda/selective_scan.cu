// Selective scan (Mamba S6) forward and backward for CUDA, float32.
//
// Shapes as mamba_ssm's selective_scan_fn (see lib/ops/scan_kernel.ts):
//   u, delta, y, dy: (batch, dim, len)     A: (dim, dstate)     D, delta_bias: (dim)
//   B, C: (batch, groups, dstate, len); channel d uses group d / (dim / groups).
//   dt_t = delta_t + delta_bias, then softplus (x > 20 → x, as mamba_ssm) if requested
//   h_t  = exp(dt_t A[d,n]) h_{t-1} + dt_t B[n,t] u_t,     y_t = Σ_n C[n,t] h_t[n] + D u_t
//
// Layout of the work, as mamba_ssm: one thread block per (batch, channel); the sequence is cut
// into chunks of kNThreads × kNItems steps; each thread owns kNItems consecutive steps of a
// chunk. Per state n the block runs a parallel scan over the affine maps h ↦ a·h + b of the
// chunk (thread-local composition, warp-shuffle scan, one shared-memory pass over warps) and the
// state at the chunk end is carried to the next chunk.
//
// Backward recomputes the chunk-end states with the forward kernel, then walks the chunks in
// reverse. The adjoint g_t = ∂L/∂h_t obeys g_t = C_t dy_t + a_{t+1} g_{t+1}; we scan the
// equivalent p_t = a_t g_t = a_t p_{t+1} + a_t C_t dy_t, whose maps are local to step t, so the
// reverse scan needs no neighbour shuffle, and g_t = C_t dy_t + p_{t+1}.
//
// Every reduction is deterministic (fixed order, no atomics): dA, dD, dΔ_bias are summed per
// block, written per batch and summed over batch by a second kernel; dB, dC are written per
// channel to a scratch buffer and summed over the channels of a group by a second kernel (the
// batch is processed in slices so the scratch stays under a byte limit).
//
// Part of the library native/cuda/starmamba_cuda.cu, built two ways (native/cuda/build.ts): by
// nvcc for the GPU, or by the host C++ compiler with -DSS_CUDA_EMULATE, where the same kernels
// run on the CPU under the emulator of emulate.h (tests on machines without a GPU).
#include "emulate.h"

namespace ss {

constexpr int kMaxDstate = 64;
constexpr unsigned kFullMask = 0xffffffffu;

// Return codes of the C ABI.
enum : int { kOk = 0, kErrInvalid = 1, kErrCuda = 2, kErrNoDevice = 3 };

struct Params {
  int batch, dim, len, dstate, groups, dim_per_group, n_chunks;
  int softplus;
  int batch_offset;  // first batch element of this launch (backward runs in batch slices)
  const float* u;
  const float* delta;
  const float* A;
  const float* B;
  const float* C;
  const float* D;           // may be null
  const float* delta_bias;  // may be null
  float* y;                 // forward output, may be null (state recompute only)
  float* chunk_h;           // (batch, dim, n_chunks, dstate) chunk-end states, may be null
  // backward
  const float* dy;
  float* du;
  float* ddelta;
  float* dA_part;     // (batch, dim, dstate)
  float* dB_part;     // (slice, dim, dstate, len), indexed by batch - batch_offset
  float* dC_part;     // same
  float* dD_part;     // (batch, dim)
  float* dbias_part;  // (batch, dim)
};

// The affine map h ↦ a·h + b of one step (or of a run of steps).
struct Aff {
  float a, b;
};

__device__ __forceinline__ Aff aff_identity() { return Aff{1.f, 0.f}; }

// The map "first, then `then`": h ↦ then.a·(first.a·h + first.b) + then.b.
__device__ __forceinline__ Aff compose(Aff first, Aff then) {
  return Aff{first.a * then.a, then.a * first.b + then.b};
}

__device__ __forceinline__ float softplus_mamba(float x) { return x <= 20.f ? log1pf(expf(x)) : x; }

// d softplus / dx = sigmoid(x); exactly 1 where softplus is the identity (x > 20).
__device__ __forceinline__ float dsoftplus_mamba(float x) {
  return x <= 20.f ? 1.f / (1.f + expf(-x)) : 1.f;
}

template <bool kReverse>
__device__ __forceinline__ float shfl_towards(float v, int offset) {
  return kReverse ? __shfl_down_sync(kFullMask, v, offset) : __shfl_up_sync(kFullMask, v, offset);
}

// Block-wide exclusive scan of affine maps, one per thread, in thread order (kReverse: in
// reverse thread order). `agg` is the composition of the thread's own steps. Returns the
// composition of all maps before this thread in scan order; `total` receives the composition of
// the whole block. Must be called by every thread of the block (it contains __syncthreads).
// `smem` holds 2 × kNWarps maps; `parity` alternates between its halves so that one barrier per
// call is enough (a half is rewritten two calls later, after another barrier).
template <int kNThreads, bool kReverse>
__device__ __forceinline__ Aff block_scan_exclusive(Aff agg, Aff* smem, int& parity, Aff& total) {
  constexpr int kNWarps = kNThreads / 32;
  const int lane = (int)threadIdx.x % 32;
  const int warp = (int)threadIdx.x / 32;
  Aff incl = agg;
  SS_UNROLL
  for (int off = 1; off < 32; off *= 2) {
    Aff other;
    other.a = shfl_towards<kReverse>(incl.a, off);
    other.b = shfl_towards<kReverse>(incl.b, off);
    const bool has_other = kReverse ? lane + off < 32 : lane >= off;
    if (has_other) incl = compose(other, incl);
  }
  Aff excl;
  excl.a = shfl_towards<kReverse>(incl.a, 1);
  excl.b = shfl_towards<kReverse>(incl.b, 1);
  if (kReverse ? lane == 31 : lane == 0) excl = aff_identity();

  Aff* warp_aggs = smem + parity * kNWarps;
  parity ^= 1;
  if (kReverse ? lane == 0 : lane == 31) warp_aggs[warp] = incl;
  __syncthreads();
  Aff before = aff_identity();
  total = aff_identity();
  SS_UNROLL
  for (int k = 0; k < kNWarps; ++k) {
    const int w = kReverse ? kNWarps - 1 - k : k;
    const Aff wa = warp_aggs[w];
    if (kReverse ? w > warp : w < warp) before = compose(before, wa);
    total = compose(total, wa);
  }
  return compose(before, excl);
}

// Sum over the 32 lanes of a warp (every lane gets it), in a fixed order.
__device__ __forceinline__ float warp_sum(float v) {
  SS_UNROLL
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(kFullMask, v, off);
  return v;
}

// Sum over the block, valid in thread 0. Fixed order. `smem` holds kNWarps floats; the caller
// must __syncthreads() before reusing it.
template <int kNThreads>
__device__ __forceinline__ float block_sum(float v, float* smem) {
  constexpr int kNWarps = kNThreads / 32;
  v = warp_sum(v);
  if (threadIdx.x % 32 == 0) smem[threadIdx.x / 32] = v;
  __syncthreads();
  float s = 0.f;
  if (threadIdx.x == 0) {
    for (int w = 0; w < kNWarps; ++w) s += smem[w];
  }
  return s;
}

// Forward: y (if p.y) and the chunk-end states (if p.chunk_h). Grid (batch, dim).
template <int kNThreads, int kNItems>
__global__ void __launch_bounds__(kNThreads) fwd_kernel(Params p) {
  constexpr int kChunk = kNThreads * kNItems;
  constexpr int kNWarps = kNThreads / 32;
  SS_SHARED(Aff, smem_scan, 2 * kNWarps);
  SS_SHARED(float, smem_h, kMaxDstate);  // running state per n, carried chunk to chunk

  const int b = (int)blockIdx.x;
  const int d = (int)blockIdx.y;
  const int g = d / p.dim_per_group;
  const int len = p.len;
  const int64_t bd = (int64_t)b * p.dim + d;
  const float* u = p.u + bd * len;
  const float* delta = p.delta + bd * len;
  const float* Bg = p.B + ((int64_t)b * p.groups + g) * p.dstate * (int64_t)len;
  const float* Cg = p.C + ((int64_t)b * p.groups + g) * p.dstate * (int64_t)len;
  const float D_val = p.D ? p.D[d] : 0.f;
  const float bias = p.delta_bias ? p.delta_bias[d] : 0.f;
  const bool want_y = p.y != nullptr;
  int parity = 0;

  for (int c = 0; c < p.n_chunks; ++c) {
    const int t0 = c * kChunk + (int)threadIdx.x * kNItems;
    float uv[kNItems], dt[kNItems], out[kNItems];
    SS_UNROLL
    for (int i = 0; i < kNItems; ++i) {
      const int t = t0 + i;
      const bool valid = t < len;
      uv[i] = valid ? u[t] : 0.f;
      const float x = valid ? delta[t] + bias : 0.f;
      dt[i] = p.softplus ? softplus_mamba(x) : x;
      out[i] = D_val * uv[i];
    }
    for (int n = 0; n < p.dstate; ++n) {
      const float A_val = p.A[(int64_t)d * p.dstate + n];
      const float* Bn = Bg + (int64_t)n * len;
      float da[kNItems], bu[kNItems];
      Aff agg = aff_identity();
      SS_UNROLL
      for (int i = 0; i < kNItems; ++i) {
        const int t = t0 + i;
        if (t < len) {
          da[i] = expf(dt[i] * A_val);
          bu[i] = dt[i] * Bn[t] * uv[i];
        } else {  // padding past the end: the identity map
          da[i] = 1.f;
          bu[i] = 0.f;
        }
        agg = compose(agg, Aff{da[i], bu[i]});
      }
      // Read the carry before the scan's barrier: thread 0 overwrites it after that barrier.
      const float carry = c == 0 ? 0.f : smem_h[n];
      Aff total;
      const Aff before = block_scan_exclusive<kNThreads, false>(agg, smem_scan, parity, total);
      if (want_y) {
        const float* Cn = Cg + (int64_t)n * len;
        float h = before.a * carry + before.b;
        SS_UNROLL
        for (int i = 0; i < kNItems; ++i) {
          h = da[i] * h + bu[i];
          const int t = t0 + i;
          if (t < len) out[i] += Cn[t] * h;
        }
      }
      if (threadIdx.x == 0) {
        const float h_end = total.a * carry + total.b;
        smem_h[n] = h_end;
        if (p.chunk_h) p.chunk_h[(bd * p.n_chunks + c) * p.dstate + n] = h_end;
      }
    }
    if (want_y) {
      float* y = p.y + bd * len;
      SS_UNROLL
      for (int i = 0; i < kNItems; ++i) {
        if (t0 + i < len) y[t0 + i] = out[i];
      }
    }
    __syncthreads();  // the carries written by thread 0 are read in the next chunk
  }
}

// Backward for one batch slice. Grid (slice batch, dim). Needs p.chunk_h from fwd_kernel.
template <int kNThreads, int kNItems>
__global__ void __launch_bounds__(kNThreads) bwd_kernel(Params p) {
  constexpr int kChunk = kNThreads * kNItems;
  constexpr int kNWarps = kNThreads / 32;
  SS_SHARED(Aff, smem_scan, 2 * kNWarps);
  SS_SHARED(float, smem_p, kMaxDstate);             // reverse carry p at the next chunk's start
  SS_SHARED(float, smem_dA, kMaxDstate * kNWarps);  // per-warp dA sums, [n][warp]
  SS_SHARED(float, smem_red, kNWarps);

  const int b_local = (int)blockIdx.x;
  const int b = p.batch_offset + b_local;
  const int d = (int)blockIdx.y;
  const int g = d / p.dim_per_group;
  const int len = p.len;
  const int dstate = p.dstate;
  const int64_t bd = (int64_t)b * p.dim + d;
  const int64_t bd_local = (int64_t)b_local * p.dim + d;
  const float* u = p.u + bd * len;
  const float* delta = p.delta + bd * len;
  const float* dy = p.dy + bd * len;
  const float* Bg = p.B + ((int64_t)b * p.groups + g) * dstate * (int64_t)len;
  const float* Cg = p.C + ((int64_t)b * p.groups + g) * dstate * (int64_t)len;
  float* dBd = p.dB_part + bd_local * dstate * (int64_t)len;
  float* dCd = p.dC_part + bd_local * dstate * (int64_t)len;
  const float D_val = p.D ? p.D[d] : 0.f;
  const float bias = p.delta_bias ? p.delta_bias[d] : 0.f;
  const int lane = (int)threadIdx.x % 32;
  const int warp = (int)threadIdx.x / 32;

  for (int k = (int)threadIdx.x; k < kMaxDstate * kNWarps; k += kNThreads) smem_dA[k] = 0.f;
  __syncthreads();

  float dD_acc = 0.f, dbias_acc = 0.f;
  int parity = 0;
  for (int c = p.n_chunks - 1; c >= 0; --c) {
    const int t0 = c * kChunk + (int)threadIdx.x * kNItems;
    float uv[kNItems], xv[kNItems], dt[kNItems], dyv[kNItems], du[kNItems], ddt[kNItems];
    SS_UNROLL
    for (int i = 0; i < kNItems; ++i) {
      const int t = t0 + i;
      const bool valid = t < len;
      uv[i] = valid ? u[t] : 0.f;
      dyv[i] = valid ? dy[t] : 0.f;
      xv[i] = valid ? delta[t] + bias : 0.f;
      dt[i] = p.softplus ? softplus_mamba(xv[i]) : xv[i];
      du[i] = D_val * dyv[i];
      ddt[i] = 0.f;
      dD_acc += dyv[i] * uv[i];
    }
    for (int n = 0; n < dstate; ++n) {
      const float A_val = p.A[(int64_t)d * dstate + n];
      const float* Bn = Bg + (int64_t)n * len;
      const float* Cn = Cg + (int64_t)n * len;
      float Bv[kNItems], da[kNItems], bu[kNItems], cdy[kNItems];
      Aff agg_f = aff_identity();
      SS_UNROLL
      for (int i = 0; i < kNItems; ++i) {
        const int t = t0 + i;
        if (t < len) {
          Bv[i] = Bn[t];
          da[i] = expf(dt[i] * A_val);
          bu[i] = dt[i] * Bv[i] * uv[i];
          cdy[i] = Cn[t] * dyv[i];
        } else {
          Bv[i] = 0.f;
          da[i] = 1.f;
          bu[i] = 0.f;
          cdy[i] = 0.f;
        }
        agg_f = compose(agg_f, Aff{da[i], bu[i]});
      }
      // Reverse maps p_{t+1} ↦ p_t = a_t p_{t+1} + a_t C_t dy_t, composed from the last step.
      Aff agg_r = aff_identity();
      SS_UNROLL
      for (int i = kNItems - 1; i >= 0; --i) agg_r = compose(agg_r, Aff{da[i], da[i] * cdy[i]});

      const float h0 = c == 0 ? 0.f : p.chunk_h[(bd * p.n_chunks + (c - 1)) * dstate + n];
      // Read the carry before the scans' barriers: thread 0 overwrites it after them.
      const float p_carry = c == p.n_chunks - 1 ? 0.f : smem_p[n];
      Aff total_f, total_r;
      const Aff before_f = block_scan_exclusive<kNThreads, false>(agg_f, smem_scan, parity, total_f);
      const Aff after_r = block_scan_exclusive<kNThreads, true>(agg_r, smem_scan, parity, total_r);
      (void)total_f;

      // h_{t-1} for each of this thread's steps.
      float h_prev[kNItems];
      float h = before_f.a * h0 + before_f.b;
      SS_UNROLL
      for (int i = 0; i < kNItems; ++i) {
        h_prev[i] = h;
        h = da[i] * h + bu[i];
      }
      float p_next = after_r.a * p_carry + after_r.b;  // p_{t+1} after this thread's last step
      float dA_loc = 0.f;
      SS_UNROLL
      for (int i = kNItems - 1; i >= 0; --i) {
        const int t = t0 + i;
        const float gt = cdy[i] + p_next;  // ∂L/∂h_t
        const float ah = da[i] * h_prev[i];  // a_t h_{t-1}
        if (t < len) {
          dCd[(int64_t)n * len + t] = dyv[i] * (ah + bu[i]);
          dBd[(int64_t)n * len + t] = gt * dt[i] * uv[i];
        }
        du[i] += gt * dt[i] * Bv[i];
        ddt[i] += gt * (Bv[i] * uv[i] + ah * A_val);
        dA_loc += gt * ah * dt[i];
        p_next = da[i] * gt;
      }
      if (threadIdx.x == 0) smem_p[n] = total_r.a * p_carry + total_r.b;
      dA_loc = warp_sum(dA_loc);
      if (lane == 0) smem_dA[n * kNWarps + warp] += dA_loc;  // slot owned by this lane
    }
    float* du_out = p.du + bd * len;
    float* ddelta_out = p.ddelta + bd * len;
    SS_UNROLL
    for (int i = 0; i < kNItems; ++i) {
      const int t = t0 + i;
      if (t < len) {
        const float dx = p.softplus ? ddt[i] * dsoftplus_mamba(xv[i]) : ddt[i];
        du_out[t] = du[i];
        ddelta_out[t] = dx;
        dbias_acc += dx;
      }
    }
    __syncthreads();  // the carries written by thread 0 are read in the next chunk
  }

  const float dD_sum = block_sum<kNThreads>(dD_acc, smem_red);
  if (threadIdx.x == 0) p.dD_part[bd] = dD_sum;
  __syncthreads();
  const float dbias_sum = block_sum<kNThreads>(dbias_acc, smem_red);
  if (threadIdx.x == 0) p.dbias_part[bd] = dbias_sum;
  for (int n = (int)threadIdx.x; n < dstate; n += kNThreads) {
    float s = 0.f;
    for (int w = 0; w < kNWarps; ++w) s += smem_dA[n * kNWarps + w];
    p.dA_part[bd * dstate + n] = s;
  }
}

// dB[b, g, n, t] = Σ_{d in group g} dB_part[b - b0, d, n, t] (same for dC), for b in the slice.
__global__ void group_sum_kernel(const float* dB_part, const float* dC_part, float* dB, float* dC,
                                 int slice, int batch_offset, int dim, int groups, int dstate,
                                 int len) {
  const int dpg = dim / groups;
  const int64_t total = (int64_t)slice * groups * dstate * len;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    const int t = (int)(idx % len);
    int64_t rest = idx / len;
    const int n = (int)(rest % dstate);
    rest /= dstate;
    const int g = (int)(rest % groups);
    const int bl = (int)(rest / groups);
    float sB = 0.f, sC = 0.f;
    for (int j = 0; j < dpg; ++j) {
      const int64_t src = (((int64_t)bl * dim + (int64_t)g * dpg + j) * dstate + n) * len + t;
      sB += dB_part[src];
      sC += dC_part[src];
    }
    const int64_t dst = (((int64_t)(batch_offset + bl) * groups + g) * dstate + n) * len + t;
    dB[dst] = sB;
    dC[dst] = sC;
  }
}

// out[i] = Σ_b part[b, i], i < n.
__global__ void batch_sum_kernel(const float* part, float* out, int batch, int n) {
  for (int i = (int)(blockIdx.x * blockDim.x + threadIdx.x); i < n;
       i += (int)(gridDim.x * blockDim.x)) {
    float s = 0.f;
    for (int b = 0; b < batch; ++b) s += part[(int64_t)b * n + i];
    out[i] = s;
  }
}

// ============================================================================================
// Host side
// ============================================================================================

static thread_local char g_error[1024] = "";
static int g_tile_threads = 0, g_tile_items = 0;       // 0: choose from len
static size_t g_scratch_limit = (size_t)256 << 20;     // bytes of dB/dC scratch per slice

__host__ static void set_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
__host__ static void set_error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_error, sizeof g_error, fmt, ap);
  va_end(ap);
}

template <typename... KArgs, typename... Args>
__host__ static cudaError_t launch_kernel(void (*kernel)(KArgs...), dim3 grid, dim3 block,
                                          Args... args) {
  return sm::launch(kernel, grid, block, args...);
}

template <int kNThreads, int kNItems>
__host__ static cudaError_t launch_fwd(const Params& p, dim3 grid) {
  return launch_kernel(fwd_kernel<kNThreads, kNItems>, grid, dim3(kNThreads), p);
}

template <int kNThreads, int kNItems>
__host__ static cudaError_t launch_bwd(const Params& p, dim3 grid) {
  return launch_kernel(bwd_kernel<kNThreads, kNItems>, grid, dim3(kNThreads), p);
}

typedef cudaError_t (*LaunchFn)(const Params&, dim3);

struct Tile {
  int threads, items;
  LaunchFn fwd, bwd;
};

// The automatic choice is the smallest tile, 32 threads × 4 items (chunks of 128 steps; longer
// sequences take several chunks), at every length: on an H200 it ran the backward 1.6–1.8× faster
// than the larger tiles at len 256, 1024 and 4096 (fewer registers per thread, so more blocks
// per SM) and the forward as fast or faster (docs/cuda.md, bench/cuda_profile.ts). mamba_ssm
// grows the tile with the length instead. The larger tiles stay for ss_cuda_set_tile.
static const Tile kTiles[] = {
    {32, 4, launch_fwd<32, 4>, launch_bwd<32, 4>},
    {32, 8, launch_fwd<32, 8>, launch_bwd<32, 8>},
    {64, 8, launch_fwd<64, 8>, launch_bwd<64, 8>},
    {128, 8, launch_fwd<128, 8>, launch_bwd<128, 8>},
};

__host__ static const Tile& pick_tile() {
  if (g_tile_threads > 0) {
    for (const Tile& t : kTiles) {
      if (t.threads == g_tile_threads && t.items == g_tile_items) return t;
    }
  }
  return kTiles[0];
}

__host__ static int check_cuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return kOk;
  set_error("%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
  cudaGetLastError();  // clear a non-sticky error so later calls can proceed
  return kErrCuda;
}

__host__ static int validate(int batch, int dim, int len, int dstate, int groups,
                             const void* const* required, int n_required) {
  if (batch < 1 || dim < 1 || len < 1 || dstate < 1 || groups < 1) {
    set_error("invalid shape: batch=%d dim=%d len=%d dstate=%d groups=%d (all must be >= 1)",
              batch, dim, len, dstate, groups);
    return kErrInvalid;
  }
  if (dstate > kMaxDstate) {
    set_error("dstate=%d exceeds the CUDA kernel's maximum of %d", dstate, kMaxDstate);
    return kErrInvalid;
  }
  if (dim % groups != 0) {
    set_error("dim=%d is not a multiple of groups=%d", dim, groups);
    return kErrInvalid;
  }
  if (dim > 65535) {
    set_error("dim=%d exceeds the grid limit of 65535 channels", dim);
    return kErrInvalid;
  }
  for (int i = 0; i < n_required; ++i) {
    if (!required[i]) {
      set_error("required pointer argument #%d is null", i);
      return kErrInvalid;
    }
  }
  return kOk;
}

__host__ static Params make_params(int batch, int dim, int len, int dstate, int groups,
                                   int softplus, const float* u, const float* delta,
                                   const float* A, const float* B, const float* C, const float* D,
                                   const float* delta_bias, int chunk) {
  Params p;
  memset(&p, 0, sizeof p);
  p.batch = batch;
  p.dim = dim;
  p.len = len;
  p.dstate = dstate;
  p.groups = groups;
  p.dim_per_group = dim / groups;
  p.n_chunks = (len + chunk - 1) / chunk;
  p.softplus = softplus ? 1 : 0;
  p.u = u;
  p.delta = delta;
  p.A = A;
  p.B = B;
  p.C = C;
  p.D = D;
  p.delta_bias = delta_bias;
  return p;
}

// Device buffer freed on scope exit.
struct DevBuf {
  void* ptr = nullptr;
  DevBuf() = default;
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  ~DevBuf() {
    if (ptr) cudaFree(ptr);
  }
  int alloc(size_t bytes, const char* what) {
    const cudaError_t e = cudaMalloc(&ptr, bytes == 0 ? 4 : bytes);
    if (e != cudaSuccess) {
      ptr = nullptr;
      set_error("cudaMalloc of %zu bytes for %s: %s", bytes, what, cudaGetErrorString(e));
      cudaGetLastError();
      return kErrCuda;
    }
    return kOk;
  }
  float* f() const { return static_cast<float*>(ptr); }
};

__host__ static int fwd_dev(int batch, int dim, int len, int dstate, int groups, int softplus,
                            const float* u, const float* delta, const float* A, const float* B,
                            const float* C, const float* D, const float* delta_bias, float* y) {
  const void* req[] = {u, delta, A, B, C, y};
  if (int rc = validate(batch, dim, len, dstate, groups, req, 6)) return rc;
  const Tile& tile = pick_tile();
  Params p = make_params(batch, dim, len, dstate, groups, softplus, u, delta, A, B, C, D,
                         delta_bias, tile.threads * tile.items);
  p.y = y;
  if (int rc = check_cuda(tile.fwd(p, dim3(batch, dim)), "forward kernel launch")) return rc;
  return check_cuda(cudaDeviceSynchronize(), "forward kernel");
}

__host__ static int bwd_dev(int batch, int dim, int len, int dstate, int groups, int softplus,
                            const float* u, const float* delta, const float* A, const float* B,
                            const float* C, const float* D, const float* delta_bias,
                            const float* dy, float* du, float* ddelta, float* dA, float* dB,
                            float* dC, float* dD, float* ddelta_bias) {
  const void* req[] = {u, delta, A, B, C, dy, du, ddelta, dA, dB, dC};
  if (int rc = validate(batch, dim, len, dstate, groups, req, 11)) return rc;
  const Tile& tile = pick_tile();
  Params p = make_params(batch, dim, len, dstate, groups, softplus, u, delta, A, B, C, D,
                         delta_bias, tile.threads * tile.items);
  const size_t bdim = (size_t)batch * dim;
  const size_t row = (size_t)dstate * len;  // floats of dB/dC per (batch, channel)

  DevBuf chunk_h, dA_part, dD_part, dbias_part, dB_part, dC_part;
  if (int rc = chunk_h.alloc(bdim * p.n_chunks * dstate * sizeof(float), "chunk states")) return rc;
  if (int rc = dA_part.alloc(bdim * dstate * sizeof(float), "dA partial sums")) return rc;
  if (int rc = dD_part.alloc(bdim * sizeof(float), "dD partial sums")) return rc;
  if (int rc = dbias_part.alloc(bdim * sizeof(float), "ddelta_bias partial sums")) return rc;

  // 1. Chunk-end states, by the forward kernel without y.
  p.chunk_h = chunk_h.f();
  if (int rc = check_cuda(tile.fwd(p, dim3(batch, dim)), "state recompute launch")) return rc;

  // 2. Backward per batch slice. With one channel per group, dB/dC need no group sum and the
  //    kernel writes them in place.
  const bool direct = p.dim_per_group == 1;
  int slice = batch;
  if (!direct) {
    const size_t per_batch = 2 * (size_t)dim * row * sizeof(float);
    const size_t fit = per_batch > 0 ? g_scratch_limit / per_batch : (size_t)batch;
    slice = (int)(fit < 1 ? 1 : (fit > (size_t)batch ? (size_t)batch : fit));
    if (int rc = dB_part.alloc((size_t)slice * dim * row * sizeof(float), "dB scratch")) return rc;
    if (int rc = dC_part.alloc((size_t)slice * dim * row * sizeof(float), "dC scratch")) return rc;
  }
  p.dy = dy;
  p.du = du;
  p.ddelta = ddelta;
  p.dA_part = dA_part.f();
  p.dD_part = dD_part.f();
  p.dbias_part = dbias_part.f();
  for (int b0 = 0; b0 < batch; b0 += slice) {
    const int nb = batch - b0 < slice ? batch - b0 : slice;
    p.batch_offset = b0;
    p.dB_part = direct ? dB + (size_t)b0 * dim * row : dB_part.f();
    p.dC_part = direct ? dC + (size_t)b0 * dim * row : dC_part.f();
    if (int rc = check_cuda(tile.bwd(p, dim3(nb, dim)), "backward kernel launch")) return rc;
    if (!direct) {
      const int64_t total = (int64_t)nb * groups * dstate * len;
      const int64_t want = (total + 255) / 256;
      const unsigned blocks = (unsigned)(want > 65535 ? 65535 : want);
      const cudaError_t e = launch_kernel(group_sum_kernel, dim3(blocks), dim3(256),
                                          (const float*)dB_part.f(), (const float*)dC_part.f(),
                                          dB, dC, nb, b0, dim, groups, dstate, len);
      if (int rc = check_cuda(e, "group-sum kernel launch")) return rc;
    }
  }

  // 3. Sums over the batch.
  struct Sum {
    const float* part;
    float* out;
    int n;
  };
  const Sum sums[] = {{dA_part.f(), dA, dim * dstate}, {dD_part.f(), dD, dim},
                      {dbias_part.f(), ddelta_bias, dim}};
  for (const Sum& s : sums) {
    if (!s.out) continue;
    const unsigned blocks = (unsigned)((s.n + 255) / 256);
    const cudaError_t e = launch_kernel(batch_sum_kernel, dim3(blocks), dim3(256), s.part, s.out,
                                        batch, s.n);
    if (int rc = check_cuda(e, "batch-sum kernel launch")) return rc;
  }
  return check_cuda(cudaDeviceSynchronize(), "backward kernels");
}

__host__ static int upload(DevBuf& buf, const float* host, size_t n, const char* what) {
  if (int rc = buf.alloc(n * sizeof(float), what)) return rc;
  return check_cuda(cudaMemcpy(buf.ptr, host, n * sizeof(float), cudaMemcpyHostToDevice), what);
}

__host__ static int download(float* host, const DevBuf& buf, size_t n, const char* what) {
  return check_cuda(cudaMemcpy(host, buf.ptr, n * sizeof(float), cudaMemcpyDeviceToHost), what);
}

__host__ static int require_device() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    set_error("no GPU visible: cudaGetDeviceCount failed: %s (%s)", cudaGetErrorString(e),
              cudaGetErrorName(e));
    cudaGetLastError();
    return 0;
  }
  if (n == 0) set_error("no GPU visible: cudaGetDeviceCount returned 0");
  return n;
}

}  // namespace ss

// ============================================================================================
// C ABI. Functions return 0 on success, 1 for invalid arguments, 2 for a CUDA error, 3 when no
// GPU is visible; ss_cuda_last_error() then says what went wrong (per calling thread).
// ============================================================================================
extern "C" {

/** Number of visible CUDA devices; 0 (with ss_cuda_last_error() saying why) when none. */
int ss_cuda_device_count(void) { return ss::require_device(); }

/** Message of the last failure on this thread ("" if none). */
const char* ss_cuda_last_error(void) { return ss::g_error; }

/** 1 when this library runs the kernels under CPU emulation (tests only), else 0. */
int ss_cuda_is_emulated(void) {
#ifdef SS_CUDA_EMULATE
  return 1;
#else
  return 0;
#endif
}

/** Name of device 0, or "" when none. */
const char* ss_cuda_device_name(void) {
  static thread_local char name[320];
#ifdef SS_CUDA_EMULATE
  snprintf(name, sizeof name, "CPU emulation of the CUDA kernels");
#else
  cudaDeviceProp prop;
  if (ss::require_device() <= 0 || cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    cudaGetLastError();
    name[0] = 0;
  } else {
    snprintf(name, sizeof name, "%s (sm_%d%d)", prop.name, prop.major, prop.minor);
  }
#endif
  return name;
}

/** Forces the block shape (threads, items per thread); (0, 0) restores the automatic choice.
 *  Returns 0, or 1 when no compiled kernel has that shape. For tests (multi-chunk paths). */
int ss_cuda_set_tile(int threads, int items) {
  if (threads == 0 && items == 0) {
    ss::g_tile_threads = ss::g_tile_items = 0;
    return ss::kOk;
  }
  for (const ss::Tile& t : ss::kTiles) {
    if (t.threads == threads && t.items == items) {
      ss::g_tile_threads = threads;
      ss::g_tile_items = items;
      return ss::kOk;
    }
  }
  ss::set_error("no compiled kernel for tile %d threads x %d items", threads, items);
  return ss::kErrInvalid;
}

/** Bytes of dB/dC scratch the backward may use per batch slice (at least one batch element). */
void ss_cuda_set_scratch_limit(uint64_t bytes) { ss::g_scratch_limit = (size_t)bytes; }

/** Emulation only: thread schedule 0 = in order, 1 = reverse, 2 = pseudo-random from seed.
 *  Returns 0, or 1 on the GPU build (no effect). */
int ss_cuda_emu_set_schedule(int mode, uint32_t seed) {
#ifdef SS_CUDA_EMULATE
  emu::g_schedule = mode;
  emu::g_seed = seed ? seed : 1;
  return ss::kOk;
#else
  (void)mode;
  (void)seed;
  ss::set_error("ss_cuda_emu_set_schedule: not an emulation build");
  return ss::kErrInvalid;
#endif
}

/** Device allocation; null on failure. */
void* ss_cuda_alloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes == 0 ? 4 : bytes);
  if (e != cudaSuccess) {
    ss::check_cuda(e, "ss_cuda_alloc");
    return nullptr;
  }
  return p;
}

int ss_cuda_free(void* p) { return ss::check_cuda(cudaFree(p), "ss_cuda_free"); }

int ss_cuda_memcpy_h2d(void* dst, const void* src, size_t bytes) {
  return ss::check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "ss_cuda_memcpy_h2d");
}

int ss_cuda_memcpy_d2h(void* dst, const void* src, size_t bytes) {
  return ss::check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "ss_cuda_memcpy_d2h");
}

/** Forward on device buffers. D and delta_bias may be null. */
int ss_cuda_fwd_dev(int batch, int dim, int len, int dstate, int groups, int delta_softplus,
                    const float* u, const float* delta, const float* A, const float* B,
                    const float* C, const float* D, const float* delta_bias, float* y) {
  return ss::fwd_dev(batch, dim, len, dstate, groups, delta_softplus, u, delta, A, B, C, D,
                     delta_bias, y);
}

/** Backward on device buffers. D, delta_bias, dD, ddelta_bias may be null; dD / ddelta_bias are
 *  written when non-null (as the gradient at D = 0 / bias = 0 if D / delta_bias is null). */
int ss_cuda_bwd_dev(int batch, int dim, int len, int dstate, int groups, int delta_softplus,
                    const float* u, const float* delta, const float* A, const float* B,
                    const float* C, const float* D, const float* delta_bias, const float* dy,
                    float* du, float* ddelta, float* dA, float* dB, float* dC, float* dD,
                    float* ddelta_bias) {
  return ss::bwd_dev(batch, dim, len, dstate, groups, delta_softplus, u, delta, A, B, C, D,
                     delta_bias, dy, du, ddelta, dA, dB, dC, dD, ddelta_bias);
}

/** Forward on host buffers (copies in, runs, copies y out). */
int ss_cuda_fwd(int batch, int dim, int len, int dstate, int groups, int delta_softplus,
                const float* u, const float* delta, const float* A, const float* B,
                const float* C, const float* D, const float* delta_bias, float* y) {
  using ss::DevBuf;
  const void* req[] = {u, delta, A, B, C, y};
  if (int rc = ss::validate(batch, dim, len, dstate, groups, req, 6)) return rc;
  if (ss::require_device() <= 0) return ss::kErrNoDevice;
  const size_t nu = (size_t)batch * dim * len, na = (size_t)dim * dstate;
  const size_t nbc = (size_t)batch * groups * dstate * len;
  DevBuf u_, delta_, A_, B_, C_, D_, bias_, y_;
  if (int rc = ss::upload(u_, u, nu, "u")) return rc;
  if (int rc = ss::upload(delta_, delta, nu, "delta")) return rc;
  if (int rc = ss::upload(A_, A, na, "A")) return rc;
  if (int rc = ss::upload(B_, B, nbc, "B")) return rc;
  if (int rc = ss::upload(C_, C, nbc, "C")) return rc;
  if (D) {
    if (int rc = ss::upload(D_, D, dim, "D")) return rc;
  }
  if (delta_bias) {
    if (int rc = ss::upload(bias_, delta_bias, dim, "delta_bias")) return rc;
  }
  if (int rc = y_.alloc(nu * sizeof(float), "y")) return rc;
  if (int rc = ss::fwd_dev(batch, dim, len, dstate, groups, delta_softplus, u_.f(), delta_.f(),
                           A_.f(), B_.f(), C_.f(), D_.f(), bias_.f(), y_.f())) {
    return rc;
  }
  return ss::download(y, y_, nu, "y");
}

/** Backward on host buffers. Nullability as ss_cuda_bwd_dev. */
int ss_cuda_bwd(int batch, int dim, int len, int dstate, int groups, int delta_softplus,
                const float* u, const float* delta, const float* A, const float* B,
                const float* C, const float* D, const float* delta_bias, const float* dy,
                float* du, float* ddelta, float* dA, float* dB, float* dC, float* dD,
                float* ddelta_bias) {
  using ss::DevBuf;
  const void* req[] = {u, delta, A, B, C, dy, du, ddelta, dA, dB, dC};
  if (int rc = ss::validate(batch, dim, len, dstate, groups, req, 11)) return rc;
  if (ss::require_device() <= 0) return ss::kErrNoDevice;
  const size_t nu = (size_t)batch * dim * len, na = (size_t)dim * dstate;
  const size_t nbc = (size_t)batch * groups * dstate * len;
  DevBuf u_, delta_, A_, B_, C_, D_, bias_, dy_;
  DevBuf du_, ddelta_, dA_, dB_, dC_, dD_, dbias_;
  if (int rc = ss::upload(u_, u, nu, "u")) return rc;
  if (int rc = ss::upload(delta_, delta, nu, "delta")) return rc;
  if (int rc = ss::upload(A_, A, na, "A")) return rc;
  if (int rc = ss::upload(B_, B, nbc, "B")) return rc;
  if (int rc = ss::upload(C_, C, nbc, "C")) return rc;
  if (D) {
    if (int rc = ss::upload(D_, D, dim, "D")) return rc;
  }
  if (delta_bias) {
    if (int rc = ss::upload(bias_, delta_bias, dim, "delta_bias")) return rc;
  }
  if (int rc = ss::upload(dy_, dy, nu, "dy")) return rc;
  if (int rc = du_.alloc(nu * sizeof(float), "du")) return rc;
  if (int rc = ddelta_.alloc(nu * sizeof(float), "ddelta")) return rc;
  if (int rc = dA_.alloc(na * sizeof(float), "dA")) return rc;
  if (int rc = dB_.alloc(nbc * sizeof(float), "dB")) return rc;
  if (int rc = dC_.alloc(nbc * sizeof(float), "dC")) return rc;
  if (dD) {
    if (int rc = dD_.alloc(dim * sizeof(float), "dD")) return rc;
  }
  if (ddelta_bias) {
    if (int rc = dbias_.alloc(dim * sizeof(float), "ddelta_bias")) return rc;
  }
  if (int rc = ss::bwd_dev(batch, dim, len, dstate, groups, delta_softplus, u_.f(), delta_.f(),
                           A_.f(), B_.f(), C_.f(), D_.f(), bias_.f(), dy_.f(), du_.f(),
                           ddelta_.f(), dA_.f(), dB_.f(), dC_.f(), dD_.f(), dbias_.f())) {
    return rc;
  }
  if (int rc = ss::download(du, du_, nu, "du")) return rc;
  if (int rc = ss::download(ddelta, ddelta_, nu, "ddelta")) return rc;
  if (int rc = ss::download(dA, dA_, na, "dA")) return rc;
  if (int rc = ss::download(dB, dB_, nbc, "dB")) return rc;
  if (int rc = ss::download(dC, dC_, nbc, "dC")) return rc;
  if (dD) {
    if (int rc = ss::download(dD, dD_, dim, "dD")) return rc;
  }
  if (ddelta_bias) {
    if (int rc = ss::download(ddelta_bias, dbias_, dim, "ddelta_bias")) return rc;
  }
  return ss::kOk;
}

}  // extern "C"
