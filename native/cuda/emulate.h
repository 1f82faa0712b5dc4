// CUDA for the GPU, or a CPU emulation of the small part of CUDA the kernels in this folder use
// (-DSS_CUDA_EMULATE), shared by every .cu file of the library (native/cuda/starmamba_cuda.cu).
//
// The emulation runs one fiber per CUDA thread. Warp shuffles wait for their warp only,
// __syncthreads for the block; between barriers each warp runs alone as far as it can, in
// thread, reversed or shuffled order (so a missing barrier changes the result); divergent
// barriers are reported; shared and device memory start as NaN. Kernels that never synchronise
// (elementwise, gathers, one thread per output) can be launched "flat" (sm::launch_flat): each
// thread runs to its end as a plain call, in the same orders, and a barrier in such a kernel is
// reported as an error. It exists only to test the kernel logic on machines without a GPU: no
// real concurrency, memory model or nvcc code generation is exercised.
#pragma once

#ifdef SS_CUDA_EMULATE
// The emulator switches fibers with _setjmp/_longjmp between stacks, which glibc's fortified
// longjmp (__longjmp_chk) would reject.
#undef _FORTIFY_SOURCE
#endif
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef SS_CUDA_EMULATE
// ============================================================================================
// CPU emulation of the small part of CUDA this file uses.
// ============================================================================================
#include <setjmp.h>
#include <ucontext.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define SS_UNROLL

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

typedef int cudaError_t;
enum : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
};

