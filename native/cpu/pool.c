/*
 * The CNNs' layers around their convolutions, for the wasm backend: the max-pooling gradient and
 * the leaky ReLU and its gradient.
 *
 * MaxPoolGrad (lib/backends/wasm/kernels/max_pool_native.ts): each output's gradient goes to the
 * first maximum of its window in row-major order, exactly as lib/backends/wasm/kernels/
 * max_pool_grad.ts's TypeScript loop (and tfjs's cpu kernel) route it: a strictly larger value
 * replaces the maximum (NaN never wins; a window of NaNs or −∞ routes nothing), windows in
 * (row, column) order with the channels innermost; when windows overlap, an input's gradients
 * are summed in that order in double precision and rounded once.
 * Images are independent (each writes only its own dx), so they are shared between threads with
 * no effect on the bits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

float *sm_scratch(int slot, size_t n); /* gemm.c */
#define SLOT_POOL 50 /* per thread: one image's double accumulators, the window's best and at */

/** dx (B,H,W,C) = the max-pooling gradient of dy (B,Ho,Wo,C) given x; 0 where nothing routes. */
int sm_max_pool_grad(int B, int H, int W, int C, int Ho, int Wo, int fh, int fw, int sh, int sw,
                     int pad_top, int pad_left, const float *x, const float *dy, float *dx,
                     int nthreads) {
  if (B <= 0 || H <= 0 || W <= 0 || C <= 0 || Ho <= 0 || Wo <= 0 || fh <= 0 || fw <= 0 ||
      sh <= 0 || sw <= 0)
    return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  const int overlap = sh < fh || sw < fw;
  const size_t img = (size_t)H * W * C;
  int failed = 0;
  #pragma omp parallel for num_threads(nt) schedule(dynamic) reduction(| : failed)
  for (int b = 0; b < B; b++) {
    /* floats: 2·img for the doubles (if overlapping), C for best, C for at (as int). */
    float *ws = sm_scratch(SLOT_POOL, (overlap ? 2 * img : 0) + 2 * (size_t)C);
    if (!ws) {
      failed = 1;
      continue;
    }
    double *acc = (double *)ws; /* 64-byte aligned */
    float *best = ws + (overlap ? 2 * img : 0);
    int *at = (int *)(best + C);
    const float *xb = x + b * img;
    float *dxb = dx + b * img;
    if (overlap) memset(acc, 0, img * sizeof(double));
    else memset(dxb, 0, img * sizeof(float));
    for (int oy = 0; oy < Ho; oy++) {
      const int r0 = oy * sh - pad_top;
      const int rlo = r0 > 0 ? r0 : 0, rhi = r0 + fh < H ? r0 + fh : H;
      for (int ox = 0; ox < Wo; ox++) {
        const int c0 = ox * sw - pad_left;
        const int clo = c0 > 0 ? c0 : 0, chi = c0 + fw < W ? c0 + fw : W;
        for (int d = 0; d < C; d++) {
          best[d] = -INFINITY;
          at[d] = -1;
        }
        for (int r = rlo; r < rhi; r++) {
          for (int c = clo; c < chi; c++) {
            const int base = (r * W + c) * C;
            for (int d = 0; d < C; d++) {
              const float v = xb[base + d];
              if (v > best[d]) {
                best[d] = v;
                at[d] = base + d;
              }
            }
          }
        }
        const float *g = dy + (((size_t)b * Ho + oy) * Wo + ox) * C;
        if (overlap) {
          for (int d = 0; d < C; d++)
            if (at[d] >= 0) acc[at[d]] += (double)g[d];
        } else {
          for (int d = 0; d < C; d++)
            if (at[d] >= 0) dxb[at[d]] += g[d];
        }
      }
    }
    if (overlap)
      for (size_t i = 0; i < img; i++) dxb[i] = (float)acc[i];
  }
  return failed ? -2 : 0;
}

/*
 * Leaky ReLU forward, y = x < 0 ? α·x : x in float32 (tfjs-backend-wasm's LeakyRelu computes the
 * same, on one thread): the ConvNet applies it after each of its 10 layers. Elementwise, so the
 * split between threads changes no bits.
 */
int sm_leaky_relu(int n, float alpha, const float *x, float *y, int nthreads) {
  if (n < 0) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int i = 0; i < n; i++) y[i] = x[i] < 0.f ? alpha * x[i] : x[i];
  return 0;
}

/*
 * Its gradient as tfjs-core defines it, dx = x > 0 ? dy : α·dy (where(greater(x, 0), dy,
 * mul(dy, α)): x = 0 and NaN take the α side), in one pass instead of the stock gradient's three
 * single-threaded kernels (Greater, Multiply, Select), 19% of a ConvNet training step.
 */
int sm_leaky_relu_grad(int n, float alpha, const float *x, const float *dy, float *dx,
                       int nthreads) {
  if (n < 0) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int i = 0; i < n; i++) dx[i] = x[i] > 0.f ? dy[i] : alpha * dy[i];
  return 0;
}
