// The cuda backend's runtime: device description, a caching allocator for device buffers,
// copies between host and device, fills. Part of native/cuda/starmamba_cuda.cu.
//
// Caching allocator. A tfjs step allocates and frees thousands of tensors; cudaMalloc and
// cudaFree synchronise the device and take tens of microseconds each, so freed buffers are kept
// in per-size free lists and handed out again (as PyTorch's CUDACachingAllocator does, without
// its block splitting). Sizes are rounded up to a class — 512-byte steps up to 4 KiB, then four
// steps per power of two — so a buffer is reused by any request of its class and at most 25% of
// a large buffer is slack. Everything runs on the default stream, so a buffer freed while a
// kernel that reads it is still queued is only handed to work queued after that kernel. When
// cudaMalloc fails the cache is emptied and the allocation retried once. Under emulation every
// buffer handed out is filled with NaN bytes (also when reused), so a kernel that reads an
// output it never wrote fails the tests.
#pragma once

#include <unordered_map>
#include <vector>

namespace smc {

using ss::check_cuda;
using ss::kErrCuda;
using ss::kErrInvalid;
using ss::kErrNoDevice;
using ss::kOk;
using ss::set_error;

// Bytes of the size class of a request of `bytes` (at least 512).
inline size_t size_class(size_t bytes) {
  if (bytes <= 4096) return bytes <= 512 ? 512 : (bytes + 511) / 512 * 512;
  size_t p = 4096;
  while (p * 2 < bytes) p *= 2;  // p < bytes <= 2p: classes p·(1.25, 1.5, 1.75, 2)
  const size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

struct Allocator {
  std::unordered_map<size_t, std::vector<void*>> free_lists;  // class bytes → cached buffers
  std::unordered_map<void*, size_t> live;                      // buffer → class bytes
  uint64_t in_use = 0, peak = 0, reserved = 0, device_mallocs = 0;

  // A buffer of at least `bytes`; null (with the error set) when the device has no room.
  void* alloc(size_t bytes) {
    const size_t cls = size_class(bytes);
    void* p = nullptr;
    auto it = free_lists.find(cls);
    if (it != free_lists.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
    } else {
      cudaError_t e = cudaMalloc(&p, cls);
      if (e != cudaSuccess) {
        cudaGetLastError();
        empty_cache();
        e = cudaMalloc(&p, cls);
      }
      if (e != cudaSuccess) {
        set_error("out of device memory: cudaMalloc of %zu bytes failed (%s) with %llu bytes in "
                  "use by tensors and the cache emptied",
                  cls, cudaGetErrorString(e), (unsigned long long)in_use);
        cudaGetLastError();
        return nullptr;
      }
      reserved += cls;
      ++device_mallocs;
    }
#ifdef SS_CUDA_EMULATE
    memset(p, 0xFF, cls);
#endif
    live[p] = cls;
    in_use += cls;
    if (in_use > peak) peak = in_use;
    return p;
  }

  // Returns `p` to its free list. 1 when `p` was not handed out by alloc.
  int release(void* p) {
    auto it = live.find(p);
    if (it == live.end()) {
      set_error("free of a pointer the allocator does not own (double free?)");
      return kErrInvalid;
    }
    in_use -= it->second;
    free_lists[it->second].push_back(p);
    live.erase(it);
    return kOk;
  }

  // Gives every cached (free) buffer back to the device.
  int empty_cache() {
    int rc = kOk;
    for (auto& kv : free_lists) {
      for (void* p : kv.second) {
        if (int r = check_cuda(cudaFree(p), "cudaFree")) rc = r;
        reserved -= kv.first;
      }
      kv.second.clear();
    }
    return rc;
  }
};

inline Allocator& allocator() {
  static Allocator a;
  return a;
}

// Threads per block of the flat (one thread per element) kernels, and their grid for n items;
// large tensors are covered by grid-stride loops.
constexpr int kFlatThreads = 256;
inline dim3 flat_grid(size_t n) {
  size_t blocks = (n + kFlatThreads - 1) / kFlatThreads;
  if (blocks > 65535) blocks = 65535;
  return dim3((unsigned)(blocks == 0 ? 1 : blocks));
}

__global__ void fill_kernel(float* y, size_t n, float v) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    y[i] = v;
  }
}

