/*
 * Selective scan (Mamba S6) forward and backward on the CPU, C ABI for Deno.dlopen.
 *
 * Shapes follow mamba_ssm's selective_scan_fn (see lib/ops/scan_kernel.ts):
 *   u, delta, y: (batch, dim, len); A: (dim, dstate); B, C: (batch, groups, dstate, len);
 *   D, delta_bias: (dim), both nullable. Channel d belongs to group d / (dim / groups).
 *
 *   dt_t = delta_t + delta_bias (softplus'd if delta_softplus)
 *   h_t  = exp(dt_t A[n]) h_{t-1} + dt_t B[n,t] u_t
 *   y_t  = sum_n C[n,t] h_t[n] + D u_t
 *
 * Layout of the computation: one SIMD vector holds 16 channels of the same group, so B[n,t] and
 * C[n,t] are broadcasts, the sum over n of y is a plain vector accumulation (no horizontal sums),
 * and the 16 states of one channel block sit in 16 vector registers. Inputs of a block are
 * transposed into [t][lane] scratch first. The vector type is a GCC vector extension of 64 bytes:
 * with -march=native on an AVX-512 machine it is one zmm register; elsewhere gcc splits it into
 * AVX2/SSE halves, so the file builds with plain -O3 -fopenmp anywhere. Intrinsics are used only
 * under __AVX512F__, each with a portable fallback: scalef/roundscale in exp, 16x16 transposes,
 * and the shuffle tree that sums dB/dC over the 16 channel lanes when dstate is 16; under
 * __AVX2__ the transposes are four 8x8 ones (transpose16.h) and compares are split in halves
 * (vmath.h), which GCC would otherwise do one scalar lane at a time.
 *
 * Backward recomputes the states of a channel block (they never leave this file), keeping
 * exp(dt A) and h for up to SS_CHUNK steps in scratch; longer sequences first run a forward pass
 * that keeps only the states at chunk starts.
 *
 * Determinism: work is split into items that depend only on the shapes, never on the thread
 * count; each output element (or partial sum) is written by exactly one item, and the cross-item
 * reductions (dA, dD, ddelta_bias over batch; dB, dC over parts of a group) run afterwards in a
 * fixed order. Same inputs give bitwise-same outputs for any number of threads (for one build:
 * -march=native and portable builds round differently).
 *
 * Measured on a 2-core AMD EPYC (Zen 4) VM, batch 32, dim 1536, groups 4, len 256, dstate 16:
 * about 41 ms forward and 81 ms backward of CPU time on one thread; see bench/scan_bench.ts.
 */
#include <math.h>
#include <stddef.h>
#ifdef __linux__
#include <sys/mman.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SS_X86 1
#endif
#include "transpose16.h"
#include "vmath.h"
/* 64-byte vectors passed between static functions: the ABI note does not concern us. */
#pragma GCC diagnostic ignored "-Wpsabi"

#define SS_W 16        /* channels per vector */
#define SS_MAXNS 256   /* largest dstate (as mamba_ssm) */
#define SS_CHUNK 256   /* time steps of states kept by backward at once */
#define SS_MIN_ITEMS 64 /* split groups into parts until batch*groups*parts reaches this */

/* ABI version: bump when a signature changes (lib/backends/wasm/native.ts checks it). */
#define SS_VERSION 1

typedef struct {
  int batch, dim, len, ns, groups;
  int cpg;    /* channels per group */
  int nblk;   /* 16-channel blocks per group */
  int nparts; /* parts per group in backward */
  const float *u, *delta, *A, *B, *C, *D, *bias, *dy;
  int softplus;
} SsShape;

/* ---------- vector math (more in vmath.h) ---------- */

/* 2^t, Cephes exp2f polynomial on [-0.5, 0.5] (peak relative error 1.7e-7). The scan's hot loop
 * calls this on dt * (A log2 e): one multiply less than exp, and no Cody-Waite split, whose
 * extra precision the float32 product dt * A does not have anyway. */
#define EXP2_POLY(p, r)                  \
  do {                                   \
    p = p * r + 1.339887440266574e-3f;   \
    p = p * r + 9.618437357674640e-3f;   \
    p = p * r + 5.550332471162809e-2f;   \
    p = p * r + 2.402264791363012e-1f;   \
    p = p * r + 6.931472028550421e-1f;   \
    p = p * r + 1.0f;                    \
  } while (0)

static inline vf exp2_v(vf t) {
  t = clamp_v(t, -126.0f, 127.0f);
  const vf k = round_v(t);
  const vf r = t - k;
  vf p = splat(1.535336188319500e-4f);
  EXP2_POLY(p, r);
  return ldexp_v(p, k);
}

