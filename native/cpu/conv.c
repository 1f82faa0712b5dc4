/*
 * Stride-1 SAME convolutions (NHWC, odd square k×k filters) as implicit-im2col gemms, for the
 * wasm backend's Conv2D, its filter gradient and the fused block (block.c). XNNPACK's
 * convolutions run on one thread with 128-bit vectors; these run on every core at full vector
 * width. The im2col matrix is never built: the gemm's packing callback (gemm.c) reads each
 * tile's rows straight from the image, so a 3×3 convolution reads its input ~once instead of
 * writing and re-reading a matrix nine times its size.
 */
#include <string.h>
#include <omp.h>
#include "transpose16.h"

int sm_gemm(int M, int N, int K, const float *A, int transA, const float *B, int transB,
            float *C, int nthreads);
typedef void (*PackA)(const void *ctx, int i0, int h, int k0, int kc, float *dst);
int sm_gemm_packed(int M, int N, int K, PackA pack, const void *ctx, const float *B, int transB,
                   float *C, int nthreads);

#define MR 8 /* gemm.c's rows per micro-tile */

/* The image x (B, H, W, C) and the filter side k of a SAME convolution. The im2col matrix has
 * a row per position (b, y, x) and a column per (kh·k + kw)·C + c, holding
 * x[b, y + kh − p, x + kw − p, c] (0 outside), p = (k − 1)/2. */
typedef struct {
  const float *x;
  int B, H, W, C, k;
} Im2col;

/* A position (b, y, x) of the image grid. */
typedef struct {
  int b, y, x;
} Pos;

static inline Pos pos_of(const Im2col *m, int pos) {
  const int HW = m->H * m->W;
  return (Pos){pos / HW, pos % HW / m->W, pos % m->W};
}

static inline void pos_next(const Im2col *m, Pos *q) {
  if (++q->x < m->W) return;
  q->x = 0;
  if (++q->y < m->H) return;
  q->y = 0;
  q->b++;
}

/* Start of pixel q shifted by (dy, dx) in x, or NULL outside the image. */
static inline const float *shifted(const Im2col *m, Pos q, int dy, int dx) {
  const int sy = q.y + dy, sx = q.x + dx;
  if (sy < 0 || sy >= m->H || sx < 0 || sx >= m->W) return NULL;
  return m->x + (((size_t)q.b * m->H + sy) * m->W + sx) * m->C;
}

/* Rows [i0, i0 + h) = positions, columns [k0, k0 + kc) of im2col, packed as dst[k][r]. */
static void pack_im2col(const void *ctx, int i0, int h, int k0, int kc, float *dst) {
  const Im2col *m = ctx;
  const int C = m->C, p = (m->k - 1) / 2;
  Pos rows[MR];
  if (h > 0) rows[0] = pos_of(m, i0);
  for (int r = 1; r < h; r++) {
    rows[r] = rows[r - 1];
    pos_next(m, &rows[r]);
  }
  for (int k = k0; k < k0 + kc;) {
    const int tap = k / C, c0 = k % C, n = (C - c0 < k0 + kc - k) ? C - c0 : k0 + kc - k;
    const int dy = tap / m->k - p, dx = tap % m->k - p;
    float *d = dst + (size_t)(k - k0) * MR;
#if defined(__AVX2__)
    if (h == MR && n >= 8) {
      /* Eight channels of the eight rows at a time, as one 8×8 in-register transpose: the
       * scalar loop below moves every float on its own, and with few output channels (ConvNet's
       * 32) each packed float feeds few multiply-adds, so the packing shows. */
      const float *src[MR];
      for (int r = 0; r < MR; r++) src[r] = shifted(m, rows[r], dy, dx);
      int j = 0;
      for (; j + 8 <= n; j += 8) {
        __m256 t[8];
        for (int r = 0; r < MR; r++)
          t[r] = src[r] ? _mm256_loadu_ps(src[r] + c0 + j) : _mm256_setzero_ps();
        transpose8(t);
        for (int q = 0; q < 8; q++) _mm256_storeu_ps(d + (size_t)(j + q) * MR, t[q]);
      }
      for (; j < n; j++)
        for (int r = 0; r < MR; r++) d[(size_t)j * MR + r] = src[r] ? src[r][c0 + j] : 0.f;
      k += n;
      continue;
    }
#endif
    for (int r = 0; r < MR; r++) {
      const float *src = r < h ? shifted(m, rows[r], dy, dx) : NULL;
      if (src)
        for (int j = 0; j < n; j++) d[(size_t)j * MR + r] = src[c0 + j];
      else
        for (int j = 0; j < n; j++) d[(size_t)j * MR + r] = 0.f;
    }
    k += n;
  }
}

