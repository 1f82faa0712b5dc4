/*
 * The moving average of the weights (lib/train/ema.ts) for every tensor in one call:
 * s = d·s + (1 − d)·w, computed in double and rounded to float32 exactly as the TypeScript loop
 * does (fp-contract off: no fused multiply-add, which would round differently), so an average is
 * bitwise the same with or without the native library. `ptrs` holds (shadow, weights) per tensor.
 */
#include <stdint.h>
#include <omp.h>

__attribute__((optimize("fp-contract=off"))) int sm_ema_multi(int count, const int32_t *sizes,
                                                               void **ptrs, double d,
                                                               int nthreads) {
  if (count < 0) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  const double e = 1.0 - d;
  #pragma omp parallel num_threads(nt)
  for (int t = 0; t < count; t++) {
    float *s = ptrs[2 * t];
    const float *w = ptrs[2 * t + 1];
    #pragma omp for schedule(static) nowait
    for (int i = 0; i < sizes[t]; i++) s[i] = (float)(d * (double)s[i] + e * (double)w[i]);
  }
  return 0;
}
