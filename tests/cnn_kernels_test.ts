/**
 * The native gemm and convolutions as the CNNs (ConvNet, ResNet-18) use them, on each of the
 * gemm's loop orders (native/cpu/gemm.c: tile-outer with B packed whole, k-block-outer with B
 * packed a k-block at a time, and the few-tile variants of both): against the stock cpu backend
 * (tf.matMul, tf.conv2d and its gradient there), bitwise across loop orders and thread counts,
 * and bitwise from one call to the next. And ResNet's strided convolution (native at stride 2
 * on wasm): bitwise equal to the stride-1-and-subsample route it replaces, forward and both
 * gradients, and to the cpu backend to rounding. And the native max-pooling gradient: bitwise
 * equal to the TypeScript kernel it speeds up (itself bitwise equal to tfjs's cpu kernel,
 * tests/max_pool_grad_test.ts), ties, NaN and −∞ included; the native filter flip and leaky
 * ReLU, bitwise equal to the loops and stock kernel they replace.
 */
import * as tf from "@tensorflow/tfjs-core";
import { assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { type NativeConv, setNativeHooks } from "../lib/backends/wasm/hooks.ts";
import { loadNativeKernel } from "../lib/backends/wasm/native.ts";
import { selectScanKernel } from "../lib/backends/select.ts";
import { convStrided, subsample2 } from "../lib/model/resnet.ts";
import { maxPoolGradInto, poolGeometry } from "../lib/backends/wasm/kernels/max_pool_grad.ts";
import { flipFilterInto } from "../lib/ops/grads.ts";

const noNative = loadNativeKernel({ quiet: true }) === null;

const arr = (n: number, seed: number): Float32Array =>
  Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
const bits = (a: Float32Array): number[] =>
  Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/**
 * Gemm shapes [M, N, K] and the loop order each takes on 1 and 2 threads (gemm.c's
 * k_block_outer and tile count rules), so every order is checked.
 */
const GEMMS: [number, number, number, string][] = [
  [203, 97, 300, "tile-outer, B packed whole"],
  [72, 50, 9000, "tile path, k-block-outer (a filter gradient's shape)"],
  [20, 70, 100, "few tiles, B packed whole"],
  [33, 130, 2000, "few tiles, k-block-outer (a dense layer's shape at a small batch)"],
  [32, 300, 700, "few tiles, k-block-outer, N past six panels"],
  [1, 1, 1, "1 × 1 × 1"],
  [9, 49, 257, "one row past a tile, one column past a panel, one k past a block"],
  // Tile-outer whole, while its first 8 rows alone take the k-block-outer order.
  [1500, 48, 1500, "tile-outer, B of 288 KiB"],
];

/** The cpu backend's op(A)·op(B), as a flat array. */
async function cpuMatMul(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  ta: boolean,
  B: Float32Array,
  tb: boolean,
): Promise<Float32Array> {
  await setupBackend("cpu");
  return tf.tidy(() => {
    const a = tf.tensor2d(A, ta ? [K, M] : [M, K]), b = tf.tensor2d(B, tb ? [N, K] : [K, N]);
    return tf.matMul(a, b, ta, tb).dataSync() as Float32Array;
  });
}

Deno.test({
  name: "native gemm equals the cpu backend's matMul on every loop order and transpose",
  ignore: noNative,
  fn: async () => {
    const k = loadNativeKernel({ threads: 2, quiet: true })!;
    for (const [M, N, K, what] of GEMMS) {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        const A = arr(M * K, M + 1), B = arr(K * N, N + 2);
        const C = new Float32Array(M * N);
        k.gemm(M, N, K, A, ta, B, tb, C);
        const ref = await cpuMatMul(M, N, K, A, ta, B, tb);
        // Sums of up to 9,000 terms of size ≤ 1 in float32, in another order than the cpu's.
        assertAllClose(C, ref, 1e-4, 2e-3, `${M}×${N}×${K} (${what}) transA ${ta} transB ${tb}`);
      }
    }
  },
});

