/*
 * Single-precision matrix multiply for the wasm backend's BatchMatMul: C = op(A)·op(B),
 * row-major, OpenMP over row blocks. tfjs-backend-wasm runs XNNPACK on one thread with 128-bit
 * SIMD; this runs on every core with the machine's widest vectors (GCC vector extensions, so it
 * also builds without AVX-512). Each C element is summed over k in one fixed order by one
 * thread: results do not depend on the thread count.
 */
#include <stdlib.h>
#include <string.h>
#include <omp.h>

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4))); /* unaligned loads/stores */

#define MR 4  /* rows per micro-tile */
#define NV 4  /* 16-float vectors per micro-tile row: 64 columns */
#define NR (16 * NV)

static float *tbuf[2];
static size_t tcap[2];

static float *tmp(int slot, size_t n) {
  if (tcap[slot] < n) {
    free(tbuf[slot]);
    if (posix_memalign((void **)&tbuf[slot], 64, n * sizeof(float)) != 0) {
      tbuf[slot] = NULL;
      tcap[slot] = 0;
      return NULL;
    }
    tcap[slot] = n;
  }
  return tbuf[slot];
}

static void transpose(const float *src, int rows, int cols, float *dst) {
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

/* C[i0:i0+MR, j0:j0+NR] = A[i0:i0+MR, :]·B[:, j0:j0+NR], accumulators in registers. */
static inline void tile_full(int K, int N, const float *A, const float *B, float *C, int i0, int j0) {
  v16 acc[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) acc[r][v] = (v16){0};
  for (int k = 0; k < K; k++) {
    const float *b = B + (size_t)k * N + j0;
    v16 bv[NV];
    for (int v = 0; v < NV; v++) bv[v] = *(const v16u *)(b + 16 * v);
    for (int r = 0; r < MR; r++) {
      float a = A[(size_t)(i0 + r) * K + k];
      for (int v = 0; v < NV; v++) acc[r][v] += a * bv[v];
    }
  }
  for (int r = 0; r < MR; r++)
    for (int v = 0; v < NV; v++) *(v16u *)(C + (size_t)(i0 + r) * N + j0 + 16 * v) = acc[r][v];
}

/* Any block (edges): plain loops, same k order. */
static void tile_edge(int K, int N, const float *A, const float *B, float *C, int i0, int i1,
                      int j0, int j1) {
  for (int i = i0; i < i1; i++) {
    float *c = C + (size_t)i * N;
    for (int j = j0; j < j1; j++) c[j] = 0.f;
    for (int k = 0; k < K; k++) {
      const float a = A[(size_t)i * K + k], *b = B + (size_t)k * N;
      for (int j = j0; j < j1; j++) c[j] += a * b[j];
    }
  }
}

/** C (M,N) = op(A)·op(B). A is (M,K), or (K,M) if transA; B is (K,N), or (N,K) if transB. */
int sm_gemm(int M, int N, int K, const float *A, int transA, const float *B, int transB,
            float *C, int nthreads) {
  if (M <= 0 || N <= 0 || K <= 0) return -1;
  if (transA) {
    float *t = tmp(0, (size_t)M * K);
    if (!t) return -2;
    transpose(A, K, M, t);
    A = t;
  }
  if (transB) {
    float *t = tmp(1, (size_t)K * N);
    if (!t) return -2;
    transpose(B, N, K, t);
    B = t;
  }
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  const int mFull = M - M % MR, nFull = N - N % NR;
  const int tilesM = (M + MR - 1) / MR;
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int ti = 0; ti < tilesM; ti++) {
    int i0 = ti * MR;
    if (i0 < mFull) {
      for (int j0 = 0; j0 < nFull; j0 += NR) tile_full(K, N, A, B, C, i0, j0);
      if (nFull < N) tile_edge(K, N, A, B, C, i0, i0 + MR, nFull, N);
    } else {
      tile_edge(K, N, A, B, C, i0, M, 0, N);
    }
  }
  return 0;
}
