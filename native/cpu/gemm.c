/*
 * Single-precision matrix multiply for the wasm backend's BatchMatMul and the native
 * convolutions: C = op(A)·op(B), row-major, on every core with the machine's widest vectors
 * (GCC vector extensions, so it also builds without AVX-512). tfjs-backend-wasm runs XNNPACK on
 * one thread with 128-bit SIMD.
 *
 * Layout (the usual packed-panel scheme): B is packed into panels of NR columns, zero-padded, and
 * A into tiles of MR rows interleaved by k, so the micro-kernel reads both contiguously and keeps
 * an MR×NR block of C in registers. K is cut into blocks of KC so a tile's A and B stay in
 * cache. Each C element is summed over k in one fixed order (k-blocks in sequence) by one thread:
 * results do not depend on the thread count.
 *
 * When A has enough tiles, each thread packs one tile's k-block at a time into a small buffer
 * that stays in L1 and runs it against every panel of B, so A is read once and never copied
 * whole. A is read through a packing callback: the convolutions (conv.c) pack their im2col
 * rows straight from the image instead of materialising the im2col matrix (for a 3×3
 * convolution 9× the image, written and read twice more by a whole-matrix pack).
 */
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "transpose16.h"

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4))); /* unaligned loads/stores */

#define MR 8  /* rows per micro-tile */
#define NV 3  /* 16-float vectors per micro-tile row */
#define NR (16 * NV) /* 48 columns: the channel counts of MedMamba are multiples of 48 */
#define KC 256

/* Scratch slots: 0, 1 the gemm's packed A and B; 2 its B k-block (k-block-outer order); 3–18 the
 * fused SS2D core's workspace (ss2d_core.c); 19–47 the fused block's (block.c); 48–49 the strided
 * convolution's input gradient (conv.c); 50 the max-pooling gradient's (pool.c). */
#define SCRATCH_SLOTS 51
static __thread float *tbuf[SCRATCH_SLOTS]; /* per OS thread: Workers may share the library */
static __thread size_t tcap[SCRATCH_SLOTS];

/* A 64-byte aligned buffer of at least n floats in `slot`, kept between calls; NULL if out of
 * memory. */
float *sm_scratch(int slot, size_t n) {
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

/* dst[k][0..NR) = op(B)[k0 + k][j0 + j] for k < kc, zero for j ≥ w: one panel's k-block. */
static void pack_b_block(const float *B, int transB, int K, int N, int j0, int w, int k0, int kc,
                         float *dst) {
  if (!transB) {
    for (int k = 0; k < kc; k++) {
      float *d = dst + (size_t)k * NR;
      memcpy(d, B + (size_t)(k0 + k) * N + j0, (size_t)w * sizeof(float));
      for (int j = w; j < NR; j++) d[j] = 0.f;
    }
    return;
  }
  /* B is (N, K): the panel is a transpose of w rows of B. Gathered one float at a time across
   * the rows (a stride of K), the gemm ran at a third of its untransposed speed (the dense
   * layers' input gradients, dY·Wᵀ); 8 × 8 blocks move through registers instead. */
  int kv = 0, w8 = 0; /* the part moved as 8 × 8 blocks: k < kv, j < w8 */
#if defined(__AVX2__)
  kv = kc / 8 * 8;
  w8 = w / 8 * 8;
  for (int k = 0; k < kv; k += 8) {
    for (int j = 0; j < w8; j += 8) {
      __m256 t[8];
      for (int r = 0; r < 8; r++) t[r] = _mm256_loadu_ps(B + (size_t)(j0 + j + r) * K + k0 + k);
      transpose8(t);
      for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (size_t)(k + q) * NR + j, t[q]);
    }
  }
#endif
  for (int k = 0; k < kc; k++) {
    float *d = dst + (size_t)k * NR;
    for (int j = k < kv ? w8 : 0; j < w; j++) d[j] = B[(size_t)(j0 + j) * K + k0 + k];
    for (int j = w; j < NR; j++) d[j] = 0.f;
  }
}