/* Rows [i0, i0 + h) = im2col columns, columns [k0, k0 + kc) = positions: im2colᵀ, packed. */
static void pack_im2col_t(const void *ctx, int i0, int h, int k0, int kc, float *dst) {
  const Im2col *m = ctx;
  const int C = m->C, p = (m->k - 1) / 2;
  Pos q = pos_of(m, k0);
  if (i0 / C == (i0 + h - 1) / C) {
    /* All h rows read one tap: h contiguous channels of one shifted pixel per position. */
    const int tap = i0 / C, c0 = i0 % C, dy = tap / m->k - p, dx = tap % m->k - p;
    for (int k = 0; k < kc; k++, pos_next(m, &q)) {
      float *d = dst + (size_t)k * MR;
      const float *src = shifted(m, q, dy, dx);
      if (h == MR) { /* a constant size: one vector move instead of a call */
        if (src) memcpy(d, src + c0, MR * sizeof(float));
        else memset(d, 0, MR * sizeof(float));
        continue;
      }
      if (src) memcpy(d, src + c0, h * sizeof(float));
      else memset(d, 0, h * sizeof(float));
      for (int r = h; r < MR; r++) d[r] = 0.f;
    }
    return;
  }
  /* Rows span taps (few channels, e.g. a first layer's 3): each row's shift and channel once. */
  int rdy[MR], rdx[MR], rc[MR];
  for (int r = 0; r < h; r++) {
    const int tap = (i0 + r) / C;
    rdy[r] = tap / m->k - p;
    rdx[r] = tap % m->k - p;
    rc[r] = (i0 + r) % C;
  }
  for (int k = 0; k < kc; k++, pos_next(m, &q)) {
    float *d = dst + (size_t)k * MR;
    for (int r = 0; r < h; r++) {
      const float *src = shifted(m, q, rdy[r], rdx[r]);
      d[r] = src ? src[rc[r]] : 0.f;
    }
    for (int r = h; r < MR; r++) d[r] = 0.f;
  }
}

/** y (B,H,W,Co) = conv(x (B,H,W,Ci), w (k,k,Ci,Co)), stride 1, SAME. */
int sm_conv2d_same(int B, int H, int W, int Ci, int Co, int k, const float *x, const float *w,
                   float *y, int nthreads) {
  if (B <= 0 || H <= 0 || W <= 0 || Ci <= 0 || Co <= 0 || k <= 0 || k % 2 == 0) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  if (k == 1) return sm_gemm(B * H * W, Co, Ci, x, 0, w, 0, y, nt);
  const Im2col m = {x, B, H, W, Ci, k};
  return sm_gemm_packed(B * H * W, Co, k * k * Ci, pack_im2col, &m, w, 0, y, nt);
}

/** dW (k,k,Ci,Co) = im2col(x)ᵀ · dy (B·H·W, Co), for y = conv(x, W) stride 1, SAME. */
int sm_conv2d_same_filter_grad(int B, int H, int W, int Ci, int Co, int k, const float *x,
                               const float *dy, float *dw, int nthreads) {
  if (B <= 0 || H <= 0 || W <= 0 || Ci <= 0 || Co <= 0 || k <= 0 || k % 2 == 0) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  if (k == 1) return sm_gemm(Ci, Co, B * H * W, x, 1, dy, 0, dw, nt);
  const Im2col m = {x, B, H, W, Ci, k};
  return sm_gemm_packed(k * k * Ci, Co, B * H * W, pack_im2col_t, &m, dy, 0, dw, nt);
}

