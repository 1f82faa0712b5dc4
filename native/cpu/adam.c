/*
 * The optimiser's fused Adam(W) step for the wasm backend: one pass over each parameter tensor
 * on every core instead of ~12 tensor ops (lib/train/optim.ts holds the same update in
 * TypeScript and as tensor ops).
 */
#include <math.h>
#include <omp.h>

/*
 * One Adam(W) update of n parameters into fresh arrays (PyTorch's order: decay uses the old w).
 * Each element is independent, so the thread count cannot change the result.
 */
int sm_adam(int n, const float *w, const float *g, const float *m, const float *v, float lr,
            float beta1, float beta2, float eps, float wd, float c1, float c2, float *wo,
            float *mo, float *vo, int nthreads) {
  if (n < 0) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  const float a1 = 1.f - beta1, a2 = 1.f - beta2, decay = lr * wd;
  #pragma omp parallel for num_threads(nt) schedule(static) if (n > 65536)
  for (int i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = beta1 * m[i] + a1 * gi;
    const float vi = beta2 * v[i] + a2 * gi * gi;
    mo[i] = mi;
    vo[i] = vi;
    wo[i] = w[i] - lr * ((mi / c1) / (sqrtf(vi / c2) + eps)) - decay * w[i];
  }
  return 0;
}
