/*
 * MedMamba's SS-Conv-SSM block fused into one native op, forward and backward.
 *
 *   x (P = B·H·W rows, C = 2h channels, NHWC) → left = x[:, :h], right = x[:, h:]
 *   conv half:  a0 = [BN0](left); a1 = ReLU(BN1(conv3×3(a0) + b1));
 *               a2 = ReLU(BN2(conv3×3(a1) + b2)); c = ReLU(a2·W3 + b3)
 *   SSM half:   u = LN1(right); xz = u·Win → xp, z; v = dwconv3×3(xp) + bdw; xc = SiLU(v);
 *               m = SS2D core(xc) (ss2d_core.c); g = LN_out(m)·SiLU(z); s = (g·Wout)·mask[b]
 *               [+ right]
 *   y = channel_shuffle(concat(c, s), 2) + x, i.e. y[:, 2i] = c[:, i] + x[:, 2i],
 *       y[:, 2i + 1] = s[:, i] + x[:, 2i + 1]
 *
 * The same maths as lib/model/medmamba.ts's block() written as tensor ops, which stays the
 * reference (tests/block_fused_test.ts). As tensor ops a block is ~60 kernels forward and ~150
 * backward on the wasm backend, most of them single-threaded elementwise passes and copies with
 * tens of microseconds of JavaScript dispatch each; here it is one call each way.
 *
 * Saved for the backward (training): t1, t2 (the convolutions' outputs before BN), c, xz, v and
 * m. Everything else (normalised activations, statistics, SiLUs) is recomputed by the same
 * functions on the same inputs, hence to the same bits. Every reduction runs in an order fixed by
 * the shapes, never by the thread count.
 *
 * Arrays are passed as a table of pointers (see the P_* and G_* enums, mirrored in
 * lib/ops/ss_conv_ssm.ts); sizes and switches as an int table (D_*).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "vmath.h"

int sm_gemm(int M, int N, int K, const float *A, int transA, const float *B, int transB,
            float *C, int nthreads);
int sm_conv2d_same(int B, int H, int W, int Ci, int Co, int k, const float *x, const float *w,
                   float *y, int nthreads);
int sm_conv2d_same_filter_grad(int B, int H, int W, int Ci, int Co, int k, const float *x,
                               const float *dy, float *dw, int nthreads);
int sm_norm_fwd(int R, int C, int colMode, float eps, const float *x, const float *gamma,
                const float *beta, float *y, float *mean, float *var, float *rstd, int nthreads);
int sm_norm_bwd(int R, int C, int colMode, const float *dy, const float *x, const float *gamma,
                const float *mean, const float *rstd, float *dx, float *dgamma, float *dbeta,
                int nthreads);
int ss2d_fwd(int B, int H, int W, int di, int K, int N, int R, const float *xc, const float *Wx,
             const float *Wdt, const float *bias, const float *A, const float *D, int nthreads,
             float *y);
int ss2d_bwd(int B, int H, int W, int di, int K, int N, int R, const float *xc, const float *Wx,
             const float *Wdt, const float *bias, const float *A, const float *D,
             const float *dy, int nthreads, float *dxc, float *dWx, float *dWdt, float *dbias,
             float *dA, float *dD);

/* Workspace: gemm.c's per-thread scratch slots from 19 on (0–18: gemm, im2col, SS2D core). */
float *sm_scratch(int slot, size_t n);
#define BLOCK_SLOT0 19
static float *bws(int slot, size_t n) { return sm_scratch(BLOCK_SLOT0 + slot, n); }

/* Int table. */
enum { D_B, D_H, D_W, D_C, D_K, D_N, D_R, D_FLAGS, D_COUNT };
/* D_FLAGS bits. F_NO_CONV / F_NO_SSM switch a half off (the ablations' conv_branch /
 * ssm_branch false): that half passes its input through unchanged, c = left or s = right, its
 * parameters, saved activations and running statistics absent (NULL). */
enum { F_TRAIN = 1, F_PRE_BN = 2, F_RESIDUAL = 4, F_MASK = 8, F_NO_CONV = 16, F_NO_SSM = 32 };