#if !defined(__AVX512F__) && defined(__AVX2__)
/* exp2_v on 8 lanes: the same operations (vmath.h's 8-lane helpers, EXP2_POLY). */
static inline vf8 exp2_v8(vf8 t) {
  t = clamp8(t, -126.0f, 127.0f);
  const vf8 k = round8(t);
  const vf8 r = t - k;
  vf8 p = splat8(1.535336188319500e-4f);
  EXP2_POLY(p, r);
  return ldexp8(p, k);
}
#define SS_HALVES 1
#endif

/* log for finite x >= 1 (Cephes logf, about 1 ulp). */
static inline vf log_ge1_v(vf x) {
  vi xi = (vi)x;
  vi e = ((xi >> 23) & 0xff) - 126;
  vf m = (vf)((xi & 0x007fffff) | 0x3f000000); /* mantissa in [0.5, 1) */
  vi small = lt_v(m, splat(0.707106781186547524f));
  e = e + small; /* small is -1 where true */
  m = select_v(small, m + m, m) - 1.0f;
  vf fe = __builtin_convertvector(e, vf);
  vf z = m * m;
  vf p = splat(7.0376836292e-2f);
  p = p * m - 1.1514610310e-1f;
  p = p * m + 1.1676998740e-1f;
  p = p * m - 1.2420140846e-1f;
  p = p * m + 1.4249322787e-1f;
  p = p * m - 1.6668057665e-1f;
  p = p * m + 2.0000714765e-1f;
  p = p * m - 2.4999993993e-1f;
  p = p * m + 3.3333331174e-1f;
  p = p * m * z;
  p = p + fe * -2.12194440e-4f;
  p = p - 0.5f * z;
  vf res = m + p;
  return res + fe * 0.693359375f;
}

/* softplus as mamba_ssm: z > 20 ? z : log1p(exp(z)). log1p(e) = log(w) * e / (w - 1) with
 * w = 1 + e (Goldberg) keeps full relative precision for tiny e, i.e. very negative z. */
static inline __attribute__((always_inline)) vf softplus_v(vf z) {
  vf e = exp_v(min_v(z, splat(20.0f)));
  vf w = e + 1.0f;
  vf d = w - 1.0f;
  vf l = log_ge1_v(w) * (e / select_v(eq_v(d, splat(0.0f)), splat(1.0f), d));
  l = select_v(eq_v(d, splat(0.0f)), e, l);
  return select_v(gt_v(z, splat(20.0f)), z, l);
}

/* d softplus / dz = sigmoid(z); exactly 1 where softplus is the identity (z > 20). */
static inline vf dsoftplus_v(vf z) {
  vf s = 1.0f / (exp_v(-z) + 1.0f);
  return select_v(gt_v(z, splat(20.0f)), splat(1.0f), s);
}