__global__ void fill_i32_kernel(int32_t* y, size_t n, int32_t v) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    y[i] = v;
  }
}

// Returns kOk, or the error of the last launch (a launch failure, or one reported by a kernel
// that ran earlier: CUDA errors are sticky to the next call that checks).
inline int launched(cudaError_t e, const char* what) { return check_cuda(e, what); }

}  // namespace smc

extern "C" {

/** Allocates a device buffer of at least `bytes` from the cache; null on failure (see
 *  ss_cuda_last_error). */
void* smc_alloc(size_t bytes) { return smc::allocator().alloc(bytes); }

/** Returns a buffer from smc_alloc to the cache. */
int smc_free(void* p) { return p ? smc::allocator().release(p) : smc::kOk; }

/** Gives all cached free buffers back to the device. */
int smc_empty_cache(void) { return smc::allocator().empty_cache(); }

/** Memory counters: out[0] bytes held by live buffers, out[1] their peak, out[2] bytes reserved
 *  from the device (live + cached), out[3] number of cudaMalloc calls. */
void smc_memory_stats(uint64_t* out) {
  const smc::Allocator& a = smc::allocator();
  out[0] = a.in_use;
  out[1] = a.peak;
  out[2] = a.reserved;
  out[3] = a.device_mallocs;
}

/** Resets the peak counter to the bytes in use now. */
void smc_reset_peak(void) { smc::allocator().peak = smc::allocator().in_use; }

/** Host → device copy of `bytes`. */
int smc_upload(void* dst, const void* src, size_t bytes) {
  if (!bytes) return smc::kOk;
  return smc::check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "upload");
}

/** Device → host copy of `bytes` (waits for the kernels that write `src`). */
int smc_download(void* dst, const void* src, size_t bytes) {
  if (!bytes) return smc::kOk;
  return smc::check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "download");
}

/** Device → device copy of `bytes`. */
int smc_copy(void* dst, const void* src, size_t bytes) {
  if (!bytes) return smc::kOk;
  return smc::check_cuda(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "copy");
}

/** Waits for all queued work; returns the first error a kernel raised. */
int smc_sync(void) { return smc::check_cuda(cudaDeviceSynchronize(), "device synchronise"); }

/** y[0..n) = v (float32). */
int smc_fill_f32(float* y, size_t n, float v) {
  return smc::launched(sm::launch_flat(smc::fill_kernel, smc::flat_grid(n),
                                       dim3(smc::kFlatThreads), y, n, v),
                       "fill");
}

/** y[0..n) = v (int32). */
int smc_fill_i32(int32_t* y, size_t n, int32_t v) {
  return smc::launched(sm::launch_flat(smc::fill_i32_kernel, smc::flat_grid(n),
                                       dim3(smc::kFlatThreads), y, n, v),
                       "fill");
}

/** Versions as a JSON object: device name and compute capability, driver and runtime versions,
 *  total device memory, whether emulated. "" when no device is visible. */
const char* smc_device_json(void) {
  static thread_local char buf[640];
#ifdef SS_CUDA_EMULATE
  snprintf(buf, sizeof buf,
           "{\"name\":\"CPU emulation of the CUDA kernels\",\"emulated\":true,"
           "\"compute_capability\":null,\"driver\":null,\"runtime\":null,\"memory_bytes\":null}");
#else
  cudaDeviceProp prop;
  int driver = 0, runtime = 0;
  if (ss::require_device() <= 0 || cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    cudaGetLastError();
    return "";
  }
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  char name[256];
  size_t j = 0;
  for (size_t i = 0; prop.name[i] && j + 2 < sizeof name; ++i) {
    if (prop.name[i] == '"' || prop.name[i] == '\\') name[j++] = '\\';
    name[j++] = prop.name[i];
  }
  name[j] = 0;
  snprintf(buf, sizeof buf,
           "{\"name\":\"%s\",\"emulated\":false,\"compute_capability\":\"%d.%d\","
           "\"driver\":\"%d.%d\",\"runtime\":\"%d.%d\",\"memory_bytes\":%zu}",
           name, prop.major, prop.minor, driver / 1000, (driver % 1000) / 10, runtime / 1000,
           (runtime % 1000) / 10, prop.totalGlobalMem);
#endif
  return buf;
}

}  // extern "C"
