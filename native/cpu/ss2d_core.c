/*
 * The core of SS2D fused into one native op, forward and backward:
 *
 *   cross-scan (B,H,W,d_inner) → K sequences, per-direction x_proj (d_inner → dt_rank + 2N),
 *   dt_proj (dt_rank → d_inner), selective scan (ss_fwd / ss_bwd from selective_scan.c,
 *   compiled into the same library), cross-merge back to (B,H,W,d_inner).
 *
 * Done op by op in tfjs this costs ~200 transposes, slices and batched matmuls per step; here it
 * is a handful of cache-friendly loops. Workspaces are kept between calls (fresh pages are
 * slow to touch on some VMs). All reductions run in a fixed order: results do not depend on
 * the thread count.
 *
 * Layouts (row-major): xc, y, dy, dxc (B, H, W, di); Wx (K, R + 2N, di); Wdt (K, di, R);
 * bias, D (K·di); A (K·di, N). Direction codes: bit 0 = column-major, bit 1 = reversed.
 */
#include <stdlib.h>
#include <string.h>
#include <omp.h>

int ss_fwd(int batch, int dim, int len, int dstate, int groups, const float *u,
           const float *delta, const float *A, const float *B, const float *C, const float *D,
           const float *delta_bias, int delta_softplus, int nthreads, float *y);
int ss_bwd(int batch, int dim, int len, int dstate, int groups, const float *u,
           const float *delta, const float *A, const float *B, const float *C, const float *D,
           const float *delta_bias, int delta_softplus, const float *dy, int nthreads, float *du,
           float *ddelta, float *dA, float *dB, float *dC, float *dD, float *ddelta_bias);

#define SLOTS 16
static float *ws_buf[SLOTS];
static size_t ws_cap[SLOTS];

static float *ws(int slot, size_t n) {
  if (ws_cap[slot] < n) {
    free(ws_buf[slot]);
    if (posix_memalign((void **)&ws_buf[slot], 64, n * sizeof(float)) != 0) {
      ws_buf[slot] = NULL;
      ws_cap[slot] = 0;
      return NULL;
    }
    ws_cap[slot] = n;
  }
  return ws_buf[slot];
}

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

/* Cross-scan x (B,H,W,di) into xs (B,K,di,L). */
static void cross_scan(const Dims *s, const float *x, float *xs, int nt) {
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int bk = 0; bk < s->B * s->K; bk++) {
    int b = bk / s->K, k = bk % s->K, code = dir_code(s->K, k);
    float *o = xs + (size_t)bk * s->di * s->L;
    const float *xb = x + (size_t)b * s->L * s->di;
    for (int l = 0; l < s->L; l++) {
      const float *src = xb + (size_t)dir_pos(code, l, s->H, s->W) * s->di;
      for (int d = 0; d < s->di; d++) o[(size_t)d * s->L + l] = src[d];
    }
  }
}

/* Cross-merge ys (B,K,di,L) into y (B,H,W,di), summing directions in order k = 0..K-1. */
static void cross_merge(const Dims *s, const float *ys, float *y, int nt) {
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int b = 0; b < s->B; b++) {
    float *yb = y + (size_t)b * s->L * s->di;
    memset(yb, 0, sizeof(float) * s->L * s->di);
    for (int k = 0; k < s->K; k++) {
      int code = dir_code(s->K, k);
      const float *src = ys + (size_t)(b * s->K + k) * s->di * s->L;
      for (int l = 0; l < s->L; l++) {
        float *dst = yb + (size_t)dir_pos(code, l, s->H, s->W) * s->di;
        for (int d = 0; d < s->di; d++) dst[d] += src[(size_t)d * s->L + l];
      }
    }
  }
}

/* Row c of x_dbl for (b,k): dt rows first, then B, then C (as VMamba's split). */
static float *xdbl_row(const Dims *s, int bk, int c, float *dtl, float *Bs, float *Cs) {
  if (c < s->R) return dtl + ((size_t)bk * s->R + c) * s->L;
  if (c < s->R + s->N) return Bs + ((size_t)bk * s->N + (c - s->R)) * s->L;
  return Cs + ((size_t)bk * s->N + (c - s->R - s->N)) * s->L;
}

