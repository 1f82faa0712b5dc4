/*
 * The optimiser's fused Adam(W) step for the wasm backend: one pass over each parameter tensor
 * on every core instead of ~12 tensor ops (lib/train/optim.ts holds the same update in
 * TypeScript and as tensor ops).
 */
#include <math.h>
#include <stdint.h>
#include <omp.h>

/*
 * Adam(W) over many tensors in one call (one optimiser step of a whole network): `ptrs` holds 7
 * pointers per tensor (w, g, m, v, wo, mo, vo), `sizes` the element counts. a1 = 1 − β1 and
 * a2 = 1 − β2 come from the caller in double precision (as PyTorch's scalars): 1.f − 0.999f in
 * float32 is 1.3e-5 off 0.001. One parallel region
 * instead of one per tensor; elements stay independent, so the thread count cannot change the
 * result, and each element's update is the same arithmetic as lib/train/optim.ts's adamStepInto
 * (PyTorch's order: decay uses the old w), in float32.
 */
int sm_adam_multi(int count, const int32_t *sizes, void **ptrs, float lr, float beta1,
                  float beta2, float a1, float a2, float eps, float wd, float c1, float c2,
                  int nthreads) {
  if (count < 0) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  const float decay = lr * wd;
  #pragma omp parallel num_threads(nt)
  for (int t = 0; t < count; t++) {
    const int n = sizes[t];
    const float *w = ptrs[7 * t], *g = ptrs[7 * t + 1], *m = ptrs[7 * t + 2], *v = ptrs[7 * t + 3];
    float *wo = ptrs[7 * t + 4], *mo = ptrs[7 * t + 5], *vo = ptrs[7 * t + 6];
    #pragma omp for schedule(static) nowait
    for (int i = 0; i < n; i++) {
      const float gi = g[i];
      const float mi = beta1 * m[i] + a1 * gi;
      const float vi = beta2 * v[i] + a2 * gi * gi;
      mo[i] = mi;
      vo[i] = vi;
      wo[i] = w[i] - lr * ((mi / c1) / (sqrtf(vi / c2) + eps)) - decay * w[i];
    }
  }
  return 0;
}
