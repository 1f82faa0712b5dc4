import * as tf from "@tensorflow/tfjs-core";
import { assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { type Gemm, type NativeConv, setNativeHooks } from "../lib/backends/wasm/hooks.ts";
import { loadNativeKernel } from "../lib/backends/wasm/native.ts";
import { selectScanKernel } from "../lib/backends/select.ts";

// The wasm overrides (Slice, SplitV, Concat, batched BatchMatMul) against the cpu backend's stock
// kernels on the same inputs.
async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<[number[][], number[][]]> {
  const run = async (backend: string) => {
    await setupBackend(backend);
    const out = f();
    const list = Array.isArray(out) ? out : [out];
    return list.map((t) => [...t.shape, -1, ...Array.from(t.dataSync())]);
  };
  return [await run("cpu"), await run("wasm")];
}

const data = (shape: number[], seed: number) =>
  tf.tensor(
    Float32Array.from({
      length: shape.reduce((a, b) => a * b, 1),
    }, (_, i) => Math.sin(i * 0.7 + seed)),
    shape,
  );

Deno.test("wasm Slice/SplitV/Concat/Sum/Mean/Identity/batched matmul overrides equal the cpu kernels", async () => {
  const cases: [string, () => tf.Tensor | tf.Tensor[]][] = [
    ["slice axis 0", () => tf.slice(data([4, 3, 5], 1), [1, 0, 0], [2, -1, -1])],
    ["slice inner box", () => tf.slice(data([2, 5, 6, 3], 2), [1, 1, 2, 0], [1, 3, 2, 2])],
    ["slice last axis", () => tf.slice(data([3, 4, 70], 3), [0, 0, 5], [3, 4, 64])],
    ["split last axis", () => tf.split(data([2, 3, 3, 8], 4), 2, 3)],
    ["split sizes axis 1", () => tf.split(data([2, 9, 5], 5), [1, 4, 4], 1)],
    ["concat last axis", () => tf.concat([data([2, 3, 4], 6), data([2, 3, 2], 7)], 2)],
    [
      "concat axis 1 (long runs)",
      () => tf.concat([data([2, 40, 4], 8), data([2, 30, 4], 9), data([2, 1, 4], 10)], 1),
    ],
    ["batched matmul", () => tf.matMul(data([3, 4, 5], 11), data([3, 5, 6], 12))],
    ["batched matmul, broadcast b", () => tf.matMul(data([3, 4, 5], 13), data([1, 5, 2], 14))],
    [
      "batched matmul, transposed",
      () => tf.matMul(data([2, 5, 4], 15), data([2, 6, 5], 16), true, true),
    ],
    ["sum leading 3 axes", () => tf.sum(data([3, 4, 5, 7], 17), [0, 1, 2])],
    ["sum axis 0, keepDims", () => tf.sum(data([6, 5], 18), 0, true)],
    ["sum axes given unsorted, negative", () => tf.sum(data([3, 4, 5], 19), [-2, 0])],
    ["sum inner axis (stock kernel)", () => tf.sum(data([3, 4, 5], 20), -1)],
    ["sum middle axis (stock kernel)", () => tf.sum(data([3, 4, 5], 21), 1)],
    ["mean leading axes, keepDims", () => tf.mean(data([2, 3, 4, 6], 22), [0, 1, 2], true)],
    ["sum int32 (stock kernel)", () => tf.sum(tf.tensor2d([1, 2, 3, 4], [2, 2], "int32"), 0)],
    ["identity", () => tf.clone(data([3, 5], 23))],
    [
      "gradient through saved clones",
      () => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.square(x), x)))(data([4, 3], 24)),
    ],
  ];
  for (const [name, f] of cases) {
    const [a, b] = await onBoth(f);
    assertEquals(a.length, b.length, name);
    a.forEach((v, i) => assertAllClose(b[i], v, 1e-6, 1e-6, `${name} [${i}]`));
  }
});