/*
 * Strided convolutions (stride s, odd k×k, PyTorch's padding p = (k − 1)/2; output side
 * Ho = ⌊(H − 1)/s⌋ + 1): ResNet's stride-2 convolutions, which the model otherwise computes at
 * stride 1 and subsamples (4× the multiply-adds). Output (b, oy, ox) of the strided convolution
 * is output (b, s·oy, s·ox) of the SAME one, summed over the same (kh, kw, c) in the same order,
 * so the forward gives the same bits as that route, and so do the gradients: the filter gradient
 * sums the same nonzero terms over positions in order, and the input gradient the same nonzero
 * terms over (tap, channel) in the order of the stride-1 route's SAME convolution of the
 * zero-upsampled dy with the flipped filter (up to the sign of an exact zero).
 */
typedef struct {
  const float *x; /* the image (B, H, W, C), or dy (B, Ho, Wo, Co) for the input gradient */
  int B, H, W, C, k, s, Ho, Wo;
} Strided;

/* Rows [i0, i0 + h) = output positions (b, oy, ox), columns [k0, k0 + kc) = (kh·k + kw)·C + c
 * of the strided im2col: x[b, s·oy + kh − p, s·ox + kw − p, c] (0 outside), packed. */
static void pack_strided(const void *ctx, int i0, int h, int k0, int kc, float *dst) {
  const Strided *m = ctx;
  const int C = m->C, p = (m->k - 1) / 2, HW = m->Ho * m->Wo;
  int rb[MR], ry[MR], rx[MR];
  for (int r = 0; r < h; r++) {
    const int pos = i0 + r;
    rb[r] = pos / HW;
    ry[r] = pos % HW / m->Wo * m->s - p;
    rx[r] = pos % m->Wo * m->s - p;
  }
  for (int k = k0; k < k0 + kc;) {
    const int tap = k / C, c0 = k % C, n = (C - c0 < k0 + kc - k) ? C - c0 : k0 + kc - k;
    const int kh = tap / m->k, kw = tap % m->k;
    float *d = dst + (size_t)(k - k0) * MR;
    for (int r = 0; r < MR; r++) {
      const int sy = r < h ? ry[r] + kh : -1, sx = r < h ? rx[r] + kw : -1;
      if (sy >= 0 && sy < m->H && sx >= 0 && sx < m->W) {
        const float *src = m->x + (((size_t)rb[r] * m->H + sy) * m->W + sx) * C + c0;
        for (int j = 0; j < n; j++) d[(size_t)j * MR + r] = src[j];
      } else {
        for (int j = 0; j < n; j++) d[(size_t)j * MR + r] = 0.f;
      }
    }
    k += n;
  }
}

/* The transpose: rows [i0, i0 + h) = (kh·k + kw)·C + c, columns [k0, k0 + kc) = output
 * positions, packed. */
static void pack_strided_t(const void *ctx, int i0, int h, int k0, int kc, float *dst) {
  const Strided *m = ctx;
  const int C = m->C, p = (m->k - 1) / 2;
  int rkh[MR], rkw[MR], rc[MR];
  for (int r = 0; r < h; r++) {
    const int tap = (i0 + r) / C;
    rkh[r] = tap / m->k - p;
    rkw[r] = tap % m->k - p;
    rc[r] = (i0 + r) % C;
  }
  const int one_tap = i0 / C == (i0 + h - 1) / C;
  int b = k0 / (m->Ho * m->Wo), oy = k0 % (m->Ho * m->Wo) / m->Wo, ox = k0 % m->Wo;
  for (int k = 0; k < kc; k++) {
    float *d = dst + (size_t)k * MR;
    const int y0 = oy * m->s, x0 = ox * m->s;
    if (one_tap) {
      const int sy = y0 + rkh[0], sx = x0 + rkw[0];
      if (sy >= 0 && sy < m->H && sx >= 0 && sx < m->W)
        memcpy(d, m->x + (((size_t)b * m->H + sy) * m->W + sx) * C + rc[0], h * sizeof(float));
      else memset(d, 0, h * sizeof(float));
    } else {
      for (int r = 0; r < h; r++) {
        const int sy = y0 + rkh[r], sx = x0 + rkw[r];
        d[r] = sy >= 0 && sy < m->H && sx >= 0 && sx < m->W
                   ? m->x[(((size_t)b * m->H + sy) * m->W + sx) * C + rc[r]]
                   : 0.f;
      }
    }
    for (int r = h; r < MR; r++) d[r] = 0.f;
    if (++ox == m->Wo) {
      ox = 0;
      if (++oy == m->Ho) {
        oy = 0;
        b++;
      }
    }
  }
}

