/*
 * Stride-1 SAME convolutions (NHWC, odd square k×k filters) as im2col + the packed gemm, for the
 * wasm backend's Conv2D and the filter gradient. XNNPACK's convolutions run on one thread with
 * 128-bit vectors; these run on every core at full vector width. The im2col matrix lives in a
 * per-thread scratch buffer, so no allocation reaches JavaScript.
 */
#include <string.h>
#include <omp.h>

int sm_gemm(int M, int N, int K, const float *A, int transA, const float *B, int transB,
            float *C, int nthreads);

float *sm_scratch(int slot, size_t n); /* gemm.c */
#define IM2COL_SLOT 2

/* Row (b, y, x), column (kh·k + kw)·C + c = x[b, y + kh − p, x + kw − p, c], 0 outside. */
static void im2col(const float *x, int B, int H, int W, int C, int k, float *col, int nt) {
  const int p = (k - 1) / 2;
  const size_t rowLen = (size_t)k * k * C;
  #pragma omp parallel for num_threads(nt) schedule(static)
  for (int by = 0; by < B * H; by++) {
    const int b = by / H, y = by % H;
    for (int xx = 0; xx < W; xx++) {
      float *row = col + ((size_t)by * W + xx) * rowLen;
      for (int kh = 0; kh < k; kh++) {
        const int sy = y + kh - p;
        for (int kw = 0; kw < k; kw++) {
          const int sx = xx + kw - p;
          float *dst = row + (size_t)(kh * k + kw) * C;
          if (sy < 0 || sy >= H || sx < 0 || sx >= W) memset(dst, 0, (size_t)C * sizeof(float));
          else memcpy(dst, x + (((size_t)b * H + sy) * W + sx) * C, (size_t)C * sizeof(float));
        }
      }
    }
  }
}

/** y (B,H,W,Co) = conv(x (B,H,W,Ci), w (k,k,Ci,Co)), stride 1, SAME. */
int sm_conv2d_same(int B, int H, int W, int Ci, int Co, int k, const float *x, const float *w,
                   float *y, int nthreads) {
  if (B <= 0 || H <= 0 || W <= 0 || Ci <= 0 || Co <= 0 || k <= 0 || k % 2 == 0) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  if (k == 1) return sm_gemm(B * H * W, Co, Ci, x, 0, w, 0, y, nt);
  float *col = sm_scratch(IM2COL_SLOT, (size_t)B * H * W * k * k * Ci);
  if (!col) return -2;
  im2col(x, B, H, W, Ci, k, col, nt);
  return sm_gemm(B * H * W, Co, k * k * Ci, col, 0, w, 0, y, nt);
}

/** dW (k,k,Ci,Co) = im2col(x)ᵀ · dy (B·H·W, Co), for y = conv(x, W) stride 1, SAME. */
int sm_conv2d_same_filter_grad(int B, int H, int W, int Ci, int Co, int k, const float *x,
                               const float *dy, float *dw, int nthreads) {
  if (B <= 0 || H <= 0 || W <= 0 || Ci <= 0 || Co <= 0 || k <= 0 || k % 2 == 0) return -1;
  const int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
  if (k == 1) return sm_gemm(Ci, Co, B * H * W, x, 1, dy, 0, dw, nt);
  float *col = sm_scratch(IM2COL_SLOT, (size_t)B * H * W * k * k * Ci);
  if (!col) return -2;
  im2col(x, B, H, W, Ci, k, col, nt);
  return sm_gemm(k * k * Ci, Co, B * H * W, col, 1, dy, 0, dw, nt);
}
