/*
 * The core of SS2D fused into one native op, forward and backward:
 *
 *   cross-scan (B,H,W,d_inner) → K sequences, per-direction x_proj (d_inner → dt_rank + 2N),
 *   dt_proj (dt_rank → d_inner), selective scan (ss_fwd / ss_bwd from selective_scan.c,
 *   compiled into the same library), cross-merge back to (B,H,W,d_inner).
 *
 * Done op by op in tfjs this costs ~200 transposes, slices and batched matmuls per step. Here
 * x_proj is one gemm over every grid position for all K directions at once (a direction only
 * reorders positions), and so are its two gradients; cross-scan and cross-merge move 16×16
 * tiles through registers. Workspaces are kept between calls (fresh pages are slow to touch on
 * some VMs). All reductions run in a fixed order: results do not depend on the thread count.
 *
 * Layouts (row-major): xc, y, dy, dxc (B, H, W, di); Wx (K, R + 2N, di); Wdt (K, di, R);
 * bias, D (K·di); A (K·di, N). Direction codes: bit 0 = column-major, bit 1 = reversed.
 */
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "transpose16.h"

int sm_gemm(int M, int N, int K, const float *A, int transA, const float *B, int transB,
            float *C, int nthreads); /* gemm.c */

int ss_fwd(int batch, int dim, int len, int dstate, int groups, const float *u,
           const float *delta, const float *A, const float *B, const float *C, const float *D,
           const float *delta_bias, int delta_softplus, int nthreads, float *y);
int ss_bwd(int batch, int dim, int len, int dstate, int groups, const float *u,
           const float *delta, const float *A, const float *B, const float *C, const float *D,
           const float *delta_bias, int delta_softplus, const float *dy, int nthreads, float *du,
           float *ddelta, float *dA, float *dB, float *dC, float *dD, float *ddelta_bias);

/* Workspace: 16 slots of gemm.c's per-thread scratch, after the gemm's and the convolutions'.
 * Per calling OS thread: Deno Workers may share the library; OpenMP threads inside one call only
 * use the pointers their caller took. */
float *sm_scratch(int slot, size_t n); /* gemm.c */
#define SS2D_SLOT0 3
static float *ws(int slot, size_t n) { return sm_scratch(SS2D_SLOT0 + slot, n); }

static int dir_code(int K, int k) {
  if (K == 4) return k;       /* row, column, row reversed, column reversed */
  if (K == 2) return k ? 2 : 0; /* row, row reversed */
  return 0;
}

/* Row-major grid position visited at step l of direction `code`. */
static inline int dir_pos(int code, int l, int H, int W) {
  int s = (code & 2) ? H * W - 1 - l : l;
  if (code & 1) return (s % H) * W + s / H;
  return s;
}

static int threads_of(int n) { return n > 0 ? n : omp_get_max_threads(); }

/* Dot product with 16 partial sums combined in a fixed order: vectorises without -ffast-math
 * and gives the same bits on every run. */
static inline float dot(const float *restrict a, const float *restrict b, int n) {
  float p[16] = {0};
  int l = 0;
  for (; l + 16 <= n; l += 16)
    for (int j = 0; j < 16; j++) p[j] += a[l + j] * b[l + j];
  float acc = 0.f;
  for (; l < n; l++) acc += a[l] * b[l];
  for (int j = 0; j < 16; j++) acc += p[j];
  return acc;
}

/* y += a·x */
static inline void axpy(float a, const float *restrict x, float *restrict y, int n) {
  for (int l = 0; l < n; l++) y[l] += a * x[l];
}

typedef struct {
  int B, H, W, di, K, N, R, L, C2;
} Dims;

/* Cross-scan x (B,H,W,di) into xs (B,K,di,L): xs[b,k,d,l] = x[b, pos_k(l), d]. With AVX-512 and
 * L, di multiples of 16 it moves 16×16 tiles through registers (16 rows of x in, 16 rows of xs
 * out; with AVX2, 8×8 tiles and multiples of 8) instead of writing one float per row of xs at a
 * time. */