/* Inputs, in the pointer table of both directions. */
enum {
  P_X, P_MASK,
  P_LN1_G, P_LN1_B, P_WIN, P_WDW, P_BDW, P_WX, P_WDT, P_DTB, P_ALOG, P_D, P_LNO_G, P_LNO_B,
  P_WOUT,
  P_BN0_G, P_BN0_B, P_BN0_RM, P_BN0_RV, P_W1, P_B1, P_BN1_G, P_BN1_B, P_BN1_RM, P_BN1_RV,
  P_W2, P_B2, P_BN2_G, P_BN2_B, P_BN2_RM, P_BN2_RV, P_W3, P_B3,
  P_COUNT
};
/* Forward outputs (after the inputs): y, the saved activations, the new running statistics. */
enum {
  O_Y = P_COUNT, O_T1, O_T2, O_C, O_XZ, O_V, O_M,
  O_RM0, O_RV0, O_RM1, O_RV1, O_RM2, O_RV2,
  O_END
};
/* Backward: after the inputs come dy and the saved activations, then the gradients. */
enum { S_DY = P_COUNT, S_T1, S_T2, S_C, S_XZ, S_V, S_M, S_END };
enum {
  G_X = S_END,
  G_LN1_G, G_LN1_B, G_WIN, G_WDW, G_BDW, G_WX, G_WDT, G_DTB, G_ALOG, G_D, G_LNO_G, G_LNO_B,
  G_WOUT,
  G_BN0_G, G_BN0_B, G_W1, G_B1, G_BN1_G, G_BN1_B, G_W2, G_B2, G_BN2_G, G_BN2_B, G_W3, G_B3,
  G_END
};

/* Section timings for development (cc -DBLOCK_PROFILE, see bench/block_bench.c); compiled out
 * otherwise. */
#ifdef BLOCK_PROFILE
double block_prof[64];
const char *block_prof_name[64];
static double prof_t;
#define PROF_START() (prof_t = omp_get_wtime())
#define PROF(i, name) (block_prof[i] += omp_get_wtime() - prof_t, block_prof_name[i] = name, prof_t = omp_get_wtime())
#else
#define PROF_START() ((void)0)
#define PROF(i, name) ((void)0)
#endif

#define BN_MOMENTUM 0.1f
#define CB 16 /* channels per task in column reductions */

typedef struct {
  int B, H, W, C, h, di, K, N, R, flags, nt;
  size_t P; /* rows: B·H·W */
  float ln_eps, bn_eps;
} Dims;

static int dims_of(const int32_t *d, float ln_eps, float bn_eps, int nthreads, Dims *s) {
  const int C = d[D_C];
  if (d[D_B] <= 0 || d[D_H] <= 0 || d[D_W] <= 0 || C <= 0 || C % 2) return -1;
  if (d[D_N] <= 0 || d[D_R] <= 0 || (d[D_K] != 1 && d[D_K] != 2 && d[D_K] != 4)) return -1;
  *s = (Dims){d[D_B], d[D_H], d[D_W], C, C / 2, C, d[D_K], d[D_N], d[D_R], d[D_FLAGS],
              nthreads > 0 ? nthreads : omp_get_max_threads(),
              (size_t)d[D_B] * d[D_H] * d[D_W], ln_eps, bn_eps};
  return 0;
}

/* Unaligned 16-float loads and stores (vf itself is 64-byte aligned). */
typedef float vfu __attribute__((vector_size(64), aligned(4)));

static inline vf load_n(const float *p, int n) {
  if (n == 16) return *(const vfu *)p;
  vf v = {0};
  memcpy(&v, p, sizeof(float) * n);
  return v;
}

static inline void store_n(float *p, vf v, int n) {
  if (n == 16) *(vfu *)p = v;
  else memcpy(p, &v, sizeof(float) * n);
}

/* y = SiLU(x) over n floats, 16 at a time (tail zero-padded, so every element gets the same
 * vector arithmetic wherever it sits). */
static inline void silu_row(const float *x, float *y, int n) {
  for (int i = 0; i < n; i += 16) {
    const int m = n - i < 16 ? n - i : 16;
    store_n(y + i, silu_v(load_n(x + i, m)), m);
  }
}

/* y (rows, n) = SiLU(x), both contiguous. */
static void silu_all(const float *x, float *y, size_t rows, int n, int nt) {
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (size_t r = 0; r < rows; r++) silu_row(x + r * n, y + r * n, n);
}

/* dst (P, h) = columns [off, off + h) of src (P, ld). */
static void take_cols(const float *src, size_t P, int ld, int off, int h, float *dst, int nt) {
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (size_t p = 0; p < P; p++) memcpy(dst + p * h, src + p * ld + off, sizeof(float) * h);
}

/* a (P, C) += b (P, C) column-broadcast bias[c] (bias may be NULL), then ReLU if relu. */
static void bias_act(float *a, size_t P, int C, const float *bias, int relu, int nt) {
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (size_t p = 0; p < P; p++) {
    float *r = a + p * C;
    if (bias)
      for (int c = 0; c < C; c++) r[c] += bias[c];
    if (relu)
      for (int c = 0; c < C; c++) r[c] = r[c] > 0.f ? r[c] : 0.f;
  }
}

/* out[c] = Σ_p a[p·C + c], p in order (double accumulation), parallel over column blocks. */
static void col_sum(const float *a, size_t P, int C, float *out, int nt) {
  const int tasks = (C + CB - 1) / CB;
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int t = 0; t < tasks; t++) {
    const int c0 = t * CB, c1 = c0 + CB < C ? c0 + CB : C;
    double acc[CB] = {0};
    for (size_t p = 0; p < P; p++)
      for (int c = c0; c < c1; c++) acc[c - c0] += a[p * C + c];
    for (int c = c0; c < c1; c++) out[c] = (float)acc[c - c0];
  }
}