static inline float hsum_v(vf v) {
  /* fixed pairwise order, so it is deterministic whatever the compiler does */
  float s8[8], s4[4];
  for (int i = 0; i < 8; i++) s8[i] = v[i] + v[i + 8];
  for (int i = 0; i < 4; i++) s4[i] = s8[i] + s8[i + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

/* ---------- transposes between (lane, t) rows and [t][lane] scratch ---------- */


/* dst[t][c] = src[c * len + t] for c < lanes, 0 for the padding lanes. */
static void load_rows_T(const float *restrict src, int len, int lanes, vf *restrict dst) {
  int t = 0;
#ifdef __AVX512F__
  if (lanes == SS_W) {
    for (; t + 16 <= len; t += 16) {
      __m512 r[16];
      for (int c = 0; c < 16; c++) r[c] = _mm512_loadu_ps(src + (size_t)c * len + t);
      transpose16(r);
      for (int j = 0; j < 16; j++) _mm512_store_ps((float *)&dst[t + j], r[j]);
    }
  }
#elif defined(__AVX2__)
  if (lanes == SS_W) {
    for (; t + 8 <= len; t += 8) {
      for (int c0 = 0; c0 < 16; c0 += 8) {
        __m256 r[8];
        for (int c = 0; c < 8; c++) r[c] = _mm256_loadu_ps(src + (size_t)(c0 + c) * len + t);
        transpose8(r);
        for (int j = 0; j < 8; j++) _mm256_store_ps((float *)&dst[t + j] + c0, r[j]);
      }
    }
  }
#endif
  for (; t < len; t++) {
    vf v = {0};
    for (int c = 0; c < lanes; c++) v[c] = src[(size_t)c * len + t];
    dst[t] = v;
  }
}

/* dst[c * len + t] = src[t][c] for c < lanes. */
static void store_rows_T(const vf *restrict src, int len, int lanes, float *restrict dst) {
  int t = 0;
#ifdef __AVX512F__
  if (lanes == SS_W) {
    for (; t + 16 <= len; t += 16) {
      __m512 r[16];
      for (int j = 0; j < 16; j++) r[j] = _mm512_load_ps((const float *)&src[t + j]);
      transpose16(r);
      for (int c = 0; c < 16; c++) _mm512_storeu_ps(dst + (size_t)c * len + t, r[c]);
    }
  }
#elif defined(__AVX2__)
  if (lanes == SS_W) {
    for (; t + 8 <= len; t += 8) {
      for (int c0 = 0; c0 < 16; c0 += 8) {
        __m256 r[8];
        for (int j = 0; j < 8; j++) r[j] = _mm256_load_ps((const float *)&src[t + j] + c0);
        transpose8(r);
        for (int c = 0; c < 8; c++) _mm256_storeu_ps(dst + (size_t)(c0 + c) * len + t, r[c]);
      }
    }
  }
#endif
  for (; t < len; t++) {
    for (int c = 0; c < lanes; c++) dst[(size_t)c * len + t] = src[t][c];
  }
}

/* Lane-wise load of one value per channel, 0 on padding lanes (stride in floats). */
static inline vf load_lanes(const float *p, int stride, int lanes) {
  vf v = {0};
  if (p)
    for (int c = 0; c < lanes; c++) v[c] = p[(size_t)c * stride];
  return v;
}

/* ---------- forward ---------- */

/* Everything a block needs that is lane-wise and per channel: dt (after bias and softplus),
 * u, and A, D, bias as lane vectors. */
typedef struct {
  int b, g, d0, lanes;
  vf An[SS_MAXNS];  /* A[d0 + lane, n] */
  vf An2[SS_MAXNS]; /* A log2 e, the exponent of exp(dt A) in base 2 */
  vf Dv, biasv;
  const float *Bg, *Cg;
  vf dAacc[SS_MAXNS]; /* backward's sum over t of dL/dA per lane */
} SsBlock;

/* Per-thread scratch of the backward pass. */
typedef struct {
  vf *us, *zs, *dts, *dys, *dus, *ddts; /* [len] each */
  vf *abuf;                              /* [SS_CHUNK + 1][ns]: exp(dt A); last row a_{t1} */
  vf *hbuf;                              /* [SS_CHUNK + 1][ns]: state before t0, then h_t */
  vf *hck;                               /* [nchunks][ns]: states before each chunk */
  vf *accB, *accC; /* over the part's blocks: [len][ns] per-lane sums, or [len] with the tree */
} SsScratch;

#ifdef __AVX512F__
/* dB and dC of a time step are sums over the 16 lanes (channels) of 16 vectors (states). With
 * dstate 16 a shuffle tree turns the 16 vectors into one vector of 16 sums, fed one vector at a
 * time like a binary counter so that at most 4 partial results are live. Input position p must
 * carry state n = 4 (p % 4) + p / 4 for output lane n to hold the sum of state n. */
#define SS_TREE16 1
typedef struct {
  __m512 l[4];
} Tree16;

static inline __attribute__((always_inline)) int tree16_state(int p) {
  return 4 * (p & 3) + (p >> 2);
}

static inline __attribute__((always_inline)) void tree16_push(Tree16 *tr, int p, __m512 v,
                                                              __m512 *out) {
  if ((p & 1) == 0) {
    tr->l[0] = v;
    return;
  }
  /* halves of 8 partials: [a | b] */
  v = _mm512_add_ps(_mm512_shuffle_f32x4(tr->l[0], v, 0x44),
                    _mm512_shuffle_f32x4(tr->l[0], v, 0xEE));
  if ((p & 2) == 0) {
    tr->l[1] = v;
    return;
  }
  /* quarters of 4 partials: [a b c d] */
  v = _mm512_add_ps(_mm512_shuffle_f32x4(tr->l[1], v, 0x88),
                    _mm512_shuffle_f32x4(tr->l[1], v, 0xDD));
  if ((p & 4) == 0) {
    tr->l[2] = v;
    return;
  }
  /* pairs of 2 partials within each quarter */
  v = _mm512_add_ps(_mm512_shuffle_ps(tr->l[2], v, 0x44),
                    _mm512_shuffle_ps(tr->l[2], v, 0xEE));
  if ((p & 8) == 0) {
    tr->l[3] = v;
    return;
  }
  *out = _mm512_add_ps(_mm512_shuffle_ps(tr->l[3], v, 0x88),
                       _mm512_shuffle_ps(tr->l[3], v, 0xDD));
}
#else
#define SS_TREE16 0
#endif

/* Whether dB/dC of a block are reduced per step by the tree ([t] vectors over n) rather than
 * accumulated per lane ([t][n] vectors, reduced once per part). */
static inline int uses_tree(int ns) { return SS_TREE16 && ns == 16; }

#if SS_TREE16
/* Backward through [t0, t1) in reverse with dstate 16 on AVX-512: scan_lanes.inc's bwd_reverse,
 * except that dB and dC are summed over the lanes per step by the shuffle tree (accB/accC [t]). */
static inline __attribute__((always_inline)) void bwd_reverse_tree16(
    const SsShape *s, const SsBlock *blk, const SsScratch *w, int t0, int t1, int first_block,
    vf *restrict g, vf *restrict dAacc) {
  const int len = s->len;
  const float *restrict Bg = blk->Bg, *restrict Cg = blk->Cg;
  const vf *restrict An = blk->An;
  const vf *restrict abuf = w->abuf, *restrict hbuf = w->hbuf;
  for (int t = t1 - 1; t >= t0; t--) {
    const int i = t - t0;
    const vf dt = w->dts[t], uu = w->us[t], dy = w->dys[t];
    const vf dtu = dt * uu;
    vf sgB[2] = {{0}, {0}}, sqA[2] = {{0}, {0}};
    Tree16 tb, tc;
    __m512 ob = _mm512_setzero_ps(), oc = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int p = 0; p < 16; p++) {
      const int n = tree16_state(p);
      const vf a = abuf[(size_t)i * 16 + n];
      const vf gn = abuf[(size_t)(i + 1) * 16 + n] * g[n] + dy * Cg[(size_t)n * len + t];
      g[n] = gn;
      tree16_push(&tc, p, (__m512)(dy * hbuf[(size_t)(i + 1) * 16 + n]), &oc);
      tree16_push(&tb, p, (__m512)(gn * dtu), &ob);
      sgB[p & 1] += gn * Bg[(size_t)n * len + t];
      const vf q = gn * a * hbuf[(size_t)i * 16 + n]; /* dL/d(dt A) */
      sqA[p & 1] += q * An[n];
      dAacc[n] += q * dt;
    }
    w->accB[t] = first_block ? (vf)ob : w->accB[t] + (vf)ob;
    w->accC[t] = first_block ? (vf)oc : w->accC[t] + (vf)oc;
    const vf gB = sgB[0] + sgB[1];
    w->dus[t] = gB * dt + blk->Dv * dy;
    w->ddts[t] = (sqA[0] + sqA[1]) + gB * uu;
  }
}
#endif

/* ---------- the lane-wise loops (scan_lanes.inc): 16 lanes, and 8 at a time with AVX2 ---------- */

#define LV vf
#define LD(p) (*(p))
#define ST(p, v) (*(p) = (v))
#define LSPLAT(x) splat(x)
#define LEXP2(x) exp2_v(x)
#define LNAME(x) x##_v16
#define LTREE SS_TREE16
#include "scan_lanes.inc"

#ifdef SS_HALVES
#define LV vf8
#define LD(p) ((vf8)((const vf8a *)(p))[half])
#define ST(p, v) (((vf8a *)(p))[half] = (v))
#define LSPLAT(x) splat8(x)
#define LEXP2(x) exp2_v8(x)
#define LNAME(x) x##_v8
#define LTREE 0
#include "scan_lanes.inc"
#endif

/* ---------- forward ---------- */

#ifdef SS_HALVES
#define SS_FWD_SCAN(NAME, NSV, SIZE)                                                              \
  static void NAME(int ns, int len, const vf *us, const vf *dts, const vf *An2, const float *Bg, \
                   const float *Cg, const vf *Dv, vf *ys) {                                      \
    vf8 h[SIZE];                                                                                  \
    (void)ns;                                                                                     \
    for (int half = 0; half < 2; half++)                                                          \
      fwd_scan_v8(NSV, half, len, us, dts, An2, h, Bg, Cg, Dv, ys);                               \
  }
#else
#define SS_FWD_SCAN(NAME, NSV, SIZE)                                                              \
  static void NAME(int ns, int len, const vf *us, const vf *dts, const vf *An2, const float *Bg, \
                   const float *Cg, const vf *Dv, vf *ys) {                                      \
    vf h[SIZE];                                                                                   \
    (void)ns;                                                                                     \
    fwd_scan_v16(NSV, 0, len, us, dts, An2, h, Bg, Cg, Dv, ys);                                   \
  }
#endif
SS_FWD_SCAN(fwd_scan_1, 1, 1)
SS_FWD_SCAN(fwd_scan_2, 2, 2)
SS_FWD_SCAN(fwd_scan_4, 4, 4)
SS_FWD_SCAN(fwd_scan_8, 8, 8)
SS_FWD_SCAN(fwd_scan_16, 16, 16)
SS_FWD_SCAN(fwd_scan_any, ns, SS_MAXNS)

typedef void (*FwdScanFn)(int, int, const vf *, const vf *, const vf *, const float *,
                          const float *, const vf *, vf *);

static FwdScanFn pick_fwd(int ns) {
  switch (ns) {
  case 1: return fwd_scan_1;
  case 2: return fwd_scan_2;
  case 4: return fwd_scan_4;
  case 8: return fwd_scan_8;
  case 16: return fwd_scan_16;
  default: return fwd_scan_any;
  }
}

static void block_setup(const SsShape *s, int b, int g, int k, SsBlock *blk) {
  blk->b = b;
  blk->g = g;
  blk->d0 = g * s->cpg + k * SS_W;
  blk->lanes = s->cpg - k * SS_W < SS_W ? s->cpg - k * SS_W : SS_W;
  for (int n = 0; n < s->ns; n++) {
    blk->An[n] = load_lanes(s->A + (size_t)blk->d0 * s->ns + n, s->ns, blk->lanes);
    blk->An2[n] = blk->An[n] * 1.44269504088896341f;
  }
  blk->Dv = load_lanes(s->D ? s->D + blk->d0 : NULL, 1, blk->lanes);
  blk->biasv = load_lanes(s->bias ? s->bias + blk->d0 : NULL, 1, blk->lanes);
  blk->Bg = s->B + ((size_t)b * s->groups + g) * s->ns * s->len;
  blk->Cg = s->C + ((size_t)b * s->groups + g) * s->ns * s->len;
}

/* zs[t] = delta + bias (kept for the softplus derivative), dts[t] = dt. */
static void block_dt(const SsShape *s, const SsBlock *blk, vf *restrict zs, vf *restrict dts) {
  const size_t off = ((size_t)blk->b * s->dim + blk->d0) * s->len;
  load_rows_T(s->delta + off, s->len, blk->lanes, dts);
  for (int t = 0; t < s->len; t++) {
    const vf z = dts[t] + blk->biasv;
    if (zs) zs[t] = z;
    dts[t] = s->softplus ? softplus_v(z) : z;
  }
}

/* Flush denormals to zero in this thread while the kernel runs: states that decay below 1e-38
 * would otherwise hit slow microcode paths on some CPUs. Restored on exit. */
static inline unsigned ftz_on(void) {
#ifdef SS_X86
  const unsigned old = _mm_getcsr();
  _mm_setcsr(old | 0x8040);
  return old;
#else
  return 0;
#endif
}

static inline void ftz_off(unsigned old) {
#ifdef SS_X86
  _mm_setcsr(old);
#else
  (void)old;
#endif
}

static int check_shape(int batch, int dim, int len, int ns, int groups) {
  if (batch < 0 || dim < 0 || len < 0 || ns < 1 || ns > SS_MAXNS || groups < 1) return -1;
  if (dim % groups != 0) return -1;
  return 0;
}

static void shape_init(SsShape *s, int batch, int dim, int len, int ns, int groups,
                       const float *u, const float *delta, const float *A, const float *B,
                       const float *C, const float *D, const float *bias, int softplus) {
  s->batch = batch;
  s->dim = dim;
  s->len = len;
  s->ns = ns;
  s->groups = groups;
  s->cpg = dim / groups;
  s->nblk = (s->cpg + SS_W - 1) / SS_W;
  s->u = u;
  s->delta = delta;
  s->A = A;
  s->B = B;
  s->C = C;
  s->D = D;
  s->bias = bias;
  s->dy = NULL;
  s->softplus = softplus;
  const long bg = (long)batch * groups;
  long parts = bg > 0 ? (SS_MIN_ITEMS + bg - 1) / bg : 1;
  if (parts > s->nblk) parts = s->nblk;
  s->nparts = parts < 1 ? 1 : (int)parts;
}

static inline int team_size(int nthreads) {
#ifdef _OPENMP
  return nthreads > 0 ? nthreads : omp_get_max_threads();
#else
  (void)nthreads;
  return 1;
#endif
}

/* Asks for transparent huge pages on a large buffer before its first touch (a no-op unless the
 * system's THP mode is "madvise"). Fresh 4 KiB pages can be very slow to fault in: in a
 * Firecracker VM a new 50 MB output array cost ~150 ms to touch, ~5 ms with huge pages. Only a
 * hint: it changes no contents, so it is safe on the caller's arrays too. */
static void hint_huge(void *p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const uintptr_t huge = (uintptr_t)2 << 20;
  if (bytes < 2 * huge) return;
  const uintptr_t lo = ((uintptr_t)p + huge - 1) & ~(huge - 1);
  const uintptr_t hi = ((uintptr_t)p + bytes) & ~(huge - 1);
  if (hi > lo) madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

static void *alloc64(size_t bytes) {
  return aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
}

/* Scratch memory kept per thread across calls (slots 0..3), so repeated calls don't fault fresh
 * pages in. Thread-local, so concurrent callers on different threads don't share it; OpenMP
 * workers belong to their caller's team, so theirs is theirs too. */
#define SS_SLOTS 4
static __thread void *tls_buf[SS_SLOTS];
static __thread size_t tls_cap[SS_SLOTS];

static void *scratch_get(int slot, size_t bytes) {
  if (tls_cap[slot] >= bytes) return tls_buf[slot];
  free(tls_buf[slot]);
  const size_t cap = bytes + bytes / 4;
  tls_buf[slot] = alloc64(cap);
  tls_cap[slot] = tls_buf[slot] ? cap : 0;
  if (tls_buf[slot]) hint_huge(tls_buf[slot], cap);
  return tls_buf[slot];
}

/** ABI version, so the loader can refuse a stale library. */
int ss_version(void) { return SS_VERSION; }

/** Threads OpenMP would use by default (OMP_NUM_THREADS or the core count). */
int ss_default_threads(void) { return team_size(0); }

/**
 * Forward: y (batch, dim, len). nthreads <= 0 uses the OpenMP default. Returns 0, -1 on a bad
 * shape, -2 when scratch memory could not be allocated.
 */
int ss_fwd(int batch, int dim, int len, int dstate, int groups, const float *u,
           const float *delta, const float *A, const float *B, const float *C, const float *D,
           const float *delta_bias, int delta_softplus, int nthreads, float *y) {
  if (check_shape(batch, dim, len, dstate, groups)) return -1;
  if (batch == 0 || dim == 0 || len == 0) return 0;
  SsShape s;
  shape_init(&s, batch, dim, len, dstate, groups, u, delta, A, B, C, D, delta_bias,
             delta_softplus);
  hint_huge(y, sizeof(float) * (size_t)batch * dim * len);
  const FwdScanFn scan = pick_fwd(dstate);
  const long items = (long)batch * groups * s.nblk;
  int failed = 0;
#pragma omp parallel num_threads(team_size(nthreads)) reduction(| : failed)
  {
    const unsigned csr = ftz_on();
    vf *us = scratch_get(0, sizeof(vf) * (size_t)len * 3);
    SsBlock *blk = scratch_get(1, sizeof(SsBlock));
    const int ok = us && blk;
    if (!ok) failed = 1;
    vf *dts = ok ? us + len : NULL, *ys = ok ? us + 2 * (size_t)len : NULL;
    /* every thread must reach the worksharing loop, even one whose allocation failed */
#pragma omp for schedule(static)
    for (long it = 0; it < items; it++) {
      if (!ok) continue;
      const int k = (int)(it % s.nblk);
      const int g = (int)(it / s.nblk % groups);
      const int b = (int)(it / s.nblk / groups);
      block_setup(&s, b, g, k, blk);
      const size_t off = ((size_t)b * dim + blk->d0) * len;
      load_rows_T(u + off, len, blk->lanes, us);
      block_dt(&s, blk, NULL, dts);
      scan(dstate, len, us, dts, blk->An2, blk->Bg, blk->Cg, &blk->Dv, ys);
      store_rows_T(ys, len, blk->lanes, y + off);
    }
    ftz_off(csr);
  }
  return failed ? -2 : 0;
}

/* ---------- backward ---------- */



static int scratch_alloc(SsScratch *w, int len, int ns) {
  const int nchunks = (len + SS_CHUNK - 1) / SS_CHUNK;
  const int ch = len < SS_CHUNK ? len : SS_CHUNK;
  const size_t nvec = (size_t)len * 6 + (size_t)(ch + 1) * ns * 2 + (size_t)nchunks * ns +
                      (size_t)len * ns * 2;
  vf *p = scratch_get(2, sizeof(vf) * nvec);
  if (!p) return -1;
  w->us = p;
  w->zs = p += len;
  w->dts = p += len;
  w->dys = p += len;
  w->dus = p += len;
  w->ddts = p += len;
  w->abuf = p += len;
  w->hbuf = p += (size_t)(ch + 1) * ns;
  w->hck = p += (size_t)(ch + 1) * ns;
  w->accB = p += (size_t)nchunks * ns;
  w->accC = p += (size_t)len * ns;
  return 0;
}

#ifdef SS_HALVES
#define SS_BWD_BLOCK(NAME, NSV, SIZE)                                                             \
  static void NAME(const SsShape *s, const SsBlock *blk, const SsScratch *w, int first,          \
                   vf *dA_out) {                                                                  \
    vf8 h[SIZE], g[SIZE], dAacc[SIZE];                                                            \
    for (int half = 0; half < 2; half++) {                                                        \
      bwd_block_v8(NSV, half, s, blk, w, first, h, g, dAacc);                                     \
      for (int n = 0; n < (NSV); n++) ((vf8a *)&dA_out[n])[half] = dAacc[n];                      \
    }                                                                                             \
  }
#else
#define SS_BWD_BLOCK(NAME, NSV, SIZE)                                                             \
  static void NAME(const SsShape *s, const SsBlock *blk, const SsScratch *w, int first,          \
                   vf *dA_out) {                                                                  \
    vf h[SIZE], g[SIZE], dAacc[SIZE];                                                             \
    bwd_block_v16(NSV, 0, s, blk, w, first, h, g, dAacc);                                         \
    for (int n = 0; n < (NSV); n++) dA_out[n] = dAacc[n];                                         \
  }
#endif
SS_BWD_BLOCK(bwd_block_1, 1, 1)
SS_BWD_BLOCK(bwd_block_2, 2, 2)
SS_BWD_BLOCK(bwd_block_4, 4, 4)
SS_BWD_BLOCK(bwd_block_8, 8, 8)
SS_BWD_BLOCK(bwd_block_16, 16, 16)
SS_BWD_BLOCK(bwd_block_any, s->ns, SS_MAXNS)

typedef void (*BwdBlockFn)(const SsShape *, const SsBlock *, const SsScratch *, int, vf *);

static BwdBlockFn pick_bwd(int ns) {
  switch (ns) {
  case 1: return bwd_block_1;
  case 2: return bwd_block_2;
  case 4: return bwd_block_4;
  case 8: return bwd_block_8;
  case 16: return bwd_block_16;
  default: return bwd_block_any;
  }
}

/* Outputs of the backward pass, plus the per-batch partial sums reduced at the end. */
typedef struct {
  float *du, *ddelta, *dA, *dB, *dC, *dD, *ddelta_bias;
  float *pdA;   /* [batch][dim][ns] */
  float *pdD;   /* [batch][dim] */
  float *pdb;   /* [batch][dim] */
  float *pdBC;  /* [batch][groups][nparts][2][ns][len], only when nparts > 1 */
} SsGrads;

/* One block's lane-wise outputs: du, ddelta and the per-batch partials of dA, dD, ddelta_bias. */
static void block_outputs(const SsShape *s, const SsBlock *blk, const SsScratch *w,
                          const vf *dAacc, const SsGrads *o) {
  const int len = s->len, lanes = blk->lanes;
  const size_t off = ((size_t)blk->b * s->dim + blk->d0) * len;
  store_rows_T(w->dus, len, lanes, o->du + off);
  vf sumdd = {0}, sumdyu = {0};
  for (int t = 0; t < len; t++) {
    const vf dd = s->softplus ? w->ddts[t] * dsoftplus_v(w->zs[t]) : w->ddts[t];
    w->ddts[t] = dd;
    sumdd += dd;
    sumdyu += w->dys[t] * w->us[t];
  }
  store_rows_T(w->ddts, len, lanes, o->ddelta + off);
  const size_t pc = (size_t)blk->b * s->dim + blk->d0;
  for (int c = 0; c < lanes; c++) {
    o->pdD[pc + c] = sumdyu[c];
    o->pdb[pc + c] = sumdd[c];
    for (int n = 0; n < s->ns; n++) o->pdA[(pc + c) * s->ns + n] = dAacc[n][c];
  }
}

/* Sum the lanes of accB/accC ([t][n] vectors, or [t] with the tree) into dst[n][t]. */
static void reduce_lanes(const SsShape *s, const SsScratch *w, float *dstB, float *dstC) {
  const int len = s->len, ns = s->ns;
  if (uses_tree(ns)) { /* already reduced: accB[t][n] */
    for (int n = 0; n < ns; n++) {
      for (int t = 0; t < len; t++) {
        dstB[(size_t)n * len + t] = w->accB[t][n];
        dstC[(size_t)n * len + t] = w->accC[t][n];
      }
    }
    return;
  }
  for (int n = 0; n < ns; n++) {
    for (int t = 0; t < len; t++) {
      dstB[(size_t)n * len + t] = hsum_v(w->accB[(size_t)t * ns + n]);
      dstC[(size_t)n * len + t] = hsum_v(w->accC[(size_t)t * ns + n]);
    }
  }
}

/**
 * Backward: all gradients for upstream dy. dD must be non-null iff D is, ddelta_bias iff
 * delta_bias is. Returns 0, -1 on a bad shape, -2 when memory could not be allocated.
 */
int ss_bwd(int batch, int dim, int len, int dstate, int groups, const float *u,
           const float *delta, const float *A, const float *B, const float *C, const float *D,
           const float *delta_bias, int delta_softplus, const float *dy, int nthreads,
           float *du, float *ddelta, float *dA, float *dB, float *dC, float *dD,
           float *ddelta_bias) {
  if (check_shape(batch, dim, len, dstate, groups)) return -1;
  if ((D == NULL) != (dD == NULL) || (delta_bias == NULL) != (ddelta_bias == NULL)) return -1;
  SsShape s;
  shape_init(&s, batch, dim, len, dstate, groups, u, delta, A, B, C, D, delta_bias,
             delta_softplus);
  s.dy = dy;
  const int ns = dstate;
  if (batch == 0 || dim == 0 || len == 0) {
    memset(dA, 0, sizeof(float) * (size_t)dim * ns);
    if (dD) memset(dD, 0, sizeof(float) * (size_t)dim);
    if (ddelta_bias) memset(ddelta_bias, 0, sizeof(float) * (size_t)dim);
    if (batch > 0 && len == 0) return 0;
    memset(dB, 0, sizeof(float) * (size_t)batch * groups * ns * len);
    memset(dC, 0, sizeof(float) * (size_t)batch * groups * ns * len);
    return 0;
  }
  SsGrads o = {du, ddelta, dA, dB, dC, dD, ddelta_bias, NULL, NULL, NULL, NULL};
  const size_t bd = (size_t)batch * dim;
  o.pdA = scratch_get(3, sizeof(float) * (bd * ns + 2 * bd));
  const int nparts = s.nparts;
  if (nparts > 1) o.pdBC = alloc64(sizeof(float) * (size_t)batch * groups * nparts * 2 * ns * len);
  if (!o.pdA || (nparts > 1 && !o.pdBC)) {
    free(o.pdBC);
    return -2;
  }
  hint_huge(du, sizeof(float) * bd * len);
  hint_huge(ddelta, sizeof(float) * bd * len);
  o.pdD = o.pdA + bd * ns;
  o.pdb = o.pdD + bd;
  const BwdBlockFn block_fn = pick_bwd(ns);
  const long items = (long)batch * groups * nparts;
  const int team = team_size(nthreads);
  int failed = 0;
#pragma omp parallel num_threads(team) reduction(| : failed)
  {
    const unsigned csr = ftz_on();
    SsScratch w;
    SsBlock *blk = scratch_get(1, sizeof(SsBlock));
    const int ok = blk && scratch_alloc(&w, len, ns) == 0;
    if (!ok) failed = 1;
#pragma omp for schedule(static)
    for (long it = 0; it < items; it++) {
      if (!ok) continue;
      const int p = (int)(it % nparts);
      const int g = (int)(it / nparts % groups);
      const int b = (int)(it / nparts / groups);
      const int k0 = (int)((long)p * s.nblk / nparts), k1 = (int)((long)(p + 1) * s.nblk / nparts);
      for (int k = k0; k < k1; k++) {
        block_setup(&s, b, g, k, blk);
        const size_t off = ((size_t)b * dim + blk->d0) * len;
        load_rows_T(u + off, len, blk->lanes, w.us);
        load_rows_T(dy + off, len, blk->lanes, w.dys);
        block_dt(&s, blk, w.zs, w.dts);
        block_fn(&s, blk, &w, k == k0, blk->dAacc);
        block_outputs(&s, blk, &w, blk->dAacc, &o);
      }
      const size_t bg = (size_t)b * groups + g;
      if (nparts == 1) {
        reduce_lanes(&s, &w, dB + bg * ns * len, dC + bg * ns * len);
      } else {
        float *dst = o.pdBC + (bg * nparts + p) * 2 * ns * len;
        reduce_lanes(&s, &w, dst, dst + (size_t)ns * len);
      }
    }
    ftz_off(csr);
  }
  if (!failed) {
    /* fixed-order reductions over batch (and parts) */
#pragma omp parallel num_threads(team)
    {
#pragma omp for schedule(static)
      for (long i = 0; i < (long)dim * ns; i++) {
        double acc = 0.0;
        for (int b = 0; b < batch; b++) acc += o.pdA[(size_t)b * dim * ns + i];
        dA[i] = (float)acc;
      }
#pragma omp for schedule(static)
      for (int d = 0; d < dim; d++) {
        double accD = 0.0, accb = 0.0;
        for (int b = 0; b < batch; b++) {
          accD += o.pdD[(size_t)b * dim + d];
          accb += o.pdb[(size_t)b * dim + d];
        }
        if (dD) dD[d] = (float)accD;
        if (ddelta_bias) ddelta_bias[d] = (float)accb;
      }
      if (nparts > 1) {
        const size_t nl = (size_t)ns * len;
#pragma omp for schedule(static)
        for (long i = 0; i < (long)batch * groups; i++) {
          for (size_t j = 0; j < nl; j++) {
            double sb = 0.0, sc = 0.0;
            for (int p = 0; p < nparts; p++) {
              const float *src = o.pdBC + ((size_t)i * nparts + p) * 2 * nl;
              sb += src[j];
              sc += src[nl + j];
            }
            dB[(size_t)i * nl + j] = (float)sb;
            dC[(size_t)i * nl + j] = (float)sc;
          }
        }
      }
    }
  }
  free(o.pdBC);
  return failed ? -2 : 0;
}
