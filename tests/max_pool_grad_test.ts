/**
 * The wasm backend's MaxPoolGrad (lib/backends/wasm/kernels/max_pool_grad.ts), which replaces
 * tfjs-backend-wasm 4.22's: on the shapes where the stock kernel drops part of the gradient,
 * tf.grad of tf.maxPool on wasm equals the cpu backend's bit for bit, a by-hand reference of
 * the first-maximum rule, and central finite differences of the pooled sum.
 */
import * as tf from "@tensorflow/tfjs-core";
import { assert, assertAllClose } from "../lib/util/assert.ts";
import { openRuntime } from "../lib/backends/runtime.ts";
import { rng } from "../lib/util/rng.ts";

type Pad = "valid" | "same" | number;

/** A pooling: input shape, window, stride, padding, and the padding before row/column 0. */
interface Case {
  shape: [number, number, number, number];
  k: number;
  stride: number;
  pad: Pad;
  /** The rows/columns of padding before the first (tfjs's padInfo.top/left for this case). */
  before: number;
}

// The shapes on which tfjs-backend-wasm 4.22's MaxPoolGrad was seen to be wrong (the ConvNet's
// 2×2 / 2, a 3×3 / 1 SAME, ResNet's ImageNet stem 3×3 / 2 padding 1), and two odd sides.
const CASES: Case[] = [
  { shape: [1, 4, 4, 2], k: 2, stride: 2, pad: "valid", before: 0 },
  { shape: [1, 8, 8, 1], k: 2, stride: 2, pad: "valid", before: 0 },
  { shape: [2, 8, 8, 4], k: 3, stride: 1, pad: "same", before: 1 },
  { shape: [2, 32, 32, 64], k: 3, stride: 2, pad: 1, before: 1 },
  { shape: [3, 7, 5, 3], k: 2, stride: 2, pad: "valid", before: 0 },
  { shape: [2, 9, 11, 5], k: 3, stride: 2, pad: 1, before: 1 },
];

const label = (c: Case, data: string) =>
  `${c.shape.join("×")} ${c.k}×${c.k}/${c.stride} pad ${c.pad} (${data})`;

/** Standard normal values from a seeded stream; `relu` zeroes the negatives (ties at 0). */
function normals(n: number, seed: number, relu = false): Float32Array {
  const r = rng(seed, "max-pool");
  return Float32Array.from({ length: n }, () => {
    const v = r.normal();
    return relu ? Math.max(0, v) : v;
  });
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function outShape(c: Case): [number, number, number, number] {
  return tf.tidy(() => tf.maxPool(tf.zeros(c.shape) as tf.Tensor4D, c.k, c.stride, c.pad).shape);
}

/** The gradient of Σ maxPool(x)·dy with respect to x on the active backend. */
function poolGrad(c: Case, x: Float32Array, dy: Float32Array): Float32Array {
  return tf.tidy(() => {
    const w = tf.tensor(dy, outShape(c));
    const f = (t: tf.Tensor) =>
      tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, c.k, c.stride, c.pad), w));
    return tf.grad(f)(tf.tensor4d(x, c.shape)).dataSync() as Float32Array;
  });
}

/** By hand: each dy goes to the first strict maximum of its window in row-major order. */
function reference(c: Case, x: Float32Array, dy: Float32Array): Float64Array {
  const [b, h, w, ch] = c.shape, [, ho, wo] = outShape(c);
  const dx = new Float64Array(x.length);
  for (let n = 0; n < b; n++) {
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        for (let d = 0; d < ch; d++) {
          let best = -Infinity, at = -1;
          for (let di = 0; di < c.k; di++) {
            for (let dj = 0; dj < c.k; dj++) {
              const r = i * c.stride + di - c.before, q = j * c.stride + dj - c.before;
              if (r < 0 || r >= h || q < 0 || q >= w) continue;
              const idx = ((n * h + r) * w + q) * ch + d;
              if (x[idx] > best) [best, at] = [x[idx], idx];
            }
          }
          dx[at] += dy[((n * ho + i) * wo + j) * ch + d];
        }
      }
    }
  }
  return dx;
}

/** Σ maxPool(x)·dy in float64 (the pooled values are exact: a maximum rounds nothing). */
function pooledSum(c: Case, x: Float32Array, dy: Float32Array): number {
  const y = tf.tidy(() => tf.maxPool(tf.tensor4d(x, c.shape), c.k, c.stride, c.pad).dataSync());
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * dy[i];
  return s;
}

const openCpu = () =>
  openRuntime({ backend: "cpu", model: { scan_kernel: "loop" } }, { quiet: true });
const openWasm = () =>
  openRuntime({ backend: "wasm", model: { scan_kernel: "auto" } }, { quiet: true });

Deno.test("wasm MaxPoolGrad equals the cpu kernel bit for bit and the first-maximum rule by hand (ties included) on the shapes tfjs-backend-wasm 4.22 gets wrong", async () => {
  const inputs = CASES.flatMap((c) =>
    [1, 2].flatMap((seed) =>
      [false, true].map((relu) => ({
        c,
        data: `seed ${seed}${relu ? ", ReLU'd: ties at 0" : ""}`,
        x: normals(size(c.shape), seed, relu),
        dy: normals(size(outShape(c)), 10 + seed),
      }))
    )
  );
  await openCpu();
  const onCpu = inputs.map(({ c, x, dy }) => poolGrad(c, x, dy));
  await openWasm();
  try {
    inputs.forEach(({ c, data, x, dy }, i) => {
      const got = poolGrad(c, x, dy);
      const want = reference(c, x, dy);
      // Up to four windows share an input (3×3 / 2): their sum is rounded once per addition.
      assertAllClose(got, want, 1e-6, 1e-7, `wasm vs by hand, ${label(c, data)}`);
      assertAllClose(onCpu[i], want, 1e-6, 1e-7, `cpu vs by hand, ${label(c, data)}`);
      for (let j = 0; j < got.length; j++) {
        assert(
          got[j] === onCpu[i][j],
          `${label(c, data)}: dx[${j}] is ${got[j]} on wasm, ${onCpu[i][j]} on cpu`,
        );
      }
    });
  } finally {
    await openCpu();
  }
});

Deno.test("wasm MaxPoolGrad equals central finite differences of the pooled sum along random directions (no ties)", async () => {
  await openWasm();
  try {
    for (const c of CASES) {
      const x = normals(size(c.shape), 3);
      const dy = normals(size(outShape(c)), 4);
      const g = poolGrad(c, x, dy);
      for (let dir = 0; dir < 3; dir++) {
        // Every input moves by ~1e-6: far below the gap between two normal draws in a window
        // here, so no window's maximum changes and the pooled sum is linear between the two.
        const v = normals(x.length, 100 + dir);
        const eps = 2 ** -20;
        const hi = x.map((xi, i) => xi + eps * v[i]), lo = x.map((xi, i) => xi - eps * v[i]);
        const fd = pooledSum(c, hi, dy) - pooledSum(c, lo, dy);
        let analytic = 0, scale = 0;
        for (let i = 0; i < x.length; i++) {
          analytic += g[i] * (hi[i] - lo[i]);
          scale += Math.abs(g[i] * (hi[i] - lo[i]));
        }
        assert(
          Math.abs(fd - analytic) <= 1e-6 * scale, // dx is rounded to float32
          `${label(c, `seed 3, direction ${dir}`)}: Σ dx·Δx ${analytic}, finite difference ${fd}`,
        );
      }
    }
  } finally {
    await openCpu();
  }
});