/* BatchNorm in eval mode: y = (x − rm)/√(rv + eps)·γ + β, as the tensor-op reference computes
 * it (scale = γ/√(rv + eps) first). */
static void bn_eval(const float *x, size_t P, int C, const float *g, const float *b,
                    const float *rm, const float *rv, float eps, float *y, int nt) {
  float scale[C];
  for (int c = 0; c < C; c++) scale[c] = g[c] * (1.f / sqrtf(rv[c] + eps));
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (size_t p = 0; p < P; p++)
    for (int c = 0; c < C; c++) y[p * C + c] = (x[p * C + c] - rm[c]) * scale[c] + b[c];
}

/* Normalisation of the conv half: training-mode BatchNorm (batch statistics; mean, rstd and the
 * running update written when asked) or eval-mode with the running statistics. */
static int bn_apply(const Dims *s, const float *x, const float *g, const float *b,
                    const float *rm, const float *rv, float *y, float *mean, float *rstd,
                    float *rmo, float *rvo) {
  const int h = s->h;
  if (!(s->flags & F_TRAIN)) {
    bn_eval(x, s->P, h, g, b, rm, rv, s->bn_eps, y, s->nt);
    return 0;
  }
  float var[h];
  int rc = sm_norm_fwd((int)s->P, h, 1, s->bn_eps, x, g, b, y, mean, var, rstd, s->nt);
  if (rc || !rmo) return rc;
  /* PyTorch's running update: momentum 0.1, unbiased variance (float32, as the reference). */
  const float n = (float)s->P, unb = n / (n > 1.f ? n - 1.f : 1.f);
  for (int c = 0; c < h; c++) {
    rmo[c] = rm[c] * (1.f - BN_MOMENTUM) + mean[c] * BN_MOMENTUM;
    rvo[c] = rv[c] * (1.f - BN_MOMENTUM) + var[c] * unb * BN_MOMENTUM;
  }
  return 0;
}

/* Depthwise 3×3 SAME convolution on (B,H,W,C) rows of stride ldx into rows of stride ldy:
 * y[i,j] = bias + Σ x[i + o(kh), j + o(kw)]·w[kh,kw] with o(k) = k − 1, or 1 − k when `flip`
 * (the input gradient: the convolution of dy with the flipped filter, bias NULL). */
static void dw_conv(const Dims *s, const float *x, int ldx, const float *w, int flip,
                    const float *bias, float *y, int ldy) {
  const int H = s->H, W = s->W, C = s->di, sg = flip ? -1 : 1;
  #pragma omp parallel for num_threads(s->nt) schedule(static)
  for (int by = 0; by < s->B * H; by++) {
    const int b = by / H, i = by % H;
    for (int j = 0; j < W; j++) {
      float *o = y + ((size_t)by * W + j) * ldy;
      for (int c = 0; c < C; c++) o[c] = bias ? bias[c] : 0.f;
      for (int kh = 0; kh < 3; kh++) {
        const int si = i + sg * (kh - 1);
        if (si < 0 || si >= H) continue;
        for (int kw = 0; kw < 3; kw++) {
          const int sj = j + sg * (kw - 1);
          if (sj < 0 || sj >= W) continue;
          const float *xr = x + (((size_t)b * H + si) * W + sj) * ldx;
          const float *wr = w + (kh * 3 + kw) * C;
          for (int c = 0; c < C; c++) o[c] += xr[c] * wr[c];
        }
      }
    }
  }
}

/* Filter and bias gradients of dw_conv: dw[kh,kw,c] = Σ dy·x, dbias[c] = Σ dy, positions in
 * order per channel block (double accumulation). */
static void dw_bwd_filter(const Dims *s, const float *x, int ldx, const float *dy, float *dw,
                          float *dbias) {
  const int H = s->H, W = s->W, C = s->di, tasks = (C + CB - 1) / CB;
  #pragma omp parallel for num_threads(s->nt) schedule(static)
  for (int t = 0; t < tasks; t++) {
    const int c0 = t * CB, n = c0 + CB < C ? CB : C - c0;
    double acc[9][CB], bacc[CB];
    memset(acc, 0, sizeof acc);
    memset(bacc, 0, sizeof bacc);
    for (int b = 0; b < s->B; b++)
      for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) {
          const float *gr = dy + (((size_t)b * H + i) * W + j) * C + c0;
          for (int c = 0; c < n; c++) bacc[c] += gr[c];
          for (int kh = 0; kh < 3; kh++) {
            const int si = i + kh - 1;
            if (si < 0 || si >= H) continue;
            for (int kw = 0; kw < 3; kw++) {
              const int sj = j + kw - 1;
              if (sj < 0 || sj >= W) continue;
              const float *xr = x + (((size_t)b * H + si) * W + sj) * ldx + c0;
              double *a = acc[kh * 3 + kw];
              for (int c = 0; c < n; c++) a[c] += (double)gr[c] * xr[c];
            }
          }
        }
    for (int k = 0; k < 9; k++)
      for (int c = 0; c < n; c++) dw[k * C + c0 + c] = (float)acc[k][c];
    for (int c = 0; c < n; c++) dbias[c0 + c] = (float)bacc[c];
  }
}