static void cross_scan(const Dims *s, const float *x, float *xs, int nt) {
  const int L = s->L, di = s->di;
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int bk = 0; bk < s->B * s->K; bk++) {
    int b = bk / s->K, k = bk % s->K, code = dir_code(s->K, k);
    float *o = xs + (size_t)bk * di * L;
    const float *xb = x + (size_t)b * L * di;
#ifdef __AVX512F__
    if (L % 16 == 0 && di % 16 == 0) {
      for (int l0 = 0; l0 < L; l0 += 16)
        for (int d0 = 0; d0 < di; d0 += 16) {
          __m512 r[16];
          for (int j = 0; j < 16; j++)
            r[j] = _mm512_loadu_ps(xb + (size_t)dir_pos(code, l0 + j, s->H, s->W) * di + d0);
          transpose16(r);
          for (int j = 0; j < 16; j++) _mm512_storeu_ps(o + (size_t)(d0 + j) * L + l0, r[j]);
        }
      continue;
    }
#elif defined(__AVX2__)
    if (L % 8 == 0 && di % 8 == 0) {
      for (int l0 = 0; l0 < L; l0 += 8)
        for (int d0 = 0; d0 < di; d0 += 8) {
          __m256 r[8];
          for (int j = 0; j < 8; j++)
            r[j] = _mm256_loadu_ps(xb + (size_t)dir_pos(code, l0 + j, s->H, s->W) * di + d0);
          transpose8(r);
          for (int j = 0; j < 8; j++) _mm256_storeu_ps(o + (size_t)(d0 + j) * L + l0, r[j]);
        }
      continue;
    }
#endif
    for (int l = 0; l < L; l++) {
      const float *src = xb + (size_t)dir_pos(code, l, s->H, s->W) * di;
      for (int d = 0; d < di; d++) o[(size_t)d * L + l] = src[d];
    }
  }
}

/* Cross-merge ys (B,K,di,L) into y (B,H,W,di), summing directions in order k = 0..K-1. */
static void cross_merge(const Dims *s, const float *ys, float *y, int nt) {
  const int L = s->L, di = s->di;
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int b = 0; b < s->B; b++) {
    float *yb = y + (size_t)b * L * di;
    memset(yb, 0, sizeof(float) * L * di);
    for (int k = 0; k < s->K; k++) {
      int code = dir_code(s->K, k);
      const float *src = ys + (size_t)(b * s->K + k) * di * L;
#ifdef __AVX512F__
      if (L % 16 == 0 && di % 16 == 0) {
        for (int l0 = 0; l0 < L; l0 += 16)
          for (int d0 = 0; d0 < di; d0 += 16) {
            __m512 r[16];
            for (int j = 0; j < 16; j++) r[j] = _mm512_loadu_ps(src + (size_t)(d0 + j) * L + l0);
            transpose16(r);
            for (int j = 0; j < 16; j++) {
              float *dst = yb + (size_t)dir_pos(code, l0 + j, s->H, s->W) * di + d0;
              _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst), r[j]));
            }
          }
        continue;
      }
#elif defined(__AVX2__)
      if (L % 8 == 0 && di % 8 == 0) {
        for (int l0 = 0; l0 < L; l0 += 8)
          for (int d0 = 0; d0 < di; d0 += 8) {
            __m256 r[8];
            for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(src + (size_t)(d0 + j) * L + l0);
            transpose8(r);
            for (int j = 0; j < 8; j++) {
              float *dst = yb + (size_t)dir_pos(code, l0 + j, s->H, s->W) * di + d0;
              _mm256_storeu_ps(dst, _mm256_add_ps(_mm256_loadu_ps(dst), r[j]));
            }
          }
        continue;
      }
#endif
      for (int l = 0; l < L; l++) {
        float *dst = yb + (size_t)dir_pos(code, l, s->H, s->W) * di;
        for (int d = 0; d < di; d++) dst[d] += src[(size_t)d * L + l];
      }
    }
  }
}

/* From this sequence length on, loops vectorise over L; below it, over d_inner. */
#define LONG_L 64