static int strided_dims_ok(int B, int H, int W, int Ci, int Co, int k, int s) {
  return B > 0 && H > 0 && W > 0 && Ci > 0 && Co > 0 && k > 0 && k % 2 == 1 && s >= 1;
}

/** y (B,Ho,Wo,Co) = conv(x (B,H,W,Ci), w (k,k,Ci,Co)), stride s, padding (k − 1)/2. */
int sm_conv2d_strided(int B, int H, int W, int Ci, int Co, int k, int s, const float *x,
                      const float *w, float *y, int nthreads) {
  if (!strided_dims_ok(B, H, W, Ci, Co, k, s)) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  const Strided m = {x, B, H, W, Ci, k, s, (H - 1) / s + 1, (W - 1) / s + 1};
  return sm_gemm_packed(B * m.Ho * m.Wo, Co, k * k * Ci, pack_strided, &m, w, 0, y, nt);
}

/** dW (k,k,Ci,Co) of {@link sm_conv2d_strided} given x and dy (B,Ho,Wo,Co). */
int sm_conv2d_strided_filter_grad(int B, int H, int W, int Ci, int Co, int k, int s,
                                  const float *x, const float *dy, float *dw, int nthreads) {
  if (!strided_dims_ok(B, H, W, Ci, Co, k, s)) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  const Strided m = {x, B, H, W, Ci, k, s, (H - 1) / s + 1, (W - 1) / s + 1};
  return sm_gemm_packed(k * k * Ci, Co, B * m.Ho * m.Wo, pack_strided_t, &m, dy, 0, dw, nt);
}

/*
 * The input gradient by residue class: input rows iy ≡ ry (mod s) receive dy only through the
 * taps kh ≡ ry + p (mod s) (oy = (iy + p − kh)/s), and columns likewise, so each of the s²
 * classes is one gemm over its own taps, with no multiply by the zeros of the upsampled dy.
 */
typedef struct {
  const Strided *m; /* m->x is dy; H, W the input's sides */
  int ry, rx, nh, nw; /* the class, and its rows and columns per image */
  int th[16], tw[16], nth, ntw; /* its taps kh, kw, descending (the stride-1 route's order) */
} InputGradClass;

/* Rows = the class's input positions (b, i, j) (iy = ry + s·i, ix = rx + s·j), columns =
 * (tap, co): dy[b, (iy + p − kh)/s, (ix + p − kw)/s, co] (0 outside). */
static void pack_input_grad(const void *ctx, int i0, int h, int k0, int kc, float *dst) {
  const InputGradClass *g = ctx;
  const Strided *m = g->m;
  const int Co = m->C, p = (m->k - 1) / 2, per = g->nh * g->nw;
  int rb[MR], ry[MR], rx[MR];
  for (int r = 0; r < h; r++) {
    const int pos = i0 + r;
    rb[r] = pos / per;
    ry[r] = g->ry + m->s * (pos % per / g->nw) + p;
    rx[r] = g->rx + m->s * (pos % g->nw) + p;
  }
  for (int k = k0; k < k0 + kc;) {
    const int tap = k / Co, c0 = k % Co, n = (Co - c0 < k0 + kc - k) ? Co - c0 : k0 + kc - k;
    const int kh = g->th[tap / g->ntw], kw = g->tw[tap % g->ntw];
    float *d = dst + (size_t)(k - k0) * MR;
    for (int r = 0; r < MR; r++) {
      const int oy = r < h ? (ry[r] - kh) / m->s : -1, ox = r < h ? (rx[r] - kw) / m->s : -1;
      if (r < h && ry[r] >= kh && rx[r] >= kw && oy < m->Ho && ox < m->Wo) {
        const float *src = m->x + (((size_t)rb[r] * m->Ho + oy) * m->Wo + ox) * Co + c0;
        for (int j = 0; j < n; j++) d[(size_t)j * MR + r] = src[j];
      } else {
        for (int j = 0; j < n; j++) d[(size_t)j * MR + r] = 0.f;
      }
    }
    k += n;
  }
}

float *sm_scratch(int slot, size_t n); /* gemm.c */
#define SLOT_IG_B 48 /* the class's filter rows */
#define SLOT_IG_C 49 /* the class's gradient rows, before they are scattered into dx */