/* u = cross-scan(xc); (dtl, Bs, Cs) = Wx·u; delta = Wdt·dtl. */
static void prepare(const Dims *s, const float *xc, const float *Wx, const float *Wdt, float *u,
                    float *dtl, float *Bs, float *Cs, float *delta, int nt) {
  cross_scan(s, xc, u, nt);
  const int L = s->L;
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int bk = 0; bk < s->B * s->K; bk++) {
    int k = bk % s->K;
    const float *ub = u + (size_t)bk * s->di * L;
    for (int c = 0; c < s->C2; c++) {
      float *row = xdbl_row(s, bk, c, dtl, Bs, Cs);
      memset(row, 0, sizeof(float) * L);
      const float *w = Wx + ((size_t)k * s->C2 + c) * s->di;
      for (int d = 0; d < s->di; d++) axpy(w[d], ub + (size_t)d * L, row, L);
    }
    const float *dt = dtl + (size_t)bk * s->R * L;
    for (int d = 0; d < s->di; d++) {
      float *row = delta + ((size_t)bk * s->di + d) * L;
      memset(row, 0, sizeof(float) * L);
      const float *w = Wdt + ((size_t)k * s->di + d) * s->R;
      for (int r = 0; r < s->R; r++) axpy(w[r], dt + (size_t)r * L, row, L);
    }
  }
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
  if (!u || !delta || !Bs || !Cs || !dtl || !ys) return -2;
  prepare(&s, xc, Wx, Wdt, u, dtl, Bs, Cs, delta, nt);
  int rc = ss_fwd(B, K * di, s.L, N, K, u, delta, A, Bs, Cs, D, bias, 1, nt, ys);
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
  float *pWx = ws(11, (size_t)BK * C2 * di), *pWdt = ws(12, (size_t)BK * di * R);
  if (!u || !delta || !Bs || !Cs || !dtl || !dys || !du || !ddelta || !dBs || !dCs || !ddtl ||
      !pWx || !pWdt)
    return -2;
  prepare(&s, xc, Wx, Wdt, u, dtl, Bs, Cs, delta, nt);
  cross_scan(&s, dy, dys, nt); /* the adjoint of cross-merge */
  int rc = ss_bwd(B, K * di, L, N, K, u, delta, A, Bs, Cs, D, bias, 1, dys, nt, du, ddelta, dA,
                  dBs, dCs, dD, dbias);
  if (rc) return rc;

  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int bk = 0; bk < BK; bk++) {
    int k = bk % K;
    const float *dd = ddelta + (size_t)bk * di * L, *dt = dtl + (size_t)bk * R * L;
    float *gdt = ddtl + (size_t)bk * R * L, *pw = pWdt + (size_t)bk * di * R;
    /* delta = Wdt·dtl:  dWdt[d,r] += Σ_l ddelta[d,l]·dtl[r,l];  ddtl[r,l] = Σ_d Wdt[d,r]·ddelta[d,l] */
    memset(gdt, 0, sizeof(float) * R * L);
    for (int d = 0; d < di; d++) {
      const float *g = dd + (size_t)d * L, *w = Wdt + ((size_t)k * di + d) * R;
      for (int r = 0; r < R; r++) {
        pw[(size_t)d * R + r] = dot(g, dt + (size_t)r * L, L);
        axpy(w[r], g, gdt + (size_t)r * L, L);
      }
    }
    /* x_dbl = Wx·u:  dWx[c,d] += Σ_l dxdbl[c,l]·u[d,l];  du[d,l] += Σ_c Wx[c,d]·dxdbl[c,l] */
    const float *ub = u + (size_t)bk * di * L;
    float *dub = du + (size_t)bk * di * L, *px = pWx + (size_t)bk * C2 * di;
    for (int c = 0; c < C2; c++) {
      const float *g = xdbl_row(&s, bk, c, ddtl, dBs, dCs);
      const float *w = Wx + ((size_t)k * C2 + c) * di;
      for (int d = 0; d < di; d++) {
        px[(size_t)c * di + d] = dot(g, ub + (size_t)d * L, L);
        axpy(w[d], g, dub + (size_t)d * L, L);
      }
    }
  }
  /* Sum the per-(b,k) partials over b in a fixed order. */
  memset(dWx, 0, sizeof(float) * K * C2 * di);
  memset(dWdt, 0, sizeof(float) * K * di * R);
  for (int b = 0; b < B; b++) {
    for (int k = 0; k < K; k++) {
      const float *px = pWx + (size_t)(b * K + k) * C2 * di;
      float *gx = dWx + (size_t)k * C2 * di;
      for (int i = 0; i < C2 * di; i++) gx[i] += px[i];
      const float *pw = pWdt + (size_t)(b * K + k) * di * R;
      float *gw = dWdt + (size_t)k * di * R;
      for (int i = 0; i < di * R; i++) gw[i] += pw[i];
    }
  }
  cross_merge(&s, du, dxc, nt); /* the adjoint of cross-scan */
  return 0;
}