Deno.test({
  name: "native gemm: the same bits on 1 and 2 threads, twice, and whatever loop order a row takes",
  ignore: noNative,
  fn: () => {
    const one = loadNativeKernel({ threads: 1, quiet: true })!;
    const two = loadNativeKernel({ threads: 2, quiet: true })!;
    for (const [M, N, K, what] of GEMMS) {
      const A = arr(M * K, 3), B = arr(K * N, 4);
      const runs = [one, two, two].map((g) => {
        const C = new Float32Array(M * N);
        g.gemm(M, N, K, A, false, B, false, C);
        return bits(C);
      });
      assertEquals(runs[1], runs[0], `${M}×${N}×${K} (${what}): 2 threads vs 1`);
      assertEquals(runs[2], runs[1], `${M}×${N}×${K} (${what}): twice`);
      // The first 8 rows alone are one tile: the few-tile order, whichever the whole took.
      if (M > 8) {
        const C8 = new Float32Array(8 * N);
        one.gemm(8, N, K, A.subarray(0, 8 * K), false, B, false, C8);
        assertEquals(bits(C8), runs[0].slice(0, 8 * N), `${M}×${N}×${K} (${what}): rows 0–7`);
      }
    }
  },
});

/** Convolutions [x shape, k, out channels]: the CNNs' kinds, at test sizes, odd sides included. */
const CONVS: [number[], number, number, string][] = [
  [[4, 31, 29, 3], 5, 32, "ConvNet's conv11: 5×5 on 3 channels (taps span a tile)"],
  [[2, 23, 21, 3], 7, 16, "ResNet's 7×7 stem on 3 channels"],
  [[3, 17, 15, 40], 3, 33, "3×3, odd channels"],
  [[2, 9, 7, 64], 3, 64, "3×3, 64 channels"],
  [[8, 16, 16, 8], 3, 8, "3×3, long filter-gradient sum (k-block-outer)"],
];

Deno.test({
  name:
    "wasm Conv2D and its filter and input gradients (native) equal the cpu backend on CNN shapes",
  ignore: noNative,
  fn: async () => {
    await setupBackend("wasm");
    const k = selectScanKernel("native") as unknown as NativeConv;
    let fwd = 0, grad = 0;
    // Counts calls, so the test fails if the kernels quietly fall back to XNNPACK / TypeScript.
    setNativeHooks({
      conv: {
        conv2dSame: (...a) => (fwd++, k.conv2dSame(...a)),
        conv2dSameFilterGrad: (...a) => (grad++, k.conv2dSameFilterGrad(...a)),
      },
    });
    try {
      for (const [xs, kk, co, what] of CONVS) {
        const f = () => {
          const x = tf.tensor4d(
            arr(xs.reduce((a, b) => a * b), kk),
            xs as [
              number,
              number,
              number,
              number,
            ],
          );
          const w = tf.tensor4d(arr(kk * kk * xs[3] * co, co), [kk, kk, xs[3], co]);
          const r = tf.tensor4d(arr(xs[0] * xs[1] * xs[2] * co, 7), [xs[0], xs[1], xs[2], co]);
          const loss = (xx: tf.Tensor, ww: tf.Tensor) =>
            tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, "same"), r));
          const y = tf.conv2d(x, w, 1, "same");
          const [dx, dw] = tf.grads(loss)([x, w]);
          return [y, dx, dw].map((t) => t.dataSync() as Float32Array);
        };
        await setupBackend("cpu");
        const ref = f();
        await setupBackend("wasm");
        const got = f();
        ["forward", "input gradient", "filter gradient"].forEach((name, i) =>
          assertAllClose(got[i], ref[i], 1e-4, 2e-3, `${what} ${xs} k${kk}→${co}: ${name}`)
        );
      }
      // Per case: the forward, the loss's forward again, and the input gradient (a convolution).
      assertEquals(fwd, 3 * CONVS.length, "native conv forward calls");
      assertEquals(grad, CONVS.length, "native filter-gradient calls");
    } finally {
      setNativeHooks({ conv: null, gemm: null });
    }
  },
});