/* Row c of x_dbl for (b,k): dt rows first, then B, then C (as VMamba's split). */
static float *xdbl_row(const Dims *s, int bk, int c, float *dtl, float *Bs, float *Cs) {
  if (c < s->R) return dtl + ((size_t)bk * s->R + c) * s->L;
  if (c < s->R + s->N) return Bs + ((size_t)bk * s->N + (c - s->R)) * s->L;
  return Cs + ((size_t)bk * s->N + (c - s->R - s->N)) * s->L;
}

/* Z (B·L, K·C2) = xc (B·L, di) · Wxᵀ: every direction's x_proj at every grid position in one
 * gemm (directions only reorder positions). */
static int x_proj(const Dims *s, const float *xc, const float *Wx, float *Z, int nt) {
  return sm_gemm(s->B * s->L, s->K * s->C2, s->di, xc, 0, Wx, 1, Z, nt);
}

/* Rows of x_dbl (dtl, Bs, Cs: (b, k, c, l) in scan order) from Z, or (scatter) back into Z. */
static void gather_xdbl(const Dims *s, float *Z, float *dtl, float *Bs, float *Cs, int toZ,
                        int nt) {
  const int L = s->L, KC2 = s->K * s->C2;
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int bk = 0; bk < s->B * s->K; bk++) {
    int b = bk / s->K, k = bk % s->K, code = dir_code(s->K, k);
    for (int l = 0; l < L; l++) {
      float *row = Z + ((size_t)b * L + dir_pos(code, l, s->H, s->W)) * KC2 + (size_t)k * s->C2;
      for (int c = 0; c < s->C2; c++) {
        float *x = xdbl_row(s, bk, c, dtl, Bs, Cs) + l;
        if (toZ) row[c] = *x;
        else *x = row[c];
      }
    }
  }
}

/* u = cross-scan(xc); (dtl, Bs, Cs) = x_proj(xc) in scan order; delta = Wdt·dtl. */
static int prepare(const Dims *s, const float *xc, const float *Wx, const float *Wdt,
                   const float *WdtT, float *u, float *dtl, float *Bs, float *Cs, float *delta,
                   float *tmpT, float *Z, int nt) {
  cross_scan(s, xc, u, nt);
  int rc = x_proj(s, xc, Wx, Z, nt);
  if (rc) return rc;
  gather_xdbl(s, Z, dtl, Bs, Cs, 0, nt);
  const int L = s->L, di = s->di;
  if (L >= LONG_L) {
    /* Long sequences: vectorise over L (each output row is a sum of scaled input rows). */
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int bk = 0; bk < s->B * s->K; bk++) {
      int k = bk % s->K;
      const float *dt = dtl + (size_t)bk * s->R * L;
      for (int d = 0; d < di; d++) {
        float *row = delta + ((size_t)bk * di + d) * L;
        const float *w = Wdt + ((size_t)k * di + d) * s->R;
        memset(row, 0, sizeof(float) * L);
        for (int r = 0; r < s->R; r++) axpy(w[r], dt + (size_t)r * L, row, L);
      }
    }
    return 0;
  }
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int bk = 0; bk < s->B * s->K; bk++) {
    int k = bk % s->K;
    /* delta[d,l] = Σ_r Wdt[d,r]·dtl[r,l], built as rows over d (WdtT is (K, R, di)) and
     * transposed into the scan's (d, l) layout. */
    const float *dt = dtl + (size_t)bk * s->R * L, *wt = WdtT + (size_t)k * s->R * di;
    float *tmp = tmpT + (size_t)bk * L * di, *dk = delta + (size_t)bk * di * L;
    memset(tmp, 0, sizeof(float) * L * di);
    for (int l = 0; l < L; l++)
      for (int r = 0; r < s->R; r++) axpy(dt[(size_t)r * L + l], wt + (size_t)r * di, tmp + (size_t)l * di, di);
    for (int l = 0; l < L; l++)
      for (int d = 0; d < di; d++) dk[(size_t)d * L + l] = tmp[(size_t)l * di + d];
  }
  return 0;
}

