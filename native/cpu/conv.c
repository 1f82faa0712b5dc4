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
      if (src) memcpy(d, src + c0, h * sizeof(float));
      else memset(d, 0, h * sizeof(float));
      for (int r = h; r < MR; r++) d[r] = 0.f;
    }
    return;
  }
  for (int k = 0; k < kc; k++, pos_next(m, &q)) {
    float *d = dst + (size_t)k * MR;
    for (int r = 0; r < MR; r++) {
      const int tap = (i0 + r) / C;
      const float *src = r < h ? shifted(m, q, tap / m->k - p, tap % m->k - p) : NULL;
      d[r] = src ? src[(i0 + r) % C] : 0.f;
    }
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
