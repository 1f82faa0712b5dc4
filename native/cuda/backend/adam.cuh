// The optimiser's Adam(W) step on the device (the StarmambaAdamStep op of lib/train/optim.ts),
// the same float32 arithmetic as the native C kernel of the wasm backend (native/cpu/adam.c):
//   m ← β1·m + a1·g,  v ← β2·v + a2·g²,  w ← w − lr·(m/c1)/(√(v/c2) + eps) − lr·wd·w
// with a1 = 1 − β1 and a2 = 1 − β2 passed in (computed in double by the caller). One thread per
// element; no reductions. Part of native/cuda/starmamba_cuda.cu.
#pragma once

namespace smc {

struct AdamScalars {
  float lr, beta1, beta2, a1, a2, eps, wd, c1, c2;
};

__global__ void adam_kernel(AdamScalars s, const float* w, const float* g, const float* m,
                            const float* v, float* wo, float* mo, float* vo, size_t n) {
  const float decay = s.lr * s.wd;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    const float gi = g[i];
    const float mi = s.beta1 * m[i] + s.a1 * gi;
    const float vi = s.beta2 * v[i] + s.a2 * gi * gi;
    mo[i] = mi;
    vo[i] = vi;
    wo[i] = w[i] - s.lr * ((mi / s.c1) / (sqrtf(vi / s.c2) + s.eps)) - decay * w[i];
  }
}

}  // namespace smc

extern "C" {

/** One Adam(W) step of n elements; `scalars` = lr, β1, β2, 1−β1, 1−β2, eps, wd, c1, c2. */
int smc_adam(const float* scalars, const float* w, const float* g, const float* m,
             const float* v, float* wo, float* mo, float* vo, size_t n) {
  smc::AdamScalars s;
  memcpy(&s, scalars, sizeof s);
  if (n == 0) return smc::kOk;
  return smc::launched(sm::launch_flat(smc::adam_kernel, smc::flat_grid(n),
                                       dim3(smc::kFlatThreads), s, w, g, m, v, wo, mo, vo, n),
                       "adam");
}

}  // extern "C"
