import * as tf from "@tensorflow/tfjs-core";
import { assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { crossMergeArrays, crossScanArrays, directionIndex } from "../lib/ops/cross_scan.ts";
import { channelShuffle } from "../lib/model/layers.ts";
import { setupBackend } from "../lib/backends/setup.ts";

Deno.test("cross-scan directions match a hand-worked 2×3 grid", () => {
  // grid (row-major positions):  0 1 2
  //                              3 4 5
  const h = 2, w = 3, L = 6;
  const seq = (k: number) => [...Array(L).keys()].map((l) => directionIndex(k, l, h, w));
  assertEquals(seq(0), [0, 1, 2, 3, 4, 5]); // row-major
  assertEquals(seq(1), [0, 3, 1, 4, 2, 5]); // column-major: down each column
  assertEquals(seq(2), [5, 4, 3, 2, 1, 0]); // row-major reversed
  assertEquals(seq(3), [5, 2, 4, 1, 3, 0]); // column-major reversed
});

Deno.test("cross-scan then cross-merge is K × identity on distinct values", () => {
  const b = 2, h = 4, w = 5, d = 3;
  const x = Float32Array.from({ length: b * h * w * d }, (_, i) => i + 1);
  for (const k of [1, 2, 4]) {
    const ys = crossScanArrays(x, b, h, w, d, k);
    assertEquals(ys.length, b * k * d * h * w);
    const back = crossMergeArrays(ys, b, h, w, d, k);
    assertAllClose(back, x.map((v) => v * k), 0, 0, `K=${k}`);
  }
});

Deno.test("cross-scan layout: (B,H,W,D) → (B,K,D,L) with the channel axis before L", () => {
  const b = 1, h = 2, w = 3, d = 2;
  // x[0,r,c,ch] = 10·(r·w + c) + ch
  const x = Float32Array.from({ length: h * w * d }, (_, i) => 10 * Math.floor(i / d) + (i % d));
  const ys = crossScanArrays(x, b, h, w, d, 4);
  const L = h * w;
  // direction 1 (column-major), channel 1: positions 0,3,1,4,2,5 → 1,31,11,41,21,51
  assertEquals(Array.from(ys.slice((1 * d + 1) * L, (1 * d + 2) * L)), [1, 31, 11, 41, 21, 51]);
});

Deno.test("cross ops as tfjs kernels: gradients are each other (adjoint)", async () => {
  await setupBackend("cpu");
  const { crossScan, crossMerge } = await import("../lib/ops/cross_scan.ts");
  const x = tf.randomNormal([2, 4, 4, 3], 0, 1, "float32", 3) as tf.Tensor4D;
  const w = tf.randomNormal([2, 4, 3, 16], 0, 1, "float32", 4);
  // <scan(x), w> = <x, merge(w)>, and d/dx <scan(x), w> = merge(w)
  const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(crossScan(v as tf.Tensor4D, 4), w)))(x);
  const m = crossMerge(w as tf.Tensor4D, 4, 4, 4);
  assertAllClose(g.dataSync(), m.dataSync(), 1e-6, 1e-6);
});

Deno.test("cross-scan and cross-merge ops equal their references from plain tfjs ops", async () => {
  await setupBackend("cpu");
  const { crossScan, crossMerge, crossScanReference, crossMergeReference } = await import(
    "../lib/ops/cross_scan.ts"
  );
  for (const k of [1, 2, 4]) {
    const x = tf.randomNormal([2, 3, 5, 4], 0, 1, "float32", 7 + k) as tf.Tensor4D;
    assertEquals(
      Array.from(crossScan(x, k).dataSync()),
      Array.from(crossScanReference(x, k).dataSync()),
      `scan K=${k}`,
    );
    const ys = tf.randomNormal([2, k, 4, 15], 0, 1, "float32", 17 + k) as tf.Tensor4D;
    assertAllClose(
      crossMerge(ys, 3, 5, k).dataSync(),
      crossMergeReference(ys, 3, 5, k).dataSync(),
      1e-6,
      1e-6,
      `merge K=${k}`,
    );
  }
});

Deno.test("channel shuffle with 2 groups matches the hand-worked index map", async () => {
  await setupBackend("cpu");
  // C = 6, groups 2: input channels [0 1 2 | 3 4 5] → [0 3 1 4 2 5]
  const x = tf.tensor4d([0, 1, 2, 3, 4, 5], [1, 1, 1, 6]);
  assertEquals(Array.from(channelShuffle(x, 2).dataSync()), [0, 3, 1, 4, 2, 5]);
});

Deno.test("transposed im2col matches the shifted-view construction it replaces", async () => {
  await setupBackend("cpu");
  const { im2colT } = await import("../lib/ops/grads.ts");
  const x = tf.randomNormal([2, 5, 4, 3], 0, 1, "float32", 8) as tf.Tensor4D;
  const xp = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  const views: tf.Tensor[] = [];
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) views.push(tf.slice(xp, [0, i, j, 0], [2, 5, 4, 3]));
  }
  const expected = tf.transpose(tf.reshape(tf.concat(views, 3), [2 * 5 * 4, 27]));
  assertAllClose(im2colT(x, 3).dataSync(), expected.dataSync(), 0, 0);
});