namespace emu {

enum FiberState { kRunnable, kAtBarrier, kAtWarpBarrier, kFinished };
// Barrier sites of the emulated warp shuffles (source lines of __syncthreads are positive).
enum { kSiteShflUp = -1, kSiteShflDown = -2, kSiteShflXor = -3 };

struct Fiber {
  ucontext_t ctx;  // used once, to enter the fiber on its own stack
  jmp_buf env;     // where the fiber resumes after a barrier
  bool started;
  FiberState state;
  int site;               // barrier the fiber waits at
  unsigned shared_calls;  // how many shared arrays this fiber has declared
  unsigned shfl_calls;    // how many shuffles this fiber has done
  dim3 tid;
};

struct Launch {
  dim3 grid, block, bidx;
  int nthreads = 0;
  int cur = 0;
  std::vector<Fiber> fibers;
  std::vector<std::unique_ptr<char[]>> stacks;
  ucontext_t sched;     // uc_link of the fibers (never reached: fibers longjmp out)
  jmp_buf sched_env;    // where the scheduler resumes when a fiber yields or ends
  const std::function<void()>* body = nullptr;
  std::vector<std::vector<unsigned char>> shared;
  std::vector<uint32_t> shfl[2];
  std::string error;
  bool flat = false;  // launched by launch_flat: threads run as plain calls, no barriers
};

constexpr size_t kStackBytes = 256 * 1024;
static thread_local Launch* g_launch = nullptr;
static thread_local std::string g_last_launch_error;
static int g_schedule = 0;  // warp and lane order: 0 ascending, 1 descending, 2 shuffled
static uint32_t g_seed = 1;

inline const dim3& thread_idx() { return g_launch->fibers[g_launch->cur].tid; }
inline const dim3& block_idx() { return g_launch->bidx; }
inline const dim3& block_dim() { return g_launch->block; }
inline const dim3& grid_dim() { return g_launch->grid; }

// Fiber switches use _setjmp/_longjmp (no signal-mask syscalls, unlike swapcontext); ucontext
// only creates each fiber's first frame on its own stack.

// Abandons the current fiber and returns to the scheduler with an error.
[[noreturn]] inline void fail(const std::string& msg) {
  Launch* L = g_launch;
  if (L->error.empty()) L->error = msg;
  L->fibers[L->cur].state = kFinished;
  _longjmp(L->sched_env, 1);
}

// Blocks the current fiber at a __syncthreads (warp = false) or a warp shuffle (warp = true).
inline void barrier(int site, bool warp = false) {
  Launch* L = g_launch;
  if (L->flat) fail("emulator: a kernel launched flat (sm::launch_flat) reached a barrier or shuffle");
  Fiber& f = L->fibers[L->cur];
  f.state = warp ? kAtWarpBarrier : kAtBarrier;
  f.site = site;
  if (_setjmp(f.env) == 0) _longjmp(L->sched_env, 1);
}

// Shared memory: the k-th array a fiber declares is the k-th arena slot of the block, filled
// with 0xFF bytes (a NaN for floats) so that reading unwritten shared memory shows up in tests.
template <typename T>
inline T* shared_array(size_t count) {
  Launch* L = g_launch;
  Fiber& f = L->fibers[L->cur];
  const size_t bytes = count * sizeof(T);
  const unsigned k = f.shared_calls++;
  if (k == L->shared.size()) {
    L->shared.emplace_back(bytes, (unsigned char)0xFF);
  } else if (k > L->shared.size() || L->shared[k].size() != bytes) {
    fail("emulator: threads of a block declared different shared arrays");
  }
  return reinterpret_cast<T*>(L->shared[k].data());
}

// A warp shuffle: every lane publishes its value, waits until all 32 lanes of its warp have,
// then reads its source lane. Two alternating buffers make one wait per shuffle enough: buffer
// k % 2 is next written by shuffle k + 2, after every lane has passed shuffle k + 1 and so
// finished reading shuffle k.
inline float shuffle(float v, int site, int lane_arg) {
  Launch* L = g_launch;
  const int tid = L->cur;
  Fiber& f = L->fibers[tid];
  std::vector<uint32_t>& buf = L->shfl[f.shfl_calls++ & 1u];
  uint32_t bits;
  memcpy(&bits, &v, 4);
  buf[tid] = bits;
  barrier(site, true);
  const int lane = tid & 31;
  int src;
  if (site == kSiteShflUp) {
    src = lane - lane_arg;
  } else if (site == kSiteShflDown) {
    src = lane + lane_arg;
  } else {
    src = lane ^ lane_arg;
  }
  if (src < 0 || src >= 32) return v;  // CUDA: out-of-range lanes keep their own value
  float out;
  memcpy(&out, &buf[(tid - lane) + src], 4);
  return out;
}

inline void fiber_main() {
  Launch* L = g_launch;
  (*L->body)();
  L->fibers[L->cur].state = kFinished;
  _longjmp(L->sched_env, 1);
}

// Runs fiber f until it reaches a barrier or ends. Kept apart from the scheduler loop so that
// no local variable lives across the _setjmp.
__attribute__((noinline)) static void resume(Launch* L, Fiber* f) {
  if (_setjmp(L->sched_env) == 0) {
    if (!f->started) {
      f->started = true;
      setcontext(&f->ctx);
    }
    _longjmp(f->env, 1);
  }
}

inline std::vector<int> schedule_order(int n, uint32_t& state) {
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = g_schedule == 1 ? n - 1 - i : i;
  if (g_schedule == 2) {
    for (int i = n - 1; i > 0; --i) {
      state = state * 1664525u + 1013904223u;
      const int j = (int)((state >> 8) % (uint32_t)(i + 1));
      const int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  }
  return order;
}

// Why a block cannot go on: the waiting threads disagree, or some exited while others wait.
inline std::string stuck_message(const Launch& L) {
  std::string msg = "emulator: barrier deadlock or divergence:";
  int shown = 0;
  for (int i = 0; i < L.nthreads && shown < 6; ++i) {
    const Fiber& f = L.fibers[i];
    if (i > 0 && f.state == L.fibers[i - 1].state && f.site == L.fibers[i - 1].site) continue;
    msg += " thread " + std::to_string(i);
    if (f.state == kFinished) {
      msg += " exited;";
    } else if (f.state == kAtWarpBarrier) {
      msg += " at warp shuffle " + std::to_string(f.site) + ";";
    } else {
      msg += " at __syncthreads line " + std::to_string(f.site) + ";";
    }
    ++shown;
  }
  return msg;
}

// Runs warp w's lanes until none can move: each lane runs to its next barrier; a shuffle
// completes when all 32 lanes wait at it. Returns false on an error.
inline bool run_warp(Launch& L, int w, uint32_t& rng_state) {
  Fiber* lanes = &L.fibers[w * 32];
  for (;;) {
    for (int l : schedule_order(32, rng_state)) {
      if (lanes[l].state != kRunnable) continue;
      L.cur = w * 32 + l;
      resume(&L, &lanes[l]);
      if (!L.error.empty()) return false;
    }
    bool all = true;
    for (int l = 0; l < 32 && all; ++l) {
      all = lanes[l].state == kAtWarpBarrier && lanes[l].site == lanes[0].site;
    }
    if (!all) return true;
    for (int l = 0; l < 32; ++l) lanes[l].state = kRunnable;
  }
}

// Runs one block to completion; returns false (with L.error set) on a barrier mismatch.
// Between two __syncthreads each warp runs alone as far as it can (through its shuffles), in
// the schedule's warp order: warps drift apart as far as a GPU allows, so a missing barrier
// between warps shows up as a wrong result in reversed or shuffled order.
inline bool run_block(Launch& L, uint32_t& rng_state) {
  const int n = L.nthreads;
  L.shared.clear();
  for (int i = 0; i < 2; ++i) L.shfl[i].assign(n, 0xFFFFFFFFu);
  for (int i = 0; i < n; ++i) {
    Fiber& f = L.fibers[i];
    f.state = kRunnable;
    f.started = false;
    f.site = 0;
    f.shared_calls = 0;
    f.shfl_calls = 0;
    f.tid = dim3((unsigned)(i % (int)L.block.x), (unsigned)((i / (int)L.block.x) % (int)L.block.y),
                 (unsigned)(i / ((int)L.block.x * (int)L.block.y)));
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = L.stacks[i].get();
    f.ctx.uc_stack.ss_size = kStackBytes;
    f.ctx.uc_link = &L.sched;
    makecontext(&f.ctx, fiber_main, 0);
  }
  for (;;) {
    for (int w : schedule_order(n / 32, rng_state)) {
      if (!run_warp(L, w, rng_state)) return false;
    }
    // No thread can move: all done, all at the same __syncthreads, or stuck.
    int finished = 0, at_sync = 0;
    for (int i = 0; i < n; ++i) {
      const Fiber& f = L.fibers[i];
      finished += f.state == kFinished;
      at_sync += f.state == kAtBarrier && f.site == L.fibers[0].site;
    }
    if (finished == n) return true;
    if (at_sync != n) {
      L.error = stuck_message(L);
      return false;
    }
    for (int i = 0; i < n; ++i) L.fibers[i].state = kRunnable;
  }
}

inline cudaError_t launch(dim3 grid, dim3 block, const std::function<void()>& body) {
  Launch L;
  L.grid = grid;
  L.block = block;
  L.nthreads = (int)(block.x * block.y * block.z);
  if (L.nthreads <= 0 || L.nthreads > 1024 || L.nthreads % 32 != 0) {
    g_last_launch_error = "emulator: block size must be a multiple of 32 and at most 1024";
    return cudaErrorLaunchFailure;
  }
  L.fibers.resize(L.nthreads);
  for (int i = 0; i < L.nthreads; ++i) L.stacks.emplace_back(new char[kStackBytes]);
  L.body = &body;
  Launch* saved = g_launch;
  g_launch = &L;
  uint32_t rng_state = g_seed;
  bool ok = true;
  for (unsigned z = 0; ok && z < grid.z; ++z) {
    for (unsigned y = 0; ok && y < grid.y; ++y) {
      for (unsigned x = 0; ok && x < grid.x; ++x) {
        L.bidx = dim3(x, y, z);
        ok = run_block(L, rng_state);
      }
    }
  }
  g_launch = saved;
  if (!ok) {
    g_last_launch_error = L.error;
    return cudaErrorLaunchFailure;
  }
  return cudaSuccess;
}

// One thread of a flat launch. fail() (a barrier reached, bad shared arrays) jumps back here
// with L->error set; kept apart so no local of the caller lives across the _setjmp.
__attribute__((noinline)) static void run_flat_thread(Launch* L) {
  if (_setjmp(L->sched_env) == 0) (*L->body)();
}

// Runs a kernel that never synchronises: each thread of each block is one plain call, in the
// schedule's order (ascending, descending or shuffled thread ids within a block), so a kernel
// whose threads depend on each other's writes without a barrier shows it. Any block size from 1
// to 1024 is accepted. Far cheaper than launch (no fibers, no stacks).
inline cudaError_t launch_flat(dim3 grid, dim3 block, const std::function<void()>& body) {
  Launch L;
  L.grid = grid;
  L.block = block;
  L.flat = true;
  L.nthreads = (int)(block.x * block.y * block.z);
  if (L.nthreads <= 0 || L.nthreads > 1024) {
    g_last_launch_error = "emulator: block size must be between 1 and 1024";
    return cudaErrorLaunchFailure;
  }
  L.fibers.resize(L.nthreads);
  L.body = &body;
  Launch* saved = g_launch;
  g_launch = &L;
  uint32_t rng_state = g_seed;
  for (unsigned z = 0; L.error.empty() && z < grid.z; ++z) {
    for (unsigned y = 0; L.error.empty() && y < grid.y; ++y) {
      for (unsigned x = 0; L.error.empty() && x < grid.x; ++x) {
        L.bidx = dim3(x, y, z);
        L.shared.clear();
        for (int i : schedule_order(L.nthreads, rng_state)) {
          Fiber& f = L.fibers[i];
          f.tid = dim3((unsigned)(i % (int)block.x), (unsigned)((i / (int)block.x) % (int)block.y),
                       (unsigned)(i / ((int)block.x * (int)block.y)));
          f.shared_calls = 0;
          L.cur = i;
          run_flat_thread(&L);
          if (!L.error.empty()) break;
        }
      }
    }
  }
  g_launch = saved;
  if (!L.error.empty()) {
    g_last_launch_error = L.error;
    return cudaErrorLaunchFailure;
  }
  return cudaSuccess;
}

}  // namespace emu

#define threadIdx (::emu::thread_idx())
#define blockIdx (::emu::block_idx())
#define blockDim (::emu::block_dim())
#define gridDim (::emu::grid_dim())
#define __syncthreads() ::emu::barrier(__LINE__)
#define SS_SHARED(T, name, count) T* name = ::emu::shared_array<T>(count)

inline float __shfl_up_sync(unsigned, float v, int delta) {
  return emu::shuffle(v, emu::kSiteShflUp, delta);
}
inline float __shfl_down_sync(unsigned, float v, int delta) {
  return emu::shuffle(v, emu::kSiteShflDown, delta);
}
inline float __shfl_xor_sync(unsigned, float v, int mask) {
  return emu::shuffle(v, emu::kSiteShflXor, mask);
}

// Emulated runtime: device memory is host memory, poisoned with NaN bytes on allocation so
// that an output the kernels forget to write fails the tests.
static cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
static cudaError_t cudaMalloc(void** p, size_t bytes) {
  const size_t rounded = (bytes + 255) / 256 * 256;
  *p = aligned_alloc(256, rounded == 0 ? 256 : rounded);
  if (!*p) return cudaErrorMemoryAllocation;
  memset(*p, 0xFF, rounded == 0 ? 256 : rounded);
  return cudaSuccess;
}
static cudaError_t cudaFree(void* p) {
  free(p);
  return cudaSuccess;
}
static cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind) {
  if (bytes) memcpy(dst, src, bytes);
  return cudaSuccess;
}
static cudaError_t cudaGetLastError() { return cudaSuccess; }
static cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
static const char* cudaGetErrorString(cudaError_t e) {
  if (e == cudaErrorLaunchFailure && !emu::g_last_launch_error.empty()) {
    return emu::g_last_launch_error.c_str();
  }
  return e == cudaSuccess ? "no error" : "emulated CUDA error";
}
static const char* cudaGetErrorName(cudaError_t e) {
  return e == cudaSuccess ? "cudaSuccess" : "cudaErrorEmulated";
}

#else  // real CUDA
// ============================================================================================
#include <cuda_runtime.h>
#define SS_UNROLL _Pragma("unroll")
#define SS_SHARED(T, name, count) __shared__ T name[count]
#endif

namespace sm {

// Launches `kernel` on grid × block with `args` (on the GPU: the <<<>>> syntax, default stream).
template <typename... KArgs, typename... Args>
static cudaError_t launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, Args... args) {
#ifdef SS_CUDA_EMULATE
  return emu::launch(grid, block, [=]() { kernel(args...); });
#else
  kernel<<<grid, block>>>(args...);
  return cudaGetLastError();
#endif
}

// As launch, for kernels without __syncthreads or shuffles (cheap to emulate: see launch_flat).
template <typename... KArgs, typename... Args>
static cudaError_t launch_flat(void (*kernel)(KArgs...), dim3 grid, dim3 block, Args... args) {
#ifdef SS_CUDA_EMULATE
  return emu::launch_flat(grid, block, [=]() { kernel(args...); });
#else
  kernel<<<grid, block>>>(args...);
  return cudaGetLastError();
#endif
}

}  // namespace sm