/* Bp[panel][k][0..NR) = op(B)[k][panel*NR + j], zero beyond N. */
static void pack_b(const float *B, int transB, int K, int N, float *Bp) {
  const int panels = (N + NR - 1) / NR;
  #pragma omp for schedule(static)
  for (int p = 0; p < panels; p++) {
    const int j0 = p * NR, w = N - j0 < NR ? N - j0 : NR;
    pack_b_block(B, transB, K, N, j0, w, 0, K, Bp + (size_t)p * K * NR);
  }
}

/* Packs rows [i0, i0 + h) (h ≤ MR) and columns [k0, k0 + kc) of op(A) into dst[k][0..MR),
 * zero for rows h..MR. */
typedef void (*PackA)(const void *ctx, int i0, int h, int k0, int kc, float *dst);

/* op(A) of a plain row-major matrix. */
typedef struct {
  const float *A;
  int transA, M, K;
} MatA;

static void pack_mat(const void *ctx, int i0, int h, int k0, int kc, float *dst) {
  const MatA *a = ctx;
  if (!a->transA) {
    for (int r = 0; r < h; r++) {
      const float *src = a->A + (size_t)(i0 + r) * a->K + k0;
      for (int k = 0; k < kc; k++) dst[(size_t)k * MR + r] = src[k];
    }
  } else {
    for (int k = 0; k < kc; k++)
      memcpy(dst + (size_t)k * MR, a->A + (size_t)(k0 + k) * a->M + i0, h * sizeof(float));
  }
  if (h < MR)
    for (int k = 0; k < kc; k++)
      for (int r = h; r < MR; r++) dst[(size_t)k * MR + r] = 0.f;
}

#if defined(__AVX512F__) || !defined(__AVX2__)
/*
 * acc = (first ? 0 : C tile) + Σ_{k<kc} a[k]·b[k] over one k-block; writes the valid h×w part of
 * the tile to C (row stride N).
 */
static inline void micro(int kc, const float *a, const float *b, float *C, int N, int h, int w,
                         int first) {
  v16 acc[MR][NV];
  if (first || h < MR || w < NR) {
    for (int r = 0; r < MR; r++)
      for (int v = 0; v < NV; v++) acc[r][v] = (v16){0};
    if (!first) {
      float t[NR];
      for (int r = 0; r < h; r++) {
        memset(t, 0, sizeof t);
        memcpy(t, C + (size_t)r * N, (size_t)w * sizeof(float));
        for (int v = 0; v < NV; v++) acc[r][v] = *(const v16u *)(t + 16 * v);
      }
    }
  } else {
    for (int r = 0; r < MR; r++)
      for (int v = 0; v < NV; v++) acc[r][v] = *(const v16u *)(C + (size_t)r * N + 16 * v);
  }
  for (int k = 0; k < kc; k++) {
    v16 bv[NV];
    for (int v = 0; v < NV; v++) bv[v] = *(const v16 *)(b + (size_t)k * NR + 16 * v);
    const float *ak = a + (size_t)k * MR;
    for (int r = 0; r < MR; r++) {
      const float s = ak[r];
      for (int v = 0; v < NV; v++) acc[r][v] += s * bv[v];
    }
  }
  if (h == MR && w == NR) {
    for (int r = 0; r < MR; r++)
      for (int v = 0; v < NV; v++) *(v16u *)(C + (size_t)r * N + 16 * v) = acc[r][v];
  } else {
    float t[NR];
    for (int r = 0; r < h; r++) {
      for (int v = 0; v < NV; v++) *(v16u *)(t + 16 * v) = acc[r][v];
      memcpy(C + (size_t)r * N, t, (size_t)w * sizeof(float));
    }
  }
}
#else
/*
 * AVX2 without AVX-512 (e.g. Zen 3): the 8 × 48 tile above needs 48 256-bit accumulators, four
 * times the register file, and spilled ran at ~1 GFLOP/s. Here the same tile is computed as
 * sub-tiles of QR = 4 rows × up to 3 vectors of 8 columns (12 accumulators, 3 B vectors and a
 * broadcast: 16 registers), skipping column vectors wholly beyond w and row halves beyond h.
 * A last single vector of columns (N = 32, 56, …) runs as one 8 × 8 sub-tile instead: 4 × 8 had
 * only 4 independent chains of fused multiply-adds, fewer than the FMA units' latency × width
 * (4 cycles × 2), and ran at half speed. Each C element is still one chain of fused multiply-adds
 * over k in order, started from 0 or from C, exactly as above: the same bits as the 16-wide
 * kernel compiled for this machine.
 */
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
#define QR 4