/** dx (B,H,W,Ci) of {@link sm_conv2d_strided} given dy (B,Ho,Wo,Co) and w (k,k,Ci,Co). */
int sm_conv2d_strided_input_grad(int B, int H, int W, int Ci, int Co, int k, int s,
                                 const float *dy, const float *w, float *dx, int nthreads) {
  if (!strided_dims_ok(B, H, W, Ci, Co, k, s) || k > 16) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  const int p = (k - 1) / 2;
  const Strided m = {dy, B, H, W, Co, k, s, (H - 1) / s + 1, (W - 1) / s + 1};
  for (int ry = 0; ry < s && ry < H; ry++) {
    for (int rx = 0; rx < s && rx < W; rx++) {
      InputGradClass g = {&m, ry, rx, (H - ry + s - 1) / s, (W - rx + s - 1) / s, {0}, {0}, 0, 0};
      for (int t = k - 1; t >= 0; t--) {
        if (((ry + p - t) % s + s) % s == 0) g.th[g.nth++] = t;
        if (((rx + p - t) % s + s) % s == 0) g.tw[g.ntw++] = t;
      }
      const int rows = B * g.nh * g.nw, K = g.nth * g.ntw * Co;
      float *cc = sm_scratch(SLOT_IG_C, (size_t)rows * Ci);
      if (!cc) return -2;
      if (K == 0) {
        memset(cc, 0, (size_t)rows * Ci * sizeof(float));
      } else {
        /* Bc[(tap, co)][ci] = w[kh, kw, ci, co]: the flipped, transposed filter's rows. */
        float *bc = sm_scratch(SLOT_IG_B, (size_t)K * Ci);
        if (!bc) return -2;
        for (int a = 0; a < g.nth; a++)
          for (int b = 0; b < g.ntw; b++) {
            const float *src = w + (size_t)(g.th[a] * k + g.tw[b]) * Ci * Co;
            float *dst = bc + (size_t)(a * g.ntw + b) * Co * Ci;
            for (int ci = 0; ci < Ci; ci++)
              for (int co = 0; co < Co; co++) dst[(size_t)co * Ci + ci] = src[(size_t)ci * Co + co];
          }
        const int rc = sm_gemm_packed(rows, Ci, K, pack_input_grad, &g, bc, 0, cc, nt);
        if (rc) return rc;
      }
      #pragma omp parallel for num_threads(nt) schedule(static)
      for (int r = 0; r < rows; r++) {
        const int b = r / (g.nh * g.nw), i = r % (g.nh * g.nw) / g.nw, j = r % g.nw;
        memcpy(dx + (((size_t)b * H + ry + s * i) * W + rx + s * j) * Ci, cc + (size_t)r * Ci,
               Ci * sizeof(float));
      }
    }
  }
  return 0;
}

/*
 * The filter flip of the stride-1 convolution's input gradient (lib/ops/grads.ts's FLIP_FILTER):
 * out[t] = w[k² − 1 − t] per tap t, each tap's (ci, co) plane transposed to (co, ci) when swap.
 * A copy, in 32 × 32 blocks so the transposed writes stay in cache; taps and blocks on every core.
 */
int sm_flip_filter(int k, int ci, int co, int swap, const float *w, float *out, int nthreads) {
  if (k <= 0 || ci <= 0 || co <= 0) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  const int taps = k * k, bi = (ci + 31) / 32;
  const size_t plane = (size_t)ci * co;
  #pragma omp parallel for num_threads(nt) collapse(2) schedule(static)
  for (int t = 0; t < taps; t++) {
    for (int ib = 0; ib < bi; ib++) {
      const float *src = w + (size_t)(taps - 1 - t) * plane;
      float *dst = out + (size_t)t * plane;
      const int i0 = ib * 32, i1 = i0 + 32 < ci ? i0 + 32 : ci;
      if (!swap) {
        memcpy(dst + (size_t)i0 * co, src + (size_t)i0 * co, (size_t)(i1 - i0) * co * sizeof(float));
        continue;
      }
      for (int o0 = 0; o0 < co; o0 += 32) {
        const int o1 = o0 + 32 < co ? o0 + 32 : co;
        for (int o = o0; o < o1; o++)
          for (int i = i0; i < i1; i++) dst[(size_t)o * ci + i] = src[(size_t)i * co + o];
      }
    }
  }
  return 0;
}
