import * as tf from "@tensorflow/tfjs-core";
import { assertAllClose } from "../lib/util/assert.ts";
import { setupBackend } from "../lib/backends/setup.ts";
import { selectiveScan } from "../lib/ops/selective_scan.ts";
import { setScanKernel } from "../lib/ops/scan_kernel.ts";
import { selectiveScanReference } from "../lib/ops/selective_scan.ts";
import { loopKernel, scanForward64 } from "../lib/ops/scan_loop.ts";
import { loadNativeKernel } from "../lib/backends/wasm/native.ts";
import type { ScanKernel } from "../lib/ops/scan_kernel.ts";

function inputs(b: number, d: number, l: number, n: number, g: number, seed: number) {
  const r = (shape: number[], s: number, scale = 1) =>
    tf.mul(tf.randomNormal(shape, 0, 1, "float32", seed + s), scale);
  return {
    u: r([b, d, l], 1) as tf.Tensor3D,
    delta: r([b, d, l], 2, 0.5) as tf.Tensor3D,
    A: tf.neg(tf.exp(r([d, n], 3, 0.5))) as tf.Tensor2D,
    B: r([b, g, n, l], 4) as tf.Tensor4D,
    C: r([b, g, n, l], 5) as tf.Tensor4D,
    D: r([d], 6) as tf.Tensor1D,
    bias: r([d], 7, 0.3) as tf.Tensor1D,
  };
}

const kernels: [string, () => ScanKernel | null][] = [
  ["loop", () => loopKernel],
  ["native", () => loadNativeKernel({ quiet: true })],
];

for (const backend of ["cpu", "wasm"]) {
  for (const [kname, load] of kernels) {
    const kernel = load();
    Deno.test({
      name:
        `SelectiveScan op (${kname} kernel, ${backend}) matches the tf-ops reference: forward and all 7 gradients`,
      ignore: kernel === null,
      fn: async () => {
        await setupBackend(backend);
        setScanKernel(kernel!);
        for (const [b, d, l, n, g] of [[2, 8, 7, 4, 4], [1, 3, 1, 1, 1], [2, 6, 16, 16, 2]]) {
          const x = inputs(b, d, l, n, g, 10 * b + l);
          const w = tf.randomNormal([b, d, l], 0, 1, "float32", 99);
          const f = (impl: typeof selectiveScan) =>
          (
            u: tf.Tensor,
            dl: tf.Tensor,
            A: tf.Tensor,
            B: tf.Tensor,
            C: tf.Tensor,
            D: tf.Tensor,
            bias: tf.Tensor,
          ) =>
            tf.sum(
              tf.mul(
                impl(
                  u as tf.Tensor3D,
                  dl as tf.Tensor3D,
                  A as tf.Tensor2D,
                  B as tf.Tensor4D,
                  C as tf.Tensor4D,
                  D as tf.Tensor1D,
                  bias as tf.Tensor1D,
                  { deltaSoftplus: true },
                ),
                w,
              ),
            );
          const args = [x.u, x.delta, x.A, x.B, x.C, x.D, x.bias];
          const yOp = selectiveScan(x.u, x.delta, x.A, x.B, x.C, x.D, x.bias, {
            deltaSoftplus: true,
          });
          const yRef = selectiveScanReference(x.u, x.delta, x.A, x.B, x.C, x.D, x.bias, {
            deltaSoftplus: true,
          });
          assertAllClose(yOp.dataSync(), yRef.dataSync(), 1e-4, 1e-5, "y");
          const gOp = tf.grads(f(selectiveScan))(args);
          const gRef = tf.grads(f(selectiveScanReference))(args);
          const names = ["du", "ddelta", "dA", "dB", "dC", "dD", "ddeltaBias"];
          gOp.forEach((gv, i) =>
            assertAllClose(
              gv.dataSync(),
              gRef[i].dataSync(),
              1e-4,
              1e-4,
              `${names[i]} [${b},${d},${l},${n},${g}]`,
            )
          );
        }
      },
    });
  }
}

Deno.test("tf-ops reference agrees with the float64 loop (rtol 1e-5)", async () => {
  await setupBackend("cpu");
  const x = inputs(2, 4, 9, 3, 2, 5);
  const y = selectiveScanReference(x.u, x.delta, x.A, x.B, x.C, x.D, x.bias, {
    deltaSoftplus: true,
  });
  const y64 = scanForward64({
    batch: 2,
    dim: 4,
    len: 9,
    dstate: 3,
    groups: 2,
    u: x.u.dataSync() as Float32Array,
    delta: x.delta.dataSync() as Float32Array,
    A: x.A.dataSync() as Float32Array,
    B: x.B.dataSync() as Float32Array,
    C: x.C.dataSync() as Float32Array,
    D: x.D.dataSync() as Float32Array,
    deltaBias: x.bias.dataSync() as Float32Array,
    deltaSoftplus: true,
  });
  assertAllClose(y.dataSync(), y64, 1e-5, 1e-6);
});