static inline __attribute__((always_inline)) void micro_q(int kc, const float *a, const float *b,
                                                         float *C, int N, int h, int w, int first,
                                                         const int nv, const int qr) {
  v8 acc[MR][3];
  const int full = h == qr && w == 8 * nv;
  for (int r = 0; r < qr; r++)
    for (int v = 0; v < nv; v++) acc[r][v] = (v8){0};
  if (!first) {
    if (full) {
      for (int r = 0; r < qr; r++)
        for (int v = 0; v < nv; v++) acc[r][v] = *(const v8u *)(C + (size_t)r * N + 8 * v);
    } else {
      float t[24];
      for (int r = 0; r < h; r++) {
        memset(t, 0, sizeof t);
        memcpy(t, C + (size_t)r * N, (size_t)w * sizeof(float));
        for (int v = 0; v < nv; v++) acc[r][v] = *(const v8u *)(t + 8 * v);
      }
    }
  }
  for (int k = 0; k < kc; k++) {
    v8 bv[3];
    for (int v = 0; v < nv; v++) bv[v] = *(const v8 *)(b + (size_t)k * NR + 8 * v);
    const float *ak = a + (size_t)k * MR;
    for (int r = 0; r < qr; r++) {
      const float s = ak[r];
      for (int v = 0; v < nv; v++) acc[r][v] += s * bv[v];
    }
  }
  if (full) {
    for (int r = 0; r < qr; r++)
      for (int v = 0; v < nv; v++) *(v8u *)(C + (size_t)r * N + 8 * v) = acc[r][v];
  } else {
    float t[24];
    for (int r = 0; r < h; r++) {
      for (int v = 0; v < nv; v++) *(v8u *)(t + 8 * v) = acc[r][v];
      memcpy(C + (size_t)r * N, t, (size_t)w * sizeof(float));
    }
  }
}

/* The MR × NR tile as sub-tiles (see micro_q); same contract as the AVX-512 micro. */
static inline void micro(int kc, const float *a, const float *b, float *C, int N, int h, int w,
                         int first) {
  if (h == MR && w % 24 > 0 && w % 24 <= 8) { /* the last vector as one 8 × 8 sub-tile */
    const int j8 = w - w % 24;
    micro_q(kc, a, b + j8, C + j8, N, MR, w - j8, first, 1, MR);
    w = j8;
  }
  for (int r0 = 0; r0 < h; r0 += QR) {
    const int hq = h - r0 < QR ? h - r0 : QR;
    for (int j0 = 0; j0 < w; j0 += 24) {
      const int wq = w - j0 < 24 ? w - j0 : 24, nv = (wq + 7) / 8;
      float *c = C + (size_t)r0 * N + j0;
      const float *aq = a + r0, *bq = b + j0;
      if (nv == 3) micro_q(kc, aq, bq, c, N, hq, wq, first, 3, QR);
      else if (nv == 2) micro_q(kc, aq, bq, c, N, hq, wq, first, 2, QR);
      else micro_q(kc, aq, bq, c, N, hq, wq, first, 1, QR);
    }
  }
}
#endif

/* dst[k − k0][0..NR) = op(B)[k][p*NR + j] for k in [k0, k0 + kc), zero beyond N: one k-block of
 * panel p (for the k-block-outer orders below). */