/* wf (3,3,Co,Ci) = the filter w (3,3,Ci,Co) flipped in space with in/out swapped: the input
 * gradient of a SAME convolution is the convolution of dy with it. */
static void flip_filter(const float *w, int Ci, int Co, float *wf) {
  for (int kh = 0; kh < 3; kh++)
    for (int kw = 0; kw < 3; kw++) {
      const float *src = w + (size_t)((2 - kh) * 3 + (2 - kw)) * Ci * Co;
      float *dst = wf + (size_t)(kh * 3 + kw) * Co * Ci;
      for (int ci = 0; ci < Ci; ci++)
        for (int co = 0; co < Co; co++) dst[(size_t)co * Ci + ci] = src[(size_t)ci * Co + co];
    }
}

/* A = −exp(A_log), (K·di, N). */
static void neg_exp(const float *alog, size_t n, float *A) {
  for (size_t i = 0; i < n; i++) A[i] = -expf(alog[i]);
}

/* The conv half forward: a0 (if pre-BN), t1, a1, t2, a2, c. Statistics and running updates go
 * to st (mean, rstd per BN) and o (outputs) when training. */
typedef struct {
  float *left, *a0, *t1, *a1, *t2, *a2, *c;
  float *mean[3], *rstd[3];
} ConvAct;

static int conv_half_fwd(const Dims *s, void **p, ConvAct *a, void **rmv) {
  const int h = s->h, B = s->B, H = s->H, W = s->W;
  const size_t P = s->P;
  int rc = 0;
  const float *in = a->left;
  if (s->flags & F_PRE_BN) {
    rc = bn_apply(s, a->left, p[P_BN0_G], p[P_BN0_B], p[P_BN0_RM], p[P_BN0_RV], a->a0,
                  a->mean[0], a->rstd[0], rmv ? rmv[0] : NULL, rmv ? rmv[1] : NULL);
    if (rc) return rc;
    in = a->a0;
  }
  if ((rc = sm_conv2d_same(B, H, W, h, h, 3, in, p[P_W1], a->t1, s->nt))) return rc;
  bias_act(a->t1, P, h, p[P_B1], 0, s->nt);
  rc = bn_apply(s, a->t1, p[P_BN1_G], p[P_BN1_B], p[P_BN1_RM], p[P_BN1_RV], a->a1, a->mean[1],
                a->rstd[1], rmv ? rmv[2] : NULL, rmv ? rmv[3] : NULL);
  if (rc) return rc;
  bias_act(a->a1, P, h, NULL, 1, s->nt);
  if ((rc = sm_conv2d_same(B, H, W, h, h, 3, a->a1, p[P_W2], a->t2, s->nt))) return rc;
  bias_act(a->t2, P, h, p[P_B2], 0, s->nt);
  rc = bn_apply(s, a->t2, p[P_BN2_G], p[P_BN2_B], p[P_BN2_RM], p[P_BN2_RV], a->a2, a->mean[2],
                a->rstd[2], rmv ? rmv[4] : NULL, rmv ? rmv[5] : NULL);
  if (rc) return rc;
  bias_act(a->a2, P, h, NULL, 1, s->nt);
  if ((rc = sm_gemm((int)P, h, h, a->a2, 0, p[P_W3], 0, a->c, s->nt))) return rc;
  bias_act(a->c, P, h, p[P_B3], 1, s->nt);
  return 0;
}

/* The SSM half's activations. */
typedef struct {
  float *right, *u, *xz, *v, *xc, *A, *m, *n, *g;
  float *ln1_mean, *ln1_rstd, *lno_mean, *lno_rstd, *var;
} SsmAct;

/* u = LN1(right); xz = u·Win; v = dwconv(xp) + bdw; xc = SiLU(v); m = core(xc). */
static int ssm_half_to_core(const Dims *s, void **p, SsmAct *a) {
  const int h = s->h, di = s->di;
  const size_t P = s->P;
  int rc = sm_norm_fwd((int)P, h, 0, s->ln_eps, a->right, p[P_LN1_G], p[P_LN1_B], a->u,
                       a->ln1_mean, a->var, a->ln1_rstd, s->nt);
  if (rc) return rc;
  if ((rc = sm_gemm((int)P, 2 * di, h, a->u, 0, p[P_WIN], 0, a->xz, s->nt))) return rc;
  dw_conv(s, a->xz, 2 * di, p[P_WDW], 0, p[P_BDW], a->v, di);
  silu_all(a->v, a->xc, P, di, s->nt);
  neg_exp(p[P_ALOG], (size_t)s->K * di * s->N, a->A);
  return 0;
}