Deno.test({
  name:
    "wasm BatchMatMul through the native gemm equals the cpu kernel (transposes, broadcast, edges)",
  ignore: loadNativeKernel({ quiet: true }) === null,
  fn: async () => {
    await setupBackend("wasm");
    const k = selectScanKernel("native") as unknown as { gemm: Gemm };
    let calls = 0;
    // Counts calls, so the test fails if the kernel quietly falls back to XNNPACK.
    setNativeHooks({
      gemm: (...a: Parameters<Gemm>) => {
        calls++;
        k.gemm(...a);
      },
    });
    try {
      const cases: [string, () => tf.Tensor][] = [
        ["2-D, odd sizes", () => tf.matMul(data([37, 29], 1), data([29, 130], 2))],
        ["2-D, transposeA", () => tf.matMul(data([29, 37], 3), data([29, 130], 4), true, false)],
        ["2-D, transposeB", () => tf.matMul(data([37, 29], 5), data([130, 29], 6), false, true)],
        [
          "2-D, both transposed",
          () => tf.matMul(data([29, 64], 7), data([128, 29], 8), true, true),
        ],
        ["batched", () => tf.matMul(data([3, 40, 33], 9), data([3, 33, 64], 10))],
        ["batched, broadcast a", () => tf.matMul(data([1, 40, 33], 11), data([3, 33, 70], 12))],
        ["K over one k-block (300)", () => tf.matMul(data([19, 300], 13), data([300, 50], 14))],
        [
          "K over one k-block, transposeA",
          () => tf.matMul(data([600, 9], 15), data([600, 97], 16), true, false),
        ],
        // Enough rows for the tile-by-tile path (A packed one tile at a time).
        [
          "many row tiles, K over a k-block",
          () => tf.matMul(data([131, 300], 17), data([300, 50], 18)),
        ],
        [
          "many row tiles, transposeA",
          () => tf.matMul(data([300, 131], 19), data([300, 50], 20), true, false),
        ],
      ];
      for (const [name, f] of cases) {
        const [a, b] = await onBoth(f);
        a.forEach((v, i) => assertAllClose(b[i], v, 1e-4, 1e-5, `${name} [${i}]`));
      }
      assertEquals(calls, 14, "native gemm calls (one per matrix)");
    } finally {
      setNativeHooks({ gemm: null });
    }
  },
});

Deno.test({
  name: "wasm Conv2D and its filter gradient through native im2col + gemm equal the cpu backend",
  ignore: loadNativeKernel({ quiet: true }) === null,
  fn: async () => {
    await setupBackend("wasm");
    const k = selectScanKernel("native") as unknown as NativeConv;
    let fwd = 0, grad = 0;
    // Counts calls, so the test fails if the kernels quietly fall back to XNNPACK / TS.
    setNativeHooks({
      conv: {
        conv2dSame: (...a) => (fwd++, k.conv2dSame(...a)),
        conv2dSameFilterGrad: (...a) => (grad++, k.conv2dSameFilterGrad(...a)),
      },
    });
    try {
      const shapes: [number[], number, number][] = [
        [[2, 7, 5, 5], 3, 7],
        [[3, 6, 6, 50], 3, 49],
        [[1, 9, 4, 3], 5, 4],
        [[2, 5, 5, 6], 1, 10],
      ];
      for (const [xs, kk, co] of shapes) {
        const f = () => {
          const x = data(xs, kk), w = data([kk, kk, xs[3], co], co);
          const loss = (xx: tf.Tensor, ww: tf.Tensor) =>
            tf.sum(
              tf.mul(
                tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, "same"),
                data([...xs.slice(0, 3), co], 3),
              ),
            );
          const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, "same");
          const [dx, dw] = tf.grads(loss)([x, w]);
          return [y, dx, dw];
        };
        const [a, b] = await onBoth(f);
        a.forEach((v, i) => assertAllClose(b[i], v, 1e-4, 1e-4, `conv ${xs} k${kk} [${i}]`));
      }
      assertEquals(fwd >= 8, true, `native conv forward calls: ${fwd}`);
      assertEquals(grad, 4, "native filter-gradient calls");
    } finally {
      setNativeHooks({ conv: null, gemm: null });
    }
  },
});