Deno.test({
  name: "native convolutions: the same bits on 1 and 2 threads and twice (CNN shapes)",
  ignore: noNative,
  fn: () => {
    const one = loadNativeKernel({ threads: 1, quiet: true })!;
    const two = loadNativeKernel({ threads: 2, quiet: true })!;
    for (const [[b, h, w, ci], kk, co, what] of CONVS) {
      const d = { batch: b, height: h, width: w, inC: ci, outC: co, k: kk };
      const x = arr(b * h * w * ci, 1), f = arr(kk * kk * ci * co, 2), dy = arr(b * h * w * co, 3);
      const runs = [one, two, two].map((n) => {
        const y = new Float32Array(dy.length), dw = new Float32Array(f.length);
        n.conv2dSame(d, x, f, y);
        n.conv2dSameFilterGrad(d, x, dy, dw);
        return [bits(y), bits(dw)];
      });
      assertEquals(runs[1], runs[0], `${what}: 2 threads vs 1`);
      assertEquals(runs[2], runs[1], `${what}: twice`);
    }
  },
});

/** Strided convolutions [x shape, k, out channels]: ResNet's kinds, odd sides included. */
const STRIDED: [number[], number, number, string][] = [
  [[2, 13, 12, 3], 7, 8, "the ImageNet stem's 7×7 on 3 channels"],
  [[2, 9, 7, 5], 3, 6, "3×3, odd sides"],
  [[3, 8, 8, 16], 3, 32, "3×3, a stage's first conv"],
  [[1, 5, 6, 4], 5, 3, "5×5, fewer outputs than inputs"],
];

const tensor4 = (shape: number[], seed: number): tf.Tensor4D =>
  tf.tensor4d(arr(shape.reduce((a, b) => a * b), seed), shape as [number, number, number, number]);

/** y, dx, dW of `conv` (x, w) under a fixed random readout, as flat arrays. */
function convAndGrads(
  conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  xs: number[],
  kk: number,
  co: number,
): Float32Array[] {
  return tf.tidy(() => {
    const x = tensor4(xs, 1), w = tensor4([kk, kk, xs[3], co], 2);
    const y = conv(x, w);
    const r = tensor4(y.shape, 3);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), r))
    )([x, w]);
    return [y, dx, dw].map((t) => t.dataSync() as Float32Array);
  });
}

Deno.test({
  name:
    "ResNet's stride-2 convolution (native on wasm) equals the stride-1 route bitwise and the cpu backend",
  ignore: noNative,
  fn: async () => {
    await setupBackend("wasm");
    const k = selectScanKernel("native") as unknown as Required<NativeConv>;
    const calls = { fwd: 0, filter: 0, input: 0 };
    // Counts calls, so the test fails if convStrided quietly takes the stride-1 route.
    setNativeHooks({
      conv: {
        ...k,
        conv2dSame: (...a) => k.conv2dSame(...a),
        conv2dSameFilterGrad: (...a) => k.conv2dSameFilterGrad(...a),
        conv2dStrided: (...a) => (calls.fwd++, k.conv2dStrided(...a)),
        conv2dStridedFilterGrad: (...a) => (calls.filter++, k.conv2dStridedFilterGrad(...a)),
        conv2dStridedInputGrad: (...a) => (calls.input++, k.conv2dStridedInputGrad(...a)),
      },
    });
    const strided = (x: tf.Tensor4D, w: tf.Tensor4D) => convStrided(x, w, 2);
    const viaStride1 = (x: tf.Tensor4D, w: tf.Tensor4D) => subsample2(tf.conv2d(x, w, 1, "same"));
    try {
      for (const [xs, kk, co, what] of STRIDED) {
        await setupBackend("wasm");
        const got = convAndGrads(strided, xs, kk, co);
        const route = convAndGrads(viaStride1, xs, kk, co);
        await setupBackend("cpu");
        const ref = convAndGrads(strided, xs, kk, co);
        ["forward", "input gradient", "filter gradient"].forEach((name, i) => {
          assertEquals(bits(got[i]), bits(route[i]), `${what}: ${name} vs the stride-1 route`);
          assertAllClose(got[i], ref[i], 1e-4, 1e-3, `${what}: ${name} vs the cpu backend`);
        });
      }
      // Per case: the forward twice (value, then inside tf.grads), one of each gradient.
      const n = STRIDED.length;
      assertEquals(calls, { fwd: 2 * n, filter: n, input: n }, "native strided calls");
    } finally {
      setNativeHooks({ conv: null, gemm: null });
    }
  },
});