/* Wdt (K, di, R) → WdtT (K, R, di). */
static void transpose_wdt(const Dims *s, const float *Wdt, float *WdtT) {
  for (int k = 0; k < s->K; k++)
    for (int d = 0; d < s->di; d++)
      for (int r = 0; r < s->R; r++)
        WdtT[((size_t)k * s->R + r) * s->di + d] = Wdt[((size_t)k * s->di + d) * s->R + r];
}

static int dims_init(Dims *s, int B, int H, int W, int di, int K, int N, int R) {
  if (B <= 0 || H <= 0 || W <= 0 || di <= 0 || N <= 0 || R <= 0) return -1;
  if (K != 1 && K != 2 && K != 4) return -1;
  *s = (Dims){B, H, W, di, K, N, R, H * W, R + 2 * N};
  return 0;
}

/** Forward: y (B,H,W,di) = cross-merge(scan(projections(cross-scan(xc)))). */
int ss2d_fwd(int B, int H, int W, int di, int K, int N, int R, const float *xc, const float *Wx,
             const float *Wdt, const float *bias, const float *A, const float *D, int nthreads,
             float *y) {
  Dims s;
  if (dims_init(&s, B, H, W, di, K, N, R)) return -1;
  int nt = threads_of(nthreads);
  size_t nu = (size_t)B * K * di * s.L, nbc = (size_t)B * K * N * s.L;
  float *u = ws(0, nu), *delta = ws(1, nu), *Bs = ws(2, nbc), *Cs = ws(3, nbc);
  float *dtl = ws(4, (size_t)B * K * R * s.L), *ys = ws(5, nu);
  float *WdtT = ws(15, (size_t)K * R * di), *tmpT = ws(11, nu);
  float *Z = ws(14, (size_t)B * s.L * K * s.C2);
  if (!u || !delta || !Bs || !Cs || !dtl || !ys || !WdtT || !tmpT || !Z) return -2;
  transpose_wdt(&s, Wdt, WdtT);
  int rc = prepare(&s, xc, Wx, Wdt, WdtT, u, dtl, Bs, Cs, delta, tmpT, Z, nt);
  if (rc) return rc;
  rc = ss_fwd(B, K * di, s.L, N, K, u, delta, A, Bs, Cs, D, bias, 1, nt, ys);
  if (rc) return rc;
  cross_merge(&s, ys, y, nt);
  return 0;
}