Deno.test({
  name: "matMul gradients with transpose flags equal those of explicit transposes (wasm + native)",
  ignore: loadNativeKernel({ quiet: true }) === null,
  fn: async () => {
    await setupBackend("wasm");
    selectScanKernel("native");
    try {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
        for (const batch of [[], [3]]) {
          const as = ta ? [...batch, 70, 60] : [...batch, 60, 70];
          const bs = tb ? [...batch, 50, 70] : [...batch, 70, 50];
          const a = data(as, 1), b = data(bs, 2), w = data([...batch, 60, 50], 3);
          const T = (x: tf.Tensor) => tf.transpose(x, batch.length ? [0, 2, 1] : [1, 0]);
          const viaFlags = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
            tf.sum(tf.mul(tf.matMul(x, y, ta, tb), w))
          )([a, b]);
          const viaT = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
            tf.sum(tf.mul(tf.matMul(ta ? T(x) : x, tb ? T(y) : y), w))
          )([a, b]);
          viaFlags.forEach((g, i) =>
            assertAllClose(
              g.dataSync() as Float32Array,
              viaT[i].dataSync() as Float32Array,
              1e-4,
              1e-4,
              `transposeA ${ta} transposeB ${tb} batch ${batch} grad ${i}`,
            )
          );
        }
      }
    } finally {
      setNativeHooks({ conv: null, gemm: null });
    }
  },
});

Deno.test({
  name:
    "native gemm, convolution and normalisation give bitwise the same result on 1 and 2 threads",
  ignore: loadNativeKernel({ quiet: true }) === null,
  fn: () => {
    const one = loadNativeKernel({ threads: 1, quiet: true })!;
    const two = loadNativeKernel({ threads: 2, quiet: true })!;
    const arr = (n: number, seed: number) =>
      Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
    const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer));
    const [M, N, K] = [203, 97, 700];
    const A = arr(K * M, 1), B = arr(K * N, 2);
    const c1 = new Float32Array(M * N), c2 = new Float32Array(M * N);
    one.gemm(M, N, K, A, true, B, false, c1);
    two.gemm(M, N, K, A, true, B, false, c2);
    assertEquals(bits(c1), bits(c2), "gemm");
    const d = { batch: 3, height: 9, width: 7, inC: 20, outC: 52, k: 3 };
    const x = arr(3 * 9 * 7 * 20, 3), w = arr(9 * 20 * 52, 4), dy = arr(3 * 9 * 7 * 52, 5);
    const y1 = new Float32Array(dy.length), y2 = new Float32Array(dy.length);
    one.conv2dSame(d, x, w, y1);
    two.conv2dSame(d, x, w, y2);
    assertEquals(bits(y1), bits(y2), "conv forward");
    const g1 = new Float32Array(w.length), g2 = new Float32Array(w.length);
    one.conv2dSameFilterGrad(d, x, dy, g1);
    two.conv2dSameFilterGrad(d, x, dy, g2);
    assertEquals(bits(g1), bits(g2), "conv filter gradient");
    for (const mode of ["row", "col"] as const) {
      const C = 52, xs = arr(300 * C, 6), gam = arr(C, 7), bet = arr(C, 8), dyn = arr(300 * C, 9);
      const outs = [one, two].map((k) => {
        const y = new Float32Array(xs.length), G = mode === "row" ? 300 : C;
        const mu = new Float32Array(G), v = new Float32Array(G), rs = new Float32Array(G);
        k.norm.forward(C, mode, 1e-5, xs, gam, bet, y, mu, v, rs);
        const dx = new Float32Array(xs.length), dg = new Float32Array(C), db = new Float32Array(C);
        k.norm.backward(C, mode, dyn, xs, gam, mu, rs, dx, dg, db);
        return [y, mu, v, rs, dx, dg, db].map(bits);
      });
      assertEquals(outs[0], outs[1], `norm ${mode}`);
    }
  },
});