Deno.test({
  name: "native strided convolutions: the same bits on 1 and 2 threads and twice",
  ignore: noNative,
  fn: () => {
    const one = loadNativeKernel({ threads: 1, quiet: true })!;
    const two = loadNativeKernel({ threads: 2, quiet: true })!;
    for (const [[b, h, w, ci], kk, co, what] of STRIDED) {
      const d = { batch: b, height: h, width: w, inC: ci, outC: co, k: kk };
      const ho = Math.floor((h - 1) / 2) + 1, wo = Math.floor((w - 1) / 2) + 1;
      const x = arr(b * h * w * ci, 1),
        f = arr(kk * kk * ci * co, 2),
        dy = arr(b * ho * wo * co, 3);
      const runs = [one, two, two].map((n) => {
        const y = new Float32Array(dy.length), dw = new Float32Array(f.length);
        const dx = new Float32Array(x.length);
        n.conv2dStrided(d, 2, x, f, y);
        n.conv2dStridedFilterGrad(d, 2, x, dy, dw);
        n.conv2dStridedInputGrad(d, 2, dy, f, dx);
        return [bits(y), bits(dw), bits(dx)];
      });
      assertEquals(runs[1], runs[0], `${what}: 2 threads vs 1`);
      assertEquals(runs[2], runs[1], `${what}: twice`);
    }
  },
});

/** Poolings [x shape, filter, stride, pad]: the CNNs' (2×2 / 2 valid, odd sides; 3×3 / 2 pad 1). */
const POOLS: [number[], number, number, "valid" | "same" | number, string][] = [
  [[3, 15, 13, 5], 2, 2, "valid", "ConvNet's 2×2 / 2, odd sides dropped"],
  [[2, 17, 16, 7], 3, 2, 1, "the ImageNet stem's 3×3 / 2 padding 1 (overlapping)"],
  [[2, 8, 8, 4], 3, 1, "same", "3×3 / 1 SAME (each input in up to 9 windows)"],
];

/** x with ties (values repeat), a NaN, a −∞ run and an all −∞ window. */
function poolInput(shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b);
  const x = Float32Array.from({ length: n }, (_, i) => Math.round(4 * Math.sin(i * 1.3)) / 4);
  x[5] = NaN;
  const c = shape[3];
  for (let i = 0; i < 4 * c; i++) x[shape[2] * c * 2 + i] = -Infinity;
  return x;
}

Deno.test({
  name: "native MaxPoolGrad equals the TypeScript kernel bit for bit, on 1 and 2 threads",
  ignore: noNative,
  fn: () => {
    const one = loadNativeKernel({ threads: 1, quiet: true })!;
    const two = loadNativeKernel({ threads: 2, quiet: true })!;
    for (const [xs, f, s, pad, what] of POOLS) {
      const g = poolGeometry(xs, { filterSize: f, strides: s, pad });
      const x = poolInput(xs);
      const dy = arr(g.batch * g.outHeight * g.outWidth * g.channels, 5);
      const ts = new Float32Array(x.length);
      maxPoolGradInto(g, x, dy, ts);
      for (const [name, n] of [["1 thread", one], ["2 threads", two]] as const) {
        const dx = new Float32Array(x.length).fill(7); // every element must be written
        n.maxPoolGrad(g, x, dy, dx);
        assertEquals(bits(dx), bits(ts), `${what}: ${name}`);
      }
    }
  },
});

Deno.test({
  name:
    "wasm MaxPoolGrad (native) equals the cpu backend's bit for bit through tf.maxPool's gradient",
  ignore: noNative,
  fn: async () => {
    await setupBackend("wasm");
    const k = selectScanKernel("native") as unknown as Required<NativeConv>;
    let calls = 0;
    setNativeHooks({ conv: { ...k, maxPoolGrad: (...a) => (calls++, k.maxPoolGrad(...a)) } });
    try {
      for (const [xs, f, s, pad, what] of POOLS) {
        const run = () =>
          tf.tidy(() => {
            const x = tf.tensor4d(poolInput(xs), xs as [number, number, number, number]);
            const y = tf.maxPool(x, f, s, pad);
            const r = tensor4(y.shape, 6);
            const dx = tf.grad((a: tf.Tensor) =>
              tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, f, s, pad), r))
            )(x);
            return dx.dataSync() as Float32Array;
          });
        await setupBackend("cpu");
        const ref = run();
        await setupBackend("wasm");
        assertEquals(bits(run()), bits(ref), what);
      }
      assertEquals(calls, POOLS.length, "native MaxPoolGrad calls");
    } finally {
      setNativeHooks({ conv: null, gemm: null });
    }
  },
});