/** Backward: gradients of Σ y·dy for xc, Wx, Wdt, bias, A, D (all overwritten). */
int ss2d_bwd(int B, int H, int W, int di, int K, int N, int R, const float *xc, const float *Wx,
             const float *Wdt, const float *bias, const float *A, const float *D,
             const float *dy, int nthreads, float *dxc, float *dWx, float *dWdt, float *dbias,
             float *dA, float *dD) {
  Dims s;
  if (dims_init(&s, B, H, W, di, K, N, R)) return -1;
  int nt = threads_of(nthreads);
  const int L = s.L, C2 = s.C2, BK = B * K;
  size_t nu = (size_t)BK * di * L, nbc = (size_t)BK * N * L;
  float *u = ws(0, nu), *delta = ws(1, nu), *Bs = ws(2, nbc), *Cs = ws(3, nbc);
  float *dtl = ws(4, (size_t)BK * R * L), *dys = ws(5, nu), *du = ws(6, nu), *ddelta = ws(7, nu);
  float *dBs = ws(8, nbc), *dCs = ws(9, nbc), *ddtl = ws(10, (size_t)BK * R * L);
  float *pWdt = ws(12, (size_t)BK * R * di);
  float *WdtT = ws(15, (size_t)K * R * di), *tmpT = ws(11, nu);
  float *Z = ws(14, (size_t)B * L * K * C2), *dxp = ws(13, (size_t)B * L * di);
  if (!u || !delta || !Bs || !Cs || !dtl || !dys || !du || !ddelta || !dBs || !dCs || !ddtl ||
      !pWdt || !WdtT || !tmpT || !Z || !dxp)
    return -2;
  transpose_wdt(&s, Wdt, WdtT);
  int rc = prepare(&s, xc, Wx, Wdt, WdtT, u, dtl, Bs, Cs, delta, tmpT, Z, nt);
  if (rc) return rc;
  cross_scan(&s, dy, dys, nt); /* the adjoint of cross-merge */
  rc = ss_bwd(B, K * di, L, N, K, u, delta, A, Bs, Cs, D, bias, 1, dys, nt, du, ddelta, dA, dBs,
              dCs, dD, dbias);
  if (rc) return rc;

  /* delta = Wdt·dtl per (b, k): ddtl = Wdtᵀ·ddelta, and dWdt's partial per (b, k). */
  if (L >= LONG_L) {
    /* Long sequences: dot products and axpys over L. */
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int bk = 0; bk < BK; bk++) {
      int k = bk % K;
      const float *dd = ddelta + (size_t)bk * di * L, *dt = dtl + (size_t)bk * R * L;
      float *gdt = ddtl + (size_t)bk * R * L, *pw = pWdt + (size_t)bk * R * di;
      memset(gdt, 0, sizeof(float) * R * L);
      for (int d = 0; d < di; d++) {
        const float *g = dd + (size_t)d * L, *w = Wdt + ((size_t)k * di + d) * R;
        for (int r = 0; r < R; r++) {
          pw[(size_t)r * di + d] = dot(g, dt + (size_t)r * L, L);
          axpy(w[r], g, gdt + (size_t)r * L, L);
        }
      }
    }
  } else {
    /* Short sequences, on (l, d) rows: ddeltaT = transpose(ddelta);
     * ddtl[r,l] = WdtT[r,:]·ddeltaT[l,:];  pWdtT[r,:] += dtl[r,l]·ddeltaT[l,:]. */
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int bk = 0; bk < BK; bk++) {
      int k = bk % K;
      const float *dd = ddelta + (size_t)bk * di * L, *dt = dtl + (size_t)bk * R * L;
      const float *wt = WdtT + (size_t)k * R * di;
      float *tmp = tmpT + (size_t)bk * L * di;
      float *gdt = ddtl + (size_t)bk * R * L, *pw = pWdt + (size_t)bk * R * di;
      for (int d = 0; d < di; d++)
        for (int l = 0; l < L; l++) tmp[(size_t)l * di + d] = dd[(size_t)d * L + l];
      memset(pw, 0, sizeof(float) * R * di);
      for (int l = 0; l < L; l++) {
        const float *g = tmp + (size_t)l * di;
        for (int r = 0; r < R; r++) {
          gdt[(size_t)r * L + l] = dot(wt + (size_t)r * di, g, di);
          axpy(dt[(size_t)r * L + l], g, pw + (size_t)r * di, di);
        }
      }
    }
  }
  /* x_proj: dZ (in Z) gathers dx_dbl at each grid position; dWx = dZᵀ·xc and the projection's
   * share of dxc = dZ·Wx, both one gemm (each sum over positions in a fixed order). */
  gather_xdbl(&s, Z, ddtl, dBs, dCs, 1, nt);
  if ((rc = sm_gemm(K * C2, di, B * L, Z, 1, xc, 0, dWx, nt))) return rc;
  if ((rc = sm_gemm(B * L, di, K * C2, Z, 0, Wx, 0, dxp, nt))) return rc;
  /* Sum the per-(b, k) dWdt partials (R, di) over b in a fixed order into dWdt (K, di, R). */
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int kd = 0; kd < K * di; kd++) {
    const int k = kd / di, d = kd % di;
    for (int r = 0; r < R; r++) {
      float acc = 0.f;
      for (int b = 0; b < B; b++) acc += pWdt[((size_t)(b * K + k) * R + r) * di + d];
      dWdt[(size_t)kd * R + r] = acc;
    }
  }
  cross_merge(&s, du, dxc, nt); /* the adjoint of cross-scan (the scan's du) */
  for (size_t i = 0; i < (size_t)B * L * di; i++) dxc[i] += dxp[i];
  return 0;
}