/* n = LN_out(m); g = n·SiLU(z). */
static int ssm_gate(const Dims *s, void **p, SsmAct *a) {
  const int di = s->di;
  const size_t P = s->P;
  int rc = sm_norm_fwd((int)P, di, 0, s->ln_eps, a->m, p[P_LNO_G], p[P_LNO_B], a->n,
                       a->lno_mean, a->var, a->lno_rstd, s->nt);
  if (rc) return rc;
  #pragma omp parallel for num_threads(s->nt) schedule(static)
  for (size_t r = 0; r < P; r++) {
    const float *z = a->xz + r * 2 * di + di;
    const float *nr = a->n + r * di;
    float *gr = a->g + r * di;
    for (int d = 0; d < di; d += 16) {
      const int m = di - d < 16 ? di - d : 16;
      store_n(gr + d, load_n(nr + d, m) * silu_v(load_n(z + d, m)), m);
    }
  }
  return 0;
}

/* Scratch slots of the block (after BLOCK_SLOT0). */
enum {
  W_LEFT, W_RIGHT, W_A0, W_A1, W_A2, W_U, W_XC, W_A, W_N, W_G, W_O, W_STATS, W_T1, W_T2, W_C,
  W_XZ, W_V, W_M, W_D1, W_D2, W_DXZ, W_WF
};

static int acts(const Dims *s, ConvAct *ca, SsmAct *sa, int with_saved) {
  const size_t P = s->P, ph = P * s->h, pd = P * s->di;
  const int h = s->h;
  float *st = bws(W_STATS, 6 * (size_t)h + 5 * P); /* BN: mean, rstd ×3; LN: mean, rstd ×2, var */
  *ca = (ConvAct){bws(W_LEFT, ph), bws(W_A0, ph), NULL, bws(W_A1, ph), NULL, bws(W_A2, ph), NULL,
                  {st, st + h, st + 2 * h}, {st + 3 * h, st + 4 * h, st + 5 * h}};
  *sa = (SsmAct){bws(W_RIGHT, ph), bws(W_U, ph), NULL, NULL, bws(W_XC, pd),
                 bws(W_A, (size_t)s->K * s->di * s->N), NULL, bws(W_N, pd), bws(W_G, pd),
                 st + 6 * h, st + 6 * h + P, st + 6 * h + 2 * P, st + 6 * h + 3 * P,
                 st + 6 * h + 4 * P};
  if (with_saved) {
    ca->t1 = bws(W_T1, ph);
    ca->t2 = bws(W_T2, ph);
    ca->c = bws(W_C, ph);
    sa->xz = bws(W_XZ, 2 * pd);
    sa->v = bws(W_V, pd);
    sa->m = bws(W_M, pd);
  }
  if (!st || !ca->left || !ca->a0 || !ca->a1 || !ca->a2 || !sa->right || !sa->u || !sa->xc ||
      !sa->A || !sa->n || !sa->g)
    return -2;
  if (with_saved && (!ca->t1 || !ca->t2 || !ca->c || !sa->xz || !sa->v || !sa->m)) return -2;
  return 0;
}

/* Points the activations the backward needs at `saved` (t1, t2, c, xz, v, m: the forward's
 * outputs O_T1… or the backward's inputs S_T1…). */
static void use_saved(ConvAct *ca, SsmAct *sa, void **saved) {
  ca->t1 = saved[0];
  ca->t2 = saved[1];
  ca->c = saved[2];
  sa->xz = saved[3];
  sa->v = saved[4];
  sa->m = saved[5];
}

/** Forward. Training writes y, the saved activations and the new running statistics; eval
 * (F_TRAIN clear) writes y only (the other output pointers may be NULL). */
