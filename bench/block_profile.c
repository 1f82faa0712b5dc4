/*
 * Where the fused SS-Conv-SSM block's time goes (native/cpu/block.c built with -DBLOCK_PROFILE):
 * every block of a preset at batch 32 on 3×64×64 input, forward in order then backward in
 * reverse (each block on its own arrays, as in training), timed per section. Built and run by
 * bench/block_profile.ts; prints per-step figures (the minimum over repetitions of the chain).
 *
 *   block_profile DIM DEPTH1,DEPTH2,DEPTH3,DEPTH4 THREADS REPS
 */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sm_block_fwd(const int32_t *dims, void **p, float ln_eps, float bn_eps, int nthreads);
int sm_block_bwd(const int32_t *dims, void **p, float ln_eps, float bn_eps, int nthreads);
extern double block_prof[64];
extern const char *block_prof_name[64];

static unsigned rng = 12345;
static float *arr(size_t n, float scale, float shift) {
  float *a = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
  for (size_t i = 0; i < n; i++) {
    rng = rng * 1664525u + 1013904223u;
    a[i] = shift + scale * ((float)(rng >> 8) / 16777216.0f - 0.5f);
  }
  return a;
}

#define MAXB 64
#define SLOTS 70

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: block_profile DIM D1,D2,D3,D4 THREADS REPS\n");
    return 2;
  }
  const int dim = atoi(argv[1]), nt = atoi(argv[3]), reps = atoi(argv[4]), B = 32;
  int depths[4];
  if (sscanf(argv[2], "%d,%d,%d,%d", &depths[0], &depths[1], &depths[2], &depths[3]) != 4) return 2;
  static void *fw[MAXB][SLOTS], *bw[MAXB][SLOTS];
  static int32_t dims[MAXB][8];
  int nb = 0;
  for (int st = 0; st < 4; st++)
    for (int j = 0; j < depths[st] && nb < MAXB; j++, nb++) {
      /* MedMamba at 64×64 with patch 4: 16×16 tokens at stage 1, halved per stage. */
      const int H = 16 >> st, C = dim << st, h = C / 2, di = C, K = 4, N = 16, R = (h + 15) / 16;
      const size_t P = (size_t)B * H * H;
      const int32_t d[8] = {B, H, H, C, K, N, R, 1 | 2 | 8}; /* training, pre-BN, DropPath */
      memcpy(dims[nb], d, sizeof d);
      void **p = fw[nb], **q = bw[nb];
      /* inputs in block.c's P_* order */
      const size_t in[33] = {P * C, B, h, h, (size_t)h * 2 * di, 9 * (size_t)di, di,
                             (size_t)K * (R + 2 * N) * di, (size_t)K * di * R, (size_t)K * di,
                             (size_t)K * di * N, (size_t)K * di, di, di, (size_t)di * h,
                             h, h, h, h, 9 * (size_t)h * h, h, h, h, h, h, 9 * (size_t)h * h, h,
                             h, h, h, h, (size_t)h * h, h};
      for (int i = 0; i < 33; i++) {
        const int ones = i == 1 || i == 2 || i == 11 || i == 12 || i == 15 || i == 18 ||
                         i == 21 || i == 24 || i == 27 || i == 30; /* mask, γ, D, running var */
        p[i] = arr(in[i], ones ? 0.2f : 0.4f, ones ? 1.0f : 0.0f);
      }
      memcpy(q, p, sizeof(void *) * 33);
      const size_t out[13] = {P * C, P * h, P * h, P * h, P * 2 * di, P * di, P * di,
                              h, h, h, h, h, h};
      for (int i = 0; i < 13; i++) p[33 + i] = arr(out[i], 0, 0);
      q[33] = arr(P * C, 1, 0); /* dy */
      for (int i = 0; i < 6; i++) q[34 + i] = p[34 + i]; /* saved activations */
      /* gradients (G_*): x and every trainable input, i.e. all but the mask and running stats */
      static const int grad_of[26] = {0,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13,
                                      14, 15, 16, 19, 20, 21, 22, 25, 26, 27, 28, 31, 32};
      for (int i = 0; i < 26; i++) q[40 + i] = arr(in[grad_of[i]], 0, 0);
    }
  double bestF = 1e30, bestB = 1e30, bestProf[64] = {0};
  for (int r = 0; r < reps; r++) {
    memset(block_prof, 0, sizeof block_prof);
    const double t0 = omp_get_wtime();
    for (int i = 0; i < nb; i++)
      if (sm_block_fwd(dims[i], fw[i], 1e-5f, 1e-5f, nt)) return 1;
    const double t1 = omp_get_wtime();
    for (int i = nb - 1; i >= 0; i--)
      if (sm_block_bwd(dims[i], bw[i], 1e-5f, 1e-5f, nt)) return 1;
    const double t2 = omp_get_wtime();
    if ((t1 - t0) + (t2 - t1) < bestF + bestB) {
      bestF = t1 - t0;
      bestB = t2 - t1;
      memcpy(bestProf, block_prof, sizeof bestProf);
    }
  }
  printf("blocks %d, batch %d, %d threads: forward %.1f ms, backward %.1f ms (fastest of %d)\n",
         nb, B, nt, bestF * 1e3, bestB * 1e3, reps);
  for (int i = 0; i < 64; i++)
    if (block_prof_name[i])
      printf("%-30s %7.1f ms %5.1f%%\n", block_prof_name[i], bestProf[i] * 1e3,
             100 * bestProf[i] / (bestF + bestB));
  return 0;
}