Deno.test({
  name: "native filter flip (the input gradient's) equals the TypeScript loop bit for bit",
  ignore: noNative,
  fn: () => {
    const two = loadNativeKernel({ threads: 2, quiet: true })!;
    for (const [k, ci, co] of [[3, 33, 70], [7, 3, 64], [1, 5, 2], [3, 64, 64]]) {
      const w = arr(k * k * ci * co, k + ci);
      for (const swap of [false, true]) {
        const ts = new Float32Array(w.length), nat = new Float32Array(w.length).fill(7);
        flipFilterInto(w, ts, k, ci, co, swap);
        two.flipFilter(k, ci, co, swap, w, nat);
        assertEquals(bits(nat), bits(ts), `k ${k} ci ${ci} co ${co} swap ${swap}`);
      }
    }
  },
});

Deno.test({
  name: "wasm LeakyRelu (native, both cores) equals the stock wasm kernel bit for bit",
  ignore: noNative,
  fn: async () => {
    await setupBackend("wasm");
    const k = selectScanKernel("native") as unknown as Required<NativeConv>;
    const n = 70_001; // above the native threshold, odd
    const x = Float32Array.from(
      { length: n },
      (_, i) => 3 * Math.sin(i * 0.91) * 10 ** (i % 7 - 3),
    );
    x.set([0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, -3.4e38], 0);
    const run = () => tf.tidy(() => tf.leakyRelu(tf.tensor1d(x), 0.01).dataSync() as Float32Array);
    let calls = 0;
    setNativeHooks({ conv: { ...k, leakyRelu: (...a) => (calls++, k.leakyRelu(...a)) } });
    try {
      const native = run();
      setNativeHooks({ conv: null });
      const stock = run();
      assertEquals(bits(native), bits(stock), "native vs stock LeakyRelu");
      assertEquals(calls, 1, "native LeakyRelu calls");
    } finally {
      setNativeHooks({ conv: null, gemm: null });
    }
  },
});

Deno.test({
  name: "LeakyRelu gradient on wasm (native, else the TS loop) equals tfjs-core's bit for bit",
  ignore: noNative,
  fn: async () => {
    await setupBackend("wasm");
    const k = selectScanKernel("native") as unknown as Required<NativeConv>;
    for (const n of [70_001, 999]) { // above and below the native threshold
      const x = Float32Array.from(
        { length: n },
        (_, i) => 3 * Math.sin(i * 0.91) * 10 ** (i % 7 - 3),
      );
      const dy = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.37) * 10 ** (i % 5 - 2));
      x.set([0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, -3.4e38, 2], 0);
      dy.set([1, 2, 3, 4, 5, 6, 7, 8, NaN], 0);
      const ours = () =>
        tf.tidy(() =>
          tf.grad((t: tf.Tensor) => tf.leakyRelu(t, 0.01))(tf.tensor1d(x), tf.tensor1d(dy))
            .dataSync() as Float32Array
        );
      // tfjs-core's gradient, written out (LeakyRelu_grad.ts)
      const stock = tf.tidy(() => {
        const g = tf.tensor1d(dy);
        return tf.where(tf.greater(tf.tensor1d(x), 0), g, tf.mul(g, 0.01))
          .dataSync() as Float32Array;
      });
      let calls = 0;
      setNativeHooks({ conv: { ...k, leakyReluGrad: (...a) => (calls++, k.leakyReluGrad(...a)) } });
      try {
        assertEquals(bits(ours()), bits(stock), `n ${n}: native library loaded`);
        assertEquals(calls, n >= 1 << 16 ? 1 : 0, `n ${n}: native gradient calls`);
        setNativeHooks({ conv: null });
        assertEquals(bits(ours()), bits(stock), `n ${n}: TypeScript loop`);
      } finally {
        setNativeHooks({ conv: null, gemm: null });
      }
    }
  },
});
