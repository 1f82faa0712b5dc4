// The depthwise 3×3 (k×k) convolution of SS2D on the device, NHWC, stride 1, SAME padding:
//   y[b, h, w, c] = Σ_{i, j} x[b, h + i − p, w + j − p, c] · f[i, j, c]   (p = (k − 1)/2)
// one thread per output, taps in (i, j) order. Its gradients come from lib/ops/grads.ts as a
// depthwise convolution with the flipped filter (dx) and products and sums (dW). The dense
// convolutions run as im2col (strided copies) + gemm from lib/backends/cuda/kernels/conv.ts.
// Part of native/cuda/starmamba_cuda.cu.
#pragma once

namespace smc {

__global__ void depthwise_kernel(int B, int H, int W, int C, int k, const float* x,
                                 const float* f, float* y) {
  const size_t n = (size_t)B * H * W * C;
  const int p = (k - 1) / 2;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
       i += (size_t)gridDim.x * blockDim.x) {
    const int c = (int)(i % C);
    size_t rest = i / C;
    const int w = (int)(rest % W);
    rest /= W;
    const int h = (int)(rest % H);
    const int b = (int)(rest / H);
    float acc = 0.f;
    for (int di = 0; di < k; ++di) {
      const int sh = h + di - p;
      if (sh < 0 || sh >= H) continue;
      for (int dj = 0; dj < k; ++dj) {
        const int sw = w + dj - p;
        if (sw < 0 || sw >= W) continue;
        acc += x[(((size_t)b * H + sh) * W + sw) * C + c] * f[((size_t)di * k + dj) * C + c];
      }
    }
    y[i] = acc;
  }
}

}  // namespace smc

extern "C" {

/** Depthwise k×k convolution, NHWC, stride 1, SAME; f is (k, k, C, 1). */
int smc_depthwise(int B, int H, int W, int C, int k, const float* x, const float* f, float* y) {
  if (B < 0 || H < 0 || W < 0 || C < 0 || k < 1 || k % 2 == 0) {
    smc::set_error("depthwise: B %d H %d W %d C %d k %d (k odd)", B, H, W, C, k);
    return smc::kErrInvalid;
  }
  const size_t n = (size_t)B * H * W * C;
  if (n == 0) return smc::kOk;
  return smc::launched(sm::launch_flat(smc::depthwise_kernel, smc::flat_grid(n),
                                       dim3(smc::kFlatThreads), B, H, W, C, k, x, f, y),
                       "depthwise conv");
}

}  // extern "C"
