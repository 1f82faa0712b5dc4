/*
 * 16-lane float vectors (GCC vector extensions: one zmm register with AVX-512, split into
 * AVX2/SSE halves elsewhere) and the vector exp shared by the selective scan
 * (selective_scan.c) and the fused block's SiLU gates (block.c). Scalar expf costs ~2 ns an
 * element here; the SiLUs of a MedMamba-T training step evaluate it ~25 million times.
 */
#ifndef SM_VMATH_H
#define SM_VMATH_H
#include <stdint.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

typedef float vf __attribute__((vector_size(64), aligned(64)));
typedef int32_t vi __attribute__((vector_size(64), aligned(64)));

static inline vf splat(float x) {
  vf v = {0};
  return v + x;
}

/*
 * Lane-wise compares, -1 where true. Without AVX-512, GCC 12 lowers a compare of two 64-byte
 * vectors to 16 scalar compares and cmovs through the stack (every exp clamps with two: the SS2D
 * core's forward took 1.8× as long on AVX2); two 32-byte compares of the halves vectorize. Same lanes, same
 * predicate (ordered: false on NaN), so the same bits either way.
 */
#if defined(__AVX512F__)
static inline vi gt_v(vf a, vf b) { return a > b; }
static inline vi lt_v(vf a, vf b) { return a < b; }
static inline vi eq_v(vf a, vf b) { return a == b; }
#else
typedef float vf8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));
static inline vf8 lo8(vf a) { return __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7); }
static inline vf8 hi8(vf a) { return __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15); }
static inline vi join8(vi8 l, vi8 h) {
  return __builtin_shufflevector(l, h, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}
static inline vi gt_v(vf a, vf b) { return join8(lo8(a) > lo8(b), hi8(a) > hi8(b)); }
static inline vi lt_v(vf a, vf b) { return join8(lo8(a) < lo8(b), hi8(a) < hi8(b)); }
static inline vi eq_v(vf a, vf b) { return join8(lo8(a) == lo8(b), hi8(a) == hi8(b)); }

/* The 8-lane forms of clamp_v, round_v and ldexp_v below (same operations lane by lane), for
 * loops that keep more vectors live than 16 ymm registers hold as 16-lane pairs (the scan). */
typedef float vf8a __attribute__((vector_size(32), may_alias)); /* a half of a vf in memory */
static inline vf8 splat8(float x) {
  vf8 v = {0};
  return v + x;
}
static inline vf8 select8(vi8 m, vf8 a, vf8 b) { return (vf8)((m & (vi8)a) | (~m & (vi8)b)); }
static inline vf8 clamp8(vf8 x, float lo, float hi) {
  const vf8 l = splat8(lo), h = splat8(hi);
  x = select8(x > l, x, l);
  return select8(x < h, x, h);
}
static inline vf8 round8(vf8 x) { return (x + 12582912.0f) - 12582912.0f; }
static inline vf8 ldexp8(vf8 p, vf8 k) {
  vi8 ki = __builtin_convertvector(k, vi8);
  return p * (vf8)((ki + 127) << 23);
}
#endif

static inline vf select_v(vi m, vf a, vf b) { return (vf)((m & (vi)a) | (~m & (vi)b)); }
static inline vf max_v(vf a, vf b) { return select_v(gt_v(a, b), a, b); }
static inline vf min_v(vf a, vf b) { return select_v(lt_v(a, b), a, b); }

/* 2^k * p for integral-valued k (as float) with |k| small enough after the callers' clamps. */
static inline vf ldexp_v(vf p, vf k) {
#ifdef __AVX512F__
  /* scalef is exact and saturates to 0 / inf by itself */
  return (vf)_mm512_scalef_ps((__m512)p, (__m512)k);
#else
  vi ki = __builtin_convertvector(k, vi);
  return p * (vf)((ki + 127) << 23);
#endif
}

/* Round to nearest integer (ties to even), as float. */
static inline vf round_v(vf x) {
#ifdef __AVX512F__
  return (vf)_mm512_roundscale_ps((__m512)x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#else
  return (x + 12582912.0f) - 12582912.0f; /* 1.5 * 2^23 trick, valid for |x| < 2^22 */
#endif
}

/* Without scalef, keep 2^k a normal float: results below 2^-126 become 2^-126 (1.2e-38),
 * far below float32 resolution of anything they are added to. */
static inline vf clamp_v(vf x, float lo, float hi) {
#ifdef __AVX512F__
  (void)lo;
  (void)hi;
  return x;
#else
  return min_v(max_v(x, splat(lo)), splat(hi));
#endif
}

/* exp with Cephes' expf polynomial and a two-constant ln 2 split (about 1 ulp); used per
 * (t, channel) for softplus and its derivative, where tiny results need relative precision. */
static inline vf exp_v(vf x) {
  x = clamp_v(x, -87.0f, 88.0f);
  const vf k = round_v(x * 1.44269504088896341f);
  vf r = x - k * 0.693359375f;
  r = r - k * -2.12194440e-4f;
  vf p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r;
  p = p + 1.0f;
  return ldexp_v(p, k);
}

/* SiLU(x) = x·σ(x) and its derivative σ(x)·(1 + x·(1 − σ(x))), lane-wise. */
static inline vf sigmoid_v(vf x) { return 1.0f / (exp_v(-x) + 1.0f); }
static inline vf silu_v(vf x) { return x * sigmoid_v(x); }
static inline vf dsilu_v(vf x) {
  const vf s = sigmoid_v(x);
  return s * (x * (1.0f - s) + 1.0f);
}
#endif