int sm_block_fwd(const int32_t *dims, void **p, float ln_eps, float bn_eps, int nthreads) {
  PROF_START();
  Dims s;
  if (dims_of(dims, ln_eps, bn_eps, nthreads, &s)) return -1;
  const int train = s.flags & F_TRAIN, h = s.h, C = s.C, di = s.di;
  const size_t P = s.P;
  ConvAct ca;
  SsmAct sa;
  int rc = acts(&s, &ca, &sa, !train);
  if (rc) return rc;
  if (train) use_saved(&ca, &sa, &p[O_T1]);
  const float *x = p[P_X];
  take_cols(x, P, C, 0, h, ca.left, s.nt);
  take_cols(x, P, C, h, h, sa.right, s.nt);
  PROF(0, "f split");
  const int conv = !(s.flags & F_NO_CONV), ssm = !(s.flags & F_NO_SSM);
  if (conv && (rc = conv_half_fwd(&s, p, &ca, train ? &p[O_RM0] : NULL))) return rc;
  PROF(1, "f conv half");
  float *o = NULL;
  if (ssm) {
    if ((rc = ssm_half_to_core(&s, p, &sa))) return rc;
    PROF(2, "f ln1 in_proj dw silu");
    rc = ss2d_fwd(s.B, s.H, s.W, di, s.K, s.N, s.R, sa.xc, p[P_WX], p[P_WDT], p[P_DTB], sa.A,
                  p[P_D], s.nt, sa.m);
    if (rc) return rc;
    PROF(3, "f ss2d core");
    if ((rc = ssm_gate(&s, p, &sa))) return rc;
    if (!(o = bws(W_O, P * h))) return -2;
    if ((rc = sm_gemm((int)P, h, di, sa.g, 0, p[P_WOUT], 0, o, s.nt))) return rc;
    PROF(4, "f gate out_proj");
  }
  const float *mask = (ssm && train && (s.flags & F_MASK)) ? p[P_MASK] : NULL;
  const int res = s.flags & F_RESIDUAL, rows = s.H * s.W;
  const float *c = conv ? ca.c : ca.left;
  float *y = p[O_Y];
  #pragma omp parallel for num_threads(s.nt) schedule(static)
  for (size_t r = 0; r < P; r++) {
    const float k = mask ? mask[r / rows] : 1.f;
    const float *xr = x + r * C, *cr = c + r * h, *rr = sa.right + r * h;
    float *yr = y + r * C;
    for (int i = 0; i < h; i++) {
      float sv = rr[i];
      if (ssm) {
        sv = mask ? o[r * h + i] * k : o[r * h + i];
        if (res) sv = rr[i] + sv;
      }
      yr[2 * i] = cr[i] + xr[2 * i];
      yr[2 * i + 1] = sv + xr[2 * i + 1];
    }
  }
  PROF(5, "f merge");
  return 0;
}

/* dX of a 3×3 SAME convolution with filter w (3,3,h,h), given dY (P, h). */
static int conv_input_grad(const Dims *s, const float *w, const float *dy, float *dx) {
  float *wf = bws(W_WF, (size_t)9 * s->h * s->h);
  if (!wf) return -2;
  flip_filter(w, s->h, s->h, wf);
  return sm_conv2d_same(s->B, s->H, s->W, s->h, s->h, 3, dy, wf, dx, s->nt);
}

/* g (P, C) ·= (a > 0): the ReLU's gradient given its output a. */
static void relu_mask(float *g, const float *a, size_t n, int nt) {
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (size_t i = 0; i < n; i++) g[i] = a[i] > 0.f ? g[i] : 0.f;
}

/* The conv half's 3×3 stage i (1 or 2) backward: da (in/out, (P, h)) holds the gradient at the
 * stage's ReLU output on entry and at its input `in` on return; dt is scratch. Writes dγ, dβ of
 * BN_i, the conv bias and filter gradients. The ReLU output a_i, BN_i's input t_i and its
 * statistics come from the recomputation in ca. */
static int conv_bn_relu_bwd(const Dims *s, const ConvAct *ca, int i, void **p, const float *in,
                            float *da, float *dt) {
  const size_t P = s->P;
  const int h = s->h, nt = s->nt;
  const float *a = i == 2 ? ca->a2 : ca->a1, *t = i == 2 ? ca->t2 : ca->t1;
  const int G = i == 2 ? P_BN2_G : P_BN1_G, dG = i == 2 ? G_BN2_G : G_BN1_G;
  const int dB = i == 2 ? G_B2 : G_B1, dW = i == 2 ? G_W2 : G_W1, Wi = i == 2 ? P_W2 : P_W1;
  relu_mask(da, a, P * h, nt);
  int rc = sm_norm_bwd((int)P, h, 1, da, t, p[G], ca->mean[i], ca->rstd[i], dt, p[dG],
                       p[dG + 1], nt);
  if (rc) return rc;
  col_sum(dt, P, h, p[dB], nt);
  if ((rc = sm_conv2d_same_filter_grad(s->B, s->H, s->W, h, h, 3, in, dt, p[dW], nt))) return rc;
  return conv_input_grad(s, p[Wi], dt, da);
}