static void pack_b_panel(const float *B, int transB, int K, int N, int k0, int kc, int p,
                         float *dst) {
  const int j0 = p * NR, w = N - j0 < NR ? N - j0 : NR;
  pack_b_block(B, transB, K, N, j0, w, k0, kc, dst);
}

/*
 * The loop orders below differ only in which (tile, panel, k-block) runs when and on which
 * thread; every C element is still summed over k in order, one k-block after the other (a
 * k-block starts from the C the previous one stored, exactly), so all of them give the same bits.
 *
 * Tile-outer (M large, op(B) small: the convolutions' forward, most of the block's gemms): B is
 * packed whole once and stays in cache while each tile of A sweeps it; C is written once.
 * k-block-outer (K large against M·N: filter gradients, dW = Xᵀ·dY, the dense layers at a small
 * batch): the whole packed B is too big to stay in cache and each tile of A would stream it from
 * memory again, so B is packed a k-block at a time (into L2) and swept by a run of tiles before
 * the next k-block; C (small) is revisited per k-block instead. Each thread packs the B blocks it
 * uses itself, so there is no barrier between k-blocks: on a shared machine a thread waiting for
 * a core would otherwise hold the other at every one (hundreds per filter gradient).
 *
 * Work is handed out dynamically: one thread computes a whole tile (or run of tiles, or panel)
 * through every k-block, so which thread it is changes no bits, and a thread that runs while the
 * other waits for a core takes more of the work.
 */
static int k_block_outer(int M, int N, int K) {
  const size_t npad = (size_t)(N + NR - 1) / NR * NR;
  return (size_t)K * npad > (size_t)2 * M * N && (size_t)K * npad * sizeof(float) > (256u << 10);
}

/* Tiles [t0, t1) of C through every k-block, each k-block of B packed into bp first. */
static void tiles_k_outer(int M, int N, int K, PackA pack, const void *ctx, const float *B,
                          int transB, float *C, int t0, int t1, float *ap, float *bp) {
  const int panels = (N + NR - 1) / NR;
  for (int k0 = 0; k0 < K; k0 += KC) {
    const int kc = K - k0 < KC ? K - k0 : KC;
    for (int p = 0; p < panels; p++) pack_b_panel(B, transB, K, N, k0, kc, p, bp + (size_t)p * kc * NR);
    for (int t = t0; t < t1; t++) {
      const int i0 = t * MR, h = M - i0 < MR ? M - i0 : MR;
      pack(ctx, i0, h, k0, kc, ap);
      for (int p = 0; p < panels; p++) {
        const int j0 = p * NR, w = N - j0 < NR ? N - j0 : NR;
        micro(kc, ap, bp + (size_t)p * kc * NR, C + (size_t)i0 * N + j0, N, h, w, k0 == 0);
      }
    }
  }
}

