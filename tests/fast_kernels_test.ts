import * as tf from "@tensorflow/tfjs-core";
import { assertAllClose, assertEquals } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backend/backend.ts";
import { type Gemm, setNativeGemm } from "../lib/backend/fast_kernels.ts";
import { loadNativeKernel } from "../lib/scan/native.ts";
import { selectScanKernel } from "../lib/scan/select.ts";

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

Deno.test("wasm Slice/SplitV/Concat/batched matmul overrides equal the cpu kernels", async () => {
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
    setNativeGemm(k.gemm.bind(k));
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
      ];
      for (const [name, f] of cases) {
        const [a, b] = await onBoth(f);
        a.forEach((v, i) => assertAllClose(b[i], v, 1e-5, 1e-5, `${name} [${i}]`));
      }
    } finally {
      setNativeGemm(null);
    }
  },
});