/** Backward (training only): every gradient of Σ y·dy, all outputs overwritten. */
int sm_block_bwd(const int32_t *dims, void **p, float ln_eps, float bn_eps, int nthreads) {
  PROF_START();
  Dims s;
  if (dims_of(dims, ln_eps, bn_eps, nthreads, &s)) return -1;
  if (!(s.flags & F_TRAIN)) return -1;
  const int h = s.h, C = s.C, di = s.di, B = s.B, H = s.H, W = s.W, nt = s.nt;
  const size_t P = s.P, ph = P * h, pd = P * di;
  ConvAct ca;
  SsmAct sa;
  int rc = acts(&s, &ca, &sa, 0);
  if (rc) return rc;
  use_saved(&ca, &sa, &p[S_T1]);
  const float *x = p[P_X], *dy = p[S_DY];
  float *dx = p[G_X];
  float *d1 = bws(W_D1, pd), *d2 = bws(W_D2, ph); /* (P, di) and (P, h) gradients in turn */
  float *dxz = bws(W_DXZ, 2 * pd), *o = bws(W_O, ph);
  if (!d1 || !d2 || !dxz || !o) return -2;
  take_cols(x, P, C, 0, h, ca.left, nt);
  take_cols(x, P, C, h, h, sa.right, nt);
  memcpy(dx, dy, sizeof(float) * P * C); /* the block's residual */

  if (!(s.flags & F_NO_SSM)) {
    /* ---- SSM half: recompute u, xc, A, n, g from the saved xz, v, m ---- */
    {
      int r2 = sm_norm_fwd((int)P, h, 0, s.ln_eps, sa.right, p[P_LN1_G], p[P_LN1_B], sa.u,
                           sa.ln1_mean, sa.var, sa.ln1_rstd, nt);
      if (r2) return r2;
      silu_all(sa.v, sa.xc, P, di, nt);
      neg_exp(p[P_ALOG], (size_t)s.K * di * s.N, sa.A);
      if ((r2 = ssm_gate(&s, p, &sa))) return r2;
    }
    PROF(10, "b split + recompute ssm");
    /* do = ds·mask[b] (d2 as (P, h)) */
    const float *mask = (s.flags & F_MASK) ? p[P_MASK] : NULL;
    const int rows = H * W;
    float *dO = d2;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t r = 0; r < P; r++) {
      const float k = mask ? mask[r / rows] : 1.f;
      for (int i = 0; i < h; i++) dO[r * h + i] = mask ? dy[r * C + 2 * i + 1] * k : dy[r * C + 2 * i + 1];
    }
    /* out_proj: dWout = gᵀ·do, dg = do·Woutᵀ (dg in d1 as (P, di)) */
    if ((rc = sm_gemm(di, h, (int)P, sa.g, 1, dO, 0, p[G_WOUT], nt))) return rc;
    float *dg = d1;
    if ((rc = sm_gemm((int)P, di, h, dO, 0, p[P_WOUT], 1, dg, nt))) return rc;
    PROF(11, "b out_proj");
    /* gate: dn = dg·SiLU(z) (into sa.g, no longer needed), dz = dg·n·SiLU'(z) (into dxz) */
    float *dn = sa.g;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t r = 0; r < P; r++) {
      const float *z = sa.xz + r * 2 * di + di, *nr = sa.n + r * di, *gr = dg + r * di;
      float *dnr = dn + r * di, *dzr = dxz + r * 2 * di + di;
      for (int d = 0; d < di; d += 16) {
        const int m = di - d < 16 ? di - d : 16;
        const vf zv = load_n(z + d, m), g = load_n(gr + d, m);
        const vf sg = sigmoid_v(zv);
        store_n(dnr + d, g * (zv * sg), m);
        store_n(dzr + d, g * load_n(nr + d, m) * (sg * (zv * (1.0f - sg) + 1.0f)), m);
      }
    }
    /* out_norm: dm (into d1) */
    float *dm = d1;
    rc = sm_norm_bwd((int)P, di, 0, dn, sa.m, p[P_LNO_G], sa.lno_mean, sa.lno_rstd, dm,
                     p[G_LNO_G], p[G_LNO_B], nt);
    if (rc) return rc;
    PROF(12, "b gate + out_norm");
    /* the core: dxc (into sa.n, no longer needed), dA (into the flipped-filter slot, which is
     * free until the conv half) */
    float *dxc = sa.n;
    float *dA = bws(W_WF, (size_t)s.K * di * s.N);
    if (!dA) return -2;
    rc = ss2d_bwd(B, H, W, di, s.K, s.N, s.R, sa.xc, p[P_WX], p[P_WDT], p[P_DTB], sa.A, p[P_D], dm,
                  nt, dxc, p[G_WX], p[G_WDT], p[G_DTB], dA, p[G_D]);
    if (rc) return rc;
    {
      float *dalog = p[G_ALOG];
      for (size_t i = 0; i < (size_t)s.K * di * s.N; i++) dalog[i] = dA[i] * sa.A[i];
    }
    PROF(13, "b ss2d core");
    /* SiLU: dv = dxc·SiLU'(v) (in place) */
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t r = 0; r < P; r++)
      for (int d = 0; d < di; d += 16) {
        const int m = di - d < 16 ? di - d : 16;
        float *g = dxc + r * di + d;
        store_n(g, load_n(g, m) * dsilu_v(load_n(sa.v + r * di + d, m)), m);
      }
    const float *dv = dxc;
    /* depthwise conv: dWdw, dbdw, dxp (into dxz's first di columns) */
    dw_bwd_filter(&s, sa.xz, 2 * di, dv, p[G_WDW], p[G_BDW]);
    dw_conv(&s, dv, di, p[P_WDW], 1, NULL, dxz, 2 * di);
    PROF(14, "b silu + dwconv");
    /* in_proj: dWin = uᵀ·dxz, du = dxz·Winᵀ (du in d2 as (P, h)) */
    if ((rc = sm_gemm(h, 2 * di, (int)P, sa.u, 1, dxz, 0, p[G_WIN], nt))) return rc;
    float *du = d2;
    if ((rc = sm_gemm((int)P, h, 2 * di, dxz, 0, p[P_WIN], 1, du, nt))) return rc;
    PROF(15, "b in_proj");
    /* LN1: dright (into o) */
    float *dright = o;
    rc = sm_norm_bwd((int)P, h, 0, du, sa.right, p[P_LN1_G], sa.ln1_mean, sa.ln1_rstd, dright,
                     p[G_LN1_G], p[G_LN1_B], nt);
    if (rc) return rc;
    const int res = s.flags & F_RESIDUAL;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t r = 0; r < P; r++) {
      float *dr = dx + r * C + h;
      const float *g = dright + r * h;
      for (int i = 0; i < h; i++) dr[i] += res ? g[i] + dy[r * C + 2 * i + 1] : g[i];
    }
    PROF(16, "b ln1");
  } else {
    /* s = right: dright = ds */
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t r = 0; r < P; r++)
      for (int i = 0; i < h; i++) dx[r * C + h + i] += dy[r * C + 2 * i + 1];
  }

  if (!(s.flags & F_NO_CONV)) {
    /* ---- conv half: recompute a0, a1, a2 (same functions, same bits) ---- */
    {
      if (s.flags & F_PRE_BN) {
        rc = bn_apply(&s, ca.left, p[P_BN0_G], p[P_BN0_B], NULL, NULL, ca.a0, ca.mean[0],
                      ca.rstd[0], NULL, NULL);
        if (rc) return rc;
      }
      rc = bn_apply(&s, ca.t1, p[P_BN1_G], p[P_BN1_B], NULL, NULL, ca.a1, ca.mean[1], ca.rstd[1],
                    NULL, NULL);
      if (rc) return rc;
      bias_act(ca.a1, P, h, NULL, 1, nt);
      rc = bn_apply(&s, ca.t2, p[P_BN2_G], p[P_BN2_B], NULL, NULL, ca.a2, ca.mean[2], ca.rstd[2],
                    NULL, NULL);
      if (rc) return rc;
      bias_act(ca.a2, P, h, NULL, 1, nt);
    }
    PROF(17, "b recompute conv");
    /* 1×1 conv + ReLU: dt3 = dc·(c > 0) (d2), db3, dW3 = a2ᵀ·dt3, da2 = dt3·W3ᵀ (d1) */
    float *dt3 = d2;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t r = 0; r < P; r++)
      for (int i = 0; i < h; i++) {
        const float g = dy[r * C + 2 * i];
        dt3[r * h + i] = ca.c[r * h + i] > 0.f ? g : 0.f;
      }
    col_sum(dt3, P, h, p[G_B3], nt);
    if ((rc = sm_gemm(h, h, (int)P, ca.a2, 1, dt3, 0, p[G_W3], nt))) return rc;
    if ((rc = sm_gemm((int)P, h, h, dt3, 0, p[P_W3], 1, d1, nt))) return rc; /* da2 */
    PROF(18, "b conv3");
    /* conv2 → BN2 → ReLU, then conv1 → BN1 → ReLU, each backward; da1 and da0 in d1 */
    if ((rc = conv_bn_relu_bwd(&s, &ca, 2, p, ca.a1, d1, d2))) return rc;
    PROF(20, "b bn2 + conv2 grads");
    const float *a0 = (s.flags & F_PRE_BN) ? ca.a0 : ca.left;
    if ((rc = conv_bn_relu_bwd(&s, &ca, 1, p, a0, d1, d2))) return rc;
    PROF(22, "b bn1 + conv1 grads");
    float *da0 = d1;
    /* BN0: dleft (o) */
    float *dleft = da0;
    if (s.flags & F_PRE_BN) {
      dleft = o;
      rc = sm_norm_bwd((int)P, h, 1, da0, ca.left, p[P_BN0_G], ca.mean[0], ca.rstd[0], dleft,
                       p[G_BN0_G], p[G_BN0_B], nt);
      if (rc) return rc;
    } else {
      if (p[G_BN0_G]) memset(p[G_BN0_G], 0, sizeof(float) * h);
      if (p[G_BN0_B]) memset(p[G_BN0_B], 0, sizeof(float) * h);
    }
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t r = 0; r < P; r++) {
      float *dr = dx + r * C;
      const float *g = dleft + r * h;
      for (int i = 0; i < h; i++) dr[i] += g[i];
    }
    PROF(23, "b bn0 + residual");
  } else {
    /* c = left: dleft = dc */
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t r = 0; r < P; r++)
      for (int i = 0; i < h; i++) dx[r * C + i] += dy[r * C + 2 * i];
  }
  return 0;
}