/** C (M, N) = A·op(B) with A read through `pack` (see PackA); B is (K,N), or (N,K) if transB. */
int sm_gemm_packed(int M, int N, int K, PackA pack, const void *ctx, const float *B, int transB,
                   float *C, int nthreads) {
  if (M <= 0 || N <= 0 || K <= 0) return -1;
  const int tilesM = (M + MR - 1) / MR, panels = (N + NR - 1) / NR;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  const int kouter = k_block_outer(M, N, K);
  float *Bp = kouter ? NULL : sm_scratch(1, (size_t)panels * NR * K);
  if (!kouter && !Bp) return -2;
  int failed = 0;
  if (tilesM >= 4 * nt) {
    /* Tile by tile: each thread packs MR × KC of A into its own buffer and sweeps all panels. */
    #pragma omp parallel num_threads(nt) reduction(| : failed)
    {
      float *ap = sm_scratch(0, (size_t)MR * KC);
      if (!ap) failed = 1;
      if (!kouter) {
        pack_b(B, transB, K, N, Bp); /* implicit barrier */
        #pragma omp for schedule(dynamic)
        for (int t = 0; t < tilesM; t++) {
          if (!ap) continue;
          const int i0 = t * MR, h = M - i0 < MR ? M - i0 : MR;
          for (int k0 = 0; k0 < K; k0 += KC) {
            const int kc = K - k0 < KC ? K - k0 : KC;
            pack(ctx, i0, h, k0, kc, ap);
            for (int p = 0; p < panels; p++) {
              const int j0 = p * NR, w = N - j0 < NR ? N - j0 : NR;
              micro(kc, ap, Bp + (size_t)p * K * NR + (size_t)k0 * NR, C + (size_t)i0 * N + j0,
                    N, h, w, k0 == 0);
            }
          }
        }
      } else {
        /* Runs of tiles, two per thread: B is packed once per run (twice per thread). */
        float *bp = sm_scratch(2, (size_t)panels * NR * KC);
        if (!bp) failed = 1;
        const int runs = tilesM >= 8 * nt ? 2 * nt : nt;
        #pragma omp for schedule(dynamic)
        for (int r = 0; r < runs; r++) {
          if (!ap || !bp) continue;
          const int t0 = (int)((long long)tilesM * r / runs);
          const int t1 = (int)((long long)tilesM * (r + 1) / runs);
          tiles_k_outer(M, N, K, pack, ctx, B, transB, C, t0, t1, ap, bp);
        }
      }
    }
    return failed ? -2 : 0;
  }
  /* Few tiles (small M): pack all of A, then share (panel, tile) units, or panels, between
   * threads. */
  float *Ap = sm_scratch(0, (size_t)tilesM * MR * K);
  if (!Ap) return -2;
  const int units = tilesM * panels;
  #pragma omp parallel num_threads(nt) reduction(| : failed)
  {
    #pragma omp for schedule(static)
    for (int t = 0; t < tilesM; t++) {
      const int i0 = t * MR, h = M - i0 < MR ? M - i0 : MR;
      pack(ctx, i0, h, 0, K, Ap + (size_t)t * K * MR);
    }
    /* implicit barrier after each omp for */
    if (!kouter) {
      pack_b(B, transB, K, N, Bp);
      for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC;
        /* Panel-major order: consecutive units share a B block (kept in L2). */
        #pragma omp for schedule(dynamic)
        for (int u = 0; u < units; u++) {
          const int p = u / tilesM, t = u % tilesM;
          const int i0 = t * MR, j0 = p * NR;
          const int h = M - i0 < MR ? M - i0 : MR, w = N - j0 < NR ? N - j0 : NR;
          micro(kc, Ap + (size_t)t * K * MR + (size_t)k0 * MR,
                Bp + (size_t)p * K * NR + (size_t)k0 * NR, C + (size_t)i0 * N + j0, N, h, w,
                k0 == 0);
        }
      }
    } else {
      /* Panel by panel through every k-block, each thread packing its panel's B blocks. */
      float *bp = sm_scratch(2, (size_t)NR * KC);
      if (!bp) failed = 1;
      #pragma omp for schedule(dynamic)
      for (int p = 0; p < panels; p++) {
        if (!bp) continue;
        const int j0 = p * NR, w = N - j0 < NR ? N - j0 : NR;
        for (int k0 = 0; k0 < K; k0 += KC) {
          const int kc = K - k0 < KC ? K - k0 : KC;
          pack_b_panel(B, transB, K, N, k0, kc, p, bp);
          for (int t = 0; t < tilesM; t++) {
            const int i0 = t * MR, h = M - i0 < MR ? M - i0 : MR;
            micro(kc, Ap + (size_t)t * K * MR + (size_t)k0 * MR, bp, C + (size_t)i0 * N + j0, N,
                  h, w, k0 == 0);
          }
        }
      }
    }
  }
  return failed ? -2 : 0;
}

/** C (M,N) = op(A)·op(B). A is (M,K), or (K,M) if transA; B is (K,N), or (N,K) if transB. */
int sm_gemm(int M, int N, int K, const float *A, int transA, const float *B, int transB,
            float *C, int nthreads) {
  const MatA a = {A, transA, M, K};
  return sm_gemm_packed(M, N, K, pack_mat, &a, B, transB, C, nthreads);
}
